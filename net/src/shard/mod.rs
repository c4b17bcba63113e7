//! The shard layer: one engine shard per thread and everything that runs next to its data —
//! job execution under key locks ([`env`]), blocked-client waiters and WATCH flags, the routing
//! of keyspace events to subscribers ([`pubsub`]), per-shard statistics, the periodic tick and
//! the shard loop itself ([`run`]).
//!
//! ```text
//!   coordinator (any shard) ──submit(s, Job)──► mesh ──► ShardRt s: accept_job
//!                                                          │ try_run under locks (Env)
//!                                                          │ route events → coordinator
//!                                                          └ reply ──mesh──► ReplyFuture
//! ```
//! A shard reaches the others only through messages ([`Msg`]); jobs run on the shard that
//! owns the data, never elsewhere. The shard of the running thread is [`here()`]; borrows of
//! its cells never live across an `.await`. Nothing here knows connections or commands beyond
//! the engine's command table: the layers above (`coord`, `conn`, `server`) build on it.

pub mod aof;
pub mod env;
pub mod latency;
pub mod pause;
pub mod pubsub;
pub mod run;
pub mod shared;
pub mod sim;
pub mod snapshot;
pub mod stats;
pub mod stream_wait;

use std::cell::RefCell;
use std::future::Future;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::rt::exec;
use crate::rt::mesh;
use env::{Env, HeldBlock, Job, Out, ParkedMarker, ReplyTo};
use mayfly_engine::notify::Event;
pub use shared::Shared;

/// Messages between shards.
pub enum Msg {
    Job {
        job: Job,
        reply_to: ReplyTo,
    },
    Reply {
        token: usize,
        out: Out,
    },
    /// A connection accepted on another shard, now owned by the receiver.
    NewConn(RawFd),
    /// Keyspace notifications to publish to this shard's subscribers. `fan_out`: the receiver
    /// coordinates the command that raised them and forwards them to every other shard.
    /// `txid` ≠ 0: they come from one part of a split multi-shard command; the coordinator
    /// holds them until every part answered and publishes them in key order.
    Notify {
        events: Vec<Event>,
        fan_out: bool,
        txid: u64,
    },
}

struct ReplySlot {
    out: Option<Out>,
    waker: Option<Waker>,
    used: bool,
}

/// Handle to the current shard's runtime.
pub struct ShardRt {
    pub id: usize,
    pub nshards: usize,
    pub env: RefCell<Env>,
    pub mesh: RefCell<mesh::Endpoint<Msg>>,
    replies: RefCell<(Vec<ReplySlot>, Vec<usize>)>,
    pub shared: Arc<Shared>,
    /// Starts serving a connection on this shard (given by the server at start-up).
    pub new_conn: fn(RawFd),
    /// This shard's Pub/Sub subscriptions.
    pub pubsub: RefCell<pubsub::Registry>,
    /// Keyspace events of split multi-shard commands this shard coordinates, by txid.
    pub held_events: RefCell<Vec<(u64, Vec<Event>)>>,
    /// Tasks of this shard's blocked clients, by client id, for CLIENT UNBLOCK to wake.
    pub unblock_wakers: RefCell<std::collections::HashMap<u64, Waker>>,
}

/// Wakes the task of blocked client `id` if it runs on this shard (CLIENT UNBLOCK, which
/// set the client's request flag first).
pub fn wake_blocked_client(id: u64) {
    let waker = here().unblock_wakers.borrow_mut().remove(&id);
    if let Some(w) = waker {
        w.wake();
    }
}

thread_local! {
    static SHARD: RefCell<Option<Rc<ShardRt>>> = const { RefCell::new(None) };
}

/// The shard of the thread this runs on.
pub fn here() -> Rc<ShardRt> {
    SHARD.with(|r| r.borrow().clone().expect("shard::here() called outside a shard thread"))
}

/// Makes `shard` the shard of the calling thread (its loop does this once; the in-process
/// harness switches it as it steps each shard).
pub fn install(shard: Option<Rc<ShardRt>>) {
    SHARD.with(|r| *r.borrow_mut() = shard);
}

impl ShardRt {
    pub fn new(
        id: usize,
        nshards: usize,
        env: Env,
        mesh: mesh::Endpoint<Msg>,
        shared: Arc<Shared>,
        new_conn: fn(RawFd),
    ) -> ShardRt {
        ShardRt {
            id,
            nshards,
            env: RefCell::new(env),
            mesh: RefCell::new(mesh),
            replies: RefCell::new((Vec::new(), Vec::new())),
            shared,
            new_conn,
            pubsub: RefCell::new(pubsub::Registry::default()),
            held_events: RefCell::new(Vec::new()),
            unblock_wakers: RefCell::new(std::collections::HashMap::new()),
        }
    }

