//! Eviction under `maxmemory`.
//!
//! The eight Redis policies follow Redis's design (`evict.c`): each eviction samples
//! `maxmemory-samples` keys per database (volatile policies: keys with a TTL only) into a
//! persistent 16-entry eviction pool ordered by score (LRU idle time, LFU 255−counter, or
//! soonest expiry), then evicts the best pooled key that still exists. Random policies rotate
//! over the databases as Redis's `next_db` does.
//!
//! `allkeys-s3fifo` is Mayfly's extra policy: S3-FIFO (Yang et al., "FIFO queues are all you
//! need for cache eviction", SOSP'23). New keys enter a small FIFO (~10% of tracked keys); a key
//! accessed while there moves to the main FIFO, otherwise it is evicted and its hash remembered
//! in a ghost table; a key re-inserted while its hash is in the ghost goes straight to main.
//! Main is FIFO with reinsertion: a key with a non-zero 2-bit frequency is moved to the tail
//! with frequency−1. One-hit wonders leave quickly, which is why it beats sampled LRU on skewed
//! workloads (see BENCHMARKS.md).
//!
//! ```text
//!  insert ──► small FIFO ──(freq ≥ 1)──► main FIFO ◄──┐ freq>0: reinsert, freq−1
//!     ▲            │ freq = 0                 │ freq=0 └──────────┘
//!     │            ▼                          ▼
//!     └─(hit)── ghost (hash fingerprints)   evict
//! ```
//!
//! S3-FIFO state per key lives in `Entry::lru`'s 24 bits (2-bit frequency, queue bit, tracked
//! bit, 20-bit admission tag); the queues hold 12-byte (hash, db, tag) items, never key copies,
//! and an item is only trusted when the entry it finds by hash carries the same tag, so stale
//! items (deleted or re-created keys) are skipped. Keys inserted by paths that do not call
//! [`crate::shard::Shard::s3fifo_on_insert`] are adopted by sampling, and a random key is
//! evicted when the queues hold nothing valid, so memory stays bounded whatever wrote the keys.
//!
//! Work per call is bounded (evicted keys, queue items visited, samples), so a write never
//! stalls its shard; large values are freed later by the tick
//! ([`crate::shard::Shard::drain_lazy_free`]). The victim choice and the eviction loop are in
//! `select` (an `impl Shard`); each victim goes through the shard's one eviction routine,
//! [`crate::shard::Shard::evict_key`], which journals it.

use std::collections::VecDeque;

use rand::Rng;

use crate::config::EvictionPolicy;
use crate::db::Entry;
use crate::table::Key;
use crate::value::Value;

mod select;

pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
pub const LFU_INIT_VAL: u32 = 5;
/// Redis's `EVPOOL_SIZE`.
const POOL_SIZE: usize = 16;
/// Keys evicted at most per call at tenacity 10; the next write continues.
const MAX_EVICTIONS_PER_CALL: usize = 64;
/// Queue items an S3-FIFO eviction may visit before it evicts the current head regardless.
const S3_WORK_PER_EVICTION: usize = 64;
/// Random probes per database when looking for a key with a TTL (we keep no expires dict).
const VOLATILE_PROBES: usize = 8;
/// Entries a volatile policy may scan per database and call when random probes found too few
/// keys with a TTL (Redis samples its expires dict; ours is the main table, so TTL keys that
/// are rare among many must be found by a resumable scan).
const VOLATILE_SCAN_BUDGET: usize = 4096;

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

/// Minutes clock for LFU decay, 16 bits (Redis's `LFUGetTimeInMinutes`).
pub fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 65535) as u32
}

/// Minutes since `ldt`, wrapping as Redis's `LFUTimeElapsed`.
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
    let ldt = (lru >> 8) & 65535;
    let counter = lru & 255;
    let periods = (lfu_elapsed(ldt, now_ms) as u64).checked_div(decay_time).unwrap_or(0);
    if periods > counter as u64 {
        0
    } else {
        counter - periods as u32
    }
}

/// Logarithmic increment (Redis's `LFULogIncr`): p = 1 / ((counter − 5)·factor + 1).
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

// S3-FIFO's packing of `Entry::lru`.
const S3_FREQ_MASK: u32 = 0b11;
const S3_MAIN: u32 = 1 << 2;
const S3_TRACKED: u32 = 1 << 3;
const S3_TAG_SHIFT: u32 = 4;
const S3_TAG_MASK: u32 = (1 << 20) - 1;
/// A key accessed at least this often while in the small queue is promoted to main.
const S3_PROMOTE_FREQ: u32 = 1;

/// S3-FIFO's 2-bit access frequency of a key's `lru` field.
pub fn s3fifo_freq(lru: u32) -> u32 {
    lru & S3_FREQ_MASK
}

