//! Reply encoder: [`Reply`] → RESP2 or RESP3 bytes, as Redis 7.0's `addReply*` writes them.
//!
//! RESP2 has no null, map, set, double, boolean, verbatim, big number or push types, so they
//! degrade the way Redis degrades them: `$-1`/`*-1`, a flat array of 2N, an array, a bulk
//! string, `:1`/`:0`, a bulk string, a bulk string, an array.

use bytes::BufMut;
use mayfly_engine::reply::Reply;
use memchr::memchr2;

/// Append `reply` in RESP3 (`resp3`) or RESP2 to `out`.
pub fn encode(reply: &Reply, resp3: bool, out: &mut Vec<u8>) {
    encode_into(reply, resp3, out);
}

/// As [`encode`], into any buffer (`Vec<u8>`, `bytes::BytesMut`).
pub fn encode_into<B: BufMut>(reply: &Reply, resp3: bool, out: &mut B) {
    // Recursion depth equals the reply's nesting, which command code keeps to a few levels.
    match reply {
        Reply::Status(text) => {
            out.put_u8(b'+');
            put_line_sanitized(out, text.as_bytes());
        }
        Reply::Error(text) => {
            out.put_u8(b'-');
            // The text carries its code (`ERR …`); tolerate a caller that already added '-'.
            let text = text.strip_prefix('-').unwrap_or(text);
            put_line_sanitized(out, text.as_bytes());
        }
        Reply::Int(n) => put_i64_line(out, b':', *n),
        Reply::Bulk(bytes) => put_bulk(out, bytes),
        Reply::Nil => out.put_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" }),
        Reply::NilArray => out.put_slice(if resp3 { b"_\r\n" } else { b"*-1\r\n" }),
        Reply::Array(items) => {
            put_usize_line(out, b'*', items.len());
            for item in items {
                encode_into(item, resp3, out);
            }
        }
        Reply::Map(pairs) => {
            if resp3 {
                put_usize_line(out, b'%', pairs.len());
            } else {
                put_usize_line(out, b'*', pairs.len().saturating_mul(2));
            }
            for (key, value) in pairs {
                encode_into(key, resp3, out);
                encode_into(value, resp3, out);
            }
        }
        Reply::Set(items) => {
            put_usize_line(out, if resp3 { b'~' } else { b'*' }, items.len());
            for item in items {
                encode_into(item, resp3, out);
            }
        }
        Reply::Push(items) => {
            put_usize_line(out, if resp3 { b'>' } else { b'*' }, items.len());
            for item in items {
                encode_into(item, resp3, out);
            }
        }
        Reply::Double(value) => {
            let mut buf = DoubleBuf::new();
            let text = write_double(*value, &mut buf);
            if resp3 {
                out.put_u8(b',');
                out.put_slice(text.as_bytes());
                out.put_slice(b"\r\n");
            } else {
                put_bulk(out, text.as_bytes());
            }
        }
        Reply::Bool(value) => {
            let bytes: &[u8] = match (resp3, value) {
                (true, true) => b"#t\r\n",
                (true, false) => b"#f\r\n",
                (false, true) => b":1\r\n",
                (false, false) => b":0\r\n",
            };
            out.put_slice(bytes);
        }
        Reply::Verbatim(format, text) => {
            if resp3 {
                // Redis copies exactly three format bytes; anything else is a caller bug,
                // answered as plain text rather than with a malformed frame.
                let format = if format.len() == 3 { format.as_bytes() } else { b"txt" };
                put_usize_line(out, b'=', text.len() + 4);
                out.put_slice(format);
                out.put_u8(b':');
                out.put_slice(text);
                out.put_slice(b"\r\n");
            } else {
                put_bulk(out, text);
            }
        }
        Reply::BigNumber(digits) => {
            if resp3 {
                out.put_u8(b'(');
                put_line_sanitized(out, digits.as_bytes());
            } else {
                put_bulk(out, digits.as_bytes());
            }
        }
    }
}

#[inline]
fn put_bulk<B: BufMut>(out: &mut B, bytes: &[u8]) {
    put_usize_line(out, b'$', bytes.len());
    out.put_slice(bytes);
    out.put_slice(b"\r\n");
}

#[inline]
fn put_usize_line<B: BufMut>(out: &mut B, prefix: u8, n: usize) {
    let mut digits = itoa::Buffer::new();
    out.put_u8(prefix);
    out.put_slice(digits.format(n).as_bytes());
    out.put_slice(b"\r\n");
}

