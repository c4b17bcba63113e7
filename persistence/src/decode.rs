//! Value decoding: one RDB object (after its type byte) into an engine [`Value`] or a
//! [`StreamData`], choosing the in-memory encoding exactly as Redis 7.0's `rdbLoadObject`
//! leaves it for the same `*-max-*` settings:
//!
//! ```text
//!  type                    becomes                         converted when
//!  0  string               int / embstr / raw              canonical integer → int
//!  1  list (plain)         quicklist, pushed one by one    nodes follow list-max-listpack-size
//!  10 ziplist list         quicklist, pushed one by one    (same)
//!  14 quicklist(ziplists)  one listpack node per ziplist   nodes kept as stored
//!  18 quicklist 2          nodes kept as stored (plain and packed)
//!  2  set                  intset                          a non-integer, or len > max-intset
//!  11 intset               intset                          len > set-max-intset-entries
//!  3/5 zset                skiplist, then listpack         len ≤ entries and members ≤ value
//!  12/17 zset listpack     listpack                        len > zset-max-listpack-entries
//!  4  hash                 listpack                        len > entries, or a long field/value
//!  9  zipmap               listpack                        len > entries or a long field/value
//!  13/16 hash listpack     listpack                        len > hash-max-listpack-entries
//!  15/19 stream            StreamData
//! ```
//! Every packed blob is validated deeply first (Redis's `sanitize-dump-payload yes` checks:
//! structure, counts, back-lengths, sortedness and duplicates), whatever the caller's
//! `deep_sanitize`: the engine's structures rely on it, and nothing read from disk may lead
//! to a panic later. Where Mayfly is stricter than a non-sanitizing Redis (a duplicate hash
//! field in a listpack, an unsorted intset, a zset listpack score that is not a number), the
//! value is refused rather than loaded in a state Redis itself would misbehave on.

use std::collections::HashSet;

use mayfly_engine::types::hash::{HashLimits, HashValue};
use mayfly_engine::types::list::ListValue;
use mayfly_engine::types::set::SetValue;
use mayfly_engine::types::zset::{Limits as ZSetLimits, ZSetValue};
use mayfly_engine::value::{parse_i64_strict, StrValue, Value};

use crate::error::{ErrorKind, RdbError};
use crate::format::*;
use crate::packed::listpack::{self, Entry};
use crate::packed::{intset, ziplist, zipmap};
use crate::reader::{RdbString, Reader};
use crate::stream::{self, StreamData};

/// The encoding thresholds (Redis's config knobs) that decide in-memory encodings on load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodingLimits {
    pub hash_max_listpack_entries: u64,
    pub hash_max_listpack_value: u64,
    pub set_max_intset_entries: u64,
    pub zset_max_listpack_entries: u64,
    pub zset_max_listpack_value: u64,
    /// `list-max-listpack-size` (the quicklist fill: -1..-5 bytes, positive entries).
    pub list_max_listpack_size: i64,
}

impl Default for EncodingLimits {
    /// Redis 7.0's defaults.
    fn default() -> Self {
        EncodingLimits {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
        }
    }
}

impl EncodingLimits {
    fn hash(&self) -> HashLimits {
        HashLimits {
            max_entries: self.hash_max_listpack_entries,
            max_value: self.hash_max_listpack_value,
        }
    }

    fn zset(&self) -> ZSetLimits {
        ZSetLimits {
            max_listpack_entries: self.zset_max_listpack_entries,
            max_listpack_value: self.zset_max_listpack_value,
        }
    }
}

/// A decoded value: an engine value, or a stream (which the engine does not have yet).
#[derive(Clone, Debug)]
pub enum RdbValue {
    Value(Value),
    Stream(Box<StreamData>),
}

impl RdbValue {
    /// Redis's `TYPE` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            RdbValue::Value(v) => v.value_type().name(),
            RdbValue::Stream(_) => "stream",
        }
    }
}

