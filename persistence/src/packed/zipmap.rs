//! Zipmaps, the small hash encoding of Redis 2.x (RDB type 9). Only read.
//!
//! ```text
//!  [count u8 (254 = unknown)] (len field · len free value free-bytes)* [0xFF]
//!  len = 1 byte < 254, or 254 + u32 (host order, little endian in practice)
//! ```
//! [`parse`] follows Redis's deep `zipmapValidateIntegrity`: every length and string inside
//! the buffer, at least one pair, the count when it is not 254.

const BIGLEN: u8 = 254;
const END: u8 = 0xFF;

/// Validates `buf` as a zipmap and returns its (field, value) pairs; `None` when malformed.
pub fn parse(buf: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    if buf.len() < 2 || buf[buf.len() - 1] != END {
        return None;
    }
    let last = buf.len() - 1;
    // In range: offsets 1..=last (Redis's OUT_OF_RANGE allows zm+2 .. zm+size-1; offset 1 is
    // where the first entry starts).
    let read_len = |p: usize| -> Option<(usize, usize)> {
        let b = *buf.get(p)?;
        if b < BIGLEN {
            Some((b as usize, 1))
        } else {
            if p + 5 > last {
                return None;
            }
            let s = &buf[p + 1..p + 5];
            Some((u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize, 5))
        }
    };
    let mut out = Vec::new();
    let mut p = 1usize;
    while buf[p] != END {
        let (flen, s) = read_len(p)?;
        let field_at = p + s;
        let field_end = field_at.checked_add(flen)?;
        if field_end > last {
            return None;
        }
        let (vlen, s) = read_len(field_end)?;
        let free_at = field_end + s;
        if free_at > last {
            return None;
        }
        let free = buf[free_at] as usize;
        let value_at = free_at + 1;
        let value_end = value_at.checked_add(vlen)?;
        let next = value_end.checked_add(free)?;
        if next > last {
            return None;
        }
        out.push((&buf[field_at..field_end], &buf[value_at..value_end]));
        p = next;
    }
    if out.is_empty() {
        return None;
    }
    if buf[0] != BIGLEN && buf[0] as usize != out.len() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_redis_example() {
        let zm = b"\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff";
        assert_eq!(parse(zm).unwrap(), vec![(&b"foo"[..], &b"bar"[..]), (b"hello", b"world")]);
        // free bytes after a value are skipped
        let zm = b"\x01\x01a\x01\x02bxx\xff";
        assert_eq!(parse(zm).unwrap(), vec![(&b"a"[..], &b"b"[..])]);
        // a long value with the 5-byte length
        let mut zm = vec![1u8, 1, b'k', 254];
        zm.extend_from_slice(&300u32.to_le_bytes());
        zm.push(0);
        zm.extend_from_slice(&[b'v'; 300]);
        zm.push(0xFF);
        assert_eq!(parse(&zm).unwrap()[0].1.len(), 300);
    }

    #[test]
    fn rejects_corruption() {
        let zm = b"\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff";
        for cut in 0..zm.len() {
            assert!(parse(&zm[..cut]).is_none());
        }
        assert!(parse(b"\x00\xff").is_none()); // empty
        assert!(parse(b"\x03\x01a\x01\x00b\xff").is_none()); // wrong count
        assert!(parse(b"\xfe\x01a\x01\x00b\xff").is_some()); // unknown count
        assert!(parse(b"\x01\x01a\x05\x00b\xff").is_none()); // value past the end
    }
}
