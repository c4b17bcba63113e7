//! A segmented hash table for the large encodings of collections (hash fields, integer set
//! members), generic over a compact entry type.
//!
//! ```text
//!   hash = SipHash-1-3(k0, k1, entry's key)      64 bits
//!   ├─ top `depth` bits ─► directory slot ─► segment (hashbrown table, ≤ SEGMENT_CAPACITY)
//!   └─ top CURSOR_BITS bits = scan position
//! ```
//! The same extendible-hashing scheme as the keyspace table (crate::table): growth splits one
//! segment at a time, never rehashing everything; a segment covers a fixed range of positions
//! and splits only subdivide ranges, so SCAN cursors (positions) survive growth. Unlike the
//! keyspace table, entries are whatever the caller packs into `T` (an `i64`, or one boxed
//! slice holding a field and its value), with no separate key, so an entry costs
//! `size_of::<T>()` plus a control byte. The caller computes hashes with [`SegTable::hash`]
//! and supplies equality, as with hashbrown's `HashTable`.

use rand::Rng;
use siphasher::sip::SipHasher13;
use std::hash::Hasher;

use crate::table::CURSOR_BITS;

/// 7/8 of 2048 buckets: one split moves at most this many entries.
const SEGMENT_CAPACITY: usize = 1792;
/// Deepest directory (2^22 slots); past it segments grow instead of splitting.
const MAX_DEPTH: u32 = 22;
/// Rejection-sampling tries of `random` before its (slightly biased) fallback.
const RANDOM_TRIES: usize = 64;
const POSITION_END: u64 = 1 << CURSOR_BITS;
/// Segments with fewer buckets than this are never shrunk.
const SHRINK_MIN_CAPACITY: usize = 64;

/// The key bytes an entry is hashed by (written into the hasher, e.g. an i64's 8 bytes).
pub type KeyOf<T> = fn(&T, &mut SipHasher13);

struct Segment<T> {
    entries: hashbrown::HashTable<T>,
    depth: u32,
}

pub struct SegTable<T> {
    directory: Vec<u32>,
    segments: Vec<Segment<T>>,
    depth: u32,
    len: usize,
    k0: u64,
    k1: u64,
    key_of: KeyOf<T>,
}

/// hashbrown takes its bucket index from the low bits and its tag from the top 7; the
/// directory uses the top bits, so hashbrown sees the hash rotated (as crate::table does).
#[inline]
fn inner(hash: u64) -> u64 {
    hash.rotate_left(32)
}

#[inline]
fn position(hash: u64) -> u64 {
    hash >> (64 - CURSOR_BITS)
}

impl<T> SegTable<T> {
    /// An empty table with random SipHash keys; `key_of` feeds an entry's key to the hasher.
    /// The keys come from the thread's RNG, not the shard's, for the reason given at
    /// `Table::new`: they only decide order and random picks, which the journal records by
    /// their effect (a set's SPOP as the SREM of what it popped).
    pub fn new(key_of: KeyOf<T>) -> SegTable<T> {
        let mut rng = rand::thread_rng();
        SegTable {
            directory: Vec::new(),
            segments: Vec::new(),
            depth: 0,
            len: 0,
            k0: rng.gen(),
            k1: rng.gen(),
            key_of,
        }
    }

    /// The keyed hash of a key, fed by `write` exactly as `key_of` feeds an entry's key.
    #[inline]
    pub fn hash(&self, write: impl FnOnce(&mut SipHasher13)) -> u64 {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        write(&mut h);
        h.finish()
    }

