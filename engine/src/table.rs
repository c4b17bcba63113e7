//! The keyspace hash table: extendible hashing over fixed-size segments.
//!
//! ```text
//!   hash = SipHash-1-3(k0, k1, key)            64 bits
//!   ├─ top global_depth bits ─► directory slot ─► segment id
//!   └─ top CURSOR_BITS (52) bits = scan position
//!
//!   directory (global_depth = 2)      segments (local depth d covers 2^(g-d) slots)
//!   slot 00 ─┐
//!   slot 01 ─┴──────────────────────► S0  d=1  positions [0, 1/2)
//!   slot 10 ────────────────────────► S1  d=2  positions [1/2, 3/4)
//!   slot 11 ────────────────────────► S2  d=2  positions [3/4, 1)
//! ```
//!
//! Why: a single open-addressing table doubles and rehashes everything at once when it grows; at
//! ~7M keys that stalls a shard for 0.4–1.3 s. Here each segment is a `hashbrown::HashTable`
//! holding at most `segment_capacity` entries. When a full segment takes a new key it splits on
//! its own by the next hash bit, so the work of one insert is bounded by one segment split (plus,
//! rarely, a directory doubling, which copies only the `u32` slot array, never an entry).
//!
//! Segments never grow past the bucket count their capacity needs: a fresh table starts with one
//! small segment that hashbrown grows up to the cap (so the 16 mostly-empty databases of a shard
//! cost nothing), a split keeps the low half in the old segment's buckets and allocates the high
//! half at the cap, tombstone build-up is compacted in place at the same size, a segment that
//! falls below 1/8 load is shrunk, and a table whose last key goes frees everything. Entries are
//! `(Key, V)` only: the hash is recomputed on split and scan instead of costing 8 bytes per key.
//! Segments are never merged back; an emptied segment costs its 40-byte header and nothing else.
//!
//! Inside a segment every key shares the top `local_depth` hash bits, so hashbrown is given the
//! hash rotated by 32 bits: its bucket index (low bits) and 7-bit tag (top bits) then come from
//! bits 32.. and 25..31, which the directory (at most [`MAX_GLOBAL_DEPTH`] = 24 bits) never uses.
//!
//! # Scan contract
//! A cursor is a position in the space of the top [`CURSOR_BITS`] bits of the keyed hash. A call
//! `scan(c, count, visit)` visits the keys whose position is ≥ c, in increasing position order,
//! and returns the next position, or 0 when the whole space is done. It stops after `count` keys
//! (at least one is asked for even when `count` is 0), never splitting keys that share a position
//! across calls, or at the end of the space. A key present for the whole scan is visited at least
//! once, whatever inserts, deletes, splits and directory doublings happen between calls, because
//! positions never change and each call covers the position range [c, returned cursor) completely.
//!
//! Cost: segments cover contiguous position ranges, so a call reads only the segment(s) covering
//! positions from c on: it hashes that segment's entries, keeps those ≥ c, selects the smallest
//! `count` and sorts them — O(S + count·log count) per segment of S entries. To bound a call when
//! many segments are (nearly) empty, it also stops once it has examined 4·max(count, segment
//! capacity) entries-plus-segments; it may then return fewer than `count` keys with a non-zero
//! cursor, as Redis's SCAN does after too many empty buckets. COUNT is a hint, as in Redis.
//!
//! # Random
//! [`Table::random`] picks a uniformly random directory slot and accepts its segment with
//! probability `len / (slots · capacity)`, then a uniform entry inside it: an exactly uniform pick
//! over all keys, O(segment) per try. After 64 rejected tries (only when the table holds far fewer
//! keys than its segments were split for, e.g. after mass deletion) it falls back to the first
//! non-empty segment from a random segment index, which is biased towards keys in segments that
//! follow empty ones, and costs O(segment count).

use rand::Rng;
use siphasher::sip::SipHasher13;
use std::hash::Hasher;

/// Bits of the hash used as a scan position; the net layer packs a shard index below them.
pub const CURSOR_BITS: u32 = 52;

/// Deepest directory: 2^24 slots (64 MiB of `u32`). With the default capacity that is billions of
/// keys; past it a segment is allowed to grow beyond its capacity instead of splitting.
pub const MAX_GLOBAL_DEPTH: u32 = 24;

/// Default entries per segment. 7/8 of a power of two fills hashbrown's buckets exactly; 896
/// entries (1024 buckets) keeps the split pause and a scan step around tens of microseconds while
/// the directory stays negligible (see engine/benches/table.rs for the measurements).
pub const DEFAULT_SEGMENT_CAPACITY: usize = 896;

