//! The corrupted fixtures (../shared/fixtures/redis-7.0/corrupt): each is refused when
//! redis-server 7.0.15 refuses it, with the same message, and loaded when Redis loads it
//! (a flipped byte in a file saved without checksum; garbage after the checksum).

mod support;

use mayfly_engine::value::Value;
use mayfly_persistence::{decode_file, DecodeOptions, ErrorKind, RdbValue};
use support::*;

fn outcome(
    name: &str,
) -> (Result<mayfly_persistence::RdbFile, mayfly_persistence::RdbError>, serde_json::Value) {
    let dir = fixtures_dir().join("corrupt");
    let bytes = std::fs::read(dir.join(format!("{name}.rdb"))).expect("fixture");
    let notes = load_json(&dir.join(format!("{name}.json")));
    (decode_file(&bytes, DecodeOptions::default()), notes)
}

/// Refused, with an error whose message contains `phrase`, which Redis's log contains too.
fn refused(name: &str, phrase: &str) -> ErrorKind {
    let (result, notes) = outcome(name);
    assert_eq!(notes["expect"], "load_error", "{name}");
    assert_eq!(notes["redis-server"]["loaded"], false);
    let err = result.expect_err(name);
    let message = err.kind.message();
    assert!(message.contains(phrase), "{name}: {message}");
    let log: Vec<String> = notes["redis-server"]["server_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    assert!(log.iter().any(|l| l.contains(phrase)), "{name}: Redis said {log:?}");
    assert!(err.offset <= 265, "{name}: offset {}", err.offset);
    err.kind
}

#[test]
fn bad_magic() {
    assert_eq!(
        refused("bad-magic", "Wrong signature trying to load DB from file"),
        ErrorKind::WrongSignature
    );
}

#[test]
fn bad_versions() {
    assert_eq!(
        refused("bad-version-0", "Can't handle RDB format version 0"),
        ErrorKind::UnsupportedVersion(0)
    );
    assert_eq!(
        refused("bad-version-11", "Can't handle RDB format version 11"),
        ErrorKind::UnsupportedVersion(11)
    );
}

#[test]
fn checksum_mismatches() {
    for name in ["flipped-checksum", "flipped-value-byte"] {
        let kind = refused(name, "Wrong RDB checksum expected");
        assert!(matches!(kind, ErrorKind::ChecksumMismatch { .. }), "{name}");
    }
    // The exact figures Redis printed.
    let (result, notes) = outcome("flipped-checksum");
    let line = notes["redis-server"]["server_log"][3].as_str().unwrap();
    assert!(result.unwrap_err().kind.message().starts_with(line), "{line}");
}

#[test]
fn truncations_are_short_reads() {
    for name in ["truncated-half", "truncated-before-eof", "truncated-in-checksum"] {
        assert_eq!(refused(name, "Short read or OOM loading DB"), ErrorKind::UnexpectedEof);
    }
}

#[test]
fn unknown_type() {
    assert_eq!(
        refused("unknown-type-valid-crc", "Unknown RDB encoding type 100"),
        ErrorKind::UnknownType(100)
    );
}

#[test]
fn what_redis_loads_loads() {
    for (name, value) in [
        ("flipped-value-byte-nochecksum", "the Quick brown fox"),
        ("trailing-garbage", "the quick brown fox"),
    ] {
        let (result, notes) = outcome(name);
        assert_eq!(notes["redis-server"]["loaded"], true, "{name}");
        let file = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        let target = file.keys.iter().find(|k| k.key == b"target").expect("target key");
        let RdbValue::Value(Value::Str(s)) = &target.value else { panic!("not a string") };
        assert_eq!(s.to_vec(), value.as_bytes(), "{name}");
    }
}

/// Every corrupt fixture is covered by one of the tests above.
#[test]
fn every_corrupt_fixture_is_covered() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir().join("corrupt"))
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            let stem = p.file_stem()?.to_string_lossy().into_owned();
            (p.extension()? == "rdb").then_some(stem)
        })
        .collect();
    names.sort();
    assert_eq!(names.len(), 11);
    for name in &names {
        let (result, notes) = outcome(name);
        let redis_loaded = notes["redis-server"]["loaded"] == true;
        assert_eq!(result.is_ok(), redis_loaded, "{name}");
    }
}
