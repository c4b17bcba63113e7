//! RDB codec throughput: a file of 100k small strings and files of collections, encoded and
//! decoded; CRC-64 and LZF on their own. `cargo bench -p mayfly-persistence`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mayfly_engine::types::hash::{HashLimits, HashValue};
use mayfly_engine::types::list::ListValue;
use mayfly_engine::types::set::SetValue;
use mayfly_engine::types::zset::{Limits as ZLimits, ZSetValue};
use mayfly_engine::value::{StrValue, Value};
use mayfly_persistence::{
    crc64::crc64, decode_file, lzf, AuxFields, DecodeOptions, EncodeOptions, Encoder, KeyMeta,
};

fn file_of(keys: &[(Vec<u8>, Value)]) -> Vec<u8> {
    let mut enc = Encoder::new(Vec::with_capacity(1 << 20), EncodeOptions::default());
    enc.write_aux_fields(&AuxFields::snapshot(1_700_000_000, 1 << 20)).unwrap();
    enc.select_db(0, keys.len() as u64, 0).unwrap();
    for (k, v) in keys {
        enc.write_key(k, v, &KeyMeta::default()).unwrap();
    }
    enc.finish().unwrap()
}

fn small_strings() -> Vec<(Vec<u8>, Value)> {
    (0..100_000)
        .map(|i| {
            let v = if i % 4 == 0 { i.to_string() } else { format!("value:{i:08}:payload") };
            (format!("key:{i:08}").into_bytes(), Value::Str(StrValue::from_bytes(v.as_bytes())))
        })
        .collect()
}

fn collections() -> Vec<(Vec<u8>, Value)> {
    let mut out = Vec::new();
    let hl = HashLimits { max_entries: 512, max_value: 64 };
    let zl = ZLimits { max_listpack_entries: 128, max_listpack_value: 64 };
    for k in 0..100 {
        let mut small = HashValue::new();
        let mut big = HashValue::new();
        for i in 0..600 {
            let (f, v) = (format!("field:{i}"), format!("value:{i}:{k}"));
            if i < 20 {
                small.set(f.as_bytes(), v.as_bytes(), hl);
            }
            big.set(f.as_bytes(), v.as_bytes(), hl);
        }
        out.push((format!("hash:small:{k}").into_bytes(), Value::Hash(Box::new(small))));
        out.push((format!("hash:big:{k}").into_bytes(), Value::Hash(Box::new(big))));
        let mut list = ListValue::new();
        let mut set = SetValue::new_intset();
        let mut zsmall = ZSetValue::new();
        let mut zbig = ZSetValue::new();
        for i in 0..1000 {
            list.push_back(format!("element:{i}").as_bytes(), -2);
            set.insert(i.to_string().as_bytes(), 512);
            if i < 100 {
                zsmall.upsert(format!("m{i}").as_bytes(), i as f64 * 0.5, zl);
            }
            if i < 300 {
                zbig.upsert(format!("member:{i}").as_bytes(), i as f64 / 7.0, zl);
            }
        }
        out.push((format!("list:{k}").into_bytes(), Value::List(Box::new(list))));
        out.push((format!("set:{k}").into_bytes(), Value::Set(Box::new(set))));
        out.push((format!("zset:small:{k}").into_bytes(), Value::ZSet(Box::new(zsmall))));
        out.push((format!("zset:big:{k}").into_bytes(), Value::ZSet(Box::new(zbig))));
    }
    out
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("rdb");
    g.sample_size(10);
    for (name, keys) in
        [("100k-small-strings", small_strings()), ("600-collections", collections())]
    {
        let file = file_of(&keys);
        g.throughput(Throughput::Bytes(file.len() as u64));
        g.bench_with_input(BenchmarkId::new("encode", name), &keys, |b, keys| {
            b.iter(|| black_box(file_of(keys)))
        });
        g.bench_with_input(BenchmarkId::new("decode", name), &file, |b, file| {
            b.iter(|| black_box(decode_file(file, DecodeOptions::default()).unwrap()))
        });
    }
    g.finish();
}

fn primitives(c: &mut Criterion) {
    let mut g = c.benchmark_group("primitives");
    let data: Vec<u8> =
        (0..(4u32 << 20)).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8).collect();
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("crc64-4MiB", |b| b.iter(|| black_box(crc64(&data))));
    let text: Vec<u8> = b"the quick brown fox jumps over the lazy dog 0123456789 "
        .iter()
        .cycle()
        .take(1 << 20)
        .copied()
        .collect();
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("lzf-compress-1MiB-text", |b| {
        b.iter(|| black_box(lzf::compress(&text, text.len() - 4)))
    });
    let packed = lzf::compress(&text, text.len()).unwrap();
    g.bench_function("lzf-decompress-1MiB-text", |b| {
        b.iter(|| black_box(lzf::decompress(&packed, text.len())))
    });
    g.finish();
}

criterion_group!(benches, codec, primitives);
criterion_main!(benches);
