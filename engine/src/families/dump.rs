//! DUMP and RESTORE: a key's value as a Redis 7.0 DUMP payload (RDB value + RDB version +
//! CRC-64) and back.
//!
//! ```text
//!  DUMP key ──► lookup (read) ──► Codec::dump(&Value, &Config) ──► bulk payload
//!  RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]
//!      options ─► BUSYKEY check ─► ttl check ─► Codec::restore(payload, sanitize, &Config)
//!      ─► (REPLACE: delete old) ─► expired already? (DEL record) : store + ttl + LRU/LFU
//! ```
//! The byte format lives in `mayfly-persistence`, which depends on this crate; the engine
//! therefore sees it only through the [`Codec`] function pointers the server installs at
//! start ([`install_codec`]). Without a codec both commands answer an error.
//!
//! The order of the checks, the replies and the journal forms are Redis 7.0's
//! `restoreCommand`: a relative TTL is journaled as `RESTORE key <abs-ms> payload … ABSTTL`,
//! a key that is already expired is not stored and, when REPLACE deleted an old value, the
//! command is journaled as `DEL key` with a `del` event. The value is decoded completely before
//! anything changes, so a corrupt payload changes nothing.

use std::sync::OnceLock;

use bytes::Bytes;

use crate::command::{cmd, flags::*, CommandSpec, Handler, ONE_KEY};
use crate::config::{Config, EvictionPolicy};
use crate::error::OpError;
use crate::evict::{lfu_minutes, lru_clock, LRU_CLOCK_MAX};
use crate::notify::class;
use crate::reply::Reply;
use crate::shard::Ctx;
use crate::value::{parse_i64_strict, Value};

pub static COMMANDS: &[CommandSpec] = &[
    cmd(
        "dump",
        2,
        READONLY,
        ONE_KEY,
        "generic",
        "2.6.0",
        "Return a serialized version of the value stored at the specified key.",
        Handler::Shard(dump),
    ),
    cmd(
        "restore",
        -4,
        WRITE | DENYOOM,
        ONE_KEY,
        "generic",
        "2.6.0",
        "Create a key using the provided serialized value, previously obtained using DUMP.",
        Handler::Shard(restore),
    ),
    cmd(
        "migrate",
        -6,
        WRITE | NO_MULTI,
        (3, 3, 1),
        "generic",
        "2.6.0",
        "Atomically transfer a key from a Redis instance to another one.",
        Handler::Net,
    )
    .movable_keys(migrate_keys),
];

/// MIGRATE's keys: the key argument, or (when it is empty) every argument after KEYS.
pub fn migrate_keys(argv: &[Bytes]) -> Vec<usize> {
    if argv.len() > 3 && !argv[3].is_empty() {
        return vec![3];
    }
    match argv.iter().skip(6).position(|a| a.eq_ignore_ascii_case(b"keys")) {
        Some(p) => (7 + p..argv.len()).collect(),
        None => vec![],
    }
}

/// Why a payload was refused: the two replies Redis gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreFailure {
    /// Too short, a newer RDB version, or a wrong CRC-64.
    VersionOrChecksum,
    /// The footer is fine but the value does not decode.
    BadDataFormat,
}

impl RestoreFailure {
    pub fn reply(self) -> Reply {
        match self {
            RestoreFailure::VersionOrChecksum => {
                Reply::error("ERR DUMP payload version or checksum are wrong")
            }
            RestoreFailure::BadDataFormat => Reply::error("ERR Bad data format"),
        }
    }
}

/// The payload format, supplied by the server (see the module doc).
#[derive(Clone, Copy)]
pub struct Codec {
    /// The DUMP payload of a value (honours `rdbcompression` and the stream node limits).
    pub dump: fn(&Value, &Config) -> Vec<u8>,
    /// Decodes a payload into a value with the encodings `config` asks for; `deep_sanitize`
    /// is the effective `sanitize-dump-payload`.
    pub restore: fn(&[u8], bool, &Config) -> Result<Value, RestoreFailure>,
}

