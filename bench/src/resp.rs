//! The benchmark's own RESP codec: encodes commands (always RESP2 arrays of
//! bulk strings, which every server accepts) and frames replies in RESP2 or
//! RESP3.
//!
//! The client never needs a reply's value, only where it ends and whether it
//! is an error, so the parser walks frames without allocating. It is iterative
//! (a counter of frames still owed, not recursion), so a hostile nesting depth
//! cannot overflow the stack, and every length is bounded before it is trusted.

/// Longest bulk string or aggregate a reply may announce. Larger announcements
/// are treated as protocol errors instead of buffering without bound.
pub const MAX_ANNOUNCED_LEN: i64 = 512 * 1024 * 1024;

/// What one complete reply was, as far as the benchmark cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyKind {
    /// Anything that is not an error.
    Ok,
    /// An error reply (`-` or RESP3 `!`); holds its first word, e.g. `ERR`,
    /// `WRONGTYPE`, `NOAUTH`, which is how errors are counted by kind.
    Error(String),
    /// A RESP3 push (`>`) message: out-of-band, it answers no request.
    Push,
}

/// A reply that can never be framed: the connection must be dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "protocol error: {}", self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Result of framing the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A whole reply of `len` bytes.
    Reply { kind: ReplyKind, len: usize },
    /// More bytes are needed.
    Incomplete,
}

/// Finds the `\r\n`-terminated line starting at `pos`; returns the line
/// (without CRLF) and the position after it.
fn line_at(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(pos..)?;
    let nl = memchr_newline(rest)?;
    if nl == 0 || rest[nl - 1] != b'\r' {
        // A bare LF is tolerated as a terminator only if preceded by CR;
        // otherwise keep it in the line so parse_int rejects it.
        return Some((&rest[..nl], pos + nl + 1));
    }
    Some((&rest[..nl - 1], pos + nl + 1))
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', bytes)
}

fn parse_int(line: &[u8]) -> Result<i64, ProtocolError> {
    let text =
        std::str::from_utf8(line).map_err(|_| ProtocolError("length is not ASCII".to_string()))?;
    text.parse::<i64>().map_err(|_| ProtocolError(format!("bad length {text:?}")))
}

fn error_kind(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let word = text.split_whitespace().next().unwrap_or("ERR");
    // Bound the kind so a server cannot grow the error table with long junk.
    word.chars().take(32).collect()
}

/// Deepest aggregate nesting accepted in a reply.
pub const MAX_NESTING: usize = 1024;

