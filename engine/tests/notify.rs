//! Keyspace events recorded by the engine, per command, on a deterministic shard (manual
//! clock): the exact sequence Redis 7.0 raises (event name, key, database), masking by class,
//! lazy and active expiry, eviction, and the bound on the pending buffer.

use mayfly_engine::config::Config;
use mayfly_engine::notify::{Event, MAX_PENDING_EVENTS};
use mayfly_engine::testing::TestShard;

fn shard(flags: &str) -> TestShard {
    let mut config = Config::default();
    config.set("notify-keyspace-events", flags).expect("valid flags");
    TestShard::with_config(config)
}

/// Runs one command and returns the events it raised as `event key` (db shown when not 0).
fn run(t: &mut TestShard, argv: &[&str]) -> Vec<String> {
    t.run(argv);
    t.shard
        .take_events()
        .iter()
        .map(|e| {
            let key = String::from_utf8_lossy(&e.key);
            if e.db == 0 {
                format!("{} {key}", e.event)
            } else {
                format!("{}@{} {key}", e.event, e.db)
            }
        })
        .collect()
}

fn line(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

/// (command, events it raises), run in order on one shard with every class on.
const SEQUENCES: &[(&str, &[&str])] = &[
    ("SET s v", &["new s", "set s"]),
    ("SET s v2 EX 100", &["set s", "expire s"]),
    ("SET s v3 NX", &[]),
    ("SETEX s 10 v", &["set s", "expire s"]),
    ("GETSET s w", &["set s"]),
    ("MSET a 1 b 2", &["new a", "set a", "new b", "set b"]),
    ("MSETNX a 1 c 2", &[]),
    ("APPEND ap x", &["new ap", "append ap"]),
    ("APPEND ap y", &["append ap"]),
    ("SETRANGE sr 2 x", &["new sr", "setrange sr"]),
    ("INCR n", &["new n", "incrby n"]),
    ("DECRBY n 3", &["incrby n"]),
    ("INCRBYFLOAT n 1.5", &["incrbyfloat n"]),
    ("GETDEL n", &["del n"]),
    ("GETDEL n", &[]),
    ("GETEX s PX 5000", &["expire s"]),
    ("GETEX s PERSIST", &["persist s"]),
    ("GETEX s PERSIST", &[]),
    ("GETEX s EXAT 1", &["del s"]),
    ("SETBIT bits 3 1", &["new bits", "setbit bits"]),
    ("SETBIT bits 3 1", &[]),
    ("BITFIELD bits SET u4 0 15", &["setbit bits"]),
    ("BITOP NOT bnot bits", &["new bnot", "set bnot"]),
    ("BITOP AND bnot none1 none2", &["del bnot"]),
    ("PFADD hll a", &["new hll", "pfadd hll"]),
    ("PFADD hll a", &[]),
    ("PFMERGE hll2 hll", &["new hll2", "pfadd hll2"]),
    ("RPUSH l a b c", &["new l", "rpush l"]),
    ("LPUSHX l z", &["lpush l"]),
    ("LPUSHX nolist z", &[]),
    ("LINSERT l AFTER a y", &["linsert l"]),
    ("LSET l 0 q", &["lset l"]),
    ("LREM l 0 q", &["lrem l"]),
    ("LTRIM l 0 -1", &["ltrim l"]),
    ("LMOVE l l2 LEFT LEFT", &["new l2", "lpush l2", "lpop l"]),
    ("RPOP l 10", &["rpop l", "del l"]),
    ("RPOPLPUSH l2 l2", &["lpush l2", "rpop l2"]),
    ("LMPOP 1 l2 RIGHT", &["rpop l2", "del l2"]),
    ("SADD st a b", &["new st", "sadd st"]),
    ("SADD st a", &[]),
    ("SMOVE st st2 a", &["srem st", "new st2", "sadd st2"]),
    ("SINTERSTORE si st st2", &[]),
    ("SUNIONSTORE su st st2", &["new su", "sunionstore su"]),
    ("SDIFFSTORE su st2 st", &["sdiffstore su"]),
    ("SINTERSTORE su st st2", &["del su"]),
    ("SPOP st", &["spop st", "del st"]),
    ("SREM st2 a", &["srem st2", "del st2"]),
    ("ZADD z 1 a 2 b", &["new z", "zadd z"]),
    ("ZADD z 1 a", &[]),
    ("ZINCRBY z 2 a", &["zincr z"]),
    ("ZREMRANGEBYSCORE z 100 200", &[]),
    ("ZRANGESTORE zr z 0 0", &["new zr", "zrangestore zr"]),
    ("ZUNIONSTORE zu 2 z zr", &["new zu", "zunionstore zu"]),
    ("ZINTERSTORE zu 2 z nothing", &["del zu"]),
    ("ZPOPMAX z", &["zpopmax z"]),
    ("ZREMRANGEBYRANK z 0 -1", &["zremrangebyrank z", "del z"]),
    ("ZREM zr b", &["zrem zr", "del zr"]),
    ("HSET h a 1", &["new h", "hset h"]),
    ("HSETNX h a 2", &[]),
    ("HINCRBY h a 2", &["hincrby h"]),
    ("HINCRBYFLOAT h a 0.5", &["hincrbyfloat h"]),
    ("HDEL h a", &["hdel h", "del h"]),
    ("SET k v", &["new k", "set k"]),
    ("EXPIRE k 100", &["expire k"]),
    ("EXPIRE k 100 NX", &[]),
    ("PERSIST k", &["persist k"]),
    ("RENAME k k2", &["new k2", "rename_from k", "rename_to k2"]),
    ("COPY k2 k3", &["new k3", "copy_to k3"]),
    ("COPY k2 k3 DB 2", &["new@2 k3", "copy_to@2 k3"]),
    ("MOVE k3 5", &["new@5 k3", "move_from k3", "move_to@5 k3"]),
    ("DEL k2 nothing a", &["del k2", "del a"]),
    ("PEXPIRE b -1", &["del b"]),
    ("GEOADD geo 1 1 a 2 2 b", &["new geo", "zadd geo"]),
    (
        "GEOSEARCHSTORE geod geo FROMLONLAT 1 1 BYRADIUS 500 km",
        &["new geod", "geosearchstore geod"],
    ),
    ("GEORADIUS geo 1 1 500 km STORE geod", &["georadiusstore geod"]),
    ("RPUSH sl 2 1", &["new sl", "rpush sl"]),
    ("SORT sl STORE sls", &["new sls", "sortstore sls"]),
    ("SORT sl STORE sls", &["sortstore sls"]),
    ("SORT sl LIMIT 0 0 STORE sls", &["del sls"]),
];

#[test]
fn each_command_raises_redis_events_in_order() {
    let mut t = shard("KEAn");
    for (cmd, want) in SEQUENCES {
        assert_eq!(run(&mut t, &line(cmd)), *want, "{cmd}");
    }
}

#[test]
fn nothing_is_recorded_when_notifications_are_off() {
    let mut t = TestShard::new();
    for (cmd, _) in SEQUENCES {
        t.run(&line(cmd));
        assert!(t.shard.events.is_empty(), "{cmd}");
    }
    // Classes without K or E publish nowhere, so they record nothing either.
    let mut t = shard("A");
    assert_eq!(run(&mut t, &["SET", "k", "v"]), Vec::<String>::new());
}

#[test]
fn classes_mask_events_and_channels_follow_k_and_e() {
    let mut t = shard("Kl");
    assert!(run(&mut t, &["SET", "k", "v"]).is_empty());
    assert!(run(&mut t, &["DEL", "k"]).is_empty(), "generic is off");
    t.run(&["LPUSH", "l", "a"]);
    let events = t.shard.take_events();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].event, events[0].keyspace, events[0].keyevent), ("lpush", true, false));
    // Popping the last element: the list event passes, the generic `del` is masked.
    assert_eq!(run(&mut t, &["LPOP", "l"]), ["lpop l"]);

    let mut t = shard("Eg");
    t.run(&["SET", "k", "v"]);
    t.run(&["DEL", "k"]);
    let events = t.shard.take_events();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].event, events[0].keyspace, events[0].keyevent), ("del", false, true));
}

