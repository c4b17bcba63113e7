//! Shared test helpers: the fixture directory, manifest reading, a canonical JSON form of
//! decoded values (the manifests' form: base64 bytes, `%.17g` scores), and a private
//! redis-server on a free loopback port with a minimal RESP2 client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use mayfly_engine::families::zset::format_score;
use mayfly_engine::value::Value;
use mayfly_persistence::{RdbValue, StreamData, StreamId};
use serde_json::{json, Map, Value as Json};

pub fn fixtures_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    // A copy of the fixtures redis-server 7.0.15 wrote lives in the repository
    // (tests-data/redis-7.0, see its README), so the tests run on any clean clone.
    let candidate = here.join("../tests-data/redis-7.0");
    assert!(candidate.is_dir(), "fixtures not found at {}", candidate.display());
    candidate
}

pub fn b64(b: &[u8]) -> String {
    B64.encode(b)
}

pub fn unb64(s: &str) -> Vec<u8> {
    B64.decode(s).expect("manifest base64")
}

pub fn load_json(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).expect("valid json")
}

fn id(i: StreamId) -> String {
    i.to_string()
}

/// The manifest form of a stream.
pub fn stream_json(s: &StreamData) -> Json {
    let entries: Vec<Json> = s
        .entries
        .iter()
        .map(|e| {
            let fields: Vec<Json> = e.fields.iter().map(|(f, v)| json!([b64(f), b64(v)])).collect();
            json!([id(e.id), fields])
        })
        .collect();
    let groups: Vec<Json> = s
        .groups
        .iter()
        .map(|g| {
            let pel: Vec<Json> = g
                .pel
                .iter()
                .map(|p| {
                    json!({"id": id(p.id), "delivery_time_ms": p.delivery_time_ms,
                           "delivery_count": p.delivery_count})
                })
                .collect();
            let consumers: Vec<Json> = g
                .consumers
                .iter()
                .map(|c| {
                    json!({"name_b64": b64(&c.name), "seen_time_ms": c.seen_time_ms,
                           "pel": c.pending.iter().map(|i| id(*i)).collect::<Vec<_>>()})
                })
                .collect();
            json!({"name_b64": b64(&g.name), "last_delivered_id": id(g.last_id),
                   "entries_read": g.entries_read, "pel": pel, "consumers": consumers})
        })
        .collect();
    json!({"entries": entries, "length": s.length, "last_id": id(s.last_id),
           "first_id": id(s.first_id), "max_deleted_entry_id": id(s.max_deleted_entry_id),
           "entries_added": s.entries_added, "groups": groups})
}

/// The manifest form of a value (sets sorted by raw bytes).
pub fn value_json(v: &RdbValue) -> Json {
    match v {
        RdbValue::Stream(s) => stream_json(s),
        RdbValue::Value(Value::Stream(s)) => stream_json(&StreamData::from_engine(s)),
        RdbValue::Value(Value::Str(s)) => json!(b64(&s.to_vec())),
        RdbValue::Value(Value::List(l)) => {
            Json::Array(l.iter().map(|e| json!(b64(&e.to_vec()))).collect())
        }
        RdbValue::Value(Value::Hash(h)) => {
            let mut m = Map::new();
            h.for_each(|f, v| {
                m.insert(b64(f), json!(b64(v)));
            });
            Json::Object(m)
        }
        RdbValue::Value(Value::Set(s)) => {
            let mut members: Vec<Vec<u8>> = Vec::new();
            s.for_each(|m| members.push(m.to_vec()));
            members.sort();
            Json::Array(members.iter().map(|m| json!(b64(m))).collect())
        }
        RdbValue::Value(Value::ZSet(z)) => {
            Json::Array(z.iter().map(|(m, s)| json!([b64(m), format_score(s)])).collect())
        }
    }
}

/// The manifest's stream value without the fields we do not produce (`name` duplicates
/// `name_b64`).
pub fn strip_stream_names(v: &Json) -> Json {
    let mut v = v.clone();
    if let Some(groups) = v.get_mut("groups").and_then(Json::as_array_mut) {
        for g in groups {
            if let Some(o) = g.as_object_mut() {
                o.remove("name");
            }
            if let Some(cs) = g.get_mut("consumers").and_then(Json::as_array_mut) {
                for c in cs {
                    if let Some(o) = c.as_object_mut() {
                        o.remove("name");
                    }
                }
            }
        }
    }
    v
}

