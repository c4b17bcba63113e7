//! Shard threads run where the placement plan puts them: with `--shards 2`, the threads named
//! `shard-0` and `shard-1` in /proc/<pid>/task are each allowed on exactly the one CPU that
//! `mayfly_tuning::placement::plan` gives for this host (the server inherits this test's
//! affinity mask, so both compute the same plan).

mod common;

use std::time::{Duration, Instant};

use common::Server;
use mayfly_tuning::placement::{plan, PlanOptions};
use mayfly_tuning::topology::Topology;

/// (thread name, Cpus_allowed_list) for every thread of `pid`.
fn threads(pid: u32) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return out };
    for entry in dir.flatten() {
        let path = entry.path();
        let (Ok(comm), Ok(status)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("status")),
        ) else {
            continue;
        };
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .and_then(|v| mayfly_tuning::cpulist::parse_list(v.trim()))
            .unwrap_or_default();
        out.push((comm.trim().to_string(), cpus));
    }
    out.sort();
    out
}

#[test]
fn shard_threads_are_pinned_per_the_plan() {
    let topo = Topology::read_host().expect("read host topology");
    let plan = plan(&topo, &PlanOptions { shards: Some(2), use_smt: false, allowed_cpus: None });
    assert_eq!(plan.shards.len(), 2, "{plan:?}");
    let server = Server::with_shards(2);
    let want: Vec<(String, Vec<usize>)> =
        plan.shards.iter().map(|s| (format!("shard-{}", s.shard), vec![s.cpu])).collect();
    // Threads pin themselves as they start; give the second one a moment (bounded).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let all = threads(server.pid());
        let shards: Vec<(String, Vec<usize>)> =
            all.iter().filter(|(name, _)| name.starts_with("shard-")).cloned().collect();
        if shards == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "shard threads {shards:?} != plan {want:?} (all threads: {all:?}; notes: {:?})",
            plan.notes
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Every plan CPU is one this process may use.
    for s in &plan.shards {
        assert!(topo.allowed_cpus().contains(&s.cpu), "{s:?} not in {:?}", topo.allowed_cpus());
    }
    // The pinned server still serves.
    let mut c = server.raw();
    assert_eq!(c.cmd_str("PING"), b"+PONG\r\n");
}
