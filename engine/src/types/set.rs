//! Set values, with Redis 7.0's two encodings (7.0 has no listpack sets; that came in 7.2):
//!
//! ```text
//!  intset:     Vec<i64>, sorted ascending      every member a strict integer (string2ll)
//!                                              and len ≤ set-max-intset-entries
//!  hashtable:  Big ─┬─ ints: IntTable          members that are strict integers, as i64
//!                   └─ strs: Table<()>         all other members, keyed by their bytes
//! ```
//! Both halves of the hashtable encoding are segmented (extendible hashing): growth splits one
//! segment at a time, never rehashing everything, and SSCAN cursors are positions in the keyed
//! hash space, so they survive splits. `strs` is the keyspace's own table; `ints` is the same
//! scheme specialised to 8-byte entries, because integer members are the common case of big
//! sets (ids) and storing them as text costs an entry, an allocation and a string compare
//! each. A 1M-member set of small integers measures about 21 bytes per member (counted in
//! engine/tests/set.rs with jemalloc's size classes), against 49 in redis-server 7.0; string
//! members cost a 16-byte entry plus their own allocation.
//!
//! Conversions are Redis's: an intset becomes a hashtable when a non-integer member is added or
//! it grows past the limit, and never converts back in place. Only commands that build a fresh
//! set (SPOP's rebuild, the *STORE commands, SMOVE into a new key) start again from an intset.
//! Which half holds a member is internal: OBJECT ENCODING says `hashtable` for both.

use bytes::Bytes;
use rand::Rng;

use crate::table::{Table, CURSOR_BITS};
use crate::value::parse_i64_strict;

use int_table::IntTable;

/// The hashtable encoding: integer members apart from the others.
struct Big {
    ints: IntTable,
    strs: Table<()>,
}

/// SSCAN cursors at or above this walk `strs`; below it, `ints`. Both tables' positions are
/// below 2^CURSOR_BITS, so one bit above tells the phases apart.
const STRS_PHASE: u64 = 1 << CURSOR_BITS;

impl Big {
    fn new() -> Big {
        Big { ints: IntTable::new(), strs: Table::new() }
    }

    fn len(&self) -> usize {
        self.ints.len() + self.strs.len()
    }

    fn contains(&self, member: &[u8]) -> bool {
        match parse_i64_strict(member) {
            Some(n) => self.ints.contains(n),
            None => self.strs.contains_key(member),
        }
    }

    fn insert(&mut self, member: &[u8]) -> bool {
        match parse_i64_strict(member) {
            Some(n) => self.ints.insert(n),
            None if self.strs.contains_key(member) => false,
            None => {
                self.strs.insert(member.into(), ());
                true
            }
        }
    }

    fn remove(&mut self, member: &[u8]) -> bool {
        match parse_i64_strict(member) {
            Some(n) => self.ints.remove(n),
            None => self.strs.remove(member).is_some(),
        }
    }

    fn for_each(&self, f: &mut impl FnMut(&[u8])) {
        let mut buf = itoa::Buffer::new();
        self.ints.for_each(|n| f(buf.format(n).as_bytes()));
        for (k, _) in self.strs.iter() {
            f(k);
        }
    }

    fn random(&self, rng: &mut impl Rng) -> Option<Bytes> {
        let total = self.len();
        if total == 0 {
            return None;
        }
        if rng.gen_range(0..total) < self.ints.len() {
            let n = self.ints.random(rng)?;
            return Some(Bytes::copy_from_slice(itoa::Buffer::new().format(n).as_bytes()));
        }
        self.strs.random(rng).map(|(k, _)| Bytes::copy_from_slice(k))
    }

    fn scan(&self, cursor: u64, count: usize, f: &mut impl FnMut(&[u8])) -> u64 {
        if cursor < STRS_PHASE {
            let mut buf = itoa::Buffer::new();
            let next = self.ints.scan(cursor, count, |n| f(buf.format(n).as_bytes()));
            return if next != 0 || self.strs.is_empty() { next } else { STRS_PHASE };
        }
        match self.strs.scan(cursor - STRS_PHASE, count, |k, _| f(k)) {
            0 => 0,
            next => next + STRS_PHASE,
        }
    }
}

enum Repr {
    Intset(Vec<i64>),
    Hashtable(Box<Big>),
}

