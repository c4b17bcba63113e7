//! Connections: the accept loop and one task per client.
//!
//! ```text
//!   accept (shard 0) ──round robin──► shard k: serve(fd)
//!   serve: recv → resp::parse → Service::dispatch (in order) → encode → send (batched)
//! ```
//! A client's requests are parsed on the shard that accepted it, executed in order (each may
//! hop to the shard that owns its keys), and their replies are written in request order. At
//! most `BATCH` requests are taken per read before replies are flushed, so one pipelining
//! client cannot starve the others on its shard. What a request does is the [`Service`]'s
//! business (the server layer's dispatcher); this layer owns the socket and the connection's
//! state.

pub mod bigarg;
pub mod client;
pub mod output;
pub mod readahead;

use std::future::Future;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use io_uring::{opcode, types};
use mayfly_engine::reply::Reply;

use crate::coord::block::{Interrupt, Interrupts, UnblockAs};
use crate::rt::{self, exec, realtime_ns, MultiOp};
use crate::shard::{here, Msg};
use client::{ClientInfo, Clients};
use mayfly_resp::{self as resp, Limits, Parsed, RequestParser};

/// What runs a connection's requests (the server layer's dispatcher).
pub trait Service: Sync + 'static {
    /// Runs one parsed request and returns its reply.
    fn dispatch<'a>(
        &'a self,
        conn: &'a mut Conn,
        argv: Vec<Bytes>,
    ) -> impl Future<Output = Reply> + 'a;
    /// Decides whether a new connection is served: Err with the bytes to write before closing
    /// it (protected mode).
    fn admit(&self, conn: &mut Conn) -> Result<(), &'static [u8]>;
    /// Releases what the connection holds elsewhere (watches, subscriptions) when it closes.
    fn on_close<'a>(&'a self, conn: &'a mut Conn) -> impl Future<Output = ()> + 'a;
}

/// Requests executed per read before replies are flushed and other tasks get a turn.
const BATCH: usize = 1024;
/// Replies buffered before a flush even within a batch.
const FLUSH_BYTES: usize = 256 * 1024;
/// Read size for single-shot recv (no provided buffers).
const READ_SIZE: usize = 16 * 1024;
/// A request at least this long gets the read buffer's remainder moved out of its allocation.
const LARGE_REQUEST_BYTES: usize = 64 * 1024;

/// Per-connection state, owned by the connection's task.
pub struct Conn {
    pub fd: RawFd,
    pub info: Arc<ClientInfo>,
    pub db: usize,
    pub resp3: bool,
    pub authenticated: bool,
    /// Commands queued by MULTI, or None outside a transaction.
    pub multi: Option<Vec<Vec<bytes::Bytes>>>,
    /// A command failed to queue: EXEC answers EXECABORT.
    pub multi_failed: bool,
    /// Close once the current reply is written (QUIT, protocol errors).
    pub close_after_reply: bool,
    pub watch: crate::coord::multi::WatchState,
    /// Close at once, dropping replies not yet written (a cross-protocol request, a peer that
    /// went away during a long command).
    pub close_now: bool,
    /// The peer is on the loopback interface (127.0.0.1, ::1) or a Unix socket: what Redis
    /// calls a local client (protected mode, `enable-*-command local`).
    pub local: bool,
    /// Bytes received and not yet parsed.
    pub rbuf: BytesMut,
    /// Replies not yet taken by the kernel.
    pub output: output::Output,
    /// Pub/Sub subscriptions of this connection.
    pub subs: crate::shard::pubsub::ClientSubs,
    /// The reply is an array of separate replies to write one after another (SUBSCRIBE).
    /// Those are pushes: they are written even while replies are switched off.
    pub split_reply: bool,
    /// CLIENT REPLY OFF: replies are dropped until CLIENT REPLY ON (pushes still flow).
    pub reply_off: bool,
    /// CLIENT REPLY SKIP was given: the next command's reply is dropped.
    pub reply_skip_next: bool,
    /// The reply of the command now running is dropped (the one after CLIENT REPLY SKIP).
    pub reply_skip: bool,
    pub receiver: Receiver,
    /// The shard whose cluster-face port this connection came through (see
    /// `server::cluster`), or None on the normal port.
    pub face: Option<usize>,
}

