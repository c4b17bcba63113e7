//! SORT and SORT_RO: the elements of a list, set or sorted set, ordered numerically or as
//! strings, by themselves or by weights read from other keys (`BY pattern`), with `LIMIT`,
//! values fetched from other keys (`GET pattern`), and `STORE` into a list.
//!
//! ```text
//!  parse options ──► read the sorted key (type check; a sorted set turns `skiplist`)
//!      ──► load elements (a LIMIT range directly when nothing is sorted)
//!      ──► weights: the element, or the pattern key via a KeyReader ──► qsort / pqsort
//!      ──► reply (GET via the KeyReader) or STORE a list (`sortstore`, or `del` when empty)
//! ```
//! Patterns name keys from the elements' contents (`weight_*`, `data_*->field`), so which
//! keys a SORT reads is only known once the sorted key is read. The handler reads them through
//! a [`KeyReader`]; the shard path ([`LocalKeys`]) reads the shard the command runs on, which
//! is right whenever all keys are there (one shard, or hash tags). For keys on other shards
//! the net layer first asks [`pattern_keys`] which keys a SORT will read, gathers them with
//! the sorted key and the STORE destination, and runs SORT where they all are (see
//! NOTES-geosort.md); [`reads_other_keys`] tells such a SORT apart from a plain one.
//!
//! The rules are Redis 7.0's `sort.c`: `BY` without `*` means no sorting (and stays so for
//! later BY options); a set is still sorted (ALPHA) when stored; missing weights count as 0
//! (numeric) or sort first (ALPHA); a weight that is not a number fails the whole command
//! after sorting ("One or more scores can't be converted into double"); GET of a missing key
//! or field is nil (an empty string when stored). Orders with ties come out as C's `qsort`
//! or Redis's `pqsort` leave them ([`crate::csort`]). Not reproduced: ALPHA compares with the
//! C locale (Redis uses `strcoll` in its locale; the same for `C` and `C.UTF-8`), and scripts'
//! forced sorting of sets (the engine has no script context).

use std::cmp::Ordering;

use bytes::Bytes;
use memchr::{memchr, memmem};

use crate::command::{cmd, flags::*, CommandSpec, Handler, MultiShard, ONE_KEY};
use crate::csort;
use crate::db::Entry;
use crate::error::OpError;
use crate::families::zset::strtod;
use crate::notify::class;
use crate::reply::Reply;
use crate::shard::Ctx;
use crate::types::list::ListValue;
use crate::value::{parse_i64_strict, Value};

pub static COMMANDS: &[CommandSpec] = &[
    cmd(
        "sort",
        -2,
        WRITE | DENYOOM,
        ONE_KEY,
        "generic",
        "1.0.0",
        "Sort the elements in a list, set or sorted set",
        Handler::Shard(sort),
    )
    .multi(MultiShard::Gather)
    .movable_keys(sort_keys),
    cmd(
        "sort_ro",
        -2,
        READONLY,
        ONE_KEY,
        "generic",
        "7.0.0",
        "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
        Handler::Shard(sort_ro),
    )
    .movable_keys(sort_ro_keys),
];

/// Keys of SORT (Redis's `sortGetKeys`): the sorted key, then the destination of the last
/// `STORE` (options with arguments skipped as Redis skips them). The keys BY/GET patterns
/// read are not listed: they depend on the data ([`pattern_keys`]).
fn sort_keys(argv: &[Bytes]) -> Vec<usize> {
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        let a = &argv[i];
        if is(a, "limit") {
            i += 2;
        } else if is(a, "get") || is(a, "by") {
            i += 1;
        } else if is(a, "store") && i + 1 < argv.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    let mut keys = vec![1];
    keys.extend(store);
    keys
}

/// SORT_RO reads only the sorted key (and pattern keys, which are not listed).
fn sort_ro_keys(_argv: &[Bytes]) -> Vec<usize> {
    vec![1]
}

