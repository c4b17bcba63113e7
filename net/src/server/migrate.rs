//! MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw] [KEYS k…]:
//! moves keys to another Redis or Mayfly with DUMP payloads, as Redis 7.0's `migrateCommand`.
//!
//! ```text
//!  parse ─► lock the keys (exclusive, every owner shard) ─► Fetch copies ─► none: +NOKEY
//!        ─► connect (io_uring, ≤ timeout) ─► [AUTH] SELECT db RESTORE k ttl payload [REPLACE]…
//!        ─► read one line per command (each ≤ timeout)
//!        ─► not COPY: DEL the acknowledged keys (scratch shard: `del` events, journal DEL)
//!        ─► Store back / unlock
//! ```
//! The keys stay locked while the target answers, so nobody sees a key both here and there
//! or changes it between the copy and the delete (Redis blocks the whole server instead).
//! Connections are cached per shard thread and `host:port` (at most 64, closed after 10 s
//! unused; SELECT only when the database changes; one retry on a fresh connection when a
//! cached one turns out closed), as Redis's `migrate_cached_sockets`.
//! Differences from Redis: the host must be an IP address or `localhost` (no blocking DNS
//! lookup on a shard thread), and MIGRATE is refused inside MULTI (its locks would wait for
//! the transaction holding them).

use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;

use bytes::Bytes;
use io_uring::{opcode, types};
use mayfly_engine::clock::Clock;
use mayfly_engine::db::Entry;
use mayfly_engine::error::OpError;
use mayfly_engine::journal::ShardSet;
use mayfly_engine::reply::Reply;
use mayfly_engine::shard::Shard;
use mayfly_engine::table::Key;

use crate::conn::Conn;
use crate::rt::{op_with_buf, race, send_all, sleep_ms, Either};
use crate::shard::env::{DbKey, Job, Out};
use crate::shard::{call, here, submit};

/// MIGRATE's options, as Redis parses them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MigrateArgs {
    pub copy: bool,
    pub replace: bool,
    pub username: Option<Bytes>,
    pub password: Option<Bytes>,
    pub keys: Vec<Bytes>,
    pub db: i64,
    pub timeout_ms: u64,
}

fn parse_long(b: &[u8]) -> Result<i64, Reply> {
    mayfly_engine::value::parse_i64_strict(b).ok_or_else(|| OpError::NotInteger.into())
}

