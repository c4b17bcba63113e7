//! A shard's state as the runtime sees it: the engine shard, the key lock table used by
//! multi-shard operations, and jobs waiting for locks.
//!
//! Multi-shard operations take key locks shard by shard in ascending shard order (so two of
//! them can never wait on each other in a cycle), run, and release. Single-shard commands take
//! no locks: they run at once unless one of their keys is locked, in which case they wait in
//! `pending` and are retried, in arrival order, whenever locks are released.
//!
//! Blocked clients (BLPOP & co.) wait here as `Waiter`s on the keys of this shard, queued per
//! key by the kernel receive time of their command's bytes, and are served in that order, as
//! Redis serves them in the order they blocked. Shards read their sockets on their own
//! schedule, so a client's Block can reach the key's shard after a later client's Block or
//! push. With several shards, two barrier rounds make up for it (a round: every other shard
//! answers an empty job, which it only does after reading its sockets and forwarding what
//! they held, so everything that arrived before the round started is here when it ends):
//!
//! ```text
//!   fresh Block ──► held ──round──► run in receive-time order (answer, or park as Waiter)
//!   write feeding waiters ──► lock keys ──round──► serve waiters in order ──► unlock, reply
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use mayfly_engine::db::Entry;
use mayfly_engine::journal::ShardSet;
use mayfly_engine::reply::Reply;
use mayfly_engine::shard::Shard;
use mayfly_engine::table::Key;

use super::stats::ShardStats;

pub type DbKey = (usize, Key);

/// Work sent to a shard.
pub enum Job {
    /// Run one command. `txid` ≠ 0 means it runs inside that transaction's locks. `spec` is
    /// the table entry when the sender already looked it up (saves a second lookup).
    Exec {
        spec: Option<&'static mayfly_engine::command::CommandSpec>,
        db: usize,
        argv: Vec<Bytes>,
        resp3: bool,
        txid: u64,
    },
    /// Run several commands back to back (a single-shard EXEC), atomically; their journal
    /// records carry `txid`.
    Batch { db: usize, cmds: Vec<Vec<Bytes>>, resp3: bool, txid: u64 },
    /// Lock keys for transaction `txid`, which touches `shards`; answered when granted.
    Lock { txid: u64, keys: Vec<DbKey>, exclusive: bool, shards: ShardSet },
    /// Hold the whole shard for transaction `txid` (a MULTI/EXEC with broadcast or
    /// server-level commands): granted when no other lock is held; until its Unlock, only jobs
    /// of `txid` touch this shard's keyspace.
    LockAll { txid: u64, shards: ShardSet },
    /// Release `txid`'s locks (no answer needed, but one is sent for ordering).
    Unlock { txid: u64 },
    /// Copy out the live entries of keys (locked by `txid`). With `make_room` (the commands
    /// may grow memory), first make room under maxmemory as a local write would, answering
    /// the OOM error instead of the entries when that fails.
    Fetch { txid: u64, keys: Vec<DbKey>, make_room: bool },
    /// Write entries back (None deletes), then release `txid`'s locks when `release` (not
    /// inside a transaction that holds the shard and goes on).
    Store { txid: u64, writes: Vec<(DbKey, Option<Entry>)>, release: bool },
    /// Anything else (INFO gathering, CONFIG SET propagation, SCAN steps…).
    Run(Box<dyn FnOnce(&mut Env) -> Out + Send>),
    /// A Lua script (EVAL & co.): reads and writes any key of this shard, so it waits while
    /// any lock is held here, like a transaction of its own (see `crate::script`).
    /// `txid` ≠ 0: run inside that transaction, which holds the whole shard (EVAL in EXEC).
    Script { txid: u64, run: Box<dyn FnOnce(&mut Env) -> Out + Send> },
    /// Run a blocking command; if it finds nothing, park it as a waiter on its keys (all on
    /// this shard) and answer when a write makes it succeed. `stamp` is when the command's
    /// bytes reached the host (see `Receiver::last_rx_ns`), so waiters that reach this shard out of
    /// order are still served in the order they blocked.
    /// `fresh`: just sent by the client's shard; with several shards it is first held until
    /// a barrier round shows every Block read before it has arrived (see `HeldBlock`).
    Block { id: u64, db: usize, argv: Vec<Bytes>, resp3: bool, stamp: u64, fresh: bool },
    /// Withdraw waiter `id`: answers `Out::Reply(Int(1))` when it was still waiting (parked,
    /// or its Block still queued behind a lock), 0 when it had already been served (its reply
    /// is on the way).
    Unblock { id: u64 },
}

impl Job {
    /// The transaction a job belongs to (0 = none).
    pub fn txid(&self) -> u64 {
        match self {
            Job::Exec { txid, .. }
            | Job::Lock { txid, .. }
            | Job::LockAll { txid, .. }
            | Job::Unlock { txid }
            | Job::Fetch { txid, .. }
            | Job::Store { txid, .. }
            | Job::Script { txid, .. } => *txid,
            Job::Batch { .. } | Job::Run(_) | Job::Block { .. } | Job::Unblock { .. } => 0,
        }
    }

