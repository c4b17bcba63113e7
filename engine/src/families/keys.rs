//! Generic key commands (Redis's `generic` group plus the keyspace-wide `server` commands):
//! DEL UNLINK EXISTS TYPE RENAME RENAMENX COPY MOVE KEYS SCAN RANDOMKEY TOUCH OBJECT DBSIZE
//! FLUSHDB FLUSHALL SWAPDB.
//!
//! Every handler sees one shard. Multi-key commands are split or gathered by the net layer
//! (see each entry's [`MultiShard`]); MOVE, SWAPDB and `COPY … DB n` work across the databases
//! of this one shard, which is sound because a key's slot (hence its shard) does not depend on
//! the database. SCAN and RANDOMKEY are coordinated by the net layer, which reuses
//! [`scan_shard`] and [`random_key`] for the per-shard part.
//!
//! Lookups follow Redis's flags exactly, because they are observable: EXISTS, TYPE and OBJECT
//! count keyspace hits/misses but leave the access time alone (`LOOKUP_NOTOUCH`), TOUCH and
//! COPY count and touch, writes neither count nor skip the lazy expiry.

use bytes::Bytes;
use rand::Rng;

use crate::command::{cmd, flags::*, CommandSpec, Handler, Merge, MultiShard, SubcommandSpec};
use crate::command::{NO_KEYS, ONE_KEY};
use crate::config::{Config, EvictionPolicy};
use crate::db::Entry;
use crate::error::OpError;
use crate::glob::glob_match;
use crate::notify::class;
use crate::reply::Reply;
use crate::shard::Ctx;
use crate::table::CURSOR_BITS;
use crate::value::{parse_i64_strict, StrValue, Value};

const TWO_KEYS: (i32, i32, i32) = (1, 2, 1);

pub static COMMANDS: &[CommandSpec] = &[
    cmd("del", -2, WRITE, (1, -1, 1), "generic", "1.0.0", "Delete a key", Handler::Shard(del))
        .multi(MultiShard::Split(Merge::SumInts)),
    cmd(
        "unlink",
        -2,
        WRITE | FAST,
        (1, -1, 1),
        "generic",
        "4.0.0",
        "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non \
         blocking.",
        Handler::Shard(del),
    )
    .multi(MultiShard::Split(Merge::SumInts)),
    cmd(
        "exists",
        -2,
        READONLY | FAST,
        (1, -1, 1),
        "generic",
        "1.0.0",
        "Determine if a key exists",
        Handler::Shard(exists),
    )
    .multi(MultiShard::Split(Merge::SumInts)),
    cmd(
        "touch",
        -2,
        READONLY | FAST,
        (1, -1, 1),
        "generic",
        "3.2.1",
        "Alters the last access time of a key(s). Returns the number of existing keys specified.",
        Handler::Shard(touch),
    )
    .multi(MultiShard::Split(Merge::SumInts)),
    cmd(
        "type",
        2,
        READONLY | FAST,
        ONE_KEY,
        "generic",
        "1.0.0",
        "Determine the type stored at key",
        Handler::Shard(type_cmd),
    ),
    cmd("rename", 3, WRITE, TWO_KEYS, "generic", "1.0.0", "Rename a key", Handler::Shard(rename))
        .multi(MultiShard::Gather),
    cmd(
        "renamenx",
        3,
        WRITE | FAST,
        TWO_KEYS,
        "generic",
        "1.0.0",
        "Rename a key, only if the new key does not exist",
        Handler::Shard(renamenx),
    )
    .multi(MultiShard::Gather),
    cmd(
        "copy",
        -3,
        WRITE | DENYOOM,
        TWO_KEYS,
        "generic",
        "6.2.0",
        "Copy a key",
        Handler::Shard(copy),
    )
    .multi(MultiShard::Gather),
    cmd(
        "move",
        3,
        WRITE | FAST,
        ONE_KEY,
        "generic",
        "1.0.0",
        "Move a key to another database",
        Handler::Shard(move_cmd),
    ),
    cmd(
        "keys",
        2,
        READONLY,
        NO_KEYS,
        "generic",
        "1.0.0",
        "Find all keys matching the given pattern",
        Handler::Shard(keys),
    )
    .multi(MultiShard::Broadcast(Merge::ConcatArrays)),
    cmd(
        "scan",
        -2,
        READONLY,
        NO_KEYS,
        "generic",
        "2.8.0",
        "Incrementally iterate the keys space",
        Handler::Shard(scan),
    )
    .multi(MultiShard::Net),
    cmd(
        "randomkey",
        1,
        READONLY,
        NO_KEYS,
        "generic",
        "1.0.0",
        "Return a random key from the keyspace",
        Handler::Shard(randomkey),
    )
    .multi(MultiShard::Net),
    cmd(
        "object",
        -2,
        READONLY,
        (2, 2, 1),
        "generic",
        "2.2.3",
        "A container for object introspection commands",
        Handler::Shard(object),
    )
    .subcommands(OBJECT_SUBCOMMANDS),
    cmd(
        "dbsize",
        1,
        READONLY | FAST,
        NO_KEYS,
        "server",
        "1.0.0",
        "Return the number of keys in the selected database",
        Handler::Shard(dbsize),
    )
    .multi(MultiShard::Broadcast(Merge::SumInts)),
    cmd(
        "flushdb",
        -1,
        WRITE,
        NO_KEYS,
        "server",
        "1.0.0",
        "Remove all keys from the current database",
        Handler::Shard(flushdb),
    )
    .multi(MultiShard::Broadcast(Merge::AllOk)),
    cmd(
        "flushall",
        -1,
        WRITE,
        NO_KEYS,
        "server",
        "1.0.0",
        "Remove all keys from all databases",
        Handler::Shard(flushall),
    )
    .multi(MultiShard::Broadcast(Merge::AllOk)),
    cmd(
        "swapdb",
        3,
        WRITE | FAST,
        NO_KEYS,
        "server",
        "4.0.0",
        "Swaps two Redis databases",
        Handler::Shard(swapdb),
    )
    .multi(MultiShard::Broadcast(Merge::AllOk)),
];

