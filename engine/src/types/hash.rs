//! Hash values, with Redis 7.0's two encodings:
//!
//! ```text
//!  listpack:   Vec<(field, value)> in insertion order     len ≤ hash-max-listpack-entries
//!                                                         and every field and value
//!                                                         ≤ hash-max-listpack-value bytes
//!  hashtable:  SegTable<Box<[u8]>>, one boxed slice per field:
//!                [field length, LEB128][field bytes][value bytes]
//! ```
//! Why one slice per field: the entry is 16 bytes plus a control byte per bucket, and a field
//! with its value costs a single allocation — no separate key and value objects, no stored
//! hash, no refcount, no per-entry node. The table is segmented (crate::types::segmented):
//! growth splits one segment at a time, HSCAN cursors survive growth, and the random pick for
//! HRANDFIELD is uniform. A 100k-field hash of `field:N` → 32-byte values measures ~74 bytes
//! per field in jemalloc's size classes (engine/tests/hash.rs), against 98.5 in
//! redis-server 7.0. Updating a value reallocates its entry.
//!
//! The listpack keeps insertion order (HGETALL answers in that order, as Redis's listpack
//! does); updates keep a field's place. A hash never converts back to listpack.

use bytes::Bytes;
use rand::Rng;

use std::hash::Hasher;

use crate::types::segmented::SegTable;

/// A listpack entry: (field, value).
pub type Pair = (Box<[u8]>, Box<[u8]>);

enum Repr {
    Listpack(Vec<Pair>),
    Hashtable(SegTable<Box<[u8]>>),
}

/// Packs a field and its value into one slice: LEB128 field length, field, value.
fn pack(field: &[u8], value: &[u8]) -> Box<[u8]> {
    let mut out = Vec::with_capacity(field.len() + value.len() + 10);
    let mut len = field.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(field);
    out.extend_from_slice(value);
    out.into_boxed_slice()
}

/// Splits a packed entry into (field, value); `pack` is the only writer, so it is well formed.
fn unpack(entry: &[u8]) -> (&[u8], &[u8]) {
    let mut len = 0usize;
    let mut shift = 0;
    let mut at = 0;
    while let Some(&byte) = entry.get(at) {
        len |= ((byte & 0x7f) as usize) << shift;
        at += 1;
        shift += 7;
        if byte & 0x80 == 0 {
            break;
        }
    }
    let end = (at + len).min(entry.len());
    (&entry[at..end], &entry[end..])
}

fn new_table() -> SegTable<Box<[u8]>> {
    SegTable::new(|e, h| h.write(unpack(e).0))
}

fn field_hash(t: &SegTable<Box<[u8]>>, field: &[u8]) -> u64 {
    t.hash(|h| h.write(field))
}

fn field_is(field: &[u8]) -> impl Fn(&Box<[u8]>) -> bool + '_ {
    move |e| unpack(e).0 == field
}

/// The listpack limits a write is checked against (`hash-max-listpack-*`).
#[derive(Clone, Copy, Debug)]
pub struct HashLimits {
    pub max_entries: u64,
    pub max_value: u64,
}

pub struct HashValue {
    repr: Repr,
    /// Sum of field and value lengths, so `heap_bytes` stays cheap.
    data_bytes: usize,
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue { repr: Repr::Listpack(Vec::new()), data_bytes: 0 }
    }
}

impl Clone for HashValue {
    fn clone(&self) -> Self {
        match &self.repr {
            Repr::Listpack(v) => {
                HashValue { repr: Repr::Listpack(v.clone()), data_bytes: self.data_bytes }
            }
            Repr::Hashtable(t) => {
                let mut copy = new_table();
                for e in t.iter() {
                    let h = field_hash(&copy, unpack(e).0);
                    copy.insert_new(h, e.clone());
                }
                HashValue { repr: Repr::Hashtable(copy), data_bytes: self.data_bytes }
            }
        }
    }
}