fn set_nodelay(fd: RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt on a socket we own with a valid int option.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Asks the kernel to stamp received bytes (SO_TIMESTAMPNS); best effort, a socket without
/// stamps falls back to the time we read its bytes.
fn enable_rx_timestamps(fd: RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt on a socket we own with a valid int option.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

fn sockaddr_string(fd: RawFd, peer: bool) -> String {
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let p = &mut storage as *mut libc::sockaddr_storage as *mut libc::sockaddr;
    // SAFETY: the kernel writes at most `len` bytes into storage.
    let rc = unsafe {
        if peer {
            libc::getpeername(fd, p, &mut len)
        } else {
            libc::getsockname(fd, p, &mut len)
        }
    };
    if rc != 0 {
        return "?:0".into();
    }
    match storage.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: family says this is a sockaddr_in.
            let a = unsafe { &*(p as *const libc::sockaddr_in) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            format!("{}:{}", ip, u16::from_be(a.sin_port))
        }
        libc::AF_INET6 => {
            // SAFETY: family says this is a sockaddr_in6.
            let a = unsafe { &*(p as *const libc::sockaddr_in6) };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            format!("{}:{}", ip, u16::from_be(a.sin6_port))
        }
        _ => "?:0".into(),
    }
}

/// Whether the peer of `fd` is local as Redis counts it: exactly 127.0.0.1 or ::1, or a Unix
/// socket (an IPv4-mapped ::ffff:127.0.0.1 or 127.0.0.2 is not).
fn peer_is_local(fd: RawFd) -> bool {
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let p = &mut storage as *mut libc::sockaddr_storage as *mut libc::sockaddr;
    // SAFETY: the kernel writes at most `len` bytes into storage.
    if unsafe { libc::getpeername(fd, p, &mut len) } != 0 {
        return false;
    }
    match storage.ss_family as i32 {
        libc::AF_UNIX => true,
        libc::AF_INET => {
            // SAFETY: family says this is a sockaddr_in.
            let a = unsafe { &*(p as *const libc::sockaddr_in) };
            std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr))
                == std::net::Ipv4Addr::LOCALHOST
        }
        libc::AF_INET6 => {
            // SAFETY: family says this is a sockaddr_in6.
            let a = unsafe { &*(p as *const libc::sockaddr_in6) };
            std::net::Ipv6Addr::from(a.sin6_addr.s6_addr) == std::net::Ipv6Addr::LOCALHOST
        }
        _ => false,
    }
}

/// TCP keepalive as Redis sets it: probes after `interval_s` idle, then every third of it,
/// three probes before the connection is dropped.
fn set_keepalive(fd: RawFd, interval_s: u64) {
    let set = |level: libc::c_int, name: libc::c_int, value: libc::c_int| {
        // SAFETY: setsockopt on a socket we own with a valid int option.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                &value as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    };
    let idle = interval_s.clamp(1, i32::MAX as u64) as libc::c_int;
    set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, idle);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, (idle / 3).max(1));
    set(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3);
}

fn close_fd(fd: RawFd) {
    // SAFETY: closing a socket this task owns; shutdown first ends any in-flight recv.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
        libc::close(fd);
    }
}