    /// Handles one message from another shard.
    pub fn handle(&self, msg: Msg) {
        match msg {
            Msg::Job { job, reply_to } => self.accept_job(job, reply_to),
            Msg::Reply { token, out } => self.complete(token, out),
            Msg::NewConn(fd) => (self.new_conn)(fd),
            Msg::Notify { events, fan_out, txid } => self.receive_events(events, fan_out, txid),
        }
    }

    fn alloc_reply(&self) -> usize {
        let mut r = self.replies.borrow_mut();
        let slot = ReplySlot { out: None, waker: None, used: true };
        match r.1.pop() {
            Some(i) => {
                r.0[i] = slot;
                i
            }
            None => {
                r.0.push(slot);
                r.0.len() - 1
            }
        }
    }

    /// Frees a reply slot whose answer will never come (a withdrawn waiter).
    pub fn cancel_reply(&self, token: usize) {
        let mut r = self.replies.borrow_mut();
        if let Some(slot) = r.0.get_mut(token) {
            if slot.used {
                slot.used = false;
                slot.out = None;
                slot.waker = None;
                r.1.push(token);
            }
        }
    }

    fn complete(&self, token: usize, out: Out) {
        let mut r = self.replies.borrow_mut();
        if let Some(slot) = r.0.get_mut(token) {
            if slot.used {
                slot.out = Some(out);
                if let Some(w) = slot.waker.take() {
                    w.wake();
                }
            }
        }
    }

    /// Delivers a job result to whoever waits for it.
    fn deliver(&self, reply_to: ReplyTo, out: Out) {
        match reply_to {
            ReplyTo::Local(token) => self.complete(token, out),
            ReplyTo::Remote { shard, token } => {
                self.mesh.borrow_mut().send(shard, Msg::Reply { token, out })
            }
        }
    }

    /// Sends the keyspace events raised by the job just run towards the shard that coordinates
    /// it (where the client's connection lives), ahead of the job's reply on the same ring, so
    /// one client's commands publish their events in command order, and a subscriber on the
    /// client's own shard has them queued before the reply is written.
    fn route_events(&self, reply_to: ReplyTo, txid: u64) {
        let events = {
            let mut env = self.env.borrow_mut();
            if env.shard.events.is_empty() {
                return;
            }
            env.shard.take_events()
        };
        match reply_to {
            ReplyTo::Local(_) => self.receive_events(events, true, txid),
            ReplyTo::Remote { shard, .. } => {
                self.mesh.borrow_mut().send(shard, Msg::Notify { events, fan_out: true, txid })
            }
        }
    }

    /// Events that reached this shard: held for a split command it coordinates (`txid` ≠ 0),
    /// or published.
    pub fn receive_events(&self, events: Vec<Event>, fan_out: bool, txid: u64) {
        if txid == 0 {
            return self.publish_events(events, fan_out);
        }
        let mut held = self.held_events.borrow_mut();
        match held.iter_mut().find(|(t, _)| *t == txid) {
            Some((_, list)) => list.extend(events),
            None => held.push((txid, events)),
        }
    }

    /// Takes the events held for split command `txid`.
    pub fn take_held_events(&self, txid: u64) -> Vec<Event> {
        let mut held = self.held_events.borrow_mut();
        match held.iter().position(|(t, _)| *t == txid) {
            Some(i) => held.swap_remove(i).1,
            None => Vec::new(),
        }
    }

    /// Publishes keyspace events to this shard's subscribers and, with `fan_out`, forwards
    /// them to every other shard (each shard holds the subscriptions of its own clients).
    pub fn publish_events(&self, events: Vec<Event>, fan_out: bool) {
        if fan_out {
            let mut mesh = self.mesh.borrow_mut();
            for s in (0..self.nshards).filter(|&s| s != self.id) {
                mesh.send(s, Msg::Notify { events: events.clone(), fan_out: false, txid: 0 });
            }
        }
        let registry = self.pubsub.borrow();
        for e in &events {
            for (channel, message) in e.messages() {
                registry.publish(pubsub::Kind::Channel, &channel, &message);
            }
        }
    }

