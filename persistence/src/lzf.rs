//! LZF, the compression Redis applies to RDB strings longer than 20 bytes.
//!
//! ```text
//!  000LLLLL <L+1 bytes>           literal run of 1..32 bytes
//!  LLLooooo oooooooo              back reference, L+2 = 3..8 bytes, offset o+1 = 1..8192
//!  111ooooo LLLLLLLL oooooooo     back reference, L+9 = 9..264 bytes
//! ```
//! The compressor follows liblzf's greedy algorithm with Redis's settings (a 64 Ki-slot hash
//! of three bytes, `VERY_FAST`: after a match the two positions before its end are hashed), so
//! for the same input it chooses the same matches as redis-server and its output is byte for
//! byte what Redis writes — except that liblzf leaves its table uninitialised between calls
//! (stale slots may offer other, equally valid, matches), while this one starts every call
//! from an empty table. It also gives up at the same point (when the output would not fit
//! in `max_out` bytes), so "compress or store raw" is decided as Redis decides it.
//!
//! The table is reused between calls: a slot holds `base + position`, and slots below the
//! current call's base count as empty, so a call costs no 256 KiB clearing.
//!
//! Decompression never trusts its input: every literal and back reference is bounds-checked
//! and the output may not exceed the length the caller expects.

use std::cell::RefCell;

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// The most a compressed byte can expand to: a 3-byte back reference yields 264 bytes.
pub const MAX_EXPANSION: u64 = 88;

/// A reusable LZF compressor (its hash table is 256 KiB).
pub struct Compressor {
    table: Vec<u32>,
    /// Slots holding a value above `base` belong to the current call.
    base: u32,
}

impl Default for Compressor {
    fn default() -> Self {
        Compressor::new()
    }
}

#[inline]
fn first(input: &[u8], ip: usize) -> u32 {
    ((input[ip] as u32) << 8) | input[ip + 1] as u32
}

#[inline]
fn next(h: u32, input: &[u8], ip: usize) -> u32 {
    (h << 8) | input[ip + 2] as u32
}

#[inline]
fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

impl Compressor {
    pub fn new() -> Compressor {
        Compressor { table: vec![0; HSIZE], base: 0 }
    }

    /// Compresses `input` into at most `max_out` bytes; `None` when it does not fit (or either
    /// is empty), exactly when liblzf's `lzf_compress` returns 0.
    pub fn compress(&mut self, input: &[u8], max_out: usize) -> Option<Vec<u8>> {
        if input.is_empty() || max_out == 0 {
            return None;
        }
        // Positions are stored as base + ip + 1 (0 stays "never written").
        let span = u32::try_from(input.len()).ok()?.checked_add(2)?;
        if self.base.checked_add(span).is_none() {
            self.table.iter_mut().for_each(|s| *s = 0);
            self.base = 0;
        }
        let base = self.base;
        self.base += span;
        let table = &mut self.table;
        let stamp = |ip: usize| base + ip as u32 + 1;
        let lookup =
            |slot: u32| -> Option<usize> { (slot > base).then(|| (slot - base - 1) as usize) };

        let in_len = input.len();
        let out_end = max_out;
        let mut out = vec![0u8; max_out];
        let mut ip = 0usize;
        let mut op = 1usize; // out[0] is reserved for the first literal run's length
        let mut lit = 0usize;
        let mut hval = if in_len >= 2 { first(input, 0) } else { 0 };

        while ip + 2 < in_len {
            hval = next(hval, input, ip);
            let slot = idx(hval);
            let reference = lookup(table[slot]);
            table[slot] = stamp(ip);
            let matched = reference.and_then(|r| {
                // Slots only ever hold earlier positions of this call, so r < ip.
                let off = ip.checked_sub(r + 1)?;
                (off < MAX_OFF
                    && r > 0
                    && input[r + 2] == input[ip + 2]
                    && input[r] == input[ip]
                    && input[r + 1] == input[ip + 1])
                    .then_some((r, off))
            });
            if let Some((r, off)) = matched {
                let mut len = 2usize;
                let maxlen = (in_len - ip - len).min(MAX_REF);
                if op + 3 + 1 >= out_end && op - usize::from(lit == 0) + 3 + 1 >= out_end {
                    return None;
                }
                out[op - lit - 1] = (lit as u8).wrapping_sub(1);
                op -= usize::from(lit == 0);
                let mut mismatched = false;
                if maxlen > 16 {
                    for _ in 0..16 {
                        len += 1;
                        if input[r + len] != input[ip + len] {
                            mismatched = true;
                            break;
                        }
                    }
                }
                if !mismatched {
                    loop {
                        len += 1;
                        if !(len < maxlen && input[r + len] == input[ip + len]) {
                            break;
                        }
                    }
                }
                len -= 2;
                ip += 1;
                if len < 7 {
                    out[op] = ((off >> 8) + (len << 5)) as u8;
                    op += 1;
                } else {
                    out[op] = ((off >> 8) + (7 << 5)) as u8;
                    out[op + 1] = (len - 7) as u8;
                    op += 2;
                }
                out[op] = off as u8;
                op += 1;
                lit = 0;
                op += 1; // reserve the next run's length byte
                ip += len + 1;
                if ip + 2 >= in_len {
                    break;
                }
                ip -= 2;
                hval = first(input, ip);
                hval = next(hval, input, ip);
                table[idx(hval)] = stamp(ip);
                ip += 1;
                hval = next(hval, input, ip);
                table[idx(hval)] = stamp(ip);
                ip += 1;
            } else {
                if op >= out_end {
                    return None;
                }
                lit += 1;
                out[op] = input[ip];
                op += 1;
                ip += 1;
                if lit == MAX_LIT {
                    out[op - lit - 1] = (lit - 1) as u8;
                    lit = 0;
                    op += 1;
                }
            }
        }
        if op + 3 > out_end {
            return None;
        }
        while ip < in_len {
            lit += 1;
            out[op] = input[ip];
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                out[op - lit - 1] = (lit - 1) as u8;
                lit = 0;
                op += 1;
            }
        }
        out[op - lit - 1] = (lit as u8).wrapping_sub(1);
        op -= usize::from(lit == 0);
        out.truncate(op);
        Some(out)
    }
}

