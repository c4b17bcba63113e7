//! DEBUG OBJECT, DEBUG DIGEST and DEBUG DIGEST-VALUE: Redis's introspection lines and dataset
//! digests (see `mayfly_engine::digest`), computed on the shards that own the data.
//!
//! ```text
//!  DEBUG OBJECT key            ──► owner shard: encoding, refcount, RDB body length, lru
//!  DEBUG DIGEST-VALUE k1 k2 …  ──► each key's owner: its value digest (zeros when missing)
//!  DEBUG DIGEST                ──► every shard: per-database XOR of key digests ──► combine
//! ```
//! Like Redis, these look keys up without expiring them (a logically expired key is still
//! described) and without touching their access time.

use bytes::Bytes;
use mayfly_engine::config::Config;
use mayfly_engine::db::Entry;
use mayfly_engine::digest;
use mayfly_engine::reply::Reply;
use mayfly_engine::value::Value;

use crate::shard::env::{Env, Job, Out};
use crate::shard::{call, here};

/// Runs `f` on the entry of `key` in `db`, on the shard that owns it.
async fn with_entry<T: Send + 'static>(
    db: usize,
    key: Bytes,
    f: impl FnOnce(Option<&Entry>, &Config, u64) -> T + Send + 'static,
) -> Option<T> {
    let shard = here().shared.shard_of(&key);
    let out = call(
        shard,
        Job::Run(Box::new(move |env: &mut Env| {
            let now = env.shard.clock.now_ms();
            let shard = &env.shard;
            let entry = shard.dbs.get(db).and_then(|d| d.table.get(key.as_ref()));
            Out::Any(Box::new(f(entry, &shard.config, now)))
        })),
    )
    .await;
    match out {
        Out::Any(b) => b.downcast::<T>().ok().map(|b| *b),
        _ => None,
    }
}

/// Redis's `DEBUG OBJECT` line for one entry.
pub fn object_line(entry: &Entry, config: &Config, now_ms: u64) -> String {
    let value = &entry.value;
    let serialized =
        mayfly_persistence::encode::value_body(value, &super::dump::encode_options(config)).len();
    let mut extra = String::new();
    if let Value::List(l) = value {
        let nodes = l.node_count();
        let size: usize = l.nodes().map(|n| n.byte_size()).sum();
        let avg = if nodes == 0 { f64::NAN } else { l.len() as f64 / nodes as f64 };
        extra = format!(
            " ql_nodes:{nodes} ql_avg_node:{avg:.2} ql_listpack_max:{} ql_compressed:{} ql_uncompressed_size:{size}",
            config.list_max_listpack_size,
            u8::from(config.list_compress_depth != 0),
        );
    }
    format!(
        "Value at:{:p} refcount:{} encoding:{} serializedlength:{serialized} lru:{} lru_seconds_idle:{}{extra}",
        value as *const Value,
        mayfly_engine::families::keys::object_refcount(value, config),
        value.encoding(),
        entry.lru,
        mayfly_engine::evict::idle_ms(entry.lru, now_ms) / 1000,
    )
}

/// `DEBUG OBJECT key`.
pub async fn object(db: usize, key: Bytes) -> Reply {
    let line = with_entry(db, key, |entry, config, now| entry.map(|e| object_line(e, config, now)))
        .await
        .flatten();
    match line {
        Some(l) => Reply::status(l),
        None => Reply::error("ERR no such key"),
    }
}

/// `DEBUG DIGEST-VALUE key …`: one status line per key, zeros for a missing key.
pub async fn digest_value(db: usize, keys: &[Bytes]) -> Reply {
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let d = with_entry(db, key.clone(), |entry, _, _| {
            entry.map(|e| digest::value_digest(&e.value, e.expire_at_ms != 0)).unwrap_or_default()
        })
        .await
        .unwrap_or_default();
        out.push(Reply::status(digest::hex(&d)));
    }
    Reply::Array(out)
}

/// `DEBUG DIGEST`: the whole dataset's digest.
pub async fn dataset_digest() -> Reply {
    let parts =
        crate::coord::on_all_shards(|env: &mut Env| digest::shard_digests(&env.shard)).await;
    Reply::status(digest::hex(&digest::combine(&parts)))
}