fn str_value(s: RdbString<'_>) -> StrValue {
    match s {
        RdbString::Int(n) => StrValue::Int(n),
        RdbString::Raw(b) => StrValue::from_bytes(b),
        RdbString::Lzf(v) => match parse_i64_strict(&v) {
            Some(n) => StrValue::Int(n),
            None => StrValue::from_vec(v),
        },
    }
}

/// The entries of a listpack or ziplist of pairs, owned, with duplicate first elements
/// refused (Redis's `lpPairsValidateIntegrityAndDups` / `ziplistPairsConvertAndValidate`).
fn unique_pairs(entries: &[Entry<'_>]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    if entries.len() & 1 == 1 {
        return None;
    }
    let pairs: Vec<(Vec<u8>, Vec<u8>)> =
        entries.chunks_exact(2).map(|p| (p[0].to_vec(), p[1].to_vec())).collect();
    let mut seen = HashSet::with_capacity(pairs.len());
    pairs.iter().all(|(f, _)| seen.insert(&f[..])).then_some(pairs)
}

/// A zset score stored in a listpack or ziplist: an integer, or text `strtod` reads whole.
fn packed_score(e: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(e).ok()?;
    let v: f64 = text.parse().ok()?;
    (!v.is_nan()).then_some(v)
}

fn zset_from_pairs(pairs: Vec<(Vec<u8>, Vec<u8>)>, limits: &EncodingLimits) -> Option<ZSetValue> {
    let mut entries = Vec::with_capacity(pairs.len());
    for (member, score) in pairs {
        entries.push((member, packed_score(&score)?));
    }
    Some(if entries.len() as u64 > limits.zset_max_listpack_entries {
        ZSetValue::from_unique(entries, limits.zset())
    } else {
        ZSetValue::from_unique_listpack(entries)
    })
}

fn hash_from_pairs(pairs: Vec<(Vec<u8>, Vec<u8>)>, limits: &EncodingLimits) -> HashValue {
    let count = pairs.len() as u64;
    let mut h = HashValue::from_listpack_pairs(
        pairs.into_iter().map(|(f, v)| (f.into_boxed_slice(), v.into_boxed_slice())).collect(),
    );
    if count > limits.hash_max_listpack_entries {
        h.convert_to_hashtable();
    }
    h
}

fn listpack_of(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut w = listpack::Writer::new();
    for e in entries {
        match *e {
            Entry::Int(n) => w.push_int(n),
            Entry::Str(s) => w.push(s),
        }
    }
    w.finish()
}

