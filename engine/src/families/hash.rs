//! Hash commands: HSET HSETNX HGET HMGET HMSET HDEL HLEN HSTRLEN HEXISTS HKEYS HVALS HGETALL
//! HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN.
//!
//! Semantics are Redis 7.0's `t_hash.c`. Encoding conversions happen where Redis does them:
//! HSET/HMSET check every field and value argument before writing (`hashTypeTryConversion`),
//! HSETNX only when it actually inserts, and HINCRBY/HINCRBYFLOAT through the per-write check
//! of `hashTypeSet`; the entry count is checked after each insert. HINCRBYFLOAT computes in
//! the emulated x87 `long double` of the string family, so its digits are Redis's.

use bytes::Bytes;
use rand::rngs::SmallRng;

use crate::command::{cmd, flags::*, CommandSpec, Handler, ONE_KEY};
use crate::db::Entry;
use crate::error::{OpError, OpResult};
use crate::families::set::{
    parse_collection_cursor, parse_collection_scan_options, parse_random_count, scan_reply,
    RANDOM_REPEAT_MAX,
};
use crate::families::string::LongDouble;
use crate::glob::glob_match;
use crate::notify::class;
use crate::reply::Reply;
use crate::shard::Ctx;
use crate::types::hash::{HashLimits, HashValue};
use crate::value::{parse_i64_strict, Value};

pub static COMMANDS: &[CommandSpec] = &[
    cmd(
        "hset",
        -4,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        "hash",
        "2.0.0",
        "Set the string value of a hash field",
        Handler::Shard(hset),
    ),
    cmd(
        "hsetnx",
        4,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        "hash",
        "2.0.0",
        "Set the value of a hash field, only if the field does not exist",
        Handler::Shard(hsetnx),
    ),
    cmd(
        "hget",
        3,
        READONLY | FAST,
        ONE_KEY,
        "hash",
        "2.0.0",
        "Get the value of a hash field",
        Handler::Shard(hget),
    ),
    cmd(
        "hmget",
        -3,
        READONLY | FAST,
        ONE_KEY,
        "hash",
        "2.0.0",
        "Get the values of all the given hash fields",
        Handler::Shard(hmget),
    ),
    cmd(
        "hmset",
        -4,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        "hash",
        "2.0.0",
        "Set multiple hash fields to multiple values",
        Handler::Shard(hmset),
    ),
    cmd(
        "hdel",
        -3,
        WRITE | FAST,
        ONE_KEY,
        "hash",
        "2.0.0",
        "Delete one or more hash fields",
        Handler::Shard(hdel),
    ),
    cmd(
        "hlen",
        2,
        READONLY | FAST,
        ONE_KEY,
        "hash",
        "2.0.0",
        "Get the number of fields in a hash",
        Handler::Shard(hlen),
    ),
    cmd(
        "hstrlen",
        3,
        READONLY | FAST,
        ONE_KEY,
        "hash",
        "3.2.0",
        "Get the length of the value of a hash field",
        Handler::Shard(hstrlen),
    ),
    cmd(
        "hexists",
        3,
        READONLY | FAST,
        ONE_KEY,
        "hash",
        "2.0.0",
        "Determine if a hash field exists",
        Handler::Shard(hexists),
    ),
    cmd(
        "hkeys",
        2,
        READONLY,
        ONE_KEY,
        "hash",
        "2.0.0",
        "Get all the fields in a hash",
        Handler::Shard(hkeys),
    ),
    cmd(
        "hvals",
        2,
        READONLY,
        ONE_KEY,
        "hash",
        "2.0.0",
        "Get all the values in a hash",
        Handler::Shard(hvals),
    ),
    cmd(
        "hgetall",
        2,
        READONLY,
        ONE_KEY,
        "hash",
        "2.0.0",
        "Get all the fields and values in a hash",
        Handler::Shard(hgetall),
    ),
    cmd(
        "hincrby",
        4,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        "hash",
        "2.0.0",
        "Increment the integer value of a hash field by the given number",
        Handler::Shard(hincrby),
    ),
    cmd(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        "hash",
        "2.6.0",
        "Increment the float value of a hash field by the given amount",
        Handler::Shard(hincrbyfloat),
    ),
    cmd(
        "hrandfield",
        -2,
        READONLY,
        ONE_KEY,
        "hash",
        "6.2.0",
        "Get one or multiple random fields from a hash",
        Handler::Shard(hrandfield),
    ),
    cmd(
        "hscan",
        -3,
        READONLY,
        ONE_KEY,
        "hash",
        "2.8.0",
        "Incrementally iterate hash fields and associated values",
        Handler::Shard(hscan),
    ),
];

