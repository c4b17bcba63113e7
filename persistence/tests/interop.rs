//! Interop with a real redis-server 7.0.15 (skipped with a notice when it is not on PATH):
//!
//! * a dataset of every type and encoding written by our encoder loads into redis-server
//!   (with `sanitize-dump-payload yes`, so Redis walks every listpack we wrote), and every
//!   key has the same value, TTL and OBJECT ENCODING our decoder gives it;
//! * a dataset built in redis-server (DEBUG POPULATE plus typed keys, streams with groups,
//!   a function library) and SAVEd decodes to what redis-server answers, with the encodings
//!   it has after DEBUG RELOAD;
//! * DUMP payloads from redis-server restore to the same values, and redis-server's RESTORE
//!   accepts our `dump` output for every value (also with deep sanitization).

mod support;

use bytes::Bytes;
use mayfly_engine::types::hash::{HashLimits, HashValue};
use mayfly_engine::types::list::ListValue;
use mayfly_engine::types::set::SetValue;
use mayfly_engine::types::zset::{Limits as ZLimits, ZSetValue};
use mayfly_engine::value::{StrValue, Value};
use mayfly_persistence::{
    decode_file, dump, restore, AuxFields, Consumer, ConsumerGroup, DecodeOptions, EncodeOptions,
    Encoder, EncodingLimits, KeyMeta, KeyUsage, PendingEntry, RdbValue, StreamData, StreamEntry,
    StreamId, ValueRef,
};
use serde_json::{json, Map, Value as Json};
use support::*;

const HASH_LIMITS: HashLimits = HashLimits { max_entries: 512, max_value: 64 };
const ZSET_LIMITS: ZLimits = ZLimits { max_listpack_entries: 128, max_listpack_value: 64 };

/// A key's value as redis-server reports it, in the canonical JSON form of support.rs.
fn redis_value(r: &mut RedisServer, key: &[u8]) -> (String, Json) {
    let kind = r.cmd(&[b"TYPE", key]).text();
    let items = |resp: Resp| -> Vec<Vec<u8>> {
        resp.array().iter().map(|i| i.bulk().unwrap_or_default().to_vec()).collect()
    };
    let value = match kind.as_str() {
        "string" => json!(b64(r.cmd(&[b"GET", key]).bulk().unwrap())),
        "list" => Json::Array(
            items(r.cmd(&[b"LRANGE", key, b"0", b"-1"])).iter().map(|e| json!(b64(e))).collect(),
        ),
        "hash" => {
            let flat = items(r.cmd(&[b"HGETALL", key]));
            let mut m = Map::new();
            for pair in flat.chunks(2) {
                m.insert(b64(&pair[0]), json!(b64(&pair[1])));
            }
            Json::Object(m)
        }
        "set" => {
            let mut members = items(r.cmd(&[b"SMEMBERS", key]));
            members.sort();
            Json::Array(members.iter().map(|m| json!(b64(m))).collect())
        }
        "zset" => {
            let flat = items(r.cmd(&[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]));
            Json::Array(
                flat.chunks(2)
                    .map(|p| json!([b64(&p[0]), String::from_utf8_lossy(&p[1])]))
                    .collect(),
            )
        }
        "stream" => redis_stream(r, key),
        other => panic!("unexpected type {other}"),
    };
    (kind, value)
}

fn text(r: &Resp) -> String {
    r.text()
}

/// Pairs of a flat `[name, value, …]` reply.
fn fields(r: &Resp) -> Vec<(String, &Resp)> {
    r.array().chunks(2).map(|p| (text(&p[0]), &p[1])).collect()
}

fn field<'a>(r: &'a Resp, name: &str) -> &'a Resp {
    fields(r).into_iter().find(|(n, _)| n == name).map(|(_, v)| v).expect(name)
}

fn int_of(r: &Resp) -> i64 {
    match r {
        Resp::Int(n) => *n,
        Resp::Bulk(None) => -1,
        other => other.text().parse().unwrap_or(-1),
    }
}