impl std::fmt::Debug for HashValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        self.for_each(|k, v| {
            map.entry(&String::from_utf8_lossy(k), &String::from_utf8_lossy(v));
        });
        map.finish()
    }
}

impl HashValue {
    /// An empty listpack hash.
    pub fn new() -> HashValue {
        HashValue::default()
    }

    /// A listpack hash holding `pairs` in the given order, whatever their lengths: RDB loading
    /// keeps a stored listpack hash a listpack when its count is within
    /// `hash-max-listpack-entries`, even if a field or value is longer than
    /// `hash-max-listpack-value` (Redis 7.0 checks only the count there). Fields must be
    /// distinct (the loader checks).
    pub fn from_listpack_pairs(pairs: Vec<Pair>) -> HashValue {
        debug_assert!({
            let mut seen = std::collections::HashSet::new();
            pairs.iter().all(|(f, _)| seen.insert(f))
        });
        let data_bytes = pairs.iter().map(|(f, v)| f.len() + v.len()).sum();
        HashValue { repr: Repr::Listpack(pairs), data_bytes }
    }

    /// An empty hash in the hashtable encoding, for loaders that know the hash is too big for a
    /// listpack before its first field (Redis's `hashTypeConvert` on an empty hash).
    pub fn new_hashtable() -> HashValue {
        HashValue { repr: Repr::Hashtable(new_table()), data_bytes: 0 }
    }

    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Hashtable(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(v) => v.len(),
            Repr::Hashtable(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Listpack(v) => v.iter().find(|(f, _)| **f == *field).map(|(_, v)| &**v),
            Repr::Hashtable(t) => {
                t.find(field_hash(t, field), field_is(field)).map(|e| unpack(e).1)
            }
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Redis's `hashTypeTryConversion`: a listpack whose incoming arguments include one longer
    /// than `hash-max-listpack-value` becomes a hashtable before the write.
    pub fn convert_for_args<'a>(
        &mut self,
        args: impl IntoIterator<Item = &'a [u8]>,
        limits: HashLimits,
    ) {
        if matches!(self.repr, Repr::Listpack(_))
            && args.into_iter().any(|a| a.len() as u64 > limits.max_value)
        {
            self.convert_to_hashtable();
        }
    }

    /// Sets `field` to `value`; true when the field is new. Converts to hashtable as Redis's
    /// `hashTypeSet` does: before the write when either is too long, after it when the hash
    /// has too many entries.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        self.convert_for_args([field, value], limits);
        match &mut self.repr {
            Repr::Listpack(v) => {
                if let Some(slot) = v.iter_mut().find(|(f, _)| **f == *field) {
                    self.data_bytes = self.data_bytes - slot.1.len() + value.len();
                    slot.1 = value.into();
                    return false;
                }
                v.push((field.into(), value.into()));
                self.data_bytes += field.len() + value.len();
                if v.len() as u64 > limits.max_entries {
                    self.convert_to_hashtable();
                }
                true
            }
            Repr::Hashtable(t) => {
                let h = field_hash(t, field);
                if let Some(old) = t.find_mut(h, field_is(field)) {
                    self.data_bytes = self.data_bytes - unpack(old).1.len() + value.len();
                    *old = pack(field, value);
                    false
                } else {
                    t.insert_new(h, pack(field, value));
                    self.data_bytes += field.len() + value.len();
                    true
                }
            }
        }
    }

    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Listpack(v) => match v.iter().position(|(f, _)| **f == *field) {
                Some(at) => {
                    let (f, val) = v.remove(at);
                    self.data_bytes -= f.len() + val.len();
                    true
                }
                None => false,
            },
            Repr::Hashtable(t) => match t.remove(field_hash(t, field), field_is(field)) {
                Some(e) => {
                    let (f, val) = unpack(&e);
                    self.data_bytes -= f.len() + val.len();
                    true
                }
                None => false,
            },
        }
    }

    /// Moves a listpack hash into the hashtable encoding (no-op for a hashtable).
    pub fn convert_to_hashtable(&mut self) {
        if let Repr::Listpack(v) = &mut self.repr {
            let mut t = new_table();
            for (f, val) in std::mem::take(v) {
                let h = field_hash(&t, &f);
                t.insert_new(h, pack(&f, &val));
            }
            self.repr = Repr::Hashtable(t);
        }
    }

    /// Visits every (field, value): insertion order for a listpack, table order otherwise.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        match &self.repr {
            Repr::Listpack(v) => v.iter().for_each(|(k, v)| f(k, v)),
            Repr::Hashtable(t) => t.iter().for_each(|e| {
                let (k, v) = unpack(e);
                f(k, v)
            }),
        }
    }

    /// Every (field, value), in [`HashValue::for_each`] order.
    pub fn entries(&self) -> Vec<(Bytes, Bytes)> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|k, v| out.push((Bytes::copy_from_slice(k), Bytes::copy_from_slice(v))));
        out
    }

    /// A uniformly random (field, value).
    pub fn random(&self, rng: &mut impl Rng) -> Option<(Bytes, Bytes)> {
        let (k, v) = match &self.repr {
            Repr::Listpack(v) if v.is_empty() => return None,
            Repr::Listpack(v) => {
                let (k, v) = &v[rng.gen_range(0..v.len())];
                (&**k, &**v)
            }
            Repr::Hashtable(t) => unpack(t.random(rng)?),
        };
        Some((Bytes::copy_from_slice(k), Bytes::copy_from_slice(v)))
    }

    /// `count` distinct random entries (`count` < len), in listpack order for a listpack.
    pub fn random_distinct(&self, count: usize, rng: &mut impl Rng) -> Vec<(Bytes, Bytes)> {
        let len = self.len();
        let count = count.min(len);
        match &self.repr {
            Repr::Listpack(v) => {
                let mut picks = rand::seq::index::sample(rng, len, count).into_vec();
                picks.sort_unstable();
                picks
                    .into_iter()
                    .map(|i| (Bytes::copy_from_slice(&v[i].0), Bytes::copy_from_slice(&v[i].1)))
                    .collect()
            }
            Repr::Hashtable(_) => {
                let mut chosen: hashbrown::HashMap<Bytes, Bytes> =
                    hashbrown::HashMap::with_capacity(count);
                if count * 3 > len {
                    // Close to the whole hash: drop random entries from a full copy instead of
                    // re-drawing duplicates (Redis's CASE 3).
                    let mut all = self.entries();
                    while all.len() > count {
                        let i = rng.gen_range(0..all.len());
                        all.swap_remove(i);
                    }
                    return all;
                }
                while chosen.len() < count {
                    let Some((k, v)) = self.random(rng) else { break };
                    chosen.insert(k, v);
                }
                chosen.into_iter().collect()
            }
        }
    }

    /// One HSCAN step. A listpack is returned whole with cursor 0, as Redis does for compact
    /// encodings; a hashtable follows the table's scan contract (positions as cursors).
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match &self.repr {
            Repr::Listpack(_) => {
                self.for_each(f);
                0
            }
            Repr::Hashtable(t) => t.scan(cursor, count, |e| {
                let (k, v) = unpack(e);
                f(k, v)
            }),
        }
    }

    /// Heap bytes owned by this hash (structure plus field and value bytes), for memory reports.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Listpack(v) => v.capacity() * std::mem::size_of::<Pair>() + self.data_bytes,
            // Plus about one LEB128 length byte per packed entry.
            Repr::Hashtable(t) => t.capacity_bytes() + self.data_bytes + t.len(),
        }
    }

    /// Checks internal invariants (no duplicate listpack fields, table structure); for tests.
    pub fn validate(&self) -> Result<(), String> {
        match &self.repr {
            Repr::Listpack(v) => {
                let mut seen = std::collections::HashSet::new();
                if v.iter().all(|(f, _)| seen.insert(f)) {
                    Ok(())
                } else {
                    Err("duplicate listpack field".into())
                }
            }
            Repr::Hashtable(t) => t.validate(),
        }?;
        let mut bytes = 0;
        self.for_each(|f, v| bytes += f.len() + v.len());
        if bytes != self.data_bytes {
            return Err("data_bytes out of step".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    const LIMITS: HashLimits = HashLimits { max_entries: 3, max_value: 8 };

    #[test]
    fn listpack_keeps_order_and_converts_on_count() {
        let mut h = HashValue::new();
        assert!(h.set(b"b", b"1", LIMITS));
        assert!(h.set(b"a", b"2", LIMITS));
        assert!(!h.set(b"b", b"3", LIMITS));
        let order: Vec<_> = h.entries().into_iter().map(|(k, _)| k).collect();
        assert_eq!(order, vec!["b", "a"]);
        assert_eq!(h.get(b"b"), Some(&b"3"[..]));
        h.set(b"c", b"x", LIMITS);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"d", b"x", LIMITS);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 4);
        assert_eq!(h.get(b"b"), Some(&b"3"[..]));
        assert!(h.remove(b"a") && !h.remove(b"a"));
        h.validate().unwrap();
    }

    #[test]
    fn long_field_or_value_converts() {
        let mut h = HashValue::new();
        h.set(b"f", b"123456789", LIMITS);
        assert_eq!(h.encoding(), "hashtable");
        let long = vec![b'v'; 100];
        h.set(b"g", &long, LIMITS);
        assert_eq!(h.get(b"g"), Some(&long[..]));
        assert_eq!(h.get(b"f"), Some(&b"123456789"[..]));
    }

    #[test]
    fn packed_entries_round_trip() {
        for flen in [0usize, 1, 127, 128, 300, 20_000] {
            let field = vec![b'f'; flen];
            for value in [&b""[..], b"v", &[7u8; 200][..]] {
                let packed = pack(&field, value);
                assert_eq!(unpack(&packed), (&field[..], value));
            }
        }
        let mut h = HashValue::new();
        let long = vec![b'k'; 300];
        h.set(&long, b"1", LIMITS);
        h.set(b"", b"", LIMITS);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(&long), Some(&b"1"[..]));
        assert_eq!(h.get(b""), Some(&b""[..]));
        assert!(!h.set(&long, b"2", LIMITS));
        assert_eq!(h.get(&long), Some(&b"2"[..]));
        h.validate().unwrap();
    }

    #[test]
    fn loader_constructors_keep_the_encoding_they_are_given() {
        let long: Box<[u8]> = vec![b'v'; 100].into();
        let h = HashValue::from_listpack_pairs(vec![
            (b"a"[..].into(), long.clone()),
            (b"b"[..].into(), b"2"[..].into()),
        ]);
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(h.get(b"a"), Some(&long[..]));
        assert_eq!(h.entries().first().map(|(k, _)| k.clone()), Some(Bytes::from_static(b"a")));
        h.validate().unwrap();
        let mut t = HashValue::new_hashtable();
        assert_eq!(t.encoding(), "hashtable");
        assert!(t.set(b"f", b"v", LIMITS));
        assert_eq!(t.encoding(), "hashtable");
        t.validate().unwrap();
        let mut c = h.clone();
        c.convert_to_hashtable();
        assert_eq!(c.encoding(), "hashtable");
        assert_eq!(c.get(b"b"), Some(&b"2"[..]));
        c.validate().unwrap();
    }

    #[test]
    fn random_distinct_is_distinct() {
        let mut rng = SmallRng::seed_from_u64(3);
        let mut h = HashValue::new();
        for i in 0..40 {
            h.set(i.to_string().as_bytes(), b"v", LIMITS);
        }
        for count in [1, 5, 13, 14, 39] {
            let picks = h.random_distinct(count, &mut rng);
            let set: std::collections::HashSet<_> = picks.iter().map(|p| p.0.clone()).collect();
            assert_eq!(set.len(), count);
        }
    }
}