fn limits(ctx: &Ctx<'_>) -> HashLimits {
    let c = ctx.config();
    HashLimits { max_entries: c.hash_max_listpack_entries, max_value: c.hash_max_listpack_value }
}

/// Looks `key` up and checks it holds a hash: Ok(true) when it does, Ok(false) when absent.
fn check_hash(ctx: &mut Ctx<'_>, key: &[u8], write: bool) -> OpResult<bool> {
    let entry = if write { ctx.lookup_write(key) } else { ctx.lookup_read(key) };
    match entry {
        None => Ok(false),
        Some(Entry { value: Value::Hash(_), .. }) => Ok(true),
        Some(_) => Err(OpError::WrongType),
    }
}

fn hash_ref<'c>(ctx: &'c Ctx<'_>, key: &[u8]) -> Option<&'c HashValue> {
    match ctx.shard.dbs[ctx.db].table.get(key) {
        Some(Entry { value: Value::Hash(h), .. }) => Some(&**h),
        _ => None,
    }
}

fn hash_mut<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Option<(&'c mut HashValue, &'c mut SmallRng)> {
    let shard = &mut *ctx.shard;
    match shard.dbs[ctx.db].table.get_mut(key) {
        Some(Entry { value: Value::Hash(h), .. }) => Some((&mut **h, &mut shard.rng)),
        _ => None,
    }
}

/// Redis's `hashTypeLookupWriteOrCreate`: the hash at `key`, created empty when absent.
fn hash_for_write<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> OpResult<&'c mut HashValue> {
    if !check_hash(ctx, key, true)? {
        ctx.set_value(key, Value::Hash(Box::new(HashValue::new())), 0);
    }
    Ok(hash_mut(ctx, key).expect("present: checked or created above").0)
}

fn hset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    hset_generic(ctx, argv, "hset").map(|added| Reply::Int(added as i64)).into()
}

fn hmset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    hset_generic(ctx, argv, "hmset").map(|_| Reply::ok()).into()
}

/// HSET and HMSET: field/value pairs; returns how many fields were new.
fn hset_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], name: &str) -> OpResult<usize> {
    if argv.len() % 2 == 1 {
        return Err(OpError::WrongArity(name.to_string()));
    }
    let key = &argv[1];
    let limits = limits(ctx);
    let hash = hash_for_write(ctx, key)?;
    hash.convert_for_args(argv[2..].iter().map(|a| a.as_ref()), limits);
    let added =
        argv[2..].chunks_exact(2).filter(|pair| hash.set(&pair[0], &pair[1], limits)).count();
    ctx.note_write(key);
    ctx.notify(class::HASH, "hset", key);
    Ok(added)
}

fn hsetnx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    hsetnx_inner(ctx, &argv[1], &argv[2], &argv[3]).into()
}

fn hsetnx_inner(ctx: &mut Ctx<'_>, key: &[u8], field: &[u8], value: &[u8]) -> OpResult<Reply> {
    let limits = limits(ctx);
    let hash = hash_for_write(ctx, key)?;
    if hash.contains(field) {
        return Ok(Reply::Int(0));
    }
    hash.set(field, value, limits);
    ctx.note_write(key);
    ctx.notify(class::HASH, "hset", key);
    Ok(Reply::Int(1))
}

fn hget(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match check_hash(ctx, &argv[1], false) {
        Err(e) => e.into(),
        Ok(_) => Reply::opt_bulk(
            hash_ref(ctx, &argv[1]).and_then(|h| h.get(&argv[2])).map(Bytes::copy_from_slice),
        ),
    }
}

