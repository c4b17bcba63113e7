//! A shard's data and the context command implementations run in.
//!
//! ```text
//!  Shard ──┬─ dbs[0..16]: Db (table of Entry)
//!          ├─ clock (system, or manual in tests)
//!          ├─ config (this shard's copy; CONFIG SET updates every shard)
//!          └─ stats (expired_keys, keyspace_hits, …; INFO sums shards)
//!  Ctx { shard, db, now_ms, resp3 }  ← what a command handler sees
//! ```
//! Time is read once per command (`now_ms`), as Redis caches `mstime` per command, so a
//! command sees one consistent instant.

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::clock::Clock;
use crate::command::{CommandSpec, Handler};
use crate::config::Config;
use crate::db::{Db, Entry};
use crate::error::{OpError, OpResult};
use crate::reply::Reply;
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
}

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
        }
    }

    pub fn ctx(&mut self, db: usize, resp3: bool) -> Ctx<'_> {
        let now_ms = self.clock.now_ms();
        Ctx { shard: self, db, now_ms, resp3 }
    }

    /// Runs one command on this shard: lookup, arity, then the handler. Commands the net layer
    /// implements answer an error here; the net dispatcher never sends them.
    pub fn execute(&mut self, db: usize, argv: &[Bytes], resp3: bool) -> Reply {
        let spec = match crate::check_command(argv) {
            Ok(spec) => spec,
            Err(reply) => return reply,
        };
        self.execute_spec(spec, db, argv, resp3)
    }

    pub fn execute_spec(
        &mut self,
        spec: &CommandSpec,
        db: usize,
        argv: &[Bytes],
        resp3: bool,
    ) -> Reply {
        match spec.handler {
            Handler::Shard(f) => {
                let mut ctx = self.ctx(db, resp3);
                f(&mut ctx, argv)
            }
            Handler::Net => Reply::error(format!(
                "ERR command '{}' is not available in this context",
                spec.name
            )),
        }
    }

    /// Total keys over all databases.
    pub fn key_count(&self) -> usize {
        self.dbs.iter().map(Db::len).sum()
    }

    /// One step of active expiry: samples keys with a TTL and deletes the expired ones,
    /// visiting at most `budget` entries in total. Returns how many keys were deleted.
    pub fn active_expire(&mut self, budget: usize) -> usize {
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
                if self.dbs[db_index].remove(&k).is_some() {
                    removed += 1;
                    self.notify(db_index, crate::notify::class::EXPIRED, "expired", &k);
                    if let Some(log) = &mut self.write_log {
                        log.push((db_index, k));
                    }
                }
            }
        }
        self.stats.expired_keys += removed as u64;
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

/// The context a command handler runs in: one shard, one selected database, one instant.
pub struct Ctx<'a> {
    pub shard: &'a mut Shard,
    pub db: usize,
    pub now_ms: u64,
    pub resp3: bool,
}

impl<'a> Ctx<'a> {
    pub fn db(&mut self) -> &mut Db {
        &mut self.shard.dbs[self.db]
    }

    pub fn config(&self) -> &Config {
        &self.shard.config
    }

    /// Deletes `key` if it has expired; true when it was deleted.
    pub fn expire_if_needed(&mut self, key: &[u8]) -> bool {
        let now = self.now_ms;
        let db = &mut self.shard.dbs[self.db];
        let expired = matches!(db.table.get(key), Some(e) if e.is_expired(now));
        if expired {
            db.remove(key);
            self.shard.stats.expired_keys += 1;
            self.note_write(key);
            self.notify(crate::notify::class::EXPIRED, "expired", key);
        }
        expired
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
        self.note_write(key);
        match &old {
            None => self.notify(crate::notify::class::NEW, "new", key),
            // Replaced a key that had expired but was not yet removed: Redis would have
            // expired it on lookup and then added a new key.
            Some(o) if o.is_expired(self.now_ms) => {
                self.shard.stats.expired_keys += 1;
                self.notify(crate::notify::class::EXPIRED, "expired", key);
                self.notify(crate::notify::class::NEW, "new", key);
            }
            Some(_) => {}
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
    pub fn note_write(&mut self, key: &[u8]) {
        self.shard.dirty += 1;
        if let Some(log) = &mut self.shard.write_log {
            log.push((self.db, key.into()));
        }
    }
}
