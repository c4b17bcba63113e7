//! What the machine is: CPUs, physical cores and their SMT siblings, packages, NUMA nodes with
//! their distances, which node each NIC hangs off, and the process affinity mask.
//!
//! ```text
//!   <root>/sys/devices/system/cpu/online, cpuN/topology/*   ─┐
//!   <root>/sys/devices/system/node/nodeN/{cpulist,distance} ─┼─► Topology { cpus, cores, nodes, nics }
//!   <root>/sys/class/net/*/device/{numa_node,msi_irqs}      ─┤
//!   <root>/proc/{cpuinfo,interrupts,self/status}            ─┘
//! ```
//! The same reader serves `mayfly-tune` and the server's shard placement. Containers and VMs
//! hide parts of sysfs, so each piece has a fallback (no node directory → one node 0 holding
//! every CPU; no topology files → `/proc/cpuinfo`, else one core per CPU) and the fallbacks
//! used are recorded in [`Topology::notes`] so the report can say what was guessed.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use crate::cpulist;
use crate::sysroot::{numbered, SysRoot};

/// One logical CPU (hardware thread).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(serde::Serialize))]
pub struct Cpu {
    pub id: usize,
    pub online: bool,
    /// The kernel's `core_id`: unique only within a package, and not dense.
    pub core_id: Option<usize>,
    pub package: usize,
    pub node: usize,
    /// Index into [`Topology::cores`].
    pub core: usize,
    /// All hardware threads of this CPU's physical core, itself included.
    pub siblings: Vec<usize>,
}

/// One physical core: the CPUs (SMT threads) that share it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(serde::Serialize))]
pub struct Core {
    pub index: usize,
    pub package: usize,
    pub node: usize,
    pub cpus: Vec<usize>,
}

/// One NUMA node.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(serde::Serialize))]
pub struct Node {
    pub id: usize,
    pub cpus: Vec<usize>,
    /// `(other node id, distance)`; 10 is local by the ACPI SLIT convention.
    pub distances: Vec<(usize, u32)>,
}

/// A network interface backed by a device (virtual ones such as `lo` are left out).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(serde::Serialize))]
pub struct Nic {
    pub name: String,
    /// `None` when the device does not report one (`numa_node` = -1 or missing).
    pub node: Option<usize>,
    pub driver: Option<String>,
    /// Interrupts of the receive/transmit queues (config/misc vectors left out).
    pub queue_irqs: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(serde::Serialize))]
pub struct Topology {
    /// Every CPU found, sorted by id, online or not.
    pub cpus: Vec<Cpu>,
    /// Physical cores, sorted by their lowest CPU id.
    pub cores: Vec<Core>,
    /// NUMA nodes sorted by id (at least one).
    pub nodes: Vec<Node>,
    pub nics: Vec<Nic>,
    /// CPUs this process may run on; `None` if unknown (then every online CPU is allowed).
    pub affinity: Option<Vec<usize>>,
    /// What had to be guessed because the tree did not say.
    pub notes: Vec<String>,
}

/// The fields of one CPU before cores and nodes are resolved.
#[derive(Default, Clone)]
struct RawCpu {
    online: bool,
    core_id: Option<usize>,
    package: Option<usize>,
    siblings: Option<Vec<usize>>,
    node_hint: Option<usize>,
}