/// XRANGE plus XINFO STREAM FULL, in the manifest's stream form.
fn redis_stream(r: &mut RedisServer, key: &[u8]) -> Json {
    let range = r.cmd(&[b"XRANGE", key, b"-", b"+"]);
    let entries: Vec<Json> = range
        .array()
        .iter()
        .map(|e| {
            let parts = e.array();
            let kv: Vec<Json> = parts[1]
                .array()
                .chunks(2)
                .map(|p| json!([b64(p[0].bulk().unwrap()), b64(p[1].bulk().unwrap())]))
                .collect();
            json!([text(&parts[0]), kv])
        })
        .collect();
    let info = r.cmd(&[b"XINFO", b"STREAM", key, b"FULL", b"COUNT", b"0"]);
    let groups: Vec<Json> = field(&info, "groups")
        .array()
        .iter()
        .map(|g| {
            let pel: Vec<Json> = field(g, "pending")
                .array()
                .iter()
                .map(|p| {
                    let p = p.array();
                    json!({"id": text(&p[0]), "delivery_time_ms": int_of(&p[2]),
                           "delivery_count": int_of(&p[3])})
                })
                .collect();
            let consumers: Vec<Json> = field(g, "consumers")
                .array()
                .iter()
                .map(|c| {
                    let ids: Vec<Json> = field(c, "pending")
                        .array()
                        .iter()
                        .map(|p| json!(text(&p.array()[0])))
                        .collect();
                    json!({"name_b64": b64(field(c, "name").bulk().unwrap()),
                           "seen_time_ms": int_of(field(c, "seen-time")), "pel": ids})
                })
                .collect();
            json!({"name_b64": b64(field(g, "name").bulk().unwrap()),
                   "last_delivered_id": text(field(g, "last-delivered-id")),
                   "entries_read": int_of(field(g, "entries-read")),
                   "pel": pel, "consumers": consumers})
        })
        .collect();
    json!({"entries": entries, "length": int_of(field(&info, "length")),
           "last_id": text(field(&info, "last-generated-id")),
           "first_id": text(field(&info, "recorded-first-entry-id")),
           "max_deleted_entry_id": text(field(&info, "max-deleted-entry-id")),
           "entries_added": int_of(field(&info, "entries-added")), "groups": groups})
}

/// Checks one key in redis-server against our value: type, contents, encoding.
fn check_key(r: &mut RedisServer, key: &[u8], ours: &RdbValue, label: &str) {
    let (kind, value) = redis_value(r, key);
    assert_eq!(kind, ours.type_name(), "{label}: type");
    assert_eq!(value, value_json(ours), "{label}: value");
    let encoding = r.cmd(&[b"OBJECT", b"ENCODING", key]).text();
    let our_encoding = match ours {
        RdbValue::Value(v) => v.encoding(),
        RdbValue::Stream(_) => "stream",
    };
    assert_eq!(encoding, our_encoding, "{label}: encoding");
}

fn s(b: &[u8]) -> Value {
    Value::Str(StrValue::from_bytes(b))
}

fn list(items: impl IntoIterator<Item = Vec<u8>>, fill: i64) -> Value {
    let mut l = ListValue::new();
    for i in items {
        l.push_back(&i, fill);
    }
    Value::List(Box::new(l))
}