/// Smallest accepted segment capacity: one key per segment would make the directory explode.
const MIN_SEGMENT_CAPACITY: usize = 2;
/// Largest accepted segment capacity (bounds the work of one split and one scan step).
const MAX_SEGMENT_CAPACITY: usize = 1 << 20;
/// One past the last scan position.
const POSITION_END: u64 = 1 << CURSOR_BITS;
/// Rejection-sampling tries in [`Table::random`] before the biased fallback.
const RANDOM_TRIES: usize = 64;
/// Segments with fewer buckets than this are never shrunk (not worth a rehash).
const SHRINK_MIN_CAPACITY: usize = 64;

pub type Key = Box<[u8]>;

/// The keyed hash, copied into hashbrown's rehash closures (which cannot borrow the table).
#[derive(Clone, Copy)]
struct KeyedHash {
    k0: u64,
    k1: u64,
    /// Unit tests replace SipHash to build keys with chosen positions.
    #[cfg(test)]
    replace: Option<fn(&[u8]) -> u64>,
}

impl KeyedHash {
    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        #[cfg(test)]
        if let Some(f) = self.replace {
            return f(key);
        }
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write(key);
        h.finish()
    }

    /// The hash hashbrown sees for an entry when it resizes a segment.
    #[inline]
    fn inner_of<V>(&self, entry: &(Key, V)) -> u64 {
        inner(self.hash(&entry.0))
    }
}

/// Moves bits the directory never uses into hashbrown's bucket index and tag; see module docs.
#[inline]
fn inner(hash: u64) -> u64 {
    hash.rotate_left(32)
}

/// Loads the first byte of each key so their cache misses overlap (a safe stand-in for a
/// prefetch); the loop is short enough for dozens of loads to be in flight at once.
#[inline]
fn touch_keys<'a>(keys: impl Iterator<Item = &'a [u8]>) {
    let mut sum = 0u8;
    for k in keys {
        sum ^= k.first().copied().unwrap_or(0);
    }
    std::hint::black_box(sum);
}

#[inline]
fn position(hash: u64) -> u64 {
    hash >> (64 - CURSOR_BITS)
}

struct Segment<V> {
    entries: hashbrown::HashTable<(Key, V)>,
    /// Number of top hash bits all keys of this segment share.
    depth: u32,
}

pub struct Table<V> {
    /// Slot i holds the id of the segment for hashes whose top `global_depth` bits equal i.
    /// Empty until the first insert, so an unused table allocates nothing.
    directory: Vec<u32>,
    segments: Vec<Segment<V>>,
    global_depth: u32,
    len: usize,
    segment_capacity: usize,
    /// `allocation_size()` of a segment allocated for `segment_capacity` entries; 0 until the
    /// first insert (computing it allocates once).
    full_segment_bytes: usize,
    /// Reused by every split: (hash, entry) of the splitting segment. Empty between splits.
    split_scratch: Vec<(u64, (Key, V))>,
    hasher: KeyedHash,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> Table<V> {
    /// A table with random SipHash keys, so crafted keys cannot degrade it.
    ///
    /// The keys come from the thread's RNG, not the shard's: they must be unpredictable
    /// (HashDoS), and they only decide where entries sit, hence iteration and scan order and
    /// which entry a random pick lands on. No command stores anything that depends on that
    /// order (a *STORE result's content and encoding are order-free), and every command whose
    /// effect does (SPOP, eviction and active-expiry victims, lazy deletions met by SCAN or
    /// RANDOMKEY) is journaled as the effect it had, never as the command. So a copy with other
    /// keys replays the journal to the same data; see `shard`'s write path.
    pub fn new() -> Self {
        let mut rng = rand::thread_rng();
        Self::with_keys(rng.gen(), rng.gen())
    }

    pub fn with_keys(k0: u64, k1: u64) -> Self {
        Self::with_segment_capacity(k0, k1, DEFAULT_SEGMENT_CAPACITY)
    }

    /// For tests and tuning: segments hold at most `capacity` entries (clamped to 2..=2^20).
    /// Tiny capacities make splits and directory doublings happen with a handful of keys.
    pub fn with_segment_capacity(k0: u64, k1: u64, capacity: usize) -> Self {
        Table {
            directory: Vec::new(),
            segments: Vec::new(),
            global_depth: 0,
            len: 0,
            segment_capacity: capacity.clamp(MIN_SEGMENT_CAPACITY, MAX_SEGMENT_CAPACITY),
            full_segment_bytes: 0,
            split_scratch: Vec::new(),
            hasher: KeyedHash {
                k0,
                k1,
                #[cfg(test)]
                replace: None,
            },
        }
    }

    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash(key)
    }