/// Decodes the object of type `rdb_type` at the reader. `Ok(None)` is Redis's "empty key"
/// (an empty collection, which a file load skips and RESTORE refuses).
pub(crate) fn decode_value(
    r: &mut Reader<'_>,
    rdb_type: u8,
    limits: &EncodingLimits,
    deep: bool,
) -> Result<Option<RdbValue>, RdbError> {
    let start = r.pos();
    let v = |v: Value| Ok(Some(RdbValue::Value(v)));
    match rdb_type {
        TYPE_STRING => v(Value::Str(str_value(r.string()?))),
        TYPE_LIST => {
            let len = r.read_len()?;
            let mut list = ListValue::new();
            // Each element takes at least one byte: the loop ends with the input.
            for _ in 0..len {
                let e = r.string()?;
                list.push_back(&e.bytes(), limits.list_max_listpack_size);
            }
            if list.is_empty() {
                return Ok(None);
            }
            v(Value::List(Box::new(list)))
        }
        TYPE_SET => {
            let len = r.read_len()?;
            if len == 0 {
                return Ok(None);
            }
            let max_intset = limits.set_max_intset_entries.min(1 << 30);
            let mut set =
                if len > max_intset { SetValue::new_hashtable() } else { SetValue::new_intset() };
            for _ in 0..len {
                let at = r.pos();
                let m = r.string()?;
                if !set.insert(&m.bytes(), max_intset) {
                    return Err(r.corrupt(at, "Duplicate set members detected"));
                }
            }
            v(Value::Set(Box::new(set)))
        }
        TYPE_ZSET | TYPE_ZSET_2 => {
            let len = r.read_len()?;
            if len == 0 {
                return Ok(None);
            }
            let mut entries: Vec<(Vec<u8>, f64)> = Vec::new();
            let mut seen: HashSet<Vec<u8>> = HashSet::new();
            for _ in 0..len {
                let at = r.pos();
                let member = r.string_vec()?;
                let score = if rdb_type == TYPE_ZSET_2 { r.f64_le()? } else { r.text_double()? };
                if score.is_nan() {
                    return Err(r.corrupt(at, "Zset with NAN score detected"));
                }
                if !seen.insert(member.clone()) {
                    return Err(r.corrupt(at, "Duplicate zset fields detected"));
                }
                entries.push((member, score));
            }
            v(Value::ZSet(Box::new(ZSetValue::from_unique(entries, limits.zset()))))
        }
        TYPE_HASH => {
            let len = r.read_len()?;
            if len == 0 {
                return Ok(None);
            }
            let mut h = if len > limits.hash_max_listpack_entries {
                HashValue::new_hashtable()
            } else {
                HashValue::new()
            };
            for _ in 0..len {
                let at = r.pos();
                let field = r.string()?;
                let value = r.string()?;
                if !h.set(&field.bytes(), &value.bytes(), limits.hash()) {
                    return Err(r.corrupt(at, "Duplicate hash fields detected"));
                }
            }
            v(Value::Hash(Box::new(h)))
        }
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
            let len = r.read_len()?;
            let mut nodes = Vec::new();
            for _ in 0..len {
                let at = r.pos();
                let container = if rdb_type == TYPE_LIST_QUICKLIST_2 {
                    let c = r.read_len()?;
                    if c != CONTAINER_PLAIN && c != CONTAINER_PACKED {
                        return Err(r.corrupt(at, "Quicklist integrity check failed."));
                    }
                    c
                } else {
                    CONTAINER_PACKED
                };
                let at = r.pos();
                let data = r.string()?;
                let data = data.bytes();
                if data.is_empty() {
                    return Err(r.corrupt(at, "Quicklist integrity check failed."));
                }
                let node = if container == CONTAINER_PLAIN {
                    ListValue::node_from_raw(true, &data)
                        .map_err(|_| r.corrupt(at, "Quicklist integrity check failed."))?
                } else if rdb_type == TYPE_LIST_QUICKLIST_2 {
                    ListValue::node_from_raw(false, &data)
                        .map_err(|_| r.corrupt(at, "Listpack integrity check failed."))?
                } else {
                    let entries = ziplist::parse(&data)
                        .ok_or_else(|| r.corrupt(at, "Ziplist integrity check failed."))?;
                    if entries.is_empty() {
                        continue;
                    }
                    ListValue::node_from_raw(false, &listpack_of(&entries))
                        .map_err(|_| r.corrupt(at, "Ziplist integrity check failed."))?
                };
                nodes.push(node);
            }
            let list = ListValue::from_nodes(nodes)
                .map_err(|_| r.corrupt(start, "Listpack integrity check failed."))?;
            if list.is_empty() {
                return Ok(None);
            }
            v(Value::List(Box::new(list)))
        }
        TYPE_HASH_ZIPMAP | TYPE_LIST_ZIPLIST | TYPE_SET_INTSET | TYPE_ZSET_ZIPLIST
        | TYPE_ZSET_LISTPACK | TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => {
            let blob = r.string()?;
            let blob = blob.bytes();
            decode_packed(r, start, rdb_type, &blob, limits)
        }
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 => {
            Ok(Some(RdbValue::Stream(Box::new(stream::decode(r, rdb_type, deep)?))))
        }
        TYPE_MODULE | TYPE_MODULE_2 => {
            let id = r.read_len()?;
            Err(r.err_at(start, ErrorKind::ModuleValue { module: module_type_name(id) }))
        }
        other => Err(r.err_at(start, ErrorKind::UnknownType(other))),
    }
}

