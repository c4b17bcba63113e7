//! Clients blocked in XREAD / XREADGROUP on this shard's streams.
//!
//! ```text
//!   XREAD … BLOCK ms … $ ──► null array ──► park with `$` resolved to the last id (and the
//!                                            default COUNT 1000), on this shard, same instant
//!   write / delete / group destroyed on a key ──► engine's serve_blocked per waiter, in the
//!                                                 order they blocked; a stream wakes every
//!                                                 waiter it can serve, not only the first
//! ```
//! The engine decides what a waiter gets (`families::stream::serve_blocked`): entries past its
//! id, `-NOGROUP` / `-UNBLOCKED` errors, or nothing yet. This module only adapts it to the
//! shard's waiter queue.

use bytes::Bytes;
use mayfly_engine::families::stream;
use mayfly_engine::reply::Reply;
use mayfly_engine::shard::Shard;

/// True for XREAD and XREADGROUP (whatever their options).
pub fn is_stream_read(argv: &[Bytes]) -> bool {
    argv.first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"xread") || n.eq_ignore_ascii_case(b"xreadgroup"))
}

/// The argv a stream read is parked with: `$` resolved against the streams as they are now
/// (the command just found nothing), COUNT 1000 when none was given. Other commands keep theirs.
pub fn parked_argv(shard: &mut Shard, db: usize, resp3: bool, argv: Vec<Bytes>) -> Vec<Bytes> {
    if !is_stream_read(&argv) {
        return argv;
    }
    let mut ctx = shard.ctx(db, resp3);
    stream::blocking_argv(&mut ctx, &argv).unwrap_or(argv)
}

/// What a parked stream read answers after `key` changed, or None to keep waiting.
pub fn serve(
    shard: &mut Shard,
    db: usize,
    resp3: bool,
    argv: &[Bytes],
    key: &[u8],
) -> Option<Reply> {
    let mut ctx = shard.ctx(db, resp3);
    stream::serve_blocked(&mut ctx, argv, key)
}
