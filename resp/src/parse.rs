//! Request parser: multibulk (`*N\r\n$len\r\n…`) and inline (`SET k v\n`) commands.
//!
//! Each decision follows Redis 7.0 `networking.c` so that the same bytes give the same
//! outcome and the same error text. Redis quirks kept on purpose, because clients and the
//! Redis test suite can observe them:
//! - Line ends are found with C `strchr`, which stops at a NUL byte: a NUL before the `\r`
//!   (multibulk) or `\n` (inline) means "no line end yet", and the request waits until the
//!   64 KiB limit turns it into a protocol error (tests/unit/protocol.tcl "desync" tests).
//! - Only the `\r` of a count line is looked for; the byte after it is skipped unchecked, as
//!   are the two bytes after each bulk payload.
//! - A multibulk count of 0 or below is a no-op, not an error.
//! - The 64 KiB limits apply only while a line's end is missing; a long line that arrived
//!   whole is accepted.

use bytes::Bytes;
use memchr::memchr2;

use super::{
    ArgSpans, Limits, ParseError, Parsed, Span, UNAUTHENTICATED_MAX_BULK_LEN,
    UNAUTHENTICATED_MAX_MULTIBULK_LEN,
};

/// Parse one request from the start of `buf`. Pure: the same bytes always give the same
/// answer. A caller that re-parses a growing buffer from its start should prefer
/// [`RequestParser`], which resumes where it stopped instead of rescanning the arguments
/// it has already seen.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Parsed, ParseError> {
    RequestParser::new().parse(buf, limits)
}

/// Resumable request parser: remembers how far into the current (incomplete) request it got,
/// so a request that arrives in many reads is scanned once in total, not once per read.
///
/// Contract: between calls that returned [`Parsed::Incomplete`], `buf` must start at the same
/// request start and only grow (the bytes may move, e.g. after a buffer compaction; spans are
/// relative to the request start). After any other result the parser is reset and the next
/// call starts a new request. If `buf` is shorter than what was already parsed, the parser
/// starts over rather than trust stale state.
#[derive(Debug, Default, Clone)]
pub struct RequestParser {
    /// Bytes of the current request already parsed.
    pos: usize,
    /// Multibulk arguments still expected; meaningful only when `in_multibulk`.
    remaining_args: usize,
    /// Length of the bulk whose `$len` line was read but whose payload is not complete.
    pending_bulk_len: Option<usize>,
    in_multibulk: bool,
    spans: ArgSpans,
}

impl RequestParser {
    pub fn new() -> RequestParser {
        RequestParser::default()
    }

    /// Forget any partial request (e.g. when the caller drops its buffer).
    pub fn reset(&mut self) {
        self.pos = 0;
        self.remaining_args = 0;
        self.pending_bulk_len = None;
        self.in_multibulk = false;
        self.spans.clear();
    }

    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<Parsed, ParseError> {
        if buf.len() < self.pos {
            self.reset();
        }
        let result = if self.in_multibulk {
            self.parse_multibulk_args(buf, limits)
        } else {
            match buf.first() {
                None => Ok(Parsed::Incomplete { need: None }),
                Some(b'*') => self.parse_multibulk(buf, limits),
                Some(_) => parse_inline(buf, limits),
            }
        };
        if !matches!(result, Ok(Parsed::Incomplete { .. })) {
            self.reset();
        }
        result
    }

    fn parse_multibulk(&mut self, buf: &[u8], limits: &Limits) -> Result<Parsed, ParseError> {
        debug_assert_eq!(buf.first(), Some(&b'*'));
        let Some(cr) = find_cr(buf, 0) else {
            if buf.len() > limits.inline_max {
                return Err(protocol("too big mbulk count string"));
            }
            return Ok(Parsed::Incomplete { need: None });
        };
        if cr + 2 > buf.len() {
            return Ok(Parsed::Incomplete { need: Some(cr + 2) });
        }
        let count = match string_to_i64(&buf[1..cr]) {
            Some(count) if count <= 0 || (count as u64) <= limits.max_multibulk_len as u64 => count,
            _ => return Err(protocol("invalid multibulk length")),
        };
        if count > 0 && count as u64 > UNAUTHENTICATED_MAX_MULTIBULK_LEN && !limits.authenticated {
            return Err(protocol("unauthenticated multibulk length"));
        }
        let consumed = cr + 2;
        if count <= 0 {
            return Ok(Parsed::Empty { consumed });
        }
        // `count` fits: it is at most `max_multibulk_len`, a usize.
        let count = count as usize;
        self.in_multibulk = true;
        self.remaining_args = count;
        self.pos = consumed;
        self.spans.clear();
        self.spans.reserve_capped(count);
        self.parse_multibulk_args(buf, limits)
    }

