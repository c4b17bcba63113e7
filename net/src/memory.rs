//! Memory figures from the allocator itself (jemalloc's counters), not estimates.

use std::sync::atomic::{AtomicU64, Ordering};

static PEAK: AtomicU64 = AtomicU64::new(0);

/// Bytes currently allocated by the application, per jemalloc.
pub fn allocated_bytes() -> u64 {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    tikv_jemalloc_ctl::stats::allocated::read().map(|n| n as u64).unwrap_or(0)
}

/// jemalloc's process-wide figures, read after one epoch refresh.
#[derive(Debug, Default, Clone, Copy)]
pub struct AllocatorStats {
    /// Bytes handed out to the application.
    pub allocated: u64,
    /// Bytes in pages with at least one live allocation (allocated + slab fragmentation).
    pub active: u64,
    /// Bytes in physically resident pages the allocator maps, metadata included.
    pub resident: u64,
    /// Bytes of the allocator's own metadata.
    pub metadata: u64,
}

pub fn allocator_stats() -> AllocatorStats {
    use tikv_jemalloc_ctl::stats;
    let _ = tikv_jemalloc_ctl::epoch::advance();
    AllocatorStats {
        allocated: stats::allocated::read().map(|n| n as u64).unwrap_or(0),
        active: stats::active::read().map(|n| n as u64).unwrap_or(0),
        resident: stats::resident::read().map(|n| n as u64).unwrap_or(0),
        metadata: stats::metadata::read().map(|n| n as u64).unwrap_or(0),
    }
}

/// Peak of [`allocated_bytes`] as observed (updated on each call).
pub fn peak_bytes(current: u64) -> u64 {
    PEAK.fetch_max(current, Ordering::Relaxed).max(current)
}

thread_local! {
    /// jemalloc's per-thread allocated/deallocated counters, looked up once per thread.
    static COUNTERS: Option<(tikv_jemalloc_ctl::thread::ThreadLocal<u64>, tikv_jemalloc_ctl::thread::ThreadLocal<u64>)> =
        match (tikv_jemalloc_ctl::thread::allocatedp::read(), tikv_jemalloc_ctl::thread::deallocatedp::read()) {
            (Ok(a), Ok(d)) => Some((a, d)),
            _ => None,
        };
}

/// Bytes allocated minus bytes freed by the calling thread, from jemalloc's own counters: a
/// pointer read, cheap enough for every write. Memory freed by another thread than the one
/// that allocated it moves between threads' figures; the sum over all threads stays exact.
pub fn thread_net_bytes() -> i64 {
    COUNTERS.with(|c| c.map(|(a, d)| a.get() as i64 - d.get() as i64).unwrap_or(0))
}