impl Topology {
    /// Reads the topology below `sys_root` (`/` in production). Fails only when no CPU at all
    /// can be found; every other missing piece falls back and is noted.
    pub fn read(sys_root: &Path) -> io::Result<Topology> {
        let root = SysRoot::new(sys_root);
        let mut notes = Vec::new();
        let mut raw = read_cpus(&root, &mut notes);
        if raw.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "no CPUs found under {} (neither sys/devices/system/cpu nor proc/cpuinfo)",
                    sys_root.display()
                ),
            ));
        }
        let nodes = read_nodes(&root, &mut raw, &mut notes);
        let affinity = root
            .read("/proc/self/status")
            .and_then(|s| status_field(&s, "Cpus_allowed_list").and_then(cpulist::parse_list));
        let nics = read_nics(&root);
        Ok(assemble(raw, nodes, nics, affinity, notes))
    }

    /// Reads the live machine (`/`) and this process's affinity mask from `sched_getaffinity`.
    /// If `/sys` and `/proc/cpuinfo` are both hidden, falls back to the affinity mask alone.
    pub fn read_host() -> io::Result<Topology> {
        let mask = crate::affinity::process_affinity();
        match Topology::read(Path::new("/")) {
            Ok(mut topo) => {
                if let Ok(mask) = mask {
                    topo.affinity = Some(mask);
                }
                Ok(topo)
            }
            Err(err) => match mask {
                Ok(mask) if !mask.is_empty() => {
                    let mut topo = Topology::flat(&mask);
                    topo.notes.push(format!("{err}; topology taken from the affinity mask"));
                    Ok(topo)
                }
                _ => Err(err),
            },
        }
    }

    /// A machine with one node, no SMT and the given online CPUs: the last-resort fallback,
    /// and handy for callers that want a plan without reading anything.
    pub fn flat(cpu_ids: &[usize]) -> Topology {
        let mut raw = BTreeMap::new();
        for &id in cpu_ids {
            raw.insert(id, RawCpu { online: true, ..RawCpu::default() });
        }
        let all: Vec<usize> = raw.keys().copied().collect();
        let nodes = vec![Node { id: 0, cpus: all, distances: vec![(0, 10)] }];
        assemble(raw, nodes, Vec::new(), None, Vec::new())
    }

    pub fn cpu(&self, id: usize) -> Option<&Cpu> {
        self.cpus.binary_search_by_key(&id, |c| c.id).ok().map(|i| &self.cpus[i])
    }

    pub fn node(&self, id: usize) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The NUMA node of `cpu` (0 if the CPU is unknown).
    pub fn node_of(&self, cpu: usize) -> usize {
        self.cpu(cpu).map_or(0, |c| c.node)
    }

    pub fn online_cpus(&self) -> Vec<usize> {
        self.cpus.iter().filter(|c| c.online).map(|c| c.id).collect()
    }

    /// Online CPUs inside the affinity mask (all online CPUs when the mask is unknown).
    pub fn allowed_cpus(&self) -> Vec<usize> {
        let online = self.online_cpus();
        match &self.affinity {
            Some(mask) => online.into_iter().filter(|c| mask.contains(c)).collect(),
            None => online,
        }
    }

    pub fn distance(&self, from: usize, to: usize) -> Option<u32> {
        self.node(from)?.distances.iter().find(|(n, _)| *n == to).map(|&(_, d)| d)
    }

    /// Distinct package ids with an online CPU.
    pub fn packages(&self) -> Vec<usize> {
        let mut p: Vec<usize> = self.cpus.iter().filter(|c| c.online).map(|c| c.package).collect();
        p.sort_unstable();
        p.dedup();
        p
    }

    /// Physical cores with at least one online CPU.
    pub fn online_cores(&self) -> usize {
        self.cores.iter().filter(|core| core.cpus.iter().any(|&c| self.is_online(c))).count()
    }

    pub fn is_online(&self, cpu: usize) -> bool {
        self.cpu(cpu).is_some_and(|c| c.online)
    }

    /// True when some core has more than one online hardware thread.
    pub fn smt_active(&self) -> bool {
        self.cores.iter().any(|core| core.cpus.iter().filter(|&&c| self.is_online(c)).count() > 1)
    }

    /// The node the network most likely lives on: that of the first NIC (by name) that
    /// reports one, preferring NICs that have queue interrupts.
    pub fn nic_node(&self) -> Option<usize> {
        let with_irqs = self.nics.iter().find(|n| n.node.is_some() && !n.queue_irqs.is_empty());
        with_irqs.or_else(|| self.nics.iter().find(|n| n.node.is_some())).and_then(|n| n.node)
    }
}

