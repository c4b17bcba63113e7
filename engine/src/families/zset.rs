//! Sorted set commands (Redis's `sorted-set` group), over [`ZSetValue`].
//!
//! Everything follows Redis 7.0's `t_zset.c`: argument parsing order (which error wins when
//! several apply), reply shapes per protocol (RESP2 flat `member, score` pairs, RESP3 nested
//! pairs, scores as [`Reply::Double`] wherever Redis uses `addReplyDouble`), the encoding
//! conversions, and deleting a key whose last member goes.
//!
//! Multi-key commands (ZUNION*, ZINTER*, ZDIFF*, ZINTERCARD, ZRANGESTORE, ZMPOP, BZ*POP*) are
//! gathered by the net layer into one shard, so each handler sees all its keys here. Their
//! numkeys-style key lists are declared as the widest argv range that can hold keys (a
//! superset: the option words after the keys are gathered too, harmlessly, as absent keys).
//! Blocking commands implement the non-blocking attempt; with nothing to pop they answer the
//! timeout reply (a null array), as Redis does inside MULTI, and the net layer does the waiting.

use std::cmp::Ordering;

use bytes::Bytes;
use hashbrown::HashMap;
use rand::Rng;

use crate::command::ONE_KEY;
use crate::command::{cmd, flags::*, CommandSpec, Handler, MultiShard};
use crate::db::Entry;
use crate::error::{OpError, OpResult};
use crate::glob::glob_match;
use crate::journal::{num_arg, word};
use crate::notify::class;
use crate::reply::Reply;
use crate::shard::Ctx;
use crate::types::set::SetValue;
/// Moved to the value type so the journal's rewrite can use it without depending on a family.
pub use crate::types::zset::format_score;
use crate::types::zset::{cmp_entries, Limits, Upsert, ZSetValue};
use crate::value::{parse_i64_strict, Value};

const G: &str = "sorted-set";

pub static COMMANDS: &[CommandSpec] = &[
    cmd(
        "zadd",
        -4,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        G,
        "1.2.0",
        "Add one or more members to a sorted set, or update its score if it already exists",
        Handler::Shard(zadd),
    ),
    cmd(
        "zincrby",
        4,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        G,
        "1.2.0",
        "Increment the score of a member in a sorted set",
        Handler::Shard(zincrby),
    ),
    cmd(
        "zrem",
        -3,
        WRITE | FAST,
        ONE_KEY,
        G,
        "1.2.0",
        "Remove one or more members from a sorted set",
        Handler::Shard(zrem),
    ),
    cmd(
        "zcard",
        2,
        READONLY | FAST,
        ONE_KEY,
        G,
        "1.2.0",
        "Get the number of members in a sorted set",
        Handler::Shard(zcard),
    ),
    cmd(
        "zscore",
        3,
        READONLY | FAST,
        ONE_KEY,
        G,
        "1.2.0",
        "Get the score associated with the given member in a sorted set",
        Handler::Shard(zscore),
    ),
    cmd(
        "zmscore",
        -3,
        READONLY | FAST,
        ONE_KEY,
        G,
        "6.2.0",
        "Get the score associated with the given members in a sorted set",
        Handler::Shard(zmscore),
    ),
    cmd(
        "zrank",
        3,
        READONLY | FAST,
        ONE_KEY,
        G,
        "2.0.0",
        "Determine the index of a member in a sorted set",
        Handler::Shard(zrank),
    ),
    cmd(
        "zrevrank",
        3,
        READONLY | FAST,
        ONE_KEY,
        G,
        "2.0.0",
        "Determine the index of a member in a sorted set, with scores ordered from high to low",
        Handler::Shard(zrevrank),
    ),
    cmd(
        "zcount",
        4,
        READONLY | FAST,
        ONE_KEY,
        G,
        "2.0.0",
        "Count the members in a sorted set with scores within the given values",
        Handler::Shard(zcount),
    ),
    cmd(
        "zlexcount",
        4,
        READONLY | FAST,
        ONE_KEY,
        G,
        "2.8.9",
        "Count the number of members in a sorted set between a given lexicographical range",
        Handler::Shard(zlexcount),
    ),
    cmd(
        "zrange",
        -4,
        READONLY,
        ONE_KEY,
        G,
        "1.2.0",
        "Return a range of members in a sorted set",
        Handler::Shard(zrange),
    ),
    cmd(
        "zrangestore",
        -5,
        WRITE | DENYOOM,
        (1, 2, 1),
        G,
        "6.2.0",
        "Store a range of members from sorted set into another key",
        Handler::Shard(zrangestore),
    )
    .multi(MultiShard::Gather),
    cmd(
        "zrangebyscore",
        -4,
        READONLY,
        ONE_KEY,
        G,
        "1.0.5",
        "Return a range of members in a sorted set, by score",
        Handler::Shard(zrangebyscore),
    ),
    cmd(
        "zrevrangebyscore",
        -4,
        READONLY,
        ONE_KEY,
        G,
        "2.2.0",
        "Return a range of members in a sorted set, by score, with scores ordered from high to \
         low",
        Handler::Shard(zrevrangebyscore),
    ),
    cmd(
        "zrangebylex",
        -4,
        READONLY,
        ONE_KEY,
        G,
        "2.8.9",
        "Return a range of members in a sorted set, by lexicographical range",
        Handler::Shard(zrangebylex),
    ),
    cmd(
        "zrevrangebylex",
        -4,
        READONLY,
        ONE_KEY,
        G,
        "2.8.9",
        "Return a range of members in a sorted set, by lexicographical range, ordered from \
         higher to lower strings.",
        Handler::Shard(zrevrangebylex),
    ),
    cmd(
        "zrevrange",
        -4,
        READONLY,
        ONE_KEY,
        G,
        "1.2.0",
        "Return a range of members in a sorted set, by index, with scores ordered from high to \
         low",
        Handler::Shard(zrevrange),
    ),
    cmd(
        "zremrangebyrank",
        4,
        WRITE,
        ONE_KEY,
        G,
        "2.0.0",
        "Remove all members in a sorted set within the given indexes",
        Handler::Shard(zremrangebyrank),
    ),
    cmd(
        "zremrangebyscore",
        4,
        WRITE,
        ONE_KEY,
        G,
        "1.2.0",
        "Remove all members in a sorted set within the given scores",
        Handler::Shard(zremrangebyscore),
    ),
    cmd(
        "zremrangebylex",
        4,
        WRITE,
        ONE_KEY,
        G,
        "2.8.9",
        "Remove all members in a sorted set between the given lexicographical range",
        Handler::Shard(zremrangebylex),
    ),
    cmd(
        "zpopmin",
        -2,
        WRITE | FAST,
        ONE_KEY,
        G,
        "5.0.0",
        "Remove and return members with the lowest scores in a sorted set",
        Handler::Shard(zpopmin),
    ),
    cmd(
        "zpopmax",
        -2,
        WRITE | FAST,
        ONE_KEY,
        G,
        "5.0.0",
        "Remove and return members with the highest scores in a sorted set",
        Handler::Shard(zpopmax),
    ),
    cmd(
        "zmpop",
        -4,
        WRITE,
        (2, -1, 1),
        G,
        "7.0.0",
        "Remove and return members with scores in a sorted set",
        Handler::Shard(zmpop),
    )
    .multi(MultiShard::Gather)
    .movable_keys(numkeys_keys::<1>),
    cmd(
        "bzpopmin",
        -3,
        WRITE | NOSCRIPT | FAST | BLOCKING,
        (1, -2, 1),
        G,
        "5.0.0",
        "Remove and return the member with the lowest score from one or more sorted sets, or \
         block until one is available",
        Handler::Shard(bzpopmin),
    )
    .multi(MultiShard::Gather),
    cmd(
        "bzpopmax",
        -3,
        WRITE | NOSCRIPT | FAST | BLOCKING,
        (1, -2, 1),
        G,
        "5.0.0",
        "Remove and return the member with the highest score from one or more sorted sets, or \
         block until one is available",
        Handler::Shard(bzpopmax),
    )
    .multi(MultiShard::Gather),
    cmd(
        "bzmpop",
        -5,
        WRITE | BLOCKING,
        (3, -1, 1),
        G,
        "7.0.0",
        "Remove and return members with scores in a sorted set or block until one is available",
        Handler::Shard(bzmpop),
    )
    .multi(MultiShard::Gather)
    .movable_keys(numkeys_keys::<2>),
    cmd(
        "zrandmember",
        -2,
        READONLY,
        ONE_KEY,
        G,
        "6.2.0",
        "Get one or multiple random elements from a sorted set",
        Handler::Shard(zrandmember),
    ),
    cmd(
        "zunion",
        -3,
        READONLY,
        (2, -1, 1),
        G,
        "6.2.0",
        "Add multiple sorted sets",
        Handler::Shard(zunion),
    )
    .multi(MultiShard::Gather)
    .movable_keys(numkeys_keys::<1>),
    cmd(
        "zinter",
        -3,
        READONLY,
        (2, -1, 1),
        G,
        "6.2.0",
        "Intersect multiple sorted sets",
        Handler::Shard(zinter),
    )
    .multi(MultiShard::Gather)
    .movable_keys(numkeys_keys::<1>),
    cmd(
        "zdiff",
        -3,
        READONLY,
        (2, -1, 1),
        G,
        "6.2.0",
        "Subtract multiple sorted sets",
        Handler::Shard(zdiff),
    )
    .multi(MultiShard::Gather)
    .movable_keys(numkeys_keys::<1>),
    cmd(
        "zunionstore",
        -4,
        WRITE | DENYOOM,
        (1, -1, 1),
        G,
        "2.0.0",
        "Add multiple sorted sets and store the resulting sorted set in a new key",
        Handler::Shard(zunionstore),
    )
    .multi(MultiShard::Gather)
    .movable_keys(store_numkeys_keys),
    cmd(
        "zinterstore",
        -4,
        WRITE | DENYOOM,
        (1, -1, 1),
        G,
        "2.0.0",
        "Intersect multiple sorted sets and store the resulting sorted set in a new key",
        Handler::Shard(zinterstore),
    )
    .multi(MultiShard::Gather)
    .movable_keys(store_numkeys_keys),
    cmd(
        "zdiffstore",
        -4,
        WRITE | DENYOOM,
        (1, -1, 1),
        G,
        "6.2.0",
        "Subtract multiple sorted sets and store the resulting sorted set in a new key",
        Handler::Shard(zdiffstore),
    )
    .multi(MultiShard::Gather)
    .movable_keys(store_numkeys_keys),
    cmd(
        "zintercard",
        -3,
        READONLY,
        (2, -1, 1),
        G,
        "7.0.0",
        "Intersect multiple sorted sets and return the cardinality of the result",
        Handler::Shard(zintercard),
    )
    .multi(MultiShard::Gather)
    .movable_keys(numkeys_keys::<1>),
    cmd(
        "zscan",
        -3,
        READONLY,
        ONE_KEY,
        G,
        "2.8.0",
        "Incrementally iterate sorted sets elements and associated scores",
        Handler::Shard(zscan),
    ),
];

