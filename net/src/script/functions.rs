//! Functions: FUNCTION LOAD / DELETE / FLUSH / LIST / DUMP / RESTORE / STATS / KILL / HELP,
//! FCALL and FCALL_RO.
//!
//! ```text
//!   FUNCTION LOAD code ── shebang `#!lua name=<lib>` ── the library's code runs once on this
//!                         shard's functions' interpreter (load mode: only redis.register_function,
//!                         redis.log and the versions) ── checks ── new registry snapshot
//!   FCALL f n k… a…    ── registry lookup (case-insensitive) ── flags ── one Job::Script on the
//!                         shard of the keys, which loads the library there first if it does not
//!                         hold this version yet, then calls the function with (KEYS, ARGV)
//! ```
//! The registry is server-wide (a snapshot behind a mutex, replaced whole by every change):
//! a library loaded on any connection is callable from every shard.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use mayfly_engine::reply::Reply;

use super::fvm::{self, FuncSpec, FLAG_ALLOW_OOM, FLAG_NAMES, FLAG_NO_WRITES};
use crate::conn::Conn;
use crate::shard::env::{Env, Job, Out};
use crate::shard::{call, here};

pub use super::fvm::{valid_name, Library};

/// The libraries (in load order) and their functions by lowercase name.
#[derive(Default, Clone)]
pub struct Registry {
    libs: Vec<Arc<Library>>,
    funcs: HashMap<String, (Arc<Library>, usize)>,
}

impl Registry {
    fn lib(&self, name: &str) -> Option<&Arc<Library>> {
        self.libs.iter().find(|l| l.name == name)
    }

    /// A function by name (case-insensitive, as in Redis).
    pub fn function(&self, name: &[u8]) -> Option<(Arc<Library>, &FuncSpec)> {
        let key = String::from_utf8_lossy(name).to_ascii_lowercase();
        self.funcs.get(&key).map(|(l, i)| (l.clone(), &l.functions[*i]))
    }

    pub fn libraries(&self) -> &[Arc<Library>] {
        &self.libs
    }

    pub fn function_count(&self) -> usize {
        self.funcs.len()
    }

    fn without(&self, name: &str) -> Registry {
        let mut r = Registry::default();
        for l in self.libs.iter().filter(|l| l.name != name) {
            r.link(l.clone());
        }
        r
    }

    fn link(&mut self, lib: Arc<Library>) {
        for (i, f) in lib.functions.iter().enumerate() {
            self.funcs.entry(f.name.to_ascii_lowercase()).or_insert((lib.clone(), i));
        }
        self.libs.push(lib);
    }

    /// The first of `lib`'s functions another library already has.
    fn collision(&self, lib: &Library) -> Option<String> {
        lib.functions
            .iter()
            .find(|f| self.funcs.contains_key(&f.name.to_ascii_lowercase()))
            .map(|f| f.name.clone())
    }
}

fn registry() -> &'static Mutex<Arc<Registry>> {
    static REG: OnceLock<Mutex<Arc<Registry>>> = OnceLock::new();
    REG.get_or_init(|| Mutex::new(Arc::new(Registry::default())))
}

/// Bumped by every change: interpreters then drop the libraries the registry no longer has.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The current registry.
pub fn snapshot() -> Arc<Registry> {
    registry().lock().map(|r| r.clone()).unwrap_or_default()
}

fn store(r: Registry) {
    if let Ok(mut cur) = registry().lock() {
        *cur = Arc::new(r);
    }
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Replaces the whole registry (RDB load).
pub fn replace_all(r: Registry) {
    store(r);
}

/// Splits a shebang line into words (`sdssplitargs`: spaces, double and single quotes).
fn split_words(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut words = Vec::new();
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            break;
        }
        let mut w = Vec::new();
        match line[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                loop {
                    let c = *line.get(i)?;
                    i += 1;
                    if c == q {
                        break;
                    }
                    if c == b'\\' && q == b'"' {
                        w.push(*line.get(i)?);
                        i += 1;
                    } else {
                        w.push(c);
                    }
                }
                if i < line.len() && !line[i].is_ascii_whitespace() {
                    return None;
                }
            }
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    w.push(line[i]);
                    i += 1;
                }
            }
        }
        words.push(w);
    }
    Some(words)
}