static CODEC: OnceLock<Codec> = OnceLock::new();

/// Installs the payload codec; the first installation wins (the server's, at start).
pub fn install_codec(codec: Codec) {
    let _ = CODEC.set(codec);
}

/// The installed codec, if any.
pub fn codec() -> Option<&'static Codec> {
    CODEC.get()
}

fn no_codec() -> Reply {
    Reply::error("ERR DUMP payloads are not available in this context")
}

/// Whether RESTORE deep-sanitizes payloads: `sanitize-dump-payload` `yes`, or `clients` (every
/// client here: Mayfly has no replication master link and no ACL user with
/// `skip-sanitize-payload`, the two that `clients` exempts).
pub fn deep_sanitize(config: &Config) -> bool {
    matches!(config.sanitize_dump_payload.as_str(), "yes" | "clients")
}

fn dump(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(codec) = codec() else {
        return no_codec();
    };
    if ctx.lookup_read(&argv[1]).is_none() {
        return Reply::Nil;
    }
    let shard = &*ctx.shard;
    let Some(entry) = shard.dbs[ctx.db].table.get(argv[1].as_ref()) else {
        return Reply::Nil;
    };
    let payload = (codec.dump)(&entry.value, &shard.config);
    Reply::Bulk(payload.into())
}

/// RESTORE's options, parsed as Redis does (IDLETIME and FREQ exclude each other: the second
/// one is a syntax error).
#[derive(Debug, Default, PartialEq, Eq)]
struct RestoreOptions {
    replace: bool,
    absttl: bool,
    idle_s: Option<i64>,
    freq: Option<i64>,
}

fn parse_options(argv: &[Bytes]) -> Result<RestoreOptions, Reply> {
    let mut o = RestoreOptions::default();
    let mut j = 4;
    while j < argv.len() {
        let arg = &argv[j];
        let has_value = j + 1 < argv.len();
        if arg.eq_ignore_ascii_case(b"replace") {
            o.replace = true;
        } else if arg.eq_ignore_ascii_case(b"absttl") {
            o.absttl = true;
        } else if arg.eq_ignore_ascii_case(b"idletime") && has_value && o.freq.is_none() {
            let n =
                parse_i64_strict(&argv[j + 1]).ok_or_else(|| Reply::from(OpError::NotInteger))?;
            if n < 0 {
                return Err(Reply::error("ERR Invalid IDLETIME value, must be >= 0"));
            }
            o.idle_s = Some(n);
            j += 1;
        } else if arg.eq_ignore_ascii_case(b"freq") && has_value && o.idle_s.is_none() {
            let n =
                parse_i64_strict(&argv[j + 1]).ok_or_else(|| Reply::from(OpError::NotInteger))?;
            if !(0..=255).contains(&n) {
                return Err(Reply::error("ERR Invalid FREQ value, must be >= 0 and <= 255"));
            }
            o.freq = Some(n);
            j += 1;
        } else {
            return Err(OpError::Syntax.into());
        }
        j += 1;
    }
    Ok(o)
}

/// The `lru` field Redis's `objectSetLRUOrLFU` gives a restored key, or None to keep the
/// fresh key's stamp (FREQ under an LRU policy, IDLETIME under LFU, neither given).
pub fn restored_lru(
    policy: EvictionPolicy,
    freq: Option<i64>,
    idle_s: Option<i64>,
    now_ms: u64,
) -> Option<u32> {
    if policy.is_lfu() {
        let f = freq?;
        return Some((lfu_minutes(now_ms) << 8) | (f.clamp(0, 255) as u32));
    }
    if policy == EvictionPolicy::AllKeysS3Fifo {
        // S3-FIFO keeps queue state in this field, not an access time.
        return None;
    }
    let idle = idle_s?;
    let clock = i64::from(lru_clock(now_ms));
    let max = i64::from(LRU_CLOCK_MAX);
    let abs = clock.checked_sub(idle).filter(|a| *a >= 0).unwrap_or((clock + max / 2) % max);
    Some(abs as u32)
}

