//! RDB persistence, the server side: loading `dir/dbfilename` at start, SAVE, BGSAVE
//! [SCHEDULE], LASTSAVE, save points, the final save of a shutdown, FLUSHALL's save, DEBUG
//! RELOAD, -MISCONF and -LOADING, and INFO persistence. The byte format is
//! `mayfly-persistence`'s; each shard's part is `shard::snapshot`.
//!
//! ```text
//!  load:  main thread: read file ─► Decoder (validate, drop expired, route key offsets)
//!         each shard thread (init hook): decode its own keys again ─► its keyspace
//!
//!  save:  Held::begin (every shard, one instant) ─► each shard: capture (key records)
//!         ─► release ─► bounded channel ─► rdb-writer thread: header, AUX, SELECTDB +
//!         RESIZEDB (sums) + every shard's records per db, EOF + CRC ─► temp-<pid>.rdb,
//!         fsync, rename to dbfilename, fsync dir ─► done slot, polled by the caller
//! ```
//! Nothing here blocks a shard loop on disk: files are opened, written and synced only on
//! the writer thread (and at start-up, before the shards run).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use mayfly_engine::command::{flags, CommandSpec};
use mayfly_engine::config::Config;
use mayfly_engine::reply::Reply;
use mayfly_persistence::{
    AuxFields, DecodeOptions, Decoder, EncodeOptions, Encoder, EncodingLimits, ErrorKind, Item,
    RdbError, StreamNodeLimits, WriteSink,
};

use crate::coord::multi::Held;
use crate::coord::on_all_shards;
use crate::log;
use crate::shard::env::Env;
use crate::shard::snapshot::{self, KeyRef, ShardImage};
use crate::shard::{ShardRt, Shared};

/// What INFO persistence and the commands report.
struct Status {
    loading: AtomicBool,
    /// Shards that still have to load their part at start.
    loading_shards: AtomicUsize,
    load_start_us: AtomicU64,
    keys_loaded: AtomicU64,
    keys_expired: AtomicU64,
    /// LASTSAVE: unix seconds of the last successful save (start time before any).
    last_save_s: AtomicI64,
    /// Sum of the shards' write counters at the last successful save.
    dirty_at_save: AtomicU64,
    bgsave_in_progress: AtomicBool,
    bgsave_scheduled: AtomicBool,
    bgsave_start_ms: AtomicU64,
    /// The last background save failed (INFO rdb_last_bgsave_status:err, -MISCONF).
    bgsave_failed: AtomicBool,
    last_bgsave_time_s: AtomicI64,
    last_bgsave_try_s: AtomicI64,
    saves: AtomicU64,
}

static STATUS: Status = Status {
    loading: AtomicBool::new(false),
    loading_shards: AtomicUsize::new(0),
    load_start_us: AtomicU64::new(0),
    keys_loaded: AtomicU64::new(0),
    keys_expired: AtomicU64::new(0),
    last_save_s: AtomicI64::new(0),
    dirty_at_save: AtomicU64::new(0),
    bgsave_in_progress: AtomicBool::new(false),
    bgsave_scheduled: AtomicBool::new(false),
    bgsave_start_ms: AtomicU64::new(0),
    bgsave_failed: AtomicBool::new(false),
    last_bgsave_time_s: AtomicI64::new(-1),
    last_bgsave_try_s: AtomicI64::new(0),
    saves: AtomicU64::new(0),
};

fn now_ms() -> u64 {
    mayfly_engine::clock::unix_time_ms()
}

fn now_s() -> i64 {
    (now_ms() / 1000) as i64
}

/// The decoder settings of the configuration.
pub fn decode_options(c: &Config) -> DecodeOptions {
    DecodeOptions {
        limits: EncodingLimits {
            hash_max_listpack_entries: c.hash_max_listpack_entries,
            hash_max_listpack_value: c.hash_max_listpack_value,
            set_max_intset_entries: c.set_max_intset_entries,
            zset_max_listpack_entries: c.zset_max_listpack_entries,
            zset_max_listpack_value: c.zset_max_listpack_value,
            list_max_listpack_size: c.list_max_listpack_size,
        },
        deep_sanitize: false,
        verify_checksum: c.rdbchecksum,
        databases: c.databases as u32,
    }
}

