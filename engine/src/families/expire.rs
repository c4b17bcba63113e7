//! Expiry commands: EXPIRE PEXPIRE EXPIREAT PEXPIREAT PERSIST TTL PTTL EXPIRETIME PEXPIRETIME.
//!
//! Expiry is stored as an absolute Unix time in milliseconds on the entry (0 = none). The four
//! setters share one implementation, as Redis's `expireGenericCommand` serves them all; the four
//! readers share `ttl_generic`. Removal happens lazily on access and in the bounded active cycle
//! (`Shard::active_expire`), both through the one expiry routine, `Shard::expire_if_needed`.
//! Setting a time journals it as absolute (`PEXPIREAT`), or as `DEL` when it is already past.

use bytes::Bytes;

use crate::command::{cmd, flags::*, CommandSpec, Handler, ONE_KEY};
use crate::error::OpError;
use crate::families::keys::lookup_read_notouch;
use crate::journal::{num_arg, word};
use crate::notify::class;
use crate::reply::Reply;
use crate::shard::Ctx;
use crate::value::parse_i64_strict;

pub static COMMANDS: &[CommandSpec] = &[
    cmd(
        "expire",
        -3,
        WRITE | FAST,
        ONE_KEY,
        "generic",
        "1.0.0",
        "Set a key's time to live in seconds",
        Handler::Shard(expire),
    ),
    cmd(
        "pexpire",
        -3,
        WRITE | FAST,
        ONE_KEY,
        "generic",
        "2.6.0",
        "Set a key's time to live in milliseconds",
        Handler::Shard(pexpire),
    ),
    cmd(
        "expireat",
        -3,
        WRITE | FAST,
        ONE_KEY,
        "generic",
        "1.2.0",
        "Set the expiration for a key as a UNIX timestamp",
        Handler::Shard(expireat),
    ),
    cmd(
        "pexpireat",
        -3,
        WRITE | FAST,
        ONE_KEY,
        "generic",
        "2.6.0",
        "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
        Handler::Shard(pexpireat),
    ),
    cmd(
        "persist",
        2,
        WRITE | FAST,
        ONE_KEY,
        "generic",
        "2.2.0",
        "Remove the expiration from a key",
        Handler::Shard(persist),
    ),
    cmd(
        "ttl",
        2,
        READONLY | FAST,
        ONE_KEY,
        "generic",
        "1.0.0",
        "Get the time to live for a key in seconds",
        Handler::Shard(ttl),
    ),
    cmd(
        "pttl",
        2,
        READONLY | FAST,
        ONE_KEY,
        "generic",
        "2.6.0",
        "Get the time to live for a key in milliseconds",
        Handler::Shard(pttl),
    ),
    cmd(
        "expiretime",
        2,
        READONLY | FAST,
        ONE_KEY,
        "generic",
        "7.0.0",
        "Get the expiration Unix timestamp for a key",
        Handler::Shard(expiretime),
    ),
    cmd(
        "pexpiretime",
        2,
        READONLY | FAST,
        ONE_KEY,
        "generic",
        "7.0.0",
        "Get the expiration Unix timestamp for a key in milliseconds",
        Handler::Shard(pexpiretime),
    ),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Milliseconds,
}

/// The NX / XX / GT / LT condition of an expire command.
#[derive(Clone, Copy, Default)]
struct Conditions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

