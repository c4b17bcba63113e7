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
use std::sync::atomic::{AtomicU16, Ordering};
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
        // Tests in one binary start servers concurrently: a process-wide counter keeps their
        // port choices apart, and a server that lost a race for its port exits and is retried.
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let seed = (std::process::id() as u16).wrapping_mul(7);
        for _ in 0..200 {
            let attempt = NEXT.fetch_add(1, Ordering::Relaxed);
            let port = 7400 + seed.wrapping_add(attempt.wrapping_mul(37)) % 600;
            let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
            if TcpListener::bind(addr).is_err() || TcpStream::connect(addr).is_ok() {
                continue;
            }
            let dir =
                std::env::temp_dir().join(format!("mayfly-oracle-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).ok()?;
            let mut child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
                .args(["--appendonly", "no", "--dir"])
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()?;
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut connected = None;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: the port was taken after all
                }
                if let Ok(stream) = TcpStream::connect(addr) {
                    connected = Some(stream);
                    break;
                }
                // Waiting for the server process to listen; not test logic.
                std::thread::sleep(Duration::from_millis(20));
            }
            let Some(stream) = connected else {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&dir);
                continue;
            };
            stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
            let writer = stream.try_clone().ok()?;
            let mut oracle = RedisOracle { child, reader: BufReader::new(stream), writer, dir };
            // The listener must be our own child: it answers with its pid.
            let pid = oracle.child.id();
            match oracle.run(&["INFO", "server"]) {
                Reply::Bulk(info) if info_pid(&info) == Some(pid) => return Some(oracle),
                _ => continue,
            }
        }
        None
    }

    /// The server's address, for tests that need a second connection (e.g. a subscriber).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.writer.peer_addr().expect("connected oracle")
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

fn info_pid(info: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(info).ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("process_id:"))?;
    line.trim().parse().ok()
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

/// Replays a transcript of `command => reply` lines (blank lines and `#` comments are skipped):
/// each command runs through `run` and the notation of its reply must equal the recorded text.
/// More than `more_than` lines must be checked, so a truncated transcript cannot pass.
#[track_caller]
pub fn replay_notation(transcript: &str, more_than: usize, mut run: impl FnMut(&[Bytes]) -> Reply) {
    let mut checked = 0;
    for (n, line) in transcript.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (cmd, expected) = line.split_once(" => ").unwrap_or_else(|| panic!("line {n}: {line}"));
        let got = notation(&run(&split_command(cmd)));
        assert_eq!(got, expected, "line {}: {cmd}", n + 1);
        checked += 1;
    }
    assert!(checked > more_than, "only {checked} transcript lines");
}

/// The recording side of [`replay_notation`]: runs each command of the script file named by
/// the environment variable `script_var` on a live redis-server through `run` and prints
/// `command => reply` lines.
pub fn record_transcript(
    script_var: &str,
    mut run: impl FnMut(&mut RedisOracle, &[Bytes]) -> Reply,
) {
    let script = std::env::var(script_var).expect(script_var);
    let script = std::fs::read_to_string(script).expect("script file");
    let mut oracle = RedisOracle::start().expect("redis-server");
    for line in script.lines().filter(|l| !l.trim().is_empty()) {
        let reply = run(&mut oracle, &split_command(line));
        println!("{line} => {}", notation(&reply));
    }
}