pub struct SetValue {
    repr: Repr,
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue::new_intset()
    }
}

impl Clone for SetValue {
    fn clone(&self) -> Self {
        match &self.repr {
            Repr::Intset(v) => SetValue { repr: Repr::Intset(v.clone()) },
            Repr::Hashtable(_) => {
                let mut copy = Big::new();
                self.for_each(|m| {
                    copy.insert(m);
                });
                SetValue { repr: Repr::Hashtable(Box::new(copy)) }
            }
        }
    }
}

impl std::fmt::Debug for SetValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_set();
        self.for_each(|m| {
            list.entry(&String::from_utf8_lossy(m));
        });
        list.finish()
    }
}

impl SetValue {
    /// An empty intset (Redis's `createIntsetObject`): the start of every *STORE result.
    pub fn new_intset() -> SetValue {
        SetValue { repr: Repr::Intset(Vec::new()) }
    }

    /// An empty set in the encoding Redis's `setTypeCreate` picks for its first member.
    pub fn new_for(first: &[u8]) -> SetValue {
        if parse_i64_strict(first).is_some() {
            SetValue::new_intset()
        } else {
            SetValue { repr: Repr::Hashtable(Box::new(Big::new())) }
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Intset(_) => "intset",
            Repr::Hashtable(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Intset(v) => v.len(),
            Repr::Hashtable(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            Repr::Intset(v) => {
                parse_i64_strict(member).is_some_and(|n| v.binary_search(&n).is_ok())
            }
            Repr::Hashtable(b) => b.contains(member),
        }
    }

    /// Adds `member`; true when it was new. `max_intset` is `set-max-intset-entries`.
    pub fn insert(&mut self, member: &[u8], max_intset: u64) -> bool {
        if let Repr::Intset(v) = &mut self.repr {
            if let Some(n) = parse_i64_strict(member) {
                let Err(at) = v.binary_search(&n) else { return false };
                v.insert(at, n);
                if v.len() as u64 > max_intset {
                    self.convert_to_hashtable();
                }
                return true;
            }
            self.convert_to_hashtable();
        }
        let Repr::Hashtable(b) = &mut self.repr else { unreachable!("converted above") };
        b.insert(member)
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Intset(v) => match parse_i64_strict(member).map(|n| v.binary_search(&n)) {
                Some(Ok(at)) => {
                    v.remove(at);
                    true
                }
                _ => false,
            },
            Repr::Hashtable(b) => b.remove(member),
        }
    }

    fn convert_to_hashtable(&mut self) {
        if let Repr::Intset(v) = &self.repr {
            let mut big = Big::new();
            for n in v {
                big.ints.insert(*n);
            }
            self.repr = Repr::Hashtable(Box::new(big));
        }
    }

    /// Visits every member: ascending for an intset (as Redis), table order otherwise.
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        match &self.repr {
            Repr::Intset(v) => {
                let mut buf = itoa::Buffer::new();
                for n in v {
                    f(buf.format(*n).as_bytes());
                }
            }
            Repr::Hashtable(b) => b.for_each(&mut f),
        }
    }

