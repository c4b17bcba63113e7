//! RESP codec on the request hot path: parse a pipeline of 16 `SET key:NNN value` commands
//! and encode 16 typical replies, in RESP2 and RESP3.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mayfly_engine::reply::Reply;
use mayfly_resp::{encode, parse_request, to_args, Limits, Parsed, RequestParser};

const PIPELINE_DEPTH: usize = 16;

fn pipeline() -> Vec<u8> {
    let mut buf = Vec::new();
    for i in 0..PIPELINE_DEPTH {
        let key = format!("key:{i:03}");
        let value = "value";
        buf.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
                key.len(),
                value.len()
            )
            .as_bytes(),
        );
    }
    buf
}

fn parse_all(buf: &[u8], parser: &mut RequestParser, limits: &Limits) -> usize {
    let mut offset = 0;
    let mut args_total = 0;
    while offset < buf.len() {
        match parser.parse(&buf[offset..], limits) {
            Ok(Parsed::Request { args, consumed }) => {
                args_total += args.len();
                offset += consumed;
            }
            Ok(Parsed::Empty { consumed }) => offset += consumed,
            Ok(Parsed::Incomplete { .. }) | Err(_) => break,
        }
    }
    args_total
}

fn bench_parse(c: &mut Criterion) {
    let buf = pipeline();
    let limits = Limits::default();
    let mut group = c.benchmark_group("resp_parse");
    group.throughput(Throughput::Elements(PIPELINE_DEPTH as u64));
    group.bench_function("pipeline16_set", |b| {
        let mut parser = RequestParser::new();
        b.iter(|| parse_all(black_box(&buf), &mut parser, &limits))
    });
    let shared = Bytes::from(buf.clone());
    group.bench_function("pipeline16_set_to_args", |b| {
        b.iter(|| {
            let mut offset = 0;
            let mut total = 0;
            while let Ok(Parsed::Request { args, consumed }) =
                parse_request(&shared[offset..], &limits)
            {
                let request = shared.slice(offset..offset + consumed);
                total += to_args(&request, &args).len();
                offset += consumed;
            }
            black_box(total)
        })
    });
    let inline: Vec<u8> = (0..PIPELINE_DEPTH)
        .flat_map(|i| format!("SET key:{i:03} value\r\n").into_bytes())
        .collect();
    group.bench_function("pipeline16_set_inline", |b| {
        let mut parser = RequestParser::new();
        b.iter(|| parse_all(black_box(&inline), &mut parser, &limits))
    });
    group.finish();
}

fn replies() -> Vec<Reply> {
    let mut replies = Vec::with_capacity(PIPELINE_DEPTH);
    for i in 0..PIPELINE_DEPTH {
        replies.push(match i % 4 {
            0 => Reply::ok(),
            1 => Reply::bulk(Bytes::from_static(b"value")),
            2 => Reply::Int(i as i64 * 1000),
            _ => Reply::Array(vec![Reply::bulk_str("member"), Reply::Double(0.1 * i as f64)]),
        });
    }
    replies
}

fn bench_encode(c: &mut Criterion) {
    let replies = replies();
    let mut group = c.benchmark_group("resp_encode");
    group.throughput(Throughput::Elements(PIPELINE_DEPTH as u64));
    for resp3 in [false, true] {
        let name = if resp3 { "replies16_resp3" } else { "replies16_resp2" };
        group.bench_function(name, |b| {
            let mut out = Vec::with_capacity(4096);
            b.iter(|| {
                out.clear();
                for reply in &replies {
                    encode(black_box(reply), resp3, &mut out);
                }
                black_box(out.len())
            })
        });
    }
    let set_replies: Vec<Reply> = (0..PIPELINE_DEPTH).map(|_| Reply::ok()).collect();
    group.bench_function("ok16", |b| {
        let mut out = Vec::with_capacity(4096);
        b.iter(|| {
            out.clear();
            for reply in &set_replies {
                encode(black_box(reply), false, &mut out);
            }
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_parse, bench_encode);
criterion_main!(benches);
