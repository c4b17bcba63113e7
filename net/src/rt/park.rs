//! The park/notify handshake between a shard that is about to sleep and shards that send it
//! messages. It is the classic store-buffer (Dekker) pattern:
//!
//! ```text
//!   consumer (about to sleep)          producer (after pushing a message)
//!   sleeping = true                    push(msg)          (ring: release)
//!   fence(SeqCst)                      fence(SeqCst)
//!   if rings non-empty: don't sleep    if sleeping.swap(false): wake(eventfd)
//! ```
//! With both fences, at least one side sees the other's write: either the consumer sees the
//! message, or the producer sees `sleeping` and wakes it. A wake-up is never lost. The logic is
//! generic over the atomic flag so that `tests/park_loom.rs` checks it under loom.

use std::sync::atomic::Ordering;

/// An atomic boolean plus the matching fence (std or loom).
pub trait Flag {
    fn load(&self, order: Ordering) -> bool;
    fn store(&self, value: bool, order: Ordering);
    fn swap(&self, value: bool, order: Ordering) -> bool;
    fn fence_seq_cst();
}

impl Flag for std::sync::atomic::AtomicBool {
    fn load(&self, order: Ordering) -> bool {
        std::sync::atomic::AtomicBool::load(self, order)
    }
    fn store(&self, value: bool, order: Ordering) {
        std::sync::atomic::AtomicBool::store(self, value, order)
    }
    fn swap(&self, value: bool, order: Ordering) -> bool {
        std::sync::atomic::AtomicBool::swap(self, value, order)
    }
    fn fence_seq_cst() {
        std::sync::atomic::fence(Ordering::SeqCst)
    }
}

/// Consumer side, step 1: announce the intent to sleep. Afterwards the caller must re-check its
/// inbound queues and call [`cancel_park`] if anything is there.
pub fn prepare_park<F: Flag>(sleeping: &F) {
    sleeping.store(true, Ordering::SeqCst);
    F::fence_seq_cst();
}

/// Consumer side: no longer sleeping (woken, or decided not to sleep).
pub fn cancel_park<F: Flag>(sleeping: &F) {
    sleeping.store(false, Ordering::SeqCst);
}

/// Producer side, after the message is pushed: true when the caller must wake the consumer.
/// Only one producer wins the swap, so a sleeping shard gets one wake-up, not one per sender.
pub fn should_wake<F: Flag>(sleeping: &F) -> bool {
    F::fence_seq_cst();
    sleeping.load(Ordering::SeqCst) && sleeping.swap(false, Ordering::SeqCst)
}