    /// Every member, in [`SetValue::for_each`] order.
    pub fn members(&self) -> Vec<Bytes> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|m| out.push(Bytes::copy_from_slice(m)));
        out
    }

    /// A uniformly random member.
    pub fn random(&self, rng: &mut impl Rng) -> Option<Bytes> {
        match &self.repr {
            Repr::Intset(v) if v.is_empty() => None,
            Repr::Intset(v) => {
                let n = v[rng.gen_range(0..v.len())];
                Some(Bytes::copy_from_slice(itoa::Buffer::new().format(n).as_bytes()))
            }
            Repr::Hashtable(b) => b.random(rng),
        }
    }

    /// Removes and returns a uniformly random member.
    pub fn pop_random(&mut self, rng: &mut impl Rng) -> Option<Bytes> {
        match &mut self.repr {
            Repr::Intset(v) if v.is_empty() => None,
            Repr::Intset(v) => {
                let n = v.remove(rng.gen_range(0..v.len()));
                Some(Bytes::copy_from_slice(itoa::Buffer::new().format(n).as_bytes()))
            }
            Repr::Hashtable(b) => {
                let member = b.random(rng)?;
                b.remove(&member);
                Some(member)
            }
        }
    }

    /// One SSCAN step. An intset is returned whole with cursor 0, as Redis does for compact
    /// encodings; a hashtable walks its integer half, then the rest, each by position.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8])) -> u64 {
        match &self.repr {
            Repr::Intset(_) => {
                self.for_each(f);
                0
            }
            Repr::Hashtable(b) => b.scan(cursor, count, &mut f),
        }
    }

    /// Heap bytes owned by this set (structure plus member allocations), for memory reports.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Intset(v) => v.capacity() * 8,
            Repr::Hashtable(b) => {
                std::mem::size_of::<Big>()
                    + b.ints.capacity_bytes()
                    + b.strs.capacity_bytes()
                    + b.strs.iter().map(|(k, _)| k.len()).sum::<usize>()
            }
        }
    }

    /// Checks internal invariants; for tests.
    pub fn validate(&self) -> Result<(), String> {
        match &self.repr {
            Repr::Intset(v) => {
                if v.windows(2).all(|w| w[0] < w[1]) {
                    Ok(())
                } else {
                    Err("intset not strictly ascending".into())
                }
            }
            Repr::Hashtable(b) => {
                b.ints.validate()?;
                b.strs.validate()?;
                match b.strs.iter().find(|(k, _)| parse_i64_strict(k).is_some()) {
                    Some(_) => Err("integer member stored as text".into()),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A set of `i64`, segmented like the keyspace table (see crate::table for the scheme): a
/// directory indexed by the top hash bits points at segments, each a hashbrown table of at
/// most `SEGMENT_CAPACITY` 8-byte entries that splits on its own when full.
mod int_table {
    use rand::Rng;
    use siphasher::sip::SipHasher13;
    use std::hash::Hasher;

    use crate::table::CURSOR_BITS;

    /// 7/8 of 2048 buckets: a segment is 2048 · 9 + 16 bytes (~18 KiB), one split moves at
    /// most this many entries.
    const SEGMENT_CAPACITY: usize = 1792;
    /// Deepest directory (2^22 slots); past it segments grow instead of splitting.
    const MAX_DEPTH: u32 = 22;
    /// Rejection-sampling tries of `random` before its (slightly biased) fallback.
    const RANDOM_TRIES: usize = 64;
    const POSITION_END: u64 = 1 << CURSOR_BITS;

    struct Segment {
        entries: hashbrown::HashTable<i64>,
        depth: u32,
    }

    pub struct IntTable {
        directory: Vec<u32>,
        segments: Vec<Segment>,
        depth: u32,
        len: usize,
        k0: u64,
        k1: u64,
    }

    impl IntTable {
        pub fn new() -> IntTable {
            let mut rng = rand::thread_rng();
            IntTable {
                directory: Vec::new(),
                segments: Vec::new(),
                depth: 0,
                len: 0,
                k0: rng.gen(),
                k1: rng.gen(),
            }
        }

        fn hash(&self, n: i64) -> u64 {
            hash_with(self.k0, self.k1, n)
        }

        pub fn len(&self) -> usize {
            self.len
        }

        fn slot(&self, hash: u64) -> usize {
            hash.checked_shr(64 - self.depth).unwrap_or(0) as usize
        }

        fn segment_id(&self, hash: u64) -> Option<usize> {
            self.directory.get(self.slot(hash)).map(|&id| id as usize)
        }

        pub fn contains(&self, n: i64) -> bool {
            let h = self.hash(n);
            self.segment_id(h)
                .is_some_and(|id| self.segments[id].entries.find(inner(h), |&e| e == n).is_some())
        }

        pub fn insert(&mut self, n: i64) -> bool {
            let h = self.hash(n);
            if self.directory.is_empty() {
                self.directory.push(0);
                self.segments.push(Segment { entries: hashbrown::HashTable::new(), depth: 0 });
            }
            loop {
                let id = self.segment_id(h).expect("directory is not empty");
                let (k0, k1) = (self.k0, self.k1);
                let segment = &mut self.segments[id];
                if segment.entries.find(inner(h), |&e| e == n).is_some() {
                    return false;
                }
                if segment.entries.len() >= SEGMENT_CAPACITY && segment.depth < MAX_DEPTH {
                    self.split(id, h);
                    continue;
                }
                segment.entries.insert_unique(inner(h), n, |&e| inner(hash_with(k0, k1, e)));
                self.len += 1;
                return true;
            }
        }

        /// Splits segment `id` by its next hash bit, doubling the directory when needed.
        fn split(&mut self, id: usize, h: u64) {
            let depth = self.segments[id].depth;
            if depth == self.depth {
                self.directory = self.directory.iter().flat_map(|&s| [s, s]).collect();
                self.depth += 1;
            }
            let (k0, k1) = (self.k0, self.k1);
            let rehash = |e: &i64| inner(hash_with(k0, k1, *e));
            let bit = 1u64 << (63 - depth);
            let old = std::mem::take(&mut self.segments[id].entries);
            let mut low = hashbrown::HashTable::with_capacity(SEGMENT_CAPACITY);
            let mut high = hashbrown::HashTable::with_capacity(SEGMENT_CAPACITY);
            for e in old {
                let eh = hash_with(k0, k1, e);
                let half = if eh & bit == 0 { &mut low } else { &mut high };
                half.insert_unique(inner(eh), e, rehash);
            }
            let new_id = u32::try_from(self.segments.len()).expect("depth ≤ 22: ids fit u32");
            self.segments[id] = Segment { entries: low, depth: depth + 1 };
            self.segments.push(Segment { entries: high, depth: depth + 1 });
            let span = 1usize << (self.depth - depth);
            let first = self.slot(h) & !(span - 1);
            for slot in &mut self.directory[first + span / 2..first + span] {
                *slot = new_id;
            }
        }

        pub fn remove(&mut self, n: i64) -> bool {
            let h = self.hash(n);
            let Some(id) = self.segment_id(h) else { return false };
            let (k0, k1) = (self.k0, self.k1);
            let entries = &mut self.segments[id].entries;
            let Ok(found) = entries.find_entry(inner(h), |&e| e == n) else { return false };
            found.remove();
            self.len -= 1;
            // Give memory back from a segment that fell below 1/8 load.
            if entries.capacity() >= 64 && entries.len() * 8 < entries.capacity() {
                entries.shrink_to(entries.len() * 2, |e| inner(hash_with(k0, k1, *e)));
            }
            true
        }

        pub fn for_each(&self, mut f: impl FnMut(i64)) {
            for s in &self.segments {
                for &e in s.entries.iter() {
                    f(e);
                }
            }
        }

        /// A uniform pick: a random directory slot's segment is accepted with probability
        /// len / (slots · capacity), then a uniform entry in it.
        pub fn random(&self, rng: &mut impl Rng) -> Option<i64> {
            if self.len == 0 {
                return None;
            }
            for _ in 0..RANDOM_TRIES {
                let slot = rng.gen_range(0..self.directory.len());
                let segment = &self.segments[self.directory[slot] as usize];
                let slots = 1usize << (self.depth - segment.depth);
                let n = segment.entries.len();
                if rng.gen_range(0..slots.saturating_mul(SEGMENT_CAPACITY)) < n {
                    return segment.entries.iter().nth(rng.gen_range(0..n)).copied();
                }
            }
            let start = rng.gen_range(0..self.segments.len());
            let count = self.segments.len();
            let segment = (0..count)
                .map(|i| &self.segments[(start + i) % count])
                .find(|s| !s.entries.is_empty())?;
            segment.entries.iter().nth(rng.gen_range(0..segment.entries.len())).copied()
        }

        /// Visits the members whose hash position is ≥ `cursor`, whole segments at a time,
        /// until at least `count` were visited; returns the next position (0 at the end). A
        /// segment covers a fixed position range and splits only subdivide ranges, so every
        /// member present for the whole scan is visited at least once.
        pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(i64)) -> u64 {
            if self.directory.is_empty() || cursor >= POSITION_END {
                return 0;
            }
            let mut at = cursor;
            let mut visited = 0;
            let mut work = 0;
            loop {
                let slot = (at >> (CURSOR_BITS - self.depth)) as usize;
                let segment = &self.segments[self.directory[slot] as usize];
                let prefix = (slot >> (self.depth - segment.depth)) as u64;
                let end = (prefix + 1) << (CURSOR_BITS - segment.depth);
                let start = prefix << (CURSOR_BITS - segment.depth);
                for &e in segment.entries.iter() {
                    // A cursor inside a range (only a forged one) skips what lies before it.
                    if at == start || position(self.hash(e)) >= at {
                        f(e);
                        visited += 1;
                    }
                }
                work += 1 + segment.entries.len();
                if end >= POSITION_END {
                    return 0;
                }
                at = end;
                if visited >= count.max(1) || work >= 4 * count.max(SEGMENT_CAPACITY) {
                    return at;
                }
            }
        }

        pub fn capacity_bytes(&self) -> usize {
            self.directory.capacity() * 4
                + self.segments.capacity() * std::mem::size_of::<Segment>()
                + self.segments.iter().map(|s| s.entries.allocation_size()).sum::<usize>()
        }

        /// Checks that every entry sits in the segment its hash names and the count is right.
        pub fn validate(&self) -> Result<(), String> {
            let mut total = 0;
            for (id, s) in self.segments.iter().enumerate() {
                for &e in s.entries.iter() {
                    let h = self.hash(e);
                    if self.segment_id(h) != Some(id) {
                        return Err(format!("{e} in segment {id}, hash names another"));
                    }
                }
                total += s.entries.len();
            }
            if total != self.len {
                return Err(format!("len {} but {total} entries", self.len));
            }
            Ok(())
        }
    }

    fn hash_with(k0: u64, k1: u64, n: i64) -> u64 {
        let mut h = SipHasher13::new_with_keys(k0, k1);
        h.write_i64(n);
        h.finish()
    }

    /// hashbrown takes its bucket index from the low bits and its tag from the top 7; the
    /// directory uses the top bits, so hashbrown sees the hash rotated (as crate::table does).
    fn inner(hash: u64) -> u64 {
        hash.rotate_left(32)
    }

    fn position(hash: u64) -> u64 {
        hash >> (64 - CURSOR_BITS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn intset_stays_sorted_and_converts_past_the_limit() {
        let mut s = SetValue::new_for(b"5");
        assert_eq!(s.encoding(), "intset");
        for m in ["5", "-3", "10", "5"] {
            s.insert(m.as_bytes(), 3);
        }
        assert_eq!(s.members(), vec!["-3", "5", "10"]);
        assert!(s.contains(b"10") && !s.contains(b"010") && !s.contains(b"x"));
        assert!(s.insert(b"11", 3));
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 4);
        assert!(s.contains(b"-3") && s.contains(b"11"));
        s.validate().unwrap();
    }

    #[test]
    fn non_integer_converts_and_never_back() {
        let mut s = SetValue::new_intset();
        s.insert(b"1", 512);
        s.insert(b"a", 512);
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.remove(b"a"));
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(SetValue::new_for(b"-0").encoding(), "hashtable");
        assert_eq!(SetValue::new_for(b"007").encoding(), "hashtable");
    }

    #[test]
    fn int_half_scans_and_validates_across_splits() {
        let mut s = SetValue::new_for(b"a");
        assert!(s.insert(b"a", 512));
        for i in 0..20_000i64 {
            s.insert(i.to_string().as_bytes(), 512);
        }
        s.validate().unwrap();
        assert_eq!(s.len(), 20_001);
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        loop {
            cursor = s.scan(cursor, 100, |m| {
                seen.insert(m.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 20_001);
        for i in (0..20_000i64).step_by(2) {
            assert!(s.remove(i.to_string().as_bytes()));
        }
        assert!(!s.remove(b"0") && s.contains(b"1") && !s.contains(b"2") && s.contains(b"a"));
        s.validate().unwrap();
        assert_eq!(s.len(), 10_001);
    }

    #[test]
    fn pop_random_drains_exactly() {
        let mut rng = SmallRng::seed_from_u64(7);
        for first in ["1", "x"] {
            let mut s = SetValue::new_for(first.as_bytes());
            for i in 0..50 {
                s.insert(i.to_string().as_bytes(), 512);
            }
            let mut seen = std::collections::HashSet::new();
            while let Some(m) = s.pop_random(&mut rng) {
                assert!(seen.insert(m));
            }
            assert_eq!(seen.len(), 50);
            assert!(s.is_empty());
        }
    }
}
