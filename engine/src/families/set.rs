//! Set commands: SADD SREM SCARD SISMEMBER SMISMEMBER SMEMBERS SPOP SRANDMEMBER SMOVE SINTER
//! SINTERCARD SUNION SDIFF SINTERSTORE SUNIONSTORE SDIFFSTORE SSCAN.
//!
//! Semantics are Redis 7.0's `t_set.c`, including which encoding a result starts from: SADD
//! and SMOVE create a set in the encoding of its first member (`setTypeCreate`), the *STORE
//! commands and SUNION/SDIFF build their result from an empty intset, and SPOP's "keep the
//! few remaining" strategy rebuilds the set, so it may come back as an intset. Reply shapes
//! follow RESP3 where Redis uses set replies (SMEMBERS, SINTER, SUNION, SDIFF, SPOP count).
//!
//! Multi-key commands are declared `MultiShard::Gather`: the net layer gathers every key into
//! one shard, so each handler sees all of its keys here. SINTERCARD's keys are counted by
//! `numkeys`, so it declares them exactly with `movable_keys`.

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::Rng;

use crate::command::{cmd, flags::*, CommandSpec, Handler, MultiShard, ONE_KEY};
use crate::db::Entry;
use crate::error::{OpError, OpResult};
use crate::families::keys::parse_scan_cursor;
use crate::glob::glob_match;
use crate::journal::word;
use crate::notify::class;
use crate::reply::Reply;
use crate::shard::Ctx;
use crate::types::set::SetValue;
use crate::value::{parse_i64_strict, Value};

pub static COMMANDS: &[CommandSpec] = &[
    cmd(
        "sadd",
        -3,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        "set",
        "1.0.0",
        "Add one or more members to a set",
        Handler::Shard(sadd),
    ),
    cmd(
        "srem",
        -3,
        WRITE | FAST,
        ONE_KEY,
        "set",
        "1.0.0",
        "Remove one or more members from a set",
        Handler::Shard(srem),
    ),
    cmd(
        "scard",
        2,
        READONLY | FAST,
        ONE_KEY,
        "set",
        "1.0.0",
        "Get the number of members in a set",
        Handler::Shard(scard),
    ),
    cmd(
        "sismember",
        3,
        READONLY | FAST,
        ONE_KEY,
        "set",
        "1.0.0",
        "Determine if a given value is a member of a set",
        Handler::Shard(sismember),
    ),
    cmd(
        "smismember",
        -3,
        READONLY | FAST,
        ONE_KEY,
        "set",
        "6.2.0",
        "Returns the membership associated with the given elements for a set",
        Handler::Shard(smismember),
    ),
    cmd(
        "smembers",
        2,
        READONLY,
        ONE_KEY,
        "set",
        "1.0.0",
        "Get all the members in a set",
        Handler::Shard(smembers),
    ),
    cmd(
        "spop",
        -2,
        WRITE | FAST,
        ONE_KEY,
        "set",
        "1.0.0",
        "Remove and return one or multiple random members from a set",
        Handler::Shard(spop),
    ),
    cmd(
        "srandmember",
        -2,
        READONLY,
        ONE_KEY,
        "set",
        "1.0.0",
        "Get one or multiple random members from a set",
        Handler::Shard(srandmember),
    ),
    cmd(
        "smove",
        4,
        WRITE | FAST,
        (1, 2, 1),
        "set",
        "1.0.0",
        "Move a member from one set to another",
        Handler::Shard(smove),
    )
    .multi(MultiShard::Gather),
    cmd(
        "sinter",
        -2,
        READONLY,
        (1, -1, 1),
        "set",
        "1.0.0",
        "Intersect multiple sets",
        Handler::Shard(sinter),
    )
    .multi(MultiShard::Gather),
    cmd(
        "sintercard",
        -3,
        READONLY,
        (2, -1, 1),
        "set",
        "7.0.0",
        "Intersect multiple sets and return the cardinality of the result",
        Handler::Shard(sintercard),
    )
    .multi(MultiShard::Gather)
    .movable_keys(sintercard_keys),
    cmd(
        "sunion",
        -2,
        READONLY,
        (1, -1, 1),
        "set",
        "1.0.0",
        "Add multiple sets",
        Handler::Shard(sunion),
    )
    .multi(MultiShard::Gather),
    cmd(
        "sdiff",
        -2,
        READONLY,
        (1, -1, 1),
        "set",
        "1.0.0",
        "Subtract multiple sets",
        Handler::Shard(sdiff),
    )
    .multi(MultiShard::Gather),
    cmd(
        "sinterstore",
        -3,
        WRITE | DENYOOM,
        (1, -1, 1),
        "set",
        "1.0.0",
        "Intersect multiple sets and store the resulting set in a key",
        Handler::Shard(sinterstore),
    )
    .multi(MultiShard::Gather),
    cmd(
        "sunionstore",
        -3,
        WRITE | DENYOOM,
        (1, -1, 1),
        "set",
        "1.0.0",
        "Add multiple sets and store the resulting set in a key",
        Handler::Shard(sunionstore),
    )
    .multi(MultiShard::Gather),
    cmd(
        "sdiffstore",
        -3,
        WRITE | DENYOOM,
        (1, -1, 1),
        "set",
        "1.0.0",
        "Subtract multiple sets and store the resulting set in a key",
        Handler::Shard(sdiffstore),
    )
    .multi(MultiShard::Gather),
    cmd(
        "sscan",
        -3,
        READONLY,
        ONE_KEY,
        "set",
        "2.8.0",
        "Incrementally iterate Set elements",
        Handler::Shard(sscan),
    ),
];