/// `strcasecmp(arg, word) == 0` on Redis's C strings: bytes after a NUL are not seen.
fn is(arg: &[u8], word: &str) -> bool {
    c_str(arg).eq_ignore_ascii_case(word.as_bytes())
}

/// The bytes C string functions see: up to the first NUL.
fn c_str(b: &[u8]) -> &[u8] {
    &b[..memchr(0, b).unwrap_or(b.len())]
}

// ---------------------------------------------------------------------------------------------
// Key readers.

/// Where SORT reads the keys its BY and GET patterns name.
pub trait KeyReader {
    /// The string at `key` (no `field`), or `field` of the hash at `key`; None when the key is
    /// missing, holds another type, or has no such field. `ctx` is the shard SORT runs on.
    fn read(&mut self, ctx: &mut Ctx<'_>, key: &[u8], field: Option<&[u8]>) -> Option<Bytes>;
}

/// Reads pattern keys on the shard SORT runs on, as Redis's `lookupKeyRead` does (expiring,
/// counting hits and misses, raising `keymiss`).
pub struct LocalKeys;

impl KeyReader for LocalKeys {
    fn read(&mut self, ctx: &mut Ctx<'_>, key: &[u8], field: Option<&[u8]>) -> Option<Bytes> {
        match (ctx.lookup_read(key), field) {
            (Some(Entry { value: Value::Str(s), .. }), None) => Some(s.to_bytes()),
            (Some(Entry { value: Value::Hash(h), .. }), Some(f)) => {
                h.get(f).map(Bytes::copy_from_slice)
            }
            _ => None,
        }
    }
}

/// What a pattern names for one element (Redis's `lookupKeyByPattern`).
#[derive(Debug, PartialEq, Eq)]
enum Target<'p> {
    /// `#`: the element itself.
    Element,
    /// No `*`: nothing (GET answers nil; BY means "do not sort").
    Nothing,
    /// A key, and a hash field when the pattern has `->field` after the `*`.
    Key { key: Vec<u8>, field: Option<&'p [u8]> },
}

/// Substitutes `element` for the first `*` of `pattern`. As in C, the `#`, `*` and `->`
/// searches stop at a NUL byte while the lengths come from the whole argument.
fn resolve<'p>(pattern: &'p [u8], element: &[u8]) -> Target<'p> {
    let visible = c_str(pattern);
    if visible == b"#" {
        return Target::Element;
    }
    let Some(star) = memchr(b'*', visible) else {
        return Target::Nothing;
    };
    let field_start = memmem::find(&visible[star + 1..], b"->")
        .map(|at| star + 1 + at + 2)
        .filter(|&f| f < visible.len());
    let (postfix_end, field) = match field_start {
        Some(f) => (f - 2, Some(&pattern[f..])),
        None => (pattern.len(), None),
    };
    let mut key = Vec::with_capacity(star + element.len() + (postfix_end - star - 1));
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(&pattern[star + 1..postfix_end]);
    Target::Key { key, field }
}

/// The value `pattern` names for `element`, through `reader`.
fn lookup(
    ctx: &mut Ctx<'_>,
    reader: &mut dyn KeyReader,
    pattern: &[u8],
    element: &Bytes,
) -> Option<Bytes> {
    match resolve(pattern, element) {
        Target::Element => Some(element.clone()),
        Target::Nothing => None,
        Target::Key { key, field } => reader.read(ctx, &key, field),
    }
}

// ---------------------------------------------------------------------------------------------
// Options.

struct Options {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    dont_sort: bool,
    by: Option<Bytes>,
    get: Vec<Bytes>,
    store: Option<Bytes>,
}

