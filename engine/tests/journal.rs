//! The journal: every change of a shard's keyspace is recorded, in a form that replays to the
//! same dataset. Each test attaches a recording journal to a shard with a manual clock, drives
//! it (commands of every family, lazy and active expiry, eviction, whole-entry stores,
//! flushes, transactions), then replays the records on a fresh shard, each at the instant its
//! HLC says, and compares the two datasets exactly: every database, key, value, encoding and
//! expiry time. The record forms were checked against the AOF of redis-server 7.0.15
//! (`--appendonly yes`, read back after the same commands).

use bytes::Bytes;
use mayfly_engine::clock::Clock;
use mayfly_engine::config::{Config, EvictionPolicy};
use mayfly_engine::journal::{hlc_physical_ms, Record, ShardSet, LOCAL_TXID_BIT};
use mayfly_engine::reply::Reply;
use mayfly_engine::shard::Shard;
use mayfly_engine::testing::{dataset, replay, RecordingJournal, TestShard, START_MS};
use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::SeedableRng;

/// Small listpack/intset limits, so a few members cross every encoding boundary.
fn config() -> Config {
    Config {
        hash_max_listpack_entries: 8,
        hash_max_listpack_value: 16,
        set_max_intset_entries: 8,
        zset_max_listpack_entries: 8,
        zset_max_listpack_value: 16,
        list_max_listpack_size: 4,
        maxmemory_policy: EvictionPolicy::AllKeysRandom,
        ..Config::default()
    }
}

/// A shard with a manual clock, a seeded RNG and a recording journal.
struct Journaled {
    t: TestShard,
    journal: RecordingJournal,
}

impl Journaled {
    fn new(config: Config) -> Journaled {
        let mut t = TestShard::with_config(config);
        t.shard.rng = SmallRng::seed_from_u64(7);
        let journal = RecordingJournal::attach(&mut t.shard);
        Journaled { t, journal }
    }

    /// Runs a command that must succeed.
    #[track_caller]
    fn ok(&mut self, argv: &[&str]) -> Reply {
        let reply = self.t.run(argv);
        assert!(!reply.is_error(), "{argv:?} in db {}: {reply:?}", self.t.db);
        reply
    }

    /// Runs a command in database `db`.
    #[track_caller]
    fn ok_in(&mut self, db: usize, argv: &[&str]) -> Reply {
        let saved = std::mem::replace(&mut self.t.db, db);
        let reply = self.ok(argv);
        self.t.db = saved;
        reply
    }

    /// The argv of the records one command made.
    #[track_caller]
    fn records_of(&mut self, argv: &[&str]) -> Vec<Vec<String>> {
        let before = self.journal.len();
        self.t.run(argv);
        self.journal.argvs_since(before)
    }

    fn now(&self) -> u64 {
        self.t.now_ms()
    }
}

/// Replays `records` on a fresh shard and asserts its dataset equals `source`'s.
#[track_caller]
fn assert_replays(source: &Shard, records: &[Record], config: Config) {
    let mut copy = Shard::new(0, config, Clock::Manual(START_MS));
    let errors = replay(records, &mut copy);
    assert!(errors.is_empty(), "records that failed to replay: {errors:?}");
    copy.clock.set_ms(source.clock.now_ms());
    let (want, got) = (dataset(source), dataset(&copy));
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w, g, "first difference between the shard and its replay");
    }
    assert_eq!(want.len(), got.len(), "key counts: {:?}", (want.last(), got.last()));
    for (db, (a, b)) in source.dbs.iter().zip(&copy.dbs).enumerate() {
        assert_eq!(a.expires, b.expires, "keys with a TTL in db {db}");
    }
}

/// LSNs count up from 1 by 1, and the HLC strictly increases.
#[track_caller]
fn assert_sequenced(records: &[Record]) {
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.lsn, i as u64 + 1, "LSN of record {i}: {r:?}");
    }
    for w in records.windows(2) {
        assert!(w[0].hlc < w[1].hlc, "HLC not increasing: {:?} then {:?}", w[0], w[1]);
    }
}

