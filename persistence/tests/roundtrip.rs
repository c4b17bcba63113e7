//! Round trips: random values of every type and size survive DUMP → RESTORE and a whole file
//! (encoder → decoder) unchanged, with the same in-memory encoding; encoding what was decoded
//! gives the same bytes again; and fixtures re-encoded as whole files are byte for byte the
//! files redis-server wrote.

mod support;

use bytes::Bytes;
use mayfly_engine::types::hash::{HashLimits, HashValue};
use mayfly_engine::types::list::ListValue;
use mayfly_engine::types::set::SetValue;
use mayfly_engine::types::zset::{Limits as ZLimits, ZSetValue};
use mayfly_engine::value::{StrValue, Value};
use mayfly_persistence::{
    decode_file, dump, restore, AuxFields, Consumer, ConsumerGroup, DecodeOptions, Decoder,
    EncodeOptions, Encoder, EncodingLimits, Item, KeyMeta, KeyUsage, PendingEntry, RdbValue,
    StreamData, StreamEntry, StreamId, ValueRef,
};
use proptest::prelude::*;
use support::*;

const HASH_LIMITS: HashLimits = HashLimits { max_entries: 512, max_value: 64 };
const ZSET_LIMITS: ZLimits = ZLimits { max_listpack_entries: 128, max_listpack_value: 64 };

fn element() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..24),
        2 => any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        1 => (0u8..4, 20usize..300).prop_map(|(b, n)| vec![b'a' + b; n]),
        1 => proptest::collection::vec(any::<u8>(), 60..120),
    ]
}

fn string_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        element().prop_map(|b| Value::Str(StrValue::from_bytes(&b))),
        element().prop_map(|b| Value::Str(StrValue::raw(&b))),
        (0u8..3, 1000usize..70_000).prop_map(|(b, n)| Value::Str(StrValue::from_vec(vec![b; n]))),
    ]
}

fn list_value() -> impl Strategy<Value = Value> {
    (
        proptest::collection::vec(element(), 1..400),
        prop_oneof![Just(-2i64), Just(-1), Just(4), Just(1)],
    )
        .prop_map(|(items, fill)| {
            let mut l = ListValue::new();
            for i in &items {
                l.push_back(i, fill);
            }
            Value::List(Box::new(l))
        })
}

fn hash_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        proptest::collection::vec((element(), element()), 1..40),
        proptest::collection::vec((element(), element()), 500..620),
    ]
    .prop_map(|pairs| {
        let mut h = HashValue::new();
        for (f, v) in &pairs {
            h.set(f, v, HASH_LIMITS);
        }
        Value::Hash(Box::new(h))
    })
}

fn set_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        proptest::collection::vec(any::<i64>().prop_map(|n| n.to_string().into_bytes()), 1..600),
        proptest::collection::vec(any::<i16>().prop_map(|n| n.to_string().into_bytes()), 1..50),
        proptest::collection::vec(element(), 1..100),
    ]
    .prop_map(|members| {
        let mut s = SetValue::new_for(&members[0]);
        for m in &members {
            s.insert(m, 512);
        }
        Value::Set(Box::new(s))
    })
}

fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => (-1000i64..1000).prop_map(|n| n as f64),
        4 => any::<f64>().prop_filter("no NaN", |f| !f.is_nan()),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
        1 => Just(0.1),
    ]
}

fn zset_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        proptest::collection::vec((element(), score()), 1..40),
        proptest::collection::vec((element(), score()), 120..220),
    ]
    .prop_map(|entries| {
        let mut z = ZSetValue::new();
        for (m, s) in &entries {
            z.upsert(m, *s, ZSET_LIMITS);
        }
        Value::ZSet(Box::new(z))
    })
}