fn parse_options(argv: &[Bytes], readonly: bool) -> Result<Options, Reply> {
    let mut o = Options {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        dont_sort: false,
        by: None,
        get: Vec::new(),
        store: None,
    };
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = &argv[j];
        if is(a, "asc") {
            o.desc = false;
        } else if is(a, "desc") {
            o.desc = true;
        } else if is(a, "alpha") {
            o.alpha = true;
        } else if is(a, "limit") && left >= 2 {
            let not_int = || Reply::from(OpError::NotInteger);
            o.limit_start = parse_i64_strict(&argv[j + 1]).ok_or_else(not_int)?;
            o.limit_count = parse_i64_strict(&argv[j + 2]).ok_or_else(not_int)?;
            j += 2;
        } else if !readonly && is(a, "store") && left >= 1 {
            o.store = Some(argv[j + 1].clone());
            j += 1;
        } else if is(a, "by") && left >= 1 {
            let pattern = argv[j + 1].clone();
            // A pattern without `*` weighs nothing: no sorting (never undone by a later BY).
            if memchr(b'*', c_str(&pattern)).is_none() {
                o.dont_sort = true;
            }
            o.by = Some(pattern);
            j += 1;
        } else if is(a, "get") && left >= 1 {
            o.get.push(argv[j + 1].clone());
            j += 1;
        } else {
            return Err(OpError::Syntax.into());
        }
        j += 1;
    }
    Ok(o)
}

/// Whether this SORT reads keys other than the sorted key and the destination: a BY pattern
/// with `*` (when it sorts at all) or a GET pattern other than `#` that has a `*`. Such a
/// SORT needs its pattern keys gathered when they may live on other shards.
pub fn reads_other_keys(argv: &[Bytes], readonly: bool) -> bool {
    let Ok(o) = parse_options(argv, readonly) else {
        return false;
    };
    let names_keys = |p: &Bytes| matches!(resolve(p, b""), Target::Key { .. });
    (!o.dont_sort && o.by.as_ref().is_some_and(names_keys)) || o.get.iter().any(names_keys)
}

// ---------------------------------------------------------------------------------------------
// Loading the elements.

/// The element range SORT outputs, as Redis computes it from LIMIT (`end < start` = none).
fn output_range(limit_start: i64, limit_count: i64, len: i64) -> (i64, i64) {
    let mut start = limit_start.max(0).min(len);
    let count = limit_count.max(-1).min(len);
    let mut end = if count < 0 { len - 1 } else { start + count - 1 };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    (start, end)
}

/// The elements to sort and the output range within them. When nothing is sorted, a list or
/// sorted set yields just the LIMIT range, already in the requested direction.
struct Loaded {
    elements: Vec<Bytes>,
    start: i64,
    end: i64,
}