/// The encoder settings of the configuration.
pub fn encode_options(c: &Config) -> EncodeOptions {
    EncodeOptions {
        compression: c.rdbcompression,
        checksum: c.rdbchecksum,
        stream_nodes: StreamNodeLimits {
            max_bytes: c.stream_node_max_bytes.min(usize::MAX as u64) as usize,
            max_entries: c.stream_node_max_entries.min(usize::MAX as u64) as usize,
        },
    }
}

/// The save points of `save` ("" = none): (seconds, changes).
pub fn save_points(save: &str) -> Vec<(i64, u64)> {
    let words: Vec<&str> = save.split_whitespace().collect();
    words
        .chunks(2)
        .filter_map(|p| match p {
            [s, c] => Some((s.parse().ok()?, c.parse().ok()?)),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Loading

/// A validated file and which keys each shard loads.
pub struct LoadPlan {
    pub data: Arc<Vec<u8>>,
    pub per_shard: Vec<Vec<KeyRef>>,
    pub loaded: u64,
    pub expired: u64,
    /// Empty collections skipped (Redis skips and counts them).
    pub empty: u64,
    pub opts: DecodeOptions,
    /// The function libraries' code (FUNCTION2 records).
    pub functions: Vec<Vec<u8>>,
}

impl LoadPlan {
    /// Redis's line once the keys are in (and the figures INFO reports).
    fn done(&self) {
        STATUS.keys_loaded.store(self.loaded, Ordering::Relaxed);
        STATUS.keys_expired.store(self.expired, Ordering::Relaxed);
        let (loaded, expired) = (self.loaded, self.expired);
        if self.empty > 0 {
            log::notice(&format!(
                "Done loading RDB, keys loaded: {loaded}, keys expired: {expired}, empty keys skipped: {}.",
                self.empty
            ));
        } else {
            log::notice(&format!(
                "Done loading RDB, keys loaded: {loaded}, keys expired: {expired}."
            ));
        }
    }
}

/// Reads the whole file once: checks it (every value is decoded and dropped, the checksum
/// checked), drops keys already expired at `now_ms` (as a master does) and routes the rest
/// to their shards by offset. Logs Redis's lines about the file's origin.
pub fn plan_load(
    data: Arc<Vec<u8>>,
    opts: DecodeOptions,
    nshards: usize,
    shard_of: impl Fn(&[u8]) -> usize,
    now_ms: u64,
) -> Result<LoadPlan, RdbError> {
    let mut per_shard: Vec<Vec<KeyRef>> = (0..nshards.max(1)).map(|_| Vec::new()).collect();
    let (mut loaded, mut expired) = (0u64, 0u64);
    let mut functions = Vec::new();
    let empty;
    {
        let mut d = Decoder::new(&data, opts)?;
        while let Some(item) = d.next_item()? {
            match item {
                Item::Aux { key, value } => aux_log(&key, &value, now_ms),
                Item::Function { source } => functions.push(source),
                Item::SelectDb { .. } | Item::ResizeDb { .. } => {}
                Item::Key(k) => {
                    if k.expire_ms.is_some_and(|ms| ms < now_ms as i64) {
                        expired += 1;
                        continue;
                    }
                    let shard = shard_of(&k.key).min(per_shard.len() - 1);
                    per_shard[shard].push(KeyRef {
                        db: k.db,
                        offset: k.offset,
                        expire_ms: k.expire_ms,
                        idle_s: k.idle_s,
                        freq: k.freq,
                    });
                    loaded += 1;
                }
            }
        }
        empty = d.empty_keys_skipped();
    }
    Ok(LoadPlan { data, per_shard, loaded, expired, empty, opts, functions })
}

/// Redis's log lines for the AUX fields it reports while loading.
fn aux_log(key: &[u8], value: &[u8], now_ms: u64) {
    let text = String::from_utf8_lossy(value);
    match key {
        b"redis-ver" => log::notice(&format!("Loading RDB produced by version {text}")),
        b"ctime" => {
            if let Ok(ctime) = text.parse::<i64>() {
                let age = (now_ms / 1000) as i64 - ctime;
                log::notice(&format!("RDB age {} seconds", age.max(0)));
            }
        }
        b"used-mem" => {
            if let Ok(used) = text.parse::<u64>() {
                log::notice(&format!(
                    "RDB memory usage when created {:.2} Mb",
                    used as f64 / (1024.0 * 1024.0)
                ));
            }
        }
        _ => {}
    }
}

/// Logs a refused file as Redis does.
pub fn log_rdb_error(e: &RdbError) {
    let internal = |reason: &str| {
        log::warning(&format!(
            "Internal error in RDB reading offset {}, function at rdb.c:0 -> {reason}",
            e.offset
        ))
    };
    match &e.kind {
        ErrorKind::WrongSignature | ErrorKind::UnsupportedVersion(_) => {
            log::warning(&e.kind.message());
            log::warning("Fatal error loading the DB: Invalid argument. Exiting.");
        }
        ErrorKind::UnexpectedEof => {
            log::warning("Short read or OOM loading DB. Unrecoverable error, aborting now.");
            internal("Unexpected EOF reading RDB file");
        }
        ErrorKind::ChecksumMismatch { computed, stored } => {
            log::warning(&format!(
                "Wrong RDB checksum expected: ({computed:x}) but got ({stored:x}). Aborting now."
            ));
            internal("RDB CRC error");
        }
        ErrorKind::DbOutOfRange { .. } => log::warning(&e.kind.message()),
        _ => internal(&e.kind.message()),
    }
}

/// The plan each shard takes its part of at start (see [`load_on_shard`]).
static PRELOAD: Mutex<Option<Arc<LoadPlan>>> = Mutex::new(None);

/// At start-up, before the shards run: reads `dbfilename` in the working directory (`dir`)
/// if it exists and plans the load. False = the file is refused (logged): the process must
/// exit with status 1.
#[must_use]
pub fn load_at_start(shared: &Shared) -> bool {
    STATUS.last_save_s.store(now_s(), Ordering::Relaxed);
    let (file, opts) = shared.read_config(|c| (c.dbfilename.clone(), decode_options(c)));
    let data = match std::fs::read(&file) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return true,
        Err(e) => {
            log::warning(&format!("Fatal error loading the DB: {e}. Exiting."));
            return false;
        }
    };
    preload(shared, data, opts)
}

/// Plans the start-up load of an RDB image already read (`dbfilename`, or an AOF's base
/// part): each shard takes its keys in its init hook. False = refused (logged).
#[must_use]
pub fn preload(shared: &Shared, data: Vec<u8>, opts: DecodeOptions) -> bool {
    let start = std::time::Instant::now();
    STATUS.load_start_us.store(mayfly_engine::clock::unix_time_us(), Ordering::Relaxed);
    STATUS.loading.store(true, Ordering::Release);
    match plan_load(Arc::new(data), opts, shared.nshards, |k| shared.shard_of(k), now_ms()) {
        Ok(plan) => {
            if let Err(e) = crate::script::functions::load_sources(&plan.functions, true) {
                log::warning(&format!("Failed loading the function libraries of the RDB: {e}"));
                log::warning("Fatal error loading the DB. Exiting.");
                return false;
            }
            STATUS.loading_shards.store(shared.nshards, Ordering::Release);
            *PRELOAD.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(plan));
            LOAD_STARTED.get_or_init(|| start);
            true
        }
        Err(e) => {
            log_rdb_error(&e);
            false
        }
    }
}

static LOAD_STARTED: OnceLock<std::time::Instant> = OnceLock::new();

/// Runs on each shard thread before its loop: loads its keys of the start-up file.
pub fn load_on_shard(rt: &ShardRt) {
    let plan = PRELOAD.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let Some(plan) = plan else { return };
    if let Some(keys) = plan.per_shard.get(rt.id) {
        let (_, failed) = snapshot::load(&mut rt.env.borrow_mut(), &plan.data, keys, &plan.opts);
        if failed > 0 {
            log::warning(&format!(
                "shard {}: {failed} keys of the RDB file could not be loaded",
                rt.id
            ));
        }
    }
    drop(plan);
    if STATUS.loading_shards.fetch_sub(1, Ordering::AcqRel) == 1 {
        if let Some(plan) = PRELOAD.lock().unwrap_or_else(|p| p.into_inner()).take() {
            plan.done();
        }
        let secs = LOAD_STARTED.get().map_or(0.0, |t| t.elapsed().as_secs_f64());
        log::notice(&format!("DB loaded from disk: {secs:.3} seconds"));
        STATUS.loading.store(false, Ordering::Release);
    }
}

/// True while the shards load their part of a start-up file.
pub fn is_loading() -> bool {
    STATUS.loading.load(Ordering::Acquire)
}

/// Waits (at start-up, on the main thread) until every shard loaded its part.
pub fn wait_loaded() {
    for _ in 0..(10 * 60 * 60 * 1000) {
        if !STATUS.loading.load(Ordering::Acquire) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------------------------------
// The writer thread

type DoneSlot = Arc<Mutex<Option<Result<u64, String>>>>;

/// One file to write: every shard's image, joined per database.
struct WriteJob {
    images: Vec<ShardImage>,
    aux: AuxFields,
    /// The function libraries' code (FUNCTION2 records before the databases).
    functions: Vec<Arc<[u8]>>,
    opts: EncodeOptions,
    dir: PathBuf,
    file: String,
    done: DoneSlot,
}

fn writer() -> &'static SyncSender<WriteJob> {
    static WRITER: OnceLock<SyncSender<WriteJob>> = OnceLock::new();
    WRITER.get_or_init(|| {
        let (tx, rx) = sync_channel::<WriteJob>(2);
        let spawned = std::thread::Builder::new().name("rdb-writer".into()).spawn(move || {
            while let Ok(job) = rx.recv() {
                let result = write_file(&job);
                *job.done.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
            }
        });
        if let Err(e) = spawned {
            log::warning(&format!("could not start the RDB writer thread: {e}"));
        }
        tx
    })
}

/// Writes the RDB file of `job`: temp file, fsync, rename, fsync of the directory. On error
/// the previous file is untouched and the temp file removed.
fn write_file(job: &WriteJob) -> Result<u64, String> {
    let temp_name = format!("temp-{}.rdb", std::process::id());
    let temp = job.dir.join(&temp_name);
    let file = std::fs::File::create(&temp).map_err(|e| {
        let msg = format!(
            "Failed opening the temp RDB file {temp_name} (in server root dir {}) for saving: {e}",
            job.dir.display()
        );
        log::warning(&msg);
        msg
    })?;
    let result = (|| -> std::io::Result<u64> {
        let mut enc =
            Encoder::new(WriteSink(std::io::BufWriter::with_capacity(1 << 20, file)), job.opts);
        enc.write_aux_fields(&job.aux)?;
        for f in &job.functions {
            enc.write_function(f)?;
        }
        let databases = job.images.iter().map(|i| i.dbs.len()).max().unwrap_or(0);
        for db in 0..databases {
            let (keys, expires) = job
                .images
                .iter()
                .filter_map(|i| i.dbs.get(db))
                .fold((0u64, 0u64), |(k, e), d| (k + d.keys, e + d.expires));
            if keys == 0 {
                continue;
            }
            enc.select_db(db as u32, keys, expires)?;
            for image in &job.images {
                if let Some(d) = image.dbs.get(db) {
                    for chunk in &d.chunks {
                        enc.write_raw(chunk)?;
                    }
                }
            }
        }
        let written = enc.bytes_written() + 8;
        let WriteSink(buf) = enc.finish()?;
        let file = buf.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, job.dir.join(&job.file))?;
        if let Ok(d) = std::fs::File::open(&job.dir) {
            let _ = d.sync_all();
        }
        Ok(written)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        let msg = format!("Write error saving DB on disk: {e}");
        log::warning(&msg);
        msg
    })
}

// ---------------------------------------------------------------------------------------
// Saving

/// Every shard's image at one instant: all shards are held (no transaction half applied),
/// then each serialises its keyspace. `held`: the caller already holds every shard (a
/// server-level command inside EXEC).
async fn capture(opts: EncodeOptions, held: bool) -> Vec<ShardImage> {
    let hold = if held { None } else { Some(Held::begin().await) };
    let images = on_all_shards(move |env: &mut Env| snapshot::capture(env, &opts)).await;
    if let Some(h) = hold {
        h.release().await;
    }
    images
}

/// Writes `images` to `dir/dbfilename` on the writer thread and waits for it (without
/// blocking the shard: the task sleeps between looks).
async fn write(images: Vec<ShardImage>, config: &Config) -> Result<u64, String> {
    let dir = PathBuf::from(&config.dir);
    submit_write(images, config, dir, config.dbfilename.clone(), false).await
}

/// Writes `images` as an AOF base file (`aof-base` 1) at `dir/file` through the writer
/// thread, like [`write`].
pub(crate) async fn write_base(
    images: Vec<ShardImage>,
    config: &Config,
    dir: PathBuf,
    file: String,
) -> Result<u64, String> {
    submit_write(images, config, dir, file, true).await
}

/// Hands one file to the writer thread (retrying while its queue is full) and waits for the
/// result, sleeping between looks so the shard is never blocked.
async fn submit_write(
    images: Vec<ShardImage>,
    config: &Config,
    dir: PathBuf,
    file: String,
    aof_base: bool,
) -> Result<u64, String> {
    let used = crate::mem::book::allocator_stats().allocated;
    let done: DoneSlot = Arc::new(Mutex::new(None));
    let mut aux = AuxFields::snapshot(now_s(), used);
    aux.aof_base = aof_base;
    let mut job = WriteJob {
        images,
        aux,
        functions: crate::script::functions::sources(),
        opts: encode_options(config),
        dir,
        file,
        done: done.clone(),
    };
    loop {
        match writer().try_send(job) {
            Ok(()) => break,
            Err(TrySendError::Full(j)) => {
                job = j;
                crate::rt::sleep_ms(1).await;
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err("the RDB writer thread is gone".into())
            }
        }
    }
    let mut wait_ms = 1;
    loop {
        if let Some(r) = done.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return r;
        }
        crate::rt::sleep_ms(wait_ms).await;
        wait_ms = (wait_ms * 2).min(20);
    }
}

