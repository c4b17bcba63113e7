//! The plan is honoured on this machine: threads pinned per a plan computed for this host show
//! exactly their planned CPU in `/proc/self/task/<tid>/status`, and memory they touch after
//! pinning (and after binding) comes from their planned node. The server's own test does the
//! same against real shard threads.

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};

use mayfly_tuning::affinity::{
    bind_memory_to_node, current_thread_id, node_of_address, pin_current_thread,
    prefer_node_for_current_thread, process_affinity,
};
use mayfly_tuning::cpulist::parse_list;
use mayfly_tuning::placement::{plan, Plan, PlanOptions};
use mayfly_tuning::Topology;

/// `Cpus_allowed_list` of every thread of this process, by thread id.
fn task_affinities() -> BTreeMap<i32, Vec<usize>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let entry = entry.expect("task entry");
        let Ok(tid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // A thread may exit between listing and reading; skip it.
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let list = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .and_then(|v| parse_list(v.trim()))
            .expect("Cpus_allowed_list");
        out.insert(tid, list);
    }
    out
}

struct ShardReport {
    tid: i32,
    memory_node: Option<usize>,
}

const BUFFER_BYTES: usize = 16 * 4096;

/// What a shard thread does first: pin, set its memory policy, then allocate and touch.
fn shard_thread(cpu: usize, node: usize, node_count: usize) -> ShardReport {
    pin_current_thread(cpu).expect("pin");
    prefer_node_for_current_thread(node, node_count).expect("set_mempolicy");
    // SAFETY: a fresh private anonymous mapping; unmapped below.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            BUFFER_BYTES,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(addr, libc::MAP_FAILED);
    let addr = addr.cast::<u8>();
    let bound = bind_memory_to_node(addr, BUFFER_BYTES, node);
    if let Err(e) = &bound {
        // Only a kernel without NUMA may refuse; then there is one node and nothing to bind.
        assert_eq!(e.raw_os_error(), Some(libc::ENOSYS), "mbind: {e}");
    }
    // SAFETY: the mapping is BUFFER_BYTES long and writable.
    unsafe { std::ptr::write_bytes(addr, 0x5a, BUFFER_BYTES) };
    let memory_node = node_of_address(addr).ok();
    // SAFETY: unmapping exactly what was mapped above.
    unsafe { libc::munmap(addr.cast(), BUFFER_BYTES) };
    ShardReport { tid: current_thread_id(), memory_node }
}

/// Runs one thread per shard, holds them all alive while reading their affinity back.
fn check_plan_is_honoured(p: &Plan) {
    let barrier = Arc::new(Barrier::new(p.shards.len() + 1));
    let (tx, rx) = std::sync::mpsc::channel();
    let mut handles = Vec::new();
    for s in p.shards.clone() {
        let barrier = Arc::clone(&barrier);
        let tx = tx.clone();
        let node_count = p.node_count;
        handles.push(std::thread::spawn(move || {
            let report = shard_thread(s.cpu, s.node, node_count);
            tx.send((s.shard, report)).expect("send report");
            barrier.wait(); // stay alive until the main thread has read /proc
        }));
    }
    drop(tx);
    let reports: BTreeMap<usize, ShardReport> = rx.iter().take(p.shards.len()).collect();
    assert_eq!(reports.len(), p.shards.len());
    let tasks = task_affinities();
    barrier.wait();
    for h in handles {
        h.join().expect("shard thread");
    }

    for s in &p.shards {
        let report = &reports[&s.shard];
        let affinity =
            tasks.get(&report.tid).unwrap_or_else(|| panic!("shard {} task missing", s.shard));
        assert_eq!(affinity, &vec![s.cpu], "shard {} planned on CPU {}", s.shard, s.cpu);
        match report.memory_node {
            Some(node) => assert_eq!(node, s.node, "shard {} memory", s.shard),
            // get_mempolicy only fails on kernels without NUMA, which have no node directory.
            None => assert!(!std::path::Path::new("/sys/devices/system/node").exists()),
        }
    }
    // The main (test) thread was never pinned.
    let me = tasks.get(&(std::process::id() as i32)).expect("main task");
    assert_eq!(me, &process_affinity().expect("process affinity"));
}

#[test]
fn shard_threads_run_where_the_host_plan_says() {
    let topo = Topology::read_host().expect("host topology");
    let p = plan(&topo, &PlanOptions::default());
    assert!(!p.shards.is_empty());
    check_plan_is_honoured(&p);
}

#[test]
fn oversubscribed_and_smt_plans_are_honoured_too() {
    let topo = Topology::read_host().expect("host topology");
    let allowed = topo.allowed_cpus().len();
    let p = plan(
        &topo,
        &PlanOptions { shards: Some(allowed * 2 + 1), use_smt: true, allowed_cpus: None },
    );
    assert_eq!(p.shards.len(), allowed * 2 + 1);
    check_plan_is_honoured(&p);
}