static OBJECT_SUBCOMMANDS: &[SubcommandSpec] = &[
    SubcommandSpec {
        name: "encoding",
        arity: 3,
        flags: READONLY,
        summary: "Inspect the internal encoding of a Redis object",
    },
    SubcommandSpec {
        name: "freq",
        arity: 3,
        flags: READONLY,
        summary: "Get the logarithmic access frequency counter of a Redis object",
    },
    SubcommandSpec {
        name: "help",
        arity: 2,
        flags: LOADING | STALE,
        summary: "Show helpful text about the different subcommands",
    },
    SubcommandSpec {
        name: "idletime",
        arity: 3,
        flags: READONLY,
        summary: "Get the time since a Redis object was last accessed",
    },
    SubcommandSpec {
        name: "refcount",
        arity: 3,
        flags: READONLY,
        summary: "Get the number of references to the value of the key",
    },
];

const SAME_OBJECT_ERR: &str = "ERR source and destination objects are the same";
const DB_RANGE_ERR: &str = "ERR DB index is out of range";

/// Redis's `lookupKeyReadWithFlags(LOOKUP_NOTOUCH)`: expires lazily and counts a keyspace hit
/// or miss, but leaves the access time alone (EXISTS, TYPE, TTL, OBJECT).
pub fn lookup_read_notouch<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Option<&'c Entry> {
    ctx.expire_if_needed(key);
    let db = ctx.db;
    let shard = &mut *ctx.shard;
    match shard.dbs[db].table.get(key) {
        Some(e) => {
            shard.stats.keyspace_hits += 1;
            Some(e)
        }
        None => {
            shard.stats.keyspace_misses += 1;
            None
        }
    }
}

/// Runs `f` with `db` selected, then restores the caller's database. Lets MOVE and COPY reuse
/// the context's lazy expiry and write logging for the destination database.
fn in_db<R>(ctx: &mut Ctx<'_>, db: usize, f: impl FnOnce(&mut Ctx<'_>) -> R) -> R {
    let saved = ctx.db;
    ctx.db = db;
    let out = f(ctx);
    ctx.db = saved;
    out
}

/// Records a change of `key` in `db` for the write log without counting another dirty write:
/// Redis counts one write per RENAME/MOVE/COPY however many keys it changes.
fn log_key(ctx: &mut Ctx<'_>, db: usize, key: &[u8]) {
    ctx.shard.note_key(db, key);
}