/// The keys of `SINTERCARD numkeys key… [LIMIT n]`: exactly the `numkeys` after argv[1]
/// (none when numkeys is not a positive integer; the handler then answers the error).
fn sintercard_keys(argv: &[Bytes]) -> Vec<usize> {
    match parse_i64_strict(argv.get(1).map_or(&b""[..], |a| a.as_ref())) {
        Some(n) if n > 0 => {
            let n = usize::try_from(n).unwrap_or(usize::MAX).min(argv.len().saturating_sub(2));
            (2..2 + n).collect()
        }
        _ => Vec::new(),
    }
}

/// Redis's SPOP_MOVE_STRATEGY_MUL: popping all but fewer than count/5 members rebuilds the set
/// from the members that stay instead of removing the popped ones one by one.
const SPOP_MOVE_STRATEGY_MUL: u64 = 5;
/// Redis's SRANDMEMBER_SUB_STRATEGY_MUL (also HRANDFIELD's): asking for more than a third of
/// the set copies it and removes random members instead of drawing until distinct.
pub const RANDOM_SUB_STRATEGY_MUL: usize = 3;
/// Mayfly's bound on a negative SRANDMEMBER / HRANDFIELD count (picks with repetition). Redis
/// has none and tries to build the reply (a huge count exhausts its memory); one reply this
/// large is already gigabytes, so larger counts answer `ERR value is out of range`.
pub const RANDOM_REPEAT_MAX: u64 = 1 << 24;

/// Which lookup a command does: reads count keyspace hits and misses, writes do not.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lookup {
    Read,
    Write,
}

/// Looks `key` up and checks it holds a set: Ok(true) when it does, Ok(false) when absent.
fn check_set(ctx: &mut Ctx<'_>, key: &[u8], lookup: Lookup) -> OpResult<bool> {
    let entry = match lookup {
        Lookup::Read => ctx.lookup_read(key),
        Lookup::Write => ctx.lookup_write(key),
    };
    match entry {
        None => Ok(false),
        Some(Entry { value: Value::Set(_), .. }) => Ok(true),
        Some(_) => Err(OpError::WrongType),
    }
}

