//! The load generator: one OS thread per `--threads`, each driving its share
//! of the connections from a single epoll loop with non-blocking sockets.
//!
//! ```text
//!  main thread                      worker thread k (one epoll + one timerfd)
//!  ───────────                      ─────────────────────────────────────────
//!  connect + handshake all  ──────▶ conns k, k+T, k+2T, …
//!  collect IntervalMsg  ◀─────────  every --interval: per-command histograms
//!  progress bar, merge              closed loop: refill a conn when its batch
//!  totals = Σ intervals               of --pipeline replies is back
//!                                   open loop: send at intended times from a
//!                                     fixed schedule; latency counts from the
//!                                     intended time (coordinated omission)
//! ```
//!
//! Totals are the sum of the interval histograms, so the summary, the JSON
//! and the `.hlog` are the same numbers by construction. Latencies are kept in
//! nanoseconds; errors never enter a histogram.

use crate::client::{BenchError, ServerOptions};
use crate::resp::{parse_reply, Parsed, ReplyKind};
use crate::workload::{Generator, Workload};
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Largest latency a histogram tracks (one hour); larger values saturate.
pub const MAX_LATENCY_NS: u64 = 3_600_000_000_000;
/// Significant decimal digits kept by every histogram.
pub const SIGNIFICANT_DIGITS: u8 = 3;
/// Upper bound on one connection's read buffer (one reply must fit).
const MAX_READ_BUFFER_BYTES: usize = 1024 * 1024 * 1024;
const READ_CHUNK_BYTES: usize = 64 * 1024;
const TIMER_TOKEN: u64 = u64::MAX;
/// Longest sleep of a worker loop, so stop conditions are checked often.
const MAX_SLEEP_NS: u64 = 100_000_000;
/// How often a worker scans all its connections for timeouts and completion.
const SCAN_INTERVAL_NS: u64 = 5_000_000;

/// A new empty latency histogram with the run's bounds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, SIGNIFICANT_DIGITS)
        .expect("static histogram bounds are valid")
}

/// When the measured phase ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// Measure for this long (after warm-up).
    Duration(Duration),
    /// Send this many requests in total (warm-up included).
    Requests(u64),
}

/// One benchmark run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub server: ServerOptions,
    /// Total connections over all threads.
    pub connections: usize,
    /// Closed loop: requests sent per batch on a connection. Open loop: most
    /// requests a connection may have outstanding.
    pub pipeline: usize,
    pub threads: usize,
    /// Open loop at this total rate (requests per second) when set.
    pub rate: Option<f64>,
    pub stop: Stop,
    /// Run this long first without recording.
    pub warmup: Duration,
    pub workload: Arc<Workload>,
    /// Width of one interval histogram (throughput timeline, `.hlog`).
    pub interval: Duration,
    /// After the measured phase, how long to wait for outstanding replies.
    pub drain_timeout: Duration,
    /// A connection with requests outstanding and no reply this long is
    /// given up (counts as timeouts).
    pub reply_timeout: Duration,
    /// Pin worker thread k to CPU k (modulo the CPUs this process may use).
    pub pin_threads: bool,
}

impl RunConfig {
    fn validate(&self) -> Result<(), BenchError> {
        let bad = |msg: &str| Err(BenchError::Config(msg.to_string()));
        if self.connections == 0 || self.connections > 100_000 {
            return bad("--connections must be between 1 and 100000");
        }
        if self.threads == 0 || self.threads > 1024 {
            return bad("--threads must be between 1 and 1024");
        }
        if self.pipeline == 0 || self.pipeline > 100_000 {
            return bad("--pipeline must be between 1 and 100000");
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                return bad("--rate must be a positive number of requests per second");
            }
            if rate / (self.connections as f64) > 1e9 {
                return bad("--rate is too high for the number of connections");
            }
        }
        if self.interval < Duration::from_millis(1) {
            return bad("--interval must be at least 1 ms");
        }
        match self.stop {
            Stop::Duration(d) if d.is_zero() => bad("--duration must be positive"),
            Stop::Requests(0) => bad("--requests must be positive"),
            _ => Ok(()),
        }
    }
}

/// Live numbers for a progress display.
#[derive(Debug, Clone, Default)]
pub struct LiveStatus {
    /// Time since the measured phase began (zero during warm-up).
    pub measured_ns: u64,
    /// True while warming up.
    pub warming_up: bool,
    /// Successful replies recorded so far.
    pub recorded: u64,
    /// Throughput of the last complete interval.
    pub ops_per_sec: f64,
    /// p99 of the last complete interval, nanoseconds.
    pub p99_ns: u64,
}

/// One interval of the measured phase, all threads merged.
#[derive(Debug, Clone)]
pub struct IntervalRecord {
    /// Offset from the start of the measured phase.
    pub start_ns: u64,
    pub length_ns: u64,
    /// One histogram per command label.
    pub per_command: Vec<PackedHistogram>,
    pub errors: u64,
}