#[test]
fn read_misses_raise_keymiss_only_with_m() {
    let mut t = shard("KEA");
    assert!(run(&mut t, &["GET", "nothing"]).is_empty(), "m is not part of A");
    let mut t = shard("Em");
    assert_eq!(run(&mut t, &["GET", "nothing"]), ["keymiss nothing"]);
    assert_eq!(run(&mut t, &["SUNIONSTORE", "d", "s1", "s2"]), ["keymiss s1", "keymiss s2"]);
    // Write lookups never raise it.
    assert!(run(&mut t, &["LPUSHX", "nothing", "a"]).is_empty());
}

#[test]
fn selected_database_is_recorded() {
    let mut t = shard("KEA");
    t.db = 9;
    assert_eq!(run(&mut t, &["SET", "foo", "bar"]), ["set@9 foo"]);
    let e = Event {
        event: "set",
        db: 9,
        key: bytes::Bytes::from_static(b"foo"),
        keyspace: true,
        keyevent: true,
    };
    let channels: Vec<_> = e.messages().map(|(c, _)| c).collect();
    assert_eq!(channels, ["__keyspace@9__:foo", "__keyevent@9__:set"]);
}

#[test]
fn lazy_expiry_raises_expired_before_the_command_events() {
    let mut t = shard("KEAn");
    t.run(&["SET", "k", "v", "PX", "100"]);
    t.shard.take_events();
    t.advance_ms(101);
    assert_eq!(run(&mut t, &["GET", "k"]), ["expired k"]);
    t.run(&["SET", "k", "v", "PX", "100"]);
    t.shard.take_events();
    t.advance_ms(101);
    // The write finds the key expired: expired, then a new key.
    assert_eq!(run(&mut t, &["LPUSH", "k", "a"]), ["expired k", "new k", "lpush k"]);
    // A key stored already expired (past PXAT) is expired by its next access.
    let past = (t.now_ms() - 1).to_string();
    assert_eq!(run(&mut t, &["SET", "p", "v", "PXAT", &past]), ["new p", "set p", "expire p"]);
    assert_eq!(run(&mut t, &["EXISTS", "p"]), ["expired p"]);
}