/// The set at `key` (already looked up), with the shard's random generator.
fn set_mut<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Option<(&'c mut SetValue, &'c mut SmallRng)> {
    let shard = &mut *ctx.shard;
    match shard.dbs[ctx.db].table.get_mut(key) {
        Some(Entry { value: Value::Set(s), .. }) => Some((&mut **s, &mut shard.rng)),
        _ => None,
    }
}

fn set_ref<'c>(ctx: &'c Ctx<'_>, key: &[u8]) -> Option<&'c SetValue> {
    match ctx.shard.dbs[ctx.db].table.get(key) {
        Some(Entry { value: Value::Set(s), .. }) => Some(&**s),
        _ => None,
    }
}

fn max_intset(ctx: &Ctx<'_>) -> u64 {
    ctx.config().set_max_intset_entries
}

/// Deletes `key` when its set became empty, as Redis never keeps an empty collection.
fn delete_if_empty(ctx: &mut Ctx<'_>, key: &[u8]) {
    if set_ref(ctx, key).is_some_and(SetValue::is_empty) {
        ctx.remove(key);
        ctx.notify(class::GENERIC, "del", key);
    }
}

fn set_reply(members: Vec<Bytes>) -> Reply {
    Reply::Set(members.into_iter().map(Reply::Bulk).collect())
}

fn sadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    sadd_inner(ctx, argv).into()
}

fn sadd_inner(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let key = &argv[1];
    if !check_set(ctx, key, Lookup::Write)? {
        ctx.set_value(key, Value::Set(Box::new(SetValue::new_for(&argv[2]))), 0);
    }
    let limit = max_intset(ctx);
    let (set, _) = set_mut(ctx, key).expect("present: checked or created above");
    let added = argv[2..].iter().filter(|m| set.insert(m, limit)).count();
    if added > 0 {
        ctx.note_write(key);
        ctx.notify(class::SET, "sadd", key);
    }
    Ok(Reply::Int(added as i64))
}

fn srem(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    srem_inner(ctx, argv).into()
}

fn srem_inner(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let key = &argv[1];
    if !check_set(ctx, key, Lookup::Write)? {
        return Ok(Reply::Int(0));
    }
    let (set, _) = set_mut(ctx, key).expect("checked above");
    let mut removed = 0;
    for m in &argv[2..] {
        if set.remove(m) {
            removed += 1;
            if set.is_empty() {
                break;
            }
        }
    }
    if removed > 0 {
        ctx.note_write(key);
        ctx.notify(class::SET, "srem", key);
        delete_if_empty(ctx, key);
    }
    Ok(Reply::Int(removed))
}

fn scard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match check_set(ctx, &argv[1], Lookup::Read) {
        Err(e) => e.into(),
        Ok(false) => Reply::Int(0),
        Ok(true) => Reply::Int(set_ref(ctx, &argv[1]).map_or(0, SetValue::len) as i64),
    }
}

fn sismember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match check_set(ctx, &argv[1], Lookup::Read) {
        Err(e) => e.into(),
        Ok(false) => Reply::Int(0),
        Ok(true) => Reply::Int(set_ref(ctx, &argv[1]).is_some_and(|s| s.contains(&argv[2])) as i64),
    }
}

fn smismember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if let Err(e) = check_set(ctx, &argv[1], Lookup::Read) {
        return e.into();
    }
    let set = set_ref(ctx, &argv[1]);
    Reply::Array(
        argv[2..].iter().map(|m| Reply::Int(set.is_some_and(|s| s.contains(m)) as i64)).collect(),
    )
}

fn smembers(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match check_set(ctx, &argv[1], Lookup::Read) {
        Err(e) => e.into(),
        Ok(_) => set_reply(set_ref(ctx, &argv[1]).map(SetValue::members).unwrap_or_default()),
    }
}

fn spop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match argv.len() {
        2 => spop_one(ctx, &argv[1]).into(),
        3 => spop_count(ctx, &argv[1], &argv[2]).into(),
        _ => OpError::Syntax.into(),
    }
}

