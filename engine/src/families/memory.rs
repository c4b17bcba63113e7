//! MEMORY USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE and HELP, with Redis 7.0's replies.
//!
//! The engine owns no allocator handle (it is pure data), so sizes here are what the shard can
//! compute: a key's real footprint in our layout (key allocation, table slot, value heap), and
//! for MEMORY STATS the table overhead plus a sampled dataset size. INFO memory (net crate)
//! reports the allocator's exact figures.
//!
//! Routing: the parent `memory` declares key positions (2, 2, 1), as Redis's `memory|usage`
//! key spec, so MEMORY USAGE runs on the key's shard; STATS and DOCTOR have no key (argc 2)
//! and run on the local shard, so they describe that shard only (a limitation with
//! `--shards` > 1). COMMAND INFO therefore shows 2 2 1 for `memory` where Redis shows 0 0 0.

use bytes::Bytes;
use rand::Rng;

use crate::command::{cmd, flags::*, CommandSpec, Handler, SubcommandSpec};
use crate::db::Entry;
use crate::error::OpError;
use crate::evict::{entry_overhead_bytes, value_heap_bytes};
use crate::families::keys::lookup_read_notouch;
use crate::reply::Reply;
use crate::shard::Ctx;
use crate::value::Value;

pub static COMMANDS: &[CommandSpec] = &[cmd(
    "memory",
    -2,
    0,
    (2, 2, 1),
    "server",
    "4.0.0",
    "A container for memory diagnostics commands",
    Handler::Shard(memory),
)
.subcommands(MEMORY_SUBCOMMANDS)];

static MEMORY_SUBCOMMANDS: &[SubcommandSpec] = &[
    SubcommandSpec {
        name: "doctor",
        arity: 2,
        flags: 0,
        summary: "Outputs memory problems report",
    },
    SubcommandSpec {
        name: "help",
        arity: 2,
        flags: LOADING | STALE,
        summary: "Show helpful text about the different subcommands",
    },
    SubcommandSpec {
        name: "malloc-stats",
        arity: 2,
        flags: 0,
        summary: "Show allocator internal stats",
    },
    SubcommandSpec {
        name: "purge",
        arity: 2,
        flags: 0,
        summary: "Ask the allocator to release memory",
    },
    SubcommandSpec { name: "stats", arity: 2, flags: 0, summary: "Show memory usage details" },
    SubcommandSpec {
        name: "usage",
        arity: -3,
        flags: READONLY,
        summary: "Estimate the memory usage of a key",
    },
];

const MEMORY_HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

/// Redis's default `SAMPLES` of MEMORY USAGE.
const DEFAULT_SAMPLES: u64 = 5;
/// Keys sampled per database to estimate `dataset.bytes` in MEMORY STATS.
const STATS_SAMPLES_PER_DB: usize = 64;
/// Below this, DOCTOR says the instance is empty, as Redis (5 MB).
const DOCTOR_EMPTY_BYTES: u64 = 5 * 1024 * 1024;
/// Per-field cost of a small hash beside its bytes (listpack headers or table slot).
const HASH_FIELD_OVERHEAD_BYTES: u64 = 16;

fn memory(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let sub = argv[1].to_ascii_lowercase();
    let Some(spec) = MEMORY_SUBCOMMANDS.iter().find(|s| s.name.as_bytes() == sub.as_slice()) else {
        let name =
            String::from_utf8_lossy(&argv[1][..argv[1].len().min(128)]).replace(['\r', '\n'], " ");
        return Reply::error(format!("ERR unknown subcommand '{name}'. Try MEMORY HELP."));
    };
    if !spec_arity_ok(spec.arity, argv.len()) {
        return OpError::WrongArity(format!("memory|{}", spec.name)).into();
    }
    match spec.name {
        "help" => Reply::Array(MEMORY_HELP.iter().map(|l| Reply::status(*l)).collect()),
        "usage" => usage(ctx, argv),
        "stats" => stats(ctx),
        "doctor" => doctor(ctx),
        "malloc-stats" => Reply::Verbatim(
            "txt",
            Bytes::from_static(b"Stats not supported for the current allocator"),
        ),
        "purge" => Reply::ok(),
        _ => OpError::Syntax.into(),
    }
}

