//! Robustness: thousands of random calls of every command the server lists in COMMAND
//! (except those that change the connection, block, or act on the process or files), with
//! argument lists drawn from keys, numbers at the edges of their ranges and option words.
//! Every call must get exactly one well-formed reply in time, and the server must stay up.
//! Numbers stay small or extreme (never, say, 10^9), so a command that sizes a reply or a
//! buffer by an argument cannot make this test exhaust the machine's memory.

mod common;

use std::time::Duration;

use common::{show, RawClient, Resp, Server};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const CALLS: usize = 20_000;

const ARGS: &[&str] = &[
    "k",
    "k",
    "s",
    "h",
    "l",
    "z",
    "{k}x",
    "0",
    "1",
    "-1",
    "2",
    "10",
    "100",
    "-100",
    "1.5",
    "-0",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "abc",
    "",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "NX",
    "XX",
    "GT",
    "LT",
    "EX",
    "PX",
    "KEEPTTL",
    "GET",
    "COUNT",
    "MATCH",
    "*",
    "TYPE",
    "string",
    "WITHSCORES",
    "LIMIT",
    "REV",
    "BYSCORE",
    "BYLEX",
    "LEN",
    "IDX",
    "LEFT",
    "RIGHT",
    "BEFORE",
    "AFTER",
    "[a",
    "(1",
    "-",
    "+",
    "REPLACE",
    "DB",
    "CH",
    "INCR",
];

/// Commands left out: they switch the connection's mode or identity, block, or touch the
/// process, its files or its configuration.
const SKIP: &[&str] = &[
    "quit",
    "reset",
    "multi",
    "exec",
    "discard",
    "watch",
    "unwatch",
    "hello",
    "auth",
    "client",
    "select",
    "monitor",
    "subscribe",
    "psubscribe",
    "ssubscribe",
    "unsubscribe",
    "punsubscribe",
    "sunsubscribe",
    "wait",
    "sync",
    "psync",
    "shutdown",
    "debug",
    "config",
    "save",
    "bgsave",
    "bgrewriteaof",
    "replicaof",
    "slaveof",
    "failover",
    "flushall",
    "swapdb",
    "move",
    "readonly",
    "readwrite",
    "asking",
    "cluster",
    "acl",
    "module",
    "script",
    "eval",
    "evalsha",
    "eval_ro",
    "evalsha_ro",
    "fcall",
    "fcall_ro",
    "function",
    "lastsave",
    "restore",
    "restore-asking",
    "migrate",
    "memory",
    "latency",
    "slowlog",
    "object",
    "pfdebug",
    "pfselftest",
    "replconf",
];

/// (name, arity) of every command the test may call.
fn command_names(c: &mut RawClient) -> Vec<(String, i64)> {
    let all = Resp::parse(&c.cmd_str("COMMAND"));
    let mut names = Vec::new();
    for entry in all.items() {
        let items = entry.items();
        let name = String::from_utf8_lossy(items[0].as_bytes()).to_lowercase();
        let flags: Vec<Vec<u8>> = items[2].items().iter().map(|f| f.as_bytes().to_vec()).collect();
        let unsafe_flag =
            flags.iter().any(|f| matches!(f.as_slice(), b"blocking" | b"admin" | b"pubsub"));
        if !unsafe_flag && !SKIP.contains(&name.as_str()) {
            names.push((name, items[1].as_int()));
        }
    }
    names.sort();
    names
}

#[test]
fn random_calls_of_every_command_get_one_reply_each() {
    let mut server = Server::with_shards(2);
    let mut c = server.raw();
    c.set_timeout(Duration::from_secs(5));
    let names = command_names(&mut c);
    assert!(names.len() >= 40, "only {} commands: {names:?}", names.len());
    // Give the keys a value of each type the server has, so type-specific paths run too.
    for setup in ["SET k 1", "SADD s a b 1", "HSET h f v", "RPUSH l a b c", "ZADD z 1 a 2 b"] {
        let r = c.cmd_str(setup);
        assert!(!r.is_empty());
    }
    let seed = rand::random::<u64>();
    println!("seed {seed}, {} commands", names.len());
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut errors = 0;
    for i in 0..CALLS {
        let (name, arity) = &names[rng.gen_range(0..names.len())];
        let mut args = vec![name.clone()];
        // Mostly a valid argument count, so calls get past the arity check.
        let count = if rng.gen_bool(0.2) {
            rng.gen_range(0..6)
        } else if *arity > 0 {
            *arity as usize - 1
        } else {
            arity.unsigned_abs() as usize - 1 + rng.gen_range(0..5)
        };
        for _ in 0..count {
            args.push(ARGS[rng.gen_range(0..ARGS.len())].to_string());
        }
        let reply = match c.try_cmd(&args) {
            Ok(r) => r,
            Err(e) => panic!(
                "call {i} `{}` (seed {seed}): {e}; server alive: {}; log: {}",
                args.join(" "),
                server.is_alive(),
                server.log()
            ),
        };
        if reply.first() == Some(&b'-') {
            errors += 1;
        }
        if i % 500 == 0 {
            // Every reply so far was exactly one: the stream is still in step.
            let v = format!("check-{i}");
            assert_eq!(c.cmd(&["ECHO", &v]), format!("${}\r\n{v}\r\n", v.len()).into_bytes());
            assert!(server.is_alive(), "server died (seed {seed}): {}", server.log());
            // Keep the keyspace small and typed.
            let _ = c.cmd_str("FLUSHDB");
            for setup in ["SET k 1", "SADD s a b 1", "HSET h f v", "RPUSH l a b c", "ZADD z 1 a"] {
                let _ = c.cmd_str(setup);
            }
        }
    }
    println!("{CALLS} calls, {errors} error replies");
    let mut fresh = server.raw();
    assert_eq!(fresh.cmd_str("PING"), b"+PONG\r\n", "{}", show(&fresh.cmd_str("PING")));
    assert!(server.is_alive(), "server died (seed {seed}): {}", server.log());
}