/// Keys of a `numkeys key…` command with the count at argv[`AT`] (Redis's
/// `genericGetKeys`): none when the count is not a positive integer, clamped to the arguments.
fn numkeys_keys<const AT: usize>(argv: &[Bytes]) -> Vec<usize> {
    let Some(n) = argv.get(AT).and_then(|a| parse_i64_strict(a)) else {
        return Vec::new();
    };
    if n < 1 {
        return Vec::new();
    }
    let available = argv.len().saturating_sub(AT + 1);
    let n = usize::try_from(n).unwrap_or(usize::MAX).min(available);
    (AT + 1..AT + 1 + n).collect()
}

/// Keys of `ZUNIONSTORE dst numkeys key…` and its siblings: the destination, then the inputs.
fn store_numkeys_keys(argv: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    keys.extend(numkeys_keys::<2>(argv));
    keys
}

// ---------------------------------------------------------------------------------------------
// Number parsing, as Redis's C library calls behave.

fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// C `strtod` on `s`: the value, how many bytes it consumed (0 = no conversion), and whether
/// it set `ERANGE` (overflow to ±inf, or underflow to zero from a nonzero mantissa).
pub(crate) fn strtod(s: &[u8]) -> (f64, usize, bool) {
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let sign_at = i;
    let negative = s.get(i) == Some(&b'-');
    if matches!(s.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let signed = |v: f64| if negative { -v } else { v };
    let rest = &s[i..];
    let starts =
        |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    if starts(b"infinity") {
        return (signed(f64::INFINITY), i + 8, false);
    }
    if starts(b"inf") {
        return (signed(f64::INFINITY), i + 3, false);
    }
    if starts(b"nan") {
        let mut end = i + 3;
        if s.get(end) == Some(&b'(') {
            let mut j = end + 1;
            while j < s.len() && (s[j].is_ascii_alphanumeric() || s[j] == b'_') {
                j += 1;
            }
            if s.get(j) == Some(&b')') {
                end = j + 1;
            }
        }
        return (f64::NAN, end, false);
    }
    if rest.len() >= 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        if let Some((v, used, erange)) = parse_hex(&rest[2..]) {
            return (signed(v), i + 2 + used, erange);
        }
        // "0x" without hex digits converts just the "0".
        return (signed(0.0), i + 1, false);
    }
    let mut j = i;
    let mut digits = 0;
    let mut nonzero = false;
    while j < s.len() && s[j].is_ascii_digit() {
        nonzero |= s[j] != b'0';
        j += 1;
        digits += 1;
    }
    if j < s.len() && s[j] == b'.' {
        j += 1;
        while j < s.len() && s[j].is_ascii_digit() {
            nonzero |= s[j] != b'0';
            j += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return (0.0, 0, false);
    }
    if j < s.len() && (s[j] | 0x20) == b'e' {
        let mut k = j + 1;
        if matches!(s.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        if s.get(k).is_some_and(u8::is_ascii_digit) {
            while k < s.len() && s[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    let text = std::str::from_utf8(&s[sign_at..j]).unwrap_or("0");
    // Rust's parser is correctly rounded, like glibc's; it rejects a trailing '.' before the
    // exponent in no case we produce.
    let v: f64 = text.parse().unwrap_or(0.0);
    let erange = v.is_infinite() || (v == 0.0 && nonzero);
    (v, j, erange)
}

/// Hex float digits after `0x`: `h*[.h*][p[+-]d+]`. None when there is no hex digit.
fn parse_hex(s: &[u8]) -> Option<(f64, usize, bool)> {
    let mut mantissa: u64 = 0;
    let mut exp: i64 = 0;
    let mut j = 0;
    let mut digits = 0;
    let mut nonzero = false;
    let mut seen_point = false;
    while j < s.len() {
        let c = s[j];
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            b'.' if !seen_point => {
                seen_point = true;
                j += 1;
                continue;
            }
            _ => break,
        };
        digits += 1;
        nonzero |= d != 0;
        if mantissa >> 56 == 0 {
            mantissa = mantissa << 4 | d as u64;
            if seen_point {
                exp -= 4;
            }
        } else if !seen_point {
            exp += 4;
        }
        j += 1;
    }
    if digits == 0 {
        return None;
    }
    if j < s.len() && (s[j] | 0x20) == b'p' {
        let mut k = j + 1;
        let neg = s.get(k) == Some(&b'-');
        if matches!(s.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        if s.get(k).is_some_and(u8::is_ascii_digit) {
            let mut e: i64 = 0;
            while k < s.len() && s[k].is_ascii_digit() {
                e = (e * 10 + (s[k] - b'0') as i64).min(100_000);
                k += 1;
            }
            exp += if neg { -e } else { e };
            j = k;
        }
    }
    let exp = exp.clamp(-5000, 5000) as i32;
    // Two steps keep 2^exp representable for exponents near the limits.
    let half = exp / 2;
    let v = mantissa as f64 * 2f64.powi(half) * 2f64.powi(exp - half);
    Some((v, j, v.is_infinite() || (v == 0.0 && nonzero)))
}

/// Redis's `getDoubleFromObject`: the whole string, no leading space, no overflow or underflow
/// to zero, not NaN.
pub fn parse_score(s: &[u8]) -> Option<f64> {
    if s.is_empty() || is_c_space(s[0]) {
        return None;
    }
    let (v, used, erange) = strtod(s);
    if used != s.len() || v.is_nan() || (erange && (v.is_infinite() || v == 0.0)) {
        return None;
    }
    Some(v)
}

/// The bound of a score range: `strtod` up to a NUL or the end (leading spaces, the empty
/// string as 0, and overflow to infinity all accepted, as in `zslParseRange`), not NaN.
fn parse_range_bound(s: &[u8]) -> Option<f64> {
    let (v, used, _) = strtod(s);
    let end_ok = if used == 0 {
        s.first().is_none_or(|&c| c == 0)
    } else {
        s.get(used).is_none_or(|&c| c == 0)
    };
    (end_ok && !v.is_nan()).then_some(v)
}

/// Redis's `getLongFromObjectOrReply` (strict `string2l`).
fn parse_long(s: &[u8]) -> Result<i64, OpError> {
    parse_i64_strict(s).ok_or(OpError::NotInteger)
}

/// A blocking command's timeout in seconds as Redis 7.0 reads it (`strtold`, then milliseconds
/// truncated to a `long long`; values too large for it come out negative on x86, as there).
fn parse_timeout(s: &[u8]) -> Result<(), Reply> {
    let not_float = || Reply::error("ERR timeout is not a float or out of range");
    if s.is_empty() || is_c_space(s[0]) {
        return Err(not_float());
    }
    let (v, used, _) = strtod(s);
    if used != s.len() || v.is_nan() {
        return Err(not_float());
    }
    let ms = v * 1000.0;
    if ms.is_nan() || ms.abs() >= 9.223_372_036_854_775e18 || (ms.trunc() as i64) < 0 {
        return Err(Reply::error("ERR timeout is negative"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Ranges.

#[derive(Clone, Copy, Debug)]
struct ScoreRange {
    min: f64,
    min_ex: bool,
    max: f64,
    max_ex: bool,
}

impl ScoreRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, OpError> {
        let err = || OpError::other("ERR min or max is not a float");
        let item = |b: &[u8]| -> Result<(f64, bool), OpError> {
            match b.first() {
                Some(b'(') => Ok((parse_range_bound(&b[1..]).ok_or_else(err)?, true)),
                _ => Ok((parse_range_bound(b).ok_or_else(err)?, false)),
            }
        };
        let (min, min_ex) = item(min)?;
        let (max, max_ex) = item(max)?;
        Ok(ScoreRange { min, min_ex, max, max_ex })
    }

    fn gte_min(&self, v: f64) -> bool {
        if self.min_ex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    fn lte_max(&self, v: f64) -> bool {
        if self.max_ex {
            v < self.max
        } else {
            v <= self.max
        }
    }

    fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.min_ex || self.max_ex))
    }

    /// Ranks `start..end` of the members inside the range.
    fn ranks(&self, z: &ZSetValue) -> (usize, usize) {
        if self.is_empty() {
            return (0, 0);
        }
        let start = z.partition_point(|s, _| !self.gte_min(s));
        let end = z.partition_point(|s, _| self.lte_max(s));
        (start, end.max(start))
    }
}

#[derive(Clone, Debug)]
enum LexBound {
    Min,
    Max,
    Incl(Bytes),
    Excl(Bytes),
}

impl LexBound {
    fn parse(b: &Bytes) -> Option<LexBound> {
        let alone = b.get(1).is_none_or(|&c| c == 0);
        match b.first()? {
            b'+' if alone => Some(LexBound::Max),
            b'-' if alone => Some(LexBound::Min),
            b'(' => Some(LexBound::Excl(b.slice(1..))),
            b'[' => Some(LexBound::Incl(b.slice(1..))),
            _ => None,
        }
    }

    /// Order of bounds with `-` below and `+` above every string (Redis's `sdscmplex`).
    fn cmp(&self, other: &LexBound) -> Ordering {
        let key = |b: &LexBound| match b {
            LexBound::Min => (0, None),
            LexBound::Max => (2, None),
            LexBound::Incl(s) | LexBound::Excl(s) => (1, Some(s.clone())),
        };
        key(self).cmp(&key(other))
    }

    fn exclusive(&self) -> bool {
        !matches!(self, LexBound::Incl(_))
    }
}

#[derive(Clone, Debug)]
struct LexRange {
    min: LexBound,
    max: LexBound,
}

impl LexRange {
    fn parse(min: &Bytes, max: &Bytes) -> Result<LexRange, OpError> {
        match (LexBound::parse(min), LexBound::parse(max)) {
            (Some(min), Some(max)) => Ok(LexRange { min, max }),
            _ => Err(OpError::other("ERR min or max not valid string range item")),
        }
    }

    fn gte_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Incl(x) => m >= &x[..],
            LexBound::Excl(x) => m > &x[..],
        }
    }

    fn lte_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(x) => m <= &x[..],
            LexBound::Excl(x) => m < &x[..],
        }
    }

    fn is_empty(&self) -> bool {
        let c = self.min.cmp(&self.max);
        c == Ordering::Greater
            || (c == Ordering::Equal && (self.min.exclusive() || self.max.exclusive()))
    }

    fn ranks(&self, z: &ZSetValue) -> (usize, usize) {
        if self.is_empty() {
            return (0, 0);
        }
        let start = z.partition_point(|_, m| !self.gte_min(m));
        let end = z.partition_point(|_, m| self.lte_max(m));
        (start, end.max(start))
    }
}

/// Clamps Redis's rank range (negative from the end) to `start..end` over `len`.
fn rank_range(start: i64, end: i64, len: usize) -> (usize, usize) {
    let llen = len as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return (0, 0);
    }
    if end >= llen {
        end = llen - 1;
    }
    (start as usize, end as usize + 1)
}

// ---------------------------------------------------------------------------------------------
// Lookups and replies.

pub(crate) fn limits(ctx: &Ctx<'_>) -> Limits {
    let c = ctx.config();
    Limits {
        max_listpack_entries: c.zset_max_listpack_entries,
        max_listpack_value: c.zset_max_listpack_value,
    }
}

fn read<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> OpResult<Option<&'c ZSetValue>> {
    match ctx.lookup_read(key) {
        None => Ok(None),
        Some(Entry { value: Value::ZSet(z), .. }) => Ok(Some(z)),
        Some(_) => Err(OpError::WrongType),
    }
}

