//! Blocking commands (BLPOP & co.) across shards.
//!
//! ```text
//!   keys on one shard ──► Job::Block on the owner ──► answered at once, or parked as a waiter
//!                          ▲                            and answered by the write that feeds it
//!                          └── timeout / client gone / CLIENT UNBLOCK ──► Job::Unblock (withdraw)
//!   keys on several shards ──► retry the atomic multi-shard attempt every few ms until data
//! ```
//! What can end a wait besides data and the timeout comes from the caller as [`Interrupts`]
//! (the connection layer watches its socket and CLIENT UNBLOCK requests), so this code runs the
//! same with or without a socket.

use std::future::Future;

use bytes::Bytes;
use mayfly_engine::command::CommandSpec;
use mayfly_engine::reply::Reply;

use crate::rt::{monotonic_us, race, sleep_ms, Either};
use crate::shard::env::{is_empty_blocking_reply, Job};
use crate::shard::{call, here, submit, Pending};

/// How CLIENT UNBLOCK ends a blocking command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum UnblockAs {
    /// As if its timeout had expired (the default).
    Timeout = 1,
    /// With Redis's `-UNBLOCKED` error.
    Error = 2,
}

/// Something other than data or the timeout that happened while a client was blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    /// More bytes arrived from the client (pipelined): keep waiting, they run after the reply.
    More,
    /// The client went away: stop waiting and withdraw.
    Closed,
    /// CLIENT UNBLOCK asked this client to stop.
    Unblocked(UnblockAs),
}

/// The events that may end a wait early, supplied by the caller.
pub trait Interrupts {
    /// Resolves at the next interrupt. Must be cancel-safe: it is raced against the reply and
    /// the timer and dropped when they win.
    fn next(&mut self) -> impl Future<Output = Interrupt> + '_;
    /// Called with `true` when the command starts waiting and `false` when it stops (CLIENT
    /// UNBLOCK acts only in between).
    fn set_blocked(&mut self, blocked: bool);
}

/// A blocking command about to run.
pub struct BlockRequest {
    /// The client's id (names its waiter on the owning shard).
    pub id: u64,
    pub db: usize,
    pub resp3: bool,
    pub spec: &'static CommandSpec,
    pub argv: Vec<Bytes>,
    /// When the command's bytes reached the host (orders waiters across shards).
    pub stamp_ns: u64,
}

/// The timeout of a blocking command in ms (0 = forever), or None when it does not parse
/// (the engine then answers Redis's error).
pub fn timeout_ms(spec: &CommandSpec, argv: &[Bytes]) -> Option<u64> {
    let arg = match spec.name {
        "xread" | "xreadgroup" => return mayfly_engine::families::stream::block_timeout_ms(argv),
        "blmpop" | "bzmpop" => argv.get(1)?,
        _ => argv.last()?,
    };
    let secs: f64 = std::str::from_utf8(arg).ok()?.trim().parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some((secs * 1000.0).ceil() as u64)
}

/// What a blocking command answers when it times out.
pub fn timeout_reply(spec: &CommandSpec) -> Reply {
    match spec.name {
        "blmove" | "brpoplpush" => Reply::Nil,
        _ => Reply::NilArray,
    }
}

/// What a blocking command answers when CLIENT UNBLOCK ends it.
pub fn unblocked_reply(spec: &CommandSpec, how: UnblockAs) -> Reply {
    match how {
        UnblockAs::Timeout => timeout_reply(spec),
        UnblockAs::Error => Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK"),
    }
}

/// Time left until `deadline_us` (on `rt::monotonic_us`) in ms, rounded up (a truncated
/// 0.9 ms would end the wait before the deadline); None for no deadline.
fn remaining_ms(deadline_us: Option<u64>) -> Option<u64> {
    deadline_us.map(|d| d.saturating_sub(monotonic_us()).div_ceil(1000))
}

