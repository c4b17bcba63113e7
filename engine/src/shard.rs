//! A shard's data, its one write path, and the context command implementations run in.
//!
//! ```text
//!  Shard ──┬─ dbs[0..16]: Db (table of Entry)
//!          ├─ clock (system, or manual in tests)
//!          ├─ config (this shard's copy; CONFIG SET updates every shard)
//!          ├─ stats (expired_keys, keyspace_hits, …; INFO sums shards)
//!          └─ journal (sink, LSN, HLC, open transaction: see `journal`)
//!  Ctx { shard, db, now_ms, resp3, propagation }  ← what a command handler sees
//! ```
//! Time is read once per command (`now_ms`), as Redis caches `mstime` per command, so a
//! command sees one consistent instant.
//!
//! # The write path
//! Every change of a keyspace has four effects, and each kind of change has one routine that
//! makes them all:
//!
//! ```text
//!  change (routine)                       dirty  write_log  event        journal
//!  ─────────────────────────────────────  ─────  ─────────  ───────────  ─────────────────────
//!  command handler (Ctx::set_value,        +1      yes      ctx.notify   its argv, or the form
//!   remove, note_write)                                     by handler   it declared, if dirty
//!                                                                        went up (call.rs)
//!  lazy and active expiry, SET over an      –      yes      expired      DEL | UNLINK
//!   expired key, the net layer's fetch
//!   (Shard::expire_if_needed, live_entry)
//!  eviction (Shard::evict_key)              –      yes      evicted      DEL | UNLINK
//!  gathered store (Shard::store_entry)     +1      yes      by scratch   DEL + the commands
//!                                                                        that recreate it
//!  FLUSHDB, FLUSHALL, SWAPDB (flush_db,    +n      yes      –            the command
//!   flush_all, swap_dbs)
//!
//!  records of one operation (a command with the lazy deletions it caused; one store_entry)
//!    ──► JournalState: LSN +1 each, HLC; txid + shards of begin_tx, else a local txid if >1
//!    ──► Box<dyn Journal>::append               (none of this runs without a journal)
//! ```
//! Expiry and eviction do not count in `dirty`, as in Redis (`rdb_changes_since_last_save`).
//! DEL or UNLINK follows `lazyfree-lazy-expire` / `lazyfree-lazy-eviction`, as Redis's
//! `propagateDeletion`.
//!
//! # Writing a command family
//! A handler changes the keyspace only through `Ctx`: `set_value` / `remove` for whole
//! values, or `lookup_write` then an in-place edit followed by `note_write(key)`; and raises its
//! keyspace event with `ctx.notify`. It is journaled as its own argv whenever `dirty` went up.
//! When replaying that argv could do something else, it declares the deterministic form:
//! - `ctx.propagate_as(|| argv)`: record this instead (relative expiry → absolute `PXAT` /
//!   `PEXPIREAT`, a blocking pop → the pop that happened, a random pick → what was picked);
//!   called again it adds one more record (SPOP's one SREM per member);
//! - `ctx.also_propagate(|| argv)`: record this now, in addition (rare);
//! - `ctx.prevent_propagation()`: no record (the effect was journaled another way).
//!
//! The closures run only when a journal is attached, so the hot path builds nothing. Randomness
//! comes from `Shard::rng` only, and whatever it decided is written into the record.

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::clock::Clock;
use crate::config::Config;
use crate::db::{Db, Entry};
use crate::error::{OpError, OpResult};
use crate::journal::{word, Journal, JournalState, ShardSet};
use crate::table::Key;
use crate::value::{StrValue, Value};

/// Counters summed over shards for INFO stats.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub expired_keys: u64,
    pub evicted_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_time_cap_reached_count: u64,
    /// Keyspace events dropped because the pending buffer was full (see `notify`).
    pub notifications_dropped: u64,
}

pub struct Shard {
    pub id: usize,
    pub dbs: Vec<Db>,
    pub clock: Clock,
    pub config: Config,
    pub stats: Stats,
    /// The only source of randomness for commands (SPOP, SRANDMEMBER, eviction sampling, LFU).
    pub rng: SmallRng,
    /// Number of writes since start (Redis's `dirty`), for propagation and INFO.
    pub dirty: u64,
    /// When set, every written key is recorded here (gather execution, WATCH).
    pub write_log: Option<Vec<(usize, Key)>>,
    /// Evicted large values waiting to be freed by the tick (see `evict::defer_free`).
    pub lazy_free: Vec<Entry>,
    /// Eviction pool and S3-FIFO queues (see `evict.rs`).
    pub evict: crate::evict::EvictState,
    /// Keyspace notifications recorded since the net layer last took them.
    pub events: Vec<crate::notify::Event>,
    /// The journal seam: attached sink, LSN, HLC, open transaction.
    pub(crate) journal: JournalState,
    /// Clients are paused (CLIENT PAUSE): see [`Shard::set_expiry_paused`].
    expiry_paused: bool,
    /// Keys that expired while paused, whose expiry is counted, notified and propagated once
    /// the pause ends.
    paused_expired: Vec<(usize, Key)>,
}