/// A library's metadata: its name and where its Lua text starts (`functionExtractLibMetaData`).
fn parse_metadata(code: &[u8]) -> Result<(String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&c| c == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let parts = match split_words(&code[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = parts[0].get(2..).unwrap_or_default().to_vec();
    let mut name: Option<Vec<u8>> = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err("Invalid metadata value, name argument was given multiple times".into());
            }
            name = Some(part[5..].to_vec());
            continue;
        }
        return Err(format!("Invalid metadata value given: {}", String::from_utf8_lossy(part)));
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    if !valid_name(&name) {
        return Err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    if !engine.eq_ignore_ascii_case(b"lua") {
        return Err(format!("Engine '{}' not found", String::from_utf8_lossy(&engine)));
    }
    Ok((String::from_utf8_lossy(&name).into_owned(), end))
}

/// Creates a library from its code against `reg` (`functionsCreateWithLibraryCtx`): the
/// library and the registry it would make, or Redis's error text.
fn create(code: &[u8], replace: bool, reg: &Registry, timeout: bool) -> Result<Registry, String> {
    let (name, body_at) = parse_metadata(code)?;
    if reg.lib(&name).is_some() && !replace {
        return Err(format!("Library '{name}' already exists"));
    }
    let code: Arc<[u8]> = Arc::from(code);
    let functions = fvm::load_library(&name, &code, body_at, timeout)?;
    let lib = Library { name: name.clone(), code, body_at, functions };
    let mut next = reg.without(&name);
    if let Some(f) = next.collision(&lib) {
        return Err(format!("Function {f} already exists"));
    }
    next.link(Arc::new(lib));
    Ok(next)
}

/// Loads libraries read from an RDB file into an empty registry (a library that fails is
/// an error, as in Redis).
pub fn registry_from_sources(sources: &[Vec<u8>]) -> Result<Registry, String> {
    let mut reg = Registry::default();
    for s in sources {
        reg = create(s, false, &reg, false)?;
    }
    Ok(reg)
}

/// Installs the libraries of an RDB file: they replace every library (`flush`), or join
/// the current ones (a library that exists already is an error, as in Redis). Nothing
/// changes on error.
pub fn load_sources(sources: &[Vec<u8>], flush: bool) -> Result<(), String> {
    if flush {
        store(registry_from_sources(sources)?);
        return Ok(());
    }
    let mut reg = (*snapshot()).clone();
    for s in sources {
        reg = create(s, false, &reg, false)?;
    }
    store(reg);
    Ok(())
}

/// Every library's code, in load order (what an RDB file or FUNCTION DUMP holds).
pub fn sources() -> Vec<Arc<[u8]>> {
    snapshot().libs.iter().map(|l| l.code.clone()).collect()
}

/// True for FCALL and FCALL_RO.
pub fn is_fcall(name: &str) -> bool {
    matches!(name, "fcall" | "fcall_ro")
}

/// FCALL / FCALL_RO.
pub async fn fcall(conn: &mut Conn, argv: Vec<Bytes>) -> Reply {
    fcall_in(conn, argv, 0).await
}

/// [`fcall`] inside transaction `held` (≠ 0: an EXEC that holds every shard), or not (0).
pub async fn fcall_in(conn: &mut Conn, argv: Vec<Bytes>, held: u64) -> Reply {
    let read_only = argv[0].eq_ignore_ascii_case(b"fcall_ro");
    let reg = snapshot();
    let Some((lib, spec)) = reg.function(&argv[1]) else {
        return Reply::error("ERR Function not found");
    };
    let numkeys = match std::str::from_utf8(&argv[2]).ok().and_then(|s| s.parse::<i64>().ok()) {
        Some(n) => n,
        None => return Reply::error("ERR Bad number of keys provided"),
    };
    if numkeys > (argv.len() - 3) as i64 {
        return Reply::error("ERR Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return Reply::error("ERR Number of keys can't be negative");
    }
    let no_writes = spec.flags & FLAG_NO_WRITES != 0;
    if !no_writes && read_only {
        return Reply::error("ERR Can not execute a script with write flag using *_ro command.");
    }
    let rt = here();
    let shared = &rt.shared;
    if spec.flags & (FLAG_ALLOW_OOM | FLAG_NO_WRITES) == 0 && over_maxmemory(shared) {
        return Reply::error(
            "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'",
        );
    }
    let nk = numkeys as usize;
    let keys: Vec<Bytes> = argv[3..3 + nk].to_vec();
    let args: Vec<Bytes> = argv[3 + nk..].to_vec();
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
    let call_spec = fvm::Call {
        name: spec.name.clone(),
        lib: lib.clone(),
        keys,
        args,
        db: conn.db,
        read_only: read_only || no_writes,
        allow_oom: spec.flags & FLAG_ALLOW_OOM != 0,
        argv: argv.clone(),
    };
    drop(reg);
    let txid = if held != 0 { held } else { shared.next_txid() };
    let run = Box::new(move |env: &mut Env| {
        prune(generation);
        let shards = mayfly_engine::journal::ShardSet::from_ids([env.shard.id]);
        env.shard.begin_tx(txid, shards);
        let reply = fvm::run_function(env, call_spec);
        env.shard.end_tx();
        Out::Reply(reply)
    });
    call(shard, Job::Script { txid: held, run }).await.into_reply()
}

thread_local! {
    static SEEN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Once per registry change on this thread: drops the interpreter's libraries the
/// registry no longer holds in that version.
fn prune(generation: u64) {
    if SEEN.with(|s| s.replace(generation)) == generation {
        return;
    }
    let reg = snapshot();
    fvm::retain_libs(|name, code| reg.lib(name).is_some_and(|l| Arc::ptr_eq(&l.code, code)));
}

/// Used memory above `maxmemory` (the state Redis checks before a script with writes).
fn over_maxmemory(shared: &crate::shard::shared::Shared) -> bool {
    let max = shared.read_config(|c| c.maxmemory);
    max > 0 && shared.memory.total_used() > max
}

const HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

fn syntax_error(sub: &str) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try FUNCTION HELP."
    ))
}