fn spec_arity_ok(arity: i32, argc: usize) -> bool {
    if arity >= 0 {
        argc == arity as usize
    } else {
        argc >= arity.unsigned_abs() as usize
    }
}

/// `MEMORY USAGE key [SAMPLES count]`.
fn usage(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut samples = DEFAULT_SAMPLES;
    let mut i = 3;
    while i < argv.len() {
        if argv[i].eq_ignore_ascii_case(b"samples") && i + 1 < argv.len() {
            let Some(n) =
                std::str::from_utf8(&argv[i + 1]).ok().and_then(|s| s.parse::<i64>().ok())
            else {
                return OpError::NotInteger.into();
            };
            if n < 0 {
                return OpError::Syntax.into();
            }
            samples = n as u64;
            i += 2;
        } else {
            return OpError::Syntax.into();
        }
    }
    let key_len = argv[2].len();
    let shard_rng_seed: u64 = ctx.shard.rng.gen();
    let Some(entry) = lookup_read_notouch(ctx, &argv[2]) else { return Reply::Nil };
    Reply::Int(entry_usage_bytes(key_len, entry, samples, shard_rng_seed) as i64)
}

/// A key's footprint: key allocation, table slot and the value's heap. Hash values are sampled
/// (`samples` fields, 0 = all) and extrapolated, as Redis's `objectComputeSize`.
pub fn entry_usage_bytes(key_len: usize, entry: &Entry, samples: u64, seed: u64) -> u64 {
    let value = match &entry.value {
        Value::Hash(h) => {
            let n = h.len() as u64;
            if samples == 0 || samples >= n {
                let mut total = 0u64;
                h.for_each(|f, v| total += (f.len() + v.len()) as u64 + HASH_FIELD_OVERHEAD_BYTES);
                total
            } else {
                use rand::SeedableRng;
                let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
                let mut sampled = 0u64;
                for _ in 0..samples {
                    if let Some((f, v)) = h.random(&mut rng) {
                        sampled += (f.len() + v.len()) as u64 + HASH_FIELD_OVERHEAD_BYTES;
                    }
                }
                sampled * n / samples
            }
        }
        other => value_heap_bytes(other),
    };
    entry_overhead_bytes(key_len) + value
}

/// What the shard knows about its memory: (table overhead per db, keys, sampled dataset bytes).
struct ShardMemory {
    per_db: Vec<(usize, u64)>,
    overhead_bytes: u64,
    keys: u64,
    dataset_bytes: u64,
}

fn shard_memory(ctx: &mut Ctx<'_>) -> ShardMemory {
    let mut out = ShardMemory { per_db: Vec::new(), overhead_bytes: 0, keys: 0, dataset_bytes: 0 };
    let shard = &mut *ctx.shard;
    for (i, db) in shard.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        let table_bytes = db.table.capacity_bytes() as u64;
        out.per_db.push((i, table_bytes));
        out.overhead_bytes += table_bytes;
        let n = db.len() as u64;
        out.keys += n;
        let mut sum = 0u64;
        let mut taken = 0u64;
        for _ in 0..STATS_SAMPLES_PER_DB.min(db.len()) {
            if let Some((k, e)) = db.table.random(&mut shard.rng) {
                sum += entry_usage_bytes(k.len(), e, DEFAULT_SAMPLES, 0);
                taken += 1;
            }
        }
        out.dataset_bytes += (sum * n).checked_div(taken).unwrap_or(0);
    }
    out
}