    /// Whether the job reads or writes the keyspace or takes locks, and so must wait while
    /// another transaction holds the whole shard. `Run` jobs (INFO, CONFIG, barriers) and
    /// withdrawals do not.
    pub fn touches_keyspace(&self) -> bool {
        !matches!(self, Job::Run(_) | Job::Unblock { .. } | Job::Unlock { .. })
    }
}

/// A client blocked on keys of this shard.
pub struct Waiter {
    pub db: usize,
    pub argv: Vec<Bytes>,
    pub resp3: bool,
    pub reply_to: ReplyTo,
    pub keys: Vec<DbKey>,
    /// When the client's shard read the command (orders the waiters of a key).
    pub stamp: u64,
}

/// True for the reply a blocking command gives when it finds nothing (what it answers on
/// timeout, or inside MULTI).
pub fn is_empty_blocking_reply(r: &Reply) -> bool {
    matches!(r, Reply::Nil | Reply::NilArray)
}

/// What a job produces.
pub enum Out {
    Reply(Reply),
    Replies(Vec<Reply>),
    Entries(Vec<Option<Entry>>),
    Done,
    Any(Box<dyn std::any::Any + Send>),
}

impl Out {
    pub fn into_reply(self) -> Reply {
        match self {
            Out::Reply(r) => r,
            _ => Reply::error("ERR internal: unexpected job result"),
        }
    }
}

#[derive(Default)]
struct LockState {
    shared: u32,
    exclusive: bool,
}

#[derive(Default)]
pub struct LockTable {
    keys: HashMap<DbKey, LockState>,
    held: HashMap<u64, Vec<(DbKey, bool)>>,
    /// The transaction holding the whole shard, if any.
    whole: Option<u64>,
}

impl LockTable {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.whole.is_none()
    }

    /// True when another transaction than `txid` (0 = none) holds the whole shard.
    fn held_by_other(&self, txid: u64) -> bool {
        self.whole.is_some_and(|w| w != txid)
    }

    /// Takes the whole shard for `txid` once no other transaction holds any lock here.
    fn try_lock_whole(&mut self, txid: u64) -> bool {
        if self.held_by_other(txid) {
            return false;
        }
        if self.held.keys().any(|t| *t != txid) {
            return false;
        }
        self.whole = Some(txid);
        self.held.entry(txid).or_default();
        true
    }

    /// True when a lock-free command touching `keys` (writing when `write`) must wait.
    fn blocks(&self, keys: &[DbKey], write: bool) -> bool {
        self.whole.is_some()
            || keys.iter().any(|k| match self.keys.get(k) {
                Some(s) => s.exclusive || (write && s.shared > 0),
                None => false,
            })
    }

    fn try_lock(&mut self, txid: u64, keys: &[DbKey], exclusive: bool) -> bool {
        if self.held_by_other(txid) {
            return false;
        }
        let held = self.held.get(&txid);
        let mine = |k: &DbKey| held.is_some_and(|h| h.iter().any(|(hk, _)| hk == k));
        let free = keys.iter().all(|k| match self.keys.get(k) {
            None => true,
            Some(_) if mine(k) => true,
            Some(s) => !s.exclusive && (!exclusive || s.shared == 0),
        });
        if !free {
            return false;
        }
        let list = self.held.entry(txid).or_default();
        for k in keys {
            let s = self.keys.entry(k.clone()).or_default();
            if exclusive {
                s.exclusive = true;
            } else {
                s.shared += 1;
            }
            list.push((k.clone(), exclusive));
        }
        true
    }

    fn unlock(&mut self, txid: u64) -> bool {
        if self.whole == Some(txid) {
            self.whole = None;
        }
        let Some(list) = self.held.remove(&txid) else { return false };
        for (k, exclusive) in list {
            if let Some(s) = self.keys.get_mut(&k) {
                if exclusive {
                    s.exclusive = false;
                } else {
                    s.shared = s.shared.saturating_sub(1);
                }
                if !s.exclusive && s.shared == 0 {
                    self.keys.remove(&k);
                }
            }
        }
        true
    }
}

/// Where a job's result goes.
#[derive(Clone, Copy, Debug)]
pub enum ReplyTo {
    /// A reply slot on this shard.
    Local(usize),
    /// A reply slot on another shard.
    Remote { shard: usize, token: usize },
}

pub struct Env {
    pub shard: Shard,
    pub locks: LockTable,
    pub pending: VecDeque<(Job, ReplyTo)>,
    pub stats: ShardStats,
    /// WATCHed keys on this shard → the dirty flags of the watching connections.
    pub watches: HashMap<DbKey, Vec<Arc<AtomicBool>>>,
    /// Keys with blocked clients → waiter ids, in the order they blocked.
    pub blocked: HashMap<DbKey, VecDeque<u64>>,
    pub waiters: HashMap<u64, Waiter>,
    /// Replies for served waiters, delivered by the runtime after the job that served them.
    pub deliveries: Vec<(ReplyTo, Out)>,
    /// Written keys that have waiters, to serve after the current job.
    ready_keys: Vec<DbKey>,
    /// Shards in the process; with more than one, serving waits for a barrier (see
    /// `defer_serving`).
    nshards: usize,
    /// Keys whose waiters are served once every other shard has flushed what it read so far,
    /// locked meanwhile under the round's txid.
    serving: HashMap<DbKey, u64>,
    /// Barrier rounds to start (txid, keys), taken by the runtime after each job.
    pub barrier_requests: Vec<(u64, Vec<DbKey>)>,
    /// Keys of waiters parked while a round was running, rechecked when it ends.
    parked_during_serve: Vec<DbKey>,
    /// Fresh Blocks waiting for their barrier round, run in arrival order after it.
    pub held_blocks: Vec<(Job, ReplyTo)>,
    /// A task runs the rounds of `held_blocks`.
    pub held_round_running: bool,
    serve_rounds: u64,
    /// What every shard holds, compared with maxmemory.
    pub memory: Arc<crate::mem::book::MemoryBook>,
    /// The shards each multi-shard transaction holding locks here touches (from its Lock),
    /// stamped on its journal records.
    tx_shards: HashMap<u64, ShardSet>,
    /// Where parked waiters are counted (INFO `blocked_clients`): a client counts as blocked
    /// from when its command found nothing and parked, as in Redis, not while on its way.
    blocked_gauge: Option<Arc<super::shared::Shared>>,
}

