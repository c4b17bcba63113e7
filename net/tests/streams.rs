//! Streams end to end (real binary, `redis` client) with `--shards 1` and 2: blocking
//! XREAD / XREADGROUP (`$` and `>`, timeouts, wake-ups from any connection and across shards,
//! NOGROUP / UNBLOCKED errors on group destruction and key deletion, CLIENT UNBLOCK,
//! `blocked_clients`), keyspace events reaching subscribers.
//!
//! Connections are accepted round-robin over the shards, so connections opened one after the
//! other sit on different shards; every scenario runs for a key on each shard, twice.
//! Waits are bounded polls of `INFO clients`, never sleeps that guess the server's speed.

mod common;

use std::time::{Duration, Instant};

use common::placement::{
    blocked_clients, bulk, cmd, key_on, on_every_placement, query, recv, send, wait_blocked,
};
use common::Server;
use redis::Value;

/// `[[key, [[id, [f, v]]]]]`: one stream with one entry, as XREAD answers it.
fn one_entry(key: &str, id: &str, f: &str, v: &str) -> Value {
    Value::Array(vec![Value::Array(vec![
        bulk(key),
        Value::Array(vec![Value::Array(vec![bulk(id), Value::Array(vec![bulk(f), bulk(v)])])]),
    ])])
}

#[test]
fn xread_block_dollar_is_woken_by_a_later_xadd_only() {
    on_every_placement(|server, control, nshards, key_shard| {
        let key = key_on(key_shard, nshards, "s");
        query(control, &["XADD", &key, "1-1", "old", "1"]);
        let mut blocked = server.client();
        send(&mut blocked, &["XREAD", "BLOCK", "0", "STREAMS", &key, "$"]);
        wait_blocked(control, 1);
        query(control, &["XADD", &key, "2-1", "new", "2"]);
        assert_eq!(recv(&mut blocked), Ok(one_entry(&key, "2-1", "new", "2")));
        // A missing key blocks too; $ is then 0-0.
        let other = key_on(key_shard, nshards, "missing");
        send(&mut blocked, &["XREAD", "COUNT", "5", "BLOCK", "0", "STREAMS", &other, "$"]);
        wait_blocked(control, 1);
        query(control, &["XADD", &other, "3-1", "f", "v"]);
        assert_eq!(recv(&mut blocked), Ok(one_entry(&other, "3-1", "f", "v")));
    });
}

#[test]
fn xread_block_times_out_with_a_null_reply() {
    on_every_placement(|server, control, nshards, key_shard| {
        let key = key_on(key_shard, nshards, "quiet");
        let mut blocked = server.client();
        let start = Instant::now();
        let reply = query(&mut blocked, &["XREAD", "BLOCK", "100", "STREAMS", &key, "$"]);
        let took = start.elapsed();
        assert_eq!(reply, Value::Nil);
        assert!(took >= Duration::from_millis(100), "answered after {took:?}, before the timeout");
        assert_eq!(blocked_clients(control), 0);
        // With data there, BLOCK answers at once.
        query(control, &["XADD", &key, "1-1", "a", "b"]);
        let reply = query(&mut blocked, &["XREAD", "BLOCK", "0", "STREAMS", &key, "0"]);
        assert_eq!(reply, one_entry(&key, "1-1", "a", "b"));
    });
}

#[test]
fn xread_block_on_streams_of_several_shards() {
    let server = Server::with_shards(2);
    let mut control = server.client();
    for writer_shard in [0, 1] {
        query(&mut control, &["FLUSHALL"]);
        let a = key_on(0, 2, "a");
        let b = key_on(1, 2, "b");
        query(&mut control, &["XADD", &a, "5-1", "before", "x"]);
        let mut blocked = server.client();
        send(&mut blocked, &["XREAD", "BLOCK", "0", "STREAMS", &a, &b, "$", "$"]);
        wait_blocked(&mut control, 1);
        let target = if writer_shard == 0 { &a } else { &b };
        query(&mut control, &["XADD", target, "9-1", "after", "y"]);
        assert_eq!(recv(&mut blocked), Ok(one_entry(target, "9-1", "after", "y")));
        wait_blocked(&mut control, 0);
        // And a timeout across shards.
        let reply = query(&mut blocked, &["XREAD", "BLOCK", "50", "STREAMS", &a, &b, "$", "$"]);
        assert_eq!(reply, Value::Nil);
    }
}

