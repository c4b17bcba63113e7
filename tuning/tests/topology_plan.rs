//! Topology parsing and placement plans on each fixture tree.

mod common;

use common::{fixture, write, TempDir};
use mayfly_tuning::cpulist::parse_list;
use mayfly_tuning::placement::{plan, Plan, PlanOptions};
use mayfly_tuning::Topology;

fn read(name: &str) -> Topology {
    Topology::read(&fixture(name)).expect("fixture topology")
}

fn cpus(p: &Plan) -> Vec<usize> {
    p.shards.iter().map(|s| s.cpu).collect()
}

fn nodes(p: &Plan) -> Vec<usize> {
    p.shards.iter().map(|s| s.node).collect()
}

fn list(text: &str) -> Vec<usize> {
    parse_list(text).expect("valid list")
}

fn opts(shards: Option<usize>, use_smt: bool) -> PlanOptions {
    PlanOptions { shards, use_smt, allowed_cpus: None }
}

#[test]
fn vm_topology() {
    let t = read("vm-1node-2cpu");
    assert_eq!(t.online_cpus(), vec![0, 1]);
    assert_eq!(t.cores.len(), 2);
    assert!(!t.smt_active());
    assert_eq!(t.packages(), vec![0]);
    assert_eq!(t.nodes.len(), 1);
    assert_eq!(t.nodes[0].cpus, vec![0, 1]);
    assert_eq!(t.distance(0, 0), Some(10));
    assert_eq!(t.affinity, Some(vec![0, 1]));
    // lo has no device; eth0's node is unknown (-1 on the PCI parent); the config vector is left out.
    assert_eq!(t.nics.len(), 1);
    let nic = &t.nics[0];
    assert_eq!(nic.name, "eth0");
    assert_eq!(nic.node, None);
    assert_eq!(nic.driver.as_deref(), Some("virtio_net"));
    assert_eq!(nic.queue_irqs, vec![38, 39]);
    assert!(t.notes.is_empty(), "unexpected fallbacks: {:?}", t.notes);
}

