//! Shared helpers for the end-to-end tests: start the real `mayfly` binary (and, as an
//! oracle, a real `redis-server`) on a free loopback port, and talk to either over a raw
//! socket with a small RESP2/RESP3 reply reader that returns the exact bytes of one reply.
//!
//! Every process started here is killed and reaped on Drop, so a panicking test leaves
//! nothing behind.

#![allow(dead_code)]

pub mod placement;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer its first PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Read timeout of raw clients: far above any honest reply time on a loaded 2-core box.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A loopback port that was free a moment ago. Another process may take it before the
/// server binds it; `spawn_until_ping` retries with a fresh port when the child dies early.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A running child server on 127.0.0.1:`port`.
struct Proc {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Proc {
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_path(tag: &str, port: u16) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mayfly-itest-{tag}-{}-{port}.log", std::process::id()))
}

/// Starts `make(port)` and waits until PING answers (any reply counts, so a server with
/// `requirepass` that answers NOAUTH is up too). Retries on a new port if the child exits,
/// which is what a lost race for the port looks like.
fn spawn_until_ping(tag: &str, make: &dyn Fn(u16) -> Command) -> Proc {
    let mut last_err = String::new();
    for _attempt in 0..3 {
        let port = free_port();
        let log = log_path(tag, port);
        let file = std::fs::File::create(&log).expect("create log file");
        let mut cmd = make(port);
        cmd.stdin(Stdio::null()).stdout(file.try_clone().expect("clone log file")).stderr(file);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {tag}: {e}"));
        let mut proc = Proc { child, port, log };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = proc.child.try_wait() {
                last_err = format!(
                    "{tag} exited early with {status}: {}",
                    std::fs::read_to_string(&proc.log).unwrap_or_default()
                );
                break;
            }
            if ping_once(port) {
                return proc;
            }
            if Instant::now() > deadline {
                let out = std::fs::read_to_string(&proc.log).unwrap_or_default();
                proc.kill();
                panic!("{tag} did not answer PING on port {port} within {START_TIMEOUT:?}: {out}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("could not start {tag}: {last_err}");
}

fn ping_once(port: u16) -> bool {
    let Ok(mut c) = RawClient::try_connect(port) else { return false };
    c.set_timeout(Duration::from_secs(2));
    if c.send(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    c.read_reply().is_ok()
}

/// The `mayfly` binary under test.
pub struct Server {
    proc: Proc,
    pub port: u16,
}

impl Server {
    /// Starts mayfly with `--port N --bind 127.0.0.1` plus `args`.
    pub fn start(args: &[&str]) -> Server {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let proc = spawn_until_ping("mayfly", &|port| {
            let mut c = Command::new(env!("CARGO_BIN_EXE_mayfly"));
            c.args(["--port", &port.to_string(), "--bind", "127.0.0.1"]).args(&args);
            c
        });
        let port = proc.port;
        Server { proc, port }
    }

    /// Starts mayfly with `file` as its config file, then `--port N --bind 127.0.0.1` and
    /// `args` (which win over the file, as on redis-server's command line).
    pub fn start_with_config(file: &str, args: &[&str]) -> Server {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let file = file.to_string();
        let proc = spawn_until_ping("mayfly", &|port| {
            let mut c = Command::new(env!("CARGO_BIN_EXE_mayfly"));
            c.arg(&file).args(["--port", &port.to_string(), "--bind", "127.0.0.1"]).args(&args);
            c
        });
        let port = proc.port;
        Server { proc, port }
    }

    pub fn with_shards(n: usize) -> Server {
        Server::start(&["--shards", &n.to_string()])
    }

    pub fn pid(&self) -> u32 {
        self.proc.child.id()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn raw(&self) -> RawClient {
        RawClient::connect(self.port)
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .expect("client")
            .get_connection_with_timeout(READ_TIMEOUT)
            .expect("connect to mayfly")
    }

    /// True while the process has not exited.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.proc.child.try_wait(), Ok(None))
    }

    /// What the server printed so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.proc.log).unwrap_or_default()
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill() on the pid of a child we started and have not reaped.
        unsafe { libc::kill(self.proc.child.id() as i32, sig) };
    }

    /// Waits up to `t` for the process to exit; its status, or None if it is still running.
    pub fn wait_exit(&mut self, t: Duration) -> Option<std::process::ExitStatus> {
        wait_child(&mut self.proc.child, t)
    }
}

fn wait_child(child: &mut Child, t: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + t;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.proc.kill();
        let _ = std::fs::remove_file(&self.proc.log);
    }
}

/// Runs mayfly with `args` and waits (at most 10 s, then kills it) for it to exit: its exit
/// code and what it printed.
pub fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let log = std::env::temp_dir().join(format!("mayfly-refused-{}.log", std::process::id()));
    let file = std::fs::File::create(&log).expect("log file");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mayfly"))
        .args(["--port", "0"])
        .args(args)
        .stdout(file.try_clone().expect("clone"))
        .stderr(file)
        .spawn()
        .expect("run mayfly");
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    (code, text)
}

/// A real `redis-server`, the oracle for byte-exact comparisons.
pub struct RedisServer {
    proc: Proc,
    pub port: u16,
}

pub fn redis_server_available() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

impl RedisServer {
    /// Starts redis-server with no persistence, or returns None (with a note) when it is not
    /// installed.
    pub fn start(args: &[&str]) -> Option<RedisServer> {
        if !redis_server_available() {
            eprintln!("NOTE: redis-server is not on PATH; skipping the comparison with real Redis");
            return None;
        }
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let proc = spawn_until_ping("redis", &|port| {
            let mut c = Command::new("redis-server");
            c.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .args(&args);
            c
        });
        let port = proc.port;
        Some(RedisServer { proc, port })
    }

    pub fn raw(&self) -> RawClient {
        RawClient::connect(self.port)
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill() on the pid of a child we started and have not reaped.
        unsafe { libc::kill(self.proc.child.id() as i32, sig) };
    }

    pub fn wait_exit(&mut self, t: Duration) -> Option<std::process::ExitStatus> {
        wait_child(&mut self.proc.child, t)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.proc.log).unwrap_or_default()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.proc.kill();
        let _ = std::fs::remove_file(&self.proc.log);
    }
}

/// Encodes a request as a RESP multibulk.
pub fn encode_cmd<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A raw socket client: send any bytes, read back exactly one reply's bytes.
pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    pub fn try_connect(port: u16) -> io::Result<RawClient> {
        let stream =
            TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2))?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_write_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(RawClient { stream, buf: Vec::new() })
    }

    pub fn connect(port: u16) -> RawClient {
        RawClient::try_connect(port).unwrap_or_else(|e| panic!("connect to port {port}: {e}"))
    }

    /// Connects from source address `from` to `to:port` (e.g. 127.0.0.2 → 127.0.0.2, which
    /// Redis does not count as a local client).
    pub fn connect_from(from: std::net::Ipv4Addr, to: std::net::Ipv4Addr, port: u16) -> RawClient {
        use std::os::fd::FromRawFd;
        let sockaddr = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from(ip).to_be() },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: a new socket, bound and connected with valid sockaddr_in values, then owned
        // by the TcpStream.
        let stream = unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
            let src = sockaddr(from, 0);
            let rc = libc::bind(fd, &src as *const _ as *const libc::sockaddr, len);
            assert_eq!(rc, 0, "bind {from}: {}", io::Error::last_os_error());
            let dst = sockaddr(to, port);
            let rc = libc::connect(fd, &dst as *const _ as *const libc::sockaddr, len);
            assert_eq!(rc, 0, "connect {to}:{port}: {}", io::Error::last_os_error());
            TcpStream::from_raw_fd(fd)
        };
        stream.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        RawClient { stream, buf: Vec::new() }
    }

    pub fn set_timeout(&mut self, t: Duration) {
        let _ = self.stream.set_read_timeout(Some(t));
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads until one complete reply is buffered and returns its bytes.
    pub fn read_reply(&mut self) -> io::Result<Vec<u8>> {
        loop {
            match reply_len(&self.buf) {
                Ok(Some(n)) => return Ok(self.buf.drain(..n).collect()),
                Ok(None) => {}
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{e} in {:?}", String::from_utf8_lossy(&self.buf)),
                    ))
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("closed with partial reply {:?}", String::from_utf8_lossy(&self.buf)),
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends one command and returns its reply's bytes; panics on I/O errors.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Vec<u8> {
        self.try_cmd(args).unwrap_or_else(|e| {
            let shown: Vec<String> =
                args.iter().map(|a| String::from_utf8_lossy(a.as_ref()).into_owned()).collect();
            panic!("{shown:?}: {e}")
        })
    }

    pub fn try_cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Vec<u8>> {
        self.send(&encode_cmd(args))?;
        self.read_reply()
    }

    /// Like `cmd` for whitespace-separated words without quoting.
    pub fn cmd_str(&mut self, line: &str) -> Vec<u8> {
        let args: Vec<&str> = line.split_whitespace().collect();
        self.cmd(&args)
    }

    /// Waits up to `t` for the peer to close: Ok(bytes received before EOF) on close,
    /// Err on timeout or another error. Bytes already buffered count as received.
    pub fn wait_closed(&mut self, t: Duration) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + t;
        let mut got = std::mem::take(&mut self.buf);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "still open"));
            }
            let _ = self.stream.set_read_timeout(Some(left));
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(got),
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(got),
                Err(e) => return Err(e),
            }
        }
    }

    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