fn spop_one(ctx: &mut Ctx<'_>, key: &[u8]) -> OpResult<Reply> {
    if !check_set(ctx, key, Lookup::Write)? {
        return Ok(Reply::Nil);
    }
    let (set, rng) = set_mut(ctx, key).expect("checked above");
    let popped = set.pop_random(rng);
    // The random pick is journaled as what it picked.
    if let Some(m) = &popped {
        ctx.propagate_as(|| vec![word("SREM"), Bytes::copy_from_slice(key), m.clone()]);
    }
    ctx.note_write(key);
    ctx.notify(class::SET, "spop", key);
    delete_if_empty(ctx, key);
    Ok(Reply::opt_bulk(popped))
}

fn spop_count(ctx: &mut Ctx<'_>, key: &[u8], count_arg: &[u8]) -> OpResult<Reply> {
    let count = parse_i64_strict(count_arg)
        .filter(|n| *n >= 0)
        .ok_or(OpError::other("ERR value is out of range, must be positive"))?
        as u64;
    if !check_set(ctx, key, Lookup::Write)? || count == 0 {
        return Ok(Reply::Set(Vec::new()));
    }
    let limit = max_intset(ctx);
    let (set, rng) = set_mut(ctx, key).expect("checked above");
    let size = set.len() as u64;
    if count >= size {
        let all = set.members();
        ctx.notify(class::SET, "spop", key);
        ctx.remove(key);
        ctx.notify(class::GENERIC, "del", key);
        ctx.propagate_as(|| vec![word("DEL"), Bytes::copy_from_slice(key)]);
        return Ok(set_reply(all));
    }
    let remaining = size - count;
    let old_encoding = set.encoding();
    let popped: Vec<Bytes> = if remaining * SPOP_MOVE_STRATEGY_MUL > count {
        (0..count).filter_map(|_| set.pop_random(rng)).collect()
    } else {
        // Few stay: move them into a fresh set (which starts in the encoding of the first
        // member moved, as Redis's setTypeCreate) and answer with what is left behind.
        let mut kept: Option<SetValue> = None;
        for _ in 0..remaining {
            let Some(m) = set.pop_random(rng) else { break };
            kept.get_or_insert_with(|| SetValue::new_for(&m)).insert(&m, limit);
        }
        let popped = set.members();
        if let Some(kept) = kept {
            *set = kept;
        }
        popped
    };
    if ctx.journaling() {
        journal_spop(ctx, key, &popped, old_encoding);
    }
    ctx.note_write(key);
    ctx.notify(class::SET, "spop", key);
    Ok(set_reply(popped))
}

/// SPOP with a count, as Redis 7.0 journals it: one SREM per popped member. When the rebuild
/// strategy left the set in another encoding than SREMs would (a big set of integers shrunk
/// back to an intset), it is journaled as its deletion and re-creation instead, so a copy ends
/// up in the same encoding too.
fn journal_spop(ctx: &mut Ctx<'_>, key: &[u8], popped: &[Bytes], old_encoding: &str) {
    let Some(entry) = ctx.shard.dbs[ctx.db].table.get(key) else { return };
    let Value::Set(set) = &entry.value else { return };
    if set.encoding() == old_encoding {
        let key = Bytes::copy_from_slice(key);
        for m in popped {
            ctx.propagate_as(|| vec![word("SREM"), key.clone(), m.clone()]);
        }
        return;
    }
    let mut commands = vec![vec![word("DEL"), Bytes::copy_from_slice(key)]];
    crate::rewrite::entry_to_commands(key, entry, &ctx.shard.config, |c| commands.push(c));
    for c in commands {
        ctx.propagate_as(|| c);
    }
}