/// Reads the sorted key: WRONGTYPE for other types; a missing key is an empty list.
fn load(ctx: &mut Ctx<'_>, key: &[u8], o: &mut Options) -> Result<Loaded, Reply> {
    let entry = ctx.lookup_read(key);
    let value = match entry {
        None => None,
        Some(Entry { value, .. }) => match value {
            Value::List(_) | Value::Set(_) | Value::ZSet(_) => Some(value),
            _ => return Err(OpError::WrongType.into()),
        },
    };
    let is_set = matches!(value, Some(Value::Set(_)));
    if o.dont_sort && is_set && o.store.is_some() {
        // A stored result must not depend on a set's internal order.
        o.dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    let len = match &value {
        None => 0,
        Some(Value::List(l)) => l.len(),
        Some(Value::Set(s)) => s.len(),
        Some(Value::ZSet(z)) => z.len(),
        Some(_) => 0,
    } as i64;
    let (mut start, mut end) = output_range(o.limit_start, o.limit_count, len);
    let ranged = o.dont_sort && (start != 0 || end != len - 1);
    let wanted = if ranged { (end - start + 1).max(0) as usize } else { len as usize };
    let mut elements = Vec::with_capacity(wanted);
    match value {
        None => {}
        Some(Value::List(l)) if o.dont_sort && end >= start => {
            let from = start as usize;
            if o.desc {
                elements.extend(l.iter_rev().skip(from).take(wanted).map(|e| e.to_bytes()));
            } else {
                elements.extend(l.iter_from(from).take(wanted).map(|e| e.to_bytes()));
            }
            end -= start;
            start = 0;
        }
        // An empty LIMIT range of an unsorted list loads nothing.
        Some(Value::List(_)) if o.dont_sort => {}
        Some(Value::List(l)) => elements.extend(l.iter().map(|e| e.to_bytes())),
        Some(Value::Set(s)) => s.for_each(|m| elements.push(Bytes::copy_from_slice(m))),
        Some(Value::ZSet(z)) => {
            // Redis converts every sorted set it sorts (SORT_RO too) to a skiplist, for good.
            z.convert_to_skiplist();
            if o.dont_sort {
                let n = z.len();
                let from = start.max(0) as usize;
                if o.desc {
                    let hi = n.saturating_sub(from);
                    let lo = hi.saturating_sub(wanted);
                    elements.extend(z.range(lo, hi).rev().map(|(m, _)| Bytes::copy_from_slice(m)));
                } else {
                    let to = from.saturating_add(wanted).min(n);
                    elements.extend(z.range(from, to).map(|(m, _)| Bytes::copy_from_slice(m)));
                }
                end -= start;
                start = 0;
            } else {
                elements.extend(z.iter().map(|(m, _)| Bytes::copy_from_slice(m)));
            }
        }
        Some(_) => {}
    }
    Ok(Loaded { elements, start, end })
}

// ---------------------------------------------------------------------------------------------
// Sorting.

/// One element with its weight.
struct Item {
    element: Bytes,
    score: f64,
    /// The BY value for ALPHA sorting by pattern; None when missing.
    by_value: Option<Bytes>,
}

/// `strtod` as SORT uses it: the whole C string must convert (trailing bytes after a NUL
/// are ignored), and any `ERANGE` — including a subnormal result — or NaN is an error.
fn sort_score(text: &[u8]) -> Option<f64> {
    let (v, used, erange) = strtod(text);
    let ends = text.get(used).is_none_or(|&c| c == 0);
    let hex = {
        let t = c_str(text).trim_ascii_start();
        let t = t.strip_prefix(b"-").or_else(|| t.strip_prefix(b"+")).unwrap_or(t);
        t.len() > 1 && t[0] == b'0' && (t[1] | 0x20) == b'x'
    };
    let subnormal = v != 0.0 && v.is_finite() && v.abs() < f64::MIN_POSITIVE && !hex;
    (ends && !erange && !subnormal && !v.is_nan()).then_some(v)
}

/// Redis's `compareStringObjects`: bytes, shorter first on a common prefix.
fn cmp_binary(a: &[u8], b: &[u8]) -> Ordering {
    a.cmp(b)
}

/// `strcoll` in the C locale: `strcmp` on the C strings.
fn cmp_collate(a: &[u8], b: &[u8]) -> Ordering {
    c_str(a).cmp(c_str(b))
}

/// Sorts SORT's vector as `sortCompare` orders it.
fn sort_items(items: &mut Vec<Item>, o: &Options, start: i64, end: i64) {
    let (alpha, by_pattern, store, desc) = (o.alpha, o.by.is_some(), o.store.is_some(), o.desc);
    let cmp = |a: &Item, b: &Item| {
        let c = if !alpha {
            if a.score > b.score {
                Ordering::Greater
            } else if a.score < b.score {
                Ordering::Less
            } else {
                cmp_binary(&a.element, &b.element)
            }
        } else if by_pattern {
            match (&a.by_value, &b.by_value) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) if store => cmp_binary(x, y),
                (Some(x), Some(y)) => cmp_collate(x, y),
            }
        } else if store {
            cmp_binary(&a.element, &b.element)
        } else {
            cmp_collate(&a.element, &b.element)
        };
        if desc {
            c.reverse()
        } else {
            c
        }
    };
    let len = items.len() as i64;
    if by_pattern && (start != 0 || end != len - 1) {
        csort::pqsort_by(items, start, end, cmp);
    } else {
        csort::qsort_by(items, cmp);
    }
}

