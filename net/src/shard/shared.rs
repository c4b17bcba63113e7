//! What all shards share: the configuration, the slot table, transaction ids, the memory book
//! and a few counters. Nothing here is on the per-request hot path except the slot table
//! (read-only after start) and relaxed atomics.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use mayfly_engine::config::Config;
use mayfly_engine::slot::SLOT_COUNT;

use crate::mem::book::MemoryBook;

pub struct Shared {
    config: RwLock<Config>,
    /// Slot → shard.
    pub slots: Vec<u16>,
    pub nshards: usize,
    /// Shard threads that finished starting.
    pub started: AtomicUsize,
    /// Set to stop every shard loop.
    pub shutdown: AtomicBool,
    next_txid: AtomicU64,
    /// What each shard holds, compared with maxmemory (see `MemoryBook`).
    pub memory: Arc<MemoryBook>,
    /// Clients in a blocking command, for INFO.
    pub blocked_clients: AtomicUsize,
    /// Bumped by every change of `config`, so per-connection settings derived from it are
    /// recomputed only when it changed (not parsed again on every read of a socket).
    config_generation: AtomicU64,
}

impl Shared {
    /// Shared state for `nshards` shards, slots spread evenly over them in ranges.
    pub fn new(config: Config, nshards: usize, memory: Arc<MemoryBook>) -> Shared {
        let nshards = nshards.max(1);
        let slots = (0..SLOT_COUNT).map(|s| (s * nshards / SLOT_COUNT) as u16).collect();
        Shared {
            config: RwLock::new(config),
            slots,
            nshards,
            started: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            next_txid: AtomicU64::new(1),
            memory,
            blocked_clients: AtomicUsize::new(0),
            config_generation: AtomicU64::new(0),
        }
    }

    pub fn hz(&self) -> u64 {
        self.read_config(|c| c.hz)
    }

    /// The shard that owns `key` (by its Redis Cluster slot).
    pub fn shard_of(&self, key: &[u8]) -> usize {
        if self.nshards == 1 {
            return 0;
        }
        self.slots[mayfly_engine::slot::key_slot(key) as usize] as usize
    }

    /// A fresh transaction id (never 0: 0 means "no transaction").
    pub fn next_txid(&self) -> u64 {
        self.next_txid.fetch_add(1, Ordering::Relaxed)
    }

    /// Applies `f` to the shared configuration and bumps its generation: the one way to
    /// change it.
    pub fn update_config(&self, f: impl FnOnce(&mut Config)) {
        let mut c = self.config.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut c);
        drop(c);
        self.config_generation.fetch_add(1, Ordering::Release);
    }

    /// `f` of the current configuration, without copying it.
    pub fn read_config<R>(&self, f: impl FnOnce(&Config) -> R) -> R {
        f(&self.config.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Changes whenever the configuration changes.
    pub fn config_generation(&self) -> u64 {
        self.config_generation.load(Ordering::Acquire)
    }

    /// A copy of the current configuration.
    pub fn config(&self) -> Config {
        self.read_config(|c| c.clone())
    }
}
