//! Replays transcripts recorded from a real redis-server 7.0.15 on a [`TestShard`] and compares
//! reply for reply: text transcripts with [`replay`], or ones written as Rust pairs with
//! [`replay_pairs`]. Include with `#[path = "support/transcript.rs"] mod transcript;`.
//!
//! A transcript is one `command => reply` line per command (blank lines and `#` comments are
//! skipped). Commands split on spaces; double quotes group (and may be empty) and `\xNN`, `\n`,
//! `\r`, `\t`, `\\` decode, as the recording tool wrote them. Replies are in a compact
//! notation: `S(status)`, `E(error)`, `I(n)`, `D(double)` (RESP3), `B(bytes)` with the same
//! escapes, `NIL`, `NILARR`, `A[..]` and `M{k: v, ..}`.
//!
//! Each test binary uses part of this module, so unused items are expected.

#![allow(dead_code)]

use bytes::Bytes;
use mayfly_engine::reply::Reply;
use mayfly_engine::testing::TestShard;

/// Replays `transcript` on a fresh shard speaking RESP3 when `resp3` is set. `execute` runs
/// one command (so a test can answer commands of other layers itself); `wire` turns a reply
/// into what a client would see and is applied to both sides before they are compared.
/// Panics naming the transcript, the line and the command at the first mismatch.
#[track_caller]
pub fn replay(
    name: &str,
    transcript: &str,
    resp3: bool,
    mut execute: impl FnMut(&mut TestShard, &[Vec<u8>]) -> Reply,
    wire: impl Fn(Reply) -> Reply,
) {
    let mut t = TestShard::new();
    t.resp3 = resp3;
    let mut checked = 0;
    for (n, line) in transcript.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (command, expected) = line.rsplit_once(" => ").expect("line has ' => '");
        let expected = wire(ReplyParser::parse(expected));
        let got = wire(execute(&mut t, &split_args(command)));
        assert_eq!(got, expected, "{name} line {}: {command}", n + 1);
        checked += 1;
    }
    assert!(checked > 5, "{name}: transcript too short");
}

/// Replays a transcript written as (command, RESP2 reply) pairs: each command runs through
/// `run` and its reply, as a RESP2 client sees it, must equal the recorded one.
#[track_caller]
pub fn replay_pairs(pairs: Vec<(&[&str], Reply)>, mut run: impl FnMut(&[&str]) -> Reply) {
    for (args, expected) in pairs {
        let got = resp2(run(args));
        assert_eq!(got, expected, "command {args:?}");
    }
}

/// What a RESP2 client sees: maps and sets become arrays, as the encoder writes them.
pub fn resp2(r: Reply) -> Reply {
    match r {
        Reply::Map(pairs) => {
            Reply::Array(pairs.into_iter().flat_map(|(k, v)| [resp2(k), resp2(v)]).collect())
        }
        Reply::Set(items) | Reply::Array(items) => {
            Reply::Array(items.into_iter().map(resp2).collect())
        }
        other => other,
    }
}

/// Splits a command line: spaces separate, double quotes group (and may be empty), and
/// `\xNN`, `\n`, `\r`, `\t`, `\\` are decoded, as the recording tool did.
fn split_args(line: &str) -> Vec<Vec<u8>> {
    let mut args = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    let mut in_quotes = false;
    for &c in line.as_bytes() {
        if c == b'"' {
            in_quotes = !in_quotes;
            cur.get_or_insert_with(Vec::new);
        } else if c == b' ' && !in_quotes {
            if let Some(arg) = cur.take() {
                args.push(arg);
            }
        } else {
            cur.get_or_insert_with(Vec::new).push(c);
        }
    }
    if let Some(arg) = cur.take() {
        args.push(arg);
    }
    args.into_iter().map(|a| unescape(&a)).collect()
}

fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 1 < s.len() {
            match s[i + 1] {
                b'x' if i + 3 < s.len() => {
                    let hex = std::str::from_utf8(&s[i + 2..i + 4]).expect("hex escape");
                    out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                    i += 4;
                    continue;
                }
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                other => out.push(other),
            }
            i += 2;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// Parses the reply notation. The text of `S(..)`, `E(..)`, `I(..)`, `D(..)` and `B(..)` ends at the `)` that is followed
/// by the end or by `,` `]` `}` `:`, so it may itself hold parentheses.
struct ReplyParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl ReplyParser<'_> {
    fn parse(text: &str) -> Reply {
        let mut p = ReplyParser { s: text.as_bytes(), pos: 0 };
        let r = p.value();
        assert_eq!(p.pos, p.s.len(), "trailing input in {text:?}");
        r
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.s[self.pos..].starts_with(token.as_bytes()) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn text(&mut self) -> Vec<u8> {
        let start = self.pos;
        loop {
            assert!(self.pos < self.s.len(), "unterminated text");
            if self.s[self.pos] == b')'
                && matches!(self.s.get(self.pos + 1), None | Some(b',' | b']' | b'}' | b':'))
            {
                let t = self.s[start..self.pos].to_vec();
                self.pos += 1;
                return t;
            }
            self.pos += 1;
        }
    }

    fn utf8(&mut self) -> String {
        String::from_utf8(self.text()).expect("utf8")
    }

    fn value(&mut self) -> Reply {
        if self.eat("NILARR") {
            Reply::NilArray
        } else if self.eat("NIL") {
            Reply::Nil
        } else if self.eat("S(") {
            Reply::status(self.utf8())
        } else if self.eat("E(") {
            Reply::error(self.utf8())
        } else if self.eat("I(") {
            Reply::Int(self.utf8().parse().expect("integer"))
        } else if self.eat("D(") {
            Reply::Double(self.utf8().parse().expect("double"))
        } else if self.eat("B(") {
            let t = self.text();
            Reply::Bulk(Bytes::from(unescape(&t)))
        } else if self.eat("A[") {
            let mut items = Vec::new();
            while !self.eat("]") {
                items.push(self.value());
                self.eat(", ");
            }
            Reply::Array(items)
        } else if self.eat("M{") {
            let mut pairs = Vec::new();
            while !self.eat("}") {
                let k = self.value();
                assert!(self.eat(": "), "map key without value");
                let v = self.value();
                pairs.push((k, v));
                self.eat(", ");
            }
            Reply::Map(pairs)
        } else {
            panic!("bad reply notation at {}", String::from_utf8_lossy(&self.s[self.pos..]));
        }
    }
}