/// Keys whose expiry effects are held back during a pause; past this they take effect at once.
const MAX_PAUSED_EXPIRED: usize = 65_536;

impl Shard {
    pub fn new(id: usize, config: Config, clock: Clock) -> Shard {
        let dbs = (0..config.databases.max(1)).map(|_| Db::default()).collect();
        Shard {
            id,
            dbs,
            clock,
            config,
            stats: Stats::default(),
            rng: SmallRng::from_entropy(),
            dirty: 0,
            write_log: None,
            lazy_free: Vec::new(),
            evict: crate::evict::EvictState::default(),
            events: Vec::new(),
            journal: JournalState::default(),
            expiry_paused: false,
            paused_expired: Vec::new(),
        }
    }

    /// While clients are paused, Redis neither expires nor evicts keys, so nothing is
    /// propagated or counted: the active expiry cycle stops, and a key found expired on access
    /// is hidden (dropped from the table) but its expiry is counted, notified and propagated
    /// only when the pause ends (here, on the first call with `false`).
    pub fn set_expiry_paused(&mut self, paused: bool) {
        if self.expiry_paused == paused {
            return;
        }
        self.expiry_paused = paused;
        if !paused {
            for (db, key) in std::mem::take(&mut self.paused_expired) {
                self.on_expired(db, &key);
            }
        }
    }

    pub fn expiry_paused(&self) -> bool {
        self.expiry_paused
    }

    pub fn ctx(&mut self, db: usize, resp3: bool) -> Ctx<'_> {
        let now_ms = self.clock.now_ms();
        Ctx { shard: self, db, now_ms, resp3, propagation: Propagation::AsIs }
    }

    /// Total keys over all databases.
    pub fn key_count(&self) -> usize {
        self.dbs.iter().map(Db::len).sum()
    }

    /// One step of active expiry: samples keys with a TTL and deletes the expired ones,
    /// visiting at most `budget` entries in total. Returns how many keys were deleted.
    pub fn active_expire(&mut self, budget: usize) -> usize {
        if self.expiry_paused {
            return 0;
        }
        let now = self.clock.now_ms();
        let mut removed = 0;
        let mut visited = 0;
        for db_index in 0..self.dbs.len() {
            if visited >= budget {
                break;
            }
            let db = &mut self.dbs[db_index];
            if db.expires == 0 {
                continue;
            }
            let mut expired: Vec<Key> = Vec::new();
            let mut cursor = db.expire_cursor;
            let mut ttl_sum = 0u64;
            let mut ttl_n = 0u64;
            // Several table scan steps, each bounded, until this db's share of the budget is used.
            let share = (budget - visited).max(16);
            let mut seen = 0;
            loop {
                // Large steps (about a segment) keep scan cost per key low; never past the share.
                let step = share.saturating_sub(seen).clamp(16, 1024);
                cursor = db.table.scan(cursor, step, |k, e| {
                    seen += 1;
                    if e.expire_at_ms != 0 {
                        if e.expire_at_ms <= now {
                            expired.push(k.into());
                        } else {
                            ttl_sum += e.expire_at_ms - now;
                            ttl_n += 1;
                        }
                    }
                });
                if cursor == 0 || seen >= share {
                    break;
                }
            }
            db.expire_cursor = cursor;
            if let Some(avg) = ttl_sum.checked_div(ttl_n) {
                // Running average as Redis does: weighted towards the old value.
                db.avg_ttl_ms =
                    if db.avg_ttl_ms == 0 { avg } else { (db.avg_ttl_ms / 50) * 49 + avg / 50 };
            }
            visited += seen;
            for k in expired {
                removed += self.expire_if_needed(db_index, &k, now) as usize;
            }
        }
        removed
    }

    /// Records a keyspace event when its class is enabled (Redis's `notifyKeyspaceEvent`).
    /// Disabled classes cost one branch, the common case.
    #[inline]
    pub fn notify(&mut self, db: usize, class: u32, event: &'static str, key: &[u8]) {
        let flags = self.config.notify_keyspace_events;
        if flags & class != 0 {
            record_event(&mut self.events, &mut self.stats, flags, db, event, key);
        }
    }

    /// Takes the events recorded since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<crate::notify::Event> {
        std::mem::take(&mut self.events)
    }

    /// Redis's 24-bit LRU clock (seconds).
    pub fn lru_clock(&self) -> u32 {
        ((self.clock.now_ms() / 1000) & ((1 << 24) - 1)) as u32
    }
}

