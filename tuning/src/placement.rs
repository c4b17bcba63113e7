//! The placement plan: which CPU each shard runs on, which node its memory comes from, and
//! which CPUs should take the NIC's interrupts.
//!
//! ```text
//!   allowed = online ∩ affinity mask ∩ --cpus
//!   order   = nodes: NIC's node first, then by distance; within a node by CPU id
//!   shards  = one per physical core (first thread)  ──► then SMT siblings ──► then round-robin
//!   memory  = the shard CPU's node (first touch after pinning; mbind for big buffers)
//!   irqs    = online CPUs without a shard on the NIC's node, else the shard CPUs there
//! ```
//! Why this order: a shard per physical core gets the whole core's caches and execution units;
//! SMT siblings add throughput but share them, so they are opt-in (`--use-smt`). When fewer
//! shards than cores are asked for, they go to the NIC's node first so packets, shard threads
//! and their memory stay on one node. The chosen CPUs are then numbered by CPU id, so the same
//! machine and options always give the same shard numbering.

use crate::cpulist::format_list;
use crate::topology::Topology;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Number of shards; `None` = one per physical core (or per CPU with `use_smt`).
    pub shards: Option<usize>,
    /// Count SMT siblings as shard CPUs by default.
    pub use_smt: bool,
    /// Further restrict the CPUs (e.g. from `--cpus`); intersected with the allowed set.
    pub allowed_cpus: Option<Vec<usize>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(serde::Serialize))]
pub struct ShardPlacement {
    pub shard: usize,
    pub cpu: usize,
    /// The node the shard's memory comes from (the node of `cpu`).
    pub node: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(serde::Serialize))]
pub struct Plan {
    pub shards: Vec<ShardPlacement>,
    /// CPUs that should receive the NIC queue interrupts.
    pub irq_cpus: Vec<usize>,
    /// Node count of the machine: memory policy calls are skipped when it is 1.
    pub node_count: usize,
    /// Human-readable reasons and warnings (fallbacks, oversubscription, IRQ strategy).
    pub notes: Vec<String>,
}

impl Plan {
    /// Distinct CPUs that host at least one shard, sorted.
    pub fn shard_cpus(&self) -> Vec<usize> {
        let mut cpus: Vec<usize> = self.shards.iter().map(|s| s.cpu).collect();
        cpus.sort_unstable();
        cpus.dedup();
        cpus
    }

    /// Placement of shard `shard`, if it exists.
    pub fn shard(&self, shard: usize) -> Option<&ShardPlacement> {
        self.shards.get(shard)
    }
}

/// Most shards a plan will produce; far beyond any core count, it bounds a typo like
/// `--shards 100000000`.
pub const MAX_SHARDS: usize = 4096;