/// Parses a SRANDMEMBER / HRANDFIELD count: Redis's `getRangeLongFromObjectOrReply(-LONG_MAX,
/// LONG_MAX)`.
pub fn parse_random_count(arg: &[u8]) -> OpResult<i64> {
    let n = parse_i64_strict(arg).ok_or(OpError::NotInteger)?;
    if n == i64::MIN {
        return Err(OpError::other(
            "ERR value is out of range, value must between -9223372036854775807 and \
             9223372036854775807",
        ));
    }
    Ok(n)
}

fn srandmember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match argv.len() {
        2 => srandmember_one(ctx, &argv[1]).into(),
        3 => srandmember_count(ctx, &argv[1], &argv[2]).into(),
        _ => OpError::Syntax.into(),
    }
}

fn srandmember_one(ctx: &mut Ctx<'_>, key: &[u8]) -> OpResult<Reply> {
    if !check_set(ctx, key, Lookup::Read)? {
        return Ok(Reply::Nil);
    }
    let (set, rng) = set_mut(ctx, key).expect("checked above");
    Ok(Reply::opt_bulk(set.random(rng)))
}

fn srandmember_count(ctx: &mut Ctx<'_>, key: &[u8], count_arg: &[u8]) -> OpResult<Reply> {
    let n = parse_random_count(count_arg)?;
    if n < 0 && n.unsigned_abs() > RANDOM_REPEAT_MAX {
        return Err(OpError::other("ERR value is out of range"));
    }
    if !check_set(ctx, key, Lookup::Read)? || n == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let (set, rng) = set_mut(ctx, key).expect("checked above");
    let count = n.unsigned_abs();
    let size = set.len();
    let picks: Vec<Bytes> = if n < 0 || count == 1 {
        (0..count).filter_map(|_| set.random(rng)).collect()
    } else if count >= size as u64 {
        set.members()
    } else {
        random_distinct(set, count as usize, rng)
    };
    Ok(Reply::bulks(picks))
}

/// `count` (< len) distinct random members, by Redis's two strategies.
fn random_distinct(set: &SetValue, count: usize, rng: &mut SmallRng) -> Vec<Bytes> {
    if count * RANDOM_SUB_STRATEGY_MUL > set.len() {
        let mut all = set.members();
        while all.len() > count {
            let i = rng.gen_range(0..all.len());
            all.swap_remove(i);
        }
        return all;
    }
    let mut chosen = hashbrown::HashSet::with_capacity(count);
    while chosen.len() < count {
        let Some(m) = set.random(rng) else { break };
        chosen.insert(m);
    }
    chosen.into_iter().collect()
}

fn smove(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    smove_inner(ctx, &argv[1], &argv[2], &argv[3]).into()
}

fn smove_inner(ctx: &mut Ctx<'_>, src: &[u8], dst: &[u8], member: &[u8]) -> OpResult<Reply> {
    // Redis looks both up before checking either type; a missing source answers 0 at once.
    let src_kind = ctx.lookup_write(src).map(|e| e.value.value_type());
    let dst_kind = ctx.lookup_write(dst).map(|e| e.value.value_type());
    let Some(src_kind) = src_kind else { return Ok(Reply::Int(0)) };
    let set_type = crate::value::ValueType::Set;
    if src_kind != set_type || dst_kind.is_some_and(|k| k != set_type) {
        return Err(OpError::WrongType);
    }
    if src == dst {
        let found = set_ref(ctx, src).is_some_and(|s| s.contains(member));
        return Ok(Reply::Int(found as i64));
    }
    let (set, _) = set_mut(ctx, src).expect("checked above");
    if !set.remove(member) {
        return Ok(Reply::Int(0));
    }
    ctx.note_write(src);
    ctx.notify(class::SET, "srem", src);
    delete_if_empty(ctx, src);
    if dst_kind.is_none() {
        ctx.set_value(dst, Value::Set(Box::new(SetValue::new_for(member))), 0);
    }
    let limit = max_intset(ctx);
    let (set, _) = set_mut(ctx, dst).expect("present: checked or created above");
    if set.insert(member, limit) {
        ctx.note_write(dst);
        ctx.notify(class::SET, "sadd", dst);
    }
    Ok(Reply::Int(1))
}