/// A finished interval histogram kept V2-serialized: a live histogram takes
/// about 270 KB (1 ns – 1 h at 3 digits), its encoding a few KB, and an hour
/// at one-second intervals keeps thousands of them.
#[derive(Debug, Clone)]
pub struct PackedHistogram(Vec<u8>);

impl PackedHistogram {
    /// Encodes a histogram.
    pub fn pack(histogram: &Histogram<u64>) -> PackedHistogram {
        let mut bytes = Vec::new();
        V2Serializer::new()
            .serialize(histogram, &mut bytes)
            .expect("writing to memory cannot fail and counts stay below i64::MAX");
        PackedHistogram(bytes)
    }

    /// Decodes it again.
    pub fn unpack(&self) -> Histogram<u64> {
        Deserializer::new().deserialize(&mut self.0.as_slice()).expect("bytes written by pack")
    }
}

/// Open-loop bookkeeping: did the sender keep to the schedule?
#[derive(Debug, Clone)]
pub struct OpenLoopResult {
    pub requested_rate: f64,
    /// Delay between a request's intended and actual send time.
    pub send_lag: Histogram<u64>,
    /// Requests whose intended time fell in the measured phase but that
    /// were never sent before the drain timeout.
    pub unsent: u64,
}

/// Raw outcome of a run; see [`crate::report`] for the derived numbers.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub labels: Vec<String>,
    pub intervals: Vec<IntervalRecord>,
    /// Per command: the sum of its interval histograms.
    pub totals: Vec<Histogram<u64>>,
    pub errors: BTreeMap<String, u64>,
    /// Length of the measured phase (until the last reply).
    pub measured_ns: u64,
    pub interval_ns: u64,
    /// Wall-clock time at which the measured phase started.
    pub start_time: SystemTime,
    pub open_loop: Option<OpenLoopResult>,
    /// Replies received, warm-up included (for the CPU cost per request).
    pub replies_total: u64,
    /// Client CPU (user + system) over the whole run, seconds.
    pub cpu_seconds: f64,
    pub wall_seconds: f64,
}

/// Monotonic clock in nanoseconds (the same clock timerfd uses).
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec to write into; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// User + system CPU seconds of this process so far.
pub fn process_cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is valid; getrusage writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Timing shared by all workers.
#[derive(Debug, Clone)]
struct Plan {
    warmup_end_ns: u64,
    measure_end_ns: Option<u64>,
    interval_ns: u64,
    pipeline: usize,
    /// Open loop: time between two requests on one connection.
    period_ns: Option<u64>,
    drain_timeout_ns: u64,
    reply_timeout_ns: u64,
}

struct Conn {
    stream: TcpStream,
    generator: Generator,
    write_buf: Vec<u8>,
    write_pos: usize,
    read_buf: Vec<u8>,
    read_pos: usize,
    read_end: usize,
    /// (command index, start time): intended time in open loop, send time in closed loop.
    inflight: VecDeque<(u16, u64)>,
    remaining: u64,
    next_intended_ns: u64,
    want_write: bool,
    alive: bool,
    last_progress_ns: u64,
}

enum Msg {
    Interval { thread: usize, index: u64, per_command: Vec<Histogram<u64>>, errors: u64 },
    Done(ThreadSummary),
}

struct ThreadSummary {
    thread: usize,
    errors: BTreeMap<String, u64>,
    send_lag: Histogram<u64>,
    unsent: u64,
    replies_total: u64,
    last_reply_ns: u64,
}

struct Worker {
    id: usize,
    conns: Vec<Conn>,
    epoll: OwnedFd,
    timer: OwnedFd,
    timer_armed_ns: Option<u64>,
    workload: Arc<Workload>,
    plan: Plan,
    tx: mpsc::Sender<Msg>,
    index: u64,
    next_boundary_ns: u64,
    current: Vec<Histogram<u64>>,
    current_errors: u64,
    errors: BTreeMap<String, u64>,
    send_lag: Histogram<u64>,
    replies_total: u64,
    last_reply_ns: u64,
    /// Set when a connection may have finished or failed: forces a full scan.
    rescan: bool,
    /// epoll_pwait2 (Linux 5.11+) is available.
    use_pwait2: bool,
}

fn epoll_ctl(epoll: RawFd, op: i32, fd: RawFd, events: u32, token: u64) -> std::io::Result<()> {
    let mut event = libc::epoll_event { events, u64: token };
    // SAFETY: valid fds and a valid event pointer.
    let rc = unsafe { libc::epoll_ctl(epoll, op, fd, &mut event) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn sys_fd(rc: i32) -> std::io::Result<OwnedFd> {
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: rc is a freshly created fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(rc) })
}

