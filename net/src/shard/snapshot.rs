//! A shard's part of an RDB snapshot: serialising its keyspace into key records (SAVE,
//! BGSAVE, DEBUG RELOAD) and loading the keys of a file that it owns (start-up, DEBUG
//! RELOAD). Runs on the shard's own thread, inside a job; knows nothing of files or of the
//! other shards (the server's `persist` joins the parts and writes the file).
//!
//! ```text
//!   capture: for db: for (key, entry): key_record ──► 1 MiB chunks per db ──► ShardImage
//!   load:    (offset, expiry, idle/freq) ──decode_key_at──► Entry ──► store_entry
//! ```
//! Values are decoded on the thread that will own them, so their memory is this shard's.

use mayfly_engine::config::{Config, EvictionPolicy};
use mayfly_engine::db::Entry;
use mayfly_engine::evict;
use mayfly_engine::types::stream::NodeLimits;
use mayfly_engine::value::Value;
use mayfly_persistence::{key_record, DecodeOptions, EncodeOptions, KeyMeta, KeyUsage, RdbValue};

use super::env::Env;

/// Size past which a database's records start a new chunk (keeps reallocation copies small).
const CHUNK_BYTES: usize = 1 << 20;

/// One database's records from one shard.
#[derive(Default)]
pub struct DbImage {
    pub keys: u64,
    pub expires: u64,
    pub chunks: Vec<Vec<u8>>,
}

/// What one shard contributes to a snapshot, and its write counter at that instant.
pub struct ShardImage {
    pub dbs: Vec<DbImage>,
    pub dirty: u64,
    pub bytes: u64,
}

/// How a key's eviction data is written under `policy` (Redis: IDLE under LRU policies,
/// FREQ under LFU ones, nothing otherwise).
fn usage(config: &Config, lru: u32, now_ms: u64) -> KeyUsage {
    let policy = config.maxmemory_policy;
    if policy.is_lfu() {
        let freq = evict::lfu_decayed(lru, now_ms, config.lfu_decay_time);
        KeyUsage::Freq(freq.min(255) as u8)
    } else if matches!(policy, EvictionPolicy::AllKeysLru | EvictionPolicy::VolatileLru) {
        KeyUsage::IdleSeconds(evict::idle_ms(lru, now_ms) / 1000)
    } else {
        KeyUsage::None
    }
}

/// Serialises every key of this shard (all databases) as RDB key records.
pub fn capture(env: &mut Env, opts: &EncodeOptions) -> ShardImage {
    let shard = &env.shard;
    let now_ms = shard.clock.now_ms();
    let mut dbs = Vec::with_capacity(shard.dbs.len());
    let mut bytes = 0u64;
    for db in &shard.dbs {
        let mut image = DbImage::default();
        let mut current: Vec<u8> = Vec::new();
        for (key, entry) in db.table.iter() {
            let meta = KeyMeta {
                expire_ms: (entry.expire_at_ms != 0).then_some(entry.expire_at_ms as i64),
                usage: usage(&shard.config, entry.lru, now_ms),
            };
            key_record(&mut current, key, &entry.value, &meta, opts);
            image.keys += 1;
            image.expires += (entry.expire_at_ms != 0) as u64;
            if current.len() >= CHUNK_BYTES {
                bytes += current.len() as u64;
                image.chunks.push(std::mem::take(&mut current));
            }
        }
        if !current.is_empty() {
            bytes += current.len() as u64;
            image.chunks.push(current);
        }
        dbs.push(image);
    }
    ShardImage { dbs, dirty: shard.dirty, bytes }
}

/// A key of a file, found by the validating pass and routed to its shard.
#[derive(Clone, Copy, Debug)]
pub struct KeyRef {
    pub db: u32,
    /// Offset of the key's type byte in the file.
    pub offset: u64,
    pub expire_ms: Option<i64>,
    pub idle_s: Option<u64>,
    pub freq: Option<u8>,
}

/// The `lru` field of a loaded key: its IDLE or FREQ when the policy uses them.
fn loaded_lru(config: &Config, k: &KeyRef, now_ms: u64) -> u32 {
    let policy = config.maxmemory_policy;
    match (k.idle_s, k.freq) {
        (_, Some(freq)) if policy.is_lfu() => (evict::lfu_minutes(now_ms) << 8) | freq as u32,
        (Some(idle), _)
            if matches!(policy, EvictionPolicy::AllKeysLru | EvictionPolicy::VolatileLru) =>
        {
            evict::lru_clock(now_ms.saturating_sub(idle.saturating_mul(1000)))
        }
        _ => evict::initial_lru(policy, now_ms),
    }
}

/// Loads the keys `keys` of the file `data` (already validated) into this shard. The
/// shard's write counter is left as it was (a load is not a change). Returns the keys
/// stored and the keys that could not be decoded or built (none for a validated file).
pub fn load(env: &mut Env, data: &[u8], keys: &[KeyRef], opts: &DecodeOptions) -> (u64, u64) {
    let dirty = env.shard.dirty;
    let now_ms = env.shard.clock.now_ms();
    let limits = NodeLimits {
        max_bytes: env.shard.config.stream_node_max_bytes,
        max_entries: env.shard.config.stream_node_max_entries,
    };
    let databases = env.shard.dbs.len();
    let (mut stored, mut failed) = (0u64, 0u64);
    for k in keys {
        let Ok((key, Some(value))) = mayfly_persistence::decode_key_at(data, k.offset, opts) else {
            failed += 1;
            continue;
        };
        let value = match value {
            RdbValue::Value(v) => v,
            RdbValue::Stream(s) => match s.to_engine(limits) {
                Ok(stream) => Value::Stream(Box::new(stream)),
                Err(_) => {
                    failed += 1;
                    continue;
                }
            },
        };
        let db = k.db as usize;
        if db >= databases {
            failed += 1;
            continue;
        }
        let entry = Entry {
            value,
            expire_at_ms: k.expire_ms.map_or(0, |ms| ms.max(1) as u64),
            lru: loaded_lru(&env.shard.config, k, now_ms),
        };
        env.shard.store_entry(db, &key, Some(entry));
        stored += 1;
    }
    env.shard.dirty = dirty;
    (stored, failed)
}

/// Empties every database without counting changes (DEBUG RELOAD's emptyData); WATCHers of
/// the removed keys are flagged.
pub fn flush(env: &mut Env) {
    let dirty = env.shard.dirty;
    env.shard.flush_all();
    env.shard.dirty = dirty;
    env.flag_watchers();
}
