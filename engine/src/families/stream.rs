//! Stream commands: XADD XRANGE XREVRANGE XLEN XDEL XTRIM XSETID XREAD XREADGROUP XGROUP XACK
//! XPENDING XCLAIM XAUTOCLAIM XINFO, with Redis 7.0.15's replies, errors and order of checks.
//!
//! The order of argument checks, key lookups and side effects follows `t_stream.c`, because it
//! is observable: e.g. XACK answers 0 for a missing key before it parses its ids, XDEL looks the
//! key up first, XCLAIM parses ids until one fails and reads the rest as options.
//!
//! Blocking: XREAD/XREADGROUP with BLOCK answer what they answer without it when data is
//! there; otherwise the null array (what Redis answers inside MULTI). The net layer then parks
//! the client: [`blocking_argv`] rewrites the command for the retries (`$` resolved to the ids
//! of the moment it blocked, Redis's default COUNT for served waiters) and
//! [`serve_blocked`] answers one parked client when one of its keys changed, with Redis's
//! errors for a destroyed group or a deleted key. NOTES-streams.md describes the protocol.

use bytes::Bytes;

use crate::command::{cmd, flags::*, CommandSpec, Handler, MultiShard, SubcommandSpec};
use crate::db::Entry;
use crate::error::{OpError, OpResult};
use crate::notify::class;
use crate::reply::Reply;
use crate::shard::Ctx;
use crate::types::list::Elem;
use crate::types::stream::{
    parse_id, AppendError, ClaimCount, EntryRef, IdRequest, IdSyntax, NodeLimits, Stream, StreamId,
    Trim, TrimStrategy, ENTRIES_READ_INVALID,
};
use crate::value::{parse_i64_strict, Value};

const G: &str = "stream";
const ONE: (i32, i32, i32) = (1, 1, 1);
/// XGROUP/XINFO subcommands name their key at argv[2] (HELP has none: argc 2).
const SUB_KEY: (i32, i32, i32) = (2, 2, 1);

/// Count a blocked XREAD/XREADGROUP is served with when it gave none (Redis's
/// `XREAD_BLOCKED_DEFAULT_COUNT`).
pub const BLOCKED_DEFAULT_COUNT: u64 = 1000;
/// XAUTOCLAIM allocates `COUNT` ids up front in Redis; past this many the allocation (16 bytes
/// each) exceeds a 64-bit process's address space and Redis answers an out-of-memory error.
const AUTOCLAIM_MAX_ALLOCATABLE_COUNT: i64 = 1 << 43;

pub static COMMANDS: &[CommandSpec] = &[
    cmd(
        "xadd",
        -5,
        WRITE | DENYOOM | FAST,
        ONE,
        G,
        "5.0.0",
        "Appends a new entry to a stream",
        Handler::Shard(xadd),
    ),
    cmd(
        "xrange",
        -4,
        READONLY,
        ONE,
        G,
        "5.0.0",
        "Return a range of elements in a stream, with IDs matching the specified IDs interval",
        Handler::Shard(xrange),
    ),
    cmd(
        "xrevrange",
        -4,
        READONLY,
        ONE,
        G,
        "5.0.0",
        "Return a range of elements in a stream, with IDs matching the specified IDs interval, \
         in reverse order (from greater to smaller IDs) compared to XRANGE",
        Handler::Shard(xrevrange),
    ),
    cmd(
        "xlen",
        2,
        READONLY | FAST,
        ONE,
        G,
        "5.0.0",
        "Return the number of entries in a stream",
        Handler::Shard(xlen),
    ),
    cmd(
        "xdel",
        -3,
        WRITE | FAST,
        ONE,
        G,
        "5.0.0",
        "Removes the specified entries from the stream. Returns the number of items actually \
         deleted, that may be different from the number of IDs passed in case certain IDs do \
         not exist.",
        Handler::Shard(xdel),
    ),
    cmd(
        "xtrim",
        -4,
        WRITE,
        ONE,
        G,
        "5.0.0",
        "Trims the stream to (approximately if '~' is passed) a certain size",
        Handler::Shard(xtrim),
    ),
    cmd(
        "xsetid",
        -3,
        WRITE | DENYOOM | FAST,
        ONE,
        G,
        "5.0.0",
        "An internal command for replicating stream values",
        Handler::Shard(xsetid),
    ),
    cmd(
        "xread",
        -4,
        READONLY | BLOCKING,
        (0, 0, 0),
        G,
        "5.0.0",
        "Return never seen elements in multiple streams, with IDs greater than the ones \
         reported by the caller for each stream. Can block.",
        Handler::Shard(xread),
    )
    .multi(MultiShard::Gather)
    .movable_keys(xread_keys),
    cmd(
        "xreadgroup",
        -7,
        WRITE | BLOCKING,
        (0, 0, 0),
        G,
        "5.0.0",
        "Return new entries from a stream using a consumer group, or access the history of the \
         pending entries for a given consumer. Can block.",
        Handler::Shard(xreadgroup),
    )
    .multi(MultiShard::Gather)
    .movable_keys(xreadgroup_keys),
    cmd(
        "xgroup",
        -2,
        0,
        SUB_KEY,
        G,
        "5.0.0",
        "A container for consumer groups commands",
        Handler::Shard(xgroup),
    )
    .subcommands(XGROUP_SUBCOMMANDS),
    cmd(
        "xack",
        -4,
        WRITE | FAST,
        ONE,
        G,
        "5.0.0",
        "Marks a pending message as correctly processed, effectively removing it from the \
         pending entries list of the consumer group. Return value of the command is the number \
         of messages successfully acknowledged, that is, the IDs we were actually able to \
         resolve in the PEL.",
        Handler::Shard(xack),
    ),
    cmd(
        "xpending",
        -3,
        READONLY,
        ONE,
        G,
        "5.0.0",
        "Return information and entries from a stream consumer group pending entries list, \
         that are messages fetched but never acknowledged.",
        Handler::Shard(xpending),
    ),
    cmd(
        "xclaim",
        -6,
        WRITE | FAST,
        ONE,
        G,
        "5.0.0",
        "Changes (or acquires) ownership of a message in a consumer group, as if the message \
         was delivered to the specified consumer.",
        Handler::Shard(xclaim),
    ),
    cmd(
        "xautoclaim",
        -6,
        WRITE | FAST,
        ONE,
        G,
        "6.2.0",
        "Changes (or acquires) ownership of messages in a consumer group, as if the messages \
         were delivered to the specified consumer.",
        Handler::Shard(xautoclaim),
    ),
    cmd(
        "xinfo",
        -2,
        0,
        SUB_KEY,
        G,
        "5.0.0",
        "A container for stream introspection commands",
        Handler::Shard(xinfo),
    )
    .subcommands(XINFO_SUBCOMMANDS),
];

static XGROUP_SUBCOMMANDS: &[SubcommandSpec] = &[
    SubcommandSpec {
        name: "create",
        arity: -5,
        flags: WRITE | DENYOOM,
        summary: "Create a consumer group.",
    },
    SubcommandSpec {
        name: "createconsumer",
        arity: 5,
        flags: WRITE | DENYOOM,
        summary: "Create a consumer in a consumer group.",
    },
    SubcommandSpec {
        name: "delconsumer",
        arity: 5,
        flags: WRITE,
        summary: "Delete a consumer from a consumer group.",
    },
    SubcommandSpec {
        name: "destroy",
        arity: 4,
        flags: WRITE,
        summary: "Destroy a consumer group.",
    },
    SubcommandSpec {
        name: "help",
        arity: 2,
        flags: LOADING | STALE,
        summary: "Show helpful text about the different subcommands",
    },
    SubcommandSpec {
        name: "setid",
        arity: -5,
        flags: WRITE,
        summary: "Set a consumer group to an arbitrary last delivered ID value.",
    },
];

static XINFO_SUBCOMMANDS: &[SubcommandSpec] = &[
    SubcommandSpec {
        name: "consumers",
        arity: 4,
        flags: READONLY,
        summary: "List the consumers in a consumer group",
    },
    SubcommandSpec {
        name: "groups",
        arity: 3,
        flags: READONLY,
        summary: "List the consumer groups of a stream",
    },
    SubcommandSpec {
        name: "help",
        arity: 2,
        flags: LOADING | STALE,
        summary: "Show helpful text about the different subcommands",
    },
    SubcommandSpec {
        name: "stream",
        arity: -3,
        flags: READONLY,
        summary: "Get information about a stream",
    },
];

const XGROUP_HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
];

const XINFO_HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
];

