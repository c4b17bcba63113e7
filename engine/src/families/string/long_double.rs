//! Software emulation of the x87 80-bit `long double` that Redis's INCRBYFLOAT computes with.
//!
//! Redis parses both operands with `strtold`, adds them in `long double` (64-bit mantissa,
//! 15-bit exponent) and prints the sum with `%.17Lf` before trimming trailing zeros. Rust has no
//! 80-bit float, and `f64` gives different digits (`1e20 + 5` is `100000000000000000008` in Redis),
//! so the three steps are done here exactly: values are `mant * 2^exp`, parsing and addition
//! compute the exact result with a small big integer and round it once, to nearest-even, as the
//! FPU and glibc do. Big integers stay bounded because Redis rejects inputs of 5120 bytes or
//! more and the exponent range of the format is finite.

use std::cmp::Ordering;

/// Redis's `MAX_LONG_DOUBLE_CHARS`: `string2ld` refuses strings this long or longer.
pub const MAX_CHARS: usize = 5 * 1024;
/// Exponent of the smallest subnormal (2^-16445); every finite value is `mant * 2^exp` with
/// `exp >= EXP_MIN`.
const EXP_MIN: i64 = -16445;
/// Exponent of the largest finite value, `(2^64 - 1) * 2^16320` (LDBL_MAX).
const EXP_MAX: i64 = 16320;

/// A `long double` value: finite (`mant * 2^exp`, `mant` at most 64 bits) or infinite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LongDouble {
    Finite { neg: bool, mant: u64, exp: i64 },
    Inf { neg: bool },
}

impl LongDouble {
    /// Exact: every i64 fits in the 64-bit mantissa.
    pub fn from_i64(v: i64) -> LongDouble {
        LongDouble::Finite { neg: v < 0, mant: v.unsigned_abs(), exp: 0 }
    }

    /// Parses as Redis's `string2ld`: the whole string must be a `strtold` number, without
    /// leading space, shorter than [`MAX_CHARS`], not NaN, and not out of range (overflow, or a
    /// nonzero value that rounds to zero). `inf`/`infinity` are accepted, as in Redis.
    pub fn parse(s: &[u8]) -> Option<LongDouble> {
        if s.is_empty() || s.len() >= MAX_CHARS || is_c_space(s[0]) {
            return None;
        }
        let (neg, body) = match s[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
            return Some(LongDouble::Inf { neg });
        }
        if body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x' {
            return parse_hex(neg, &body[2..]);
        }
        parse_decimal(neg, body)
    }

    /// Sum rounded to nearest-even; `None` when the result is infinite or NaN.
    pub fn add(self, other: LongDouble) -> Option<LongDouble> {
        let (
            LongDouble::Finite { neg: an, mant: am, exp: ae },
            LongDouble::Finite { neg: bn, mant: bm, exp: be },
        ) = (self, other)
        else {
            return None;
        };
        if bm == 0 {
            return Some(self);
        }
        if am == 0 {
            return Some(other);
        }
        let base = ae.min(be);
        let a = Big::from_u64(am).shl((ae - base) as u64);
        let b = Big::from_u64(bm).shl((be - base) as u64);
        let (neg, sum) = if an == bn {
            (an, a.add(&b))
        } else {
            match a.cmp(&b) {
                Ordering::Equal => return Some(LongDouble::Finite { neg: false, mant: 0, exp: 0 }),
                Ordering::Greater => (an, a.sub(&b)),
                Ordering::Less => (bn, b.sub(&a)),
            }
        };
        match round_ratio(&sum, &Big::from_u64(1), base) {
            Rounded::Finite(mant, exp) => Some(LongDouble::Finite { neg, mant, exp }),
            // An exact nonzero sum of two grid values cannot round to zero; keep the branch total.
            Rounded::Zero => Some(LongDouble::Finite { neg, mant: 0, exp: 0 }),
            Rounded::Overflow => None,
        }
    }

    /// Redis's `ld2string(.., LD_STR_HUMAN)`: `%.17Lf`, trailing zeros and a trailing dot removed,
    /// and `-0` printed as `0`.
    pub fn format_human(self) -> String {
        let (neg, mant, exp) = match self {
            LongDouble::Inf { neg: false } => return "inf".to_string(),
            LongDouble::Inf { neg: true } => return "-inf".to_string(),
            LongDouble::Finite { neg, mant, exp } => (neg, mant, exp),
        };
        let mut out = String::new();
        if neg {
            out.push('-');
        }
        if exp >= 0 {
            out.push_str(&Big::from_u64(mant).shl(exp as u64).to_decimal());
        } else {
            // mant * 10^17 < 2^121, so the scaled value fits in u128.
            let scaled = mant as u128 * 10u128.pow(17);
            let shift = exp.unsigned_abs();
            let mut q = if shift >= 128 { 0 } else { scaled >> shift };
            if shift < 128 {
                let rest = scaled & ((1u128 << shift) - 1);
                let half = 1u128 << (shift - 1);
                if rest > half || (rest == half && q & 1 == 1) {
                    q += 1;
                }
            }
            let digits = format!("{q:018}");
            let (int_part, frac_part) = digits.split_at(digits.len() - 17);
            out.push_str(int_part);
            let frac = frac_part.trim_end_matches('0');
            if !frac.is_empty() {
                out.push('.');
                out.push_str(frac);
            }
        }
        if out == "-0" {
            out.remove(0);
        }
        out
    }
}