impl Worker {
    fn new(
        id: usize,
        conns: Vec<Conn>,
        workload: Arc<Workload>,
        plan: Plan,
        tx: mpsc::Sender<Msg>,
    ) -> std::io::Result<Worker> {
        // SAFETY: plain syscalls creating new fds.
        let epoll = sys_fd(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: as above.
        let timer = sys_fd(unsafe {
            libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC)
        })?;
        epoll_ctl(
            epoll.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            timer.as_raw_fd(),
            libc::EPOLLIN as u32,
            TIMER_TOKEN,
        )?;
        for (i, conn) in conns.iter().enumerate() {
            epoll_ctl(
                epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                conn.stream.as_raw_fd(),
                libc::EPOLLIN as u32,
                i as u64,
            )?;
        }
        let current = workload.templates.iter().map(|_| new_histogram()).collect();
        let next_boundary_ns = plan.warmup_end_ns + plan.interval_ns;
        Ok(Worker {
            id,
            conns,
            epoll,
            timer,
            timer_armed_ns: None,
            workload,
            plan,
            tx,
            index: 0,
            next_boundary_ns,
            current,
            current_errors: 0,
            errors: BTreeMap::new(),
            send_lag: new_histogram(),
            replies_total: 0,
            last_reply_ns: 0,
            rescan: true,
            use_pwait2: true,
        })
    }

    /// Ships the current interval once `now` has passed its end.
    fn roll(&mut self, now: u64) {
        if now < self.next_boundary_ns {
            return;
        }
        self.ship();
        self.index = (now - self.plan.warmup_end_ns) / self.plan.interval_ns;
        self.next_boundary_ns = self.plan.warmup_end_ns + (self.index + 1) * self.plan.interval_ns;
    }

    fn ship(&mut self) {
        let fresh = self.workload.templates.iter().map(|_| new_histogram()).collect();
        let per_command = std::mem::replace(&mut self.current, fresh);
        let errors = std::mem::take(&mut self.current_errors);
        // The collector outlives the workers; a send error means it is gone
        // and there is nobody left to report to.
        let _ =
            self.tx.send(Msg::Interval { thread: self.id, index: self.index, per_command, errors });
    }

    fn count_error(&mut self, kind: &str, count: u64, start_ns: u64) {
        if count == 0 {
            return;
        }
        *self.errors.entry(kind.to_string()).or_insert(0) += count;
        if start_ns >= self.plan.warmup_end_ns {
            self.current_errors += count;
        }
    }

    fn may_send_at(&self, intended_ns: u64) -> bool {
        self.plan.measure_end_ns.is_none_or(|end| intended_ns < end)
    }

    /// Whether connection `i` still has requests to send (now or later).
    fn has_more(&self, i: usize, now: u64) -> bool {
        let conn = &self.conns[i];
        if !conn.alive || conn.remaining == 0 {
            return false;
        }
        match self.plan.period_ns {
            Some(_) => self.may_send_at(conn.next_intended_ns),
            None => self.may_send_at(now),
        }
    }

    fn run(mut self) {
        // Wake-ups must be as precise as the open-loop schedule: shrink the
        // default 50 µs timer slack of this thread to 1 µs.
        // SAFETY: prctl with an integer argument changes only this thread.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong) };
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        let start = now_ns();
        let mut next_scan_ns = 0;
        for i in 0..self.conns.len() {
            self.conns[i].last_progress_ns = start;
            if self.plan.period_ns.is_none() {
                self.fill_closed(i, start);
            }
        }
        loop {
            let now = now_ns();
            self.roll(now);
            if self.plan.period_ns.is_some() {
                for i in 0..self.conns.len() {
                    self.issue_open(i, now);
                }
            }
            // The full scan (termination, reply timeouts) runs when something
            // may have finished, and every few milliseconds otherwise, so the
            // per-event cost stays independent of the connection count.
            if !self.rescan && now < next_scan_ns {
                if !self.wait(&mut events, now) {
                    break;
                }
                continue;
            }
            self.rescan = false;
            next_scan_ns = now + SCAN_INTERVAL_NS;
            let mut busy = false;
            for i in 0..self.conns.len() {
                let conn = &self.conns[i];
                if !conn.alive {
                    continue;
                }
                if !conn.inflight.is_empty() {
                    busy = true;
                    if now.saturating_sub(conn.last_progress_ns) > self.plan.reply_timeout_ns {
                        self.give_up(i, "timeout (no reply)");
                        continue;
                    }
                }
                if self.has_more(i, now) {
                    busy = true;
                }
            }
            if !busy {
                break;
            }
            if let Some(end) = self.plan.measure_end_ns {
                if now >= end + self.plan.drain_timeout_ns {
                    for i in 0..self.conns.len() {
                        if self.conns[i].alive && !self.conns[i].inflight.is_empty() {
                            self.give_up(i, "timeout (drain)");
                        }
                    }
                    break;
                }
            }
            if !self.wait(&mut events, now) {
                break;
            }
        }
        // Requests the schedule wanted sent in the measured phase but that never went out.
        let mut unsent = 0;
        if let (Some(period), Some(end)) = (self.plan.period_ns, self.plan.measure_end_ns) {
            for conn in &self.conns {
                if conn.next_intended_ns < end && conn.remaining > 0 {
                    let first = conn.next_intended_ns.max(self.plan.warmup_end_ns);
                    unsent += (end - first).div_ceil(period).min(conn.remaining);
                }
            }
        }
        self.ship();
        let summary = ThreadSummary {
            thread: self.id,
            errors: std::mem::take(&mut self.errors),
            send_lag: std::mem::replace(&mut self.send_lag, new_histogram()),
            unsent,
            replies_total: self.replies_total,
            last_reply_ns: self.last_reply_ns,
        };
        let _ = self.tx.send(Msg::Done(summary));
    }