fn restore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(codec) = codec() else {
        return no_codec();
    };
    let opts = match parse_options(argv) {
        Ok(o) => o,
        Err(reply) => return reply,
    };
    let key = &argv[1];
    if !opts.replace && ctx.lookup_write(key).is_some() {
        return Reply::error("BUSYKEY Target key name already exists.");
    }
    let Some(mut ttl) = parse_i64_strict(&argv[2]) else {
        return OpError::NotInteger.into();
    };
    if ttl < 0 {
        return Reply::error("ERR Invalid TTL value, must be >= 0");
    }
    let value = match (codec.restore)(&argv[3], deep_sanitize(&ctx.shard.config), &ctx.shard.config)
    {
        Ok(v) => v,
        Err(failure) => return failure.reply(),
    };
    // Remove the old key (REPLACE): the restored one is then a new key, with a `new` event.
    let deleted = opts.replace && {
        ctx.expire_if_needed(key);
        ctx.db().remove(key).is_some()
    };
    let now = ctx.now_ms as i64;
    if ttl != 0 && !opts.absttl {
        ttl = ttl.saturating_add(now);
    }
    if ttl != 0 && ttl <= now {
        if deleted {
            ctx.note_write(key);
            ctx.notify(class::GENERIC, "del", key);
            let k = key.clone();
            ctx.propagate_as(|| vec![Bytes::from_static(b"DEL"), k]);
        }
        return Reply::ok();
    }
    ctx.set_value(key, value, ttl as u64);
    if let Some(lru) =
        restored_lru(ctx.shard.config.maxmemory_policy, opts.freq, opts.idle_s, ctx.now_ms)
    {
        if let Some(e) = ctx.shard.dbs[ctx.db].table.get_mut(key.as_ref()) {
            e.lru = lru;
        }
    }
    if ttl != 0 && !opts.absttl {
        ctx.propagate_as(|| {
            let mut v = argv.to_vec();
            v[2] = Bytes::from(ttl.to_string());
            v.push(Bytes::from_static(b"ABSTTL"));
            v
        });
    }
    ctx.notify(class::GENERIC, "restore", key);
    Reply::ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<Bytes> {
        list.iter().map(|s| Bytes::from(s.to_string())).collect()
    }

    fn err(r: Reply) -> String {
        match r {
            Reply::Error(e) => e.to_string(),
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn migrate_key_positions() {
        assert_eq!(migrate_keys(&args(&["migrate", "h", "1", "k", "0", "0"])), vec![3]);
        let keys = args(&["migrate", "h", "1", "", "0", "0", "COPY", "KEYS", "a", "b"]);
        assert_eq!(migrate_keys(&keys), vec![8, 9]);
        assert!(migrate_keys(&args(&["migrate", "h", "1", "", "0", "0"])).is_empty());
    }

    #[test]
    fn options_parse_as_redis() {
        let o = parse_options(&args(&["restore", "k", "0", "p", "REPLACE", "absttl"])).unwrap();
        assert!(o.replace && o.absttl);
        let o = parse_options(&args(&["restore", "k", "0", "p", "idletime", "10"])).unwrap();
        assert_eq!(o.idle_s, Some(10));
        let o = parse_options(&args(&["restore", "k", "0", "p", "FREQ", "255"])).unwrap();
        assert_eq!(o.freq, Some(255));
        let e = |a: &[&str]| err(parse_options(&args(a)).unwrap_err());
        assert_eq!(
            e(&["restore", "k", "0", "p", "freq", "256"]),
            "ERR Invalid FREQ value, must be >= 0 and <= 255"
        );
        assert_eq!(
            e(&["restore", "k", "0", "p", "idletime", "-1"]),
            "ERR Invalid IDLETIME value, must be >= 0"
        );
        assert_eq!(
            e(&["restore", "k", "0", "p", "idletime", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            e(&["restore", "k", "0", "p", "freq", "1", "idletime", "1"]),
            "ERR syntax error"
        );
        assert_eq!(e(&["restore", "k", "0", "p", "idletime"]), "ERR syntax error");
        assert_eq!(e(&["restore", "k", "0", "p", "bogus"]), "ERR syntax error");
    }

    #[test]
    fn lru_and_lfu_stamps_follow_object_set_lru_or_lfu() {
        let now = 1_000_000_000u64;
        let clock = lru_clock(now);
        assert_eq!(
            restored_lru(EvictionPolicy::NoEviction, None, Some(100), now),
            Some(clock - 100)
        );
        assert_eq!(restored_lru(EvictionPolicy::NoEviction, Some(3), None, now), None);
        assert_eq!(restored_lru(EvictionPolicy::AllKeysLfu, None, Some(3), now), None);
        let lfu = restored_lru(EvictionPolicy::AllKeysLfu, Some(77), None, now).unwrap();
        assert_eq!(lfu & 0xff, 77);
        // Underflow: half-way round the clock, so the idle time stays large.
        let big = restored_lru(EvictionPolicy::AllKeysLru, None, Some(i64::MAX), now).unwrap();
        let max = LRU_CLOCK_MAX as i64;
        assert_eq!(big as i64, (clock as i64 + max / 2) % max);
    }

    /// A stand-in codec: the payload is `S:` + the string's bytes.
    fn fake_codec() {
        fn dump(v: &Value, _: &Config) -> Vec<u8> {
            match v {
                Value::Str(s) => [b"S:".as_slice(), &s.to_vec()].concat(),
                _ => b"?".to_vec(),
            }
        }
        fn restore(p: &[u8], _: bool, _: &Config) -> Result<Value, RestoreFailure> {
            match p.strip_prefix(b"S:") {
                Some(b) => Ok(Value::Str(crate::value::StrValue::from_bytes(b))),
                None if p.len() < 10 => Err(RestoreFailure::VersionOrChecksum),
                None => Err(RestoreFailure::BadDataFormat),
            }
        }
        install_codec(Codec { dump, restore });
    }

    #[test]
    fn journal_forms_follow_restore_command() {
        use crate::testing::{RecordingJournal, TestShard, START_MS};
        fake_codec();
        let mut t = TestShard::new();
        let journal = RecordingJournal::attach(&mut t.shard);
        assert_eq!(t.run(&["RESTORE", "a", "0", "S:v"]), Reply::ok());
        assert_eq!(t.run(&["DUMP", "a"]), Reply::Bulk(Bytes::from_static(b"S:v")));
        assert_eq!(t.run(&["RESTORE", "b", "5000", "S:v"]), Reply::ok());
        assert_eq!(t.run(&["RESTORE", "a", "1", "S:w", "ABSTTL", "REPLACE"]), Reply::ok());
        assert_eq!(t.run(&["RESTORE", "c", "1", "S:w", "ABSTTL"]), Reply::ok());
        assert_eq!(
            t.run(&["RESTORE", "d", "0", "garbage-garbage"]),
            RestoreFailure::BadDataFormat.reply()
        );
        assert_eq!(
            t.run(&["RESTORE", "b", "0", "S:x"]),
            Reply::error("BUSYKEY Target key name already exists.")
        );
        let abs = (START_MS + 5000).to_string();
        assert_eq!(
            journal.argvs_since(0),
            vec![
                vec!["RESTORE".to_string(), "a".into(), "0".into(), "S:v".into()],
                vec!["RESTORE".into(), "b".into(), abs, "S:v".into(), "ABSTTL".into()],
                vec!["DEL".into(), "a".into()],
            ]
        );
        assert_eq!(t.run(&["EXISTS", "a", "b", "c"]), Reply::Int(1));
        assert_eq!(t.shard.dirty, 3);
    }
}