fn stream_value() -> impl Strategy<Value = StreamData> {
    let entry_fields = proptest::collection::vec((element(), element()), 0..4);
    (
        proptest::collection::vec((1u64..5, 0u64..3, entry_fields), 0..60),
        proptest::collection::vec((element(), 0usize..4, any::<bool>()), 0..3),
        any::<i64>(),
    )
        .prop_map(|(steps, groups, time)| {
            let mut id = StreamId::new(1_700_000_000_000, 0);
            let mut entries = Vec::new();
            for (dms, dseq, fields) in steps {
                id = StreamId::new(id.ms + dms, if dms == 0 { id.seq + 1 + dseq } else { dseq });
                let fields =
                    fields.into_iter().map(|(f, v)| (Bytes::from(f), Bytes::from(v))).collect();
                entries.push(StreamEntry { id, fields });
            }
            let mut seen = std::collections::HashSet::new();
            let groups: Vec<ConsumerGroup> = groups
                .into_iter()
                .filter(|(name, _, _)| seen.insert(name.clone()))
                .map(|(name, consumers, read_known)| {
                    // Each consumer owns every consumers-th entry, starting at its index.
                    let mut pel = Vec::new();
                    let mut cons = Vec::new();
                    for c in 0..consumers {
                        let cname = Bytes::from(format!("consumer-{c}"));
                        let pending: Vec<StreamId> =
                            entries.iter().skip(c).step_by(consumers).map(|e| e.id).collect();
                        for &pid in &pending {
                            pel.push(PendingEntry {
                                id: pid,
                                delivery_time_ms: time,
                                delivery_count: c as u64 + 1,
                                consumer: Some(cname.clone()),
                            });
                        }
                        cons.push(Consumer { name: cname, seen_time_ms: time / 2, pending });
                    }
                    pel.sort_by_key(|p| p.id);
                    ConsumerGroup {
                        name: Bytes::from(name),
                        last_id: entries.last().map_or(StreamId::default(), |e| e.id),
                        entries_read: if read_known { entries.len() as i64 } else { -1 },
                        pel,
                        consumers: cons,
                    }
                })
                .collect();
            let mut groups = groups;
            groups.sort_by(|a, b| a.name.cmp(&b.name));
            StreamData {
                length: entries.len() as u64,
                last_id: entries.last().map_or(StreamId::new(5, 5), |e| e.id),
                first_id: entries.first().map_or(StreamId::default(), |e| e.id),
                max_deleted_entry_id: StreamId::new(3, 0),
                entries_added: entries.len() as u64 + 2,
                entries,
                groups,
            }
        })
}

fn any_value() -> impl Strategy<Value = RdbValue> {
    prop_oneof![
        string_value().prop_map(RdbValue::Value),
        list_value().prop_map(RdbValue::Value),
        hash_value().prop_map(RdbValue::Value),
        set_value().prop_map(RdbValue::Value),
        zset_value().prop_map(RdbValue::Value),
        stream_value().prop_map(|s| RdbValue::Stream(Box::new(s))),
    ]
}

fn encoding(v: &RdbValue) -> &'static str {
    match v {
        RdbValue::Value(v) => v.encoding(),
        RdbValue::Stream(_) => "stream",
    }
}

/// The same value: same type, contents and encoding (list node layout included).
fn assert_same(a: &RdbValue, b: &RdbValue) {
    assert_eq!(value_json(a), value_json(b));
    match a {
        // Loading re-encodes strings as Redis's tryObjectEncoding does: a raw "123" (an APPEND
        // result) comes back as an int.
        RdbValue::Value(Value::Str(s)) => {
            assert_eq!(StrValue::from_bytes(&s.to_vec()).encoding(), encoding(b))
        }
        _ => assert_eq!(encoding(a), encoding(b)),
    }
    if let (RdbValue::Value(Value::List(x)), RdbValue::Value(Value::List(y))) = (a, b) {
        let nodes = |l: &ListValue| l.nodes().map(|n| n.raw().1.to_vec()).collect::<Vec<_>>();
        assert_eq!(nodes(x), nodes(y));
    }
    if let (RdbValue::Stream(x), RdbValue::Stream(y)) = (a, b) {
        assert_eq!(x, y);
    }
}