/// The 24-bit LRU stamp of a freshly written entry, as `Ctx::set_value` stamps it.
fn lru_now(now_ms: u64) -> u32 {
    ((now_ms / 1000) & ((1 << 24) - 1)) as u32
}

/// How a database-index argument that is not an i32 is answered.
enum IntError {
    /// Redis's plain `getIntFromObjectOrReply`: a valid integer outside i32 range gets its own
    /// message, anything else is "not an integer".
    Default,
    /// `getIntFromObjectOrReply` with a custom message (SWAPDB): one message for both.
    Custom(&'static str),
}

const INT_RANGE_ERR: &str =
    "ERR value is out of range, value must between -2147483648 and 2147483647";

/// A database index argument; the errors are Redis's (`not an integer`, then `out of range`).
fn parse_db_index(ctx: &Ctx<'_>, arg: &[u8], on_error: IntError) -> Result<usize, Reply> {
    db_index(arg, ctx.shard.dbs.len(), on_error)
}

/// A database index argument as Redis 7.0 reads it (`getIntFromObjectOrReply` then the range
/// check): SELECT, MOVE and COPY's DB, and the net layer's SELECT inside batches.
pub fn parse_db_index_arg(arg: &[u8], databases: usize) -> Result<usize, Reply> {
    db_index(arg, databases, IntError::Default)
}

fn db_index(arg: &[u8], databases: usize, on_error: IntError) -> Result<usize, Reply> {
    let n = match (parse_i64_strict(arg), on_error) {
        (Some(n), _) if i32::try_from(n).is_ok() => n,
        (_, IntError::Custom(text)) => return Err(Reply::error(text)),
        (Some(_), IntError::Default) => return Err(Reply::error(INT_RANGE_ERR)),
        (None, IntError::Default) => return Err(OpError::NotInteger.into()),
    };
    match usize::try_from(n) {
        Ok(i) if i < databases => Ok(i),
        _ => Err(Reply::error(DB_RANGE_ERR)),
    }
}

fn del(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut deleted = 0;
    for key in &argv[1..] {
        if ctx.remove(key).is_some() {
            deleted += 1;
            ctx.notify(class::GENERIC, "del", key);
        }
    }
    Reply::Int(deleted)
}

/// Counts every argument, so a key named twice counts twice (as in Redis).
fn exists(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut found = 0;
    for key in &argv[1..] {
        if lookup_read_notouch(ctx, key).is_some() {
            found += 1;
        }
    }
    Reply::Int(found)
}

fn touch(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut found = 0;
    for key in &argv[1..] {
        if ctx.lookup_read(key).is_some() {
            found += 1;
        }
    }
    Reply::Int(found)
}

fn type_cmd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match lookup_read_notouch(ctx, &argv[1]) {
        Some(e) => Reply::status(e.value.value_type().name()),
        None => Reply::status("none"),
    }
}

fn rename(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    rename_generic(ctx, &argv[1], &argv[2], false)
}

fn renamenx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    rename_generic(ctx, &argv[1], &argv[2], true)
}

/// RENAME and RENAMENX. The entry moves whole, so the TTL moves with it and the target's old
/// TTL (if any) goes away with the target.
fn rename_generic(ctx: &mut Ctx<'_>, src: &[u8], dst: &[u8], nx: bool) -> Reply {
    if ctx.lookup_write(src).is_none() {
        return OpError::NoSuchKey.into();
    }
    if src == dst {
        return if nx { Reply::Int(0) } else { Reply::ok() };
    }
    if ctx.lookup_write(dst).is_some() && nx {
        return Reply::Int(0);
    }
    let db = ctx.db;
    let Some((_, entry)) = ctx.db().remove(src) else {
        return OpError::NoSuchKey.into();
    };
    ctx.db().insert(dst.into(), entry);
    ctx.note_write(src);
    log_key(ctx, db, dst);
    ctx.notify(class::NEW, "new", dst);
    ctx.notify(class::GENERIC, "rename_from", src);
    ctx.notify(class::GENERIC, "rename_to", dst);
    if nx {
        Reply::Int(1)
    } else {
        Reply::ok()
    }
}