    #[inline]
    fn hash_entry(&self, e: &T) -> u64 {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        (self.key_of)(e, &mut h);
        h.finish()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn slot(&self, hash: u64) -> usize {
        hash.checked_shr(64 - self.depth).unwrap_or(0) as usize
    }

    #[inline]
    fn segment_id(&self, hash: u64) -> Option<usize> {
        self.directory.get(self.slot(hash)).map(|&id| id as usize)
    }

    pub fn find(&self, hash: u64, eq: impl FnMut(&T) -> bool) -> Option<&T> {
        let id = self.segment_id(hash)?;
        self.segments[id].entries.find(inner(hash), eq)
    }

    pub fn find_mut(&mut self, hash: u64, eq: impl FnMut(&T) -> bool) -> Option<&mut T> {
        let id = self.segment_id(hash)?;
        self.segments[id].entries.find_mut(inner(hash), eq)
    }

    /// Inserts an entry the caller knows is absent (checked with `find`).
    pub fn insert_new(&mut self, hash: u64, value: T) {
        if self.directory.is_empty() {
            self.directory.push(0);
            self.segments.push(Segment { entries: hashbrown::HashTable::new(), depth: 0 });
        }
        loop {
            let id = self.segment_id(hash).expect("directory is not empty");
            let segment = &self.segments[id];
            if segment.entries.len() >= SEGMENT_CAPACITY && segment.depth < MAX_DEPTH {
                self.split(id, hash);
                continue;
            }
            let (k0, k1, key_of) = (self.k0, self.k1, self.key_of);
            let rehash = move |e: &T| inner(keyed(k0, k1, key_of, e));
            self.segments[id].entries.insert_unique(inner(hash), value, rehash);
            self.len += 1;
            return;
        }
    }

    /// Splits segment `id` by its next hash bit, doubling the directory when needed.
    fn split(&mut self, id: usize, hash: u64) {
        let depth = self.segments[id].depth;
        if depth == self.depth {
            self.directory = self.directory.iter().flat_map(|&s| [s, s]).collect();
            self.depth += 1;
        }
        let (k0, k1, key_of) = (self.k0, self.k1, self.key_of);
        let rehash = move |e: &T| inner(keyed(k0, k1, key_of, e));
        let bit = 1u64 << (63 - depth);
        let old = std::mem::take(&mut self.segments[id].entries);
        let mut low = hashbrown::HashTable::with_capacity(SEGMENT_CAPACITY);
        let mut high = hashbrown::HashTable::with_capacity(SEGMENT_CAPACITY);
        for e in old {
            let h = keyed(k0, k1, key_of, &e);
            let half = if h & bit == 0 { &mut low } else { &mut high };
            half.insert_unique(inner(h), e, rehash);
        }
        let new_id = u32::try_from(self.segments.len()).expect("depth ≤ 22: ids fit u32");
        self.segments[id] = Segment { entries: low, depth: depth + 1 };
        self.segments.push(Segment { entries: high, depth: depth + 1 });
        let span = 1usize << (self.depth - depth);
        let first = self.slot(hash) & !(span - 1);
        for slot in &mut self.directory[first + span / 2..first + span] {
            *slot = new_id;
        }
    }

    pub fn remove(&mut self, hash: u64, eq: impl FnMut(&T) -> bool) -> Option<T> {
        let id = self.segment_id(hash)?;
        let (k0, k1, key_of) = (self.k0, self.k1, self.key_of);
        let entries = &mut self.segments[id].entries;
        let found = entries.find_entry(inner(hash), eq).ok()?;
        let (value, _) = found.remove();
        self.len -= 1;
        // Give memory back from a segment that fell below 1/8 load (bounded by one segment).
        if entries.capacity() >= SHRINK_MIN_CAPACITY && entries.len() * 8 < entries.capacity() {
            entries.shrink_to(entries.len() * 2, |e| inner(keyed(k0, k1, key_of, e)));
        }
        Some(value)
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.segments.iter().flat_map(|s| s.entries.iter())
    }

    /// A uniform pick: a random directory slot's segment is accepted with probability
    /// len / (slots · capacity), then a uniform entry in it. After many rejections (only in a
    /// table far emptier than its segments) the first non-empty segment from a random one.
    pub fn random(&self, rng: &mut impl Rng) -> Option<&T> {
        if self.len == 0 {
            return None;
        }
        for _ in 0..RANDOM_TRIES {
            let slot = rng.gen_range(0..self.directory.len());
            let segment = &self.segments[self.directory[slot] as usize];
            let slots = 1usize << (self.depth - segment.depth);
            let n = segment.entries.len();
            if rng.gen_range(0..slots.saturating_mul(SEGMENT_CAPACITY)) < n {
                return segment.entries.iter().nth(rng.gen_range(0..n));
            }
        }
        let start = rng.gen_range(0..self.segments.len());
        let count = self.segments.len();
        let segment = (0..count)
            .map(|i| &self.segments[(start + i) % count])
            .find(|s| !s.entries.is_empty())?;
        segment.entries.iter().nth(rng.gen_range(0..segment.entries.len()))
    }

    /// Visits the entries whose hash position is ≥ `cursor` in increasing position order,
    /// stopping after about `count` (entries sharing a position are never split across calls),
    /// and returns the next position, 0 at the end. Positions never change and each call covers
    /// [cursor, returned) completely, so an entry present for the whole scan is visited at
    /// least once whatever splits happen in between. Cost: the segment(s) read, O(S log S).
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&T)) -> u64 {
        if self.directory.is_empty() || cursor >= POSITION_END {
            return 0;
        }
        let want = count.max(1);
        let mut at = cursor;
        let mut visited = 0;
        let mut work = 0;
        let mut found: Vec<(u64, &T)> = Vec::new();
        loop {
            let slot = (at >> (CURSOR_BITS - self.depth)) as usize;
            let segment = &self.segments[self.directory[slot] as usize];
            let prefix = (slot >> (self.depth - segment.depth)) as u64;
            let end = (prefix + 1) << (CURSOR_BITS - segment.depth);
            found.clear();
            for e in segment.entries.iter() {
                let p = position(self.hash_entry(e));
                if p >= at {
                    found.push((p, e));
                }
            }
            work += 1 + segment.entries.len();
            found.sort_unstable_by_key(|&(p, _)| p);
            let still = want - visited;
            if found.len() > still {
                // Stop after `still` entries, plus any sharing the last one's position.
                let last = found[still - 1].0;
                for &(_, e) in found.iter().take_while(|&&(p, _)| p <= last) {
                    f(e);
                }
                return last + 1;
            }
            for &(_, e) in &found {
                f(e);
            }
            visited += found.len();
            if end >= POSITION_END {
                return 0;
            }
            at = end;
            if visited >= want || work >= 4 * want.max(SEGMENT_CAPACITY) {
                return at;
            }
        }
    }

    /// Heap bytes of the structure (directory, segment headers, bucket arrays).
    pub fn capacity_bytes(&self) -> usize {
        self.directory.capacity() * 4
            + self.segments.capacity() * std::mem::size_of::<Segment<T>>()
            + self.segments.iter().map(|s| s.entries.allocation_size()).sum::<usize>()
    }

    /// Checks that every entry sits in the segment its hash names and the count is right.
    pub fn validate(&self) -> Result<(), String> {
        let mut total = 0;
        for (id, s) in self.segments.iter().enumerate() {
            if s.entries.iter().any(|e| self.segment_id(self.hash_entry(e)) != Some(id)) {
                return Err(format!("segment {id} holds an entry its hash does not name"));
            }
            total += s.entries.len();
        }
        if total != self.len {
            return Err(format!("len {} but {total} entries", self.len));
        }
        Ok(())
    }
}