// ---------------------------------------------------------------------------------------------
// The write path (see the module doc).

impl Shard {
    /// Attaches a journal (None detaches); returns the previous one. LSNs and the HLC go on
    /// from where they were.
    pub fn set_journal(&mut self, journal: Option<Box<dyn Journal>>) -> Option<Box<dyn Journal>> {
        self.journal.set_sink(journal)
    }

    /// True when a journal is attached.
    #[inline]
    pub fn journaling(&self) -> bool {
        self.journal.is_on()
    }

    /// The LSN this shard's next record will carry (1 before the first).
    pub fn next_lsn(&self) -> u64 {
        self.journal.next_lsn()
    }

    /// Opens transaction `txid` over `shards`: every record made until [`Shard::end_tx`]
    /// carries them. The net layer calls it around one shard's part of a cross-shard command,
    /// a single-shard EXEC batch and a gathered store.
    pub fn begin_tx(&mut self, txid: u64, shards: ShardSet) {
        self.journal.begin_tx(txid, shards);
    }

    pub fn end_tx(&mut self) {
        self.journal.end_tx();
    }

    /// Opens an operation whose records are handed over together (see `journal`); pair with
    /// [`Shard::end_op`]. `execute` and `store_entry` do it themselves.
    pub fn begin_op(&mut self) {
        self.journal.begin_group();
    }

    pub fn end_op(&mut self) {
        self.journal.end_group(self.id);
    }

    /// Appends one record, built only when a journal is attached: the one place records are
    /// made.
    #[inline]
    pub fn propagate(&mut self, db: usize, argv: impl FnOnce() -> Vec<Bytes>) {
        if self.journal.is_on() {
            let now_ms = self.clock.now_ms();
            self.journal.append(db, argv(), now_ms);
        }
    }

    /// Counts one change of `key` (Redis's `server.dirty++`) and notes it for WATCH and
    /// blocked clients (`signalModifiedKey`).
    #[inline]
    pub fn note_write(&mut self, db: usize, key: &[u8]) {
        self.dirty += 1;
        self.note_key(db, key);
    }

    /// Notes `key` for WATCH and blocked clients without counting a change (a command that
    /// changes several keys counts once, as Redis counts RENAME or MOVE).
    #[inline]
    pub fn note_key(&mut self, db: usize, key: &[u8]) {
        if let Some(log) = &mut self.write_log {
            log.push((db, key.into()));
        }
    }

    /// Deletes `key` from `db` if it has expired at `now_ms`; true when it did. The one
    /// expiry-deletion routine: lookups, the active cycle and the net layer's fetch all use it.
    pub fn expire_if_needed(&mut self, db: usize, key: &[u8], now_ms: u64) -> bool {
        let d = &mut self.dbs[db];
        if !matches!(d.table.get(key), Some(e) if e.is_expired(now_ms)) {
            return false;
        }
        d.remove(key);
        if self.expiry_paused && self.paused_expired.len() < MAX_PAUSED_EXPIRED {
            self.paused_expired.push((db, key.into()));
        } else {
            self.on_expired(db, key);
        }
        true
    }

    /// The effects of `key` expiring (already gone from, or replaced in, the table): Redis's
    /// `deleteExpiredKeyAndPropagate`. Not counted in `dirty`.
    fn on_expired(&mut self, db: usize, key: &[u8]) {
        self.stats.expired_keys += 1;
        self.notify(db, crate::notify::class::EXPIRED, "expired", key);
        self.note_key(db, key);
        let unlink = self.config.lazyfree_lazy_expire;
        self.propagate(db, || deletion(unlink, key));
    }

    /// The entry at `key` if it is live, expiring it first when its time has passed (for the
    /// net layer's gather fetch, which clones it).
    pub fn live_entry(&mut self, db: usize, key: &[u8]) -> Option<&Entry> {
        let now = self.clock.now_ms();
        self.expire_if_needed(db, key, now);
        self.dbs[db].table.get(key)
    }