fn write<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> OpResult<Option<&'c mut ZSetValue>> {
    match ctx.lookup_write(key) {
        None => Ok(None),
        Some(Entry { value: Value::ZSet(z), .. }) => Ok(Some(z)),
        Some(_) => Err(OpError::WrongType),
    }
}

/// After an in-place change: deletes the key if the set is now empty, else notes the write.
fn finish_write(ctx: &mut Ctx<'_>, key: &[u8]) {
    let empty = matches!(
        ctx.shard.dbs[ctx.db].table.get(key),
        Some(Entry { value: Value::ZSet(z), .. }) if z.is_empty()
    );
    if empty {
        ctx.remove(key);
        ctx.notify(class::GENERIC, "del", key);
    } else {
        ctx.note_write(key);
    }
}

fn member_score(member: &[u8], score: f64, resp3: bool, out: &mut Vec<Reply>) {
    if resp3 {
        out.push(Reply::Array(vec![Reply::bulk_slice(member), Reply::Double(score)]));
    } else {
        out.push(Reply::bulk_slice(member));
        out.push(Reply::Double(score));
    }
}

/// Members, with scores as RESP2 flat pairs or RESP3 nested pairs.
fn scored<'a>(
    items: impl Iterator<Item = (&'a [u8], f64)>,
    withscores: bool,
    resp3: bool,
) -> Reply {
    let mut out = Vec::new();
    for (m, s) in items {
        if withscores {
            member_score(m, s, resp3, &mut out);
        } else {
            out.push(Reply::bulk_slice(m));
        }
    }
    Reply::Array(out)
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Reply::from(e),
        }
    };
}

