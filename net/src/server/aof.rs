//! The append-only file, server side: Redis 7's multi-part directory (manifest, base, incr
//! files) with one incr file per shard, loading at start (also the pre-7.0 single file, plain
//! or with an RDB preamble), the rewrite (start-up, BGREWRITEAOF, CONFIG SET appendonly yes),
//! INFO's aof_* fields and -MISCONF. The shard's part (journal → RESP → writer thread,
//! `appendfsync`) is `shard::aof`; the byte formats are `mayfly_persistence::aof`.
//!
//! ```text
//!  start (main thread): manifest ─► base: RDB ─► persist::preload (shards load their keys)
//!                                        RESP ─┐
//!                       incr files (manifest order) ─► commands (cut tail, torn tx dropped)
//!  start (shard 0):     replay through a client-less connection ─► rewrite ─► accept
//!  rewrite:             new incr files created ─► Held: every shard captures its keyspace and
//!                       switches its journal to its new incr file (one cut) ─► base RDB
//!                       written ─► manifest temp + fsync + rename + dir fsync ─► old files gone
//! ```
//! All file work runs on helper threads; shard threads only wait asynchronously.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use mayfly_engine::config::Config;
use mayfly_engine::reply::Reply;
use mayfly_persistence::aof::{
    base_name, incr_name, parse_commands, Command, FileType, Manifest, ManifestEntry, StreamEnd,
};
use mayfly_persistence::Decoder;

use crate::coord::multi::Held;
use crate::coord::on_all_shards;
use crate::log;
use crate::shard::aof as shard_aof;
use crate::shard::env::Env;
use crate::shard::{here, snapshot, Shared};

/// What INFO and the commands report.
struct Status {
    enabled: AtomicBool,
    rewrite_in_progress: AtomicBool,
    rewrite_scheduled: AtomicBool,
    rewrites: AtomicU64,
    rewrite_failures: AtomicU64,
    last_rewrite_ok: AtomicBool,
    last_rewrite_time_s: AtomicI64,
    rewrite_start_ms: AtomicU64,
    base_size: AtomicU64,
    /// Start-up load and first rewrite done (the listeners may accept).
    ready: AtomicBool,
}

static STATUS: Status = Status {
    enabled: AtomicBool::new(false),
    rewrite_in_progress: AtomicBool::new(false),
    rewrite_scheduled: AtomicBool::new(false),
    rewrites: AtomicU64::new(0),
    rewrite_failures: AtomicU64::new(0),
    last_rewrite_ok: AtomicBool::new(true),
    last_rewrite_time_s: AtomicI64::new(-1),
    rewrite_start_ms: AtomicU64::new(0),
    base_size: AtomicU64::new(0),
    ready: AtomicBool::new(false),
};

/// The manifest in force (what is on disk).
static MANIFEST: Mutex<Option<Manifest>> = Mutex::new(None);

/// The commands of one file.
pub type FileCommands = Vec<Vec<Bytes>>;

/// Files replayed one after another; the files of one group are one shard's each (Mayfly's
/// incr files, `#MF-SHARD`): they run side by side, meeting at every FLUSHALL / FLUSHDB /
/// SWAPDB (each shard journaled its own part of the broadcast), so that a shard's flush
/// never removes what another shard wrote after it.
pub type ReplayGroups = Vec<Vec<FileCommands>>;

/// What the start-up found to replay.
struct StartPlan {
    /// Commands to replay, in order (base RESP part, then incr files).
    commands: ReplayGroups,
    /// A pre-7.0 single file to remove once migrated.
    legacy: Option<PathBuf>,
    started: std::time::Instant,
}

static START: Mutex<Option<StartPlan>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> u64 {
    mayfly_engine::clock::unix_time_ms()
}

fn manifest_name(c: &Config) -> String {
    format!("{}.manifest", c.appendfilename)
}

