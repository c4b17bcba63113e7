//! Commands the net layer implements: connection state (HELLO, AUTH, SELECT, CLIENT, QUIT,
//! RESET), transactions (MULTI, EXEC, DISCARD, WATCH, UNWATCH), server-wide work (INFO,
//! CONFIG, DEBUG, SHUTDOWN) and cursor translation for SCAN/RANDOMKEY across shards.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use mayfly_engine::command::{flags, CommandSpec, Handler, MultiShard};
use mayfly_engine::reply::Reply;
use mayfly_engine::table::Key;

use crate::conn::Conn;
use crate::dispatch::{self, parse_db_index};
use crate::pubsub::{Kind, Mailbox};
use crate::rt::env::{DbKey, Env, Job, Out};
use crate::rt::{call, rt, submit};

/// The Redis version Mayfly answers as (clients and the test suite check it).
pub const REDIS_VERSION: &str = "7.0.15";

fn lower(b: &[u8]) -> Vec<u8> {
    b.to_ascii_lowercase()
}

fn subcommand_error(sub: &[u8], parent: &str) -> Reply {
    mayfly_engine::families::server::subcommand_error(sub, parent)
}

pub async fn handle(conn: &mut Conn, spec: &'static CommandSpec, argv: Vec<Bytes>) -> Reply {
    match spec.name {
        "hello" => hello(conn, &argv),
        "auth" => auth(conn, &argv),
        "select" => {
            let databases = rt().env.borrow().shard.dbs.len();
            match parse_db_index(&argv[1], databases) {
                Ok(n) => {
                    conn.db = n;
                    conn.info.db.store(n, Ordering::Relaxed);
                    Reply::ok()
                }
                Err(e) => e,
            }
        }
        "quit" => {
            conn.close_after_reply = true;
            Reply::ok()
        }
        "reset" => {
            reset(conn).await;
            Reply::status("RESET")
        }
        "client" => client(conn, &argv).await,
        "info" => info(conn, &argv).await,
        "config" => config(&argv).await,
        "debug" => debug(&argv).await,
        "shutdown" => {
            eprintln!("mayfly: SHUTDOWN requested by client {}, exiting", conn.info.id);
            std::process::exit(0);
        }
        "multi" => {
            if conn.multi.is_some() {
                return Reply::error("ERR MULTI calls can not be nested");
            }
            conn.multi = Some(Vec::new());
            conn.multi_failed = false;
            conn.info.in_multi.store(true, Ordering::Relaxed);
            Reply::ok()
        }
        "discard" => {
            if conn.multi.is_none() {
                return Reply::error("ERR DISCARD without MULTI");
            }
            end_multi(conn);
            unwatch(conn).await;
            Reply::ok()
        }
        "exec" => exec(conn).await,
        "watch" => {
            if conn.multi.is_some() {
                return Reply::error("ERR WATCH inside MULTI is not allowed");
            }
            watch(conn, &argv[1..]).await;
            Reply::ok()
        }
        "unwatch" => {
            unwatch(conn).await;
            Reply::ok()
        }
        "subscribe" => subscribe(conn, Kind::Channel, &argv[1..]),
        "psubscribe" => subscribe(conn, Kind::Pattern, &argv[1..]),
        "ssubscribe" => subscribe(conn, Kind::Shard, &argv[1..]),
        "unsubscribe" => unsubscribe(conn, Kind::Channel, &argv[1..]),
        "punsubscribe" => unsubscribe(conn, Kind::Pattern, &argv[1..]),
        "sunsubscribe" => unsubscribe(conn, Kind::Shard, &argv[1..]),
        "publish" => publish(Kind::Channel, argv[1].clone(), argv[2].clone()).await,
        "spublish" => publish(Kind::Shard, argv[1].clone(), argv[2].clone()).await,
        "pubsub" => pubsub_cmd(&argv).await,
        other => Reply::error(format!("ERR command '{other}' is not available")),
    }
}

fn hello(conn: &mut Conn, argv: &[Bytes]) -> Reply {
    let mut i = 1;
    let mut proto = if conn.resp3 { 3 } else { 2 };
    if argv.len() > 1 {
        let v = std::str::from_utf8(&argv[1]).ok().and_then(|s| s.parse::<i64>().ok());
        match v {
            None => return Reply::error("ERR Protocol version is not an integer or out of range"),
            Some(2) | Some(3) => proto = v.unwrap_or(2),
            Some(_) => return Reply::error("NOPROTO unsupported protocol version"),
        }
        i = 2;
    }
    let mut setname = None;
    while i < argv.len() {
        let opt = lower(&argv[i]);
        if opt == b"auth" && i + 2 < argv.len() {
            if let Err(e) = check_password(&argv[i + 1], &argv[i + 2]) {
                return e;
            }
            conn.authenticated = true;
            i += 3;
        } else if opt == b"setname" && i + 1 < argv.len() {
            setname = Some(argv[i + 1].clone());
            i += 2;
        } else {
            return Reply::error(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&argv[i])
            ));
        }
    }
    if !conn.authenticated {
        return Reply::error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(name) = setname {
        if let Err(e) = set_client_name(conn, &name) {
            return e;
        }
    }
    conn.resp3 = proto == 3;
    conn.info.resp.store(proto as u8, Ordering::Relaxed);
    Reply::Map(vec![
        (Reply::bulk_str("server"), Reply::bulk_str("redis")),
        (Reply::bulk_str("version"), Reply::bulk_str(REDIS_VERSION)),
        (Reply::bulk_str("proto"), Reply::Int(proto)),
        (Reply::bulk_str("id"), Reply::Int(conn.info.id as i64)),
        (Reply::bulk_str("mode"), Reply::bulk_str("standalone")),
        (Reply::bulk_str("role"), Reply::bulk_str("master")),
        (Reply::bulk_str("modules"), Reply::Array(vec![])),
    ])
}