    /// The scan position of `key` (top [`CURSOR_BITS`] bits of its hash).
    pub fn position_of(&self, key: &[u8]) -> u64 {
        position(self.hash(key))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of segments currently allocated.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Number of top hash bits that index the directory.
    pub fn global_depth(&self) -> u32 {
        self.global_depth
    }

    /// Maximum entries per segment before it splits.
    pub fn segment_capacity(&self) -> usize {
        self.segment_capacity
    }

    /// Heap bytes held by the table's own structure: directory, segment headers, hashbrown
    /// bucket arrays (which hold the inline `(Key, V)` pairs) and the split scratch. Excludes what keys and values
    /// point to.
    pub fn capacity_bytes(&self) -> usize {
        self.directory.capacity() * std::mem::size_of::<u32>()
            + self.segments.capacity() * std::mem::size_of::<Segment<V>>()
            + self.segments.iter().map(|s| s.entries.allocation_size()).sum::<usize>()
            + self.split_scratch.capacity() * std::mem::size_of::<(u64, (Key, V))>()
    }

    #[inline]
    fn slot(&self, hash: u64) -> usize {
        // checked_shr: at depth 0 the shift would be 64 bits, and every hash maps to slot 0.
        hash.checked_shr(64 - self.global_depth).unwrap_or(0) as usize
    }

    #[inline]
    fn segment_for(&self, hash: u64) -> Option<&Segment<V>> {
        let id = *self.directory.get(self.slot(hash))?;
        Some(&self.segments[id as usize])
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.get_key_value(key).map(|(_, v)| v)
    }

    /// The stored key and its value.
    pub fn get_key_value(&self, key: &[u8]) -> Option<(&[u8], &V)> {
        let hash = self.hash(key);
        let segment = self.segment_for(hash)?;
        segment.entries.find(inner(hash), |(k, _)| **k == *key).map(|(k, v)| (&**k, v))
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let hash = self.hash(key);
        let id = *self.directory.get(self.slot(hash))?;
        let segment = &mut self.segments[id as usize];
        segment.entries.find_mut(inner(hash), |(k, _)| **k == *key).map(|(_, v)| v)
    }

    /// The entry whose key hashes to `hash` (as [`Table::hash`] computes it) and satisfies
    /// `pred`. Lets side structures (the S3-FIFO eviction queues) refer to keys by hash alone,
    /// 8 bytes instead of a copy of the key.
    pub fn find_by_hash(
        &self,
        hash: u64,
        mut pred: impl FnMut(&[u8], &V) -> bool,
    ) -> Option<(&[u8], &V)> {
        let segment = self.segment_for(hash)?;
        segment.entries.find(inner(hash), |(k, v)| pred(k, v)).map(|(k, v)| (&**k, v))
    }

    /// Mutable form of [`Table::find_by_hash`].
    pub fn find_by_hash_mut(
        &mut self,
        hash: u64,
        mut pred: impl FnMut(&[u8], &V) -> bool,
    ) -> Option<(&[u8], &mut V)> {
        let id = *self.directory.get(self.slot(hash))?;
        let segment = &mut self.segments[id as usize];
        segment.entries.find_mut(inner(hash), |(k, v)| pred(k, v)).map(|(k, v)| (&**k, v))
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: Key, value: V) -> Option<V> {
        let hash = self.hash(&key);
        if self.directory.is_empty() {
            if self.full_segment_bytes == 0 {
                self.full_segment_bytes =
                    hashbrown::HashTable::<(Key, V)>::with_capacity(self.segment_capacity)
                        .allocation_size();
            }
            self.directory.push(0);
            self.segments.push(Segment { entries: hashbrown::HashTable::new(), depth: 0 });
        }
        let hasher = self.hasher;
        let capacity = self.segment_capacity;
        let full_segment_bytes = self.full_segment_bytes;
        loop {
            let id = self.directory[self.slot(hash)] as usize;
            let segment = &mut self.segments[id];
            let entries = &mut segment.entries;
            // Fast path, one probe: room for a new key without any resize. hashbrown's `entry`
            // reserves before probing, so it must only run when that reserve is a no-op.
            if entries.len() < capacity && entries.capacity() > entries.len() {
                let rehash = |e: &(Key, V)| hasher.inner_of(e);
                return match entries.entry(inner(hash), |(k, _)| *k == key, rehash) {
                    hashbrown::hash_table::Entry::Occupied(mut o) => {
                        Some(std::mem::replace(&mut o.get_mut().1, value))
                    }
                    hashbrown::hash_table::Entry::Vacant(v) => {
                        v.insert((key, value));
                        self.len += 1;
                        None
                    }
                };
            }
            if let Some((_, v)) = entries.find_mut(inner(hash), |(k, _)| *k == key) {
                return Some(std::mem::replace(v, value));
            }
            if entries.len() >= capacity && segment.depth < MAX_GLOBAL_DEPTH {
                self.split(id, hash);
                continue;
            }
            let rehash = |e: &(Key, V)| hasher.inner_of(e);
            if entries.len() < capacity && entries.allocation_size() >= full_segment_bytes {
                // No free bucket left (tombstones) at the cap's bucket count: hashbrown would
                // double the buckets; rebuild at the same size instead (bounded by one segment).
                let old = std::mem::replace(entries, hashbrown::HashTable::with_capacity(capacity));
                touch_keys(old.iter().map(|(k, _)| &**k));
                for e in old {
                    entries.insert_unique(hasher.inner_of(&e), e, rehash);
                }
            }
            // Either hashbrown grows a small segment up to the cap's bucket count (len < cap so
            // it never goes past it), or this segment is at MAX_GLOBAL_DEPTH and may exceed it.
            entries.insert_unique(inner(hash), (key, value), rehash);
            self.len += 1;
            return None;
        }
    }

    /// Splits segment `id` (which covers `hash`) by its next hash bit, doubling the directory
    /// first when the segment is already at global depth.
    fn split(&mut self, id: usize, hash: u64) {
        let depth = self.segments[id].depth;
        debug_assert!(depth < MAX_GLOBAL_DEPTH);
        if depth == self.global_depth {
            // Slot i (top g bits) becomes slots 2i and 2i+1 (top g+1 bits): a copy of u32s.
            let mut directory = Vec::with_capacity(self.directory.len() * 2);
            for &s in &self.directory {
                directory.push(s);
                directory.push(s);
            }
            self.directory = directory;
            self.global_depth += 1;
        }
        let hasher = self.hasher;
        let rehash = |e: &(Key, V)| hasher.inner_of(e);
        let bit = 1u64 << (63 - depth);
        // The low half stays in the old allocation (drained, so no tombstones). Rehashing reads
        // every key from its own heap allocation, one cache miss each; touching them all in a
        // light loop first lets the CPU overlap those misses instead of taking them one by one.
        let scratch = &mut self.split_scratch;
        let low = &mut self.segments[id].entries;
        scratch.extend(low.drain().map(|e| (0, e)));
        touch_keys(scratch.iter().map(|(_, (k, _))| &**k));
        for (h, (k, _)) in scratch.iter_mut() {
            *h = hasher.hash(k);
        }
        let mut high = hashbrown::HashTable::with_capacity(self.segment_capacity);
        for (h, e) in scratch.drain(..) {
            let half = if h & bit == 0 { &mut *low } else { &mut high };
            half.insert_unique(inner(h), e, rehash);
        }
        self.segments[id].depth = depth + 1;
        let new_id = u32::try_from(self.segments.len()).expect("segments fit u32: depth ≤ 24");
        self.segments.push(Segment { entries: high, depth: depth + 1 });
        let span = 1usize << (self.global_depth - depth);
        let first = self.slot(hash) & !(span - 1);
        for slot in &mut self.directory[first + span / 2..first + span] {
            *slot = new_id;
        }
    }

    /// Gives memory back from a segment that fell below 1/8 load (bounded by one segment).
    fn maybe_shrink(segment: &mut Segment<V>, hasher: KeyedHash) {
        let entries = &mut segment.entries;
        let sparse =
            entries.capacity() >= SHRINK_MIN_CAPACITY && entries.len() * 8 < entries.capacity();
        if sparse || (entries.is_empty() && entries.allocation_size() > 0) {
            // An empty segment keeps no buckets at all.
            touch_keys(entries.iter().map(|(k, _)| &**k));
            entries.shrink_to(entries.len() * 2, |e| hasher.inner_of(e));
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<(Key, V)> {
        let hash = self.hash(key);
        let id = *self.directory.get(self.slot(hash))? as usize;
        let segment = &mut self.segments[id];
        let found = segment.entries.find_entry(inner(hash), |(k, _)| **k == *key).ok()?;
        let (entry, _) = found.remove();
        self.len -= 1;
        if self.len == 0 {
            // Nothing left: drop the directory, empty segments and split scratch as well.
            self.clear();
        } else {
            Self::maybe_shrink(segment, self.hasher);
        }
        Some(entry)
    }

    /// Removes everything and frees the directory and all segments.
    pub fn clear(&mut self) {
        self.directory = Vec::new();
        self.segments = Vec::new();
        self.split_scratch = Vec::new();
        self.global_depth = 0;
        self.len = 0;
    }

    /// All entries, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.segments.iter().flat_map(|s| s.entries.iter()).map(|(k, v)| (&**k, v))
    }

    /// All entries with mutable values, in no particular order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&[u8], &mut V)> {
        self.segments.iter_mut().flat_map(|s| s.entries.iter_mut()).map(|(k, v)| (&**k, v))
    }

    /// Removes every entry for which `keep` returns false.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &mut V) -> bool) {
        let hasher = self.hasher;
        let mut len = 0;
        for segment in &mut self.segments {
            segment.entries.retain(|(k, v)| keep(k, v));
            Self::maybe_shrink(segment, hasher);
            len += segment.entries.len();
        }
        self.len = len;
        if len == 0 {
            self.clear();
        }
    }