fn hmget(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if let Err(e) = check_hash(ctx, &argv[1], false) {
        return e.into();
    }
    let hash = hash_ref(ctx, &argv[1]);
    Reply::Array(
        argv[2..]
            .iter()
            .map(|f| Reply::opt_bulk(hash.and_then(|h| h.get(f)).map(Bytes::copy_from_slice)))
            .collect(),
    )
}

fn hdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    hdel_inner(ctx, argv).into()
}

fn hdel_inner(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let key = &argv[1];
    if !check_hash(ctx, key, true)? {
        return Ok(Reply::Int(0));
    }
    let (hash, _) = hash_mut(ctx, key).expect("checked above");
    let mut deleted = 0;
    for f in &argv[2..] {
        if hash.remove(f) {
            deleted += 1;
            if hash.is_empty() {
                break;
            }
        }
    }
    let now_empty = hash.is_empty();
    if deleted > 0 {
        ctx.note_write(key);
        ctx.notify(class::HASH, "hdel", key);
        if now_empty {
            ctx.remove(key);
            ctx.notify(class::GENERIC, "del", key);
        }
    }
    Ok(Reply::Int(deleted))
}

/// Runs `f` on the hash at `key` (None when absent) after a read lookup.
fn read_hash(ctx: &mut Ctx<'_>, key: &[u8], f: impl FnOnce(Option<&HashValue>) -> Reply) -> Reply {
    match check_hash(ctx, key, false) {
        Err(e) => e.into(),
        Ok(_) => f(hash_ref(ctx, key)),
    }
}

fn hlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_hash(ctx, &argv[1], |h| Reply::Int(h.map_or(0, HashValue::len) as i64))
}

fn hstrlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_hash(ctx, &argv[1], |h| {
        Reply::Int(h.and_then(|h| h.get(&argv[2])).map_or(0, <[u8]>::len) as i64)
    })
}

fn hexists(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_hash(ctx, &argv[1], |h| Reply::Int(h.is_some_and(|h| h.contains(&argv[2])) as i64))
}

fn hkeys(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_hash(ctx, &argv[1], |h| {
        let mut out = Vec::new();
        if let Some(h) = h {
            h.for_each(|k, _| out.push(Reply::bulk_slice(k)));
        }
        Reply::Array(out)
    })
}

fn hvals(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_hash(ctx, &argv[1], |h| {
        let mut out = Vec::new();
        if let Some(h) = h {
            h.for_each(|_, v| out.push(Reply::bulk_slice(v)));
        }
        Reply::Array(out)
    })
}

fn hgetall(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_hash(ctx, &argv[1], |h| {
        let mut out = Vec::new();
        if let Some(h) = h {
            h.for_each(|k, v| out.push((Reply::bulk_slice(k), Reply::bulk_slice(v))));
        }
        Reply::Map(out)
    })
}

fn hincrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    hincrby_inner(ctx, &argv[1], &argv[2], &argv[3]).into()
}

fn hincrby_inner(ctx: &mut Ctx<'_>, key: &[u8], field: &[u8], incr: &[u8]) -> OpResult<Reply> {
    let incr = parse_i64_strict(incr).ok_or(OpError::NotInteger)?;
    let limits = limits(ctx);
    let hash = hash_for_write(ctx, key)?;
    let current = match hash.get(field) {
        None => 0,
        Some(v) => parse_i64_strict(v).ok_or(OpError::other("ERR hash value is not an integer"))?,
    };
    let sum = current.checked_add(incr).ok_or(OpError::Overflow)?;
    hash.set(field, itoa::Buffer::new().format(sum).as_bytes(), limits);
    ctx.note_write(key);
    ctx.notify(class::HASH, "hincrby", key);
    Ok(Reply::Int(sum))
}

fn hincrbyfloat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    hincrbyfloat_inner(ctx, &argv[1], &argv[2], &argv[3]).into()
}