    /// Runs a job that arrived for this shard (from the mesh or locally), or parks it until
    /// the locks it needs are free.
    fn accept_job(&self, job: Job, reply_to: ReplyTo) {
        let releases = Env::releases_locks(&job);
        let txid = split_txid(&job);
        let result = self.env.borrow_mut().try_run(job);
        self.route_events(reply_to, txid);
        match result {
            Ok(out) => self.finish_job(out, reply_to),
            Err(job) => self.env.borrow_mut().pending.push_back((job, reply_to)),
        }
        self.flush_deliveries();
        if releases {
            self.retry_pending();
        }
    }

    /// Delivers a job's result, unless the job fed blocked clients whose serving waits for a
    /// barrier round: then the result goes out after they are served, as Redis answers a
    /// push only after handing its elements to the clients blocked on them.
    fn finish_job(&self, out: Out, reply_to: ReplyTo) {
        let rounds = std::mem::take(&mut self.env.borrow_mut().barrier_requests);
        if rounds.is_empty() {
            self.finish(out, reply_to);
        } else {
            exec::spawn(serve_after_barrier(rounds, Some((out, reply_to))));
        }
    }

    /// Delivers a result, or parks a blocking command that found nothing.
    fn finish(&self, out: Out, reply_to: ReplyTo) {
        match out {
            Out::Any(b) if b.is::<ParkedMarker>() => {
                if let Ok(marker) = b.downcast::<ParkedMarker>() {
                    self.env.borrow_mut().park(*marker, reply_to);
                }
            }
            Out::Any(b) if b.is::<HeldBlock>() => {
                if let Ok(held) = b.downcast::<HeldBlock>() {
                    let mut env = self.env.borrow_mut();
                    env.held_blocks.push((held.into_job(), reply_to));
                    if !env.held_round_running {
                        env.held_round_running = true;
                        exec::spawn(release_held_blocks());
                    }
                }
            }
            out => self.deliver(reply_to, out),
        }
    }

    /// Sends the replies of waiters served by the last job, and starts the barrier rounds it
    /// asked for.
    pub fn flush_deliveries(&self) {
        let (deliveries, rounds) = {
            let mut env = self.env.borrow_mut();
            (std::mem::take(&mut env.deliveries), std::mem::take(&mut env.barrier_requests))
        };
        for (to, out) in deliveries {
            self.deliver(to, out);
        }
        if !rounds.is_empty() {
            exec::spawn(serve_after_barrier(rounds, None));
        }
    }

    fn retry_pending(&self) {
        let mut waiting = std::mem::take(&mut self.env.borrow_mut().pending);
        let mut still = std::collections::VecDeque::new();
        while let Some((job, reply_to)) = waiting.pop_front() {
            let releases = Env::releases_locks(&job);
            let txid = split_txid(&job);
            let result = self.env.borrow_mut().try_run(job);
            self.route_events(reply_to, txid);
            match result {
                Ok(out) => self.finish_job(out, reply_to),
                Err(job) => still.push_back((job, reply_to)),
            }
            self.flush_deliveries();
            if releases {
                // Newly freed locks may unblock jobs we already passed over.
                still.extend(waiting.drain(..));
                waiting = still;
                still = std::collections::VecDeque::new();
            }
        }
        let mut env = self.env.borrow_mut();
        still.extend(env.pending.drain(..));
        env.pending = still;
    }
}

/// The txid of one part of a split multi-shard command, whose events the coordinator orders.
fn split_txid(job: &Job) -> u64 {
    match job {
        Job::Exec { txid, .. } => *txid,
        _ => 0,
    }
}

/// Serves the waiters of `keys` once every other shard has answered an empty job. A shard
/// takes its mesh messages, then reads its sockets and runs what they hold, then runs the
/// messages (see the shard loop); so its answer comes after every Block it read before it
/// saw ours.
/// `reply` is the result of the write that started the rounds, sent once they are done.
async fn serve_after_barrier(rounds: Vec<(u64, Vec<env::DbKey>)>, reply: Option<(Out, ReplyTo)>) {
    let rt = here();
    barrier().await;
    for (txid, keys) in &rounds {
        rt.env.borrow_mut().finish_serving(*txid, keys);
    }
    // The served clients' keyspace events (lpop, del, …) go out before the writer's reply,
    // as in Redis, where serving happens before the push command returns.
    let events_to = reply.as_ref().map_or(ReplyTo::Local(0), |(_, to)| *to);
    rt.route_events(events_to, 0);
    rt.flush_deliveries();
    if let Some((out, reply_to)) = reply {
        rt.finish(out, reply_to);
    }
    rt.retry_pending();
}

