//! Keyspace notifications end to end: the same command script runs against a fresh real
//! redis-server 7.0 and a fresh Mayfly (one shard, then two), each with subscribers on
//! `__key*__:*`, and the notification streams must be identical, message by message.
//!
//! With two shards the script's keys spread over both, so multi-key commands exercise the split
//! (DEL, MSET) and gather (MULTI/EXEC, RENAME…) paths: their events must still come in Redis's
//! order.

mod common;

use std::time::{Duration, Instant};

use common::{show, RawClient, RedisServer, Resp, Server};

/// Commands whose events are compared. `@block` lines are special steps (see `run_step`).
const SCRIPT: &[&str] = &[
    // strings
    "SET s1 v",
    "SET s1 v2 EX 100",
    "SET s1 v3 NX",
    "SET s1 v4 XX GET",
    "SETNX s2 x",
    "SETNX s2 x",
    "SETEX s3 100 v",
    "PSETEX s3 100000 v",
    "GETSET s2 y",
    "MSET {m}a 1 {m}b 2",
    "MSETNX {m}c 1 {m}d 2",
    "MSETNX {m}c 1 {m}e 2",
    "APPEND s4 abc",
    "APPEND s4 def",
    "SETRANGE s5 3 xyz",
    "SETRANGE s5 0 ab",
    "INCR n1",
    "INCRBY n1 5",
    "DECR n1",
    "DECRBY n1 2",
    "INCRBYFLOAT n2 1.5",
    "INCRBYFLOAT n2 1.5",
    "GETDEL n2",
    "GETDEL n2",
    "GETEX s1 PX 100000",
    "GETEX s1 PERSIST",
    "GETEX s1 PERSIST",
    "GETEX s1 PXAT 1000",
    "GETEX nokey EX 10",
    // a key stored already expired: the next access expires it
    "SET x1 v PXAT 1000",
    "GET x1",
    "SET x2 v PXAT 1000",
    "SET x2 again",
    // bitmaps and HyperLogLog
    "SETBIT b1 7 1",
    "SETBIT b1 7 1",
    "SETBIT b1 100 0",
    "BITFIELD b2 SET u8 0 255",
    "BITFIELD b2 GET u8 0",
    "BITFIELD b2 SET u8 0 255",
    "BITOP OR {b}d {b}s1 {b}s2",
    "SET {b}s1 abc",
    "BITOP OR {b}d {b}s1 {b}s2",
    "BITOP AND {b}d {b}n1 {b}n2",
    "PFADD h1 a b c",
    "PFADD h1 a",
    "PFADD {h}s a b",
    "PFMERGE {h}d {h}s",
    "PFMERGE {h}d {h}s",
    // lists
    "LPUSH l1 a b c",
    "RPUSH l1 d",
    "LPUSHX l1 e",
    "LPUSHX lnone e",
    "RPUSHX l1 f",
    "LINSERT l1 BEFORE a z",
    "LINSERT l1 BEFORE nothere z",
    "LSET l1 0 q",
    "LREM l1 1 q",
    "LREM l1 1 nothere",
    "LTRIM l1 0 2",
    "LPOP l1",
    "RPOP l1 2",
    "LPOP l1 5",
    "RPUSH {l}a 1 2",
    "LMOVE {l}a {l}b LEFT RIGHT",
    "RPOPLPUSH {l}a {l}b",
    "RPOPLPUSH {l}b {l}b",
    "LMPOP 2 {l}x {l}b LEFT COUNT 10",
    "RPUSH l2 a",
    "LTRIM l2 1 0",
    // sets
    "SADD st a b c",
    "SADD st a",
    "SREM st a",
    "SREM st zz",
    "SPOP st 0",
    "SADD {s}a 1 2 3",
    "SADD {s}b 3 4",
    "SINTERSTORE {s}i {s}a {s}b",
    "SUNIONSTORE {s}u {s}a {s}b",
    "SDIFFSTORE {s}d {s}a {s}b",
    "SINTERSTORE {s}d {s}a {s}none",
    "SMOVE {s}a {s}b 1",
    "SMOVE {s}a {s}new 2",
    "SMOVE {s}a {s}b 99",
    "SPOP {s}a 5",
    "SADD one x",
    "SPOP one",
    // sorted sets
    "ZADD z 1 a 2 b",
    "ZADD z 1 a",
    "ZADD z XX CH 5 a",
    "ZINCRBY z 1 a",
    "ZADD z INCR 1 b",
    "ZREM z a",
    "ZREM z nope",
    "ZADD z 1 c 2 d 3 e",
    "ZREMRANGEBYSCORE z 1 1",
    "ZREMRANGEBYRANK z 0 0",
    "ZADD zl 0 a 0 b 0 c",
    "ZREMRANGEBYLEX zl [a [b",
    "ZREMRANGEBYLEX zl - +",
    "ZPOPMIN z",
    "ZPOPMAX z 10",
    "ZADD {z}a 1 x 2 y",
    "ZADD {z}b 3 y 4 w",
    "ZUNIONSTORE {z}u 2 {z}a {z}b",
    "ZINTERSTORE {z}i 2 {z}a {z}b",
    "ZDIFFSTORE {z}d 2 {z}a {z}b",
    "ZINTERSTORE {z}d 2 {z}a {z}none",
    "ZRANGESTORE {z}r {z}a 0 -1",
    "ZRANGESTORE {z}r {z}a 5 10",
    "ZMPOP 1 {z}a MIN COUNT 5",
    // hashes
    "HSET hh a 1 b 2",
    "HMSET hh c 3",
    "HSETNX hh a 9",
    "HSETNX hh z 9",
    "HINCRBY hh a 5",
    "HINCRBYFLOAT hh b 1.5",
    "HDEL hh a nope",
    "HDEL hh b c z",
    // generic
    "SET e1 v",
    "EXPIRE e1 100",
    "PEXPIRE e1 100000",
    "EXPIREAT e1 4102444800",
    "EXPIRE e1 100 NX",
    "PERSIST e1",
    "PERSIST e1",
    "EXPIRE e1 -1",
    "SET {r}1 v",
    "SET {r}3 w",
    "RENAME {r}1 {r}2",
    "RENAMENX {r}2 {r}3",
    "RENAME {r}2 {r}3",
    "SET {c}a v",
    "COPY {c}a {c}b",
    "COPY {c}a {c}b",
    "COPY {c}a {c}b REPLACE",
    "COPY {c}a {c}b DB 5",
    "SET mv v",
    "MOVE mv 4",
    "SELECT 4",
    "SET in4 v",
    "DEL in4 mv",
    "SELECT 0",
    "SET {d}1 a",
    "SET {d}2 b",
    "DEL {d}1 {d}2 {d}3",
    "MSET ka 1 kb 2 kc 3 kd 4 ke 5",
    "DEL kz ke ka kb kc kd",
    "SET {d}4 c",
    "UNLINK {d}4",
    // transactions, single-shard and spread over shards
    "MULTI",
    "SET {x}a 1",
    "LPUSH {x}b 1",
    "DEL {x}a",
    "EXEC",
    "MULTI",
    "SET ga 1",
    "SET gb 2",
    "RPUSH gl x",
    "DEL ga gb gl",
    "EXEC",
    // blocked clients served by a write
    "@block BLPOP bl 0 | RPUSH bl a b",
    "@block BLMOVE {q}src {q}dst LEFT RIGHT 0 | LPUSH {q}src x",
    "@block BZPOPMIN bz 0 | ZADD bz 1 m",
    "@block BLPOP bq 0 | MULTI ; SET ga 1 ; RPUSH bq x ; SET gb 1 ; SET gc 1 ; SET gd 1 ; EXEC",
];

