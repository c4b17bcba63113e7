//! One io_uring per shard: submission batching, an op table keyed by `user_data`, a provided-
//! buffer ring for multishot recv, and the feature probe that picks the I/O path.
//!
//! Every in-flight op owns what the kernel may still touch (send buffers, timespecs) in its
//! slot until the final completion arrives, so dropping the future that started it is safe.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::{Poll, Waker};

use bytes::BytesMut;
use io_uring::types::BufRingEntry;
use io_uring::{cqueue, opcode, squeue, IoUring};

/// `user_data` of the cross-shard wake-up read on the eventfd.
pub const UD_WAKE: u64 = u64::MAX;
/// `user_data` of the periodic tick timer.
pub const UD_TICK: u64 = u64::MAX - 1;
/// `user_data` of ops whose completion nobody reads (cancellations).
pub const UD_IGNORE: u64 = u64::MAX - 2;
/// Provided-buffer group id used for recv.
pub const BUF_GROUP: u16 = 7;

/// What the kernel offers, decided once at start.
#[derive(Debug, Clone, Copy, Default)]
pub struct Features {
    pub multishot_accept: bool,
    pub multishot_recv: bool,
    pub buf_ring: bool,
}

impl Features {
    pub fn describe(&self) -> String {
        if self.multishot_recv && self.buf_ring {
            "io_uring: multishot accept + multishot recv with provided-buffer ring".into()
        } else if self.multishot_accept {
            "io_uring: multishot accept, single-shot recv into per-connection buffers (kernel lacks buffer rings/multishot recv)".into()
        } else {
            "io_uring: single-shot accept and recv (kernel lacks multishot ops)".into()
        }
    }
}

fn kernel_version() -> (u32, u32) {
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname fills the struct we own.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return (0, 0);
    }
    let release: Vec<u8> = uts.release.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    let s = String::from_utf8_lossy(&release);
    let mut parts = s.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor)
}

/// Things an op keeps alive until its final completion.
pub enum Owned {
    None,
    Buf(Vec<u8>),
    Timespec(Box<io_uring::types::Timespec>),
}

struct Slot {
    results: VecDeque<(i32, u32)>,
    waker: Option<Waker>,
    finished: bool,
    orphan: bool,
    owned: Owned,
    /// Received bytes copied out of provided buffers for a task that was not waiting (see
    /// `reap`); results without the buffer flag refer to their length here, in order.
    staged: BytesMut,
    /// A cancellation was sent because `staged` passed [`STAGE_LIMIT`].
    cancel_sent: bool,
}

/// The kernel's IORING_CQE_F_BUFFER: the completion carries a provided buffer id.
const CQE_F_BUFFER: u32 = 1;

/// Bytes a multishot recv may stage for a task that is not reading (busy, or blocked sending
/// to a client that does not read its replies) before the recv is cancelled, so the kernel
/// keeps further data in the socket (TCP backpressure). Re-armed when the task reads again.
const STAGE_LIMIT: usize = 128 * 1024;

/// The provided-buffer ring: `count` buffers of `size` bytes, handed to the kernel for recv.
struct BufRing {
    entries: *mut BufRingEntry,
    map_len: usize,
    count: u16,
    tail: u16,
    size: usize,
    /// The buffers: one anonymous mapping, page-aligned so it can be `mbind`-ed to the shard's
    /// NUMA node, and untouched until the kernel first writes into it.
    storage: *mut u8,
    storage_len: usize,
}

