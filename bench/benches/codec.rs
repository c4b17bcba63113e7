//! Micro-benchmarks of the client's per-request work: encoding a request
//! from a template and framing replies.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use mayfly_bench::keys::KeyDistribution;
use mayfly_bench::resp::{parse_reply, Parsed};
use mayfly_bench::workload::{DataSize, Template, Workload};

fn encode(c: &mut Criterion) {
    let templates = vec![
        Template::parse("SET __key__ __data__", 1).expect("template"),
        Template::parse("GET __key__", 10).expect("template"),
    ];
    let workload = Workload::new(
        templates,
        1_000_000,
        "key:",
        KeyDistribution::Zipf(0.99),
        DataSize { min: 32, max: 32 },
        1,
    )
    .expect("workload");
    let mut generator = workload.generator(0, 0);
    let mut out = Vec::with_capacity(4096);
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(64));
    group.bench_function("64 zipf SET/GET requests", |b| {
        b.iter(|| {
            out.clear();
            for _ in 0..64 {
                black_box(workload.encode_next(&mut generator, &mut out));
            }
        })
    });
    group.finish();
}

fn parse(c: &mut Criterion) {
    let mut replies = Vec::new();
    for i in 0..64 {
        match i % 3 {
            0 => replies.extend_from_slice(b"+OK\r\n"),
            1 => replies.extend_from_slice(b"$32\r\nabcdefghijklmnopqrstuvwxyz012345\r\n"),
            _ => replies.extend_from_slice(b"$-1\r\n"),
        }
    }
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(64));
    group.bench_function("64 pipelined replies", |b| {
        b.iter(|| {
            let mut pos = 0;
            while let Ok(Parsed::Reply { len, .. }) = parse_reply(black_box(&replies[pos..])) {
                pos += len;
            }
            pos
        })
    });
    group.finish();
}

criterion_group!(benches, encode, parse);
criterion_main!(benches);
