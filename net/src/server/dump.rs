//! The DUMP payload codec the engine's DUMP and RESTORE commands call (see
//! `mayfly_engine::families::dump`): `mayfly-persistence`'s RDB codec, with the settings that
//! change its bytes or the loaded encodings taken from the configuration.
//!
//! ```text
//!  engine DUMP/RESTORE ──► Codec { dump, restore } (installed by `install` at start)
//!                          └─► mayfly_persistence::{dump, restore}
//! ```
//! A refused payload is logged at `verbose` with its cause, as Redis's `rdbReportError` does in
//! a RESTORE context; nothing else happens.

use mayfly_engine::config::Config;
use mayfly_engine::families::dump::{install_codec, Codec, RestoreFailure};
use mayfly_engine::types::stream::NodeLimits;
use mayfly_engine::value::Value;
use mayfly_persistence::{EncodeOptions, EncodingLimits, RdbValue, RestoreError, StreamNodeLimits};

/// Installs the codec (idempotent); called once at start.
pub fn install() {
    install_codec(Codec { dump: dump_value, restore: decode_payload });
}

/// `rdbcompression`: DUMP payloads compress strings as RDB files do.
pub fn rdb_compression(config: &Config) -> bool {
    config.rdbcompression
}

/// The encoder settings the configuration implies.
pub fn encode_options(config: &Config) -> EncodeOptions {
    EncodeOptions {
        compression: rdb_compression(config),
        checksum: true,
        stream_nodes: StreamNodeLimits {
            max_bytes: usize::try_from(config.stream_node_max_bytes).unwrap_or(usize::MAX),
            max_entries: usize::try_from(config.stream_node_max_entries).unwrap_or(usize::MAX),
        },
    }
}

/// The load-time encoding thresholds the configuration implies.
pub fn encoding_limits(config: &Config) -> EncodingLimits {
    EncodingLimits {
        hash_max_listpack_entries: config.hash_max_listpack_entries,
        hash_max_listpack_value: config.hash_max_listpack_value,
        set_max_intset_entries: config.set_max_intset_entries,
        zset_max_listpack_entries: config.zset_max_listpack_entries,
        zset_max_listpack_value: config.zset_max_listpack_value,
        list_max_listpack_size: config.list_max_listpack_size,
    }
}

/// The DUMP payload of `value` under `config`.
pub fn dump_value(value: &Value, config: &Config) -> Vec<u8> {
    mayfly_persistence::dump(value, &encode_options(config))
}

