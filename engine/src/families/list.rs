//! List commands: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LINSERT LREM
//! LTRIM LPOS LMOVE RPOPLPUSH LMPOP, and the non-blocking attempt of BLPOP BRPOP BLMOVE
//! BRPOPLPUSH BLMPOP.
//!
//! The blocking commands validate every argument (timeout included) exactly as Redis does and
//! pop when data is there; otherwise they answer what Redis answers inside MULTI (a null array
//! for BLPOP/BRPOP/BLMPOP, a null bulk for BLMOVE/BRPOPLPUSH). The net layer recognises that
//! reply and does the waiting; [`parse_timeout_ms`] is shared with it.
//!
//! Order of checks follows Redis 7.0's `t_list.c`, because it is observable: e.g. LINDEX and
//! LSET look the key up before parsing the index (a missing key wins over a bad index), while
//! LRANGE, LTRIM and LREM parse their numbers first. Multi-key commands (LMOVE, LMPOP, the
//! blocking ones) are gathered onto one shard by the net layer; LMPOP/BLMPOP declare their
//! exact keys (`numkeys` of them) with `movable_keys`.

use bytes::Bytes;

use crate::command::{cmd, flags::*, CommandSpec, Handler, MultiShard};
use crate::db::Entry;
use crate::error::{OpError, OpResult};
use crate::families::string::LongDouble;
use crate::journal::{num_arg, word};
use crate::notify::class;
use crate::reply::Reply;
use crate::shard::Ctx;
use crate::types::list::{Elem, ListValue, Needle};
use crate::value::{parse_i64_strict, Value};

const G: &str = "list";
const ONE: (i32, i32, i32) = (1, 1, 1);
const TWO: (i32, i32, i32) = (1, 2, 1);