/// Accepts connections on `listen_fd` and hands each to a shard: `fixed`, or round-robin.
pub async fn accept_loop(listen_fd: RawFd, clients: Arc<Clients>, fixed: Option<usize>) {
    let rt = here();
    let multishot = rt::ring().borrow().features.multishot_accept;
    let mut next = 0usize;
    loop {
        let stream = if multishot {
            Some(MultiOp::start(opcode::AcceptMulti::new(types::Fd(listen_fd)).build()))
        } else {
            None
        };
        loop {
            let (res, more) = match &stream {
                Some(s) => {
                    let (res, _, more) = s.next().await;
                    (res, more)
                }
                None => {
                    let sqe = opcode::Accept::new(
                        types::Fd(listen_fd),
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                    )
                    .flags(libc::SOCK_CLOEXEC)
                    .build();
                    let (res, _) = rt::op(sqe, rt::ring::Owned::None).await;
                    (res, true)
                }
            };
            if res >= 0 {
                let fd = res;
                let maxclients = rt.shared.read_config(|c| c.maxclients) as usize;
                if clients.connected.load(Ordering::Relaxed) >= maxclients {
                    let msg = b"-ERR max number of clients reached\r\n";
                    // SAFETY: a best-effort write of a static buffer to a fresh socket.
                    unsafe { libc::write(fd, msg.as_ptr() as *const libc::c_void, msg.len()) };
                    close_fd(fd);
                    rt.env.borrow_mut().stats.rejected_connections += 1;
                } else {
                    clients.connected.fetch_add(1, Ordering::Relaxed);
                    let target = fixed.unwrap_or(next % rt.nshards);
                    next = next.wrapping_add(1);
                    if target == rt.id {
                        (rt.new_conn)(fd);
                    } else {
                        rt.mesh.borrow_mut().send(target, Msg::NewConn(fd));
                    }
                }
            } else if res != -libc::EINTR && res != -libc::ECANCELED {
                // EMFILE and friends: back off briefly instead of spinning.
                rt::sleep_ms(10).await;
            }
            if !more {
                break;
            }
        }
    }
}

/// How a connection receives bytes: a multishot recvmsg over the shard's buffer ring, or
/// single-shot recvs into a buffer of its own.
pub enum Receiver {
    /// `hdr` tells the kernel how much room to leave for the receive timestamp in each
    /// buffer; it lives as long as the op.
    Multi { op: Option<MultiOp>, hdr: Box<libc::msghdr>, rx_ns: u64 },
    /// Single-shot recv; an in-flight op (which owns its buffer) survives a dropped `recv()`
    /// future, so racing `recv()` against other events never loses bytes.
    Single { inflight: Option<usize>, spare: Vec<u8>, rx_ns: u64 },
}

/// Control room for one SCM_TIMESTAMPNS message (CMSG_SPACE of a timespec on 64-bit Linux).
const TIMESTAMP_CONTROL_LEN: usize = 32;

/// The SCM_TIMESTAMPNS value in a recvmsg control block, in ns.
fn control_timestamp_ns(control: &[u8]) -> Option<u64> {
    let hdr_len = std::mem::size_of::<libc::cmsghdr>();
    let mut off = 0;
    while off + hdr_len <= control.len() {
        // SAFETY: the bounds check above keeps the unaligned read inside `control`.
        let cmsg: libc::cmsghdr =
            unsafe { control.as_ptr().add(off).cast::<libc::cmsghdr>().read_unaligned() };
        let len = cmsg.cmsg_len;
        if len < hdr_len || off + len > control.len() {
            return None;
        }
        if cmsg.cmsg_level == libc::SOL_SOCKET
            && cmsg.cmsg_type == libc::SCM_TIMESTAMPNS
            && len >= hdr_len + 16
        {
            let data = &control[off + hdr_len..off + hdr_len + 16];
            let sec = i64::from_ne_bytes(data[..8].try_into().ok()?);
            let nsec = i64::from_ne_bytes(data[8..].try_into().ok()?);
            return Some((sec as u64).wrapping_mul(1_000_000_000).wrapping_add(nsec as u64));
        }
        off += (len + 7) & !7;
    }
    None
}

impl Receiver {
    pub fn single() -> Receiver {
        Receiver::Single { inflight: None, spare: Vec::with_capacity(READ_SIZE), rx_ns: 0 }
    }

    pub fn multi() -> Receiver {
        // SAFETY: an all-zero msghdr is valid (no name, no iovecs, no control).
        let mut hdr: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        hdr.msg_controllen = TIMESTAMP_CONTROL_LEN as _;
        Receiver::Multi { op: None, hdr, rx_ns: 0 }
    }

    /// When the bytes of the last `recv()` reached the host: the kernel's receive timestamp
    /// where the socket has them, else when we read them. Blocking commands are ordered by
    /// it, so clients read by different shards are served in the order their bytes came in.
    pub fn last_rx_ns(&self) -> u64 {
        match self {
            Receiver::Multi { rx_ns, .. } | Receiver::Single { rx_ns, .. } => *rx_ns,
        }
    }

