//! Server configuration: typed fields plus one parameter table that serves CONFIG GET/SET,
//! the config file and command-line flags, with Redis's names, defaults and value syntax.

/// Parses a Redis memory value: plain bytes or with a unit (`k`=1000, `kb`=1024, `m`, `mb`,
/// `g`, `gb`), case-insensitive, as Redis's `memtoull`.
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit() && c != '-').unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    let n: u64 = num.parse().ok()?;
    n.checked_mul(mul)
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn parse_int<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.trim().parse::<T>().map_err(|_| "argument couldn't be parsed into an integer".to_string())
}

fn parse_mem(s: &str) -> Result<u64, String> {
    parse_memory(s).ok_or_else(|| "argument must be a memory value".to_string())
}

/// The eviction policies Redis names in `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictionPolicy {
    NoEviction,
    AllKeysLru,
    VolatileLru,
    AllKeysLfu,
    VolatileLfu,
    AllKeysRandom,
    VolatileRandom,
    VolatileTtl,
    /// Mayfly's extra policy: S3-FIFO (SOSP'23) over all keys; see `evict.rs`.
    AllKeysS3Fifo,
}

impl EvictionPolicy {
    pub const ALL: [EvictionPolicy; 9] = [
        EvictionPolicy::VolatileLru,
        EvictionPolicy::VolatileLfu,
        EvictionPolicy::VolatileRandom,
        EvictionPolicy::VolatileTtl,
        EvictionPolicy::AllKeysLru,
        EvictionPolicy::AllKeysLfu,
        EvictionPolicy::AllKeysRandom,
        EvictionPolicy::NoEviction,
        EvictionPolicy::AllKeysS3Fifo,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EvictionPolicy::NoEviction => "noeviction",
            EvictionPolicy::AllKeysLru => "allkeys-lru",
            EvictionPolicy::VolatileLru => "volatile-lru",
            EvictionPolicy::AllKeysLfu => "allkeys-lfu",
            EvictionPolicy::VolatileLfu => "volatile-lfu",
            EvictionPolicy::AllKeysRandom => "allkeys-random",
            EvictionPolicy::VolatileRandom => "volatile-random",
            EvictionPolicy::VolatileTtl => "volatile-ttl",
            EvictionPolicy::AllKeysS3Fifo => "allkeys-s3fifo",
        }
    }

    pub fn parse(s: &str) -> Option<EvictionPolicy> {
        let lower = s.to_ascii_lowercase();
        Self::ALL.into_iter().find(|p| p.name() == lower)
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu)
    }
}