fn dirty_of(images: &[ShardImage]) -> u64 {
    images.iter().map(|i| i.dirty).sum()
}

/// A blocking save (SAVE, shutdown, FLUSHALL, DEBUG RELOAD): waits for a background save
/// under way, captures and writes. `keep_dirty`: the changes counter is not reset (FLUSHALL).
pub async fn save_now(held: bool, keep_dirty: bool) -> Result<(), String> {
    for _ in 0..(60 * 60 * 1000) {
        if !STATUS.bgsave_in_progress.load(Ordering::Acquire) {
            break;
        }
        crate::rt::sleep_ms(1).await;
    }
    let config = super::get().shared.config();
    let images = capture(encode_options(&config), held).await;
    let dirty = dirty_of(&images);
    write(images, &config).await?;
    log::notice("DB saved on disk");
    if !keep_dirty {
        STATUS.dirty_at_save.store(dirty, Ordering::Relaxed);
    }
    STATUS.last_save_s.store(now_s(), Ordering::Relaxed);
    STATUS.bgsave_failed.store(false, Ordering::Relaxed);
    STATUS.saves.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// SAVE.
pub async fn save_command() -> Reply {
    if STATUS.bgsave_in_progress.load(Ordering::Acquire) {
        return Reply::error("ERR Background save already in progress");
    }
    match save_now(false, false).await {
        Ok(()) => Reply::ok(),
        Err(_) => Reply::error("ERR"),
    }
}

/// LASTSAVE.
pub fn lastsave() -> Reply {
    Reply::Int(STATUS.last_save_s.load(Ordering::Relaxed))
}

/// BGSAVE [SCHEDULE]. `held`: inside EXEC, every shard already held by this client.
pub async fn bgsave_command(argv: &[Bytes], held: bool) -> Reply {
    let schedule = match argv.len() {
        1 => false,
        2 if argv[1].eq_ignore_ascii_case(b"schedule") => true,
        _ => return Reply::error("ERR syntax error"),
    };
    if STATUS.bgsave_in_progress.load(Ordering::Acquire) {
        if schedule {
            STATUS.bgsave_scheduled.store(true, Ordering::Release);
            return Reply::status("Background saving scheduled");
        }
        return Reply::error("ERR Background save already in progress");
    }
    match start_bgsave(held).await {
        Ok(()) => Reply::status("Background saving started"),
        Err(e) => Reply::error(format!("ERR {e}")),
    }
}

/// Starts a background save: the capture is taken now (every shard at one instant); the
/// file is written by the writer thread while the shards go on serving.
async fn start_bgsave(held: bool) -> Result<(), String> {
    if STATUS.bgsave_in_progress.swap(true, Ordering::AcqRel) {
        return Err("Background save already in progress".into());
    }
    STATUS.bgsave_scheduled.store(false, Ordering::Release);
    let start = now_ms();
    STATUS.bgsave_start_ms.store(start, Ordering::Relaxed);
    STATUS.last_bgsave_try_s.store(now_s(), Ordering::Relaxed);
    log::notice(&format!("Background saving started by pid {}", std::process::id()));
    let config = super::get().shared.config();
    let images = capture(encode_options(&config), held).await;
    let dirty = dirty_of(&images);
    crate::rt::exec::spawn(async move {
        let result = write(images, &config).await;
        let took = (now_ms().saturating_sub(start) / 1000) as i64;
        STATUS.last_bgsave_time_s.store(took, Ordering::Relaxed);
        match result {
            Ok(_) => {
                log::notice("DB saved on disk");
                STATUS.dirty_at_save.store(dirty, Ordering::Relaxed);
                STATUS.last_save_s.store(now_s(), Ordering::Relaxed);
                STATUS.bgsave_failed.store(false, Ordering::Relaxed);
                STATUS.saves.fetch_add(1, Ordering::Relaxed);
                log::notice("Background saving terminated with success");
            }
            Err(_) => {
                STATUS.bgsave_failed.store(true, Ordering::Relaxed);
                log::warning("Background saving error");
            }
        }
        STATUS.bgsave_in_progress.store(false, Ordering::Release);
    });
    Ok(())
}

/// The shards' write counters summed.
async fn dirty_now() -> u64 {
    on_all_shards(|env: &mut Env| env.shard.dirty).await.into_iter().sum()
}

/// Save points and scheduled BGSAVEs: runs on shard 0 for the life of the process.
pub async fn cron() {
    loop {
        crate::rt::sleep_ms(100).await;
        if STATUS.loading.load(Ordering::Acquire)
            || STATUS.bgsave_in_progress.load(Ordering::Acquire)
        {
            continue;
        }
        if STATUS.bgsave_scheduled.load(Ordering::Acquire) {
            let _ = start_bgsave(false).await;
            continue;
        }
        let points = super::get().shared.read_config(|c| save_points(&c.save));
        if points.is_empty() {
            continue;
        }
        let now = now_s();
        let elapsed = now - STATUS.last_save_s.load(Ordering::Relaxed);
        if !points.iter().any(|(secs, _)| elapsed >= *secs) {
            continue;
        }
        // After a failed save, retry only every 5 seconds (Redis's CONFIG_BGSAVE_RETRY_DELAY).
        if STATUS.bgsave_failed.load(Ordering::Relaxed)
            && now - STATUS.last_bgsave_try_s.load(Ordering::Relaxed) < 5
        {
            continue;
        }
        let changes =
            dirty_now().await.saturating_sub(STATUS.dirty_at_save.load(Ordering::Relaxed));
        if let Some((secs, need)) =
            points.iter().find(|(secs, need)| changes >= *need && elapsed >= *secs)
        {
            log::notice(&format!("{need} changes in {secs} seconds. Saving..."));
            let _ = start_bgsave(false).await;
        }
    }
}

/// -LOADING while the start-up file loads; -MISCONF while the last background save failed
/// with save points and `stop-writes-on-bgsave-error yes`. None = the command may run.
pub fn refusal(spec: &CommandSpec) -> Option<Reply> {
    if STATUS.loading.load(Ordering::Relaxed) && !spec.has(flags::LOADING) {
        return Some(Reply::error("LOADING Redis is loading the dataset in memory"));
    }
    if STATUS.bgsave_failed.load(Ordering::Relaxed)
        && (spec.has(flags::WRITE) || spec.name == "ping")
        && super::get()
            .shared
            .read_config(|c| c.stop_writes_on_bgsave_error && !save_points(&c.save).is_empty())
    {
        return Some(Reply::error("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error."));
    }
    None
}

/// FLUSHALL's save when save points exist (Redis saves the emptied dataset at once).
pub async fn after_flushall() {
    let points = super::get().shared.read_config(|c| !save_points(&c.save).is_empty());
    if points {
        if let Err(e) = save_now(false, true).await {
            log::warning(&e);
        }
    }
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save, empty, load the file again, all while every
/// shard is held.
pub async fn debug_reload(argv: &[Bytes]) -> Reply {
    let (mut save, mut flush) = (true, true);
    for a in &argv[2..] {
        match a.to_ascii_lowercase().as_slice() {
            b"merge" => {}
            b"noflush" => flush = false,
            b"nosave" => save = false,
            _ => {
                return Reply::error(
                    "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
                )
            }
        }
    }
    let config = super::get().shared.config();
    let held = Held::begin().await;
    let reply = reload_held(&config, save, flush).await;
    held.release().await;
    reply
}

async fn reload_held(config: &Config, save: bool, flush: bool) -> Reply {
    if save {
        if let Err(_e) = save_now(true, false).await {
            return Reply::error("ERR Error trying to save the DB");
        }
    }
    let path = Path::new(&config.dir).join(&config.dbfilename);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => {
            log::warning(&format!("Error loading the RDB file for DEBUG RELOAD: {e}"));
            return Reply::error("ERR Error trying to load the RDB dump, check server logs.");
        }
    };
    let g = super::get().clone();
    let shared = g.shared.clone();
    let plan = match plan_load(
        Arc::new(data),
        decode_options(config),
        shared.nshards,
        |k| shared.shard_of(k),
        now_ms(),
    ) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            log_rdb_error(&e);
            return Reply::error("ERR Error trying to load the RDB dump, check server logs.");
        }
    };
    if let Err(e) = crate::script::functions::load_sources(&plan.functions, flush) {
        log::warning(&format!("Failed loading the function libraries of the RDB: {e}"));
        return Reply::error("ERR Error trying to load the RDB dump, check server logs.");
    }
    if flush {
        on_all_shards(|env: &mut Env| snapshot::flush(env)).await;
    }
    let p = plan.clone();
    on_all_shards(move |env: &mut Env| {
        let id = env.shard.id;
        if let Some(keys) = p.per_shard.get(id) {
            snapshot::load(env, &p.data, keys, &p.opts);
        }
    })
    .await;
    plan.done();
    log::notice("DB reloaded by DEBUG RELOAD");
    Reply::ok()
}