    /// Sleeps until a socket event or the next deadline, then handles the
    /// events. Returns false if the event loop itself failed.
    fn wait(&mut self, events: &mut [libc::epoll_event], now: u64) -> bool {
        let wake_ns = self.wake_time(now);
        let n = if self.use_pwait2 {
            // One syscall with a nanosecond timeout: the cheapest precise sleep.
            let wait_ns = wake_ns.saturating_sub(now);
            let timeout = libc::timespec {
                tv_sec: (wait_ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (wait_ns % 1_000_000_000) as libc::c_long,
            };
            // SAFETY: events is a valid buffer of the given length; timeout is valid; no sigmask.
            unsafe {
                libc::epoll_pwait2(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len() as i32,
                    &timeout,
                    std::ptr::null(),
                )
            }
        } else {
            // Older kernels: an absolute timerfd gives the precision instead.
            let timeout_ms = if wake_ns <= now { 0 } else { self.arm_timer(wake_ns) };
            // SAFETY: events is a valid buffer of the given length.
            unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len() as i32,
                    timeout_ms,
                )
            }
        };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == ErrorKind::Interrupted {
                return true;
            }
            if self.use_pwait2 && err.raw_os_error() == Some(libc::ENOSYS) {
                self.use_pwait2 = false;
                return true;
            }
            self.count_error(&format!("client: epoll_wait failed: {err}"), 1, u64::MAX);
            return false;
        }
        for event in &events[..n as usize] {
            let token = event.u64;
            let flags = event.events;
            if token == TIMER_TOKEN {
                let mut expirations = [0u8; 8];
                // SAFETY: reading 8 bytes from a timerfd into an 8-byte buffer.
                unsafe { libc::read(self.timer.as_raw_fd(), expirations.as_mut_ptr().cast(), 8) };
                self.timer_armed_ns = None;
                continue;
            }
            let i = token as usize;
            if i >= self.conns.len() || !self.conns[i].alive {
                continue;
            }
            if flags & (libc::EPOLLIN | libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0 {
                self.on_readable(i);
            }
            if flags & libc::EPOLLOUT as u32 != 0 && self.conns[i].alive {
                self.flush(i);
            }
        }
        true
    }

    /// The earliest moment the loop must act even without socket events.
    fn wake_time(&self, now: u64) -> u64 {
        let mut wake = self.next_boundary_ns.min(now + MAX_SLEEP_NS);
        if let Some(end) = self.plan.measure_end_ns {
            if now < end {
                wake = wake.min(end);
            } else {
                wake = wake.min(end + self.plan.drain_timeout_ns);
            }
        }
        if self.plan.period_ns.is_some() {
            for (i, conn) in self.conns.iter().enumerate() {
                if conn.inflight.len() < self.plan.pipeline && self.has_more(i, now) {
                    wake = wake.min(conn.next_intended_ns);
                }
            }
        }
        wake
    }

    /// Arms the timerfd for an absolute wake time (reusing an armed one);
    /// returns the epoll timeout to use with it.
    fn arm_timer(&mut self, wake_ns: u64) -> i32 {
        if self.timer_armed_ns != Some(wake_ns) {
            let spec = libc::itimerspec {
                it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
                it_value: libc::timespec {
                    tv_sec: (wake_ns / 1_000_000_000) as libc::time_t,
                    tv_nsec: (wake_ns % 1_000_000_000) as libc::c_long,
                },
            };
            // SAFETY: valid timerfd and itimerspec.
            let rc = unsafe {
                libc::timerfd_settime(
                    self.timer.as_raw_fd(),
                    libc::TFD_TIMER_ABSTIME,
                    &spec,
                    std::ptr::null_mut(),
                )
            };
            if rc < 0 {
                // Fall back to epoll's millisecond timeout.
                self.timer_armed_ns = None;
                let wait_ms = wake_ns.saturating_sub(now_ns()).div_ceil(1_000_000);
                return wait_ms.min(i32::MAX as u64) as i32;
            }
            self.timer_armed_ns = Some(wake_ns);
        }
        // The timer wakes us; the epoll timeout is a backstop.
        (MAX_SLEEP_NS / 1_000_000) as i32 * 2
    }

    /// Closed loop: once a connection's batch is fully answered, send the next one.
    fn fill_closed(&mut self, i: usize, now: u64) {
        if !self.conns[i].inflight.is_empty() || !self.has_more(i, now) {
            return;
        }
        let workload = Arc::clone(&self.workload);
        let conn = &mut self.conns[i];
        let batch = (self.plan.pipeline as u64).min(conn.remaining);
        for _ in 0..batch {
            let command = workload.encode_next(&mut conn.generator, &mut conn.write_buf);
            conn.inflight.push_back((command, now));
        }
        conn.remaining -= batch;
        conn.last_progress_ns = now;
        self.flush(i);
    }

    /// Open loop: send every request whose intended time has come, up to the
    /// outstanding limit; later ones keep their intended time and so carry
    /// the wait into their latency.
    fn issue_open(&mut self, i: usize, now: u64) {
        let Some(period) = self.plan.period_ns else { return };
        let workload = Arc::clone(&self.workload);
        let mut sent = false;
        loop {
            let conn = &self.conns[i];
            if !conn.alive
                || conn.remaining == 0
                || conn.inflight.len() >= self.plan.pipeline
                || conn.next_intended_ns > now
                || !self.may_send_at(conn.next_intended_ns)
            {
                break;
            }
            let intended = conn.next_intended_ns;
            if intended >= self.plan.warmup_end_ns {
                self.send_lag.saturating_record(now - intended);
            }
            let conn = &mut self.conns[i];
            let command = workload.encode_next(&mut conn.generator, &mut conn.write_buf);
            if conn.inflight.is_empty() {
                conn.last_progress_ns = now;
            }
            conn.inflight.push_back((command, intended));
            conn.next_intended_ns += period;
            conn.remaining -= 1;
            sent = true;
        }
        if sent {
            self.flush(i);
        }
    }

    fn flush(&mut self, i: usize) {
        let epoll = self.epoll.as_raw_fd();
        let conn = &mut self.conns[i];
        while conn.write_pos < conn.write_buf.len() {
            match (&conn.stream).write(&conn.write_buf[conn.write_pos..]) {
                Ok(0) => {
                    self.lose(i, "connection: write returned zero");
                    return;
                }
                Ok(n) => conn.write_pos += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if !conn.want_write {
                        conn.want_write = true;
                        let fd = conn.stream.as_raw_fd();
                        let events = (libc::EPOLLIN | libc::EPOLLOUT) as u32;
                        if epoll_ctl(epoll, libc::EPOLL_CTL_MOD, fd, events, i as u64).is_err() {
                            self.lose(i, "client: epoll_ctl failed");
                        }
                    }
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.lose(i, &format!("connection: write failed: {e}"));
                    return;
                }
            }
        }
        conn.write_buf.clear();
        conn.write_pos = 0;
        if conn.want_write {
            conn.want_write = false;
            let fd = conn.stream.as_raw_fd();
            if epoll_ctl(epoll, libc::EPOLL_CTL_MOD, fd, libc::EPOLLIN as u32, i as u64).is_err() {
                self.lose(i, "client: epoll_ctl failed");
            }
        }
    }

    fn on_readable(&mut self, i: usize) {
        let conn = &mut self.conns[i];
        if conn.read_pos == conn.read_end {
            conn.read_pos = 0;
            conn.read_end = 0;
        }
        if conn.read_buf.len() - conn.read_end < READ_CHUNK_BYTES / 4 {
            if conn.read_pos > 0 {
                conn.read_buf.copy_within(conn.read_pos..conn.read_end, 0);
                conn.read_end -= conn.read_pos;
                conn.read_pos = 0;
            } else if conn.read_buf.len() >= MAX_READ_BUFFER_BYTES {
                self.lose(i, "protocol: reply larger than the read buffer limit");
                return;
            } else {
                let grown = (conn.read_buf.len() * 2).min(MAX_READ_BUFFER_BYTES);
                conn.read_buf.resize(grown, 0);
            }
        }
        let read = (&conn.stream).read(&mut conn.read_buf[conn.read_end..]);
        let now = now_ns();
        match read {
            Ok(0) => {
                self.lose(i, "connection: closed by server");
                return;
            }
            Ok(n) => conn.read_end += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                return
            }
            Err(e) => {
                self.lose(i, &format!("connection: read failed: {e}"));
                return;
            }
        }
        self.roll(now);
        loop {
            let conn = &mut self.conns[i];
            let parsed = parse_reply(&conn.read_buf[conn.read_pos..conn.read_end]);
            let (kind, len) = match parsed {
                Ok(Parsed::Reply { kind, len }) => (kind, len),
                Ok(Parsed::Incomplete) => break,
                Err(e) => {
                    self.lose(i, &format!("protocol: {}", e.0));
                    return;
                }
            };
            conn.read_pos += len;
            if kind == ReplyKind::Push {
                continue;
            }
            let Some((command, start_ns)) = conn.inflight.pop_front() else {
                self.lose(i, "protocol: reply without a request");
                return;
            };
            conn.last_progress_ns = now;
            self.replies_total += 1;
            self.last_reply_ns = now;
            if start_ns < self.plan.warmup_end_ns {
                continue;
            }
            match kind {
                ReplyKind::Error(error) => self.count_error(&error, 1, start_ns),
                _ => self.current[command as usize].saturating_record(now.saturating_sub(start_ns)),
            }
        }
        if self.plan.period_ns.is_none() {
            self.fill_closed(i, now);
        } else {
            self.issue_open(i, now);
        }
        if self.conns[i].inflight.is_empty() && !self.has_more(i, now) {
            self.rescan = true;
        }
    }

    /// Drops a connection that failed; what it had in flight is lost.
    fn lose(&mut self, i: usize, reason: &str) {
        let in_flight: Vec<u64> = self.conns[i].inflight.iter().map(|&(_, s)| s).collect();
        self.rescan = true;
        let conn = &mut self.conns[i];
        conn.alive = false;
        conn.inflight.clear();
        let fd = conn.stream.as_raw_fd();
        let _ = epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, 0, 0);
        let _ = conn.stream.shutdown(std::net::Shutdown::Both);
        *self.errors.entry(reason.to_string()).or_insert(0) += 1;
        for start in in_flight {
            self.count_error("lost (connection dropped)", 1, start);
        }
    }

    /// Stops waiting on a connection; its outstanding requests count as timeouts.
    fn give_up(&mut self, i: usize, reason: &str) {
        let in_flight: Vec<u64> = self.conns[i].inflight.iter().map(|&(_, s)| s).collect();
        for start in in_flight {
            self.count_error(reason, 1, start);
        }
        self.rescan = true;
        let conn = &mut self.conns[i];
        conn.inflight.clear();
        conn.alive = false;
        let fd = conn.stream.as_raw_fd();
        let _ = epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, 0, 0);
    }
}