// ---------------------------------------------------------------------------------------------
// ZADD / ZINCRBY.

/// ZADD's options (GEOADD passes NX, XX and CH through).
#[derive(Default, Clone, Copy)]
pub(crate) struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub ch: bool,
    pub incr: bool,
}

fn zadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut f = AddFlags::default();
    let mut i = 2;
    while i < argv.len() {
        let a = &argv[i];
        if a.eq_ignore_ascii_case(b"nx") {
            f.nx = true;
        } else if a.eq_ignore_ascii_case(b"xx") {
            f.xx = true;
        } else if a.eq_ignore_ascii_case(b"gt") {
            f.gt = true;
        } else if a.eq_ignore_ascii_case(b"lt") {
            f.lt = true;
        } else if a.eq_ignore_ascii_case(b"ch") {
            f.ch = true;
        } else if a.eq_ignore_ascii_case(b"incr") {
            f.incr = true;
        } else {
            break;
        }
        i += 1;
    }
    zadd_generic(ctx, &argv[1], &argv[i..], f)
}

fn zincrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    zadd_generic(ctx, &argv[1], &argv[2..], AddFlags { incr: true, ..AddFlags::default() })
}

/// ZADD's work over `score member` pairs (GEOADD calls it with encoded positions, as Redis's
/// `geoaddCommand` rewrites itself into ZADD).
pub(crate) fn zadd_generic(ctx: &mut Ctx<'_>, key: &[u8], pairs: &[Bytes], f: AddFlags) -> Reply {
    if pairs.is_empty() || pairs.len() & 1 == 1 {
        return OpError::Syntax.into();
    }
    if f.nx && f.xx {
        return Reply::error("ERR XX and NX options at the same time are not compatible");
    }
    if ((f.gt || f.lt) && f.nx) || (f.gt && f.lt) {
        return Reply::error("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if f.incr && pairs.len() > 2 {
        return Reply::error("ERR INCR option supports a single increment-element pair");
    }
    let mut scores = Vec::with_capacity(pairs.len() / 2);
    for pair in pairs.chunks_exact(2) {
        match parse_score(&pair[0]) {
            Some(s) => scores.push(s),
            None => return OpError::NotFloat.into(),
        }
    }
    let limits = limits(ctx);
    let exists = match write(ctx, key) {
        Err(e) => return e.into(),
        Ok(z) => z.is_some(),
    };
    if !exists {
        if f.xx {
            return if f.incr { Reply::Nil } else { Reply::Int(0) };
        }
        ctx.set_value(key, Value::ZSet(Box::default()), 0);
    }
    let Ok(Some(z)) = write(ctx, key) else {
        return OpError::WrongType.into();
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last = 0.0;
    let mut nan = false;
    for (pair, &score) in pairs.chunks_exact(2).zip(&scores) {
        let member = &pair[1];
        match z.score(member) {
            Some(cur) => {
                if f.nx {
                    continue;
                }
                let new = if f.incr { score + cur } else { score };
                if new.is_nan() {
                    nan = true;
                    break;
                }
                last = new;
                if (f.lt && new >= cur) || (f.gt && new <= cur) {
                    continue;
                }
                processed += 1;
                if z.upsert(member, new, limits) != Upsert::Unchanged {
                    updated += 1;
                }
            }
            None => {
                if f.xx {
                    continue;
                }
                z.upsert(member, score, limits);
                last = score;
                added += 1;
                processed += 1;
            }
        }
    }
    if added + updated > 0 {
        ctx.notify(class::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
        finish_write(ctx, key);
    } else {
        // A key created for a command that then added nothing must not stay behind empty.
        let empty = matches!(
            ctx.shard.dbs[ctx.db].table.get(key),
            Some(Entry { value: Value::ZSet(z), .. }) if z.is_empty()
        );
        if empty {
            ctx.remove(key);
        }
    }
    if nan {
        return Reply::error("ERR resulting score is not a number (NaN)");
    }
    if f.incr {
        if processed > 0 {
            Reply::Double(last)
        } else {
            Reply::Nil
        }
    } else {
        Reply::Int(if f.ch { added + updated } else { added })
    }
}

// ---------------------------------------------------------------------------------------------
// Single-key reads.

fn zrem(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let z = match tri!(write(ctx, &argv[1])) {
        None => return Reply::Int(0),
        Some(z) => z,
    };
    let mut deleted = 0;
    for m in &argv[2..] {
        if z.remove(m).is_some() {
            deleted += 1;
            if z.is_empty() {
                break;
            }
        }
    }
    if deleted > 0 {
        ctx.notify(class::ZSET, "zrem", &argv[1]);
        finish_write(ctx, &argv[1]);
    }
    Reply::Int(deleted)
}

fn zcard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    Reply::Int(tri!(read(ctx, &argv[1])).map_or(0, |z| z.len() as i64))
}

fn zscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match tri!(read(ctx, &argv[1])).and_then(|z| z.score(&argv[2])) {
        Some(s) => Reply::Double(s),
        None => Reply::Nil,
    }
}

fn zmscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let z = tri!(read(ctx, &argv[1]));
    Reply::Array(
        argv[2..]
            .iter()
            .map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Nil, Reply::Double))
            .collect(),
    )
}

fn zrank(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    rank_generic(ctx, argv, false)
}