/// Keys of one command, as (db, key), for lock checks.
pub fn command_keys(db: usize, argv: &[Bytes]) -> Vec<DbKey> {
    match mayfly_engine::lookup(&argv[0]) {
        Some(spec) => {
            spec.keys_of(argv).into_iter().map(|i| (db, Key::from(&argv[i][..]))).collect()
        }
        None => Vec::new(),
    }
}

fn is_write(argv: &[Bytes]) -> bool {
    mayfly_engine::lookup(&argv[0]).is_some_and(|s| s.has(mayfly_engine::command::flags::WRITE))
}

impl Env {
    pub fn new(shard: Shard) -> Env {
        Env {
            shard,
            locks: LockTable::default(),
            pending: VecDeque::new(),
            stats: ShardStats::default(),
            watches: HashMap::new(),
            blocked: HashMap::new(),
            waiters: HashMap::new(),
            deliveries: Vec::new(),
            ready_keys: Vec::new(),
            nshards: 1,
            serving: HashMap::new(),
            barrier_requests: Vec::new(),
            parked_during_serve: Vec::new(),
            held_blocks: Vec::new(),
            held_round_running: false,
            serve_rounds: 0,
            memory: Arc::new(crate::mem::book::MemoryBook::new(1, false)),
            tx_shards: HashMap::new(),
            blocked_gauge: None,
        }
    }

    pub fn with_memory(mut self, memory: Arc<crate::mem::book::MemoryBook>) -> Env {
        self.memory = memory;
        self
    }

    /// How many shards the process runs (1 by default).
    /// Counts this shard's parked waiters in `shared.blocked_clients`.
    pub fn with_blocked_gauge(mut self, shared: Arc<super::shared::Shared>) -> Env {
        self.blocked_gauge = Some(shared);
        self
    }

    pub fn with_shard_count(mut self, nshards: usize) -> Env {
        self.nshards = nshards.max(1);
        self
    }

    /// Memory counted against this shard's budget (see `MemoryBook`): its own figure when
    /// maxmemory is split across shards, else the process's; published first.
    pub fn used_memory(&self) -> u64 {
        self.memory.publish(self.shard.id);
        if self.memory.split() {
            self.memory.shard_used(self.shard.id)
        } else {
            self.memory.total_used()
        }
    }

    /// Before a command that may grow memory: under maxmemory, make room per the eviction
    /// policy (bounded work), or refuse with Redis's OOM error.
    /// Holds expiry and eviction back while clients are paused (CLIENT PAUSE), and lets them
    /// go again after: one relaxed load when nothing is paused.
    pub fn sync_pause(&mut self) {
        if super::pause::maybe_paused() || self.shard.expiry_paused() {
            self.shard.set_expiry_paused(super::pause::expiry_paused());
        }
    }

    fn make_room(&mut self) -> Result<(), Reply> {
        if self.shard.config.maxmemory == 0 || self.shard.expiry_paused() {
            return Ok(());
        }
        let limit = self.memory.budget(self.shard.config.maxmemory);
        let used = self.used_memory();
        if used <= limit {
            return Ok(());
        }
        self.shard.evict_for_write(used, limit).map_err(Reply::from)?;
        Ok(())
    }

    /// [`Env::make_room`] for the coordinator of a transaction: Err is Redis's OOM reply.
    pub fn check_room(&mut self) -> Result<(), Reply> {
        self.make_room()
    }

    /// Evicts now, as far as one bounded round allows, when over `maxmemory` (CONFIG SET
    /// lowering the limit evicts at once, as in Redis).
    pub fn evict_now(&mut self) {
        let _ = self.make_room();
    }

    /// Writes are logged only while someone watches or blocks, so the hot path pays nothing
    /// otherwise.
    fn update_write_log(&mut self) {
        if self.watches.is_empty() && self.blocked.is_empty() {
            self.shard.write_log = None;
        } else {
            self.shard.write_log.get_or_insert_with(Vec::new);
        }
    }

