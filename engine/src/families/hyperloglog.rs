//! HyperLogLog commands: PFADD PFCOUNT PFMERGE over string values holding Redis's own sketch
//! bytes ([`sketch`]), so sketches move freely between Mayfly and Redis.
//!
//! Like Redis, a sketch is an ordinary string: GET/SET/APPEND see its bytes, and every PF
//! command first checks the bytes look like a sketch (`WRONGTYPE Key is not a valid
//! HyperLogLog string value.`), then reports damaged register data as
//! `INVALIDOBJ Corrupted HLL object detected`. Edits happen in place, so a key's TTL survives
//! PFADD, PFMERGE into an existing key, and the cardinality cache that PFCOUNT writes back.

pub mod sketch;

use bytes::Bytes;

use crate::command::{cmd, flags::*, CommandSpec, Handler, MultiShard};
use crate::db::Entry;
use crate::error::{OpError, OpResult};
use crate::notify::class;
use crate::reply::Reply;
use crate::shard::Ctx;
use crate::value::{StrValue, Value};

pub static COMMANDS: &[CommandSpec] = &[
    cmd(
        "pfadd",
        -2,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        "hyperloglog",
        "2.8.9",
        "Adds the specified elements to the specified HyperLogLog.",
        Handler::Shard(pfadd),
    ),
    cmd(
        "pfcount",
        -2,
        READONLY | MAY_REPLICATE,
        (1, -1, 1),
        "hyperloglog",
        "2.8.9",
        "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
        Handler::Shard(pfcount),
    )
    .multi(MultiShard::Gather),
    cmd(
        "pfmerge",
        -2,
        WRITE | DENYOOM,
        (1, -1, 1),
        "hyperloglog",
        "2.8.9",
        "Merge N different HyperLogLogs into a single one.",
        Handler::Shard(pfmerge),
    )
    .multi(MultiShard::Gather),
];

fn not_hll() -> OpError {
    OpError::other("WRONGTYPE Key is not a valid HyperLogLog string value.")
}

fn corrupt() -> OpError {
    OpError::other("INVALIDOBJ Corrupted HLL object detected")
}

/// Takes the bytes out of a string for editing, without copying heap values.
fn take_bytes(s: &mut StrValue) -> Vec<u8> {
    std::mem::replace(s, StrValue::Int(0)).into_vec()
}

/// The bytes of a string stored as bytes; `None` for the int encoding, which Redis never
/// accepts as a sketch.
fn stored_bytes(s: &StrValue) -> Option<&[u8]> {
    match s {
        StrValue::Int(_) => None,
        StrValue::Inline { len, data } => Some(&data[..*len as usize]),
        StrValue::Heap(b) => Some(b),
        StrValue::Shared(b) => Some(b),
    }
}

fn stored_bytes_mut(s: &mut StrValue) -> Option<&mut [u8]> {
    if let StrValue::Shared(b) = s {
        // An adopted argument is never edited in place: own it first.
        *s = StrValue::Heap(Vec::from(std::mem::take(b)).into_boxed_slice());
    }
    match s {
        StrValue::Int(_) => None,
        StrValue::Inline { len, data } => Some(&mut data[..*len as usize]),
        StrValue::Heap(b) => Some(b),
        StrValue::Shared(_) => None,
    }
}

fn is_hll_value(s: &StrValue) -> bool {
    stored_bytes(s).is_some_and(sketch::is_hll)
}

fn pfadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    pfadd_inner(ctx, &argv[1], &argv[2..]).into()
}

