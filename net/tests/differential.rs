//! Differential test: random sequences of string, key and expiry commands over a few keys
//! (some on each shard) run against a real redis-server and against Mayfly with
//! `--shards 2`; every reply must be byte-for-byte the same. Proptest shrinks a failing
//! sequence to a short one. Expiry uses absolute far-future or past times only, so replies
//! never depend on the clock.

mod common;

use std::sync::Mutex;

use common::{show, RawClient, RedisServer, Server};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const KEYS: &[&str] = &["a", "b", "{a}c", "num", "x:1", "x:2"];
const VALUES: &[&str] = &["", "v", "hello", "10", "-3", "3.5", "9223372036854775807", "1e3", "abc"];
const TIMES: &[&str] = &["4102444800", "4102444900", "1", "0"];
/// Future times only, for SET: Redis 7.0 keeps a key SET with a past time until expiry
/// reclaims it, so DBSIZE would depend on its active expiry cycle.
const FUTURE_TIMES: &[&str] = &["4102444800", "4102444900"];
const OPTS: &[&str] = &["NX", "XX", "GT", "LT"];

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(KEYS).prop_map(str::to_string)
}

fn value() -> impl Strategy<Value = String> {
    prop::sample::select(VALUES).prop_map(str::to_string)
}

fn small() -> impl Strategy<Value = String> {
    (-12i64..12).prop_map(|n| n.to_string())
}

/// One random command as its arguments.
fn command() -> impl Strategy<Value = Vec<String>> {
    let v = |args: &[&str]| args.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    prop_oneof![
        (key(), value()).prop_map(move |(k, x)| v(&["SET", &k, &x])),
        (key(), value(), prop::sample::select(&["NX", "XX", "GET", "KEEPTTL"][..]))
            .prop_map(move |(k, x, o)| v(&["SET", &k, &x, o])),
        (key(), value(), prop::sample::select(FUTURE_TIMES))
            .prop_map(move |(k, x, t)| v(&["SET", &k, &x, "EXAT", t])),
        key().prop_map(move |k| v(&["GET", &k])),
        key().prop_map(move |k| v(&["GETDEL", &k])),
        (key(), value()).prop_map(move |(k, x)| v(&["GETSET", &k, &x])),
        (key(), prop::sample::select(TIMES)).prop_map(move |(k, t)| v(&["GETEX", &k, "EXAT", t])),
        key().prop_map(move |k| v(&["GETEX", &k, "PERSIST"])),
        (key(), value()).prop_map(move |(k, x)| v(&["SETNX", &k, &x])),
        (key(), value()).prop_map(move |(k, x)| v(&["APPEND", &k, &x])),
        key().prop_map(move |k| v(&["STRLEN", &k])),
        key().prop_map(move |k| v(&["INCR", &k])),
        (key(), small()).prop_map(move |(k, n)| v(&["DECRBY", &k, &n])),
        (key(), value()).prop_map(move |(k, x)| v(&["INCRBYFLOAT", &k, &x])),
        (key(), small(), small()).prop_map(move |(k, s, e)| v(&["GETRANGE", &k, &s, &e])),
        (key(), 0u32..12, value()).prop_map(move |(k, o, x)| v(&[
            "SETRANGE",
            &k,
            &o.to_string(),
            &x
        ])),
        (key(), value(), key(), value())
            .prop_map(move |(k1, x1, k2, x2)| v(&["MSET", &k1, &x1, &k2, &x2])),
        (key(), value(), key(), value())
            .prop_map(move |(k1, x1, k2, x2)| v(&["MSETNX", &k1, &x1, &k2, &x2])),
        (key(), key(), key()).prop_map(move |(a, b, c)| v(&["MGET", &a, &b, &c])),
        (key(), key()).prop_map(move |(a, b)| v(&["DEL", &a, &b])),
        (key(), key()).prop_map(move |(a, b)| v(&["EXISTS", &a, &b])),
        (key(), key()).prop_map(move |(a, b)| v(&["RENAME", &a, &b])),
        (key(), key()).prop_map(move |(a, b)| v(&["RENAMENX", &a, &b])),
        (key(), key()).prop_map(move |(a, b)| v(&["COPY", &a, &b])),
        (key(), key()).prop_map(move |(a, b)| v(&["COPY", &a, &b, "REPLACE"])),
        (key(), key()).prop_map(move |(a, b)| v(&["LCS", &a, &b])),
        key().prop_map(move |k| v(&["TYPE", &k])),
        (key(), prop::sample::select(TIMES)).prop_map(move |(k, t)| v(&["EXPIREAT", &k, t])),
        (key(), prop::sample::select(TIMES), prop::sample::select(OPTS))
            .prop_map(move |(k, t, o)| v(&["EXPIREAT", &k, t, o])),
        (key(), prop::sample::select(TIMES)).prop_map(move |(k, t)| v(&[
            "PEXPIREAT",
            &k,
            &format!("{t}123")
        ])),
        key().prop_map(move |k| v(&["EXPIRETIME", &k])),
        key().prop_map(move |k| v(&["PEXPIRETIME", &k])),
        key().prop_map(move |k| v(&["PERSIST", &k])),
        Just(v(&["DBSIZE"])),
    ]
}

struct Pair {
    redis: RawClient,
    mayfly: RawClient,
}

#[test]
fn random_sequences_match_redis() {
    let Some(oracle) = RedisServer::start(&[]) else { return };
    let server = Server::with_shards(2);
    let pair = Mutex::new(Pair { redis: oracle.raw(), mayfly: server.raw() });
    let config = Config { cases: 300, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&prop::collection::vec(command(), 1..40), |cmds| {
        let mut p = pair.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(p.redis.cmd_str("FLUSHALL"), b"+OK\r\n");
        assert_eq!(p.mayfly.cmd_str("FLUSHALL"), b"+OK\r\n");
        for (i, cmd) in cmds.iter().enumerate() {
            let want = p.redis.cmd(cmd);
            let got = p.mayfly.cmd(cmd);
            if want != got {
                return Err(TestCaseError::fail(format!(
                    "command {i} `{}`\n    redis:  {}\n    mayfly: {}",
                    cmd.join(" "),
                    show(&want),
                    show(&got)
                )));
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