#[test]
fn xreadgroup_block_serves_each_new_entry_to_one_consumer() {
    on_every_placement(|server, control, nshards, key_shard| {
        let key = key_on(key_shard, nshards, "g");
        query(control, &["XGROUP", "CREATE", &key, "grp", "$", "MKSTREAM"]);
        let mut c1 = server.client();
        let mut c2 = server.client();
        send(&mut c1, &["XREADGROUP", "GROUP", "grp", "alice", "BLOCK", "0", "STREAMS", &key, ">"]);
        wait_blocked(control, 1);
        send(&mut c2, &["XREADGROUP", "GROUP", "grp", "bob", "BLOCK", "0", "STREAMS", &key, ">"]);
        wait_blocked(control, 2);
        query(control, &["XADD", &key, "1-1", "n", "1"]);
        // First blocked, first served; the second consumer waits for the next entry.
        assert_eq!(recv(&mut c1), Ok(one_entry(&key, "1-1", "n", "1")));
        wait_blocked(control, 1);
        query(control, &["XADD", &key, "2-1", "n", "2"]);
        assert_eq!(recv(&mut c2), Ok(one_entry(&key, "2-1", "n", "2")));
        // Both entries are pending, one per consumer.
        match query(control, &["XPENDING", &key, "grp"]) {
            Value::Array(items) => assert_eq!(items[0], Value::Int(2)),
            other => panic!("XPENDING: {other:?}"),
        }
    });
}

#[test]
fn xreadgroup_block_ends_with_redis_errors_when_the_group_or_key_goes() {
    on_every_placement(|server, control, nshards, key_shard| {
        let key = key_on(key_shard, nshards, "gone");
        query(control, &["CONFIG", "RESETSTAT"]);
        query(control, &["XGROUP", "CREATE", &key, "grp", "$", "MKSTREAM"]);
        let mut blocked = server.client();
        send(
            &mut blocked,
            &["XREADGROUP", "GROUP", "grp", "c", "BLOCK", "0", "STREAMS", &key, ">"],
        );
        wait_blocked(control, 1);
        query(control, &["XGROUP", "DESTROY", &key, "grp"]);
        let err = recv(&mut blocked).expect_err("NOGROUP");
        assert!(err.contains("the consumer group this client was blocked on no longer exists"));
        wait_blocked(control, 0);

        query(control, &["XGROUP", "CREATE", &key, "grp", "$"]);
        send(
            &mut blocked,
            &["XREADGROUP", "GROUP", "grp", "c", "BLOCK", "0", "STREAMS", &key, ">"],
        );
        wait_blocked(control, 1);
        query(control, &["DEL", &key]);
        let err = recv(&mut blocked).expect_err("UNBLOCKED");
        assert!(err.contains("the stream key no longer exists"), "{err}");
        // Counted as a failed call of the command, as Redis counts it.
        let stats: String = cmd(&["INFO", "commandstats"]).query(control).expect("INFO");
        let line =
            stats.lines().find(|l| l.starts_with("cmdstat_xreadgroup:")).expect("xreadgroup");
        assert!(line.contains("calls=2,") && line.contains("failed_calls=2"), "{line}");
    });
}

#[test]
fn plain_xread_waiters_survive_deletion_and_are_served_by_the_next_xadd() {
    on_every_placement(|server, control, nshards, key_shard| {
        let key = key_on(key_shard, nshards, "del");
        query(control, &["XADD", &key, "5-1", "a", "1"]);
        let mut blocked = server.client();
        send(&mut blocked, &["XREAD", "BLOCK", "0", "STREAMS", &key, "$"]);
        wait_blocked(control, 1);
        query(control, &["DEL", &key]);
        query(control, &["SET", &key, "now a string"]);
        query(control, &["DEL", &key]);
        assert_eq!(blocked_clients(control), 1);
        // The new stream's entry is past the id the waiter resolved `$` to (5-1).
        query(control, &["XADD", &key, "6-1", "b", "2"]);
        assert_eq!(recv(&mut blocked), Ok(one_entry(&key, "6-1", "b", "2")));
    });
}