/// COPY source destination [DB destination-db] [REPLACE]
fn copy(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let src_db = ctx.db;
    let mut dst_db = ctx.db;
    let mut replace = false;
    let mut i = 3;
    while i < argv.len() {
        let opt = &argv[i];
        if opt.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if opt.eq_ignore_ascii_case(b"db") && i + 1 < argv.len() {
            dst_db = match parse_db_index(ctx, &argv[i + 1], IntError::Default) {
                Ok(db) => db,
                Err(reply) => return reply,
            };
            i += 1;
        } else {
            return OpError::Syntax.into();
        }
        i += 1;
    }
    let (src, dst) = (&argv[1], &argv[2]);
    if src_db == dst_db && src == dst {
        return Reply::error(SAME_OBJECT_ERR);
    }
    if ctx.lookup_read(src).is_none() {
        return Reply::Int(0);
    }
    in_db(ctx, dst_db, |ctx| {
        if ctx.lookup_write(dst).is_some() {
            if !replace {
                return Reply::Int(0);
            }
            ctx.db().remove(dst);
        }
        // Cloned only once the copy is certain: the value may be large.
        let Some(source) = ctx.shard.dbs[src_db].table.get(src) else {
            return Reply::Int(0);
        };
        let mut copied = Entry::with_expiry(source.value.clone(), source.expire_at_ms);
        copied.lru = lru_now(ctx.now_ms);
        ctx.db().insert(dst.as_ref().into(), copied);
        ctx.note_write(dst);
        ctx.notify(class::NEW, "new", dst);
        ctx.notify(class::GENERIC, "copy_to", dst);
        Reply::Int(1)
    })
}

fn move_cmd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let dst_db = match parse_db_index(ctx, &argv[2], IntError::Default) {
        Ok(db) => db,
        Err(reply) => return reply,
    };
    let src_db = ctx.db;
    if dst_db == src_db {
        return Reply::error(SAME_OBJECT_ERR);
    }
    if ctx.lookup_write(key).is_none() {
        return Reply::Int(0);
    }
    if in_db(ctx, dst_db, |ctx| ctx.lookup_write(key).is_some()) {
        return Reply::Int(0);
    }
    let Some((k, entry)) = ctx.db().remove(key) else {
        return Reply::Int(0);
    };
    ctx.shard.dbs[dst_db].insert(k, entry);
    ctx.note_write(key);
    log_key(ctx, dst_db, key);
    ctx.shard.notify(dst_db, class::NEW, "new", key);
    ctx.notify(class::GENERIC, "move_from", key);
    ctx.shard.notify(dst_db, class::GENERIC, "move_to", key);
    Reply::Int(1)
}

/// KEYS pattern. Expired keys are skipped, not deleted, as Redis does (KEYS must not write).
fn keys(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let pattern: &[u8] = &argv[1];
    let match_all = pattern == b"*";
    let now = ctx.now_ms;
    let db = &ctx.shard.dbs[ctx.db];
    let found: Vec<Reply> = db
        .table
        .iter()
        .filter(|(k, e)| !e.is_expired(now) && (match_all || glob_match(pattern, k, false)))
        .map(|(k, _)| Reply::bulk_slice(k))
        .collect();
    Reply::Array(found)
}

/// Parsed SCAN arguments (cursor and options), shared with the net layer's global SCAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanArgs {
    pub cursor: u64,
    /// `None` for no MATCH or `MATCH *` (which filters nothing).
    pub pattern: Option<Bytes>,
    pub count: usize,
    /// The TYPE name as given; compared case-insensitively with each key's type name. Redis 7.0
    /// does not validate it, so an unknown name simply matches nothing.
    pub type_name: Option<Bytes>,
}

/// Default SCAN COUNT, as in Redis.
pub const SCAN_DEFAULT_COUNT: usize = 10;

/// Parses a SCAN cursor like Redis 7.0's `parseScanCursorOrReply` (C `strtoul`, base 10): an
/// optional sign, decimal digits, nothing else; no leading space; out of range is an error; a
/// minus sign negates modulo 2^64; the empty string is 0.
pub fn parse_scan_cursor(arg: &[u8]) -> Option<u64> {
    if arg.is_empty() {
        return Some(0);
    }
    let (negative, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if negative { value.wrapping_neg() } else { value })
}