// ---- key positions -----------------------------------------------------------------------

/// Keys of XREAD/XREADGROUP: half of the arguments after the first `STREAMS` found from
/// `from` on (Redis's keyword key spec).
fn streams_keys(argv: &[Bytes], from: usize) -> Vec<usize> {
    let Some(at) = (from..argv.len()).find(|&i| argv[i].eq_ignore_ascii_case(b"streams")) else {
        return Vec::new();
    };
    let first = at + 1;
    let n = (argv.len() - first) / 2;
    (first..first + n).collect()
}

fn xread_keys(argv: &[Bytes]) -> Vec<usize> {
    streams_keys(argv, 1)
}

fn xreadgroup_keys(argv: &[Bytes]) -> Vec<usize> {
    streams_keys(argv, 4)
}

// ---- shared helpers ----------------------------------------------------------------------

fn invalid_id() -> OpError {
    OpError::other("ERR Invalid stream ID specified as stream command argument")
}

const STRICT: IdSyntax = IdSyntax { missing_seq: 0, strict: true, ms_star: false };
const LOOSE: IdSyntax = IdSyntax { missing_seq: 0, strict: false, ms_star: false };

fn parse_strict(arg: &[u8]) -> OpResult<StreamId> {
    parse_id(arg, STRICT).map(|p| p.id).ok_or_else(invalid_id)
}

/// `streamParseIntervalIDOrReply`: a `(` prefix makes the bound exclusive (and strict).
fn parse_interval(arg: &[u8], missing_seq: u64) -> OpResult<(StreamId, bool)> {
    if arg.len() > 1 && arg[0] == b'(' {
        let syntax = IdSyntax { missing_seq, ..STRICT };
        return parse_id(&arg[1..], syntax).map(|p| (p.id, true)).ok_or_else(invalid_id);
    }
    let syntax = IdSyntax { missing_seq, ..LOOSE };
    parse_id(arg, syntax).map(|p| (p.id, false)).ok_or_else(invalid_id)
}

/// Start and end of a range from their arguments, exclusive bounds stepped inwards.
fn parse_range_bounds(start: &[u8], end: &[u8]) -> OpResult<(StreamId, StreamId)> {
    let (mut s, s_ex) = parse_interval(start, 0)?;
    if s_ex {
        s = s.incr().ok_or_else(|| OpError::other("ERR invalid start ID for the interval"))?;
    }
    let (mut e, e_ex) = parse_interval(end, u64::MAX)?;
    if e_ex {
        e = e.decr().ok_or_else(|| OpError::other("ERR invalid end ID for the interval"))?;
    }
    Ok((s, e))
}

fn parse_ll(arg: &[u8]) -> OpResult<i64> {
    parse_i64_strict(arg).ok_or(OpError::NotInteger)
}

/// `getLongLongFromObjectOrReply` with a custom message.
fn parse_ll_msg(arg: &[u8], msg: &'static str) -> OpResult<i64> {
    parse_i64_strict(arg).ok_or_else(|| OpError::other(msg))
}

/// An argument as C's `%s` prints it: up to the first NUL.
fn cstr(b: &[u8]) -> String {
    let end = memchr::memchr(0, b).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// C's `strcmp(arg, lit) == 0`.
fn c_eq(arg: &[u8], lit: &[u8]) -> bool {
    let end = memchr::memchr(0, arg).unwrap_or(arg.len());
    &arg[..end] == lit
}

fn subcommand_syntax_error(argv: &[Bytes]) -> Reply {
    let sub = argv.get(1).map(|s| cstr(&s[..s.len().min(128)])).unwrap_or_default();
    let name = argv.first().map(|s| cstr(s).to_ascii_uppercase()).unwrap_or_default();
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {name} HELP."
    ))
}

fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(id.to_bytes())
}

/// Builds a list of entry replies whose strings all live in one buffer, so a reply of n
/// entries costs one allocation for its bytes instead of one per id, field and value.
#[derive(Default)]
struct Entries {
    bytes: Vec<u8>,
    /// (start, end) of each string in `bytes`.
    spans: Vec<(usize, usize)>,
    items: Vec<Item>,
}

enum Item {
    /// `[id, [field, value, …]]`: the id's span index and how many spans follow.
    Entry(usize, usize),
    /// `[id, nil]`: an entry that no longer exists (XREADGROUP history).
    Missing(usize),
    /// A bare id (JUSTID).
    Id(usize),
}

impl Entries {
    fn span(&mut self, f: impl FnOnce(&mut Vec<u8>)) -> usize {
        let start = self.bytes.len();
        f(&mut self.bytes);
        self.spans.push((start, self.bytes.len()));
        self.spans.len() - 1
    }

    fn elem(&mut self, e: Elem<'_>) {
        self.span(|out| match e {
            Elem::Str(s) => out.extend_from_slice(s),
            Elem::Int(v) => out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
        });
    }

    fn entry(&mut self, e: &EntryRef<'_>) {
        let at = self.span(|out| e.id.write_to(out));
        for (f, v) in e.fields() {
            self.elem(f);
            self.elem(v);
        }
        self.items.push(Item::Entry(at, self.spans.len() - at - 1));
    }

    fn missing(&mut self, id: StreamId) {
        let at = self.span(|out| id.write_to(out));
        self.items.push(Item::Missing(at));
    }

    fn id(&mut self, id: StreamId) {
        let at = self.span(|out| id.write_to(out));
        self.items.push(Item::Id(at));
    }

    fn into_replies(self) -> Vec<Reply> {
        let all = Bytes::from(self.bytes);
        let spans = self.spans;
        let bulk = |i: usize| Reply::Bulk(all.slice(spans[i].0..spans[i].1));
        self.items
            .into_iter()
            .map(|item| match item {
                Item::Entry(at, n) => Reply::Array(vec![
                    bulk(at),
                    Reply::Array((at + 1..at + 1 + n).map(&bulk).collect()),
                ]),
                Item::Missing(at) => Reply::Array(vec![bulk(at), Reply::NilArray]),
                Item::Id(at) => bulk(at),
            })
            .collect()
    }

    fn into_reply(self) -> Reply {
        Reply::Array(self.into_replies())
    }
}

/// `[id, [field, value, …]]`.
fn entry_reply(e: &EntryRef<'_>) -> Reply {
    let mut out = Entries::default();
    out.entry(e);
    out.into_replies().pop().unwrap_or(Reply::NilArray)
}

fn limits(ctx: &Ctx<'_>) -> NodeLimits {
    let c = ctx.config();
    NodeLimits { max_bytes: c.stream_node_max_bytes, max_entries: c.stream_node_max_entries }
}

fn now(ctx: &Ctx<'_>) -> i64 {
    ctx.now_ms as i64
}

fn as_stream(e: &mut Entry) -> OpResult<&mut Stream> {
    match &mut e.value {
        Value::Stream(s) => Ok(s),
        _ => Err(OpError::WrongType),
    }
}

/// The stream at `key` for reading (counts a hit or miss).
fn stream_read<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> OpResult<Option<&'c mut Stream>> {
    match ctx.lookup_read(key) {
        None => Ok(None),
        Some(e) => as_stream(e).map(Some),
    }
}

/// The stream at `key` for writing.
fn stream_write<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> OpResult<Option<&'c mut Stream>> {
    match ctx.lookup_write(key) {
        None => Ok(None),
        Some(e) => as_stream(e).map(Some),
    }
}

/// The stream at `key` without stats or LRU (after a lookup in the same command).
fn stream_again<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Option<&'c mut Stream> {
    match ctx.db().table.get_mut(key) {
        Some(Entry { value: Value::Stream(s), .. }) => Some(s),
        _ => None,
    }
}

/// Records `changes` writes to `key` (Redis's `server.dirty += changes`): the key is noted once
/// for WATCH, gathers and blocked clients.
fn dirty(ctx: &mut Ctx<'_>, key: &[u8], changes: u64) {
    if changes > 0 {
        ctx.note_write(key);
        ctx.shard.dirty += changes - 1;
    }
}

// ---- XADD / XTRIM ------------------------------------------------------------------------

struct AddTrimArgs {
    id: Option<(StreamId, bool)>,
    no_mkstream: bool,
    trim: Option<Trim>,
    /// Index of the id argument (XADD).
    id_pos: usize,
}

