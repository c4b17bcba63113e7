//! mayfly-persistence: byte formats and file lifecycles. Today: the Redis 7.0 RDB codec
//! (files, DUMP payloads). Takes a sink or a byte slice, owns no runtime, never touches a
//! socket; depends on the engine for value types only.
//!
//! ```text
//!                       decode (any version 1..=10)                 encode (version 10)
//!  file bytes (mmap) ──▶ Decoder::new(&[u8], DecodeOptions)     Encoder::new(sink, EncodeOptions)
//!                        │ next_item() / Iterator                 │ write_aux_fields(&AuxFields)
//!                        ▼                                        │ write_function(src)
//!                 Item::Aux | Function | SelectDb                 │ select_db(db, size, expires)
//!                      | ResizeDb | Key(KeyEntry)                 │ write_key(key, &Value, &KeyMeta)
//!                        │   KeyEntry { db, key, value,           ▼
//!                        │     expire_ms, idle_s, freq }     finish() ─▶ EOF + CRC-64 ─▶ Sink
//!                        ▼                                              (Vec<u8>, WriteSink<W>,
//!     RdbValue::Value(mayfly_engine::value::Value)                        the server's io_uring)
//!            | RdbValue::Stream(StreamData)
//!
//!  DUMP / RESTORE:  dump(&Value | &StreamData, &EncodeOptions) -> Vec<u8>
//!                   restore(payload, deep_sanitize, &EncodingLimits) -> Result<RdbValue, RestoreError>
//!
//!  inside:  load ─▶ decode ─▶ reader ─▶ lzf, crc64        encode ─▶ lzf, crc64
//!                        └──▶ packed::{listpack, ziplist, zipmap, intset}, stream
//!           format: on-disk tags only (type bytes, opcodes), apart from the engine's enums
//! ```
//!
//! Goals: load every file redis-server 7.0 loads, into the same in-memory encodings
//! ([`EncodingLimits`] are the `*-max-*` settings); write files and payloads redis-server
//! 7.0.15 loads, byte for byte as it writes them (LZF output may differ where liblzf's
//! uninitialised hash table finds other matches); refuse every malformed input with a typed
//! [`RdbError`] carrying the offset and Redis's wording, never panicking and never allocating
//! more than the input can back.
//!
//! Non-goals here: expiring keys on load (the caller decides: master or replica), routing keys
//! to shards, file lifecycle (temp file, fsync, rename), module types (refused as Redis
//! refuses data of a module it has not loaded).

pub mod aof;
pub mod crc64;
pub mod decode;
pub mod dump;
pub mod encode;
pub mod error;
pub mod format;
pub mod load;
pub mod lzf;
pub mod packed;
pub mod reader;
pub mod stream;

pub use decode::{EncodingLimits, RdbValue};
pub use dump::{
    dump, dump_functions, read_functions, restore, verify_payload, FunctionPayloadError,
};
pub use encode::{
    key_record, AuxFields, EncodeOptions, Encoder, KeyMeta, KeyUsage, ReplicationAux, Sink,
    ValueRef, WriteSink,
};
pub use error::{ErrorKind, RdbError, RestoreError};
pub use load::{decode_file, decode_key_at, DecodeOptions, Decoder, Item, KeyEntry, RdbFile};
pub use stream::{
    Consumer, ConsumerGroup, PendingEntry, StreamData, StreamEntry, StreamId, StreamNodeLimits,
};