/// Looks every key up (all must be sets or absent, like Redis, which checks them all).
fn check_sets(ctx: &mut Ctx<'_>, keys: &[Bytes], lookup: Lookup) -> OpResult<()> {
    for key in keys {
        check_set(ctx, key, lookup)?;
    }
    Ok(())
}

fn sets_of<'c>(ctx: &'c Ctx<'_>, keys: &[Bytes]) -> Vec<Option<&'c SetValue>> {
    keys.iter().map(|k| set_ref(ctx, k)).collect()
}

/// Visits the intersection in the iteration order of the smallest set (as Redis answers).
fn for_each_in_intersection(sets: &[Option<&SetValue>], mut f: impl FnMut(&[u8])) {
    let Some(mut present) = sets.iter().copied().collect::<Option<Vec<&SetValue>>>() else {
        return;
    };
    present.sort_by_key(|s| s.len());
    let Some((smallest, rest)) = present.split_first() else { return };
    smallest.for_each(|m| {
        if rest.iter().all(|s| s.contains(m)) {
            f(m);
        }
    });
}

fn union_of(sets: &[Option<&SetValue>], limit: u64) -> SetValue {
    let mut out = SetValue::new_intset();
    for set in sets.iter().flatten() {
        set.for_each(|m| {
            out.insert(m, limit);
        });
    }
    out
}

fn diff_of(sets: &[Option<&SetValue>], limit: u64) -> SetValue {
    let mut out = SetValue::new_intset();
    if let Some(Some(first)) = sets.first() {
        let others: Vec<&SetValue> = sets[1..].iter().flatten().copied().collect();
        first.for_each(|m| {
            if !others.iter().any(|s| s.contains(m)) {
                out.insert(m, limit);
            }
        });
    }
    out
}

fn intersection_of(sets: &[Option<&SetValue>], limit: u64) -> SetValue {
    let mut out = SetValue::new_intset();
    for_each_in_intersection(sets, |m| {
        out.insert(m, limit);
    });
    out
}

fn sinter(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let keys = &argv[1..];
    if let Err(e) = check_sets(ctx, keys, Lookup::Read) {
        return e.into();
    }
    let mut out = Vec::new();
    for_each_in_intersection(&sets_of(ctx, keys), |m| out.push(Reply::bulk_slice(m)));
    Reply::Set(out)
}

fn sunion(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    combine(ctx, &argv[1..], union_of)
}

fn sdiff(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    combine(ctx, &argv[1..], diff_of)
}

type Combine = fn(&[Option<&SetValue>], u64) -> SetValue;

/// SUNION / SDIFF: Redis builds the result as a set (from an intset) and answers with it, so
/// an all-integer small result comes back in ascending order.
fn combine(ctx: &mut Ctx<'_>, keys: &[Bytes], op: Combine) -> Reply {
    if let Err(e) = check_sets(ctx, keys, Lookup::Read) {
        return e.into();
    }
    let result = op(&sets_of(ctx, keys), max_intset(ctx));
    set_reply(result.members())
}

fn sinterstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    store(ctx, argv, intersection_of, "sinterstore")
}

fn sunionstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    store(ctx, argv, union_of, "sunionstore")
}

fn sdiffstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    store(ctx, argv, diff_of, "sdiffstore")
}

/// The *STORE commands: the result replaces whatever `destination` held (any type, TTL
/// dropped); an empty result deletes it.
fn store(ctx: &mut Ctx<'_>, argv: &[Bytes], op: Combine, event: &'static str) -> Reply {
    let (dst, keys) = (&argv[1], &argv[2..]);
    // Sources are read lookups, as Redis's (hits, misses and `keymiss` events count them).
    if let Err(e) = check_sets(ctx, keys, Lookup::Read) {
        return e.into();
    }
    let result = op(&sets_of(ctx, keys), max_intset(ctx));
    let len = result.len() as i64;
    if result.is_empty() {
        if ctx.remove(dst).is_some() {
            ctx.notify(class::GENERIC, "del", dst);
        }
    } else {
        ctx.set_value(dst, Value::Set(Box::new(result)), 0);
        ctx.notify(class::SET, event, dst);
    }
    Reply::Int(len)
}

