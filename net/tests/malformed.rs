//! Malformed requests over raw sockets. Each case is sent on a fresh connection to Mayfly and
//! to a real redis-server; what comes back (the bytes, and whether the connection was closed)
//! must be the same. Meanwhile one well-behaved client stays connected to Mayfly the whole
//! time and must keep getting correct answers after every case, and the server must still be
//! running at the end.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{show, RawClient, RedisServer, Server};

/// How a server dealt with one case.
#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    reply: Vec<u8>,
    closed: bool,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} ({})", show(&self.reply), if self.closed { "closed" } else { "open" })
    }
}

/// What to wait for before deciding a connection is still open.
#[derive(Clone, Copy)]
enum Wait {
    /// No expectation: read until the peer has been quiet this long.
    Quiet(Duration),
    /// The oracle closed: wait (bounded) for a close.
    Close,
    /// The oracle left it open after `n` bytes: read those, then a short quiet period.
    Bytes(usize),
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    /// Half-close our side after sending (a client that disconnects mid-request).
    shutdown: bool,
    /// Expected reply prefix on Mayfly even without an oracle (protocol errors).
    expect_prefix: Option<&'static [u8]>,
}

fn case(name: &'static str, bytes: impl Into<Vec<u8>>) -> Case {
    Case { name, bytes: bytes.into(), shutdown: false, expect_prefix: None }
}

impl Case {
    fn expect(mut self, prefix: &'static [u8]) -> Case {
        self.expect_prefix = Some(prefix);
        self
    }
    fn then_close(mut self) -> Case {
        self.shutdown = true;
        self
    }
}

fn run_case(port: u16, c: &Case, wait: Wait) -> Outcome {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may close before reading everything: the write may fail, which is fine.
    let _ = s.write_all(&c.bytes);
    if c.shutdown {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let start = Instant::now();
    let mut reply = Vec::new();
    let quiet = Duration::from_millis(250);
    loop {
        let timeout = match wait {
            Wait::Quiet(d) => d,
            Wait::Close => Duration::from_secs(10).saturating_sub(start.elapsed()),
            Wait::Bytes(n) if reply.len() < n => {
                Duration::from_secs(5).saturating_sub(start.elapsed())
            }
            Wait::Bytes(_) => quiet,
        };
        if timeout.is_zero() {
            return Outcome { reply, closed: false };
        }
        s.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 65536];
        match s.read(&mut buf) {
            Ok(0) => return Outcome { reply, closed: true },
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Outcome { reply, closed: false }
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                return Outcome { reply, closed: true }
            }
            Err(e) => panic!("{}: read: {e}", c.name),
        }
    }
}

fn bulk_cmd(args: &[&[u8]]) -> Vec<u8> {
    common::encode_cmd(args)
}

