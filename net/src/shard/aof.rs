//! The AOF journal consumer of a shard: records as RESP into a shard-local buffer, handed
//! once per loop turn to the shard's own writer thread, which writes them to the shard's
//! incr file and syncs per `appendfsync`. With `always`, a connection's replies leave only
//! once every shard has made durable everything journaled before them (group commit: one
//! `fdatasync` per writer round covers every record handed over meanwhile).
//!
//! ```text
//!  shard thread: Journal::append ─► Buf (RESP; SELECT on db change; MULTI/EXEC per txid)
//!                loop turn end (turn) ─► Data(chunk) ─► channel ─► aof-writer-N thread:
//!                                                      write(2) … fdatasync ─► durable[N]
//!                                                      ─► eventfd of every shard
//!  conn task:    replies queued ─► wait_durable(): appended[i] ≤ durable[i] for every i
//! ```
//! Counters are logical byte counts (everything ever journaled by a shard), so they go on
//! across incr file switches. The shard never touches the disk: opening, writing and syncing
//! happen on the writer thread.

use std::cell::RefCell;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use mayfly_engine::journal::{Journal, Record};
use mayfly_persistence::aof::encode_command;

use super::env::Env;
use crate::rt::mesh::Parker;

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    Always = 0,
    EverySec = 1,
    No = 2,
}

impl Fsync {
    pub fn parse(s: &str) -> Fsync {
        match s {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::EverySec,
        }
    }
}

/// What every shard and writer thread share.
pub struct Global {
    appended: Vec<CachePadded<AtomicU64>>,
    durable: Vec<CachePadded<AtomicU64>>,
    /// Bumped after any `durable` moved.
    gen: AtomicU64,
    policy: AtomicU8,
    parkers: Mutex<Option<Arc<Vec<Parker>>>>,
    /// The last write failed (INFO aof_last_write_status, -MISCONF).
    pub write_failed: AtomicBool,
    /// The last write error's text (-MISCONF).
    pub write_error: Mutex<String>,
    /// fsyncs that waited past 2 s of an `everysec` one (INFO aof_delayed_fsync).
    pub delayed_fsync: AtomicU64,
    /// Bytes written to the current incr files (INFO aof_current_size, minus the base).
    pub incr_bytes: AtomicU64,
}

static GLOBAL: OnceLock<Global> = OnceLock::new();
/// Journals are attached (the loop-turn hook has work).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// `appendfsync always` with journals attached: replies wait for durability.
static GATE: AtomicBool = AtomicBool::new(false);

/// The shared state for `nshards` (created once).
pub fn global(nshards: usize) -> &'static Global {
    GLOBAL.get_or_init(|| Global {
        appended: (0..nshards).map(|_| CachePadded::new(AtomicU64::new(0))).collect(),
        durable: (0..nshards).map(|_| CachePadded::new(AtomicU64::new(0))).collect(),
        gen: AtomicU64::new(0),
        policy: AtomicU8::new(Fsync::EverySec as u8),
        parkers: Mutex::new(None),
        write_failed: AtomicBool::new(false),
        write_error: Mutex::new(String::new()),
        delayed_fsync: AtomicU64::new(0),
        incr_bytes: AtomicU64::new(0),
    })
}

/// The shared state, if the AOF was ever switched on.
pub fn try_global() -> Option<&'static Global> {
    GLOBAL.get()
}

impl Global {
    fn policy(&self) -> Fsync {
        match self.policy.load(Ordering::Relaxed) {
            0 => Fsync::Always,
            2 => Fsync::No,
            _ => Fsync::EverySec,
        }
    }

    /// Bytes journaled and not yet durable, over all shards.
    pub fn backlog(&self) -> u64 {
        self.appended
            .iter()
            .zip(&self.durable)
            .map(|(a, d)| a.load(Ordering::Relaxed).saturating_sub(d.load(Ordering::Relaxed)))
            .sum()
    }

    fn wake_all(&self) {
        let parkers = self.parkers.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(p) = parkers {
            for parker in p.iter() {
                parker.wake();
            }
        }
    }
}