/// Every setting Mayfly supports. Field names follow the Redis parameter names.
#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    pub bind: String,
    pub requirepass: String,
    pub maxclients: u64,
    pub timeout_s: u64,
    pub tcp_keepalive_s: u64,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    pub databases: usize,
    pub hz: u64,
    pub maxmemory: u64,
    pub maxmemory_policy: EvictionPolicy,
    pub maxmemory_samples: u64,
    pub maxmemory_eviction_tenacity: u64,
    pub lfu_log_factor: u64,
    pub lfu_decay_time: u64,
    pub active_expire_enabled: bool,
    pub list_max_listpack_size: i64,
    pub list_compress_depth: u64,
    pub hash_max_listpack_entries: u64,
    pub hash_max_listpack_value: u64,
    pub set_max_intset_entries: u64,
    pub zset_max_listpack_entries: u64,
    pub zset_max_listpack_value: u64,
    /// Largest sparse HyperLogLog (header included) before it is promoted to dense.
    pub hll_sparse_max_bytes: u64,
    /// Largest stream node (listpack) in bytes; 0 = Redis's 1 GiB cap only.
    pub stream_node_max_bytes: u64,
    /// Most entries (live and deleted) in one stream node; 0 = no limit.
    pub stream_node_max_entries: u64,
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: u64,
    pub latency_tracking: bool,
    pub lazyfree_lazy_eviction: bool,
    pub lazyfree_lazy_expire: bool,
    pub lazyfree_lazy_server_del: bool,
    pub lazyfree_lazy_user_del: bool,
    pub lazyfree_lazy_user_flush: bool,
    pub save: String,
    pub appendonly: bool,
    pub appendfsync: String,
    pub appendfilename: String,
    pub dir: String,
    pub dbfilename: String,
    pub loglevel: String,
    pub logfile: String,
    pub daemonize: bool,
    pub protected_mode: bool,
    pub shards: usize,
    /// Count SMT siblings as shard CPUs (one shard per logical CPU) when `shards` is 0.
    pub use_smt: bool,
    pub io_threads: u64,
    pub enable_debug_command: String,
    /// Keyspace notification class bits (see `notify::class`); 0 = off.
    pub notify_keyspace_events: u32,
    pub busy_reply_threshold: u64,
    pub client_output_buffer_limit: String,
    pub replica_read_only: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 6379,
            bind: "127.0.0.1".into(),
            requirepass: String::new(),
            maxclients: 10000,
            timeout_s: 0,
            tcp_keepalive_s: 300,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            databases: 16,
            hz: 10,
            maxmemory: 0,
            maxmemory_policy: EvictionPolicy::NoEviction,
            maxmemory_samples: 5,
            maxmemory_eviction_tenacity: 10,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            active_expire_enabled: true,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            hll_sparse_max_bytes: 3000,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
            slowlog_log_slower_than: 10000,
            slowlog_max_len: 128,
            latency_tracking: true,
            lazyfree_lazy_eviction: false,
            lazyfree_lazy_expire: false,
            lazyfree_lazy_server_del: false,
            lazyfree_lazy_user_del: false,
            lazyfree_lazy_user_flush: false,
            save: String::new(),
            appendonly: false,
            appendfsync: "everysec".into(),
            appendfilename: "appendonly.aof".into(),
            dir: ".".into(),
            dbfilename: "dump.rdb".into(),
            loglevel: "notice".into(),
            logfile: String::new(),
            daemonize: false,
            protected_mode: true,
            shards: 0,
            use_smt: false,
            io_threads: 1,
            enable_debug_command: "yes".into(),
            notify_keyspace_events: 0,
            busy_reply_threshold: 5000,
            client_output_buffer_limit:
                "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60".into(),
            replica_read_only: true,
        }
    }
}

/// One parameter: its Redis name, aliases, how to read and write it.
pub struct Param {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    /// Settable only at startup (CONFIG SET answers Redis's immutable-config error).
    pub immutable: bool,
    pub get: fn(&Config) -> String,
    pub set: fn(&mut Config, &str) -> Result<(), String>,
}

macro_rules! param {
    ($name:literal, $alias:expr, $imm:expr, $field:ident, u64) => {
        Param {
            name: $name,
            alias: $alias,
            immutable: $imm,
            get: |c| c.$field.to_string(),
            set: |c, v| {
                c.$field = parse_int(v)?;
                Ok(())
            },
        }
    };
    ($name:literal, $alias:expr, $imm:expr, $field:ident, i64) => {
        Param {
            name: $name,
            alias: $alias,
            immutable: $imm,
            get: |c| c.$field.to_string(),
            set: |c, v| {
                c.$field = parse_int(v)?;
                Ok(())
            },
        }
    };
    ($name:literal, $alias:expr, $imm:expr, $field:ident, mem) => {
        Param {
            name: $name,
            alias: $alias,
            immutable: $imm,
            get: |c| c.$field.to_string(),
            set: |c, v| {
                c.$field = parse_mem(v)?;
                Ok(())
            },
        }
    };
    ($name:literal, $alias:expr, $imm:expr, $field:ident, bool) => {
        Param {
            name: $name,
            alias: $alias,
            immutable: $imm,
            get: |c| yes_no(c.$field),
            set: |c, v| {
                c.$field = parse_bool(v)?;
                Ok(())
            },
        }
    };
    ($name:literal, $alias:expr, $imm:expr, $field:ident, string) => {
        Param {
            name: $name,
            alias: $alias,
            immutable: $imm,
            get: |c| c.$field.clone(),
            set: |c, v| {
                c.$field = v.to_string();
                Ok(())
            },
        }
    };
}

