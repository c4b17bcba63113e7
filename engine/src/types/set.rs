//! Set values, with Redis 7.0's two encodings (7.0 has no listpack sets; that came in 7.2):
//!
//! ```text
//!  intset:     Vec<i64>, sorted ascending      every member a strict integer (string2ll)
//!                                              and len ≤ set-max-intset-entries
//!  hashtable:  Big ─┬─ ints: SegTable<i64>     members that are strict integers, as i64
//!                   └─ strs: Table<()>         all other members, keyed by their bytes
//! ```
//! Both halves of the hashtable encoding are segmented (extendible hashing): growth splits one
//! segment at a time, never rehashing everything, and SSCAN cursors are positions in the keyed
//! hash space, so they survive splits. `strs` is the keyspace's own table; `ints` is the same
//! scheme with 8-byte entries (crate::types::segmented), because integer members are the common case of big
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

use crate::types::segmented::SegTable;
use std::hash::Hasher;

/// The hashtable encoding: integer members apart from the others.
struct Big {
    ints: SegTable<i64>,
    strs: Table<()>,
    /// Sum of the lengths of `strs` members, so `heap_bytes` stays O(segments).
    str_bytes: usize,
}

/// SSCAN cursors at or above this walk `strs`; below it, `ints`. Both tables' positions are
/// below 2^CURSOR_BITS, so one bit above tells the phases apart.
const STRS_PHASE: u64 = 1 << CURSOR_BITS;

impl Big {
    fn new() -> Big {
        Big { ints: SegTable::new(|n, h| h.write_i64(*n)), strs: Table::new(), str_bytes: 0 }
    }

    fn len(&self) -> usize {
        self.ints.len() + self.strs.len()
    }

    fn int_hash(&self, n: i64) -> u64 {
        self.ints.hash(|h| h.write_i64(n))
    }

    fn contains(&self, member: &[u8]) -> bool {
        match parse_i64_strict(member) {
            Some(n) => self.ints.find(self.int_hash(n), |&e| e == n).is_some(),
            None => self.strs.contains_key(member),
        }
    }

    fn insert(&mut self, member: &[u8]) -> bool {
        match parse_i64_strict(member) {
            Some(n) => self.insert_int(n),
            None if self.strs.contains_key(member) => false,
            None => {
                self.strs.insert(member.into(), ());
                self.str_bytes += member.len();
                true
            }
        }
    }

    fn insert_int(&mut self, n: i64) -> bool {
        let h = self.int_hash(n);
        if self.ints.find(h, |&e| e == n).is_some() {
            return false;
        }
        self.ints.insert_new(h, n);
        true
    }

    fn remove(&mut self, member: &[u8]) -> bool {
        match parse_i64_strict(member) {
            Some(n) => self.ints.remove(self.int_hash(n), |&e| e == n).is_some(),
            None => {
                let removed = self.strs.remove(member).is_some();
                if removed {
                    self.str_bytes -= member.len();
                }
                removed
            }
        }
    }

