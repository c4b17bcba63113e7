//! Model-checks the shard park/notify handshake (net/src/rt/park.rs) under loom: for every
//! interleaving, a message pushed to a shard that decided to sleep is always followed by a
//! wake-up, so no message waits for an unrelated event.

use std::sync::atomic::Ordering;

use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::Arc;
use mayfly_net::rt::park::{self, Flag};

struct LoomFlag(AtomicBool);

impl Flag for LoomFlag {
    fn load(&self, order: Ordering) -> bool {
        self.0.load(order)
    }
    fn store(&self, value: bool, order: Ordering) {
        self.0.store(value, order)
    }
    fn swap(&self, value: bool, order: Ordering) -> bool {
        self.0.swap(value, order)
    }
    fn fence_seq_cst() {
        loom::sync::atomic::fence(Ordering::SeqCst)
    }
}

/// One consumer about to park, `producers` shards each pushing one message.
fn model(producers: usize) {
    loom::model(move || {
        let sleeping = Arc::new(LoomFlag(AtomicBool::new(false)));
        // The SPSC ring, reduced to its published tail (release on push, acquire on check).
        let queued = Arc::new(AtomicUsize::new(0));
        // The eventfd: how many wake-ups were written.
        let wakes = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..producers)
            .map(|_| {
                let (sleeping, queued, wakes) = (sleeping.clone(), queued.clone(), wakes.clone());
                loom::thread::spawn(move || {
                    queued.fetch_add(1, Ordering::Release);
                    if park::should_wake(&*sleeping) {
                        wakes.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        park::prepare_park(&*sleeping);
        let saw_message = queued.load(Ordering::Acquire) > 0;
        if saw_message {
            park::cancel_park(&*sleeping);
        }
        for h in handles {
            h.join().unwrap();
        }
        if !saw_message {
            // The consumer went to sleep having seen nothing: someone must have woken it.
            assert!(wakes.load(Ordering::Relaxed) >= 1, "lost wake-up");
        }
        // Only one producer wins the swap: one wake-up per park, not one per sender.
        assert!(wakes.load(Ordering::Relaxed) <= 1, "duplicate wake-ups for one park");
    });
}

#[test]
fn no_lost_wakeup_one_producer() {
    model(1);
}

#[test]
fn no_lost_wakeup_two_producers() {
    model(2);
}
