//! String commands: GET/SET and their variants, multi-key MGET/MSET/MSETNX, in-place edits
//! (APPEND, SETRANGE, INCR*), GETRANGE/STRLEN and LCS, with Redis 7.0's options, reply types and
//! error texts.
//!
//! Two rules from Redis decide how each write treats the key's TTL:
//! - a command that *replaces* the value (SET without KEEPTTL, GETSET, MSET, …) stores a new
//!   entry through [`Ctx::set_value`], which drops the old TTL;
//! - a command that *edits* the value (APPEND, SETRANGE, INCR*, INCRBYFLOAT) changes the entry in
//!   place, so the TTL survives, and then calls [`Ctx::note_write`].
//!
//! Integers that round-trip exactly are stored with the `int` encoding, as Redis's
//! `tryObjectEncoding` does for SET-like commands; APPEND, SETRANGE and INCRBYFLOAT results are
//! stored as bytes, as in Redis.

mod long_double;

use bytes::Bytes;

use crate::command::{cmd, flags::*, CommandSpec, Handler, Merge, MultiShard, ONE_KEY};
use crate::db::Entry;
use crate::error::{OpError, OpResult};
use crate::journal::{num_arg, word};
use crate::notify::class;
use crate::reply::Reply;
use crate::shard::Ctx;
use crate::value::{parse_i64_strict, StrValue, Value};

/// Shared with HINCRBYFLOAT (hash family), which must compute and print exactly like INCRBYFLOAT.
pub(crate) use long_double::LongDouble;

pub static COMMANDS: &[CommandSpec] = &[
    cmd(
        "get",
        2,
        READONLY | FAST,
        ONE_KEY,
        "string",
        "1.0.0",
        "Returns the string value of a key.",
        Handler::Shard(get),
    ),
    cmd(
        "set",
        -3,
        WRITE | DENYOOM,
        ONE_KEY,
        "string",
        "1.0.0",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        Handler::Shard(set),
    ),
    cmd(
        "setnx",
        3,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        "string",
        "1.0.0",
        "Set the value of a key, only if the key does not exist.",
        Handler::Shard(setnx),
    ),
    cmd(
        "setex",
        4,
        WRITE | DENYOOM,
        ONE_KEY,
        "string",
        "2.0.0",
        "Set the value and expiration of a key.",
        Handler::Shard(setex),
    ),
    cmd(
        "psetex",
        4,
        WRITE | DENYOOM,
        ONE_KEY,
        "string",
        "2.6.0",
        "Set the value and expiration in milliseconds of a key.",
        Handler::Shard(psetex),
    ),
    cmd(
        "getex",
        -2,
        WRITE | FAST,
        ONE_KEY,
        "string",
        "6.2.0",
        "Get the value of a key and optionally set its expiration.",
        Handler::Shard(getex),
    ),
    cmd(
        "getdel",
        2,
        WRITE | FAST,
        ONE_KEY,
        "string",
        "6.2.0",
        "Get the value of a key and delete the key.",
        Handler::Shard(getdel),
    ),
    cmd(
        "getset",
        3,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        "string",
        "1.0.0",
        "Set the string value of a key and return its old value.",
        Handler::Shard(getset),
    ),
    cmd(
        "mget",
        -2,
        READONLY | FAST,
        (1, -1, 1),
        "string",
        "1.0.0",
        "Get the values of all the given keys.",
        Handler::Shard(mget),
    )
    .multi(MultiShard::Split(Merge::ArrayInKeyOrder)),
    cmd(
        "mset",
        -3,
        WRITE | DENYOOM,
        (1, -1, 2),
        "string",
        "1.0.1",
        "Set multiple keys to multiple values.",
        Handler::Shard(mset),
    )
    .multi(MultiShard::Split(Merge::AllOk)),
    cmd(
        "msetnx",
        -3,
        WRITE | DENYOOM,
        (1, -1, 2),
        "string",
        "1.0.1",
        "Set multiple keys to multiple values, only if none of the keys exist.",
        Handler::Shard(msetnx),
    )
    .multi(MultiShard::Gather),
    cmd(
        "append",
        3,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        "string",
        "2.0.0",
        "Append a value to a key.",
        Handler::Shard(append),
    ),
    cmd(
        "strlen",
        2,
        READONLY | FAST,
        ONE_KEY,
        "string",
        "2.2.0",
        "Get the length of the value stored in a key.",
        Handler::Shard(strlen),
    ),
    cmd(
        "getrange",
        4,
        READONLY,
        ONE_KEY,
        "string",
        "2.4.0",
        "Get a substring of the string stored at a key.",
        Handler::Shard(getrange),
    ),
    cmd(
        "substr",
        4,
        READONLY,
        ONE_KEY,
        "string",
        "1.0.0",
        "Get a substring of the string stored at a key.",
        Handler::Shard(getrange),
    ),
    cmd(
        "setrange",
        4,
        WRITE | DENYOOM,
        ONE_KEY,
        "string",
        "2.2.0",
        "Overwrite part of a string at key starting at the specified offset.",
        Handler::Shard(setrange),
    ),
    cmd(
        "incr",
        2,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        "string",
        "1.0.0",
        "Increment the integer value of a key by one.",
        Handler::Shard(incr),
    ),
    cmd(
        "decr",
        2,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        "string",
        "1.0.0",
        "Decrement the integer value of a key by one.",
        Handler::Shard(decr),
    ),
    cmd(
        "incrby",
        3,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        "string",
        "1.0.0",
        "Increment the integer value of a key by the given amount.",
        Handler::Shard(incrby),
    ),
    cmd(
        "decrby",
        3,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        "string",
        "1.0.0",
        "Decrement the integer value of a key by the given number.",
        Handler::Shard(decrby),
    ),
    cmd(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        "string",
        "2.6.0",
        "Increment the float value of a key by the given amount.",
        Handler::Shard(incrbyfloat),
    ),
    cmd(
        "lcs",
        -3,
        READONLY,
        (1, 2, 1),
        "string",
        "7.0.0",
        "Find longest common substring.",
        Handler::Shard(lcs),
    )
    .multi(MultiShard::Gather),
];