    /// Evicts `key` from `db` for maxmemory; returns the bytes this is estimated to free, or
    /// None when the key is not there. The one eviction routine (Redis's `performEvictions`
    /// per key): counts, raises `evicted`, notes the key, journals the deletion, and leaves
    /// large values to the tick's lazy free. Not counted in `dirty`.
    pub fn evict_key(&mut self, db: usize, key: &[u8]) -> Option<u64> {
        let (k, e) = self.dbs[db].remove(key)?;
        let freed = crate::evict::approx_entry_bytes(k.len(), &e);
        self.stats.evicted_keys += 1;
        self.notify(db, crate::notify::class::EVICTED, "evicted", &k);
        let unlink = self.config.lazyfree_lazy_eviction;
        self.propagate(db, || deletion(unlink, &k));
        if let Some(log) = &mut self.write_log {
            log.push((db, k));
        }
        self.defer_free(e);
        Some(freed)
    }

    /// Writes a whole entry (None deletes) for the net layer's gathered commands, which ran on
    /// a scratch shard: applies it, notes the key, counts one change and journals `DEL key`
    /// then the commands that recreate the value (see `rewrite`). An entry whose expiry has
    /// passed is a deletion. Keyspace events are not raised here: the scratch run raised the
    /// command's own. Storing nothing over nothing changes nothing and records nothing.
    pub fn store_entry(&mut self, db: usize, key: &[u8], entry: Option<Entry>) {
        let now = self.clock.now_ms();
        let entry = entry.filter(|e| !e.is_expired(now));
        let stores = entry.is_some();
        let old = match entry {
            Some(e) => self.dbs[db].insert(key.into(), e),
            None => self.dbs[db].remove(key).map(|(_, e)| e),
        };
        let existed = old.is_some();
        if !existed && !stores {
            return;
        }
        if stores && self.config.maxmemory_policy == crate::config::EvictionPolicy::AllKeysS3Fifo {
            self.s3fifo_on_insert(db, key, old.as_ref().map(|e| e.lru));
        }
        self.note_write(db, key);
        if self.journal.is_on() {
            self.begin_op();
            if existed {
                self.propagate(db, || vec![word("DEL"), Bytes::copy_from_slice(key)]);
            }
            if stores {
                let (dbs, config, journal) = (&self.dbs, &self.config, &mut self.journal);
                if let Some(e) = dbs[db].table.get(key) {
                    crate::rewrite::entry_to_commands(key, e, config, |argv| {
                        journal.append(db, argv, now)
                    });
                }
            }
            self.end_op();
        }
        if let Some(old) = old {
            self.defer_free(old);
        }
    }

    /// Empties database `db` (FLUSHDB): notes every key, counts one change per key and
    /// journals `FLUSHDB` (always, as Redis forces its propagation). Returns the keys removed.
    pub fn flush_db(&mut self, db: usize) -> u64 {
        let removed = self.clear_db(db);
        self.dirty += removed;
        self.propagate(db, || vec![word("FLUSHDB")]);
        removed
    }

    /// Empties every database (FLUSHALL): counts one change per key plus one, and journals
    /// `FLUSHALL` (always) in database 0.
    pub fn flush_all(&mut self) -> u64 {
        let removed: u64 = (0..self.dbs.len()).map(|db| self.clear_db(db)).sum();
        self.dirty += removed + 1;
        self.propagate(0, || vec![word("FLUSHALL")]);
        removed
    }

    fn clear_db(&mut self, db: usize) -> u64 {
        let removed = self.dbs[db].len() as u64;
        if let Some(log) = &mut self.write_log {
            log.extend(self.dbs[db].table.iter().map(|(k, _)| (db, k.into())));
        }
        self.dbs[db].clear();
        removed
    }

    /// Swaps two databases (SWAPDB): every key of either changes in both; one change counted,
    /// `SWAPDB first second` journaled.
    pub fn swap_dbs(&mut self, first: usize, second: usize) {
        if first != second {
            if let Some(log) = &mut self.write_log {
                for source in [first, second] {
                    for (k, _) in self.dbs[source].table.iter() {
                        log.push((first, k.into()));
                        log.push((second, k.into()));
                    }
                }
            }
            self.dbs.swap(first, second);
        }
        self.dirty += 1;
        self.propagate(first, || {
            vec![word("SWAPDB"), crate::journal::num_arg(first), crate::journal::num_arg(second)]
        });
    }
}

