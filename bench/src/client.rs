//! Opening a benchmark connection: connect, then the blocking handshake
//! (HELLO for RESP3, AUTH, SELECT) whose failures must be reported clearly
//! before any load starts.

use crate::resp::{encode_command, parse_reply, Parsed, ReplyKind};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Reply protocol to ask the server for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Resp2,
    Resp3,
}

/// How to reach and log in to the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub host: String,
    pub port: u16,
    pub protocol: Protocol,
    pub user: Option<String>,
    pub password: Option<String>,
    pub select_db: Option<u32>,
    pub connect_timeout: Duration,
}

/// Errors that stop a run before or while it starts.
#[derive(Debug)]
pub enum BenchError {
    /// Bad options.
    Config(String),
    /// The server could not be reached.
    Connect { address: String, reason: String },
    /// The server answered the handshake with an error or nonsense.
    Handshake(String),
    /// Local I/O (output files).
    Io(String),
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BenchError::Config(msg) => write!(f, "invalid options: {msg}"),
            BenchError::Connect { address, reason } => {
                write!(f, "cannot connect to {address}: {reason} (is the server running?)")
            }
            BenchError::Handshake(msg) => write!(f, "server refused the connection setup: {msg}"),
            BenchError::Io(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for BenchError {}

/// Upper bound on a handshake reply (HELLO returns a small map).
const MAX_HANDSHAKE_REPLY_BYTES: usize = 1024 * 1024;

impl ServerOptions {
    /// `host:port` for messages.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn resolve(&self) -> Result<SocketAddr, BenchError> {
        let address = self.address();
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| BenchError::Connect { address: address.clone(), reason: e.to_string() })?
            .next()
            .ok_or_else(|| BenchError::Connect { address, reason: "no address found".into() })
    }

    /// Connects and runs the handshake; the stream is returned blocking.
    pub fn open(&self) -> Result<TcpStream, BenchError> {
        let address = self.address();
        let socket_address = self.resolve()?;
        let mut stream = TcpStream::connect_timeout(&socket_address, self.connect_timeout)
            .map_err(|e| BenchError::Connect { address: address.clone(), reason: e.to_string() })?;
        let io_err = |e: std::io::Error| BenchError::Connect {
            address: address.clone(),
            reason: e.to_string(),
        };
        stream.set_nodelay(true).map_err(io_err)?;
        stream.set_read_timeout(Some(self.connect_timeout)).map_err(io_err)?;
        stream.set_write_timeout(Some(self.connect_timeout)).map_err(io_err)?;

        match self.protocol {
            Protocol::Resp3 => {
                let mut args: Vec<&str> = vec!["HELLO", "3"];
                if let Some(password) = &self.password {
                    args.extend(["AUTH", self.user.as_deref().unwrap_or("default"), password]);
                }
                call(&mut stream, &args, "HELLO 3")?;
            }
            Protocol::Resp2 => {
                if let Some(password) = &self.password {
                    match &self.user {
                        Some(user) => call(&mut stream, &["AUTH", user, password], "AUTH")?,
                        None => call(&mut stream, &["AUTH", password], "AUTH")?,
                    }
                }
            }
        }
        if let Some(db) = self.select_db {
            call(&mut stream, &["SELECT", &db.to_string()], "SELECT")?;
        }
        stream.set_read_timeout(None).map_err(io_err)?;
        stream.set_write_timeout(None).map_err(io_err)?;
        Ok(stream)
    }
}

/// Sends one command and waits for its reply; an error reply becomes
/// [`BenchError::Handshake`] carrying the server's own words.
pub fn call(stream: &mut TcpStream, args: &[&str], what: &str) -> Result<(), BenchError> {
    let mut out = Vec::new();
    encode_command(&mut out, args);
    stream
        .write_all(&out)
        .map_err(|e| BenchError::Handshake(format!("{what}: write failed: {e}")))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        match parse_reply(&buf).map_err(|e| BenchError::Handshake(format!("{what}: {e}")))? {
            Parsed::Reply { kind: ReplyKind::Push, len } => {
                buf.drain(..len);
            }
            Parsed::Reply { kind: ReplyKind::Error(_), len } => {
                let text = String::from_utf8_lossy(&buf[1..len]).trim_end().to_string();
                return Err(BenchError::Handshake(format!("{what} answered: {text}")));
            }
            Parsed::Reply { kind: ReplyKind::Ok, .. } => return Ok(()),
            Parsed::Incomplete => {
                if buf.len() > MAX_HANDSHAKE_REPLY_BYTES {
                    return Err(BenchError::Handshake(format!("{what}: reply too large")));
                }
                let n = stream
                    .read(&mut chunk)
                    .map_err(|e| BenchError::Handshake(format!("{what}: no reply: {e}")))?;
                if n == 0 {
                    return Err(BenchError::Handshake(format!(
                        "{what}: server closed the connection"
                    )));
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}
