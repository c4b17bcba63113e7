//! Benchmarks of the segmented keyspace table, against a single `hashbrown::HashTable` with the
//! same keyed SipHash.
//!
//! `cargo bench -p mayfly-engine --bench table` runs the criterion benchmarks (insert 1M, get
//! hit/miss, remove, full scan, random). `cargo bench -p mayfly-engine --bench table -- --report`
//! instead prints the numbers criterion cannot give: heap bytes per key at 1M keys (from a
//! counting global allocator) for several segment capacities, the cost of one scan call, and the
//! worst single-insert latency while growing to 8M keys, where the plain table's whole-table
//! rehash shows up as one long pause.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};
use mayfly_engine::table::{Key, Table, DEFAULT_SEGMENT_CAPACITY};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use siphasher::sip::SipHasher13;
use std::hash::Hasher;

/// Counts live heap bytes (as requested; jemalloc size classes would round small keys up).
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc`/`realloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const K0: u64 = 0x0706_0504_0302_0100;
const K1: u64 = 0x0f0e_0d0c_0b0a_0908;
const N: usize = 1_000_000;

/// redis-benchmark style keys: 16 bytes.
fn key(i: usize) -> Key {
    format!("key:{i:012}").into_bytes().into_boxed_slice()
}

fn sip(key: &[u8]) -> u64 {
    let mut h = SipHasher13::new_with_keys(K0, K1);
    h.write(key);
    h.finish()
}

/// The baseline: one hashbrown table that doubles and rehashes everything when full.
struct Plain<V>(hashbrown::HashTable<(Key, V)>);

impl<V> Plain<V> {
    fn insert(&mut self, key: Key, value: V) -> Option<V> {
        let h = sip(&key);
        match self.0.entry(h, |(k, _)| *k == key, |(k, _)| sip(k)) {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                Some(std::mem::replace(&mut o.get_mut().1, value))
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert((key, value));
                None
            }
        }
    }

    fn get(&self, key: &[u8]) -> Option<&V> {
        self.0.find(sip(key), |(k, _)| **k == *key).map(|(_, v)| v)
    }
}