#[inline]
fn put_i64_line<B: BufMut>(out: &mut B, prefix: u8, n: i64) {
    let mut digits = itoa::Buffer::new();
    out.put_u8(prefix);
    out.put_slice(digits.format(n).as_bytes());
    out.put_slice(b"\r\n");
}

/// A simple-string line must not contain CR or LF, or the client would lose sync; Redis maps
/// them to spaces (`sdsmapchars(s, "\r\n", "  ")`).
#[inline]
fn put_line_sanitized<B: BufMut>(out: &mut B, text: &[u8]) {
    if memchr2(b'\r', b'\n', text).is_none() {
        out.put_slice(text);
    } else {
        for &b in text {
            out.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
    }
    out.put_slice(b"\r\n");
}

/// Room for any `%.17g` output: sign, 17 digits, point, `e-308`.
const DOUBLE_BUF_LEN: usize = 32;

/// Stack buffer for [`write_double`].
pub struct DoubleBuf {
    bytes: [u8; DOUBLE_BUF_LEN],
    len: usize,
}

impl DoubleBuf {
    pub fn new() -> DoubleBuf {
        DoubleBuf { bytes: [0; DOUBLE_BUF_LEN], len: 0 }
    }

    fn push(&mut self, b: u8) {
        // Capacity is proven sufficient above; a miss would only truncate, never panic.
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn push_all(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.push(b);
        }
    }

    fn as_str(&self) -> &str {
        // Only ASCII is ever pushed.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl Default for DoubleBuf {
    fn default() -> DoubleBuf {
        DoubleBuf::new()
    }
}

impl std::fmt::Write for DoubleBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.len + s.len() > DOUBLE_BUF_LEN {
            return Err(std::fmt::Error);
        }
        self.push_all(s.as_bytes());
        Ok(())
    }
}

/// `f` as C's `printf("%.17g")` prints it with glibc: what Redis 7.0's `addReplyDouble` sends
/// (e.g. `0.1` → `0.10000000000000001`, `1e20` → `1e+20`, infinities `inf`/`-inf`).
pub fn format_double(f: f64) -> String {
    let mut buf = DoubleBuf::new();
    write_double(f, &mut buf).to_string()
}

/// [`format_double`] without allocating: formats into `buf` and returns the text.
pub fn write_double(f: f64, buf: &mut DoubleBuf) -> &str {
    use std::fmt::Write;

    const PRECISION: i32 = 17;
    buf.len = 0;
    // glibc prints the sign bit of zeros and NaNs too: `-0`, `-nan`.
    if f.is_sign_negative() {
        buf.push(b'-');
    }
    if f.is_nan() {
        buf.push_all(b"nan");
        return buf.as_str();
    }
    if f.is_infinite() {
        buf.push_all(b"inf");
        return buf.as_str();
    }

    // Integral values below 1e17 (counters, timestamps as scores) print as plain integers
    // under %.17g; skip the general formatter for them.
    let magnitude = f.abs();
    if magnitude < 1e17 && magnitude.fract() == 0.0 {
        let mut int_digits = itoa::Buffer::new();
        // Exact: the value is an integer below 2^57.
        buf.push_all(int_digits.format(magnitude as u64).as_bytes());
        return buf.as_str();
    }

    // Rust's `{:.16e}` is exact (correctly rounded, ties to even on the exact binary value),
    // as glibc's printf is: 17 significant digits and the decimal exponent of the rounded
    // value. `%g` then chooses fixed or scientific layout and drops trailing zeros.
    let mut sci = DoubleBuf::new();
    if write!(sci, "{:.16e}", f.abs()).is_err() {
        buf.push_all(b"nan");
        return buf.as_str();
    }
    let sci_bytes = &sci.bytes[..sci.len];
    let e_at = sci_bytes.iter().position(|&b| b == b'e').unwrap_or(sci_bytes.len());
    let mut digits = [b'0'; PRECISION as usize];
    let mut n = 0;
    for &b in &sci_bytes[..e_at] {
        if b.is_ascii_digit() && n < digits.len() {
            digits[n] = b;
            n += 1;
        }
    }
    let exponent: i32 = sci.as_str().get(e_at + 1..).and_then(|e| e.parse().ok()).unwrap_or(0);

    if (-4..PRECISION).contains(&exponent) {
        // Fixed notation with PRECISION - 1 - exponent decimals, trailing zeros dropped.
        let mut last_nonzero = digits.len();
        while last_nonzero > 0 && digits[last_nonzero - 1] == b'0' {
            last_nonzero -= 1;
        }
        if exponent >= 0 {
            let int_len = exponent as usize + 1;
            buf.push_all(&digits[..int_len]);
            if last_nonzero > int_len {
                buf.push(b'.');
                buf.push_all(&digits[int_len..last_nonzero]);
            }
        } else {
            buf.push_all(b"0.");
            for _ in 0..(-exponent - 1) {
                buf.push(b'0');
            }
            // f is nonzero here (zero has exponent 0), so some digit is nonzero.
            buf.push_all(&digits[..last_nonzero.max(1)]);
        }
    } else {
        buf.push(digits[0]);
        let mut last_nonzero = digits.len();
        while last_nonzero > 1 && digits[last_nonzero - 1] == b'0' {
            last_nonzero -= 1;
        }
        if last_nonzero > 1 {
            buf.push(b'.');
            buf.push_all(&digits[1..last_nonzero]);
        }
        buf.push(b'e');
        buf.push(if exponent < 0 { b'-' } else { b'+' });
        let magnitude = exponent.unsigned_abs();
        if magnitude < 10 {
            buf.push(b'0');
        }
        let mut exp_digits = itoa::Buffer::new();
        buf.push_all(exp_digits.format(magnitude).as_bytes());
    }
    buf.as_str()
}

