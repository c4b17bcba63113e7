//! A real redis-server as a test oracle: starts a private server on a free loopback port
//! (7400-7999), speaks just enough RESP2 to send commands and read replies as [`Reply`]
//! values, and kills the server when dropped. Tests that use it skip (with a note) when
//! `redis-server` is not installed, so the golden transcripts remain the portable check.
//!
//! It also holds the compact reply notation shared by the transcripts: `I(n)`, `E(text)`,
//! `S(text)`, `B(bytes)` with `\xNN` escapes, `NIL`, `NILARR`, `A[..]`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mayfly_engine::reply::Reply;

pub struct RedisOracle {
    child: Child,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    dir: std::path::PathBuf,
}

impl RedisOracle {
    /// Starts a server, or `None` when `redis-server` is unavailable.
    pub fn start() -> Option<RedisOracle> {
        if Command::new("redis-server").arg("--version").output().is_err() {
            eprintln!("redis-server not installed: skipping the live oracle comparison");
            return None;
        }
        let seed = std::process::id() as u16;
        for attempt in 0..200u16 {
            let port = 7400 + (seed.wrapping_add(attempt.wrapping_mul(37))) % 600;
            // Bind-probe: a port we can bind is free now; the server takes it right after.
            let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
            if TcpListener::bind(addr).is_err() || TcpStream::connect(addr).is_ok() {
                continue;
            }
            let dir =
                std::env::temp_dir().join(format!("mayfly-oracle-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).ok()?;
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
                .args(["--appendonly", "no", "--dir"])
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()?;
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut child = Some(child);
            while Instant::now() < deadline {
                if let Ok(stream) = TcpStream::connect(addr) {
                    stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
                    let writer = stream.try_clone().ok()?;
                    let mut oracle = RedisOracle {
                        child: child.take().expect("child"),
                        reader: BufReader::new(stream),
                        writer,
                        dir,
                    };
                    if oracle.run(&["PING"]) == Reply::status("PONG") {
                        return Some(oracle);
                    }
                    return None;
                }
                // Waiting for the server process to listen; not test logic.
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Some(mut c) = child {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        None
    }

    pub fn run(&mut self, argv: &[&str]) -> Reply {
        let argv: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
        self.run_bytes(&argv)
    }

    pub fn run_bytes(&mut self, argv: &[Bytes]) -> Reply {
        let mut out = format!("*{}\r\n", argv.len()).into_bytes();
        for a in argv {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&out).expect("write to redis-server");
        self.read_reply()
    }

    fn read_line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line).expect("read from redis-server");
        assert!(line.ends_with(b"\r\n"), "truncated reply line {line:?}");
        line.truncate(line.len() - 2);
        line
    }

    fn read_reply(&mut self) -> Reply {
        let line = self.read_line();
        let text = String::from_utf8_lossy(&line[1..]).into_owned();
        match line[0] {
            b'+' => Reply::status(text),
            b'-' => Reply::error(text),
            b':' => Reply::Int(text.parse().expect("integer reply")),
            b'$' => {
                let n: i64 = text.parse().expect("bulk length");
                if n < 0 {
                    return Reply::Nil;
                }
                let mut buf = vec![0u8; n as usize + 2];
                self.reader.read_exact(&mut buf).expect("bulk body");
                buf.truncate(n as usize);
                Reply::Bulk(Bytes::from(buf))
            }
            b'*' => {
                let n: i64 = text.parse().expect("array length");
                if n < 0 {
                    return Reply::NilArray;
                }
                Reply::Array((0..n).map(|_| self.read_reply()).collect())
            }
            other => panic!("unexpected RESP2 type byte {other}"),
        }
    }
}

impl Drop for RedisOracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The compact notation of a reply, as the transcripts store it.
pub fn notation(r: &Reply) -> String {
    match r {
        Reply::Status(s) => format!("S({s})"),
        Reply::Error(s) => format!("E({s})"),
        Reply::Int(n) => format!("I({n})"),
        Reply::Bulk(b) => format!("B({})", escape(b)),
        Reply::Nil => "NIL".into(),
        Reply::NilArray => "NILARR".into(),
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            format!("A[{}]", items.iter().map(notation).collect::<Vec<_>>().join(", "))
        }
        Reply::Map(pairs) => format!(
            "A[{}]",
            pairs
                .iter()
                .flat_map(|(k, v)| [notation(k), notation(v)])
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Reply::Bool(b) => format!("I({})", *b as i64),
        Reply::Double(d) => format!("B({d})"),
        Reply::Verbatim(_, b) => format!("B({})", escape(b)),
        Reply::BigNumber(s) => format!("B({s})"),
    }
}

pub fn escape(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            0x21..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

/// Splits a transcript command: spaces separate arguments; `\xNN` and `\\` decode, and `""`
/// is the empty argument.
pub fn split_command(line: &str) -> Vec<Bytes> {
    line.split(' ')
        .filter(|a| !a.is_empty())
        .map(|a| {
            if a == "\"\"" {
                return Bytes::new();
            }
            let s = a.as_bytes();
            let mut out = Vec::with_capacity(s.len());
            let mut i = 0;
            while i < s.len() {
                if s[i] == b'\\' && i + 1 < s.len() {
                    if s[i + 1] == b'x' && i + 3 < s.len() {
                        let hex = std::str::from_utf8(&s[i + 2..i + 4]).expect("hex escape");
                        out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                        i += 4;
                        continue;
                    }
                    out.push(s[i + 1]);
                    i += 2;
                    continue;
                }
                out.push(s[i]);
                i += 1;
            }
            Bytes::from(out)
        })
        .collect()
}