impl BufRing {
    fn new(ring: &IoUring, count: u16, size: usize) -> io::Result<BufRing> {
        debug_assert!(count.is_power_of_two());
        let map_len = count as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: anonymous private mapping; checked for MAP_FAILED. Page-aligned as required.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let entries = ptr as *mut BufRingEntry;
        // SAFETY: the mapping lives until Drop, which runs after the ring is dropped
        // (Ring field order), so the kernel never sees a dangling ring.
        let reg = unsafe {
            ring.submitter().register_buf_ring_with_flags(ptr as u64, count, BUF_GROUP, 0)
        };
        if let Err(e) = reg {
            // SAFETY: unmapping the mapping created above.
            unsafe { libc::munmap(ptr, map_len) };
            return Err(e);
        }
        let storage_len = count as usize * size;
        // SAFETY: anonymous private mapping; checked for MAP_FAILED.
        let storage = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                storage_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if storage == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            // SAFETY: unregistering and unmapping what was set up above.
            unsafe {
                let _ = ring.submitter().unregister_buf_ring(BUF_GROUP);
                libc::munmap(ptr, map_len);
            }
            return Err(e);
        }
        let mut br = BufRing {
            entries,
            map_len,
            count,
            tail: 0,
            size,
            storage: storage as *mut u8,
            storage_len,
        };
        for bid in 0..count {
            br.push(bid);
        }
        br.publish();
        Ok(br)
    }

    fn push(&mut self, bid: u16) {
        let idx = (self.tail & (self.count - 1)) as usize;
        let addr = self.storage as u64 + bid as u64 * self.size as u64;
        // SAFETY: idx < count, within the mapping.
        let e = unsafe { &mut *self.entries.add(idx) };
        e.set_addr(addr);
        e.set_len(self.size as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field lives in the first entry of the mapping; the kernel reads it
        // with acquire semantics, so publish with release.
        unsafe {
            let tail = BufRingEntry::tail(self.entries) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    fn buf(&self, bid: u16, len: usize) -> &[u8] {
        let bid = (bid as usize).min(self.count as usize - 1);
        // SAFETY: bid < count, so the slice lies inside the mapping; the kernel finished
        // writing this buffer before posting the completion that names it.
        unsafe { std::slice::from_raw_parts(self.storage.add(bid * self.size), len.min(self.size)) }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mappings; the ring using them is already gone.
        unsafe {
            libc::munmap(self.entries as *mut libc::c_void, self.map_len);
            libc::munmap(self.storage as *mut libc::c_void, self.storage_len);
        }
    }
}

pub struct Ring {
    // Field order matters: the ring must drop before the buffer ring memory.
    ring: IoUring,
    bufs: Option<BufRing>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    pub features: Features,
    /// Completions for the reserved user_data values, handled by the shard loop.
    pub wake_fired: bool,
    pub tick_fired: bool,
    recycled: bool,
}

impl Ring {
    pub fn new(entries: u32, recv_buffers: u16, recv_buffer_size: usize) -> io::Result<Ring> {
        // COOP_TASKRUN + TASKRUN_FLAG: the kernel defers completion work to our next enter and
        // tells us (IORING_SQ_TASKRUN) when there is some, so idle turns need no syscall.
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_coop_taskrun()
            .setup_taskrun_flag()
            .setup_cqsize(entries * 4)
            .build(entries)
            .or_else(|_| {
                IoUring::builder()
                    .setup_single_issuer()
                    .setup_coop_taskrun()
                    .setup_cqsize(entries * 4)
                    .build(entries)
            })
            .or_else(|_| IoUring::builder().setup_cqsize(entries * 4).build(entries))
            .or_else(|_| IoUring::new(entries))?;
        let (major, minor) = kernel_version();
        let at_least = |a: u32, b: u32| (major, minor) >= (a, b);
        let mut features = Features {
            multishot_accept: at_least(5, 19),
            multishot_recv: at_least(6, 0),
            buf_ring: false,
        };
        if std::env::var_os("MAYFLY_NO_MULTISHOT").is_some() {
            features.multishot_accept = false;
            features.multishot_recv = false;
        }
        let bufs = if features.multishot_recv && recv_buffers > 0 {
            match BufRing::new(&ring, recv_buffers, recv_buffer_size) {
                Ok(b) => {
                    features.buf_ring = true;
                    Some(b)
                }
                Err(_) => None,
            }
        } else {
            None
        };
        if !features.buf_ring {
            features.multishot_recv = false;
        }
        Ok(Ring {
            ring,
            bufs,
            slots: Vec::new(),
            free: Vec::new(),
            features,
            wake_fired: false,
            tick_fired: false,
            recycled: false,
        })
    }

    fn alloc_slot(&mut self, owned: Owned) -> usize {
        let slot = Slot {
            results: VecDeque::new(),
            waker: None,
            finished: false,
            orphan: false,
            owned,
            staged: BytesMut::new(),
            cancel_sent: false,
        };
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        }
    }

    /// Queues an SQE; submits first when the submission queue is full.
    pub fn push_raw(&mut self, sqe: squeue::Entry) {
        loop {
            // SAFETY: every pointer in the SQE points into memory owned by an op slot (or the
            // shard's long-lived state) until its final completion.
            let pushed = unsafe { self.ring.submission().push(&sqe) };
            if pushed.is_ok() {
                return;
            }
            let _ = self.ring.submit();
        }
    }

    /// Starts an op; returns its slot id.
    pub fn start(&mut self, sqe: squeue::Entry, owned: Owned) -> usize {
        let id = self.alloc_slot(owned);
        self.push_raw(sqe.user_data(id as u64));
        id
    }

    /// Polls the next completion of op `id`.
    pub fn poll_op(&mut self, id: usize, waker: &Waker) -> Poll<(i32, u32)> {
        let slot = &mut self.slots[id];
        match slot.results.pop_front() {
            Some(r) => Poll::Ready(r),
            None => {
                slot.waker = Some(waker.clone());
                Poll::Pending
            }
        }
    }

    /// True when op `id` has produced its final completion and all results were taken.
    pub fn op_done(&self, id: usize) -> bool {
        let s = &self.slots[id];
        s.finished && s.results.is_empty()
    }

    /// Releases op `id`: now if finished, else when its final completion arrives.
    pub fn release(&mut self, id: usize) {
        let slot = &mut self.slots[id];
        // Completions nobody will read may hold provided buffers: give them back.
        for (_, flags) in slot.results.drain(..) {
            if let Some(bid) = cqueue::buffer_select(flags) {
                if let Some(b) = &mut self.bufs {
                    b.push(bid);
                    self.recycled = true;
                }
            }
        }
        let slot = &mut self.slots[id];
        slot.staged = BytesMut::new();
        if slot.finished {
            slot.owned = Owned::None;
            slot.results.clear();
            slot.waker = None;
            self.free.push(id);
        } else {
            slot.orphan = true;
            slot.waker = None;
        }
    }

    /// Takes back the buffer an op owned and frees its slot (the op has completed).
    pub fn take_owned_buf(&mut self, id: usize) -> Vec<u8> {
        let owned = std::mem::replace(&mut self.slots[id].owned, Owned::None);
        self.release(id);
        match owned {
            Owned::Buf(b) => b,
            _ => Vec::new(),
        }
    }

    /// The bytes of a provided buffer, then gives the buffer back to the kernel.
    pub fn take_buffer(&mut self, bid: u16, len: usize, consume: impl FnOnce(&[u8])) {
        if let Some(b) = &mut self.bufs {
            consume(b.buf(bid, len));
            b.push(bid);
            self.recycled = true;
        }
    }

    /// The next `len` staged bytes of op `id` (a completion without a provided buffer).
    pub fn take_staged(&mut self, id: usize, len: usize, consume: impl FnOnce(&[u8])) {
        if let Some(slot) = self.slots.get_mut(id) {
            let len = len.min(slot.staged.len());
            consume(&slot.staged.split_to(len));
        }
    }

    /// Submits queued SQEs, or runs deferred completion work the kernel flagged; makes no
    /// syscall when there is neither.
    pub fn submit(&mut self) -> io::Result<usize> {
        self.flush_bufs();
        let mut sq = self.ring.submission();
        sq.sync();
        let needed = !sq.is_empty() || sq.taskrun() || sq.cq_overflow();
        drop(sq);
        if needed {
            self.ring.submit()
        } else {
            Ok(0)
        }
    }

    fn flush_bufs(&mut self) {
        if self.recycled {
            if let Some(b) = &self.bufs {
                b.publish();
            }
            self.recycled = false;
        }
    }

    pub fn submit_and_wait(&mut self, want: usize) -> io::Result<usize> {
        self.flush_bufs();
        match self.ring.submit_and_wait(want) {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(0),
            other => other,
        }
    }

    /// Moves completions into their slots and wakes the tasks waiting on them.
    pub fn reap(&mut self) -> usize {
        let mut n = 0;
        let mut cq = self.ring.completion();
        cq.sync();
        let entries: Vec<cqueue::Entry> = cq.by_ref().collect();
        drop(cq);
        for cqe in entries {
            n += 1;
            let ud = cqe.user_data();
            if ud == UD_WAKE {
                self.wake_fired = true;
                continue;
            }
            if ud == UD_TICK {
                self.tick_fired = true;
                continue;
            }
            let id = ud as usize;
            let Some(slot) = self.slots.get_mut(id) else { continue };
            let more = cqueue::more(cqe.flags());
            if !more {
                slot.finished = true;
            }
            if slot.orphan {
                // Nobody waits: give provided buffers back, free the slot when final.
                if !more {
                    slot.owned = Owned::None;
                    slot.results.clear();
                    slot.orphan = false;
                    self.free.push(id);
                }
                if let Some(bid) = cqueue::buffer_select(cqe.flags()) {
                    if let Some(b) = &mut self.bufs {
                        b.push(bid);
                        self.recycled = true;
                    }
                }
                continue;
            }
            let (res, mut flags) = (cqe.result(), cqe.flags());
            // A provided buffer must not wait for a task that is not reading: with many
            // connections blocked on sending (clients that do not read replies) their queued
            // completions would hold every buffer, and recv would fail with ENOBUFS for all
            // other connections. So unless the task is waiting right now (it then takes the
            // buffer this turn), copy the bytes out and give the buffer back at once.
            if let Some(bid) = cqueue::buffer_select(flags) {
                if slot.waker.is_none() {
                    if let Some(b) = &mut self.bufs {
                        if res > 0 {
                            slot.staged.extend_from_slice(b.buf(bid, res as usize));
                        }
                        b.push(bid);
                        self.recycled = true;
                        flags &= !CQE_F_BUFFER;
                    }
                    if more && !slot.cancel_sent && slot.staged.len() > STAGE_LIMIT {
                        slot.cancel_sent = true;
                        let cancel =
                            opcode::AsyncCancel::new(id as u64).build().user_data(UD_IGNORE);
                        // SAFETY: a cancel SQE carries no pointers.
                        if unsafe { self.ring.submission().push(&cancel) }.is_err() {
                            slot.cancel_sent = false;
                        }
                    }
                }
            }
            let slot = &mut self.slots[id];
            slot.results.push_back((res, flags));
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
        n
    }

    /// Binds the recv buffers' memory to NUMA `node` (before the kernel first touches it).
    pub fn bind_buffers_to_node(&self, node: usize) -> io::Result<()> {
        match &self.bufs {
            Some(b) => mayfly_tuning::affinity::bind_memory_to_node(b.storage, b.storage_len, node),
            None => Ok(()),
        }
    }

    pub fn has_bufs(&self) -> bool {
        self.bufs.is_some()
    }
}