/// C's `isspace` in the "C" locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Reads `[+-]?digits` as an exponent, saturating far beyond any meaningful range; `None` when
/// there is no digit (strtold would then stop before the exponent marker).
fn parse_exponent(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        v = (v * 10 + (d - b'0') as i64).min(1_000_000_000);
    }
    Some(if neg { -v } else { v })
}

fn parse_decimal(neg: bool, s: &[u8]) -> Option<LongDouble> {
    let mut digits: Vec<u8> = Vec::new();
    let mut exp10: i64 = 0;
    let mut seen_digit = false;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        seen_digit = true;
        if !(digits.is_empty() && s[i] == b'0') {
            digits.push(s[i] - b'0');
        }
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            seen_digit = true;
            if !(digits.is_empty() && s[i] == b'0') {
                digits.push(s[i] - b'0');
            }
            exp10 -= 1;
            i += 1;
        }
    }
    if !seen_digit {
        return None;
    }
    if i < s.len() {
        if s[i] | 0x20 != b'e' {
            return None;
        }
        exp10 += parse_exponent(&s[i + 1..])?;
    }
    while digits.last() == Some(&0) {
        digits.pop();
        exp10 += 1;
    }
    if digits.is_empty() {
        return Some(LongDouble::Finite { neg, mant: 0, exp: 0 });
    }
    // The value lies in [10^(magnitude-1), 10^magnitude). LDBL_MAX is about 1.19e4932 and half
    // the smallest subnormal about 1.8e-4951; outside that band the answer is known without
    // big arithmetic.
    let magnitude = digits.len() as i64 + exp10;
    if !(-4951..=4933).contains(&magnitude) {
        return None;
    }
    let mut num = Big::default();
    for chunk in digits.chunks(9) {
        let mut part = 0u32;
        for &d in chunk {
            part = part * 10 + d as u32;
        }
        num.mul_small(10u32.pow(chunk.len() as u32));
        num.add_small(part);
    }
    let mut den = Big::from_u64(1);
    if exp10 >= 0 {
        num.mul_pow10(exp10 as u64);
    } else {
        den.mul_pow10(exp10.unsigned_abs());
    }
    finish(neg, round_ratio(&num, &den, 0))
}

fn parse_hex(neg: bool, s: &[u8]) -> Option<LongDouble> {
    let mut num = Big::default();
    let mut exp2: i64 = 0;
    let mut seen_digit = false;
    let mut i = 0;
    let hex = |c: u8| (c as char).to_digit(16);
    while i < s.len() {
        let Some(d) = hex(s[i]) else { break };
        seen_digit = true;
        num.mul_small(16);
        num.add_small(d);
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() {
            let Some(d) = hex(s[i]) else { break };
            seen_digit = true;
            num.mul_small(16);
            num.add_small(d);
            exp2 -= 4;
            i += 1;
        }
    }
    if !seen_digit {
        return None;
    }
    if i < s.len() {
        if s[i] | 0x20 != b'p' {
            return None;
        }
        exp2 += parse_exponent(&s[i + 1..])?;
    }
    if num.is_zero() {
        return Some(LongDouble::Finite { neg, mant: 0, exp: 0 });
    }
    let magnitude = num.bit_len() as i64 + exp2;
    if !(-16447..=16385).contains(&magnitude) {
        return None;
    }
    finish(neg, round_ratio(&num, &Big::from_u64(1), exp2))
}