#[test]
fn client_unblock_ends_a_stream_wait() {
    on_every_placement(|server, control, nshards, key_shard| {
        let key = key_on(key_shard, nshards, "ub");
        let mut blocked = server.client();
        let id = match query(&mut blocked, &["CLIENT", "ID"]) {
            Value::Int(n) => n.to_string(),
            other => panic!("CLIENT ID: {other:?}"),
        };
        send(&mut blocked, &["XREAD", "BLOCK", "0", "STREAMS", &key, "$"]);
        wait_blocked(control, 1);
        assert_eq!(query(control, &["CLIENT", "UNBLOCK", &id]), Value::Int(1));
        assert_eq!(recv(&mut blocked), Ok(Value::Nil));
        query(control, &["XGROUP", "CREATE", &key, "grp", "$", "MKSTREAM"]);
        send(
            &mut blocked,
            &["XREADGROUP", "GROUP", "grp", "c", "BLOCK", "0", "STREAMS", &key, ">"],
        );
        wait_blocked(control, 1);
        assert_eq!(query(control, &["CLIENT", "UNBLOCK", &id, "ERROR"]), Value::Int(1));
        let err = recv(&mut blocked).expect_err("UNBLOCKED");
        assert!(err.contains("client unblocked via CLIENT UNBLOCK"), "{err}");
    });
}

#[test]
fn stream_keyspace_events_reach_subscribers() {
    on_every_placement(|server, control, nshards, key_shard| {
        let key = key_on(key_shard, nshards, "ev");
        query(control, &["CONFIG", "SET", "notify-keyspace-events", "Et"]);
        let mut sub = server.client();
        send(&mut sub, &["SUBSCRIBE", "__keyevent@0__:xadd", "__keyevent@0__:xgroup-create"]);
        for _ in 0..2 {
            recv(&mut sub).expect("subscribe confirmation");
        }
        query(control, &["XADD", &key, "1-1", "a", "b"]);
        query(control, &["XGROUP", "CREATE", &key, "grp", "0"]);
        for event in ["xadd", "xgroup-create"] {
            let msg = match recv(&mut sub) {
                Ok(Value::Array(items)) => items,
                other => panic!("message: {other:?}"),
            };
            assert_eq!(msg[1], bulk(&format!("__keyevent@0__:{event}")));
            assert_eq!(msg[2], bulk(&key));
        }
        query(control, &["CONFIG", "SET", "notify-keyspace-events", ""]);
    });
}

