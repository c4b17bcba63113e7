//! Shard thread start-up and the loop itself. What runs on top of the shard (connections,
//! the accept loop) is handed in as [`Hooks`] by the server, so this layer does not depend on
//! the layers above it.

use std::cell::RefCell;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use io_uring::{opcode, types};
use mayfly_engine::clock::Clock;
use mayfly_engine::shard::Shard;

use super::env::Env;
use super::{Msg, ShardRt, Shared};
use crate::rt::exec::Executor;
use crate::rt::mesh::Endpoint;
use crate::rt::park;
use crate::rt::ring::{Ring, UD_TICK, UD_WAKE};

/// Polls per loop turn before looking at the mesh and the ring again.
const TASK_BUDGET: usize = 512;
/// Mesh messages taken per loop turn.
const MESH_BUDGET: usize = 4096;
/// Entries the active expiry cycle may visit per tick.
const EXPIRE_BUDGET: usize = 10_000;
/// Loop turns spent spinning on the mesh before parking in the kernel.
const SPIN_TURNS: usize = 64;
/// Provided recv buffers per shard. A buffer holds data only from the kernel's completion to
/// the copy into the connection's read buffer (the same loop turn), so few are in use at once;
/// but the kernel takes them in ring order, so every one of them ends up resident. 256 × 4 KiB
/// = 1 MiB per shard (was 4 MiB: 1024 buffers, a visible part of RSS under a small maxmemory).
/// When all are taken, receivers see ENOBUFS and retry after the others returned theirs.
const RECV_BUFFERS: u16 = 256;
const RECV_BUFFER_BYTES: usize = 4096;

/// What the layers above run on a shard: a task per new connection, and start-up work
/// (shard 0 runs the accept loop).
pub struct Hooks {
    /// Spawns the task serving a connection this shard now owns.
    pub new_conn: fn(RawFd),
    /// Runs once on the shard thread, after its runtime is installed.
    pub start: Option<Box<dyn FnOnce() + Send>>,
    /// Runs first on every shard thread, before it counts as started (loading its part of
    /// the start-up RDB file).
    pub init: Option<fn(&ShardRt)>,
}

pub struct ShardSpec {
    pub id: usize,
    pub cpu: Option<usize>,
    pub node: usize,
    pub node_count: usize,
}

