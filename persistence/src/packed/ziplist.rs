//! Ziplists, the small encoding of Redis before 7.0 (RDB types 10, 12, 13 and the nodes of
//! type 14). Only read: Redis 7.0 converts them to listpacks on load, and so does Mayfly.
//!
//! ```text
//!  [zlbytes u32 LE][zltail u32 LE][zllen u16 LE] entry* [0xFF]
//!  entry = prevlen (1 byte < 254, or FE + u32 LE) · encoding · data
//!  00pppppp str ≤63 · 01pppppp qqqqqqqq str ≤16383 (BE) · 10______ + u32 BE str
//!  C0 i16 · D0 i32 · E0 i64 · F0 i24 · FE i8 · F1..FD immediate 0..12   (ints LE)
//! ```
//! [`parse`] is Redis's deep `ziplistValidateIntegrity`: the header size and tail offset, each
//! entry inside the buffer, each prevlen equal to the previous entry's size, the tail offset
//! pointing at the last entry, and the header count (65535 = unknown).

use crate::packed::listpack::Entry;

const HEADER_SIZE: usize = 10;
const END: u8 = 0xFF;
const BIG_PREVLEN: u8 = 254;

/// Validates `buf` as a ziplist and returns its entries; `None` when malformed.
pub fn parse(buf: &[u8]) -> Option<Vec<Entry<'_>>> {
    if buf.len() < HEADER_SIZE + 1 {
        return None;
    }
    let le32 = |at: usize| u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
    let bytes = le32(0) as usize;
    if bytes != buf.len() || buf[buf.len() - 1] != END {
        return None;
    }
    let tail = le32(4) as usize;
    if tail > buf.len() - 1 {
        return None;
    }
    let header_count = u16::from_le_bytes([buf[8], buf[9]]);
    let last = buf.len() - 1; // offset of the END byte
    let mut out = Vec::with_capacity((header_count as usize).min((last - HEADER_SIZE) / 2));
    let mut p = HEADER_SIZE;
    let mut prev_size = 0usize;
    let mut prev_start = None;
    while buf[p] != END {
        // prevlen
        let (prevlen, prevlen_size) = if buf[p] < BIG_PREVLEN {
            (buf[p] as usize, 1)
        } else {
            let s = buf.get(p + 1..p + 5)?;
            if p + 5 > last {
                return None;
            }
            (u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize, 5)
        };
        if prevlen != prev_size {
            return None;
        }
        let e = p + prevlen_size;
        if e >= last {
            return None;
        }
        let enc = buf[e];
        let (header_len, data_len): (usize, usize) = match enc >> 6 {
            0 => (1, (enc & 0x3F) as usize),
            1 => (2, (((enc & 0x3F) as usize) << 8) | *buf.get(e + 1)? as usize),
            2 => {
                let s = buf.get(e + 1..e + 5)?;
                (5, u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
            }
            _ => match enc {
                0xC0 => (1, 2),
                0xD0 => (1, 4),
                0xE0 => (1, 8),
                0xF0 => (1, 3),
                0xFE => (1, 1),
                0xF1..=0xFD => (1, 0),
                _ => return None,
            },
        };
        let data = e + header_len;
        let next = data.checked_add(data_len)?;
        // The entry (header and data) must end at or before the END byte.
        if data > last || next > last {
            return None;
        }
        let d = &buf[data..next];
        let entry = match enc >> 6 {
            0..=2 => Entry::Str(d),
            _ => {
                let mut raw = [0u8; 8];
                raw[..d.len()].copy_from_slice(d);
                let v = u64::from_le_bytes(raw);
                Entry::Int(match enc {
                    0xC0 => v as u16 as i16 as i64,
                    0xD0 => v as u32 as i32 as i64,
                    0xE0 => v as i64,
                    0xF0 => ((v << 40) as i64) >> 40,
                    0xFE => v as u8 as i8 as i64,
                    _ => ((enc & 0x0F) as i64) - 1,
                })
            }
        };
        out.push(entry);
        prev_size = next - p;
        prev_start = Some(p);
        p = next;
    }
    if p != last {
        return None;
    }
    if let Some(start) = prev_start {
        if start != tail {
            return None;
        }
    }
    if header_count != u16::MAX && header_count as usize != out.len() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Builds a ziplist the way Redis lays one out (for tests of the loader).
    pub fn build(items: &[Entry<'_>]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prev = 0usize;
        let mut tail = HEADER_SIZE;
        for item in items {
            let start = body.len();
            tail = HEADER_SIZE + start;
            if prev < 254 {
                body.push(prev as u8);
            } else {
                body.push(0xFE);
                body.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            match *item {
                Entry::Str(s) if s.len() < 64 => {
                    body.push(s.len() as u8);
                    body.extend_from_slice(s);
                }
                Entry::Str(s) if s.len() < 16384 => {
                    body.push(0x40 | (s.len() >> 8) as u8);
                    body.push(s.len() as u8);
                    body.extend_from_slice(s);
                }
                Entry::Str(s) => {
                    body.push(0x80);
                    body.extend_from_slice(&(s.len() as u32).to_be_bytes());
                    body.extend_from_slice(s);
                }
                Entry::Int(n) if (0..=12).contains(&n) => body.push(0xF1 + n as u8),
                Entry::Int(n) if i8::try_from(n).is_ok() => {
                    body.push(0xFE);
                    body.push(n as i8 as u8);
                }
                Entry::Int(n) if i16::try_from(n).is_ok() => {
                    body.push(0xC0);
                    body.extend_from_slice(&(n as i16).to_le_bytes());
                }
                Entry::Int(n) if (-(1 << 23)..(1 << 23)).contains(&n) => {
                    body.push(0xF0);
                    body.extend_from_slice(&(n as i32).to_le_bytes()[..3]);
                }
                Entry::Int(n) if i32::try_from(n).is_ok() => {
                    body.push(0xD0);
                    body.extend_from_slice(&(n as i32).to_le_bytes());
                }
                Entry::Int(n) => {
                    body.push(0xE0);
                    body.extend_from_slice(&n.to_le_bytes());
                }
            }
            prev = body.len() - start;
        }
        let total = HEADER_SIZE + body.len() + 1;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&(tail as u32).to_le_bytes());
        out.extend_from_slice(&(items.len().min(65535) as u16).to_le_bytes());
        out.extend_from_slice(&body);
        out.push(END);
        out
    }

    #[test]
    fn parses_every_encoding() {
        let long = vec![b'q'; 300];
        let huge = vec![b'h'; 20000];
        let items = [
            Entry::Str(b"abc"),
            Entry::Int(0),
            Entry::Int(12),
            Entry::Int(-1),
            Entry::Int(300),
            Entry::Int(-70000),
            Entry::Int(1 << 30),
            Entry::Int(i64::MIN),
            Entry::Str(&long),
            Entry::Str(&huge),
            Entry::Str(b""),
        ];
        let zl = build(&items);
        assert_eq!(parse(&zl).unwrap(), items.to_vec());
        assert_eq!(parse(&build(&[])).unwrap(), vec![]);
    }

    #[test]
    fn rejects_corruption() {
        let zl = build(&[Entry::Str(b"hello"), Entry::Int(7), Entry::Str(b"world")]);
        for cut in 0..zl.len() {
            assert!(parse(&zl[..cut]).is_none());
        }
        let mut bad_tail = zl.clone();
        bad_tail[4] = bad_tail[4].wrapping_add(1);
        assert!(parse(&bad_tail).is_none());
        let mut bad_prev = zl.clone();
        bad_prev[HEADER_SIZE + 7] ^= 1; // prevlen of the second entry
        assert!(parse(&bad_prev).is_none());
        let mut bad_count = zl.clone();
        bad_count[8] = 5;
        assert!(parse(&bad_count).is_none());
    }
}