/// `MEMORY STATS`: Redis's field names; allocator figures are this shard's estimate.
fn stats(ctx: &mut Ctx<'_>) -> Reply {
    let m = shard_memory(ctx);
    let startup = std::mem::size_of::<crate::shard::Shard>() as u64;
    let total = startup + m.overhead_bytes + m.dataset_bytes;
    let peak = ctx.shard.evict.note_peak_bytes(total);
    let overhead_total = startup + m.overhead_bytes;
    let pct =
        |part: u64, whole: u64| if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 };
    let mut fields: Vec<(Reply, Reply)> = vec![
        (Reply::bulk_str("peak.allocated"), Reply::Int(peak as i64)),
        (Reply::bulk_str("total.allocated"), Reply::Int(total as i64)),
        (Reply::bulk_str("startup.allocated"), Reply::Int(startup as i64)),
        (Reply::bulk_str("replication.backlog"), Reply::Int(0)),
        (Reply::bulk_str("clients.slaves"), Reply::Int(0)),
        (Reply::bulk_str("clients.normal"), Reply::Int(0)),
        (Reply::bulk_str("cluster.links"), Reply::Int(0)),
        (Reply::bulk_str("aof.buffer"), Reply::Int(0)),
        (Reply::bulk_str("lua.caches"), Reply::Int(0)),
        (Reply::bulk_str("functions.caches"), Reply::Int(0)),
    ];
    for (db, table_bytes) in &m.per_db {
        fields.push((
            Reply::bulk(format!("db.{db}")),
            Reply::Map(vec![
                (Reply::bulk_str("overhead.hashtable.main"), Reply::Int(*table_bytes as i64)),
                (Reply::bulk_str("overhead.hashtable.expires"), Reply::Int(0)),
            ]),
        ));
    }
    let dataset_pct = pct(m.dataset_bytes, total.saturating_sub(startup));
    fields.extend([
        (Reply::bulk_str("overhead.hashtable.main"), Reply::Int(m.overhead_bytes as i64)),
        (Reply::bulk_str("overhead.hashtable.expires"), Reply::Int(0)),
        (Reply::bulk_str("overhead.hashtable.slot-to-keys"), Reply::Int(0)),
        (Reply::bulk_str("overhead.total"), Reply::Int(overhead_total as i64)),
        (Reply::bulk_str("keys.count"), Reply::Int(m.keys as i64)),
        (
            Reply::bulk_str("keys.bytes-per-key"),
            Reply::Int((total - startup).checked_div(m.keys).unwrap_or(0) as i64),
        ),
        (Reply::bulk_str("dataset.bytes"), Reply::Int(m.dataset_bytes as i64)),
        (Reply::bulk_str("dataset.percentage"), Reply::Double(dataset_pct)),
        (Reply::bulk_str("peak.percentage"), Reply::Double(pct(total, peak))),
        (Reply::bulk_str("fragmentation"), Reply::Double(1.0)),
        (Reply::bulk_str("fragmentation.bytes"), Reply::Int(0)),
    ]);
    Reply::Map(fields)
}

/// `MEMORY DOCTOR`: Redis's texts for an empty instance and for one without issues. With the
/// allocator out of the engine's sight, the only issue it can diagnose is a peak far above
/// the current figure.
fn doctor(ctx: &mut Ctx<'_>) -> Reply {
    let m = shard_memory(ctx);
    let total =
        std::mem::size_of::<crate::shard::Shard>() as u64 + m.overhead_bytes + m.dataset_bytes;
    let peak = ctx.shard.evict.note_peak_bytes(total);
    let text = if total < DOCTOR_EMPTY_BYTES {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.".to_string()
    } else if peak as f64 / total as f64 > 1.5 {
        "Sam, I detected a few issues in this Redis instance memory implants:\n\n * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\nI'm here to keep you safe, Sam. I want to help you.\n".to_string()
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.".to_string()
    };
    Reply::Verbatim("txt", Bytes::from(text))
}