fn read_cpus(root: &SysRoot, notes: &mut Vec<String>) -> BTreeMap<usize, RawCpu> {
    const CPU_DIR: &str = "/sys/devices/system/cpu";
    let online_list = root.read(&format!("{CPU_DIR}/online")).and_then(|s| cpulist::parse_list(&s));
    let mut ids: Vec<usize> = root
        .list(CPU_DIR)
        .iter()
        .filter_map(|n| numbered(n, "cpu"))
        .filter(|&id| id <= cpulist::MAX_CPU_ID)
        .collect();
    if let Some(online) = &online_list {
        ids.extend(online.iter().copied());
    }
    let cpuinfo = root.read("/proc/cpuinfo").map(|s| parse_cpuinfo(&s)).unwrap_or_default();
    if ids.is_empty() && !cpuinfo.is_empty() {
        notes.push("no sys/devices/system/cpu: CPUs taken from /proc/cpuinfo".into());
        ids.extend(cpuinfo.keys().copied());
    }
    ids.sort_unstable();
    ids.dedup();

    let mut raw = BTreeMap::new();
    let mut guessed_topology = 0usize;
    for id in ids {
        let dir = format!("{CPU_DIR}/cpu{id}");
        let online = match &online_list {
            Some(list) => list.contains(&id),
            // cpu0 often has no `online` file because it cannot be unplugged.
            None => root.read_trimmed(&format!("{dir}/online")).is_none_or(|v| v != "0"),
        };
        let mut cpu = RawCpu { online, ..RawCpu::default() };
        let topo = format!("{dir}/topology");
        cpu.core_id = root.read_i64(&format!("{topo}/core_id")).and_then(non_negative);
        cpu.package = root.read_i64(&format!("{topo}/physical_package_id")).and_then(non_negative);
        cpu.siblings = root
            .read(&format!("{topo}/thread_siblings_list"))
            .or_else(|| root.read(&format!("{topo}/core_cpus_list")))
            .and_then(|s| cpulist::parse_list(&s))
            .filter(|s| !s.is_empty());
        if let Some(&(package, core_id)) = cpuinfo.get(&id) {
            cpu.package = cpu.package.or(package);
            cpu.core_id = cpu.core_id.or(core_id);
        }
        if cpu.online && cpu.siblings.is_none() && cpu.core_id.is_none() {
            guessed_topology += 1;
        }
        cpu.node_hint = root.list(&dir).iter().find_map(|n| numbered(n, "node"));
        raw.insert(id, cpu);
    }
    if guessed_topology > 0 {
        notes.push(format!(
            "{guessed_topology} online CPU(s) without core topology: each counted as its own core"
        ));
    }
    raw
}

/// `/proc/cpuinfo` → cpu id → (physical id, core id). x86 has both; other arches may not.
fn parse_cpuinfo(text: &str) -> BTreeMap<usize, (Option<usize>, Option<usize>)> {
    let mut out = BTreeMap::new();
    let mut current: Option<usize> = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().parse::<usize>().ok();
        match key.trim() {
            "processor" => {
                current = value.filter(|&v| v <= cpulist::MAX_CPU_ID);
                if let Some(id) = current {
                    out.insert(id, (None, None));
                }
            }
            "physical id" => {
                if let Some(entry) = current.and_then(|id| out.get_mut(&id)) {
                    entry.0 = value;
                }
            }
            "core id" => {
                if let Some(entry) = current.and_then(|id| out.get_mut(&id)) {
                    entry.1 = value;
                }
            }
            _ => {}
        }
    }
    out
}

fn non_negative(v: i64) -> Option<usize> {
    usize::try_from(v).ok()
}

fn read_nodes(
    root: &SysRoot,
    raw: &mut BTreeMap<usize, RawCpu>,
    notes: &mut Vec<String>,
) -> Vec<Node> {
    const NODE_DIR: &str = "/sys/devices/system/node";
    let mut ids: Vec<usize> = root
        .list(NODE_DIR)
        .iter()
        .filter_map(|n| numbered(n, "node"))
        .filter(|&id| id <= cpulist::MAX_CPU_ID)
        .collect();
    if let Some(online) =
        root.read(&format!("{NODE_DIR}/online")).and_then(|s| cpulist::parse_list(&s))
    {
        // A node listed online but without a directory is unusable; keep the intersection.
        if !online.is_empty() && ids.iter().any(|id| online.contains(id)) {
            ids.retain(|id| online.contains(id));
        }
    }
    ids.sort_unstable();
    if ids.is_empty() {
        notes.push(
            "no NUMA information (sys/devices/system/node): one node 0 holds every CPU".into(),
        );
        return vec![Node { id: 0, cpus: raw.keys().copied().collect(), distances: vec![(0, 10)] }];
    }
    let mut nodes = Vec::with_capacity(ids.len());
    for &id in &ids {
        let dir = format!("{NODE_DIR}/node{id}");
        let cpus: Vec<usize> = root
            .read(&format!("{dir}/cpulist"))
            .and_then(|s| cpulist::parse_list(&s))
            .unwrap_or_default()
            .into_iter()
            .filter(|c| raw.contains_key(c))
            .collect();
        // The distance row is ordered like the online node list.
        let distances = root
            .read(&format!("{dir}/distance"))
            .map(|s| {
                s.split_whitespace()
                    .zip(ids.iter())
                    .filter_map(|(d, &other)| d.parse::<u32>().ok().map(|d| (other, d)))
                    .collect()
            })
            .unwrap_or_default();
        nodes.push(Node { id, cpus, distances });
    }
    // Each CPU gets the node whose cpulist names it; else its cpuN/nodeM link; else the first node.
    let mut unplaced = Vec::new();
    for (&cpu, info) in raw.iter_mut() {
        let listed = nodes.iter().find(|n| n.cpus.contains(&cpu)).map(|n| n.id);
        let hinted = info.node_hint.filter(|h| ids.contains(h));
        match listed.or(hinted) {
            Some(node) => info.node_hint = Some(node),
            None => {
                info.node_hint = Some(ids[0]);
                if info.online {
                    unplaced.push(cpu);
                }
            }
        }
    }
    for node in nodes.iter_mut() {
        for (&cpu, info) in raw.iter() {
            if info.node_hint == Some(node.id) && !node.cpus.contains(&cpu) {
                node.cpus.push(cpu);
            }
        }
        node.cpus.sort_unstable();
    }
    if !unplaced.is_empty() {
        notes.push(format!(
            "CPU(s) {} belong to no node's cpulist: placed on node {}",
            cpulist::format_list(&unplaced),
            ids[0]
        ));
    }
    nodes
}

