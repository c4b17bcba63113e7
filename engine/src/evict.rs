//! Eviction under `maxmemory`, with Redis's design: sample `maxmemory-samples` keys per
//! database, keep the best candidates in a 16-entry eviction pool ordered by "idleness"
//! (LRU idle time, LFU 255−counter, or soonest expiry), and evict from the top of the pool.
//! Work per call is bounded, so a write never stalls its shard.
//!
//! The LRU/LFU field is Redis's 24-bit `lru`: for LRU a seconds clock (mod 2^24), for LFU
//! 16 bits of minutes (last decrement time) and an 8-bit logarithmic counter.

use rand::Rng;

use crate::config::EvictionPolicy;
use crate::db::Entry;
use crate::error::OpError;
use crate::shard::Shard;
use crate::table::Key;
use crate::value::Value;

pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
pub const LFU_INIT_VAL: u32 = 5;
const POOL_SIZE: usize = 16;
/// Keys evicted at most per call; the next write continues.
const MAX_EVICTIONS_PER_CALL: usize = 64;

/// Redis's LRU clock: seconds, 24 bits.
pub fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / 1000) & LRU_CLOCK_MAX as u64) as u32
}

/// Idle time in ms of an LRU stamp, as Redis's `estimateObjectIdleTime`.
pub fn idle_ms(lru: u32, now_ms: u64) -> u64 {
    let clock = lru_clock(now_ms);
    let lru = lru & LRU_CLOCK_MAX;
    if clock >= lru {
        (clock - lru) as u64 * 1000
    } else {
        (clock as u64 + (LRU_CLOCK_MAX - lru) as u64) * 1000
    }
}

/// Minutes clock for LFU decay, 16 bits.
pub fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 65535) as u32
}

fn lfu_elapsed(ldt: u32, now_ms: u64) -> u32 {
    let now = lfu_minutes(now_ms);
    if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    }
}

/// The counter after decay (Redis's `LFUDecrAndReturn`), without storing it.
pub fn lfu_decayed(lru: u32, now_ms: u64, decay_time: u64) -> u32 {
    let ldt = lru >> 8;
    let counter = lru & 255;
    let periods = if decay_time > 0 { lfu_elapsed(ldt, now_ms) as u64 / decay_time } else { 0 };
    if periods > counter as u64 {
        0
    } else {
        counter - periods as u32
    }
}

/// Logarithmic increment (Redis's `LFULogIncr`).
pub fn lfu_log_incr(counter: u32, log_factor: u64, rng: &mut impl Rng) -> u32 {
    if counter >= 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let p = 1.0 / (base * log_factor as f64 + 1.0);
    if rng.gen::<f64>() < p {
        counter + 1
    } else {
        counter
    }
}

/// The `lru` field of a new key under `policy`.
pub fn initial_lru(policy: EvictionPolicy, now_ms: u64) -> u32 {
    if policy.is_lfu() {
        (lfu_minutes(now_ms) << 8) | LFU_INIT_VAL
    } else {
        lru_clock(now_ms)
    }
}

/// The `lru` field after an access under `policy`.
pub fn touched_lru(
    old: u32,
    policy: EvictionPolicy,
    now_ms: u64,
    log_factor: u64,
    decay_time: u64,
    rng: &mut impl Rng,
) -> u32 {
    if policy.is_lfu() {
        let counter = lfu_decayed(old, now_ms, decay_time);
        let counter = lfu_log_incr(counter, log_factor, rng);
        (lfu_minutes(now_ms) << 8) | counter
    } else {
        lru_clock(now_ms)
    }
}

/// A rough footprint of an entry, used to estimate what an eviction frees before the
/// allocator's counters are read again on the next write.
pub fn approx_entry_bytes(key_len: usize, e: &Entry) -> u64 {
    let value = match &e.value {
        Value::Str(s) => s.heap_bytes() as u64,
        // Collections: the engine does not size them cheaply here; count a floor.
        _ => 256,
    };
    (key_len as u64) + value + 96
}

struct Candidate {
    score: u64,
    db: usize,
    key: Key,
}