fn cases() -> Vec<Case> {
    let mut garbage = Vec::new();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..4096 {
        // xorshift: fixed, reproducible garbage, without CR/LF so it stays one "line".
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let b = (x >> 24) as u8;
        garbage.push(if b == b'\r' || b == b'\n' || b == 0 { b'x' } else { b });
    }
    garbage[0] = 0x80;
    garbage.extend_from_slice(b"\r\n");

    let mut unknown200: Vec<&[u8]> = vec![b"NOSUCHCOMMAND"];
    let arg = b"argument-with-some-length".as_slice();
    unknown200.extend(std::iter::repeat_n(arg, 200));

    let mut many_empty = Vec::new();
    for _ in 0..1000 {
        many_empty.extend_from_slice(b"*0\r\n");
    }
    many_empty.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");

    vec![
        case("bad multibulk count", "*abc\r\n")
            .expect(b"-ERR Protocol error: invalid multibulk length\r\n"),
        case("multibulk count with leading zero", "*01\r\n$4\r\nPING\r\n")
            .expect(b"-ERR Protocol error: invalid multibulk length\r\n"),
        case("multibulk count with plus sign", "*+1\r\n$4\r\nPING\r\n")
            .expect(b"-ERR Protocol error: invalid multibulk length\r\n"),
        case("multibulk count over INT_MAX", "*2147483648\r\n")
            .expect(b"-ERR Protocol error: invalid multibulk length\r\n"),
        case("negative multibulk count is a no-op", "*-5\r\n*1\r\n$4\r\nPING\r\n"),
        case("1000 empty multibulks then PING", many_empty),
        case("negative bulk length", "*1\r\n$-5\r\n")
            .expect(b"-ERR Protocol error: invalid bulk length\r\n"),
        case("$-1 as an argument", "*2\r\n$4\r\nECHO\r\n$-1\r\n")
            .expect(b"-ERR Protocol error: invalid bulk length\r\n"),
        case("oversize bulk length (over 512 MB)", "*2\r\n$3\r\nGET\r\n$536870913\r\n")
            .expect(b"-ERR Protocol error: invalid bulk length\r\n"),
        case("bulk length not a number", "*1\r\n$abc\r\n")
            .expect(b"-ERR Protocol error: invalid bulk length\r\n"),
        case("bulk length with plus sign", "*1\r\n$+4\r\nPING\r\n")
            .expect(b"-ERR Protocol error: invalid bulk length\r\n"),
        case("$ missing", "*1\r\nGET\r\n")
            .expect(b"-ERR Protocol error: expected '$', got 'G'\r\n"),
        case("integer where a bulk belongs", "*2\r\n$3\r\nGET\r\n:5\r\n")
            .expect(b"-ERR Protocol error: expected '$', got ':'\r\n"),
        case("nested multibulk", "*1\r\n*1\r\n$4\r\nPING\r\n")
            .expect(b"-ERR Protocol error: expected '$', got '*'\r\n"),
        case("bulk longer than declared", "*1\r\n$3\r\nGETXX\r\n*1\r\n$4\r\nPING\r\n"),
        case("bulk terminator not CRLF", "*1\r\n$4\r\nPINGab*1\r\n$4\r\nPING\r\n"),
        case("count line without CRLF over 64 KiB", {
            let mut v = b"*".to_vec();
            v.extend(std::iter::repeat_n(b'1', 70 * 1024));
            v
        })
        .expect(b"-ERR Protocol error: too big mbulk count string\r\n"),
        case("bulk count line without CRLF over 64 KiB", {
            let mut v = b"*1\r\n$".to_vec();
            v.extend(std::iter::repeat_n(b'1', 70 * 1024));
            v
        })
        .expect(b"-ERR Protocol error: too big bulk count string\r\n"),
        case("inline over 64 KiB without newline", vec![b'A'; 70 * 1024])
            .expect(b"-ERR Protocol error: too big inline request\r\n"),
        case("unbalanced double quote inline", "SET \"abc def\r\n")
            .expect(b"-ERR Protocol error: unbalanced quotes in request\r\n"),
        case("unbalanced single quote inline", "ECHO 'abc\r\n")
            .expect(b"-ERR Protocol error: unbalanced quotes in request\r\n"),
        case("closing quote followed by a letter", "ECHO \"a\"b\r\n")
            .expect(b"-ERR Protocol error: unbalanced quotes in request\r\n"),
        case("inline quoting and hex escapes", "ECHO \"\\x41B\\tC\"\r\nECHO 'it\\'s'\r\n"),
        case("inline whitespace-only lines then PING", "   \r\n\r\n\t\nPING\r\n"),
        case("incomplete request then disconnect", "*1\r\n$3\r\nGET").then_close(),
        case("incomplete request left pending", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\nabc"),
        case("embedded NULs in a bulk", bulk_cmd(&[b"ECHO", b"a\0b\0\0c"])),
        case("NUL inside an inline line", "PING\0 x\r\n"),
        case("NUL inside a count line", "*1\0\r\n$4\r\nPING\r\n"),
        case("binary garbage", garbage),
        case("1M-element multibulk count", "*1048576\r\n$4\r\nPING\r\n"),
        case("zero-length command name", "*1\r\n$0\r\n\r\n"),
        case("unknown command with 200 args", bulk_cmd(&unknown200)),
        case("wrong arity", "*1\r\n$3\r\nGET\r\n"),
        case("inline unknown command", "FOO bar baz\r\n"),
        case("lowercase and mixed-case commands", "*1\r\n$4\r\npInG\r\nping\r\n"),
    ]
}

fn check_watcher(w: &mut RawClient, i: usize, name: &str) {
    assert_eq!(w.cmd_str("PING"), b"+PONG\r\n", "watcher PING after {name}");
    let v = format!("value-{i}");
    assert_eq!(w.cmd(&["SET", "watch", &v]), b"+OK\r\n", "watcher SET after {name}");
    let want = format!("${}\r\n{v}\r\n", v.len());
    assert_eq!(w.cmd(&["GET", "watch"]), want.as_bytes(), "watcher GET after {name}");
}

fn run_all(mayfly_args: &[&str], redis_args: &[&str], password: Option<&str>, cases: Vec<Case>) {
    let mut server = Server::start(mayfly_args);
    let oracle = RedisServer::start(redis_args);
    let mut watcher = server.raw();
    if let Some(pw) = password {
        assert_eq!(watcher.cmd(&["AUTH", pw]), b"+OK\r\n");
    }
    let mut mismatches = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let (got, want) = match &oracle {
            Some(o) => {
                let want = run_case(o.port, c, Wait::Quiet(Duration::from_millis(400)));
                let wait = if want.closed { Wait::Close } else { Wait::Bytes(want.reply.len()) };
                (run_case(server.port, c, wait), Some(want))
            }
            None => (run_case(server.port, c, Wait::Quiet(Duration::from_millis(400))), None),
        };
        println!("{:<45} mayfly {got}", c.name);
        if let Some(prefix) = c.expect_prefix {
            if !got.reply.starts_with(prefix) || !got.closed {
                mismatches.push(format!(
                    "{}: expected {:?} and a close, mayfly gave {got}",
                    c.name,
                    show(prefix)
                ));
            }
        }
        if let Some(want) = want {
            if want != got {
                mismatches.push(format!("{}: redis gave {want}, mayfly gave {got}", c.name));
            }
        }
        check_watcher(&mut watcher, i, c.name);
        assert!(server.is_alive(), "server died after {}: {}", c.name, server.log());
    }
    check_watcher(&mut watcher, usize::MAX, "all cases");
    assert!(server.is_alive(), "server died: {}", server.log());
    for m in &mismatches {
        eprintln!("MISMATCH {m}");
    }
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
}

