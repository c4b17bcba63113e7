//! Listpacks as RDB stores them (hashes, sorted sets, quicklist nodes and stream nodes):
//!
//! ```text
//!  [total bytes u32 LE][count u16 LE] entry* [0xFF]        count 65535 = "walk to know"
//!  entry = encoding+data · backlen (1..5 bytes, 7 bits each, read right to left)
//!  0xxxxxxx 7-bit uint   10xxxxxx str ≤63   110xxxxx x 13-bit int   1110xxxx x str ≤4095
//!  F0 str u32 len   F1 i16   F2 i24   F3 i32   F4 i64   (all little endian)
//! ```
//! [`parse`] is Redis's deep `lpValidateIntegrity` (header, every entry inside the buffer,
//! back-lengths that match, the terminator where the entries end, the header count) and
//! returns the entries. [`Writer`] appends entries the way `lpAppend` encodes them (a string
//! that is a canonical 64-bit integer is stored as an integer), so what it builds is the
//! listpack redis-server would have built from the same appends.

use mayfly_engine::value::parse_i64_strict;

const HEADER_SIZE: usize = 6;
const EOF: u8 = 0xFF;
/// The header count that means "unknown, walk the entries".
pub const COUNT_UNKNOWN: u16 = u16::MAX;

/// One entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Entry<'_> {
    /// The entry as bytes (integers in decimal, as Redis returns them).
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Entry::Int(n) => itoa::Buffer::new().format(n).as_bytes().to_vec(),
            Entry::Str(s) => s.to_vec(),
        }
    }

    /// The entry as an integer: an integer entry, or a string `string2ll` accepts (what
    /// stream listpacks require of their numeric fields).
    pub fn as_int(self) -> Option<i64> {
        match self {
            Entry::Int(n) => Some(n),
            Entry::Str(s) => parse_i64_strict(s),
        }
    }
}

/// Size of the back-length field for an entry of `l` bytes (`lpEncodeBacklen`).
fn backlen_size(l: u64) -> u64 {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2097151 {
        3
    } else if l < 268435455 {
        4
    } else {
        5
    }
}

fn sign_extend(u: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((u << shift) as i64) >> shift
}

/// Decodes the entry at `off` and checks it as `lpValidateNext` does; returns the entry and
/// the offset of the next one. `end` is the offset of the terminator byte.
fn next_entry(buf: &[u8], off: usize, end: usize) -> Option<(Entry<'_>, usize)> {
    let b = *buf.get(off)?;
    let le = |from: usize, width: usize| -> Option<u64> {
        let s = buf.get(from..from.checked_add(width)?)?;
        let mut raw = [0u8; 8];
        raw[..width].copy_from_slice(s);
        Some(u64::from_le_bytes(raw))
    };
    // (header bytes, data bytes)
    let (header, data_len): (usize, u64) = if b & 0x80 == 0 {
        (1, 0)
    } else if b & 0xC0 == 0x80 {
        (1, (b & 0x3F) as u64)
    } else if b & 0xE0 == 0xC0 {
        (2, 0)
    } else if b & 0xF0 == 0xE0 {
        (2, ((((b & 0x0F) as u64) << 8) | *buf.get(off + 1)? as u64))
    } else {
        match b {
            0xF0 => (5, le(off + 1, 4)?),
            0xF1 => (3, 0),
            0xF2 => (4, 0),
            0xF3 => (5, 0),
            0xF4 => (9, 0),
            _ => return None,
        }
    };
    // The encoded size must lie inside the listpack before the terminator.
    if off + header > end {
        return None;
    }
    let entry_len = header as u64 + data_len;
    let total = entry_len + backlen_size(entry_len);
    let next = (off as u64).checked_add(total)?;
    if next > end as u64 {
        return None;
    }
    let next = next as usize;
    // The back-length, read right to left, must state the entry's length.
    let mut stated = 0u64;
    let mut p = next;
    for i in 0..5 {
        p -= 1;
        let byte = buf[p];
        stated |= ((byte & 127) as u64) << (7 * i);
        if byte & 128 == 0 {
            break;
        }
        if i == 4 {
            return None;
        }
    }
    if stated != entry_len {
        return None;
    }
    let entry = match b {
        _ if b & 0x80 == 0 => Entry::Int(b as i64),
        _ if b & 0xC0 == 0x80 => Entry::Str(&buf[off + 1..off + 1 + data_len as usize]),
        _ if b & 0xE0 == 0xC0 => {
            Entry::Int(sign_extend((((b & 0x1F) as u64) << 8) | buf[off + 1] as u64, 13))
        }
        _ if b & 0xF0 == 0xE0 => Entry::Str(&buf[off + 2..off + 2 + data_len as usize]),
        0xF0 => Entry::Str(&buf[off + 5..off + 5 + data_len as usize]),
        0xF1 => Entry::Int(sign_extend(le(off + 1, 2)?, 16)),
        0xF2 => Entry::Int(sign_extend(le(off + 1, 3)?, 24)),
        0xF3 => Entry::Int(sign_extend(le(off + 1, 4)?, 32)),
        _ => Entry::Int(le(off + 1, 8)? as i64),
    };
    Some((entry, next))
}