struct IntervalAccumulator {
    per_command: Vec<Histogram<u64>>,
    errors: u64,
}

struct FinishedInterval {
    per_command: Vec<PackedHistogram>,
    count: u64,
    errors: u64,
}

/// Runs the benchmark; `observe` is called about four times a second with live numbers.
pub fn run(
    config: &RunConfig,
    mut observe: impl FnMut(&LiveStatus),
) -> Result<RunResult, BenchError> {
    config.validate()?;
    let workload = Arc::clone(&config.workload);
    let labels = workload.labels();

    let mut streams = Vec::with_capacity(config.connections);
    for _ in 0..config.connections {
        let stream = config.server.open()?;
        stream
            .set_nonblocking(true)
            .map_err(|e| BenchError::Io(format!("set_nonblocking: {e}")))?;
        streams.push(stream);
    }

    let cpu_start = process_cpu_seconds();
    let t0 = now_ns();
    let warmup_ns = config.warmup.as_nanos() as u64;
    let warmup_end_ns = t0 + warmup_ns;
    let measure_end_ns = match config.stop {
        Stop::Duration(d) => Some(warmup_end_ns + d.as_nanos() as u64),
        Stop::Requests(_) => None,
    };
    let start_time = SystemTime::now() + config.warmup;
    let connections = config.connections as u64;
    let period_ns = config.rate.map(|rate| ((connections as f64 * 1e9 / rate) as u64).max(1));
    let plan = Plan {
        warmup_end_ns,
        measure_end_ns,
        interval_ns: config.interval.as_nanos() as u64,
        pipeline: config.pipeline,
        period_ns,
        drain_timeout_ns: config.drain_timeout.as_nanos() as u64,
        reply_timeout_ns: config.reply_timeout.as_nanos() as u64,
    };

    let threads = config.threads.min(config.connections);
    let mut per_thread: Vec<Vec<Conn>> = (0..threads).map(|_| Vec::new()).collect();
    for (j, stream) in streams.into_iter().enumerate() {
        let j64 = j as u64;
        let remaining = match config.stop {
            Stop::Requests(total) => {
                share(total, j64 + 1, connections) - share(total, j64, connections)
            }
            Stop::Duration(_) => u64::MAX,
        };
        let sequential_start = share(workload.keyspace, j64, connections);
        // Stagger connections evenly over one period so the total send rate is smooth.
        let offset_ns = period_ns.map_or(0, |p| p * j64 / connections);
        per_thread[j % threads].push(Conn {
            stream,
            generator: workload.generator(j64, sequential_start),
            write_buf: Vec::with_capacity(16 * 1024),
            write_pos: 0,
            read_buf: vec![0; READ_CHUNK_BYTES],
            read_pos: 0,
            read_end: 0,
            inflight: VecDeque::with_capacity(config.pipeline),
            remaining,
            next_intended_ns: t0 + offset_ns,
            want_write: false,
            alive: true,
            last_progress_ns: t0,
        });
    }

    let (tx, rx) = mpsc::channel();
    let mut handles = Vec::with_capacity(threads);
    for (id, conns) in per_thread.into_iter().enumerate() {
        let worker = Worker::new(id, conns, Arc::clone(&workload), plan.clone(), tx.clone())
            .map_err(|e| BenchError::Io(format!("cannot set up epoll: {e}")))?;
        let pin = config.pin_threads;
        let handle = std::thread::Builder::new()
            .name(format!("mayfly-bench-{id}"))
            .spawn(move || {
                if pin {
                    pin_to_cpu(id);
                }
                worker.run()
            })
            .map_err(|e| BenchError::Io(format!("cannot spawn thread: {e}")))?;
        handles.push(handle);
    }
    drop(tx);

    let mut open: BTreeMap<u64, IntervalAccumulator> = BTreeMap::new();
    let mut finished: BTreeMap<u64, FinishedInterval> = BTreeMap::new();
    let mut totals: Vec<Histogram<u64>> = labels.iter().map(|_| new_histogram()).collect();
    let mut latest_shipped: Vec<Option<u64>> = vec![None; threads];
    let mut thread_done = vec![false; threads];
    let mut done = 0;
    let mut summaries = Vec::with_capacity(threads);
    let mut recorded = 0u64;
    let mut status = LiveStatus { warming_up: warmup_ns > 0, ..LiveStatus::default() };
    while done < threads {
        match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(Msg::Interval { thread, index, per_command, errors }) => {
                latest_shipped[thread] =
                    Some(latest_shipped[thread].map_or(index, |i| i.max(index)));
                let acc = open.entry(index).or_insert_with(|| IntervalAccumulator {
                    per_command: labels.iter().map(|_| new_histogram()).collect(),
                    errors: 0,
                });
                for (total, part) in acc.per_command.iter_mut().zip(&per_command) {
                    recorded += part.len();
                    total.add(part).expect("histograms share bounds");
                }
                acc.errors += errors;
            }
            Ok(Msg::Done(summary)) => {
                done += 1;
                thread_done[summary.thread] = true;
                summaries.push(summary);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        // Interval k is complete once every running thread has shipped an
        // index >= k (a thread skips indices in which it recorded nothing).
        let complete = (0..threads)
            .map(|t| if thread_done[t] { Some(u64::MAX) } else { latest_shipped[t] })
            .min()
            .flatten();
        if let Some(complete) = complete {
            let ready: Vec<u64> = open.range(..=complete).map(|(&k, _)| k).collect();
            for index in ready {
                let acc = open.remove(&index).expect("key from range");
                let mut merged = new_histogram();
                for (total, h) in totals.iter_mut().zip(&acc.per_command) {
                    total.add(h).expect("histograms share bounds");
                    merged.add(h).expect("histograms share bounds");
                }
                if !merged.is_empty() {
                    status.ops_per_sec = merged.len() as f64 / config.interval.as_secs_f64();
                    status.p99_ns = merged.value_at_quantile(0.99);
                }
                finished.insert(
                    index,
                    FinishedInterval {
                        per_command: acc.per_command.iter().map(PackedHistogram::pack).collect(),
                        count: merged.len(),
                        errors: acc.errors,
                    },
                );
            }
        }
        let now = now_ns();
        status.warming_up = now < warmup_end_ns;
        status.measured_ns = now.saturating_sub(warmup_end_ns);
        status.recorded = recorded;
        observe(&status);
    }
    // Whatever a vanished worker left open still counts.
    for (index, acc) in std::mem::take(&mut open) {
        let mut count = 0;
        for (total, h) in totals.iter_mut().zip(&acc.per_command) {
            total.add(h).expect("histograms share bounds");
            count += h.len();
        }
        let per_command = acc.per_command.iter().map(PackedHistogram::pack).collect();
        finished.insert(index, FinishedInterval { per_command, count, errors: acc.errors });
    }
    for handle in handles {
        if handle.join().is_err() {
            return Err(BenchError::Io("a worker thread panicked".to_string()));
        }
    }
    let end_ns = now_ns();
    let cpu_seconds = process_cpu_seconds() - cpu_start;

    let mut errors = BTreeMap::new();
    let mut send_lag = new_histogram();
    let mut unsent = 0;
    let mut replies_total = 0;
    let mut last_reply_ns = 0;
    for summary in summaries {
        for (kind, count) in summary.errors {
            *errors.entry(kind).or_insert(0) += count;
        }
        send_lag.add(&summary.send_lag).expect("histograms share bounds");
        unsent += summary.unsent;
        replies_total += summary.replies_total;
        last_reply_ns = last_reply_ns.max(summary.last_reply_ns);
    }
    let measured_ns = match measure_end_ns {
        // Replies still arriving after the end belong to the measured phase.
        Some(end) => end.max(last_reply_ns) - warmup_end_ns,
        None => last_reply_ns.max(warmup_end_ns) - warmup_end_ns,
    }
    .max(1);
    let interval_ns = plan.interval_ns;
    let mut records: Vec<IntervalRecord> = Vec::with_capacity(finished.len());
    let last_index = finished.keys().next_back().copied();
    if let Some(last_index) = last_index {
        let empty = PackedHistogram::pack(&new_histogram());
        for index in 0..=last_index {
            let interval = finished.remove(&index).unwrap_or_else(|| FinishedInterval {
                per_command: labels.iter().map(|_| empty.clone()).collect(),
                count: 0,
                errors: 0,
            });
            let start_ns = index * interval_ns;
            if start_ns >= measured_ns && interval.count == 0 && interval.errors == 0 {
                continue;
            }
            let length_ns = interval_ns.min(measured_ns.saturating_sub(start_ns)).max(1);
            records.push(IntervalRecord {
                start_ns,
                length_ns,
                per_command: interval.per_command,
                errors: interval.errors,
            });
        }
    }
    // A short tail (replies drained after the end) would show as a spike in
    // ops/s; it joins the interval before it, which then reports its true length.
    if records.len() >= 2 && records[records.len() - 1].length_ns < interval_ns / 2 {
        let tail = records.pop().expect("two records");
        let last = records.last_mut().expect("one record");
        for (h, t) in last.per_command.iter_mut().zip(&tail.per_command) {
            let mut merged = h.unpack();
            merged.add(t.unpack()).expect("histograms share bounds");
            *h = PackedHistogram::pack(&merged);
        }
        last.errors += tail.errors;
        last.length_ns = tail.start_ns + tail.length_ns - last.start_ns;
    }
    Ok(RunResult {
        labels,
        intervals: records,
        totals,
        errors,
        measured_ns,
        interval_ns,
        start_time,
        open_loop: config.rate.map(|requested_rate| OpenLoopResult {
            requested_rate,
            send_lag,
            unsent,
        }),
        replies_total,
        cpu_seconds,
        wall_seconds: (end_ns - t0) as f64 / 1e9,
    })
}

/// Pins the calling thread to the `k`-th CPU it is allowed to run on
/// (wrapping), so each worker owns a core. Failure leaves it unpinned.
fn pin_to_cpu(k: usize) {
    // SAFETY: cpu_set_t is plain data; the calls only read and write it.
    unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut allowed) != 0 {
            return;
        }
        let cpus: Vec<usize> =
            (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &allowed)).collect();
        if cpus.is_empty() {
            return;
        }
        let mut only: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpus[k % cpus.len()], &mut only);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &only);
    }
}

