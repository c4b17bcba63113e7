//! Blocking commands end to end (real binary, `redis` client), with `--shards 1` and 2.
//!
//! Connections are accepted round-robin over the shards, so two connections opened one
//! after the other by a single-threaded test sit on different shards. Every scenario runs
//! for a key on each shard and opens its blocking connections back to back (or runs twice),
//! so with two shards each one covers a client blocked on one shard and woken by a write that
//! another shard's client sent, as well as the same-shard case.
//!
//! Waits are bounded polls of `INFO clients` (`blocked_clients`) with a deadline, never
//! sleeps that guess how long the server needs.

mod common;

use std::time::{Duration, Instant};

use common::placement::{
    blocked_clients, bulk, key_on, on_every_placement, query, recv, send, wait_blocked,
};
use common::Server;
use redis::{Connection, Value};

/// The same hash tag as `key`, with another name (same slot, same shard).
fn sibling(key: &str, name: &str) -> String {
    let end = key.find('}').expect("tagged key") + 1;
    format!("{}{name}", &key[..end])
}

fn pair(key: &str, value: &str) -> Value {
    Value::Array(vec![bulk(key), bulk(value)])
}

#[test]
fn a_client_blocked_on_one_shard_is_woken_by_a_push_from_another() {
    on_every_placement(|server, control, nshards, key_shard| {
        let key = key_on(key_shard, nshards, "list");
        let mut blocked = server.client();
        send(&mut blocked, &["BLPOP", &key, "0"]);
        wait_blocked(control, 1);
        query(control, &["RPUSH", &key, "a"]);
        assert_eq!(recv(&mut blocked), Ok(pair(&key, "a")));
        assert_eq!(query(control, &["EXISTS", &key]), Value::Int(0));
    });
}

#[test]
fn blpop_with_a_short_timeout_returns_nil_on_time() {
    on_every_placement(|server, control, nshards, key_shard| {
        let key = key_on(key_shard, nshards, "empty");
        let mut blocked = server.client();
        let start = Instant::now();
        let reply = query(&mut blocked, &["BLPOP", &key, "0.1"]);
        let took = start.elapsed();
        assert_eq!(reply, Value::Nil);
        assert!(took >= Duration::from_millis(100), "answered after {took:?}, before the timeout");
        assert!(took < Duration::from_secs(3), "answered after {took:?}");
        assert_eq!(blocked_clients(control), 0);
    });
}

#[test]
fn blocked_clients_are_served_first_blocked_first_served() {
    on_every_placement(|server, control, nshards, key_shard| {
        let key = key_on(key_shard, nshards, "fifo");
        let mut clients: Vec<Connection> = (0..3).map(|_| server.client()).collect();
        for (i, c) in clients.iter_mut().enumerate() {
            send(c, &["BLPOP", &key, "0"]);
            wait_blocked(control, i as i64 + 1);
        }
        query(control, &["RPUSH", &key, "a", "b", "c"]);
        for (c, want) in clients.iter_mut().zip(["a", "b", "c"]) {
            assert_eq!(recv(c), Ok(pair(&key, want)));
        }
    });
}

/// The Redis suite's pattern: both blocking commands and the push are sent back to back, with
/// no wait in between; the server must still serve them in the order they were sent, though
/// each connection may be read by another shard.
#[test]
fn back_to_back_blockers_are_served_in_the_order_they_were_sent() {
    on_every_placement(|server, control, nshards, key_shard| {
        let src = key_on(key_shard, nshards, "src");
        let (dst1, dst2) = (sibling(&src, "dst1"), sibling(&src, "dst2"));
        let mut first = server.client();
        let mut second = server.client();
        let mut pusher = server.client();
        send(&mut first, &["BRPOPLPUSH", &src, &dst1, "0"]);
        send(&mut second, &["BRPOPLPUSH", &src, &dst2, "0"]);
        query(&mut pusher, &["RPUSH", &src, "a", "b"]);
        assert_eq!(recv(&mut first), Ok(bulk("b")));
        assert_eq!(recv(&mut second), Ok(bulk("a")));
        assert_eq!(query(control, &["LRANGE", &dst1, "0", "-1"]), Value::Array(vec![bulk("b")]));
        assert_eq!(query(control, &["LRANGE", &dst2, "0", "-1"]), Value::Array(vec![bulk("a")]));
    });
}

#[test]
fn a_blocked_client_that_disconnects_is_removed_and_loses_nothing() {
    on_every_placement(|server, control, nshards, key_shard| {
        let key = key_on(key_shard, nshards, "leaver");
        let mut leaver = server.client();
        let mut stayer = server.client();
        send(&mut leaver, &["BLPOP", &key, "0"]);
        wait_blocked(control, 1);
        send(&mut stayer, &["BLPOP", &key, "0"]);
        wait_blocked(control, 2);
        drop(leaver);
        wait_blocked(control, 1);
        query(control, &["RPUSH", &key, "x"]);
        assert_eq!(recv(&mut stayer), Ok(pair(&key, "x")));
        // Nobody waits any more: the next element stays in the list.
        query(control, &["RPUSH", &key, "y"]);
        assert_eq!(query(control, &["LRANGE", &key, "0", "-1"]), Value::Array(vec![bulk("y")]));
    });
}