/// SORT … BY / GET patterns naming keys on other shards read them (Redis Cluster would
/// refuse; Mayfly gathers them), with STORE onto another shard too.
#[test]
fn sort_patterns_read_keys_on_every_shard() {
    for nshards in [1, 2] {
        let server = Server::with_shards(nshards);
        let mut c = server.client();
        let list = key_on(0, nshards, "list");
        // Untagged weight and hash keys: w1..w6 / h1..h6 spread over the shards.
        let elements = ["1", "2", "3", "4", "5", "6"];
        let mut push = vec!["RPUSH", list.as_str()];
        push.extend(elements);
        query(&mut c, &push);
        for e in elements {
            let weight = (10 - e.parse::<i32>().expect("digit")).to_string();
            query(&mut c, &["SET", &format!("w{e}"), &weight]);
            query(&mut c, &["HSET", &format!("h{e}"), "f", &format!("v{e}")]);
        }
        let by_weight = ["6", "5", "4", "3", "2", "1"];
        let reply = query(&mut c, &["SORT", &list, "BY", "w*", "GET", "#", "GET", "h*->f"]);
        let expected: Vec<Value> =
            by_weight.iter().flat_map(|e| [bulk(e), bulk(&format!("v{e}"))]).collect();
        assert_eq!(reply, Value::Array(expected), "{nshards} shards");
        let reply =
            query(&mut c, &["SORT_RO", &list, "BY", "nosort", "GET", "w*", "LIMIT", "0", "2"]);
        assert_eq!(reply, Value::Array(vec![bulk("9"), bulk("8")]));
        // A missing pattern key reads as nil.
        query(&mut c, &["DEL", "w3"]);
        let reply = query(&mut c, &["SORT", &list, "BY", "nosort", "GET", "w*"]);
        assert_eq!(
            reply.clone(),
            match reply {
                Value::Array(ref items) if items[2] == Value::Nil && items[0] == bulk("9") => reply,
                other => panic!("{other:?}"),
            }
        );
        // Inside MULTI too.
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("SORT").arg(&list).arg("BY").arg("w*").arg("GET").arg("h*->f");
        let (sorted,): (Vec<String>,) = pipe.query(&mut c).expect("EXEC");
        assert_eq!(sorted.len(), 6);
        assert_eq!(sorted[1..], ["v6", "v5", "v4", "v2", "v1"]);
        let dst = key_on(nshards - 1, nshards, "dst");
        let stored = query(&mut c, &["SORT", &list, "BY", "w*", "GET", "h*->f", "STORE", &dst]);
        assert_eq!(stored, Value::Int(6));
        let range = query(&mut c, &["LRANGE", &dst, "0", "1"]);
        // w3 is gone (weight 0): it sorts first.
        assert_eq!(range, Value::Array(vec![bulk("v3"), bulk("v6")]));
    }
}

/// XREAD over streams of several shards answers them in the order the command named them,
/// leaves out streams with nothing new, and gives WRONGTYPE for a non-stream key.
#[test]
fn xread_over_several_shards_keeps_the_key_order() {
    for nshards in [1, 2] {
        let server = Server::with_shards(nshards);
        let mut c = server.client();
        let a = key_on(0, nshards, "a");
        let b = key_on(nshards - 1, nshards, "b");
        let quiet = key_on(0, nshards, "quiet");
        query(&mut c, &["XADD", &a, "1-1", "x", "1"]);
        query(&mut c, &["XADD", &b, "2-1", "y", "2"]);
        let reply = query(&mut c, &["XREAD", "STREAMS", &b, &quiet, &a, "0", "0", "0"]);
        let mut expected = one_entry(&b, "2-1", "y", "2");
        if let (Value::Array(e), Value::Array(more)) =
            (&mut expected, one_entry(&a, "1-1", "x", "1"))
        {
            e.extend(more);
        }
        assert_eq!(reply, expected, "{nshards} shards");
        let reply = query(&mut c, &["XREAD", "COUNT", "1", "STREAMS", &a, &b, "1-1", "0"]);
        assert_eq!(reply, one_entry(&b, "2-1", "y", "2"));
        assert_eq!(query(&mut c, &["XREAD", "STREAMS", &a, &b, "9", "9"]), Value::Nil);
        query(&mut c, &["SET", &quiet, "string"]);
        let err = cmd(&["XREAD", "STREAMS", &b, &quiet, "0", "0"]).query::<Value>(&mut c);
        assert!(err.is_err_and(|e| e.to_string().contains("WRONGTYPE")));
    }
}

/// INFO commandstats counts container commands per subcommand, as Redis 7 does, and the
/// keyspace section counts streams.
#[test]
fn stream_commands_in_info_commandstats_and_keyspace() {
    for nshards in [1, 2] {
        let server = Server::with_shards(nshards);
        let mut c = server.client();
        query(&mut c, &["CONFIG", "RESETSTAT"]);
        let key = key_on(nshards - 1, nshards, "stats");
        query(&mut c, &["XGROUP", "CREATE", &key, "g", "$", "MKSTREAM"]);
        query(&mut c, &["xgroup", "CREATECONSUMER", &key, "g", "alice"]);
        query(&mut c, &["XINFO", "STREAM", &key]);
        query(&mut c, &["XADD", &key, "*", "f", "v"]);
        let stats: String = cmd(&["INFO", "commandstats"]).query(&mut c).expect("INFO");
        for name in ["xgroup|create", "xgroup|createconsumer", "xinfo|stream", "xadd"] {
            let prefix = format!("cmdstat_{name}:calls=1,");
            assert!(stats.lines().any(|l| l.starts_with(&prefix)), "{name}: {stats}");
        }
        let keyspace: String = cmd(&["INFO", "keyspace"]).query(&mut c).expect("INFO");
        assert!(keyspace.contains("db0:keys=1,expires=0"), "{keyspace}");
    }
}