    fn for_each(&self, f: &mut impl FnMut(&[u8])) {
        let mut buf = itoa::Buffer::new();
        for n in self.ints.iter() {
            f(buf.format(*n).as_bytes());
        }
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
            let n = *self.ints.random(rng)?;
            return Some(Bytes::copy_from_slice(itoa::Buffer::new().format(n).as_bytes()));
        }
        self.strs.random(rng).map(|(k, _)| Bytes::copy_from_slice(k))
    }

    fn scan(&self, cursor: u64, count: usize, f: &mut impl FnMut(&[u8])) -> u64 {
        let mut count = count.max(1);
        let mut cursor = cursor;
        if cursor < STRS_PHASE {
            let mut buf = itoa::Buffer::new();
            let mut visited = 0;
            let next = self.ints.scan(cursor, count, |n| {
                visited += 1;
                f(buf.format(*n).as_bytes())
            });
            if next != 0 || self.strs.is_empty() {
                return next;
            }
            if visited >= count {
                return STRS_PHASE;
            }
            // The integer half ended with COUNT to spare: go on into the strings in the same
            // call, as Redis's single table would (SSCAN … COUNT 100 on a small set returns
            // every member and cursor 0).
            count -= visited;
            cursor = STRS_PHASE;
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

    /// An intset of `ints`, which must be strictly ascending (an RDB intset, validated by the
    /// loader), whatever its length: the loader converts afterwards when Redis would.
    pub fn from_sorted_ints(ints: Vec<i64>) -> SetValue {
        debug_assert!(ints.windows(2).all(|w| w[0] < w[1]));
        SetValue { repr: Repr::Intset(ints) }
    }

    /// An empty set in the hashtable encoding (Redis creates one directly when a loaded set
    /// has more members than `set-max-intset-entries`).
    pub fn new_hashtable() -> SetValue {
        SetValue { repr: Repr::Hashtable(Box::new(Big::new())) }
    }

    /// The members of an intset, ascending; `None` for a hashtable.
    pub fn as_intset(&self) -> Option<&[i64]> {
        match &self.repr {
            Repr::Intset(v) => Some(v),
            Repr::Hashtable(_) => None,
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

    /// Moves an intset into the hashtable encoding (no-op for a hashtable).
    pub fn convert_to_hashtable(&mut self) {
        if let Repr::Intset(v) = &self.repr {
            let mut big = Big::new();
            for n in v {
                big.insert_int(*n);
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

    /// Heap bytes owned by this set (structure plus member bytes), for memory reports and
    /// eviction; O(segments), never a walk over the members.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Intset(v) => v.capacity() * 8,
            Repr::Hashtable(b) => {
                std::mem::size_of::<Big>()
                    + b.ints.capacity_bytes()
                    + b.strs.capacity_bytes()
                    + b.str_bytes
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
                if b.strs.iter().map(|(k, _)| k.len()).sum::<usize>() != b.str_bytes {
                    return Err("str_bytes out of step".into());
                }
                match b.strs.iter().find(|(k, _)| parse_i64_strict(k).is_some()) {
                    Some(_) => Err("integer member stored as text".into()),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn loader_constructors() {
        let s = SetValue::from_sorted_ints(vec![-5, 1, 7]);
        assert_eq!(s.encoding(), "intset");
        assert_eq!(s.as_intset(), Some(&[-5i64, 1, 7][..]));
        assert!(s.contains(b"7") && !s.contains(b"2"));
        s.validate().unwrap();
        let mut c = s.clone();
        c.convert_to_hashtable();
        assert_eq!(c.encoding(), "hashtable");
        assert_eq!(c.as_intset(), None);
        assert!(c.contains(b"-5"));
        c.validate().unwrap();
        let mut h = SetValue::new_hashtable();
        assert!(h.insert(b"1", 512));
        assert_eq!(h.encoding(), "hashtable");
        h.validate().unwrap();
    }

    /// Scans with `count` until cursor 0; returns the members seen and the number of calls.
    fn scan_all(s: &SetValue, count: usize) -> (Vec<String>, usize) {
        let (mut seen, mut cursor, mut calls) = (Vec::new(), 0, 0);
        loop {
            cursor = s.scan(cursor, count, |m| seen.push(String::from_utf8_lossy(m).into()));
            calls += 1;
            if cursor == 0 {
                break;
            }
        }
        seen.sort();
        seen.dedup();
        (seen, calls)
    }

    #[test]
    fn scan_of_a_mixed_hashtable_covers_both_halves_in_one_call_when_count_allows() {
        let mut s = SetValue::new_intset();
        for m in ["foo", "fab", "fiz", "foobar", "1", "2", "3", "4"] {
            s.insert(m.as_bytes(), 512);
        }
        assert_eq!(s.encoding(), "hashtable");
        let mut first = Vec::new();
        let next = s.scan(0, 10_000, |m| first.push(String::from_utf8_lossy(m).into_owned()));
        first.sort();
        assert_eq!(next, 0, "a COUNT larger than the set finishes in one call");
        assert_eq!(first, vec!["1", "2", "3", "4", "fab", "fiz", "foo", "foobar"]);
        // Small counts still visit everything, across the phase boundary.
        for count in 1..=9 {
            let (seen, _) = scan_all(&s, count);
            assert_eq!(seen.len(), 8, "count {count}");
        }
    }

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
