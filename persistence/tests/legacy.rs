//! Encodings Redis 7.0 reads but no longer writes (ziplist lists/hashes/zsets, quicklist of
//! ziplists, zipmap, plain list/set/zset/hash, text-score zsets, EXPIRETIME in seconds, the
//! pre-GA FUNCTION opcode) and what it refuses (module data, types 20 and 21, a database past
//! `databases`). The files are built by hand here; when redis-server is on PATH it loads the
//! same files and every key must match what we decode, encodings included.

mod support;

use mayfly_persistence::{decode_file, DecodeOptions, ErrorKind, RdbValue};
use support::*;

enum Z<'a> {
    S(&'a [u8]),
    I(i64),
}

/// A ziplist as Redis lays it out.
fn ziplist(items: &[Z<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut prev = 0usize;
    let mut tail = 10;
    for item in items {
        let start = body.len();
        tail = 10 + start;
        if prev < 254 {
            body.push(prev as u8);
        } else {
            body.push(0xFE);
            body.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        match item {
            Z::S(s) if s.len() < 64 => {
                body.push(s.len() as u8);
                body.extend_from_slice(s);
            }
            Z::S(s) => {
                body.push(0x40 | (s.len() >> 8) as u8);
                body.push(s.len() as u8);
                body.extend_from_slice(s);
            }
            Z::I(n) if (0..=12).contains(n) => body.push(0xF1 + *n as u8),
            Z::I(n) if i16::try_from(*n).is_ok() => {
                body.push(0xC0);
                body.extend_from_slice(&(*n as i16).to_le_bytes());
            }
            Z::I(n) => {
                body.push(0xE0);
                body.extend_from_slice(&n.to_le_bytes());
            }
        }
        prev = body.len() - start;
    }
    let total = 10 + body.len() + 1;
    let mut out = Vec::new();
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(tail as u32).to_le_bytes());
    out.extend_from_slice(&(items.len() as u16).to_le_bytes());
    out.extend_from_slice(&body);
    out.push(0xFF);
    out
}

fn rdb_string(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if s.len() < 64 {
        out.push(s.len() as u8);
    } else {
        out.push(0x40 | (s.len() >> 8) as u8);
        out.push(s.len() as u8);
    }
    out.extend_from_slice(s);
    out
}

/// A version-`version` file with the given records, EOF and a correct CRC.
fn file(version: u32, records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("REDIS{version:04}").into_bytes();
    for r in records {
        out.extend_from_slice(r);
    }
    out.push(0xFF);
    let crc = mayfly_persistence::crc64::crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn key(t: u8, k: &str, body: Vec<u8>) -> Vec<u8> {
    let mut out = vec![t];
    out.extend_from_slice(&rdb_string(k.as_bytes()));
    out.extend_from_slice(&body);
    out
}

fn blob(b: Vec<u8>) -> Vec<u8> {
    rdb_string(&b)
}

fn legacy_file() -> Vec<u8> {
    let long = vec![b'L'; 100];
    let mut zipmap = vec![2u8, 1, b'a', 1, 0, b'1', 1, b'b', 2, 0];
    zipmap.extend_from_slice(b"22");
    zipmap.push(0xFF);
    let mut plain_zset = vec![2u8];
    plain_zset.extend(rdb_string(b"m1"));
    plain_zset.extend([3, b'1', b'.', b'5']);
    plain_zset.extend(rdb_string(b"m2"));
    plain_zset.push(254); // +inf
    let mut plain_hash = vec![2u8];
    for s in [&b"f1"[..], b"v1", b"f2", &long] {
        plain_hash.extend(rdb_string(s));
    }
    let mut plain_set = vec![3u8];
    for s in [&b"1"[..], b"2", b"x"] {
        plain_set.extend(rdb_string(s));
    }
    let mut plain_list = vec![3u8];
    for s in [&b"a"[..], b"7", b""] {
        plain_list.extend(rdb_string(s));
    }
    let mut quicklist = vec![2u8];
    quicklist.extend(blob(ziplist(&[Z::S(b"q1"), Z::I(5), Z::I(-300)])));
    quicklist.extend(blob(ziplist(&[Z::S(&long), Z::I(1 << 40)])));
    let mut expire_s = vec![253u8];
    expire_s.extend_from_slice(&2_000_000_000i32.to_le_bytes());
    expire_s.extend(key(0, "exp:seconds", rdb_string(b"v")));
    let mut old_function = vec![246u8];
    old_function.extend(rdb_string(b"oldlib"));
    old_function.extend(rdb_string(b"LUA"));
    old_function.push(0); // no description
    old_function.extend(rdb_string(b"redis.register_function('oldf', function() return 7 end)"));
    file(
        9,
        &[
            old_function,
            vec![254, 0],
            key(10, "zl:list", blob(ziplist(&[Z::S(b"a"), Z::I(12), Z::I(-2), Z::S(b"")]))),
            key(12, "zl:zset", blob(ziplist(&[Z::S(b"x"), Z::I(2), Z::S(b"y"), Z::S(b"1.25")]))),
            key(13, "zl:hash", blob(ziplist(&[Z::S(b"f"), Z::S(b"v"), Z::S(b"n"), Z::I(100000)]))),
            key(13, "zl:hash:long", blob(ziplist(&[Z::S(b"f"), Z::S(&long)]))),
            key(14, "ql:list", quicklist),
            key(9, "zm:hash", blob(zipmap)),
            key(3, "plain:zset", plain_zset),
            key(4, "plain:hash", plain_hash),
            key(2, "plain:set", plain_set),
            key(1, "plain:list", plain_list),
            key(11, "intset", blob(vec![2, 0, 0, 0, 2, 0, 0, 0, 0xFE, 0xFF, 5, 0])),
            expire_s,
            key(4, "empty:hash", vec![0]),
        ],
    )
}

#[test]
fn legacy_encodings_decode_as_redis_7_loads_them() {
    let bytes = legacy_file();
    let f = decode_file(&bytes, DecodeOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.version, 9);
    assert_eq!(f.empty_keys_skipped, 1);
    assert_eq!(
        f.functions,
        vec![
            b"#!LUA name=oldlib\nredis.register_function('oldf', function() return 7 end)".to_vec()
        ]
    );
    let get = |k: &str| f.keys.iter().find(|e| e.key == k.as_bytes()).expect(k);
    let enc = |k: &str| match &get(k).value {
        RdbValue::Value(v) => v.encoding(),
        RdbValue::Stream(_) => "stream",
    };
    let json = |k: &str| value_json(&get(k).value);
    assert_eq!(json("zl:list"), serde_json::json!([b64(b"a"), b64(b"12"), b64(b"-2"), b64(b"")]));
    assert_eq!(enc("zl:list"), "quicklist");
    assert_eq!(json("zl:zset"), serde_json::json!([[b64(b"y"), "1.25"], [b64(b"x"), "2"]]));
    assert_eq!(enc("zl:zset"), "listpack");
    assert_eq!(enc("zl:hash"), "listpack");
    // Redis checks only the count when it converts a ziplist hash: a 100-byte value stays.
    assert_eq!(enc("zl:hash:long"), "listpack");
    assert_eq!(enc("zm:hash"), "listpack");
    assert_eq!(enc("plain:hash"), "hashtable");
    assert_eq!(enc("plain:set"), "hashtable");
    assert_eq!(enc("plain:zset"), "listpack");
    assert_eq!(json("plain:zset"), serde_json::json!([[b64(b"m1"), "1.5"], [b64(b"m2"), "inf"]]));
    assert_eq!(enc("intset"), "intset");
    assert_eq!(json("intset"), serde_json::json!([b64(b"-2"), b64(b"5")]));
    assert_eq!(get("exp:seconds").expire_ms, Some(2_000_000_000_000));
    let RdbValue::Value(mayfly_engine::value::Value::List(ql)) = &get("ql:list").value else {
        panic!()
    };
    assert_eq!(ql.node_count(), 2, "a quicklist of ziplists keeps one node per ziplist");

    if !redis_available() {
        return;
    }
    let mut r = redis_load(&bytes, "legacy", &[]).unwrap_or_else(|log| panic!("{log}"));
    assert_eq!(r.cmd_str(&["DBSIZE"]).text(), (f.keys.len()).to_string());
    for k in &f.keys {
        let label = String::from_utf8_lossy(&k.key).into_owned();
        assert_eq!(r.cmd(&[b"TYPE", &k.key]).text(), k.value.type_name(), "{label}");
        let encoding = r.cmd(&[b"OBJECT", b"ENCODING", &k.key]).text();
        let ours = match &k.value {
            RdbValue::Value(v) => v.encoding(),
            RdbValue::Stream(_) => "stream",
        };
        assert_eq!(encoding, ours, "{label}: encoding");
        let pexpiretime = r.cmd(&[b"PEXPIRETIME", &k.key]).text();
        assert_eq!(pexpiretime, k.expire_ms.unwrap_or(-1).to_string(), "{label}: expire");
    }
    assert_eq!(r.cmd_str(&["FCALL", "oldf", "0"]).text(), "7");
    assert_eq!(r.cmd_str(&["HGET", "zl:hash", "n"]).text(), "100000");
    assert_eq!(r.cmd_str(&["ZSCORE", "zl:zset", "y"]).text(), "1.25");
    assert_eq!(r.cmd_str(&["LRANGE", "ql:list", "0", "-1"]).array().len(), 5);
    r.shutdown();
}

fn refused(records: &[Vec<u8>]) -> ErrorKind {
    decode_file(&file(10, records), DecodeOptions::default()).unwrap_err().kind
}

#[test]
fn what_redis_7_0_refuses() {
    // Redis 7.2's set listpack and stream v3.
    assert_eq!(
        refused(&[key(20, "s", blob(vec![7, 0, 0, 0, 0, 0, 0xFF]))]),
        ErrorKind::UnknownType(20)
    );
    assert_eq!(refused(&[key(21, "x", vec![0])]), ErrorKind::UnknownType(21));
    // A module value and module AUX data (Mayfly loads no modules).
    let module_id = (1u64 << 10) | 3;
    let mut id = vec![0x81];
    id.extend_from_slice(&module_id.to_be_bytes());
    assert_eq!(
        refused(&[key(7, "m", id.clone())]),
        ErrorKind::ModuleValue { module: "AAAAAAAAB".into() }
    );
    let mut aux = vec![247];
    aux.extend_from_slice(&id);
    aux.extend([2, 1]);
    assert_eq!(refused(&[aux]), ErrorKind::ModuleAux { module: "AAAAAAAAB".into() });
    assert!(ErrorKind::ModuleAux { module: "AAAAAAAAB".into() }
        .message()
        .contains("no matching module 'AAAAAAAAB'"));
    // SELECTDB past `databases`.
    assert_eq!(refused(&[vec![254, 16]]), ErrorKind::DbOutOfRange { databases: 16 });
    // Duplicates inside packed values.
    assert!(matches!(
        refused(&[key(13, "h", blob(ziplist(&[Z::S(b"f"), Z::S(b"1"), Z::S(b"f"), Z::S(b"2")])))]),
        ErrorKind::Corrupt("Hash ziplist integrity check failed.")
    ));
    let mut dup_set = vec![2u8];
    dup_set.extend(rdb_string(b"a"));
    dup_set.extend(rdb_string(b"a"));
    assert!(matches!(
        refused(&[key(2, "s", dup_set)]),
        ErrorKind::Corrupt("Duplicate set members detected")
    ));
    assert!(matches!(
        refused(&[key(11, "i", blob(vec![2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 5, 0]))]),
        ErrorKind::Corrupt("Intset integrity check failed.")
    ));
    // A NaN score.
    let mut nan = vec![1u8];
    nan.extend(rdb_string(b"m"));
    nan.extend_from_slice(&f64::NAN.to_le_bytes());
    assert!(matches!(
        refused(&[key(5, "z", nan)]),
        ErrorKind::Corrupt("Zset with NAN score detected")
    ));
}

/// EXPIRETIME_MS, IDLE and FREQ apply to the next key even with other opcodes in between,
/// as in Redis's loader.
#[test]
fn key_attributes_carry_across_other_opcodes() {
    let mut exp = vec![252u8];
    exp.extend_from_slice(&4_102_444_800_000i64.to_le_bytes());
    let bytes = file(
        10,
        &[
            exp,
            vec![249, 9],
            vec![254, 2],
            key(0, "k", rdb_string(b"v")),
            key(0, "j", rdb_string(b"w")),
        ],
    );
    let f = decode_file(&bytes, DecodeOptions::default()).unwrap();
    assert_eq!(
        (f.keys[0].db, f.keys[0].expire_ms, f.keys[0].freq),
        (2, Some(4_102_444_800_000), Some(9))
    );
    assert_eq!((f.keys[1].expire_ms, f.keys[1].freq), (None, None));
}