/// Parses `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]` with Redis's errors, in
/// Redis's order: the cursor first, then the options left to right.
pub fn parse_scan_args(argv: &[Bytes]) -> Result<ScanArgs, Reply> {
    let Some(cursor_arg) = argv.get(1) else {
        return Err(OpError::WrongArity("scan".into()).into());
    };
    let cursor = parse_scan_cursor(cursor_arg).ok_or_else(|| Reply::error("ERR invalid cursor"))?;
    let mut args = ScanArgs { cursor, pattern: None, count: SCAN_DEFAULT_COUNT, type_name: None };
    let mut i = 2;
    while i < argv.len() {
        let opt = &argv[i];
        let Some(value) = argv.get(i + 1) else {
            return Err(OpError::Syntax.into());
        };
        if opt.eq_ignore_ascii_case(b"count") {
            let n = parse_i64_strict(value).ok_or_else(|| Reply::from(OpError::NotInteger))?;
            if n < 1 {
                return Err(OpError::Syntax.into());
            }
            args.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if opt.eq_ignore_ascii_case(b"match") {
            args.pattern = if value.as_ref() == b"*" { None } else { Some(value.clone()) };
        } else if opt.eq_ignore_ascii_case(b"type") {
            args.type_name = Some(value.clone());
        } else {
            return Err(OpError::Syntax.into());
        }
        i += 2;
    }
    Ok(args)
}

/// One SCAN step over this shard's selected database, from a shard-local cursor (a table
/// position below 2^[`CURSOR_BITS`]). Returns the next local cursor (0 when done) and the keys
/// that pass the filters.
///
/// Filters run in Redis 7.0's order: MATCH, then TYPE (a counted, non-touching lookup, which
/// also expires the key), then expiry (expired keys are deleted, never returned). Expired keys
/// that fail MATCH are left for a later lookup, as in Redis. A key present for the whole
/// iteration is returned at least once, per the table's scan contract.
pub fn scan_shard(
    ctx: &mut Ctx<'_>,
    cursor: u64,
    pattern: Option<&[u8]>,
    count: usize,
    type_filter: Option<&[u8]>,
) -> (u64, Vec<Bytes>) {
    if cursor >> CURSOR_BITS != 0 {
        // Not a position this shard ever handed out: like a garbage cursor in Redis, it ends
        // the iteration instead of failing.
        return (0, Vec::new());
    }
    let mut candidates: Vec<Bytes> = Vec::new();
    let next = ctx.shard.dbs[ctx.db].table.scan(cursor, count.max(1), |k, _| {
        if pattern.is_none_or(|p| glob_match(p, k, false)) {
            candidates.push(Bytes::copy_from_slice(k));
        }
    });
    let mut out = Vec::with_capacity(candidates.len());
    for key in candidates {
        if let Some(wanted) = type_filter {
            // A key the lookup found expired (and deleted) is skipped whatever the filter. Redis
            // 7.0 compares its type as "none" and so returns it for `TYPE none`; Mayfly never
            // returns an expired key.
            let Some(entry) = lookup_read_notouch(ctx, &key) else {
                continue;
            };
            if !wanted.eq_ignore_ascii_case(entry.value.value_type().name().as_bytes()) {
                continue;
            }
        }
        if ctx.expire_if_needed(&key) {
            continue;
        }
        out.push(key);
    }
    (next, out)
}

/// SCAN on one shard: the reply is `[next-cursor, [keys…]]` as in Redis.
fn scan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let args = match parse_scan_args(argv) {
        Ok(args) => args,
        Err(reply) => return reply,
    };
    let (next, keys) = scan_shard(
        ctx,
        args.cursor,
        args.pattern.as_deref(),
        args.count,
        args.type_name.as_deref(),
    );
    Reply::Array(vec![Reply::bulk_str(&next.to_string()), Reply::bulks(keys)])
}

/// Random picks RANDOMKEY tries before falling back to a bounded scan; each expired pick is
/// deleted, so the tries also clean up.
const RANDOMKEY_TRIES: usize = 100;
/// Entries, and table scan calls, the fallback scan may use.
const RANDOMKEY_SCAN_BUDGET: usize = 1024;
const RANDOMKEY_SCAN_STEPS: usize = 64;