/// The FUNCTION container (arity and subcommand names are checked by the command table).
pub async fn function(_conn: &mut Conn, argv: Vec<Bytes>) -> Reply {
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    match sub.as_str() {
        "help" => Reply::Array(HELP.iter().map(|l| Reply::status(*l)).collect()),
        "load" => load(&argv),
        "delete" => {
            let Ok(mut cur) = registry().lock() else {
                return Reply::error("ERR functions registry unavailable");
            };
            let name = String::from_utf8_lossy(&argv[2]);
            if cur.lib(&name).is_none() {
                return Reply::error("ERR Library not found");
            }
            *cur = Arc::new(cur.without(&name));
            drop(cur);
            GENERATION.fetch_add(1, Ordering::AcqRel);
            Reply::ok()
        }
        "flush" => {
            if argv.len() > 3 {
                return syntax_error(&String::from_utf8_lossy(&argv[1]));
            }
            if argv.len() == 3
                && !argv[2].eq_ignore_ascii_case(b"sync")
                && !argv[2].eq_ignore_ascii_case(b"async")
            {
                return Reply::error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
            }
            store(Registry::default());
            Reply::ok()
        }
        "list" => list(&argv),
        "dump" => {
            let reg = snapshot();
            let compression = here().shared.read_config(|c| c.rdbcompression);
            let opts = mayfly_persistence::EncodeOptions { compression, ..Default::default() };
            Reply::Bulk(Bytes::from(mayfly_persistence::dump_functions(
                reg.libs.iter().map(|l| &l.code[..]),
                &opts,
            )))
        }
        "restore" => restore(&argv),
        "stats" => stats(),
        "kill" => super::kill_busy(false),
        _ => Reply::error(format!(
            "ERR unknown subcommand '{}'. Try FUNCTION HELP.",
            String::from_utf8_lossy(&argv[1])
        )),
    }
}