/// Sets the fsync policy (start-up, CONFIG SET appendfsync). The reply gate follows it.
pub fn set_policy(g: &Global, policy: Fsync) {
    g.policy.store(policy as u8, Ordering::Relaxed);
    GATE.store(ACTIVE.load(Ordering::Relaxed) && policy == Fsync::Always, Ordering::Release);
}

/// Gives the writers the shards' wake-up handles.
pub fn set_parkers(g: &Global, parkers: Arc<Vec<Parker>>) {
    *g.parkers.lock().unwrap_or_else(|p| p.into_inner()) = Some(parkers);
}

/// Marks the journals attached (`on`) or detached.
pub fn set_active(g: &Global, on: bool) {
    ACTIVE.store(on, Ordering::Release);
    GATE.store(on && g.policy() == Fsync::Always, Ordering::Release);
}

pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// True when replies must wait for [`wait_durable`].
#[inline]
pub fn gate_active() -> bool {
    GATE.load(Ordering::Relaxed)
}

/// Waits until every shard made durable everything it had journaled when this was called.
pub async fn wait_durable() {
    let Some(g) = GLOBAL.get() else { return };
    let target: Vec<u64> = g.appended.iter().map(|a| a.load(Ordering::Acquire)).collect();
    std::future::poll_fn(|cx| {
        let done = target.iter().zip(&g.durable).all(|(t, d)| d.load(Ordering::Acquire) >= *t);
        if done || !GATE.load(Ordering::Relaxed) {
            return Poll::Ready(());
        }
        let registered = LOCAL.with(|l| match l.borrow_mut().as_mut() {
            Some(l) => {
                l.waiters.push(cx.waker().clone());
                true
            }
            None => false,
        });
        if registered {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await
}

/// Messages to a writer thread.
enum WriterMsg {
    /// Bytes to append and the shard's logical count at their end.
    Data(Vec<u8>, u64),
    /// Make everything so far durable, then append to this file from now on.
    Switch(PathBuf),
    /// Make everything so far durable, then set the flag.
    Sync(Arc<AtomicBool>),
    /// Make everything so far durable and end.
    Stop,
}

/// The RESP being built on the shard thread.
struct Buf {
    data: Vec<u8>,
    /// Bytes ever journaled by this shard (the logical end of `data`).
    total: u64,
    db: Option<usize>,
    open_tx: u64,
    timestamps: bool,
    last_ts_s: u64,
}

impl Buf {
    fn push(&mut self, argv: &[&[u8]]) {
        let before = self.data.len();
        encode_command(argv, &mut self.data);
        self.total += (self.data.len() - before) as u64;
    }

    fn select(&mut self, db: usize) {
        if self.db != Some(db) {
            let n = itoa::Buffer::new().format(db).as_bytes().to_vec();
            self.push(&[b"SELECT", &n]);
            self.db = Some(db);
        }
    }

    fn close_tx(&mut self) {
        if self.open_tx != 0 {
            self.push(&[b"EXEC"]);
            self.open_tx = 0;
        }
    }

    /// `#MF-SHARD <shard> <shards>` first in an incr file: Mayfly's loader replays the files
    /// of one rewrite side by side (Redis skips `#` lines).
    fn shard_mark(&mut self, shard: usize, nshards: usize) {
        let line = format!("#MF-SHARD {shard} {nshards}\r\n");
        self.data.extend_from_slice(line.as_bytes());
        self.total += line.len() as u64;
    }

    fn annotate_time(&mut self) {
        let now_s = mayfly_engine::clock::unix_time_ms() / 1000;
        if self.timestamps && now_s > self.last_ts_s {
            self.last_ts_s = now_s;
            let line = format!("#TS:{now_s}\r\n");
            self.data.extend_from_slice(line.as_bytes());
            self.total += line.len() as u64;
        }
    }
}

/// The journal attached to a shard while the AOF is on.
struct Sink {
    shard: usize,
    buf: Rc<RefCell<Buf>>,
}

impl Journal for Sink {
    fn append(&mut self, record: Record) {
        let mut b = self.buf.borrow_mut();
        if record.txid != b.open_tx {
            b.close_tx();
            b.annotate_time();
            if record.txid != 0 {
                // SELECT before MULTI, as Redis writes it.
                b.select(record.db);
                if record.shards.len() > 1 {
                    // A part of a transaction over several shards: Mayfly's loader applies
                    // it only when every part is in the files (Redis skips `#` lines).
                    let line = format!("#MF-TX {} {}\r\n", record.txid, record.shards.len());
                    b.data.extend_from_slice(line.as_bytes());
                    b.total += line.len() as u64;
                }
                b.push(&[b"MULTI"]);
                b.open_tx = record.txid;
            }
        } else if record.txid == 0 {
            b.annotate_time();
        }
        b.select(record.db);
        let before = b.data.len();
        encode_command(&record.argv, &mut b.data);
        b.total += (b.data.len() - before) as u64;
        let total = b.total;
        if let Some(g) = GLOBAL.get() {
            g.appended[self.shard].store(total, Ordering::Release);
        }
    }
}

/// The AOF state of the shard thread.
struct Local {
    shard: usize,
    buf: Rc<RefCell<Buf>>,
    tx: Sender<WriterMsg>,
    thread: Option<std::thread::JoinHandle<()>>,
    waiters: Vec<Waker>,
    seen_gen: u64,
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Loop-turn hook (every turn, before the shard may park): closes a transaction left open,
/// hands the turn's records to the writer and wakes connections whose replies became durable.
#[inline]
pub fn turn() {
    if ACTIVE.load(Ordering::Relaxed) {
        turn_slow();
    }
}

fn turn_slow() {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let Some(l) = l.as_mut() else { return };
        hand_over(l);
        if !l.waiters.is_empty() {
            if let Some(g) = GLOBAL.get() {
                let gen = g.gen.load(Ordering::Acquire);
                if gen != l.seen_gen {
                    l.seen_gen = gen;
                    for w in l.waiters.drain(..) {
                        w.wake();
                    }
                }
            }
        }
    });
}

fn hand_over(l: &mut Local) {
    let mut b = l.buf.borrow_mut();
    b.close_tx();
    if b.data.is_empty() {
        return;
    }
    let data = std::mem::replace(&mut b.data, Vec::with_capacity(16 * 1024));
    let total = b.total;
    if let Some(g) = GLOBAL.get() {
        g.appended[l.shard].store(total, Ordering::Release);
    }
    // The writer only goes away at process end; nothing to do if it is gone.
    let _ = l.tx.send(WriterMsg::Data(data, total));
}

/// Attaches the AOF journal to this shard writing to `path` (its new incr file), or switches
/// the attached one to `path` at this instant (a rewrite's cut): everything journaled before
/// goes to the previous file. Runs on the shard thread (a `Job::Run`).
pub fn attach(env: &mut Env, shard: usize, nshards: usize, path: PathBuf, timestamps: bool) {
    let g = global(nshards);
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        if let Some(local) = l.as_mut() {
            hand_over(local);
            let mut b = local.buf.borrow_mut();
            b.db = None;
            b.timestamps = timestamps;
            let _ = local.tx.send(WriterMsg::Switch(path));
            b.shard_mark(shard, nshards);
            return;
        }
        let total = g.appended[shard].load(Ordering::Relaxed);
        g.durable[shard].store(total, Ordering::Release);
        let mut buf = Buf {
            data: Vec::with_capacity(16 * 1024),
            total,
            db: None,
            open_tx: 0,
            timestamps,
            last_ts_s: 0,
        };
        buf.shard_mark(shard, nshards);
        let buf = Rc::new(RefCell::new(buf));
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name(format!("aof-writer-{shard}"))
            .spawn(move || writer(shard, path, rx, total));
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                crate::log::warning(&format!(
                    "could not start the AOF writer of shard {shard}: {e}"
                ));
                g.write_failed.store(true, Ordering::Relaxed);
                None
            }
        };
        env.shard.set_journal(Some(Box::new(Sink { shard, buf: buf.clone() })));
        *l = Some(Local { shard, buf, tx, thread, waiters: Vec::new(), seen_gen: 0 });
    });
}