pub static COMMANDS: &[CommandSpec] = &[
    cmd(
        "lpush",
        -3,
        WRITE | DENYOOM | FAST,
        ONE,
        G,
        "1.0.0",
        "Prepend one or multiple elements to a list",
        Handler::Shard(lpush),
    ),
    cmd(
        "rpush",
        -3,
        WRITE | DENYOOM | FAST,
        ONE,
        G,
        "1.0.0",
        "Append one or multiple elements to a list",
        Handler::Shard(rpush),
    ),
    cmd(
        "lpushx",
        -3,
        WRITE | DENYOOM | FAST,
        ONE,
        G,
        "2.2.0",
        "Prepend an element to a list, only if the list exists",
        Handler::Shard(lpushx),
    ),
    cmd(
        "rpushx",
        -3,
        WRITE | DENYOOM | FAST,
        ONE,
        G,
        "2.2.0",
        "Append an element to a list, only if the list exists",
        Handler::Shard(rpushx),
    ),
    cmd(
        "lpop",
        -2,
        WRITE | FAST,
        ONE,
        G,
        "1.0.0",
        "Remove and get the first elements in a list",
        Handler::Shard(lpop),
    ),
    cmd(
        "rpop",
        -2,
        WRITE | FAST,
        ONE,
        G,
        "1.0.0",
        "Remove and get the last elements in a list",
        Handler::Shard(rpop),
    ),
    cmd(
        "llen",
        2,
        READONLY | FAST,
        ONE,
        G,
        "1.0.0",
        "Get the length of a list",
        Handler::Shard(llen),
    ),
    cmd(
        "lrange",
        4,
        READONLY,
        ONE,
        G,
        "1.0.0",
        "Get a range of elements from a list",
        Handler::Shard(lrange),
    ),
    cmd(
        "lindex",
        3,
        READONLY,
        ONE,
        G,
        "1.0.0",
        "Get an element from a list by its index",
        Handler::Shard(lindex),
    ),
    cmd(
        "lset",
        4,
        WRITE | DENYOOM,
        ONE,
        G,
        "1.0.0",
        "Set the value of an element in a list by its index",
        Handler::Shard(lset),
    ),
    cmd(
        "linsert",
        5,
        WRITE | DENYOOM,
        ONE,
        G,
        "2.2.0",
        "Insert an element before or after another element in a list",
        Handler::Shard(linsert),
    ),
    cmd("lrem", 4, WRITE, ONE, G, "1.0.0", "Remove elements from a list", Handler::Shard(lrem)),
    cmd(
        "ltrim",
        4,
        WRITE,
        ONE,
        G,
        "1.0.0",
        "Trim a list to the specified range",
        Handler::Shard(ltrim),
    ),
    cmd(
        "lpos",
        -3,
        READONLY,
        ONE,
        G,
        "6.0.6",
        "Return the index of matching elements on a list",
        Handler::Shard(lpos),
    ),
    cmd(
        "lmove",
        5,
        WRITE | DENYOOM,
        TWO,
        G,
        "6.2.0",
        "Pop an element from a list, push it to another list and return it",
        Handler::Shard(lmove),
    )
    .multi(MultiShard::Gather),
    cmd(
        "rpoplpush",
        3,
        WRITE | DENYOOM,
        TWO,
        G,
        "1.2.0",
        "Remove the last element in a list, prepend it to another list and return it",
        Handler::Shard(rpoplpush),
    )
    .multi(MultiShard::Gather),
    cmd(
        "lmpop",
        -4,
        WRITE,
        (2, -1, 1),
        G,
        "7.0.0",
        "Pop elements from a list",
        Handler::Shard(lmpop),
    )
    .multi(MultiShard::Gather)
    .movable_keys(lmpop_keys),
    cmd(
        "blpop",
        -3,
        WRITE | NOSCRIPT | BLOCKING,
        (1, -2, 1),
        G,
        "2.0.0",
        "Remove and get the first element in a list, or block until one is available",
        Handler::Shard(blpop),
    )
    .multi(MultiShard::Gather),
    cmd(
        "brpop",
        -3,
        WRITE | NOSCRIPT | BLOCKING,
        (1, -2, 1),
        G,
        "2.0.0",
        "Remove and get the last element in a list, or block until one is available",
        Handler::Shard(brpop),
    )
    .multi(MultiShard::Gather),
    cmd(
        "blmove",
        6,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        TWO,
        G,
        "6.2.0",
        "Pop an element from a list, push it to another list and return it; or block until one \
         is available",
        Handler::Shard(blmove),
    )
    .multi(MultiShard::Gather),
    cmd(
        "brpoplpush",
        4,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        TWO,
        G,
        "2.2.0",
        "Pop an element from a list, push it to another list and return it; or block until one \
         is available",
        Handler::Shard(brpoplpush),
    )
    .multi(MultiShard::Gather),
    cmd(
        "blmpop",
        -5,
        WRITE | BLOCKING,
        (3, -1, 1),
        G,
        "7.0.0",
        "Pop elements from a list, or block until one is available",
        Handler::Shard(blmpop),
    )
    .multi(MultiShard::Gather)
    .movable_keys(blmpop_keys),
];

/// The `numkeys` keys after `argv[numkeys_at]`; none when numkeys is invalid (the handler then
/// answers the error wherever it runs).
fn numkeys_keys(argv: &[Bytes], numkeys_at: usize) -> Vec<usize> {
    match argv.get(numkeys_at).and_then(|a| parse_i64_strict(a)) {
        Some(n) if n > 0 => {
            let first = numkeys_at + 1;
            let n = usize::try_from(n).unwrap_or(usize::MAX).min(argv.len().saturating_sub(first));
            (first..first + n).collect()
        }
        _ => Vec::new(),
    }
}

fn lmpop_keys(argv: &[Bytes]) -> Vec<usize> {
    numkeys_keys(argv, 1)
}

fn blmpop_keys(argv: &[Bytes]) -> Vec<usize> {
    numkeys_keys(argv, 2)
}

fn not_integer() -> OpError {
    OpError::NotInteger
}

/// `getLongFromObjectOrReply`: a strict integer or Redis's standard error.
fn parse_long(b: &[u8]) -> OpResult<i64> {
    parse_i64_strict(b).ok_or_else(not_integer)
}