/// A random live key of this shard's selected database, or None. Redis loops until it finds a
/// live key; a shard thread must not, so after a bounded number of expired picks it scans a
/// bounded window from a random position instead.
pub fn random_key(ctx: &mut Ctx<'_>) -> Option<Bytes> {
    let now = ctx.now_ms;
    let db = ctx.db;
    for _ in 0..RANDOMKEY_TRIES {
        let pick = {
            let shard = &mut *ctx.shard;
            shard.dbs[db]
                .table
                .random(&mut shard.rng)
                .map(|(k, e)| (Bytes::copy_from_slice(k), e.is_expired(now)))
        };
        match pick {
            None => return None,
            Some((key, false)) => return Some(key),
            Some((key, true)) => {
                ctx.expire_if_needed(&key);
            }
        }
    }
    let mut cursor = ctx.shard.rng.gen_range(0..1u64 << CURSOR_BITS);
    let mut visited = 0;
    let mut expired: Vec<Bytes> = Vec::new();
    let mut live = None;
    let mut steps = 0;
    while live.is_none() && visited < RANDOMKEY_SCAN_BUDGET && steps < RANDOMKEY_SCAN_STEPS {
        steps += 1;
        cursor = ctx.shard.dbs[db].table.scan(cursor, 64, |k, e| {
            visited += 1;
            if e.is_expired(now) {
                expired.push(Bytes::copy_from_slice(k));
            } else if live.is_none() {
                live = Some(Bytes::copy_from_slice(k));
            }
        });
        if cursor == 0 && live.is_none() && visited >= ctx.shard.dbs[db].len() {
            break;
        }
    }
    for key in expired {
        ctx.expire_if_needed(&key);
    }
    live
}