    /// Visits at least `count` keys (fewer at the end) from `cursor` on; see the module docs.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], &V)) -> u64 {
        if self.directory.is_empty() || cursor >= POSITION_END {
            return 0;
        }
        let want = count.max(1);
        let budget = want.max(self.segment_capacity).saturating_mul(4);
        let mut work = 0;
        let mut visited = 0;
        let mut at = cursor;
        let mut found: Vec<(u64, &[u8], &V)> = Vec::new();
        loop {
            // Positions are the top 52 bits and the directory uses at most 24 of them.
            let slot = (at >> (CURSOR_BITS - self.global_depth)) as usize;
            let segment = &self.segments[self.directory[slot] as usize];
            let prefix = (slot >> (self.global_depth - segment.depth)) as u64;
            let end = (prefix + 1) << (CURSOR_BITS - segment.depth);
            work += 1 + segment.entries.len();
            if !segment.entries.is_empty() {
                found.clear();
                touch_keys(segment.entries.iter().map(|(k, _)| &**k));
                for (k, v) in segment.entries.iter() {
                    let p = position(self.hash(k));
                    if p >= at {
                        found.push((p, k, v));
                    }
                }
                let still = want - visited;
                if found.len() > still {
                    // Only the smallest `still` positions (plus ties with the last) are needed.
                    found.select_nth_unstable_by_key(still - 1, |e| e.0);
                    let last = found[still - 1].0;
                    let mut taken = still;
                    for i in still..found.len() {
                        if found[i].0 == last {
                            found.swap(i, taken);
                            taken += 1;
                        }
                    }
                    let head = &mut found[..taken];
                    head.sort_unstable_by_key(|e| e.0);
                    for &(_, k, v) in head.iter() {
                        visit(k, v);
                    }
                    // Every key in [at, last] was visited; last < end ≤ POSITION_END.
                    return last + 1;
                }
                found.sort_unstable_by_key(|e| e.0);
                for &(_, k, v) in &found {
                    visit(k, v);
                }
                visited += found.len();
            }
            if end >= POSITION_END {
                return 0;
            }
            at = end;
            if visited >= want || work >= budget {
                return at;
            }
        }
    }

    /// A uniformly chosen entry, or None when empty (see the module docs for the fallback bias).
    pub fn random(&self, rng: &mut impl Rng) -> Option<(&[u8], &V)> {
        if self.len == 0 {
            return None;
        }
        for _ in 0..RANDOM_TRIES {
            let slot = rng.gen_range(0..self.directory.len());
            let segment = &self.segments[self.directory[slot] as usize];
            let slots = 1usize << (self.global_depth - segment.depth);
            let n = segment.entries.len();
            // Accept with probability n / (slots · cap): overall P(entry) = 1 / (dir · cap).
            // A segment over its cap (only at MAX_GLOBAL_DEPTH) is always accepted.
            if rng.gen_range(0..slots.saturating_mul(self.segment_capacity)) < n {
                return Self::random_in(segment, rng);
            }
        }
        let start = rng.gen_range(0..self.segments.len());
        let count = self.segments.len();
        (0..count)
            .map(|i| &self.segments[(start + i) % count])
            .find(|s| !s.entries.is_empty())
            .and_then(|s| Self::random_in(s, rng))
    }

    fn random_in<'a>(segment: &'a Segment<V>, rng: &mut impl Rng) -> Option<(&'a [u8], &'a V)> {
        let n = segment.entries.len();
        if n == 0 {
            return None;
        }
        segment.entries.iter().nth(rng.gen_range(0..n)).map(|(k, v)| (&**k, v))
    }

    /// Checks the structural invariants; O(n). For tests and debugging.
    pub fn validate(&self) -> Result<(), String> {
        let g = self.global_depth;
        if self.directory.is_empty() {
            return if self.segments.is_empty() && self.len == 0 && g == 0 {
                Ok(())
            } else {
                Err("empty directory with segments or entries".into())
            };
        }
        if self.directory.len() != 1 << g {
            return Err(format!("directory has {} slots at depth {g}", self.directory.len()));
        }
        let mut seen = vec![false; self.segments.len()];
        let mut slot = 0;
        while slot < self.directory.len() {
            let id = self.directory[slot] as usize;
            let segment = self.segments.get(id).ok_or(format!("slot {slot}: bad id {id}"))?;
            if segment.depth > g {
                return Err(format!("segment {id} depth {} > global {g}", segment.depth));
            }
            let span = 1usize << (g - segment.depth);
            if slot % span != 0 || seen[id] {
                return Err(format!("segment {id} slots not one aligned run at {slot}"));
            }
            seen[id] = true;
            if self.directory[slot..slot + span].iter().any(|&s| s as usize != id) {
                return Err(format!("segment {id} does not own its {span} slots at {slot}"));
            }
            for (k, _) in segment.entries.iter() {
                if self.slot(self.hash(k)) / span != slot / span {
                    return Err(format!("key {k:?} in segment {id} outside its prefix"));
                }
            }
            if segment.entries.len() > self.segment_capacity && segment.depth < MAX_GLOBAL_DEPTH {
                return Err(format!("segment {id} over capacity below max depth"));
            }
            slot += span;
        }
        if let Some(id) = seen.iter().position(|s| !s) {
            return Err(format!("segment {id} unreachable"));
        }
        let total: usize = self.segments.iter().map(|s| s.entries.len()).sum();
        if total != self.len {
            return Err(format!("len {} but segments hold {total}", self.len));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    /// Keys are their own hash: the first 8 bytes, big-endian.
    fn raw_hash(key: &[u8]) -> u64 {
        let mut b = [0u8; 8];
        let n = key.len().min(8);
        b[..n].copy_from_slice(&key[..n]);
        u64::from_be_bytes(b)
    }

    fn raw_table(capacity: usize) -> Table<u64> {
        let mut t = Table::with_segment_capacity(1, 2, capacity);
        t.hasher.replace = Some(raw_hash);
        t
    }

    /// A key whose hash is `hash`, plus a tag so several keys can share one hash prefix.
    fn key(hash: u64, tag: u8) -> Key {
        let mut k = hash.to_be_bytes().to_vec();
        k.push(tag);
        k.into_boxed_slice()
    }

    fn scan_all(t: &Table<u64>, count: usize) -> (Vec<Vec<u8>>, usize) {
        let mut out = Vec::new();
        let mut cursor = 0;
        let mut calls = 0;
        loop {
            cursor = t.scan(cursor, count, |k, _| out.push(k.to_vec()));
            calls += 1;
            if cursor == 0 {
                return (out, calls);
            }
        }
    }

    #[test]
    fn empty_table_allocates_nothing_and_answers() {
        let mut t: Table<u64> = Table::with_keys(1, 2);
        assert_eq!(t.capacity_bytes(), 0);
        assert!(t.get(b"a").is_none());
        assert!(t.get_mut(b"a").is_none());
        assert!(t.remove(b"a").is_none());
        assert_eq!(t.scan(0, 10, |_, _| panic!("visited")), 0);
        assert!(t.random(&mut SmallRng::seed_from_u64(1)).is_none());
        assert_eq!(t.segment_count(), 0);
        t.validate().unwrap();
    }

    #[test]
    fn basic_operations() {
        let mut t: Table<u64> = Table::with_keys(7, 9);
        assert_eq!(t.insert(b"a".to_vec().into(), 1), None);
        assert_eq!(t.insert(b"a".to_vec().into(), 2), Some(1));
        assert_eq!(t.get(b"a"), Some(&2));
        *t.get_mut(b"a").unwrap() = 3;
        assert_eq!(t.get_key_value(b"a"), Some((&b"a"[..], &3)));
        assert!(t.contains_key(b"a"));
        assert_eq!(t.len(), 1);
        assert_eq!(t.remove(b"a").map(|(k, v)| (k.to_vec(), v)), Some((b"a".to_vec(), 3)));
        assert!(t.is_empty());
        t.validate().unwrap();
    }

    #[test]
    fn split_and_directory_doubling() {
        let mut t = raw_table(2);
        t.insert(key(0x0000_0000_0000_0000, 0), 0);
        t.insert(key(0x8000_0000_0000_0000, 0), 1);
        assert_eq!((t.global_depth(), t.segment_count()), (0, 1));
        // Third key: the single segment (depth 0) splits by the top bit, directory doubles.
        t.insert(key(0x4000_0000_0000_0000, 0), 2);
        assert_eq!((t.global_depth(), t.segment_count()), (1, 2));
        t.validate().unwrap();
        // 0x0…, 0x4… share bit 63 = 0 and fill the low segment; a third low key splits it by
        // bit 62, which needs depth 2; the high segment keeps depth 1 and two slots.
        t.insert(key(0x2000_0000_0000_0000, 0), 3);
        assert_eq!((t.global_depth(), t.segment_count()), (2, 3));
        t.validate().unwrap();
        let high = t.directory[2];
        assert_eq!(t.directory[3], high);
        assert_eq!(t.segments[high as usize].depth, 1);
        // Filling the high segment splits it without doubling the directory.
        t.insert(key(0xC000_0000_0000_0000, 0), 4);
        assert_eq!((t.global_depth(), t.segment_count()), (2, 3));
        t.insert(key(0xE000_0000_0000_0000, 0), 5);
        assert_eq!((t.global_depth(), t.segment_count()), (2, 4));
        assert_ne!(t.directory[2], t.directory[3]);
        t.validate().unwrap();
        for (i, h) in [0u64, 0x8, 0x4, 0x2, 0xC, 0xE].iter().enumerate() {
            assert_eq!(t.get(&key(h << 60, 0)), Some(&(i as u64)));
        }
    }

    #[test]
    fn one_sided_split_repeats_until_the_key_fits() {
        let mut t = raw_table(2);
        // All three share the top 10 bits, so nine splits move nothing before one separates.
        t.insert(key(0x0000_0000_0000_0000, 0), 0);
        t.insert(key(0x0010_0000_0000_0000, 0), 1);
        t.insert(key(0x0020_0000_0000_0000, 0), 2);
        assert_eq!(t.global_depth(), 11);
        assert_eq!(t.len(), 3);
        t.validate().unwrap();
    }

    #[test]
    fn segment_beyond_max_depth_grows_past_capacity() {
        let mut t = raw_table(2);
        // Identical top 40 bits: no split at depth ≤ 24 can separate them.
        for tag in 0..20u8 {
            t.insert(key(0x1234_5678_9A00_0000, tag), u64::from(tag));
        }
        assert_eq!(t.global_depth(), MAX_GLOBAL_DEPTH);
        assert_eq!(t.len(), 20);
        for tag in 0..20u8 {
            assert_eq!(t.get(&key(0x1234_5678_9A00_0000, tag)), Some(&u64::from(tag)));
        }
        t.validate().unwrap();
    }

    #[test]
    fn scan_cursor_edges() {
        let mut t = raw_table(4);
        let top = (POSITION_END - 1) << 12;
        for (i, h) in [0u64, 1 << 12, 5 << 40, top].iter().enumerate() {
            t.insert(key(*h, 0), i as u64);
        }
        // Cursor 0 starts at position 0 and includes it.
        let mut got = Vec::new();
        let next = t.scan(0, 1, |_, v| got.push(*v));
        assert_eq!(got, [0]);
        assert_eq!(next, 1);
        // A cursor past the last position, or outside the space, ends at once.
        assert_eq!(t.scan(POSITION_END, 10, |_, _| panic!("visited")), 0);
        assert_eq!(t.scan(u64::MAX, 10, |_, _| panic!("visited")), 0);
        // The key at the very last position is visited and the scan returns 0, not a wrap.
        let mut last = Vec::new();
        assert_eq!(t.scan(POSITION_END - 1, 1, |_, v| last.push(*v)), 0);
        assert_eq!(last, [3]);
        // Count 0 still makes progress.
        let mut one = Vec::new();
        let next = t.scan(0, 0, |_, v| one.push(*v));
        assert_eq!((one.len(), next), (1, 1));
        let (all, _) = scan_all(&t, 1);
        assert_eq!(all.len(), 4);
        // A huge COUNT (from the wire) neither overflows nor stops early.
        let mut every = Vec::new();
        assert_eq!(t.scan(0, usize::MAX, |_, v| every.push(*v)), 0);
        assert_eq!(every, [0, 1, 2, 3]);
    }

    #[test]
    fn scan_visits_in_position_order() {
        let mut t: Table<u64> = Table::with_segment_capacity(3, 4, 8);
        for i in 0..500u64 {
            t.insert(i.to_string().into_bytes().into(), i);
        }
        for count in [1, 3, 7, 100, 1000] {
            let (keys, _) = scan_all(&t, count);
            let positions: Vec<u64> = keys.iter().map(|k| t.position_of(k)).collect();
            assert!(positions.windows(2).all(|w| w[0] <= w[1]), "count {count}");
            assert_eq!(keys.len(), 500);
        }
    }

    #[test]
    fn keys_sharing_a_position_are_never_split_across_calls() {
        let mut t = raw_table(8);
        // Five keys share one position (they differ only below the top 52 bits).
        let shared = 0x7777_7777_7777_7000u64;
        for low in 0..5u64 {
            t.insert(key(shared | low, 0), low);
        }
        t.insert(key(0x1000_0000_0000_0000, 0), 10);
        t.insert(key(0xF000_0000_0000_0000, 0), 11);
        let mut cursor = 0;
        let mut batches = Vec::new();
        loop {
            let mut batch = Vec::new();
            cursor = t.scan(cursor, 1, |_, v| batch.push(*v));
            batches.push(batch);
            if cursor == 0 {
                break;
            }
        }
        let mut middle = batches[1].clone();
        middle.sort_unstable();
        assert_eq!(batches[0], [10]);
        assert_eq!(middle, [0, 1, 2, 3, 4]);
        assert_eq!(batches[2], [11]);
        assert_eq!(batches.len(), 3);
    }

    #[test]
    fn scan_survives_splits_between_calls() {
        let mut t: Table<u64> = Table::with_segment_capacity(5, 6, 4);
        for i in 0..200u64 {
            t.insert(format!("old{i}").into_bytes().into(), i);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut next_new = 0u64;
        loop {
            cursor = t.scan(cursor, 3, |k, _| {
                seen.insert(k.to_vec());
            });
            // Force splits and doublings between calls.
            for _ in 0..20 {
                t.insert(format!("new{next_new}").into_bytes().into(), next_new);
                next_new += 1;
            }
            if cursor == 0 {
                break;
            }
        }
        t.validate().unwrap();
        for i in 0..200u64 {
            assert!(seen.contains(format!("old{i}").as_bytes()), "old{i} missed");
        }
    }

    #[test]
    fn scan_work_is_bounded_over_empty_segments() {
        let mut t: Table<u64> = Table::with_segment_capacity(5, 6, 4);
        for i in 0..4000u64 {
            t.insert(i.to_string().into_bytes().into(), i);
        }
        let segments = t.segment_count();
        t.retain(|k, _| k == b"1234");
        assert_eq!(t.segment_count(), segments);
        // Budget is 4·max(count, cap) = 16 entries-plus-segments: many calls, each small.
        let (keys, calls) = scan_all(&t, 1);
        assert_eq!(keys, [b"1234".to_vec()]);
        assert!(calls > segments / 16, "{calls} calls over {segments} segments");
        t.validate().unwrap();
    }

    #[test]
    fn churn_never_grows_a_segment_past_its_cap() {
        let mut t: Table<u64> = Table::with_segment_capacity(5, 6, 896);
        for i in 0..800u64 {
            t.insert(i.to_string().into_bytes().into(), i);
        }
        // Insert/remove churn leaves tombstones; the segment must be compacted, not doubled.
        for round in 0..50_000u64 {
            let k = (1000 + round).to_string().into_bytes();
            t.insert(k.clone().into(), round);
            t.remove(&k);
            let bytes = t.segments[0].entries.allocation_size();
            assert!(bytes <= t.full_segment_bytes, "round {round}: {bytes}");
        }
        assert_eq!(t.segment_count(), 1);
        assert_eq!(t.len(), 800);
        t.validate().unwrap();
    }

    #[test]
    fn sparse_segments_shrink() {
        let mut t: Table<u64> = Table::with_segment_capacity(5, 6, 896);
        for i in 0..20_000u64 {
            t.insert(i.to_string().into_bytes().into(), i);
        }
        let full = t.capacity_bytes();
        let segments = t.segment_count();
        for i in 1..20_000u64 {
            t.remove(i.to_string().as_bytes());
        }
        // One key left: every other segment dropped its buckets.
        assert_eq!(t.segment_count(), segments);
        assert!(t.capacity_bytes() * 10 < full, "{} vs {full}", t.capacity_bytes());
        assert_eq!(t.get(b"0"), Some(&0));
        // The last removal resets the table to its unallocated state.
        t.remove(b"0");
        assert_eq!((t.capacity_bytes(), t.segment_count()), (0, 0));
        t.validate().unwrap();
    }

    #[test]
    fn random_is_roughly_uniform() {
        let mut t: Table<u64> = Table::with_segment_capacity(5, 6, 16);
        for i in 0..64u64 {
            t.insert(i.to_string().into_bytes().into(), i);
        }
        let mut rng = SmallRng::seed_from_u64(42);
        let mut hits = [0u32; 64];
        for _ in 0..64_000 {
            let (_, v) = t.random(&mut rng).unwrap();
            hits[*v as usize] += 1;
        }
        // Expected 1000 each; 5 sigma is about ±160.
        assert!(hits.iter().all(|&h| (800..1200).contains(&h)), "{hits:?}");
    }

    #[test]
    fn random_finds_the_last_key_after_mass_deletion() {
        let mut t: Table<u64> = Table::with_segment_capacity(5, 6, 4);
        for i in 0..5000u64 {
            t.insert(i.to_string().into_bytes().into(), i);
        }
        t.retain(|k, _| k == b"4321");
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..10 {
            assert_eq!(t.random(&mut rng).map(|(k, _)| k), Some(&b"4321"[..]));
        }
    }

    #[test]
    fn find_by_hash_sees_through_splits() {
        let mut t: Table<u64> = Table::with_segment_capacity(5, 6, 4);
        for i in 0..300u64 {
            t.insert(i.to_string().into_bytes().into(), i);
        }
        let h = t.hash(b"123");
        assert_eq!(t.find_by_hash(h, |k, _| k == b"123"), Some((&b"123"[..], &123)));
        assert_eq!(t.find_by_hash(h, |_, _| false), None);
        *t.find_by_hash_mut(h, |k, _| k == b"123").unwrap().1 = 7;
        assert_eq!(t.get(b"123"), Some(&7));
    }

    #[test]
    fn iter_mut_and_retain() {
        let mut t: Table<u64> = Table::with_segment_capacity(5, 6, 4);
        for i in 0..100u64 {
            t.insert(i.to_string().into_bytes().into(), i);
        }
        for (_, v) in t.iter_mut() {
            *v *= 2;
        }
        t.retain(|_, v| *v % 4 == 0);
        assert_eq!(t.len(), 50);
        assert!(t
            .iter()
            .all(|(k, v)| *v == 2 * std::str::from_utf8(k).unwrap().parse::<u64>().unwrap()));
        t.validate().unwrap();
    }
}