/// FUNCTION LOAD [REPLACE] code.
fn load(argv: &[Bytes]) -> Reply {
    let mut replace = false;
    let mut pos = 2;
    while pos < argv.len() - 1 {
        let a = &argv[pos];
        pos += 1;
        if a.eq_ignore_ascii_case(b"replace") {
            replace = true;
            continue;
        }
        return Reply::error(format!("ERR Unknown option given: {}", String::from_utf8_lossy(a)));
    }
    if pos >= argv.len() {
        return Reply::error("ERR Function code is missing");
    }
    let code = &argv[pos];
    // Load against a snapshot (the library's code runs outside the lock), then link under
    // the lock against the registry as it is then.
    let before = snapshot();
    let made = match create(code, replace, &before, true) {
        Ok(r) => r,
        Err(e) => return Reply::error(format!("ERR {e}")),
    };
    let Ok(mut cur) = registry().lock() else {
        return Reply::error("ERR functions registry unavailable");
    };
    let Some(lib) = made.libs.last().cloned() else {
        return Reply::error("ERR No functions registered");
    };
    if !Arc::ptr_eq(&cur, &before) {
        if cur.lib(&lib.name).is_some() && !replace {
            return Reply::error(format!("ERR Library '{}' already exists", lib.name));
        }
        let mut next = cur.without(&lib.name);
        if let Some(f) = next.collision(&lib) {
            return Reply::error(format!("ERR Function {f} already exists"));
        }
        next.link(lib.clone());
        *cur = Arc::new(next);
    } else {
        *cur = Arc::new(made);
    }
    drop(cur);
    GENERATION.fetch_add(1, Ordering::AcqRel);
    Reply::Bulk(Bytes::from(lib.name.clone()))
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE].
fn list(argv: &[Bytes]) -> Reply {
    let mut with_code = false;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 2;
    while i < argv.len() {
        let a = &argv[i];
        if !with_code && a.eq_ignore_ascii_case(b"withcode") {
            with_code = true;
            i += 1;
            continue;
        }
        if pattern.is_none() && a.eq_ignore_ascii_case(b"libraryname") {
            if i >= argv.len() - 1 {
                return Reply::error("ERR library name argument was not given");
            }
            pattern = Some(&argv[i + 1]);
            i += 2;
            continue;
        }
        return Reply::error(format!("ERR Unknown argument {}", String::from_utf8_lossy(a)));
    }
    let reg = snapshot();
    let mut out = Vec::new();
    for lib in reg.libs.iter() {
        if let Some(p) = pattern {
            if !mayfly_engine::glob::glob_match(p, lib.name.as_bytes(), true) {
                continue;
            }
        }
        let functions = lib
            .functions
            .iter()
            .map(|f| {
                Reply::Map(vec![
                    (Reply::bulk_str("name"), Reply::Bulk(Bytes::from(f.name.clone()))),
                    (
                        Reply::bulk_str("description"),
                        f.desc.clone().map_or(Reply::Nil, Reply::Bulk),
                    ),
                    (
                        Reply::bulk_str("flags"),
                        Reply::Set(
                            FLAG_NAMES
                                .iter()
                                .filter(|(bit, _)| f.flags & bit != 0)
                                .map(|(_, n)| Reply::status(*n))
                                .collect(),
                        ),
                    ),
                ])
            })
            .collect();
        let mut m = vec![
            (Reply::bulk_str("library_name"), Reply::Bulk(Bytes::from(lib.name.clone()))),
            (Reply::bulk_str("engine"), Reply::bulk_str("LUA")),
            (Reply::bulk_str("functions"), Reply::Array(functions)),
        ];
        if with_code {
            m.push((
                Reply::bulk_str("library_code"),
                Reply::Bulk(Bytes::copy_from_slice(&lib.code)),
            ));
        }
        out.push(Reply::Map(m));
    }
    Reply::Array(out)
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE].
fn restore(argv: &[Bytes]) -> Reply {
    if argv.len() > 4 {
        return syntax_error(&String::from_utf8_lossy(&argv[1]));
    }
    #[derive(PartialEq)]
    enum Policy {
        Append,
        Replace,
        Flush,
    }
    let policy =
        match argv.get(3) {
            None => Policy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"append") => Policy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"replace") => Policy::Replace,
            Some(p) if p.eq_ignore_ascii_case(b"flush") => Policy::Flush,
            Some(_) => return Reply::error(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ),
        };
    let sources = match mayfly_persistence::read_functions(&argv[2]) {
        Ok(s) => s,
        Err(e) => return Reply::error(format!("ERR {}", e.message())),
    };
    let loaded = match registry_from_sources(&sources) {
        Ok(r) => r,
        Err(e) => return Reply::error(format!("ERR {e}")),
    };
    let Ok(mut cur) = registry().lock() else {
        return Reply::error("ERR functions registry unavailable");
    };
    if policy == Policy::Flush {
        *cur = Arc::new(loaded);
    } else {
        let mut next = (**cur).clone();
        for lib in loaded.libs.iter() {
            if next.lib(&lib.name).is_some() {
                if policy == Policy::Append {
                    return Reply::error(format!("ERR Library {} already exists", lib.name));
                }
                next = next.without(&lib.name);
            }
        }
        for lib in loaded.libs.iter() {
            if let Some(f) = next.collision(lib) {
                return Reply::error(format!("ERR Function {f} already exists"));
            }
        }
        for lib in loaded.libs.iter() {
            next.link(lib.clone());
        }
        *cur = Arc::new(next);
    }
    drop(cur);
    GENERATION.fetch_add(1, Ordering::AcqRel);
    Reply::ok()
}