/// `getRangeLongFromObjectOrReply` with a custom message: the message covers both a
/// non-integer and an out-of-range value, as in Redis.
fn parse_range(b: &[u8], min: i64, max: i64, msg: &'static str) -> OpResult<i64> {
    match parse_i64_strict(b) {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(OpError::other(msg)),
    }
}

/// Parses a blocking timeout in seconds the way Redis 7.0's `getTimeoutFromObjectOrReply`
/// does: `strtold`, times 1000 in `long double`, truncated to `long long` (an x87 conversion
/// out of range gives `LLONG_MIN`, hence "negative"). Returns the timeout in ms, 0 = forever.
pub fn parse_timeout_ms(b: &[u8]) -> OpResult<u64> {
    let negative = || OpError::other("ERR timeout is negative");
    let ld = LongDouble::parse(b)
        .ok_or_else(|| OpError::other("ERR timeout is not a float or out of range"))?;
    let LongDouble::Finite { neg, mant, exp } = ld else {
        return Err(negative());
    };
    // mant * 1000 rounded to a 64-bit mantissa (nearest, ties to even), as the FPU does.
    let mut p = mant as u128 * 1000;
    let mut e = exp;
    let bits = 128 - p.leading_zeros() as i64;
    if bits > 64 {
        let shift = (bits - 64) as u32;
        let rem = p & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        p >>= shift;
        e += shift as i64;
        if rem > half || (rem == half && p & 1 == 1) {
            p += 1;
            if p >> 64 != 0 {
                p >>= 1;
                e += 1;
            }
        }
    }
    // Truncate toward zero; anything at or past 2^63 is out of range.
    let magnitude: u128 = if p == 0 {
        0
    } else if e >= 0 {
        let bits = 128 - p.leading_zeros() as i64;
        if bits + e > 63 {
            return Err(negative());
        }
        p << e
    } else if -e >= 128 {
        0
    } else {
        p >> (-e)
    };
    if magnitude >= 1u128 << 63 {
        return Err(negative());
    }
    if neg && magnitude > 0 {
        return Err(negative());
    }
    Ok(magnitude as u64)
}

fn parse_side(b: &[u8]) -> OpResult<bool> {
    if b.eq_ignore_ascii_case(b"left") {
        Ok(true)
    } else if b.eq_ignore_ascii_case(b"right") {
        Ok(false)
    } else {
        Err(OpError::Syntax)
    }
}

/// The list at `key` for writing: Ok(None) when absent, WrongType for other types.
fn list_write<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> OpResult<Option<&'c mut ListValue>> {
    match ctx.lookup_write(key) {
        None => Ok(None),
        Some(Entry { value: Value::List(l), .. }) => Ok(Some(l)),
        Some(_) => Err(OpError::WrongType),
    }
}

/// The list at `key` for reading (counts hits and misses).
fn list_read<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> OpResult<Option<&'c ListValue>> {
    match ctx.lookup_read(key) {
        None => Ok(None),
        Some(Entry { value: Value::List(l), .. }) => Ok(Some(l)),
        Some(_) => Err(OpError::WrongType),
    }
}

fn fill(ctx: &Ctx<'_>) -> i64 {
    ctx.config().list_max_listpack_size
}

fn elem_reply(e: Elem<'_>) -> Reply {
    Reply::Bulk(e.to_bytes())
}

/// Records a change to `key` and deletes it when the list became empty.
fn after_write(ctx: &mut Ctx<'_>, key: &[u8], now_empty: bool) {
    if now_empty {
        ctx.remove(key);
        ctx.notify(class::GENERIC, "del", key);
    } else {
        ctx.note_write(key);
    }
}

fn lpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    push_generic(ctx, argv, true, false).into()
}

fn rpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    push_generic(ctx, argv, false, false).into()
}

fn lpushx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    push_generic(ctx, argv, true, true).into()
}

fn rpushx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    push_generic(ctx, argv, false, true).into()
}

fn push_all(list: &mut ListValue, values: &[Bytes], front: bool, fill: i64) {
    for v in values {
        if front {
            list.push_front(v, fill);
        } else {
            list.push_back(v, fill);
        }
    }
}