/// Body of a shard thread. Binds its allocator arena and pins first, so everything allocated
/// after is the shard's own (counted exactly) and node-local.
pub fn run(spec: ShardSpec, mesh: Endpoint<Msg>, global: Arc<Shared>, hooks: Hooks) {
    // Before anything is allocated: this shard's memory comes from its own arena and range.
    if global.memory.split() && !crate::mem::alloc::bind_current_thread(spec.id) {
        crate::log::warning(&format!(
            "shard {}: could not bind its memory arena; its figures will be off",
            spec.id
        ));
    }
    if let Some(cpu) = spec.cpu {
        if let Err(e) = mayfly_tuning::affinity::pin_current_thread(cpu) {
            crate::log::warning(&format!("shard {}: could not pin to CPU {cpu}: {e}", spec.id));
        }
        if let Err(e) =
            mayfly_tuning::affinity::prefer_node_for_current_thread(spec.node, spec.node_count)
        {
            crate::log::warning(&format!(
                "shard {}: could not prefer NUMA node {}: {e}",
                spec.id, spec.node
            ));
        }
    }
    let ring = match Ring::new(4096, RECV_BUFFERS, RECV_BUFFER_BYTES) {
        Ok(r) => r,
        Err(e) => {
            crate::log::warning(&format!(
                "mayfly: io_uring is unavailable ({e}); it may be disabled by kernel.io_uring_disabled or a seccomp profile. Mayfly needs io_uring."
            ));
            std::process::exit(1);
        }
    };
    if spec.id == 0 {
        crate::log::notice(&ring.features.describe());
    }
    if spec.node_count > 1 {
        if let Err(e) = ring.bind_buffers_to_node(spec.node) {
            crate::log::warning(&format!(
                "shard {}: could not bind recv buffers to node {}: {e}",
                spec.id, spec.node
            ));
        }
    }
    let config = global.read_config(|c| c.clone());
    let shard = Shard::new(spec.id, config, Clock::System);
    let nshards = mesh.shard_count();
    let ring = Rc::new(RefCell::new(ring));
    crate::rt::install(ring.clone());
    let env = Env::new(shard)
        .with_memory(global.memory.clone())
        .with_shard_count(nshards)
        .with_blocked_gauge(global.clone());
    let rt = Rc::new(ShardRt::new(spec.id, nshards, env, mesh, global.clone(), hooks.new_conn));
    super::install(Some(rt.clone()));
    if let Some(init) = hooks.init {
        init(&rt);
    }
    global.started.fetch_add(1, Ordering::SeqCst);

    if let Some(start) = hooks.start {
        start();
    }

    let wake_fd = rt.mesh.borrow().parker().eventfd;
    let mut wake_buf: Box<u64> = Box::new(0);
    arm_wake(&ring, wake_fd, &mut wake_buf);
    let mut hz = global.hz().max(1);
    let mut tick_ts = tick_timespec(hz);
    arm_tick(&ring, &tick_ts);

    let parkers = rt.mesh.borrow().parkers();
    let sleeping = &parkers[spec.id].sleeping;
    let mut executor = Executor::new();
    let mut inbox: Vec<Msg> = Vec::with_capacity(256);
    let mut idle_turns = 0usize;
    loop {
        // Take the mesh messages first, then read our own sockets, then run the messages: a
        // message was sent after its shard read its client's bytes, so every byte that
        // reached our sockets before those bytes is read and dispatched ahead of it. Without
        // this, a client of this shard that blocked on a key before another shard's client
        // pushed to it could be parked after the push and miss its element (Redis serves in
        // arrival order).
        rt.mesh.borrow_mut().recv(MESH_BUDGET, &mut inbox);
        if !inbox.is_empty() {
            let _ = ring.borrow_mut().submit();
            ring.borrow_mut().reap();
        }
        let polled = executor.run_ready(TASK_BUDGET);
        let got = inbox.len();
        for msg in inbox.drain(..) {
            rt.handle(msg);
        }
        rt.mesh.borrow_mut().flush();

        {
            let mut r = ring.borrow_mut();
            if r.tick_fired {
                r.tick_fired = false;
                drop(r);
                tick(&rt);
                // CONFIG SET hz applies from the next tick (the previous timeout has fired, so
                // the kernel no longer reads the old timespec).
                let now_hz = rt.env.borrow().shard.config.hz.max(1);
                if now_hz != hz {
                    hz = now_hz;
                    tick_ts = tick_timespec(hz);
                }
                arm_tick(&ring, &tick_ts);
            }
        }
        if ring.borrow().wake_fired {
            ring.borrow_mut().wake_fired = false;
            arm_wake(&ring, wake_fd, &mut wake_buf);
        }
        // The turn's journal records to the AOF writer; replies that became durable go on.
        super::aof::turn();
        if global.shutdown.load(Ordering::Relaxed) {
            break;
        }

        let busy = polled > 0 || got > 0 || executor.has_ready() || rt.mesh.borrow().has_outbound();
        if busy {
            idle_turns = 0;
            let _ = ring.borrow_mut().submit();
            ring.borrow_mut().reap();
            continue;
        }
        idle_turns += 1;
        // Spinning only pays off while waiting for another shard's reply.
        if nshards > 1 && idle_turns < SPIN_TURNS {
            // Stay awake briefly: a reply from another shard usually arrives within microseconds.
            let _ = ring.borrow_mut().submit();
            ring.borrow_mut().reap();
            std::hint::spin_loop();
            continue;
        }
        park::prepare_park(&**sleeping);
        if rt.mesh.borrow().has_inbound() || executor.has_ready() {
            park::cancel_park(&**sleeping);
            continue;
        }
        let _ = ring.borrow_mut().submit_and_wait(1);
        park::cancel_park(&**sleeping);
        ring.borrow_mut().reap();
        idle_turns = 0;
    }
}

