//! The keyspace hash table.
//!
//! INTERIM: a single `hashbrown::HashTable`. It is being replaced by the segmented
//! (extendible-hashing) table described in DESIGN.md; the public API below is the contract.
//!
//! Scan contract: a cursor is a position in the space of the top [`CURSOR_BITS`] bits of the
//! keyed hash. `scan(c)` visits keys whose hash position is ≥ c, in hash order, and returns the
//! next position (0 when the whole space is done). A key present for a whole scan is visited at
//! least once, whatever inserts, deletes and splits happen between calls.

use rand::Rng;
use siphasher::sip::SipHasher13;
use std::hash::Hasher;

/// Bits of the hash used as a scan position; the net layer packs a shard index below them.
pub const CURSOR_BITS: u32 = 52;

pub type Key = Box<[u8]>;

pub struct Table<V> {
    inner: hashbrown::HashTable<(Key, V)>,
    k0: u64,
    k1: u64,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> Table<V> {
    /// A table with random SipHash keys, so crafted keys cannot degrade it.
    pub fn new() -> Self {
        let mut rng = rand::thread_rng();
        Self::with_keys(rng.gen(), rng.gen())
    }

    pub fn with_keys(k0: u64, k1: u64) -> Self {
        Table { inner: hashbrown::HashTable::new(), k0, k1 }
    }

    pub fn hash(&self, key: &[u8]) -> u64 {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write(key);
        h.finish()
    }

    fn position(hash: u64) -> u64 {
        hash >> (64 - CURSOR_BITS)
    }

    pub fn len(&self) -> usize {
        self.inner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        let h = self.hash(key);
        self.inner.find(h, |(k, _)| &**k == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let h = self.hash(key);
        self.inner.find_mut(h, |(k, _)| &**k == key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: Key, value: V) -> Option<V> {
        let h = self.hash(&key);
        let (k0, k1) = (self.k0, self.k1);
        let rehash = move |(k, _): &(Key, V)| {
            let mut s = SipHasher13::new_with_keys(k0, k1);
            s.write(k);
            s.finish()
        };
        match self.inner.entry(h, |(k, _)| *k == key, rehash) {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                Some(std::mem::replace(&mut o.get_mut().1, value))
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert((key, value));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<(Key, V)> {
        let h = self.hash(key);
        match self.inner.find_entry(h, |(k, _)| &**k == key) {
            Ok(o) => Some(o.remove().0),
            Err(_) => None,
        }
    }

    pub fn clear(&mut self) {
        self.inner.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.inner.iter().map(|(k, v)| (&**k, v))
    }

    /// Removes every entry for which `keep` returns false.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &mut V) -> bool) {
        self.inner.retain(|(k, v)| keep(k, v));
    }

    /// Visits at least `count` keys (fewer at the end) from `cursor` on; see the module docs.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], &V)) -> u64 {
        let mut found: Vec<(u64, &[u8], &V)> = self
            .inner
            .iter()
            .map(|(k, v)| (Self::position(self.hash(k)), &**k, v))
            .filter(|(p, _, _)| *p >= cursor)
            .collect();
        found.sort_unstable_by_key(|(p, _, _)| *p);
        let mut taken = 0;
        let mut last = None;
        for (p, k, v) in &found {
            if taken >= count.max(1) && Some(*p) != last {
                return *p;
            }
            visit(k, v);
            taken += 1;
            last = Some(*p);
        }
        0
    }

    /// A uniformly chosen entry, or None when empty.
    pub fn random(&self, rng: &mut impl Rng) -> Option<(&[u8], &V)> {
        if self.inner.is_empty() {
            return None;
        }
        let n = rng.gen_range(0..self.inner.len());
        self.inner.iter().nth(n).map(|(k, v)| (&**k, v))
    }
}