/// XREADGROUP over streams of several shards: all parts run or none (a missing group on one
/// shard delivers nothing on the other), replies in key order.
#[test]
fn xreadgroup_over_several_shards_is_all_or_nothing() {
    for nshards in [1, 2] {
        let server = Server::with_shards(nshards);
        let mut c = server.client();
        let a = key_on(0, nshards, "a");
        let b = key_on(nshards - 1, nshards, "b");
        query(&mut c, &["XADD", &a, "1-1", "x", "1"]);
        query(&mut c, &["XADD", &b, "2-1", "y", "2"]);
        query(&mut c, &["XGROUP", "CREATE", &a, "g", "0"]);
        let err = cmd(&["XREADGROUP", "GROUP", "g", "c", "STREAMS", &a, &b, ">", ">"])
            .query::<Value>(&mut c)
            .expect_err("no group on b");
        assert!(err.to_string().contains("No such key"), "{err}");
        match query(&mut c, &["XPENDING", &a, "g"]) {
            Value::Array(items) => assert_eq!(items[0], Value::Int(0), "{nshards} shards"),
            other => panic!("XPENDING: {other:?}"),
        }
        query(&mut c, &["XGROUP", "CREATE", &b, "g", "0"]);
        let reply = query(&mut c, &["XREADGROUP", "GROUP", "g", "c", "STREAMS", &b, &a, ">", ">"]);
        let mut expected = one_entry(&b, "2-1", "y", "2");
        if let (Value::Array(e), Value::Array(more)) =
            (&mut expected, one_entry(&a, "1-1", "x", "1"))
        {
            e.extend(more);
        }
        assert_eq!(reply, expected);
        let again = query(&mut c, &["XREADGROUP", "GROUP", "g", "c", "STREAMS", &b, &a, ">", ">"]);
        assert_eq!(again, Value::Nil);
    }
}

/// XREADGROUP BLOCK over streams of two shards: served by an XADD on either, and ended with
/// Redis's blocked-reader errors when a key or the group goes. RESP3 replies are maps.
#[test]
fn xreadgroup_block_over_several_shards() {
    let server = Server::with_shards(2);
    let mut control = server.client();
    let a = key_on(0, 2, "a");
    let b = key_on(1, 2, "b");
    let read = ["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", &a, &b, ">", ">"];
    for (i, target) in [&b, &a].into_iter().enumerate() {
        query(&mut control, &["FLUSHALL"]);
        query(&mut control, &["XGROUP", "CREATE", &a, "g", "$", "MKSTREAM"]);
        query(&mut control, &["XGROUP", "CREATE", &b, "g", "$", "MKSTREAM"]);
        let mut blocked = server.client();
        send(&mut blocked, &read);
        wait_blocked(&mut control, 1);
        query(&mut control, &["XADD", target, "5-1", "f", "v"]);
        assert_eq!(recv(&mut blocked), Ok(one_entry(target, "5-1", "f", "v")), "round {i}");
        wait_blocked(&mut control, 0);
        send(&mut blocked, &read);
        wait_blocked(&mut control, 1);
        query(&mut control, &["XGROUP", "DESTROY", target, "g"]);
        let err = recv(&mut blocked).expect_err("NOGROUP");
        assert!(err.contains("the consumer group this client was blocked on no longer exists"));
        wait_blocked(&mut control, 0);
        query(&mut control, &["XGROUP", "CREATE", target, "g", "$"]);
        send(&mut blocked, &read);
        wait_blocked(&mut control, 1);
        query(&mut control, &["DEL", target]);
        let err = recv(&mut blocked).expect_err("UNBLOCKED");
        assert!(err.contains("the stream key no longer exists"), "{err}");
        wait_blocked(&mut control, 0);
    }
}
