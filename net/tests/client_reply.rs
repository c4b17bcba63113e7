//! CLIENT REPLY ON|OFF|SKIP against the real binary, with the `redis` crate driving a raw
//! request/response stream (sent commands, then whatever replies actually arrive), plus the
//! ordering of keyspace events against replies for a RESP3 client subscribed to its own keys.

mod common;

use std::time::Duration;

use common::{Resp, Server};
use redis::Value;

fn send(c: &mut redis::Connection, args: &[&str]) {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    c.send_packed_command(&cmd.get_packed_command()).expect("send");
}

fn recv(c: &mut redis::Connection) -> Value {
    c.recv_response().expect("a reply")
}

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

#[test]
fn off_silences_replies_until_on() {
    let server = Server::with_shards(2);
    let mut c = server.client();
    for args in [
        &["CLIENT", "REPLY", "OFF"][..],
        &["SET", "a", "1"],
        &["INCR", "a"],
        &["GET", "nosuchkey"],
        &["LPUSH", "a", "x"],         // WRONGTYPE: errors are silenced too
        &["CLIENT", "REPLY", "SKIP"], // ignored while off
        &["CLIENT", "REPLY", "ON"],
        &["GET", "a"],
    ] {
        send(&mut c, args);
    }
    // The first reply to arrive is ON's OK, then GET's value: nothing before them.
    assert_eq!(recv(&mut c), Value::Okay);
    assert_eq!(recv(&mut c), bulk("2"));
    // Back to normal.
    let pong: String = redis::cmd("PING").query(&mut c).expect("ping");
    assert_eq!(pong, "PONG");
}

#[test]
fn skip_silences_only_the_next_command() {
    let server = Server::with_shards(1);
    let mut c = server.client();
    send(&mut c, &["CLIENT", "REPLY", "SKIP"]);
    send(&mut c, &["SET", "k", "v"]);
    send(&mut c, &["GET", "k"]);
    assert_eq!(recv(&mut c), bulk("v"));
    // SKIP twice in a row: the second SKIP is itself skipped and skips the command after it.
    send(&mut c, &["CLIENT", "REPLY", "SKIP"]);
    send(&mut c, &["CLIENT", "REPLY", "SKIP"]);
    send(&mut c, &["APPEND", "k", "w"]);
    send(&mut c, &["STRLEN", "k"]);
    assert_eq!(recv(&mut c), Value::Int(2));
    let v: String = redis::cmd("GET").arg("k").query(&mut c).expect("get");
    assert_eq!(v, "vw");
}

#[test]
fn errors_match_redis() {
    let server = Server::with_shards(1);
    let mut m = server.raw();
    let diffs = common::compare_with_redis(
        &mut m,
        &[
            "CLIENT REPLY foo",
            "CLIENT REPLY",
            "CLIENT REPLY on extra",
            "CLIENT REPLY ON",
            "CLIENT REPLY On",
        ],
    );
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn pubsub_messages_still_flow_while_replies_are_off() {
    let server = Server::with_shards(2);
    let mut sub = server.client();
    sub.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    send(&mut sub, &["CLIENT", "REPLY", "OFF"]);
    send(&mut sub, &["SUBSCRIBE", "chan"]);
    // Subscription confirmations are pushes: they arrive even with replies off.
    assert_eq!(recv(&mut sub), Value::Array(vec![bulk("subscribe"), bulk("chan"), Value::Int(1)]));
    let mut publisher = server.client();
    let n: i64 = redis::cmd("PUBLISH").arg("chan").arg("hello").query(&mut publisher).unwrap();
    assert_eq!(n, 1);
    assert_eq!(recv(&mut sub), Value::Array(vec![bulk("message"), bulk("chan"), bulk("hello")]));
    send(&mut sub, &["UNSUBSCRIBE", "chan"]);
    assert_eq!(
        recv(&mut sub),
        Value::Array(vec![bulk("unsubscribe"), bulk("chan"), Value::Int(0)])
    );
}

#[test]
fn own_keyspace_events_precede_the_reply_in_resp3() {
    // A RESP3 client may subscribe and write: Redis queues the event push before the reply.
    // With two shards about half the keys live on the other shard than the connection.
    let server = Server::with_shards(2);
    let mut c = server.raw();
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KA"]);
    Resp::parse(&c.cmd(&["HELLO", "3"]));
    let sub = Resp::parse(&c.cmd(&["PSUBSCRIBE", "__keyspace@0__:*"]));
    assert!(matches!(sub, Resp::Push(_)), "{sub:?}");
    for i in 0..16 {
        let key = format!("key{i}");
        c.send(&common::encode_cmd(&["SET", &key, "v"])).expect("send");
        let first = Resp::parse(&c.read_reply().expect("push"));
        let want_channel = format!("__keyspace@0__:{key}");
        match &first {
            Resp::Push(items) => {
                assert_eq!(items[0], Resp::Bulk(b"pmessage".to_vec()));
                assert_eq!(items[2], Resp::Bulk(want_channel.into_bytes()));
                assert_eq!(items[3], Resp::Bulk(b"set".to_vec()));
            }
            other => panic!("expected the event push before the reply, got {other:?}"),
        }
        assert_eq!(c.read_reply().expect("reply"), b"+OK\r\n");
    }
}