/// Runs a blocking command: answers at once when data is there, else waits for data, the
/// timeout, or an interrupt. Returns the reply and whether the client went away.
pub async fn block<I: Interrupts>(req: BlockRequest, intr: &mut I) -> (Reply, bool) {
    let BlockRequest { id, db, resp3, spec, argv, stamp_ns } = req;
    let Some(timeout) = timeout_ms(spec, &argv) else {
        return (super::route::route(db, resp3, spec, argv).await, false);
    };
    let rt = here();
    let shared = rt.shared.clone();
    let idx = spec.keys_of(&argv);
    let shards: Vec<usize> = idx.iter().map(|&i| shared.shard_of(&argv[i])).collect();
    let single = shards.windows(2).all(|w| w[0] == w[1]);
    let deadline = (timeout != 0).then(|| monotonic_us() + timeout * 1000);
    let counter = &shared.blocked_clients;
    if !single || shards.is_empty() {
        // Keys on several shards: retry the atomic multi-shard attempt until data or timeout.
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let streams = crate::shard::stream_wait::is_stream_read(&argv);
        let argv = super::stream_block::resolve_last_ids(db, argv).await;
        let mut attempt = true;
        let mut first = true;
        let result = loop {
            if attempt {
                let mut r = super::route::route(db, resp3, spec, argv.clone()).await;
                if streams && !first && r.is_error() {
                    // Blocked, then the key or group went: Redis's errors for that.
                    r = super::stream_block::blocked_error(db, &argv, r).await;
                }
                if !is_empty_blocking_reply(&r) || r.is_error() {
                    break (r, false);
                }
            }
            first = false;
            if remaining_ms(deadline) == Some(0) {
                break (timeout_reply(spec), false);
            }
            // Watch the client meanwhile: one that goes away stops retrying at once.
            let pause = sleep_ms(remaining_ms(deadline).unwrap_or(10).min(10));
            intr.set_blocked(true);
            let outcome = race(pause, intr.next()).await;
            intr.set_blocked(false);
            match outcome {
                Either::Right(Interrupt::Closed) => break (timeout_reply(spec), true),
                Either::Right(Interrupt::Unblocked(how)) => {
                    break (unblocked_reply(spec, how), false)
                }
                _ => {}
            }
            // Streams: retry the (copying) multi-shard read only when a shard has news.
            attempt = !streams || super::stream_block::any_ready(db, &argv).await;
        };
        counter.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        return result;
    }
    let shard = shards[0];
    let pending = submit(shard, Job::Block { id, db, argv, resp3, stamp: stamp_ns, fresh: true });
    let fut = match pending {
        Pending::Ready(out) => return (out.into_reply(), false),
        Pending::Wait(f) => f,
    };
    let token = fut.token;
    // Counted by the owner shard while parked (see `Env::with_blocked_gauge`).
    intr.set_blocked(true);
    let mut unblocked_as = None;
    let mut closed = false;
    let mut fut = std::pin::pin!(fut);
    let outcome = loop {
        let left = remaining_ms(deadline);
        if left == Some(0) {
            break None;
        }
        let timer = async {
            match left {
                Some(ms) => sleep_ms(ms).await,
                None => std::future::pending::<()>().await,
            }
        };
        match race(fut.as_mut(), race(timer, intr.next())).await {
            Either::Left(out) => break Some(out.into_reply()),
            Either::Right(Either::Left(())) => continue,
            Either::Right(Either::Right(Interrupt::More)) => continue,
            Either::Right(Either::Right(Interrupt::Closed)) => {
                closed = true;
                break None;
            }
            Either::Right(Either::Right(Interrupt::Unblocked(how))) => {
                unblocked_as = Some(how);
                break None;
            }
        }
    };
    intr.set_blocked(false);
    rt.unblock_wakers.borrow_mut().remove(&id);
    if let Some(reply) = outcome {
        return (reply, false);
    }
    // Timed out, disconnected or CLIENT UNBLOCKed: withdraw the waiter, unless it was served
    // meanwhile.
    let withdrawn = call(shard, Job::Unblock { id }).await.into_reply();
    if withdrawn == Reply::Int(1) {
        rt.cancel_reply(token);
        let reply = match unblocked_as {
            Some(how) => unblocked_reply(spec, how),
            None => timeout_reply(spec),
        };
        (reply, closed)
    } else {
        (fut.await.into_reply(), closed)
    }
}
