//! Every RDB fixture written by redis-server 7.0.15 (../shared/fixtures/redis-7.0/rdb) decodes
//! to exactly its manifest: keys, databases, types, values, expiries, IDLE/FREQ, AUX fields,
//! function libraries, streams with their groups; lists keep Redis's quicklist nodes; and the
//! encoder writes each string, intset, listpack and quicklist value byte for byte as Redis
//! wrote it.

mod support;

use std::collections::BTreeMap;

use mayfly_engine::value::Value;
use mayfly_persistence::encode::{type_byte, value_body};
use mayfly_persistence::{
    decode_file, DecodeOptions, EncodeOptions, EncodingLimits, KeyEntry, RdbValue, ValueRef,
};
use serde_json::Value as Json;
use support::*;

/// Re-encodes a value body the way the encoder does (no type byte).
fn encode_body(v: &RdbValue, compression: bool) -> (u8, Vec<u8>) {
    let opts = EncodeOptions { compression, ..EncodeOptions::default() };
    let value = ValueRef::from(v);
    (type_byte(value), value_body(value, &opts))
}

/// Encoding limits from `--name value` server arguments (defaults for the rest).
fn limits_from_args(args: &[Json]) -> EncodingLimits {
    let mut l = EncodingLimits::default();
    for pair in args.chunks(2) {
        let (Some(k), Some(v)) = (pair[0].as_str(), pair.get(1).and_then(Json::as_str)) else {
            continue;
        };
        let n: i64 = v.parse().unwrap_or(0);
        match k.trim_start_matches("--") {
            "hash-max-listpack-entries" => l.hash_max_listpack_entries = n as u64,
            "hash-max-listpack-value" => l.hash_max_listpack_value = n as u64,
            "set-max-intset-entries" => l.set_max_intset_entries = n as u64,
            "zset-max-listpack-entries" => l.zset_max_listpack_entries = n as u64,
            "zset-max-listpack-value" => l.zset_max_listpack_value = n as u64,
            "list-max-listpack-size" => l.list_max_listpack_size = n,
            _ => {}
        }
    }
    l
}

/// The encodings Redis had after loading the fixture under `which` ("same_knobs_as_generation"
/// or "default_config"), from verification.json: the save-time encoding unless listed as
/// changed on load.
fn check_load_encodings(name: &str, bytes: &[u8], manifest: &Json, which: &str) {
    let verification = load_json(&fixtures_dir().join("verification.json"));
    let run = &verification["results"][name][which];
    let limits = limits_from_args(run["server_args"].as_array().unwrap());
    let opts = DecodeOptions { limits, ..DecodeOptions::default() };
    let file = decode_file(bytes, opts).unwrap();
    let changed = run["encoding_changed_on_load"].as_object().cloned().unwrap_or_default();
    for want in manifest["keys"].as_array().unwrap() {
        if want["expect_expired_on_load"] == true {
            continue;
        }
        let db = want["db"].as_u64().unwrap() as u32;
        let key = unb64(want["key_b64"].as_str().unwrap());
        let got = file.keys.iter().find(|k| k.db == db && k.key == key).expect("key");
        let label = format!("db{db} {}", String::from_utf8_lossy(&key));
        let expected = changed
            .get(&label)
            .map(|c| c["after_load"].as_str().unwrap())
            .unwrap_or_else(|| want["encoding"].as_str().unwrap());
        let ours = match &got.value {
            RdbValue::Value(v) => v.encoding(),
            RdbValue::Stream(_) => "stream",
        };
        // Redis re-creates loaded strings: raw ones of ≤ 44 bytes come back as embstr.
        let expected = match (expected, &got.value) {
            ("raw", RdbValue::Value(Value::Str(s))) if s.len() <= 44 => "embstr",
            (e, _) => e,
        };
        assert_eq!(ours, expected, "{name} ({which}): {label}");
    }
}