/// Validates `buf` as a listpack (deeply) and returns its entries; `None` when malformed.
pub fn parse(buf: &[u8]) -> Option<Vec<Entry<'_>>> {
    if buf.len() < HEADER_SIZE + 1 {
        return None;
    }
    let total = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if total != buf.len() || buf[buf.len() - 1] != EOF {
        return None;
    }
    let declared = u16::from_le_bytes([buf[4], buf[5]]);
    let end = buf.len() - 1;
    // Every entry takes at least two bytes: size the vector by what can be there.
    let mut out = Vec::with_capacity((declared as usize).min((end - HEADER_SIZE) / 2));
    let mut off = HEADER_SIZE;
    // Each step moves forward by at least two bytes and stops at `end`.
    while off < end {
        let (entry, next) = next_entry(buf, off, end)?;
        out.push(entry);
        off = next;
    }
    if declared != COUNT_UNKNOWN && declared as usize != out.len() {
        return None;
    }
    Some(out)
}

/// Builds a listpack by appending entries, as `lpAppend` / `lpAppendInteger` encode them.
#[derive(Clone, Debug)]
pub struct Writer {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Writer {
    fn default() -> Self {
        Writer::new()
    }
}

/// Bytes an integer takes (header + data).
fn int_len(n: i64) -> usize {
    match n {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8388608..=8388607 => 4,
        -2147483648..=2147483647 => 5,
        _ => 9,
    }
}

/// Bytes `v` takes as an entry (header + data + back-length), as [`Writer::push`] encodes it.
pub fn entry_size(v: &[u8]) -> usize {
    let l = match lp_int(v) {
        Some(n) => int_len(n),
        None if v.len() < 64 => 1 + v.len(),
        None if v.len() < 4096 => 2 + v.len(),
        None => 5 + v.len(),
    };
    l + backlen_size(l as u64) as usize
}

/// Bytes an integer entry takes, back-length included.
pub fn int_entry_size(n: i64) -> usize {
    let l = int_len(n);
    l + backlen_size(l as u64) as usize
}

/// `lpStringToInt64`: Redis's strict integer syntax (no sign but '-', no leading zeros, no
/// "-0"), at most 20 characters.
fn lp_int(v: &[u8]) -> Option<i64> {
    if v.len() > 20 {
        None
    } else {
        parse_i64_strict(v)
    }
}

impl Writer {
    pub fn new() -> Writer {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; HEADER_SIZE]);
        Writer { buf, count: 0 }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the finished listpack would take now (`lpBytes`).
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    fn push_backlen(&mut self, l: usize) {
        let n = backlen_size(l as u64) as usize;
        for i in (0..n).rev() {
            let part = ((l >> (7 * i)) & 127) as u8;
            self.buf.push(if i == n - 1 { part } else { part | 128 });
        }
    }

    /// Appends `v`, as an integer when it is one (`lpAppend`).
    pub fn push(&mut self, v: &[u8]) {
        match lp_int(v) {
            Some(n) => self.push_int(n),
            None => self.push_str(v),
        }
    }