fn zrevrank(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    rank_generic(ctx, argv, true)
}

fn rank_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], rev: bool) -> Reply {
    let Some(z) = tri!(read(ctx, &argv[1])) else {
        return Reply::Nil;
    };
    match z.rank(&argv[2]) {
        Some((r, _)) if rev => Reply::Int((z.len() - 1 - r) as i64),
        Some((r, _)) => Reply::Int(r as i64),
        None => Reply::Nil,
    }
}

fn zcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let range = tri!(ScoreRange::parse(&argv[2], &argv[3]));
    let Some(z) = tri!(read(ctx, &argv[1])) else {
        return Reply::Int(0);
    };
    let (s, e) = range.ranks(z);
    Reply::Int((e - s) as i64)
}

fn zlexcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let range = tri!(LexRange::parse(&argv[2], &argv[3]));
    let Some(z) = tri!(read(ctx, &argv[1])) else {
        return Reply::Int(0);
    };
    let (s, e) = range.ranks(z);
    Reply::Int((e - s) as i64)
}

// ---------------------------------------------------------------------------------------------
// ZRANGE and its variants (Redis's `zrangeGenericCommand`).

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

enum Parsed {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// What a ZRANGE-family call asks for, parsed and checked.
struct RangeRequest {
    parsed: Parsed,
    reverse: bool,
    withscores: bool,
    offset: i64,
    limit: i64,
}

fn parse_range_request(
    argv: &[Bytes],
    src_idx: usize,
    store: bool,
    mut rtype: RangeType,
    mut dir: Direction,
) -> Result<RangeRequest, Reply> {
    let mut withscores = false;
    let mut offset = 0i64;
    let mut limit = -1i64;
    let mut j = src_idx + 3;
    while j < argv.len() {
        let a = &argv[j];
        let left = argv.len() - j - 1;
        if !store && a.eq_ignore_ascii_case(b"withscores") {
            withscores = true;
        } else if a.eq_ignore_ascii_case(b"limit") && left >= 2 {
            offset = parse_long(&argv[j + 1]).map_err(Reply::from)?;
            limit = parse_long(&argv[j + 2]).map_err(Reply::from)?;
            j += 2;
        } else if dir == Direction::Auto && a.eq_ignore_ascii_case(b"rev") {
            dir = Direction::Reverse;
        } else if rtype == RangeType::Auto && a.eq_ignore_ascii_case(b"bylex") {
            rtype = RangeType::Lex;
        } else if rtype == RangeType::Auto && a.eq_ignore_ascii_case(b"byscore") {
            rtype = RangeType::Score;
        } else {
            return Err(OpError::Syntax.into());
        }
        j += 1;
    }
    let reverse = dir == Direction::Reverse;
    if rtype == RangeType::Auto {
        rtype = RangeType::Rank;
    }
    if limit != -1 && rtype == RangeType::Rank {
        return Err(Reply::error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && rtype == RangeType::Lex {
        return Err(Reply::error(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut min_idx, mut max_idx) = (src_idx + 1, src_idx + 2);
    if reverse && rtype != RangeType::Rank {
        std::mem::swap(&mut min_idx, &mut max_idx);
    }
    let parsed = match rtype {
        RangeType::Score => {
            Parsed::Score(ScoreRange::parse(&argv[min_idx], &argv[max_idx]).map_err(Reply::from)?)
        }
        RangeType::Lex => {
            Parsed::Lex(LexRange::parse(&argv[min_idx], &argv[max_idx]).map_err(Reply::from)?)
        }
        _ => Parsed::Rank(
            parse_long(&argv[min_idx]).map_err(Reply::from)?,
            parse_long(&argv[max_idx]).map_err(Reply::from)?,
        ),
    };
    Ok(RangeRequest { parsed, reverse, withscores, offset, limit })
}

/// The ranks a request selects, in emission order.
fn select_ranks(z: &ZSetValue, req: &RangeRequest) -> Vec<usize> {
    let (start, end) = match &req.parsed {
        Parsed::Rank(s, e) => {
            let (a, b) = rank_range(*s, *e, z.len());
            return if req.reverse {
                let n = z.len();
                (a..b).map(|r| n - 1 - r).collect()
            } else {
                (a..b).collect()
            };
        }
        Parsed::Score(r) => r.ranks(z),
        Parsed::Lex(r) => r.ranks(z),
    };
    if req.offset < 0 || (req.offset > 0 && req.offset as u64 >= z.len() as u64) {
        return Vec::new();
    }
    let avail = end - start;
    let skip = (req.offset as u64).min(avail as u64) as usize;
    let take = if req.limit < 0 {
        avail - skip
    } else {
        (req.limit as u64).min((avail - skip) as u64) as usize
    };
    if req.reverse {
        (0..take).map(|k| end - 1 - skip - k).collect()
    } else {
        (0..take).map(|k| start + skip + k).collect()
    }
}

fn range_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], rtype: RangeType, dir: Direction) -> Reply {
    let req = match parse_range_request(argv, 1, false, rtype, dir) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let resp3 = ctx.resp3;
    let Some(z) = tri!(read(ctx, &argv[1])) else {
        return Reply::Array(Vec::new());
    };
    let ranks = select_ranks(z, &req);
    scored(ranks.into_iter().map(|r| z.get(r)), req.withscores, resp3)
}

fn zrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    range_generic(ctx, argv, RangeType::Auto, Direction::Auto)
}

fn zrevrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    range_generic(ctx, argv, RangeType::Rank, Direction::Reverse)
}

fn zrangebyscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    range_generic(ctx, argv, RangeType::Score, Direction::Forward)
}

fn zrevrangebyscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    range_generic(ctx, argv, RangeType::Score, Direction::Reverse)
}

fn zrangebylex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    range_generic(ctx, argv, RangeType::Lex, Direction::Forward)
}

fn zrevrangebylex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    range_generic(ctx, argv, RangeType::Lex, Direction::Reverse)
}

/// Replaces `dst` with `entries` (distinct members), or deletes it when empty; replies the size.
fn store_result(
    ctx: &mut Ctx<'_>,
    dst: &[u8],
    entries: Vec<(Vec<u8>, f64)>,
    event: &'static str,
) -> Reply {
    let n = entries.len() as i64;
    if entries.is_empty() {
        if ctx.remove(dst).is_some() {
            ctx.notify(class::GENERIC, "del", dst);
        }
        return Reply::Int(0);
    }
    let limits = limits(ctx);
    ctx.set_value(dst, Value::ZSet(Box::new(ZSetValue::from_unique(entries, limits))), 0);
    ctx.notify(class::ZSET, event, dst);
    Reply::Int(n)
}

fn zrangestore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let req = match parse_range_request(argv, 2, true, RangeType::Auto, Direction::Auto) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let entries = match tri!(read(ctx, &argv[2])) {
        None => Vec::new(),
        Some(z) => select_ranks(z, &req)
            .into_iter()
            .map(|r| {
                let (m, s) = z.get(r);
                (m.to_vec(), s)
            })
            .collect(),
    };
    store_result(ctx, &argv[1], entries, "zrangestore")
}

// ---------------------------------------------------------------------------------------------
// ZREMRANGEBY*.

