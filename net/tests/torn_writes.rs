//! Multi-key commands across shards must be atomic and isolated: with `--shards 2` and keys
//! chosen to live on both shards, concurrent readers may never see half of an MSET, MSETNX,
//! DEL, RENAME or MULTI/EXEC.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{show, RawClient, Resp, Server};
use mayfly_engine::slot::{key_slot, SLOT_COUNT};

const SHARDS: usize = 2;
const RUN_FOR: Duration = Duration::from_secs(3);

fn shard_of(key: &str) -> usize {
    key_slot(key.as_bytes()) as usize * SHARDS / SLOT_COUNT
}

/// `per_shard` keys named `{prefix}N` on each shard, interleaved shard 0, shard 1, …
fn keys_on_both_shards(prefix: &str, per_shard: usize) -> Vec<String> {
    let mut by_shard: Vec<Vec<String>> = vec![Vec::new(); SHARDS];
    let mut n = 0;
    while by_shard.iter().any(|v| v.len() < per_shard) {
        let k = format!("{prefix}{n}");
        let s = shard_of(&k);
        if by_shard[s].len() < per_shard {
            by_shard[s].push(k);
        }
        n += 1;
    }
    (0..per_shard).flat_map(|i| by_shard.iter().map(move |v| v[i].clone())).collect()
}

/// Values of an MGET reply; None for nil.
fn mget(c: &mut RawClient, keys: &[String]) -> Vec<Option<Vec<u8>>> {
    let mut args = vec!["MGET".to_string()];
    args.extend(keys.iter().cloned());
    let r = c.cmd(&args);
    Resp::parse(&r)
        .items()
        .iter()
        .map(|v| match v {
            Resp::Nil => None,
            Resp::Bulk(b) => Some(b.clone()),
            other => panic!("MGET item {other:?}"),
        })
        .collect()
}

#[test]
fn keys_really_span_both_shards() {
    let keys = keys_on_both_shards("k", 4);
    assert_eq!(keys.len(), 8);
    for s in 0..SHARDS {
        assert_eq!(keys.iter().filter(|k| shard_of(k) == s).count(), 4);
    }
}

#[test]
fn mset_and_del_are_never_torn() {
    let server = Server::with_shards(SHARDS);
    let keys = Arc::new(keys_on_both_shards("torn:", 4));
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let port = server.port;
    {
        let mut c = server.raw();
        let mut args = vec!["MSET".to_string()];
        for k in keys.iter() {
            args.push(k.clone());
            args.push("init".into());
        }
        assert_eq!(c.cmd(&args), b"+OK\r\n");
    }
    let writers: Vec<_> = (0..3u64)
        .map(|w| {
            let (keys, stop, writes) = (keys.clone(), stop.clone(), writes.clone());
            std::thread::spawn(move || {
                let mut c = RawClient::connect(port);
                let mut i = 0u64;
                // Every 50th write is a DEL.
                let mut until_del = 50;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    until_del -= 1;
                    if until_del == 0 {
                        until_del = 50;
                        // An all-or-nothing delete across both shards.
                        let mut args = vec!["DEL".to_string()];
                        args.extend(keys.iter().cloned());
                        let r = c.cmd(&args);
                        assert!(r.starts_with(b":"), "DEL: {}", show(&r));
                    } else {
                        let v = format!("w{w}-{i}");
                        let mut args = vec!["MSET".to_string()];
                        for k in keys.iter() {
                            args.push(k.clone());
                            args.push(v.clone());
                        }
                        assert_eq!(c.cmd(&args), b"+OK\r\n");
                    }
                    writes.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (keys, stop) = (keys.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut c = RawClient::connect(port);
                let mut reads = 0u64;
                let mut distinct = std::collections::HashSet::new();
                while !stop.load(Ordering::Relaxed) {
                    let vals = mget(&mut c, &keys);
                    let first = &vals[0];
                    assert!(
                        vals.iter().all(|v| v == first),
                        "torn MGET: {:?}",
                        vals.iter()
                            .map(|v| v.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()))
                            .collect::<Vec<_>>()
                    );
                    // Also the multi-key EXISTS: all or none.
                    let mut args = vec!["EXISTS".to_string()];
                    args.extend(keys.iter().cloned());
                    let n = Resp::parse(&c.cmd(&args)).as_int();
                    assert!(n == 0 || n == keys.len() as i64, "EXISTS saw {n} keys");
                    distinct.insert(first.clone());
                    reads += 1;
                }
                (reads, distinct.len())
            })
        })
        .collect();
    std::thread::sleep(RUN_FOR);
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    let mut total_reads = 0;
    for r in readers {
        let (reads, distinct) = r.join().expect("reader");
        total_reads += reads;
        // Readers overlapped writers: they saw the values change.
        assert!(distinct > 1, "a reader saw only one state in {reads} reads");
    }
    let writes = writes.load(Ordering::Relaxed);
    println!("{writes} multi-shard writes, {total_reads} multi-shard reads, none torn");
    assert!(writes > 100 && total_reads > 100, "too little work: {writes} writes, {total_reads}");
}