fn sintercard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    sintercard_inner(ctx, argv).into()
}

fn sintercard_inner(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let numkeys = parse_i64_strict(&argv[1])
        .filter(|n| *n > 0)
        .ok_or(OpError::other("ERR numkeys should be greater than 0"))?;
    if numkeys as u64 > (argv.len() - 2) as u64 {
        return Err(OpError::other("ERR Number of keys can't be greater than number of args"));
    }
    let numkeys = numkeys as usize;
    let keys = &argv[2..2 + numkeys];
    let mut limit = 0u64;
    let mut i = 2 + numkeys;
    while i < argv.len() {
        if argv[i].eq_ignore_ascii_case(b"limit") && i + 1 < argv.len() {
            limit = parse_i64_strict(&argv[i + 1])
                .filter(|n| *n >= 0)
                .ok_or(OpError::other("ERR LIMIT can't be negative"))? as u64;
            i += 2;
        } else {
            return Err(OpError::Syntax);
        }
    }
    check_sets(ctx, keys, Lookup::Read)?;
    let mut count = 0u64;
    for_each_in_intersection(&sets_of(ctx, keys), |_| {
        if limit == 0 || count < limit {
            count += 1;
        }
    });
    Ok(Reply::Int(count as i64))
}

/// Parses HSCAN / SSCAN / ZSCAN options from `argv[3..]`: `MATCH pattern`, `COUNT n` (n ≥ 1),
/// Redis's errors. Returns the pattern (None for none or `*`) and the count.
pub fn parse_collection_scan_options(argv: &[Bytes]) -> OpResult<(Option<Bytes>, usize)> {
    let mut pattern = None;
    let mut count = 10usize;
    let mut i = 3;
    while i < argv.len() {
        let remaining = argv.len() - i;
        if argv[i].eq_ignore_ascii_case(b"count") && remaining >= 2 {
            let n = parse_i64_strict(&argv[i + 1]).ok_or(OpError::NotInteger)?;
            if n < 1 {
                return Err(OpError::Syntax);
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if argv[i].eq_ignore_ascii_case(b"match") && remaining >= 2 {
            let p = &argv[i + 1];
            pattern = if p.as_ref() == b"*" { None } else { Some(p.clone()) };
        } else {
            return Err(OpError::Syntax);
        }
        i += 2;
    }
    Ok((pattern, count))
}

/// Parses a collection SCAN cursor (argv[2]) like Redis: `ERR invalid cursor`.
pub fn parse_collection_cursor(arg: &[u8]) -> OpResult<u64> {
    parse_scan_cursor(arg).ok_or(OpError::other("ERR invalid cursor"))
}

/// The `[cursor, [items…]]` reply of the collection SCANs.
pub fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::bulk_str(&cursor.to_string()), Reply::Array(items)])
}

fn sscan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    sscan_inner(ctx, argv).into()
}

fn sscan_inner(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let cursor = parse_collection_cursor(&argv[2])?;
    if !check_set(ctx, &argv[1], Lookup::Read)? {
        return Ok(scan_reply(0, Vec::new()));
    }
    let (pattern, count) = parse_collection_scan_options(argv)?;
    let set = set_ref(ctx, &argv[1]).expect("checked above");
    let mut items = Vec::new();
    let next = set.scan(cursor, count, |m| {
        if pattern.as_ref().is_none_or(|p| glob_match(p, m, false)) {
            items.push(Reply::bulk_slice(m));
        }
    });
    Ok(scan_reply(next, items))
}