/// A parsed reply, for tests that look inside rather than compare bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` or RESP3 `_`.
    Nil,
    Array(Vec<Resp>),
    Map(Vec<(Resp, Resp)>),
    Set(Vec<Resp>),
    Push(Vec<Resp>),
    Double(Vec<u8>),
    Bool(bool),
    BigNumber(Vec<u8>),
    Verbatim(Vec<u8>),
}

impl Resp {
    pub fn parse(bytes: &[u8]) -> Resp {
        match parse_one(bytes) {
            Ok(Some((r, n))) if n == bytes.len() => r,
            other => panic!("not exactly one reply ({other:?}): {:?}", show(bytes)),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Resp::Simple(b) | Resp::Bulk(b) | Resp::Error(b) | Resp::Verbatim(b) => b,
            other => panic!("not a string reply: {other:?}"),
        }
    }

    pub fn as_int(&self) -> i64 {
        match self {
            Resp::Int(n) => *n,
            other => panic!("not an integer reply: {other:?}"),
        }
    }

    pub fn items(&self) -> &[Resp] {
        match self {
            Resp::Array(v) | Resp::Set(v) | Resp::Push(v) => v,
            other => panic!("not an aggregate reply: {other:?}"),
        }
    }
}

/// Bytes shown readably in assertion messages.
pub fn show(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// Length of the complete reply at the start of `buf`: Ok(None) while incomplete.
pub fn reply_len(buf: &[u8]) -> Result<Option<usize>, String> {
    Ok(parse_one(buf)?.map(|(_, n)| n))
}

fn line(buf: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(from..)?;
    let i = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..i], from + i + 2))
}