fn read_nics(root: &SysRoot) -> Vec<Nic> {
    let interrupts =
        root.read("/proc/interrupts").map(|s| parse_interrupt_names(&s)).unwrap_or_default();
    let mut nics = Vec::new();
    for name in root.list("/sys/class/net") {
        let dev_rel = format!("/sys/class/net/{name}/device");
        let dev = root.path(&dev_rel);
        if !dev.exists() {
            continue; // virtual interface: lo, bridges, veth, ifb
        }
        // virtio and some others put numa_node and msi_irqs on the parent PCI device; the
        // kernel resolves `device/..` through the symlink, fixtures use plain directories.
        let parent = dev.join("..");
        let node = [dev.join("numa_node"), parent.join("numa_node")]
            .iter()
            .find_map(|p| crate::sysroot::read_bounded(p))
            .and_then(|s| s.trim().parse::<i64>().ok())
            .and_then(non_negative);
        let driver = std::fs::read_link(dev.join("driver"))
            .ok()
            .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string));
        let dev_name = std::fs::read_link(&dev)
            .ok()
            .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string));
        let mut irqs: Vec<usize> = Vec::new();
        for dir in [dev.join("msi_irqs"), parent.join("msi_irqs")] {
            let listed: Vec<usize> =
                crate::sysroot::list_dir(&dir).iter().filter_map(|n| n.parse().ok()).collect();
            if !listed.is_empty() {
                irqs = listed;
                break;
            }
        }
        // Drivers name queue vectors after the interface (`eth0-TxRx-3`, `i40e-eth0-TxRx-0`)
        // or after the device (`virtio2-input.0`).
        for (irq, action) in &interrupts {
            let by_if = action.split(['-', '@', ' ']).any(|tok| tok == name);
            let by_dev = dev_name.as_deref().is_some_and(|d| action.starts_with(&format!("{d}-")));
            if by_if || by_dev {
                irqs.push(*irq);
            }
        }
        irqs.sort_unstable();
        irqs.dedup();
        if !interrupts.is_empty() {
            // Keep only vectors that /proc/interrupts shows and that carry queue traffic.
            irqs.retain(|irq| interrupts.get(irq).is_some_and(|action| is_queue_vector(action)));
        }
        nics.push(Nic { name, node, driver, queue_irqs: irqs });
    }
    nics
}

/// Control vectors (`virtio2-config`, `i40e-0000:3b:00.0:misc`, `mlx5_async0`) carry no
/// packets; steering them is pointless.
fn is_queue_vector(action: &str) -> bool {
    let lower = action.to_ascii_lowercase();
    !["config", "misc", "async", "ctrl", "pages", "cmd"].iter().any(|w| lower.contains(w))
}

