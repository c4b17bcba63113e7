//! Reading ahead of a client whose replies back up (docs/decisions/0010-pipelines-without-reading.md).
//!
//! ```text
//!   output < cap ──────────────► read, execute, queue replies          (as before)
//!   output ≥ cap ──┬─ may_read_ahead ─► read into the query buffer only (requests wait there)
//!                  └─ otherwise ──────► stop reading (TCP back-pressure)
//! ```
//! A client may write a whole pipeline before it reads any reply (redis-benchmark -P, a
//! bulk loader with one thread). Redis never stops reading such a client: it executes and
//! buffers the replies without bound (the `normal` class has no output limit). Stopping to
//! read once replies back up deadlocks it: the client blocks in `send`, the server waits for
//! the client to read. So once the replies are at the cap, Mayfly keeps reading the client's
//! requests without executing them: a request costs its own bytes in the query buffer,
//! never a reply's (a 22-byte `MGET` of a 100 KB key would cost 100 KB as a queued reply).
//! The client finishes writing, starts reading, the replies drain, and the waiting requests
//! run. Bounded by `client-query-buffer-limit` per client (stop reading just below it rather
//! than close: these bytes wait because of us) and, under `maxmemory`, by the shard's budget:
//! past a small floor, read-ahead stops while the shard is over it, so buffered requests
//! never make keys be evicted.

use crate::shard::here;

/// Read-ahead below this many buffered bytes is allowed even over maxmemory: a client is
/// never starved of a few requests (a full `noeviction` database still serves pipelines of
/// reads whose replies back up briefly). Small: net/tests/eviction.rs has 20 such clients.
pub const FLOOR_BYTES: usize = 256 * 1024;

/// Room kept below `client-query-buffer-limit`: one recv appends at most a provided buffer
/// or a single read (16 KiB), so stopping this far below the limit never trips it.
pub const HEADROOM_BYTES: usize = 64 * 1024;

/// Whether a client whose replies are at the cap may have `buffered` more bytes read into
/// its query buffer (`qbuf_limit`: client-query-buffer-limit).
pub fn may_read_ahead(buffered: usize, qbuf_limit: usize) -> bool {
    within_limits(buffered, qbuf_limit, shard_over_maxmemory)
}

fn within_limits(
    buffered: usize,
    qbuf_limit: usize,
    over_maxmemory: impl FnOnce() -> bool,
) -> bool {
    if buffered.saturating_add(HEADROOM_BYTES) >= qbuf_limit {
        return false;
    }
    buffered < FLOOR_BYTES || !over_maxmemory()
}

/// This shard's memory is over its share of maxmemory (false without maxmemory).
fn shard_over_maxmemory() -> bool {
    let rt = here();
    let env = rt.env.borrow();
    let maxmemory = env.shard.config.maxmemory;
    if maxmemory == 0 {
        return false;
    }
    env.used_memory() > env.memory.budget(maxmemory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_ahead_stays_below_the_query_buffer_limit() {
        let limit = 1 << 20;
        assert!(within_limits(0, limit, || false));
        assert!(within_limits(limit - HEADROOM_BYTES - 1, limit, || false));
        assert!(!within_limits(limit - HEADROOM_BYTES, limit, || false));
        assert!(!within_limits(limit, limit, || false));
        assert!(!within_limits(0, 10, || false), "a tiny limit allows nothing");
    }

    #[test]
    fn maxmemory_stops_read_ahead_past_the_floor_only() {
        let limit = 1 << 30;
        assert!(within_limits(FLOOR_BYTES - 1, limit, || true));
        assert!(!within_limits(FLOOR_BYTES, limit, || true));
        assert!(within_limits(FLOOR_BYTES * 10, limit, || false));
    }
}
