//! Eviction over a shard: the victim choice of each policy and the bounded eviction loop.
//! Kept apart from the policy state and arithmetic (the parent module), which the shard holds
//! and calls on every access, so that `shard` and eviction do not import each other.

use rand::Rng;

use super::*;
use crate::config::EvictionPolicy;
use crate::db::Entry;
use crate::error::OpError;
use crate::shard::Shard;
use crate::table::Key;
use crate::value::Value;

impl Shard {
    /// Pool score of an entry under the configured policy: higher is evicted first.
    fn policy_score(&self, e: &Entry, now_ms: u64) -> u64 {
        match self.config.maxmemory_policy {
            EvictionPolicy::AllKeysLru | EvictionPolicy::VolatileLru => idle_ms(e.lru, now_ms),
            EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu => {
                255 - lfu_decayed(e.lru, now_ms, self.config.lfu_decay_time) as u64
            }
            EvictionPolicy::VolatileTtl => u64::MAX - e.expire_at_ms,
            _ => 0,
        }
    }

    /// Redis's `evictionPoolPopulate` for one database: `samples` keys (volatile policies:
    /// keys with a TTL) are offered to the pool, which keeps the 16 best, best first.
    fn populate_pool(&mut self, db: usize, now_ms: u64) {
        let samples = self.config.maxmemory_samples.clamp(1, 64) as usize;
        let volatile = is_volatile(self.config.maxmemory_policy);
        let probes = if volatile { samples * VOLATILE_PROBES } else { samples };
        let mut taken = 0;
        if volatile {
            for key in self.volatile_scan(db, samples) {
                taken += 1;
                self.offer_to_pool(db, key, now_ms);
            }
        }
        for _ in 0..probes {
            if taken == samples {
                break;
            }
            let Some((k, e)) = self.dbs[db].table.random(&mut self.rng) else { break };
            if volatile && e.expire_at_ms == 0 {
                continue;
            }
            taken += 1;
            let key: Key = k.into();
            self.offer_to_pool(db, key, now_ms);
        }
    }

    /// Keys with a TTL found by resuming this database's scan, only when random probes are
    /// unlikely to find them (under 1 in 8 keys has a TTL). At most `want` keys, bounded work.
    fn volatile_scan(&mut self, db: usize, want: usize) -> Vec<Key> {
        let d = &self.dbs[db];
        if d.expires == 0 || d.expires * 8 >= d.len() {
            return Vec::new();
        }
        if self.evict.volatile_cursors.len() < self.dbs.len() {
            self.evict.volatile_cursors.resize(self.dbs.len(), 0);
        }
        let mut cursor = self.evict.volatile_cursors[db];
        let mut found: Vec<Key> = Vec::new();
        let mut visited = 0;
        let mut wrapped = false;
        while visited < VOLATILE_SCAN_BUDGET && found.len() < want {
            cursor = d.table.scan(cursor, 64, |k, e| {
                visited += 1;
                if e.expire_at_ms != 0 && found.len() < want {
                    found.push(k.into());
                }
            });
            // Past the end: go round once more from the start, so a key the resumed scan had
            // already passed is still found.
            if cursor == 0 {
                if wrapped {
                    break;
                }
                wrapped = true;
            }
        }
        self.evict.volatile_cursors[db] = cursor;
        found
    }

    /// Redis's pool insertion: keeps the `POOL_SIZE` best candidates, best first.
    fn offer_to_pool(&mut self, db: usize, key: Key, now_ms: u64) {
        let Some(e) = self.dbs[db].table.get(&key) else { return };
        let score = self.policy_score(e, now_ms);
        let pool = &mut self.evict.pool;
        if pool.len() == POOL_SIZE && pool.last().is_some_and(|c| c.score >= score) {
            return;
        }
        if pool.iter().any(|c| c.db == db && c.key == key) {
            return;
        }
        let at = pool.partition_point(|c| c.score >= score);
        pool.insert(at, Candidate { score, db, key });
        pool.truncate(POOL_SIZE);
    }

    /// One victim by the sampled pool (LRU, LFU, TTL policies), or None.
    fn pool_victim(&mut self, now_ms: u64) -> Option<(usize, Key)> {
        let volatile = is_volatile(self.config.maxmemory_policy);
        for db in 0..self.dbs.len() {
            let has_keys =
                if volatile { self.dbs[db].expires > 0 } else { !self.dbs[db].is_empty() };
            if has_keys {
                self.populate_pool(db, now_ms);
            }
        }
        // Best first; a pooled key may have been deleted (or lost its TTL) since it was sampled.
        while !self.evict.pool.is_empty() {
            let c = self.evict.pool.remove(0);
            match self.dbs[c.db].table.get(&c.key) {
                Some(e) if !volatile || e.expire_at_ms != 0 => return Some((c.db, c.key)),
                _ => continue,
            }
        }
        None
    }