/// `/proc/interrupts` → numeric irq → action name (last column).
fn parse_interrupt_names(text: &str) -> BTreeMap<usize, String> {
    let mut lines = text.lines();
    let cpu_columns = lines.next().map_or(0, |h| h.split_whitespace().count());
    let mut out = BTreeMap::new();
    for line in lines {
        let Some((irq, rest)) = line.split_once(':') else {
            continue;
        };
        let Ok(irq) = irq.trim().parse::<usize>() else {
            continue; // NMI, LOC, ... are not device interrupts
        };
        // After the per-CPU counts come the chip, the hw irq/trigger, then the action names.
        let fields: Vec<&str> = rest.split_whitespace().skip(cpu_columns).collect();
        if let Some(action) = fields.last() {
            out.insert(irq, action.to_string());
        }
    }
    out
}

pub(crate) fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

fn assemble(
    raw: BTreeMap<usize, RawCpu>,
    nodes: Vec<Node>,
    nics: Vec<Nic>,
    affinity: Option<Vec<usize>>,
    notes: Vec<String>,
) -> Topology {
    #[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
    enum CoreKey {
        Siblings(usize),
        PackageCore(usize, usize),
        Alone(usize),
    }
    let key_of = |id: usize, cpu: &RawCpu| match (&cpu.siblings, cpu.core_id) {
        (Some(sibs), _) => CoreKey::Siblings(
            sibs.iter().copied().filter(|s| raw.contains_key(s)).min().unwrap_or(id).min(id),
        ),
        (None, Some(core_id)) => CoreKey::PackageCore(cpu.package.unwrap_or(0), core_id),
        (None, None) => CoreKey::Alone(id),
    };
    let mut groups: BTreeMap<CoreKey, Vec<usize>> = BTreeMap::new();
    for (&id, cpu) in &raw {
        groups.entry(key_of(id, cpu)).or_default().push(id);
    }
    let mut core_cpus: Vec<Vec<usize>> = groups.into_values().collect();
    core_cpus.sort_by_key(|cpus| cpus[0]);

    let node_of = |id: usize| raw.get(&id).and_then(|c| c.node_hint).unwrap_or(nodes[0].id);
    let package_of = |id: usize| raw.get(&id).and_then(|c| c.package).unwrap_or(0);
    let cores: Vec<Core> = core_cpus
        .iter()
        .enumerate()
        .map(|(index, cpus)| Core {
            index,
            package: package_of(cpus[0]),
            node: node_of(cpus[0]),
            cpus: cpus.clone(),
        })
        .collect();
    let mut cpus = Vec::with_capacity(raw.len());
    for core in &cores {
        for &id in &core.cpus {
            let info = &raw[&id];
            cpus.push(Cpu {
                id,
                online: info.online,
                core_id: info.core_id,
                package: package_of(id),
                node: node_of(id),
                core: core.index,
                siblings: core.cpus.clone(),
            });
        }
    }
    cpus.sort_by_key(|c| c.id);
    Topology { cpus, cores, nodes, nics, affinity, notes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupt_names_skip_counts_and_chip_columns() {
        let text = "           CPU0       CPU1\n \
                    38:          0       1179 PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0\n \
                    NMI:          0          0   Non-maskable interrupts\n \
                    90:  5 6 IR-PCI-MSI 1048576-edge      eth0-TxRx-0\n";
        let names = parse_interrupt_names(text);
        assert_eq!(names.get(&38).map(String::as_str), Some("virtio2-input.0"));
        assert_eq!(names.get(&90).map(String::as_str), Some("eth0-TxRx-0"));
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn cpuinfo_gives_package_and_core() {
        let text = "processor\t: 0\nphysical id\t: 1\ncore id\t\t: 4\n\nprocessor\t: 1\n";
        let info = parse_cpuinfo(text);
        assert_eq!(info[&0], (Some(1), Some(4)));
        assert_eq!(info[&1], (None, None));
    }

    #[test]
    fn flat_topology_has_one_node_and_no_smt() {
        let topo = Topology::flat(&[0, 1, 2]);
        assert_eq!(topo.nodes.len(), 1);
        assert_eq!(topo.cores.len(), 3);
        assert!(!topo.smt_active());
        assert_eq!(topo.allowed_cpus(), vec![0, 1, 2]);
        assert_eq!(topo.node_of(2), 0);
    }

    #[test]
    fn queue_vectors_exclude_control_vectors() {
        assert!(is_queue_vector("virtio2-input.0"));
        assert!(is_queue_vector("mlx5_comp3@pci:0000:af:00.0"));
        assert!(!is_queue_vector("virtio2-config"));
        assert!(!is_queue_vector("mlx5_async0@pci:0000:af:00.0"));
        assert!(!is_queue_vector("i40e-0000:3b:00.0:misc"));
    }
}