    fn parse_multibulk_args(&mut self, buf: &[u8], limits: &Limits) -> Result<Parsed, ParseError> {
        debug_assert!(self.remaining_args > 0);
        while self.remaining_args > 0 {
            let bulk_len = match self.pending_bulk_len {
                Some(len) => len,
                None => {
                    let Some(cr) = find_cr(buf, self.pos) else {
                        if buf.len() - self.pos > limits.inline_max {
                            return Err(protocol("too big bulk count string"));
                        }
                        return Ok(Parsed::Incomplete { need: None });
                    };
                    if cr + 2 > buf.len() {
                        return Ok(Parsed::Incomplete { need: Some(cr + 2) });
                    }
                    // `find_cr` found a `\r` at or after `pos`, so `buf[pos]` exists.
                    let first = buf[self.pos];
                    if first != b'$' {
                        return Err(ParseError::Protocol(format!(
                            "Protocol error: expected '$', got '{}'",
                            printable_byte(first)
                        )));
                    }
                    let len = match string_to_i64(&buf[self.pos + 1..cr]) {
                        Some(len) if len >= 0 && len as u64 <= limits.proto_max_bulk_len => len,
                        _ => return Err(protocol("invalid bulk length")),
                    };
                    if len as u64 > UNAUTHENTICATED_MAX_BULK_LEN && !limits.authenticated {
                        return Err(protocol("unauthenticated bulk length"));
                    }
                    let Ok(len) = usize::try_from(len) else {
                        // Only on targets whose address space cannot hold it anyway.
                        return Err(protocol("invalid bulk length"));
                    };
                    self.pos = cr + 2;
                    self.pending_bulk_len = Some(len);
                    len
                }
            };
            // The payload is followed by two bytes Redis skips without looking at them.
            let Some(end) = self.pos.checked_add(bulk_len).and_then(|n| n.checked_add(2)) else {
                return Err(protocol("invalid bulk length"));
            };
            if buf.len() < end {
                return Ok(Parsed::Incomplete { need: Some(end) });
            }
            self.spans.push(Span { start: self.pos, len: bulk_len });
            self.pos = end;
            self.pending_bulk_len = None;
            self.remaining_args -= 1;
        }
        let args = std::mem::take(&mut self.spans);
        Ok(Parsed::Request { args, consumed: self.pos })
    }
}

fn parse_inline(buf: &[u8], limits: &Limits) -> Result<Parsed, ParseError> {
    let newline = match memchr2(b'\n', 0, buf) {
        Some(i) if buf[i] == b'\n' => i,
        _ => {
            if buf.len() > limits.inline_max {
                return Err(protocol("too big inline request"));
            }
            return Ok(Parsed::Incomplete { need: None });
        }
    };
    let line_end = if newline > 0 && buf[newline - 1] == b'\r' { newline - 1 } else { newline };
    let mut args = ArgSpans::new();
    if split_inline(&buf[..line_end], &mut args).is_err() {
        return Err(protocol("unbalanced quotes in request"));
    }
    let consumed = newline + 1;
    if args.is_empty() {
        Ok(Parsed::Empty { consumed })
    } else {
        Ok(Parsed::Request { args, consumed })
    }
}

/// C `isspace` in the C locale.
#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Bytes that end an unquoted token in `sdssplitargs` (note: not `\v` or `\f`, which are
/// skipped between tokens but kept inside one).
#[inline]
fn ends_token(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// Redis's `sdssplitargs` over one line that holds no NUL. Unquoted lines (the common case)
/// become spans into the line; a line with quotes is decoded into a side buffer.
fn split_inline(line: &[u8], args: &mut ArgSpans) -> Result<(), ()> {
    if memchr2(b'"', b'\'', line).is_some() {
        return split_inline_quoted(line, args);
    }
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p == line.len() {
            return Ok(());
        }
        let start = p;
        while p < line.len() && !ends_token(line[p]) {
            p += 1;
        }
        args.push(Span { start, len: p - start });
    }
}