fn randomkey(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::opt_bulk(random_key(ctx))
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

const LFU_NOT_SELECTED_ERR: &str = "ERR An LFU maxmemory policy is not selected, access \
     frequency not tracked. Please note that when switching between policies at runtime LRU \
     and LFU data will take some time to adjust.";
const LFU_SELECTED_ERR: &str = "ERR An LFU maxmemory policy is selected, idle time not \
     tracked. Please note that when switching between policies at runtime LRU and LFU data \
     will take some time to adjust.";
/// S3-FIFO keeps a 2-bit access count and queue bits in the field LRU uses, no access time.
const S3FIFO_SELECTED_ERR: &str = "ERR The allkeys-s3fifo maxmemory policy is selected, idle \
     time not tracked. OBJECT FREQ reports its access count (0-3).";

/// Redis's reference count for shared small integers (`OBJ_SHARED_REFCOUNT`).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;
/// Redis shares the integers 0..OBJ_SHARED_INTEGERS.
const SHARED_INTEGERS: i64 = 10_000;
const LRU_CLOCK_MAX: u64 = (1 << 24) - 1;

/// The reference count Redis reports for a value (OBJECT REFCOUNT, DEBUG OBJECT): shared
/// small integers have `OBJ_SHARED_REFCOUNT`, everything else 1.
pub fn object_refcount(value: &Value, config: &Config) -> i64 {
    match value {
        Value::Str(StrValue::Int(n))
            if shares_integers(config) && (0..SHARED_INTEGERS).contains(n) =>
        {
            SHARED_REFCOUNT
        }
        _ => 1,
    }
}

/// Redis stops sharing integers when LRU/LFU eviction needs a per-object access field.
fn shares_integers(config: &Config) -> bool {
    let per_object_policy = matches!(
        config.maxmemory_policy,
        EvictionPolicy::AllKeysLru
            | EvictionPolicy::VolatileLru
            | EvictionPolicy::AllKeysLfu
            | EvictionPolicy::VolatileLfu
    );
    config.maxmemory == 0 || !per_object_policy
}

/// Redis's `estimateObjectIdleTime`: the 24-bit seconds clock wraps about every 194 days.
fn idle_time_ms(entry_lru: u32, now_ms: u64) -> u64 {
    let clock = (now_ms / 1000) & LRU_CLOCK_MAX;
    let lru = u64::from(entry_lru) & LRU_CLOCK_MAX;
    let idle_s = if clock >= lru { clock - lru } else { clock + (LRU_CLOCK_MAX - lru) };
    idle_s * 1000
}

/// Redis's `LFUDecrAndReturn`: the 8-bit counter, decayed by the minutes elapsed since the
/// 16-bit access time packed above it.
fn lfu_counter(entry_lru: u32, now_ms: u64, decay_time_min: u64) -> u64 {
    let last_access_min = u64::from(entry_lru >> 8) & 0xffff;
    let counter = u64::from(entry_lru & 0xff);
    let now_min = (now_ms / 1000 / 60) & 0xffff;
    let elapsed_min = if now_min >= last_access_min {
        now_min - last_access_min
    } else {
        0xffff - last_access_min + now_min
    };
    let periods = elapsed_min.checked_div(decay_time_min).unwrap_or(0);
    counter.saturating_sub(periods)
}

/// OBJECT ENCODING|REFCOUNT|IDLETIME|FREQ key, OBJECT HELP. The key is looked up without
/// touching its access time, or OBJECT IDLETIME could only ever answer 0.
fn object(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let sub = argv[1].to_ascii_lowercase();
    let Some(spec) = OBJECT_SUBCOMMANDS.iter().find(|s| s.name.as_bytes() == sub.as_slice()) else {
        let name =
            String::from_utf8_lossy(&argv[1][..argv[1].len().min(128)]).replace(['\r', '\n'], " ");
        return Reply::error(format!("ERR unknown subcommand '{name}'. Try OBJECT HELP."));
    };
    if argv.len() as i64 != i64::from(spec.arity) {
        return OpError::WrongArity(format!("object|{}", spec.name)).into();
    }
    if spec.name == "help" {
        return Reply::Array(OBJECT_HELP.iter().map(|l| Reply::status(*l)).collect());
    }
    let lfu = ctx.config().maxmemory_policy.is_lfu();
    let s3fifo = ctx.config().maxmemory_policy == EvictionPolicy::AllKeysS3Fifo;
    let decay_time_min = ctx.config().lfu_decay_time;
    let shares = shares_integers(ctx.config());
    let now = ctx.now_ms;
    let Some(entry) = lookup_read_notouch(ctx, &argv[2]) else {
        return Reply::Nil;
    };
    match spec.name {
        "encoding" => Reply::bulk_str(entry.value.encoding()),
        "refcount" => match entry.value {
            Value::Str(StrValue::Int(n)) if shares && (0..SHARED_INTEGERS).contains(&n) => {
                Reply::Int(SHARED_REFCOUNT)
            }
            _ => Reply::Int(1),
        },
        "idletime" if lfu => Reply::error(LFU_SELECTED_ERR),
        "idletime" if s3fifo => Reply::error(S3FIFO_SELECTED_ERR),
        "freq" if s3fifo => Reply::Int(crate::evict::s3fifo_freq(entry.lru) as i64),
        "idletime" => Reply::Int((idle_time_ms(entry.lru, now) / 1000) as i64),
        "freq" if !lfu => Reply::error(LFU_NOT_SELECTED_ERR),
        "freq" => Reply::Int(lfu_counter(entry.lru, now, decay_time_min) as i64),
        _ => OpError::Syntax.into(),
    }
}

/// Counts keys whose expiry has passed but that no lookup or active cycle has removed yet,
/// exactly as Redis's DBSIZE does.
fn dbsize(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::Int(ctx.shard.dbs[ctx.db].len() as i64)
}

/// `[ASYNC|SYNC]`: both free synchronously here; the reply and the result are the same.
fn parse_flush_mode(argv: &[Bytes]) -> Result<(), Reply> {
    match argv.len() {
        1 => Ok(()),
        2 if argv[1].eq_ignore_ascii_case(b"sync") || argv[1].eq_ignore_ascii_case(b"async") => {
            Ok(())
        }
        _ => Err(OpError::Syntax.into()),
    }
}

fn flushdb(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if let Err(reply) = parse_flush_mode(argv) {
        return reply;
    }
    // Journaled by the shard as FLUSHDB, even when the database was empty (as Redis forces).
    ctx.prevent_propagation();
    ctx.shard.flush_db(ctx.db);
    Reply::ok()
}

fn flushall(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if let Err(reply) = parse_flush_mode(argv) {
        return reply;
    }
    ctx.prevent_propagation();
    ctx.shard.flush_all();
    Reply::ok()
}

fn swapdb(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let first = match parse_db_index(ctx, &argv[1], IntError::Custom("ERR invalid first DB index"))
    {
        Ok(db) => db,
        Err(reply) => return reply,
    };
    let second =
        match parse_db_index(ctx, &argv[2], IntError::Custom("ERR invalid second DB index")) {
            Ok(db) => db,
            Err(reply) => return reply,
        };
    ctx.prevent_propagation();
    ctx.shard.swap_dbs(first, second);
    Reply::ok()
}
