//! The I/O runtime of one thread: its io_uring ([`ring::Ring`]), a task executor
//! ([`exec`]), the cross-thread mesh of SPSC rings ([`mesh`]) and the park/notify handshake
//! ([`park`]), plus futures over single-shot and multishot ops, timers and `race`.
//!
//! ```text
//!   task ──op(sqe)──► Ring (SQ) ──kernel──► CQ ──reap──► slot[id] ──wake──► task
//!   task ──send(shard, msg)──► mesh ring (from, to) ──eventfd if parked──► other thread
//! ```
//! This layer knows nothing of Redis, shards' data or connections: the shard layer
//! (`crate::shard`) builds on it. The ring of the running thread is reached through a
//! thread-local installed by the thread's loop ([`install`]); borrows of it never live across
//! an `.await`.

pub mod exec;
pub mod mesh;
pub mod park;
pub mod ring;

use std::cell::RefCell;
use std::future::Future;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use io_uring::{opcode, types};

use ring::{Owned, Ring};

thread_local! {
    static RING: RefCell<Option<Rc<RefCell<Ring>>>> = const { RefCell::new(None) };
}

/// Makes `ring` the ring of the calling thread (done once by its loop, before any task runs).
pub fn install(ring: Rc<RefCell<Ring>>) {
    RING.with(|r| *r.borrow_mut() = Some(ring));
}

/// The ring of the calling thread.
pub fn ring() -> Rc<RefCell<Ring>> {
    RING.with(|r| r.borrow().clone().expect("rt::ring() called on a thread without a ring"))
}

/// The wall-clock time in ns (the clock of the kernel's receive timestamps).
pub fn realtime_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the valid struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

/// Future of one io_uring completion of op `id`.
pub struct OpFuture {
    id: usize,
    released: bool,
}