    /// Appends bytes that are never stored as an integer.
    fn push_str(&mut self, v: &[u8]) {
        let start = self.buf.len();
        let len = v.len();
        if len < 64 {
            self.buf.push(0x80 | len as u8);
        } else if len < 4096 {
            self.buf.push(0xE0 | (len >> 8) as u8);
            self.buf.push(len as u8);
        } else {
            self.buf.push(0xF0);
            // Values over 4 GiB never reach a listpack: the callers' limits are far below.
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(v);
        let l = self.buf.len() - start;
        self.push_backlen(l);
        self.count += 1;
    }

    /// Appends an integer (`lpAppendInteger`).
    pub fn push_int(&mut self, n: i64) {
        let start = self.buf.len();
        match int_len(n) {
            1 => self.buf.push(n as u8),
            2 => {
                let u = (n as u64) & 0x1FFF;
                self.buf.push(0xC0 | (u >> 8) as u8);
                self.buf.push(u as u8);
            }
            size => {
                let (tag, width) = match size {
                    3 => (0xF1, 2),
                    4 => (0xF2, 3),
                    5 => (0xF3, 4),
                    _ => (0xF4, 8),
                };
                self.buf.push(tag);
                self.buf.extend_from_slice(&n.to_le_bytes()[..width]);
            }
        }
        let l = self.buf.len() - start;
        self.push_backlen(l);
        self.count += 1;
    }

    /// The finished listpack.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(EOF);
        let total = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let n = u16::try_from(self.count).unwrap_or(COUNT_UNKNOWN);
        self.buf[4..6].copy_from_slice(&n.to_le_bytes());
        self.buf
    }

    /// The entries appended so far, without header (for callers that assemble a listpack
    /// from parts, like stream nodes whose first entry changes last).
    pub fn body(&self) -> &[u8] {
        &self.buf[HEADER_SIZE..]
    }
}

/// Assembles a listpack from encoded entry bytes (as [`Writer::body`] returns) and a count.
pub fn assemble(parts: &[&[u8]], count: usize) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum::<usize>() + HEADER_SIZE + 1;
    let mut buf = Vec::with_capacity(len);
    buf.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
    buf.extend_from_slice(&u16::try_from(count).unwrap_or(COUNT_UNKNOWN).to_le_bytes());
    for p in parts {
        buf.extend_from_slice(p);
    }
    buf.push(EOF);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_redis_writes() {
        // RPUSH l a 1 in redis-server 7.0: total 12, count 2, "a" = 81 61 | 02, 1 = 01 | 01.
        let mut w = Writer::new();
        w.push(b"a");
        w.push(b"1");
        assert_eq!(w.finish(), vec![12, 0, 0, 0, 2, 0, 0x81, b'a', 0x02, 0x01, 0x01, 0xFF]);
    }

    #[test]
    fn every_width_round_trips() {
        let ints = [
            0i64,
            127,
            128,
            -1,
            4095,
            -4096,
            4096,
            32767,
            -32768,
            8388607,
            -8388608,
            2147483647,
            -2147483648,
            i64::MAX,
            i64::MIN,
        ];
        let strs: Vec<Vec<u8>> = vec![
            vec![],
            b"x".to_vec(),
            vec![b'y'; 63],
            vec![b'z'; 64],
            vec![1; 4095],
            vec![2; 4096],
            vec![3; 20000],
            b"007".to_vec(),
            b"-0".to_vec(),
            b"9223372036854775808".to_vec(),
        ];
        let mut w = Writer::new();
        for &n in &ints {
            w.push_int(n);
        }
        for s in &strs {
            w.push(s);
        }
        let lp = w.finish();
        let entries = parse(&lp).expect("valid");
        assert_eq!(entries.len(), ints.len() + strs.len());
        for (e, &n) in entries.iter().zip(&ints) {
            assert_eq!(*e, Entry::Int(n));
        }
        for (e, s) in entries[ints.len()..].iter().zip(&strs) {
            assert_eq!(*e, Entry::Str(s));
        }
        // entry_size agrees with what push wrote.
        let mut w = Writer::new();
        let mut expect = 7;
        for s in &strs {
            w.push(s);
            expect += entry_size(s);
        }
        assert_eq!(w.finish().len(), expect);
    }

    #[test]
    fn rejects_corruption() {
        let mut w = Writer::new();
        w.push(b"hello");
        w.push_int(300);
        let lp = w.finish();
        assert!(parse(&lp).is_some());
        for cut in 0..lp.len() {
            assert!(parse(&lp[..cut]).is_none(), "prefix {cut} accepted");
        }
        for i in 0..lp.len() {
            for flip in [1u8, 0x80, 0xFF] {
                let mut bad = lp.clone();
                bad[i] ^= flip;
                if let Some(entries) = parse(&bad) {
                    // A flip may still leave a valid listpack (a changed character); it must
                    // then still have the same shape.
                    assert_eq!(entries.len(), 2, "byte {i} flip {flip:#x}");
                }
            }
        }
        // Unknown count is accepted.
        let mut unknown = lp.clone();
        unknown[4] = 0xFF;
        unknown[5] = 0xFF;
        assert_eq!(parse(&unknown).map(|e| e.len()), Some(2));
    }
}