// ---------------------------------------------------------------------------------------------
// The command.

fn sort(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    sort_with(ctx, argv, false, &mut LocalKeys)
}

fn sort_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    sort_with(ctx, argv, true, &mut LocalKeys)
}

/// SORT (`readonly` = SORT_RO) with pattern keys read through `reader`.
pub fn sort_with(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    readonly: bool,
    reader: &mut dyn KeyReader,
) -> Reply {
    let mut o = match parse_options(argv, readonly) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let loaded = match load(ctx, &argv[1], &mut o) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let Loaded { elements, start, end } = loaded;
    let mut items: Vec<Item> =
        elements.into_iter().map(|element| Item { element, score: 0.0, by_value: None }).collect();
    let mut conversion_error = false;
    if !o.dont_sort {
        for item in &mut items {
            let weight = match &o.by {
                Some(pattern) => match lookup(ctx, reader, pattern, &item.element) {
                    Some(v) => v,
                    None => continue,
                },
                None => item.element.clone(),
            };
            if o.alpha {
                if o.by.is_some() {
                    item.by_value = Some(weight);
                }
            } else {
                match sort_score(&weight) {
                    Some(v) => item.score = v,
                    None => {
                        // strtod's partial value is kept, as in C; the reply is the error.
                        item.score = strtod(&weight).0;
                        conversion_error = true;
                    }
                }
            }
        }
        sort_items(&mut items, &o, start, end);
    }
    if conversion_error {
        return Reply::error("ERR One or more scores can't be converted into double");
    }
    let range: Vec<&Item> = if end >= start {
        items.iter().skip(start.max(0) as usize).take((end - start + 1) as usize).collect()
    } else {
        Vec::new()
    };
    let Some(dst) = o.store.clone() else {
        let mut out = Vec::with_capacity(range.len() * o.get.len().max(1));
        for item in range {
            if o.get.is_empty() {
                out.push(Reply::Bulk(item.element.clone()));
            }
            for pattern in &o.get {
                out.push(Reply::opt_bulk(lookup(ctx, reader, pattern, &item.element)));
            }
        }
        return Reply::Array(out);
    };
    let mut list = ListValue::new();
    let fill = ctx.config().list_max_listpack_size;
    let mut stored = 0usize;
    for item in range {
        if o.get.is_empty() {
            list.push_back(&item.element, fill);
            stored += 1;
        }
        for pattern in &o.get {
            let v = lookup(ctx, reader, pattern, &item.element).unwrap_or_default();
            list.push_back(&v, fill);
            stored += 1;
        }
    }
    if stored > 0 {
        ctx.set_value(&dst, Value::List(Box::new(list)), 0);
        ctx.notify(class::LIST, "sortstore", &dst);
        // Redis counts one change per stored element; `set_value` counted one.
        ctx.shard.dirty += stored as u64 - 1;
    } else if ctx.remove(&dst).is_some() {
        ctx.notify(class::GENERIC, "del", &dst);
    }
    Reply::Int(stored as i64)
}

