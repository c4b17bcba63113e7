//! The coordination layer (routing, split/gather, EXEC, blocking) run on simulated shards in
//! one thread (`mayfly_net::shard::sim`): no sockets, virtual time, the same interleaving on
//! every run.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;
use mayfly_engine::config::Config;
use mayfly_engine::reply::Reply;
use mayfly_net::coord::block::{self, BlockRequest, Interrupt, Interrupts};
use mayfly_net::coord::multi::{self, Held, Plan};
use mayfly_net::coord::route;
use mayfly_net::shard::sim::Sim;

const START_MS: u64 = 1_700_000_000_000;

fn argv(line: &str) -> Vec<Bytes> {
    line.split_whitespace().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
}

/// Runs one command from a client on `shard` and returns its reply.
async fn run(line: &str) -> Reply {
    let argv = argv(line);
    let spec = mayfly_engine::check_command(&argv).expect("known command");
    route::route(0, false, spec, argv).await
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

/// A key named `{prefix}N` owned by `shard`.
fn key_on(sim: &Sim, prefix: &str, shard: usize) -> String {
    let shared = sim.shared();
    (0..).map(|n| format!("{prefix}{n}")).find(|k| shared.shard_of(k.as_bytes()) == shard).unwrap()
}

#[test]
fn single_and_cross_shard_commands_route_to_their_owners() {
    let mut sim = Sim::new(3, Config::default(), START_MS);
    let keys: Vec<String> = (0..3).map(|s| key_on(&sim, "k", s)).collect();
    let mset = format!("MSET {} a {} b {} c", keys[0], keys[1], keys[2]);
    assert_eq!(sim.block_on(1, async move { run(&mset).await }), Reply::ok());
    for (s, k) in keys.iter().enumerate() {
        // Each key is on its owner's engine shard and nowhere else.
        let here = sim.with_env(s, |env| env.shard.dbs[0].table.contains_key(k.as_bytes()));
        assert!(here, "{k} on shard {s}");
        let other = (s + 1) % 3;
        let there = sim.with_env(other, |env| env.shard.dbs[0].table.contains_key(k.as_bytes()));
        assert!(!there);
    }
    let mget = format!("MGET {} {} {} missing", keys[2], keys[0], keys[1]);
    let r = sim.block_on(0, async move { run(&mget).await });
    assert_eq!(r, Reply::Array(vec![bulk("c"), bulk("a"), bulk("b"), Reply::Nil]));
    let rename = format!("RENAME {} {}", keys[0], key_on(&sim, "renamed", 2));
    assert_eq!(sim.block_on(2, async move { run(&rename).await }), Reply::ok());
    assert_eq!(sim.block_on(0, async { run("DBSIZE").await }), Reply::Int(3));
}

#[test]
fn readers_never_see_half_of_a_cross_shard_mset() {
    let mut sim = Sim::new(2, Config::default(), START_MS);
    let a = key_on(&sim, "a", 0);
    let b = key_on(&sim, "b", 1);
    let init = format!("MSET {a} 0 {b} 0");
    sim.block_on(0, async move { run(&init).await });
    // Writers and readers on both shards, all started before any runs: the simulation
    // interleaves their hops.
    let seen: Rc<RefCell<Vec<Reply>>> = Rc::default();
    for round in 1..=50 {
        let (a2, b2) = (a.clone(), b.clone());
        sim.spawn(round % 2, async move {
            let r = run(&format!("MSET {a2} {round} {b2} {round}")).await;
            assert_eq!(r, Reply::ok());
        });
        let (a3, b3, seen) = (a.clone(), b.clone(), seen.clone());
        sim.spawn((round + 1) % 2, async move {
            let r = run(&format!("MGET {a3} {b3}")).await;
            seen.borrow_mut().push(r);
        });
    }
    sim.run();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 50);
    for r in seen.iter() {
        let Reply::Array(items) = r else { panic!("{r:?}") };
        assert_eq!(items[0], items[1], "torn read {r:?}");
    }
}