/// Detaches the journal (CONFIG SET appendonly no): the writer makes what it has durable and
/// ends (joined off the shard thread by the caller's helper, not here).
pub fn detach(env: &mut Env) -> Option<std::thread::JoinHandle<()>> {
    env.shard.set_journal(None);
    LOCAL.with(|l| {
        let mut local = l.borrow_mut().take()?;
        hand_over(&mut local);
        for w in local.waiters.drain(..) {
            w.wake();
        }
        let _ = local.tx.send(WriterMsg::Stop);
        local.thread.take()
    })
}

/// `aof-timestamp-enabled` changed: this shard's next records follow it.
pub fn set_timestamps(on: bool) {
    LOCAL.with(|l| {
        if let Some(local) = l.borrow().as_ref() {
            local.buf.borrow_mut().timestamps = on;
        }
    });
}

/// Hands this shard's records over and asks its writer to sync them (shutdown); the flag
/// is set once done. None when no journal is attached here.
pub fn sync_request() -> Option<Arc<AtomicBool>> {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let local = l.as_mut()?;
        hand_over(local);
        let flag = Arc::new(AtomicBool::new(false));
        local.tx.send(WriterMsg::Sync(flag.clone())).ok()?;
        Some(flag)
    })
}

fn open(path: &PathBuf) -> std::io::Result<File> {
    std::fs::OpenOptions::new().create(true).append(true).open(path)
}