fn int_of(b: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad length/integer {:?}", show(b)))
}

/// Parses one reply starting at 0; Ok(None) while incomplete. Attributes (`|`) are read and
/// dropped, as a client would, but their bytes count toward the returned length.
pub fn parse_one(buf: &[u8]) -> Result<Option<(Resp, usize)>, String> {
    parse_at(buf, 0, 0)
}

fn parse_at(buf: &[u8], pos: usize, depth: usize) -> Result<Option<(Resp, usize)>, String> {
    if depth > 64 {
        return Err("nesting too deep".into());
    }
    let Some(&tag) = buf.get(pos) else { return Ok(None) };
    let Some((body, next)) = line(buf, pos + 1) else { return Ok(None) };
    let owned = body.to_vec();
    let aggregate = |n: i64, per: usize| -> Result<Option<(Vec<Resp>, usize)>, String> {
        let mut items = Vec::new();
        let mut at = next;
        for _ in 0..(n.max(0) as usize).saturating_mul(per) {
            match parse_at(buf, at, depth + 1)? {
                Some((r, end)) => {
                    items.push(r);
                    at = end;
                }
                None => return Ok(None),
            }
        }
        Ok(Some((items, at)))
    };
    let bulk = |n: i64| -> Result<Option<(Vec<u8>, usize)>, String> {
        if n < 0 {
            return Err(format!("negative bulk length {n}"));
        }
        let end = next + n as usize;
        if buf.len() < end + 2 {
            return Ok(None);
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err("bulk not followed by CRLF".into());
        }
        Ok(Some((buf[next..end].to_vec(), end + 2)))
    };
    Ok(Some(match tag {
        b'+' => (Resp::Simple(owned), next),
        b'-' => (Resp::Error(owned), next),
        b':' => (Resp::Int(int_of(body)?), next),
        b',' => (Resp::Double(owned), next),
        b'(' => (Resp::BigNumber(owned), next),
        b'_' => (Resp::Nil, next),
        b'#' => (Resp::Bool(body == b"t"), next),
        b'$' | b'=' | b'!' => {
            let n = int_of(body)?;
            if n == -1 && tag == b'$' {
                return Ok(Some((Resp::Nil, next)));
            }
            let Some((data, end)) = bulk(n)? else { return Ok(None) };
            match tag {
                b'$' => (Resp::Bulk(data), end),
                b'=' => (Resp::Verbatim(data), end),
                _ => (Resp::Error(data), end),
            }
        }
        b'*' | b'~' | b'>' => {
            let n = int_of(body)?;
            if n == -1 && tag == b'*' {
                return Ok(Some((Resp::Nil, next)));
            }
            let Some((items, end)) = aggregate(n, 1)? else { return Ok(None) };
            match tag {
                b'*' => (Resp::Array(items), end),
                b'~' => (Resp::Set(items), end),
                _ => (Resp::Push(items), end),
            }
        }
        b'%' | b'|' => {
            let n = int_of(body)?;
            let Some((items, end)) = aggregate(n, 2)? else { return Ok(None) };
            let mut it = items.into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            if tag == b'|' {
                // An attribute precedes the real reply.
                return match parse_at(buf, end, depth + 1)? {
                    Some((r, end)) => Ok(Some((r, end))),
                    None => Ok(None),
                };
            }
            (Resp::Map(pairs), end)
        }
        other => return Err(format!("unknown reply type byte {:?}", show(&[other]))),
    }))
}