/// Parses `argv` (arity already checked: at least 6).
pub fn parse(argv: &[Bytes]) -> Result<MigrateArgs, Reply> {
    let mut a = MigrateArgs::default();
    let mut first_key = 3;
    let mut num_keys = 1;
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = &argv[j];
        if opt.eq_ignore_ascii_case(b"copy") {
            a.copy = true;
        } else if opt.eq_ignore_ascii_case(b"replace") {
            a.replace = true;
        } else if opt.eq_ignore_ascii_case(b"auth") {
            if more == 0 {
                return Err(OpError::Syntax.into());
            }
            j += 1;
            a.password = Some(argv[j].clone());
        } else if opt.eq_ignore_ascii_case(b"auth2") {
            if more < 2 {
                return Err(OpError::Syntax.into());
            }
            a.username = Some(argv[j + 1].clone());
            a.password = Some(argv[j + 2].clone());
            j += 2;
        } else if opt.eq_ignore_ascii_case(b"keys") {
            if !argv[3].is_empty() {
                return Err(Reply::error(
                    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            first_key = j + 1;
            num_keys = argv.len() - j - 1;
            break;
        } else {
            return Err(OpError::Syntax.into());
        }
        j += 1;
    }
    let timeout = parse_long(&argv[5])?;
    a.db = parse_long(&argv[4])?;
    a.timeout_ms = if timeout <= 0 { 1000 } else { timeout as u64 };
    a.keys = argv[first_key..first_key + num_keys].to_vec();
    Ok(a)
}

fn resp_bulk(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(b.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

fn resp_cmd(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        resp_bulk(out, a);
    }
}

/// A connected socket to the target, closed (after a shutdown that ends any read in flight)
/// on drop.
struct Target {
    fd: RawFd,
    buf: Vec<u8>,
}

impl Drop for Target {
    fn drop(&mut self) {
        // SAFETY: our own socket; shutdown makes a recv still in the ring complete.
        unsafe {
            libc::shutdown(self.fd, libc::SHUT_RDWR);
            libc::close(self.fd);
        }
    }
}

fn resolve(host: &[u8], port: &[u8]) -> Option<SocketAddr> {
    let host = std::str::from_utf8(host).ok()?;
    // C `atoi`, as Redis reads it: leading digits, anything else is 0 (port 0 is refused
    // by the kernel, which Redis reports as a write error).
    let digits: Vec<u8> = port.iter().copied().take_while(u8::is_ascii_digit).take(6).collect();
    let port: u16 =
        std::str::from_utf8(&digits).ok()?.parse::<u32>().unwrap_or(0).try_into().ok()?;
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::from([127, 0, 0, 1])
    } else {
        host.parse().ok()?
    };
    Some(SocketAddr::new(ip, port))
}

fn sockaddr_bytes(addr: SocketAddr) -> (Vec<u8>, libc::socklen_t) {
    match addr {
        SocketAddr::V4(a) => {
            let sa = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
                sin_zero: [0; 8],
            };
            let len = std::mem::size_of::<libc::sockaddr_in>();
            // SAFETY: viewing a plain C struct as its bytes.
            let bytes = unsafe { std::slice::from_raw_parts(&sa as *const _ as *const u8, len) };
            (bytes.to_vec(), len as libc::socklen_t)
        }
        SocketAddr::V6(a) => {
            let sa = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            let len = std::mem::size_of::<libc::sockaddr_in6>();
            // SAFETY: viewing a plain C struct as its bytes.
            let bytes = unsafe { std::slice::from_raw_parts(&sa as *const _ as *const u8, len) };
            (bytes.to_vec(), len as libc::socklen_t)
        }
    }
}

/// Why a connection was not made.
enum ConnectError {
    /// No socket, or no answer within the timeout: Redis's "connecting" error.
    Connecting,
    /// Refused or reset at once: Redis's blocking connect reports the socket writable and
    /// the error shows on the first write.
    Writing,
}

async fn connect(addr: SocketAddr, timeout_ms: u64) -> Result<Target, ConnectError> {
    let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: a new socket; owned by `Target` from here on.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(ConnectError::Connecting);
    }
    let target = Target { fd, buf: Vec::new() };
    let (sa, len) = sockaddr_bytes(addr);
    // The address lives in the op's owned buffer (its heap bytes do not move).
    let sqe =
        opcode::Connect::new(types::Fd(fd), sa.as_ptr() as *const libc::sockaddr, len).build();
    match race(op_with_buf(sqe, sa), sleep_ms(timeout_ms)).await {
        Either::Left((0, _)) => {
            let one: libc::c_int = 1;
            // SAFETY: setsockopt with a valid int option on our socket.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    &one as *const _ as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            Ok(target)
        }
        Either::Left(_) => Err(ConnectError::Writing),
        Either::Right(()) => Err(ConnectError::Connecting),
    }
}

/// Why a reply line was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadError {
    /// The peer closed or reset the connection, or sent garbage.
    Closed,
    /// Nothing within the timeout (a receive may still be in the ring: never reuse the socket).
    Timeout,
}

impl Target {
    /// Reads one non-empty reply line (without CRLF).
    async fn read_line(&mut self, timeout_ms: u64) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(p) = memchr::memchr(b'\n', &self.buf) {
                let mut line: Vec<u8> = self.buf.drain(..=p).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                // An empty line is a read failure for Redis's syncReadLine too.
                return if line.is_empty() { Err(ReadError::Closed) } else { Ok(line) };
            }
            if self.buf.len() > 64 * 1024 {
                return Err(ReadError::Closed);
            }
            let chunk = vec![0u8; 16 * 1024];
            let sqe =
                opcode::Recv::new(types::Fd(self.fd), chunk.as_ptr() as *mut u8, 16 * 1024).build();
            match race(op_with_buf(sqe, chunk), sleep_ms(timeout_ms)).await {
                Either::Left((n, chunk)) if n > 0 => {
                    self.buf.extend_from_slice(&chunk[..n as usize])
                }
                Either::Left(_) => return Err(ReadError::Closed),
                Either::Right(()) => return Err(ReadError::Timeout),
            }
        }
    }
}

