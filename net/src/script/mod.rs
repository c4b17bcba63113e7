//! Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT.
//!
//! ```text
//!   EVAL body n k… a…  ── sha1(body) into the server-wide cache (compiled once per shard)
//!                      ── keys on one shard S (or none: this shard) ──► one Job::Script on S:
//!                         the script runs start to end inside it; redis.call executes on S's
//!                         data directly, so no other client's command runs in between
//!                      ── keys on several shards ──► refused (see docs/decisions)
//! ```
//! The script cache is server-wide: a script loaded on any connection is visible on every
//! shard. Each shard thread has its own interpreter (`vm`) that compiles a cached body the
//! first time it runs it; SCRIPT FLUSH bumps a generation that makes every interpreter drop
//! its compiled functions.

pub mod functions;
mod fvm;
mod libs;
pub mod vm;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use mayfly_engine::reply::Reply;

use crate::conn::Conn;
use crate::shard::env::{Env, Job, Out};
use crate::shard::{call, here};

/// The server-wide script cache: lowercase hex SHA1 → body.
fn cache() -> &'static Mutex<HashMap<String, Arc<[u8]>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<[u8]>>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Bumped by SCRIPT FLUSH: interpreters drop their compiled functions when it changes.
static GENERATION: AtomicU64 = AtomicU64::new(0);

fn cache_get(sha: &str) -> Option<Arc<[u8]>> {
    cache().lock().ok()?.get(sha).cloned()
}

fn cache_put(sha: String, body: Arc<[u8]>) {
    if let Ok(mut c) = cache().lock() {
        c.entry(sha).or_insert(body);
    }
}

/// Number of cached scripts and their total size (INFO's `number_of_cached_scripts`).
pub fn cache_stats() -> (usize, usize) {
    cache().lock().map(|c| (c.len(), c.values().map(|b| b.len()).sum())).unwrap_or((0, 0))
}

/// A script running past `busy-reply-threshold` on some shard.
pub struct Busy {
    pub kill: std::sync::atomic::AtomicBool,
    pub wrote: std::sync::atomic::AtomicBool,
    /// EVAL (true) or FCALL (false).
    pub eval: bool,
    /// FCALL: the function's name and the caller's command.
    pub label: Option<(String, Vec<Bytes>)>,
    pub start: std::time::Instant,
}

/// The busy scripts: (shard, state), at most one per shard.
type BusyTable = Mutex<Vec<(usize, Arc<Busy>)>>;

/// The busy scripts; their count is read on every command.
fn busy_table() -> &'static BusyTable {
    static BUSY: OnceLock<BusyTable> = OnceLock::new();
    BUSY.get_or_init(|| Mutex::new(Vec::new()))
}

static BUSY_COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

pub(crate) fn busy_begin(
    shard: usize,
    wrote: bool,
    eval: bool,
    label: Option<(String, Vec<Bytes>)>,
    start: std::time::Instant,
) -> Arc<Busy> {
    let b = Arc::new(Busy {
        kill: std::sync::atomic::AtomicBool::new(false),
        wrote: std::sync::atomic::AtomicBool::new(wrote),
        eval,
        label,
        start,
    });
    if let Ok(mut t) = busy_table().lock() {
        t.push((shard, b.clone()));
        BUSY_COUNT.fetch_add(1, Ordering::AcqRel);
    }
    crate::log::warning(&format!(
        "Slow script detected: still in execution after the busy-reply-threshold on shard {shard}. Clients get -BUSY until it ends or SCRIPT KILL stops it."
    ));
    b
}