    /// One victim by the random policies, rotating over databases as Redis does.
    fn random_victim(&mut self) -> Option<(usize, Key)> {
        let volatile = is_volatile(self.config.maxmemory_policy);
        let n = self.dbs.len();
        for _ in 0..n {
            self.evict.next_db = (self.evict.next_db + 1) % n;
            let db = self.evict.next_db;
            if (volatile && self.dbs[db].expires == 0) || self.dbs[db].is_empty() {
                continue;
            }
            if volatile {
                if let Some(key) = self.volatile_scan(db, 1).pop() {
                    return Some((db, key));
                }
            }
            let probes = if volatile { 16 * VOLATILE_PROBES } else { 1 };
            for _ in 0..probes {
                let Some((k, e)) = self.dbs[db].table.random(&mut self.rng) else { break };
                if !volatile || e.expire_at_ms != 0 {
                    return Some((db, k.into()));
                }
            }
        }
        None
    }

    /// S3-FIFO: admits a key just written by `set_value`. An overwrite keeps the old key's
    /// queue place and frequency; a new key enters the small queue, or main when the ghost
    /// remembers it. Does nothing unless the policy is S3-FIFO under a memory limit.
    pub fn s3fifo_on_insert(&mut self, db: usize, key: &[u8], old_lru: Option<u32>) {
        if self.config.maxmemory_policy != EvictionPolicy::AllKeysS3Fifo
            || self.config.maxmemory == 0
            || db > 255
        {
            return;
        }
        if let Some(old) = old_lru.filter(|l| l & S3_TRACKED != 0) {
            if let Some(e) = self.dbs[db].table.get_mut(key) {
                e.lru = old;
            }
            return;
        }
        let hash = self.dbs[db].table.hash(key);
        self.s3fifo_admit(db, hash, key);
    }

    fn s3fifo_admit(&mut self, db: usize, hash: u64, key: &[u8]) {
        let s3 = &mut self.evict.s3;
        s3.size_ghost();
        let to_main = s3.ghost_take(db, hash);
        let tag = s3.next_tag;
        s3.next_tag = (s3.next_tag + 1) & S3_TAG_MASK;
        let Some(e) = self.dbs[db].table.get_mut(key) else { return };
        e.lru = S3_TRACKED | (tag << S3_TAG_SHIFT) | if to_main { S3_MAIN } else { 0 };
        let item = QueueItem::new(hash, db, tag);
        if to_main {
            s3.main.push_back(item);
        } else {
            s3.small.push_back(item);
        }
    }

    /// Adopts a few random untracked keys (written by paths that do not admit) into the small
    /// queue, so every key is eventually under S3-FIFO's control.
    fn s3fifo_adopt(&mut self, probes: usize) {
        for _ in 0..probes {
            let db = self.rng.gen_range(0..self.dbs.len().min(256));
            let Some((k, e)) = self.dbs[db].table.random(&mut self.rng) else { continue };
            if e.lru & S3_TRACKED == 0 {
                let key = k.to_vec();
                let hash = self.dbs[db].table.hash(&key);
                self.s3fifo_admit(db, hash, &key);
            }
        }
    }

    /// The tracked entry a queue item refers to, when it still is in that queue.
    fn s3fifo_entry(&mut self, item: QueueItem, main: bool) -> Option<&mut Entry> {
        let want = S3_TRACKED | if main { S3_MAIN } else { 0 };
        let tag = item.tag();
        let db = self.dbs.get_mut(item.db())?;
        db.table
            .find_by_hash_mut(item.hash(), |_, e| {
                e.lru & (S3_TRACKED | S3_MAIN) == want
                    && (e.lru >> S3_TAG_SHIFT) & S3_TAG_MASK == tag
            })
            .map(|(_, e)| e)
    }

    fn s3fifo_key(&self, item: QueueItem) -> Option<Key> {
        let tag = item.tag();
        self.dbs[item.db()]
            .table
            .find_by_hash(item.hash(), |_, e| {
                e.lru & S3_TRACKED != 0 && (e.lru >> S3_TAG_SHIFT) & S3_TAG_MASK == tag
            })
            .map(|(k, _)| k.into())
    }