fn split_inline_quoted(line: &[u8], args: &mut ArgSpans) -> Result<(), ()> {
    // Reading past the end yields 0, standing in for the C string's terminating NUL.
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut out = Vec::with_capacity(line.len());
    let mut p = 0;
    loop {
        while at(p) != 0 && is_space(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            break;
        }
        let start = out.len();
        let (mut in_double, mut in_single, mut done) = (false, false, false);
        while !done {
            let c = at(p);
            if in_double {
                if c == b'\\' && at(p + 1) == b'x' && is_hex(at(p + 2)) && is_hex(at(p + 3)) {
                    out.push(hex_value(at(p + 2)) * 16 + hex_value(at(p + 3)));
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    out.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    // A closing quote must be followed by a space or the end of the line.
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return Err(());
                    }
                    done = true;
                } else if c == 0 {
                    return Err(());
                } else {
                    out.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    out.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return Err(());
                    }
                    done = true;
                } else if c == 0 {
                    return Err(());
                } else {
                    out.push(c);
                }
            } else {
                match c {
                    0 => done = true,
                    c if ends_token(c) => done = true,
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    _ => out.push(c),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        args.push(Span { start, len: out.len() - start });
    }
    args.set_decoded(Bytes::from(out));
    Ok(())
}

#[inline]
fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

#[inline]
fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// Index of the first `\r` at or after `from`, as C `strchr` would find it: a NUL first means
/// none. Count lines are a few bytes long, so a short scalar scan beats `memchr` setup.
#[inline]
fn find_cr(buf: &[u8], from: usize) -> Option<usize> {
    let hay = buf.get(from..)?;
    let quick = hay.len().min(24);
    for (i, &b) in hay[..quick].iter().enumerate() {
        match b {
            b'\r' => return Some(from + i),
            0 => return None,
            _ => {}
        }
    }
    let i = quick + memchr2(b'\r', 0, &hay[quick..])?;
    (hay[i] == b'\r').then_some(from + i)
}

/// Redis's `string2ll`: optional `-`, no `+`, no leading zeros, no spaces, fits in i64.
#[inline]
fn string_to_i64(s: &[u8]) -> Option<i64> {
    // LONG_STR_SIZE in Redis: longer input is rejected before looking at it.
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut value: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        if value > i64::MAX as u64 + 1 {
            return None;
        }
        Some(0i64.wrapping_sub_unsigned(value))
    } else {
        i64::try_from(value).ok()
    }
}

/// `%c` in Redis's error after `sdsmapchars(s, "\r\n", "  ")`. Bytes above 0x7f are sent raw
/// by Redis; our error text is UTF-8, so they appear as the Latin-1 character of that byte.
fn printable_byte(b: u8) -> char {
    match b {
        b'\r' | b'\n' => ' ',
        _ => char::from(b),
    }
}

fn protocol(what: &str) -> ParseError {
    ParseError::Protocol(format!("Protocol error: {what}"))
}

#[cfg(test)]
mod unit {
    use super::*;

    fn args_of(buf: &[u8], parsed: &Parsed) -> Vec<Vec<u8>> {
        match parsed {
            Parsed::Request { args, .. } => {
                (0..args.len()).map(|i| args.arg(buf, i).expect("span in range").to_vec()).collect()
            }
            other => panic!("expected a request, got {other:?}"),
        }
    }

    fn parse(buf: &[u8]) -> Result<Parsed, ParseError> {
        parse_request(buf, &Limits::default())
    }

    fn err_text(buf: &[u8], limits: &Limits) -> String {
        match parse_request(buf, limits) {
            Err(e) => e.message().to_string(),
            Ok(other) => panic!("expected an error for {buf:?}, got {other:?}"),
        }
    }

    #[test]
    fn protocol_error_reply_is_err_prefixed() {
        let err = parse(b"*x\r\n").unwrap_err();
        let mut out = Vec::new();
        crate::encode(&err.to_reply(), false, &mut out);
        assert_eq!(out, b"-ERR Protocol error: invalid multibulk length\r\n");
        assert_eq!(err.to_string(), "Protocol error: invalid multibulk length");
    }