fn hash(pairs: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> Value {
    let mut h = HashValue::new();
    for (f, v) in pairs {
        h.set(&f, &v, HASH_LIMITS);
    }
    Value::Hash(Box::new(h))
}

fn set(members: impl IntoIterator<Item = Vec<u8>>) -> Value {
    let members: Vec<Vec<u8>> = members.into_iter().collect();
    let mut st = SetValue::new_for(&members[0]);
    for m in &members {
        st.insert(m, 512);
    }
    Value::Set(Box::new(st))
}

fn zset(entries: impl IntoIterator<Item = (Vec<u8>, f64)>) -> Value {
    let mut z = ZSetValue::new();
    for (m, sc) in entries {
        z.upsert(&m, sc, ZSET_LIMITS);
    }
    Value::ZSet(Box::new(z))
}

fn b(s: impl AsRef<[u8]>) -> Vec<u8> {
    s.as_ref().to_vec()
}

fn sample_stream(now_ms: i64) -> StreamData {
    let mut entries = Vec::new();
    for i in 0..250u64 {
        let fields = if i % 7 == 0 {
            vec![(Bytes::from("other"), Bytes::from(i.to_string()))]
        } else {
            vec![
                (Bytes::from("name"), Bytes::from(format!("user-{i}"))),
                (Bytes::from("n"), Bytes::from(i.to_string())),
            ]
        };
        entries.push(StreamEntry { id: StreamId::new(1_700_000_000_000 + i / 3, i % 3), fields });
    }
    let ids: Vec<StreamId> = entries.iter().map(|e| e.id).collect();
    let pel_of = |c: &str, at: &[usize]| -> (Vec<PendingEntry>, Consumer) {
        let pel: Vec<PendingEntry> = at
            .iter()
            .map(|&i| PendingEntry {
                id: ids[i],
                delivery_time_ms: now_ms - 5000 + i as i64,
                delivery_count: 1 + i as u64 % 3,
                consumer: Some(Bytes::from(c.to_string())),
            })
            .collect();
        let consumer = Consumer {
            name: Bytes::from(c.to_string()),
            seen_time_ms: now_ms - 1000,
            pending: at.iter().map(|&i| ids[i]).collect(),
        };
        (pel, consumer)
    };
    let (mut pel, alice) = pel_of("alice", &[0, 2, 5]);
    let (pel_b, bob) = pel_of("bob", &[3, 9]);
    pel.extend(pel_b);
    pel.sort_by_key(|p| p.id);
    let idle = Consumer { name: Bytes::from("idle"), seen_time_ms: now_ms - 99, pending: vec![] };
    StreamData {
        length: entries.len() as u64,
        last_id: *ids.last().unwrap(),
        first_id: ids[0],
        max_deleted_entry_id: StreamId::default(),
        entries_added: entries.len() as u64,
        entries,
        groups: vec![
            ConsumerGroup {
                name: Bytes::from("g1"),
                last_id: ids[9],
                entries_read: 10,
                pel,
                consumers: vec![alice, bob, idle],
            },
            ConsumerGroup {
                name: Bytes::from("g2"),
                last_id: StreamId::default(),
                entries_read: -1,
                pel: vec![],
                consumers: vec![],
            },
        ],
    }
}

/// (db, key, value, expire) of every type and encoding.
fn dataset(now_ms: i64) -> Vec<(u32, Vec<u8>, RdbValue, Option<i64>)> {
    let v = RdbValue::Value;
    let long_text: Vec<u8> =
        b"lorem ipsum dolor sit amet ".iter().cycle().take(5000).copied().collect();
    let noise: Vec<u8> =
        (0..3000u64).map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8).collect();
    let mut head = ListValue::new();
    head.push_back(b"head", -2);
    let head_bytes = head.nodes().next().unwrap().raw().1.to_vec();
    let big_plain = ListValue::from_nodes(vec![
        ListValue::node_from_raw(false, &head_bytes).unwrap(),
        ListValue::node_from_raw(true, &vec![b'P'; 5000]).unwrap(),
    ])
    .unwrap();
    let mut out =
        vec![
            (0, b("str:int:small"), v(s(b"7")), None),
            (0, b("str:int:16"), v(s(b"-30000")), None),
            (0, b("str:int:32"), v(s(b"2147483647")), None),
            (0, b("str:int:64"), v(s(b"-9223372036854775808")), None),
            (0, b("str:embstr"), v(s(b"hello world")), Some(now_ms + 3_600_000)),
            (0, b("str:raw:digits"), v(Value::Str(StrValue::raw(b"1234"))), None),
            (0, b("str:noncanonical"), v(s(b"007")), None),
            (0, b("str:empty"), v(s(b"")), None),
            (0, b("str:lzf"), v(s(&long_text)), None),
            (0, b("str:noise"), v(s(&noise)), None),
            (0, b("str:21a"), v(s(&[b'a'; 21])), None),
            (0, b(b"\x00bin\xff\r\n"), v(s(b"\x00\x01\xfe\xff")), None),
            (
                0,
                b("list:small"),
                v(list([b("a"), b("1"), b("-5"), b(""), b("x".repeat(100))], -2)),
                None,
            ),
            (
                0,
                b("list:big"),
                v(list((0..3000).map(|i| format!("item-{i}").into_bytes()), -2)),
                Some(now_ms + 7_200_000),
            ),
            (0, b("list:fill4"), v(list((0..10).map(|i| b(i.to_string())), 4)), None),
            (0, b("list:plain"), v(Value::List(Box::new(big_plain))), None),
            (
                0,
                b("hash:small"),
                v(hash([(b("f1"), b("v1")), (b("n"), b("12345")), (b(""), b(""))])),
                None,
            ),
            (
                0,
                b("hash:big"),
                v(hash((0..600).map(|i| {
                    (format!("field:{i}").into_bytes(), format!("value-{i}").into_bytes())
                }))),
                None,
            ),
            (0, b("hash:longvalue"), v(hash([(b("f"), b("v".repeat(65)))])), None),
            (0, b("set:int16"), v(set([b("1"), b("-2"), b("300")])), None),
            (0, b("set:int32"), v(set([b("1"), b("100000")])), None),
            (
                0,
                b("set:int64"),
                v(set([b("1"), b("-9223372036854775808"), b("9223372036854775807")])),
                None,
            ),
            (0, b("set:bigints"), v(set((0..600).map(|i| b((i * 7).to_string())))), None),
            (0, b("set:strings"), v(set([b("a"), b("b"), b("01"), b(""), b("\x00")])), None),
            (
                0,
                b("zset:small"),
                v(zset([
                    (b("a"), 1.0),
                    (b("b"), 0.1),
                    (b("c"), f64::INFINITY),
                    (b("d"), f64::NEG_INFINITY),
                    (b("e"), -2.5),
                    (b("f"), 1e20),
                    (b("g"), 123456789012345678.0),
                ])),
                None,
            ),
            (
                0,
                b("zset:big"),
                v(zset((0..200).map(|i| (format!("m{i}").into_bytes(), i as f64 / 3.0)))),
                None,
            ),
            (0, b("zset:longmember"), v(zset([(b("m".repeat(65)), 1.0), (b("neg0"), -0.0)])), None),
            (0, b("stream:full"), RdbValue::Stream(Box::new(sample_stream(now_ms))), None),
            (
                0,
                b("stream:empty-with-group"),
                RdbValue::Stream(Box::new(StreamData {
                    last_id: StreamId::new(5, 5),
                    max_deleted_entry_id: StreamId::new(5, 5),
                    entries_added: 3,
                    groups: vec![ConsumerGroup {
                        name: Bytes::from("g"),
                        last_id: StreamId::new(5, 5),
                        entries_read: 3,
                        pel: vec![],
                        consumers: vec![],
                    }],
                    ..StreamData::default()
                })),
                None,
            ),
            (3, b("k"), v(s(b"in db 3")), None),
            (15, b("k"), v(s(b"in db 15")), Some(now_ms + 86_400_000)),
        ];
    // DEBUG POPULATE-like bulk.
    for i in 0..2000 {
        out.push((1, format!("key:{i}").into_bytes(), v(s(format!("value:{i}").as_bytes())), None));
    }
    out
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

const LIBRARY: &str =
    "#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return 'ok' end)";

#[test]
fn our_file_loads_into_redis_with_the_same_values_and_encodings() {
    if !redis_available() {
        return;
    }
    let now = now_ms();
    let data = dataset(now);
    let mut enc = Encoder::new(Vec::new(), EncodeOptions::default());
    enc.write_aux_fields(&AuxFields::snapshot(now / 1000, 1 << 20)).unwrap();
    enc.write_function(LIBRARY.as_bytes()).unwrap();
    for db in [0u32, 1, 3, 15] {
        let keys: Vec<_> = data.iter().filter(|k| k.0 == db).collect();
        let expires = keys.iter().filter(|k| k.3.is_some()).count() as u64;
        enc.select_db(db, keys.len() as u64, expires).unwrap();
        for (_, key, value, expire_ms) in keys {
            let usage =
                if key == b"str:embstr" { KeyUsage::IdleSeconds(5000) } else { KeyUsage::None };
            enc.write_key(key, value, &KeyMeta { expire_ms: *expire_ms, usage }).unwrap();
        }
    }
    let bytes = enc.finish().unwrap();
    // Our own decoder's view of the file is what Redis must show.
    let ours =
        decode_file(&bytes, DecodeOptions { deep_sanitize: true, ..DecodeOptions::default() })
            .unwrap();
    assert_eq!(ours.keys.len(), data.len());

    let mut r = redis_load(&bytes, "ours-into-redis", &["--sanitize-dump-payload", "yes"])
        .unwrap_or_else(|log| panic!("redis-server refused our file:\n{log}"));
    assert!(r.log().contains("DB loaded from disk"), "{}", r.log());
    assert!(!r.log().contains("empty keys skipped"));
    // Before any command touches it (an access resets the LRU clock).
    let idle = int_of(&r.cmd(&[b"OBJECT", b"IDLETIME", b"str:embstr"]));
    assert!((5000..5100).contains(&idle), "idle {idle}");
    let mut checked = 0;
    for k in &ours.keys {
        r.cmd(&[b"SELECT", k.db.to_string().as_bytes()]);
        let label = format!("db{} {}", k.db, String::from_utf8_lossy(&k.key));
        check_key(&mut r, &k.key, &k.value, &label);
        // The encoding the value had before saving is the one Redis gives it after loading
        // (strings apart: loading turns a raw "1234" into an int, in Redis as here).
        let original = data.iter().find(|d| d.0 == k.db && d.1 == k.key).expect("written");
        if let RdbValue::Value(
            v @ (Value::List(_) | Value::Hash(_) | Value::Set(_) | Value::ZSet(_)),
        ) = &original.2
        {
            let redis = r.cmd(&[b"OBJECT", b"ENCODING", &k.key]).text();
            assert_eq!(redis, v.encoding(), "{label}: encoding before save");
        }
        let pexpiretime = r.cmd(&[b"PEXPIRETIME", &k.key]);
        assert_eq!(int_of(&pexpiretime), k.expire_ms.unwrap_or(-1), "{label}: expire");
        checked += 1;
    }
    r.cmd(&[b"SELECT", b"0"]);
    let lib = r.cmd(&[b"FCALL", b"myfunc", b"0"]);
    assert_eq!(lib.text(), "ok");
    assert_eq!(int_of(&r.cmd(&[b"DBSIZE"])), 29);
    assert_eq!(checked, data.len());
    r.shutdown();

    // FREQ is honoured under an LFU policy.
    let mut enc = Encoder::new(Vec::new(), EncodeOptions::default());
    enc.write_aux_fields(&AuxFields::snapshot(now / 1000, 1 << 20)).unwrap();
    enc.select_db(0, 1, 0).unwrap();
    enc.write_key(b"hot", &s(b"v"), &KeyMeta { expire_ms: None, usage: KeyUsage::Freq(77) })
        .unwrap();
    let bytes = enc.finish().unwrap();
    let mut r = redis_load(&bytes, "freq", &["--maxmemory-policy", "allkeys-lfu"]).expect("loads");
    assert_eq!(int_of(&r.cmd(&[b"OBJECT", b"FREQ", b"hot"])), 77);
    r.shutdown();
}

/// Builds typed keys in a live redis-server.
fn populate(r: &mut RedisServer) {
    let run = |r: &mut RedisServer, args: &[&str]| {
        let reply = r.cmd_str(args);
        assert!(!matches!(reply, Resp::Error(_)), "{args:?}: {}", reply.text());
    };
    run(r, &["DEBUG", "POPULATE", "3000", "pop", "20"]);
    run(r, &["SET", "s:int", "12345"]);
    run(r, &["SET", "s:big", &"x".repeat(100_000)]);
    run(r, &["APPEND", "s:app", "12"]);
    run(r, &["APPEND", "s:app", "34"]);
    run(r, &["SET", "s:ttl", "v", "PX", "99999999"]);
    run(r, &["RPUSH", "l:small", "a", "b", "1", "-1", "300000", "9223372036854775807"]);
    for chunk in 0..20 {
        let items: Vec<String> = (0..100).map(|i| format!("element-{chunk}-{i}")).collect();
        let mut args = vec!["RPUSH", "l:big"];
        args.extend(items.iter().map(String::as_str));
        run(r, &args);
    }
    run(r, &["LPUSH", "l:lpush", "z", "y", "x"]);
    run(r, &["HSET", "h:small", "a", "1", "b", "2", "c", "three"]);
    run(r, &["HSET", "h:long", "f", &"v".repeat(100)]);
    for i in 0..700 {
        run(r, &["HSET", "h:big", &format!("f{i}"), &format!("v{i}")]);
        if i < 600 {
            run(r, &["SADD", "set:big", &i.to_string()]);
        }
        if i < 300 {
            run(r, &["ZADD", "z:big", &(i as f64 * 1.5).to_string(), &format!("m{i}")]);
        }
    }
    run(r, &["SADD", "set:int", "1", "2", "-70000", "5000000000"]);
    run(r, &["SADD", "set:str", "a", "b", "c", "1"]);
    run(r, &["ZADD", "z:small", "1", "a", "2.5", "b", "-inf", "c", "inf", "d", "0.1", "e"]);
    run(r, &["ZADD", "z:long", "1", &"m".repeat(80)]);
    for i in 0..30 {
        let id = format!("{}-{}", 1_700_000_000_000u64 + i / 4, i % 4);
        if i % 5 == 0 {
            run(r, &["XADD", "x:s", &id, "other", &i.to_string()]);
        } else {
            run(r, &["XADD", "x:s", &id, "name", &format!("n{i}"), "i", &i.to_string()]);
        }
    }
    run(r, &["XDEL", "x:s", "1700000000002-2"]);
    run(r, &["XGROUP", "CREATE", "x:s", "g1", "0"]);
    run(r, &["XGROUP", "CREATE", "x:s", "g2", "$"]);
    run(r, &["XREADGROUP", "GROUP", "g1", "alice", "COUNT", "3", "STREAMS", "x:s", ">"]);
    run(r, &["XREADGROUP", "GROUP", "g1", "bob", "COUNT", "2", "STREAMS", "x:s", ">"]);
    run(r, &["XGROUP", "CREATECONSUMER", "x:s", "g1", "carol"]);
    run(r, &["XGROUP", "CREATE", "x:empty", "g", "$", "MKSTREAM"]);
    run(r, &["FUNCTION", "LOAD", LIBRARY]);
    run(r, &["SELECT", "9"]);
    run(r, &["SET", "other-db", "yes"]);
    run(r, &["SELECT", "0"]);
}

#[test]
fn redis_saved_file_decodes_to_what_redis_serves() {
    if !redis_available() {
        return;
    }
    let dir = scratch_dir("redis-save");
    let mut r = RedisServer::start(&dir, "dump.rdb", &[]).expect("redis-server starts");
    populate(&mut r);
    // DEBUG RELOAD saves and loads the file again: encodings become load-time encodings.
    assert_eq!(r.cmd_str(&["DEBUG", "RELOAD"]).text(), "OK");
    assert_eq!(r.cmd_str(&["SAVE"]).text(), "OK");
    let bytes = std::fs::read(dir.join("dump.rdb")).unwrap();
    let file =
        decode_file(&bytes, DecodeOptions { deep_sanitize: true, ..DecodeOptions::default() })
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.functions, vec![LIBRARY.as_bytes().to_vec()]);
    assert!(file.aux.iter().any(|(k, v)| k == b"redis-ver" && v == b"7.0.15"));
    let mut count = 0;
    for k in &file.keys {
        r.cmd(&[b"SELECT", k.db.to_string().as_bytes()]);
        let label = format!("db{} {}", k.db, String::from_utf8_lossy(&k.key));
        check_key(&mut r, &k.key, &k.value, &label);
        assert_eq!(int_of(&r.cmd(&[b"PEXPIRETIME", &k.key])), k.expire_ms.unwrap_or(-1), "{label}");
        count += 1;
    }
    r.cmd(&[b"SELECT", b"0"]);
    assert_eq!(int_of(&r.cmd(&[b"DBSIZE"])) + 1, count as i64);
    assert!(count > 3000);
    r.shutdown();
}