// ---------------------------------------------------------------------------------------------
// Argument parsing shared by the SET family and GETEX.

/// An integer argument, parsed as Redis's `getLongLongFromObjectOrReply` (strict `string2ll`).
fn int_arg(b: &[u8]) -> OpResult<i64> {
    parse_i64_strict(b).ok_or(OpError::NotInteger)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExpireKind {
    /// Relative seconds.
    Ex,
    /// Relative milliseconds.
    Px,
    /// Absolute Unix seconds.
    ExAt,
    /// Absolute Unix milliseconds.
    PxAt,
}

impl ExpireKind {
    fn in_seconds(self) -> bool {
        matches!(self, ExpireKind::Ex | ExpireKind::ExAt)
    }

    fn is_absolute(self) -> bool {
        matches!(self, ExpireKind::ExAt | ExpireKind::PxAt)
    }
}

/// Which command's option set applies (Redis's `COMMAND_SET` / `COMMAND_GET`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum OptionSet {
    Set,
    GetEx,
}

#[derive(Default)]
struct ExtendedOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expire: Option<(ExpireKind, &'a [u8])>,
}

/// Parses SET/GETEX options as Redis's `parseExtendedStringArgumentsOrReply`: conflicting
/// options are a syntax error, a repeated option is accepted (the last expire wins). Option names
/// compare as C strings (up to a NUL byte), as Redis does.
fn parse_extended_options(args: &[Bytes], set: OptionSet) -> OpResult<ExtendedOptions<'_>> {
    let mut o = ExtendedOptions::default();
    let mut i = 0;
    while i < args.len() {
        let raw = &args[i][..];
        let name = &raw[..memchr::memchr(0, raw).unwrap_or(raw.len())];
        let next = args.get(i + 1).map(|b| &b[..]);
        let is = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
        let kind = o.expire.map(|(k, _)| k);
        let other_expire = |allowed: ExpireKind| kind.is_some_and(|k| k != allowed);
        if is("nx") && !o.xx && set == OptionSet::Set {
            o.nx = true;
        } else if is("xx") && !o.nx && set == OptionSet::Set {
            o.xx = true;
        } else if is("get") && set == OptionSet::Set {
            o.get = true;
        } else if is("keepttl") && !o.persist && kind.is_none() && set == OptionSet::Set {
            o.keep_ttl = true;
        } else if is("persist") && set == OptionSet::GetEx && kind.is_none() && !o.keep_ttl {
            o.persist = true;
        } else if let (Some(k), Some(arg)) = (expire_kind(name), next) {
            if o.keep_ttl || o.persist || other_expire(k) {
                return Err(OpError::Syntax);
            }
            o.expire = Some((k, arg));
            i += 1;
        } else {
            return Err(OpError::Syntax);
        }
        i += 1;
    }
    Ok(o)
}

