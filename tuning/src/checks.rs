//! Host checks: each reads one setting below the root, compares it with what a latency-
//! sensitive, thread-per-core in-memory store wants, and returns a verdict, the reason, and
//! the fix (a sysctl, a sysfs write, a systemd limit, or a manual step).
//!
//! Checks never write; [`crate::apply`] turns the sysctl/sysfs fixes into writes, and only
//! when asked to.

use std::path::Path;

use crate::cpulist::{self, format_list};
use crate::facts::{kernel_version, HostFacts, IoUringProbe, Limit};
use crate::placement::Plan;
use crate::sysroot::{numbered, SysRoot};
use crate::topology::Topology;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "cli", derive(serde::Serialize), serde(rename_all = "lowercase"))]
pub enum Verdict {
    Ok,
    /// Works, but costs latency or headroom.
    Warn,
    /// Mayfly will fail or misbehave under load.
    Fail,
    /// Not applicable here or cannot be read.
    Skip,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "n/a",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "cli",
    derive(serde::Serialize),
    serde(tag = "kind", rename_all = "lowercase")
)]
pub enum Fix {
    /// `sysctl -w key=value`; persisted in /etc/sysctl.d.
    Sysctl { key: String, value: String },
    /// Write `value` to a sysfs/procfs file (path as on the live system).
    Sysfs { path: String, value: String },
    /// A systemd `[Service]` directive such as `LimitNOFILE=65536`.
    Systemd { directive: String, value: String },
    /// Anything that needs a person.
    Manual { text: String },
}

impl Fix {
    pub fn describe(&self) -> String {
        match self {
            Fix::Sysctl { key, value } => format!("sysctl -w {key}={value}"),
            Fix::Sysfs { path, value } => format!("echo {value} > {path}"),
            Fix::Systemd { directive, value } => {
                format!("{directive}={value} in the mayfly.service unit")
            }
            Fix::Manual { text } => text.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(serde::Serialize))]
pub struct Check {
    /// Stable identifier (`thp`, `vm.swappiness`, ...).
    pub id: String,
    pub title: String,
    pub verdict: Verdict,
    pub current: String,
    pub recommended: String,
    pub why: String,
    pub fixes: Vec<Fix>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(serde::Serialize))]
