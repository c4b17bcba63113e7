//! Cross-shard messaging: one lock-free SPSC ring (`rtrb`) per ordered (from, to) pair, and an
//! eventfd per shard to wake it when it sleeps in `io_uring_enter`.
//!
//! Senders push without blocking; when a ring is full the message waits in a local overflow
//! queue, retried every loop turn (bounded by the number of in-flight requests, since every
//! connection has at most one batch in flight). Wake-ups are sent once per loop turn per
//! target, after all of the turn's messages are pushed, and only when the target is parked.

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use rtrb::{Consumer, Producer, RingBuffer};

use super::park;

/// Per-shard wake-up state shared with every other shard.
pub struct Parker {
    pub sleeping: CachePadded<AtomicBool>,
    pub eventfd: RawFd,
}

impl Parker {
    pub fn new() -> std::io::Result<Parker> {
        // SAFETY: plain syscall; checked below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Parker { sleeping: CachePadded::new(AtomicBool::new(false)), eventfd: fd })
    }

    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes from a local to our eventfd. EAGAIN (counter full) is fine:
        // the shard is already due to wake.
        unsafe { libc::write(self.eventfd, &one as *const u64 as *const libc::c_void, 8) };
    }
}

/// One shard's ends of the mesh.
pub struct Endpoint<T> {
    pub id: usize,
    to: Vec<Option<Producer<T>>>,
    from: Vec<Option<Consumer<T>>>,
    overflow: Vec<VecDeque<T>>,
    dirty: Vec<bool>,
    parkers: Arc<Vec<Parker>>,
}

/// Builds the full mesh for `n` shards; returns one endpoint per shard.
pub fn build<T>(n: usize, capacity: usize, parkers: Arc<Vec<Parker>>) -> Vec<Endpoint<T>> {
    let mut to: Vec<Vec<Option<Producer<T>>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    let mut from: Vec<Vec<Option<Consumer<T>>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    for (a, to_a) in to.iter_mut().enumerate() {
        for (b, slot) in to_a.iter_mut().enumerate() {
            if a == b {
                continue;
            }
            let (p, c) = RingBuffer::new(capacity);
            *slot = Some(p);
            from[b][a] = Some(c);
        }
    }
    to.into_iter()
        .zip(from)
        .enumerate()
        .map(|(id, (to, from))| Endpoint {
            id,
            to,
            from,
            overflow: (0..n).map(|_| VecDeque::new()).collect(),
            dirty: vec![false; n],
            parkers: parkers.clone(),
        })
        .collect()
}

impl<T> Endpoint<T> {
    pub fn shard_count(&self) -> usize {
        self.to.len()
    }

    pub fn parker(&self) -> &Parker {
        &self.parkers[self.id]
    }

    pub fn parkers(&self) -> Arc<Vec<Parker>> {
        self.parkers.clone()
    }

    /// Queues `msg` for shard `to`; the wake-up goes out at [`Endpoint::flush`].
    pub fn send(&mut self, to: usize, msg: T) {
        self.dirty[to] = true;
        if !self.overflow[to].is_empty() {
            self.overflow[to].push_back(msg);
            return;
        }
        let Some(p) = self.to[to].as_mut() else { return };
        if let Err(rtrb::PushError::Full(msg)) = p.push(msg) {
            self.overflow[to].push_back(msg);
        }
    }

    /// Retries overflowed messages and wakes every target that got messages this turn.
    pub fn flush(&mut self) {
        for to in 0..self.to.len() {
            if !self.dirty[to] {
                continue;
            }
            if let Some(p) = self.to[to].as_mut() {
                while let Some(msg) = self.overflow[to].pop_front() {
                    if let Err(rtrb::PushError::Full(msg)) = p.push(msg) {
                        self.overflow[to].push_front(msg);
                        break;
                    }
                }
            }
            self.dirty[to] = !self.overflow[to].is_empty();
            if park::should_wake(&*self.parkers[to].sleeping) {
                self.parkers[to].wake();
            }
        }
    }

    /// Takes up to `budget` messages from all inbound rings, round-robin by source.
    pub fn recv(&mut self, budget: usize, out: &mut Vec<T>) {
        let mut left = budget;
        for c in self.from.iter_mut().flatten() {
            let n = c.slots().min(left);
            for _ in 0..n {
                if let Ok(m) = c.pop() {
                    out.push(m);
                }
            }
            left -= n;
            if left == 0 {
                break;
            }
        }
    }

    pub fn has_inbound(&self) -> bool {
        self.from.iter().flatten().any(|c| !c.is_empty())
    }

    pub fn has_outbound(&self) -> bool {
        self.dirty.iter().any(|d| *d)
    }
}