fn expire_kind(name: &[u8]) -> Option<ExpireKind> {
    let eq = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
    if eq("ex") {
        Some(ExpireKind::Ex)
    } else if eq("px") {
        Some(ExpireKind::Px)
    } else if eq("exat") {
        Some(ExpireKind::ExAt)
    } else if eq("pxat") {
        Some(ExpireKind::PxAt)
    } else {
        None
    }
}

/// Converts an expire argument to absolute Unix ms as Redis's `getExpireMillisecondsOrReply`:
/// zero, negative, `EX` values whose ms overflow, and relative values whose sum with now
/// overflows are all "invalid expire time". `command` names the command in that error.
fn resolve_expire(kind: ExpireKind, arg: &[u8], now_ms: u64, command: &str) -> OpResult<u64> {
    let invalid = || OpError::InvalidExpire(command.to_string());
    let v = int_arg(arg)?;
    if v <= 0 || (kind.in_seconds() && v > i64::MAX / 1000) {
        return Err(invalid());
    }
    let mut at_ms = if kind.in_seconds() { v * 1000 } else { v };
    if !kind.is_absolute() {
        at_ms = i64::try_from(now_ms)
            .ok()
            .and_then(|now| at_ms.checked_add(now))
            .ok_or_else(invalid)?;
    }
    Ok(at_ms as u64)
}

// ---------------------------------------------------------------------------------------------
// GET, SET and variants.

fn get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    get_bulk(ctx, &argv[1]).into()
}

/// Redis's `getGenericCommand`: the string as a bulk, Nil when absent, WRONGTYPE otherwise.
fn get_bulk(ctx: &mut Ctx<'_>, key: &[u8]) -> OpResult<Reply> {
    Ok(match ctx.get_str(key)? {
        Some(s) => Reply::Bulk(s.to_bytes()),
        None => Reply::Nil,
    })
}

/// How a SET variant answers: OK (or 1) when it stored, Nil (or 0) when NX/XX stopped it.
struct SetReplies {
    stored: Reply,
    aborted: Reply,
}

const SET_REPLIES: SetReplies = SetReplies { stored: Reply::ok(), aborted: Reply::Nil };

/// Redis's `setGenericCommand`, serving SET, SETNX, SETEX and PSETEX.
fn set_generic(
    ctx: &mut Ctx<'_>,
    command: &str,
    key: &Bytes,
    value: &Bytes,
    opts: &ExtendedOptions<'_>,
    replies: SetReplies,
) -> OpResult<Reply> {
    let expire_at_ms = match opts.expire {
        Some((kind, arg)) => Some(resolve_expire(kind, arg, ctx.now_ms, command)?),
        None => None,
    };
    let old = if opts.get { Some(get_bulk(ctx, key)?) } else { None };
    let old_expire_at_ms = ctx.lookup_write(key).map(|e| e.expire_at_ms);
    let found = old_expire_at_ms.is_some();
    if (opts.nx && found) || (opts.xx && !found) {
        return Ok(old.unwrap_or(replies.aborted));
    }
    // A past EXAT/PXAT stores the key anyway; it is expired on its next access, as in 7.0.
    let expire_at_ms = match expire_at_ms {
        Some(at) => at,
        None if opts.keep_ttl => old_expire_at_ms.unwrap_or(0),
        None => 0,
    };
    ctx.set_value(key, Value::Str(StrValue::from_arg(value)), expire_at_ms);
    ctx.notify(class::STRING, "set", key);
    if opts.expire.is_some() {
        ctx.notify(class::GENERIC, "expire", key);
        // Relative or absolute, the record carries the absolute time (as Redis 7.0 writes it).
        ctx.propagate_as(|| {
            vec![word("SET"), key.clone(), value.clone(), word("PXAT"), num_arg(expire_at_ms)]
        });
    }
    Ok(old.unwrap_or(replies.stored))
}