fn strs(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn words(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

fn with<'a>(head: &[&'a str], rest: &'a [String]) -> Vec<&'a str> {
    head.iter().copied().chain(rest.iter().map(String::as_str)).collect()
}

#[test]
fn a_mix_of_every_family_replays_to_the_same_dataset() {
    let mut j = Journaled::new(config());
    let abs_s = (START_MS / 1000 + 3600).to_string();
    let abs_ms = (START_MS + 7_200_000).to_string();

    // Strings.
    j.ok(&["SET", "s1", "hello"]);
    j.ok(&["SET", "s2", "10"]);
    j.ok(&["INCR", "s2"]);
    j.ok(&["INCRBY", "s2", "5"]);
    j.ok(&["DECRBY", "s2", "3"]);
    j.ok(&["INCRBYFLOAT", "f", "1.5"]);
    j.ok(&["INCRBYFLOAT", "f", "1e2"]);
    j.ok(&["INCRBYFLOAT", "f", "-0.25"]);
    j.ok(&["APPEND", "s1", " world"]);
    j.ok(&["SETRANGE", "s3", "5", "abc"]);
    j.ok(&["SET", "n", "12"]);
    j.ok(&["APPEND", "n", "3"]);
    j.ok(&["SETRANGE", "s2", "0", "9"]);
    j.ok(&["GETSET", "s4", "x"]);
    j.ok(&["GETSET", "s4", "y"]);
    j.ok(&["GETDEL", "s4"]);
    j.ok(&["SET", "e1", "v", "EX", "100"]);
    j.ok(&["SET", "e2", "v", "PX", "5000"]);
    j.ok(&["SET", "e3", "v", "EXAT", &abs_s]);
    j.ok(&["SET", "e4", "v", "PXAT", &abs_ms]);
    j.ok(&["SET", "e1", "w", "KEEPTTL"]);
    j.ok(&["SET", "e5", "v", "PX", "900", "GET"]);
    j.ok(&["SET", "s1", "new", "GET"]);
    j.ok(&["SETEX", "e6", "50", "v"]);
    j.ok(&["PSETEX", "e7", "7000", "v"]);
    j.ok(&["SETNX", "s5", "y"]);
    j.ok(&["SET", "s5", "z", "XX", "GET"]);
    j.ok(&["MSET", "m1", "1", "m2", "2", "m3", "three"]);
    j.ok(&["MSETNX", "m4", "a", "m5", "b"]);
    j.ok(&["GETEX", "e1", "PX", "9000"]);
    j.ok(&["GETEX", "e2", "PERSIST"]);
    j.ok(&["GETEX", "e6", "EX", "30"]);
    j.ok(&["GETEX", "e7", "EXAT", "1"]);

    // Expiry commands.
    j.ok(&["EXPIRE", "m1", "100"]);
    j.ok(&["PEXPIRE", "m2", "100000", "NX"]);
    j.ok(&["EXPIREAT", "m4", &abs_s]);
    j.ok(&["PEXPIREAT", "m5", &abs_ms]);
    j.ok(&["EXPIRE", "m4", "300000", "GT"]);
    j.ok(&["PERSIST", "m1"]);
    j.ok(&["SET", "gone", "v"]);
    j.ok(&["EXPIRE", "gone", "-1"]);

    // Bitmaps and HyperLogLog.
    j.ok(&["SETBIT", "b", "7", "1"]);
    j.ok(&["SETBIT", "b", "100", "1"]);
    j.ok(&["BITFIELD", "bf", "SET", "u8", "0", "255", "INCRBY", "u8", "0", "10"]);
    j.ok(&["BITOP", "OR", "bdst", "b", "bf"]);
    j.ok(&["PFADD", "h1", "a", "b", "c"]);
    j.ok(&["PFADD", "h2", "c", "d"]);
    j.ok(&["PFCOUNT", "h1"]);
    j.ok(&["PFMERGE", "h3", "h1", "h2"]);

    // Lists, including blocking pops that find data.
    j.ok(&["RPUSH", "l", "a", "b", "c", "d", "e", "f", "g"]);
    j.ok(&["LPUSH", "l", "z"]);
    j.ok(&["LINSERT", "l", "BEFORE", "c", "cc"]);
    j.ok(&["LSET", "l", "0", "zz"]);
    j.ok(&["LREM", "l", "1", "b"]);
    j.ok(&["LTRIM", "l", "0", "6"]);
    j.ok(&["LPOP", "l"]);
    j.ok(&["RPOP", "l", "2"]);
    j.ok(&["RPUSH", "l2", "x", "y", "w"]);
    j.ok(&["BLPOP", "nothing", "l", "0"]);
    j.ok(&["BRPOP", "l2", "l", "0"]);
    j.ok(&["BLMOVE", "l", "l3", "LEFT", "RIGHT", "0"]);
    j.ok(&["BRPOPLPUSH", "l2", "l3", "0"]);
    j.ok(&["LMOVE", "l3", "l", "LEFT", "LEFT"]);
    j.ok(&["RPOPLPUSH", "l3", "l4"]);
    j.ok(&["BLMPOP", "0", "2", "nothing", "l", "RIGHT", "COUNT", "5"]);
    j.ok(&["LMPOP", "1", "l2", "LEFT"]);
    let many = words("item", 0..40);
    j.ok(&with(&["RPUSH", "biglist"], &many));

    // Hashes.
    j.ok(&["HSET", "h", "f1", "v1", "f2", "v2"]);
    j.ok(&["HSETNX", "h", "f3", "v3"]);
    j.ok(&["HINCRBY", "h", "n", "5"]);
    j.ok(&["HINCRBYFLOAT", "h", "fl", "2.5"]);
    j.ok(&["HINCRBYFLOAT", "h", "fl", "1e-3"]);
    j.ok(&["HDEL", "h", "f2"]);
    j.ok(&["HMSET", "hlong", "a", "1", "b", "a value longer than sixteen bytes"]);
    let pairs: Vec<String> = (0..12).flat_map(|i| [format!("f{i}"), format!("{i}")]).collect();
    j.ok(&with(&["HSET", "hbig"], &pairs));
    j.ok(&with(&["HDEL", "hbig"], &words("f", 2..12)));

    // Sets, with SPOP in each of its strategies.
    j.ok(&["SADD", "set", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]);
    j.ok(&["SREM", "set", "a"]);
    j.ok(&["SPOP", "set"]);
    j.ok(&["SPOP", "set", "2"]);
    j.ok(&["SPOP", "set", "5"]);
    j.ok(&["SADD", "ints", "1", "2", "3"]);
    j.ok(&["SPOP", "ints", "10"]);
    let ints = words("", 100..130);
    j.ok(&with(&["SADD", "bigints"], &ints));
    j.ok(&["SPOP", "bigints", "27"]);
    j.ok(&["SADD", "s2set", "b", "x", "1"]);
    j.ok(&["SMOVE", "set", "s2set", "h"]);
    j.ok(&["SADD", "set", "x", "y"]);
    j.ok(&["SINTERSTORE", "sinter", "set", "s2set"]);
    j.ok(&["SUNIONSTORE", "sunion", "set", "s2set"]);
    j.ok(&["SDIFFSTORE", "sdiff", "set", "s2set"]);

    // Sorted sets.
    j.ok(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e", "6", "f"]);
    j.ok(&["ZINCRBY", "z", "1.5", "a"]);
    j.ok(&["ZADD", "z", "INCR", "2", "b"]);
    j.ok(&["ZADD", "z", "GT", "CH", "10", "c"]);
    j.ok(&["ZREM", "z", "d"]);
    j.ok(&["ZPOPMIN", "z"]);
    j.ok(&["ZPOPMAX", "z", "1"]);
    j.ok(&["ZADD", "z2", "1", "x", "2", "y", "3", "w", "-0", "neg"]);
    j.ok(&["BZPOPMIN", "nothing", "z", "0"]);
    j.ok(&["BZPOPMAX", "z2", "0"]);
    j.ok(&["BZMPOP", "0", "2", "z", "z2", "MIN", "COUNT", "2"]);
    j.ok(&["ZMPOP", "1", "z2", "MAX"]);
    j.ok(&["ZADD", "z", "7", "g", "8", "h"]);
    j.ok(&["ZUNIONSTORE", "zu", "2", "z", "z2", "WEIGHTS", "2", "3"]);
    j.ok(&["ZINTERSTORE", "zi", "2", "z", "zu"]);
    j.ok(&["ZDIFFSTORE", "zd", "2", "zu", "z"]);
    j.ok(&["ZRANGESTORE", "zr", "zu", "0", "-1"]);
    j.ok(&["ZREMRANGEBYRANK", "zu", "0", "0"]);
    let zpairs: Vec<String> = (0..12).flat_map(|i| [format!("{i}"), format!("m{i}")]).collect();
    j.ok(&with(&["ZADD", "zbig"], &zpairs));
    j.ok(&["ZADD", "zbig", "-0", "negzero"]);
    j.ok(&with(&["ZREM", "zbig"], &words("m", 1..12)));

    // Keys across databases.
    j.ok(&["RENAME", "s3", "s3renamed"]);
    j.ok(&["RENAMENX", "s3renamed", "s3again"]);
    j.ok(&["COPY", "h", "hcopy"]);
    j.ok(&["COPY", "z", "zcopy", "DB", "2"]);
    j.ok(&["COPY", "set", "hcopy", "REPLACE"]);
    j.ok(&["MOVE", "s5", "1"]);
    j.ok(&["DEL", "m3", "nothing"]);
    j.ok(&["UNLINK", "s2"]);
    j.ok_in(3, &["SET", "db3key", "v", "EX", "1000"]);
    j.ok_in(3, &["RPUSH", "db3list", "a", "b"]);
    j.ok_in(5, &["SADD", "db5set", "a"]);
    j.ok_in(5, &["FLUSHDB"]);
    j.ok_in(4, &["SWAPDB", "3", "4"]);
    j.ok_in(4, &["LPOP", "db3list"]);

    // Lazy expiry: on a read, under a write, and a SET over a key whose time has passed.
    j.ok(&["SET", "t1", "v", "PX", "100"]);
    j.ok(&["SET", "t2", "v", "PX", "100"]);
    j.ok(&["SET", "t3", "v", "PX", "100"]);
    j.ok(&["RPUSH", "t4", "a"]);
    j.ok(&["PEXPIRE", "t4", "100"]);
    j.t.advance_ms(200);
    j.ok(&["GET", "t1"]);
    j.ok(&["SET", "t2", "again"]);
    j.ok(&["MSET", "t3", "x", "other", "y"]);
    j.ok(&["LPUSH", "t4", "fresh"]);

    // Active expiry.
    for i in 0..30 {
        j.ok(&["SET", &format!("a{i}"), "v", "PX", &(10 + i).to_string()]);
    }
    j.ok_in(2, &["SET", "a-db2", "v", "PX", "5"]);
    j.t.advance_ms(25);
    let removed = j.t.shard.active_expire(10_000);
    assert!(removed >= 16, "the active cycle expired {removed} keys");

    // Eviction (the net layer calls this before a write that may grow memory).
    j.t.shard.evict_for_write(1_000_300, 1_000_000).expect("allkeys-random evicts");
    assert!(j.t.shard.stats.evicted_keys > 0);

    // Whole-entry stores, as the net layer's gathered commands write back.
    let mut scratch = TestShard::with_config(config());
    scratch.run(&["SET", "str", "12"]);
    scratch.run(&["SET", "bytes", "4"]);
    scratch.run(&["APPEND", "bytes", "2"]);
    scratch.run(&["RPUSH", "list", "p", "q", "r"]);
    scratch.run(&with(&["HSET", "hash"], &pairs));
    scratch.run(&["SADD", "set", "1", "2", "x"]);
    scratch.run(&["ZADD", "zset", "1.25", "a", "inf", "b"]);
    scratch.run(&["PEXPIRE", "zset", "60000"]);
    for key in ["str", "bytes", "list", "hash", "set", "zset"] {
        let entry = scratch.shard.dbs[0].table.get(key.as_bytes()).cloned();
        j.t.shard.store_entry(0, format!("stored-{key}").as_bytes(), entry);
    }
    let over = scratch.shard.dbs[0].table.get(&b"list"[..]).cloned();
    j.t.shard.store_entry(0, b"h", over);
    j.t.shard.store_entry(0, b"stored-str", None);
    let before = j.journal.len();
    j.t.shard.store_entry(0, b"never-existed", None);
    assert_eq!(j.journal.len(), before, "deleting a missing key records nothing");

    // A transaction: every record between begin_tx and end_tx carries its id and shards.
    let tx_from = j.journal.len();
    let shards = ShardSet::from_ids([0, 3]);
    j.t.shard.begin_tx(77, shards.clone());
    j.ok(&["MSET", "tx1", "1", "tx2", "2"]);
    j.ok(&["SADD", "txset", "1", "2", "3"]);
    j.ok(&["SPOP", "txset", "1"]);
    let entry = scratch.shard.dbs[0].table.get(&b"hash"[..]).cloned();
    j.t.shard.store_entry(0, b"tx-hash", entry);
    j.t.shard.end_tx();
    let tx_records = &j.journal.records()[tx_from..];
    assert!(tx_records.len() >= 4);
    assert!(tx_records.iter().all(|r| r.txid == 77 && r.shards == shards), "{tx_records:?}");

    // FLUSHALL in the middle: what came before must not survive the replay either.
    j.ok(&["FLUSHALL"]);
    j.ok(&["SET", "after", "flush"]);
    j.ok_in(1, &["ZADD", "zafter", "1", "a"]);
    j.ok(&["SADD", "safter", "1", "2"]);
    j.t.shard.store_entry(0, b"stored-after", scratch.shard.dbs[0].table.get(&b"set"[..]).cloned());

    let records = j.journal.records();
    assert_sequenced(&records);
    assert!(records.iter().all(|r| r.origin == 0));
    assert_replays(&j.t.shard, &records, config());
}

#[test]
fn the_data_before_a_flush_replays_too() {
    // The same kind of mix without the final FLUSHALL, so the comparison sees rich data.
    let mut j = Journaled::new(config());
    let pairs: Vec<String> = (0..12).flat_map(|i| [format!("f{i}"), format!("v{i}")]).collect();
    j.ok(&with(&["HSET", "h"], &pairs));
    j.ok(&with(&["HDEL", "h"], &words("f", 3..12)));
    j.ok(&["SADD", "s", "a", "1", "2"]);
    j.ok(&["SPOP", "s"]);
    j.ok(&["ZADD", "z", "1", "a", "2.5", "b"]);
    j.ok(&["BZPOPMAX", "z", "0"]);
    j.ok(&["RPUSH", "l", "a", "b", "c"]);
    j.ok(&["BLMPOP", "0", "1", "l", "LEFT", "COUNT", "2"]);
    j.ok(&["SET", "x", "1", "PX", "50"]);
    j.ok(&["INCRBYFLOAT", "fl", "0.1"]);
    j.ok(&["INCRBYFLOAT", "fl", "0.2"]);
    j.ok_in(7, &["SET", "y", "v", "EX", "10"]);
    j.ok(&["COPY", "h", "h7", "DB", "7"]);
    j.ok(&["MOVE", "l", "7"]);
    j.t.advance_ms(60);
    j.ok(&["EXISTS", "x"]);
    j.t.shard.evict_for_write(1_000_100, 1_000_000).expect("evicts");
    let records = j.journal.records();
    assert_sequenced(&records);
    assert_replays(&j.t.shard, &records, config());
}

#[test]
fn records_take_redis_7_forms() {
    let mut j = Journaled::new(config());
    let now = j.now();
    let at = |ms: u64| (now + ms).to_string();
    j.ok(&["SET", "k", "v"]);
    j.ok(&["SADD", "s", "a"]);
    j.ok(&["SADD", "s3", "a", "b", "c"]);
    j.ok(&["HSET", "h", "f", "1"]);
    j.ok(&["RPUSH", "l", "a", "b", "c", "d"]);
    j.ok(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    j.ok(&["SET", "n", "3"]);
    j.ok(&["EXPIRE", "n", "100"]);
    let cases: Vec<(&[&str], Vec<Vec<String>>)> = vec![
        (&["SET", "a", "1", "EX", "100"], vec![strs(&["SET", "a", "1", "PXAT", &at(100_000)])]),
        (&["SET", "a", "1", "PX", "100", "GET"], vec![strs(&["SET", "a", "1", "PXAT", &at(100)])]),
        (&["set", "a", "2", "nx", "ex", "5"], vec![]),
        (&["SETEX", "a", "10", "v"], vec![strs(&["SET", "a", "v", "PXAT", &at(10_000)])]),
        (&["PSETEX", "a", "10", "v"], vec![strs(&["SET", "a", "v", "PXAT", &at(10)])]),
        (&["SET", "a", "w", "get"], vec![strs(&["SET", "a", "w"])]),
        (&["SET", "a", "w", "KEEPTTL"], vec![strs(&["SET", "a", "w", "KEEPTTL"])]),
        (&["EXPIRE", "a", "50"], vec![strs(&["PEXPIREAT", "a", &at(50_000)])]),
        (&["PEXPIRE", "a", "70000", "gt"], vec![strs(&["PEXPIREAT", "a", &at(70_000), "gt"])]),
        (&["EXPIREAT", "a", "99999999999"], vec![strs(&["PEXPIREAT", "a", "99999999999000"])]),
        (&["EXPIRE", "a", "-1"], vec![strs(&["DEL", "a"])]),
        (&["GETEX", "k", "EX", "100"], vec![strs(&["PEXPIREAT", "k", &at(100_000)])]),
        (&["GETEX", "k", "PERSIST"], vec![strs(&["PERSIST", "k"])]),
        (&["GETEX", "k", "PERSIST"], vec![]),
        (&["GETEX", "k"], vec![]),
        (&["GETSET", "k", "x"], vec![strs(&["SET", "k", "x"])]),
        (&["GETDEL", "k"], vec![strs(&["DEL", "k"])]),
        (&["SET", "f", "1", "EX", "100"], vec![strs(&["SET", "f", "1", "PXAT", &at(100_000)])]),
        (&["INCRBYFLOAT", "f", "2.5"], vec![strs(&["SET", "f", "3.5", "KEEPTTL"])]),
        (&["INCRBYFLOAT", "f", "0"], vec![strs(&["SET", "f", "3.5", "KEEPTTL"])]),
        (
            &["INCRBYFLOAT", "f", "0.5"],
            vec![strs(&["SET", "f", "", "KEEPTTL"]), strs(&["APPEND", "f", "4"])],
        ),
        (&["HINCRBYFLOAT", "h", "f", "1e2"], vec![strs(&["HSET", "h", "f", "101"])]),
        (&["SPOP", "s"], vec![strs(&["SREM", "s", "a"])]),
        (&["SPOP", "s3", "3"], vec![strs(&["DEL", "s3"])]),
        (&["BLPOP", "none", "l", "0"], vec![strs(&["LPOP", "l"])]),
        (&["BRPOP", "l", "0"], vec![strs(&["RPOP", "l"])]),
        (
            &["BLMOVE", "l", "l2", "left", "right", "0"],
            vec![strs(&["LMOVE", "l", "l2", "left", "right"])],
        ),
        (&["BRPOPLPUSH", "l2", "l3", "0"], vec![strs(&["RPOPLPUSH", "l2", "l3"])]),
        (&["LMPOP", "1", "l3", "LEFT"], vec![strs(&["LPOP", "l3", "1"])]),
        (&["BLMPOP", "0", "1", "l", "RIGHT", "COUNT", "5"], vec![strs(&["RPOP", "l", "1"])]),
        (&["BLPOP", "l", "0"], vec![]),
        (&["BZPOPMIN", "z", "0"], vec![strs(&["ZPOPMIN", "z"])]),
        (&["BZPOPMAX", "z", "0"], vec![strs(&["ZPOPMAX", "z"])]),
        (&["ZADD", "z", "4", "d", "5", "e"], vec![strs(&["ZADD", "z", "4", "d", "5", "e"])]),
        (&["ZMPOP", "1", "z", "MAX", "COUNT", "5"], vec![strs(&["ZPOPMAX", "z", "3"])]),
        (&["ZADD", "z", "1", "a"], vec![strs(&["ZADD", "z", "1", "a"])]),
        (&["BZMPOP", "0", "1", "z", "MIN"], vec![strs(&["ZPOPMIN", "z", "1"])]),
        (&["FLUSHDB"], vec![strs(&["FLUSHDB"])]),
        (&["FLUSHDB", "ASYNC"], vec![strs(&["FLUSHDB"])]),
        (&["SWAPDB", "0", "1"], vec![strs(&["SWAPDB", "0", "1"])]),
        (&["FLUSHALL", "SYNC"], vec![strs(&["FLUSHALL"])]),
    ];
    for (argv, want) in cases {
        assert_eq!(j.records_of(argv), want, "{argv:?}");
    }
    // SPOP with a count: one SREM per popped member, wrapped as one transaction.
    j.ok(&["SADD", "s", "a", "b", "c", "d", "e", "f"]);
    let from = j.journal.len();
    let popped = j.ok(&["SPOP", "s", "2"]);
    let Reply::Set(popped) = popped else { panic!("SPOP with a count answers a set") };
    let got = j.journal.records()[from..].to_vec();
    assert_eq!(got.len(), 2);
    for (r, m) in got.iter().zip(&popped) {
        assert_eq!(r.argv[..2], [Bytes::from("SREM"), Bytes::from("s")]);
        assert_eq!(Reply::Bulk(r.argv[2].clone()), *m);
        assert_eq!(r.txid, got[0].txid);
    }
    assert_ne!(got[0].txid & LOCAL_TXID_BIT, 0, "several records of one command: one tx");
}

#[test]
fn expiry_and_eviction_record_deletions() {
    let mut j = Journaled::new(config());
    j.ok(&["SET", "k1", "v", "PX", "10"]);
    j.ok(&["SET", "k2", "v", "PX", "10"]);
    j.ok(&["SET", "k3", "v", "PX", "10"]);
    j.t.advance_ms(10);
    assert_eq!(j.records_of(&["GET", "k1"]), vec![strs(&["DEL", "k1"])]);
    // A write over an expired key: the deletion, then the write, as one transaction.
    let from = j.journal.len();
    j.ok(&["SET", "k2", "w"]);
    let got = j.journal.records()[from..].to_vec();
    assert_eq!(got.iter().map(|r| r.argv.len()).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!((got[0].argv[0].as_ref(), got[1].argv[0].as_ref()), (&b"DEL"[..], &b"SET"[..]));
    assert!(got[0].txid != 0 && got[0].txid == got[1].txid);
    assert_eq!(j.t.shard.stats.expired_keys, 2);
    // With lazyfree-lazy-expire, UNLINK; the active cycle records each deletion alone.
    j.t.shard.config.lazyfree_lazy_expire = true;
    let from = j.journal.len();
    assert_eq!(j.t.shard.active_expire(100), 1);
    assert_eq!(j.journal.argvs_since(from), vec![strs(&["UNLINK", "k3"])]);
    assert_eq!(j.journal.records()[from].txid, 0);
    let dirty = j.t.shard.dirty;
    j.t.shard.config.lazyfree_lazy_eviction = true;
    let from = j.journal.len();
    j.t.shard.evict_for_write(1_000_001, 1_000_000).expect("one key to evict");
    assert_eq!(j.journal.argvs_since(from), vec![strs(&["UNLINK", "k2"])]);
    assert_eq!(j.t.shard.dirty, dirty, "expiry and eviction are not counted as writes");
    assert_eq!(j.t.shard.key_count(), 0);
}

#[test]
fn writes_that_change_nothing_record_nothing() {
    let mut j = Journaled::new(config());
    j.ok(&["SET", "k", "v"]);
    j.ok(&["SADD", "s", "a"]);
    j.ok(&["HSET", "h", "f", "v"]);
    j.ok(&["ZADD", "z", "1", "a"]);
    j.ok(&["RPUSH", "l", "a"]);
    let before = j.journal.len();
    for argv in [
        &["DEL", "missing"][..],
        &["UNLINK", "missing", "other"],
        &["SADD", "s", "a"],
        &["SREM", "s", "nope"],
        &["HDEL", "h", "nope"],
        &["ZADD", "z", "XX", "1", "nope"],
        &["ZADD", "z", "1", "a"],
        &["ZREM", "z", "nope"],
        &["SETNX", "k", "x"],
        &["SET", "k", "x", "NX"],
        &["SET", "k", "x", "NX", "GET"],
        &["SET", "missing", "x", "XX"],
        &["MSETNX", "k", "1", "new", "2"],
        &["EXPIRE", "missing", "10"],
        &["EXPIRE", "k", "10", "XX"],
        &["PERSIST", "k"],
        &["GETEX", "k"],
        &["GETDEL", "missing"],
        &["LPOP", "missing"],
        &["LPUSHX", "missing", "a"],
        &["BLPOP", "missing", "0"],
        &["BZPOPMIN", "missing", "0"],
        &["SPOP", "missing"],
        &["SPOP", "s", "0"],
        &["SMOVE", "s", "s2", "nope"],
        &["RENAMENX", "k", "s"],
        &["MOVE", "missing", "1"],
        &["COPY", "k", "s"],
        &["INCRBY", "k", "1"],
        &["GET", "k"],
        &["SMEMBERS", "s"],
        &["PFCOUNT", "missing"],
    ] {
        let got = j.records_of(argv);
        assert!(got.is_empty(), "{argv:?} recorded {got:?}");
    }
    assert_eq!(j.journal.len(), before);
    // SETBIT of a 0 bit creates the key (a change) the first time only.
    assert_eq!(j.records_of(&["SETBIT", "bits", "3", "0"]).len(), 1);
    assert!(j.records_of(&["SETBIT", "bits", "3", "0"]).is_empty());
}

#[test]
fn lsns_and_the_hlc_go_on_across_detach_and_a_clock_step_back() {
    let mut j = Journaled::new(config());
    j.ok(&["SET", "a", "1"]);
    let held = j.t.shard.set_journal(None).expect("attached");
    j.ok(&["SET", "b", "2"]);
    assert_eq!(j.journal.len(), 1, "detached: nothing recorded");
    j.t.shard.set_journal(Some(held));
    assert_eq!(j.t.shard.next_lsn(), 2, "LSNs count records, not writes");
    j.t.shard.clock.set_ms(START_MS - 60_000);
    j.ok(&["SET", "c", "3"]);
    j.ok(&["SET", "d", "4"]);
    let records = j.journal.records();
    assert_sequenced(&records);
    assert_eq!(hlc_physical_ms(records[0].hlc), START_MS);
    assert_eq!(hlc_physical_ms(records[2].hlc), START_MS, "the HLC does not go back");
}

// ---------------------------------------------------------------------------------------------
// Random command sequences replay to the same dataset.

/// One step of a random run.
#[derive(Debug, Clone)]
enum Step {
    Command { db: usize, argv: Vec<String> },
    Advance(u64),
    ActiveExpire(usize),
    Evict,
    Store { key: String, from: String },
    Delete(String),
    BeginTx(u64),
    EndTx,
}

const VALUES: &[&str] = &["1", "2", "10", "-3", "a", "b", "x y", "a-value-longer-than-16"];

/// A deterministic step from one random number (proptest shrinks the numbers). Keys are
/// mostly per type (`s1`, `l0`, …), so most commands find their type, with a few shared keys
/// (`x0`, `x1`) where types collide.
fn step(seed: u64) -> Step {
    let mut x = seed | 1;
    let mut pick = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let kind = ["s", "l", "h", "t", "z"][pick(5)];
    let mut key_of = |kind: &str| {
        if pick(6) == 0 {
            format!("x{}", pick(2))
        } else {
            format!("{kind}{}", pick(3))
        }
    };
    let (k, k2, any) =
        (key_of(kind), key_of(kind), key_of(["s", "l", "h", "t", "z"][seed as usize % 5]));
    let v = VALUES[pick(VALUES.len())].to_string();
    let n = pick(4) + 1;
    let db = if pick(5) == 0 { pick(3) } else { 0 };
    let c = |parts: &[&str]| Step::Command { db, argv: strs(parts) };
    let ns = n.to_string();
    let ttl = (pick(40) + 1).to_string();
    match (kind, pick(16)) {
        (_, 0) => match pick(8) {
            0 => c(&["DEL", &any, &k]),
            1 => c(&["RENAME", &any, &k2]),
            2 => c(&["COPY", &any, &k2, "DB", &pick(3).to_string(), "REPLACE"]),
            3 => c(&["MOVE", &any, &pick(3).to_string()]),
            4 => c(&["SWAPDB", &pick(3).to_string(), &pick(3).to_string()]),
            5 => c(&["FLUSHDB"]),
            6 => c(&["EXPIRE", &any, &(pick(6) as i64 - 1).to_string()]),
            _ => c(&["PERSIST", &any]),
        },
        (_, 1) => c(&["PEXPIRE", &any, &ttl, ["NX", "XX", "GT", "LT"][pick(4)]]),
        (_, 2) => match pick(8) {
            0..=2 => Step::Advance(pick(30) as u64),
            3 => Step::ActiveExpire(pick(3) * 8 + 1),
            4 => Step::Evict,
            5 => Step::Store { key: k, from: any },
            6 => Step::Delete(k),
            _ if pick(2) == 0 => Step::BeginTx(pick(1000) as u64 + 1),
            _ => Step::EndTx,
        },
        ("s", i) => match i {
            3 => c(&["SET", &k, &v]),
            4 => c(&["SET", &k, &v, ["EX", "PX"][pick(2)], &ttl]),
            5 => c(&["SET", &k, &v, ["KEEPTTL", "GET", "NX", "XX"][pick(4)]]),
            6 => c(&["GETEX", &k, "PX", &ttl]),
            7 => c(&["GETEX", &k, "PERSIST"]),
            8 => c(&["GETDEL", &k]),
            9 => c(&["APPEND", &k, &v]),
            10 => c(&["SETRANGE", &k, &pick(6).to_string(), &v]),
            11 => c(&["INCR", &k]),
            12 => c(&["INCRBYFLOAT", &k, ["1.5", "-0.5", "1e3", "0"][pick(4)]]),
            13 => c(&["MSET", &k, &v, &k2, "1"]),
            14 => c(&["SETBIT", &k, &pick(40).to_string(), &pick(2).to_string()]),
            _ => c(&["PFADD", &k, &v, "z"]),
        },
        ("l", i) => match i {
            3 | 4 => c(&["RPUSH", &k, &v, "b", "1"]),
            5 => c(&["LPUSH", &k, &v]),
            6 => c(&["LPOP", &k, &ns]),
            7 => c(&["BLPOP", &k, &k2, "0"]),
            8 => c(&["BRPOP", &k, "0"]),
            9 => c(&["BLMOVE", &k, &k2, "LEFT", "RIGHT", "0"]),
            10 => c(&["BLMPOP", "0", "2", &k, &k2, "RIGHT", "COUNT", &ns]),
            11 => c(&["LREM", &k, "0", &v]),
            12 => c(&["LTRIM", &k, "1", "-1"]),
            13 => c(&["BRPOPLPUSH", &k, &k2, "0"]),
            14 => c(&["LINSERT", &k, "BEFORE", "b", &v]),
            _ => c(&["LMPOP", "1", &k, "LEFT"]),
        },
        ("h", i) => match i {
            3 | 4 => c(&["HSET", &k, &v, &v, &format!("f{n}"), "1"]),
            5 => c(&["HDEL", &k, &v, &format!("f{n}")]),
            6 => c(&["HINCRBY", &k, "f1", "3"]),
            7 => c(&["HINCRBYFLOAT", &k, "g", "0.3"]),
            8 => c(&["HSETNX", &k, &v, "new"]),
            _ => c(&["HSET", &k, &format!("f{}", pick(12)), &v]),
        },
        ("t", i) => match i {
            3 | 4 => c(&["SADD", &k, &v, &ns, &(pick(20)).to_string()]),
            5 => c(&["SREM", &k, &v, &ns]),
            6 => c(&["SPOP", &k]),
            7 | 8 => c(&["SPOP", &k, &(pick(12)).to_string()]),
            9 => c(&["SMOVE", &k, &k2, &v]),
            10 => c(&["SUNIONSTORE", &k, &k2, &k]),
            11 => c(&["SINTERSTORE", &k2, &k, &k2]),
            _ => c(&["SADD", &k, &(pick(30)).to_string(), &(pick(30)).to_string()]),
        },
        (_, i) => match i {
            3 | 4 => c(&["ZADD", &k, &ns, &v, ["2.5", "-0", "inf"][pick(3)], &format!("m{n}")]),
            5 => c(&["ZINCRBY", &k, "1.5", &v]),
            6 => c(&["ZREM", &k, &v, &format!("m{n}")]),
            7 => c(&["ZPOPMIN", &k, &ns]),
            8 => c(&["BZPOPMAX", &k, &k2, "0"]),
            9 => c(&["BZMPOP", "0", "2", &k, &k2, "MIN", "COUNT", &ns]),
            10 => c(&["ZUNIONSTORE", &k, "2", &k, &k2]),
            11 => c(&["ZRANGESTORE", &k2, &k, "0", "2"]),
            12 => c(&["ZREMRANGEBYRANK", &k, "0", "0"]),
            _ => c(&["ZADD", &k, &pick(9).to_string(), &format!("m{}", pick(12))]),
        },
    }
}

fn run_steps(steps: &[Step]) {
    let mut j = Journaled::new(config());
    let mut open_tx: Option<u64> = None;
    let mut in_tx = Vec::new();
    for s in steps {
        let from = j.journal.len();
        match s {
            Step::Command { db, argv } => {
                let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                j.t.db = *db;
                j.t.run(&argv);
                j.t.db = 0;
            }
            Step::Advance(ms) => j.t.advance_ms(*ms),
            Step::ActiveExpire(budget) => {
                j.t.shard.active_expire(*budget);
            }
            Step::Evict => {
                let _ = j.t.shard.evict_for_write(1_000_200, 1_000_000);
            }
            Step::Store { key, from } => {
                let entry = j.t.shard.dbs[1].table.get(from.as_bytes()).cloned();
                j.t.shard.store_entry(0, key.as_bytes(), entry);
            }
            Step::Delete(key) => j.t.shard.store_entry(0, key.as_bytes(), None),
            Step::BeginTx(id) => {
                j.t.shard.begin_tx(*id, ShardSet::from_ids([0]));
                open_tx = Some(*id);
            }
            Step::EndTx => {
                j.t.shard.end_tx();
                open_tx = None;
            }
        }
        if let Some(id) = open_tx {
            in_tx.extend(j.journal.records()[from..].iter().map(|r| (id, r.txid)));
        }
    }
    for (want, got) in in_tx {
        assert_eq!(want, got, "a record made inside a transaction carries its id");
    }
    let records = j.journal.records();
    assert_sequenced(&records);
    assert_replays(&j.t.shard, &records, config());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_runs_replay_to_the_same_dataset(
        seeds in prop::collection::vec(any::<u64>(), 1..300)
    ) {
        let steps: Vec<Step> = seeds.into_iter().map(step).collect();
        run_steps(&steps);
    }
}