#[test]
fn msetnx_is_all_or_nothing_across_shards() {
    let server = Server::with_shards(SHARDS);
    let port = server.port;
    const ROUNDS: usize = 150;
    // Three keys per round, not all on one shard; every pair of contenders overlaps in one
    // key, so exactly one of the three MSETNX may win.
    let rounds: Arc<Vec<[String; 3]>> = Arc::new(
        (0..ROUNDS)
            .map(|r| {
                let ks = keys_on_both_shards(&format!("nx{r}:"), 2);
                [ks[0].clone(), ks[1].clone(), ks[2].clone()]
            })
            .collect(),
    );
    let barrier = Arc::new(Barrier::new(4));
    let contenders: Vec<_> = (0..3usize)
        .map(|t| {
            let (rounds, barrier) = (rounds.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut c = RawClient::connect(port);
                let mut won = Vec::new();
                for keys in rounds.iter() {
                    let (a, b) = (&keys[t], &keys[(t + 1) % 3]);
                    let v = format!("t{t}");
                    barrier.wait();
                    let r = c.cmd(&["MSETNX", a, &v, b, &v]);
                    won.push(Resp::parse(&r).as_int() == 1);
                }
                won
            })
        })
        .collect();
    // The main thread reads while they race, then checks the outcome of each round.
    let mut c = RawClient::connect(port);
    for keys in rounds.iter() {
        barrier.wait();
        for _ in 0..3 {
            let vals = mget(&mut c, keys);
            let set: Vec<&Vec<u8>> = vals.iter().flatten().collect();
            assert!(set.is_empty() || set.len() == 2, "half an MSETNX visible: {vals:?}");
            assert!(set.windows(2).all(|w| w[0] == w[1]), "mixed MSETNX values: {vals:?}");
        }
    }
    let won: Vec<Vec<bool>> = contenders.into_iter().map(|h| h.join().unwrap()).collect();
    for (r, keys) in rounds.iter().enumerate() {
        let winners: Vec<usize> = (0..3).filter(|&t| won[t][r]).collect();
        assert_eq!(winners.len(), 1, "round {r}: winners {winners:?}");
        let t = winners[0];
        let vals = mget(&mut c, keys);
        for (i, v) in vals.iter().enumerate() {
            let owned_by_winner = i == t || i == (t + 1) % 3;
            let want = owned_by_winner.then(|| format!("t{t}").into_bytes());
            assert_eq!(v, &want, "round {r} key {i}");
        }
    }
}