fn set(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let opts = match parse_extended_options(&argv[3..], OptionSet::Set) {
        Ok(o) => o,
        Err(e) => return e.into(),
    };
    let reply = set_generic(ctx, "set", &argv[1], &argv[2], &opts, SET_REPLIES);
    if opts.get && opts.expire.is_none() {
        // The old value is the client's business: the record is the SET without GET.
        ctx.propagate_as(|| {
            let options = argv[3..].iter().filter(|a| !a.eq_ignore_ascii_case(b"get"));
            argv[..3].iter().chain(options).cloned().collect()
        });
    }
    reply.into()
}

fn setnx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let opts = ExtendedOptions { nx: true, ..Default::default() };
    let replies = SetReplies { stored: Reply::Int(1), aborted: Reply::Int(0) };
    set_generic(ctx, "setnx", &argv[1], &argv[2], &opts, replies).into()
}

fn setex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let opts = ExtendedOptions { expire: Some((ExpireKind::Ex, &argv[2])), ..Default::default() };
    set_generic(ctx, "setex", &argv[1], &argv[3], &opts, SET_REPLIES).into()
}

fn psetex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let opts = ExtendedOptions { expire: Some((ExpireKind::Px, &argv[2])), ..Default::default() };
    set_generic(ctx, "psetex", &argv[1], &argv[3], &opts, SET_REPLIES).into()
}

fn getex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    getex_inner(ctx, argv).into()
}

/// Order as in Redis: options syntax, then the key (missing → Nil, wrong type), then the expire
/// value, so `GETEX missing EX 0` answers Nil.
fn getex_inner(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let opts = parse_extended_options(&argv[2..], OptionSet::GetEx)?;
    let key = &argv[1][..];
    let Some(value) = ctx.get_str(key)?.map(StrValue::to_bytes) else {
        return Ok(Reply::Nil);
    };
    if let Some((kind, arg)) = opts.expire {
        let at_ms = resolve_expire(kind, arg, ctx.now_ms, "getex")?;
        if kind.is_absolute() && at_ms <= ctx.now_ms {
            ctx.remove(key);
            ctx.notify(class::GENERIC, "del", key);
            ctx.propagate_as(|| vec![word("DEL"), argv[1].clone()]);
        } else {
            ctx.db().set_expiry(key, at_ms);
            ctx.note_write(key);
            ctx.notify(class::GENERIC, "expire", key);
            ctx.propagate_as(|| vec![word("PEXPIREAT"), argv[1].clone(), num_arg(at_ms)]);
        }
    } else if opts.persist && ctx.peek(key).is_some_and(|e| e.expire_at_ms != 0) {
        ctx.db().set_expiry(key, 0);
        ctx.note_write(key);
        ctx.notify(class::GENERIC, "persist", key);
        ctx.propagate_as(|| vec![word("PERSIST"), argv[1].clone()]);
    }
    Ok(Reply::Bulk(value))
}

fn getdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1][..];
    match get_bulk(ctx, key) {
        Ok(Reply::Nil) => Reply::Nil,
        Ok(reply) => {
            if ctx.remove(key).is_some() {
                ctx.notify(class::GENERIC, "del", key);
            }
            ctx.propagate_as(|| vec![word("DEL"), argv[1].clone()]);
            reply
        }
        Err(e) => e.into(),
    }
}

fn getset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match get_bulk(ctx, &argv[1]) {
        Ok(old) => {
            ctx.set_value(&argv[1], Value::Str(StrValue::from_arg(&argv[2])), 0);
            ctx.notify(class::STRING, "set", &argv[1]);
            ctx.propagate_as(|| vec![word("SET"), argv[1].clone(), argv[2].clone()]);
            old
        }
        Err(e) => e.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Multi-key commands. Each runs over the keys this shard was given; the net layer splits or
// gathers across shards as the table entry says.

fn mget(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let replies = argv[1..]
        .iter()
        .map(|key| match ctx.lookup_read(key) {
            Some(Entry { value: Value::Str(s), .. }) => Reply::Bulk(s.to_bytes()),
            _ => Reply::Nil,
        })
        .collect();
    Reply::Array(replies)
}

fn mset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    // Pairs after the name: an even argc means a key without a value.
    if argv.len() & 1 == 0 {
        return OpError::WrongArity("mset".into()).into();
    }
    for pair in argv[1..].chunks_exact(2) {
        ctx.set_value(&pair[0], Value::Str(StrValue::from_arg(&pair[1])), 0);
        ctx.notify(class::STRING, "set", &pair[0]);
    }
    Reply::ok()
}

