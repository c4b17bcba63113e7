//! Server configuration: typed fields plus one parameter table that serves CONFIG GET/SET,
//! the config file and command-line flags, with Redis's names, defaults and value syntax.
//!
//! Every parameter in [`PARAMS`] either takes effect or is refused: a parameter whose feature
//! Mayfly does not have yet (persistence, replication, scripting, SLOWLOG, …) is marked
//! [`Support::DefaultOnly`] and accepts only its default value, so a stock redis.conf still
//! loads while a setting that would silently do nothing (`appendonly yes`, `save 900 1`) is
//! refused at start-up and by CONFIG SET with the reason. Remove the mark in the same change
//! that makes the feature work. A few knobs of features that do not exist, which Redis's test
//! configuration sets and whose being ignored misleads nobody about their data (the latency
//! monitor threshold, replication tuning, `unixsocket`: a client of the socket fails to
//! connect, visibly), are [`Support::Inert`] instead: accepted, kept and
//! logged at start-up as having no effect. `deploy/mayfly.conf` lists the same parameters.

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
    /// Percentiles INFO latencystats shows (Redis's default: 50 99 99.9).
    pub latency_tracking_info_percentiles: Vec<f64>,
    /// LATENCY monitor: events at least this long (ms) are sampled; 0 = off.
    pub latency_monitor_threshold_ms: u64,
    pub lazyfree_lazy_eviction: bool,
    pub lazyfree_lazy_expire: bool,
    pub lazyfree_lazy_server_del: bool,
    pub lazyfree_lazy_user_del: bool,
    pub lazyfree_lazy_user_flush: bool,
    pub save: String,
    pub appendonly: bool,
    pub appendfsync: String,
    pub appendfilename: String,
    /// The multi-part AOF directory, in `dir` (`appenddirname`).
    pub appenddirname: String,
    /// Load an AOF whose last file ends in a torn command, cutting it (`aof-load-truncated`).
    pub aof_load_truncated: bool,
    /// `#TS:<unix s>` annotations in the incr files (`aof-timestamp-enabled`).
    pub aof_timestamp_enabled: bool,
    /// Automatic rewrite when the AOF grew by this % over its size after the last rewrite.
    pub auto_aof_rewrite_percentage: u64,
    /// … and is at least this big (`auto-aof-rewrite-min-size`).
    pub auto_aof_rewrite_min_size: u64,
    pub dir: String,
    pub dbfilename: String,
    /// RDB files: LZF-compress strings (`rdbcompression`).
    pub rdbcompression: bool,
    /// RDB files: write and check the CRC-64 (`rdbchecksum`).
    pub rdbchecksum: bool,
    /// Refuse writes (-MISCONF) while the last background save failed and save points exist.
    pub stop_writes_on_bgsave_error: bool,
    pub loglevel: String,
    pub logfile: String,
    pub daemonize: bool,
    pub protected_mode: bool,
    pub shards: usize,
    /// Count SMT siblings as shard CPUs (one shard per logical CPU) when `shards` is 0.
    pub use_smt: bool,
    pub io_threads: u64,
    /// DEBUG: `yes`, `no` or `local` (only from loopback and Unix-socket clients).
    pub enable_debug_command: String,
    /// CONFIG SET of protected parameters (`dir`, `dbfilename`): `yes`, `no` or `local`.
    pub enable_protected_configs: String,
    /// MODULE: `yes`, `no` or `local` (Mayfly has no MODULE command; kept for redis.conf).
    pub enable_module_command: String,
    /// Listen backlog of the listening sockets (capped by the kernel's somaxconn).
    pub tcp_backlog: u64,
    /// First port of the cluster face: shard i also listens on this port + i and answers there
    /// as a Redis Cluster master of its slots (0 = off).
    pub cluster_face_port: u64,
    /// Written with the process id at start, removed at shutdown; "" = none.
    pub pidfile: String,
    /// Longest a shutdown (SIGTERM, SIGINT, SHUTDOWN) may take before the process exits anyway.
    pub shutdown_timeout_s: u64,
    /// Print the banner at start even when the log is not a terminal.
    pub always_show_logo: bool,
    /// Keyspace notification class bits (see `notify::class`); 0 = off.
    pub notify_keyspace_events: u32,
    pub busy_reply_threshold: u64,
    pub client_output_buffer_limit: String,
    pub replica_read_only: bool,
    /// Values of the redis.conf parameters Mayfly accepts only at their default (see
    /// [`Support::DefaultOnly`]), by name.
    pub compat: std::collections::BTreeMap<&'static str, String>,
    /// RESTORE's deep payload check: `no`, `yes` or `clients` (see `families::dump`).
    pub sanitize_dump_payload: String,
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
            hash_max_listpack_entries: 512,
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
            latency_tracking_info_percentiles: vec![50.0, 99.0, 99.9],
            latency_monitor_threshold_ms: 0,
            lazyfree_lazy_eviction: false,
            lazyfree_lazy_expire: false,
            lazyfree_lazy_server_del: false,
            lazyfree_lazy_user_del: false,
            lazyfree_lazy_user_flush: false,
            save: String::new(),
            appendonly: false,
            appendfsync: "everysec".into(),
            appendfilename: "appendonly.aof".into(),
            appenddirname: "appendonlydir".into(),
            aof_load_truncated: true,
            aof_timestamp_enabled: false,
            auto_aof_rewrite_percentage: 100,
            auto_aof_rewrite_min_size: 64 << 20,
            dir: ".".into(),
            dbfilename: "dump.rdb".into(),
            rdbcompression: true,
            rdbchecksum: true,
            stop_writes_on_bgsave_error: true,
            loglevel: "notice".into(),
            logfile: String::new(),
            daemonize: false,
            protected_mode: true,
            shards: 0,
            use_smt: false,
            io_threads: 1,
            enable_debug_command: "no".into(),
            enable_protected_configs: "no".into(),
            enable_module_command: "no".into(),
            tcp_backlog: 511,
            cluster_face_port: 0,
            pidfile: String::new(),
            shutdown_timeout_s: 10,
            always_show_logo: false,
            notify_keyspace_events: 0,
            busy_reply_threshold: 5000,
            client_output_buffer_limit:
                "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60".into(),
            replica_read_only: true,
            compat: std::collections::BTreeMap::new(),
            sanitize_dump_payload: "no".into(),
        }
    }
}