pub(crate) fn busy_end(b: &Arc<Busy>) {
    if let Ok(mut t) = busy_table().lock() {
        let before = t.len();
        t.retain(|(_, x)| !Arc::ptr_eq(x, b));
        if t.len() < before {
            BUSY_COUNT.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The -BUSY refusal for a command sent while a script runs past its threshold, if any
/// (SCRIPT KILL, SHUTDOWN and FUNCTION KILL still run, as in Redis).
pub fn busy_refusal(name: &str, argv: &[Bytes]) -> Option<Reply> {
    if BUSY_COUNT.load(Ordering::Acquire) == 0 {
        return None;
    }
    let allowed = match name {
        "shutdown" | "auth" | "hello" | "quit" => true,
        "script" => argv.get(1).is_some_and(|a| a.eq_ignore_ascii_case(b"kill")),
        "function" => argv
            .get(1)
            .is_some_and(|a| a.eq_ignore_ascii_case(b"kill") || a.eq_ignore_ascii_case(b"stats")),
        _ => false,
    };
    (!allowed).then(|| Reply::error(busy_error(busy_is_eval())))
}

/// The -BUSY text for a running EVAL (true) or function (false).
pub(crate) fn busy_error(eval: bool) -> &'static str {
    if eval {
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    } else {
        "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
    }
}

/// Whether the busy script (the first, if several shards have one) is an EVAL.
fn busy_is_eval() -> bool {
    busy_table().lock().ok().and_then(|t| t.first().map(|(_, b)| b.eval)).unwrap_or(true)
}

/// The busy scripts' states (FUNCTION STATS, FUNCTION KILL).
pub(crate) fn busy_scripts() -> Vec<Arc<Busy>> {
    busy_table().lock().map(|t| t.iter().map(|(_, b)| b.clone()).collect()).unwrap_or_default()
}

/// SCRIPT KILL (`eval`) or FUNCTION KILL (not `eval`), with Redis's rules: only a script
/// that has not written, and only by the KILL of its kind.
pub(crate) fn kill_busy(eval: bool) -> Reply {
    let Ok(t) = busy_table().lock() else {
        return Reply::error("NOTBUSY No scripts in execution right now.");
    };
    if t.is_empty() {
        return Reply::error("NOTBUSY No scripts in execution right now.");
    }
    if t.iter().all(|(_, b)| b.wrote.load(Ordering::Acquire)) {
        return Reply::error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
    }
    if !t.iter().any(|(_, b)| b.eval == eval) {
        return Reply::error(busy_error(!eval));
    }
    for (_, b) in t.iter() {
        if b.eval == eval && !b.wrote.load(Ordering::Acquire) {
            b.kill.store(true, Ordering::Release);
        }
    }
    Reply::ok()
}

/// INFO memory's scripting fields (Redis 7.0's names): the interpreters' memory summed over
/// the shards, the cache's size. There are no functions yet, so their fields are 0.
pub async fn info_memory_fields() -> String {
    let vm: usize =
        crate::coord::on_all_shards(|_env: &mut Env| vm::used_memory()).await.iter().sum();
    let fvm: usize = crate::coord::on_all_shards(|_env: &mut Env| vm::used_memory_functions())
        .await
        .iter()
        .sum();
    let (n, bytes) = cache_stats();
    let (nfuncs, nlibs, fbytes) = functions::info_counts();
    let total = vm + fvm;
    let scripts = bytes + fbytes;
    format!(
        "used_memory_lua:{vm}\r\nused_memory_vm_eval:{vm}\r\nused_memory_lua_human:{}\r\nused_memory_scripts_eval:{bytes}\r\nnumber_of_cached_scripts:{n}\r\nnumber_of_functions:{nfuncs}\r\nnumber_of_libraries:{nlibs}\r\nused_memory_vm_functions:{fvm}\r\nused_memory_vm_total:{total}\r\nused_memory_vm_total_human:{}\r\nused_memory_functions:{fbytes}\r\nused_memory_scripts:{scripts}\r\nused_memory_scripts_human:{}\r\n",
        human(vm),
        human(total),
        human(scripts)
    )
}

/// Redis's `bytesToHuman` (B, K, M, G with two decimals).
fn human(n: usize) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{}B", n as u64)
    } else if n < 1024.0 * 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", n / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", n / (1024.0 * 1024.0 * 1024.0))
    }
}