/// Runs `f` on a helper thread and waits for it without blocking the shard.
async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let slot: Arc<Mutex<Option<T>>> = Arc::new(Mutex::new(None));
    let s2 = slot.clone();
    let spawned = std::thread::Builder::new().name("aof-io".into()).spawn(move || {
        let v = f();
        *lock(&s2) = Some(v);
    });
    if let Err(e) = spawned {
        panic!("could not start an AOF helper thread: {e}");
    }
    let mut wait_ms = 1;
    loop {
        if let Some(v) = lock(&slot).take() {
            return v;
        }
        crate::rt::sleep_ms(wait_ms).await;
        wait_ms = (wait_ms * 2).min(10);
    }
}

// ---------------------------------------------------------------------------------------
// Loading at start

/// Why loading failed: Redis's log lines are already written; the process exits with 1.
struct Fatal;

/// At start-up, before the shards run (main thread, cwd = `dir`): reads the AOF directory
/// (or a pre-7.0 file), hands a base RDB to the shards' start-up load and keeps the commands
/// to replay. False = the files are refused (logged): exit with status 1.
#[must_use]
pub fn load_at_start(shared: &Shared) -> bool {
    let config = shared.read_config(|c| c.clone());
    STATUS.enabled.store(true, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let dir = PathBuf::from(&config.appenddirname);
    let manifest_path = dir.join(manifest_name(&config));
    let mut commands = Vec::new();
    let mut legacy = None;
    let result = if manifest_path.exists() {
        load_dir(shared, &config, &dir, &manifest_path, &mut commands)
    } else if Path::new(&config.appendfilename).is_file() {
        legacy = Some(PathBuf::from(&config.appendfilename));
        load_legacy(shared, &config, &mut commands)
    } else {
        Ok(())
    };
    if result.is_err() {
        return false;
    }
    *lock(&START) = Some(StartPlan { commands, legacy, started });
    true
}

fn read_file(path: &Path) -> Result<Bytes, Fatal> {
    std::fs::read(path).map(Bytes::from).map_err(|e| {
        log::warning(&format!(
            "Fatal error: can't open the append log file {} for reading: {e}",
            path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
        ));
        Fatal
    })
}

fn load_dir(
    shared: &Shared,
    config: &Config,
    dir: &Path,
    manifest_path: &Path,
    commands: &mut ReplayGroups,
) -> Result<(), Fatal> {
    let text = std::fs::read_to_string(manifest_path).map_err(|e| {
        log::warning(&format!(
            "Fatal error: can't open the AOF manifest {}: {e}",
            manifest_path.display()
        ));
        Fatal
    })?;
    let manifest = Manifest::parse(&text).map_err(|e| {
        log::warning(&e);
        Fatal
    })?;
    let incrs: Vec<ManifestEntry> = manifest.incrs().cloned().collect();
    let mut files: Vec<(String, Vec<Command>)> = Vec::new();
    let mut per_shard = !incrs.is_empty();
    if let Some(base) = manifest.base() {
        let path = dir.join(&base.name);
        let data = read_file(&path)?;
        let last = incrs.is_empty();
        if data.starts_with(b"REDIS") {
            log::notice("Reading RDB base file on AOF loading...");
            let end = rdb_end(&data, config)?;
            STATUS.base_size.store(data.len() as u64, Ordering::Relaxed);
            let tail = data.slice(end..);
            if !persist_preload(shared, data.slice(..end), config) {
                return Err(Fatal);
            }
            files.push((base.name.clone(), parse_file(&base.name, &tail, last, config, end)?));
        } else {
            STATUS.base_size.store(data.len() as u64, Ordering::Relaxed);
            files.push((base.name.clone(), parse_file(&base.name, &data, last, config, 0)?));
        }
    }
    for (i, e) in incrs.iter().enumerate() {
        let data = read_file(&dir.join(&e.name))?;
        per_shard &= data.starts_with(b"#MF-SHARD ");
        files.push((e.name.clone(), parse_file(&e.name, &data, i + 1 == incrs.len(), config, 0)?));
    }
    let has_base = manifest.base().is_some();
    let parts: Vec<Vec<Command>> = files.into_iter().map(|(_, c)| c).collect();
    let mut assembled = assemble(parts).into_iter();
    if has_base {
        commands.extend(assembled.next().map(|f| vec![f]));
    }
    if per_shard {
        commands.push(assembled.collect());
    } else {
        commands.extend(assembled.map(|f| vec![f]));
    }
    *lock(&MANIFEST) = Some(manifest);
    Ok(())
}

fn load_legacy(shared: &Shared, config: &Config, commands: &mut ReplayGroups) -> Result<(), Fatal> {
    let name = config.appendfilename.clone();
    let data = read_file(Path::new(&name))?;
    let (tail, offset) = if data.starts_with(b"REDIS") {
        log::notice("Reading RDB preamble from AOF file...");
        let end = rdb_end(&data, config)?;
        if !persist_preload(shared, data.slice(..end), config) {
            return Err(Fatal);
        }
        log::notice("Reading the remaining AOF tail...");
        (data.slice(end..), end)
    } else {
        (data.clone(), 0)
    };
    let cmds = parse_file(&name, &tail, true, config, offset)?;
    *commands = vec![assemble(vec![cmds])];
    Ok(())
}

fn persist_preload(shared: &Shared, data: Bytes, config: &Config) -> bool {
    super::persist::preload(shared, data.to_vec(), super::persist::decode_options(config))
}

/// Where the RDB image at the start of `data` ends (after its checksum).
fn rdb_end(data: &[u8], config: &Config) -> Result<usize, Fatal> {
    let fail = |e: mayfly_persistence::RdbError| {
        super::persist::log_rdb_error(&e);
        Fatal
    };
    let mut d = Decoder::new(data, super::persist::decode_options(config)).map_err(fail)?;
    while d.next_item().map_err(fail)?.is_some() {}
    Ok(d.offset() as usize)
}

/// The commands of one file; a torn tail is cut (logged as Redis does) when it is the last
/// file and `aof-load-truncated yes`, else refused.
fn parse_file(
    name: &str,
    data: &Bytes,
    last: bool,
    config: &Config,
    offset: usize,
) -> Result<Vec<Command>, Fatal> {
    let (cmds, end) = parse_commands(data);
    match end {
        StreamEnd::Clean => Ok(cmds),
        StreamEnd::Truncated { valid_up_to, in_multi } => {
            if !last || !config.aof_load_truncated {
                log::warning(&format!("Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."));
                return Err(Fatal);
            }
            if in_multi {
                log::warning(&format!(
                    "Revert incomplete MULTI/EXEC transaction in AOF file {name}"
                ));
            }
            log::warning(&format!("!!! Warning: short read while loading the AOF file {name}!!!"));
            log::warning(&format!(
                "!!! Truncating the AOF {name} at offset {} !!!",
                valid_up_to + offset
            ));
            log::warning(&format!(
                "AOF {name} loaded anyway because aof-load-truncated is enabled"
            ));
            Ok(cmds)
        }
        StreamEnd::Bad { .. } => {
            log::warning(&format!("Bad file format reading the append only file {name}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"));
            Err(Fatal)
        }
    }
}

/// Joins the files' commands into one replay list, dropping the parts of transactions over
/// several shards (`#MF-TX`) whose other parts are not all in the files (a crash between the
/// shards' writes: the transaction was never acknowledged).
fn assemble(files: Vec<Vec<Command>>) -> Vec<FileCommands> {
    let mut complete: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
    for cmds in &files {
        let mut open: Option<u64> = None;
        for c in cmds {
            if let Some((txid, _)) = c.tx_tag {
                open = Some(txid);
            } else if open.is_some() && is_word(&c.argv, b"exec") {
                *complete.entry(open.take().unwrap_or(0)).or_default() += 1;
            }
        }
    }
    let mut all = Vec::new();
    for cmds in files {
        let mut out = Vec::new();
        let mut skipping = false;
        for c in cmds {
            if let Some((txid, parts)) = c.tx_tag {
                skipping = complete.get(&txid).copied().unwrap_or(0) < parts;
            }
            if skipping {
                if is_word(&c.argv, b"exec") {
                    skipping = false;
                }
                continue;
            }
            out.push(c.argv);
        }
        all.push(out);
    }
    all
}

fn is_word(argv: &[Bytes], w: &[u8]) -> bool {
    argv.len() == 1 && argv[0].eq_ignore_ascii_case(w)
}

/// The start-up commands to replay (once), or None when the AOF is off.
pub fn take_start_commands() -> Option<ReplayGroups> {
    if !STATUS.enabled.load(Ordering::Relaxed) {
        return None;
    }
    Some(lock(&START).as_mut().map(|p| std::mem::take(&mut p.commands)).unwrap_or_default())
}

/// After the replay (`aof_load::start`): logs the load, writes the directory this server
/// appends to (base at this instant, one incr file per shard), removes a migrated pre-7.0
/// file, and lets the listeners accept.
pub async fn finish_start() {
    if !STATUS.enabled.load(Ordering::Relaxed) {
        STATUS.ready.store(true, Ordering::Release);
        return;
    }
    let plan = lock(&START).take();
    let mut legacy = None;
    if let Some(plan) = plan {
        if lock(&MANIFEST).is_some() || plan.legacy.is_some() {
            log::notice(&format!(
                "DB loaded from append only file: {:.3} seconds",
                plan.started.elapsed().as_secs_f64()
            ));
        }
        legacy = plan.legacy;
    }
    if let Err(e) = rewrite(true).await {
        log::warning(&format!("Can't open the append-only file directory: {e}"));
        std::process::exit(1);
    }
    if let Some(old) = legacy {
        let _ = off_thread(move || std::fs::remove_file(old)).await;
        log::notice("Successfully migrated an old-style AOF into the AOF directory");
    }
    STATUS.ready.store(true, Ordering::Release);
}

/// Waits (main thread, at start) until [`finish_start`] is done.
pub fn wait_ready() {
    if !STATUS.enabled.load(Ordering::Relaxed) {
        return;
    }
    while !STATUS.ready.load(Ordering::Acquire) {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------------------------------
// Rewrite

/// Writes a new base (the dataset at one cut of every shard), gives every shard a new incr
/// file from that cut on, and switches the manifest. `at_start`: Redis's start-up lines.
pub async fn rewrite(at_start: bool) -> Result<(), String> {
    let config = super::get().shared.read_config(|c| c.clone());
    let nshards = here().nshards;
    let dir = PathBuf::from(&config.dir).join(&config.appenddirname);
    let old = lock(&MANIFEST).clone();
    let base_seq = old.as_ref().and_then(|m| m.base()).map_or(1, |b| b.seq + 1);
    let first_incr = old.as_ref().map_or(1, |m| m.max_incr_seq() + 1);
    let prefix = config.appendfilename.clone();
    let base = base_name(&prefix, base_seq, true);
    let incr_paths: Vec<PathBuf> =
        (0..nshards).map(|i| dir.join(incr_name(&prefix, first_incr + i as u64))).collect();
    // New incr files exist (empty) before any shard switches to them.
    {
        let dir = dir.clone();
        let paths = incr_paths.clone();
        off_thread(move || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            for p in &paths {
                std::fs::File::create(p)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?;
    }
    if at_start {
        log::notice(&format!("Creating AOF base file {base} on server start"));
        for p in &incr_paths {
            log::notice(&format!(
                "Creating AOF incr file {} on server start",
                p.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
            ));
        }
    }
    let g = shard_aof::global(nshards);
    shard_aof::set_parkers(g, here().mesh.borrow().parkers());
    shard_aof::set_policy(g, shard_aof::Fsync::parse(&config.appendfsync));
    let opts = super::persist::encode_options(&config);
    let hold = Held::begin().await;
    let paths = Arc::new(incr_paths.clone());
    let timestamps = config.aof_timestamp_enabled;
    let images = on_all_shards(move |env: &mut Env| {
        let id = env.shard.id;
        let image = snapshot::capture(env, &opts);
        shard_aof::attach(env, id, nshards, paths[id].clone(), timestamps);
        image
    })
    .await;
    shard_aof::set_active(g, true);
    hold.release().await;
    g.incr_bytes.store(0, Ordering::Relaxed);
    let size = super::persist::write_base(images, &config, dir.clone(), base.clone()).await?;
    STATUS.base_size.store(size, Ordering::Relaxed);
    // The new manifest: the new base and incr files; old files are dropped (no history kept).
    let mut entries = vec![ManifestEntry { name: base, seq: base_seq, kind: FileType::Base }];
    for (i, p) in incr_paths.iter().enumerate() {
        entries.push(ManifestEntry {
            name: p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            seq: first_incr + i as u64,
            kind: FileType::Incr,
        });
    }
    let manifest = Manifest { entries };
    let text = manifest.render();
    let manifest_file = dir.join(manifest_name(&config));
    let old_files: Vec<PathBuf> = old
        .as_ref()
        .map(|m| m.entries.iter().map(|e| dir.join(&e.name)).collect())
        .unwrap_or_default();
    let keep: Vec<PathBuf> = manifest.entries.iter().map(|e| dir.join(&e.name)).collect();
    let dir2 = dir.clone();
    off_thread(move || -> std::io::Result<()> {
        let temp = dir2.join(format!(
            "temp-{}",
            manifest_file.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
        ));
        {
            let mut f = std::fs::File::create(&temp)?;
            std::io::Write::write_all(&mut f, text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&temp, &manifest_file)?;
        std::fs::File::open(&dir2)?.sync_all()?;
        for f in old_files {
            if !keep.contains(&f) {
                let _ = std::fs::remove_file(f);
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| format!("Error writing the AOF manifest: {e}"))?;
    *lock(&MANIFEST) = Some(manifest);
    STATUS.enabled.store(true, Ordering::Relaxed);
    Ok(())
}

/// CONFIG SET appendonly / appendfsync: switches the AOF on (a rewrite first, as Redis does,
/// then every shard journals to its new incr file) or off (journals detached, writers end
/// after syncing), and the fsync policy.
pub async fn config_changed() -> Result<(), String> {
    let (on, policy, ts) = super::get()
        .shared
        .read_config(|c| (c.appendonly, c.appendfsync.clone(), c.aof_timestamp_enabled));
    let g = shard_aof::global(here().nshards);
    shard_aof::set_policy(g, shard_aof::Fsync::parse(&policy));
    if shard_aof::is_active() {
        on_all_shards(move |_env: &mut Env| shard_aof::set_timestamps(ts)).await;
    }
    if on && !shard_aof::is_active() {
        if STATUS.rewrite_in_progress.swap(true, Ordering::AcqRel) {
            return Err("Background append only file rewriting already in progress".into());
        }
        log::notice("Background append only file rewriting started");
        let r = rewrite(false).await;
        STATUS.rewrite_in_progress.store(false, Ordering::Release);
        match &r {
            Ok(()) => {
                STATUS.rewrites.fetch_add(1, Ordering::Relaxed);
                log::notice("Background AOF rewrite finished successfully");
            }
            Err(e) => {
                log::warning(&format!("Background AOF rewrite terminated with error: {e}"));
                STATUS.enabled.store(false, Ordering::Relaxed);
            }
        }
        return r;
    }
    if !on && shard_aof::is_active() {
        shard_aof::set_active(g, false);
        STATUS.enabled.store(false, Ordering::Relaxed);
        let handles = on_all_shards(|env: &mut Env| {
            shard_aof::detach(env).map(|h| Arc::new(Mutex::new(Some(h))))
        })
        .await;
        off_thread(move || {
            for h in handles.into_iter().flatten() {
                if let Some(h) = lock(&h).take() {
                    let _ = h.join();
                }
            }
        })
        .await;
        log::notice("AOF disabled");
    }
    Ok(())
}

/// The shutdown's last step for the AOF: every shard's records written and fsynced.
pub async fn final_fsync() -> Result<(), String> {
    if !shard_aof::is_active() {
        return Ok(());
    }
    let flags = on_all_shards(|_env: &mut Env| shard_aof::sync_request()).await;
    for _ in 0..(60 * 1000) {
        if flags.iter().flatten().all(|f| f.load(Ordering::Acquire)) {
            return Ok(());
        }
        crate::rt::sleep_ms(1).await;
    }
    Err("the AOF could not be synced".into())
}

// ---------------------------------------------------------------------------------------
// Commands, INFO, refusals

/// Every second on shard 0: starts a rewrite when the AOF grew past
/// `auto-aof-rewrite-percentage` over its size after the last rewrite (and is at least
/// `auto-aof-rewrite-min-size`), as Redis's serverCron does.
pub async fn cron() {
    loop {
        crate::rt::sleep_ms(1000).await;
        if !shard_aof::is_active() || STATUS.rewrite_in_progress.load(Ordering::Relaxed) {
            continue;
        }
        let (perc, min) = super::get()
            .shared
            .read_config(|c| (c.auto_aof_rewrite_percentage, c.auto_aof_rewrite_min_size));
        let base = STATUS.base_size.load(Ordering::Relaxed).max(1);
        let current =
            base + shard_aof::try_global().map_or(0, |g| g.incr_bytes.load(Ordering::Relaxed));
        if perc == 0 || current < min {
            continue;
        }
        let growth = (current * 100 / base).saturating_sub(100);
        if growth >= perc && !STATUS.rewrite_in_progress.swap(true, Ordering::AcqRel) {
            log::notice(&format!("Starting automatic rewriting of AOF on {growth}% growth"));
            run_rewrite().await;
        }
    }
}

/// A background rewrite (the caller set `rewrite_in_progress`): runs it, counts it, logs
/// Redis's lines and clears the flag.
async fn run_rewrite() {
    log::notice("Background append only file rewriting started");
    STATUS.rewrite_start_ms.store(now_ms(), Ordering::Relaxed);
    let started = std::time::Instant::now();
    match rewrite(false).await {
        Ok(()) => {
            STATUS.rewrites.fetch_add(1, Ordering::Relaxed);
            STATUS.last_rewrite_ok.store(true, Ordering::Relaxed);
            STATUS.rewrite_failures.store(0, Ordering::Relaxed);
            log::notice("Background AOF rewrite terminated with success");
            log::notice("Background AOF rewrite finished successfully");
        }
        Err(e) => {
            STATUS.last_rewrite_ok.store(false, Ordering::Relaxed);
            STATUS.rewrite_failures.fetch_add(1, Ordering::Relaxed);
            log::warning(&format!("Background AOF rewrite terminated with error: {e}"));
        }
    }
    STATUS.last_rewrite_time_s.store(started.elapsed().as_secs() as i64, Ordering::Relaxed);
    STATUS.rewrite_in_progress.store(false, Ordering::Release);
}

/// BGREWRITEAOF.
pub async fn bgrewriteaof() -> Reply {
    if STATUS.rewrite_in_progress.swap(true, Ordering::AcqRel) {
        return Reply::error("ERR Background append only file rewriting already in progress");
    }
    if !STATUS.enabled.load(Ordering::Relaxed) {
        STATUS.rewrite_in_progress.store(false, Ordering::Release);
        return Reply::error(
            "ERR Background append only file rewriting is only available when AOF is enabled",
        );
    }
    crate::rt::exec::spawn(run_rewrite());
    Reply::Status("Background append only file rewriting started".into())
}

/// -MISCONF while the AOF cannot be written (Redis's text for an AOF write error).
pub fn refusal(is_write: bool) -> Option<Reply> {
    if !is_write || !STATUS.enabled.load(Ordering::Relaxed) {
        return None;
    }
    let g = shard_aof::try_global()?;
    if g.write_failed.load(Ordering::Relaxed) {
        let why = lock(&g.write_error).clone();
        return Some(Reply::error(format!("MISCONF Errors writing to the AOF file: {why}")));
    }
    let behind = g.backlog();
    if behind > BACKLOG_LIMIT {
        // The disk does not keep up: the journal's buffers stay bounded by refusing writes
        // until the writers catch up (they are never dropped: that would lose writes).
        return Some(Reply::error(format!(
            "MISCONF Errors writing to the AOF file: the AOF writers are {behind} bytes behind"
        )));
    }
    None
}

/// Journaled bytes not yet written beyond which writes are refused.
const BACKLOG_LIMIT: u64 = 256 << 20;

/// INFO persistence's aof_* lines (Redis 7.0.15's order), replacing the `aof_enabled:0` ones.
pub fn info_fields() -> String {
    let enabled = STATUS.enabled.load(Ordering::Relaxed) && shard_aof::is_active();
    let in_progress = STATUS.rewrite_in_progress.load(Ordering::Relaxed);
    let current = if in_progress {
        (now_ms().saturating_sub(STATUS.rewrite_start_ms.load(Ordering::Relaxed)) / 1000) as i64
    } else {
        -1
    };
    let g = shard_aof::try_global();
    let write_ok = g.is_none_or(|g| !g.write_failed.load(Ordering::Relaxed));
    let mut out = format!(
        "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{current}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\naof_last_write_status:{}\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
        enabled as u8,
        in_progress as u8,
        STATUS.rewrite_scheduled.load(Ordering::Relaxed) as u8,
        STATUS.last_rewrite_time_s.load(Ordering::Relaxed),
        if STATUS.last_rewrite_ok.load(Ordering::Relaxed) { "ok" } else { "err" },
        STATUS.rewrites.load(Ordering::Relaxed),
        STATUS.rewrite_failures.load(Ordering::Relaxed),
        if write_ok { "ok" } else { "err" },
    );
    if enabled {
        let (base, incr) = (
            STATUS.base_size.load(Ordering::Relaxed),
            g.map_or(0, |g| g.incr_bytes.load(Ordering::Relaxed)),
        );
        out.push_str(&format!(
            "aof_current_size:{}\r\naof_base_size:{base}\r\naof_pending_rewrite:0\r\naof_buffer_length:0\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:{}\r\n",
            base + incr,
            g.map_or(0, |g| g.delayed_fsync.load(Ordering::Relaxed)),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mayfly_persistence::aof::encode_command;

    fn file(parts: &[&[&str]], tag: Option<&str>) -> Vec<Command> {
        let mut data = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            if i == 0 {
                if let Some(t) = tag {
                    data.extend_from_slice(t.as_bytes());
                }
            }
            encode_command(p, &mut data);
        }
        parse_commands(&Bytes::from(data)).0
    }

    #[test]
    fn a_transaction_over_shards_is_replayed_only_whole() {
        let tx = |k: &'static str| -> Vec<Command> {
            file(&[&["MULTI"], &["INCR", k], &["EXEC"]], Some("#MF-TX 5 2\r\n"))
        };
        let mut a = tx("a");
        a.extend(file(&[&["SET", "later", "1"]], None));
        let got = assemble(vec![a.clone(), tx("b")]);
        assert_eq!(got.iter().map(|f| f.len()).collect::<Vec<_>>(), vec![4, 3]);
        let got: Vec<Vec<Bytes>> =
            assemble(vec![a, file(&[&["SET", "x", "1"]], None)]).into_iter().flatten().collect();
        assert_eq!(
            got,
            vec![
                vec![Bytes::from_static(b"SET"), "later".into(), "1".into()],
                vec![Bytes::from_static(b"SET"), "x".into(), "1".into()]
            ]
        );
    }
}