fn push_generic(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    front: bool,
    only_existing: bool,
) -> OpResult<i64> {
    let key = &argv[1];
    let fill = fill(ctx);
    let len = match list_write(ctx, key)? {
        Some(list) => {
            push_all(list, &argv[2..], front, fill);
            list.len()
        }
        None if only_existing => return Ok(0),
        None => {
            let mut list = ListValue::new();
            push_all(&mut list, &argv[2..], front, fill);
            let len = list.len();
            ctx.set_value(key, Value::List(Box::new(list)), 0);
            ctx.notify(class::LIST, push_event(front), key);
            return Ok(len as i64);
        }
    };
    ctx.note_write(key);
    ctx.notify(class::LIST, push_event(front), key);
    Ok(len as i64)
}

fn push_event(front: bool) -> &'static str {
    if front {
        "lpush"
    } else {
        "rpush"
    }
}

/// The non-blocking pop a served blocking pop is journaled as.
fn pop_name(front: bool) -> &'static str {
    if front {
        "LPOP"
    } else {
        "RPOP"
    }
}

fn pop_event(front: bool) -> &'static str {
    if front {
        "lpop"
    } else {
        "rpop"
    }
}

/// Pops up to `count` elements from one end; deletes the key when it empties.
fn pop_from(ctx: &mut Ctx<'_>, key: &[u8], front: bool, count: usize) -> OpResult<Vec<Bytes>> {
    let Some(list) = list_write(ctx, key)? else { return Ok(Vec::new()) };
    let n = count.min(list.len());
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let v = if front { list.pop_front() } else { list.pop_back() };
        match v {
            Some(v) => out.push(v),
            None => break,
        }
    }
    let empty = list.is_empty();
    if !out.is_empty() {
        ctx.notify(class::LIST, pop_event(front), key);
        after_write(ctx, key, empty);
    }
    Ok(out)
}

fn lpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    pop_command(ctx, argv, true).into()
}

fn rpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    pop_command(ctx, argv, false).into()
}

fn pop_command(ctx: &mut Ctx<'_>, argv: &[Bytes], front: bool) -> OpResult<Reply> {
    if argv.len() > 3 {
        let name = if front { "lpop" } else { "rpop" };
        return Err(OpError::WrongArity(name.to_string()));
    }
    let count = match argv.get(2) {
        Some(b) => {
            Some(parse_range(b, 0, i64::MAX, "ERR value is out of range, must be positive")?
                as usize)
        }
        None => None,
    };
    let key = &argv[1];
    match list_write(ctx, key)? {
        None => return Ok(if count.is_some() { Reply::NilArray } else { Reply::Nil }),
        Some(_) if count == Some(0) => return Ok(Reply::Array(Vec::new())),
        Some(_) => {}
    }
    let popped = pop_from(ctx, key, front, count.unwrap_or(1))?;
    Ok(match count {
        None => popped.into_iter().next().map_or(Reply::Nil, Reply::Bulk),
        Some(_) => Reply::bulks(popped),
    })
}

fn llen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    list_read(ctx, &argv[1]).map(|l| l.map_or(0, |l| l.len() as i64)).into()
}

/// LRANGE's index normalisation: the inclusive range of positions, or None when empty.
fn normalize_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (start.saturating_add(len)).max(0) } else { start };
    let end = if end < 0 { end.saturating_add(len) } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

fn lrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    (|| {
        let start = parse_long(&argv[2])?;
        let end = parse_long(&argv[3])?;
        let Some(list) = list_read(ctx, &argv[1])? else { return Ok(Reply::Array(Vec::new())) };
        let Some((from, to)) = normalize_range(start, end, list.len()) else {
            return Ok(Reply::Array(Vec::new()));
        };
        let items: Vec<Reply> = list.iter_from(from).take(to - from + 1).map(elem_reply).collect();
        Ok(Reply::Array(items))
    })()
    .into()
}

