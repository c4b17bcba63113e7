//! A connection's output: replies encoded but not yet taken by the kernel.
//!
//! ```text
//!   replies ──encode──► queue ──start()──► in flight (one send op owns the chunk)
//!                                             │ progress(): partial sends resume from the offset
//!                                             ▼
//!                                           socket
//! ```
//! Writing does not stop the connection: while a chunk is in flight the serve loop keeps
//! reading and executing requests, queueing their replies, up to a cap. That makes the queued
//! output real and measurable — CLIENT LIST's `obl`/`oll`/`omem`, and
//! `client-output-buffer-limit`, which disconnects a client that does not read, as Redis
//! does. The in-flight op owns its buffer, so dropping a `progress()` future (it is raced
//! against the socket's reads) never loses or repeats bytes.

use std::os::fd::RawFd;

use io_uring::{opcode, types};
use mayfly_engine::config::OutputBufferLimit;

use crate::rt;

/// Size of Redis's per-client static reply buffer: output up to this size is reported as
/// `obl`, the rest as the reply list (`oll` nodes of this size, `omem` bytes), and only the
/// reply list counts against `client-output-buffer-limit`, as in Redis.
pub const STATIC_BUFFER_BYTES: usize = 16 * 1024;

/// Queued output past which a client without a hard limit has no more requests executed until
/// the kernel took some; its requests are still read (`conn::readahead`), so a client that
/// writes a whole pipeline before reading finishes. Small on purpose: a queued reply can be
/// thousands of times its request (net/tests/eviction.rs's MGET clients).
pub const DEFAULT_CAP_BYTES: usize = 256 * 1024;

struct Inflight {
    id: usize,
    len: usize,
    off: usize,
}

/// The output of one connection.
pub struct Output {
    inflight: Option<Inflight>,
    /// Bytes queued behind the chunk in flight.
    pub queue: Vec<u8>,
    /// Since when (ms, monotonic) the reply list has been at or past the soft limit.
    soft_since_ms: Option<u64>,
}

/// Why the output limit closes a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overrun {
    Hard,
    Soft,
}

impl Output {
    pub fn new(capacity: usize) -> Output {
        Output { inflight: None, queue: Vec::with_capacity(capacity), soft_since_ms: None }
    }

    /// Bytes not yet taken by the kernel.
    pub fn pending(&self) -> usize {
        self.inflight.as_ref().map(|f| f.len - f.off).unwrap_or(0) + self.queue.len()
    }

    pub fn is_sending(&self) -> bool {
        self.inflight.is_some()
    }

    /// `(obl, oll, omem)` as CLIENT LIST reports them.
    pub fn stats(&self) -> (usize, usize, usize) {
        let pending = self.pending();
        let obl = pending.min(STATIC_BUFFER_BYTES);
        let omem = pending - obl;
        (obl, omem.div_ceil(STATIC_BUFFER_BYTES), omem)
    }

    /// Checks the reply list against a class limit at `now_ms` (Redis's
    /// checkClientOutputBufferLimits): past the hard limit, or past the soft limit for more
    /// than its seconds.
    pub fn over_limit(&mut self, limit: &OutputBufferLimit, now_ms: u64) -> Option<Overrun> {
        let (_, _, omem) = self.stats();
        let omem = omem as u64;
        if omem == 0 {
            self.soft_since_ms = None;
            return None;
        }
        if limit.hard_bytes > 0 && omem >= limit.hard_bytes {
            return Some(Overrun::Hard);
        }
        if limit.soft_bytes > 0 && omem >= limit.soft_bytes {
            let since = *self.soft_since_ms.get_or_insert(now_ms);
            if now_ms.saturating_sub(since) > limit.soft_seconds * 1000 {
                return Some(Overrun::Soft);
            }
        } else {
            self.soft_since_ms = None;
        }
        None
    }

    /// When the soft limit would be overrun if nothing changes (ms, monotonic), to wake for.
    pub fn soft_deadline_ms(&self, limit: &OutputBufferLimit) -> Option<u64> {
        self.soft_since_ms.map(|since| since + limit.soft_seconds * 1000 + 1)
    }

    /// Queued output that stops executing more requests until some of it is sent.
    pub fn cap(limit: &OutputBufferLimit) -> usize {
        if limit.hard_bytes > 0 {
            // Read on until the hard limit closes the client, as Redis would.
            (limit.hard_bytes as usize).saturating_add(STATIC_BUFFER_BYTES)
        } else {
            DEFAULT_CAP_BYTES.max(limit.soft_bytes as usize + STATIC_BUFFER_BYTES)
        }
    }

    /// Hands the queue to the kernel if nothing is in flight.
    pub fn start(&mut self, fd: RawFd) {
        if self.inflight.is_some() || self.queue.is_empty() {
            return;
        }
        let chunk = std::mem::take(&mut self.queue);
        self.submit(fd, chunk, 0);
    }

