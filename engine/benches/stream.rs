//! Stream command benchmarks through the command path (argv in, reply out), one shard, no
//! sockets: XADD of 3-field entries into a growing stream, XRANGE of 10 entries, and a consumer
//! group's XREADGROUP COUNT 10 + XACK of the 10 ids.
//!
//! `cargo bench -p mayfly-engine --bench stream`. With `-- --report` it instead prints the time
//! per operation for 1M XADDs and for 100k XREADGROUP+XACK rounds of 10 entries, the figures
//! BENCHMARKS.md sets against redis-server's CPU seconds for the same commands.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use criterion::Criterion;
use mayfly_engine::reply::Reply;
use mayfly_engine::testing::TestShard;

fn xadd_argv(i: u64) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XADD"),
        Bytes::from_static(b"s"),
        Bytes::from(format!("{}-{}", 1_700_000_000_000 + i / 10, i % 10)),
        Bytes::from_static(b"name"),
        Bytes::from(format!("sensor-{}", i % 1000)),
        Bytes::from_static(b"temp"),
        Bytes::from((i % 40).to_string()),
        Bytes::from_static(b"state"),
        Bytes::from_static(b"on"),
    ]
}

fn filled(n: u64) -> TestShard {
    let mut t = TestShard::new();
    for i in 0..n {
        t.run_bytes(&xadd_argv(i));
    }
    t
}

fn argv(words: &[&str]) -> Vec<Bytes> {
    words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
}

/// One XREADGROUP COUNT 10 and the XACK of what it returned; false when nothing was left.
fn read_and_ack(t: &mut TestShard, read: &[Bytes]) -> bool {
    let Reply::Array(streams) = t.run_bytes(read) else { return false };
    let Some(Reply::Array(pair)) = streams.into_iter().next() else { return false };
    let Some(Reply::Array(entries)) = pair.into_iter().nth(1) else { return false };
    let mut ack = argv(&["XACK", "s", "g"]);
    for e in entries {
        if let Reply::Array(e) = e {
            if let Some(Reply::Bulk(id)) = e.into_iter().next() {
                ack.push(id);
            }
        }
    }
    black_box(t.run_bytes(&ack));
    true
}

fn bench(c: &mut Criterion) {
    let mut t = TestShard::new();
    let mut i = 0u64;
    c.bench_function("xadd_3_fields", |b| {
        b.iter(|| {
            i += 1;
            black_box(t.run_bytes(&xadd_argv(i)));
        })
    });
    let mut t = filled(100_000);
    let range = argv(&["XRANGE", "s", "1700000000500", "+", "COUNT", "10"]);
    c.bench_function("xrange_count_10", |b| b.iter(|| black_box(t.run_bytes(&range))));
    let mut t = filled(2_000_000);
    t.run(&["XGROUP", "CREATE", "s", "g", "0"]);
    let read = argv(&["XREADGROUP", "GROUP", "g", "c", "COUNT", "10", "STREAMS", "s", ">"]);
    c.bench_function("xreadgroup_10_and_xack", |b| b.iter(|| read_and_ack(&mut t, &read)));
}

fn report() {
    let mut t = TestShard::new();
    let start = Instant::now();
    for i in 0..1_000_000 {
        t.run_bytes(&xadd_argv(i));
    }
    let xadd = start.elapsed();
    println!("1M XADD: {:?} ({:.0} ns each)", xadd, xadd.as_nanos() as f64 / 1e6);
    t.run(&["XGROUP", "CREATE", "s", "g", "0"]);
    let read = argv(&["XREADGROUP", "GROUP", "g", "c", "COUNT", "10", "STREAMS", "s", ">"]);
    let start = Instant::now();
    let mut rounds = 0;
    while rounds < 100_000 && read_and_ack(&mut t, &read) {
        rounds += 1;
    }
    let group = start.elapsed();
    println!(
        "{rounds} XREADGROUP COUNT 10 + XACK rounds: {:?} ({:.0} ns per round)",
        group,
        group.as_nanos() as f64 / rounds as f64
    );
}

fn main() {
    if std::env::args().any(|a| a == "--report") {
        report();
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