/// The `lru` field of a new key under `policy`. Under S3-FIFO a new key starts untracked; the
/// shard admits it into the small queue ([`crate::shard::Shard::s3fifo_on_insert`]).
pub fn initial_lru(policy: EvictionPolicy, now_ms: u64) -> u32 {
    if policy.is_lfu() {
        (lfu_minutes(now_ms) << 8) | LFU_INIT_VAL
    } else if policy == EvictionPolicy::AllKeysS3Fifo {
        0
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
    } else if policy == EvictionPolicy::AllKeysS3Fifo {
        (old & !S3_FREQ_MASK) | (s3fifo_freq(old) + 1).min(S3_FREQ_MASK)
    } else {
        lru_clock(now_ms)
    }
}

/// Heap bytes a value owns, as cheaply as its type can tell: exact for strings, sets and
/// sorted sets (their own `heap_bytes`), node buffers plus tree and group estimates for
/// streams (O(groups)), a per-field estimate for hashes, a floor for lists.
pub fn value_heap_bytes(value: &Value) -> u64 {
    match value {
        Value::Str(s) => s.heap_bytes() as u64,
        Value::Set(s) => s.heap_bytes() as u64,
        Value::ZSet(z) => z.heap_bytes() as u64,
        Value::Stream(s) => s.heap_bytes() as u64,
        // Hash fields are not sized by the type; ~48 bytes per small field pair is its listpack
        // and small-table cost.
        Value::Hash(h) => 64 + h.len() as u64 * 48,
        Value::List(_) => 256,
    }
}

/// Bytes a key and its entry occupy beyond the value's heap: the key's allocation, the table
/// slot (key pointer + entry) and hashbrown's control byte, with the table's spare room.
pub fn entry_overhead_bytes(key_len: usize) -> u64 {
    let key_alloc = (key_len as u64).div_ceil(8) * 8;
    let slot = std::mem::size_of::<(Key, Entry)>() as u64 + 1;
    // hashbrown keeps tables at most 7/8 full; segments split at capacity, so ~80% on average.
    key_alloc + slot * 5 / 4
}

/// The footprint of an entry, used to estimate what an eviction frees before the allocator's
/// counters are read again on the next write.
pub fn approx_entry_bytes(key_len: usize, e: &Entry) -> u64 {
    entry_overhead_bytes(key_len) + value_heap_bytes(&e.value)
}

struct Candidate {
    score: u64,
    db: usize,
    key: Key,
}

/// One S3-FIFO queue item: the key's table hash (split for 4-byte alignment), its database
/// and the admission tag that must match the entry's.
#[derive(Clone, Copy)]
struct QueueItem {
    hash_lo: u32,
    hash_hi: u32,
    /// db in the top 8 bits, tag in the low 20.
    meta: u32,
}

impl QueueItem {
    fn new(hash: u64, db: usize, tag: u32) -> QueueItem {
        QueueItem {
            hash_lo: hash as u32,
            hash_hi: (hash >> 32) as u32,
            meta: (db as u32) << 24 | tag,
        }
    }
    fn hash(self) -> u64 {
        u64::from(self.hash_hi) << 32 | u64::from(self.hash_lo)
    }
    fn db(self) -> usize {
        (self.meta >> 24) as usize
    }
    fn tag(self) -> u32 {
        self.meta & S3_TAG_MASK
    }
}

/// Items per [`ChunkQueue`] chunk: 12 KiB, one jemalloc size class, allocated exactly.
const CHUNK_ITEMS: usize = 1024;

/// A FIFO of fixed-size chunks. A `VecDeque` doubles and never gives back, so after the cache
/// first fills it holds up to twice the items' bytes; inside `maxmemory` that slack would
/// displace cached keys. Here the slack is at most one chunk per end.
#[derive(Default)]
struct ChunkQueue {
    chunks: VecDeque<Vec<QueueItem>>,
    /// Next item to pop in the front chunk.
    head: usize,
    len: usize,
}

impl ChunkQueue {
    fn len(&self) -> usize {
        self.len
    }

    fn push_back(&mut self, item: QueueItem) {
        match self.chunks.back_mut() {
            Some(chunk) if chunk.len() < CHUNK_ITEMS => chunk.push(item),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK_ITEMS);
                chunk.push(item);
                self.chunks.push_back(chunk);
            }
        }
        self.len += 1;
    }

    fn pop_front(&mut self) -> Option<QueueItem> {
        let chunk = self.chunks.front()?;
        let item = *chunk.get(self.head)?;
        self.head += 1;
        self.len -= 1;
        if self.head == chunk.len() && (chunk.len() == CHUNK_ITEMS || self.chunks.len() == 1) {
            self.chunks.pop_front();
            self.head = 0;
        }
        Some(item)
    }
}

