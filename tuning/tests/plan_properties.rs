//! Property tests: random machines written as sysfs trees, read back and planned. Whatever the
//! shape, the plan keeps its promises (shard count, allowed CPUs, one shard per core before
//! any sibling, memory on the CPU's node, interrupts on online CPUs).

mod common;

use common::{write, TempDir};
use mayfly_tuning::cpulist::format_list;
use mayfly_tuning::placement::{plan, PlanOptions, MAX_SHARDS};
use mayfly_tuning::Topology;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Machine {
    packages: usize,
    cores_per_package: usize,
    threads: usize,
    nodes_per_package: usize,
    nic_node: Option<usize>,
    /// Bit i clear = CPU i outside the affinity mask.
    mask_bits: u64,
}

impl Machine {
    fn cpus(&self) -> usize {
        self.packages * self.cores_per_package * self.threads
    }

    /// Intel-style numbering: first threads of all cores, then the second threads.
    fn write_tree(&self, dir: &TempDir) -> Vec<usize> {
        let root = dir.path();
        let cores = self.packages * self.cores_per_package;
        let nodes = self.packages * self.nodes_per_package;
        let node_of_core = |core: usize| {
            let package = core / self.cores_per_package;
            let within = core % self.cores_per_package;
            package * self.nodes_per_package
                + within * self.nodes_per_package / self.cores_per_package
        };
        let mut node_cpus = vec![Vec::new(); nodes];
        for t in 0..self.threads {
            for core in 0..cores {
                let cpu = t * cores + core;
                let siblings: Vec<usize> = (0..self.threads).map(|s| s * cores + core).collect();
                let topo = format!("/sys/devices/system/cpu/cpu{cpu}/topology");
                write(
                    root,
                    &format!("{topo}/core_id"),
                    &(core % self.cores_per_package).to_string(),
                );
                write(
                    root,
                    &format!("{topo}/physical_package_id"),
                    &(core / self.cores_per_package).to_string(),
                );
                write(root, &format!("{topo}/thread_siblings_list"), &format_list(&siblings));
                node_cpus[node_of_core(core)].push(cpu);
            }
        }
        write(root, "/sys/devices/system/cpu/online", &format!("0-{}", self.cpus() - 1));
        for (n, cpus) in node_cpus.iter().enumerate() {
            write(root, &format!("/sys/devices/system/node/node{n}/cpulist"), &format_list(cpus));
            let row: Vec<String> =
                (0..nodes).map(|m| if m == n { "10" } else { "20" }.to_string()).collect();
            write(root, &format!("/sys/devices/system/node/node{n}/distance"), &row.join(" "));
        }
        write(root, "/sys/devices/system/node/online", &format!("0-{}", nodes - 1));
        if let Some(node) = self.nic_node {
            write(root, "/sys/class/net/eth0/device/numa_node", &(node % nodes).to_string());
        }
        let mask: Vec<usize> =
            (0..self.cpus()).filter(|&c| self.mask_bits & (1 << c) != 0).collect();
        write(root, "/proc/self/status", &format!("Cpus_allowed_list:\t{}", format_list(&mask)));
        mask
    }
}

fn machines() -> impl Strategy<Value = Machine> {
    (1usize..=2, 1usize..=8, 1usize..=2, 1usize..=2, proptest::option::of(0usize..4), any::<u64>())
        .prop_map(
            |(packages, cores_per_package, threads, nodes_per_package, nic_node, mask_bits)| {
                Machine {
                    packages,
                    cores_per_package,
                    threads,
                    nodes_per_package: nodes_per_package.min(cores_per_package),
                    nic_node,
                    mask_bits,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn plans_keep_their_promises(m in machines(), shards in proptest::option::of(0usize..40), use_smt in any::<bool>()) {
        let dir = TempDir::new("prop");
        let mask = m.write_tree(&dir);
        let topo = Topology::read(dir.path()).expect("read generated tree");
        prop_assert_eq!(topo.online_cpus().len(), m.cpus());
        prop_assert_eq!(topo.cores.len(), m.packages * m.cores_per_package);
        prop_assert_eq!(topo.nodes.len(), m.packages * m.nodes_per_package);

        let allowed = if mask.is_empty() { topo.online_cpus() } else { mask.clone() };
        let allowed_cores = {
            let mut c: Vec<usize> = allowed.iter().map(|&cpu| topo.cpu(cpu).unwrap().core).collect();
            c.sort_unstable();
            c.dedup();
            c.len()
        };
        let p = plan(&topo, &PlanOptions { shards, use_smt, allowed_cpus: None });

        let default = if use_smt { allowed.len() } else { allowed_cores };
        let want = match shards { Some(n) if n > 0 => n.min(MAX_SHARDS), _ => default };
        prop_assert_eq!(p.shards.len(), want);
        for (i, s) in p.shards.iter().enumerate() {
            prop_assert_eq!(s.shard, i);
            prop_assert!(allowed.contains(&s.cpu), "shard on CPU {} outside {:?}", s.cpu, allowed);
            prop_assert_eq!(s.node, topo.node_of(s.cpu));
        }
        let used: Vec<usize> = p.shards.iter().map(|s| s.cpu).collect();
        let distinct = p.shard_cpus();
        // No CPU doubles up while a free allowed CPU remains.
        prop_assert_eq!(distinct.len(), want.min(allowed.len()));
        // One shard per physical core before any core gets a second one.
        let mut cores_used: Vec<usize> = used.iter().map(|&c| topo.cpu(c).unwrap().core).collect();
        cores_used.sort_unstable();
        cores_used.dedup();
        prop_assert_eq!(cores_used.len(), want.min(allowed_cores));
        prop_assert!(!p.irq_cpus.is_empty());
        prop_assert!(p.irq_cpus.iter().all(|c| topo.is_online(*c)));
        prop_assert_eq!(p.node_count, topo.nodes.len());
    }
}