/// Waits until the server reports `n` blocked clients (INFO clients), polling.
fn wait_blocked(c: &mut RawClient, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let want = format!("blocked_clients:{n}");
    loop {
        let info = c.cmd(&["INFO", "clients"]);
        if String::from_utf8_lossy(&info).contains(&want) {
            return;
        }
        assert!(Instant::now() < deadline, "no {want} in {}", show(&info));
        std::thread::yield_now();
    }
}

/// Runs one script step on `c` (and `blocker` for `@block` steps: the blocking command, then
/// once it blocks, the feeding commands separated by ` ; `).
fn run_step(c: &mut RawClient, blocker: &mut RawClient, step: &str) {
    if let Some(rest) = step.strip_prefix("@block ") {
        let (blocking, feeder) = rest.split_once(" | ").expect("@block A | B");
        let argv: Vec<&str> = blocking.split_whitespace().collect();
        blocker.send(&common::encode_cmd(&argv)).expect("send blocking command");
        wait_blocked(c, 1);
        for cmd in feeder.split(" ; ") {
            c.cmd_str(cmd);
        }
        blocker.read_reply().expect("blocked client served");
    } else {
        c.cmd_str(step);
    }
}

/// A subscriber on every keyspace channel.
fn subscribe(port: u16) -> RawClient {
    let mut s = RawClient::connect(port);
    let reply = s.cmd(&["PSUBSCRIBE", "__key*__:*"]);
    assert_eq!(Resp::parse(&reply).items()[2], Resp::Int(1));
    s
}