    #[test]
    fn string_to_i64_matches_redis_string2ll() {
        assert_eq!(string_to_i64(b"0"), Some(0));
        assert_eq!(string_to_i64(b"12"), Some(12));
        assert_eq!(string_to_i64(b"-12"), Some(-12));
        assert_eq!(string_to_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string_to_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"+1",
            b"01",
            b" 1",
            b"1 ",
            b"1x",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"000000000000000000001",
            b"99999999999999999999",
        ] {
            assert_eq!(string_to_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn multibulk_basic() {
        let buf = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\nrest";
        let parsed = parse(buf).unwrap();
        assert_eq!(args_of(buf, &parsed), vec![b"SET".to_vec(), b"k".to_vec(), b"value".to_vec()]);
        match parsed {
            Parsed::Request { consumed, .. } => assert_eq!(consumed, buf.len() - 4),
            _ => unreachable!(),
        }
    }

    #[test]
    fn multibulk_binary_and_empty_args() {
        let buf = b"*2\r\n$0\r\n\r\n$4\r\n\r\n\0\xff\r\n";
        let parsed = parse(buf).unwrap();
        assert_eq!(args_of(buf, &parsed), vec![b"".to_vec(), b"\r\n\0\xff".to_vec()]);
    }

    #[test]
    fn multibulk_zero_and_negative_counts_are_empty() {
        assert_eq!(parse(b"*0\r\n").unwrap(), Parsed::Empty { consumed: 4 });
        assert_eq!(parse(b"*-1\r\nPING").unwrap(), Parsed::Empty { consumed: 5 });
        assert_eq!(parse(b"*-10\r\n").unwrap(), Parsed::Empty { consumed: 6 });
    }

    #[test]
    fn multibulk_incomplete_everywhere() {
        let full = b"*2\r\n$4\r\nECHO\r\n$11\r\nhello world\r\n";
        for cut in 0..full.len() {
            assert!(
                matches!(parse(&full[..cut]).unwrap(), Parsed::Incomplete { .. }),
                "cut at {cut}"
            );
        }
        assert!(
            matches!(parse(full).unwrap(), Parsed::Request { consumed, .. } if consumed == full.len())
        );
    }

    #[test]
    fn incomplete_need_hint_points_at_payload_end() {
        let buf = b"*1\r\n$10\r\nabc";
        assert_eq!(parse(buf).unwrap(), Parsed::Incomplete { need: Some(9 + 10 + 2) });
    }

    #[test]
    fn trailing_bytes_after_payload_and_count_are_not_checked() {
        // Redis skips two bytes after each line's \r and after each payload unseen.
        let buf = b"*1\rX$4\rYPINGzz";
        let parsed = parse(buf).unwrap();
        assert_eq!(args_of(buf, &parsed), vec![b"PING".to_vec()]);
    }

    #[test]
    fn error_invalid_multibulk_length() {
        let limits = Limits::default();
        for buf in [
            &b"*3000000000\r\n"[..],
            b"*2147483648\r\n",
            b"*abc\r\n",
            b"*\r\n",
            b"*-0\r\n",
            b"*1x$4\r\nPING\r\n",
            b"*99999999999999999999999\r\n",
        ] {
            assert_eq!(err_text(buf, &limits), "Protocol error: invalid multibulk length");
        }
        // INT_MAX itself is accepted: we just wait for the arguments.
        assert!(matches!(parse(b"*2147483647\r\n").unwrap(), Parsed::Incomplete { .. }));
        let small = Limits { max_multibulk_len: 4, ..Limits::default() };
        assert_eq!(err_text(b"*5\r\n", &small), "Protocol error: invalid multibulk length");
    }

    #[test]
    fn error_expected_dollar() {
        let limits = Limits::default();
        assert_eq!(
            err_text(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", &limits),
            "Protocol error: expected '$', got 'f'"
        );
        assert_eq!(err_text(b"*1\r\nfoo\r\n", &limits), "Protocol error: expected '$', got 'f'");
        assert_eq!(err_text(b"*1\r\n\r\n", &limits), "Protocol error: expected '$', got ' '");
        // Without a \r the line is not complete yet, so Redis has not looked at it.
        assert!(matches!(parse(b"*1\r\nfoo").unwrap(), Parsed::Incomplete { .. }));
    }

    #[test]
    fn error_invalid_bulk_length() {
        let limits = Limits::default();
        for buf in [
            &b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n"[..],
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n",
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n",
            b"*1\r\n$-0\r\n",
            b"*1\r\n$+1\r\n",
            b"*1\r\n$01\r\n",
            b"*1\r\n$\r\n",
        ] {
            assert_eq!(err_text(buf, &limits), "Protocol error: invalid bulk length");
        }
        let tight = Limits { proto_max_bulk_len: 10, ..Limits::default() };
        assert_eq!(err_text(b"*1\r\n$11\r\n", &tight), "Protocol error: invalid bulk length");
        assert!(matches!(
            parse_request(b"*1\r\n$10\r\n", &tight).unwrap(),
            Parsed::Incomplete { .. }
        ));
    }

    #[test]
    fn error_unauthenticated_limits() {
        let unauth = Limits { authenticated: false, ..Limits::default() };
        assert_eq!(
            err_text(b"*100\r\n", &unauth),
            "Protocol error: unauthenticated multibulk length"
        );
        assert_eq!(
            err_text(b"*1\r\n$100000000\r\n", &unauth),
            "Protocol error: unauthenticated bulk length"
        );
        assert!(matches!(parse_request(b"*10\r\n", &unauth).unwrap(), Parsed::Incomplete { .. }));
        assert!(matches!(
            parse_request(b"*1\r\n$16384\r\n", &unauth).unwrap(),
            Parsed::Incomplete { .. }
        ));
        assert_eq!(parse_request(b"*-1\r\n", &unauth).unwrap(), Parsed::Empty { consumed: 5 });
        // The general limits are checked first, as in Redis.
        assert_eq!(
            err_text(b"*3000000000\r\n", &unauth),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(err_text(b"*1\r\n$-5\r\n", &unauth), "Protocol error: invalid bulk length");
        // Inline requests have no unauthenticated limit of their own.
        let line = format!("AUTH {}\r\n", "p".repeat(20_000));
        assert!(matches!(parse_request(line.as_bytes(), &unauth).unwrap(), Parsed::Request { .. }));
    }

    #[test]
    fn error_too_big_lines() {
        let limits = Limits::default();
        let mut buf = b"*".to_vec();
        buf.resize(64 * 1024, b'1');
        assert!(matches!(parse(&buf).unwrap(), Parsed::Incomplete { .. }));
        buf.push(b'1');
        assert_eq!(err_text(&buf, &limits), "Protocol error: too big mbulk count string");

        let mut buf = b"*1\r\n$".to_vec();
        buf.resize(4 + 64 * 1024, b'1');
        assert!(matches!(parse(&buf).unwrap(), Parsed::Incomplete { .. }));
        buf.push(b'1');
        assert_eq!(err_text(&buf, &limits), "Protocol error: too big bulk count string");

        let mut buf = b"GET ".to_vec();
        buf.resize(64 * 1024, b'a');
        assert!(matches!(parse(&buf).unwrap(), Parsed::Incomplete { .. }));
        buf.push(b'a');
        assert_eq!(err_text(&buf, &limits), "Protocol error: too big inline request");
    }

    #[test]
    fn nul_hides_line_ends_like_strchr() {
        // tests/unit/protocol.tcl "Protocol desync regression test" #1..#3.
        let limits = Limits::default();
        let payload: Vec<u8> = b"payload".iter().copied().cycle().take(70_000).collect();
        for (prefix, text) in [
            (&b"\x00"[..], "Protocol error: too big inline request"),
            (b"*\x00", "Protocol error: too big mbulk count string"),
            (b"$\x00", "Protocol error: too big inline request"),
        ] {
            let mut buf = prefix.to_vec();
            buf.extend_from_slice(b"\r\n");
            assert!(matches!(parse(&buf).unwrap(), Parsed::Incomplete { .. }));
            buf.extend_from_slice(&payload);
            assert_eq!(err_text(&buf, &limits), text);
        }
        // A NUL inside a bulk payload is data, not a terminator.
        let buf = b"*1\r\n$3\r\na\0b\r\n";
        assert_eq!(args_of(buf, &parse(buf).unwrap()), vec![b"a\0b".to_vec()]);
    }

    #[test]
    fn inline_basic_and_line_endings() {
        let buf = b"SET  key\tvalue \r\nGET key\n";
        let parsed = parse(buf).unwrap();
        assert_eq!(
            args_of(buf, &parsed),
            vec![b"SET".to_vec(), b"key".to_vec(), b"value".to_vec()]
        );
        assert!(matches!(parsed, Parsed::Request { consumed: 17, .. }));
        let rest = &buf[17..];
        let parsed = parse(rest).unwrap();
        assert_eq!(args_of(rest, &parsed), vec![b"GET".to_vec(), b"key".to_vec()]);
        assert!(matches!(parsed, Parsed::Request { consumed: 8, .. }));
        // A stray \r before the final \r\n belongs to the line and ends the token.
        let buf = b"PING\r\r\n";
        assert_eq!(args_of(buf, &parse(buf).unwrap()), vec![b"PING".to_vec()]);
    }

    #[test]
    fn inline_blank_lines_are_empty() {
        assert_eq!(parse(b"\r\n").unwrap(), Parsed::Empty { consumed: 2 });
        assert_eq!(parse(b"\n").unwrap(), Parsed::Empty { consumed: 1 });
        assert_eq!(parse(b"  \t \x0b\r\n").unwrap(), Parsed::Empty { consumed: 7 });
        assert_eq!(parse(b"PING").unwrap(), Parsed::Incomplete { need: None });
        assert_eq!(parse(b"").unwrap(), Parsed::Incomplete { need: None });
    }

    #[test]
    fn inline_vertical_tab_is_skipped_but_not_a_separator() {
        let buf = b"\x0ba\x0bb c\x0c\n";
        assert_eq!(args_of(buf, &parse(buf).unwrap()), vec![b"a\x0bb".to_vec(), b"c\x0c".to_vec()]);
    }

    #[test]
    fn inline_quotes_and_escapes() {
        let buf = b"set a \"x\\x41\\n\\r\\t\\b\\a\\\\\\\"\\q\\xZZ\" 'it\\'s' \"\" ab\"cd\"\r\n";
        let parsed = parse(buf).unwrap();
        let Parsed::Request { args, .. } = &parsed else { panic!("{parsed:?}") };
        assert!(args.decoded().is_some());
        assert_eq!(
            args_of(buf, &parsed),
            vec![
                b"set".to_vec(),
                b"a".to_vec(),
                b"xA\n\r\t\x08\x07\\\"qxZZ".to_vec(),
                b"it's".to_vec(),
                b"".to_vec(),
                b"abcd".to_vec(),
            ]
        );
        // Backslashes in single quotes other than \' are literal.
        let buf = b"echo 'a\\nb'\n";
        assert_eq!(args_of(buf, &parse(buf).unwrap()), vec![b"echo".to_vec(), b"a\\nb".to_vec()]);
    }

    #[test]
    fn inline_unbalanced_quotes() {
        let limits = Limits::default();
        for buf in [
            &b"set \"\"\"test-key\"\"\" test-value\r\n"[..],
            b"echo \"a\"b\n",
            b"echo 'a'b\n",
            b"echo \"abc\n",
            b"echo 'abc\r\n",
            b"echo \"abc\\\"\n",
            b"echo \"a\"'b'\n",
        ] {
            assert_eq!(err_text(buf, &limits), "Protocol error: unbalanced quotes in request");
        }
        // A closing quote may be followed by any C isspace byte, including \v.
        let buf = b"echo \"a\"\x0bb\n";
        assert_eq!(
            args_of(buf, &parse(buf).unwrap()),
            vec![b"echo".to_vec(), b"a".to_vec(), b"b".to_vec()]
        );
    }

    #[test]
    fn many_args_spill_to_heap() {
        let mut buf = b"*20\r\n".to_vec();
        for i in 0..20 {
            let arg = format!("arg{i}");
            buf.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
        }
        let parsed = parse(&buf).unwrap();
        let expected: Vec<Vec<u8>> = (0..20).map(|i| format!("arg{i}").into_bytes()).collect();
        assert_eq!(args_of(&buf, &parsed), expected);
    }

    #[test]
    fn resumable_parser_matches_pure_parser() {
        let full = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$10\r\n0123456789\r\n";
        let limits = Limits::default();
        let mut parser = RequestParser::new();
        for cut in 1..full.len() {
            let got = parser.parse(&full[..cut], &limits).unwrap();
            assert_eq!(got, parse(&full[..cut]).unwrap(), "cut {cut}");
        }
        let got = parser.parse(full, &limits).unwrap();
        assert_eq!(got, parse(full).unwrap());
        // Reset after a complete request: the next call starts fresh.
        assert_eq!(parser.parse(b"*0\r\n", &limits).unwrap(), Parsed::Empty { consumed: 4 });
        // A shrunken buffer (contract breach) restarts instead of trusting stale state.
        let _ = parser.parse(&full[..20], &limits).unwrap();
        assert_eq!(parser.parse(&full[..5], &limits).unwrap(), parse(&full[..5]).unwrap());
    }

    #[test]
    fn huge_declared_bulk_allocates_nothing_up_front() {
        // 500 MB declared, 16 bytes sent: the parser must just ask for more.
        let buf = b"*1\r\n$500000000\r\nabc";
        assert_eq!(parse(buf).unwrap(), Parsed::Incomplete { need: Some(16 + 500_000_000 + 2) });
    }
}