/// Decodes a payload into an engine value (streams converted to the engine's stream type).
pub fn decode_payload(
    payload: &[u8],
    deep_sanitize: bool,
    config: &Config,
) -> Result<Value, RestoreFailure> {
    let decoded = mayfly_persistence::restore(payload, deep_sanitize, &encoding_limits(config));
    match decoded {
        Ok(RdbValue::Value(v)) => Ok(v),
        Ok(RdbValue::Stream(s)) => {
            let limits = NodeLimits {
                max_bytes: config.stream_node_max_bytes,
                max_entries: config.stream_node_max_entries,
            };
            s.to_engine(limits).map(|s| Value::Stream(Box::new(s))).map_err(|why| {
                crate::log::verbose(&format!("RESTORE of a stream refused: {why}"));
                RestoreFailure::BadDataFormat
            })
        }
        Err(RestoreError::VersionOrChecksum) => Err(RestoreFailure::VersionOrChecksum),
        Err(RestoreError::BadDataFormat(e)) => {
            crate::log::verbose(&format!("Internal error in RDB reading: {e}"));
            Err(RestoreFailure::BadDataFormat)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mayfly_engine::value::StrValue;

    #[test]
    fn payloads_round_trip_and_corruption_is_refused() {
        let config = Config::default();
        let v = Value::Str(StrValue::from_bytes(b"hello world"));
        let p = dump_value(&v, &config);
        let back = decode_payload(&p, true, &config).expect("restores");
        assert_eq!(back.encoding(), "embstr");
        let mut bad = p.clone();
        bad[1] ^= 0xff;
        assert_eq!(
            decode_payload(&bad, true, &config).unwrap_err(),
            RestoreFailure::VersionOrChecksum
        );
        assert_eq!(
            decode_payload(b"", false, &config).unwrap_err(),
            RestoreFailure::VersionOrChecksum
        );
    }

    #[test]
    fn compression_follows_the_configuration() {
        let mut config = Config::default();
        let v = Value::Str(StrValue::from_bytes(&[b'a'; 200]));
        assert!(dump_value(&v, &config).len() < 100);
        config.rdbcompression = false;
        assert!(dump_value(&v, &config).len() > 200);
    }

    /// Payloads of every type and encoding, made by real commands.
    fn seed_payloads() -> Vec<Vec<u8>> {
        use mayfly_engine::testing::TestShard;
        let mut t = TestShard::new();
        let mut script: Vec<Vec<String>> = vec![
            vec!["SET".into(), "s".into(), "hello".into()],
            vec!["SET".into(), "i".into(), "-99".into()],
            vec!["SET".into(), "lzf".into(), "abcd".repeat(30)],
            vec!["RPUSH".into(), "l".into(), "a".into(), "7".into(), "x".repeat(70)],
            vec!["SADD".into(), "si".into(), "1".into(), "5".into(), "-3".into()],
            vec!["SADD".into(), "ss".into(), "a".into(), "b".into()],
            vec!["HSET".into(), "h".into(), "f".into(), "v".into(), "n".into(), "1".into()],
            vec!["ZADD".into(), "z".into(), "1".into(), "a".into(), "2.5".into(), "b".into()],
            vec!["XADD".into(), "x".into(), "1-1".into(), "f".into(), "v".into()],
            vec![
                "XADD".into(),
                "x".into(),
                "2-1".into(),
                "f".into(),
                "w".into(),
                "g".into(),
                "1".into(),
            ],
            vec!["XGROUP".into(), "CREATE".into(), "x".into(), "grp".into(), "0".into()],
            vec![
                "XREADGROUP".into(),
                "GROUP".into(),
                "grp".into(),
                "alice".into(),
                "COUNT".into(),
                "1".into(),
                "STREAMS".into(),
                "x".into(),
                ">".into(),
            ],
            vec!["XDEL".into(), "x".into(), "2-1".into()],
        ];
        let mut big_hash = vec!["HSET".to_string(), "hb".into()];
        let mut big_zset = vec!["ZADD".to_string(), "zb".into()];
        let mut big_set = vec!["SADD".to_string(), "sb".into()];
        for i in 0..200 {
            big_hash.extend([format!("f{i}"), format!("v{i}")]);
            big_zset.extend([format!("{i}.5"), format!("m{i}")]);
            big_set.push(format!("m{i}"));
        }
        script.extend([big_hash, big_zset, big_set]);
        for cmd in &script {
            let argv: Vec<&str> = cmd.iter().map(String::as_str).collect();
            let reply = t.run(&argv);
            assert!(!matches!(reply, mayfly_engine::reply::Reply::Error(_)), "{cmd:?}: {reply:?}");
        }
        let config = Config::default();
        t.shard.dbs[0].table.iter().map(|(_, e)| dump_value(&e.value, &config)).collect()
    }

    fn with_crc(mut body: Vec<u8>) -> Vec<u8> {
        let crc = mayfly_persistence::crc64::crc64(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        body
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Mutated payloads (CRC fixed, so the value parsers see the damage) never panic the
        /// RESTORE path (codec, stream conversion), and whatever is accepted is a usable
        /// value: it digests, dumps, and restores again to the same digest.
        #[test]
        fn mutated_payloads_never_panic_and_accepted_values_are_sound(
            seed in 0usize..1000,
            edits in proptest::collection::vec((0usize..100_000, proptest::prelude::any::<u8>(), 0u8..4), 1..6),
            deep in proptest::prelude::any::<bool>(),
        ) {
            thread_local! {
                static SEEDS: Vec<Vec<u8>> = seed_payloads();
            }
            let original = SEEDS.with(|s| s[seed % s.len()].clone());
            let mut body = original[..original.len() - 8].to_vec();
            for (at, byte, kind) in edits {
                let n = body.len().max(1);
                let at = at % n;
                match kind {
                    0 if at < body.len() => body[at] ^= byte | 1,
                    1 if at < body.len() => body[at] = byte,
                    2 => body.insert(at.min(body.len()), byte),
                    _ => body.truncate(at),
                }
            }
            let config = Config::default();
            let payload = with_crc(body);
            if let Ok(v) = decode_payload(&payload, deep, &config) {
                let d = mayfly_engine::digest::value_digest(&v, false);
                let again = dump_value(&v, &config);
                let back = decode_payload(&again, true, &config);
                proptest::prop_assert!(back.is_ok(), "an accepted value re-dumps to a valid payload");
                let back = back.unwrap_or_else(|_| unreachable!());
                proptest::prop_assert_eq!(mayfly_engine::digest::value_digest(&back, false), d);
            }
        }

        /// Arbitrary bytes, with or without a valid footer, never panic.
        #[test]
        fn arbitrary_payloads_never_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            footer in proptest::prelude::any::<bool>(),
        ) {
            let config = Config::default();
            let payload = if footer {
                let mut b = bytes;
                b.extend_from_slice(&[10, 0]);
                with_crc(b)
            } else {
                bytes
            };
            let _ = decode_payload(&payload, false, &config);
            let _ = decode_payload(&payload, true, &config);
        }
    }
}