/// Waits for every other shard to answer an empty job (see `serve_after_barrier`).
async fn barrier() {
    let rt = here();
    let acks: Vec<Pending> = (0..rt.nshards)
        .filter(|&s| s != rt.id)
        .map(|s| submit(s, Job::Run(Box::new(|_| Out::Done))))
        .collect();
    for ack in acks {
        ack.get().await;
    }
}

/// Runs held Blocks round by round. A round notes the time, then waits for the barrier: by
/// then every Block whose bytes came in before that time has arrived here, so those run, in
/// the order their bytes came in. A client that blocked first is first in line even when its
/// shard was slower to pass its command on. Later ones wait for the next round.
async fn release_held_blocks() {
    let rt = here();
    loop {
        if rt.env.borrow().held_blocks.is_empty() {
            rt.env.borrow_mut().held_round_running = false;
            return;
        }
        let cut_ns = crate::rt::realtime_ns();
        barrier().await;
        let mut batch: Vec<(u64, Job, ReplyTo)> = Vec::new();
        {
            let mut env = rt.env.borrow_mut();
            let mut rest = Vec::new();
            // Withdrawn ones (timeout, disconnect) are gone from the list already.
            for (job, to) in env.held_blocks.drain(..) {
                match &job {
                    Job::Block { stamp, .. } if *stamp <= cut_ns => batch.push((*stamp, job, to)),
                    _ => rest.push((job, to)),
                }
            }
            env.held_blocks = rest;
        }
        batch.sort_by_key(|(stamp, _, _)| *stamp);
        for (_, job, to) in batch {
            rt.accept_job(job, to);
        }
    }
}

/// Future of a job's result.
pub struct ReplyFuture {
    pub token: usize,
}

impl Future for ReplyFuture {
    type Output = Out;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Out> {
        let rt = here();
        let mut r = rt.replies.borrow_mut();
        let slot = &mut r.0[self.token];
        match slot.out.take() {
            Some(out) => {
                slot.used = false;
                slot.waker = None;
                r.1.push(self.token);
                Poll::Ready(out)
            }
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// A job's result: already there (ran inline), or on its way.
pub enum Pending {
    Ready(Out),
    Wait(ReplyFuture),
}

impl Pending {
    pub async fn get(self) -> Out {
        match self {
            Pending::Ready(out) => out,
            Pending::Wait(f) => f.await,
        }
    }
}

/// Sends `job` to `shard` without waiting, so several shards can work at once. A job for this
/// shard whose locks are free runs inline without any message.
pub fn submit(shard: usize, job: Job) -> Pending {
    let rt = here();
    if shard == rt.id {
        let releases = Env::releases_locks(&job);
        let txid = split_txid(&job);
        let result = rt.env.borrow_mut().try_run(job);
        rt.route_events(ReplyTo::Local(0), txid);
        // Rounds started by a job with a result travel with it; any other (none expected)
        // are started by `flush_deliveries`.
        let rounds = match &result {
            Ok(Out::Any(b)) if b.is::<ParkedMarker>() || b.is::<HeldBlock>() => Vec::new(),
            Ok(_) => std::mem::take(&mut rt.env.borrow_mut().barrier_requests),
            Err(_) => Vec::new(),
        };
        rt.flush_deliveries();
        return match result {
            Ok(Out::Any(b)) if b.is::<ParkedMarker>() || b.is::<HeldBlock>() => {
                let token = rt.alloc_reply();
                rt.finish(Out::Any(b), ReplyTo::Local(token));
                Pending::Wait(ReplyFuture { token })
            }
            Ok(out) if !rounds.is_empty() => {
                // Fed blocked clients: answered after they are served (see `finish_job`).
                let token = rt.alloc_reply();
                exec::spawn(serve_after_barrier(rounds, Some((out, ReplyTo::Local(token)))));
                if releases {
                    rt.retry_pending();
                }
                Pending::Wait(ReplyFuture { token })
            }
            Ok(out) => {
                if releases {
                    rt.retry_pending();
                }
                Pending::Ready(out)
            }
            Err(job) => {
                let token = rt.alloc_reply();
                rt.env.borrow_mut().pending.push_back((job, ReplyTo::Local(token)));
                Pending::Wait(ReplyFuture { token })
            }
        };
    }
    let token = rt.alloc_reply();
    rt.mesh
        .borrow_mut()
        .send(shard, Msg::Job { job, reply_to: ReplyTo::Remote { shard: rt.id, token } });
    Pending::Wait(ReplyFuture { token })
}

/// Runs `job` on `shard` and waits for its result.
pub async fn call(shard: usize, job: Job) -> Out {
    submit(shard, job).get().await
}
