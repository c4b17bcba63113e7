//! GEOSEARCH BYRADIUS over a 1M-member set: Mayfly's engine against redis-server 7.0.
//!
//! `cargo bench -p mayfly-engine --bench geo` times the engine executing the command
//! in-process (criterion), for a fixed set of 1000 random centres, cycled. `cargo bench -p
//! mayfly-engine --bench geo -- --report` instead runs the same queries on both: the engine,
//! timed around `Shard::execute`, and a private redis-server loaded with the same members,
//! whose own `INFO commandstats` `usec_per_call` times command execution without the network
//! (the same span). Positions: uniform longitude, latitude in ±70° (Redis's geo tests' range).

#[path = "../tests/support/redis_oracle.rs"]
mod redis_oracle;

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use criterion::Criterion;
use mayfly_engine::reply::Reply;
use mayfly_engine::testing::TestShard;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const MEMBERS: usize = 1_000_000;
const QUERIES: usize = 1000;

fn b(s: String) -> Bytes {
    Bytes::from(s)
}

/// GEOADD commands of 1000 members each, seeded.
fn load_commands() -> Vec<Vec<Bytes>> {
    let mut rng = SmallRng::seed_from_u64(7);
    (0..MEMBERS / 1000)
        .map(|chunk| {
            let mut argv = vec![Bytes::from_static(b"GEOADD"), Bytes::from_static(b"g")];
            for j in 0..1000 {
                let lon: f64 = rng.gen_range(-180.0..180.0);
                let lat: f64 = rng.gen_range(-70.0..70.0);
                argv.extend([
                    b(format!("{lon}")),
                    b(format!("{lat}")),
                    b(format!("p{}", chunk * 1000 + j)),
                ]);
            }
            argv
        })
        .collect()
}

/// GEOSEARCH around random centres; `extra` appends options.
fn queries(radius_km: u32, extra: &[&str]) -> Vec<Vec<Bytes>> {
    let mut rng = SmallRng::seed_from_u64(11);
    (0..QUERIES)
        .map(|_| {
            let lon: f64 = rng.gen_range(-180.0..180.0);
            let lat: f64 = rng.gen_range(-70.0..70.0);
            let mut argv: Vec<Bytes> =
                [&b"GEOSEARCH"[..], b"g", b"FROMLONLAT"].map(Bytes::from_static).to_vec();
            argv.extend([
                b(format!("{lon}")),
                b(format!("{lat}")),
                Bytes::from_static(b"BYRADIUS"),
            ]);
            argv.extend([b(radius_km.to_string()), Bytes::from_static(b"km")]);
            argv.extend(extra.iter().map(|e| Bytes::copy_from_slice(e.as_bytes())));
            argv
        })
        .collect()
}

fn loaded_shard() -> TestShard {
    let mut t = TestShard::new();
    for argv in load_commands() {
        assert_eq!(t.run_bytes(&argv), Reply::Int(1000));
    }
    t
}

/// Mean results per query, so the report says what a query returns.
fn mean_results(t: &mut TestShard, qs: &[Vec<Bytes>]) -> f64 {
    let total: usize = qs
        .iter()
        .map(|q| match t.run_bytes(q) {
            Reply::Array(items) => items.len(),
            other => panic!("{other:?}"),
        })
        .sum();
    total as f64 / qs.len() as f64
}

const CASES: &[(u32, &[&str], &str)] = &[
    (100, &[], "radius 100 km"),
    (500, &[], "radius 500 km"),
    (500, &["COUNT", "10"], "radius 500 km COUNT 10"),
    (500, &["WITHDIST", "WITHCOORD", "ASC"], "radius 500 km WITHDIST WITHCOORD ASC"),
];

fn report() {
    let mut t = loaded_shard();
    let oracle = redis_oracle::RedisOracle::start();
    let mut oracle = oracle.map(|mut o| {
        for argv in load_commands() {
            assert_eq!(o.run_bytes(&argv), Reply::Int(1000));
        }
        o
    });
    println!("GEOSEARCH over {MEMBERS} members, {QUERIES} centres, each run 5 times:");
    for (radius, extra, name) in CASES {
        let qs = queries(*radius, extra);
        let results = mean_results(&mut t, &qs);
        let start = Instant::now();
        for _ in 0..5 {
            for q in &qs {
                black_box(t.run_bytes(q));
            }
        }
        let mayfly_us = start.elapsed().as_secs_f64() * 1e6 / (5 * qs.len()) as f64;
        let redis_us = oracle.as_mut().map(|o| {
            o.run(&["CONFIG", "RESETSTAT"]);
            for _ in 0..5 {
                for q in &qs {
                    black_box(o.run_bytes(q));
                }
            }
            usec_per_call(&o.run(&["INFO", "commandstats"]))
        });
        match redis_us {
            Some(r) => println!(
                "  {name:40} {results:8.1} results  mayfly {mayfly_us:8.2} us  redis {r:8.2} us  \
                 ({:.2}x)",
                r / mayfly_us
            ),
            None => println!("  {name:40} {results:8.1} results  mayfly {mayfly_us:8.2} us"),
        }
    }
}

fn usec_per_call(info: &Reply) -> f64 {
    let Reply::Bulk(text) = info else { panic!("{info:?}") };
    let text = String::from_utf8_lossy(text);
    let line = text.lines().find(|l| l.starts_with("cmdstat_geosearch:")).expect("geosearch stats");
    let field = line.split(',').find_map(|f| f.strip_prefix("usec_per_call=")).expect("field");
    field.parse().expect("number")
}

fn bench(c: &mut Criterion) {
    let mut t = loaded_shard();
    for (radius, extra, name) in CASES {
        let qs = queries(*radius, extra);
        let mut i = 0;
        c.bench_function(&format!("geosearch 1M {name}"), |bench| {
            bench.iter(|| {
                i = (i + 1) % qs.len();
                black_box(t.run_bytes(&qs[i]))
            })
        });
    }
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
