//! mayfly-persistence: byte formats and file lifecycles (RDB, AOF). Takes a sink or a source,
//! owns no runtime. Depends on the engine for value types only.