/// Frames one reply at the front of `buf`.
///
/// Attributes (`|`) are skipped together with the reply they decorate, as
/// RESP3 requires; push messages are reported as [`ReplyKind::Push`].
pub fn parse_reply(buf: &[u8]) -> Result<Parsed, ProtocolError> {
    let mut pos = 0usize;
    // Children still owed by each open aggregate, outermost first.
    let mut open: Vec<u64> = Vec::new();
    // Whether the outermost open aggregate is an attribute (which does not
    // count as the reply: the frame after it does).
    let mut root_is_attribute = false;
    let mut kind = ReplyKind::Ok;
    loop {
        let Some(&tag) = buf.get(pos) else { return Ok(Parsed::Incomplete) };
        let Some((line, next)) = line_at(buf, pos + 1) else { return Ok(Parsed::Incomplete) };
        let top = open.is_empty();
        pos = next;
        // Children this frame opens (0 for scalars and empty/null aggregates).
        let mut children: u64 = 0;
        let mut is_attribute = false;
        match tag {
            b'+' | b':' | b',' | b'(' | b'#' | b'_' => {
                if top {
                    kind = ReplyKind::Ok;
                }
            }
            b'-' => {
                if top {
                    kind = ReplyKind::Error(error_kind(line));
                }
            }
            b'$' | b'=' | b'!' => {
                let len = parse_int(line)?;
                if len == -1 && tag == b'$' {
                    if top {
                        kind = ReplyKind::Ok;
                    }
                } else {
                    if !(0..=MAX_ANNOUNCED_LEN).contains(&len) {
                        return Err(ProtocolError(format!("bulk length {len} out of range")));
                    }
                    let end = pos + len as usize;
                    if buf.len() < end + 2 {
                        return Ok(Parsed::Incomplete);
                    }
                    if &buf[end..end + 2] != b"\r\n" {
                        return Err(ProtocolError(
                            "bulk string not terminated by CRLF".to_string(),
                        ));
                    }
                    if top {
                        kind = if tag == b'!' {
                            ReplyKind::Error(error_kind(&buf[pos..end]))
                        } else {
                            ReplyKind::Ok
                        };
                    }
                    pos = end + 2;
                }
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                if line == b"?" {
                    return Err(ProtocolError("streamed aggregates are not supported".to_string()));
                }
                let count = parse_int(line)?;
                if count == -1 && tag == b'*' {
                    if top {
                        kind = ReplyKind::Ok;
                    }
                } else {
                    if !(0..=MAX_ANNOUNCED_LEN).contains(&count) {
                        return Err(ProtocolError(format!(
                            "aggregate length {count} out of range"
                        )));
                    }
                    let per_entry = if tag == b'%' || tag == b'|' { 2 } else { 1 };
                    children = count as u64 * per_entry;
                    is_attribute = tag == b'|';
                    if is_attribute {
                        // A nested attribute is not an element of its parent:
                        // the frame after it is, so the parent owes one more.
                        if let Some(owed) = open.last_mut() {
                            *owed += 1;
                        }
                    }
                    if top && !is_attribute {
                        kind = if tag == b'>' { ReplyKind::Push } else { ReplyKind::Ok };
                    }
                }
            }
            other => {
                return Err(ProtocolError(format!("unknown reply type byte 0x{other:02x}")));
            }
        }
        if children > 0 {
            if open.len() >= MAX_NESTING {
                return Err(ProtocolError("reply nested too deeply".to_string()));
            }
            if top {
                root_is_attribute = is_attribute;
            }
            open.push(children);
            continue;
        }
        // This frame is complete: close every aggregate it completes.
        let mut closed_root = top;
        let mut closed_attribute = top && is_attribute;
        while let Some(owed) = open.last_mut() {
            *owed -= 1;
            if *owed > 0 {
                break;
            }
            open.pop();
            if open.is_empty() {
                closed_root = true;
                closed_attribute = root_is_attribute;
            }
        }
        if closed_root && !closed_attribute {
            return Ok(Parsed::Reply { kind, len: pos });
        }
    }
}

/// Appends `args` as a RESP array of bulk strings.
pub fn encode_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    push_header(out, b'*', args.len());
    for arg in args {
        push_bulk(out, arg.as_ref());
    }
}

/// Appends `$len\r\nbytes\r\n`.
pub fn push_bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    push_header(out, b'$', bytes.len());
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// Appends a type byte, a decimal length and CRLF without going through fmt.
pub fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    push_decimal(out, len as u64);
    out.extend_from_slice(b"\r\n");
}