/// The types stored as one opaque blob.
fn decode_packed(
    r: &Reader<'_>,
    at: usize,
    rdb_type: u8,
    blob: &[u8],
    limits: &EncodingLimits,
) -> Result<Option<RdbValue>, RdbError> {
    let value = match rdb_type {
        TYPE_HASH_ZIPMAP => {
            let bad = || r.corrupt(at, "Zipmap integrity check failed.");
            let pairs = zipmap::parse(blob).ok_or_else(bad)?;
            let mut seen = HashSet::with_capacity(pairs.len());
            if !pairs.iter().all(|(f, _)| seen.insert(*f)) {
                return Err(r.corrupt(at, "Hash zipmap with dup elements, or big length"));
            }
            let maxlen = pairs.iter().map(|(f, v)| f.len().max(v.len())).max().unwrap_or(0);
            let count = pairs.len() as u64;
            let mut h = HashValue::from_listpack_pairs(
                pairs.into_iter().map(|(f, v)| (f.into(), v.into())).collect(),
            );
            if count > limits.hash_max_listpack_entries
                || maxlen as u64 > limits.hash_max_listpack_value
            {
                h.convert_to_hashtable();
            }
            Value::Hash(Box::new(h))
        }
        TYPE_LIST_ZIPLIST => {
            let entries = ziplist::parse(blob)
                .ok_or_else(|| r.corrupt(at, "List ziplist integrity check failed."))?;
            if entries.is_empty() {
                return Ok(None);
            }
            let mut list = ListValue::new();
            for e in entries {
                list.push_back(&e.to_vec(), limits.list_max_listpack_size);
            }
            Value::List(Box::new(list))
        }
        TYPE_SET_INTSET => {
            let ints = intset::parse(blob)
                .ok_or_else(|| r.corrupt(at, "Intset integrity check failed."))?;
            let count = ints.len() as u64;
            let mut set = SetValue::from_sorted_ints(ints);
            if count > limits.set_max_intset_entries {
                set.convert_to_hashtable();
            }
            Value::Set(Box::new(set))
        }
        TYPE_ZSET_ZIPLIST | TYPE_ZSET_LISTPACK => {
            let what = if rdb_type == TYPE_ZSET_ZIPLIST {
                "Zset ziplist integrity check failed."
            } else {
                "Zset listpack integrity check failed."
            };
            let entries = if rdb_type == TYPE_ZSET_ZIPLIST {
                ziplist::parse(blob)
            } else {
                listpack::parse(blob)
            }
            .ok_or_else(|| r.corrupt(at, what))?;
            let pairs = unique_pairs(&entries).ok_or_else(|| r.corrupt(at, what))?;
            if pairs.is_empty() {
                return Ok(None);
            }
            Value::ZSet(Box::new(
                zset_from_pairs(pairs, limits).ok_or_else(|| r.corrupt(at, what))?,
            ))
        }
        TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => {
            let what = if rdb_type == TYPE_HASH_ZIPLIST {
                "Hash ziplist integrity check failed."
            } else {
                "Hash listpack integrity check failed."
            };
            let entries = if rdb_type == TYPE_HASH_ZIPLIST {
                ziplist::parse(blob)
            } else {
                listpack::parse(blob)
            }
            .ok_or_else(|| r.corrupt(at, what))?;
            let pairs = unique_pairs(&entries).ok_or_else(|| r.corrupt(at, what))?;
            if pairs.is_empty() {
                return Ok(None);
            }
            Value::Hash(Box::new(hash_from_pairs(pairs, limits)))
        }
        other => return Err(r.err_at(at, ErrorKind::UnknownType(other))),
    };
    Ok(Some(RdbValue::Value(value)))
}