/// FUNCTION STATS.
fn stats() -> Reply {
    let busy = super::busy_scripts();
    let running = match busy.first() {
        Some(b) if b.eval => return Reply::error(super::busy_error(true)),
        Some(b) => match &b.label {
            Some((name, argv)) => Reply::Map(vec![
                (Reply::bulk_str("name"), Reply::Bulk(Bytes::from(name.clone()))),
                (
                    Reply::bulk_str("command"),
                    Reply::Array(argv.iter().cloned().map(Reply::Bulk).collect()),
                ),
                (Reply::bulk_str("duration_ms"), Reply::Int(b.start.elapsed().as_millis() as i64)),
            ]),
            None => Reply::Nil,
        },
        None => Reply::Nil,
    };
    let reg = snapshot();
    Reply::Map(vec![
        (Reply::bulk_str("running_script"), running),
        (
            Reply::bulk_str("engines"),
            Reply::Map(vec![(
                Reply::bulk_str("LUA"),
                Reply::Map(vec![
                    (Reply::bulk_str("libraries_count"), Reply::Int(reg.libs.len() as i64)),
                    (Reply::bulk_str("functions_count"), Reply::Int(reg.function_count() as i64)),
                ]),
            )]),
        ),
    ])
}

/// INFO memory's figures for functions: (functions, libraries, bytes of the registry).
pub fn info_counts() -> (usize, usize, usize) {
    let reg = snapshot();
    let bytes: usize = reg
        .libs
        .iter()
        .map(|l| {
            l.code.len()
                + l.name.len()
                + 64
                + l.functions
                    .iter()
                    .map(|f| f.name.len() + f.desc.as_ref().map_or(0, |d| d.len()) + 96)
                    .sum::<usize>()
        })
        .sum();
    (reg.function_count(), reg.libs.len(), bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_metadata_errors_match_redis() {
        assert_eq!(parse_metadata(b"#!lua name=lib1\nx"), Ok(("lib1".into(), 15)));
        assert_eq!(parse_metadata(b"#!LUA NAME=a_1\n"), Ok(("a_1".into(), 14)));
        assert_eq!(parse_metadata(b"lua name=x\n").unwrap_err(), "Missing library metadata");
        assert_eq!(parse_metadata(b"#!lua name=x").unwrap_err(), "Invalid library metadata");
        assert_eq!(parse_metadata(b"#!\n").unwrap_err(), "Library name was not given");
        assert_eq!(parse_metadata(b"#! name=a\n").unwrap_err(), "Engine '' not found");
        assert_eq!(parse_metadata(b"#!lua\n").unwrap_err(), "Library name was not given");
        assert_eq!(
            parse_metadata(b"#!lua name=a name=b\n").unwrap_err(),
            "Invalid metadata value, name argument was given multiple times"
        );
        assert_eq!(
            parse_metadata(b"#!lua name=a foo=bar\n").unwrap_err(),
            "Invalid metadata value given: foo=bar"
        );
        assert_eq!(parse_metadata(b"#!js name=a\n").unwrap_err(), "Engine 'js' not found");
        assert!(parse_metadata(b"#!lua name=a-b\n").unwrap_err().starts_with("Library names"));
        assert_eq!(parse_metadata(b"#!lua \"name=x\"\n"), Ok(("x".into(), 14)));
    }

    #[test]
    fn registry_links_and_detects_collisions() {
        let lib = |name: &str, fns: &[&str]| Library {
            name: name.into(),
            code: Arc::from(&b""[..]),
            body_at: 0,
            functions: fns
                .iter()
                .map(|f| FuncSpec { name: (*f).into(), desc: None, flags: 0 })
                .collect(),
        };
        let mut r = Registry::default();
        r.link(Arc::new(lib("a", &["f1", "F2"])));
        assert!(r.function(b"f2").is_some());
        assert!(r.function(b"F1").is_some());
        assert_eq!(r.collision(&lib("b", &["x", "f2"])), Some("f2".into()));
        assert_eq!(r.collision(&lib("b", &["x"])), None);
        let r2 = r.without("a");
        assert_eq!(r2.function_count(), 0);
        assert_eq!(r.function_count(), 2);
    }
}