#[test]
fn active_expiry_raises_expired_per_key() {
    let mut t = shard("Ex");
    t.db = 3;
    t.run(&["SET", "a", "1", "PX", "50"]);
    t.run(&["SET", "b", "1", "PX", "50"]);
    t.run(&["SET", "c", "1"]);
    assert!(t.shard.events.is_empty(), "only expired events are enabled");
    t.advance_ms(60);
    assert_eq!(t.shard.active_expire(1000), 2);
    let mut got: Vec<(usize, String)> = t
        .shard
        .take_events()
        .iter()
        .map(|e| {
            assert_eq!(e.event, "expired");
            (e.db, String::from_utf8_lossy(&e.key).into_owned())
        })
        .collect();
    got.sort();
    assert_eq!(got, [(3, "a".to_string()), (3, "b".to_string())]);
}

#[test]
fn eviction_raises_evicted() {
    let mut t = shard("Ee");
    t.shard.config.set("maxmemory-policy", "allkeys-random").expect("policy");
    t.run(&["SET", "only", "v"]);
    // Pretend to be 1 byte over a 1-byte budget: the one key goes.
    t.shard.evict_for_write(2, 1).expect("a key can be evicted");
    assert_eq!(run(&mut t, &["PING"]), ["evicted only"]);
}

#[test]
fn pending_events_are_bounded() {
    let mut t = shard("KEA");
    let filler = Event {
        event: "set",
        db: 0,
        key: bytes::Bytes::from_static(b"x"),
        keyspace: true,
        keyevent: true,
    };
    t.shard.events.resize(MAX_PENDING_EVENTS, filler);
    t.run(&["SET", "k", "v"]);
    assert_eq!(t.shard.events.len(), MAX_PENDING_EVENTS);
    assert_eq!(t.shard.stats.notifications_dropped, 1);
    t.shard.take_events();
    t.run(&["SET", "k", "v"]);
    assert_eq!(t.shard.events.len(), 1);
}