fn zremrange_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], rtype: RangeType) -> Reply {
    let parsed = match rtype {
        RangeType::Score => Parsed::Score(tri!(ScoreRange::parse(&argv[2], &argv[3]))),
        RangeType::Lex => Parsed::Lex(tri!(LexRange::parse(&argv[2], &argv[3]))),
        _ => Parsed::Rank(tri!(parse_long(&argv[2])), tri!(parse_long(&argv[3]))),
    };
    let Some(z) = tri!(write(ctx, &argv[1])) else {
        return Reply::Int(0);
    };
    let (start, end) = match &parsed {
        Parsed::Rank(s, e) => rank_range(*s, *e, z.len()),
        Parsed::Score(r) => r.ranks(z),
        Parsed::Lex(r) => r.ranks(z),
    };
    let removed = z.remove_range(start, end).len();
    if removed > 0 {
        let event = match rtype {
            RangeType::Score => "zremrangebyscore",
            RangeType::Lex => "zremrangebylex",
            _ => "zremrangebyrank",
        };
        ctx.notify(class::ZSET, event, &argv[1]);
        finish_write(ctx, &argv[1]);
    }
    Reply::Int(removed as i64)
}

fn zremrangebyrank(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    zremrange_generic(ctx, argv, RangeType::Rank)
}

fn zremrangebyscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    zremrange_generic(ctx, argv, RangeType::Score)
}

fn zremrangebylex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    zremrange_generic(ctx, argv, RangeType::Lex)
}

// ---------------------------------------------------------------------------------------------
// Pops.

/// Pops up to `count` members from the min or max end of the zset at `key` (which exists and
/// is non-empty), deleting the key when emptied.
fn pop_from(ctx: &mut Ctx<'_>, key: &[u8], max: bool, count: usize) -> Vec<(Vec<u8>, f64)> {
    let Ok(Some(z)) = write(ctx, key) else {
        return Vec::new();
    };
    let n = z.len();
    let take = count.min(n);
    let mut items = if max { z.remove_range(n - take, n) } else { z.remove_range(0, take) };
    if max {
        items.reverse();
    }
    if !items.is_empty() {
        ctx.notify(class::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
        finish_write(ctx, key);
    }
    items
}

/// The non-blocking pop a served blocking pop is journaled as.
fn pop_name(max: bool) -> &'static str {
    if max {
        "ZPOPMAX"
    } else {
        "ZPOPMIN"
    }
}

fn pairs_reply(items: &[(Vec<u8>, f64)], nested: bool) -> Vec<Reply> {
    let mut out = Vec::with_capacity(items.len() * 2);
    for (m, s) in items {
        if nested {
            out.push(Reply::Array(vec![Reply::bulk_slice(m), Reply::Double(*s)]));
        } else {
            out.push(Reply::bulk_slice(m));
            out.push(Reply::Double(*s));
        }
    }
    out
}

fn zpop_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], max: bool) -> Reply {
    if argv.len() > 3 {
        return OpError::Syntax.into();
    }
    let count = match argv.get(2) {
        None => None,
        Some(a) => match parse_i64_strict(a) {
            Some(n) if n >= 0 => Some(n as u64),
            _ => return Reply::error("ERR value is out of range, must be positive"),
        },
    };
    match tri!(write(ctx, &argv[1])) {
        None => return Reply::Array(Vec::new()),
        Some(z) if z.is_empty() => return Reply::Array(Vec::new()),
        Some(_) => {}
    }
    if count == Some(0) {
        return Reply::Array(Vec::new());
    }
    let take = count.unwrap_or(1).min(usize::MAX as u64) as usize;
    let items = pop_from(ctx, &argv[1], max, take);
    let nested = ctx.resp3 && count.is_some();
    Reply::Array(pairs_reply(&items, nested))
}

fn zpopmin(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    zpop_generic(ctx, argv, false)
}

fn zpopmax(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    zpop_generic(ctx, argv, true)
}

/// Parsed `numkeys key… MIN|MAX [COUNT n]` of ZMPOP/BZMPOP.
struct MpopArgs {
    keys: std::ops::Range<usize>,
    max: bool,
    count: usize,
}

fn parse_mpop(argv: &[Bytes], numkeys_idx: usize) -> Result<MpopArgs, Reply> {
    let numkeys_err = || Reply::error("ERR numkeys should be greater than 0");
    let numkeys = parse_i64_strict(&argv[numkeys_idx]).ok_or_else(numkeys_err)?;
    if numkeys < 1 {
        return Err(numkeys_err());
    }
    let where_idx = (numkeys_idx as u64).saturating_add(numkeys as u64).saturating_add(1);
    if where_idx >= argv.len() as u64 {
        return Err(OpError::Syntax.into());
    }
    let where_idx = where_idx as usize;
    let max = if argv[where_idx].eq_ignore_ascii_case(b"min") {
        false
    } else if argv[where_idx].eq_ignore_ascii_case(b"max") {
        true
    } else {
        return Err(OpError::Syntax.into());
    };
    let mut count: Option<i64> = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if count.is_none() && argv[j].eq_ignore_ascii_case(b"count") && more > 0 {
            j += 1;
            let count_err = || Reply::error("ERR count should be greater than 0");
            let n = parse_i64_strict(&argv[j]).ok_or_else(count_err)?;
            if n < 1 {
                return Err(count_err());
            }
            count = Some(n);
        } else {
            return Err(OpError::Syntax.into());
        }
        j += 1;
    }
    Ok(MpopArgs {
        keys: numkeys_idx + 1..where_idx,
        max,
        count: usize::try_from(count.unwrap_or(1)).unwrap_or(usize::MAX),
    })
}

/// The first key holding a non-empty zset, or the WRONGTYPE error of the first other type.
fn first_nonempty(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    keys: std::ops::Range<usize>,
) -> OpResult<Option<usize>> {
    for i in keys {
        match write(ctx, &argv[i])? {
            Some(z) if !z.is_empty() => return Ok(Some(i)),
            _ => {}
        }
    }
    Ok(None)
}

fn mpop_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], args: &MpopArgs) -> Reply {
    let Some(i) = tri!(first_nonempty(ctx, argv, args.keys.clone())) else {
        return Reply::NilArray;
    };
    let items = pop_from(ctx, &argv[i], args.max, args.count);
    // ZMPOP and a served BZMPOP: the pop of what was there, from that key.
    let n = items.len();
    ctx.propagate_as(|| vec![word(pop_name(args.max)), argv[i].clone(), num_arg(n)]);
    Reply::Array(vec![Reply::Bulk(argv[i].clone()), Reply::Array(pairs_reply(&items, true))])
}

fn zmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match parse_mpop(argv, 1) {
        Ok(args) => mpop_generic(ctx, argv, &args),
        Err(e) => e,
    }
}

fn bzmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let args = match parse_mpop(argv, 2) {
        Ok(args) => args,
        Err(e) => return e,
    };
    if let Err(e) = parse_timeout(&argv[1]) {
        return e;
    }
    mpop_generic(ctx, argv, &args)
}

fn bzpop_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], max: bool) -> Reply {
    let last = argv.len() - 1;
    if let Err(e) = parse_timeout(&argv[last]) {
        return e;
    }
    let Some(i) = tri!(first_nonempty(ctx, argv, 1..last)) else {
        return Reply::NilArray;
    };
    let items = pop_from(ctx, &argv[i], max, 1);
    ctx.propagate_as(|| vec![word(pop_name(max)), argv[i].clone()]);
    let mut out = vec![Reply::Bulk(argv[i].clone())];
    out.extend(pairs_reply(&items, false));
    Reply::Array(out)
}