#[test]
fn exec_holding_every_shard_is_not_interleaved_with_other_clients() {
    let mut sim = Sim::new(2, Config::default(), START_MS);
    let keys: Vec<String> = (0..2).map(|s| key_on(&sim, "w", s)).collect();
    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    // Other clients write keys of the other shard (each SET is a hop), so their commands
    // are in flight while the transaction takes the shards.
    for (i, k) in keys.iter().enumerate() {
        let (k, log) = (k.clone(), log.clone());
        sim.spawn(1 - i, async move {
            for n in 0..20 {
                assert_eq!(run(&format!("SET {k} {n}")).await, Reply::ok());
                log.borrow_mut().push(format!("w{i}"));
            }
        });
    }
    let tx_log = log.clone();
    let tx = sim.start(0, async move {
        let cmds: Vec<Vec<Bytes>> =
            ["FLUSHALL", "DBSIZE", "SET x 1", "DBSIZE"].iter().map(|l| argv(l)).collect();
        let specs: Vec<_> =
            cmds.iter().map(|c| mayfly_engine::check_command(c).expect("known")).collect();
        assert!(matches!(multi::plan(&specs, &cmds), Plan::Hold));
        let held = Held::begin().await;
        tx_log.borrow_mut().push("begin".into());
        let mut replies = Vec::new();
        for (spec, c) in specs.into_iter().zip(cmds) {
            replies.push(held.run(0, false, spec, c).await);
        }
        tx_log.borrow_mut().push("end".into());
        held.release().await;
        replies
    });
    sim.run();
    let replies = tx.borrow_mut().take().expect("EXEC finished");
    assert_eq!(replies, vec![Reply::ok(), Reply::Int(0), Reply::ok(), Reply::Int(1)]);
    let log = log.borrow();
    let begin = log.iter().position(|e| e == "begin").expect("began");
    let end = log.iter().position(|e| e == "end").expect("ended");
    assert_eq!(end, begin + 1, "other clients' writes completed inside the transaction: {log:?}");
    assert!(begin > 0 && end + 1 < log.len(), "writes before and after the transaction: {log:?}");
    assert_eq!(log.iter().filter(|e| e.starts_with('w')).count(), 40);
    // Everyone ran to the end: both written keys exist again, with x.
    assert_eq!(sim.block_on(1, async { run("DBSIZE").await }), Reply::Int(3));
}

#[test]
fn exec_plans_follow_what_the_queue_holds() {
    let mut sim = Sim::new(2, Config::default(), START_MS);
    let a = key_on(&sim, "a", 0);
    let b = key_on(&sim, "b", 1);
    let plan_of = |lines: Vec<String>| {
        let cmds: Vec<Vec<Bytes>> = lines.iter().map(|l| argv(l)).collect();
        let specs: Vec<_> = cmds.iter().map(|c| mayfly_engine::check_command(c).unwrap()).collect();
        match multi::plan(&specs, &cmds) {
            Plan::Batch { shard } => format!("batch {shard}"),
            Plan::Gather => "gather".into(),
            Plan::Hold => "hold".into(),
        }
    };
    let got = sim.block_on(0, {
        let (a, b) = (a.clone(), b.clone());
        async move {
            vec![
                plan_of(vec![format!("SET {b} 1"), format!("GET {b}")]),
                plan_of(vec![format!("SET {a} 1"), format!("GET {b}")]),
                plan_of(vec![format!("SET {a} 1"), "DBSIZE".into()]),
                plan_of(vec![format!("SET {a} 1"), "INFO".into()]),
                plan_of(vec!["PING".into()]),
            ]
        }
    });
    assert_eq!(got, vec!["batch 1", "gather", "hold", "hold", "batch 0"]);
}

/// A client that never goes away and is never unblocked.
struct Patient;

impl Interrupts for Patient {
    async fn next(&mut self) -> Interrupt {
        std::future::pending().await
    }
    fn set_blocked(&mut self, _: bool) {}
}

fn blpop(id: u64, line: &str, stamp_ns: u64) -> impl std::future::Future<Output = Reply> {
    let argv = argv(line);
    async move {
        let spec = mayfly_engine::check_command(&argv).expect("known");
        let req = BlockRequest { id, db: 0, resp3: false, spec, argv, stamp_ns };
        block::block(req, &mut Patient).await.0
    }
}