fn lindex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    (|| {
        let Some(list) = list_read(ctx, &argv[1])? else { return Ok(Reply::Nil) };
        let index = parse_long(&argv[2])?;
        Ok(list.resolve(index).and_then(|i| list.get(i)).map_or(Reply::Nil, elem_reply))
    })()
    .into()
}

fn lset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    (|| {
        let key = &argv[1];
        let fill = fill(ctx);
        let list = list_write(ctx, key)?.ok_or(OpError::NoSuchKey)?;
        let index = parse_long(&argv[2])?;
        let i = list.resolve(index).ok_or(OpError::IndexOutOfRange)?;
        list.set(i, &argv[3], fill);
        ctx.note_write(key);
        ctx.notify(class::LIST, "lset", key);
        Ok(Reply::ok())
    })()
    .into()
}

fn linsert(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    (|| {
        let after = if argv[2].eq_ignore_ascii_case(b"after") {
            true
        } else if argv[2].eq_ignore_ascii_case(b"before") {
            false
        } else {
            return Err(OpError::Syntax);
        };
        let key = &argv[1];
        let fill = fill(ctx);
        let Some(list) = list_write(ctx, key)? else { return Ok(0) };
        if !list.insert_around(&argv[3], after, &argv[4], fill) {
            return Ok(-1);
        }
        let len = list.len() as i64;
        ctx.note_write(key);
        ctx.notify(class::LIST, "linsert", key);
        Ok(len)
    })()
    .into()
}

fn lrem(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    (|| {
        let count = parse_long(&argv[2])?;
        let key = &argv[1];
        let Some(list) = list_write(ctx, key)? else { return Ok(0) };
        let removed = list.remove_matching(&argv[3], count);
        let empty = list.is_empty();
        if removed > 0 {
            ctx.notify(class::LIST, "lrem", key);
            after_write(ctx, key, empty);
        }
        Ok(removed as i64)
    })()
    .into()
}

fn ltrim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    (|| {
        let start = parse_long(&argv[2])?;
        let end = parse_long(&argv[3])?;
        let key = &argv[1];
        let Some(list) = list_write(ctx, key)? else { return Ok(Reply::ok()) };
        let len = list.len();
        let (front, back) = match normalize_range(start, end, len) {
            Some((from, to)) => (from, len - 1 - to),
            None => (len, 0),
        };
        list.trim(front, back);
        let empty = list.is_empty();
        // Redis signals the key even when nothing was trimmed (WATCH sees it).
        ctx.notify(class::LIST, "ltrim", key);
        after_write(ctx, key, empty);
        Ok(Reply::ok())
    })()
    .into()
}

fn lpos(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    (|| {
        let mut rank: i64 = 1;
        let mut count: Option<i64> = None;
        let mut maxlen: i64 = 0;
        let mut j = 3;
        while j < argv.len() {
            let opt = &argv[j];
            let more = j + 1 < argv.len();
            if opt.eq_ignore_ascii_case(b"rank") && more {
                j += 1;
                rank = parse_long(&argv[j])?;
                if rank == 0 {
                    return Err(OpError::other(
                        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                         second ... or use negative to start from the end of the list",
                    ));
                }
            } else if opt.eq_ignore_ascii_case(b"count") && more {
                j += 1;
                count = Some(parse_range(&argv[j], 0, i64::MAX, "ERR COUNT can't be negative")?);
            } else if opt.eq_ignore_ascii_case(b"maxlen") && more {
                j += 1;
                maxlen = parse_range(&argv[j], 0, i64::MAX, "ERR MAXLEN can't be negative")?;
            } else {
                return Err(OpError::Syntax);
            }
            j += 1;
        }
        let from_tail = rank < 0;
        // Redis negates in C `long`: -LONG_MIN stays LONG_MIN, which then matches from the
        // first hit on and never satisfies the COUNT test (all matches are returned).
        if from_tail {
            rank = rank.wrapping_neg();
        }
        let Some(list) = list_read(ctx, &argv[1])? else {
            return Ok(if count.is_some() { Reply::Array(Vec::new()) } else { Reply::Nil });
        };
        let needle = Needle::new(&argv[2]);
        let len = list.len() as i64;
        let iter: Box<dyn Iterator<Item = Elem<'_>>> =
            if from_tail { Box::new(list.iter_rev()) } else { Box::new(list.iter()) };
        let mut matches: i64 = 0;
        let mut found = Vec::new();
        for (index, e) in iter.enumerate() {
            let index = index as i64;
            if maxlen != 0 && index >= maxlen {
                break;
            }
            if !needle.matches(e) {
                continue;
            }
            matches += 1;
            if matches < rank {
                continue;
            }
            found.push(if from_tail { len - index - 1 } else { index });
            match count {
                None => break,
                Some(c) => {
                    if c != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= c {
                        break;
                    }
                }
            }
        }
        Ok(match count {
            None => found.first().map_or(Reply::Nil, |&i| Reply::Int(i)),
            Some(_) => Reply::Array(found.into_iter().map(Reply::Int).collect()),
        })
    })()
    .into()
}