thread_local! {
    static COMPRESSOR: RefCell<Compressor> = RefCell::new(Compressor::new());
}

/// Compresses with this thread's shared [`Compressor`].
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    COMPRESSOR.with(|c| c.borrow_mut().compress(input, max_out))
}

/// Decompresses `input`, which must expand to exactly `expected_len` bytes; `None` when it is
/// malformed or expands to another length. Never allocates more than `expected_len` bytes.
pub fn decompress(input: &[u8], expected_len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(expected_len);
    let mut ip = 0usize;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < (1 << 5) {
            let run = ctrl + 1;
            if out.len() + run > expected_len {
                return None;
            }
            out.extend_from_slice(input.get(ip..ip + run)?);
            ip += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(ip)? as usize;
                ip += 1;
            }
            let low = *input.get(ip)? as usize;
            ip += 1;
            let back = ((ctrl & 0x1f) << 8) + low + 1;
            let len = len + 2;
            if out.len() + len > expected_len {
                return None;
            }
            let from = out.len().checked_sub(back)?;
            if back >= len {
                out.extend_from_within(from..from + len);
            } else {
                // Overlapping copy: each byte may be one this reference just wrote.
                for i in 0..len {
                    let b = out[from + i];
                    out.push(b);
                }
            }
        }
    }
    (out.len() == expected_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8]) {
        let max = data.len().saturating_sub(4).max(1);
        if let Some(c) = compress(data, max) {
            assert!(c.len() <= max);
            assert_eq!(decompress(&c, data.len()).as_deref(), Some(data));
        }
        // With room to spare, everything compresses (possibly larger than the input).
        let c = compress(data, data.len() * 2 + 16).expect("fits");
        assert_eq!(decompress(&c, data.len()).as_deref(), Some(data));
    }

    #[test]
    fn round_trips_assorted_inputs() {
        round_trip(b"a");
        round_trip(b"ab");
        round_trip(b"abc");
        round_trip(&[b'a'; 21]);
        round_trip(&[7u8; 100_000]);
        let text: Vec<u8> = b"the quick brown fox jumps over the lazy dog; "
            .iter()
            .cycle()
            .take(10_000)
            .copied()
            .collect();
        round_trip(&text);
        let noise: Vec<u8> =
            (0..5000u64).map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8).collect();
        round_trip(&noise);
    }

    #[test]
    fn matches_redis_bytes_for_a_run() {
        // liblzf never matches against position 0 (`ref > in_data`), so 21 × 'a' starts with
        // a literal run of two, then one back reference at offset 1 (tests/fixtures.rs checks
        // the whole blob against strings.rdb).
        let c = compress(&[b'a'; 21], 17).expect("compresses");
        assert_eq!(decompress(&c, 21).as_deref(), Some(&[b'a'; 21][..]));
        assert_eq!(&c[..3], &[0x01, b'a', b'a']);
    }

    #[test]
    fn incompressible_input_does_not_fit_in_len_minus_4() {
        let noise: Vec<u8> =
            (0..64u64).map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8).collect();
        assert!(compress(&noise, noise.len() - 4).is_none());
    }

    #[test]
    fn decompress_rejects_bad_input() {
        // back reference before the start
        assert!(decompress(&[0x20, 0x05], 3).is_none());
        // literal longer than the input
        assert!(decompress(&[0x05, b'a'], 6).is_none());
        // output longer than expected
        assert!(decompress(&[0x01, b'a', b'b'], 1).is_none());
        // shorter than expected
        assert!(decompress(&[0x00, b'a'], 2).is_none());
        // truncated long back reference
        assert!(decompress(&[0x00, b'a', 0xe0], 20).is_none());
        assert_eq!(decompress(&[], 0).as_deref(), Some(&[][..]));
    }

    #[test]
    fn table_reuse_does_not_leak_matches_between_calls() {
        let mut c = Compressor::new();
        let a = c.compress(b"abcdefabcdefabcdefabcdef", 64).expect("fits");
        let b = c.compress(b"abcdefabcdefabcdefabcdef", 64).expect("fits");
        assert_eq!(a, b);
        let mut fresh = Compressor::new();
        assert_eq!(fresh.compress(b"abcdefabcdefabcdefabcdef", 64).expect("fits"), a);
    }
}