#[test]
fn multi_exec_transfers_keep_the_sum() {
    let server = Server::with_shards(SHARDS);
    let port = server.port;
    let keys = keys_on_both_shards("acct:", 1);
    assert_ne!(shard_of(&keys[0]), shard_of(&keys[1]));
    let mut c = server.raw();
    assert_eq!(c.cmd(&["MSET", &keys[0], "1000", &keys[1], "1000"]), b"+OK\r\n");
    let stop = Arc::new(AtomicBool::new(false));
    let movers: Vec<_> = (0..2)
        .map(|t| {
            let (keys, stop) = (keys.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut c = RawClient::connect(port);
                let (from, to) = if t == 0 { (&keys[0], &keys[1]) } else { (&keys[1], &keys[0]) };
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let mut req = common::encode_cmd(&["MULTI"]);
                    req.extend(common::encode_cmd(&["DECRBY", from, "3"]));
                    req.extend(common::encode_cmd(&["INCRBY", to, "3"]));
                    req.extend(common::encode_cmd(&["EXEC"]));
                    c.send(&req).unwrap();
                    assert_eq!(c.read_reply().unwrap(), b"+OK\r\n");
                    assert_eq!(c.read_reply().unwrap(), b"+QUEUED\r\n");
                    assert_eq!(c.read_reply().unwrap(), b"+QUEUED\r\n");
                    let exec = Resp::parse(&c.read_reply().unwrap());
                    assert_eq!(exec.items().len(), 2, "{exec:?}");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let deadline = Instant::now() + RUN_FOR;
    let mut reads = 0;
    while Instant::now() < deadline {
        let vals = mget(&mut c, &keys);
        let sum: i64 = vals
            .iter()
            .map(|v| std::str::from_utf8(v.as_ref().unwrap()).unwrap().parse::<i64>().unwrap())
            .sum();
        assert_eq!(sum, 2000, "half a transfer visible: {vals:?}");
        reads += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let moved: u64 = movers.into_iter().map(|h| h.join().unwrap()).sum();
    println!("{moved} cross-shard transactions, {reads} reads");
    assert!(moved > 50 && reads > 50, "too little work: {moved} transactions, {reads} reads");
}

#[test]
fn rename_across_shards_keeps_exactly_one_key() {
    let server = Server::with_shards(SHARDS);
    let port = server.port;
    let keys = keys_on_both_shards("ren:", 1);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["SET", &keys[0], "payload"]), b"+OK\r\n");
    let stop = Arc::new(AtomicBool::new(false));
    let renamers: Vec<_> = (0..2)
        .map(|t| {
            let (keys, stop) = (keys.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut c = RawClient::connect(port);
                let (from, to) = if t == 0 { (&keys[0], &keys[1]) } else { (&keys[1], &keys[0]) };
                let mut ok = 0;
                while !stop.load(Ordering::Relaxed) {
                    let r = c.cmd(&["RENAME", from, to]);
                    match r.as_slice() {
                        b"+OK\r\n" => ok += 1,
                        b"-ERR no such key\r\n" => {}
                        other => panic!("RENAME: {}", show(other)),
                    }
                }
                ok
            })
        })
        .collect();
    let deadline = Instant::now() + RUN_FOR;
    let mut reads = 0;
    while Instant::now() < deadline {
        let n = Resp::parse(&c.cmd(&["EXISTS", &keys[0], &keys[1]])).as_int();
        assert_eq!(n, 1, "RENAME across shards seen half done");
        let vals = mget(&mut c, &keys);
        assert_eq!(vals.iter().flatten().count(), 1, "{vals:?}");
        assert_eq!(vals.iter().flatten().next().unwrap(), b"payload");
        reads += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let renames: u64 = renamers.into_iter().map(|h| h.join().unwrap()).sum();
    println!("{renames} cross-shard renames, {reads} reads");
    assert!(renames > 50, "too few renames: {renames}");
}

/// Issue 3's concurrency check for set/zset stores: members keep moving between two sets and
/// between two sorted sets on different shards (SMOVE, and MULTI ZREM+ZADD), while a reader
/// runs SUNIONSTORE / ZUNIONSTORE over both. A store that read one shard before a move and
/// the other after it would lose a member (99) or, for the sorted sets, count one twice (a
/// score sum off by the member's score).
#[test]
fn sunionstore_and_zunionstore_never_see_half_a_move() {
    let server = Server::with_shards(SHARDS);
    let port = server.port;
    let keys = keys_on_both_shards("u:", 3);
    let (s1, s2, sdst) = (keys[0].clone(), keys[1].clone(), keys[2].clone());
    let (z1, z2, zdst) = (keys[3].clone(), keys[4].clone(), keys[5].clone());
    assert_ne!(shard_of(&s1), shard_of(&s2));
    assert_ne!(shard_of(&z1), shard_of(&z2));
    let mut c = server.raw();
    for m in 0..100 {
        let (set, zset) = if m < 50 { (&s1, &z1) } else { (&s2, &z2) };
        let m = m.to_string();
        assert_eq!(c.cmd(&["SADD", set, &m]), b":1\r\n");
        assert_eq!(c.cmd(&["ZADD", zset, &m, &m]), b":1\r\n");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let set_mover = {
        let (s1, s2, stop) = (s1.clone(), s2.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut c = RawClient::connect(port);
            let mut moves = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let m = (moves % 100).to_string();
                if c.cmd(&["SMOVE", &s1, &s2, &m]) == b":0\r\n" {
                    assert_eq!(c.cmd(&["SMOVE", &s2, &s1, &m]), b":1\r\n");
                }
                moves += 1;
            }
            moves
        })
    };
    let zset_mover = {
        let (z1, z2, stop) = (z1.clone(), z2.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut c = RawClient::connect(port);
            let mut moves = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let m = ((moves * 7) % 100).to_string();
                // Only this thread moves sorted-set members, so where m is cannot change
                // between this read and the transaction.
                let in_z1 = c.cmd(&["ZSCORE", &z1, &m]) != b"$-1\r\n";
                let (from, to) = if in_z1 { (&z1, &z2) } else { (&z2, &z1) };
                let mut req = common::encode_cmd(&["MULTI"]);
                req.extend(common::encode_cmd(&["ZREM", from, &m]));
                req.extend(common::encode_cmd(&["ZADD", to, &m, &m]));
                req.extend(common::encode_cmd(&["EXEC"]));
                c.send(&req).unwrap();
                assert_eq!(c.read_reply().unwrap(), b"+OK\r\n");
                assert_eq!(c.read_reply().unwrap(), b"+QUEUED\r\n");
                assert_eq!(c.read_reply().unwrap(), b"+QUEUED\r\n");
                assert_eq!(c.read_reply().unwrap(), b"*2\r\n:1\r\n:1\r\n");
                moves += 1;
            }
            moves
        })
    };
    let deadline = Instant::now() + RUN_FOR;
    let mut reads = 0;
    while Instant::now() < deadline {
        assert_eq!(c.cmd(&["SUNIONSTORE", &sdst, &s1, &s2]), b":100\r\n", "SUNIONSTORE torn");
        assert_eq!(c.cmd(&["ZUNIONSTORE", &zdst, "2", &z1, &z2]), b":100\r\n", "ZUNIONSTORE torn");
        let r = Resp::parse(&c.cmd(&["ZRANGE", &zdst, "0", "-1", "WITHSCORES"]));
        let sum: f64 = r
            .items()
            .chunks(2)
            .map(|p| match &p[1] {
                Resp::Bulk(b) => std::str::from_utf8(b).unwrap().parse::<f64>().unwrap(),
                other => panic!("score {other:?}"),
            })
            .sum();
        assert_eq!(sum, 4950.0, "a member counted twice or lost by ZUNIONSTORE");
        reads += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let set_moves = set_mover.join().unwrap();
    let zset_moves = zset_mover.join().unwrap();
    println!("{set_moves} SMOVEs, {zset_moves} ZREM+ZADD transactions, {reads} reads");
    assert!(set_moves > 50 && zset_moves > 50 && reads > 20, "too little work");
}