#[test]
fn vm_plans() {
    let t = read("vm-1node-2cpu");
    let p = plan(&t, &PlanOptions::default());
    assert_eq!(cpus(&p), vec![0, 1]);
    assert_eq!(nodes(&p), vec![0, 0]);
    assert_eq!(p.shards.iter().map(|s| s.shard).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(p.irq_cpus, vec![0, 1]);
    assert_eq!(p.node_count, 1);
    assert_eq!(plan(&t, &opts(None, true)), p, "no SMT: --use-smt changes nothing");
    assert_eq!(cpus(&plan(&t, &opts(Some(1), false))), vec![0]);
    assert_eq!(plan(&t, &opts(Some(1), false)).irq_cpus, vec![1]);
    assert_eq!(cpus(&plan(&t, &opts(Some(3), false))), vec![0, 1, 0]);
}

#[test]
fn two_socket_topology() {
    let t = read("2socket-2x16-smt");
    assert_eq!(t.online_cpus().len(), 64);
    assert_eq!(t.cores.len(), 32);
    assert_eq!(t.online_cores(), 32);
    assert!(t.smt_active());
    assert_eq!(t.packages(), vec![0, 1]);
    assert_eq!(t.nodes.len(), 2);
    assert_eq!(t.nodes[0].cpus, list("0-15,32-47"));
    assert_eq!(t.nodes[1].cpus, list("16-31,48-63"));
    assert_eq!(t.distance(0, 1), Some(21));
    assert_eq!(t.distance(1, 1), Some(10));
    // core_id repeats across packages and has gaps: cores must still be told apart.
    let c5 = t.cpu(5).unwrap();
    assert_eq!((c5.package, c5.core_id, c5.node), (0, Some(5), 0));
    assert_eq!(c5.siblings, vec![5, 37]);
    let c23 = t.cpu(23).unwrap();
    assert_eq!((c23.package, c23.core_id, c23.node), (1, Some(8), 1));
    assert_eq!(c23.siblings, vec![23, 55]);
    assert_ne!(t.cpu(7).unwrap().core, t.cpu(23).unwrap().core);
    assert_eq!(t.cpu(55).unwrap().core, c23.core);
    let nic = &t.nics[0];
    assert_eq!(t.nics.len(), 1, "lo and docker0 have no device");
    assert_eq!((nic.name.as_str(), nic.node), ("ens1f0", Some(1)));
    assert_eq!(nic.driver.as_deref(), Some("mlx5_core"));
    assert_eq!(nic.queue_irqs, list("101-116"), "the async vector is not a queue");
    assert_eq!(t.nic_node(), Some(1));
}

#[test]
fn two_socket_plans() {
    let t = read("2socket-2x16-smt");
    // One shard per physical core, memory on each core's node; IRQs on node 1's idle siblings.
    let p = plan(&t, &PlanOptions::default());
    assert_eq!(cpus(&p), list("0-31"));
    assert_eq!(nodes(&p), [vec![0; 16], vec![1; 16]].concat());
    assert_eq!(p.irq_cpus, list("48-63"));
    assert_eq!(p.node_count, 2);

    // --use-smt: every CPU; nothing is spare, so IRQs spread over node 1's shard CPUs.
    let p = plan(&t, &opts(None, true));
    assert_eq!(cpus(&p), list("0-63"));
    assert_eq!(p.shards[40].node, 0);
    assert_eq!(p.shards[50].node, 1);
    assert_eq!(p.irq_cpus, list("16-31,48-63"));

    // Fewer shards than cores: the NIC's node first.
    let p = plan(&t, &opts(Some(8), false));
    assert_eq!(cpus(&p), list("16-23"));
    assert_eq!(nodes(&p), vec![1; 8]);
    assert_eq!(p.irq_cpus, list("24-31,48-63"));

    // More shards than cores: wrap onto SMT siblings, the NIC's node first.
    let p = plan(&t, &opts(Some(40), false));
    assert_eq!(cpus(&p), list("0-31,48-55"));
    assert!(p.notes.iter().any(|n| n.contains("SMT siblings")));

    // More shards than CPUs: round-robin.
    let p = plan(&t, &opts(Some(66), false));
    assert_eq!(p.shards.len(), 66);
    assert_eq!(p.shards[64].cpu, 0);
    assert_eq!(p.shards[65].cpu, 1);
}

#[test]
fn two_socket_affinity_mask_limits_the_plan() {
    let mut t = read("2socket-2x16-smt");
    t.affinity = Some(list("2-15,34-47"));
    let p = plan(&t, &PlanOptions::default());
    assert_eq!(cpus(&p), list("2-15"));
    assert_eq!(nodes(&p), vec![0; 14]);
    // CPUs outside the mask still take interrupts: node 1 is wholly free.
    assert_eq!(p.irq_cpus, list("16-31,48-63"));
    let p = plan(&t, &PlanOptions { allowed_cpus: Some(list("4-5,36-37")), ..opts(None, true) });
    assert_eq!(cpus(&p), vec![4, 5, 36, 37]);
}

#[test]
fn epyc_topology() {
    let t = read("epyc-4node");
    assert_eq!(t.online_cpus().len(), 64);
    assert_eq!(t.cores.len(), 32);
    assert_eq!(t.packages(), vec![0]);
    assert_eq!(t.nodes.iter().map(|n| n.id).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    assert_eq!(t.nodes[2].cpus, list("16-23,48-55"));
    assert_eq!(t.nodes[2].distances, vec![(0, 12), (1, 12), (2, 10), (3, 11)]);
    assert_eq!(t.distance(0, 1), Some(11));
    assert_eq!(t.cpu(60).unwrap().node, 3);
    assert_eq!(t.cpu(60).unwrap().siblings, vec![28, 60]);
    let nic = &t.nics[0];
    assert_eq!((nic.name.as_str(), nic.node), ("enp65s0f0", Some(2)));
    // No msi_irqs directory: queue vectors found by interface name, the misc vector left out.
    assert_eq!(nic.queue_irqs, list("201-208"));
}

#[test]
fn epyc_plans() {
    let t = read("epyc-4node");
    let p = plan(&t, &PlanOptions::default());
    assert_eq!(cpus(&p), list("0-31"));
    assert_eq!(nodes(&p), (0..32).map(|c| c / 8).collect::<Vec<_>>());
    assert_eq!(p.irq_cpus, list("48-55"));
    assert_eq!(p.node_count, 4);

    // 12 shards: node 2 (the NIC's), then node 3 (distance 11), before nodes 0 and 1 (12).
    let p = plan(&t, &opts(Some(12), false));
    assert_eq!(cpus(&p), list("16-27"));
    assert_eq!(nodes(&p), [vec![2; 8], vec![3; 4]].concat());

    // --use-smt with a count still takes one thread per core first.
    let p = plan(&t, &opts(Some(4), true));
    assert_eq!(cpus(&p), list("16-19"));
    let p = plan(&t, &opts(None, true));
    assert_eq!(p.shards.len(), 64);
    assert_eq!(p.irq_cpus, list("16-23,48-55"));
}

#[test]
fn container_without_sysfs_falls_back_to_cpuinfo() {
    let t = read("container-no-sysfs");
    assert_eq!(t.online_cpus(), vec![0, 1, 2, 3]);
    assert_eq!(t.cores.len(), 2, "core ids from /proc/cpuinfo pair 0+2 and 1+3");
    assert_eq!(t.cpu(2).unwrap().siblings, vec![0, 2]);
    assert_eq!(t.nodes.len(), 1);
    assert_eq!(t.nodes[0].cpus, vec![0, 1, 2, 3]);
    assert!(t.nics.is_empty());
    assert_eq!(t.affinity, None);
    assert_eq!(t.notes.len(), 2, "{:?}", t.notes);
    let p = plan(&t, &PlanOptions::default());
    assert_eq!(cpus(&p), vec![0, 1]);
    assert_eq!(p.irq_cpus, vec![2, 3]);
    assert_eq!(cpus(&plan(&t, &opts(None, true))), vec![0, 1, 2, 3]);
}

#[test]
fn empty_root_is_an_error_not_a_panic() {
    let dir = TempDir::new("empty");
    let err = Topology::read(dir.path()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn minimal_and_garbage_trees_fall_back() {
    // Only cpu/online: each CPU its own core, one node.
    let dir = TempDir::new("minimal");
    write(dir.path(), "/sys/devices/system/cpu/online", "0-3");
    let t = Topology::read(dir.path()).unwrap();
    assert_eq!(t.online_cpus(), vec![0, 1, 2, 3]);
    assert_eq!(t.cores.len(), 4);
    assert_eq!(t.nodes.len(), 1);
    assert!(t.notes.iter().any(|n| n.contains("own core")));

    // Garbage in every file: still a usable topology, no panic.
    let dir = TempDir::new("garbage");
    let root = dir.path();
    write(root, "/sys/devices/system/cpu/online", "0-1,zz");
    write(root, "/sys/devices/system/cpu/cpu0/topology/core_id", "-1");
    write(root, "/sys/devices/system/cpu/cpu0/topology/thread_siblings_list", "0-99999999999");
    write(root, "/sys/devices/system/cpu/cpu1/topology/physical_package_id", "\u{fffd}");
    write(root, "/sys/devices/system/node/node0/cpulist", "banana");
    write(root, "/sys/devices/system/node/node0/distance", "ten");
    write(root, "/sys/class/net/eth9/device/numa_node", "-7");
    write(root, "/proc/interrupts", "garbage\n 5: x y z\n::::\n");
    write(root, "/proc/self/status", "Cpus_allowed_list:\t1-0\n");
    let t = Topology::read(root).unwrap();
    assert_eq!(t.cpus.iter().map(|c| c.id).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(t.nodes.len(), 1);
    assert_eq!(t.nodes[0].cpus, vec![0, 1], "unparsable cpulist: CPUs fall to node 0");
    assert_eq!(t.nics[0].node, None);
    assert_eq!(t.affinity, None);
    let p = plan(&t, &PlanOptions::default());
    assert!(!p.shards.is_empty());
}

#[test]
fn cpus_missing_from_node_lists_use_their_node_links() {
    let dir = TempDir::new("nodelink");
    let root = dir.path();
    write(root, "/sys/devices/system/cpu/online", "0-3");
    write(root, "/sys/devices/system/node/online", "0-1");
    write(root, "/sys/devices/system/node/node0/cpulist", "0-1");
    write(root, "/sys/devices/system/node/node1/cpulist", "2");
    write(root, "/sys/devices/system/cpu/cpu3/node1/.keep", "");
    let t = Topology::read(root).unwrap();
    assert_eq!(t.node_of(2), 1);
    assert_eq!(t.node_of(3), 1, "from the cpu3/node1 link");
    assert_eq!(t.nodes[1].cpus, vec![2, 3]);
}

#[test]
fn host_topology_reads_and_plans() {
    let t = Topology::read_host().expect("this machine's topology");
    let allowed = t.allowed_cpus();
    assert!(!allowed.is_empty());
    let p = plan(&t, &PlanOptions::default());
    assert_eq!(
        p.shards.len(),
        t.cores.iter().filter(|c| c.cpus.iter().any(|x| allowed.contains(x))).count()
    );
    assert!(p.shards.iter().all(|s| allowed.contains(&s.cpu) && t.node_of(s.cpu) == s.node));
}

#[test]
fn offline_cpus_are_listed_but_never_planned() {
    let dir = TempDir::new("offline");
    let root = dir.path();
    write(root, "/sys/devices/system/cpu/online", "0-2");
    for cpu in 0..4 {
        write(
            root,
            &format!("/sys/devices/system/cpu/cpu{cpu}/topology/core_id"),
            &cpu.to_string(),
        );
    }
    let t = Topology::read(root).unwrap();
    assert_eq!(t.cpus.len(), 4);
    assert!(!t.cpu(3).unwrap().online);
    assert_eq!(t.online_cpus(), vec![0, 1, 2]);
    assert_eq!(t.online_cores(), 3);
    let p = plan(&t, &opts(Some(8), false));
    assert!(p.shards.iter().all(|s| s.cpu != 3));
    assert!(!p.irq_cpus.contains(&3));
}