/// The manifest's value in our canonical form (sets re-sorted by raw bytes).
pub fn manifest_value(key: &Json) -> Json {
    let value = &key["value"];
    match key["type"].as_str() {
        Some("set") => {
            let mut members: Vec<Vec<u8>> = value
                .as_array()
                .expect("set array")
                .iter()
                .map(|m| unb64(m.as_str().expect("b64")))
                .collect();
            members.sort();
            Json::Array(members.iter().map(|m| json!(b64(m))).collect())
        }
        Some("stream") => strip_stream_names(value),
        _ => value.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// A private redis-server.

pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

impl Resp {
    pub fn bulk(&self) -> Option<&[u8]> {
        match self {
            Resp::Bulk(Some(b)) => Some(b),
            _ => None,
        }
    }

    pub fn text(&self) -> String {
        match self {
            Resp::Simple(s) | Resp::Error(s) => s.clone(),
            Resp::Int(n) => n.to_string(),
            Resp::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            Resp::Bulk(None) | Resp::Array(None) => "(nil)".into(),
            Resp::Array(Some(items)) => {
                format!("[{}]", items.iter().map(Resp::text).collect::<Vec<_>>().join(", "))
            }
        }
    }

    pub fn array(&self) -> &[Resp] {
        match self {
            Resp::Array(Some(items)) => items,
            _ => &[],
        }
    }
}

pub struct RedisServer {
    child: Child,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    pub dir: PathBuf,
    pub port: u16,
}

pub fn redis_available() -> bool {
    let ok = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("NOTICE: redis-server not on PATH: skipping the redis-server interop test");
    }
    ok
}

/// A scratch directory for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    static N: AtomicU16 = AtomicU16::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mayfly-rdb-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

impl RedisServer {
    /// Starts redis-server in `dir` (loading `dbfilename` if it is there) with extra args.
    /// `None` when it does not come up (for example because it refused the file).
    pub fn start(dir: &Path, dbfilename: &str, extra: &[&str]) -> Option<RedisServer> {
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let seed = (std::process::id() as u16).wrapping_mul(13);
        for _ in 0..100 {
            let attempt = NEXT.fetch_add(1, Ordering::Relaxed);
            let port = 17400 + seed.wrapping_add(attempt.wrapping_mul(41)) % 2000;
            let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
            if TcpListener::bind(addr).is_err() {
                continue;
            }
            let mut child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
                .args(["--appendonly", "no", "--daemonize", "no"])
                .args(["--enable-debug-command", "yes", "--dir"])
                .arg(dir)
                .args(["--dbfilename", dbfilename, "--logfile"])
                .arg(dir.join("redis.log"))
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()?;
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut connected = None;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if let Ok(stream) = TcpStream::connect(addr) {
                    connected = Some(stream);
                    break;
                }
                // Waiting for the process to listen, not test logic.
                std::thread::sleep(Duration::from_millis(20));
            }
            let Some(stream) = connected else {
                let exited = matches!(child.try_wait(), Ok(Some(_)));
                let _ = child.kill();
                let _ = child.wait();
                if exited && dir.join(dbfilename).exists() {
                    // Refused the file (or lost the port race): the caller reads the log.
                    let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
                    if !log.contains("Address already in use") {
                        return None;
                    }
                }
                continue;
            };
            stream.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
            let writer = stream.try_clone().ok()?;
            let mut server = RedisServer {
                child,
                reader: BufReader::new(stream),
                writer,
                dir: dir.to_path_buf(),
                port,
            };
            // Wait until loading is done.
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                let r = server.cmd(&[b"PING"]);
                if r.text() == "PONG" {
                    return Some(server);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            return None;
        }
        None
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    pub fn cmd(&mut self, args: &[&[u8]]) -> Resp {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&out).expect("write to redis");
        self.read_reply()
    }

    pub fn cmd_str(&mut self, args: &[&str]) -> Resp {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.cmd(&args)
    }

    fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("read from redis");
        line.trim_end_matches("\r\n").to_string()
    }

    fn read_reply(&mut self) -> Resp {
        let line = self.read_line();
        assert!(!line.is_empty(), "redis-server closed the connection; log:\n{}", self.log());
        let (tag, rest) = line.split_at(1);
        match tag {
            "+" => Resp::Simple(rest.into()),
            "-" => Resp::Error(rest.into()),
            ":" => Resp::Int(rest.parse().expect("int")),
            "$" => {
                let n: i64 = rest.parse().expect("len");
                if n < 0 {
                    return Resp::Bulk(None);
                }
                let mut buf = vec![0u8; n as usize + 2];
                self.reader.read_exact(&mut buf).expect("bulk");
                buf.truncate(n as usize);
                Resp::Bulk(Some(buf))
            }
            "*" => {
                let n: i64 = rest.parse().expect("count");
                if n < 0 {
                    return Resp::Array(None);
                }
                Resp::Array(Some((0..n).map(|_| self.read_reply()).collect()))
            }
            other => panic!("unexpected RESP tag {other:?} in {line:?}"),
        }
    }

    /// SHUTDOWN NOSAVE (which closes the connection without a reply), then waits.
    pub fn shutdown(mut self) {
        let _ = self.writer.write_all(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n");
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Keep the directory (and its log) of a failing test.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Runs redis-server on `file` placed in a scratch dir; `Err(log)` when it refuses it.
pub fn redis_load(file_bytes: &[u8], name: &str, extra: &[&str]) -> Result<RedisServer, String> {
    let dir = scratch_dir(name);
    std::fs::write(dir.join("dump.rdb"), file_bytes).expect("write rdb");
    match RedisServer::start(&dir, "dump.rdb", extra) {
        Some(s) => Ok(s),
        None => Err(std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default()),
    }
}