fn msetnx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    // Pairs after the name: an even argc means a key without a value.
    if argv.len() & 1 == 0 {
        return OpError::WrongArity("msetnx".into()).into();
    }
    let pairs = argv[1..].chunks_exact(2);
    for pair in pairs.clone() {
        if ctx.lookup_write(&pair[0]).is_some() {
            return Reply::Int(0);
        }
    }
    for pair in pairs {
        ctx.set_value(&pair[0], Value::Str(StrValue::from_arg(&pair[1])), 0);
        ctx.notify(class::STRING, "set", &pair[0]);
    }
    Reply::Int(1)
}

// ---------------------------------------------------------------------------------------------
// In-place edits: the entry (and its TTL) stays, the value changes.

/// Redis's `checkStringLength`: the result of APPEND/SETRANGE must fit `proto-max-bulk-len`.
fn check_string_length(limit: u64, current: u64, added: u64) -> OpResult<()> {
    match current.checked_add(added) {
        Some(total) if total <= limit => Ok(()),
        _ => Err(OpError::other("ERR string exceeds maximum allowed size (proto-max-bulk-len)")),
    }
}

/// Takes the bytes out of a string value for editing, without copying heap values.
fn take_bytes(s: &mut StrValue) -> Vec<u8> {
    std::mem::replace(s, StrValue::Int(0)).into_vec()
}

fn append(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    append_inner(ctx, &argv[1], &argv[2]).into()
}

fn append_inner(ctx: &mut Ctx<'_>, key: &[u8], suffix: &[u8]) -> OpResult<Reply> {
    let limit = ctx.config().proto_max_bulk_len;
    let total = match ctx.lookup_write(key) {
        None => {
            let value = StrValue::from_bytes(suffix);
            let len = value.len();
            ctx.set_value(key, Value::Str(value), 0);
            ctx.notify(class::STRING, "append", key);
            return Ok(Reply::Int(len as i64));
        }
        Some(Entry { value: Value::Str(s), .. }) => {
            check_string_length(limit, s.len() as u64, suffix.len() as u64)?;
            let mut bytes = take_bytes(s);
            bytes.reserve_exact(suffix.len());
            bytes.extend_from_slice(suffix);
            let total = bytes.len();
            *s = StrValue::from_vec(bytes);
            total
        }
        Some(_) => return Err(OpError::WrongType),
    };
    ctx.note_write(key);
    ctx.notify(class::STRING, "append", key);
    Ok(Reply::Int(total as i64))
}

fn strlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match ctx.get_str(&argv[1]) {
        Ok(s) => Reply::Int(s.map_or(0, StrValue::len) as i64),
        Err(e) => e.into(),
    }
}

/// GETRANGE and SUBSTR: inclusive range with negative indexes from the end, clamped.
fn getrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    getrange_inner(ctx, argv).into()
}

fn getrange_inner(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let start = int_arg(&argv[2])?;
    let end = int_arg(&argv[3])?;
    let Some(s) = ctx.get_str(&argv[1])? else {
        return Ok(Reply::Bulk(Bytes::new()));
    };
    Ok(s.with_bytes(|bytes| match byte_range(start, end, bytes.len()) {
        Some((from, to)) => Reply::bulk_slice(&bytes[from..=to]),
        None => Reply::Bulk(Bytes::new()),
    }))
}

/// Redis's GETRANGE index arithmetic; `None` for an empty result.
fn byte_range(mut start: i64, mut end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    if start < 0 && end < 0 && start > end {
        return None;
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return None;
    }
    Some((start as usize, end as usize))
}

fn setrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    setrange_inner(ctx, &argv[1], &argv[2], &argv[3]).into()
}