/// Appends the decimal digits of `value`.
pub fn push_decimal(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Number of decimal digits of `value`.
pub fn decimal_len(mut value: u64) -> usize {
    let mut len = 1;
    while value >= 10 {
        value /= 10;
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(input: &[u8]) -> ReplyKind {
        match parse_reply(input).expect("valid") {
            Parsed::Reply { kind, len } => {
                assert_eq!(
                    len,
                    input.len(),
                    "consumed all of {:?}",
                    String::from_utf8_lossy(input)
                );
                kind
            }
            Parsed::Incomplete => panic!("incomplete: {:?}", String::from_utf8_lossy(input)),
        }
    }

    #[test]
    fn resp2_simple_types() {
        assert_eq!(whole(b"+OK\r\n"), ReplyKind::Ok);
        assert_eq!(whole(b":42\r\n"), ReplyKind::Ok);
        assert_eq!(whole(b"$5\r\nhello\r\n"), ReplyKind::Ok);
        assert_eq!(whole(b"$-1\r\n"), ReplyKind::Ok);
        assert_eq!(whole(b"*-1\r\n"), ReplyKind::Ok);
        assert_eq!(whole(b"$0\r\n\r\n"), ReplyKind::Ok);
        assert_eq!(
            whole(b"-WRONGTYPE Operation against a key\r\n"),
            ReplyKind::Error("WRONGTYPE".into())
        );
    }

    #[test]
    fn nested_aggregates() {
        let input = b"*3\r\n:1\r\n*2\r\n$1\r\na\r\n-ERR inner\r\n$3\r\nxyz\r\n";
        // An error inside an array does not make the reply an error.
        assert_eq!(whole(input), ReplyKind::Ok);
        assert_eq!(whole(b"*0\r\n"), ReplyKind::Ok);
    }

    #[test]
    fn resp3_types() {
        assert_eq!(whole(b"_\r\n"), ReplyKind::Ok);
        assert_eq!(whole(b"#t\r\n"), ReplyKind::Ok);
        assert_eq!(whole(b",3.14\r\n"), ReplyKind::Ok);
        assert_eq!(whole(b"(12345678901234567890\r\n"), ReplyKind::Ok);
        assert_eq!(whole(b"=15\r\ntxt:Some string\r\n"), ReplyKind::Ok);
        assert_eq!(whole(b"%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n"), ReplyKind::Ok);
        assert_eq!(whole(b"~2\r\n+a\r\n+b\r\n"), ReplyKind::Ok);
        assert_eq!(whole(b"!21\r\nSYNTAX invalid syntax\r\n"), ReplyKind::Error("SYNTAX".into()));
        assert_eq!(whole(b">2\r\n+message\r\n+hi\r\n"), ReplyKind::Push);
        // The attribute is skipped with the reply it annotates.
        assert_eq!(
            whole(b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n:7\r\n"),
            ReplyKind::Ok
        );
        assert_eq!(whole(b"|1\r\n+a\r\n+b\r\n-ERR x\r\n"), ReplyKind::Error("ERR".into()));
        assert_eq!(whole(b"*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n"), ReplyKind::Ok);
        assert_eq!(whole(b"|0\r\n-MOVED 1 x\r\n"), ReplyKind::Error("MOVED".into()));
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let inputs: [&[u8]; 4] = [
            b"*3\r\n:1\r\n*2\r\n$1\r\na\r\n-ERR inner\r\n$3\r\nxyz\r\n",
            b"%1\r\n$1\r\na\r\n~1\r\n:1\r\n",
            b"$10\r\n0123456789\r\n",
            b"|1\r\n+a\r\n+b\r\n:1\r\n",
        ];
        for input in inputs {
            for cut in 0..input.len() {
                assert_eq!(parse_reply(&input[..cut]), Ok(Parsed::Incomplete), "cut at {cut}");
            }
        }
    }

    #[test]
    fn pipelined_replies_frame_one_at_a_time() {
        let input = b"+OK\r\n$3\r\nabc\r\n-ERR no\r\n";
        let mut pos = 0;
        let mut kinds = Vec::new();
        while pos < input.len() {
            match parse_reply(&input[pos..]).expect("valid") {
                Parsed::Reply { kind, len } => {
                    kinds.push(kind);
                    pos += len;
                }
                Parsed::Incomplete => panic!("incomplete"),
            }
        }
        assert_eq!(kinds, vec![ReplyKind::Ok, ReplyKind::Ok, ReplyKind::Error("ERR".into())]);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(parse_reply(b"?what\r\n").is_err());
        assert!(parse_reply(b"$abc\r\n").is_err());
        assert!(parse_reply(b"$-5\r\n").is_err());
        assert!(parse_reply(b"$3\r\nabcXY").is_err());
        assert!(parse_reply(b"*99999999999\r\n").is_err());
        assert!(parse_reply(b"*?\r\n").is_err());
        // Arbitrary bytes never panic.
        let mut state = 0x1234_5678u32;
        for _ in 0..2000 {
            let mut junk = Vec::new();
            for _ in 0..(state % 24) {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let pick = b"+-:$*%~>|_#,(=!\r\n0123456789?ab";
                junk.push(pick[(state >> 16) as usize % pick.len()]);
            }
            let _ = parse_reply(&junk);
        }
    }

    #[test]
    fn encodes_commands() {
        let mut out = Vec::new();
        encode_command(&mut out, &["SET", "k", ""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
        for value in [0u64, 7, 10, 99, 100, 12345, u64::MAX] {
            let mut digits = Vec::new();
            push_decimal(&mut digits, value);
            assert_eq!(digits, value.to_string().into_bytes());
            assert_eq!(decimal_len(value), value.to_string().len());
        }
    }
}
