//! Streams move between the codec's `StreamData` and the engine's stream value without loss:
//! every stream of the `streams` fixture (written by redis-server 7.0.15: tombstones, trimmed
//! heads, groups with PELs, consumers without pending entries, an empty stream) becomes an
//! engine stream and comes back equal, and an engine stream encoded to RDB decodes to the same
//! value.

mod support;

use mayfly_engine::types::stream::NodeLimits;
use mayfly_engine::value::Value;
use mayfly_persistence::{decode_file, DecodeOptions, RdbValue, StreamData};

#[test]
fn fixture_streams_round_trip_through_the_engine_value() {
    let path = support::fixtures_dir().join("rdb/streams.rdb");
    let data = std::fs::read(&path).expect("streams fixture");
    let file = decode_file(&data, DecodeOptions::default()).expect("decodes");
    let mut streams = 0;
    for k in &file.keys {
        let RdbValue::Stream(original) = &k.value else { continue };
        let original: &StreamData = original;
        streams += 1;
        let engine = original.to_engine(NodeLimits::default()).expect("valid stream");
        assert_eq!(engine.len(), original.length);
        let back = StreamData::from_engine(&engine);
        assert_eq!(&back, original, "{}", String::from_utf8_lossy(&k.key));
        // And through a DUMP payload of the engine value.
        let payload = mayfly_persistence::dump(
            mayfly_persistence::ValueRef::Value(&Value::Stream(Box::new(engine))),
            &Default::default(),
        );
        let restored = mayfly_persistence::restore(&payload, true, &Default::default())
            .expect("our payload restores");
        match restored {
            RdbValue::Stream(s) => assert_eq!(&*s, original),
            RdbValue::Value(Value::Stream(s)) => assert_eq!(&StreamData::from_engine(&s), original),
            other => panic!("restored {other:?}"),
        }
    }
    assert!(streams >= 4, "the fixture has several streams ({streams})");
}