/// At exit: a background save still being written is abandoned and its temp file removed
/// (Redis kills its child and removes the child's temp file).
pub fn abandon_bgsave() {
    if STATUS.bgsave_in_progress.load(Ordering::Acquire) {
        log::warning("There is a child saving an .rdb. Killing it!");
        if let Some(g) = super::try_get() {
            let dir = g.shared.read_config(|c| c.dir.clone());
            let _ = std::fs::remove_file(
                Path::new(&dir).join(format!("temp-{}.rdb", std::process::id())),
            );
        }
    }
}

/// The final save of a shutdown.
pub async fn final_save() -> Result<(), String> {
    log::notice("Saving the final RDB snapshot before exiting.");
    save_now(false, false).await.map_err(|e| format!("Error trying to save the DB: {e}"))
}

/// INFO persistence, Redis 7.0.15's fields in its order.
/// `aof_fields`: the aof_* lines (`aof::info_fields`).
pub fn info_section(dirty: u64, aof_fields: &str) -> String {
    let in_progress = STATUS.bgsave_in_progress.load(Ordering::Relaxed);
    let current = if in_progress {
        (now_ms().saturating_sub(STATUS.bgsave_start_ms.load(Ordering::Relaxed)) / 1000) as i64
    } else {
        -1
    };
    format!(
        "loading:{}\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{current}\r\nrdb_saves:{}\r\nrdb_last_cow_size:0\r\nrdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\n{}",
        STATUS.loading.load(Ordering::Relaxed) as u8,
        dirty.saturating_sub(STATUS.dirty_at_save.load(Ordering::Relaxed)),
        in_progress as u8,
        STATUS.last_save_s.load(Ordering::Relaxed),
        if STATUS.bgsave_failed.load(Ordering::Relaxed) { "err" } else { "ok" },
        STATUS.last_bgsave_time_s.load(Ordering::Relaxed),
        STATUS.saves.load(Ordering::Relaxed),
        STATUS.keys_expired.load(Ordering::Relaxed),
        STATUS.keys_loaded.load(Ordering::Relaxed),
        aof_fields,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_points_parse() {
        assert_eq!(save_points(""), vec![]);
        assert_eq!(save_points("900 1 300 10"), vec![(900, 1), (300, 10)]);
    }
}