pub fn plan(topo: &Topology, opts: &PlanOptions) -> Plan {
    let mut notes = Vec::new();
    let mut allowed = topo.allowed_cpus();
    if let Some(extra) = &opts.allowed_cpus {
        let narrowed: Vec<usize> = allowed.iter().copied().filter(|c| extra.contains(c)).collect();
        if narrowed.is_empty() {
            notes.push(format!(
                "requested CPUs {} are not usable (allowed: {}); ignoring the restriction",
                format_list(extra),
                format_list(&allowed)
            ));
        } else {
            allowed = narrowed;
        }
    }
    if allowed.is_empty() {
        // Affinity mask and online list disagree (stale mask, hot-unplug): fall back rather
        // than refuse to start.
        allowed = topo.online_cpus();
        notes.push("affinity mask holds no online CPU; using every online CPU".into());
    }
    if allowed.is_empty() {
        allowed = topo.cpus.iter().map(|c| c.id).collect();
        notes.push("no CPU reported online; using every CPU found".into());
    }
    if allowed.is_empty() {
        allowed = vec![0];
        notes.push("no CPU found at all; assuming CPU 0".into());
    }

    let home = topo.nic_node().or_else(|| allowed.first().map(|&c| topo.node_of(c))).unwrap_or(0);
    let node_rank = |node: usize| -> (u32, usize) {
        let d = if node == home { 0 } else { topo.distance(home, node).unwrap_or(u32::MAX) };
        (d, node)
    };
    // (rank key, cpu) for primary threads (lowest allowed CPU of each core) and the rest.
    let mut primaries = Vec::new();
    let mut secondaries = Vec::new();
    let mut seen_cores = Vec::new();
    for &cpu in &allowed {
        let core = topo.cpu(cpu).map_or(usize::MAX - cpu, |c| c.core);
        let key = (node_rank(topo.node_of(cpu)), cpu);
        if seen_cores.contains(&core) {
            secondaries.push(key);
        } else {
            seen_cores.push(core);
            primaries.push(key);
        }
    }
    primaries.sort_unstable();
    secondaries.sort_unstable();
    let cores = primaries.len();

    let default_count = if opts.use_smt { allowed.len() } else { cores };
    let mut count = opts.shards.filter(|&n| n > 0).unwrap_or(default_count);
    if opts.shards == Some(0) {
        notes.push("0 shards requested: using the default".into());
    }
    if count > MAX_SHARDS {
        notes.push(format!("{count} shards requested: capped at {MAX_SHARDS}"));
        count = MAX_SHARDS;
    }

    // Priority order: every core once, then (with or without use_smt) the siblings.
    let order: Vec<usize> =
        primaries.iter().chain(secondaries.iter()).map(|&(_, cpu)| cpu).collect();
    let mut chosen: Vec<usize> = order.iter().copied().take(count).collect();
    chosen.sort_unstable();
    if !opts.use_smt && count > cores {
        notes.push(format!(
            "{count} shards > {cores} physical cores: {} shard(s) placed on SMT siblings",
            (count - cores).min(secondaries.len())
        ));
    }
    if count > order.len() {
        notes.push(format!(
            "{count} shards > {} usable CPUs: CPUs host more than one shard (round-robin)",
            order.len()
        ));
        let mut all = order.clone();
        all.sort_unstable();
        let mut i = 0;
        while chosen.len() < count {
            chosen.push(all[i % all.len()]);
            i += 1;
        }
    }
    let shards: Vec<ShardPlacement> = chosen
        .iter()
        .enumerate()
        .map(|(shard, &cpu)| ShardPlacement { shard, cpu, node: topo.node_of(cpu) })
        .collect();

    let shard_cpus = {
        let mut v: Vec<usize> = shards.iter().map(|s| s.cpu).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let irq_cpus = irq_cpus(topo, &shard_cpus, &mut notes);
    let node_count = topo.nodes.len().max(1);
    let used_nodes = {
        let mut v: Vec<usize> = shards.iter().map(|s| s.node).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    if node_count > 1 {
        notes.push(format!(
            "{node_count} NUMA nodes: each shard's memory is bound to its CPU's node (shards on node(s) {})",
            format_list(&used_nodes)
        ));
    }
    Plan { shards, irq_cpus, node_count, notes }
}

/// Where NIC interrupts should go. Softirq work on a shard's CPU steals time from that shard
/// and shows up as tail latency, so CPUs without a shard (unused cores, idle SMT siblings,
/// CPUs kept out of the affinity mask) on the NIC's node come first. Only when every CPU
/// there runs a shard are the interrupts spread over the shard CPUs.
fn irq_cpus(topo: &Topology, shard_cpus: &[usize], notes: &mut Vec<String>) -> Vec<usize> {
    let nic_node = topo.nic_node();
    let on_nic_node = |cpu: &usize| nic_node.is_none_or(|n| topo.node_of(*cpu) == n);
    let spare: Vec<usize> = topo
        .online_cpus()
        .into_iter()
        .filter(|c| !shard_cpus.contains(c))
        .filter(on_nic_node)
        .collect();
    let where_ = match nic_node {
        Some(n) => format!("on the NIC's node {n}"),
        None if topo.nics.is_empty() => "(no NIC found)".to_string(),
        None => "(NIC node unknown)".to_string(),
    };
    if !spare.is_empty() {
        notes.push(format!(
            "NIC interrupts go to CPUs {} {where_}, which run no shard",
            format_list(&spare)
        ));
        return spare;
    }
    let local: Vec<usize> = shard_cpus.iter().copied().filter(on_nic_node).collect();
    let chosen = if local.is_empty() { shard_cpus.to_vec() } else { local };
    notes.push(format!(
        "every CPU {where_} runs a shard: NIC interrupts are spread over shard CPUs {}",
        format_list(&chosen)
    ));
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpus_of(plan: &Plan) -> Vec<usize> {
        plan.shards.iter().map(|s| s.cpu).collect()
    }

    #[test]
    fn flat_machine_gets_one_shard_per_cpu() {
        let topo = Topology::flat(&[0, 1, 2, 3]);
        let p = plan(&topo, &PlanOptions::default());
        assert_eq!(cpus_of(&p), vec![0, 1, 2, 3]);
        assert!(p.shards.iter().all(|s| s.node == 0));
        assert_eq!(p.irq_cpus, vec![0, 1, 2, 3]);
        assert_eq!(p.node_count, 1);
    }

    #[test]
    fn more_shards_than_cpus_round_robin() {
        let topo = Topology::flat(&[0, 1]);
        let p = plan(&topo, &PlanOptions { shards: Some(5), ..Default::default() });
        assert_eq!(cpus_of(&p), vec![0, 1, 0, 1, 0]);
        assert_eq!(p.shards.iter().map(|s| s.shard).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        assert!(p.notes.iter().any(|n| n.contains("round-robin")));
    }

    #[test]
    fn fewer_shards_leave_spare_cpus_for_interrupts() {
        let topo = Topology::flat(&[0, 1, 2, 3]);
        let p = plan(&topo, &PlanOptions { shards: Some(2), ..Default::default() });
        assert_eq!(cpus_of(&p), vec![0, 1]);
        assert_eq!(p.irq_cpus, vec![2, 3]);
    }

    #[test]
    fn restriction_and_affinity_are_intersected() {
        let mut topo = Topology::flat(&[0, 1, 2, 3]);
        topo.affinity = Some(vec![1, 2, 3]);
        let p =
            plan(&topo, &PlanOptions { allowed_cpus: Some(vec![0, 2, 3]), ..Default::default() });
        assert_eq!(cpus_of(&p), vec![2, 3]);
        let p = plan(&topo, &PlanOptions { allowed_cpus: Some(vec![9]), ..Default::default() });
        assert_eq!(cpus_of(&p), vec![1, 2, 3]);
        assert!(p.notes.iter().any(|n| n.contains("ignoring")));
    }

    #[test]
    fn huge_shard_counts_are_capped() {
        let topo = Topology::flat(&[0]);
        let p = plan(&topo, &PlanOptions { shards: Some(usize::MAX), ..Default::default() });
        assert_eq!(p.shards.len(), MAX_SHARDS);
    }
}
