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

/// `rdbcompression` as the configuration says it (whether or not it is settable yet).
pub fn rdb_compression(config: &Config) -> bool {
    config.get("rdbcompression").is_none_or(|v| v == "yes")
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

fn dump_value(value: &Value, config: &Config) -> Vec<u8> {
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
        config.compat.insert("rdbcompression", "no".into());
        assert!(dump_value(&v, &config).len() > 200);
    }
}