    /// Appends at least one byte to `rbuf`; Err on EOF or a socket error. Cancel-safe.
    pub async fn recv(&mut self, fd: RawFd, rbuf: &mut BytesMut) -> Result<usize, ()> {
        match self {
            Receiver::Multi { op, hdr, rx_ns } => loop {
                if op.is_none() {
                    let sqe = opcode::RecvMsgMulti::new(
                        types::Fd(fd),
                        &**hdr as *const libc::msghdr,
                        rt::ring::BUF_GROUP,
                    )
                    .build();
                    *op = Some(MultiOp::start(sqe));
                }
                let Some(stream) = op.as_ref() else { return Err(()) };
                let id = stream.id;
                let (res, flags, more) = stream.next().await;
                let mut got: Option<(usize, Option<u64>)> = None;
                if res > 0 {
                    let ring = rt::ring();
                    let mut ring = ring.borrow_mut();
                    let take = |b: &[u8]| {
                        if let Ok(out) = types::RecvMsgOut::parse(b, hdr) {
                            rbuf.extend_from_slice(out.payload_data());
                            got = Some((
                                out.payload_data().len(),
                                control_timestamp_ns(out.control_data()),
                            ));
                        }
                    };
                    match io_uring::cqueue::buffer_select(flags) {
                        Some(bid) => ring.take_buffer(bid, res as usize, take),
                        // Copied out by the ring while this task was not reading; taken
                        // before the op (and its staged bytes) may be released below.
                        None => ring.take_staged(id, res as usize, take),
                    }
                }
                if !more {
                    *op = None;
                }
                if res > 0 {
                    match got {
                        Some((n, stamp)) if n > 0 => {
                            *rx_ns = stamp.unwrap_or_else(realtime_ns);
                            return Ok(n);
                        }
                        // No payload: the peer closed.
                        _ => return Err(()),
                    }
                }
                if res == 0 {
                    return Err(());
                }
                if res == -libc::ECANCELED && !more {
                    // The ring stopped this recv while the task was not reading (too much
                    // staged); everything it received was returned above. Start a new one.
                    continue;
                }
                if res == -libc::ENOBUFS {
                    // Every provided buffer is in use; let other connections return theirs.
                    exec::yield_now().await;
                    continue;
                }
                return Err(());
            },
            Receiver::Single { inflight, spare, rx_ns } => {
                let id = match *inflight {
                    Some(id) => id,
                    None => {
                        let mut b = std::mem::take(spare);
                        b.resize(READ_SIZE, 0);
                        let sqe =
                            opcode::Recv::new(types::Fd(fd), b.as_mut_ptr(), READ_SIZE as u32)
                                .build();
                        let id = rt::ring().borrow_mut().start(sqe, rt::ring::Owned::Buf(b));
                        *inflight = Some(id);
                        id
                    }
                };
                let (res, _) =
                    std::future::poll_fn(|cx| rt::ring().borrow_mut().poll_op(id, cx.waker()))
                        .await;
                *inflight = None;
                let buf = rt::ring().borrow_mut().take_owned_buf(id);
                if res <= 0 {
                    *spare = buf;
                    return Err(());
                }
                rbuf.extend_from_slice(&buf[..res as usize]);
                *spare = buf;
                *rx_ns = realtime_ns();
                Ok(res as usize)
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Receiver::Single { inflight: Some(id), .. } = self {
            let ring = rt::ring();
            let mut ring = ring.borrow_mut();
            if !ring.op_done(*id) {
                ring.push_raw(
                    opcode::AsyncCancel::new(*id as u64).build().user_data(rt::ring::UD_IGNORE),
                );
            }
            ring.release(*id);
        }
    }
}

/// Serves one client until it quits, errors, or is killed.
pub async fn serve<S: Service>(fd: RawFd, clients: Arc<Clients>, service: &'static S) {
    let rt = here();
    set_nodelay(fd);
    enable_rx_timestamps(fd);
    let now = mayfly_engine::clock::unix_time_ms();
    let id = clients.next_id();
    let info = Arc::new(ClientInfo::new(
        id,
        fd,
        rt.id,
        sockaddr_string(fd, true),
        sockaddr_string(fd, false),
        now,
    ));
    clients.insert(info.clone());
    rt.env.borrow_mut().stats.connections_received += 1;
    let (requirepass_set, keepalive_s) =
        rt.shared.read_config(|c| (!c.requirepass.is_empty(), c.tcp_keepalive_s));
    if keepalive_s > 0 {
        set_keepalive(fd, keepalive_s);
    }
    let receiver = if rt::ring().borrow().features.multishot_recv {
        Receiver::multi()
    } else {
        Receiver::single()
    };
    let mut conn = Conn {
        fd,
        info: info.clone(),
        db: 0,
        resp3: false,
        authenticated: !requirepass_set,
        multi: None,
        multi_failed: false,
        close_after_reply: false,
        close_now: false,
        local: peer_is_local(fd),
        watch: Default::default(),
        rbuf: BytesMut::with_capacity(READ_SIZE),
        output: output::Output::new(READ_SIZE),
        subs: Default::default(),
        split_reply: false,
        reply_off: false,
        reply_skip_next: false,
        reply_skip: false,
        receiver,
        face: None,
    };
    drop(rt);
    match service.admit(&mut conn) {
        Ok(()) => serve_loop(&mut conn, service).await,
        Err(refusal) => {
            conn.output.queue.extend_from_slice(refusal);
            let _ = conn.output.flush(fd).await;
        }
    }
    // Drop the recv and send ops (cancelling them) before the fd goes away.
    conn.receiver = Receiver::Single { inflight: None, spare: Vec::new(), rx_ns: 0 };
    conn.output = output::Output::new(0);
    close_fd(fd);
    clients.remove(id);
    clients.connected.fetch_sub(1, Ordering::Relaxed);
    service.on_close(&mut conn).await;
}

fn limits(conn: &Conn) -> (Limits, usize) {
    let rt = here();
    let (bulk, qbuf) =
        rt.shared.read_config(|c| (c.proto_max_bulk_len, c.client_query_buffer_limit as usize));
    (
        Limits { proto_max_bulk_len: bulk, authenticated: conn.authenticated, ..Limits::default() },
        qbuf,
    )
}

/// Settings the serve loop reads from the configuration once per wait (CONFIG SET applies to
/// connected clients from their next read on).
struct LoopSettings {
    output_limit: mayfly_engine::config::OutputBufferLimit,
    idle_timeout_s: u64,
}

fn loop_settings(conn: &Conn) -> LoopSettings {
    let rt = here();
    let class = if conn.subs.active() { "pubsub" } else { "normal" };
    let (limit, idle) = rt.shared.read_config(|c| (c.output_buffer_limit(class), c.timeout_s));
    LoopSettings { output_limit: limit, idle_timeout_s: idle }
}

/// Publishes the connection's output figures for CLIENT LIST.
fn publish_output_stats(out: &output::Output, info: &ClientInfo) {
    let (obl, oll, omem) = out.stats();
    info.obl.store(obl, Ordering::Relaxed);
    info.oll.store(oll, Ordering::Relaxed);
    info.omem.store(omem, Ordering::Relaxed);
}

/// What ended a serve loop's wait.
enum Woke {
    Received(Result<usize, ()>),
    Sent(Result<(), i32>),
    Mail,
    Timer,
}

/// Runs `fut` while watching the client's socket, for a command that may wait long (DEBUG
/// SLEEP): bytes that arrive meanwhile are kept for later, and a peer that goes away ends
/// the wait at once: None, and the connection closes without a reply. So no command keeps a
/// dead connection (and its maxclients slot) alive.
pub async fn unless_closed<F: Future>(conn: &mut Conn, fut: F) -> Option<F::Output> {
    let qbuf_limit = limits(conn).1;
    let mut fut = std::pin::pin!(fut);
    loop {
        if conn.rbuf.len() > qbuf_limit {
            // Too much pipelined meanwhile: stop reading; the serve loop closes the client
            // after the reply, as it would have.
            return Some(fut.await);
        }
        match rt::race(fut.as_mut(), conn.receiver.recv(conn.fd, &mut conn.rbuf)).await {
            rt::Either::Left(out) => return Some(out),
            rt::Either::Right(Ok(_)) => continue,
            rt::Either::Right(Err(())) => {
                conn.close_now = true;
                return None;
            }
        }
    }
}

async fn serve_loop<S: Service>(conn: &mut Conn, service: &'static S) {
    let mut parser = RequestParser::new();
    let (mut limits, mut qbuf_limit) = limits(conn);
    // When the parser knows how long the pending request is, skip parsing until it is all here.
    let mut need: Option<usize> = None;
    // `rbuf` was made for the request at its start alone (`bigarg`).
    let mut own_buffer = false;
    // Settings derived from the configuration, recomputed only when it (or the connection's
    // class) changes: parsing them on every read cost more than the commands themselves.
    let shared = here().shared.clone();
    let mut settings_key = (u64::MAX, false);
    let mut settings = loop_settings(conn);
    loop {
        let mut executed = 0;
        // Set when the batch stopped at a limit with requests possibly still in `rbuf`.
        let mut stopped_at_limit = false;
        let key = (shared.config_generation(), conn.subs.active());
        if key != settings_key {
            settings = loop_settings(conn);
            settings_key = key;
        }
        let cap = output::Output::cap(&settings.output_limit);
        loop {
            if need.is_some_and(|n| conn.rbuf.len() < n) {
                break;
            }
            if conn.output.pending() >= cap {
                // The client does not read its replies: stop executing its requests until it
                // does (or the output limit closes it below).
                stopped_at_limit = true;
                break;
            }
            match parser.parse(&conn.rbuf, &limits) {
                Ok(Parsed::Request { args, consumed }) => {
                    need = None;
                    let frame = conn.rbuf.split_to(consumed).freeze();
                    if consumed >= LARGE_REQUEST_BYTES {
                        // What is left of the read buffer still shares the frame's
                        // allocation: moving it to a fresh one lets a large request's bytes be
                        // freed as soon as its arguments are (a 512 MB SET kept its 512 MB
                        // buffer alive on an idle connection until its next read).
                        let mut fresh = BytesMut::with_capacity(READ_SIZE.max(conn.rbuf.len()));
                        fresh.extend_from_slice(&conn.rbuf);
                        conn.rbuf = fresh;
                    }
                    let mut argv = resp::to_args(&frame, &args);
                    bigarg::own_long_args(&mut argv, consumed, own_buffer);
                    own_buffer = false;
                    drop(frame);
                    let reply = service.dispatch(conn, argv).await;
                    if conn.close_now {
                        return;
                    }
                    if let mayfly_engine::reply::Reply::Error(text) = &reply {
                        here().env.borrow_mut().stats.record_error(text);
                    }
                    let out = &mut conn.output.queue;
                    // Pub/Sub messages (keyspace events of this very command included) go
                    // out before the reply, as Redis writes them.
                    if let Some(mb) = &conn.subs.mailbox {
                        for msg in mb.drain() {
                            resp::encode(&msg, conn.resp3, out);
                        }
                    }
                    // CLIENT REPLY: OFF drops every reply, SKIP the next command's only; ON
                    // clears both while it runs, so its own OK is written.
                    let silenced = conn.reply_off || conn.reply_skip;
                    conn.reply_skip = std::mem::take(&mut conn.reply_skip_next);
                    if conn.split_reply {
                        conn.split_reply = false;
                        if let mayfly_engine::reply::Reply::Array(parts) = &reply {
                            for part in parts {
                                resp::encode(part, conn.resp3, out);
                            }
                        }
                    } else if !silenced {
                        resp::encode(&reply, conn.resp3, out);
                    }
                    drop(reply);
                    executed += 1;
                    if conn.close_after_reply {
                        if crate::shard::aof::gate_active() {
                            crate::shard::aof::wait_durable().await;
                        }
                        let _ = conn.output.flush(conn.fd).await;
                        return;
                    }
                    if limits.authenticated != conn.authenticated {
                        (limits, qbuf_limit) = self::limits(conn);
                    }
                    if executed >= BATCH || conn.output.queue.len() >= FLUSH_BYTES {
                        stopped_at_limit = true;
                        break;
                    }
                }
                Ok(Parsed::Empty { consumed }) => {
                    conn.rbuf.advance(consumed);
                }
                Ok(Parsed::Incomplete { need: n }) => {
                    need = n;
                    if let Some(n) = n {
                        bigarg::make_room(&mut conn.rbuf, n, &mut own_buffer, qbuf_limit);
                    }
                    break;
                }
                Err(e) => {
                    let reply = e.to_reply();
                    if let mayfly_engine::reply::Reply::Error(text) = &reply {
                        here().env.borrow_mut().stats.record_error(text);
                    }
                    resp::encode(&reply, conn.resp3, &mut conn.output.queue);
                    let _ = conn.output.flush(conn.fd).await;
                    return;
                }
            }
        }
        if let Some(mb) = conn.subs.mailbox.clone() {
            if mb.overflowed.get() {
                return;
            }
            for msg in mb.drain() {
                resp::encode(&msg, conn.resp3, &mut conn.output.queue);
            }
        }
        // The clock is read only when something needs it (a reply list beyond the static
        // buffer, or an idle timeout): most turns of a request/reply client need neither.
        let now_ms = if conn.output.pending() > output::STATIC_BUFFER_BYTES
            || conn.output.soft_deadline_ms(&settings.output_limit).is_some()
            || settings.idle_timeout_s > 0
        {
            rt::monotonic_us() / 1000
        } else {
            0
        };
        if let Some(overrun) = conn.output.over_limit(&settings.output_limit, now_ms) {
            crate::log::warning(&format!(
                "Client {} closed for overcoming of output buffer limits ({}).",
                conn.info.describe(mayfly_engine::clock::unix_time_ms()),
                if overrun == output::Overrun::Hard { "hard" } else { "soft" }
            ));
            return;
        }
        if !conn.output.queue.is_empty() && crate::shard::aof::gate_active() {
            // appendfsync always: replies leave once what was journaled before them is durable.
            crate::shard::aof::wait_durable().await;
        }
        if !conn.output.queue.is_empty() {
            here().env.borrow_mut().stats.net_output_bytes += conn.output.queue.len() as u64;
            conn.output.start(conn.fd);
        }
        publish_output_stats(&conn.output, &conn.info);
        if conn.info.killed.load(Ordering::Relaxed) {
            return;
        }
        // Replies at the cap: execute nothing more until some are sent, but keep reading the
        // requests (a client that writes its whole pipeline before reading would deadlock).
        let backed_up = conn.output.pending() >= cap;
        let reading = !backed_up || readahead::may_read_ahead(conn.rbuf.len(), qbuf_limit);
        if stopped_at_limit && !backed_up {
            // More requests may be buffered (their bytes already read, so no recv would
            // announce them): give the other tasks a turn, then go on with them.
            exec::yield_now().await;
            continue;
        }
        if conn.rbuf.len() > qbuf_limit {
            // Redis closes clients whose query buffer exceeds client-query-buffer-limit.
            return;
        }
        conn.info.qbuf.store(conn.rbuf.len(), Ordering::Relaxed);
        // Wake for: the socket's bytes (unless read-ahead is over its bounds), the send in
        // flight, the mailbox of a subscriber, and the idle timeout or soft output limit.
        let mut deadline_ms = conn.output.soft_deadline_ms(&settings.output_limit);
        if settings.idle_timeout_s > 0 && !conn.subs.active() {
            let last = conn.info.last_interaction_ms.load(Ordering::Relaxed);
            let idle_at = last + settings.idle_timeout_s * 1000;
            let idle_in = idle_at.saturating_sub(mayfly_engine::clock::unix_time_ms());
            let at = now_ms + idle_in;
            deadline_ms = Some(deadline_ms.map_or(at, |d| d.min(at)));
        }
        let mailbox = conn.subs.mailbox.clone();
        let fd = conn.fd;
        let sending = conn.output.is_sending();
        let woke = {
            let (receiver, rbuf, out) = (&mut conn.receiver, &mut conn.rbuf, &mut conn.output);
            let recv = async move {
                if reading {
                    Woke::Received(receiver.recv(fd, rbuf).await)
                } else {
                    std::future::pending().await
                }
            };
            let sent = async move {
                if sending {
                    Woke::Sent(out.progress(fd).await)
                } else {
                    std::future::pending().await
                }
            };
            let mail = async move {
                match mailbox {
                    Some(mb) => {
                        mb.ready().await;
                        Woke::Mail
                    }
                    None => std::future::pending().await,
                }
            };
            let timer = async move {
                match deadline_ms {
                    Some(at) => {
                        rt::sleep_ms(at.saturating_sub(rt::monotonic_us() / 1000)).await;
                        Woke::Timer
                    }
                    None => std::future::pending().await,
                }
            };
            match rt::race(recv, rt::race(sent, rt::race(mail, timer))).await {
                rt::Either::Left(w)
                | rt::Either::Right(rt::Either::Left(w))
                | rt::Either::Right(rt::Either::Right(rt::Either::Left(w)))
                | rt::Either::Right(rt::Either::Right(rt::Either::Right(w))) => w,
            }
        };
        match woke {
            Woke::Received(Ok(n)) => {
                here().env.borrow_mut().stats.net_input_bytes += n as u64;
                conn.info
                    .last_interaction_ms
                    .store(mayfly_engine::clock::unix_time_ms(), Ordering::Relaxed);
            }
            Woke::Received(Err(())) | Woke::Sent(Err(_)) => return,
            Woke::Sent(Ok(())) | Woke::Mail => {}
            Woke::Timer => {
                if settings.idle_timeout_s > 0 && !conn.subs.active() {
                    let idle_ms = mayfly_engine::clock::unix_time_ms()
                        .saturating_sub(conn.info.last_interaction_ms.load(Ordering::Relaxed));
                    if idle_ms >= settings.idle_timeout_s * 1000 {
                        crate::log::verbose("Closing idle client");
                        return;
                    }
                }
            }
        }
        if conn.info.killed.load(Ordering::Relaxed) {
            return;
        }
    }
}

/// While a client is blocked: its socket (bytes or a close) and CLIENT UNBLOCK requests.
pub struct ConnInterrupts<'a> {
    pub conn: &'a mut Conn,
}

impl Interrupts for ConnInterrupts<'_> {
    async fn next(&mut self) -> Interrupt {
        let conn = &mut *self.conn;
        let info = conn.info.clone();
        match rt::race(conn.receiver.recv(conn.fd, &mut conn.rbuf), unblock_requested(&info)).await
        {
            rt::Either::Left(Ok(_)) => Interrupt::More,
            rt::Either::Left(Err(())) => Interrupt::Closed,
            rt::Either::Right(how) => Interrupt::Unblocked(how),
        }
    }

    fn set_blocked(&mut self, blocked: bool) {
        self.conn.info.blocked.store(blocked, Ordering::Relaxed);
        if !blocked {
            here().unblock_wakers.borrow_mut().remove(&self.conn.info.id);
        }
    }
}

/// Resolves when CLIENT UNBLOCK asks this client to stop waiting (and clears the request).
async fn unblock_requested(info: &ClientInfo) -> UnblockAs {
    let decode =
        |v: u8| if v == UnblockAs::Error as u8 { UnblockAs::Error } else { UnblockAs::Timeout };
    std::future::poll_fn(|cx| match info.unblock.swap(0, Ordering::AcqRel) {
        0 => {
            here().unblock_wakers.borrow_mut().insert(info.id, cx.waker().clone());
            // A request that landed while registering must not be missed.
            match info.unblock.swap(0, Ordering::AcqRel) {
                0 => std::task::Poll::Pending,
                v => std::task::Poll::Ready(decode(v)),
            }
        }
        v => std::task::Poll::Ready(decode(v)),
    })
    .await
}