/// S3-FIFO's queues and ghost.
#[derive(Default)]
struct S3Fifo {
    small: ChunkQueue,
    main: ChunkQueue,
    /// Ghost: fingerprints of recently evicted keys, one per slot, indexed by hash; a newer
    /// eviction overwrites an older one in its slot, which ages the ghost like a FIFO of about
    /// `ghost.len()` entries at 4 bytes each. Length is a power of two ≥ tracked keys.
    ghost: Vec<u32>,
    next_tag: u32,
}

impl S3Fifo {
    fn ghost_slot(&self, db: usize, hash: u64) -> (usize, u32) {
        let h = hash ^ (db as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let index = (h as usize) & (self.ghost.len().wrapping_sub(1));
        (index, (h >> 32) as u32 | 1)
    }

    /// True when (db, hash) was recently evicted; forgets it.
    fn ghost_take(&mut self, db: usize, hash: u64) -> bool {
        if self.ghost.is_empty() {
            return false;
        }
        let (i, fp) = self.ghost_slot(db, hash);
        let hit = self.ghost[i] == fp;
        if hit {
            self.ghost[i] = 0;
        }
        hit
    }

    fn ghost_put(&mut self, db: usize, hash: u64) {
        if self.ghost.is_empty() {
            return;
        }
        let (i, fp) = self.ghost_slot(db, hash);
        self.ghost[i] = fp;
    }

    /// Keeps the ghost about as large as the number of tracked keys (the paper sizes it like
    /// the main queue). Growing forgets the old fingerprints; it happens log₂(n) times.
    fn size_ghost(&mut self) {
        let tracked = self.small.len() + self.main.len();
        if self.ghost.len() < tracked.max(1024) {
            self.ghost = vec![0; tracked.max(1024).next_power_of_two()];
        }
    }
}

/// Per-shard eviction state: Redis's persistent eviction pool and the S3-FIFO queues.
#[derive(Default)]
pub struct EvictState {
    pool: Vec<Candidate>,
    s3: S3Fifo,
    /// Redis's static `next_db` of the random policies.
    next_db: usize,
    /// Per-database cursors of the volatile policies' fallback scan.
    volatile_cursors: Vec<u64>,
    /// Highest memory figure MEMORY STATS/DOCTOR has seen on this shard.
    peak_bytes: u64,
}

impl EvictState {
    /// Number of items in S3-FIFO's (small, main) queues, stale ones included; for tests.
    pub fn s3fifo_queue_lengths(&self) -> (usize, usize) {
        (self.s3.small.len(), self.s3.main.len())
    }

    /// Records `bytes` as a memory observation; returns the peak so far.
    pub fn note_peak_bytes(&mut self, bytes: u64) -> u64 {
        self.peak_bytes = self.peak_bytes.max(bytes);
        self.peak_bytes
    }

    /// Forgets everything (policy change).
    pub fn reset(&mut self) {
        *self = EvictState::default();
    }
}

fn is_volatile(policy: EvictionPolicy) -> bool {
    matches!(
        policy,
        EvictionPolicy::VolatileLru
            | EvictionPolicy::VolatileLfu
            | EvictionPolicy::VolatileRandom
            | EvictionPolicy::VolatileTtl
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn lru_idle_wraps_at_24_bits() {
        let now_ms = (LRU_CLOCK_MAX as u64 + 10) * 1000;
        assert_eq!(lru_clock(now_ms), 9);
        assert_eq!(idle_ms(LRU_CLOCK_MAX - 5, now_ms), 14_000);
    }

    #[test]
    fn s3fifo_touch_saturates_at_three_and_keeps_tag() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut lru = S3_TRACKED | (77 << S3_TAG_SHIFT);
        for expected in [1, 2, 3, 3] {
            lru = touched_lru(lru, EvictionPolicy::AllKeysS3Fifo, 0, 10, 1, &mut rng);
            assert_eq!(s3fifo_freq(lru), expected);
        }
        assert_eq!(lru >> S3_TAG_SHIFT, 77);
    }

    #[test]
    fn chunk_queue_is_fifo_across_chunks() {
        let mut q = ChunkQueue::default();
        let mut next_out = 0u32;
        for round in 0..3u32 {
            for i in 0..2500u32 {
                q.push_back(QueueItem::new(u64::from(round * 2500 + i), 0, 0));
            }
            for _ in 0..2000 {
                assert_eq!(q.pop_front().map(|it| it.hash()), Some(u64::from(next_out)));
                next_out += 1;
            }
        }
        assert_eq!(q.len(), 1500);
        while q.pop_front().is_some() {}
        assert_eq!((q.len(), q.chunks.len()), (0, 0));
    }

    #[test]
    fn queue_item_round_trips() {
        let item = QueueItem::new(0xdead_beef_0123_4567, 15, 0xABCDE);
        assert_eq!(item.hash(), 0xdead_beef_0123_4567);
        assert_eq!(item.db(), 15);
        assert_eq!(item.tag(), 0xABCDE);
        assert_eq!(std::mem::size_of::<QueueItem>(), 12);
    }
}