    /// One S3-FIFO victim, visiting at most `S3_WORK_PER_EVICTION` queue items; when the budget
    /// runs out in main, its head is evicted whatever its frequency.
    fn s3fifo_victim(&mut self) -> Option<(usize, Key)> {
        self.s3fifo_adopt(1);
        let mut work = S3_WORK_PER_EVICTION;
        while work > 0 {
            work -= 1;
            let (small_len, main_len) = (self.evict.s3.small.len(), self.evict.s3.main.len());
            let small_target = ((small_len + main_len) / 10).max(1);
            if small_len > 0 && (small_len >= small_target || main_len == 0) {
                let Some(item) = self.evict.s3.small.pop_front() else { break };
                let Some(e) = self.s3fifo_entry(item, false) else { continue };
                if s3fifo_freq(e.lru) >= S3_PROMOTE_FREQ {
                    e.lru = (e.lru & !S3_FREQ_MASK) | S3_MAIN;
                    self.evict.s3.main.push_back(item);
                    continue;
                }
                let key = self.s3fifo_key(item)?;
                self.evict.s3.ghost_put(item.db(), item.hash());
                return Some((item.db(), key));
            }
            let item = self.evict.s3.main.pop_front()?;
            let Some(e) = self.s3fifo_entry(item, true) else { continue };
            let freq = s3fifo_freq(e.lru);
            if freq > 0 && work > 0 {
                e.lru = (e.lru & !S3_FREQ_MASK) | (freq - 1);
                self.evict.s3.main.push_back(item);
                continue;
            }
            let key = self.s3fifo_key(item)?;
            return Some((item.db(), key));
        }
        None
    }

    /// Picks one key to evict per the policy, or None when nothing is evictable.
    fn pick_victim(&mut self, now_ms: u64) -> Option<(usize, Key)> {
        match self.config.maxmemory_policy {
            EvictionPolicy::NoEviction => None,
            EvictionPolicy::AllKeysRandom | EvictionPolicy::VolatileRandom => self.random_victim(),
            EvictionPolicy::AllKeysS3Fifo => self.s3fifo_victim().or_else(|| {
                // Queues empty or all stale (keys written before the policy was chosen):
                // random eviction keeps memory bounded while adoption fills the queues.
                let n = self.dbs.len();
                let start = self.rng.gen_range(0..n);
                (0..n).map(|i| (start + i) % n).find_map(|db| {
                    self.dbs[db].table.random(&mut self.rng).map(|(k, _)| (db, Key::from(k)))
                })
            }),
            _ => self.pool_victim(now_ms),
        }
    }

    /// Makes room before a write that may grow memory. `used_bytes` is the current allocator
    /// figure and `limit_bytes` the budget (0 = unlimited). Evicts at most a bounded number of
    /// keys per call (scaled by `maxmemory-eviction-tenacity`); errs with OutOfMemory when over
    /// budget and nothing can be evicted (noeviction, or volatile-* without keys that have a
    /// TTL), as Redis does.
    pub fn evict_for_write(&mut self, used_bytes: u64, limit_bytes: u64) -> Result<(), OpError> {
        if limit_bytes == 0 || used_bytes <= limit_bytes {
            return Ok(());
        }
        let mut to_free = used_bytes - limit_bytes;
        let now = self.clock.now_ms();
        let tenacity = self.config.maxmemory_eviction_tenacity.min(100) as usize;
        let max_keys = (MAX_EVICTIONS_PER_CALL * (tenacity + 10) / 20).max(1);
        let mut evicted = 0;
        while to_free > 0 && evicted < max_keys {
            let Some((db, key)) = self.pick_victim(now) else {
                return if evicted == 0 { Err(OpError::OutOfMemory) } else { Ok(()) };
            };
            if let Some(freed) = self.evict_key(db, &key) {
                to_free = to_free.saturating_sub(freed);
                evicted += 1;
            }
        }
        Ok(())
    }

    /// Large values are freed a little at a time by the periodic tick, not on the write that
    /// evicted or deleted them, so freeing a huge collection never stalls a request.
    pub fn defer_free(&mut self, e: Entry) {
        let small = matches!(&e.value, Value::Str(s) if s.heap_bytes() < 64 * 1024);
        if !small {
            self.lazy_free.push(e);
        }
    }

    /// Frees up to `budget` deferred values; returns how many are still pending.
    pub fn drain_lazy_free(&mut self, budget: usize) -> usize {
        let n = budget.min(self.lazy_free.len());
        let keep = self.lazy_free.len() - n;
        self.lazy_free.truncate(keep);
        self.lazy_free.len()
    }
}