/// Pops from `src` and pushes onto `dst` (possibly the same list). The destination's type is
/// checked before anything is popped, as in Redis.
fn move_generic(
    ctx: &mut Ctx<'_>,
    src: &[u8],
    dst: &[u8],
    from_front: bool,
    to_front: bool,
) -> OpResult<Reply> {
    match list_write(ctx, src)? {
        Some(l) if !l.is_empty() => {}
        _ => return Ok(Reply::Nil),
    }
    list_write(ctx, dst)?;
    let fill = fill(ctx);
    // Pop without deleting: the source is deleted only after the push, so moving a list's
    // last element onto itself keeps the key (and its events) as in Redis.
    let popped =
        list_write(ctx, src)?.and_then(|l| if from_front { l.pop_front() } else { l.pop_back() });
    let Some(value) = popped else { return Ok(Reply::Nil) };
    match list_write(ctx, dst)? {
        Some(list) => {
            if to_front {
                list.push_front(&value, fill);
            } else {
                list.push_back(&value, fill);
            }
            ctx.note_write(dst);
        }
        None => {
            let mut list = ListValue::new();
            list.push_back(&value, fill);
            ctx.set_value(dst, Value::List(Box::new(list)), 0);
        }
    }
    ctx.notify(class::LIST, push_event(to_front), dst);
    ctx.notify(class::LIST, pop_event(from_front), src);
    let src_empty = list_write(ctx, src)?.is_some_and(|l| l.is_empty());
    after_write(ctx, src, src_empty);
    Ok(Reply::Bulk(value))
}

fn lmove(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    (|| {
        let from_front = parse_side(&argv[3])?;
        let to_front = parse_side(&argv[4])?;
        move_generic(ctx, &argv[1], &argv[2], from_front, to_front)
    })()
    .into()
}

fn rpoplpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    move_generic(ctx, &argv[1], &argv[2], false, true).into()
}

fn blmove(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    (|| {
        let from_front = parse_side(&argv[3])?;
        let to_front = parse_side(&argv[4])?;
        parse_timeout_ms(&argv[5])?;
        // Served (now or later, for a client that blocked) as the move that happened.
        ctx.propagate_as(|| {
            std::iter::once(word("LMOVE")).chain(argv[1..5].iter().cloned()).collect()
        });
        move_generic(ctx, &argv[1], &argv[2], from_front, to_front)
    })()
    .into()
}

fn brpoplpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    (|| {
        parse_timeout_ms(&argv[3])?;
        ctx.propagate_as(|| vec![word("RPOPLPUSH"), argv[1].clone(), argv[2].clone()]);
        move_generic(ctx, &argv[1], &argv[2], false, true)
    })()
    .into()
}

fn blpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    bpop_generic(ctx, argv, true).into()
}

fn brpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    bpop_generic(ctx, argv, false).into()
}

/// BLPOP/BRPOP: the first non-empty list among the keys gives one element, `[key, element]`.
fn bpop_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], front: bool) -> OpResult<Reply> {
    parse_timeout_ms(&argv[argv.len() - 1])?;
    for key in &argv[1..argv.len() - 1] {
        if let Some(v) = pop_from(ctx, key, front, 1)?.pop() {
            // The pop that happened, on the key that had data.
            ctx.propagate_as(|| vec![word(pop_name(front)), key.clone()]);
            return Ok(Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Bulk(v)]));
        }
    }
    Ok(Reply::NilArray)
}

