//! A MULTI/EXEC is atomic whatever it contains: with broadcast commands (FLUSHALL, DBSIZE),
//! server-level ones (INFO, CONFIG SET, SELECT) and key commands on both shards in one queue,
//! concurrent writers on every shard never get in between its commands.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{show, RawClient, Resp, Server};
use mayfly_engine::slot::{key_slot, SLOT_COUNT};

const SHARDS: usize = 2;

fn shard_of(key: &str) -> usize {
    key_slot(key.as_bytes()) as usize * SHARDS / SLOT_COUNT
}

/// A key named `{prefix}N` that lives on `shard`.
fn key_on(prefix: &str, shard: usize) -> String {
    (0..).map(|n| format!("{prefix}{n}")).find(|k| shard_of(k) == shard).expect("some key")
}

fn exec(c: &mut RawClient, cmds: &[Vec<String>]) -> Vec<Resp> {
    assert_eq!(c.cmd(&["MULTI"]), b"+OK\r\n");
    for cmd in cmds {
        let r = c.cmd(cmd);
        assert_eq!(r, b"+QUEUED\r\n", "queueing {cmd:?}: {}", show(&r));
    }
    let r = c.cmd(&["EXEC"]);
    match Resp::parse(&r) {
        Resp::Array(items) => items,
        other => panic!("EXEC answered {other:?}"),
    }
}

fn args(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

#[test]
fn exec_with_flushall_info_and_config_set_is_atomic_under_concurrent_writers() {
    let server = Server::with_shards(SHARDS);
    let port = server.port;
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    // Writers on both shards, pipelining SETs as fast as they can.
    let writers: Vec<_> = (0..SHARDS)
        .map(|s| {
            let (stop, writes) = (stop.clone(), writes.clone());
            let keys: Vec<String> = (0..8).map(|i| key_on(&format!("w{s}:{i}:"), s)).collect();
            std::thread::spawn(move || {
                let mut c = RawClient::connect(port);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let k = &keys[(n % keys.len() as u64) as usize];
                    assert_eq!(c.cmd(&["SET", k.as_str(), "v"]), b"+OK\r\n");
                    n += 1;
                    writes.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let a = key_on("tx:a:", 0);
    let b = key_on("tx:b:", 1);
    let mut c = server.raw();
    let queue: Vec<Vec<String>> = vec![
        args(&format!("SET {a} 1")),
        args("FLUSHALL"),
        args("INFO keyspace"),
        args("CONFIG SET maxmemory-samples 5"),
        args("DBSIZE"),
        args(&format!("SET {b} 2")),
        args("SELECT 0"),
        args("DBSIZE"),
        args(&format!("MGET {a} {b}")),
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut rounds = 0;
    while rounds < 200 && Instant::now() < deadline {
        // Let the writers fill both shards again between transactions.
        let before = writes.load(Ordering::Relaxed);
        while writes.load(Ordering::Relaxed) < before + 20 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        let r = exec(&mut c, &queue);
        assert_eq!(r.len(), queue.len(), "{r:?}");
        assert_eq!(r[0], Resp::Simple(b"OK".to_vec()));
        assert_eq!(r[1], Resp::Simple(b"OK".to_vec()));
        // Right after FLUSHALL, nothing may have come back in.
        let info = String::from_utf8_lossy(r[2].as_bytes()).to_string();
        assert!(!info.contains("db0:"), "round {rounds}: INFO inside EXEC saw keys: {info}");
        assert_eq!(r[3], Resp::Simple(b"OK".to_vec()));
        assert_eq!(r[4], Resp::Int(0), "round {rounds}: DBSIZE right after FLUSHALL");
        assert_eq!(r[6], Resp::Simple(b"OK".to_vec()));
        assert_eq!(r[7], Resp::Int(1), "round {rounds}: DBSIZE after the transaction's SET");
        assert_eq!(r[8], Resp::Array(vec![Resp::Nil, Resp::Bulk(b"2".to_vec())]), "round {rounds}");
        rounds += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    assert!(rounds >= 20, "only {rounds} transactions ran");
    assert!(writes.load(Ordering::Relaxed) > 0);
    // The writers were served again after the transactions.
    let mut c2 = server.raw();
    assert_eq!(c2.cmd(&["SET", "after", "1"]), b"+OK\r\n");
    assert!(!c2.cmd(&["CONFIG", "GET", "maxmemory-samples"]).is_empty());
}

#[test]
fn exec_with_server_commands_on_one_shard_is_atomic() {
    let server = Server::with_shards(1);
    let port = server.port;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut c = RawClient::connect(port);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(c.cmd(&["SET", &format!("k{}", n % 16), "v"]), b"+OK\r\n");
                n += 1;
            }
        })
    };
    let mut c = server.raw();
    let queue: Vec<Vec<String>> =
        vec![args("FLUSHALL"), args("INFO keyspace"), args("CLIENT SETNAME tx"), args("DBSIZE")];
    for round in 0..100 {
        let r = exec(&mut c, &queue);
        assert_eq!(r[3], Resp::Int(0), "round {round}: {r:?}");
        let info = String::from_utf8_lossy(r[1].as_bytes()).to_string();
        assert!(!info.contains("db0:"), "round {round}: {info}");
    }
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), b"$2\r\ntx\r\n");
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
}