    fn park_waiter(&mut self, id: u64, waiter: Waiter) {
        for k in &waiter.keys {
            let q = self.blocked.entry(k.clone()).or_default();
            if q.contains(&id) {
                continue;
            }
            // A Block from another shard can arrive after one read later on this shard: queue
            // by read time, not by arrival here, so the first to block is the first served.
            let waiters = &self.waiters;
            let stamp_of = |x: &u64| waiters.get(x).map_or(0, |w| w.stamp);
            let at = q.iter().rposition(|x| stamp_of(x) <= waiter.stamp).map_or(0, |i| i + 1);
            q.insert(at, id);
        }
        if self.waiters.insert(id, waiter).is_none() {
            if let Some(g) = &self.blocked_gauge {
                g.blocked_clients.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.update_write_log();
    }

    fn remove_waiter(&mut self, id: u64) -> Option<Waiter> {
        let w = self.waiters.remove(&id)?;
        if let Some(g) = &self.blocked_gauge {
            g.blocked_clients.fetch_sub(1, Ordering::Relaxed);
        }
        for k in &w.keys {
            if let Some(q) = self.blocked.get_mut(k) {
                q.retain(|x| *x != id);
                if q.is_empty() {
                    self.blocked.remove(k);
                }
            }
        }
        self.update_write_log();
        Some(w)
    }

    /// Takes the keys written since the last call: flags their watchers and queues those with
    /// blocked clients for serving.
    fn drain_write_log(&mut self) {
        let Some(log) = self.shard.write_log.as_mut() else { return };
        if log.is_empty() {
            return;
        }
        let written = std::mem::take(log);
        for key in written {
            if let Some(flags) = self.watches.get(&key) {
                for f in flags {
                    f.store(true, Ordering::SeqCst);
                }
            }
            if self.blocked.contains_key(&key) && !self.ready_keys.contains(&key) {
                self.ready_keys.push(key);
            }
        }
    }

    /// Serves waiters on keys written by the last job, first blocked first served, as Redis's
    /// handleClientsBlockedOnKeys does. Serving may write other keys (BLMOVE), which are then
    /// served in turn. Every attempt either serves a waiter (finitely many) or stops that key,
    /// and keys come back only through new writes by served waiters, so this ends.
    fn serve_blocked(&mut self) {
        while let Some(key) = self.ready_keys.pop() {
            let Some(queue) = self.blocked.get(&key) else { continue };
            let ids: Vec<u64> = queue.iter().copied().collect();
            // List and zset waiters stop at the first one the key cannot serve (nothing is
            // left for the later ones); stream readers are each served on their own.
            let mut pops_done = false;
            for id in ids {
                let Some(w) = self.waiters.get(&id) else { continue };
                let (db, argv, resp3) = (w.db, w.argv.clone(), w.resp3);
                let reply = if super::stream_wait::is_stream_read(&argv) {
                    match super::stream_wait::serve(&mut self.shard, db, resp3, &argv, &key.1) {
                        Some(reply) => {
                            if reply.is_error() {
                                if let Some(spec) = mayfly_engine::lookup(&argv[0]) {
                                    self.stats
                                        .commands
                                        .entry(spec.name)
                                        .or_default()
                                        .failed_calls += 1;
                                }
                            }
                            reply
                        }
                        None => continue,
                    }
                } else {
                    if pops_done {
                        continue;
                    }
                    // As Redis: a key that now holds another type serves nobody (the client
                    // stays blocked); errors about other keys (BLMOVE's destination) are the
                    // answer.
                    let wants_zset = argv[0].len() > 2 && argv[0][..2].eq_ignore_ascii_case(b"bz");
                    let holds_wanted =
                        match self.shard.dbs.get(key.0).and_then(|d| d.table.get(&key.1)) {
                            Some(e) => matches!(
                                (&e.value, wants_zset),
                                (mayfly_engine::value::Value::ZSet(_), true)
                                    | (mayfly_engine::value::Value::List(_), false)
                            ),
                            None => false,
                        };
                    if !holds_wanted {
                        pops_done = true;
                        continue;
                    }
                    let reply = self.exec(db, &argv, resp3);
                    if is_empty_blocking_reply(&reply) {
                        pops_done = true;
                        continue;
                    }
                    reply
                };
                if let Some(w) = self.remove_waiter(id) {
                    self.deliveries.push((w.reply_to, Out::Reply(reply)));
                }
                self.drain_write_log();
            }
        }
    }

    /// After every job: flag watchers of written keys and serve blocked clients they feed.
    pub fn after_job(&mut self) {
        self.drain_write_log();
        if !self.ready_keys.is_empty() {
            if self.nshards > 1 {
                self.defer_serving();
            } else {
                self.serve_blocked();
            }
        }
    }

    /// A write fed keys with waiters, but a client of another shard may have blocked on them
    /// before the write came in, its Block still on the way (a shard reads its sockets on its
    /// own schedule). Redis would serve that client first. So the keys are locked (the
    /// element stays where it is, commands on them wait) and served only after every other
    /// shard answered a barrier: each answers after reading its sockets and sending what
    /// they held, so every Block read before the write is here by then, queued by arrival.
    fn defer_serving(&mut self) {
        let keys = std::mem::take(&mut self.ready_keys);
        self.serve_rounds += 1;
        let txid = (1 << 63) | ((self.shard.id as u64) << 40) | self.serve_rounds;
        let mut round = Vec::new();
        for k in keys {
            if self.serving.contains_key(&k) {
                continue;
            }
            if self.locks.try_lock(txid, std::slice::from_ref(&k), true) {
                self.serving.insert(k.clone(), txid);
                round.push(k);
            } else {
                // Held by a multi-shard transaction: serve now rather than wait on it.
                self.ready_keys.push(k);
            }
        }
        if !round.is_empty() {
            self.barrier_requests.push((txid, round));
        }
        if !self.ready_keys.is_empty() {
            self.serve_blocked();
        }
    }

    /// The barrier of round `txid` is complete: unlock its keys and serve their waiters.
    pub fn finish_serving(&mut self, txid: u64, keys: &[DbKey]) {
        self.locks.unlock(txid);
        for k in keys {
            self.serving.remove(k);
        }
        let mut recheck = std::mem::take(&mut self.parked_during_serve);
        recheck.extend(keys.iter().cloned());
        for k in recheck {
            if self.serving.contains_key(&k) {
                // Another round owns it now; it serves the key when it ends.
                continue;
            }
            if self.blocked.contains_key(&k) && !self.ready_keys.contains(&k) {
                self.ready_keys.push(k);
            }
        }
        self.serve_blocked();
    }

    pub fn watch(&mut self, key: DbKey, flag: Arc<AtomicBool>) {
        self.watches.entry(key).or_default().push(flag);
        self.update_write_log();
    }

    pub fn unwatch(&mut self, key: &DbKey, flag: &Arc<AtomicBool>) {
        if let Some(list) = self.watches.get_mut(key) {
            list.retain(|f| !Arc::ptr_eq(f, flag));
            if list.is_empty() {
                self.watches.remove(key);
            }
        }
        self.update_write_log();
    }

    /// Marks the watchers of every key written since the last call (tick-time expiry).
    pub fn flag_watchers(&mut self) {
        self.after_job();
    }

    fn flag_key(&self, key: &DbKey) {
        if let Some(flags) = self.watches.get(key) {
            for f in flags {
                f.store(true, Ordering::SeqCst);
            }
        }
    }

    /// FLUSHALL/FLUSHDB/SWAPDB change keys without per-key writes: flag watchers of keys that
    /// exist in the affected databases, as Redis does.
    fn flag_flush(&self, argv: &[Bytes], db: usize) {
        if self.watches.is_empty() {
            return;
        }
        let name = argv[0].to_ascii_lowercase();
        let dbs: Vec<usize> = match name.as_slice() {
            b"flushall" => (0..self.shard.dbs.len()).collect(),
            b"flushdb" => vec![db],
            b"swapdb" if argv.len() == 3 => argv[1..]
                .iter()
                .filter_map(|a| std::str::from_utf8(a).ok().and_then(|s| s.parse().ok()))
                .collect(),
            _ => return,
        };
        for key in self.watches.keys() {
            if !dbs.contains(&key.0) {
                continue;
            }
            let exists_here =
                self.shard.dbs.get(key.0).is_some_and(|d| d.table.contains_key(&key.1));
            let exists_swapped = name == b"swapdb"
                && dbs.iter().any(|&d| {
                    d != key.0
                        && self.shard.dbs.get(d).is_some_and(|t| t.table.contains_key(&key.1))
                });
            if exists_here || exists_swapped {
                self.flag_key(key);
            }
        }
    }

    /// The shard set of transaction `txid` (this shard alone when it took no lock here).
    fn tx_shards(&self, txid: u64) -> ShardSet {
        self.tx_shards.get(&txid).cloned().unwrap_or_else(|| ShardSet::from_ids([self.shard.id]))
    }

    /// Releases transaction `txid`'s locks here.
    fn release(&mut self, txid: u64) {
        self.locks.unlock(txid);
        self.tx_shards.remove(&txid);
    }

    /// Runs `job` now if its locks allow; otherwise hands it back.
    pub fn try_run(&mut self, job: Job) -> Result<Out, Job> {
        if self.locks.whole.is_some()
            && job.touches_keyspace()
            && self.locks.held_by_other(job.txid())
        {
            return Err(job);
        }
        match job {
            Job::Exec { spec, db, argv, resp3, txid } => {
                if txid == 0
                    && self.locks.whole.is_none()
                    && !self.locks.is_empty()
                    && self.locks.blocks(&command_keys(db, &argv), is_write(&argv))
                {
                    return Err(Job::Exec { spec, db, argv, resp3, txid });
                }
                if !self.watches.is_empty() {
                    self.flag_flush(&argv, db);
                }
                // One part of a multi-shard operation: its records carry the transaction.
                if txid != 0 {
                    let shards = self.tx_shards(txid);
                    self.shard.begin_tx(txid, shards);
                }
                let reply = match spec {
                    Some(spec) => self.exec_spec(spec, db, &argv, resp3),
                    None => self.exec(db, &argv, resp3),
                };
                if txid != 0 {
                    self.shard.end_tx();
                }
                self.after_job();
                Ok(Out::Reply(reply))
            }
            Job::Batch { db, cmds, resp3, txid } => {
                if !self.locks.is_empty()
                    && cmds.iter().any(|c| self.locks.blocks(&command_keys(db, c), true))
                {
                    return Err(Job::Batch { db, cmds, resp3, txid });
                }
                // Redis refuses a whole EXEC holding a denyoom command when over maxmemory.
                let denyoom = cmds.iter().any(|c| {
                    mayfly_engine::lookup(&c[0])
                        .is_some_and(|s| s.has(mayfly_engine::command::flags::DENYOOM))
                });
                if denyoom {
                    if let Err(oom) = self.make_room() {
                        return Ok(Out::Reply(oom));
                    }
                }
                let mut replies = Vec::with_capacity(cmds.len());
                let mut db = db;
                self.shard.begin_tx(txid, ShardSet::from_ids([self.shard.id]));
                for c in &cmds {
                    if let Some(new_db) = select_in_batch(c, self.shard.dbs.len()) {
                        match new_db {
                            Ok(n) => {
                                db = n;
                                replies.push(Reply::ok());
                            }
                            Err(e) => replies.push(e),
                        }
                        continue;
                    }
                    self.flag_flush(c, db);
                    replies.push(self.exec(db, c, resp3));
                }
                self.shard.end_tx();
                self.after_job();
                Ok(Out::Replies(replies))
            }
            Job::Lock { txid, keys, exclusive, shards } => {
                if self.locks.try_lock(txid, &keys, exclusive) {
                    self.tx_shards.insert(txid, shards);
                    Ok(Out::Done)
                } else {
                    Err(Job::Lock { txid, keys, exclusive, shards })
                }
            }
            Job::LockAll { txid, shards } => {
                if self.locks.try_lock_whole(txid) {
                    self.tx_shards.insert(txid, shards);
                    Ok(Out::Done)
                } else {
                    Err(Job::LockAll { txid, shards })
                }
            }
            Job::Unlock { txid } => {
                self.release(txid);
                Ok(Out::Done)
            }
            Job::Fetch { keys, make_room, .. } => {
                if make_room {
                    if let Err(oom) = self.make_room() {
                        return Ok(Out::Reply(oom));
                    }
                }
                // Expired keys are deleted (and journaled) by the engine's one expiry routine.
                let entries =
                    keys.iter().map(|(db, k)| self.shard.live_entry(*db, k).cloned()).collect();
                Ok(Out::Entries(entries))
            }
            Job::Store { txid, writes, release } => {
                // The engine's write path: WATCH/blocking notes, dirty, and the journal records
                // that recreate each value, all under the transaction's id and shard set.
                let shards = self.tx_shards(txid);
                self.shard.begin_tx(txid, shards);
                for ((db, k), entry) in writes {
                    self.shard.store_entry(db, &k, entry);
                }
                self.shard.end_tx();
                if release {
                    self.release(txid);
                }
                self.after_job();
                Ok(Out::Done)
            }
            Job::Run(f) => {
                let out = f(self);
                self.after_job();
                Ok(out)
            }
            Job::Script { txid, run } => {
                let mine = txid != 0 && self.locks.whole == Some(txid);
                if !self.locks.is_empty() && !mine {
                    return Err(Job::Script { txid, run });
                }
                let out = run(self);
                self.after_job();
                Ok(out)
            }
            Job::Block { id, db, argv, resp3, stamp, fresh } => {
                if fresh && self.nshards > 1 && !super::stream_wait::is_stream_read(&argv) {
                    // Another shard may still be sending a Block its client sent earlier; one
                    // that finds data now would take the element from under it. (Stream
                    // readers take nothing from each other, and XREAD's `$` must resolve
                    // before later writes: they run at once.)
                    return Ok(Out::Any(Box::new(HeldBlock(ParkedMarker {
                        id,
                        db,
                        argv,
                        resp3,
                        stamp,
                    }))));
                }
                if !self.serving.is_empty() {
                    let keys = command_keys(db, &argv);
                    if keys.iter().any(|k| self.serving.contains_key(k)) {
                        // A round is deciding who gets these keys' elements: join the queue
                        // (by arrival) instead of taking one ahead of earlier clients.
                        self.parked_during_serve.extend(keys);
                        return Ok(Out::Any(Box::new(ParkedMarker { id, db, argv, resp3, stamp })));
                    }
                }
                if !self.locks.is_empty() && self.locks.blocks(&command_keys(db, &argv), true) {
                    return Err(Job::Block { id, db, argv, resp3, stamp, fresh });
                }
                let reply = self.exec(db, &argv, resp3);
                if !is_empty_blocking_reply(&reply) {
                    self.after_job();
                    return Ok(Out::Reply(reply));
                }
                // Parked: the answer comes through `deliveries` (served) or Unblock (timeout).
                Ok(Out::Any(Box::new(ParkedMarker { id, db, argv, resp3, stamp })))
            }
            Job::Unblock { id } => {
                if self.remove_waiter(id).is_some() {
                    return Ok(Out::Reply(Reply::Int(1)));
                }
                let is_it = |job: &Job| matches!(job, Job::Block { id: b, .. } if *b == id);
                if let Some(at) = self.held_blocks.iter().position(|(job, _)| is_it(job)) {
                    self.held_blocks.remove(at);
                    return Ok(Out::Reply(Reply::Int(1)));
                }
                // Still queued behind a lock: drop it, or it would park later with nobody
                // left to answer (and hand an element to a client that is gone).
                let before = self.pending.len();
                self.pending
                    .retain(|(job, _)| !matches!(job, Job::Block { id: b, .. } if *b == id));
                Ok(Out::Reply(Reply::Int((self.pending.len() < before) as i64)))
            }
        }
    }

    /// Executes one command on this shard and records its stats.
    pub fn exec(&mut self, db: usize, argv: &[Bytes], resp3: bool) -> Reply {
        let spec = match mayfly_engine::check_command(argv) {
            Ok(spec) => spec,
            Err(reply) => return reply,
        };
        self.exec_spec(spec, db, argv, resp3)
    }

    /// Executes a command whose table entry is known (arity already checked).
    pub fn exec_spec(
        &mut self,
        spec: &'static mayfly_engine::command::CommandSpec,
        db: usize,
        argv: &[Bytes],
        resp3: bool,
    ) -> Reply {
        self.sync_pause();
        if spec.has(mayfly_engine::command::flags::DENYOOM) {
            if let Err(oom) = self.make_room() {
                self.stats.commands.entry(spec.name).or_default().rejected_calls += 1;
                return oom;
            }
        }
        let start = std::time::Instant::now();
        let reply = self.shard.execute_spec(spec, db, argv, resp3);
        let us = start.elapsed().as_micros() as u64;
        self.stats.record(super::stats::stat_name(spec, argv), us, reply.is_error());
        reply
    }

    /// Parks a blocking command that found nothing, replying later to `reply_to`.
    pub fn park(&mut self, marker: ParkedMarker, reply_to: ReplyTo) {
        let argv =
            super::stream_wait::parked_argv(&mut self.shard, marker.db, marker.resp3, marker.argv);
        let keys = command_keys(marker.db, &argv);
        let waiter = Waiter {
            db: marker.db,
            argv,
            resp3: marker.resp3,
            reply_to,
            keys,
            stamp: marker.stamp,
        };
        self.park_waiter(marker.id, waiter);
    }

    /// True after a job that may have released locks; the caller then retries `pending`.
    pub fn releases_locks(job: &Job) -> bool {
        matches!(job, Job::Unlock { .. } | Job::Store { .. })
    }
}

/// `SELECT n` inside a batch: Some(Ok(db)) or Some(Err(reply)); None for other commands.
pub fn select_in_batch(argv: &[Bytes], databases: usize) -> Option<Result<usize, Reply>> {
    if !argv[0].eq_ignore_ascii_case(b"select") || argv.len() != 2 {
        return None;
    }
    Some(parse_db_index(&argv[1], databases))
}

/// A database index argument (SELECT), with Redis's errors (the engine's one parser).
pub fn parse_db_index(arg: &[u8], databases: usize) -> Result<usize, Reply> {
    mayfly_engine::families::keys::parse_db_index_arg(arg, databases)
}

/// A fresh `Job::Block` on a multi-shard server, handed back to the runtime to hold until a
/// barrier round (see `Rt::finish`).
pub struct HeldBlock(pub ParkedMarker);

impl HeldBlock {
    /// The Block to run once the round is over.
    pub fn into_job(self) -> Job {
        let m = self.0;
        Job::Block {
            id: m.id,
            db: m.db,
            argv: m.argv,
            resp3: m.resp3,
            stamp: m.stamp,
            fresh: false,
        }
    }

    pub fn stamp(&self) -> u64 {
        self.0.stamp
    }
}

/// What a `Job::Block` that found nothing hands back to the runtime, which parks it with the
/// reply address it alone knows.
pub struct ParkedMarker {
    pub id: u64,
    pub db: usize,
    pub argv: Vec<Bytes>,
    pub resp3: bool,
    pub stamp: u64,
}

#[cfg(test)]
mod tests {

    #[test]
    fn select_parses_db_indexes_like_redis() {
        assert_eq!(parse_db_index(b"15", 16), Ok(15));
        let err = |t: &str| Err(Reply::error(t.to_string()));
        assert_eq!(parse_db_index(b"16", 16), err("ERR DB index is out of range"));
        assert_eq!(parse_db_index(b"-1", 16), err("ERR DB index is out of range"));
        assert_eq!(parse_db_index(b"abc", 16), err("ERR value is not an integer or out of range"));
        assert_eq!(
            parse_db_index(b"2147483648", 16),
            err("ERR value is out of range, value must between -2147483648 and 2147483647")
        );
    }
    use super::*;
    use mayfly_engine::clock::Clock;
    use mayfly_engine::config::Config;

    fn env(nshards: usize) -> Env {
        Env::new(Shard::new(0, Config::default(), Clock::Manual(1_000))).with_shard_count(nshards)
    }

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    fn exec(env: &mut Env, words: &[&str]) -> Result<Out, Job> {
        env.try_run(Job::Exec { spec: None, db: 0, argv: args(words), resp3: false, txid: 0 })
    }

    /// Runs a Block as the runtime would: parks it (with reply slot `token`) when it finds
    /// nothing, and hands back a held one.
    fn block(
        env: &mut Env,
        id: u64,
        stamp: u64,
        fresh: bool,
        words: &[&str],
    ) -> Option<Box<HeldBlock>> {
        let job = Job::Block { id, db: 0, argv: args(words), resp3: false, stamp, fresh };
        match env.try_run(job) {
            Ok(Out::Any(b)) if b.is::<ParkedMarker>() => {
                let marker = b.downcast::<ParkedMarker>().expect("checked");
                env.park(*marker, ReplyTo::Local(id as usize));
                None
            }
            Ok(Out::Any(b)) if b.is::<HeldBlock>() => Some(b.downcast().expect("checked")),
            Ok(Out::Reply(r)) => panic!("answered at once: {r:?}"),
            _ => panic!("unexpected outcome"),
        }
    }

    /// Served waiters as (reply slot, reply).
    fn served(env: &mut Env) -> Vec<(usize, Reply)> {
        std::mem::take(&mut env.deliveries)
            .into_iter()
            .map(|(to, out)| match (to, out) {
                (ReplyTo::Local(t), Out::Reply(r)) => (t, r),
                _ => panic!("unexpected delivery"),
            })
            .collect()
    }

    fn pair(key: &str, value: &str) -> Reply {
        Reply::Array(vec![Reply::bulk_str(key), Reply::bulk_str(value)])
    }

    #[test]
    fn waiters_are_served_in_arrival_order_whatever_order_they_parked_in() {
        let mut env = env(1);
        // Client 2's bytes came in first, but its Block reached this shard last.
        block(&mut env, 1, 300, false, &["blpop", "k", "0"]);
        block(&mut env, 3, 500, false, &["blpop", "k", "0"]);
        block(&mut env, 2, 100, false, &["blpop", "k", "0"]);
        assert!(exec(&mut env, &["rpush", "k", "a", "b", "c"]).is_ok());
        assert_eq!(
            served(&mut env),
            vec![(2, pair("k", "a")), (1, pair("k", "b")), (3, pair("k", "c"))]
        );
        assert!(env.waiters.is_empty() && env.blocked.is_empty());
    }

    #[test]
    fn a_wrongtype_destination_answers_its_client_and_the_element_goes_on() {
        let mut env = env(1);
        assert!(exec(&mut env, &["set", "bad", "x"]).is_ok());
        block(&mut env, 1, 1, false, &["brpoplpush", "src", "bad", "0"]);
        block(&mut env, 2, 2, false, &["brpoplpush", "src", "good", "0"]);
        assert!(exec(&mut env, &["lpush", "src", "e"]).is_ok());
        let got = served(&mut env);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, 1);
        assert!(got[0].1.is_error(), "{:?}", got[0].1);
        assert_eq!(got[1], (2, Reply::bulk_str("e")));
    }

    #[test]
    fn unblock_withdraws_a_block_still_queued_behind_a_lock() {
        let mut env = env(1);
        let key: DbKey = (0, Key::from(&b"k"[..]));
        assert!(env
            .try_run(Job::Lock {
                txid: 7,
                keys: vec![key],
                exclusive: true,
                shards: ShardSet::from_ids([0])
            })
            .is_ok());
        let job = Job::Block {
            id: 9,
            db: 0,
            argv: args(&["blpop", "k", "0"]),
            resp3: false,
            stamp: 1,
            fresh: false,
        };
        let Err(job) = env.try_run(job) else { panic!("a locked key makes the Block wait") };
        env.pending.push_back((job, ReplyTo::Local(0)));
        assert!(matches!(env.try_run(Job::Unblock { id: 9 }), Ok(Out::Reply(Reply::Int(1)))));
        assert!(env.pending.is_empty(), "the withdrawn Block would park with nobody to answer");
        // Not waiting anywhere any more: a second withdraw says it is gone.
        assert!(matches!(env.try_run(Job::Unblock { id: 9 }), Ok(Out::Reply(Reply::Int(0)))));
    }

    #[test]
    fn with_several_shards_a_fresh_block_is_held_and_can_be_withdrawn() {
        let mut env = env(2);
        let held = block(&mut env, 4, 10, true, &["blpop", "k", "0"]).expect("held");
        assert_eq!(held.stamp(), 10);
        env.held_blocks.push((held.into_job(), ReplyTo::Local(4)));
        assert!(matches!(env.try_run(Job::Unblock { id: 4 }), Ok(Out::Reply(Reply::Int(1)))));
        assert!(env.held_blocks.is_empty());
    }

    #[test]
    fn with_several_shards_a_write_feeding_waiters_locks_the_key_until_the_round_ends() {
        let mut env = env(2);
        block(&mut env, 1, 1, false, &["blpop", "k", "0"]);
        assert!(exec(&mut env, &["rpush", "k", "a", "b"]).is_ok());
        assert!(served(&mut env).is_empty(), "nobody is served before the barrier");
        let rounds = std::mem::take(&mut env.barrier_requests);
        assert_eq!(rounds.len(), 1);
        // Meanwhile the key is off limits: other commands wait, a late Block joins the queue.
        assert!(exec(&mut env, &["lpop", "k"]).is_err());
        block(&mut env, 2, 0, false, &["blpop", "k", "0"]);
        let (txid, keys) = &rounds[0];
        env.finish_serving(*txid, keys);
        // The late Block's bytes came in first (stamp 0), so it is first in line.
        assert_eq!(served(&mut env), vec![(2, pair("k", "a")), (1, pair("k", "b"))]);
        assert!(exec(&mut env, &["llen", "k"]).is_ok());
    }
}