impl Shard {
    fn policy_score(&self, e: &Entry, now_ms: u64) -> Option<u64> {
        let policy = self.config.maxmemory_policy;
        let volatile = matches!(
            policy,
            EvictionPolicy::VolatileLru
                | EvictionPolicy::VolatileLfu
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::VolatileTtl
        );
        if volatile && e.expire_at_ms == 0 {
            return None;
        }
        Some(match policy {
            EvictionPolicy::AllKeysLru | EvictionPolicy::VolatileLru => idle_ms(e.lru, now_ms),
            EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu => {
                255 - lfu_decayed(e.lru, now_ms, self.config.lfu_decay_time) as u64
            }
            EvictionPolicy::VolatileTtl => u64::MAX - e.expire_at_ms,
            _ => 0,
        })
    }

    /// Fills `pool` with the best candidates among `samples` random keys of each database.
    fn fill_pool(&mut self, pool: &mut Vec<Candidate>, now_ms: u64) {
        let samples = self.config.maxmemory_samples.clamp(1, 64) as usize;
        for db in 0..self.dbs.len() {
            if self.dbs[db].is_empty() {
                continue;
            }
            for _ in 0..samples * 2 {
                let Some((k, e)) = self.dbs[db].table.random(&mut self.rng) else { break };
                let Some(score) = self.policy_score(e, now_ms) else { continue };
                let key: Key = k.into();
                if pool.iter().any(|c| c.db == db && c.key == key) {
                    continue;
                }
                pool.push(Candidate { score, db, key });
            }
        }
        pool.sort_by(|a, b| b.score.cmp(&a.score));
        pool.truncate(POOL_SIZE);
    }

    /// Picks one key to evict per the policy, or None when nothing is evictable.
    fn pick_victim(&mut self, pool: &mut Vec<Candidate>, now_ms: u64) -> Option<(usize, Key)> {
        match self.config.maxmemory_policy {
            EvictionPolicy::NoEviction => None,
            EvictionPolicy::AllKeysRandom | EvictionPolicy::VolatileRandom => {
                let volatile = self.config.maxmemory_policy == EvictionPolicy::VolatileRandom;
                let start = self.rng.gen_range(0..self.dbs.len());
                for i in 0..self.dbs.len() {
                    let db = (start + i) % self.dbs.len();
                    for _ in 0..16 {
                        let Some((k, e)) = self.dbs[db].table.random(&mut self.rng) else { break };
                        if !volatile || e.expire_at_ms != 0 {
                            return Some((db, k.into()));
                        }
                    }
                }
                None
            }
            _ => {
                for _ in 0..2 {
                    if pool.is_empty() {
                        self.fill_pool(pool, now_ms);
                    }
                    while let Some(c) = (!pool.is_empty()).then(|| pool.remove(0)) {
                        if self.dbs[c.db].table.contains_key(&c.key) {
                            return Some((c.db, c.key));
                        }
                    }
                }
                None
            }
        }
    }

    /// Makes room before a write that may grow memory. `used_bytes` is the current allocator
    /// figure and `limit_bytes` the budget (0 = unlimited). Evicts at most a bounded number of
    /// keys per call; errs with OutOfMemory when still over budget and nothing can be evicted
    /// (noeviction, or volatile-* without keys that have a TTL), as Redis does.
    pub fn evict_for_write(&mut self, used_bytes: u64, limit_bytes: u64) -> Result<(), OpError> {
        if limit_bytes == 0 || used_bytes <= limit_bytes {
            return Ok(());
        }
        let mut to_free = used_bytes - limit_bytes;
        let now = self.clock.now_ms();
        let tenacity = self.config.maxmemory_eviction_tenacity.min(100) as usize;
        let max_keys = (MAX_EVICTIONS_PER_CALL * (tenacity + 10) / 20).max(1);
        let mut pool: Vec<Candidate> = Vec::with_capacity(POOL_SIZE);
        let mut evicted = 0;
        while to_free > 0 && evicted < max_keys {
            let Some((db, key)) = self.pick_victim(&mut pool, now) else {
                return if evicted == 0 { Err(OpError::OutOfMemory) } else { Ok(()) };
            };
            if let Some((k, e)) = self.dbs[db].remove(&key) {
                to_free = to_free.saturating_sub(approx_entry_bytes(k.len(), &e));
                self.stats.evicted_keys += 1;
                self.dirty += 1;
                if let Some(log) = &mut self.write_log {
                    log.push((db, k));
                }
                self.defer_free(e);
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