#[cfg(test)]
mod unit {
    use std::borrow::Cow;

    use bytes::Bytes;

    use super::*;

    fn enc(reply: &Reply, resp3: bool) -> String {
        let mut out = Vec::new();
        encode(reply, resp3, &mut out);
        String::from_utf8(out).expect("test replies are UTF-8")
    }

    /// Outputs of `ZADD z <input> m` + `ZSCORE z m` against redis-server 7.0.15, RESP2.
    const REDIS_ZSCORE_GOLDEN: &[(&str, &str)] = &[
        ("0.1", "0.10000000000000001"),
        ("1.5", "1.5"),
        ("1e20", "1e+20"),
        ("inf", "inf"),
        ("-inf", "-inf"),
        ("0", "0"),
        ("1", "1"),
        ("-1", "-1"),
        ("3.14159", "3.1415899999999999"),
        ("1e-5", "1.0000000000000001e-05"),
        ("0.0001", "0.0001"),
        ("0.00012345", "0.00012344999999999999"),
        ("123456789012345678", "1.2345678901234568e+17"),
        ("12345678901234567", "12345678901234568"),
        ("1e16", "10000000000000000"),
        ("1e17", "1e+17"),
        ("2.5", "2.5"),
        ("1000000000000000.25", "1000000000000000.2"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ("5e-324", "4.9406564584124654e-324"),
        ("2.2250738585072014e-308", "2.2250738585072014e-308"),
        ("-123.456", "-123.456"),
        ("100", "100"),
        ("0.3", "0.29999999999999999"),
        ("1e100", "1e+100"),
        ("1e-4", "0.0001"),
        ("9.999999999999999e-5", "9.9999999999999991e-05"),
        ("0.5e-4", "5.0000000000000002e-05"),
        ("123456.789e3", "123456789"),
        ("1e15", "1000000000000000"),
        ("1e-300", "1e-300"),
    ];

    #[test]
    fn format_double_matches_redis() {
        for (input, expected) in REDIS_ZSCORE_GOLDEN {
            let value: f64 = input.parse().expect("golden input parses");
            assert_eq!(format_double(value), *expected, "input {input}");
        }
    }

    #[test]
    fn format_double_negative_zero_keeps_sign_like_glibc() {
        assert_eq!(format_double(-0.0), "-0");
    }

    #[test]
    fn format_double_nan() {
        assert_eq!(format_double(f64::NAN), "nan");
        assert_eq!(format_double(-f64::NAN), "-nan");
    }

    #[test]
    fn resp2_scalars() {
        assert_eq!(enc(&Reply::ok(), false), "+OK\r\n");
        assert_eq!(enc(&Reply::error("ERR bad\r\nthing"), false), "-ERR bad  thing\r\n");
        assert_eq!(enc(&Reply::Error(Cow::Borrowed("-ERR x")), false), "-ERR x\r\n");
        assert_eq!(enc(&Reply::status("a\nb"), false), "+a b\r\n");
        assert_eq!(enc(&Reply::Int(-42), false), ":-42\r\n");
        assert_eq!(enc(&Reply::Int(i64::MIN), false), ":-9223372036854775808\r\n");
        assert_eq!(enc(&Reply::bulk_str("hi"), false), "$2\r\nhi\r\n");
        assert_eq!(enc(&Reply::bulk_str(""), false), "$0\r\n\r\n");
        assert_eq!(enc(&Reply::Nil, false), "$-1\r\n");
        assert_eq!(enc(&Reply::NilArray, false), "*-1\r\n");
        assert_eq!(enc(&Reply::Double(0.1), false), "$19\r\n0.10000000000000001\r\n");
        assert_eq!(enc(&Reply::Double(f64::INFINITY), false), "$3\r\ninf\r\n");
        assert_eq!(enc(&Reply::Double(f64::NEG_INFINITY), false), "$4\r\n-inf\r\n");
        assert_eq!(enc(&Reply::Bool(true), false), ":1\r\n");
        assert_eq!(enc(&Reply::Bool(false), false), ":0\r\n");
        assert_eq!(
            enc(&Reply::Verbatim("txt", Bytes::from_static(b"hello")), false),
            "$5\r\nhello\r\n"
        );
        assert_eq!(
            enc(&Reply::BigNumber("12345678901234567890".into()), false),
            "$20\r\n12345678901234567890\r\n"
        );
    }

    #[test]
    fn resp3_scalars() {
        assert_eq!(enc(&Reply::Nil, true), "_\r\n");
        assert_eq!(enc(&Reply::NilArray, true), "_\r\n");
        assert_eq!(enc(&Reply::Double(1.5), true), ",1.5\r\n");
        assert_eq!(enc(&Reply::Double(f64::INFINITY), true), ",inf\r\n");
        assert_eq!(enc(&Reply::Double(f64::NEG_INFINITY), true), ",-inf\r\n");
        assert_eq!(enc(&Reply::Double(1e20), true), ",1e+20\r\n");
        assert_eq!(enc(&Reply::Bool(true), true), "#t\r\n");
        assert_eq!(enc(&Reply::Bool(false), true), "#f\r\n");
        assert_eq!(
            enc(&Reply::Verbatim("txt", Bytes::from_static(b"hello")), true),
            "=9\r\ntxt:hello\r\n"
        );
        assert_eq!(
            enc(&Reply::Verbatim("markdown", Bytes::from_static(b"x")), true),
            "=5\r\ntxt:x\r\n"
        );
        assert_eq!(
            enc(&Reply::BigNumber("-1234567890123456789012".into()), true),
            "(-1234567890123456789012\r\n"
        );
        assert_eq!(enc(&Reply::Int(7), true), ":7\r\n");
    }

    #[test]
    fn aggregates_both_protocols() {
        let map = Reply::Map(vec![
            (Reply::bulk_str("a"), Reply::Int(1)),
            (Reply::bulk_str("b"), Reply::Nil),
        ]);
        assert_eq!(enc(&map, false), "*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n$-1\r\n");
        assert_eq!(enc(&map, true), "%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n_\r\n");
        let set = Reply::Set(vec![Reply::bulk_str("x")]);
        assert_eq!(enc(&set, false), "*1\r\n$1\r\nx\r\n");
        assert_eq!(enc(&set, true), "~1\r\n$1\r\nx\r\n");
        let push = Reply::Push(vec![Reply::bulk_str("message"), Reply::Array(vec![])]);
        assert_eq!(enc(&push, false), "*2\r\n$7\r\nmessage\r\n*0\r\n");
        assert_eq!(enc(&push, true), ">2\r\n$7\r\nmessage\r\n*0\r\n");
    }

    #[test]
    fn encodes_into_bytes_mut_identically() {
        let reply = Reply::Array(vec![Reply::Double(0.1), Reply::Bool(true), Reply::Nil]);
        for resp3 in [false, true] {
            let mut vec = Vec::new();
            encode(&reply, resp3, &mut vec);
            let mut bytes = bytes::BytesMut::new();
            encode_into(&reply, resp3, &mut bytes);
            assert_eq!(&bytes[..], &vec[..]);
        }
    }
}