fn pfadd_inner(ctx: &mut Ctx<'_>, key: &[u8], elements: &[Bytes]) -> OpResult<Reply> {
    let sparse_max = ctx.config().hll_sparse_max_bytes;
    match ctx.lookup_write(key) {
        None => {
            let mut v = sketch::new_sparse();
            let mut changed = 0u64;
            // A fresh sketch is valid, so adding cannot fail.
            for e in elements {
                changed += sketch::add(&mut v, e, sparse_max).map_err(|_| corrupt())? as u64;
            }
            sketch::invalidate_cache(&mut v);
            ctx.set_value(key, Value::Str(StrValue::from_vec(v)), 0);
            ctx.notify(class::STRING, "pfadd", key);
            // Redis counts the creation plus one change per element that raised a register.
            ctx.shard.dirty += changed;
            Ok(Reply::Int(1))
        }
        Some(Entry { value: Value::Str(s), .. }) => {
            if !is_hll_value(s) {
                return Err(not_hll());
            }
            let mut v = take_bytes(s);
            let mut updated = 0usize;
            let mut failed = false;
            for e in elements {
                match sketch::add(&mut v, e, sparse_max) {
                    Ok(changed) => updated += changed as usize,
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if updated > 0 && !failed {
                sketch::invalidate_cache(&mut v);
            }
            *s = StrValue::from_vec(v);
            if updated > 0 {
                ctx.note_write(key);
                if !failed {
                    ctx.shard.dirty += updated as u64 - 1;
                    ctx.notify(class::STRING, "pfadd", key);
                }
            }
            if failed {
                return Err(corrupt());
            }
            Ok(Reply::Int((updated > 0) as i64))
        }
        Some(_) => Err(OpError::WrongType),
    }
}

fn pfcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 2 {
        return pfcount_many(ctx, &argv[1..]).into();
    }
    pfcount_one(ctx, &argv[1]).into()
}

/// One key: the cached cardinality, or a fresh estimate written back into the header (a
/// change Redis propagates, hence the write note).
fn pfcount_one(ctx: &mut Ctx<'_>, key: &[u8]) -> OpResult<Reply> {
    let card = match ctx.lookup_read(key) {
        None => return Ok(Reply::Int(0)),
        Some(Entry { value: Value::Str(s), .. }) => {
            let Some(bytes) = stored_bytes_mut(s).filter(|b| sketch::is_hll(b)) else {
                return Err(not_hll());
            };
            if let Some(card) = sketch::cached_cardinality(bytes) {
                return Ok(Reply::Int(card as i64));
            }
            let card = sketch::count(bytes).map_err(|_| corrupt())?;
            sketch::store_cardinality(bytes, card);
            card
        }
        Some(_) => return Err(OpError::WrongType),
    };
    ctx.note_write(key);
    Ok(Reply::Int(card as i64))
}

/// Several keys: the estimate of the register-wise maximum; no key changes.
fn pfcount_many(ctx: &mut Ctx<'_>, keys: &[Bytes]) -> OpResult<Reply> {
    let mut max = Box::new([0u8; sketch::REGISTERS]);
    for key in keys {
        match ctx.lookup_read(key) {
            None => {}
            Some(Entry { value: Value::Str(s), .. }) => {
                let Some(bytes) = stored_bytes(s).filter(|b| sketch::is_hll(b)) else {
                    return Err(not_hll());
                };
                sketch::merge_into(&mut max, bytes).map_err(|_| corrupt())?;
            }
            Some(_) => return Err(OpError::WrongType),
        }
    }
    Ok(Reply::Int(sketch::count_registers(&max) as i64))
}

fn pfmerge(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    pfmerge_inner(ctx, argv).into()
}

fn pfmerge_inner(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let dest = &argv[1];
    // The destination is a source too, as in Redis.
    let mut max = Box::new([0u8; sketch::REGISTERS]);
    let mut use_dense = false;
    for key in &argv[1..] {
        match ctx.lookup_read(key) {
            None => {}
            Some(Entry { value: Value::Str(s), .. }) => {
                let Some(bytes) = stored_bytes(s).filter(|b| sketch::is_hll(b)) else {
                    return Err(not_hll());
                };
                use_dense |= bytes[4] == sketch::ENCODING_DENSE;
                sketch::merge_into(&mut max, bytes).map_err(|_| corrupt())?;
            }
            Some(_) => return Err(OpError::WrongType),
        }
    }
    let sparse_max = ctx.config().hll_sparse_max_bytes;
    let write_registers = |v: &mut Vec<u8>| -> OpResult<()> {
        if use_dense {
            sketch::sparse_to_dense(v).map_err(|_| corrupt())?;
        }
        for (index, &value) in max.iter().enumerate() {
            if value != 0 {
                // Every source, the destination included, was checked above.
                sketch::set_register(v, index, value, sparse_max).map_err(|_| corrupt())?;
            }
        }
        sketch::invalidate_cache(v);
        Ok(())
    };
    match ctx.lookup_write(dest) {
        None => {
            let mut v = sketch::new_sparse();
            write_registers(&mut v)?;
            ctx.set_value(dest, Value::Str(StrValue::from_vec(v)), 0);
            ctx.notify(class::STRING, "pfadd", dest);
        }
        Some(Entry { value: Value::Str(s), .. }) => {
            let mut v = take_bytes(s);
            let result = write_registers(&mut v);
            *s = StrValue::from_vec(v);
            ctx.note_write(dest);
            result?;
            ctx.notify(class::STRING, "pfadd", dest);
        }
        // Checked as a source above, under the same instant.
        Some(_) => return Err(OpError::WrongType),
    }
    Ok(Reply::ok())
}