fn setrange_inner(ctx: &mut Ctx<'_>, key: &[u8], offset: &[u8], patch: &[u8]) -> OpResult<Reply> {
    let offset = int_arg(offset)?;
    if offset < 0 {
        return Err(OpError::other("ERR offset is out of range"));
    }
    let offset = offset as u64;
    let patch_len = patch.len() as u64;
    let exists = match ctx.lookup_write(key) {
        None => false,
        Some(Entry { value: Value::Str(s), .. }) => {
            if patch.is_empty() {
                return Ok(Reply::Int(s.len() as i64));
            }
            true
        }
        Some(_) => return Err(OpError::WrongType),
    };
    if !exists && patch.is_empty() {
        return Ok(Reply::Int(0));
    }
    check_string_length(ctx.config().proto_max_bulk_len, offset, patch_len)?;
    // Both fit proto-max-bulk-len (a u64 config) and were allocated, so they fit usize.
    let (offset, end) = (offset as usize, (offset + patch_len) as usize);
    if !exists {
        let mut bytes = vec![0u8; end];
        bytes[offset..].copy_from_slice(patch);
        ctx.set_value(key, Value::Str(StrValue::from_vec(bytes)), 0);
        ctx.notify(class::STRING, "setrange", key);
        return Ok(Reply::Int(end as i64));
    }
    let new_len = match ctx.lookup_write(key) {
        Some(Entry { value: Value::Str(s), .. }) => {
            let mut bytes = take_bytes(s);
            if bytes.len() < end {
                bytes.reserve_exact(end - bytes.len());
                bytes.resize(end, 0);
            }
            bytes[offset..end].copy_from_slice(patch);
            let len = bytes.len();
            *s = StrValue::from_vec(bytes);
            len
        }
        // Just checked under the same instant: the entry is there and is a string.
        _ => return Err(OpError::WrongType),
    };
    ctx.note_write(key);
    ctx.notify(class::STRING, "setrange", key);
    Ok(Reply::Int(new_len as i64))
}

// ---------------------------------------------------------------------------------------------
// Counters.

fn incr(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    incr_by(ctx, &argv[1], 1).into()
}

fn decr(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    incr_by(ctx, &argv[1], -1).into()
}

fn incrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match int_arg(&argv[2]) {
        Ok(delta) => incr_by(ctx, &argv[1], delta).into(),
        Err(e) => e.into(),
    }
}

fn decrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match int_arg(&argv[2]) {
        Ok(i64::MIN) => Reply::error("ERR decrement would overflow"),
        Ok(delta) => incr_by(ctx, &argv[1], -delta).into(),
        Err(e) => e.into(),
    }
}

/// Redis's `incrDecrCommand`: the stored value must be a strict integer; the result is stored
/// with the `int` encoding and the TTL kept.
fn incr_by(ctx: &mut Ctx<'_>, key: &[u8], delta: i64) -> OpResult<Reply> {
    let new = match ctx.lookup_write(key) {
        None => {
            ctx.set_value(key, Value::Str(StrValue::Int(delta)), 0);
            ctx.notify(class::STRING, "incrby", key);
            return Ok(Reply::Int(delta));
        }
        Some(Entry { value: Value::Str(s), .. }) => {
            let old = s.as_int().ok_or(OpError::NotInteger)?;
            let new = old.checked_add(delta).ok_or(OpError::Overflow)?;
            *s = StrValue::Int(new);
            new
        }
        Some(_) => return Err(OpError::WrongType),
    };
    ctx.note_write(key);
    ctx.notify(class::STRING, "incrby", key);
    Ok(Reply::Int(new))
}

fn incrbyfloat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    incrbyfloat_inner(ctx, &argv[1], &argv[2]).into()
}

