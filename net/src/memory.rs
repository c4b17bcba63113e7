//! Memory figures from the allocator itself (jemalloc's counters), not estimates.

use std::sync::atomic::{AtomicU64, Ordering};

static PEAK: AtomicU64 = AtomicU64::new(0);

/// Bytes currently allocated by the application, per jemalloc.
pub fn allocated_bytes() -> u64 {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    tikv_jemalloc_ctl::stats::allocated::read().map(|n| n as u64).unwrap_or(0)
}

/// Peak of [`allocated_bytes`] as observed (updated on each call).
pub fn peak_bytes(current: u64) -> u64 {
    PEAK.fetch_max(current, Ordering::Relaxed).max(current)
}
