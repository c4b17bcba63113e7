//! Memory figures from the allocator itself (jemalloc's counters), not estimates.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

static PEAK: AtomicU64 = AtomicU64::new(0);

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

/// Peak of the allocated bytes ([`AllocatorStats::allocated`]) as observed (updated on each
/// call).
pub fn peak_bytes(current: u64) -> u64 {
    PEAK.fetch_max(current, Ordering::Relaxed).max(current)
}

/// The memory figures the shards publish and `maxmemory` is checked against.
///
/// With per-shard arenas ([`crate::alloc`], the `mayfly` binary) each shard has a budget of
/// `maxmemory / shards` and its own figure: its exact live bytes, plus the slab holes and
/// thread-cached blocks of its arena (from its last calibration), plus an even share of what
/// no shard's arena holds (start-up data of the main thread). Without them (an embedding with
/// another global allocator, or an address-space reservation that failed) one process-wide
/// figure is compared with `maxmemory` and every shard evicts its own keys when it is over.
pub struct MemoryBook {
    /// Per shard: its live net bytes, published by the shard itself on every memory check.
    live: Vec<CachePadded<AtomicI64>>,
    /// Per shard (split mode): its arena's active bytes minus its live bytes, at calibration.
    offset: Vec<CachePadded<AtomicI64>>,
    /// Split mode: active bytes outside every shard's arena. Otherwise: the process's active
    /// bytes minus the sum of the live figures, at calibration.
    shared: AtomicI64,
    split: bool,
}

impl MemoryBook {
    pub fn new(shards: usize, split: bool) -> MemoryBook {
        let shards = shards.max(1);
        MemoryBook {
            live: (0..shards).map(|_| Default::default()).collect(),
            offset: (0..shards).map(|_| Default::default()).collect(),
            shared: AtomicI64::new(0),
            split,
        }
    }

    /// True when maxmemory is split into per-shard budgets.
    pub fn split(&self) -> bool {
        self.split
    }

    pub fn shards(&self) -> usize {
        self.live.len()
    }

    /// Publishes the calling shard's live figure and returns it.
    pub fn publish(&self, shard: usize) -> i64 {
        let own = if self.split {
            super::alloc::shard_net_bytes()
        } else {
            super::alloc::thread_net_bytes()
        };
        if let Some(slot) = self.live.get(shard) {
            slot.store(own, Ordering::Relaxed);
        }
        own
    }

    /// Shard `shard`'s live bytes as last published: in split mode, exactly what it
    /// allocated and nobody has freed yet (no calibration in it).
    pub fn shard_live(&self, shard: usize) -> i64 {
        self.live.get(shard).map_or(0, |s| s.load(Ordering::Relaxed))
    }

    /// Split mode: shard `shard`'s figure as last published and calibrated.
    pub fn shard_used(&self, shard: usize) -> u64 {
        let live = self.live.get(shard).map_or(0, |s| s.load(Ordering::Relaxed));
        let offset = self.offset.get(shard).map_or(0, |s| s.load(Ordering::Relaxed));
        let shared = self.shared.load(Ordering::Relaxed) / self.shards() as i64;
        (live + offset + shared).max(0) as u64
    }

    /// The process's figure: every shard's, summed.
    pub fn total_used(&self) -> u64 {
        if self.split {
            return (0..self.shards()).map(|i| self.shard_used(i)).sum();
        }
        let live: i64 = self.live.iter().map(|s| s.load(Ordering::Relaxed)).sum();
        (live + self.shared.load(Ordering::Relaxed)).max(0) as u64
    }

    /// The budget of one shard (split mode) or of the process; never 0 for a set maxmemory
    /// (0 means "no limit").
    pub fn budget(&self, maxmemory: u64) -> u64 {
        if self.split && maxmemory > 0 {
            (maxmemory / self.shards() as u64).max(1)
        } else {
            maxmemory
        }
    }

    /// Re-aligns the figures with jemalloc's *active* bytes, run from the shard's tick (in
    /// split mode every shard calibrates itself; otherwise shard 0 calibrates the total).
    /// Active bytes count what is allocated plus the free slots of partly used slabs: those
    /// are resident and no other process can have them, and under eviction churn they grow to
    /// several percent of the data, so a budget checked against allocated bytes alone lets RSS
    /// overshoot maxmemory. INFO's used_memory stays the allocated figure, as in Redis. See
    /// docs/decisions/0002-maxmemory-accounting.md and 0003-per-shard-memory.md.
    pub fn calibrate(&self, shard: usize) {
        if !self.split {
            if shard == 0 {
                let live: i64 = self.live.iter().map(|s| s.load(Ordering::Relaxed)).sum();
                let active = allocator_stats().active as i64;
                self.shared.store(active - live, Ordering::Relaxed);
            }
            return;
        }
        let total_active = allocator_stats().active as i64;
        let own = self.publish(shard);
        if let (Some(active), Some(slot)) =
            (super::alloc::arena_active_bytes(shard), self.offset.get(shard))
        {
            slot.store(active as i64 - own, Ordering::Relaxed);
        }
        if shard == 0 {
            let arenas: i64 = (0..self.shards())
                .map(|i| super::alloc::arena_active_bytes(i).unwrap_or(0) as i64)
                .sum();
            self.shared.store((total_active - arenas).max(0), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_split_evenly_and_never_reach_zero() {
        let split = MemoryBook::new(2, true);
        assert_eq!(split.budget(64 << 20), 32 << 20);
        assert_eq!(split.budget(1), 1, "maxmemory 1 must still evict everything");
        assert_eq!(split.budget(0), 0, "no limit stays no limit");
        let process = MemoryBook::new(2, false);
        assert_eq!(process.budget(64 << 20), 64 << 20);
    }

    #[test]
    fn a_shard_is_charged_its_live_bytes_its_offset_and_a_share_of_the_rest() {
        let book = MemoryBook::new(2, true);
        book.live[0].store(1000, Ordering::Relaxed);
        book.live[1].store(3000, Ordering::Relaxed);
        book.offset[0].store(200, Ordering::Relaxed);
        book.offset[1].store(-100, Ordering::Relaxed);
        book.shared.store(600, Ordering::Relaxed);
        assert_eq!(book.shard_used(0), 1000 + 200 + 300);
        assert_eq!(book.shard_used(1), 3000 - 100 + 300);
        assert_eq!(book.total_used(), 1500 + 3200);
        assert_eq!(book.shard_live(1), 3000);
        // A figure below zero (credits racing a publish) reads as 0, not as a huge number.
        book.live[0].store(-5000, Ordering::Relaxed);
        assert_eq!(book.shard_used(0), 0);
    }
}