/// Redis's `incrbyfloatCommand`: both operands parsed as `long double`, summed, printed with
/// `%.17Lf` trimmed; see [`long_double`]. The result is stored as bytes with the TTL kept.
fn incrbyfloat_inner(ctx: &mut Ctx<'_>, key: &[u8], increment: &[u8]) -> OpResult<Reply> {
    let current = match ctx.lookup_write(key) {
        None => None,
        Some(Entry { value: Value::Str(s), .. }) => Some(match s {
            StrValue::Int(n) => LongDouble::from_i64(*n),
            other => other.with_bytes(LongDouble::parse).ok_or(OpError::NotFloat)?,
        }),
        Some(_) => return Err(OpError::WrongType),
    };
    let increment = LongDouble::parse(increment).ok_or(OpError::NotFloat)?;
    let sum = current
        .unwrap_or(LongDouble::from_i64(0))
        .add(increment)
        .ok_or(OpError::other("ERR increment would produce NaN or Infinity"))?;
    let text = sum.format_human();
    let value = StrValue::raw(text.as_bytes());
    if current.is_none() {
        ctx.set_value(key, Value::Str(value), 0);
    } else {
        if let Some(entry) = ctx.db().table.get_mut(key) {
            entry.value = Value::Str(value);
        }
        ctx.note_write(key);
    }
    ctx.notify(class::STRING, "incrbyfloat", key);
    let text = Bytes::from(text);
    // Float arithmetic and printing need not agree between master and replica: record the
    // result, keeping the TTL (Redis 7.0: `SET key value KEEPTTL`). SET would store integer
    // text such as "3" as an `int` where INCRBYFLOAT keeps bytes (a difference Redis's own
    // replicas have); then SET an empty string and APPEND the text, which stays bytes.
    ctx.propagate_as(|| {
        let key = Bytes::copy_from_slice(key);
        if parse_i64_strict(&text).is_none() {
            return vec![word("SET"), key, text.clone(), word("KEEPTTL")];
        }
        vec![word("SET"), key, Bytes::new(), word("KEEPTTL")]
    });
    if parse_i64_strict(&text).is_some() {
        ctx.propagate_as(|| vec![word("APPEND"), Bytes::copy_from_slice(key), text.clone()]);
    }
    Ok(Reply::Bulk(text))
}

// ---------------------------------------------------------------------------------------------
// LCS.

fn lcs(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    lcs_inner(ctx, argv).into()
}

/// A key's string for LCS: empty when missing, `None` for another type.
fn lcs_operand(ctx: &mut Ctx<'_>, key: &[u8]) -> Option<Vec<u8>> {
    match ctx.lookup_read(key) {
        None => Some(Vec::new()),
        Some(Entry { value: Value::Str(s), .. }) => Some(s.to_vec()),
        Some(_) => None,
    }
}