pub static PARAMS: &[Param] = &[
    Param {
        name: "port",
        alias: None,
        immutable: true,
        get: |c| c.port.to_string(),
        set: |c, v| {
            c.port = parse_int(v)?;
            Ok(())
        },
    },
    param!("bind", None, true, bind, string),
    param!("requirepass", None, false, requirepass, string),
    param!("maxclients", None, false, maxclients, u64),
    param!("timeout", None, false, timeout_s, u64),
    param!("tcp-keepalive", None, false, tcp_keepalive_s, u64),
    Param {
        name: "proto-max-bulk-len",
        alias: None,
        immutable: false,
        get: |c| c.proto_max_bulk_len.to_string(),
        set: |c, v| {
            let n = parse_mem(v)?;
            if n < 1024 * 1024 {
                return Err(
                    "argument must be between 1048576 and 9223372036854775807 inclusive".into()
                );
            }
            c.proto_max_bulk_len = n;
            Ok(())
        },
    },
    Param {
        name: "client-query-buffer-limit",
        alias: None,
        immutable: false,
        get: |c| c.client_query_buffer_limit.to_string(),
        set: |c, v| {
            let n = parse_mem(v)?;
            if n < 1024 * 1024 {
                return Err(
                    "argument must be between 1048576 and 9223372036854775807 inclusive".into()
                );
            }
            c.client_query_buffer_limit = n;
            Ok(())
        },
    },
    Param {
        name: "databases",
        alias: None,
        immutable: true,
        get: |c| c.databases.to_string(),
        set: |c, v| {
            c.databases = parse_int(v)?;
            Ok(())
        },
    },
    Param {
        name: "hz",
        alias: None,
        immutable: false,
        get: |c| c.hz.to_string(),
        set: |c, v| {
            c.hz = parse_int::<u64>(v)?.clamp(1, 500);
            Ok(())
        },
    },
    param!("maxmemory", None, false, maxmemory, mem),
    Param {
        name: "maxmemory-policy",
        alias: None,
        immutable: false,
        get: |c| c.maxmemory_policy.name().to_string(),
        set: |c, v| {
            c.maxmemory_policy = EvictionPolicy::parse(v).ok_or("argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction, allkeys-s3fifo")?;
            Ok(())
        },
    },
    param!("maxmemory-samples", None, false, maxmemory_samples, u64),
    param!("maxmemory-eviction-tenacity", None, false, maxmemory_eviction_tenacity, u64),
    param!("lfu-log-factor", None, false, lfu_log_factor, u64),
    param!("lfu-decay-time", None, false, lfu_decay_time, u64),
    param!(
        "list-max-listpack-size",
        Some("list-max-ziplist-size"),
        false,
        list_max_listpack_size,
        i64
    ),
    param!("list-compress-depth", None, false, list_compress_depth, u64),
    param!(
        "hash-max-listpack-entries",
        Some("hash-max-ziplist-entries"),
        false,
        hash_max_listpack_entries,
        u64
    ),
    param!(
        "hash-max-listpack-value",
        Some("hash-max-ziplist-value"),
        false,
        hash_max_listpack_value,
        u64
    ),
    param!("set-max-intset-entries", None, false, set_max_intset_entries, u64),
    param!("hll-sparse-max-bytes", None, false, hll_sparse_max_bytes, mem),
    param!(
        "zset-max-listpack-entries",
        Some("zset-max-ziplist-entries"),
        false,
        zset_max_listpack_entries,
        u64
    ),
    param!(
        "zset-max-listpack-value",
        Some("zset-max-ziplist-value"),
        false,
        zset_max_listpack_value,
        u64
    ),
    param!("stream-node-max-bytes", None, false, stream_node_max_bytes, mem),
    Param {
        name: "stream-node-max-entries",
        alias: None,
        immutable: false,
        get: |c| c.stream_node_max_entries.to_string(),
        set: |c, v| {
            let n: i64 = parse_int(v)?;
            c.stream_node_max_entries = u64::try_from(n).map_err(|_| {
                "argument must be between 0 and 9223372036854775807 inclusive".to_string()
            })?;
            Ok(())
        },
    },
    param!("slowlog-log-slower-than", None, false, slowlog_log_slower_than, i64),
    param!("slowlog-max-len", None, false, slowlog_max_len, u64),
    param!("latency-tracking", None, false, latency_tracking, bool),
    param!("lazyfree-lazy-eviction", None, false, lazyfree_lazy_eviction, bool),
    param!("lazyfree-lazy-expire", None, false, lazyfree_lazy_expire, bool),
    param!("lazyfree-lazy-server-del", None, false, lazyfree_lazy_server_del, bool),
    param!("lazyfree-lazy-user-del", None, false, lazyfree_lazy_user_del, bool),
    param!("lazyfree-lazy-user-flush", None, false, lazyfree_lazy_user_flush, bool),
    param!("save", None, false, save, string),
    param!("appendonly", None, false, appendonly, bool),
    param!("appendfsync", None, false, appendfsync, string),
    param!("appendfilename", None, true, appendfilename, string),
    param!("dir", None, false, dir, string),
    param!("dbfilename", None, false, dbfilename, string),
    param!("loglevel", None, false, loglevel, string),
    param!("logfile", None, true, logfile, string),
    param!("daemonize", None, true, daemonize, bool),
    param!("protected-mode", None, false, protected_mode, bool),
    Param {
        name: "shards",
        alias: None,
        immutable: true,
        get: |c| c.shards.to_string(),
        set: |c, v| {
            c.shards = parse_int(v)?;
            Ok(())
        },
    },
    param!("use-smt", None, true, use_smt, bool),
    param!("io-threads", None, true, io_threads, u64),
    param!("enable-debug-command", None, true, enable_debug_command, string),
    Param {
        name: "notify-keyspace-events",
        alias: None,
        immutable: false,
        get: |c| crate::notify::render_flags(c.notify_keyspace_events),
        set: |c, v| {
            c.notify_keyspace_events = crate::notify::parse_flags(v)
                .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
            Ok(())
        },
    },
    param!("busy-reply-threshold", Some("lua-time-limit"), false, busy_reply_threshold, u64),
    param!("client-output-buffer-limit", None, false, client_output_buffer_limit, string),
    param!("replica-read-only", Some("slave-read-only"), false, replica_read_only, bool),
];