    fn submit(&mut self, fd: RawFd, mut chunk: Vec<u8>, off: usize) {
        let len = chunk.len();
        let sqe = opcode::Send::new(types::Fd(fd), chunk[off..].as_mut_ptr(), (len - off) as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build();
        let id = rt::ring().borrow_mut().start(sqe, rt::ring::Owned::Buf(chunk));
        self.inflight = Some(Inflight { id, len, off });
    }

    /// Waits for the chunk in flight to make progress (resubmitting what a partial send
    /// left). Err when the socket failed. Cancel-safe: the op stays in flight.
    pub async fn progress(&mut self, fd: RawFd) -> Result<(), i32> {
        let Some(id) = self.inflight.as_ref().map(|f| f.id) else { return Ok(()) };
        let (res, _) =
            std::future::poll_fn(|cx| rt::ring().borrow_mut().poll_op(id, cx.waker())).await;
        self.complete(fd, id, res)
    }

    /// [`Output::progress`] as a poll, for a wait that watches the socket at the same time:
    /// Ready(Ok) once nothing is in flight any more (a partial send's rest is resubmitted and
    /// waited for), Ready(Err) when the socket failed, Pending with `cx` registered otherwise.
    pub fn poll_progress(
        &mut self,
        fd: RawFd,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), i32>> {
        use std::task::Poll;
        // Bounded: each round either finishes, fails, waits, or resubmits a strictly shorter
        // rest of the chunk.
        loop {
            let Some(id) = self.inflight.as_ref().map(|f| f.id) else { return Poll::Ready(Ok(())) };
            let res = match rt::ring().borrow_mut().poll_op(id, cx.waker()) {
                Poll::Ready((res, _)) => res,
                Poll::Pending => return Poll::Pending,
            };
            if let Err(e) = self.complete(fd, id, res) {
                return Poll::Ready(Err(e));
            }
        }
    }

    /// The completion `res` of the send op `id` in flight: resubmits a partial send's rest.
    fn complete(&mut self, fd: RawFd, id: usize, res: i32) -> Result<(), i32> {
        let Some(Inflight { len, off, .. }) = self.inflight.take() else { return Ok(()) };
        let mut chunk = rt::ring().borrow_mut().take_owned_buf(id);
        if res <= 0 {
            return Err(if res == 0 { libc::EPIPE } else { -res });
        }
        let off = off + res as usize;
        if off < len {
            self.submit(fd, chunk, off);
        } else if self.queue.is_empty() && chunk.capacity() <= 16 * DEFAULT_CAP_BYTES {
            // Reuse the sent chunk's allocation for the next replies.
            chunk.clear();
            self.queue = chunk;
        }
        Ok(())
    }

    /// Sends everything queued and waits until the kernel took it all.
    pub async fn flush(&mut self, fd: RawFd) -> Result<(), i32> {
        loop {
            self.start(fd);
            if self.inflight.is_none() {
                return Ok(());
            }
            self.progress(fd).await?;
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Some(f) = self.inflight.take() {
            let ring = rt::ring();
            let mut ring = ring.borrow_mut();
            if !ring.op_done(f.id) {
                ring.push_raw(
                    opcode::AsyncCancel::new(f.id as u64).build().user_data(rt::ring::UD_IGNORE),
                );
            }
            // The slot keeps the buffer until the kernel's final completion.
            ring.release(f.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_split_static_buffer_and_reply_list() {
        let mut out = Output::new(0);
        assert_eq!(out.stats(), (0, 0, 0));
        out.queue.extend(std::iter::repeat_n(b'x', 10));
        assert_eq!(out.stats(), (10, 0, 0));
        out.queue.extend(std::iter::repeat_n(b'x', STATIC_BUFFER_BYTES + 5));
        assert_eq!(out.stats(), (STATIC_BUFFER_BYTES, 1, 15));
    }

    #[test]
    fn hard_and_soft_limits_follow_redis() {
        let mut out = Output::new(0);
        out.queue.resize(STATIC_BUFFER_BYTES + 2000, 0);
        let hard = OutputBufferLimit { hard_bytes: 1000, soft_bytes: 0, soft_seconds: 0 };
        assert_eq!(out.over_limit(&hard, 0), Some(Overrun::Hard));
        let none = OutputBufferLimit::default();
        assert_eq!(out.over_limit(&none, 0), None);
        let soft = OutputBufferLimit { hard_bytes: 0, soft_bytes: 1000, soft_seconds: 2 };
        assert_eq!(out.over_limit(&soft, 10_000), None, "first sight starts the clock");
        assert_eq!(out.over_limit(&soft, 12_000), None, "not more than the seconds yet");
        assert_eq!(out.soft_deadline_ms(&soft), Some(12_001));
        assert_eq!(out.over_limit(&soft, 12_001), Some(Overrun::Soft));
        out.queue.truncate(100);
        assert_eq!(out.over_limit(&soft, 13_000), None);
        assert_eq!(out.soft_deadline_ms(&soft), None, "dropping below resets the clock");
    }

    #[test]
    fn cap_lets_the_hard_limit_trigger() {
        let hard = OutputBufferLimit { hard_bytes: 5 << 20, soft_bytes: 0, soft_seconds: 0 };
        assert!(Output::cap(&hard) > 5 << 20);
        assert_eq!(Output::cap(&OutputBufferLimit::default()), DEFAULT_CAP_BYTES);
    }
}