/// The writer thread of one shard.
fn writer(shard: usize, mut path: PathBuf, rx: Receiver<WriterMsg>, start_total: u64) {
    let g = GLOBAL.get().expect("AOF state before its writer");
    let mut file: Option<File> = None;
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_end = start_total;
    let mut written_end = start_total;
    let mut synced_end = start_total;
    let mut last_sync = Instant::now();
    let mut stop = false;
    let mut retry_at: Option<Instant> = None;
    while !stop {
        let wait = match (g.policy(), retry_at) {
            (_, Some(at)) => at.saturating_duration_since(Instant::now()),
            (Fsync::EverySec, _) if written_end > synced_end => {
                Duration::from_secs(1).saturating_sub(last_sync.elapsed())
            }
            _ => Duration::from_secs(1),
        };
        let mut msgs = Vec::new();
        match rx.recv_timeout(wait) {
            Ok(m) => msgs.push(m),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => stop = true,
        }
        while let Ok(m) = rx.try_recv() {
            msgs.push(m);
        }
        retry_at = None;
        for m in msgs {
            match m {
                WriterMsg::Data(d, end) => {
                    if pending.is_empty() {
                        pending = d;
                    } else {
                        pending.extend_from_slice(&d);
                    }
                    pending_end = end;
                }
                WriterMsg::Switch(next) => {
                    // Finish the old file first (synced whatever the policy: the rewrite
                    // drops it from the manifest only after this).
                    if write_pending(g, &mut file, &path, &mut pending).is_ok() {
                        written_end = pending_end;
                        if let Some(f) = &file {
                            let _ = f.sync_data();
                        }
                        synced_end = written_end;
                    }
                    file = None;
                    path = next;
                }
                WriterMsg::Stop => stop = true,
                WriterMsg::Sync(flag) => {
                    if write_pending(g, &mut file, &path, &mut pending).is_ok() {
                        written_end = pending_end;
                        if let Some(f) = &file {
                            if f.sync_data().is_ok() {
                                synced_end = written_end;
                            }
                        }
                    }
                    flag.store(true, Ordering::Release);
                }
            }
        }
        if !pending.is_empty() {
            match write_pending(g, &mut file, &path, &mut pending) {
                Ok(()) => written_end = pending_end,
                Err(e) => {
                    *g.write_error.lock().unwrap_or_else(|p| p.into_inner()) = errno_text(&e);
                    if !g.write_failed.swap(true, Ordering::Relaxed) {
                        crate::log::warning(&format!(
                            "Error writing to the AOF file: {e} (shard {shard}, {})",
                            path.display()
                        ));
                    }
                    if g.policy() == Fsync::Always {
                        crate::log::warning("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
                        std::process::exit(1);
                    }
                    retry_at = Some(Instant::now() + Duration::from_secs(1));
                    continue;
                }
            }
        }
        let sync_now = match g.policy() {
            Fsync::Always => written_end > synced_end,
            Fsync::EverySec => {
                written_end > synced_end && (stop || last_sync.elapsed() >= Duration::from_secs(1))
            }
            Fsync::No => stop && written_end > synced_end,
        };
        if sync_now {
            if let Some(f) = &file {
                let started = Instant::now();
                match f.sync_data() {
                    Ok(()) => synced_end = written_end,
                    Err(e) => {
                        crate::log::warning(&format!(
                            "Can't persist the AOF file: fdatasync: {e} (shard {shard})"
                        ));
                        if g.policy() == Fsync::Always {
                            crate::log::warning("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
                            std::process::exit(1);
                        }
                    }
                }
                if started.elapsed() > Duration::from_secs(2) {
                    g.delayed_fsync.fetch_add(1, Ordering::Relaxed);
                }
                last_sync = Instant::now();
            }
        }
        let durable = if g.policy() == Fsync::Always { synced_end } else { written_end };
        if durable > g.durable[shard].load(Ordering::Relaxed) {
            g.durable[shard].store(durable, Ordering::Release);
            g.gen.fetch_add(1, Ordering::AcqRel);
            if GATE.load(Ordering::Relaxed) {
                g.wake_all();
            }
        }
    }
}

/// The C library's text for an I/O error (what Redis puts after "Errors writing to the
/// AOF file: ").
fn errno_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn write_pending(
    g: &Global,
    file: &mut Option<File>,
    path: &PathBuf,
    pending: &mut Vec<u8>,
) -> std::io::Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    if file.is_none() {
        *file = Some(open(path)?);
    }
    let f = file.as_mut().expect("opened above");
    f.write_all(pending)?;
    g.incr_bytes.fetch_add(pending.len() as u64, Ordering::Relaxed);
    if g.write_failed.swap(false, Ordering::Relaxed) {
        crate::log::warning("AOF write error looks solved, Redis can write again.");
    }
    pending.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use mayfly_engine::journal::ShardSet;

    fn rec(db: usize, txid: u64, argv: &[&str]) -> Record {
        Record {
            lsn: 0,
            db,
            argv: argv.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect(),
            txid,
            shards: ShardSet::new(),
            origin: 0,
            hlc: 0,
        }
    }

    #[test]
    fn records_become_redis_aof_commands() {
        let _ = global(1);
        let buf = Rc::new(RefCell::new(Buf {
            data: Vec::new(),
            total: 0,
            db: None,
            open_tx: 0,
            timestamps: false,
            last_ts_s: 0,
        }));
        let mut sink = Sink { shard: 0, buf: buf.clone() };
        sink.append(rec(0, 0, &["SET", "a", "1"]));
        sink.append(rec(3, 7, &["INCR", "b"]));
        sink.append(rec(3, 7, &["INCR", "c"]));
        sink.append(rec(3, 0, &["DEL", "d"]));
        sink.append(rec(3, 9, &["DEL", "e"]));
        buf.borrow_mut().close_tx();
        let b = buf.borrow();
        let text = String::from_utf8(b.data.clone()).unwrap().replace("\r\n", " ");
        assert_eq!(
            text,
            "*2 $6 SELECT $1 0 *3 $3 SET $1 a $1 1 *2 $6 SELECT $1 3 *1 $5 MULTI *2 $4 INCR $1 b \
             *2 $4 INCR $1 c *1 $4 EXEC *2 $3 DEL $1 d *1 $5 MULTI *2 $3 DEL $1 e *1 $4 EXEC "
        );
        assert_eq!(b.total, b.data.len() as u64);
    }
}