pub fn find_param(name: &str) -> Option<&'static Param> {
    let lower = name.to_ascii_lowercase();
    PARAMS.iter().find(|p| p.name == lower || p.alias == Some(lower.as_str()))
}

/// Glob match as Redis's `stringmatchlen` (used by CONFIG GET, KEYS, SCAN MATCH).
pub use crate::glob::glob_match;

impl Config {
    /// Sets one parameter by name, as CONFIG SET or the config file would.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let p = find_param(name).ok_or_else(|| {
            format!("Unknown option or number of arguments for CONFIG SET - '{name}'")
        })?;
        (p.set)(self, value)
    }

    pub fn get(&self, name: &str) -> Option<String> {
        find_param(name).map(|p| (p.get)(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units_follow_redis() {
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("1G"), Some(1_000_000_000));
        assert_eq!(parse_memory("100mb"), Some(100 << 20));
        assert_eq!(parse_memory("5k"), Some(5000));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("12xb"), None);
    }

    #[test]
    fn params_round_trip_through_get_and_set() {
        let mut c = Config::default();
        c.set("maxmemory", "64mb").unwrap();
        assert_eq!(c.get("maxmemory").unwrap(), (64u64 << 20).to_string());
        c.set("hash-max-ziplist-entries", "7").unwrap();
        assert_eq!(c.get("hash-max-listpack-entries").unwrap(), "7");
        assert!(c.set("maxmemory-policy", "bogus").is_err());
        c.set("maxmemory-policy", "ALLKEYS-LRU").unwrap();
        assert_eq!(c.get("maxmemory-policy").unwrap(), "allkeys-lru");
        c.set("notify-keyspace-events", "KA").unwrap();
        assert_eq!(c.get("notify-keyspace-events").unwrap(), "AK");
        let err = c.set("notify-keyspace-events", "KQ").unwrap_err();
        assert_eq!(err, "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.");
        assert_eq!(c.get("notify-keyspace-events").unwrap(), "AK");
    }
}