fn bzpopmin(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    bzpop_generic(ctx, argv, false)
}

fn bzpopmax(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    bzpop_generic(ctx, argv, true)
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER.

/// The most members one ZRANDMEMBER with a negative count may return. Redis 7.0 has no limit
/// and would build a reply of any size; a shard must not.
pub const RANDMEMBER_MAX_COUNT: u64 = 1 << 24;

fn zrandmember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let resp3 = ctx.resp3;
    if argv.len() < 3 {
        let size = match tri!(read(ctx, &argv[1])) {
            Some(z) if !z.is_empty() => z.len(),
            _ => return Reply::Nil,
        };
        let r = ctx.shard.rng.gen_range(0..size);
        let Ok(Some(z)) = read(ctx, &argv[1]) else {
            return Reply::Nil;
        };
        return Reply::bulk_slice(z.get(r).0);
    }
    let count = tri!(parse_long(&argv[2]));
    if count == i64::MIN {
        return Reply::error(
            "ERR value is out of range, value must between -9223372036854775807 and \
             9223372036854775807",
        );
    }
    let withscores = match argv.len() {
        3 => false,
        4 if argv[3].eq_ignore_ascii_case(b"withscores") => {
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
                return Reply::error("ERR value is out of range");
            }
            true
        }
        _ => return OpError::Syntax.into(),
    };
    let (size, listpack) = match tri!(read(ctx, &argv[1])) {
        Some(z) => (z.len(), z.encoding() == "listpack"),
        None => return Reply::Array(Vec::new()),
    };
    if count == 0 || size == 0 {
        return Reply::Array(Vec::new());
    }
    let ranks: Vec<usize> = if count < 0 || count == 1 {
        let n = count.unsigned_abs();
        if n > RANDMEMBER_MAX_COUNT {
            return Reply::error("ERR value is out of range");
        }
        (0..n).map(|_| ctx.shard.rng.gen_range(0..size)).collect()
    } else if count as u64 >= size as u64 {
        // Redis returns the whole set from the top down.
        (0..size).rev().collect()
    } else {
        let mut picked =
            rand::seq::index::sample(&mut ctx.shard.rng, size, count as usize).into_vec();
        if listpack && (count as u64).saturating_mul(3) <= size as u64 {
            // Redis samples a few members of a listpack in listpack order; larger samples
            // come from a dictionary, in no order.
            picked.sort_unstable();
        }
        picked
    };
    let Ok(Some(z)) = read(ctx, &argv[1]) else {
        return Reply::Array(Vec::new());
    };
    scored(ranks.into_iter().map(|r| z.get(r)), withscores, resp3)
}

// ---------------------------------------------------------------------------------------------
// ZUNION / ZINTER / ZDIFF (+STORE) and ZINTERCARD.

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// One input: a sorted set, a plain set (every score 1), or nothing.
#[derive(Clone, Copy)]
enum Src<'a> {
    Missing,
    Z(&'a ZSetValue),
    S(&'a SetValue),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Missing => None,
            Src::Z(z) => z.score(m),
            Src::S(s) => s.contains(m).then_some(1.0),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Src::Missing => {}
            Src::Z(z) => z.iter().for_each(|(m, s)| f(m, s)),
            Src::S(s) => s.for_each(|m| f(m, 1.0)),
        }
    }
}

fn aggregate(acc: &mut f64, v: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *acc += v;
            if acc.is_nan() {
                *acc = 0.0;
            }
        }
        Aggregate::Min => *acc = acc.min(v),
        Aggregate::Max => *acc = acc.max(v),
    }
}