#[test]
fn blocked_clients_on_different_shards_are_served_in_the_order_they_blocked() {
    let mut sim = Sim::new(2, Config::default(), START_MS);
    let q = key_on(&sim, "q", 1);
    // Three clients on alternating shards block on q, in stamp order 1, 2, 3.
    let waiters: Vec<_> = (1..=3u64)
        .map(|n| {
            let line = format!("BLPOP {q} 0");
            sim.start((n % 2) as usize, blpop(n, &line, n))
        })
        .collect();
    sim.run();
    assert!(waiters.iter().all(|w| w.borrow().is_none()), "nobody served before a push");
    let push = format!("RPUSH {q} x y");
    assert_eq!(sim.block_on(0, async move { run(&push).await }), Reply::Int(2));
    let served: Vec<Option<Reply>> = waiters.iter().map(|w| w.borrow_mut().take()).collect();
    let pair = |v: &str| Some(Reply::Array(vec![bulk(&q), bulk(v)]));
    assert_eq!(served, vec![pair("x"), pair("y"), None]);
    // The third one is still waiting; another push serves it.
    let push = format!("RPUSH {q} z");
    sim.block_on(1, async move { run(&push).await });
    assert_eq!(waiters[2].borrow_mut().take(), pair("z"));
}

#[test]
fn blocking_timeouts_follow_virtual_time_exactly() {
    let mut sim = Sim::new(2, Config::default(), START_MS);
    let k = key_on(&sim, "t", 1);
    let w = sim.start(0, blpop(7, &format!("BLPOP {k} 1.5"), 1));
    sim.run();
    sim.advance_ms(1499);
    assert!(w.borrow().is_none(), "timed out early");
    sim.advance_ms(1);
    assert_eq!(w.borrow_mut().take(), Some(Reply::NilArray));
    // Withdrawn: a later push is not handed to it.
    let push = format!("RPUSH {k} v");
    sim.block_on(0, async move { run(&push).await });
    assert_eq!(sim.block_on(1, async move { run(&format!("LLEN {}", "x")).await }), Reply::Int(0));
    let len = format!("LLEN {k}");
    assert_eq!(sim.block_on(1, async move { run(&len).await }), Reply::Int(1));
}