impl Future for OpFuture {
    type Output = (i32, u32);
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(i32, u32)> {
        let ring = ring();
        let mut ring = ring.borrow_mut();
        match ring.poll_op(self.id, cx.waker()) {
            Poll::Ready(r) => {
                ring.release(self.id);
                self.released = true;
                Poll::Ready(r)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for OpFuture {
    fn drop(&mut self) {
        if !self.released {
            let ring = ring();
            let mut ring = ring.borrow_mut();
            if !ring.op_done(self.id) {
                // Nobody waits any more (a timer outlived its race): ask the kernel to drop it.
                ring.push_raw(
                    opcode::AsyncCancel::new(self.id as u64).build().user_data(ring::UD_IGNORE),
                );
            }
            ring.release(self.id);
        }
    }
}

/// Starts a single-shot op and returns the future of its completion.
pub fn op(sqe: io_uring::squeue::Entry, owned: Owned) -> OpFuture {
    let id = ring().borrow_mut().start(sqe, owned);
    OpFuture { id, released: false }
}

/// Runs a single-shot op that reads or writes `buf`, and gives the buffer back with the result.
/// The op owns the buffer while in flight, so a cancelled task never leaves the kernel writing
/// into freed memory.
pub async fn op_with_buf(sqe: io_uring::squeue::Entry, buf: Vec<u8>) -> (i32, Vec<u8>) {
    let id = ring().borrow_mut().start(sqe, Owned::Buf(buf));
    let mut fut = PeekFuture { id, done: false };
    let (res, _) = (&mut fut).await;
    fut.done = true;
    let buf = ring().borrow_mut().take_owned_buf(id);
    (res, buf)
}

/// Sends all of `buf` on `fd`; returns the emptied buffer for reuse, or the errno.
pub async fn send_all(fd: RawFd, mut buf: Vec<u8>) -> Result<Vec<u8>, i32> {
    let mut off = 0;
    while off < buf.len() {
        let sqe = opcode::Send::new(types::Fd(fd), buf[off..].as_ptr(), (buf.len() - off) as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build();
        let (res, back) = op_with_buf(sqe, buf).await;
        buf = back;
        if res <= 0 {
            return Err(if res == 0 { libc::EPIPE } else { -res });
        }
        off += res as usize;
    }
    buf.clear();
    Ok(buf)
}

/// Like [`OpFuture`] but leaves the slot allocated so the caller can take back owned data.
struct PeekFuture {
    id: usize,
    done: bool,
}

impl Future for PeekFuture {
    type Output = (i32, u32);
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(i32, u32)> {
        let ring = ring();
        let mut ring = ring.borrow_mut();
        ring.poll_op(self.id, cx.waker())
    }
}

impl Drop for PeekFuture {
    fn drop(&mut self) {
        if !self.done {
            // Cancelled mid-send: the slot keeps the buffer until the kernel is done with it.
            ring().borrow_mut().release(self.id);
        }
    }
}

/// A stream of completions of a multishot op (accept, recv).
pub struct MultiOp {
    pub id: usize,
}

impl MultiOp {
    pub fn start(sqe: io_uring::squeue::Entry) -> MultiOp {
        MultiOp { id: ring().borrow_mut().start(sqe, Owned::None) }
    }

    /// The next completion, and whether more will follow.
    pub async fn next(&self) -> (i32, u32, bool) {
        let (res, flags) =
            std::future::poll_fn(|cx| ring().borrow_mut().poll_op(self.id, cx.waker())).await;
        (res, flags, io_uring::cqueue::more(flags))
    }
}

impl Drop for MultiOp {
    fn drop(&mut self) {
        let ring = ring();
        let mut ring = ring.borrow_mut();
        if !ring.op_done(self.id) {
            ring.push_raw(
                opcode::AsyncCancel::new(self.id as u64).build().user_data(ring::UD_IGNORE),
            );
        }
        ring.release(self.id);
    }
}

/// Virtual time for the in-process simulation: sleepers wait for [`VirtualTime::advance_to`]
/// instead of the ring's timer, so timeouts are exact and runs are repeatable.
#[derive(Default)]
pub struct VirtualTime {
    now_ms: std::cell::Cell<u64>,
    sleepers: RefCell<Vec<(u64, std::task::Waker)>>,
}

impl VirtualTime {
    pub fn new(now_ms: u64) -> VirtualTime {
        VirtualTime { now_ms: std::cell::Cell::new(now_ms), sleepers: RefCell::new(Vec::new()) }
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms.get()
    }

    /// Moves time to `now_ms` and wakes the sleepers that are due (with this time's executor
    /// installed, so their tasks land on the right queue).
    pub fn advance_to(&self, now_ms: u64) {
        self.now_ms.set(now_ms.max(self.now_ms.get()));
        let due: Vec<std::task::Waker> = {
            let mut s = self.sleepers.borrow_mut();
            let mut due = Vec::new();
            s.retain(|(at, w)| {
                if *at <= now_ms {
                    due.push(w.clone());
                    false
                } else {
                    true
                }
            });
            due
        };
        for w in due {
            w.wake();
        }
    }

    /// The earliest deadline of a sleeper, if any.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.sleepers.borrow().iter().map(|(at, _)| *at).min()
    }
}

thread_local! {
    static VIRTUAL: RefCell<Option<Rc<VirtualTime>>> = const { RefCell::new(None) };
}

/// Makes timers of the calling thread virtual (`Some`) or real again (`None`).
pub fn install_virtual_time(time: Option<Rc<VirtualTime>>) {
    VIRTUAL.with(|v| *v.borrow_mut() = time);
}

/// Microseconds on a monotonic clock: since the first call in this process, or virtual time
/// in a simulation. Deadlines that [`sleep_ms`] waits for are measured on it.
pub fn monotonic_us() -> u64 {
    if let Some(time) = VIRTUAL.with(|v| v.borrow().clone()) {
        return time.now_ms() * 1000;
    }
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_micros() as u64
}

/// Sleeps for `ms` milliseconds on the ring's timer (or on virtual time in a simulation).
pub async fn sleep_ms(ms: u64) {
    if let Some(time) = VIRTUAL.with(|v| v.borrow().clone()) {
        let at = time.now_ms() + ms;
        std::future::poll_fn(|cx| {
            if time.now_ms() >= at {
                Poll::Ready(())
            } else {
                time.sleepers.borrow_mut().push((at, cx.waker().clone()));
                Poll::Pending
            }
        })
        .await;
        return;
    }
    let ts = Box::new(types::Timespec::new().sec(ms / 1000).nsec(((ms % 1000) * 1_000_000) as u32));
    let sqe = opcode::Timeout::new(&*ts as *const types::Timespec).build();
    op(sqe, Owned::Timespec(ts)).await;
}

/// Which of two futures finished first.
pub enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls both futures; returns the first result (the left one wins ties).
pub async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}