/// strtold's range errors are rejected by Redis: overflow, and nonzero input rounding to zero.
fn finish(neg: bool, r: Rounded) -> Option<LongDouble> {
    match r {
        Rounded::Finite(mant, exp) => Some(LongDouble::Finite { neg, mant, exp }),
        Rounded::Zero | Rounded::Overflow => None,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Rounded {
    Finite(u64, i64),
    Zero,
    Overflow,
}

/// Rounds `num / den * 2^scale` (positive) to the `long double` grid, nearest-even.
fn round_ratio(num: &Big, den: &Big, scale: i64) -> Rounded {
    if num.is_zero() {
        return Rounded::Zero;
    }
    // num/den lies in (2^(lb-1), 2^(lb+1)), so q = floor(num * 2^s / den) lies in [2^66, 2^68):
    // 64 mantissa bits, a rounding bit and spare, with the remainder as the sticky bit.
    let lb = num.bit_len() as i64 - den.bit_len() as i64;
    let s = 67 - lb;
    let (n, d) = if s >= 0 {
        (num.shl(s as u64), den.clone())
    } else {
        (num.clone(), den.shl(s.unsigned_abs()))
    };
    let (q, sticky) = divide_small_quotient(n, &d, 68);
    round_quotient(q, sticky, scale - s)
}

/// `floor(n / d)` when it is known to be below `2^(max_bit + 1)`, and whether a remainder is left.
fn divide_small_quotient(mut n: Big, d: &Big, max_bit: u32) -> (u128, bool) {
    let mut q = 0u128;
    for bit in (0..=max_bit).rev() {
        let t = d.shl(bit as u64);
        if n.cmp(&t) != Ordering::Less {
            n = n.sub(&t);
            q |= 1u128 << bit;
        }
    }
    (q, !n.is_zero())
}

/// Rounds `(q + frac) * 2^exp_q` (frac nonzero iff `sticky`, below 1) to 64 bits, honouring
/// subnormals and overflow.
fn round_quotient(q: u128, sticky: bool, exp_q: i64) -> Rounded {
    debug_assert!(q >= 1 << 66);
    let q_bits = 128 - q.leading_zeros() as i64;
    let mut exp = exp_q + q_bits - 64;
    let mut shift = q_bits - 64;
    if exp < EXP_MIN {
        shift += EXP_MIN - exp;
        exp = EXP_MIN;
    }
    if shift > q_bits {
        // Below half the smallest step.
        return Rounded::Zero;
    }
    let shift = shift as u32;
    let mut mant = q >> shift;
    let rest = q & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    if rest > half || (rest == half && (sticky || mant & 1 == 1)) {
        mant += 1;
    }
    if mant >> 64 != 0 {
        mant >>= 1;
        exp += 1;
    }
    if mant == 0 {
        return Rounded::Zero;
    }
    if exp > EXP_MAX {
        return Rounded::Overflow;
    }
    Rounded::Finite(mant as u64, exp)
}

/// Minimal unsigned big integer: little-endian 32-bit limbs, no trailing zero limbs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(v: u64) -> Big {
        let mut b = Big(vec![v as u32, (v >> 32) as u32]);
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn bit_len(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(&top) => (self.0.len() as u64 - 1) * 32 + (32 - top.leading_zeros() as u64),
        }
    }

    fn mul_small(&mut self, k: u32) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            let v = *limb as u64 * k as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    fn add_small(&mut self, k: u32) {
        let mut carry = k as u64;
        for limb in &mut self.0 {
            if carry == 0 {
                break;
            }
            let v = *limb as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow10(&mut self, mut n: u64) {
        while n >= 9 {
            self.mul_small(1_000_000_000);
            n -= 9;
        }
        self.mul_small(10u32.pow(n as u32));
    }

    fn shl(&self, bits: u64) -> Big {
        if self.is_zero() {
            return Big::default();
        }
        let limbs = (bits / 32) as usize;
        let rem = (bits % 32) as u32;
        let mut out = vec![0u32; limbs];
        out.reserve(self.0.len() + 1);
        if rem == 0 {
            out.extend_from_slice(&self.0);
        } else {
            let mut carry = 0u32;
            for &limb in &self.0 {
                out.push((limb << rem) | carry);
                carry = limb >> (32 - rem);
            }
            out.push(carry);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.0.len().cmp(&other.0.len()).then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    fn add(&self, other: &Big) -> Big {
        let (long, short) =
            if self.0.len() >= other.0.len() { (self, other) } else { (other, self) };
        let mut out = Vec::with_capacity(long.0.len() + 1);
        let mut carry = 0u64;
        for (i, &limb) in long.0.iter().enumerate() {
            let v = limb as u64 + short.0.get(i).copied().unwrap_or(0) as u64 + carry;
            out.push(v as u32);
            carry = v >> 32;
        }
        if carry != 0 {
            out.push(carry as u32);
        }
        Big(out)
    }

    /// `self - other`; requires `self >= other`.
    fn sub(&self, other: &Big) -> Big {
        debug_assert!(self.cmp(other) != Ordering::Less);
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for (i, &limb) in self.0.iter().enumerate() {
            let mut v = limb as i64 - other.0.get(i).copied().unwrap_or(0) as i64 - borrow;
            borrow = 0;
            if v < 0 {
                v += 1 << 32;
                borrow = 1;
            }
            out.push(v as u32);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    /// Divides by 10^9 in place and returns the remainder. The divisor is a constant so the
    /// compiler turns the division into a multiplication: printing a value near LDBL_MAX (4933
    /// digits) takes about 550 passes over up to 512 limbs.
    fn div_billion(&mut self) -> u32 {
        const BILLION: u64 = 1_000_000_000;
        let mut rem = 0u64;
        for limb in self.0.iter_mut().rev() {
            let v = (rem << 32) | *limb as u64;
            *limb = (v / BILLION) as u32;
            rem = v % BILLION;
        }
        self.trim();
        rem as u32
    }

    fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".to_string();
        }
        let mut n = self.clone();
        let mut chunks = Vec::new();
        while !n.is_zero() {
            chunks.push(n.div_billion());
        }
        let mut out = String::with_capacity(chunks.len() * 9);
        let mut iter = chunks.iter().rev();
        if let Some(first) = iter.next() {
            out.push_str(&first.to_string());
        }
        for c in iter {
            out.push_str(&format!("{c:09}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(a: &str, b: &str) -> Option<String> {
        let a = LongDouble::parse(a.as_bytes())?;
        let b = LongDouble::parse(b.as_bytes())?;
        Some(a.add(b)?.format_human())
    }

    #[test]
    fn formats_like_redis() {
        // Expected values are real redis-server 7.0.15 replies.
        assert_eq!(incr("10", "10.5").as_deref(), Some("20.5"));
        assert_eq!(incr("0.1", "0.2").as_deref(), Some("0.3"));
        assert_eq!(incr("3.0e3", "3.0e3").as_deref(), Some("6000"));
        assert_eq!(incr("5.00001", "1e20").as_deref(), Some("100000000000000000008"));
        assert_eq!(incr("0", "3.14159265358979323846").as_deref(), Some("3.14159265358979324"));
        assert_eq!(incr("1", "-1.1").as_deref(), Some("-0.1"));
        assert_eq!(incr("0", "1e-20").as_deref(), Some("0"));
        assert_eq!(incr("10", "1e17").as_deref(), Some("100000000000000010"));
    }

    #[test]
    fn parse_rejects_like_string2ld() {
        for bad in [
            "", " 1", "1 ", "abc", "nan", "-nan", "1e", "1e+", "0x", ".", "e5", "1e5000",
            "1e-5000", "1\0",
        ] {
            assert_eq!(LongDouble::parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(LongDouble::parse(b"inf"), Some(LongDouble::Inf { neg: false }));
        assert_eq!(LongDouble::parse(b"-Infinity"), Some(LongDouble::Inf { neg: true }));
        assert_eq!(LongDouble::parse(b"0x10").map(LongDouble::format_human).as_deref(), Some("16"));
        assert_eq!(LongDouble::parse(&vec![b'1'; MAX_CHARS]), None);
    }

    #[test]
    fn halfway_ties_round_to_even_when_printing() {
        // 2^-18 * 10^17 ends in exactly .5; glibc prints ...562 (even), not ...563.
        let v = LongDouble::Finite { neg: false, mant: 1, exp: -18 };
        assert_eq!(v.format_human(), "0.00000381469726562");
        let v = LongDouble::Finite { neg: false, mant: 3, exp: -18 };
        assert_eq!(v.format_human(), "0.00001144409179688");
    }
}