#[inline]
fn keyed<T>(k0: u64, k1: u64, key_of: KeyOf<T>, e: &T) -> u64 {
    let mut h = SipHasher13::new_with_keys(k0, k1);
    key_of(e, &mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn int_table() -> SegTable<i64> {
        SegTable::new(|e, h| h.write_i64(*e))
    }

    #[test]
    fn insert_find_remove_across_splits() {
        let mut t = int_table();
        for n in 0..10_000i64 {
            let h = t.hash(|s| s.write_i64(n));
            assert!(t.find(h, |&e| e == n).is_none());
            t.insert_new(h, n);
        }
        t.validate().unwrap();
        assert_eq!(t.len(), 10_000);
        for n in (0..10_000i64).step_by(3) {
            let h = t.hash(|s| s.write_i64(n));
            assert_eq!(t.remove(h, |&e| e == n), Some(n));
        }
        t.validate().unwrap();
        let h = t.hash(|s| s.write_i64(1));
        assert_eq!(t.find(h, |&e| e == 1), Some(&1));
        assert_eq!(t.len(), 10_000 - 3334);
    }

    #[test]
    fn scan_visits_everything_despite_growth() {
        let mut t = int_table();
        for n in 0..3000i64 {
            let h = t.hash(|s| s.write_i64(n));
            t.insert_new(h, n);
        }
        let mut seen = std::collections::HashSet::new();
        let (mut cursor, mut calls) = (0, 0);
        loop {
            let mut this_call = 0;
            cursor = t.scan(cursor, 10, |&e| {
                seen.insert(e);
                this_call += 1;
            });
            // COUNT is honoured (52-bit positions practically never tie).
            assert!(this_call <= 10, "{this_call} in one call");
            calls += 1;
            if calls == 2 {
                for n in 3000..20_000i64 {
                    let h = t.hash(|s| s.write_i64(n));
                    t.insert_new(h, n);
                }
            }
            if cursor == 0 {
                break;
            }
        }
        assert!((0..3000).all(|n| seen.contains(&n)));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

        /// Random inserts and removes (over a small key range, so both hit) against a
        /// `HashSet`, with a full scan that must return every present entry exactly once when
        /// nothing changes during it.
        #[test]
        fn model(ops in proptest::collection::vec((proptest::bool::ANY, 0i64..6000), 1..4000)) {
            let mut t = int_table();
            let mut model = std::collections::HashSet::new();
            for (insert, n) in ops {
                let h = t.hash(|s| s.write_i64(n));
                if insert {
                    if t.find(h, |&e| e == n).is_none() {
                        t.insert_new(h, n);
                    }
                    model.insert(n);
                } else {
                    proptest::prop_assert_eq!(t.remove(h, |&e| e == n).is_some(), model.remove(&n));
                }
            }
            proptest::prop_assert_eq!(t.len(), model.len());
            t.validate().map_err(proptest::test_runner::TestCaseError::fail)?;
            let mut seen = Vec::new();
            let mut cursor = 0;
            loop {
                cursor = t.scan(cursor, 7, |&e| seen.push(e));
                if cursor == 0 {
                    break;
                }
            }
            seen.sort_unstable();
            let mut want: Vec<i64> = model.into_iter().collect();
            want.sort_unstable();
            proptest::prop_assert_eq!(seen, want);
        }
    }

    #[test]
    fn random_is_roughly_uniform() {
        let mut t = int_table();
        for n in 0..4000i64 {
            let h = t.hash(|s| s.write_i64(n));
            t.insert_new(h, n);
        }
        let mut rng = SmallRng::seed_from_u64(9);
        let mut low = 0;
        for _ in 0..20_000 {
            if *t.random(&mut rng).unwrap() < 2000 {
                low += 1;
            }
        }
        assert!((9000..11000).contains(&low), "{low}");
    }
}