/// `long double` arithmetic and `%.17Lf`-then-trim printing, exactly as Redis 7.0.
fn hincrbyfloat_inner(ctx: &mut Ctx<'_>, key: &[u8], field: &[u8], incr: &[u8]) -> OpResult<Reply> {
    let incr = LongDouble::parse(incr).ok_or(OpError::NotFloat)?;
    if matches!(incr, LongDouble::Inf { .. }) {
        return Err(OpError::other("ERR value is NaN or Infinity"));
    }
    let limits = limits(ctx);
    let hash = hash_for_write(ctx, key)?;
    let current = match hash.get(field) {
        None => LongDouble::from_i64(0),
        Some(v) => LongDouble::parse(v).ok_or(OpError::other("ERR hash value is not a float"))?,
    };
    let sum =
        current.add(incr).ok_or(OpError::other("ERR increment would produce NaN or Infinity"))?;
    let text = sum.format_human();
    hash.set(field, text.as_bytes(), limits);
    ctx.note_write(key);
    ctx.notify(class::HASH, "hincrbyfloat", key);
    let text = Bytes::from(text);
    // The result, not the float arithmetic, is what a copy must store.
    ctx.propagate_as(|| {
        let (key, field) = (Bytes::copy_from_slice(key), Bytes::copy_from_slice(field));
        vec![crate::journal::word("HSET"), key, field, text.clone()]
    });
    Ok(Reply::bulk(text))
}

fn hrandfield(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    hrandfield_inner(ctx, argv).into()
}

fn hrandfield_inner(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let key = &argv[1];
    if argv.len() == 2 {
        if !check_hash(ctx, key, false)? {
            return Ok(Reply::Nil);
        }
        let (hash, rng) = hash_mut(ctx, key).expect("checked above");
        return Ok(Reply::opt_bulk(hash.random(rng).map(|(k, _)| k)));
    }
    let n = parse_random_count(&argv[2])?;
    let with_values = match argv.len() {
        3 => false,
        4 if argv[3].eq_ignore_ascii_case(b"withvalues") => true,
        _ => return Err(OpError::Syntax),
    };
    // Redis refuses counts whose doubled reply length would overflow; Mayfly also bounds the
    // picks-with-repetition reply (see RANDOM_REPEAT_MAX).
    let doubled_overflows = with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n);
    if doubled_overflows || (n < 0 && n.unsigned_abs() > RANDOM_REPEAT_MAX) {
        return Err(OpError::other("ERR value is out of range"));
    }
    if !check_hash(ctx, key, false)? || n == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let resp3 = ctx.resp3;
    let (hash, rng) = hash_mut(ctx, key).expect("checked above");
    let count = n.unsigned_abs();
    let picks: Vec<(Bytes, Bytes)> = if n < 0 {
        (0..count).filter_map(|_| hash.random(rng)).collect()
    } else if count >= hash.len() as u64 {
        hash.entries()
    } else {
        hash.random_distinct(count as usize, rng)
    };
    Ok(pairs_reply(picks, with_values, resp3))
}

/// HRANDFIELD's reply: fields only; or with values, pairs in RESP3 and a flat list in RESP2.
fn pairs_reply(picks: Vec<(Bytes, Bytes)>, with_values: bool, resp3: bool) -> Reply {
    if !with_values {
        return Reply::Array(picks.into_iter().map(|(k, _)| Reply::Bulk(k)).collect());
    }
    if resp3 {
        return Reply::Array(
            picks
                .into_iter()
                .map(|(k, v)| Reply::Array(vec![Reply::Bulk(k), Reply::Bulk(v)]))
                .collect(),
        );
    }
    Reply::Array(picks.into_iter().flat_map(|(k, v)| [Reply::Bulk(k), Reply::Bulk(v)]).collect())
}

fn hscan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    hscan_inner(ctx, argv).into()
}

fn hscan_inner(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let cursor = parse_collection_cursor(&argv[2])?;
    if !check_hash(ctx, &argv[1], false)? {
        return Ok(scan_reply(0, Vec::new()));
    }
    let (pattern, count) = parse_collection_scan_options(argv)?;
    let hash = hash_ref(ctx, &argv[1]).expect("checked above");
    let mut items = Vec::new();
    let next = hash.scan(cursor, count, |k, v| {
        if pattern.as_ref().is_none_or(|p| glob_match(p, k, false)) {
            items.push(Reply::bulk_slice(k));
            items.push(Reply::bulk_slice(v));
        }
    });
    Ok(scan_reply(next, items))
}