/// `DEL key`, or `UNLINK key` when the matching lazyfree option is on (Redis's
/// `propagateDeletion`).
fn deletion(unlink: bool, key: &[u8]) -> Vec<Bytes> {
    vec![word(if unlink { "UNLINK" } else { "DEL" }), Bytes::copy_from_slice(key)]
}

/// Appends one event to a shard's pending buffer (bounded), given the configured flags. A free
/// function over the two fields it needs, so callers holding a borrow of the tables can use it.
#[cold]
fn record_event(
    events: &mut Vec<crate::notify::Event>,
    stats: &mut Stats,
    flags: u32,
    db: usize,
    event: &'static str,
    key: &[u8],
) {
    use crate::notify::class;
    let (keyspace, keyevent) = (flags & class::KEYSPACE != 0, flags & class::KEYEVENT != 0);
    if !keyspace && !keyevent {
        return;
    }
    if events.len() >= crate::notify::MAX_PENDING_EVENTS {
        stats.notifications_dropped += 1;
        return;
    }
    let key = Bytes::copy_from_slice(key);
    events.push(crate::notify::Event { event, db, key, keyspace, keyevent });
}

/// Updates a key's LRU/LFU field on access, per the configured policy.
fn touch(old: u32, now_ms: u64, config: &Config, rng: &mut SmallRng) -> u32 {
    crate::evict::touched_lru(
        old,
        config.maxmemory_policy,
        now_ms,
        config.lfu_log_factor,
        config.lfu_decay_time,
        rng,
    )
}

/// How the running command is journaled (Redis's `call()` propagation flags and
/// `alsoPropagate` array, for the command itself).
#[derive(Debug, Default)]
pub(crate) enum Propagation {
    /// As its own argv, if it changed the keyspace.
    #[default]
    AsIs,
    /// As these commands instead, if it changed the keyspace.
    Rewritten(Vec<Vec<Bytes>>),
    /// Not at all.
    Prevented,
}

/// The context a command handler runs in: one shard, one selected database, one instant.
pub struct Ctx<'a> {
    pub shard: &'a mut Shard,
    pub db: usize,
    pub now_ms: u64,
    pub resp3: bool,
    /// How this command is journaled; set through `propagate_as` and friends.
    pub(crate) propagation: Propagation,
}

impl<'a> Ctx<'a> {
    pub fn db(&mut self) -> &mut Db {
        &mut self.shard.dbs[self.db]
    }

    pub fn config(&self) -> &Config {
        &self.shard.config
    }

    /// Deletes `key` if it has expired; true when it was deleted.
    #[inline]
    pub fn expire_if_needed(&mut self, key: &[u8]) -> bool {
        self.shard.expire_if_needed(self.db, key, self.now_ms)
    }

    /// Looks a key up for reading: expires it lazily, counts hits and misses, updates LRU.
    pub fn lookup_read(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.expire_if_needed(key);
        let found = self.shard.dbs[self.db].table.get_mut(key);
        match found {
            Some(e) => {
                e.lru = touch(e.lru, self.now_ms, &self.shard.config, &mut self.shard.rng);
                self.shard.stats.keyspace_hits += 1;
                Some(e)
            }
            None => {
                self.shard.stats.keyspace_misses += 1;
                let flags = self.shard.config.notify_keyspace_events;
                if flags & crate::notify::class::KEY_MISS != 0 {
                    let (events, stats) = (&mut self.shard.events, &mut self.shard.stats);
                    record_event(events, stats, flags, self.db, "keymiss", key);
                }
                None
            }
        }
    }

    /// Looks a key up for writing: expires it lazily; no hit/miss accounting.
    pub fn lookup_write(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.expire_if_needed(key);
        let e = self.shard.dbs[self.db].table.get_mut(key)?;
        e.lru = touch(e.lru, self.now_ms, &self.shard.config, &mut self.shard.rng);
        Some(e)
    }

    /// Looks a key up without touching LRU or stats (EXISTS-like probes, TYPE, OBJECT).
    pub fn peek(&mut self, key: &[u8]) -> Option<&Entry> {
        self.expire_if_needed(key);
        self.shard.dbs[self.db].table.get(key)
    }

    pub fn exists(&mut self, key: &[u8]) -> bool {
        self.peek(key).is_some()
    }

    /// The `lru` field for a new key: LRU clock, or LFU's initial counter under an LFU policy.
    fn lru_stamp(&self) -> u32 {
        crate::evict::initial_lru(self.shard.config.maxmemory_policy, self.now_ms)
    }