/// Parsed `numkeys key… LEFT|RIGHT [COUNT n]` of LMPOP/BLMPOP, starting at `numkeys_at`.
fn parse_mpop(
    argv: &[Bytes],
    numkeys_at: usize,
) -> OpResult<(std::ops::Range<usize>, bool, usize)> {
    let numkeys =
        parse_range(&argv[numkeys_at], 1, i64::MAX, "ERR numkeys should be greater than 0")?;
    let where_at = (numkeys_at as u64).saturating_add(numkeys as u64).saturating_add(1);
    if where_at >= argv.len() as u64 {
        return Err(OpError::Syntax);
    }
    let where_at = where_at as usize;
    let front = parse_side(&argv[where_at])?;
    let mut count: Option<i64> = None;
    let mut j = where_at + 1;
    while j < argv.len() {
        if count.is_none() && argv[j].eq_ignore_ascii_case(b"count") && j + 1 < argv.len() {
            j += 1;
            count = Some(parse_range(&argv[j], 1, i64::MAX, "ERR count should be greater than 0")?);
        } else {
            return Err(OpError::Syntax);
        }
        j += 1;
    }
    Ok((numkeys_at + 1..where_at, front, count.unwrap_or(1) as usize))
}

fn mpop_generic(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    keys: std::ops::Range<usize>,
    front: bool,
    count: usize,
) -> OpResult<Reply> {
    for key in &argv[keys] {
        let popped = pop_from(ctx, key, front, count)?;
        if !popped.is_empty() {
            // LMPOP and a served BLMPOP: the pop of what was there, from that key.
            let n = popped.len();
            ctx.propagate_as(|| vec![word(pop_name(front)), key.clone(), num_arg(n)]);
            return Ok(Reply::Array(vec![Reply::Bulk(key.clone()), Reply::bulks(popped)]));
        }
    }
    Ok(Reply::NilArray)
}

fn lmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    (|| {
        let (keys, front, count) = parse_mpop(argv, 1)?;
        mpop_generic(ctx, argv, keys, front, count)
    })()
    .into()
}

fn blmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    (|| {
        // Redis parses numkeys, the side and COUNT before the timeout.
        let (keys, front, count) = parse_mpop(argv, 2)?;
        parse_timeout_ms(&argv[1])?;
        mpop_generic(ctx, argv, keys, front, count)
    })()
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_like_redis() {
        assert_eq!(parse_timeout_ms(b"0"), Ok(0));
        assert_eq!(parse_timeout_ms(b"1.5"), Ok(1500));
        assert_eq!(parse_timeout_ms(b"0x10"), Ok(16000));
        assert_eq!(parse_timeout_ms(b"1e-9"), Ok(0));
        assert_eq!(parse_timeout_ms(b"-0.0001"), Ok(0));
        assert_eq!(parse_timeout_ms(b"9223372036854775"), Ok(9223372036854775000));
        let neg = Err(OpError::other("ERR timeout is negative"));
        for s in ["-1", "inf", "-inf", "1e300", "9223372036854776", "92233720368547758"] {
            assert_eq!(parse_timeout_ms(s.as_bytes()), neg, "{s}");
        }
        let bad = Err(OpError::other("ERR timeout is not a float or out of range"));
        for s in ["abc", " 1", "1 ", "", "nan", "1e99999"] {
            assert_eq!(parse_timeout_ms(s.as_bytes()), bad, "{s}");
        }
    }

    #[test]
    fn range_normalisation() {
        assert_eq!(normalize_range(0, -1, 3), Some((0, 2)));
        assert_eq!(normalize_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(normalize_range(2, 1, 3), None);
        assert_eq!(normalize_range(3, 5, 3), None);
        assert_eq!(normalize_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(normalize_range(0, i64::MIN, 3), None);
    }
}