#[test]
fn malformed_requests_match_redis() {
    run_all(&["--shards", "2"], &[], None, cases());
}

#[test]
#[ignore = "BUG: the unknown-command error shows a non-UTF-8 command name as U+FFFD replacement characters (`'\\xef\\xbf\\xbd…'`); Redis echoes the raw bytes (`'\\xff\\xfe\\x80'`)"]
fn non_utf8_command_name_echoed_raw() {
    let cases = vec![case("non-UTF-8 command name", bulk_cmd(&[b"\xff\xfe\x80", b"arg"]))];
    run_all(&["--shards", "2"], &[], None, cases);
}

#[test]
fn bulk_over_proto_max_bulk_len() {
    let cases = vec![
        case("bulk over proto-max-bulk-len", "*2\r\n$3\r\nGET\r\n$2000000\r\n")
            .expect(b"-ERR Protocol error: invalid bulk length\r\n"),
        case("bulk at proto-max-bulk-len is accepted", {
            let mut v = b"*2\r\n$4\r\nECHO\r\n$1048576\r\n".to_vec();
            v.extend(std::iter::repeat_n(b'z', 1 << 20));
            v.extend_from_slice(b"\r\n");
            v
        }),
    ];
    run_all(
        &["--shards", "2", "--proto-max-bulk-len", "1mb"],
        &["--proto-max-bulk-len", "1mb"],
        None,
        cases,
    );
}

#[test]
fn unauthenticated_limits() {
    // Before AUTH, Redis allows only small requests.
    let cases = vec![
        case("unauthenticated big multibulk", "*20\r\n"),
        case("unauthenticated big bulk", "*2\r\n$4\r\nAUTH\r\n$100000\r\n"),
        case("unauthenticated command", "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
    ];
    run_all(&["--shards", "2", "--requirepass", "pw"], &["--requirepass", "pw"], Some("pw"), cases);
}