/// Redis's `lcsCommand`: the full dynamic-programming table (bounded by `proto-max-bulk-len`
/// bytes, as Redis bounds it), then a walk back from the end that emits matched ranges from the
/// last to the first.
fn lcs_inner(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let a = lcs_operand(ctx, &argv[1]);
    let b = lcs_operand(ctx, &argv[2]);
    let (Some(a), Some(b)) = (a, b) else {
        return Err(OpError::other("ERR The specified keys must contain string values"));
    };
    let (mut get_idx, mut get_len, mut with_match_len) = (false, false, false);
    let mut min_match_len: i64 = 0;
    let mut i = 3;
    while i < argv.len() {
        let opt = &argv[i][..];
        let is = |s: &str| opt.eq_ignore_ascii_case(s.as_bytes());
        if is("idx") {
            get_idx = true;
        } else if is("len") {
            get_len = true;
        } else if is("withmatchlen") {
            with_match_len = true;
        } else if is("minmatchlen") && i + 1 < argv.len() {
            min_match_len = int_arg(&argv[i + 1])?.max(0);
            i += 1;
        } else {
            return Err(OpError::Syntax);
        }
        i += 1;
    }
    if get_idx && get_len {
        return Err(OpError::other(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    if a.len() as u64 >= u32::MAX as u64 - 1 || b.len() as u64 >= u32::MAX as u64 - 1 {
        return Err(OpError::other("ERR String too long for LCS"));
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells * 4 > ctx.config().proto_max_bulk_len {
        return Err(OpError::other(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let mut table: Vec<u32> = Vec::new();
    if usize::try_from(cells).ok().and_then(|n| table.try_reserve_exact(n).ok()).is_none() {
        return Err(OpError::other(
            "ERR Insufficient memory, failed allocating transient memory for LCS",
        ));
    }
    // table[i * (blen + 1) + j] = LCS length of a[..i] and b[..j].
    let width = blen + 1;
    table.resize(cells as usize, 0);
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let total = table[alen * width + blen];
    if get_len {
        return Ok(Reply::Int(total as i64));
    }

    let mut result = vec![0u8; total as usize];
    let mut idx = total as usize;
    let mut matches = Vec::new();
    // `range` is the current matched run: (a_start, a_end, b_start, b_end), walking backwards.
    let mut range: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            range = match range {
                None => Some((i - 1, i - 1, j - 1, j - 1)),
                Some((a_start, a_end, b_start, b_end)) if a_start == i && b_start == j => {
                    Some((a_start - 1, a_end, b_start - 1, b_end))
                }
                Some(r) => {
                    emit = true;
                    Some(r)
                }
            };
            if let Some((a_start, _, b_start, _)) = range {
                if a_start == 0 || b_start == 0 {
                    emit = true;
                }
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = range.is_some();
        }
        if emit {
            if let Some((a_start, a_end, b_start, b_end)) = range.take() {
                let match_len = (a_end - a_start + 1) as i64;
                if get_idx && (min_match_len == 0 || match_len >= min_match_len) {
                    let mut item = vec![
                        Reply::Array(vec![Reply::Int(a_start as i64), Reply::Int(a_end as i64)]),
                        Reply::Array(vec![Reply::Int(b_start as i64), Reply::Int(b_end as i64)]),
                    ];
                    if with_match_len {
                        item.push(Reply::Int(match_len));
                    }
                    matches.push(Reply::Array(item));
                }
            }
        }
    }
    if get_idx {
        return Ok(Reply::Map(vec![
            (Reply::bulk_str("matches"), Reply::Array(matches)),
            (Reply::bulk_str("len"), Reply::Int(total as i64)),
        ]));
    }
    Ok(Reply::Bulk(Bytes::from(result)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<Bytes> {
        list.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
    }

    #[test]
    fn extended_options_follow_redis_conflict_rules() {
        let ok = |l: &[&str], set| parse_extended_options(&args(l), set).is_ok();
        assert!(ok(&["NX", "NX"], OptionSet::Set));
        assert!(!ok(&["NX", "XX"], OptionSet::Set));
        assert!(ok(&["EX", "1", "EX", "2"], OptionSet::Set));
        assert!(!ok(&["EX", "1", "PX", "2"], OptionSet::Set));
        assert!(!ok(&["KEEPTTL", "EX", "1"], OptionSet::Set));
        assert!(!ok(&["EX"], OptionSet::Set));
        assert!(!ok(&["PERSIST"], OptionSet::Set));
        assert!(ok(&["PERSIST", "PERSIST"], OptionSet::GetEx));
        assert!(!ok(&["NX"], OptionSet::GetEx));
        assert!(ok(&["nx\0junk"], OptionSet::Set));
    }

    #[test]
    fn byte_range_matches_redis_arithmetic() {
        assert_eq!(byte_range(0, -1, 4), Some((0, 3)));
        assert_eq!(byte_range(-1, -2, 4), None);
        assert_eq!(byte_range(0, -100, 4), Some((0, 0)));
        assert_eq!(byte_range(i64::MIN, -1, 4), Some((0, 3)));
        assert_eq!(byte_range(0, i64::MAX, 4), Some((0, 3)));
        assert_eq!(byte_range(0, 0, 0), None);
    }

    #[test]
    fn expire_resolution_overflows_are_invalid() {
        let now = 1_700_000_000_000;
        assert_eq!(resolve_expire(ExpireKind::Ex, b"10", now, "set"), Ok(now + 10_000));
        assert_eq!(resolve_expire(ExpireKind::PxAt, b"5", now, "set"), Ok(5));
        for (kind, v) in [
            (ExpireKind::Ex, "0"),
            (ExpireKind::Px, "-1"),
            (ExpireKind::Ex, "9223372036854776"),
            (ExpireKind::Ex, "9223372036854775"),
            (ExpireKind::ExAt, "9223372036854775807"),
        ] {
            assert_eq!(
                resolve_expire(kind, v.as_bytes(), now, "set"),
                Err(OpError::InvalidExpire("set".into()))
            );
        }
        assert_eq!(resolve_expire(ExpireKind::Ex, b"x", now, "set"), Err(OpError::NotInteger));
    }
}