    /// The string at `key`: Ok(None) when absent, WrongType for other types.
    pub fn get_str(&mut self, key: &[u8]) -> OpResult<Option<&StrValue>> {
        match self.lookup_read(key) {
            None => Ok(None),
            Some(Entry { value: Value::Str(s), .. }) => Ok(Some(s)),
            Some(_) => Err(OpError::WrongType),
        }
    }

    /// Stores `value` at `key` with an absolute expiry (0 = none), replacing any old value.
    pub fn set_value(&mut self, key: &[u8], value: Value, expire_at_ms: u64) {
        let mut entry = Entry::with_expiry(value, expire_at_ms);
        entry.lru = self.lru_stamp();
        let old = self.shard.dbs[self.db].insert(key.into(), entry);
        if self.shard.config.maxmemory_policy == crate::config::EvictionPolicy::AllKeysS3Fifo {
            self.shard.s3fifo_on_insert(self.db, key, old.as_ref().map(|e| e.lru));
        }
        match &old {
            None => {
                self.note_write(key);
                self.notify(crate::notify::class::NEW, "new", key);
            }
            // Replaced a key that had expired but was not yet removed: Redis would have
            // expired it on lookup (and journaled its deletion) and then added a new key.
            Some(o) if o.is_expired(self.now_ms) => {
                self.shard.on_expired(self.db, key);
                self.note_write(key);
                self.notify(crate::notify::class::NEW, "new", key);
            }
            Some(_) => self.note_write(key),
        }
    }

    /// Records a keyspace event for `key` in the selected database (see [`Shard::notify`]).
    #[inline]
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        self.shard.notify(self.db, class, event, key);
    }

    /// Removes `key`; returns its entry when it existed (and had not expired).
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        if self.expire_if_needed(key) {
            return None;
        }
        let removed = self.shard.dbs[self.db].remove(key).map(|(_, e)| e);
        if removed.is_some() {
            self.note_write(key);
        }
        removed
    }

    /// Records that `key` changed: bumps `dirty` and feeds the write log when one is active.
    #[inline]
    pub fn note_write(&mut self, key: &[u8]) {
        self.shard.note_write(self.db, key);
    }

    // -- Propagation (see the module doc) ------------------------------------------------------

    /// True when a journal is attached (a handler may skip work only the journal needs).
    #[inline]
    pub fn journaling(&self) -> bool {
        self.shard.journaling()
    }

    /// Journals this command as `argv()` instead of its own argv (Redis's
    /// `rewriteClientCommandVector`); called again, adds one more record. Recorded only if the
    /// command changed the keyspace; `argv` runs only when a journal is attached.
    #[inline]
    pub fn propagate_as(&mut self, argv: impl FnOnce() -> Vec<Bytes>) {
        if !self.shard.journaling() {
            return;
        }
        match &mut self.propagation {
            Propagation::Rewritten(list) => list.push(argv()),
            p => *p = Propagation::Rewritten(vec![argv()]),
        }
    }

    /// Journals `argv()` now, before the command's own record and whatever the command then
    /// does (Redis's `alsoPropagate`).
    #[inline]
    pub fn also_propagate(&mut self, argv: impl FnOnce() -> Vec<Bytes>) {
        self.shard.propagate(self.db, argv);
    }

    /// This command makes no record of its own (its effect was journaled another way).
    #[inline]
    pub fn prevent_propagation(&mut self) {
        if self.shard.journaling() {
            self.propagation = Propagation::Prevented;
        }
    }
}

#[cfg(test)]
mod pause_tests {
    use crate::reply::Reply;
    use crate::testing::TestShard;

    #[test]
    fn expiry_while_paused_hides_keys_and_counts_after() {
        let mut t = TestShard::new();
        t.run(&["SET", "a", "1", "PX", "10"]);
        t.run(&["SET", "b", "1", "PX", "10"]);
        t.shard.set_expiry_paused(true);
        t.advance_ms(50);
        assert_eq!(t.shard.active_expire(1000), 0, "no active expiry while paused");
        assert_eq!(t.run(&["GET", "a"]), Reply::Nil, "logically expired");
        assert_eq!(t.shard.stats.expired_keys, 0);
        t.shard.set_expiry_paused(false);
        assert_eq!(t.shard.stats.expired_keys, 1, "counted when the pause ends");
        assert_eq!(t.run(&["GET", "b"]), Reply::Nil);
        assert_eq!(t.shard.stats.expired_keys, 2);
    }
}