/// Whether encoding is deterministic for this value (hashtables iterate in table order).
fn deterministic(v: &RdbValue) -> bool {
    !matches!(encoding(v), "hashtable")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn dump_restore_round_trips(v in any_value(), compression in any::<bool>()) {
        let opts = EncodeOptions { compression, ..EncodeOptions::default() };
        let payload = dump(ValueRef::from(&v), &opts);
        let back = restore(&payload, true, &EncodingLimits::default()).expect("restores");
        assert_same(&v, &back);
        // Encoding what was decoded is stable.
        let again = dump(ValueRef::from(&back), &opts);
        if deterministic(&v) {
            prop_assert_eq!(&again, &payload);
        }
        let twice = restore(&again, true, &EncodingLimits::default()).expect("restores");
        assert_same(&back, &twice);
    }

    #[test]
    fn files_round_trip(
        keys in proptest::collection::vec(
            (0u32..16, element(), any_value(), proptest::option::of(any::<i64>()), 0u8..3),
            0..12,
        ),
        compression in any::<bool>(),
        checksum in any::<bool>(),
    ) {
        // One entry per (db, key), grouped by db as a keyspace iteration gives them.
        let mut by_db: std::collections::BTreeMap<u32, Vec<(Vec<u8>, RdbValue, KeyMeta)>> =
            Default::default();
        for (db, key, value, expire_ms, usage) in keys {
            let entries = by_db.entry(db).or_default();
            if entries.iter().any(|(k, _, _)| *k == key) {
                continue;
            }
            let usage = match usage {
                0 => KeyUsage::None,
                1 => KeyUsage::IdleSeconds(key.len() as u64 * 1000),
                _ => KeyUsage::Freq(key.len() as u8),
            };
            entries.push((key, value, KeyMeta { expire_ms, usage }));
        }
        let opts = EncodeOptions { compression, checksum, ..EncodeOptions::default() };
        let mut enc = Encoder::new(Vec::new(), opts);
        enc.write_aux_fields(&AuxFields::snapshot(1_795_238_550, 2_100_504)).unwrap();
        enc.write_function(b"#!lua name=lib\nredis.register_function('f', function() return 1 end)").unwrap();
        for (db, entries) in &by_db {
            let expires = entries.iter().filter(|e| e.2.expire_ms.is_some()).count() as u64;
            enc.select_db(*db, entries.len() as u64, expires).unwrap();
            for (key, value, meta) in entries {
                enc.write_key(key, value, meta).unwrap();
            }
        }
        let bytes = enc.finish().unwrap();
        let file = decode_file(&bytes, DecodeOptions { deep_sanitize: true, ..DecodeOptions::default() })
            .expect("decodes");
        prop_assert_eq!(file.functions.len(), 1);
        let want: Vec<_> = by_db
            .iter()
            .flat_map(|(db, e)| e.iter().map(move |(k, v, m)| (*db, k, v, m)))
            .collect();
        prop_assert_eq!(file.keys.len(), want.len());
        for (got, (db, key, value, meta)) in file.keys.iter().zip(want) {
            prop_assert_eq!(got.db, db);
            prop_assert_eq!(&got.key, key);
            prop_assert_eq!(got.expire_ms, meta.expire_ms);
            match meta.usage {
                KeyUsage::None => prop_assert!(got.idle_s.is_none() && got.freq.is_none()),
                KeyUsage::IdleSeconds(s) => prop_assert_eq!(got.idle_s, Some(s)),
                KeyUsage::Freq(f) => prop_assert_eq!(got.freq, Some(f)),
            }
            assert_same(value, &got.value);
        }
        // Without a checksum the stored CRC is 0.
        let tail = &bytes[bytes.len() - 8..];
        prop_assert_eq!(tail == [0u8; 8], !checksum);
    }
}

/// Fixtures without hashtable-encoded values re-encode to the very file Redis wrote: AUX
/// fields, functions, SELECTDB/RESIZEDB, expiries, IDLE/FREQ, values, EOF and CRC-64.
#[test]
fn fixtures_re_encode_to_the_same_file() {
    let mut identical = Vec::new();
    for name in [
        "empty",
        "expire",
        "expire-extreme",
        "functions",
        "lfu-freq",
        "lists",
        "lists-node-sizes",
        "lists-plain-nodes",
        "lru-idle",
        "multidb",
        "nochecksum",
        "small-mixed",
        "strings",
        "strings-nocompress",
    ] {
        let dir = fixtures_dir().join("rdb");
        let bytes = std::fs::read(dir.join(format!("{name}.rdb"))).unwrap();
        let manifest = load_json(&dir.join(format!("{name}.json")));
        let config = &manifest["config_at_save"];
        let opts = EncodeOptions {
            compression: config["rdbcompression"] != "no",
            checksum: config["rdbchecksum"] != "no",
            ..EncodeOptions::default()
        };
        let limits = EncodingLimits {
            list_max_listpack_size: config["list-max-listpack-size"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
            ..EncodingLimits::default()
        };
        let mut dec =
            Decoder::new(&bytes, DecodeOptions { limits, ..DecodeOptions::default() }).unwrap();
        let mut enc = Encoder::new(Vec::new(), opts);
        let mut pending_db = None;
        while let Some(item) = dec.next_item().unwrap() {
            match item {
                Item::Aux { key, value } => enc.write_aux(&key, &value).unwrap(),
                Item::Function { source } => enc.write_function(&source).unwrap(),
                Item::SelectDb { db } => pending_db = Some(db),
                Item::ResizeDb { db_size, expires_size } => {
                    let db = pending_db.take().expect("RESIZEDB follows SELECTDB");
                    enc.select_db(db, db_size, expires_size).unwrap();
                }
                Item::Key(k) => {
                    let usage = match (k.idle_s, k.freq) {
                        (Some(s), _) => KeyUsage::IdleSeconds(s),
                        (_, Some(f)) => KeyUsage::Freq(f),
                        _ => KeyUsage::None,
                    };
                    enc.write_key(&k.key, &k.value, &KeyMeta { expire_ms: k.expire_ms, usage })
                        .unwrap();
                }
            }
        }
        let out = enc.finish().unwrap();
        assert!(
            out == bytes,
            "{name}: re-encoded file differs ({} vs {} bytes)",
            out.len(),
            bytes.len()
        );
        identical.push(name);
    }
    assert_eq!(identical.len(), 14);
}
