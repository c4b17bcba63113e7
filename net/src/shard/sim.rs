//! An in-process simulation of N shards on one thread, for deterministic tests of the
//! coordination code (split/gather, EXEC, blocking, the journal order of cross-shard
//! transactions) without sockets, io_uring or real time.
//!
//! ```text
//!   Sim ─ shard 0: ShardRt + Executor + VirtualTime ┐
//!       ─ shard 1: …                                ├─ the real mesh (SPSC rings), stepped
//!       ─ …                                         ┘  round-robin: take messages, run
//!                                                      tasks, handle messages, flush
//! ```
//! Each step installs one shard's thread-locals (its `ShardRt`, task queues and virtual
//! time), runs exactly what that shard's loop would run in one turn, and moves on. Time moves
//! only through [`Sim::advance_ms`]: the engine shards' manual clocks and the timers of
//! blocking commands follow it. The same inputs give the same interleaving, every run.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use mayfly_engine::clock::Clock;
use mayfly_engine::config::Config;
use mayfly_engine::shard::Shard;

use super::env::Env;
use super::{Msg, ShardRt, Shared};
use crate::mem::book::MemoryBook;
use crate::rt::exec::{self, Executor, Queues};
use crate::rt::mesh;
use crate::rt::VirtualTime;

/// Steps without progress after which [`Sim::run`] gives up (a livelock in the code under
/// test, not a slow test).
const MAX_STEPS: usize = 1_000_000;

struct SimShard {
    rt: Rc<ShardRt>,
    exec: Executor,
    queues: Rc<Queues>,
    time: Rc<VirtualTime>,
    inbox: Vec<Msg>,
}

/// N shards with the real coordination code, stepped deterministically on this thread.
pub struct Sim {
    shards: Vec<SimShard>,
    now_ms: u64,
    /// The thread's own task queues, put back when the simulation is dropped.
    saved_queues: Option<Rc<Queues>>,
}

impl Sim {
    /// `nshards` shards with `config`, their clocks at `start_ms`.
    pub fn new(nshards: usize, config: Config, start_ms: u64) -> Sim {
        let nshards = nshards.max(1);
        let parkers = Arc::new(
            (0..nshards)
                .map(|_| mesh::Parker::new())
                .collect::<Result<Vec<_>, _>>()
                .expect("eventfd for the simulated mesh"),
        );
        let endpoints = mesh::build::<Msg>(nshards, 8192, parkers);
        let memory = Arc::new(MemoryBook::new(nshards, false));
        let shared = Arc::new(Shared::new(config.clone(), nshards, memory.clone()));
        let shards = endpoints
            .into_iter()
            .enumerate()
            .map(|(id, ep)| {
                let shard = Shard::new(id, config.clone(), Clock::Manual(start_ms));
                let env = Env::new(shard).with_memory(memory.clone()).with_shard_count(nshards);
                let rt = Rc::new(ShardRt::new(id, nshards, env, ep, shared.clone(), |_| {}));
                SimShard {
                    rt,
                    exec: Executor::new(),
                    queues: Rc::new(Queues::default()),
                    time: Rc::new(VirtualTime::new(start_ms)),
                    inbox: Vec::new(),
                }
            })
            .collect();
        Sim { shards, now_ms: start_ms, saved_queues: None }
    }

    pub fn nshards(&self) -> usize {
        self.shards.len()
    }

    /// The simulated time in Unix ms.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// What every shard shares (the slot table: `shard_of`).
    pub fn shared(&self) -> Arc<Shared> {
        self.shards[0].rt.shared.clone()
    }

    fn enter(&mut self, i: usize) {
        let s = &self.shards[i];
        super::install(Some(s.rt.clone()));
        let previous = exec::install(s.queues.clone());
        if self.saved_queues.is_none() {
            self.saved_queues = Some(previous);
        }
        crate::rt::install_virtual_time(Some(s.time.clone()));
    }

    fn leave(&mut self) {
        super::install(None);
        crate::rt::install_virtual_time(None);
    }

    /// Spawns a task (a client's command, say) on shard `i`.
    pub fn spawn(&mut self, i: usize, fut: impl Future<Output = ()> + 'static) {
        self.enter(i);
        exec::spawn(fut);
        self.leave();
    }

    /// Spawns `fut` on shard `i` and returns a handle to its result.
    pub fn start<T: 'static>(
        &mut self,
        i: usize,
        fut: impl Future<Output = T> + 'static,
    ) -> Rc<RefCell<Option<T>>> {
        let slot = Rc::new(RefCell::new(None));
        let out = slot.clone();
        self.spawn(i, async move {
            let v = fut.await;
            *out.borrow_mut() = Some(v);
        });
        slot
    }

    /// Runs `fut` on shard `i` until everything is quiet and returns its result; panics when
    /// it is still waiting then (for time to pass, say: use [`Sim::start`] and
    /// [`Sim::advance_ms`]).
    pub fn block_on<T: 'static>(&mut self, i: usize, fut: impl Future<Output = T> + 'static) -> T {
        let slot = self.start(i, fut);
        self.run();
        let v = slot.borrow_mut().take();
        v.expect("the future is still pending after the simulation went quiet")
    }

    /// One turn of shard `i`'s loop; true when it did anything.
    fn step(&mut self, i: usize) -> bool {
        self.enter(i);
        let s = &mut self.shards[i];
        s.rt.mesh.borrow_mut().recv(usize::MAX, &mut s.inbox);
        let polled = s.exec.run_ready(512);
        let got = s.inbox.len();
        for msg in s.inbox.drain(..) {
            s.rt.handle(msg);
        }
        s.rt.mesh.borrow_mut().flush();
        let busy = polled > 0 || got > 0 || s.exec.has_ready() || s.rt.mesh.borrow().has_outbound();
        self.leave();
        busy
    }

    /// Steps every shard round-robin until none has anything to do.
    pub fn run(&mut self) {
        let mut steps = 0;
        loop {
            let mut busy = false;
            for i in 0..self.shards.len() {
                busy |= self.step(i);
            }
            if !busy {
                return;
            }
            steps += 1;
            assert!(steps < MAX_STEPS, "the simulation did not go quiet (livelock?)");
        }
    }

    /// Moves time forward by `ms` (engine clocks and timers), then runs until quiet.
    pub fn advance_ms(&mut self, ms: u64) {
        self.now_ms += ms;
        let now = self.now_ms;
        for i in 0..self.shards.len() {
            self.enter(i);
            let s = &self.shards[i];
            s.rt.env.borrow_mut().shard.clock.set_ms(now);
            s.time.advance_to(now);
            self.leave();
        }
        self.run();
    }

    /// Runs shard `i`'s periodic tick (active expiry and the rest), then runs until quiet.
    pub fn tick(&mut self, i: usize) {
        self.enter(i);
        super::run::tick(&self.shards[i].rt);
        self.leave();
        self.run();
    }

    /// Gives `f` shard `i`'s state (its engine shard is `env.shard`).
    pub fn with_env<R>(&mut self, i: usize, f: impl FnOnce(&mut Env) -> R) -> R {
        self.enter(i);
        let r = f(&mut self.shards[i].rt.env.borrow_mut());
        self.leave();
        r
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // Tasks still pending hold Rc's to their shard; drop them with it installed.
        for i in 0..self.shards.len() {
            self.enter(i);
            let s = &mut self.shards[i];
            s.exec = Executor::new();
            self.leave();
        }
        if let Some(q) = self.saved_queues.take() {
            exec::install(q);
        }
    }
}