/// `streamParseAddOrTrimArgsOrReply`.
fn parse_add_trim(ctx: &Ctx<'_>, argv: &[Bytes], xadd: bool) -> OpResult<AddTrimArgs> {
    let both = || {
        OpError::other(
            "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
        )
    };
    let argc = argv.len();
    let mut strategy: Option<TrimStrategy> = None;
    let mut approx = false;
    let mut limit: i64 = 0;
    let mut limit_given = false;
    let mut no_mkstream = false;
    let mut id = None;
    let mut i = 2;
    while i < argc {
        let moreargs = argc - 1 - i;
        let opt = &argv[i];
        if xadd && c_eq(opt, b"*") {
            break;
        } else if opt.eq_ignore_ascii_case(b"maxlen") && moreargs > 0 {
            if strategy.is_some() {
                return Err(both());
            }
            approx = false;
            let next = &argv[i + 1];
            if moreargs >= 2 && c_eq(next, b"~") {
                approx = true;
                i += 1;
            } else if moreargs >= 2 && c_eq(next, b"=") {
                i += 1;
            }
            let maxlen = parse_ll(&argv[i + 1])?;
            if maxlen < 0 {
                return Err(OpError::other("ERR The MAXLEN argument must be >= 0."));
            }
            i += 1;
            strategy = Some(TrimStrategy::MaxLen(maxlen as u64));
        } else if opt.eq_ignore_ascii_case(b"minid") && moreargs > 0 {
            if strategy.is_some() {
                return Err(both());
            }
            approx = false;
            let next = &argv[i + 1];
            if moreargs >= 2 && c_eq(next, b"~") {
                approx = true;
                i += 1;
            } else if moreargs >= 2 && c_eq(next, b"=") {
                i += 1;
            }
            let minid = parse_strict(&argv[i + 1])?;
            i += 1;
            strategy = Some(TrimStrategy::MinId(minid));
        } else if opt.eq_ignore_ascii_case(b"limit") && moreargs > 0 {
            limit = parse_ll(&argv[i + 1])?;
            if limit < 0 {
                return Err(OpError::other("ERR The LIMIT argument must be >= 0."));
            }
            limit_given = true;
            i += 1;
        } else if xadd && opt.eq_ignore_ascii_case(b"nomkstream") {
            no_mkstream = true;
        } else if xadd {
            let syntax = IdSyntax { missing_seq: 0, strict: true, ms_star: true };
            let p = parse_id(opt, syntax).ok_or_else(invalid_id)?;
            id = Some((p.id, p.seq_given));
            break;
        } else {
            return Err(OpError::Syntax);
        }
        i += 1;
    }
    if limit != 0 && strategy.is_none() {
        return Err(OpError::other(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && strategy.is_none() {
        return Err(OpError::other(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given {
        if !approx {
            return Err(OpError::other(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if approx {
        // At most 100 nodes' worth of entries per call, as Redis caps it.
        let entries = ctx.config().stream_node_max_entries;
        limit = i64::try_from(entries.saturating_mul(100)).unwrap_or(i64::MAX);
        if limit <= 0 {
            limit = 10_000;
        }
        limit = limit.min(1_000_000);
    } else {
        limit = 0;
    }
    let trim = strategy.map(|strategy| Trim { strategy, approx, limit: limit as u64 });
    Ok(AddTrimArgs { id, no_mkstream, trim, id_pos: i })
}

fn xadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    xadd_generic(ctx, argv).into()
}

fn xadd_generic(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let args = parse_add_trim(ctx, argv, true)?;
    let field_pos = args.id_pos as i64 + 1;
    let nargs = argv.len() as i64 - field_pos;
    if nargs < 2 || nargs % 2 == 1 {
        return Err(OpError::WrongArity("xadd".into()));
    }
    if let Some((id, true)) = args.id {
        if id.is_zero() {
            return Err(OpError::other("ERR The ID specified in XADD must be greater than 0-0"));
        }
    }
    let req = match args.id {
        None => IdRequest::Auto,
        Some((id, true)) => IdRequest::Exact(id),
        Some((id, false)) => IdRequest::Ms(id.ms),
    };
    let pairs = &argv[field_pos as usize..];
    let key = &argv[1];
    let node_limits = limits(ctx);
    let now_ms = ctx.now_ms;
    let add = |s: &mut Stream| -> OpResult<(StreamId, u64)> {
        if s.last_id() == StreamId::MAX {
            return Err(OpError::other(
                "ERR The stream has exhausted the last possible ID, unable to add more items",
            ));
        }
        match s.append(req, pairs, node_limits, now_ms) {
            Ok(id) => Ok((id, args.trim.map_or(0, |t| s.trim(t)))),
            Err(AppendError::IdTooSmall) => Err(OpError::other(
                "ERR The ID specified in XADD is equal or smaller than the target stream top item",
            )),
            Err(AppendError::TooLarge) => {
                Err(OpError::other("ERR Elements are too large to be stored"))
            }
        }
    };
    // One lookup for the common case, an existing stream.
    let (id, trimmed) = match ctx.lookup_write(key) {
        Some(e) => {
            let added = add(as_stream(e)?)?;
            ctx.note_write(key);
            added
        }
        None if args.no_mkstream => return Ok(Reply::Nil),
        None => {
            let mut fresh = Stream::new();
            let outcome = add(&mut fresh);
            // Redis creates the key before appending, so it stays even when the append fails.
            ctx.set_value(key, Value::Stream(Box::new(fresh)), 0);
            if outcome.is_err() {
                ctx.shard.dirty -= 1;
            }
            outcome?
        }
    };
    ctx.notify(class::STREAM, "xadd", key);
    if trimmed > 0 {
        ctx.notify(class::STREAM, "xtrim", key);
    }
    Ok(id_reply(id))
}

fn xtrim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    (|| {
        let args = parse_add_trim(ctx, argv, false)?;
        let key = &argv[1];
        let Some(s) = stream_write(ctx, key)? else { return Ok(Reply::Int(0)) };
        let Some(t) = args.trim else { return Ok(Reply::Int(0)) };
        let deleted = s.trim(t);
        if deleted > 0 {
            ctx.notify(class::STREAM, "xtrim", key);
            dirty(ctx, key, deleted);
        }
        Ok(Reply::Int(deleted as i64))
    })()
    .into()
}

// ---- XRANGE / XREVRANGE / XLEN / XDEL / XSETID -------------------------------------------

fn xrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    range_generic(ctx, argv, false).into()
}

fn xrevrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    range_generic(ctx, argv, true).into()
}

fn range_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], rev: bool) -> OpResult<Reply> {
    let (start_arg, end_arg) = if rev { (&argv[3], &argv[2]) } else { (&argv[2], &argv[3]) };
    let (start, end) = parse_range_bounds(start_arg, end_arg)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        let additional = argv.len() - j - 1;
        if argv[j].eq_ignore_ascii_case(b"count") && additional >= 1 {
            count = parse_ll(&argv[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(OpError::Syntax);
        }
        j += 1;
    }
    let Some(s) = stream_read(ctx, &argv[1])? else { return Ok(Reply::Array(Vec::new())) };
    if count == 0 {
        return Ok(Reply::NilArray);
    }
    let limit = if count < 0 { usize::MAX } else { count as usize };
    let mut out = Entries::default();
    for e in s.range(start, end, rev).take(limit) {
        out.entry(&e);
    }
    Ok(out.into_reply())
}

fn xlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    stream_read(ctx, &argv[1]).map(|s| s.map_or(0, |s| s.len() as i64)).into()
}

fn xdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    (|| {
        let key = &argv[1];
        if stream_write(ctx, key)?.is_none() {
            return Ok(Reply::Int(0));
        }
        let ids = argv[2..].iter().map(|a| parse_strict(a)).collect::<OpResult<Vec<_>>>()?;
        let Some(s) = stream_again(ctx, key) else { return Ok(Reply::Int(0)) };
        let deleted = s.delete(&ids);
        if deleted > 0 {
            ctx.notify(class::STREAM, "xdel", key);
            dirty(ctx, key, deleted);
        }
        Ok(Reply::Int(deleted as i64))
    })()
    .into()
}

fn xsetid(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    (|| {
        let id = parse_strict(&argv[2])?;
        let mut entries_added: i64 = -1;
        let mut max_deleted = StreamId::MIN;
        let mut i = 3;
        while i < argv.len() {
            let moreargs = argv.len() - 1 - i;
            let opt = &argv[i];
            if opt.eq_ignore_ascii_case(b"entriesadded") && moreargs > 0 {
                entries_added = parse_ll(&argv[i + 1])?;
                if entries_added < 0 {
                    return Err(OpError::other("ERR entries_added must be positive"));
                }
                i += 2;
            } else if opt.eq_ignore_ascii_case(b"maxdeletedid") && moreargs > 0 {
                max_deleted = parse_strict(&argv[i + 1])?;
                if id < max_deleted {
                    return Err(OpError::other(
                        "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                    ));
                }
                i += 2;
            } else {
                return Err(OpError::Syntax);
            }
        }
        let key = &argv[1];
        let s = stream_write(ctx, key)?.ok_or(OpError::NoSuchKey)?;
        if !s.is_empty() {
            if id < s.last_valid_id() {
                return Err(OpError::other(
                    "ERR The ID specified in XSETID is smaller than the target stream top item",
                ));
            }
            if entries_added != -1 && s.len() > entries_added as u64 {
                return Err(OpError::other(
                    "ERR The entries_added specified in XSETID is smaller than the target stream length",
                ));
            }
        }
        s.set_id(id, (entries_added != -1).then_some(entries_added as u64), max_deleted);
        ctx.note_write(key);
        ctx.notify(class::STREAM, "xsetid", key);
        Ok(Reply::ok())
    })()
    .into()
}

// ---- XREAD / XREADGROUP ------------------------------------------------------------------

fn xread(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    xread_generic(ctx, argv, false).into()
}

fn xreadgroup(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    xread_generic(ctx, argv, true).into()
}

/// The parsed options of an XREAD/XREADGROUP.
struct ReadArgs {
    timeout_ms: Option<i64>,
    count: i64,
    /// Index of the first key; `streams` keys follow, then as many ids.
    streams_at: usize,
    streams: usize,
    /// Index of the COUNT value, when given.
    count_at: Option<usize>,
    group: Option<(Bytes, Bytes)>,
    noack: bool,
}

fn parse_read_args(argv: &[Bytes], xreadgroup: bool) -> OpResult<ReadArgs> {
    let argc = argv.len();
    let mut a = ReadArgs {
        timeout_ms: None,
        count: 0,
        streams_at: 0,
        streams: 0,
        count_at: None,
        group: None,
        noack: false,
    };
    let mut i = 1;
    while i < argc {
        let moreargs = argc - i - 1;
        let o = &argv[i];
        if o.eq_ignore_ascii_case(b"block") && moreargs > 0 {
            i += 1;
            let t = parse_ll_msg(&argv[i], "ERR timeout is not an integer or out of range")?;
            if t < 0 {
                return Err(OpError::other("ERR timeout is negative"));
            }
            a.timeout_ms = Some(t);
        } else if o.eq_ignore_ascii_case(b"count") && moreargs > 0 {
            i += 1;
            a.count = parse_ll(&argv[i])?.max(0);
            a.count_at = Some(i);
        } else if o.eq_ignore_ascii_case(b"streams") && moreargs > 0 {
            a.streams_at = i + 1;
            let n = argc - a.streams_at;
            if !n.is_multiple_of(2) {
                return Err(OpError::other(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            a.streams = n / 2;
            break;
        } else if o.eq_ignore_ascii_case(b"group") && moreargs >= 2 {
            if !xreadgroup {
                return Err(OpError::other(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            a.group = Some((argv[i + 1].clone(), argv[i + 2].clone()));
            i += 2;
        } else if o.eq_ignore_ascii_case(b"noack") {
            if !xreadgroup {
                return Err(OpError::other(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            a.noack = true;
        } else {
            return Err(OpError::Syntax);
        }
        i += 1;
    }
    if a.streams_at == 0 {
        return Err(OpError::Syntax);
    }
    if xreadgroup && a.group.is_none() {
        return Err(OpError::other("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(a)
}

fn nogroup_read(key: &[u8], group: &[u8]) -> OpError {
    OpError::other(format!(
        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
        cstr(key),
        cstr(group)
    ))
}

/// Resolves the id arguments after checking each key (type, group), in Redis's order.
fn resolve_read_ids(ctx: &mut Ctx<'_>, argv: &[Bytes], a: &ReadArgs) -> OpResult<Vec<StreamId>> {
    let xreadgroup = a.group.is_some();
    let mut ids = Vec::with_capacity(a.streams);
    for idx in 0..a.streams {
        let key = &argv[a.streams_at + idx];
        let arg = &argv[a.streams_at + a.streams + idx];
        let s = stream_read(ctx, key)?;
        if let Some((group, _)) = &a.group {
            if s.as_ref().is_none_or(|s| s.group(group).is_none()) {
                return Err(nogroup_read(key, group));
            }
        }
        if c_eq(arg, b"$") {
            if xreadgroup {
                return Err(OpError::other(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read \
                     the history of this consumer by specifying a proper ID, or use the > ID to \
                     get new messages. The $ ID would just return an empty result set.",
                ));
            }
            ids.push(s.map_or(StreamId::MIN, |s| s.last_id()));
            continue;
        }
        if c_eq(arg, b">") {
            if !xreadgroup {
                return Err(OpError::other(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP \
                     <group> <consumer> option.",
                ));
            }
            ids.push(StreamId::MAX);
            continue;
        }
        ids.push(parse_strict(arg)?);
    }
    Ok(ids)
}

/// One stream's part of a read: entries after `after` for a plain read, a consumer's history
/// from `after + 1` (`history`), or new entries for a group (`after` = its last id).
struct ReadPlan {
    after: StreamId,
    history: bool,
}

fn xread_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], xreadgroup: bool) -> OpResult<Reply> {
    let a = parse_read_args(argv, xreadgroup)?;
    let ids = resolve_read_ids(ctx, argv, &a)?;
    let mut served: Vec<(Reply, Reply)> = Vec::new();
    for (idx, &gt) in ids.iter().enumerate() {
        let key = &argv[a.streams_at + idx];
        let group = a.group.as_ref().map(|(g, _)| g.clone());
        let plan = {
            let Ok(Some(s)) = stream_read(ctx, key) else { continue };
            read_plan(s, gt, group.as_deref())
        };
        let Some(plan) = plan else { continue };
        let entries = read_one(ctx, key, plan, &a)?;
        served.push((Reply::Bulk(key.clone()), entries));
    }
    if served.is_empty() {
        // Nothing to serve: with BLOCK the net layer parks the client; without it (or inside
        // MULTI) this is the answer.
        return Ok(Reply::NilArray);
    }
    Ok(keyed_reply(ctx.resp3, served))
}

/// `[[key, entries], …]` in RESP2, a map in RESP3.
fn keyed_reply(resp3: bool, served: Vec<(Reply, Reply)>) -> Reply {
    if resp3 {
        Reply::Map(served)
    } else {
        Reply::Array(served.into_iter().map(|(k, v)| Reply::Array(vec![k, v])).collect())
    }
}

/// Whether (and how) a stream can be served now, as `xreadCommand` decides it.
fn read_plan(s: &Stream, gt: StreamId, group: Option<&[u8]>) -> Option<ReadPlan> {
    match group {
        Some(g) => {
            if gt != StreamId::MAX {
                return Some(ReadPlan { after: gt, history: true });
            }
            let last = s.group(g)?.last_id;
            (!s.is_empty() && s.last_valid_id() > last)
                .then_some(ReadPlan { after: last, history: false })
        }
        None => (!s.is_empty() && s.last_valid_id() > gt)
            .then_some(ReadPlan { after: gt, history: false }),
    }
}

/// Serves one stream: the entries reply, with the group's bookkeeping done.
fn read_one(ctx: &mut Ctx<'_>, key: &Bytes, plan: ReadPlan, a: &ReadArgs) -> OpResult<Reply> {
    let start = plan.after.incr().unwrap_or(StreamId::MIN);
    let limit = if a.count == 0 { usize::MAX } else { a.count as usize };
    let now_ms = now(ctx);
    let Some((group, consumer)) = &a.group else {
        let Some(s) = stream_again(ctx, key) else { return Ok(Reply::Array(Vec::new())) };
        let mut out = Entries::default();
        for e in s.range(start, StreamId::MAX, false).take(limit) {
            out.entry(&e);
        }
        return Ok(out.into_reply());
    };
    let Some(s) = stream_again(ctx, key) else { return Ok(Reply::Array(Vec::new())) };
    let created = ensure_consumer(s, group, consumer, now_ms);
    let reply = if plan.history {
        serve_history(s, group, consumer, start, limit, now_ms)
    } else {
        serve_group(s, group, consumer, start, limit, a.noack, now_ms)
    };
    if created {
        ctx.notify(class::STREAM, "xgroup-createconsumer", key);
    }
    dirty(ctx, key, 1 + created as u64);
    Ok(reply)
}

/// Looks the consumer up (refreshing its seen time) or creates it; true when created.
fn ensure_consumer(s: &mut Stream, group: &[u8], consumer: &[u8], now_ms: i64) -> bool {
    let Some(g) = s.group_mut(group) else { return false };
    if g.touch_consumer(consumer, Some(now_ms)) {
        return false;
    }
    g.create_consumer(consumer, now_ms)
}

/// New entries for a group: delivered, the group's last id and read counter advanced, and
/// (unless NOACK) each entry pending for `consumer`.
fn serve_group(
    s: &mut Stream,
    group: &[u8],
    consumer: &[u8],
    start: StreamId,
    limit: usize,
    noack: bool,
    now_ms: i64,
) -> Reply {
    let mut ids = Vec::new();
    let mut out = Entries::default();
    for e in s.range(start, StreamId::MAX, false).take(limit) {
        ids.push(e.id);
        out.entry(&e);
    }
    for id in ids {
        s.advance_group(group, id);
        if !noack {
            if let Some(g) = s.group_mut(group) {
                g.deliver(id, consumer, now_ms);
            }
        }
    }
    out.into_reply()
}

/// A consumer's history from its own PEL (`streamReplyWithRangeFromConsumerPEL`): entries that
/// no longer exist come back as `[id, nil]`, the others are delivered once more.
fn serve_history(
    s: &mut Stream,
    group: &[u8],
    consumer: &[u8],
    start: StreamId,
    limit: usize,
    now_ms: i64,
) -> Reply {
    let pending: Vec<StreamId> = match s.group(group).and_then(|g| g.consumer(consumer)) {
        Some(c) => c.pel.range(start..).take(limit).copied().collect(),
        None => Vec::new(),
    };
    let mut out = Entries::default();
    let mut redelivered = Vec::new();
    for id in pending {
        match s.get(id) {
            Some(e) => {
                out.entry(&e);
                redelivered.push(id);
            }
            None => out.missing(id),
        }
    }
    if let Some(g) = s.group_mut(group) {
        for id in redelivered {
            g.redeliver(id, now_ms);
        }
    }
    out.into_reply()
}

// ---- blocking support for the net layer --------------------------------------------------

/// The argv a parked XREAD/XREADGROUP is retried with, to be computed on the keys' shard right
/// after the command answered the null array (same instant, so nothing changed in between):
/// `$` becomes each stream's last id at that moment (0-0 for a missing key), and when no COUNT
/// was given `COUNT 1000` is added (Redis serves blocked readers at most that many entries).
/// None for argv that is not a blocking XREAD/XREADGROUP.
pub fn blocking_argv(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Option<Vec<Bytes>> {
    let name = argv.first()?;
    let xreadgroup = if name.eq_ignore_ascii_case(b"xreadgroup") {
        true
    } else if name.eq_ignore_ascii_case(b"xread") {
        false
    } else {
        return None;
    };
    let a = parse_read_args(argv, xreadgroup).ok()?;
    a.timeout_ms?;
    let mut out = argv.to_vec();
    for idx in 0..a.streams {
        let at = a.streams_at + a.streams + idx;
        if !xreadgroup && c_eq(&argv[at], b"$") {
            let key = &argv[a.streams_at + idx];
            let last = match ctx.peek(key) {
                Some(Entry { value: Value::Stream(s), .. }) => s.last_id(),
                _ => StreamId::MIN,
            };
            out[at] = last.to_bytes();
        }
    }
    if a.count_at.is_none() {
        // Just before STREAMS, so the group and consumer names keep their places.
        let at = a.streams_at - 1;
        out.insert(at, Bytes::from(BLOCKED_DEFAULT_COUNT.to_string()));
        out.insert(at, Bytes::from_static(b"COUNT"));
    }
    Some(out)
}

/// Serves one parked XREAD/XREADGROUP (argv from [`blocking_argv`]) after a write to `key`, as
/// Redis's `serveClientsBlockedOnStreamKey` and `unblockDeletedStreamReadgroupClients` do:
///
/// - `None`: the client stays parked (no new entry past its id, or `key` is missing or not a
///   stream for a plain XREAD).
/// - `Some(reply)`: the client is answered with `reply`: the entries of `key` alone
///   (`[[key, entries]]`, a one-entry map in RESP3), or for XREADGROUP
///   `-NOGROUP the consumer group this client was blocked on no longer exists` when its group
///   is gone, or `-UNBLOCKED the stream key no longer exists` when `key` was deleted or now
///   holds another type.
///
/// Serving a group reader writes (consumer, PEL, group last id): the key is noted as written.
pub fn serve_blocked(ctx: &mut Ctx<'_>, argv: &[Bytes], key: &[u8]) -> Option<Reply> {
    let name = argv.first()?;
    let xreadgroup = name.eq_ignore_ascii_case(b"xreadgroup");
    let a = parse_read_args(argv, xreadgroup).ok()?;
    let idx = (0..a.streams).find(|&i| argv[a.streams_at + i][..] == *key)?;
    let key_arg = argv[a.streams_at + idx].clone();
    let is_stream = matches!(ctx.peek(key), Some(Entry { value: Value::Stream(_), .. }));
    if !is_stream {
        return xreadgroup.then(|| Reply::error("UNBLOCKED the stream key no longer exists"));
    }
    let gt =
        match &a.group {
            Some((group, _)) => {
                let s = stream_again(ctx, key)?;
                match s.group(group) {
                    Some(g) => g.last_id,
                    None => return Some(Reply::error(
                        "NOGROUP the consumer group this client was blocked on no longer exists",
                    )),
                }
            }
            None => parse_strict(&argv[a.streams_at + a.streams + idx]).ok()?,
        };
    let s = stream_again(ctx, key)?;
    if s.last_id() <= gt {
        return None;
    }
    let entries = read_one(ctx, &key_arg, ReadPlan { after: gt, history: false }, &a).ok()?;
    Some(keyed_reply(ctx.resp3, vec![(Reply::Bulk(key_arg), entries)]))
}

/// The BLOCK timeout of an XREAD / XREADGROUP in milliseconds (0 = forever); None when there
/// is no BLOCK option or the arguments do not parse (the command then answers at once, with
/// its error if any).
pub fn block_timeout_ms(argv: &[Bytes]) -> Option<u64> {
    let xreadgroup = argv.first()?.eq_ignore_ascii_case(b"xreadgroup");
    let a = parse_read_args(argv, xreadgroup).ok()?;
    u64::try_from(a.timeout_ms?).ok()
}

/// Where the keys of an XREAD / XREADGROUP are: `(first key index, number of streams)`; the
/// ids follow the keys. None when the arguments do not parse.
pub fn read_streams(argv: &[Bytes]) -> Option<(usize, usize)> {
    let xreadgroup = argv.first()?.eq_ignore_ascii_case(b"xreadgroup");
    let a = parse_read_args(argv, xreadgroup).ok()?;
    Some((a.streams_at, a.streams))
}

/// Whether retrying a parked XREAD / XREADGROUP (argv with `$` already resolved) would answer
/// something other than the null array, judged only on the keys `is_local` accepts (those of
/// this shard): a stream past the waiter's id (or its group's last id), or for XREADGROUP a
/// key or group that is gone or of another type (the retry answers the error). Read-only:
/// the caller then runs the command itself.
pub fn read_ready(ctx: &mut Ctx<'_>, argv: &[Bytes], is_local: impl Fn(&[u8]) -> bool) -> bool {
    let Some(name) = argv.first() else { return false };
    let xreadgroup = name.eq_ignore_ascii_case(b"xreadgroup");
    let Ok(a) = parse_read_args(argv, xreadgroup) else { return true };
    for idx in 0..a.streams {
        let key = &argv[a.streams_at + idx];
        if !is_local(key) {
            continue;
        }
        let s = match ctx.peek(key) {
            Some(Entry { value: Value::Stream(s), .. }) => s,
            Some(_) => return true,
            None if xreadgroup => return true,
            None => continue,
        };
        let after = match &a.group {
            Some((group, _)) => match s.group(group) {
                Some(g) => {
                    if !c_eq(&argv[a.streams_at + a.streams + idx], b">") {
                        return true;
                    }
                    g.last_id
                }
                None => return true,
            },
            None => match parse_strict(&argv[a.streams_at + a.streams + idx]) {
                Ok(id) => id,
                Err(_) => return true,
            },
        };
        if s.last_id() > after {
            return true;
        }
    }
    false
}

/// The error an XREAD / XREADGROUP would answer, judged only on the keys `is_local` accepts,
/// with the index of the key it is about (0 for option errors, which every shard gives): for
/// the net layer, which checks every shard before running the command split by shard, so that
/// either no part runs or all do. Read-only (no stats, no LRU).
pub fn read_check(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    is_local: impl Fn(&[u8]) -> bool,
) -> Option<(usize, Reply)> {
    let xreadgroup = argv.first()?.eq_ignore_ascii_case(b"xreadgroup");
    let a = match parse_read_args(argv, xreadgroup) {
        Ok(a) => a,
        Err(e) => return Some((0, e.into())),
    };
    for idx in 0..a.streams {
        let key = &argv[a.streams_at + idx];
        if !is_local(key) {
            continue;
        }
        let fail = |e: OpError| Some((idx, Reply::from(e)));
        let has_group = match ctx.peek(key) {
            Some(Entry { value: Value::Stream(s), .. }) => {
                a.group.as_ref().is_none_or(|(g, _)| s.group(g).is_some())
            }
            Some(_) => return fail(OpError::WrongType),
            None => a.group.is_none(),
        };
        if let Some((group, _)) = &a.group {
            if !has_group {
                return fail(nogroup_read(key, group));
            }
        }
        let arg = &argv[a.streams_at + a.streams + idx];
        if c_eq(arg, b"$") {
            if xreadgroup {
                return fail(OpError::other(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read \
                     the history of this consumer by specifying a proper ID, or use the > ID to \
                     get new messages. The $ ID would just return an empty result set.",
                ));
            }
            continue;
        }
        if c_eq(arg, b">") {
            if !xreadgroup {
                return fail(OpError::other(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP \
                     <group> <consumer> option.",
                ));
            }
            continue;
        }
        if let Err(e) = parse_strict(arg) {
            return fail(e);
        }
    }
    None
}

// ---- XGROUP ------------------------------------------------------------------------------

fn xgroup(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    xgroup_generic(ctx, argv).unwrap_or_else(Reply::from)
}

fn xgroup_generic(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let argc = argv.len();
    let opt = &argv[1];
    let is = |name: &[u8]| opt.eq_ignore_ascii_case(name);
    let mut mkstream = false;
    let mut entries_read: i64 = ENTRIES_READ_INVALID;
    let mut exists = false;
    if argc >= 4 {
        let (create, setid) = (is(b"create"), is(b"setid"));
        let mut i = 5;
        while i < argc {
            if create && argv[i].eq_ignore_ascii_case(b"mkstream") {
                mkstream = true;
                i += 1;
            } else if (create || setid)
                && argv[i].eq_ignore_ascii_case(b"entriesread")
                && i + 1 < argc
            {
                entries_read = parse_ll(&argv[i + 1])?;
                if entries_read < 0 && entries_read != ENTRIES_READ_INVALID {
                    return Err(OpError::other("ERR value for ENTRIESREAD must be positive or -1"));
                }
                i += 2;
            } else {
                return Ok(subcommand_syntax_error(argv));
            }
        }
        exists = stream_write(ctx, &argv[2])?.is_some();
    }
    if argc >= 4 && !mkstream {
        if !exists {
            return Err(OpError::other(
                "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you \
                 may want to use the MKSTREAM option to create an empty stream automatically.",
            ));
        }
        let has_group = stream_again(ctx, &argv[2]).is_some_and(|s| s.group(&argv[3]).is_some());
        if !has_group && (is(b"setid") || is(b"createconsumer") || is(b"delconsumer")) {
            return Err(OpError::other(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                cstr(&argv[3]),
                cstr(&argv[2])
            )));
        }
    }
    if argc == 2 && is(b"help") {
        return Ok(Reply::Array(XGROUP_HELP.iter().map(|l| Reply::status(*l)).collect()));
    }
    let key = argv.get(2).cloned().unwrap_or_default();
    let group = argv.get(3).cloned().unwrap_or_default();
    let now_ms = now(ctx);
    if is(b"create") && (5..=8).contains(&argc) {
        let id = if c_eq(&argv[4], b"$") {
            stream_again(ctx, &key).map_or(StreamId::MIN, |s| s.last_id())
        } else {
            parse_strict(&argv[4])?
        };
        if !exists {
            ctx.set_value(&key, Value::Stream(Box::new(Stream::new())), 0);
            // Creating the key is not a change Redis counts; the group below is.
            ctx.shard.dirty -= 1;
        }
        let Some(s) = stream_again(ctx, &key) else { return Err(OpError::WrongType) };
        if !s.create_group(&group, id, entries_read) {
            return Err(OpError::other("BUSYGROUP Consumer Group name already exists"));
        }
        ctx.note_write(&key);
        ctx.notify(class::STREAM, "xgroup-create", &key);
        return Ok(Reply::ok());
    }
    if is(b"setid") && (argc == 5 || argc == 7) {
        let Some(s) = stream_again(ctx, &key) else { return Err(OpError::WrongType) };
        let id = if c_eq(&argv[4], b"$") {
            s.last_id()
        } else {
            parse_id(&argv[4], LOOSE).map(|p| p.id).ok_or_else(invalid_id)?
        };
        if let Some(g) = s.group_mut(&group) {
            g.last_id = id;
            g.entries_read = entries_read;
        }
        ctx.note_write(&key);
        ctx.notify(class::STREAM, "xgroup-setid", &key);
        return Ok(Reply::ok());
    }
    if is(b"destroy") && argc == 4 {
        let destroyed = stream_again(ctx, &key).is_some_and(|s| s.destroy_group(&group));
        if destroyed {
            ctx.note_write(&key);
            ctx.notify(class::STREAM, "xgroup-destroy", &key);
        }
        return Ok(Reply::Int(destroyed as i64));
    }
    if is(b"createconsumer") && argc == 5 {
        let created = stream_again(ctx, &key)
            .and_then(|s| s.group_mut(&group))
            .is_some_and(|g| g.create_consumer(&argv[4], now_ms));
        if created {
            ctx.note_write(&key);
            ctx.notify(class::STREAM, "xgroup-createconsumer", &key);
        }
        return Ok(Reply::Int(created as i64));
    }
    if is(b"delconsumer") && argc == 5 {
        let pending = stream_again(ctx, &key)
            .and_then(|s| s.group_mut(&group))
            .and_then(|g| g.delete_consumer(&argv[4]));
        if let Some(n) = pending {
            ctx.note_write(&key);
            ctx.notify(class::STREAM, "xgroup-delconsumer", &key);
            return Ok(Reply::Int(n as i64));
        }
        return Ok(Reply::Int(0));
    }
    Ok(subcommand_syntax_error(argv))
}

// ---- XACK / XPENDING ---------------------------------------------------------------------

fn xack(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    (|| {
        let key = &argv[1];
        let has_group = match stream_read(ctx, key)? {
            Some(s) => s.group(&argv[2]).is_some(),
            None => false,
        };
        if !has_group {
            return Ok(Reply::Int(0));
        }
        let ids = argv[3..].iter().map(|a| parse_strict(a)).collect::<OpResult<Vec<_>>>()?;
        let Some(g) = stream_again(ctx, key).and_then(|s| s.group_mut(&argv[2])) else {
            return Ok(Reply::Int(0));
        };
        let acked = ids.iter().filter(|&&id| g.ack(id)).count() as u64;
        dirty(ctx, key, acked);
        Ok(Reply::Int(acked as i64))
    })()
    .into()
}

fn nogroup(key: &[u8], group: &[u8]) -> OpError {
    OpError::other(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        cstr(key),
        cstr(group)
    ))
}

fn xpending(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    xpending_generic(ctx, argv).into()
}

fn xpending_generic(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let argc = argv.len();
    let justinfo = argc == 3;
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(OpError::Syntax);
    }
    let mut range = (StreamId::MIN, StreamId::MAX);
    let mut count: i64 = 0;
    let mut min_idle: i64 = 0;
    let mut consumer: Option<&Bytes> = None;
    if argc >= 6 {
        let mut at = 3;
        if argv[3].eq_ignore_ascii_case(b"idle") {
            min_idle = parse_ll(&argv[4])?;
            if argc < 8 {
                return Err(OpError::Syntax);
            }
            at += 2;
        }
        count = parse_ll(&argv[at + 2])?.max(0);
        range = parse_range_bounds(&argv[at], &argv[at + 1])?;
        consumer = argv.get(at + 3);
    }
    let (key, group) = (&argv[1], &argv[2]);
    let now_ms = now(ctx);
    let Some(s) = stream_read(ctx, key)? else { return Err(nogroup(key, group)) };
    let Some(g) = s.group(group) else { return Err(nogroup(key, group)) };
    if justinfo {
        let pel = g.pel();
        let (Some((first, _)), Some((last, _))) = (pel.first_key_value(), pel.last_key_value())
        else {
            return Ok(Reply::Array(vec![Reply::Int(0), Reply::Nil, Reply::Nil, Reply::NilArray]));
        };
        let owners = g
            .consumers()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(name, c)| {
                Reply::Array(vec![Reply::bulk_slice(name), Reply::bulk(c.pel.len().to_string())])
            })
            .collect();
        return Ok(Reply::Array(vec![
            Reply::Int(pel.len() as i64),
            id_reply(*first),
            id_reply(*last),
            Reply::Array(owners),
        ]));
    }
    let (start, end) = range;
    let mut out = Vec::new();
    if count == 0 || start > end {
        return Ok(Reply::Array(out));
    }
    let row = |id: StreamId, n: &crate::types::stream::Nack| {
        Reply::Array(vec![
            id_reply(id),
            Reply::bulk_slice(&n.consumer),
            Reply::Int((now_ms - n.delivery_time_ms).max(0)),
            Reply::Int(n.delivery_count as i64),
        ])
    };
    let idle_ok =
        |n: &crate::types::stream::Nack| min_idle == 0 || now_ms - n.delivery_time_ms >= min_idle;
    match consumer {
        Some(name) => {
            let Some(c) = g.consumer(name) else { return Ok(Reply::Array(out)) };
            for id in c.pel.range(start..=end) {
                if out.len() as i64 >= count {
                    break;
                }
                if let Some(n) = g.pel().get(id) {
                    if idle_ok(n) {
                        out.push(row(*id, n));
                    }
                }
            }
        }
        None => {
            for (id, n) in g.pel().range(start..=end) {
                if out.len() as i64 >= count {
                    break;
                }
                if idle_ok(n) {
                    out.push(row(*id, n));
                }
            }
        }
    }
    Ok(Reply::Array(out))
}

// ---- XCLAIM / XAUTOCLAIM -----------------------------------------------------------------

fn xclaim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    xclaim_generic(ctx, argv).into()
}

fn xclaim_generic(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let (key, group, consumer) = (&argv[1], &argv[2], &argv[3]);
    let has_group = match stream_read(ctx, key)? {
        Some(s) => s.group(group).is_some(),
        None => false,
    };
    if !has_group {
        return Err(nogroup(key, group));
    }
    let min_idle = parse_ll_msg(&argv[4], "ERR Invalid min-idle-time argument for XCLAIM")?.max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argv.len() {
        match parse_id(&argv[j], STRICT) {
            Some(p) => ids.push(p.id),
            None => break,
        }
        j += 1;
    }
    let now_ms = now(ctx);
    let mut force = false;
    let mut justid = false;
    let mut delivery_time: Option<i64> = None;
    let mut retry_count: Option<i64> = None;
    let mut last_id = StreamId::MIN;
    while j < argv.len() {
        let moreargs = argv.len() - 1 - j;
        let opt = &argv[j];
        if opt.eq_ignore_ascii_case(b"force") {
            force = true;
        } else if opt.eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else if opt.eq_ignore_ascii_case(b"idle") && moreargs > 0 {
            j += 1;
            let idle = parse_ll_msg(&argv[j], "ERR Invalid IDLE option argument for XCLAIM")?;
            delivery_time = Some(now_ms.wrapping_sub(idle));
        } else if opt.eq_ignore_ascii_case(b"time") && moreargs > 0 {
            j += 1;
            delivery_time =
                Some(parse_ll_msg(&argv[j], "ERR Invalid TIME option argument for XCLAIM")?);
        } else if opt.eq_ignore_ascii_case(b"retrycount") && moreargs > 0 {
            j += 1;
            retry_count =
                Some(parse_ll_msg(&argv[j], "ERR Invalid RETRYCOUNT option argument for XCLAIM")?);
        } else if opt.eq_ignore_ascii_case(b"lastid") && moreargs > 0 {
            j += 1;
            last_id = parse_strict(&argv[j])?;
        } else {
            return Err(OpError::other(format!("ERR Unrecognized XCLAIM option '{}'", cstr(opt))));
        }
        j += 1;
    }
    let Some(s) = stream_again(ctx, key) else { return Err(nogroup(key, group)) };
    let mut changes: u64 = 0;
    let mut last_id_moved = false;
    if let Some(g) = s.group_mut(group) {
        if last_id > g.last_id {
            g.last_id = last_id;
            last_id_moved = true;
        }
    }
    let delivery_time = match delivery_time {
        Some(t) if t >= 0 && t <= now_ms => t,
        _ => now_ms,
    };
    let count_change = match retry_count {
        Some(n) if n >= 0 => ClaimCount::Set(n as u64),
        _ if justid => ClaimCount::Keep,
        _ => ClaimCount::Increment,
    };
    let mut out = Entries::default();
    let mut consumer_ready = false;
    let mut created = false;
    for id in ids {
        let exists = s.contains(id);
        let Some(g) = s.group_mut(group) else { break };
        let pending = g.pel().get(&id).map(|n| n.delivery_time_ms);
        if !exists {
            // The entry is gone: drop its NACK.
            if pending.is_some() {
                g.ack(id);
                changes += 1;
            }
            continue;
        }
        if pending.is_none() && !force {
            continue;
        }
        if let Some(t) = pending {
            if min_idle > 0 && now_ms - t < min_idle {
                continue;
            }
        }
        if !consumer_ready {
            if !g.touch_consumer(consumer, Some(now_ms)) {
                created = g.create_consumer(consumer, now_ms);
            }
            consumer_ready = true;
        }
        if pending.is_none() {
            g.force_pending(id, consumer, now_ms);
        }
        g.claim(id, consumer, delivery_time, count_change);
        if justid {
            out.id(id);
        } else if let Some(e) = s.get(id) {
            out.entry(&e);
        }
        changes += 1;
    }
    if last_id_moved && changes == 0 {
        changes += 1;
    }
    if created {
        ctx.notify(class::STREAM, "xgroup-createconsumer", key);
        changes += 1;
    }
    dirty(ctx, key, changes);
    Ok(out.into_reply())
}

fn xautoclaim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    xautoclaim_generic(ctx, argv).into()
}

fn xautoclaim_generic(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    const ATTEMPTS_FACTOR: i64 = 10;
    let (key, group, consumer) = (&argv[1], &argv[2], &argv[3]);
    let min_idle =
        parse_ll_msg(&argv[4], "ERR Invalid min-idle-time argument for XAUTOCLAIM")?.max(0);
    let (mut start, exclusive) = parse_interval(&argv[5], 0)?;
    if exclusive {
        start =
            start.incr().ok_or_else(|| OpError::other("ERR invalid start ID for the interval"))?;
    }
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < argv.len() {
        let moreargs = argv.len() - 1 - j;
        if argv[j].eq_ignore_ascii_case(b"count") && moreargs > 0 {
            let max_count = i64::MAX / 16;
            count = match parse_i64_strict(&argv[j + 1]) {
                Some(n) if (1..=max_count).contains(&n) => n,
                _ => return Err(OpError::other("ERR COUNT must be > 0")),
            };
            j += 1;
        } else if argv[j].eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else {
            return Err(OpError::Syntax);
        }
        j += 1;
    }
    let has_group = match stream_read(ctx, key)? {
        Some(s) => s.group(group).is_some(),
        None => false,
    };
    if !has_group {
        return Err(nogroup(key, group));
    }
    if count > AUTOCLAIM_MAX_ALLOCATABLE_COUNT {
        return Err(OpError::other(
            "ERR Insufficient memory, failed allocating transient memory, COUNT too high.",
        ));
    }
    let now_ms = now(ctx);
    let Some(s) = stream_again(ctx, key) else { return Err(nogroup(key, group)) };
    let mut attempts = count.saturating_mul(ATTEMPTS_FACTOR);
    let mut claimed = Entries::default();
    let mut deleted = Vec::new();
    let mut changes: u64 = 0;
    let mut created = false;
    let mut consumer_ready = false;
    // The next PEL id to examine (None past the end).
    let mut cursor: Option<StreamId> =
        s.group(group).and_then(|g| g.pel().range(start..).next().map(|(id, _)| *id));
    while attempts > 0 && count > 0 {
        let Some(id) = cursor else { break };
        attempts -= 1;
        let exists = s.contains(id);
        let Some(g) = s.group_mut(group) else { break };
        cursor = g
            .pel()
            .range((std::ops::Bound::Excluded(id), std::ops::Bound::Unbounded))
            .next()
            .map(|(id, _)| *id);
        let Some(delivered_at) = g.pel().get(&id).map(|n| n.delivery_time_ms) else { continue };
        if !exists {
            g.ack(id);
            deleted.push(id_reply(id));
            changes += 1;
            count -= 1;
            continue;
        }
        if min_idle > 0 && now_ms - delivered_at < min_idle {
            continue;
        }
        if !consumer_ready {
            if !g.touch_consumer(consumer, Some(now_ms)) {
                created = g.create_consumer(consumer, now_ms);
            }
            consumer_ready = true;
        }
        let change = if justid { ClaimCount::Keep } else { ClaimCount::Increment };
        g.claim(id, consumer, now_ms, change);
        if justid {
            claimed.id(id);
        } else if let Some(e) = s.get(id) {
            claimed.entry(&e);
        }
        changes += 1;
        count -= 1;
    }
    let next = cursor.unwrap_or(StreamId::MIN);
    if created {
        ctx.notify(class::STREAM, "xgroup-createconsumer", key);
        changes += 1;
    }
    dirty(ctx, key, changes);
    Ok(Reply::Array(vec![id_reply(next), claimed.into_reply(), Reply::Array(deleted)]))
}

// ---- XINFO -------------------------------------------------------------------------------

fn xinfo(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    xinfo_generic(ctx, argv).unwrap_or_else(Reply::from)
}

fn field(name: &'static str, value: Reply) -> (Reply, Reply) {
    (Reply::bulk_str(name), value)
}

fn xinfo_generic(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let argc = argv.len();
    let opt = &argv[1];
    if opt.eq_ignore_ascii_case(b"help") {
        if argc != 2 {
            return Ok(subcommand_syntax_error(argv));
        }
        return Ok(Reply::Array(XINFO_HELP.iter().map(|l| Reply::status(*l)).collect()));
    }
    if argc < 3 {
        return Ok(subcommand_syntax_error(argv));
    }
    let key = &argv[2];
    let now_ms = now(ctx);
    let s = stream_read(ctx, key)?.ok_or(OpError::NoSuchKey)?;
    if opt.eq_ignore_ascii_case(b"consumers") && argc == 4 {
        let Some(g) = s.group(&argv[3]) else {
            return Err(OpError::other(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                cstr(&argv[3]),
                cstr(key)
            )));
        };
        let rows = g
            .consumers()
            .map(|(name, c)| {
                Reply::Map(vec![
                    field("name", Reply::bulk_slice(name)),
                    field("pending", Reply::Int(c.pel.len() as i64)),
                    field("idle", Reply::Int((now_ms - c.seen_time_ms).max(0))),
                ])
            })
            .collect();
        return Ok(Reply::Array(rows));
    }
    if opt.eq_ignore_ascii_case(b"groups") && argc == 3 {
        let rows = s
            .groups()
            .map(|(name, g)| {
                Reply::Map(vec![
                    field("name", Reply::Bulk(name.clone())),
                    field("consumers", Reply::Int(g.consumer_count() as i64)),
                    field("pending", Reply::Int(g.pel().len() as i64)),
                    field("last-delivered-id", id_reply(g.last_id)),
                    field("entries-read", entries_read_reply(g.entries_read)),
                    field("lag", s.group_lag(g).map_or(Reply::Nil, Reply::Int)),
                ])
            })
            .collect();
        return Ok(Reply::Array(rows));
    }
    if opt.eq_ignore_ascii_case(b"stream") {
        return xinfo_stream(s, argv);
    }
    Ok(subcommand_syntax_error(argv))
}

fn entries_read_reply(n: i64) -> Reply {
    if n == ENTRIES_READ_INVALID {
        Reply::Nil
    } else {
        Reply::Int(n)
    }
}

fn xinfo_stream(s: &Stream, argv: &[Bytes]) -> OpResult<Reply> {
    let opts = &argv[3..];
    let mut full = true;
    let mut count: i64 = 10;
    if opts.is_empty() {
        full = false;
    } else {
        if opts.len() != 1 && opts.len() != 3 {
            return Ok(subcommand_syntax_error(argv));
        }
        if !opts[0].eq_ignore_ascii_case(b"full") {
            return Ok(subcommand_syntax_error(argv));
        }
        if opts.len() == 3 {
            if !opts[1].eq_ignore_ascii_case(b"count") {
                return Ok(subcommand_syntax_error(argv));
            }
            count = parse_ll(&opts[2])?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let limit = if count == 0 { usize::MAX } else { count as usize };
    let mut fields = vec![
        field("length", Reply::Int(s.len() as i64)),
        field("radix-tree-keys", Reply::Int(s.node_count() as i64)),
        field("radix-tree-nodes", Reply::Int(s.radix_tree_nodes() as i64)),
        field("last-generated-id", id_reply(s.last_id())),
        field("max-deleted-entry-id", id_reply(s.max_deleted_entry_id())),
        field("entries-added", Reply::Int(s.entries_added() as i64)),
        field("recorded-first-entry-id", id_reply(s.first_id())),
    ];
    if !full {
        fields.push(field("groups", Reply::Int(s.group_count() as i64)));
        let first = s.iter().next().map_or(Reply::Nil, |e| entry_reply(&e));
        let last = s
            .range(StreamId::MIN, StreamId::MAX, true)
            .next()
            .map_or(Reply::Nil, |e| entry_reply(&e));
        fields.push(field("first-entry", first));
        fields.push(field("last-entry", last));
        return Ok(Reply::Map(fields));
    }
    let mut entries = Entries::default();
    for e in s.iter().take(limit) {
        entries.entry(&e);
    }
    fields.push(field("entries", entries.into_reply()));
    let groups = s
        .groups()
        .map(|(name, g)| {
            let pending = g
                .pel()
                .iter()
                .take(limit)
                .map(|(id, n)| {
                    Reply::Array(vec![
                        id_reply(*id),
                        Reply::bulk_slice(&n.consumer),
                        Reply::Int(n.delivery_time_ms),
                        Reply::Int(n.delivery_count as i64),
                    ])
                })
                .collect();
            let consumers = g
                .consumers()
                .map(|(cname, c)| {
                    let pel = c
                        .pel
                        .iter()
                        .take(limit)
                        .filter_map(|id| {
                            let n = g.pel().get(id)?;
                            Some(Reply::Array(vec![
                                id_reply(*id),
                                Reply::Int(n.delivery_time_ms),
                                Reply::Int(n.delivery_count as i64),
                            ]))
                        })
                        .collect();
                    Reply::Map(vec![
                        field("name", Reply::bulk_slice(cname)),
                        field("seen-time", Reply::Int(c.seen_time_ms)),
                        field("pel-count", Reply::Int(c.pel.len() as i64)),
                        field("pending", Reply::Array(pel)),
                    ])
                })
                .collect();
            Reply::Map(vec![
                field("name", Reply::Bulk(name.clone())),
                field("last-delivered-id", id_reply(g.last_id)),
                field("entries-read", entries_read_reply(g.entries_read)),
                field("lag", s.group_lag(g).map_or(Reply::Nil, Reply::Int)),
                field("pel-count", Reply::Int(g.pel().len() as i64)),
                field("pending", Reply::Array(pending)),
                field("consumers", Reply::Array(consumers)),
            ])
        })
        .collect();
    fields.push(field("groups", Reply::Array(groups)));
    Ok(Reply::Map(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn read_keys_follow_streams() {
        let argv: Vec<Bytes> =
            ["XREAD", "COUNT", "2", "STREAMS", "a", "b", "0", "0"].map(b).to_vec();
        assert_eq!(xread_keys(&argv), vec![4, 5]);
        let argv: Vec<Bytes> =
            ["XREADGROUP", "GROUP", "g", "c", "streams", "a", ">"].map(b).to_vec();
        assert_eq!(xreadgroup_keys(&argv), vec![5]);
        let argv: Vec<Bytes> = ["XREAD", "COUNT", "2"].map(b).to_vec();
        assert!(xread_keys(&argv).is_empty());
    }

    #[test]
    fn interval_bounds() {
        assert_eq!(
            parse_range_bounds(b"(1-5", b"(2").unwrap(),
            // An incomplete end takes the largest sequence before the exclusive step.
            (StreamId::new(1, 6), StreamId::new(2, u64::MAX - 1))
        );
        assert!(parse_range_bounds(b"(-", b"+").is_err());
        assert!(parse_range_bounds(b"-", b"(0-0").is_err());
        assert_eq!(parse_range_bounds(b"-", b"+").unwrap(), (StreamId::MIN, StreamId::MAX));
    }
}