pub struct Report {
    pub root: String,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn count(&self, verdict: Verdict) -> usize {
        self.checks.iter().filter(|c| c.verdict == verdict).count()
    }

    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// The worst verdict among checks that apply (Skip does not count).
    pub fn worst(&self) -> Verdict {
        self.checks
            .iter()
            .map(|c| c.verdict)
            .filter(|v| *v != Verdict::Skip)
            .max()
            .unwrap_or(Verdict::Ok)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOptions {
    /// The server's `maxclients`: sizes the open-file requirement.
    pub maxclients: u64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions { maxclients: 10_000 }
    }
}

/// File descriptors Redis reserves beyond `maxclients` for listeners, files and logs.
const RESERVED_FDS: u64 = 32;
/// Per-shard descriptors: ring, wake-up eventfd, listener, spare.
const FDS_PER_SHARD: u64 = 4;
/// Locked memory wanted for registered/provided io_uring buffers.
const MEMLOCK_WANT_BYTES: u64 = 64 << 20;
const BACKLOG_WANT: i64 = 4096;
/// Redis's default `tcp-backlog`; a smaller somaxconn silently truncates it.
const REDIS_TCP_BACKLOG: i64 = 511;

/// Runs every check against `root` (`/` for the live host).
pub fn run_checks(
    root: &Path,
    topo: &Topology,
    plan: &Plan,
    facts: &HostFacts,
    opts: &CheckOptions,
) -> Report {
    let sys = SysRoot::new(root);
    let checks = vec![
        check_thp_enabled(&sys),
        check_thp_defrag(&sys),
        check_overcommit(&sys),
        check_swappiness(&sys),
        check_somaxconn(&sys),
        check_syn_backlog(&sys),
        check_open_files(facts, plan, opts),
        check_memlock(facts),
        check_io_uring_disabled(&sys),
        check_kernel(facts),
        check_governor(&sys, plan),
        check_irq_affinity(&sys, topo, plan),
        check_numa_balancing(&sys, topo),
    ];
    Report { root: root.display().to_string(), checks }
}

fn check(
    id: &str,
    title: &str,
    verdict: Verdict,
    current: String,
    recommended: &str,
    why: &str,
) -> Check {
    Check {
        id: id.to_string(),
        title: title.to_string(),
        verdict,
        current,
        recommended: recommended.to_string(),
        why: why.to_string(),
        fixes: Vec::new(),
    }
}

fn sysctl_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

fn sysctl_fix(key: &str, value: impl ToString) -> Fix {
    Fix::Sysctl { key: key.to_string(), value: value.to_string() }
}

/// A sysctl that could not be read (container without /proc/sys, fixture without it).
fn unreadable(id: &str, title: &str, recommended: &str, why: &str) -> Check {
    check(id, title, Verdict::Skip, "not readable".into(), recommended, why)
}

/// `always [madvise] never` → `madvise`.
pub fn bracketed(choice_line: &str) -> Option<&str> {
    let start = choice_line.find('[')?;
    let end = choice_line[start..].find(']')? + start;
    Some(&choice_line[start + 1..end])
}

fn check_thp_enabled(sys: &SysRoot) -> Check {
    const PATH: &str = "/sys/kernel/mm/transparent_hugepage/enabled";
    let why = "THP 'always' backs the heap with 2 MiB pages: khugepaged collapses and faults that \
               zero 2 MiB stall shard threads, and freed memory stays resident (RSS bloat)";
    let Some(line) = sys.read_trimmed(PATH) else {
        return unreadable("thp", "transparent hugepages", "madvise or never", why);
    };
    let mode = bracketed(&line).unwrap_or(&line).to_string();
    let mut c =
        check("thp", "transparent hugepages", Verdict::Ok, mode.clone(), "madvise or never", why);
    if mode == "always" {
        c.verdict = Verdict::Warn;
        c.fixes.push(Fix::Sysfs { path: PATH.into(), value: "madvise".into() });
        c.fixes.push(Fix::Manual {
            text: "persist with transparent_hugepage=madvise on the kernel command line".into(),
        });
    }
    c
}

fn check_thp_defrag(sys: &SysRoot) -> Check {
    const PATH: &str = "/sys/kernel/mm/transparent_hugepage/defrag";
    let why = "defrag 'always' compacts memory synchronously inside page faults, a stall of \
               milliseconds on the faulting shard";
    let Some(line) = sys.read_trimmed(PATH) else {
        return unreadable(
            "thp-defrag",
            "THP defrag",
            "madvise, defer+madvise, defer or never",
            why,
        );
    };
    let mode = bracketed(&line).unwrap_or(&line).to_string();
    let mut c = check(
        "thp-defrag",
        "THP defrag",
        Verdict::Ok,
        mode.clone(),
        "madvise, defer+madvise, defer or never",
        why,
    );
    if mode == "always" {
        c.verdict = Verdict::Warn;
        c.fixes.push(Fix::Sysfs { path: PATH.into(), value: "madvise".into() });
    }
    c
}

fn check_overcommit(sys: &SysRoot) -> Check {
    const KEY: &str = "vm.overcommit_memory";
    let why = "with 0 the kernel's heuristic can refuse large allocations (preallocated buffers, \
               allocator arenas) while memory looks short; with 2 every reserved-but-untouched byte \
               counts and allocations fail far below physical memory. Redis recommends 1 too";
    let Some(v) = sys.read_i64(&sysctl_path(KEY)) else {
        return unreadable(KEY, KEY, "1", why);
    };
    let verdict = match v {
        1 => Verdict::Ok,
        2 => Verdict::Fail,
        _ => Verdict::Warn,
    };
    let mut c = check(KEY, KEY, verdict, v.to_string(), "1", why);
    if verdict != Verdict::Ok {
        c.fixes.push(sysctl_fix(KEY, 1));
    }
    c
}

fn check_swappiness(sys: &SysRoot) -> Check {
    const KEY: &str = "vm.swappiness";
    let why = "a swapped-out page of the keyspace turns a memory read into a disk read: a \
               millisecond stall for every client of that shard";
    let Some(v) = sys.read_i64(&sysctl_path(KEY)) else {
        return unreadable(KEY, KEY, "<= 10 (1)", why);
    };
    let verdict = if v <= 10 { Verdict::Ok } else { Verdict::Warn };
    let mut c = check(KEY, KEY, verdict, v.to_string(), "<= 10 (1)", why);
    if verdict != Verdict::Ok {
        c.fixes.push(sysctl_fix(KEY, 1));
    }
    c
}

fn check_somaxconn(sys: &SysRoot) -> Check {
    const KEY: &str = "net.core.somaxconn";
    let why = "the kernel caps every listen() backlog at this value; a burst of new connections \
               beyond it is dropped and clients wait for SYN retransmits (1 s and more)";
    let Some(v) = sys.read_i64(&sysctl_path(KEY)) else {
        return unreadable(KEY, KEY, ">= 4096", why);
    };
    let verdict = if v >= BACKLOG_WANT {
        Verdict::Ok
    } else if v < REDIS_TCP_BACKLOG {
        Verdict::Fail
    } else {
        Verdict::Warn
    };
    let mut c = check(KEY, KEY, verdict, v.to_string(), ">= 4096", why);
    if verdict != Verdict::Ok {
        c.fixes.push(sysctl_fix(KEY, BACKLOG_WANT));
    }
    c
}

fn check_syn_backlog(sys: &SysRoot) -> Check {
    const KEY: &str = "net.ipv4.tcp_max_syn_backlog";
    let why = "half-open connections beyond this queue are dropped (or answered with syncookies, \
               losing TCP options) during connection storms after a restart or failover";
    let Some(v) = sys.read_i64(&sysctl_path(KEY)) else {
        return unreadable(KEY, KEY, ">= 4096", why);
    };
    let verdict = if v >= BACKLOG_WANT { Verdict::Ok } else { Verdict::Warn };
    let mut c = check(KEY, KEY, verdict, v.to_string(), ">= 4096", why);
    if verdict != Verdict::Ok {
        c.fixes.push(sysctl_fix(KEY, BACKLOG_WANT));
    }
    c
}

fn fmt_limit(v: Option<u64>) -> String {
    v.map_or("unlimited".into(), |v| v.to_string())
}

fn fmt_bytes(v: Option<u64>) -> String {
    match v {
        None => "unlimited".into(),
        Some(b) if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        Some(b) if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        Some(b) => format!("{b} B"),
    }
}

fn check_open_files(facts: &HostFacts, plan: &Plan, opts: &CheckOptions) -> Check {
    const ID: &str = "limit.nofile";
    let need = opts.maxclients + RESERVED_FDS + FDS_PER_SHARD * plan.shards.len() as u64;
    let recommended = format!(">= {need} (maxclients {} + reserve)", opts.maxclients);
    let why = "each client connection is a file descriptor; below maxclients + reserve, accept() \
               fails with EMFILE once the node is busy. This is the limit of this shell: under \
               systemd the unit's LimitNOFILE applies";
    let Some(Limit { soft, hard }) = facts.open_files else {
        return unreadable(ID, "open files (RLIMIT_NOFILE)", &recommended, why);
    };
    let fits = |v: Option<u64>| v.is_none_or(|v| v >= need);
    let verdict = if fits(soft) {
        Verdict::Ok
    } else if fits(hard) {
        Verdict::Warn
    } else {
        Verdict::Fail
    };
    let current = format!("soft {} / hard {}", fmt_limit(soft), fmt_limit(hard));
    let mut c = check(ID, "open files (RLIMIT_NOFILE)", verdict, current, &recommended, why);
    if verdict != Verdict::Ok {
        let target = need.max(65_536);
        c.fixes.push(Fix::Systemd { directive: "LimitNOFILE".into(), value: target.to_string() });
        c.fixes.push(Fix::Manual {
            text: format!("by hand: ulimit -n {target} before starting mayfly"),
        });
    }
    c
}

fn check_memlock(facts: &HostFacts) -> Check {
    const ID: &str = "limit.memlock";
    let old_kernel =
        facts.kernel_release.as_deref().and_then(kernel_version).is_some_and(|v| v < (5, 12));
    let why = if old_kernel {
        "before Linux 5.12 every io_uring's rings are charged to RLIMIT_MEMLOCK (registered \
         buffers always are): a low limit makes ring setup fail with ENOMEM"
    } else {
        "io_uring registered buffers are pinned and charged to RLIMIT_MEMLOCK: with a low limit \
         registering them fails with ENOMEM and the server must do without"
    };
    let Some(Limit { soft, hard }) = facts.memlock_bytes else {
        return unreadable(ID, "locked memory (RLIMIT_MEMLOCK)", ">= 64 MiB or unlimited", why);
    };
    let enough = soft.is_none_or(|v| v >= MEMLOCK_WANT_BYTES);
    let verdict = match (enough, old_kernel) {
        (true, _) => Verdict::Ok,
        (false, true) => Verdict::Fail,
        (false, false) => Verdict::Warn,
    };
    let current = format!("soft {} / hard {}", fmt_bytes(soft), fmt_bytes(hard));
    let mut c = check(
        ID,
        "locked memory (RLIMIT_MEMLOCK)",
        verdict,
        current,
        ">= 64 MiB or unlimited",
        why,
    );
    if verdict != Verdict::Ok {
        c.fixes.push(Fix::Systemd { directive: "LimitMEMLOCK".into(), value: "infinity".into() });
        c.fixes.push(Fix::Manual {
            text: "by hand: ulimit -l unlimited before starting mayfly".into(),
        });
    }
    c
}

fn check_io_uring_disabled(sys: &SysRoot) -> Check {
    const KEY: &str = "kernel.io_uring_disabled";
    let why = "Mayfly's shard loops run on io_uring: 2 disables it for everyone, 1 allows it only \
               for members of kernel.io_uring_group and CAP_SYS_ADMIN";
    let Some(v) = sys.read_i64(&sysctl_path(KEY)) else {
        return check(
            KEY,
            KEY,
            Verdict::Skip,
            "absent (kernel before 6.6: no switch)".into(),
            "0",
            "io_uring is on unless a seccomp profile blocks it (see the io_uring check)",
        );
    };
    let verdict = match v {
        0 => Verdict::Ok,
        1 => Verdict::Warn,
        _ => Verdict::Fail,
    };
    let mut c = check(KEY, KEY, verdict, v.to_string(), "0", why);
    if verdict != Verdict::Ok {
        c.fixes.push(sysctl_fix(KEY, 0));
        if v == 1 {
            c.fixes.push(Fix::Manual {
                text:
                    "or keep 1 and put the mayfly user in the group named by kernel.io_uring_group"
                        .into(),
            });
        }
    }
    c
}

/// io_uring features Mayfly uses, with the kernel release that brought them.
const IO_URING_FEATURES: &[((u32, u32), &str)] = &[
    ((5, 6), "accept/send/recv opcodes"),
    ((5, 7), "fast poll"),
    ((5, 19), "multishot accept, provided buffer rings"),
    ((6, 0), "multishot recv, single-issuer rings"),
    ((6, 1), "deferred task running"),
];

fn check_kernel(facts: &HostFacts) -> Check {
    const ID: &str = "kernel.io_uring";
    const TITLE: &str = "kernel and io_uring features";
    let why_base = "Mayfly needs io_uring's network opcodes (5.6) and uses multishot accept and \
                    provided buffer rings (5.19), multishot recv (6.0) and deferred task running \
                    (6.1) where present, falling back without them";
    let release = facts.kernel_release.clone();
    let version = release.as_deref().and_then(kernel_version);
    let mut c = match version {
        None => {
            check(ID, TITLE, Verdict::Skip, "kernel release unknown".into(), ">= 6.1", why_base)
        }
        Some(v) => {
            let missing: Vec<&str> =
                IO_URING_FEATURES.iter().filter(|(since, _)| v < *since).map(|(_, f)| *f).collect();
            let verdict = if v < (5, 6) {
                Verdict::Fail
            } else if missing.is_empty() {
                Verdict::Ok
            } else {
                Verdict::Warn
            };
            let mut current = release.clone().unwrap_or_default();
            if !missing.is_empty() {
                current.push_str(&format!(" (missing: {})", missing.join("; ")));
            }
            let mut c = check(ID, TITLE, verdict, current, ">= 6.1", why_base);
            if verdict != Verdict::Ok {
                c.fixes.push(Fix::Manual {
                    text: "upgrade to a 6.1+ kernel (distribution HWE/backport kernels have it)"
                        .into(),
                });
            }
            c
        }
    };
    match &facts.io_uring {
        Some(IoUringProbe::Available { features }) => {
            c.current.push_str(&format!("; io_uring_setup ok (features 0x{features:x})"));
        }
        Some(IoUringProbe::Unavailable { errno, message }) => {
            c.verdict = Verdict::Fail;
            c.current.push_str(&format!("; io_uring_setup failed: {message}"));
            let hint = if *errno == libc::ENOSYS {
                "the kernel is built without io_uring (CONFIG_IO_URING): use a kernel with it"
            } else {
                "io_uring is blocked: set kernel.io_uring_disabled=0, or allow io_uring_setup, \
                 io_uring_enter and io_uring_register in the container's seccomp profile"
            };
            c.fixes.push(Fix::Manual { text: hint.into() });
        }
        None => {}
    }
    c
}

fn check_governor(sys: &SysRoot, plan: &Plan) -> Check {
    const ID: &str = "cpufreq.governor";
    const TITLE: &str = "CPU frequency governor (shard CPUs)";
    let why = "power-saving governors lower the clock while a shard waits on the network and \
               take milliseconds to ramp up again: latency grows exactly at light load";
    let mut by_governor: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    let mut fixes = Vec::new();
    let mut no_performance = Vec::new();
    for cpu in plan.shard_cpus() {
        let dir = format!("/sys/devices/system/cpu/cpu{cpu}/cpufreq");
        let Some(gov) = sys.read_trimmed(&format!("{dir}/scaling_governor")) else {
            continue;
        };
        if gov != "performance" {
            let available = sys.read(&format!("{dir}/scaling_available_governors"));
            if available
                .as_deref()
                .is_some_and(|a| !a.split_whitespace().any(|g| g == "performance"))
            {
                no_performance.push(cpu);
            } else {
                fixes.push(Fix::Sysfs {
                    path: format!("{dir}/scaling_governor"),
                    value: "performance".into(),
                });
            }
        }
        by_governor.entry(gov).or_default().push(cpu);
    }
    if by_governor.is_empty() {
        return check(
            ID,
            TITLE,
            Verdict::Skip,
            "no cpufreq (VM, or firmware controls frequency)".into(),
            "performance",
            why,
        );
    }
    let current = by_governor
        .iter()
        .map(|(g, cpus)| format!("{g} on {}", format_list(cpus)))
        .collect::<Vec<_>>()
        .join(", ");
    let all_performance = by_governor.keys().all(|g| g == "performance");
    let mut c = check(
        ID,
        TITLE,
        if all_performance { Verdict::Ok } else { Verdict::Warn },
        current,
        "performance",
        why,
    );
    c.fixes = fixes;
    if !no_performance.is_empty() {
        c.fixes.push(Fix::Manual {
            text: format!(
                "CPUs {} offer no 'performance' governor: set the BIOS power profile to performance",
                format_list(&no_performance)
            ),
        });
    }
    c
}

/// Current affinity of an IRQ: `smp_affinity_list`, else the hex `smp_affinity`.
fn irq_affinity(sys: &SysRoot, irq: usize) -> Option<Vec<usize>> {
    sys.read(&format!("/proc/irq/{irq}/smp_affinity_list"))
        .and_then(|s| cpulist::parse_list(&s))
        .or_else(|| {
            sys.read(&format!("/proc/irq/{irq}/smp_affinity")).and_then(|s| cpulist::parse_mask(&s))
        })
}

/// Is a process named `irqbalance` running (it rewrites IRQ affinity every 10 s)?
fn irqbalance_running(sys: &SysRoot) -> bool {
    sys.list("/proc").iter().filter_map(|n| numbered(n, "")).any(|pid| {
        sys.read_trimmed(&format!("/proc/{pid}/comm")).is_some_and(|c| c == "irqbalance")
    })
}

fn check_irq_affinity(sys: &SysRoot, topo: &Topology, plan: &Plan) -> Check {
    const ID: &str = "irq.affinity";
    const TITLE: &str = "NIC queue IRQ affinity";
    let recommended = format!("CPUs {}", format_list(&plan.irq_cpus));
    let why = "a queue interrupt and its softirq run on the CPU the IRQ is routed to; routed to a \
               shard CPU that is not meant for it, packet processing preempts the shard";
    let nics: Vec<_> = topo.nics.iter().filter(|n| !n.queue_irqs.is_empty()).collect();
    if nics.is_empty() {
        return check(
            ID,
            TITLE,
            Verdict::Skip,
            "no NIC queue interrupts found".into(),
            &recommended,
            why,
        );
    }
    let mut parts = Vec::new();
    let mut misplaced = Vec::new();
    let mut unreadable_irqs = Vec::new();
    let mut fixes = Vec::new();
    for nic in &nics {
        let mut cpus_seen: Vec<usize> = Vec::new();
        for (i, &irq) in nic.queue_irqs.iter().enumerate() {
            match irq_affinity(sys, irq) {
                Some(aff) => {
                    if aff.is_empty() || !aff.iter().all(|c| plan.irq_cpus.contains(c)) {
                        misplaced.push(irq);
                    }
                    cpus_seen.extend(aff);
                }
                None => unreadable_irqs.push(irq),
            }
            // One queue per CPU, round-robin: spreads the load instead of letting the kernel
            // deliver every queue's interrupts to the first CPU of a mask.
            if !plan.irq_cpus.is_empty() {
                let target = plan.irq_cpus[i % plan.irq_cpus.len()];
                fixes.push(Fix::Sysfs {
                    path: format!("/proc/irq/{irq}/smp_affinity_list"),
                    value: target.to_string(),
                });
            }
        }
        cpus_seen.sort_unstable();
        cpus_seen.dedup();
        let node = nic.node.map_or("node ?".to_string(), |n| format!("node {n}"));
        parts.push(format!(
            "{} ({node}): {} queue IRQs on CPUs {}",
            nic.name,
            nic.queue_irqs.len(),
            format_list(&cpus_seen)
        ));
    }
    let mut current = parts.join("; ");
    if !unreadable_irqs.is_empty() {
        current
            .push_str(&format!("; affinity unreadable for IRQs {}", format_list(&unreadable_irqs)));
    }
    let verdict = if !misplaced.is_empty() {
        Verdict::Warn
    } else if unreadable_irqs.len() == nics.iter().map(|n| n.queue_irqs.len()).sum::<usize>() {
        Verdict::Skip
    } else {
        Verdict::Ok
    };
    let mut c = check(ID, TITLE, verdict, current, &recommended, why);
    if verdict == Verdict::Warn {
        c.fixes = fixes;
        let shard_cpus = plan.shard_cpus();
        if irqbalance_running(sys) {
            let spare_mode = plan.irq_cpus.iter().all(|c| !shard_cpus.contains(c));
            c.fixes.push(Fix::Manual {
                text: if spare_mode {
                    format!(
                        "irqbalance is running and will move them back: set IRQBALANCE_BANNED_CPULIST={} \
                         in /etc/default/irqbalance (or stop it)",
                        format_list(&shard_cpus)
                    )
                } else {
                    "irqbalance is running and will move them back: systemctl disable --now irqbalance".into()
                },
            });
        }
        c.fixes.push(Fix::Manual {
            text:
                "IRQ affinity resets on reboot and driver reload: re-run `mayfly-tune apply --yes` \
                   at boot (see `--print-systemd`)"
                    .into(),
        });
    }
    c
}

fn check_numa_balancing(sys: &SysRoot, topo: &Topology) -> Check {
    const KEY: &str = "kernel.numa_balancing";
    let why = "automatic NUMA balancing unmaps pages to sample accesses and migrates them; with \
               pinned shards and node-bound memory it only adds page faults and latency";
    if topo.nodes.len() <= 1 {
        return check(KEY, KEY, Verdict::Skip, "one NUMA node".into(), "0", why);
    }
    let Some(v) = sys.read_i64(&sysctl_path(KEY)) else {
        return unreadable(KEY, KEY, "0", why);
    };
    let verdict = if v == 0 { Verdict::Ok } else { Verdict::Warn };
    let mut c = check(KEY, KEY, verdict, v.to_string(), "0", why);
    if verdict != Verdict::Ok {
        c.fixes.push(sysctl_fix(KEY, 0));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracketed_choice_is_extracted() {
        assert_eq!(bracketed("always [madvise] never"), Some("madvise"));
        assert_eq!(bracketed("[always] defer"), Some("always"));
        assert_eq!(bracketed("never"), None);
    }

    #[test]
    fn sysctl_keys_map_to_proc_paths() {
        assert_eq!(
            sysctl_path("net.ipv4.tcp_max_syn_backlog"),
            "/proc/sys/net/ipv4/tcp_max_syn_backlog"
        );
    }

    #[test]
    fn bytes_format_in_binary_units() {
        assert_eq!(fmt_bytes(Some(8 << 20)), "8 MiB");
        assert_eq!(fmt_bytes(Some(65536)), "64 KiB");
        assert_eq!(fmt_bytes(Some(1000)), "1000 B");
        assert_eq!(fmt_bytes(None), "unlimited");
    }
}