/// Redis's `parseExtendedExpireArgumentsOrReply`: repeated options are allowed, incompatible
/// ones are rejected after all are read.
fn parse_conditions(options: &[Bytes]) -> Result<Conditions, Reply> {
    let mut c = Conditions::default();
    for opt in options {
        if opt.eq_ignore_ascii_case(b"nx") {
            c.nx = true;
        } else if opt.eq_ignore_ascii_case(b"xx") {
            c.xx = true;
        } else if opt.eq_ignore_ascii_case(b"gt") {
            c.gt = true;
        } else if opt.eq_ignore_ascii_case(b"lt") {
            c.lt = true;
        } else {
            let name = String::from_utf8_lossy(opt).replace(['\r', '\n'], " ");
            return Err(Reply::error(format!("ERR Unsupported option {name}")));
        }
    }
    if c.nx && (c.xx || c.gt || c.lt) {
        return Err(Reply::error(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if c.gt && c.lt {
        return Err(Reply::error("ERR GT and LT options at the same time are not compatible"));
    }
    Ok(c)
}

fn expire(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let now = ctx.now_ms as i64;
    expire_generic(ctx, argv, "expire", now, Unit::Seconds)
}

fn pexpire(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let now = ctx.now_ms as i64;
    expire_generic(ctx, argv, "pexpire", now, Unit::Milliseconds)
}

fn expireat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    expire_generic(ctx, argv, "expireat", 0, Unit::Seconds)
}

fn pexpireat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    expire_generic(ctx, argv, "pexpireat", 0, Unit::Milliseconds)
}

/// `<cmd> key time [NX|XX|GT|LT …]`: `time` is relative to `base_ms` (now, or 0 for the AT
/// forms). A resulting time at or before now deletes the key and still answers 1.
fn expire_generic(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    name: &str,
    base_ms: i64,
    unit: Unit,
) -> Reply {
    let key = &argv[1];
    let cond = match parse_conditions(&argv[3..]) {
        Ok(c) => c,
        Err(reply) => return reply,
    };
    let Some(mut when_ms) = parse_i64_strict(&argv[2]) else {
        return OpError::NotInteger.into();
    };
    if unit == Unit::Seconds {
        let Some(ms) = when_ms.checked_mul(1000) else {
            return OpError::InvalidExpire(name.into()).into();
        };
        when_ms = ms;
    }
    let Some(when_ms) = when_ms.checked_add(base_ms) else {
        return OpError::InvalidExpire(name.into()).into();
    };

    let Some(entry) = ctx.lookup_write(key) else {
        return Reply::Int(0);
    };
    // -1 for "no expiry", as Redis's getExpire; a GT against no expiry always fails (infinite
    // TTL), an LT always passes.
    let current_ms: i64 = if entry.expire_at_ms == 0 { -1 } else { entry.expire_at_ms as i64 };
    let refused = (cond.nx && current_ms != -1)
        || (cond.xx && current_ms == -1)
        || (cond.gt && (current_ms == -1 || when_ms <= current_ms))
        || (cond.lt && current_ms != -1 && when_ms >= current_ms);
    if refused {
        return Reply::Int(0);
    }

    if when_ms <= ctx.now_ms as i64 {
        // Already in the past: Redis deletes the key (and propagates a DEL), it does not count
        // it as an expired key.
        ctx.remove(key);
        ctx.notify(class::GENERIC, "del", key);
        ctx.propagate_as(|| vec![word("DEL"), key.clone()]);
        return Reply::Int(1);
    }
    // `when_ms > now_ms >= 0`, so it is positive and non-zero: a real expiry, never "none".
    ctx.db().set_expiry(key, when_ms as u64);
    ctx.note_write(key);
    ctx.notify(class::GENERIC, "expire", key);
    // Absolute, with the conditions as given (they hold again on a copy in the same state).
    ctx.propagate_as(|| {
        let head = [word("PEXPIREAT"), key.clone(), num_arg(when_ms)];
        head.into_iter().chain(argv[3..].iter().cloned()).collect()
    });
    Reply::Int(1)
}

fn persist(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    match ctx.lookup_write(key) {
        Some(entry) if entry.expire_at_ms != 0 => {
            ctx.db().set_expiry(key, 0);
            ctx.note_write(key);
            ctx.notify(class::GENERIC, "persist", key);
            Reply::Int(1)
        }
        _ => Reply::Int(0),
    }
}

fn ttl(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    ttl_generic(ctx, &argv[1], Unit::Seconds, false)
}

fn pttl(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    ttl_generic(ctx, &argv[1], Unit::Milliseconds, false)
}

fn expiretime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    ttl_generic(ctx, &argv[1], Unit::Seconds, true)
}

fn pexpiretime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    ttl_generic(ctx, &argv[1], Unit::Milliseconds, true)
}

/// -2 for a missing key, -1 for no expiry, otherwise the remaining time (or, with `absolute`,
/// the expiry time). Seconds round to nearest, as Redis's `(ms + 500) / 1000`.
fn ttl_generic(ctx: &mut Ctx<'_>, key: &[u8], unit: Unit, absolute: bool) -> Reply {
    let now = ctx.now_ms;
    let Some(entry) = lookup_read_notouch(ctx, key) else {
        return Reply::Int(-2);
    };
    if entry.expire_at_ms == 0 {
        return Reply::Int(-1);
    }
    let ms = if absolute { entry.expire_at_ms } else { entry.expire_at_ms.saturating_sub(now) };
    let out = match unit {
        Unit::Milliseconds => ms,
        Unit::Seconds => ms.saturating_add(500) / 1000,
    };
    Reply::Int(i64::try_from(out).unwrap_or(i64::MAX))
}