/// The keys a SORT's BY and GET patterns will read, for the net layer to gather before
/// running it where they all live: computed from the sorted key's current elements (read
/// without touching stats or LRU), deduplicated, in first-use order. A SORT that fails on its
/// options or the sorted key's type needs no pattern keys (it fails the same way anywhere).
pub fn pattern_keys(ctx: &mut Ctx<'_>, argv: &[Bytes], readonly: bool) -> Vec<Bytes> {
    let Ok(mut o) = parse_options(argv, readonly) else {
        return Vec::new();
    };
    let db = ctx.db;
    ctx.expire_if_needed(&argv[1]);
    let elements: Vec<Bytes> = match ctx.shard.dbs[db].table.get(&argv[1]) {
        None => return Vec::new(),
        Some(Entry { value: Value::List(l), .. }) => l.iter().map(|e| e.to_bytes()).collect(),
        Some(Entry { value: Value::Set(s), .. }) => s.members(),
        Some(Entry { value: Value::ZSet(z), .. }) => {
            z.iter().map(|(m, _)| Bytes::copy_from_slice(m)).collect()
        }
        Some(_) => return Vec::new(),
    };
    if o.dont_sort
        && o.store.is_some()
        && matches!(ctx.shard.dbs[db].table.get(&argv[1]), Some(Entry { value: Value::Set(_), .. }))
    {
        o.by = None;
        o.dont_sort = false;
    }
    let mut patterns: Vec<&Bytes> = o.get.iter().collect();
    if !o.dont_sort {
        patterns.extend(o.by.as_ref());
    }
    let mut seen = hashbrown::HashSet::new();
    let mut keys = Vec::new();
    for element in &elements {
        for pattern in &patterns {
            if let Target::Key { key, .. } = resolve(pattern, element) {
                let key = Bytes::from(key);
                if seen.insert(key.clone()) {
                    keys.push(key);
                }
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str, f: Option<&'static str>) -> Target<'static> {
        Target::Key { key: k.as_bytes().to_vec(), field: f.map(str::as_bytes) }
    }

    #[test]
    fn patterns_resolve_like_lookup_key_by_pattern() {
        assert_eq!(resolve(b"#", b"x"), Target::Element);
        assert_eq!(resolve(b"#\0junk", b"x"), Target::Element);
        assert_eq!(resolve(b"##", b"x"), Target::Nothing);
        assert_eq!(resolve(b"nostar", b"x"), Target::Nothing);
        assert_eq!(resolve(b"w_*", b"x"), key("w_x", None));
        assert_eq!(resolve(b"w_*_s", b"x"), key("w_x_s", None));
        assert_eq!(resolve(b"h_*->f", b"x"), key("h_x", Some("f")));
        assert_eq!(resolve(b"h_*->", b"x"), key("h_x->", None));
        assert_eq!(resolve(b"h->_*", b"x"), key("h->_x", None));
        assert_eq!(resolve(b"h_*a->b->c", b"x"), key("h_xa", Some("b->c")));
        assert_eq!(resolve(b"*", b""), key("", None));
        // Only the first star substitutes.
        assert_eq!(resolve(b"*-*", b"x"), key("x-*", None));
    }

    #[test]
    fn output_range_matches_redis_clamping() {
        assert_eq!(output_range(0, -1, 5), (0, 4));
        assert_eq!(output_range(1, 2, 5), (1, 2));
        assert_eq!(output_range(-3, 2, 5), (0, 1));
        assert_eq!(output_range(4, 100, 5), (4, 4));
        assert_eq!(output_range(5, 1, 5), (4, 3));
        assert_eq!(output_range(0, 0, 5), (0, -1));
        assert_eq!(output_range(0, -1, 0), (-1, -2));
        assert_eq!(output_range(i64::MAX, i64::MAX, 3), (2, 1));
    }

    #[test]
    fn scores_parse_like_sorts_strtod() {
        assert_eq!(sort_score(b"1.5"), Some(1.5));
        assert_eq!(sort_score(b" 2"), Some(2.0));
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b"3\0abc"), Some(3.0));
        assert_eq!(sort_score(b"inf"), Some(f64::INFINITY));
        assert_eq!(sort_score(b"2 "), None);
        assert_eq!(sort_score(b"abc"), None);
        assert_eq!(sort_score(b"nan"), None);
        assert_eq!(sort_score(b"1e400"), None);
        assert_eq!(sort_score(b"1e-310"), None);
    }
}
