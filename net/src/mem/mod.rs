//! Process memory: the per-shard jemalloc arenas (`alloc`) and the figures maxmemory is
//! checked against (`book`). No Redis knowledge; the shard layer reads the book.

pub mod alloc;
pub mod book;