/// Connections kept for the next MIGRATE to the same `host:port` (Redis's
/// `migrate_cached_sockets`): per shard thread, at most [`CACHE_MAX`], closed after
/// [`CACHE_TTL_MS`] unused. A connection is taken out while a MIGRATE uses it and put back
/// only after a clean exchange (no timeout, nothing unread).
struct Cached {
    target: Target,
    last_db: i64,
    last_use_ms: u64,
}

const CACHE_MAX: usize = 64;
const CACHE_TTL_MS: u64 = 10_000;

thread_local! {
    static CACHE: std::cell::RefCell<std::collections::HashMap<Vec<u8>, Cached>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
    static SWEEPER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Cached connections over every shard (INFO's `migrate_cached_sockets`).
static CACHED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// INFO stats' `migrate_cached_sockets`.
pub fn cached_sockets() -> usize {
    CACHED.load(std::sync::atomic::Ordering::Relaxed)
}

fn cache_take(name: &[u8]) -> Option<Cached> {
    let c = CACHE.with(|c| c.borrow_mut().remove(name))?;
    CACHED.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    Some(c)
}

fn cache_put(name: Vec<u8>, target: Target, last_db: i64) {
    let now = crate::rt::monotonic_us() / 1000;
    let evicted = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let mut evicted = None;
        if c.len() >= CACHE_MAX {
            let oldest = c.iter().min_by_key(|(_, v)| v.last_use_ms).map(|(k, _)| k.clone());
            evicted = oldest.and_then(|k| c.remove(&k));
        }
        if c.insert(name, Cached { target, last_db, last_use_ms: now }).is_none() {
            CACHED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        evicted
    });
    if evicted.is_some() {
        CACHED.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
    if !SWEEPER.with(|s| s.replace(true)) {
        crate::rt::exec::spawn(sweep());
    }
}

/// Closes cached connections unused for [`CACHE_TTL_MS`]; ends when the cache is empty.
async fn sweep() {
    loop {
        sleep_ms(1000).await;
        let now = crate::rt::monotonic_us() / 1000;
        let (closed, left) = CACHE.with(|c| {
            let mut c = c.borrow_mut();
            let before = c.len();
            c.retain(|_, v| now.saturating_sub(v.last_use_ms) < CACHE_TTL_MS);
            (before - c.len(), c.len())
        });
        CACHED.fetch_sub(closed, std::sync::atomic::Ordering::Relaxed);
        if left == 0 {
            SWEEPER.with(|s| s.set(false));
            return;
        }
    }
}

/// One fetched key: its name and entry copy.
type Fetched = (Bytes, Entry);

async fn lock_and_fetch(
    db: usize,
    keys: &[Bytes],
    txid: u64,
) -> (Vec<(usize, Vec<DbKey>)>, Vec<Fetched>) {
    let rt = here();
    let mut groups: Vec<(usize, Vec<DbKey>)> = Vec::new();
    for k in keys {
        let dk: DbKey = (db, Key::from(&k[..]));
        let s = rt.shared.shard_of(k);
        match groups.iter_mut().find(|(gs, _)| *gs == s) {
            Some((_, v)) if !v.contains(&dk) => v.push(dk),
            Some(_) => {}
            None => groups.push((s, vec![dk])),
        }
    }
    groups.sort_by_key(|(s, _)| *s);
    let shards = ShardSet::from_ids(groups.iter().map(|(s, _)| *s));
    for (s, ks) in &groups {
        call(*s, Job::Lock { txid, keys: ks.clone(), exclusive: true, shards: shards.clone() })
            .await;
    }
    let mut found: Vec<(DbKey, Entry)> = Vec::new();
    for (s, ks) in &groups {
        if let Out::Entries(entries) =
            call(*s, Job::Fetch { txid, keys: ks.clone(), make_room: false }).await
        {
            for (k, e) in ks.iter().zip(entries) {
                if let Some(e) = e {
                    found.push((k.clone(), e));
                }
            }
        }
    }
    // In the order the client named them (duplicates kept, as Redis sends them).
    let mut out = Vec::new();
    for k in keys {
        if let Some((_, e)) = found.iter().find(|(dk, _)| dk.1.as_ref() == &k[..]) {
            out.push((k.clone(), e.clone()));
        }
    }
    (groups, out)
}

async fn unlock(groups: &[(usize, Vec<DbKey>)], txid: u64) {
    crate::coord::unlock_on(groups.iter().map(|(s, _)| *s), txid).await;
}

/// Deletes the acknowledged keys as DEL would (events, journal), then releases the locks.
async fn delete_and_release(
    db: usize,
    groups: &[(usize, Vec<DbKey>)],
    txid: u64,
    fetched: Vec<Fetched>,
    acked: &[Bytes],
) {
    let rt = here();
    let (config, now) = {
        let env = rt.env.borrow();
        (env.shard.config.clone(), env.shard.clock.now_ms())
    };
    let mut scratch = Shard::new(usize::MAX, config, Clock::Manual(now));
    for (k, e) in fetched {
        scratch.dbs[db].insert(Key::from(&k[..]), e);
    }
    scratch.write_log = Some(Vec::new());
    for k in acked {
        scratch.execute(db, &[Bytes::from_static(b"DEL"), k.clone()], false);
    }
    let mut written = scratch.write_log.take().unwrap_or_default();
    written.sort();
    written.dedup();
    let events = scratch.take_events();
    if !events.is_empty() {
        rt.publish_events(events, true);
    }
    let mut stores = Vec::new();
    for (s, _) in groups {
        let writes: Vec<(DbKey, Option<Entry>)> = written
            .iter()
            .filter(|k| rt.shared.shard_of(&k.1) == *s)
            .map(|k| (k.clone(), None))
            .collect();
        stores.push(submit(*s, Job::Store { txid, writes, release: true }));
    }
    for st in stores {
        st.get().await;
    }
    let mut env = rt.env.borrow_mut();
    for d in scratch.dbs.iter_mut().filter(|d| !d.is_empty()) {
        let keys: Vec<Key> = d.table.iter().map(|(k, _)| Key::from(k)).collect();
        for (_, e) in keys.iter().filter_map(|k| d.remove(k)) {
            env.shard.defer_free(e);
        }
    }
}

fn io_error(what: &str) -> Reply {
    Reply::error(format!("IOERR error or timeout {what} to target instance"))
}

/// MIGRATE.
pub async fn migrate(conn: &mut Conn, argv: &[Bytes]) -> Reply {
    let args = match parse(argv) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let db = conn.db;
    let rt = here();
    let txid = rt.shared.next_txid();
    let (groups, fetched) = lock_and_fetch(db, &args.keys, txid).await;
    if fetched.is_empty() {
        unlock(&groups, txid).await;
        return Reply::status("NOKEY");
    }
    let reply = transfer(&args, argv, &fetched).await;
    match reply {
        Ok(acked) if !args.copy && !acked.is_empty() => {
            delete_and_release(db, &groups, txid, fetched, &acked).await;
            Reply::ok()
        }
        Ok(_) => {
            unlock(&groups, txid).await;
            Reply::ok()
        }
        Err((reply, acked)) => {
            if !args.copy && !acked.is_empty() {
                delete_and_release(db, &groups, txid, fetched, &acked).await;
            } else {
                unlock(&groups, txid).await;
            }
            reply
        }
    }
}

/// What one exchange with the target ended with.
enum Exchange {
    /// Every reply read: the keys acknowledged, and the target's error if one refused.
    Done { acked: Vec<Bytes>, error: Option<Reply> },
    /// A socket error before anything was acknowledged, not a timeout (a stale cached
    /// connection): worth one retry on a new connection, as Redis retries once. Holds the
    /// direction for the error reply ("writing" or "reading").
    Stale(&'static str),
    /// A socket error or timeout after which nothing is retried.
    Failed { reply: Reply, acked: Vec<Bytes> },
}

/// The commands of one exchange: [AUTH], [SELECT] (unless the connection has the database
/// selected), one RESTORE per key still alive; and the keys sent.
fn build_commands(
    args: &MigrateArgs,
    fetched: &[Fetched],
    select: bool,
    config: &mayfly_engine::config::Config,
) -> (Vec<u8>, Vec<Bytes>) {
    let now = mayfly_engine::clock::unix_time_ms();
    let mut out = Vec::new();
    if let Some(pw) = &args.password {
        match &args.username {
            Some(u) => resp_cmd(&mut out, &[b"AUTH", u, pw]),
            None => resp_cmd(&mut out, &[b"AUTH", pw]),
        }
    }
    if select {
        resp_cmd(&mut out, &[b"SELECT", itoa::Buffer::new().format(args.db).as_bytes()]);
    }
    let mut sent: Vec<Bytes> = Vec::new();
    for (key, entry) in fetched {
        let mut ttl: i64 = 0;
        if entry.expire_at_ms != 0 {
            ttl = entry.expire_at_ms as i64 - now as i64;
            if ttl < 0 {
                continue;
            }
            ttl = ttl.max(1);
        }
        let payload = super::dump::dump_value(&entry.value, config);
        let ttl_s = itoa::Buffer::new().format(ttl).to_string();
        if args.replace {
            resp_cmd(&mut out, &[b"RESTORE", key, ttl_s.as_bytes(), &payload, b"REPLACE"]);
        } else {
            resp_cmd(&mut out, &[b"RESTORE", key, ttl_s.as_bytes(), &payload]);
        }
        sent.push(key.clone());
    }
    (out, sent)
}

async fn exchange(
    target: &mut Target,
    args: &MigrateArgs,
    out: Vec<u8>,
    select: bool,
    sent: Vec<Bytes>,
) -> Exchange {
    let timeout = args.timeout_ms;
    match race(send_all(target.fd, out), sleep_ms(timeout)).await {
        Either::Left(Ok(_)) => {}
        Either::Left(Err(_)) => return Exchange::Stale("writing"),
        Either::Right(()) => return Exchange::Failed { reply: io_error("writing"), acked: vec![] },
    }
    let failed = |e: ReadError, acked: Vec<Bytes>| match e {
        ReadError::Closed if acked.is_empty() => Exchange::Stale("reading"),
        _ => Exchange::Failed { reply: io_error("reading"), acked },
    };
    let mut buf0 = Vec::new();
    if args.password.is_some() {
        match target.read_line(timeout).await {
            Ok(l) => buf0 = l,
            Err(e) => return failed(e, vec![]),
        }
    }
    let mut buf1 = Vec::new();
    if select {
        match target.read_line(timeout).await {
            Ok(l) => buf1 = l,
            Err(e) => return failed(e, vec![]),
        }
    }
    let mut acked = Vec::new();
    let mut error: Option<Reply> = None;
    for (j, key) in sent.into_iter().enumerate() {
        let buf2 = match target.read_line(timeout).await {
            Ok(l) => l,
            Err(e) if error.is_some() => {
                let _ = e;
                return Exchange::Failed {
                    reply: error.unwrap_or_else(|| io_error("reading")),
                    acked,
                };
            }
            // Only a failure on the first reply may be a stale connection (Redis's `j == 0`).
            Err(e) if j == 0 => return failed(e, acked),
            Err(_) => return Exchange::Failed { reply: io_error("reading"), acked },
        };
        let auth_failed = buf0.first() == Some(&b'-');
        let select_failed = buf1.first() == Some(&b'-');
        if auth_failed || select_failed || buf2[0] == b'-' {
            if error.is_none() {
                let text = if auth_failed {
                    &buf0[1..]
                } else if select_failed {
                    &buf1[1..]
                } else {
                    &buf2[1..]
                };
                error = Some(Reply::error(format!(
                    "ERR Target instance replied with error: {}",
                    String::from_utf8_lossy(text)
                )));
            }
        } else {
            acked.push(key);
        }
    }
    Exchange::Done { acked, error }
}

/// Sends the keys; Ok(acknowledged keys) or Err(the reply, keys acknowledged before it).
async fn transfer(
    args: &MigrateArgs,
    argv: &[Bytes],
    fetched: &[Fetched],
) -> Result<Vec<Bytes>, (Reply, Vec<Bytes>)> {
    let connecting = || Reply::error("IOERR error or timeout connecting to the client");
    let name = [&argv[1][..], b":", &argv[2][..]].concat();
    let config = here().shared.read_config(|c| c.clone());
    let mut may_retry = true;
    loop {
        let (mut target, last_db) = match cache_take(&name) {
            Some(c) => (c.target, c.last_db),
            None => {
                let Some(addr) = resolve(&argv[1], &argv[2]) else {
                    return Err((connecting(), vec![]));
                };
                match connect(addr, args.timeout_ms).await {
                    Ok(t) => (t, -1),
                    Err(ConnectError::Writing) if may_retry => {
                        may_retry = false;
                        continue;
                    }
                    Err(ConnectError::Writing) => return Err((io_error("writing"), vec![])),
                    Err(ConnectError::Connecting) => return Err((connecting(), vec![])),
                }
            }
        };
        let select = last_db != args.db;
        let (out, sent) = build_commands(args, fetched, select, &config);
        match exchange(&mut target, args, out, select, sent).await {
            Exchange::Done { acked, error: None } => {
                if target.buf.is_empty() {
                    cache_put(name, target, args.db);
                }
                return Ok(acked);
            }
            Exchange::Done { acked, error: Some(e) } => {
                // As Redis: the connection stays, with no database known to be selected.
                if target.buf.is_empty() {
                    cache_put(name, target, -1);
                }
                return Err((e, acked));
            }
            Exchange::Stale(_) if may_retry => {
                may_retry = false;
                continue;
            }
            Exchange::Stale(what) => return Err((io_error(what), vec![])),
            Exchange::Failed { reply, acked } => return Err((reply, acked)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    #[test]
    fn options_and_errors_follow_redis() {
        let a = parse(&argv(&["migrate", "h", "1", "k", "3", "100", "COPY", "replace"])).unwrap();
        assert!(a.copy && a.replace);
        assert_eq!((a.db, a.timeout_ms, a.keys.len()), (3, 100, 1));
        let a =
            parse(&argv(&["migrate", "h", "1", "", "0", "0", "AUTH2", "u", "p", "KEYS", "a", "b"]))
                .unwrap();
        assert_eq!(a.timeout_ms, 1000);
        assert_eq!(a.keys, argv(&["a", "b"]));
        assert_eq!(a.username.as_deref(), Some(&b"u"[..]));
        let err = |w: &[&str]| match parse(&argv(w)) {
            Err(Reply::Error(e)) => e.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            err(&["migrate", "h", "1", "k", "0", "0", "KEYS", "a"]),
            "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"
        );
        assert_eq!(err(&["migrate", "h", "1", "k", "0", "0", "AUTH"]), "ERR syntax error");
        assert_eq!(err(&["migrate", "h", "1", "k", "0", "0", "AUTH2", "u"]), "ERR syntax error");
        assert_eq!(err(&["migrate", "h", "1", "k", "0", "0", "bogus"]), "ERR syntax error");
        assert_eq!(
            err(&["migrate", "h", "1", "k", "x", "0"]),
            "ERR value is not an integer or out of range"
        );
    }
}