/// Lowercase hex SHA1, as `redis.sha1hex` and script names use.
pub fn sha1hex(data: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    let digest = Sha1::digest(data);
    let mut s = String::with_capacity(40);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// True for the names [`eval_in`] serves (EVAL & co., and FCALL & co.).
pub fn is_eval(name: &str) -> bool {
    matches!(name, "eval" | "evalsha" | "eval_ro" | "evalsha_ro") || functions::is_fcall(name)
}

/// EVAL, EVALSHA, EVAL_RO, EVALSHA_RO.
pub async fn eval(conn: &mut Conn, argv: Vec<Bytes>) -> Reply {
    eval_in(conn, argv, 0).await
}

/// [`eval`] inside transaction `held` (≠ 0: an EXEC that holds every shard), or not (0).
pub async fn eval_in(conn: &mut Conn, argv: Vec<Bytes>, held: u64) -> Reply {
    let name = argv[0].to_ascii_lowercase();
    if name.starts_with(b"fcall") {
        return functions::fcall_in(conn, argv, held).await;
    }
    let by_sha = name.starts_with(b"evalsha");
    let read_only = name.ends_with(b"_ro");
    let numkeys = match std::str::from_utf8(&argv[2]).ok().and_then(|s| s.parse::<i64>().ok()) {
        Some(n) => n,
        None => return Reply::error("ERR value is not an integer or out of range"),
    };
    if numkeys > (argv.len() - 3) as i64 {
        return Reply::error("ERR Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return Reply::error("ERR Number of keys can't be negative");
    }
    let (sha, body) = if by_sha {
        let sha = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
        match cache_get(&sha) {
            Some(body) if sha.len() == 40 => (sha, body),
            _ => return Reply::error("NOSCRIPT No matching script. Please use EVAL."),
        }
    } else {
        let sha = sha1hex(&argv[1]);
        let body = match cache_get(&sha) {
            Some(b) => b,
            None => {
                if let Err(e) = vm::compile_check(&argv[1]) {
                    return e;
                }
                let body: Arc<[u8]> = Arc::from(&argv[1][..]);
                cache_put(sha.clone(), body.clone());
                body
            }
        };
        (sha, body)
    };
    let nk = numkeys as usize;
    let keys: Vec<Bytes> = argv[3..3 + nk].to_vec();
    let args: Vec<Bytes> = argv[3 + nk..].to_vec();
    let rt = here();
    let shared = &rt.shared;
    let shard = match keys.first() {
        Some(k) => shared.shard_of(k),
        None => rt.id,
    };
    if shared.nshards > 1 && keys.iter().any(|k| shared.shard_of(k) != shard) {
        return Reply::error(
            "ERR Script keys live on several shards; Mayfly runs a script on the shard of its keys (use hash tags to keep them together)",
        );
    }
    let generation = GENERATION.load(Ordering::Acquire);
    let inv = vm::Invocation { sha, body, keys, args, db: conn.db, read_only };
    let txid = if held != 0 { held } else { shared.next_txid() };
    let run = Box::new(move |env: &mut Env| {
        let shards = mayfly_engine::journal::ShardSet::from_ids([env.shard.id]);
        env.shard.begin_tx(txid, shards);
        let reply = vm::run(env, inv, generation);
        env.shard.end_tx();
        Out::Reply(reply)
    });
    call(shard, Job::Script { txid: held, run }).await.into_reply()
}

const HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

/// SCRIPT LOAD / EXISTS / FLUSH / KILL / HELP.
pub async fn script(_conn: &mut Conn, argv: Vec<Bytes>) -> Reply {
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    let arity_err =
        || Reply::error(format!("ERR wrong number of arguments for 'script|{sub}' command"));
    match sub.as_str() {
        "help" => {
            if argv.len() != 2 {
                return arity_err();
            }
            Reply::Array(HELP.iter().map(|l| Reply::status(*l)).collect())
        }
        "load" => {
            if argv.len() != 3 {
                return arity_err();
            }
            let sha = sha1hex(&argv[2]);
            if cache_get(&sha).is_none() {
                if let Err(e) = vm::compile_check(&argv[2]) {
                    return e;
                }
                cache_put(sha.clone(), Arc::from(&argv[2][..]));
            }
            Reply::Bulk(Bytes::from(sha))
        }
        "exists" => {
            if argv.len() < 3 {
                return arity_err();
            }
            let c = match cache().lock() {
                Ok(c) => c,
                Err(_) => return Reply::error("ERR script cache unavailable"),
            };
            Reply::Array(
                argv[2..]
                    .iter()
                    .map(|s| {
                        let sha = String::from_utf8_lossy(s).to_ascii_lowercase();
                        Reply::Int(c.contains_key(&sha) as i64)
                    })
                    .collect(),
            )
        }
        "flush" => {
            if argv.len() > 3
                || (argv.len() == 3
                    && !argv[2].eq_ignore_ascii_case(b"sync")
                    && !argv[2].eq_ignore_ascii_case(b"async"))
            {
                return Reply::error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
            }
            if let Ok(mut c) = cache().lock() {
                c.clear();
            }
            GENERATION.fetch_add(1, Ordering::AcqRel);
            Reply::ok()
        }
        "kill" => {
            if argv.len() != 2 {
                return arity_err();
            }
            kill_busy(true)
        }
        _ => Reply::error(format!(
            "ERR unknown subcommand '{}'. Try SCRIPT HELP.",
            String::from_utf8_lossy(&argv[1])
        )),
    }
}