fn filled(n: usize) -> Table<u64> {
    let mut t = Table::with_keys(K0, K1);
    for i in 0..n {
        t.insert(key(i), i as u64);
    }
    t
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("table");
    g.sample_size(10).warm_up_time(Duration::from_secs(1));
    g.bench_function("insert_1m", |b| {
        b.iter_batched(
            || (0..N).map(key).collect::<Vec<_>>(),
            |keys| {
                let mut t = Table::with_keys(K0, K1);
                for (i, k) in keys.into_iter().enumerate() {
                    t.insert(k, i as u64);
                }
                t
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("plain_hashbrown_insert_1m", |b| {
        b.iter_batched(
            || (0..N).map(key).collect::<Vec<_>>(),
            |keys| {
                let mut t = Plain(hashbrown::HashTable::new());
                for (i, k) in keys.into_iter().enumerate() {
                    t.insert(k, i as u64);
                }
                t
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("remove_1m", |b| {
        b.iter_batched(
            || (filled(N), (0..N).map(key).collect::<Vec<_>>()),
            |(mut t, keys)| {
                for k in &keys {
                    black_box(t.remove(k));
                }
                (t, keys)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("scan_full_1m_count_100", |b| {
        let t = filled(N);
        b.iter(|| {
            let mut cursor = 0;
            let mut n = 0usize;
            loop {
                cursor = t.scan(cursor, 100, |_, _| n += 1);
                if cursor == 0 {
                    break n;
                }
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("table_1m");
    g.sample_size(30);
    let t = filled(N);
    let mut plain = Plain(hashbrown::HashTable::new());
    for i in 0..N {
        plain.insert(key(i), i as u64);
    }
    let mut rng = SmallRng::seed_from_u64(9);
    let hits: Vec<Key> = (0..4096).map(|_| key(rng.gen_range(0..N))).collect();
    let misses: Vec<Key> = (0..4096).map(|_| key(N + rng.gen_range(0..N))).collect();
    let mut i = 0;
    g.bench_function("get_hit", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(t.get(&hits[i]))
        })
    });
    g.bench_function("get_miss", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(t.get(&misses[i]))
        })
    });
    g.bench_function("plain_hashbrown_get_hit", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(plain.get(&hits[i]))
        })
    });
    g.bench_function("scan_call_count_10", |b| {
        let mut cursor = 0;
        b.iter(|| {
            cursor = t.scan(cursor, 10, |k, _| {
                black_box(k);
            })
        })
    });
    g.bench_function("random", |b| b.iter(|| black_box(t.random(&mut rng))));
    g.finish();
}

/// Live heap bytes per key of a table holding `n` keys built by `build`.
fn bytes_per_key<T>(n: usize, build: impl FnOnce() -> T) -> (f64, T) {
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let t = build();
    let after = LIVE_BYTES.load(Ordering::Relaxed);
    ((after - before) as f64 / n as f64, t)
}

fn memory_report() {
    println!("## Heap bytes per key, keys of 16 bytes (the key allocation is 16 B of the total)");
    println!(
        "| table | keys | V | bytes/key total | table structure bytes/key | segments | depth |"
    );
    println!("|---|---|---|---|---|---|---|");
    // 1M sits just after the segments' (and hashbrown's) doubling, 1.8M just before the next.
    for n in [N, 1_400_000, 1_800_000] {
        for cap in [448, 896, 1792, 3584] {
            let (per_key, t) = bytes_per_key(n, || {
                let mut t = Table::with_segment_capacity(K0, K1, cap);
                for i in 0..n {
                    t.insert(key(i), i as u64);
                }
                t
            });
            println!(
                "| segmented cap {cap} | {n} | u64 | {per_key:.1} | {:.1} | {} | {} |",
                t.capacity_bytes() as f64 / n as f64,
                t.segment_count(),
                t.global_depth()
            );
        }
        let (per_key, t) = bytes_per_key(n, || {
            let mut t = Plain(hashbrown::HashTable::new());
            for i in 0..n {
                t.insert(key(i), i as u64);
            }
            t
        });
        println!(
            "| plain hashbrown | {n} | u64 | {per_key:.1} | {:.1} | - | - |",
            t.0.allocation_size() as f64 / n as f64
        );
    }
    let entry_bytes = std::mem::size_of::<mayfly_engine::db::Entry>();
    for n in [N, 1_800_000] {
        let (per_key, t) = bytes_per_key(n, || {
            let mut t = Table::with_segment_capacity(K0, K1, DEFAULT_SEGMENT_CAPACITY);
            for i in 0..n {
                t.insert(key(i), [i as u64; 5]);
            }
            t
        });
        println!(
            "| segmented cap {DEFAULT_SEGMENT_CAPACITY} | {n} | 40 B (db::Entry is {entry_bytes} B) \
             | {per_key:.1} | {:.1} | {} | {} |",
            t.capacity_bytes() as f64 / n as f64,
            t.segment_count(),
            t.global_depth()
        );
    }
}

/// CPU time of this thread in ns (excludes time spent preempted on a loaded machine).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|f| f.parse().ok()))
        .unwrap_or(0)
}

fn build_report() {
    println!("\n## Building a 1M-key table: thread CPU ms (median of 3, wall clock ignored)");
    println!("| table | insert 1M | get 1M hits | remove 1M |");
    println!("|---|---|---|---|");
    let keys: Vec<Key> = (0..N).map(key).collect();
    let median = |mut v: Vec<u64>| {
        v.sort_unstable();
        v[v.len() / 2] as f64 / 1e6
    };
    for cap in [0, 448, 896, 1792] {
        let (mut ins, mut get, mut rem) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..3 {
            let batch = keys.clone();
            if cap == 0 {
                let t0 = thread_cpu_ns();
                let mut p = Plain(hashbrown::HashTable::new());
                for (i, k) in batch.into_iter().enumerate() {
                    p.insert(k, i as u64);
                }
                ins.push(thread_cpu_ns() - t0);
                let t0 = thread_cpu_ns();
                for k in &keys {
                    black_box(p.get(k));
                }
                get.push(thread_cpu_ns() - t0);
                let t0 = thread_cpu_ns();
                for k in &keys {
                    let h = sip(k);
                    if let Ok(e) = p.0.find_entry(h, |(x, _)| x == k) {
                        black_box(e.remove());
                    }
                }
                rem.push(thread_cpu_ns() - t0);
            } else {
                let t0 = thread_cpu_ns();
                let mut t = Table::with_segment_capacity(K0, K1, cap);
                for (i, k) in batch.into_iter().enumerate() {
                    t.insert(k, i as u64);
                }
                ins.push(thread_cpu_ns() - t0);
                let t0 = thread_cpu_ns();
                for k in &keys {
                    black_box(t.get(k));
                }
                get.push(thread_cpu_ns() - t0);
                let t0 = thread_cpu_ns();
                for k in &keys {
                    black_box(t.remove(k));
                }
                rem.push(thread_cpu_ns() - t0);
            }
        }
        let name =
            if cap == 0 { "plain hashbrown".to_string() } else { format!("segmented cap {cap}") };
        println!("| {name} | {:.0} | {:.0} | {:.0} |", median(ins), median(get), median(rem));
    }
}

fn scan_report() {
    println!("\n## One scan call on 1M keys (default capacity {DEFAULT_SEGMENT_CAPACITY})");
    println!(
        "| COUNT | calls for a full scan | mean CPU µs/call | max wall µs/call | keys visited |"
    );
    println!("|---|---|---|---|---|");
    let t = filled(N);
    // Reference: the floor of any scan is hashing every key once.
    let start_cpu_ns = thread_cpu_ns();
    let mut sum = 0u64;
    for (k, _) in t.iter() {
        sum = sum.wrapping_add(t.hash(k));
    }
    black_box(sum);
    println!(
        "| (iterate + hash all, reference) | 1 | {:.1} | - | {N} |",
        (thread_cpu_ns() - start_cpu_ns) as f64 / 1e3
    );
    for count in [10, 100, 1000] {
        let mut cursor = 0;
        let mut calls = 0u64;
        let mut visited = 0usize;
        let mut worst = Duration::ZERO;
        let start_cpu_ns = thread_cpu_ns();
        loop {
            let call = Instant::now();
            cursor = t.scan(cursor, count, |_, _| visited += 1);
            worst = worst.max(call.elapsed());
            calls += 1;
            if cursor == 0 {
                break;
            }
        }
        let mean_us = (thread_cpu_ns() - start_cpu_ns) as f64 / 1e3 / calls as f64;
        println!(
            "| {count} | {calls} | {mean_us:.1} | {:.0} | {visited} |",
            worst.as_secs_f64() * 1e6
        );
    }
}

/// Latencies (ns) of `n` single inserts, split by whether the insert restructured the table
/// (a segment split, or a whole-table resize for the plain table).
struct Latencies {
    plain_ns: Vec<u64>,
    restructuring_ns: Vec<u64>,
    worst: Vec<(u64, usize)>,
    total_s: f64,
}

/// `insert` returns whether it restructured the table.
fn insert_latencies(n: usize, mut insert: impl FnMut(Key, u64) -> bool) -> Latencies {
    let mut out = Latencies {
        plain_ns: Vec::with_capacity(n),
        restructuring_ns: Vec::new(),
        worst: Vec::new(),
        total_s: 0.0,
    };
    let total = Instant::now();
    for i in 0..n {
        let k = key(i);
        let t0 = Instant::now();
        let restructured = insert(k, i as u64);
        let ns = t0.elapsed().as_nanos() as u64;
        if restructured {
            out.restructuring_ns.push(ns);
        } else {
            out.plain_ns.push(ns);
        }
        if out.worst.len() < 3 || ns > out.worst[2].0 {
            out.worst.push((ns, i));
            out.worst.sort_unstable_by(|a, b| b.cmp(a));
            out.worst.truncate(3);
        }
    }
    out.total_s = total.elapsed().as_secs_f64();
    out.plain_ns.sort_unstable();
    out.restructuring_ns.sort_unstable();
    out
}

fn quantile_us(sorted_ns: &[u64], q: f64) -> f64 {
    if sorted_ns.is_empty() {
        return 0.0;
    }
    sorted_ns[((sorted_ns.len() - 1) as f64 * q) as usize] as f64 / 1e3
}

fn latency_report() {
    const BIG: usize = 8_000_000;
    println!("\n## Single-insert latency while growing to {BIG} keys");
    println!(
        "Restructuring inserts are those that split a segment (segmented) or resized the whole \
         table (plain). On a shared, loaded machine the overall max includes preemption; the \
         restructuring medians are the robust numbers."
    );
    println!(
        "| table | total s | other inserts p50 / p99.9 µs | restructuring inserts | their p50 / \
         p99 / max µs | 3 worst overall (µs @ keys) |"
    );
    println!("|---|---|---|---|---|---|");
    let row = |name: &str, l: Latencies| {
        let worst: Vec<String> =
            l.worst.iter().map(|(ns, at)| format!("{:.0}@{at}", *ns as f64 / 1e3)).collect();
        println!(
            "| {name} | {:.2} | {:.2} / {:.2} | {} | {:.0} / {:.0} / {:.0} | {} |",
            l.total_s,
            quantile_us(&l.plain_ns, 0.5),
            quantile_us(&l.plain_ns, 0.999),
            l.restructuring_ns.len(),
            quantile_us(&l.restructuring_ns, 0.5),
            quantile_us(&l.restructuring_ns, 0.99),
            quantile_us(&l.restructuring_ns, 1.0),
            worst.join(", ")
        );
    };
    // `--caps=896,448` picks the segment capacities (default below).
    let caps: Vec<usize> = std::env::args()
        .find_map(|a| a.strip_prefix("--caps=").map(str::to_owned))
        .map(|list| list.split(',').filter_map(|c| c.parse().ok()).collect())
        .unwrap_or_else(|| vec![896, 448, 1792]);
    // Alternate the tables so machine noise hits both alike.
    for cap in caps {
        let mut p = Plain(hashbrown::HashTable::new());
        let l = insert_latencies(BIG, |k, v| {
            let buckets = p.0.allocation_size();
            p.insert(k, v);
            p.0.allocation_size() != buckets
        });
        row("plain hashbrown", l);
        drop(p);
        let mut t = Table::with_segment_capacity(K0, K1, cap);
        let l = insert_latencies(BIG, |k, v| {
            let segments = t.segment_count();
            t.insert(k, v);
            t.segment_count() != segments
        });
        row(&format!("segmented cap {cap}"), l);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let wants =
        |part: &str| args.iter().any(|a| a == "--report" || *a == format!("--report-{part}"));
    if args.iter().any(|a| a.starts_with("--report")) {
        if wants("memory") {
            memory_report();
        }
        if wants("build") {
            build_report();
        }
        if wants("scan") {
            scan_report();
        }
        if wants("latency") {
            latency_report();
        }
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