/// Every change on every shard — single-key and cross-shard commands, a gathered RENAME and
/// SUNIONSTORE, served BLPOPs, an EXEC holding every shard, FLUSHALL, lazy and active expiry,
/// eviction — reaches that shard's journal, and replaying each shard's records on an empty
/// shard reproduces its dataset exactly. Records of multi-shard operations carry their
/// transaction and the shards it touched.
#[test]
fn replaying_every_shards_journal_reproduces_the_dataset() {
    use mayfly_engine::clock::Clock;
    use mayfly_engine::shard::Shard;
    use mayfly_engine::testing::{dataset, replay, RecordingJournal};

    const N: usize = 3;
    let mut sim = Sim::new(N, Config::default(), START_MS);
    let journals: Vec<RecordingJournal> =
        (0..N).map(|i| sim.with_env(i, |env| RecordingJournal::attach(&mut env.shard))).collect();
    let k: Vec<Vec<String>> =
        (0..N).map(|s| (0..6).map(|j| key_on(&sim, &format!("k{j}:"), s)).collect()).collect();
    let script = |lines: Vec<String>| async move {
        for line in lines {
            let r = run(&line).await;
            assert!(!r.is_error(), "{line}: {r:?}");
        }
    };
    // Single-key and cross-shard writes of every kind.
    sim.block_on(
        0,
        script(vec![
            format!("MSET {} a {} b {} c", k[0][0], k[1][0], k[2][0]),
            format!("RPUSH {} 1 2 3", k[1][1]),
            format!("SADD {} x y z", k[0][2]),
            format!("SADD {} y w", k[2][2]),
            format!("SUNIONSTORE {} {} {}", k[1][2], k[0][2], k[2][2]),
            format!("RENAME {} {}", k[0][0], k[2][3]),
            format!("ZADD {} 1 m 2 n", k[2][4]),
            format!("HSET {} f v g w", k[1][4]),
            format!("INCRBYFLOAT {} 1.5", k[0][5]),
            format!("SET {} short PX 100", k[1][5]),
            format!("SET {} lazy PX 100", k[2][5]),
            format!("SPOP {}", k[0][2]),
        ]),
    );
    // Clients blocked on shard 2's list, served by pushes from other shards.
    let q = k[2][1].clone();
    let w1 = sim.start(0, blpop(11, &format!("BLPOP {q} 0"), 1));
    let w2 = sim.start(1, blpop(12, &format!("BLPOP {q} 0"), 2));
    sim.run();
    sim.block_on(1, script(vec![format!("RPUSH {q} p1 p2 p3")]));
    assert!(w1.borrow().is_some() && w2.borrow().is_some(), "both served");
    // An EXEC holding every shard: FLUSHALL between key commands.
    let tx_lines = [
        format!("SET {} before", k[0][3]),
        "FLUSHALL".to_string(),
        format!("MSET {} after {} after", k[0][3], k[1][3]),
        format!("LPUSH {} z", k[2][1]),
    ];
    sim.block_on(2, async move {
        let cmds: Vec<Vec<Bytes>> = tx_lines.iter().map(|l| argv(l)).collect();
        let specs: Vec<_> = cmds.iter().map(|c| mayfly_engine::check_command(c).unwrap()).collect();
        let held = Held::begin().await;
        for (spec, c) in specs.into_iter().zip(cmds) {
            assert!(!held.run(0, false, spec, c).await.is_error());
        }
        held.release().await;
    });
    // More writes after the flush, with expiries.
    sim.block_on(
        1,
        script(vec![
            format!("MSET {} a2 {} b2 {} c2", k[0][0], k[1][0], k[2][0]),
            format!("SET {} soon PX 50", k[0][1]),
            format!("SET {} later PX 50", k[1][1]),
            format!("HSET {} f 1", k[2][4]),
            format!("SADD {} m1 m2 m3", k[0][4]),
        ]),
    );
    // Time passes: one key expires lazily (read), another by the active cycle.
    sim.advance_ms(60);
    let get = format!("GET {}", k[0][1]);
    assert_eq!(sim.block_on(2, async move { run(&get).await }), Reply::Nil);
    sim.tick(1);
    assert!(!sim.with_env(1, |env| env.shard.dbs[0].table.contains_key(k[1][1].as_bytes())));
    // Eviction: shard 0 pretends to be over its budget.
    let before = sim.with_env(0, |env| env.shard.key_count());
    sim.with_env(0, |env| {
        env.shard.config.maxmemory_policy = mayfly_engine::config::EvictionPolicy::AllKeysRandom;
        env.shard.evict_for_write(2, 1).expect("evicts");
    });
    assert!(sim.with_env(0, |env| env.shard.key_count()) < before);

    for (i, journal) in journals.iter().enumerate() {
        let records = journal.records();
        assert!(!records.is_empty());
        for w in records.windows(2) {
            assert_eq!(w[1].lsn, w[0].lsn + 1, "shard {i}: LSNs follow each other");
            assert!(w[1].hlc > w[0].hlc, "shard {i}: HLC increases");
        }
        // Records of multi-shard operations name the shards they touched.
        assert!(
            records.iter().any(|r| r.txid != 0 && r.shards.len() > 1),
            "shard {i} saw a cross-shard transaction: {:?}",
            records.iter().map(|r| (&r.argv, r.txid)).collect::<Vec<_>>()
        );
        let mut fresh = Shard::new(i, Config::default(), Clock::Manual(START_MS));
        let errors = replay(&records, &mut fresh);
        assert!(errors.is_empty(), "shard {i}: records that failed to replay: {errors:?}");
        let live = sim.with_env(i, |env| dataset(&env.shard));
        assert_eq!(dataset(&fresh), live, "shard {i}: replayed dataset differs");
    }
}