/// Reads (channel, message) pairs until the end marker published after the script.
fn collect(sub: &mut RawClient) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        let msg = Resp::parse(&sub.read_reply().expect("notification"));
        let items = msg.items();
        let channel = String::from_utf8_lossy(items[2].as_bytes()).into_owned();
        let payload = String::from_utf8_lossy(items[3].as_bytes()).into_owned();
        if channel == END_CHANNEL {
            return out;
        }
        out.push((channel, payload));
    }
}

const END_CHANNEL: &str = "__keyevent@0__:zz-end-of-script";

/// Runs the script on a server and returns the streams seen by two subscribers (with two
/// shards they are connected to different shards).
fn run_on(port: u16, flags: &str) -> Vec<Vec<(String, String)>> {
    let mut c = RawClient::connect(port);
    let mut blocker = RawClient::connect(port);
    c.cmd(&["FLUSHALL"]);
    assert_eq!(c.cmd(&["CONFIG", "SET", "notify-keyspace-events", flags]), b"+OK\r\n");
    let mut subs = [subscribe(port), subscribe(port)];
    for step in SCRIPT {
        run_step(&mut c, &mut blocker, step);
    }
    c.cmd(&["PUBLISH", END_CHANNEL, "end"]);
    subs.iter_mut().map(collect).collect()
}

fn compare(shards: usize, flags: &str, min_events: usize) {
    let Some(redis) = RedisServer::start(&[]) else { return };
    let mayfly = Server::with_shards(shards);
    let want = run_on(redis.port, flags);
    let got = run_on(mayfly.port, flags);
    assert!(want[0].len() >= min_events, "the script raises events on Redis: {}", want[0].len());
    for (w, g) in want.iter().zip(&got) {
        let first_diff = w.iter().zip(g).position(|(a, b)| a != b);
        if first_diff.is_some() || w.len() != g.len() {
            let at = first_diff.unwrap_or(w.len().min(g.len()));
            let from = at.saturating_sub(3);
            panic!(
                "notification streams differ at message {at} (redis {} messages, mayfly {}):\n  redis:  {:?}\n  mayfly: {:?}",
                w.len(),
                g.len(),
                &w[from..(at + 4).min(w.len())],
                &g[from..(at + 4).min(g.len())]
            );
        }
    }
}

#[test]
fn same_notifications_as_redis_one_shard() {
    compare(1, "KEAn", 400);
}

#[test]
fn same_notifications_as_redis_two_shards() {
    compare(2, "KEAn", 400);
}

#[test]
fn same_notifications_as_redis_masked_classes() {
    // Only some classes, keyevent channels only: masking must drop exactly what Redis drops.
    compare(2, "Elzx", 40);
}

#[test]
fn same_keymiss_notifications_as_redis() {
    compare(2, "KEm", 20);
}

#[test]
fn config_flags_and_errors_match_redis() {
    let mayfly = Server::with_shards(1);
    let mut m = mayfly.raw();
    let cmds = [
        "CONFIG SET notify-keyspace-events gKE",
        "CONFIG GET notify-keyspace-events",
        "CONFIG SET notify-keyspace-events $lshzxeKE",
        "CONFIG GET notify-keyspace-events",
        "CONFIG SET notify-keyspace-events KA",
        "CONFIG GET notify-keyspace-events",
        "CONFIG SET notify-keyspace-events nmtdKEA",
        "CONFIG GET notify-keyspace-events",
        "CONFIG SET notify-keyspace-events KEw",
        "CONFIG GET notify-keyspace-events",
        "CONFIG SET notify-keyspace-events g",
        "CONFIG GET notify-keyspace-events",
    ];
    let diffs = common::compare_with_redis(&mut m, &cmds);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn lowering_maxmemory_evicts_at_once_and_notifies() {
    // pubsub.tcl's "evicted events" test, which the external-server harness cannot run.
    let mayfly = Server::with_shards(2);
    let mut c = mayfly.raw();
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Ee"]);
    c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    let mut sub = subscribe(mayfly.port);
    c.cmd(&["SET", "foo", "bar"]);
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "1"]), b"+OK\r\n");
    let msg = Resp::parse(&sub.read_reply().expect("evicted event"));
    assert_eq!(msg.items()[2], Resp::Bulk(b"__keyevent@0__:evicted".to_vec()));
    assert_eq!(msg.items()[3], Resp::Bulk(b"foo".to_vec()));
    c.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(Resp::parse(&c.cmd(&["EXISTS", "foo"])), Resp::Int(0));
}