fn arm_wake(ring: &RefCell<Ring>, fd: RawFd, buf: &mut u64) {
    let sqe =
        opcode::Read::new(types::Fd(fd), buf as *mut u64 as *mut u8, 8).build().user_data(UD_WAKE);
    ring.borrow_mut().push_raw(sqe);
}

fn tick_timespec(hz: u64) -> Box<types::Timespec> {
    let tick_ms = 1000 / hz.max(1);
    Box::new(types::Timespec::new().sec(tick_ms / 1000).nsec(((tick_ms % 1000) * 1_000_000) as u32))
}

fn arm_tick(ring: &RefCell<Ring>, ts: &types::Timespec) {
    let sqe = opcode::Timeout::new(ts as *const types::Timespec).build().user_data(UD_TICK);
    ring.borrow_mut().push_raw(sqe);
}

/// Deferred frees of large values (evicted, deleted, replaced, left over from a cross-shard
/// gather) per tick, at most.
const LAZY_FREE_BUDGET: usize = 16;
/// Time a tick may spend on deferred frees before leaving the rest for the next tick (at
/// least one value is freed per tick). One huge value can still take longer on its own; the
/// budget stops a backlog of them from stalling the shard for their sum.
const LAZY_FREE_BUDGET_US: u64 = 2_000;

/// Periodic work, bounded: active expiry, deferred frees, publishing this shard's memory.
pub fn tick(rt: &ShardRt) {
    tick_work(rt);
    // Expired (and any other) events raised by the tick: this shard coordinates them.
    let events = rt.env.borrow_mut().shard.take_events();
    if !events.is_empty() {
        rt.publish_events(events, true);
    }
    rt.flush_deliveries();
}

/// Frees deferred values one at a time until `max_values` are freed, none are left, or
/// `budget_us` has passed (checked after each). Returns how many were freed.
pub fn drain_lazy_free_bounded(
    shard: &mut mayfly_engine::shard::Shard,
    max_values: usize,
    budget_us: u64,
) -> usize {
    let start = std::time::Instant::now();
    let mut freed = 0;
    while freed < max_values && !shard.lazy_free.is_empty() {
        shard.drain_lazy_free(1);
        freed += 1;
        if start.elapsed().as_micros() as u64 >= budget_us {
            break;
        }
    }
    freed
}

fn tick_work(rt: &ShardRt) {
    let mut env = rt.env.borrow_mut();
    drain_lazy_free_bounded(&mut env.shard, LAZY_FREE_BUDGET, LAZY_FREE_BUDGET_US);
    crate::mem::alloc::flush_foreign_cache();
    env.memory.calibrate(rt.id);
    env.memory.publish(rt.id);
    env.sync_pause();
    if env.shard.config.active_expire_enabled {
        let start = std::time::Instant::now();
        env.shard.active_expire(EXPIRE_BUDGET);
        let threshold_ms = env.shard.config.latency_monitor_threshold_ms;
        let ms = start.elapsed().as_millis() as u64;
        super::latency::add_sample_if_needed("expire-cycle", ms, threshold_ms);
        env.flag_watchers();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mayfly_engine::db::Entry;
    use mayfly_engine::value::Value;

    #[test]
    fn deferred_frees_per_tick_are_bounded() {
        let mut shard = Shard::new(0, mayfly_engine::config::Config::default(), Clock::Manual(0));
        for _ in 0..40 {
            shard.defer_free(Entry::new(Value::str(&vec![b'x'; 100_000])));
        }
        assert_eq!(shard.lazy_free.len(), 40);
        // A generous time budget: the count bound applies.
        assert_eq!(drain_lazy_free_bounded(&mut shard, 16, u64::MAX), 16);
        assert_eq!(shard.lazy_free.len(), 24);
        // No time at all: still one per tick, so the backlog always drains.
        assert_eq!(drain_lazy_free_bounded(&mut shard, 16, 0), 1);
        assert_eq!(shard.lazy_free.len(), 23);
        while drain_lazy_free_bounded(&mut shard, 16, u64::MAX) > 0 {}
        assert!(shard.lazy_free.is_empty());
    }
}