/// `total * part / whole` without overflow: the first index of share `part`.
fn share(total: u64, part: u64, whole: u64) -> u64 {
    (u128::from(total) * u128::from(part) / u128::from(whole.max(1))) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_histograms_round_trip_and_stay_small() {
        let mut histogram = new_histogram();
        for value in [0u64, 1, 999, 1_000_000, 123_456_789, MAX_LATENCY_NS, MAX_LATENCY_NS * 2] {
            histogram.saturating_record(value);
        }
        histogram.record_n(50_000, 1_000_000).expect("in range");
        let packed = PackedHistogram::pack(&histogram);
        assert_eq!(packed.unpack(), histogram);
        assert!(packed.0.len() < 4096, "{} bytes", packed.0.len());
        assert_eq!(PackedHistogram::pack(&new_histogram()).unpack().len(), 0);
    }

    #[test]
    fn shares_cover_the_total_exactly() {
        for (total, whole) in [(10u64, 3u64), (7, 7), (3, 5), (1_000_003, 50)] {
            let parts: Vec<u64> =
                (0..whole).map(|j| share(total, j + 1, whole) - share(total, j, whole)).collect();
            assert_eq!(parts.iter().sum::<u64>(), total);
            let min = parts.iter().min().copied().unwrap_or(0);
            let max = parts.iter().max().copied().unwrap_or(0);
            assert!(max - min <= 1, "{parts:?}");
        }
    }
}