/// Redis 7.0: the client whose destination holds another type gets WRONGTYPE when served,
/// the element stays and goes to the next blocked client.
#[test]
fn blmove_and_brpoplpush_with_a_wrongtype_destination() {
    on_every_placement(|server, control, nshards, key_shard| {
        let src = key_on(key_shard, nshards, "src");
        let (bad, good) = (sibling(&src, "bad"), sibling(&src, "good"));
        query(control, &["SET", &bad, "not a list"]);
        let mut first = server.client();
        let mut second = server.client();
        let mut third = server.client();
        send(&mut first, &["BRPOPLPUSH", &src, &bad, "0"]);
        wait_blocked(control, 1);
        send(&mut second, &["BLMOVE", &src, &bad, "LEFT", "RIGHT", "0"]);
        wait_blocked(control, 2);
        send(&mut third, &["BLMOVE", &src, &good, "RIGHT", "LEFT", "0"]);
        wait_blocked(control, 3);
        query(control, &["RPUSH", &src, "e"]);
        for c in [&mut first, &mut second] {
            let err = recv(c).expect_err("WRONGTYPE");
            assert!(err.contains("WRONGTYPE"), "{err}");
        }
        assert_eq!(recv(&mut third), Ok(bulk("e")));
        assert_eq!(query(control, &["LRANGE", &good, "0", "-1"]), Value::Array(vec![bulk("e")]));
        assert_eq!(query(control, &["EXISTS", &src]), Value::Int(0));
        assert_eq!(query(control, &["GET", &bad]), bulk("not a list"));
    });
}

#[test]
fn bzpopmin_is_woken_by_zadd() {
    on_every_placement(|server, control, nshards, key_shard| {
        let key = key_on(key_shard, nshards, "zset");
        let mut blocked = server.client();
        send(&mut blocked, &["BZPOPMIN", &key, "0"]);
        wait_blocked(control, 1);
        query(control, &["ZADD", &key, "2", "two", "1", "one"]);
        assert_eq!(recv(&mut blocked), Ok(Value::Array(vec![bulk(&key), bulk("one"), bulk("1")])));
        assert_eq!(query(control, &["ZCARD", &key]), Value::Int(1));
    });
}

#[test]
fn blmpop_is_served_from_the_first_key_that_gets_elements() {
    on_every_placement(|server, control, nshards, key_shard| {
        let first = key_on(key_shard, nshards, "one");
        let second = sibling(&first, "two");
        let mut blocked = server.client();
        send(&mut blocked, &["BLMPOP", "0", "2", &first, &second, "RIGHT", "COUNT", "2"]);
        wait_blocked(control, 1);
        query(control, &["RPUSH", &second, "a", "b", "c"]);
        assert_eq!(
            recv(&mut blocked),
            Ok(Value::Array(vec![bulk(&second), Value::Array(vec![bulk("c"), bulk("b")])]))
        );
        assert_eq!(query(control, &["LRANGE", &second, "0", "-1"]), Value::Array(vec![bulk("a")]));
    });
}

/// Keys on different shards take the retrying path: it still wakes on data, and a client
/// that leaves stops being counted as blocked.
#[test]
fn blocking_on_keys_of_several_shards() {
    let server = Server::with_shards(2);
    let mut control = server.client();
    let (a, b) = (key_on(0, 2, "a"), key_on(1, 2, "b"));
    for _ in 0..2 {
        let mut blocked = server.client();
        send(&mut blocked, &["BLPOP", &a, &b, "0"]);
        wait_blocked(&mut control, 1);
        query(&mut control, &["RPUSH", &b, "x"]);
        assert_eq!(recv(&mut blocked), Ok(pair(&b, "x")));
        wait_blocked(&mut control, 0);

        send(&mut blocked, &["BLPOP", &a, &b, "0"]);
        wait_blocked(&mut control, 1);
        drop(blocked);
        wait_blocked(&mut control, 0);
        query(&mut control, &["RPUSH", &a, "kept"]);
        assert_eq!(query(&mut control, &["LLEN", &a]), Value::Int(1));
        query(&mut control, &["DEL", &a]);
    }
}

/// CLIENT UNBLOCK from another connection (often another shard): TIMEOUT answers as the
/// timeout would, ERROR with Redis's -UNBLOCKED error; a client not blocked gives 0, and the
/// unblocked client still blocks and is served normally afterwards.
#[test]
fn client_unblock_ends_a_blocking_command() {
    on_every_placement(|server, control, nshards, key_shard| {
        let key = key_on(key_shard, nshards, "unblock");
        let mut blocked = server.client();
        let id = match query(&mut blocked, &["CLIENT", "ID"]) {
            Value::Int(n) => n.to_string(),
            other => panic!("CLIENT ID: {other:?}"),
        };
        for (how, want) in [(None, Ok(Value::Nil)), (Some("TIMEOUT"), Ok(Value::Nil))] {
            send(&mut blocked, &["BLPOP", &key, "0"]);
            wait_blocked(control, 1);
            let mut args = vec!["CLIENT", "UNBLOCK", &id];
            args.extend(how);
            assert_eq!(query(control, &args), Value::Int(1));
            assert_eq!(recv(&mut blocked), want);
            wait_blocked(control, 0);
        }
        send(&mut blocked, &["BRPOPLPUSH", &key, &sibling(&key, "dst"), "0"]);
        wait_blocked(control, 1);
        assert_eq!(query(control, &["CLIENT", "UNBLOCK", &id, "ERROR"]), Value::Int(1));
        let err = recv(&mut blocked).expect_err("UNBLOCKED error");
        assert!(err.contains("client unblocked via CLIENT UNBLOCK"), "{err}");
        wait_blocked(control, 0);
        assert_eq!(query(control, &["CLIENT", "UNBLOCK", &id]), Value::Int(0));

        send(&mut blocked, &["BLPOP", &key, "0"]);
        wait_blocked(control, 1);
        query(control, &["RPUSH", &key, "v"]);
        assert_eq!(recv(&mut blocked), Ok(pair(&key, "v")));
    });
}