/// Arguments from whitespace-separated words.
pub fn words(line: &str) -> Vec<Vec<u8>> {
    line.split_whitespace().map(|w| w.as_bytes().to_vec()).collect()
}

/// Sends each whitespace-split command to `mayfly` and to a fresh real redis-server, and
/// returns a description of every reply that differs (empty without redis-server).
pub fn compare_with_redis(mayfly: &mut RawClient, cmds: &[&str]) -> Vec<String> {
    let Some(oracle) = RedisServer::start(&[]) else { return Vec::new() };
    let mut r = oracle.raw();
    let mut out = Vec::new();
    for cmd in cmds {
        let want = r.cmd_str(cmd);
        let got = mayfly.cmd_str(cmd);
        if want != got {
            out.push(format!("{cmd}\n    redis:  {}\n    mayfly: {}", show(&want), show(&got)));
        }
    }
    out
}

#[cfg(test)]
mod reader_tests {
    use super::*;

    #[test]
    fn reads_nested_and_resp3_replies() {
        let cases: &[&[u8]] = &[
            b"+OK\r\n",
            b"-ERR x\r\n",
            b":-12\r\n",
            b"$-1\r\n",
            b"$0\r\n\r\n",
            b"$4\r\na\r\nb\r\n",
            b"*-1\r\n",
            b"*0\r\n",
            b"*2\r\n*1\r\n:1\r\n$1\r\nx\r\n",
            b"_\r\n",
            b"%1\r\n+a\r\n~2\r\n:1\r\n#t\r\n",
            b">2\r\n$1\r\na\r\n,1.5\r\n",
            b"|1\r\n+k\r\n+v\r\n:7\r\n",
            b"=7\r\ntxt:abc\r\n",
            b"!3\r\nERR\r\n",
            b"(123\r\n",
        ];
        for c in cases {
            assert_eq!(reply_len(c), Ok(Some(c.len())), "{}", show(c));
            for cut in 0..c.len() {
                assert_eq!(reply_len(&c[..cut]), Ok(None), "{} cut {cut}", show(c));
            }
        }
        assert_eq!(Resp::parse(b"|1\r\n+k\r\n+v\r\n:7\r\n"), Resp::Int(7));
        assert!(reply_len(b"?\r\n").is_err());
    }
}