fn check_password(user: &[u8], pass: &[u8]) -> Result<(), Reply> {
    let g = rt().global.clone();
    let required = g.config.read().map(|c| c.requirepass.clone()).unwrap_or_default();
    if user != b"default" {
        return Err(Reply::error("WRONGPASS invalid username-password pair or user is disabled."));
    }
    if required.is_empty() || required.as_bytes() == pass {
        Ok(())
    } else {
        Err(Reply::error("WRONGPASS invalid username-password pair or user is disabled."))
    }
}

fn auth(conn: &mut Conn, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        return Reply::error("ERR syntax error");
    }
    let g = rt().global.clone();
    let required = g.config.read().map(|c| c.requirepass.clone()).unwrap_or_default();
    if argv.len() == 2 && required.is_empty() {
        return Reply::error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
    }
    let (user, pass) = if argv.len() == 3 {
        (&argv[1][..], &argv[2][..])
    } else {
        (&b"default"[..], &argv[1][..])
    };
    match check_password(user, pass) {
        Ok(()) => {
            conn.authenticated = true;
            Reply::ok()
        }
        Err(e) => e,
    }
}

fn set_client_name(conn: &mut Conn, name: &[u8]) -> Result<(), Reply> {
    if name.iter().any(|c| !(b'!'..=b'~').contains(c)) {
        return Err(Reply::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    if let Ok(mut n) = conn.info.name.lock() {
        *n = String::from_utf8_lossy(name).into_owned();
    }
    Ok(())
}

async fn reset(conn: &mut Conn) {
    end_multi(conn);
    unwatch(conn).await;
    unsubscribe_all(conn);
    conn.db = 0;
    conn.info.db.store(0, Ordering::Relaxed);
    conn.resp3 = false;
    conn.info.resp.store(2, Ordering::Relaxed);
    if let Ok(mut n) = conn.info.name.lock() {
        n.clear();
    }
    let g = rt().global.clone();
    conn.authenticated = g.config.read().map(|c| c.requirepass.is_empty()).unwrap_or(true);
}

async fn client(conn: &mut Conn, argv: &[Bytes]) -> Reply {
    let sub = lower(&argv[1]);
    let g = rt().global.clone();
    let now = mayfly_engine::clock::unix_time_ms();
    match (sub.as_slice(), argv.len()) {
        (b"id", 2) => Reply::Int(conn.info.id as i64),
        (b"setname", 3) => match set_client_name(conn, &argv[2]) {
            Ok(()) => Reply::ok(),
            Err(e) => e,
        },
        (b"getname", 2) => {
            let name = conn.info.name.lock().map(|n| n.clone()).unwrap_or_default();
            if name.is_empty() {
                Reply::Nil
            } else {
                Reply::bulk(name)
            }
        }
        (b"info", 2) => {
            Reply::Verbatim("txt", Bytes::from(format!("{}\n", conn.info.describe(now))))
        }
        (b"list", _) => {
            let mut ids: Option<Vec<u64>> = None;
            let mut i = 2;
            while i < argv.len() {
                let opt = lower(&argv[i]);
                if opt == b"type" && i + 1 < argv.len() {
                    let t = lower(&argv[i + 1]);
                    if !matches!(
                        t.as_slice(),
                        b"normal" | b"master" | b"replica" | b"slave" | b"pubsub"
                    ) {
                        return Reply::error(format!(
                            "ERR Unknown client type '{}'",
                            String::from_utf8_lossy(&argv[i + 1])
                        ));
                    }
                    if t != b"normal" {
                        ids = Some(Vec::new());
                    }
                    i += 2;
                } else if opt == b"id" && i + 1 < argv.len() {
                    let mut list = Vec::new();
                    for a in &argv[i + 1..] {
                        match std::str::from_utf8(a).ok().and_then(|s| s.parse::<u64>().ok()) {
                            Some(id) if id > 0 => list.push(id),
                            _ => return Reply::error("ERR Invalid client ID"),
                        }
                    }
                    ids = Some(list);
                    i = argv.len();
                } else {
                    return Reply::error("ERR syntax error");
                }
            }
            let clients: Vec<Arc<crate::client::ClientInfo>> = {
                let map = g.clients.lock();
                let mut v: Vec<_> = map.map(|m| m.values().cloned().collect()).unwrap_or_default();
                v.sort_by_key(|c| c.id);
                v
            };
            let mut out = String::new();
            for c in clients {
                if ids.as_ref().is_some_and(|ids| !ids.contains(&c.id)) {
                    continue;
                }
                out.push_str(&c.describe(now));
                out.push('\n');
            }
            Reply::Verbatim("txt", Bytes::from(out))
        }
        (b"kill", n) if n >= 3 => client_kill(conn, argv),
        (b"unblock", 3 | 4) => client_unblock(argv).await,
        (b"unblock", _) => Reply::error(
            "ERR unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.",
        ),
        (b"no-evict", 3) | (b"no-touch", 3) => match lower(&argv[2]).as_slice() {
            b"on" | b"off" => Reply::ok(),
            _ => Reply::error("ERR syntax error"),
        },
        (b"unpause", 2) => Reply::ok(),
        (b"reply", 3) => match lower(&argv[2]).as_slice() {
            b"on" => {
                conn.reply_off = false;
                conn.reply_skip = false;
                Reply::ok()
            }
            b"off" => {
                conn.reply_off = true;
                no_reply(conn)
            }
            b"skip" => {
                if !conn.reply_off {
                    conn.reply_skip_next = true;
                }
                no_reply(conn)
            }
            _ => Reply::error("ERR syntax error"),
        },
        (b"help", 2) => Reply::Array(
            [
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GETNAME",
                "    Return the name of the current connection.",
                "ID",
                "    Return the ID of the current connection.",
                "INFO",
                "    Return information about the current client connection.",
                "KILL <ip:port>",
                "    Kill connection made from <ip:port>.",
                "KILL <option> <value> [<option> <value> [...]]",
                "    Kill connections. Options are: ID, ADDR, LADDR, SKIPME (yes|no).",
                "REPLY (ON|OFF|SKIP)",
                "    Control the replies sent to the current connection.",
                "LIST [options ...]",
                "    Return information about client connections. Options:",
                "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                "    * ID id [id ...]",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Reply::status(*l))
            .collect(),
        ),
        _ => subcommand_error(&argv[1], "CLIENT"),
    }
}

/// CLIENT REPLY OFF and SKIP answer nothing at all: an empty list of separate replies.
fn no_reply(conn: &mut Conn) -> Reply {
    conn.split_reply = true;
    Reply::Array(Vec::new())
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 when the client was blocked and is now told to stop.
async fn client_unblock(argv: &[Bytes]) -> Reply {
    use crate::client::UnblockAs;
    let Some(id) = std::str::from_utf8(&argv[2]).ok().and_then(|s| s.parse::<i64>().ok()) else {
        return Reply::error("ERR value is not an integer or out of range");
    };
    let how = match argv.get(3).map(|a| lower(a)) {
        None => UnblockAs::Timeout,
        Some(a) if a == b"timeout" => UnblockAs::Timeout,
        Some(a) if a == b"error" => UnblockAs::Error,
        Some(_) => return Reply::error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
    };
    let g = rt().global.clone();
    let target = g.clients.lock().ok().and_then(|m| m.get(&(id as u64)).cloned());
    let Some(target) = target.filter(|c| id > 0 && c.blocked.load(Ordering::Relaxed)) else {
        return Reply::Int(0);
    };
    target.unblock.store(how as u8, Ordering::Release);
    // The blocked task's waker belongs to its shard: wake it there.
    let id = target.id;
    crate::rt::call(
        target.shard,
        crate::rt::env::Job::Run(Box::new(move |_| {
            crate::rt::wake_blocked_client(id);
            crate::rt::env::Out::Done
        })),
    )
    .await;
    Reply::Int(1)
}

fn client_kill(conn: &mut Conn, argv: &[Bytes]) -> Reply {
    let g = rt().global.clone();
    let clients: Vec<Arc<crate::client::ClientInfo>> =
        g.clients.lock().map(|m| m.values().cloned().collect()).unwrap_or_default();
    let kill = |c: &crate::client::ClientInfo| {
        c.killed.store(true, Ordering::Relaxed);
        // SAFETY: shutting down a socket wakes its task's pending recv with EOF; the owning task
        // closes the fd itself.
        unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
    };
    if argv.len() == 3 {
        // Old form: CLIENT KILL addr:port.
        let addr = String::from_utf8_lossy(&argv[2]);
        return match clients.iter().find(|c| c.addr == addr) {
            Some(c) => {
                if c.id == conn.info.id {
                    conn.close_after_reply = true;
                } else {
                    kill(c);
                }
                Reply::ok()
            }
            None => Reply::error("ERR No such client"),
        };
    }
    if !argv.len().is_multiple_of(2) {
        return Reply::error("ERR syntax error");
    }
    let (mut id, mut addr, mut laddr, mut skipme) = (None, None, None, true);
    let mut i = 2;
    while i + 1 < argv.len() {
        let v = &argv[i + 1];
        match lower(&argv[i]).as_slice() {
            b"id" => match std::str::from_utf8(v).ok().and_then(|s| s.parse::<u64>().ok()) {
                Some(n) if n > 0 => id = Some(n),
                _ => return Reply::error("ERR client-id should be greater than 0"),
            },
            b"addr" => addr = Some(String::from_utf8_lossy(v).into_owned()),
            b"laddr" => laddr = Some(String::from_utf8_lossy(v).into_owned()),
            b"skipme" => match lower(v).as_slice() {
                b"yes" => skipme = true,
                b"no" => skipme = false,
                _ => return Reply::error("ERR syntax error"),
            },
            b"type" | b"user" | b"maxage" => {}
            _ => return Reply::error("ERR syntax error"),
        }
        i += 2;
    }
    let mut killed = 0;
    for c in &clients {
        if id.is_some_and(|x| x != c.id)
            || addr.as_ref().is_some_and(|a| *a != c.addr)
            || laddr.as_ref().is_some_and(|a| *a != c.laddr)
        {
            continue;
        }
        if c.id == conn.info.id {
            if skipme {
                continue;
            }
            conn.close_after_reply = true;
        } else {
            kill(c);
        }
        killed += 1;
    }
    Reply::Int(killed)
}

/// A snapshot of one shard for INFO.
struct ShardInfo {
    stats: crate::rt::stats::ShardStats,
    engine: mayfly_engine::shard::Stats,
    keyspace: Vec<(usize, usize, u64)>,
    dirty: u64,
}

async fn gather_info() -> Vec<ShardInfo> {
    let n = rt().nshards;
    let pending: Vec<_> = (0..n)
        .map(|s| {
            submit(
                s,
                Job::Run(Box::new(|env: &mut Env| {
                    Out::Any(Box::new(ShardInfo {
                        stats: env.stats.clone(),
                        engine: env.shard.stats.clone(),
                        keyspace: env
                            .shard
                            .dbs
                            .iter()
                            .map(|d| (d.len(), d.expires, d.avg_ttl_ms))
                            .collect(),
                        dirty: env.shard.dirty,
                    }))
                })),
            )
        })
        .collect();
    let mut out = Vec::new();
    for p in pending {
        if let Out::Any(b) = p.get().await {
            if let Ok(info) = b.downcast::<ShardInfo>() {
                out.push(*info);
            }
        }
    }
    out
}

/// Mayfly's own INFO memory lines: how maxmemory is split; what each shard allocated and has
/// not freed (exact, from jemalloc's per-thread counters and the credited cross-shard frees);
/// what each shard is charged against its budget (that, plus its arena's slab holes and
/// thread-cached blocks, plus an even share of memory no shard owns).
fn shard_memory_fields(book: &crate::memory::MemoryBook, maxmemory: u64) -> String {
    let figures: Vec<String> = if book.split() {
        (0..book.shards()).map(|i| book.shard_used(i).to_string()).collect()
    } else {
        vec![book.total_used().to_string()]
    };
    let live: Vec<String> = (0..book.shards()).map(|i| book.shard_live(i).to_string()).collect();
    format!(
        "maxmemory_split:{}\r\nshard_allocated_memory:{}\r\nshard_used_memory:{}\r\nshard_maxmemory:{}\r\nshard_memory_spilled:{}\r\n",
        if book.split() { "shards" } else { "process" },
        live.join(","),
        figures.join(","),
        book.budget(maxmemory),
        crate::alloc::spilled_bytes(),
    )
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn human_bytes(n: u64) -> String {
    let f = n as f64;
    if n < 1024 {
        format!("{n}B")
    } else if f < 1024.0 * 1024.0 {
        format!("{:.2}K", f / 1024.0)
    } else if f < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", f / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", f / (1024.0 * 1024.0 * 1024.0))
    }
}

fn cpu_times() -> (f64, f64) {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

async fn info(conn: &Conn, argv: &[Bytes]) -> Reply {
    let requested: Vec<String> =
        argv[1..].iter().map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).collect();
    let all = requested.iter().any(|s| s == "all" || s == "everything");
    let default = requested.is_empty() || requested.iter().any(|s| s == "default");
    let wants = |name: &str, in_default: bool| {
        all || (default && in_default) || requested.iter().any(|s| s == name)
    };
    let g = rt().global.clone();
    let shards = gather_info().await;
    let mut stats = crate::rt::stats::ShardStats::default();
    let mut engine = mayfly_engine::shard::Stats::default();
    let mut dirty = 0;
    let databases = shards.first().map(|s| s.keyspace.len()).unwrap_or(16);
    let mut keyspace = vec![(0usize, 0usize, 0u64); databases];
    for s in &shards {
        stats.merge(&s.stats);
        engine.expired_keys += s.engine.expired_keys;
        engine.evicted_keys += s.engine.evicted_keys;
        engine.keyspace_hits += s.engine.keyspace_hits;
        engine.keyspace_misses += s.engine.keyspace_misses;
        dirty += s.dirty;
        for (i, (k, e, t)) in s.keyspace.iter().enumerate() {
            if let Some(slot) = keyspace.get_mut(i) {
                slot.0 += k;
                slot.1 += e;
                slot.2 = slot.2.max(*t);
            }
        }
    }
    let now = mayfly_engine::clock::unix_time_ms();
    let uptime = now.saturating_sub(g.start_ms) / 1000;
    let config = g.config.read().map(|c| c.clone()).unwrap_or_default();
    let mut out = String::new();
    let mut section = |name: &str, body: String| {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        out.push_str(&format!("# {name}\r\n{body}"));
    };
    if wants("server", true) {
        let mut shards_line = String::new();
        for (i, (cpu, node)) in g.placement.iter().enumerate() {
            shards_line.push_str(&format!(
                "shard{i}:cpu={},node={node}\r\n",
                cpu.map(|c| c.to_string()).unwrap_or_else(|| "unpinned".into())
            ));
        }
        section(
            "Server",
            format!(
                "redis_version:{REDIS_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:Linux\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:io_uring\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\nmayfly_version:{}\r\nmayfly_shards:{}\r\nmayfly_io:{}\r\n{shards_line}",
                std::process::id(),
                g.run_id,
                g.port,
                mayfly_engine::clock::unix_time_us(),
                uptime / 86400,
                config.hz,
                config.hz,
                (now / 1000) & ((1 << 24) - 1),
                g.executable,
                g.config_file,
                env!("CARGO_PKG_VERSION"),
                g.nshards,
                g.io_path.lock().map(|s| s.clone()).unwrap_or_default(),
            ),
        );
    }
    if wants("clients", true) {
        section(
            "Clients",
            format!(
                "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\n",
                g.connected.load(Ordering::Relaxed),
                config.maxclients,
                g.blocked_clients.load(Ordering::Relaxed)
            ),
        );
    }
    if wants("memory", true) {
        let a = crate::memory::allocator_stats();
        let used = a.allocated;
        let rss = rss_bytes();
        let peak = crate::memory::peak_bytes(used);
        let ratio = |x: u64, y: u64| if y > 0 { x as f64 / y as f64 } else { 0.0 };
        section(
            "Memory",
            format!(
                "used_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_dataset:{used}\r\nallocator_allocated:{used}\r\nallocator_active:{}\r\nallocator_resident:{}\r\nallocator_metadata:{}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nallocator_frag_ratio:{:.2}\r\nallocator_frag_bytes:{}\r\nallocator_rss_ratio:{:.2}\r\nallocator_rss_bytes:{}\r\nrss_overhead_ratio:{:.2}\r\nrss_overhead_bytes:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_allocator:jemalloc-5.3.0\r\nlazyfree_pending_objects:0\r\n{}",
                human_bytes(used),
                human_bytes(rss),
                human_bytes(peak),
                a.active,
                a.resident,
                a.metadata,
                config.maxmemory,
                human_bytes(config.maxmemory),
                config.maxmemory_policy.name(),
                ratio(a.active, used),
                a.active as i64 - used as i64,
                ratio(a.resident, a.active),
                a.resident as i64 - a.active as i64,
                ratio(rss, a.resident),
                rss as i64 - a.resident as i64,
                ratio(rss, used),
                rss as i64 - used as i64,
                shard_memory_fields(&g.memory, config.maxmemory),
            ),
        );
    }
    if wants("persistence", true) {
        section(
            "Persistence",
            format!(
                "loading:0\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\nrdb_changes_since_last_save:{dirty}\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\naof_last_write_status:ok\r\n",
                g.start_ms / 1000
            ),
        );
    }
    if wants("stats", true) {
        section(
            "Stats",
            format!(
                "total_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:0\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nexpired_stale_perc:0.00\r\nexpired_time_cap_reached_count:0\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:0\r\npubsub_patterns:0\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:0\r\ntotal_active_defrag_time:0\r\ntracking_total_keys:0\r\nunexpected_error_replies:0\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:0\r\ntotal_reads_processed:0\r\ntotal_writes_processed:0\r\n",
                stats.connections_received,
                stats.total_commands,
                stats.net_input_bytes,
                stats.net_output_bytes,
                stats.rejected_connections,
                engine.expired_keys,
                engine.evicted_keys,
                engine.keyspace_hits,
                engine.keyspace_misses,
                stats.error_replies,
            ),
        );
    }
    if wants("replication", true) {
        section(
            "Replication",
            format!(
                "role:master\r\nconnected_slaves:0\r\nmaster_replid:{}\r\nmaster_repl_offset:0\r\n",
                g.run_id
            ),
        );
    }
    if wants("cpu", true) {
        let (sys, user) = cpu_times();
        section("CPU", format!("used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n"));
    }
    if wants("modules", true) {
        section("Modules", String::new());
    }
    if wants("commandstats", false) {
        let mut names: Vec<_> = stats.commands.iter().collect();
        names.sort_by_key(|(n, _)| **n);
        let body: String = names
            .into_iter()
            .map(|(n, s)| {
                format!(
                    "cmdstat_{n}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
                    s.calls,
                    s.usec,
                    if s.calls > 0 { s.usec as f64 / s.calls as f64 } else { 0.0 },
                    s.rejected_calls,
                    s.failed_calls
                )
            })
            .collect();
        section("Commandstats", body);
    }
    if wants("errorstats", true) {
        let mut codes: Vec<_> = stats.errors_by_code.iter().collect();
        codes.sort();
        section(
            "Errorstats",
            codes.into_iter().map(|(c, n)| format!("errorstat_{c}:count={n}\r\n")).collect(),
        );
    }
    if wants("cluster", true) {
        section("Cluster", "cluster_enabled:0\r\n".into());
    }
    if wants("keyspace", true) {
        let body: String = keyspace
            .iter()
            .enumerate()
            .filter(|(_, (k, _, _))| *k > 0)
            .map(|(i, (k, e, t))| format!("db{i}:keys={k},expires={e},avg_ttl={t}\r\n"))
            .collect();
        section("Keyspace", body);
    }
    let _ = conn;
    Reply::Verbatim("txt", Bytes::from(out))
}

/// Applies `f` to the global config and every shard's copy.
async fn update_config(f: impl Fn(&mut mayfly_engine::config::Config) + Clone + Send + 'static) {
    let g = rt().global.clone();
    if let Ok(mut c) = g.config.write() {
        f(&mut c);
    }
    let n = rt().nshards;
    let pending: Vec<_> = (0..n)
        .map(|s| {
            let f = f.clone();
            submit(
                s,
                Job::Run(Box::new(move |env: &mut Env| {
                    f(&mut env.shard.config);
                    Out::Done
                })),
            )
        })
        .collect();
    for p in pending {
        p.get().await;
    }
}

async fn config(argv: &[Bytes]) -> Reply {
    use mayfly_engine::config::{Config, PARAMS};
    let sub = lower(&argv[1]);
    let g = rt().global.clone();
    match sub.as_slice() {
        b"get" if argv.len() >= 3 => {
            let c = g.config.read().map(|c| c.clone()).unwrap_or_default();
            let mut out: Vec<(Reply, Reply)> = Vec::new();
            for p in PARAMS {
                let names = std::iter::once(p.name).chain(p.alias);
                for name in names {
                    let matched = argv[2..].iter().any(|pat| {
                        mayfly_engine::glob::glob_match(
                            &pat.to_ascii_lowercase(),
                            name.as_bytes(),
                            true,
                        )
                    });
                    if matched && !out.iter().any(|(k, _)| *k == Reply::bulk_str(name)) {
                        out.push((Reply::bulk_str(name), Reply::bulk((p.get)(&c))));
                    }
                }
            }
            Reply::Map(out)
        }
        b"set" if !argv.len().is_multiple_of(2) => Reply::error("ERR syntax error"),
        b"set" => {
            let mut candidate: Config = g.config.read().map(|c| c.clone()).unwrap_or_default();
            let mut seen: Vec<&str> = Vec::new();
            for pair in argv[2..].chunks(2) {
                let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
                let value = String::from_utf8_lossy(&pair[1]).into_owned();
                let Some(p) = mayfly_engine::config::find_param(&name) else {
                    return Reply::error(format!(
                        "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                    ));
                };
                if seen.contains(&p.name) {
                    return Reply::error(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"));
                }
                seen.push(p.name);
                if p.immutable {
                    return Reply::error(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"));
                }
                if let Err(e) = (p.set)(&mut candidate, &value) {
                    return Reply::error(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"
                    ));
                }
            }
            update_config(move |c| *c = candidate.clone()).await;
            if seen.contains(&"maxmemory") {
                let n = rt().nshards;
                let pending: Vec<_> = (0..n)
                    .map(|s| {
                        submit(
                            s,
                            Job::Run(Box::new(|env: &mut Env| {
                                env.evict_now();
                                Out::Done
                            })),
                        )
                    })
                    .collect();
                for p in pending {
                    p.get().await;
                }
            }
            Reply::ok()
        }
        b"resetstat" if argv.len() == 2 => {
            let n = rt().nshards;
            for s in 0..n {
                call(
                    s,
                    Job::Run(Box::new(|env: &mut Env| {
                        env.stats = Default::default();
                        env.shard.stats = Default::default();
                        Out::Done
                    })),
                )
                .await;
            }
            Reply::ok()
        }
        b"rewrite" if argv.len() == 2 => {
            if g.config_file.is_empty() {
                return Reply::error("ERR The server is running without a config file");
            }
            let c = g.config.read().map(|c| c.clone()).unwrap_or_default();
            let body: String = PARAMS
                .iter()
                .map(|p| format!("{} \"{}\"\n", p.name, (p.get)(&c).replace('"', "\\\"")))
                .collect();
            match std::fs::write(&g.config_file, body) {
                Ok(()) => Reply::ok(),
                Err(e) => Reply::error(format!("ERR Rewriting config file: {e}")),
            }
        }
        b"help" if argv.len() == 2 => Reply::Array(
            [
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "REWRITE",
                "    Rewrite the configuration file.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Reply::status(*l))
            .collect(),
        ),
        _ => subcommand_error(&argv[1], "CONFIG"),
    }
}

async fn debug(argv: &[Bytes]) -> Reply {
    let sub = lower(&argv[1]);
    match sub.as_slice() {
        b"sleep" if argv.len() == 3 => {
            let secs: f64 =
                std::str::from_utf8(&argv[2]).ok().and_then(|s| s.parse().ok()).unwrap_or(0.0);
            crate::rt::sleep_ms((secs.max(0.0) * 1000.0) as u64).await;
            Reply::ok()
        }
        b"set-active-expire" if argv.len() == 3 => {
            let on = argv[2].as_ref() != b"0";
            update_config(move |c| c.active_expire_enabled = on).await;
            Reply::ok()
        }
        b"log" => Reply::ok(),
        b"help" => Reply::Array(
            [
                "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "LOG <message>",
                "SET-ACTIVE-EXPIRE <0|1>",
                "SLEEP <seconds>",
            ]
            .iter()
            .map(|l| Reply::status(*l))
            .collect(),
        ),
        _ => subcommand_error(&argv[1], "DEBUG"),
    }
}

fn end_multi(conn: &mut Conn) {
    conn.multi = None;
    conn.multi_failed = false;
    conn.info.in_multi.store(false, Ordering::Relaxed);
    conn.info.multi_len.store(0, Ordering::Relaxed);
}

/// The flag a connection's WATCH registrations set when a watched key changes.
pub struct WatchState {
    pub dirty: Arc<AtomicBool>,
    pub keys: Vec<(usize, DbKey)>,
}

async fn watch(conn: &mut Conn, keys: &[Bytes]) {
    let g = rt().global.clone();
    let flag = conn.watch.dirty.clone();
    for k in keys {
        let key: DbKey = (conn.db, Key::from(&k[..]));
        if conn.watch.keys.iter().any(|(_, wk)| *wk == key) {
            continue;
        }
        let shard = g.shard_of(k);
        let f = flag.clone();
        let kk = key.clone();
        call(
            shard,
            Job::Run(Box::new(move |env: &mut Env| {
                env.watch(kk, f);
                Out::Done
            })),
        )
        .await;
        conn.watch.keys.push((shard, key));
    }
}

pub async fn unwatch(conn: &mut Conn) {
    let keys = std::mem::take(&mut conn.watch.keys);
    let flag = conn.watch.dirty.clone();
    for (shard, key) in keys {
        let f = flag.clone();
        submit(
            shard,
            Job::Run(Box::new(move |env: &mut Env| {
                env.unwatch(&key, &f);
                Out::Done
            })),
        )
        .get()
        .await;
    }
    conn.watch.dirty = Arc::new(AtomicBool::new(false));
}

async fn exec(conn: &mut Conn) -> Reply {
    let Some(cmds) = conn.multi.take() else {
        return Reply::error("ERR EXEC without MULTI");
    };
    let failed = conn.multi_failed;
    end_multi(conn);
    let dirty = conn.watch.dirty.load(Ordering::SeqCst);
    unwatch(conn).await;
    if failed {
        return Reply::error("EXECABORT Transaction discarded because of previous errors.");
    }
    if dirty {
        return Reply::NilArray;
    }
    if cmds.is_empty() {
        return Reply::Array(vec![]);
    }
    let rt = rt();
    let g = rt.global.clone();
    let specs: Vec<&'static CommandSpec> =
        cmds.iter().filter_map(|c| mayfly_engine::lookup(&c[0])).collect();
    let all_shard_cmds = specs.iter().zip(&cmds).all(|(s, c)| {
        matches!(s.handler, Handler::Shard(_)) || (s.name == "select" && c.len() == 2)
    });
    // Shards the transaction touches (keyless shard commands run where the keys are).
    let mut shards: Vec<usize> = Vec::new();
    let mut cluster_wide = false;
    for (s, c) in specs.iter().zip(&cmds) {
        if matches!(s.multi, MultiShard::Broadcast(_) | MultiShard::Net) {
            cluster_wide = true;
        }
        for i in s.keys_of(c) {
            let sh = g.shard_of(&c[i]);
            if !shards.contains(&sh) {
                shards.push(sh);
            }
        }
    }
    if all_shard_cmds && (g.nshards == 1 || (!cluster_wide && shards.len() <= 1)) {
        let target = if g.nshards == 1 { 0 } else { shards.first().copied().unwrap_or(rt.id) };
        let db = conn.db;
        let out = call(target, Job::Batch { db, cmds: cmds.clone(), resp3: conn.resp3 }).await;
        track_select(conn, &cmds);
        return match out {
            Out::Replies(r) => Reply::Array(r),
            _ => Reply::error("ERR internal: EXEC failed"),
        };
    }
    if all_shard_cmds && !cluster_wide {
        let spec = specs[0];
        let replies = dispatch::gather(conn.db, conn.resp3, spec, cmds.clone()).await;
        track_select(conn, &cmds);
        return Reply::Array(replies);
    }
    // Connection-level or server-wide commands inside MULTI: run them one by one.
    let mut replies = Vec::with_capacity(cmds.len());
    for (spec, argv) in specs.into_iter().zip(cmds) {
        replies.push(Box::pin(dispatch::execute(conn, spec, argv)).await);
    }
    Reply::Array(replies)
}

fn track_select(conn: &mut Conn, cmds: &[Vec<Bytes>]) {
    for c in cmds {
        if let Some(Ok(n)) = dispatch::select_in_batch(c, 16) {
            conn.db = n;
            conn.info.db.store(n, Ordering::Relaxed);
        }
    }
}

/// SCAN and RANDOMKEY over all shards. A global SCAN cursor packs the shard index in its low
/// 12 bits and the shard-local table position above them.
pub async fn keyless_special(
    db: usize,
    resp3: bool,
    spec: &'static CommandSpec,
    mut argv: Vec<Bytes>,
) -> Reply {
    let rt = rt();
    let n = rt.nshards;
    match spec.name {
        "scan" => {
            let Some(cursor) =
                std::str::from_utf8(&argv[1]).ok().and_then(|s| s.parse::<u64>().ok())
            else {
                return Reply::error("ERR invalid cursor");
            };
            let shard = (cursor & 0xfff) as usize;
            let pos = cursor >> 12;
            if shard >= n {
                return Reply::Array(vec![Reply::bulk_str("0"), Reply::Array(vec![])]);
            }
            argv[1] = Bytes::from(pos.to_string());
            let reply =
                call(shard, Job::Exec { spec: None, db, argv, resp3, txid: 0 }).await.into_reply();
            let Reply::Array(mut parts) = reply else { return reply };
            if parts.len() != 2 {
                return Reply::Array(parts);
            }
            let next_pos = match &parts[0] {
                Reply::Bulk(b) => {
                    std::str::from_utf8(b).ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
                }
                _ => 0,
            };
            let next = if next_pos != 0 {
                (next_pos << 12) | shard as u64
            } else if shard + 1 < n {
                (shard + 1) as u64
            } else {
                0
            };
            parts[0] = Reply::bulk(next.to_string());
            Reply::Array(parts)
        }
        "randomkey" => {
            use rand::Rng;
            let start = rand::thread_rng().gen_range(0..n);
            for i in 0..n {
                let s = (start + i) % n;
                let r = call(s, Job::Exec { spec: None, db, argv: argv.clone(), resp3, txid: 0 })
                    .await
                    .into_reply();
                if !matches!(r, Reply::Nil) {
                    return r;
                }
            }
            Reply::Nil
        }
        _ => call(rt.id, Job::Exec { spec: None, db, argv, resp3, txid: 0 }).await.into_reply(),
    }
}

/// Commands with this flag are allowed before AUTH.
pub fn allowed_unauthenticated(spec: &CommandSpec) -> bool {
    spec.has(flags::NO_AUTH)
}

fn kind_names(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Channel => ("subscribe", "unsubscribe"),
        Kind::Pattern => ("psubscribe", "punsubscribe"),
        Kind::Shard => ("ssubscribe", "sunsubscribe"),
    }
}

fn push(conn: &Conn, items: Vec<Reply>) -> Reply {
    if conn.resp3 {
        Reply::Push(items)
    } else {
        Reply::Array(items)
    }
}

/// (P|S)SUBSCRIBE: registers on this connection's shard; one confirmation per name.
fn subscribe(conn: &mut Conn, kind: Kind, names: &[Bytes]) -> Reply {
    let rt = rt();
    let mailbox = match &conn.subs.mailbox {
        Some(m) => m.clone(),
        None => {
            let spec = rt
                .global
                .config
                .read()
                .map(|c| c.client_output_buffer_limit.clone())
                .unwrap_or_default();
            let m = Mailbox::new(crate::pubsub::pubsub_limits(&spec));
            conn.subs.mailbox = Some(m.clone());
            m
        }
    };
    mailbox.resp3.set(conn.resp3);
    let (verb, _) = kind_names(kind);
    let mut replies = Vec::with_capacity(names.len());
    for name in names {
        if !conn.subs.list(kind).contains(name) {
            conn.subs.list(kind).push(name.clone());
            rt.pubsub.borrow_mut().subscribe(kind, name.clone(), conn.info.id, mailbox.clone());
        }
        let count = conn.subs.count(kind);
        replies.push(push(
            conn,
            vec![Reply::bulk_str(verb), Reply::Bulk(name.clone()), Reply::Int(count)],
        ));
    }
    conn.split_reply = true;
    Reply::Array(replies)
}

/// (P|S)UNSUBSCRIBE: the named subscriptions, or all of that kind.
fn unsubscribe(conn: &mut Conn, kind: Kind, names: &[Bytes]) -> Reply {
    let rt = rt();
    let (_, verb) = kind_names(kind);
    let targets: Vec<Bytes> =
        if names.is_empty() { conn.subs.list(kind).clone() } else { names.to_vec() };
    let mut replies = Vec::new();
    if targets.is_empty() {
        replies.push(push(
            conn,
            vec![Reply::bulk_str(verb), Reply::Nil, Reply::Int(conn.subs.count(kind))],
        ));
    }
    for name in targets {
        conn.subs.list(kind).retain(|n| *n != name);
        rt.pubsub.borrow_mut().unsubscribe(kind, &name, conn.info.id);
        let count = conn.subs.count(kind);
        replies.push(push(conn, vec![Reply::bulk_str(verb), Reply::Bulk(name), Reply::Int(count)]));
    }
    if !conn.subs.active() {
        conn.subs.mailbox = None;
    }
    conn.split_reply = true;
    Reply::Array(replies)
}

/// Drops every subscription (disconnect, RESET).
pub fn unsubscribe_all(conn: &mut Conn) {
    let rt = rt();
    let mut reg = rt.pubsub.borrow_mut();
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        for name in std::mem::take(conn.subs.list(kind)) {
            reg.unsubscribe(kind, &name, conn.info.id);
        }
    }
    conn.subs.mailbox = None;
}

/// PUBLISH/SPUBLISH: delivered on every shard in the publisher's order; replies the number of
/// receivers.
async fn publish(kind: Kind, channel: Bytes, message: Bytes) -> Reply {
    let n = rt().nshards;
    let pending: Vec<_> = (0..n)
        .map(|s| {
            let (c, m) = (channel.clone(), message.clone());
            submit(
                s,
                Job::Run(Box::new(move |_env: &mut Env| {
                    Out::Reply(Reply::Int(rt().pubsub.borrow().publish(kind, &c, &m)))
                })),
            )
        })
        .collect();
    let mut total = 0;
    for p in pending {
        if let Reply::Int(k) = p.get().await.into_reply() {
            total += k;
        }
    }
    Reply::Int(total)
}

/// Runs `f` on every shard's registry and collects the results.
async fn on_registries<T: Send + 'static>(
    f: fn(&crate::pubsub::Registry, &[Bytes]) -> T,
    args: Vec<Bytes>,
) -> Vec<T> {
    let n = rt().nshards;
    let pending: Vec<_> = (0..n)
        .map(|s| {
            let a = args.clone();
            submit(
                s,
                Job::Run(Box::new(move |_env: &mut Env| {
                    Out::Any(Box::new(f(&rt().pubsub.borrow(), &a)))
                })),
            )
        })
        .collect();
    let mut out = Vec::new();
    for p in pending {
        if let Out::Any(b) = p.get().await {
            if let Ok(v) = b.downcast::<T>() {
                out.push(*v);
            }
        }
    }
    out
}

async fn pubsub_cmd(argv: &[Bytes]) -> Reply {
    let sub = lower(&argv[1]);
    let names_of = |kind: Kind| -> fn(&crate::pubsub::Registry, &[Bytes]) -> Vec<Bytes> {
        match kind {
            Kind::Shard => |r, a| r.names(Kind::Shard, a.first().map(|p| &p[..])),
            _ => |r, a| r.names(Kind::Channel, a.first().map(|p| &p[..])),
        }
    };
    match (sub.as_slice(), argv.len()) {
        (b"channels", 2 | 3) | (b"shardchannels", 2 | 3) => {
            let kind = if sub == b"channels" { Kind::Channel } else { Kind::Shard };
            let mut all: Vec<Bytes> =
                on_registries(names_of(kind), argv[2..].to_vec()).await.into_iter().flatten().collect();
            all.sort();
            all.dedup();
            Reply::Array(all.into_iter().map(Reply::Bulk).collect())
        }
        (b"numsub", _) | (b"shardnumsub", _) => {
            let counts: Vec<Vec<i64>> = if sub == b"numsub" {
                on_registries(|r, a| a.iter().map(|c| r.count(Kind::Channel, c) as i64).collect(), argv[2..].to_vec()).await
            } else {
                on_registries(|r, a| a.iter().map(|c| r.count(Kind::Shard, c) as i64).collect(), argv[2..].to_vec()).await
            };
            Reply::Map(
                argv[2..]
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (Reply::Bulk(c.clone()), Reply::Int(counts.iter().map(|v| v.get(i).copied().unwrap_or(0)).sum())))
                    .collect(),
            )
        }
        (b"numpat", 2) => {
            let mut all: Vec<Bytes> =
                on_registries(|r, _| r.names(Kind::Pattern, None), Vec::new()).await.into_iter().flatten().collect();
            all.sort();
            all.dedup();
            Reply::Int(all.len() as i64)
        }
        (b"help", 2) => Reply::Array(
            [
                "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Reply::status(*l))
            .collect(),
        ),
        _ => subcommand_error(&argv[1], "PUBSUB"),
    }
}