#[test]
fn dump_payloads_interoperate() {
    if !redis_available() {
        return;
    }
    let dir = scratch_dir("dump");
    let mut r = RedisServer::start(&dir, "dump.rdb", &["--sanitize-dump-payload", "yes"])
        .expect("redis-server starts");
    populate(&mut r);
    let limits = EncodingLimits::default();
    // Redis's payloads restore to the values Redis serves (the typed keys, not the bulk).
    let keys: Vec<Vec<u8>> = r
        .cmd_str(&["KEYS", "*"])
        .array()
        .iter()
        .map(|k| k.bulk().unwrap().to_vec())
        .filter(|k| !k.starts_with(b"pop:") && !k.starts_with(b"rcopy:"))
        .collect();
    assert!(keys.len() > 15);
    for key in &keys {
        let label = String::from_utf8_lossy(key).into_owned();
        let payload = r.cmd(&[b"DUMP", key]).bulk().unwrap().to_vec();
        let value = restore(&payload, true, &limits).unwrap_or_else(|e| panic!("{label}: {e}"));
        // RESTORE re-encodes as loading does: compare with Redis's own restore of its payload.
        let theirs = [b"rcopy:".as_slice(), key].concat();
        assert_eq!(r.cmd(&[b"RESTORE", &theirs, b"0", &payload]).text(), "OK");
        check_key(&mut r, &theirs, &value, &label);
        // Our payload for the same value: RESTORE accepts it, with deep sanitization, and the
        // restored key is the same.
        let ours = dump(ValueRef::from(&value), &EncodeOptions::default());
        let copy = [b"copy:".as_slice(), key].concat();
        let reply = r.cmd(&[b"RESTORE", &copy, b"0", &ours]);
        assert_eq!(reply.text(), "OK", "{label}: RESTORE of our payload");
        assert_eq!(redis_value(&mut r, &copy), redis_value(&mut r, key), "{label}: copy");
        // Values that are not hashtables encode exactly as Redis's DUMP does.
        let encoding = r.cmd(&[b"OBJECT", b"ENCODING", &theirs]).text();
        if encoding != "hashtable" && encoding != "skiplist" && !key.starts_with(b"x:") {
            assert!(ours == payload, "{label}: payload differs from Redis's DUMP");
        }
    }
    // Bad payloads get Redis's two errors, from Redis and from us alike.
    let good = r.cmd_str(&["DUMP", "h:small"]).bulk().unwrap().to_vec();
    let mut bad_crc = good.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 1;
    let reply = r.cmd(&[b"RESTORE", b"bad1", b"0", &bad_crc]);
    assert_eq!(reply.text(), "ERR DUMP payload version or checksum are wrong");
    assert_eq!(restore(&bad_crc, true, &limits).unwrap_err().reply(), reply.text());
    // A corrupted body with a fixed-up checksum.
    let mut bad_body = good[..good.len() - 10].to_vec();
    bad_body[3] ^= 0x40;
    bad_body.extend_from_slice(&[10, 0]);
    let crc = mayfly_persistence::crc64::crc64(&bad_body);
    bad_body.extend_from_slice(&crc.to_le_bytes());
    let reply = r.cmd(&[b"RESTORE", b"bad2", b"0", &bad_body]);
    assert_eq!(reply.text(), "ERR Bad data format");
    assert_eq!(restore(&bad_body, true, &limits).unwrap_err().reply(), reply.text());
    r.shutdown();
}