/// `weight * score`, with Redis's rule that `inf * 0` counts as 0.
fn weighted(score: f64, weight: f64) -> f64 {
    let v = score * weight;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

struct SetOpArgs {
    keys: std::ops::Range<usize>,
    weights: Vec<f64>,
    how: Aggregate,
    withscores: bool,
    limit: u64,
}

fn parse_setop(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    numkeys_idx: usize,
    op: SetOp,
    store: bool,
    card_only: bool,
    name: &str,
) -> Result<SetOpArgs, Reply> {
    let setnum = parse_long(&argv[numkeys_idx]).map_err(Reply::from)?;
    if setnum < 1 {
        return Err(Reply::error(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if setnum as u64 > (argv.len() - numkeys_idx - 1) as u64 {
        return Err(OpError::Syntax.into());
    }
    let n = setnum as usize;
    let keys = numkeys_idx + 1..numkeys_idx + 1 + n;
    // Redis checks every input's type before reading the options.
    for i in keys.clone() {
        // Sources are read lookups even for the *STORE forms, as in Redis (hits, misses and
        // `keymiss` events count them).
        let found = ctx.lookup_read(&argv[i]);
        if let Some(e) = found {
            if !matches!(e.value, Value::ZSet(_) | Value::Set(_)) {
                return Err(OpError::WrongType.into());
            }
        }
    }
    let mut args = SetOpArgs {
        keys: keys.clone(),
        weights: vec![1.0; n],
        how: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let mut j = keys.end;
    while j < argv.len() {
        let remaining = argv.len() - j;
        let a = &argv[j];
        if op != SetOp::Diff && !card_only && remaining > n && a.eq_ignore_ascii_case(b"weights") {
            j += 1;
            for w in args.weights.iter_mut() {
                *w = parse_score(&argv[j])
                    .ok_or_else(|| Reply::error("ERR weight value is not a float"))?;
                j += 1;
            }
        } else if op != SetOp::Diff
            && !card_only
            && remaining >= 2
            && a.eq_ignore_ascii_case(b"aggregate")
        {
            let v = &argv[j + 1];
            args.how = if v.eq_ignore_ascii_case(b"sum") {
                Aggregate::Sum
            } else if v.eq_ignore_ascii_case(b"min") {
                Aggregate::Min
            } else if v.eq_ignore_ascii_case(b"max") {
                Aggregate::Max
            } else {
                return Err(OpError::Syntax.into());
            };
            j += 2;
        } else if !store && !card_only && a.eq_ignore_ascii_case(b"withscores") {
            args.withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && a.eq_ignore_ascii_case(b"limit") {
            let negative = || Reply::error("ERR LIMIT can't be negative");
            let l = parse_i64_strict(&argv[j + 1]).ok_or_else(negative)?;
            if l < 0 {
                return Err(negative());
            }
            args.limit = l as u64;
            j += 2;
        } else {
            return Err(OpError::Syntax.into());
        }
    }
    Ok(args)
}

/// Computes the operation over the inputs (already type-checked); the result's members are
/// distinct, in no particular order. With `card_limit` it stops counting an intersection
/// there (0 = no limit), for ZINTERCARD.
fn compute_setop(
    ctx: &Ctx<'_>,
    argv: &[Bytes],
    args: &SetOpArgs,
    op: SetOp,
) -> Vec<(Vec<u8>, f64)> {
    let table = &ctx.shard.dbs[ctx.db].table;
    let mut srcs: Vec<(Src<'_>, f64)> = args
        .keys
        .clone()
        .zip(&args.weights)
        .map(|(i, &w)| {
            let src = match table.get(&argv[i]) {
                Some(Entry { value: Value::ZSet(z), .. }) => Src::Z(z),
                Some(Entry { value: Value::Set(s), .. }) => Src::S(s),
                _ => Src::Missing,
            };
            (src, w)
        })
        .collect();
    let mut out = Vec::new();
    match op {
        SetOp::Inter => {
            // Smallest first, as Redis does (a stable sort keeps weights with their sets).
            srcs.sort_by_key(|(s, _)| s.len());
            if srcs[0].0.len() == 0 {
                return out;
            }
            let (first, w0) = srcs[0];
            first.for_each(|m, s| {
                let mut score = weighted(s, w0);
                for &(other, w) in &srcs[1..] {
                    match other.score(m) {
                        Some(v) => aggregate(&mut score, weighted(v, w), args.how),
                        None => return,
                    }
                }
                out.push((m.to_vec(), score));
            });
        }
        SetOp::Union => {
            srcs.sort_by_key(|(s, _)| s.len());
            let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
            for &(src, w) in &srcs {
                src.for_each(|m, s| {
                    let v = weighted(s, w);
                    match acc.get_mut(m) {
                        Some(cur) => aggregate(cur, v, args.how),
                        None => {
                            acc.insert(m.to_vec(), v);
                        }
                    }
                });
            }
            out = acc.into_iter().collect();
        }
        SetOp::Diff => {
            let (first, _) = srcs[0];
            first.for_each(|m, s| {
                if srcs[1..].iter().all(|(other, _)| other.score(m).is_none()) {
                    out.push((m.to_vec(), s));
                }
            });
        }
    }
    out
}

fn setop_command(ctx: &mut Ctx<'_>, argv: &[Bytes], op: SetOp, store: bool, name: &str) -> Reply {
    let numkeys_idx = if store { 2 } else { 1 };
    let args = match parse_setop(ctx, argv, numkeys_idx, op, store, false, name) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let mut entries = compute_setop(ctx, argv, &args, op);
    if store {
        let event = match op {
            SetOp::Union => "zunionstore",
            SetOp::Inter => "zinterstore",
            SetOp::Diff => "zdiffstore",
        };
        return store_result(ctx, &argv[1], entries, event);
    }
    entries.sort_by(|a, b| cmp_entries(a.1, &a.0, b.1, &b.0));
    scored(entries.iter().map(|(m, s)| (&m[..], *s)), args.withscores, ctx.resp3)
}

fn zunion(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    setop_command(ctx, argv, SetOp::Union, false, "zunion")
}

fn zinter(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    setop_command(ctx, argv, SetOp::Inter, false, "zinter")
}

fn zdiff(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    setop_command(ctx, argv, SetOp::Diff, false, "zdiff")
}

fn zunionstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    setop_command(ctx, argv, SetOp::Union, true, "zunionstore")
}

fn zinterstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    setop_command(ctx, argv, SetOp::Inter, true, "zinterstore")
}

fn zdiffstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    setop_command(ctx, argv, SetOp::Diff, true, "zdiffstore")
}

fn zintercard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let args = match parse_setop(ctx, argv, 1, SetOp::Inter, false, true, "zintercard") {
        Ok(a) => a,
        Err(e) => return e,
    };
    let table = &ctx.shard.dbs[ctx.db].table;
    let mut srcs: Vec<Src<'_>> = args
        .keys
        .clone()
        .map(|i| match table.get(&argv[i]) {
            Some(Entry { value: Value::ZSet(z), .. }) => Src::Z(z),
            Some(Entry { value: Value::Set(s), .. }) => Src::S(s),
            _ => Src::Missing,
        })
        .collect();
    srcs.sort_by_key(Src::len);
    let mut count = 0u64;
    if srcs[0].len() > 0 {
        let limit = args.limit;
        srcs[0].for_each(|m, _| {
            if limit != 0 && count >= limit {
                return;
            }
            if srcs[1..].iter().all(|o| o.score(m).is_some()) {
                count += 1;
            }
        });
    }
    Reply::Int(count as i64)
}

// ---------------------------------------------------------------------------------------------
// ZSCAN.

fn zscan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(cursor) = crate::families::keys::parse_scan_cursor(&argv[2]) else {
        return Reply::error("ERR invalid cursor");
    };
    let empty = || Reply::Array(vec![Reply::bulk_str("0"), Reply::Array(Vec::new())]);
    if tri!(read(ctx, &argv[1])).is_none() {
        return empty();
    }
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < argv.len() {
        let left = argv.len() - i;
        if argv[i].eq_ignore_ascii_case(b"count") && left >= 2 {
            let n = tri!(parse_long(&argv[i + 1]));
            if n < 1 {
                return OpError::Syntax.into();
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if argv[i].eq_ignore_ascii_case(b"match") && left >= 2 {
            let p = &argv[i + 1][..];
            pattern = if p == b"*" { None } else { Some(p) };
        } else {
            return OpError::Syntax.into();
        }
        i += 2;
    }
    let Ok(Some(z)) = read(ctx, &argv[1]) else {
        return empty();
    };
    let mut items = Vec::new();
    let next = z.scan(cursor, count, |m, s| {
        if pattern.is_none_or(|p| glob_match(p, m, false)) {
            items.push(Reply::bulk_slice(m));
            items.push(Reply::bulk_str(&format_score(s)));
        }
    });
    Reply::Array(vec![Reply::bulk_str(&next.to_string()), Reply::Array(items)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_parsing_matches_getdoublefromobject() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"+Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        assert_eq!(parse_score(b"0x1p-2"), Some(0.25));
        assert_eq!(parse_score(b".5"), Some(0.5));
        assert_eq!(parse_score(b"5."), Some(5.0));
        assert_eq!(parse_score(b"1e-320").map(|v| v > 0.0), Some(true));
        for bad in [&b""[..], b" 1", b"1 ", b"nan", b"1e400", b"1e-400", b"abc", b"1e", b"--1"] {
            assert_eq!(parse_score(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn range_bounds_are_lenient_like_strtod() {
        assert_eq!(parse_range_bound(b""), Some(0.0));
        assert_eq!(parse_range_bound(b" 1"), Some(1.0));
        assert_eq!(parse_range_bound(b"1e400"), Some(f64::INFINITY));
        assert_eq!(parse_range_bound(b"1\0x"), Some(1.0));
        assert_eq!(parse_range_bound(b"1 "), None);
        assert_eq!(parse_range_bound(b" "), None);
        assert_eq!(parse_range_bound(b"nan"), None);
    }

    #[test]
    fn format_score_is_percent_17g() {
        for (v, s) in [
            (1.5, "1.5"),
            (0.1, "0.10000000000000001"),
            (1e300, "1.0000000000000001e+300"),
            (100.0, "100"),
            (1e17, "1e+17"),
            (1e16, "10000000000000000"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (-2.5, "-2.5"),
            (-0.0, "-0"),
        ] {
            assert_eq!(format_score(v), s);
        }
    }

    #[test]
    fn timeouts_read_like_redis() {
        assert!(parse_timeout(b"0").is_ok());
        assert!(parse_timeout(b"0.5").is_ok());
        assert!(parse_timeout(b"-0.0001").is_ok());
        assert!(parse_timeout(b"0x10").is_ok());
        let negative = Err(Reply::error("ERR timeout is negative"));
        assert_eq!(parse_timeout(b"-1"), negative);
        assert_eq!(parse_timeout(b"inf"), negative);
        assert_eq!(parse_timeout(b"1e20"), negative);
        let nf = Err(Reply::error("ERR timeout is not a float or out of range"));
        assert_eq!(parse_timeout(b"abc"), nf);
        assert_eq!(parse_timeout(b" 1"), nf);
    }
}