fn check_fixture(name: &str) -> (usize, usize) {
    let dir = fixtures_dir().join("rdb");
    let bytes = std::fs::read(dir.join(format!("{name}.rdb"))).expect("fixture");
    let manifest = load_json(&dir.join(format!("{name}.json")));
    check_load_encodings(name, &bytes, &manifest, "same_knobs_as_generation");
    check_load_encodings(name, &bytes, &manifest, "default_config");
    let verification = load_json(&fixtures_dir().join("verification.json"));
    let args = &verification["results"][name]["same_knobs_as_generation"]["server_args"];
    let opts = DecodeOptions {
        limits: limits_from_args(args.as_array().unwrap()),
        ..DecodeOptions::default()
    };
    let file = decode_file(&bytes, opts).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(file.version, manifest["rdb"]["rdb_version"].as_u64().unwrap() as u32);

    // AUX fields in file order, int-encoded values decoded to text.
    let aux: Vec<(String, String)> = file
        .aux
        .iter()
        .map(|(k, v)| (String::from_utf8_lossy(k).into(), String::from_utf8_lossy(v).into()))
        .collect();
    let want_aux: Vec<(String, String)> = manifest["rdb"]["aux"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["key"].as_str().unwrap().into(), a["value"].as_str().unwrap().into()))
        .collect();
    assert_eq!(aux, want_aux, "{name}: aux fields");

    let functions: Vec<String> =
        file.functions.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    let want_functions: Vec<String> = manifest["rdb"]["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert_eq!(functions, want_functions, "{name}: functions");

    let mut ours: BTreeMap<(u32, Vec<u8>), &KeyEntry> = BTreeMap::new();
    for k in &file.keys {
        assert!(ours.insert((k.db, k.key.clone()), k).is_none(), "{name}: duplicate key");
    }
    let keys = manifest["keys"].as_array().unwrap();
    assert_eq!(ours.len(), keys.len(), "{name}: key count");
    let compression = manifest["config_at_save"]["rdbcompression"] != "no";
    let mut exact_compared = 0;
    for want in keys {
        let db = want["db"].as_u64().unwrap() as u32;
        let key = unb64(want["key_b64"].as_str().unwrap());
        let label = format!("{name}: db {db} key {:?}", String::from_utf8_lossy(&key));
        let got = ours.get(&(db, key.clone())).unwrap_or_else(|| panic!("{label}: missing"));
        assert_eq!(got.value.type_name(), want["type"].as_str().unwrap(), "{label}: type");
        assert_eq!(value_json(&got.value), manifest_value(want), "{label}: value");
        assert_eq!(got.expire_ms, want["expire_ms"].as_i64(), "{label}: expire");
        let rdb = &want["rdb"];
        assert_eq!(got.idle_s, rdb["lru_idle_seconds"].as_u64(), "{label}: idle");
        assert_eq!(got.freq.map(u64::from), rdb["lfu_freq"].as_u64(), "{label}: freq");
        assert_eq!(got.offset, rdb["file_offset"].as_u64().unwrap(), "{label}: offset");

        // Lists keep the quicklist nodes Redis saved.
        if let (RdbValue::Value(Value::List(l)), Some(nodes)) =
            (&got.value, rdb["quicklist_nodes"].as_array())
        {
            let ours: Vec<(bool, usize)> = l.nodes().map(|n| (n.raw().0, n.len())).collect();
            let want: Vec<(bool, usize)> = nodes
                .iter()
                .map(|n| (n["container"] == "plain", n["count"].as_u64().unwrap() as usize))
                .collect();
            assert_eq!(ours, want, "{label}: quicklist nodes");
        }

        // The encoder writes these exactly as Redis did (compressed quicklist nodes are the
        // exception: Redis copies the node's own LZF blob, which the engine does not keep).
        let rdb_type = want["rdb_type"].as_u64().unwrap() as u8;
        let exact = matches!(rdb_type, 0 | 11 | 16 | 17 | 18) && name != "lists-compressed";
        let (our_type, body) = encode_body(&got.value, compression);
        if exact && our_type == rdb_type {
            let from = rdb["value_offset"].as_u64().unwrap() as usize;
            let to = rdb["value_end"].as_u64().unwrap() as usize;
            assert!(body == bytes[from..to], "{label}: encoded bytes differ from Redis's");
            exact_compared += 1;
        }
    }
    (keys.len(), exact_compared)
}

macro_rules! fixture_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check_fixture($name);
            }
        )*
    };
}

fixture_tests! {
    empty => "empty",
    expire => "expire",
    expire_extreme => "expire-extreme",
    functions => "functions",
    hashes => "hashes",
    lfu_freq => "lfu-freq",
    lists => "lists",
    lists_compressed => "lists-compressed",
    lists_node_sizes => "lists-node-sizes",
    lists_plain_nodes => "lists-plain-nodes",
    lru_idle => "lru-idle",
    multidb => "multidb",
    nochecksum => "nochecksum",
    sets => "sets",
    small_mixed => "small-mixed",
    streams => "streams",
    strings => "strings",
    strings_nocompress => "strings-nocompress",
    zsets => "zsets",
}

/// No fixture is left out of the list above.
#[test]
fn every_fixture_is_checked() {
    let dir = fixtures_dir().join("rdb");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            let stem = p.file_stem()?.to_string_lossy().into_owned();
            (p.extension()? == "rdb").then_some(stem)
        })
        .collect();
    names.sort();
    let index = load_json(&fixtures_dir().join("index.json"));
    let listed: Vec<&str> = index["fixtures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "rdb")
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), listed.len());
    assert_eq!(names.len(), 19, "a new fixture needs a line in fixture_tests!");
    let (mut keys, mut exact) = (0, 0);
    for n in &names {
        let (k, e) = check_fixture(n);
        keys += k;
        exact += e;
    }
    assert!(keys > 150, "only {keys} keys checked");
    // Strings (incl. LZF), intsets, listpacks and quicklists written byte for byte as Redis.
    assert!(exact > 120, "only {exact} values compared byte for byte");
    eprintln!("{keys} keys checked, {exact} re-encoded byte for byte");
}

/// Encoding choices on load follow the limits, as Redis's loader does.
#[test]
fn load_time_encodings_follow_the_limits() {
    let dir = fixtures_dir().join("rdb");
    let bytes = std::fs::read(dir.join("hashes.rdb")).unwrap();
    let file = decode_file(&bytes, DecodeOptions::default()).unwrap();
    let enc = |k: &KeyEntry| match &k.value {
        RdbValue::Value(v) => v.encoding(),
        RdbValue::Stream(_) => "stream",
    };
    for k in &file.keys {
        let RdbValue::Value(Value::Hash(h)) = &k.value else { continue };
        let mut longest = 0;
        h.for_each(|f, v| longest = longest.max(f.len()).max(v.len()));
        let want = if h.len() > 512 || longest > 64 { "hashtable" } else { "listpack" };
        assert_eq!(enc(k), want, "{:?}", String::from_utf8_lossy(&k.key));
    }
    // With hash-max-listpack-entries 0 every hash loads as a hashtable.
    let mut opts = DecodeOptions::default();
    opts.limits.hash_max_listpack_entries = 0;
    let file = decode_file(&bytes, opts).unwrap();
    assert!(file.keys.iter().all(|k| enc(k) == "hashtable"));
    let _: Option<Json> = None;
}
