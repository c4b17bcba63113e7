//! Helpers for tests that put keys and blocked clients on chosen shards, over the `redis`
//! crate's synchronous client.
//!
//! Connections are accepted round-robin over the shards, so connections opened one after the
//! other sit on different shards; [`on_every_placement`] runs a scenario for a key on every
//! shard, twice, so each one covers the same-shard and the cross-shard case. Waits are
//! bounded polls of `INFO clients`, never sleeps that guess how long the server needs.

use std::time::{Duration, Instant};

use redis::{Connection, Value};

use super::Server;

/// Longest any wait may take on a loaded 2-core box before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A key named after `base` whose slot lives on `shard` of `nshards` (slots are split into
/// equal ranges, as the server's slot table does).
pub fn key_on(shard: usize, nshards: usize, base: &str) -> String {
    (0..10_000)
        .map(|i| format!("{{t{i}}}{base}"))
        .find(|k| {
            let slot = mayfly_engine::slot::key_slot(k.as_bytes()) as usize;
            slot * nshards / mayfly_engine::slot::SLOT_COUNT == shard
        })
        .expect("some tag maps to every shard")
}

pub fn cmd(args: &[&str]) -> redis::Cmd {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c
}

pub fn query(c: &mut Connection, args: &[&str]) -> Value {
    cmd(args).query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Sends a command without waiting for its reply (what the Redis suite calls a deferring
/// client).
pub fn send(c: &mut Connection, args: &[&str]) {
    c.send_packed_command(&cmd(args).get_packed_command())
        .unwrap_or_else(|e| panic!("send {args:?}: {e}"));
}

/// The next reply on `c`; error replies come back as Err(text).
pub fn recv(c: &mut Connection) -> Result<Value, String> {
    match c.recv_response() {
        Ok(Value::ServerError(e)) => Err(format!("{e:?}")),
        Ok(v) => Ok(v),
        Err(e) => Err(e.to_string()),
    }
}

pub fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

pub fn blocked_clients(c: &mut Connection) -> i64 {
    let info: String = cmd(&["INFO", "clients"]).query(c).expect("INFO clients");
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO clients has blocked_clients")
}

/// Polls until the server reports `n` blocked clients; panics after the deadline.
pub fn wait_blocked(c: &mut Connection, n: i64) {
    let start = Instant::now();
    loop {
        let now = blocked_clients(c);
        if now == n {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "blocked_clients stuck at {now}, waiting for {n}");
        std::thread::yield_now();
    }
}

/// Runs `scenario(server, control, nshards, key_shard)` on servers with 1 and 2 shards and
/// for a key on every shard, twice each (consecutive runs get connections on other shards).
pub fn on_every_placement(scenario: impl Fn(&Server, &mut Connection, usize, usize)) {
    for nshards in [1, 2] {
        let server = Server::with_shards(nshards);
        let mut control = server.client();
        for key_shard in 0..nshards {
            for _ in 0..2 {
                query(&mut control, &["FLUSHALL"]);
                scenario(&server, &mut control, nshards, key_shard);
                wait_blocked(&mut control, 0);
            }
        }
    }
}