/// Whether a parameter's value takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Every valid value takes effect.
    Full,
    /// The feature behind it does not exist yet: only the default value (what Mayfly does
    /// anyway) is accepted, any other is refused with this reason, at start-up and by CONFIG
    /// SET, so nobody believes a setting works that does nothing.
    DefaultOnly(&'static str),
    /// Any valid value is accepted and kept (CONFIG GET shows it) but changes nothing,
    /// because what it tunes does not exist here (a replication or latency-monitor knob); the
    /// server logs one line with this reason at start-up for each such setting that is not at
    /// its default ([`Config::inert`]). Only for settings whose being ignored cannot mislead
    /// anyone about their data: Redis's test configuration (`tests/assets/default.conf`)
    /// sets them, and a redis.conf must load (issue 13).
    Inert(&'static str),
}

const NO_PERSISTENCE: &str =
    "persistence is not available yet (nothing is written to disk, so this setting could not be honoured)";
const NO_REPLICATION: &str = "replication is not available yet";
const NO_LAZYFREE_SWITCH: &str = "Mayfly decides itself which frees are deferred (large values are freed in bounded steps by the shard tick)";

/// One parameter: its Redis name, aliases, how to read and write it.
pub struct Param {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    /// Settable only at startup (CONFIG SET answers Redis's immutable-config error).
    pub immutable: bool,
    /// CONFIG SET needs `enable-protected-configs` (Redis's PROTECTED_CONFIG: `dir`,
    /// `dbfilename`).
    pub protected: bool,
    pub support: Support,
    pub get: fn(&Config) -> String,
    /// Parses and stores a value; does not check [`Support`] (use [`Param::apply`]).
    pub set: fn(&mut Config, &str) -> Result<(), String>,
}

impl Param {
    /// Sets the parameter as a config file line or CONFIG SET would: Err with the reason when
    /// the value is invalid or refused (see [`Support::DefaultOnly`]).
    pub fn apply(&self, c: &mut Config, value: &str) -> Result<(), String> {
        if let Support::DefaultOnly(why) = self.support {
            let mut probe = Config::default();
            (self.set)(&mut probe, value)?;
            let default = (self.get)(&Config::default());
            let wanted = (self.get)(&probe);
            if wanted != default {
                return Err(format!(
                    "{} '{wanted}' is refused: {why}. Only the default ('{default}') is accepted",
                    self.name
                ));
            }
        }
        (self.set)(c, value)
    }
}

fn parse_enum(v: &str, allowed: &[&'static str]) -> Result<String, String> {
    let lower = v.trim().to_ascii_lowercase();
    if allowed.contains(&lower.as_str()) {
        Ok(lower)
    } else {
        Err(format!("argument(s) must be one of the following: {}", allowed.join(", ")))
    }
}

const PROTECTED_ACTION: &[&str] = &["no", "yes", "local"];

/// Redis's `save` syntax: "" or pairs of `seconds changes` (seconds ≥ 1, changes ≥ 0).
fn parse_save(v: &str) -> Result<String, String> {
    let words: Vec<&str> = v.split_whitespace().collect();
    if !words.len().is_multiple_of(2) {
        return Err("Invalid save parameters".into());
    }
    for (i, w) in words.iter().enumerate() {
        match w.parse::<i64>() {
            Ok(n) if (i % 2 == 0 && n >= 1) || (i % 2 == 1 && n >= 0) => {}
            _ => return Err("Invalid save parameters".into()),
        }
    }
    Ok(words.join(" "))
}

/// The client classes of `client-output-buffer-limit`, in Redis's order.
pub const OUTPUT_BUFFER_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

/// One class's output buffer limit: disconnect past `hard_bytes`, or after staying past
/// `soft_bytes` for more than `soft_seconds`; 0 = no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputBufferLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_seconds: u64,
}

/// Parses a `client-output-buffer-limit` value (`class hard soft seconds`…, memory units
/// allowed) and merges it into `current`: classes not named keep their limits, as in Redis.
/// Returns the canonical form (all three classes, in bytes).
fn merge_output_buffer_limits(current: &str, v: &str) -> Result<String, String> {
    let mut limits = [OutputBufferLimit::default(); 3];
    for (i, class) in OUTPUT_BUFFER_CLASSES.iter().enumerate() {
        limits[i] = output_buffer_limit_in(current, class);
    }
    let words: Vec<&str> = v.split_whitespace().collect();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut updates = Vec::new();
    for chunk in words.chunks(4) {
        let class = match chunk[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => return Err("Invalid client class specified in buffer limit configuration.".into()),
        };
        let bad = || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        let hard_bytes = parse_memory(chunk[1]).ok_or_else(bad)?;
        let soft_bytes = parse_memory(chunk[2]).ok_or_else(bad)?;
        let soft_seconds: u64 = chunk[3].parse().map_err(|_| bad())?;
        updates.push((class, OutputBufferLimit { hard_bytes, soft_bytes, soft_seconds }));
    }
    for (class, limit) in updates {
        limits[class] = limit;
    }
    Ok(OUTPUT_BUFFER_CLASSES
        .iter()
        .zip(limits)
        .map(|(name, l)| format!("{name} {} {} {}", l.hard_bytes, l.soft_bytes, l.soft_seconds))
        .collect::<Vec<_>>()
        .join(" "))
}

/// The limit of `class` (`normal`, `slave`/`replica`, `pubsub`) in a canonical
/// `client-output-buffer-limit` value; no limit when the class is missing.
pub fn output_buffer_limit_in(spec: &str, class: &str) -> OutputBufferLimit {
    let class = if class.eq_ignore_ascii_case("replica") { "slave" } else { class };
    let words: Vec<&str> = spec.split_whitespace().collect();
    for chunk in words.chunks(4) {
        if chunk.len() == 4 && chunk[0].eq_ignore_ascii_case(class) {
            return OutputBufferLimit {
                hard_bytes: parse_memory(chunk[1]).unwrap_or(0),
                soft_bytes: parse_memory(chunk[2]).unwrap_or(0),
                soft_seconds: chunk[3].parse().unwrap_or(0),
            };
        }
    }
    OutputBufferLimit::default()
}

impl Config {
    /// This configuration's output buffer limit for a client class.
    pub fn output_buffer_limit(&self, class: &str) -> OutputBufferLimit {
        output_buffer_limit_in(&self.client_output_buffer_limit, class)
    }
}

fn norm_bool(v: &str) -> Result<String, String> {
    parse_bool(v).map(yes_no)
}

fn norm_int(v: &str) -> Result<String, String> {
    parse_int::<i64>(v).map(|n| n.to_string())
}

/// A percentile as Redis prints it (`%f` with trailing zeros and dot trimmed): 50, 99.9.
pub fn format_percentile(p: f64) -> String {
    let s = format!("{p:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

fn norm_string(v: &str) -> Result<String, String> {
    Ok(v.to_string())
}

macro_rules! param {
    ($name:literal, $alias:expr, $imm:expr, $field:ident, u64) => {
        param!($name, $alias, $imm, $field, u64, Support::Full)
    };
    ($name:literal, $alias:expr, $imm:expr, $field:ident, u64, $support:expr) => {
        Param {
            name: $name,
            alias: $alias,
            immutable: $imm,
            protected: false,
            support: $support,
            get: |c| c.$field.to_string(),
            set: |c, v| {
                c.$field = parse_int(v)?;
                Ok(())
            },
        }
    };
    ($name:literal, $alias:expr, $imm:expr, $field:ident, i64) => {
        param!($name, $alias, $imm, $field, i64, Support::Full)
    };
    ($name:literal, $alias:expr, $imm:expr, $field:ident, i64, $support:expr) => {
        Param {
            name: $name,
            alias: $alias,
            immutable: $imm,
            protected: false,
            support: $support,
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
            protected: false,
            support: Support::Full,
            get: |c| c.$field.to_string(),
            set: |c, v| {
                c.$field = parse_mem(v)?;
                Ok(())
            },
        }
    };
    ($name:literal, $alias:expr, $imm:expr, $field:ident, bool) => {
        param!($name, $alias, $imm, $field, bool, Support::Full)
    };
    ($name:literal, $alias:expr, $imm:expr, $field:ident, bool, $support:expr) => {
        Param {
            name: $name,
            alias: $alias,
            immutable: $imm,
            protected: false,
            support: $support,
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
            protected: false,
            support: Support::Full,
            get: |c| c.$field.clone(),
            set: |c, v| {
                c.$field = v.to_string();
                Ok(())
            },
        }
    };
    ($name:literal, $alias:expr, $imm:expr, $field:ident, enum $allowed:expr) => {
        param!($name, $alias, $imm, $field, enum $allowed, Support::Full)
    };
    ($name:literal, $alias:expr, $imm:expr, $field:ident, enum $allowed:expr, $support:expr) => {
        Param {
            name: $name,
            alias: $alias,
            immutable: $imm,
            protected: false,
            support: $support,
            get: |c| c.$field.clone(),
            set: |c, v| {
                c.$field = parse_enum(v, $allowed)?;
                Ok(())
            },
        }
    };
}

/// A redis.conf parameter Mayfly has no field for: only `$default` is accepted (see
/// [`Support::DefaultOnly`]); `$norm` validates and normalises the value.
macro_rules! fixed {
    ($name:literal, $alias:expr, $imm:expr, $default:literal, $norm:expr, $why:expr) => {
        Param {
            name: $name,
            alias: $alias,
            immutable: $imm,
            protected: false,
            support: Support::DefaultOnly($why),
            get: |c| c.compat.get($name).cloned().unwrap_or_else(|| $default.to_string()),
            set: |c, v| {
                let n = ($norm)(v)?;
                c.compat.insert($name, n);
                Ok(())
            },
        }
    };
}

/// A redis.conf parameter Mayfly accepts and keeps without effect (see [`Support::Inert`]).
macro_rules! inert {
    ($name:literal, $default:literal, $norm:expr, $why:expr) => {
        inert!($name, false, $default, $norm, $why)
    };
    ($name:literal, $imm:expr, $default:literal, $norm:expr, $why:expr) => {
        Param {
            name: $name,
            alias: None,
            immutable: $imm,
            protected: false,
            support: Support::Inert($why),
            get: |c| c.compat.get($name).cloned().unwrap_or_else(|| $default.to_string()),
            set: |c, v| {
                let n = ($norm)(v)?;
                c.compat.insert($name, n);
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
        protected: false,
        support: Support::Full,
        get: |c| c.port.to_string(),
        set: |c, v| {
            c.port = parse_int(v)?;
            Ok(())
        },
    },
    param!("bind", None, true, bind, string),
    param!("tcp-backlog", None, true, tcp_backlog, u64),
    param!("cluster-face-port", None, true, cluster_face_port, u64),
    param!("protected-mode", None, false, protected_mode, bool),
    param!("requirepass", None, false, requirepass, string),
    param!("maxclients", None, false, maxclients, u64),
    param!("timeout", None, false, timeout_s, u64),
    param!("tcp-keepalive", None, false, tcp_keepalive_s, u64),
    Param {
        name: "proto-max-bulk-len",
        alias: None,
        immutable: false,
        protected: false,
        support: Support::Full,
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
        protected: false,
        support: Support::Full,
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
        name: "client-output-buffer-limit",
        alias: None,
        immutable: false,
        protected: false,
        support: Support::Full,
        get: |c| c.client_output_buffer_limit.clone(),
        set: |c, v| {
            c.client_output_buffer_limit =
                merge_output_buffer_limits(&c.client_output_buffer_limit, v)?;
            Ok(())
        },
    },
    Param {
        name: "databases",
        alias: None,
        immutable: true,
        protected: false,
        support: Support::Full,
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
        protected: false,
        support: Support::Full,
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
        protected: false,
        support: Support::Full,
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
    param!(
        "list-compress-depth",
        None,
        false,
        list_compress_depth,
        u64,
        Support::DefaultOnly("list node compression is not implemented")
    ),
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
        protected: false,
        support: Support::Full,
        get: |c| c.stream_node_max_entries.to_string(),
        set: |c, v| {
            let n: i64 = parse_int(v)?;
            c.stream_node_max_entries = u64::try_from(n).map_err(|_| {
                "argument must be between 0 and 9223372036854775807 inclusive".to_string()
            })?;
            Ok(())
        },
    },
    Param {
        name: "slowlog-log-slower-than",
        alias: None,
        immutable: false,
        protected: false,
        support: Support::Full,
        get: |c| c.slowlog_log_slower_than.to_string(),
        set: |c, v| {
            let n: i64 = parse_int(v)?;
            if n < -1 {
                return Err(
                    "argument must be between -1 and 9223372036854775807 inclusive".to_string()
                );
            }
            c.slowlog_log_slower_than = n;
            Ok(())
        },
    },
    Param {
        name: "slowlog-max-len",
        alias: None,
        immutable: false,
        protected: false,
        support: Support::Full,
        get: |c| c.slowlog_max_len.to_string(),
        set: |c, v| {
            let n: i64 = parse_int(v)?;
            c.slowlog_max_len = u64::try_from(n).map_err(|_| {
                "argument must be between 0 and 9223372036854775807 inclusive".to_string()
            })?;
            Ok(())
        },
    },
    param!("latency-tracking", None, false, latency_tracking, bool),
    Param {
        name: "latency-tracking-info-percentiles",
        alias: None,
        immutable: false,
        protected: false,
        support: Support::Full,
        get: |c| {
            c.latency_tracking_info_percentiles
                .iter()
                .map(|p| format_percentile(*p))
                .collect::<Vec<_>>()
                .join(" ")
        },
        set: |c, v| {
            let mut out = Vec::new();
            for w in v.split_whitespace() {
                let p: f64 = w
                    .parse()
                    .map_err(|_| "Invalid latency-tracking-info-percentiles parameters".to_string())?;
                if !(0.0..=100.0).contains(&p) {
                    return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".to_string());
                }
                out.push(p);
            }
            c.latency_tracking_info_percentiles = out;
            Ok(())
        },
    },
    Param {
        name: "latency-monitor-threshold",
        alias: None,
        immutable: false,
        protected: false,
        support: Support::Full,
        get: |c| c.latency_monitor_threshold_ms.to_string(),
        set: |c, v| {
            let n: i64 = parse_int(v)?;
            c.latency_monitor_threshold_ms = u64::try_from(n).map_err(|_| {
                "argument must be between 0 and 9223372036854775807 inclusive".to_string()
            })?;
            Ok(())
        },
    },
    param!(
        "lazyfree-lazy-eviction",
        None,
        false,
        lazyfree_lazy_eviction,
        bool,
        Support::DefaultOnly(NO_LAZYFREE_SWITCH)
    ),
    param!(
        "lazyfree-lazy-expire",
        None,
        false,
        lazyfree_lazy_expire,
        bool,
        Support::DefaultOnly(NO_LAZYFREE_SWITCH)
    ),
    param!(
        "lazyfree-lazy-server-del",
        None,
        false,
        lazyfree_lazy_server_del,
        bool,
        Support::DefaultOnly(NO_LAZYFREE_SWITCH)
    ),
    param!(
        "lazyfree-lazy-user-del",
        None,
        false,
        lazyfree_lazy_user_del,
        bool,
        Support::DefaultOnly(NO_LAZYFREE_SWITCH)
    ),
    param!(
        "lazyfree-lazy-user-flush",
        None,
        false,
        lazyfree_lazy_user_flush,
        bool,
        Support::DefaultOnly(NO_LAZYFREE_SWITCH)
    ),
    fixed!(
        "activerehashing",
        None,
        false,
        "yes",
        norm_bool,
        "the keyspace grows segment by segment and never rehashes all at once"
    ),
    Param {
        name: "save",
        alias: None,
        immutable: false,
        protected: false,
        support: Support::Full,
        get: |c| c.save.clone(),
        set: |c, v| {
            c.save = parse_save(v)?;
            Ok(())
        },
    },
    param!("appendonly", None, false, appendonly, bool),
    param!(
        "appendfsync",
        None,
        false,
        appendfsync,
        enum &["always", "everysec", "no"],
        Support::Full
    ),
    Param {
        name: "appendfilename",
        alias: None,
        immutable: true,
        protected: false,
        support: Support::Full,
        get: |c| c.appendfilename.clone(),
        set: |c, v| {
            if v.contains('/') || v == "." || v == ".." {
                return Err("appendfilename can't be a path, just a filename".into());
            }
            c.appendfilename = v.to_string();
            Ok(())
        },
    },
    Param {
        name: "appenddirname",
        alias: None,
        immutable: true,
        protected: false,
        support: Support::Full,
        get: |c| c.appenddirname.clone(),
        set: |c, v| {
            if v.contains('/') || v == "." || v == ".." {
                return Err("appenddirname can't be a path, just a dirname".into());
            }
            c.appenddirname = v.to_string();
            Ok(())
        },
    },
    param!("aof-load-truncated", None, false, aof_load_truncated, bool),
    param!("aof-timestamp-enabled", None, false, aof_timestamp_enabled, bool),
    param!("auto-aof-rewrite-percentage", None, false, auto_aof_rewrite_percentage, u64),
    param!("auto-aof-rewrite-min-size", None, false, auto_aof_rewrite_min_size, mem),
    fixed!("no-appendfsync-on-rewrite", None, false, "no", norm_bool, NO_PERSISTENCE),
    param!("rdbcompression", None, false, rdbcompression, bool),
    param!("rdbchecksum", None, true, rdbchecksum, bool),
    param!("stop-writes-on-bgsave-error", None, false, stop_writes_on_bgsave_error, bool),
    Param {
        name: "dir",
        alias: None,
        immutable: false,
        protected: true,
        support: Support::Full,
        get: |c| c.dir.clone(),
        set: |c, v| {
            c.dir = v.to_string();
            Ok(())
        },
    },
    Param {
        name: "dbfilename",
        alias: None,
        immutable: false,
        protected: true,
        support: Support::Full,
        get: |c| c.dbfilename.clone(),
        set: |c, v| {
            if v.contains('/') || v == "." || v == ".." {
                return Err("dbfilename can't be a path, just a filename".into());
            }
            c.dbfilename = v.to_string();
            Ok(())
        },
    },
    param!("loglevel", None, false, loglevel, enum &["debug", "verbose", "notice", "warning"]),
    param!("logfile", None, true, logfile, string),
    param!("pidfile", None, true, pidfile, string),
    param!(
        "daemonize",
        None,
        true,
        daemonize,
        bool,
        Support::DefaultOnly(
            "running in the background is not supported; run mayfly under a supervisor such as systemd (deploy/mayfly.service)"
        )
    ),
    fixed!(
        "supervised",
        None,
        true,
        "no",
        |v: &str| parse_enum(v, &["upstart", "systemd", "auto", "no"]),
        "supervisor notifications (sd_notify) are not implemented; under systemd use Type=simple"
    ),
    fixed!("syslog-enabled", None, true, "no", norm_bool, "logging to syslog is not implemented"),
    param!("always-show-logo", None, true, always_show_logo, bool),
    param!("shutdown-timeout", None, false, shutdown_timeout_s, u64),
    inert!(
        "unixsocket",
        true,
        "",
        norm_string,
        "Unix-domain sockets are not supported yet; clients connect over TCP"
    ),
    Param {
        name: "shards",
        alias: None,
        immutable: true,
        protected: false,
        support: Support::Full,
        get: |c| c.shards.to_string(),
        set: |c, v| {
            c.shards = parse_int(v)?;
            Ok(())
        },
    },
    param!("use-smt", None, true, use_smt, bool),
    param!(
        "io-threads",
        None,
        true,
        io_threads,
        u64,
        Support::DefaultOnly("Mayfly's shard threads do their own network I/O")
    ),
    param!("enable-debug-command", None, true, enable_debug_command, enum PROTECTED_ACTION),
    param!("enable-protected-configs", None, true, enable_protected_configs, enum PROTECTED_ACTION),
    param!("enable-module-command", None, true, enable_module_command, enum PROTECTED_ACTION),
    Param {
        name: "notify-keyspace-events",
        alias: None,
        immutable: false,
        protected: false,
        support: Support::Full,
        get: |c| crate::notify::render_flags(c.notify_keyspace_events),
        set: |c, v| {
            c.notify_keyspace_events = crate::notify::parse_flags(v)
                .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
            Ok(())
        },
    },
    param!(
        "busy-reply-threshold",
        Some("lua-time-limit"),
        false,
        busy_reply_threshold,
        u64,
        Support::Full
    ),
    param!(
        "replica-read-only",
        Some("slave-read-only"),
        false,
        replica_read_only,
        bool,
        Support::DefaultOnly(NO_REPLICATION)
    ),
    fixed!(
        "replica-serve-stale-data",
        Some("slave-serve-stale-data"),
        false,
        "yes",
        norm_bool,
        NO_REPLICATION
    ),
    inert!("repl-diskless-sync-delay", "5", norm_int, NO_REPLICATION),
    inert!(
        "propagation-error-behavior",
        "ignore",
        |v: &str| parse_enum(v, &["ignore", "panic", "panic-on-replicas"]),
        NO_REPLICATION
    ),
    param!("sanitize-dump-payload", None, false, sanitize_dump_payload, enum &["no", "yes", "clients"]),
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
        p.apply(self, value)
    }

    /// Sets one parameter from a config file line or a command-line flag: the value is
    /// parsed and stored, but whether it is supported is checked once everything is read
    /// ([`Config::refused`]), so a later directive can put back a default (`mayfly
    /// redis.conf --save ""` over a file with save points), as on redis-server's command line.
    pub fn load(&mut self, name: &str, value: &str) -> Result<(), String> {
        let p = find_param(name).ok_or_else(|| format!("Unknown option '{name}'"))?;
        (p.set)(self, value)
    }

    /// The parameters set to a value Mayfly refuses (see [`Support::DefaultOnly`]), each with
    /// the reason.
    pub fn refused(&self) -> Vec<String> {
        let default = Config::default();
        PARAMS
            .iter()
            .filter_map(|p| match p.support {
                Support::DefaultOnly(why) if (p.get)(self) != (p.get)(&default) => Some(format!(
                    "{} '{}' is refused: {why}. Only the default ('{}') is accepted",
                    p.name,
                    (p.get)(self),
                    (p.get)(&default)
                )),
                _ => None,
            })
            .collect()
    }

    /// The parameters set away from their default that have no effect here (see
    /// [`Support::Inert`]): one line each, for the start-up log.
    pub fn inert(&self) -> Vec<String> {
        let default = Config::default();
        PARAMS
            .iter()
            .filter_map(|p| match p.support {
                Support::Inert(why) if (p.get)(self) != (p.get)(&default) => Some(format!(
                    "{} '{}' is accepted but has no effect here: {why}",
                    p.name,
                    (p.get)(self)
                )),
                _ => None,
            })
            .collect()
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

    #[test]
    fn default_only_parameters_refuse_other_values() {
        let mut c = Config::default();
        c.set("appendonly", "no").unwrap();
        c.set("save", "").unwrap();
        c.set("appendfsync", "EVERYSEC").unwrap();
        c.set("activerehashing", "yes").unwrap();
        c.set("appendonly", "yes").unwrap();
        c.set("appendonly", "no").unwrap();
        let err = c.set("no-appendfsync-on-rewrite", "yes").unwrap_err();
        assert!(err.contains("persistence is not available yet"), "{err}");
        c.set("save", "900 1").unwrap();
        assert_eq!(c.get("save").unwrap(), "900 1");
        c.set("save", "").unwrap();
        assert_eq!(c.set("save", "900").unwrap_err(), "Invalid save parameters");
        assert_eq!(c.set("save", "0 1").unwrap_err(), "Invalid save parameters");
        c.set("appendfsync", "always").unwrap();
        c.set("appendfsync", "everysec").unwrap();
        assert!(c.set("appenddirname", "a/b").is_err());
        assert!(c.set("appendfsync", "sometimes").unwrap_err().starts_with("argument(s) must"));
        assert!(c.set("daemonize", "yes").is_err());
        c.set("latency-monitor-threshold", "1").unwrap();
        c.set("repl-diskless-sync-delay", "0").unwrap();
        c.set("propagation-error-behavior", "panic").unwrap();
        assert!(c.set("propagation-error-behavior", "sometimes").is_err());
        assert!(c.set("latency-monitor-threshold", "x").is_err());
        assert_eq!(c.get("latency-monitor-threshold").unwrap(), "1");
        c.set("unixsocket", "/tmp/x.sock").unwrap();
        assert_eq!(c.inert().len(), 3, "{:?}", c.inert());
        assert!(c.refused().is_empty(), "{:?}", c.refused());
        assert_eq!(c.get("appendonly").unwrap(), "no");
        assert_eq!(c.get("save").unwrap(), "");
    }

    #[test]
    fn protected_actions_and_enums() {
        let mut c = Config::default();
        assert_eq!(c.get("enable-debug-command").unwrap(), "no");
        c.set("enable-debug-command", "LOCAL").unwrap();
        assert_eq!(c.get("enable-debug-command").unwrap(), "local");
        let err = c.set("enable-debug-command", "maybe").unwrap_err();
        assert_eq!(err, "argument(s) must be one of the following: no, yes, local");
        c.set("loglevel", "verbose").unwrap();
        assert!(c.set("loglevel", "loud").is_err());
        assert!(c.set("dbfilename", "a/b.rdb").is_err());
        c.set("dbfilename", "x.rdb").unwrap();
    }

    #[test]
    fn output_buffer_limits_merge_by_class() {
        let mut c = Config::default();
        c.set("client-output-buffer-limit", "normal 1mb 512kb 10").unwrap();
        assert_eq!(
            c.get("client-output-buffer-limit").unwrap(),
            "normal 1048576 524288 10 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        assert_eq!(
            c.output_buffer_limit("normal"),
            OutputBufferLimit { hard_bytes: 1 << 20, soft_bytes: 512 << 10, soft_seconds: 10 }
        );
        c.set("client-output-buffer-limit", "replica 1 2 3 pubsub 0 0 0").unwrap();
        assert_eq!(c.output_buffer_limit("slave").soft_seconds, 3);
        assert_eq!(c.output_buffer_limit("pubsub"), OutputBufferLimit::default());
        assert_eq!(
            c.set("client-output-buffer-limit", "normal 1 2").unwrap_err(),
            "Wrong number of arguments in buffer limit configuration."
        );
        assert_eq!(
            c.set("client-output-buffer-limit", "master 1 2 3").unwrap_err(),
            "Invalid client class specified in buffer limit configuration."
        );
        assert!(c.set("client-output-buffer-limit", "normal x 2 3").is_err());
    }
}
