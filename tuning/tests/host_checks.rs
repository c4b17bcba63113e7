//! Host checks on fixture trees with good and bad settings: verdicts and suggested fixes;
//! `apply` against temporary copies (never the real /proc or /sys).

mod common;

use std::path::Path;

use common::{copy_fixture, fixture, read, write};
use mayfly_tuning::apply::{
    apply_changes, planned_changes, sysctl_snippet, systemd_snippet, Change,
};
use mayfly_tuning::checks::{run_checks, CheckOptions, Fix, Report, Verdict};
use mayfly_tuning::facts::{HostFacts, IoUringProbe, Limit};
use mayfly_tuning::placement::{plan, Plan, PlanOptions};
use mayfly_tuning::Topology;

fn report_for(root: &Path) -> (Report, Plan) {
    let topo = Topology::read(root).expect("topology");
    let p = plan(&topo, &PlanOptions::default());
    let facts = HostFacts::read(root);
    (run_checks(root, &topo, &p, &facts, &CheckOptions::default()), p)
}

fn verdict(r: &Report, id: &str) -> Verdict {
    r.check(id).unwrap_or_else(|| panic!("no check {id}")).verdict
}

fn fixes(r: &Report, id: &str) -> Vec<Fix> {
    r.check(id).unwrap_or_else(|| panic!("no check {id}")).fixes.clone()
}

fn sysctl(key: &str, value: &str) -> Fix {
    Fix::Sysctl { key: key.into(), value: value.into() }
}

const ALL_IDS: [&str; 13] = [
    "thp",
    "thp-defrag",
    "vm.overcommit_memory",
    "vm.swappiness",
    "net.core.somaxconn",
    "net.ipv4.tcp_max_syn_backlog",
    "limit.nofile",
    "limit.memlock",
    "kernel.io_uring_disabled",
    "kernel.io_uring",
    "cpufreq.governor",
    "irq.affinity",
    "kernel.numa_balancing",
];

#[test]
fn every_check_runs_on_every_tree() {
    for name in ["vm-1node-2cpu", "2socket-2x16-smt", "epyc-4node", "container-no-sysfs"] {
        let (r, _) = report_for(&fixture(name));
        let ids: Vec<&str> = r.checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ALL_IDS, "{name}");
    }
}

#[test]
fn tuned_two_socket_box_passes_everything() {
    let (r, p) = report_for(&fixture("2socket-2x16-smt"));
    for c in &r.checks {
        assert_eq!(c.verdict, Verdict::Ok, "{}: {}", c.id, c.current);
        assert!(c.fixes.is_empty(), "{}", c.id);
    }
    assert_eq!(r.worst(), Verdict::Ok);
    assert_eq!(p.irq_cpus.len(), 16);
    assert!(r
        .check("irq.affinity")
        .unwrap()
        .current
        .contains("ens1f0 (node 1): 16 queue IRQs on CPUs 48-63"));
    assert!(planned_changes(&fixture("2socket-2x16-smt"), &r).is_empty());
}

#[test]
fn vm_with_distro_defaults() {
    let (r, _) = report_for(&fixture("vm-1node-2cpu"));
    assert_eq!(verdict(&r, "thp"), Verdict::Ok);
    assert_eq!(r.check("thp").unwrap().current, "madvise");
    assert_eq!(verdict(&r, "thp-defrag"), Verdict::Ok);
    assert_eq!(verdict(&r, "vm.overcommit_memory"), Verdict::Warn);
    assert_eq!(fixes(&r, "vm.overcommit_memory"), vec![sysctl("vm.overcommit_memory", "1")]);
    assert_eq!(verdict(&r, "vm.swappiness"), Verdict::Warn);
    assert_eq!(fixes(&r, "vm.swappiness"), vec![sysctl("vm.swappiness", "1")]);
    assert_eq!(verdict(&r, "net.core.somaxconn"), Verdict::Ok);
    assert_eq!(verdict(&r, "net.ipv4.tcp_max_syn_backlog"), Verdict::Warn);
    assert_eq!(
        fixes(&r, "net.ipv4.tcp_max_syn_backlog"),
        vec![sysctl("net.ipv4.tcp_max_syn_backlog", "4096")]
    );
    assert_eq!(verdict(&r, "limit.nofile"), Verdict::Ok);
    assert_eq!(verdict(&r, "limit.memlock"), Verdict::Warn);
    assert_eq!(r.check("limit.memlock").unwrap().current, "soft 8 MiB / hard 8 MiB");
    assert!(fixes(&r, "limit.memlock")
        .contains(&Fix::Systemd { directive: "LimitMEMLOCK".into(), value: "infinity".into() }));
    assert_eq!(verdict(&r, "kernel.io_uring_disabled"), Verdict::Ok);
    assert_eq!(verdict(&r, "kernel.io_uring"), Verdict::Ok);
    assert_eq!(verdict(&r, "cpufreq.governor"), Verdict::Skip, "a VM has no cpufreq");
    assert_eq!(verdict(&r, "irq.affinity"), Verdict::Ok);
    assert_eq!(verdict(&r, "kernel.numa_balancing"), Verdict::Skip, "one node");
    assert_eq!(r.worst(), Verdict::Warn);
    assert_eq!((r.count(Verdict::Ok), r.count(Verdict::Warn), r.count(Verdict::Skip)), (7, 4, 2));
}

#[test]
fn badly_tuned_epyc_box() {
    let (r, p) = report_for(&fixture("epyc-4node"));
    assert_eq!(verdict(&r, "thp"), Verdict::Warn);
    assert!(fixes(&r, "thp").contains(&Fix::Sysfs {
        path: "/sys/kernel/mm/transparent_hugepage/enabled".into(),
        value: "madvise".into()
    }));
    assert_eq!(verdict(&r, "thp-defrag"), Verdict::Warn);
    assert_eq!(verdict(&r, "vm.overcommit_memory"), Verdict::Fail);
    assert_eq!(verdict(&r, "vm.swappiness"), Verdict::Warn);
    assert_eq!(verdict(&r, "net.core.somaxconn"), Verdict::Fail, "128 truncates a 511 backlog");
    assert_eq!(fixes(&r, "net.core.somaxconn"), vec![sysctl("net.core.somaxconn", "4096")]);
    assert_eq!(verdict(&r, "net.ipv4.tcp_max_syn_backlog"), Verdict::Warn);
    // 1024/4096 open files: even the hard limit is below maxclients + reserve.
    assert_eq!(verdict(&r, "limit.nofile"), Verdict::Fail);
    assert!(fixes(&r, "limit.nofile")
        .contains(&Fix::Systemd { directive: "LimitNOFILE".into(), value: "65536".into() }));
    // Kernel 5.4: rings are charged to memlock, and 64 KiB is far too little.
    assert_eq!(verdict(&r, "limit.memlock"), Verdict::Fail);
    assert_eq!(verdict(&r, "kernel.io_uring_disabled"), Verdict::Fail);
    assert_eq!(
        fixes(&r, "kernel.io_uring_disabled"),
        vec![sysctl("kernel.io_uring_disabled", "0")]
    );
    assert_eq!(verdict(&r, "kernel.io_uring"), Verdict::Fail, "5.4 lacks the network opcodes");
    assert!(r.check("kernel.io_uring").unwrap().current.contains("multishot accept"));
    // powersave on all 32 shard CPUs: one sysfs fix per CPU.
    assert_eq!(verdict(&r, "cpufreq.governor"), Verdict::Warn);
    let gov = fixes(&r, "cpufreq.governor");
    assert_eq!(gov.len(), 32);
    assert!(gov.contains(&Fix::Sysfs {
        path: "/sys/devices/system/cpu/cpu17/cpufreq/scaling_governor".into(),
        value: "performance".into()
    }));
    // Queue IRQs on all 64 CPUs: moved one per CPU to node 2's idle siblings, and irqbalance flagged.
    assert_eq!(verdict(&r, "irq.affinity"), Verdict::Warn);
    assert_eq!(p.irq_cpus, (48..56).collect::<Vec<_>>());
    let irq = fixes(&r, "irq.affinity");
    for q in 0..8 {
        assert!(irq.contains(&Fix::Sysfs {
            path: format!("/proc/irq/{}/smp_affinity_list", 201 + q),
            value: (48 + q).to_string()
        }));
    }
    assert!(irq.iter().any(
        |f| matches!(f, Fix::Manual { text } if text.contains("IRQBALANCE_BANNED_CPULIST=0-31"))
    ));
    assert_eq!(verdict(&r, "kernel.numa_balancing"), Verdict::Warn);
    assert_eq!(r.worst(), Verdict::Fail);
    assert_eq!(r.count(Verdict::Ok), 0);
}

#[test]
fn container_without_proc_sys_skips_rather_than_guesses() {
    let (r, _) = report_for(&fixture("container-no-sysfs"));
    for c in &r.checks {
        assert_eq!(c.verdict, Verdict::Skip, "{}: {}", c.id, c.current);
    }
    assert_eq!(r.worst(), Verdict::Ok);
}

#[test]
fn thresholds_at_their_edges() {
    let dir = copy_fixture("vm-1node-2cpu");
    let root = dir.path();
    let cases: &[(&str, &str, &str, Verdict)] = &[
        ("vm.overcommit_memory", "/proc/sys/vm/overcommit_memory", "1", Verdict::Ok),
        ("vm.overcommit_memory", "/proc/sys/vm/overcommit_memory", "2", Verdict::Fail),
        ("vm.swappiness", "/proc/sys/vm/swappiness", "10", Verdict::Ok),
        ("vm.swappiness", "/proc/sys/vm/swappiness", "11", Verdict::Warn),
        ("net.core.somaxconn", "/proc/sys/net/core/somaxconn", "4095", Verdict::Warn),
        ("net.core.somaxconn", "/proc/sys/net/core/somaxconn", "510", Verdict::Fail),
        (
            "net.ipv4.tcp_max_syn_backlog",
            "/proc/sys/net/ipv4/tcp_max_syn_backlog",
            "4096",
            Verdict::Ok,
        ),
        ("kernel.io_uring_disabled", "/proc/sys/kernel/io_uring_disabled", "1", Verdict::Warn),
        (
            "thp",
            "/sys/kernel/mm/transparent_hugepage/enabled",
            "always madvise [never]",
            Verdict::Ok,
        ),
        (
            "thp",
            "/sys/kernel/mm/transparent_hugepage/enabled",
            "[always] madvise never",
            Verdict::Warn,
        ),
        (
            "thp-defrag",
            "/sys/kernel/mm/transparent_hugepage/defrag",
            "[always] defer",
            Verdict::Warn,
        ),
        ("vm.swappiness", "/proc/sys/vm/swappiness", "not a number", Verdict::Skip),
    ];
    for &(id, path, value, want) in cases {
        write(root, path, value);
        let (r, _) = report_for(root);
        assert_eq!(verdict(&r, id), want, "{id} = {value}");
    }
    // io_uring_disabled absent (kernel < 6.6) is not a failure.
    std::fs::remove_file(root.join("proc/sys/kernel/io_uring_disabled")).unwrap();
    let (r, _) = report_for(root);
    assert_eq!(verdict(&r, "kernel.io_uring_disabled"), Verdict::Skip);
}

fn facts(release: &str, nofile: (Option<u64>, Option<u64>), memlock: Option<u64>) -> HostFacts {
    HostFacts {
        kernel_release: Some(release.into()),
        open_files: Some(Limit { soft: nofile.0, hard: nofile.1 }),
        memlock_bytes: Some(Limit { soft: memlock, hard: memlock }),
        io_uring: None,
    }
}

#[test]
fn injected_facts_drive_limit_and_kernel_checks() {
    let root = fixture("vm-1node-2cpu");
    let topo = Topology::read(&root).unwrap();
    let p = plan(&topo, &PlanOptions::default());
    let run = |f: &HostFacts, maxclients: u64| {
        run_checks(&root, &topo, &p, f, &CheckOptions { maxclients })
    };

    // 2 shards: need maxclients + 32 + 4*2.
    let r = run(&facts("6.8.0", (Some(10_040), Some(10_040)), None), 10_000);
    assert_eq!(verdict(&r, "limit.nofile"), Verdict::Ok);
    assert_eq!(verdict(&r, "limit.memlock"), Verdict::Ok, "unlimited");
    let r = run(&facts("6.8.0", (Some(10_039), Some(65_536)), None), 10_000);
    assert_eq!(verdict(&r, "limit.nofile"), Verdict::Warn, "soft too low, hard fine");
    let r = run(&facts("6.8.0", (Some(1024), Some(1024)), None), 100);
    assert_eq!(verdict(&r, "limit.nofile"), Verdict::Ok, "small maxclients needs few files");
    let r = run(&facts("6.8.0", (None, None), Some(64 << 20)), 10_000);
    assert_eq!(verdict(&r, "limit.nofile"), Verdict::Ok);
    assert_eq!(verdict(&r, "limit.memlock"), Verdict::Ok);
    let r = run(&facts("5.11.0", (None, None), Some(8 << 20)), 10_000);
    assert_eq!(verdict(&r, "limit.memlock"), Verdict::Fail, "rings charged to memlock before 5.12");

    for (release, want) in [
        ("6.1.0-13-amd64", Verdict::Ok),
        ("6.0.9", Verdict::Warn),
        ("5.15.0-91-generic", Verdict::Warn),
        ("5.6.0", Verdict::Warn),
        ("5.5.19", Verdict::Fail),
        ("4.19.0", Verdict::Fail),
    ] {
        let r = run(&facts(release, (None, None), None), 10_000);
        assert_eq!(verdict(&r, "kernel.io_uring"), want, "{release}");
    }

    let mut f = facts("6.8.0", (None, None), None);
    f.io_uring = Some(IoUringProbe::Unavailable {
        errno: libc::EPERM,
        message: "Operation not permitted".into(),
    });
    let r = run(&f, 10_000);
    assert_eq!(verdict(&r, "kernel.io_uring"), Verdict::Fail);
    assert!(fixes(&r, "kernel.io_uring")
        .iter()
        .any(|f| matches!(f, Fix::Manual { text } if text.contains("seccomp"))));
    f.io_uring = Some(IoUringProbe::Available { features: 0x3fff });
    assert_eq!(verdict(&run(&f, 10_000), "kernel.io_uring"), Verdict::Ok);

    let unknown = HostFacts::default();
    let r = run(&unknown, 10_000);
    assert_eq!(verdict(&r, "limit.nofile"), Verdict::Skip);
    assert_eq!(verdict(&r, "kernel.io_uring"), Verdict::Skip);
}

#[test]
fn irq_affinity_on_shard_cpus_is_flagged_when_spare_cpus_exist() {
    let dir = copy_fixture("2socket-2x16-smt");
    let root = dir.path();
    write(root, "/proc/irq/105/smp_affinity_list", "20");
    let (r, _) = report_for(root);
    assert_eq!(verdict(&r, "irq.affinity"), Verdict::Warn);
    assert!(fixes(&r, "irq.affinity").contains(&Fix::Sysfs {
        path: "/proc/irq/105/smp_affinity_list".into(),
        value: "52".into()
    }));
    // No irqbalance in this tree: no advice about it.
    assert!(!fixes(&r, "irq.affinity")
        .iter()
        .any(|f| f.describe().contains("irqbalance is running")));
}

#[test]
fn apply_writes_only_below_the_given_root_and_fixes_the_checks() {
    let dir = copy_fixture("epyc-4node");
    let root = dir.path();
    let (before, p) = report_for(root);
    let changes = planned_changes(root, &before);
    let by_path = |path: &str| -> &Change { changes.iter().find(|c| c.path == path).expect(path) };
    let swap = by_path("/proc/sys/vm/swappiness");
    assert_eq!((swap.current.as_deref(), swap.value.as_str()), (Some("60"), "1"));
    assert_eq!(swap.sysctl.as_deref(), Some("vm.swappiness"));
    let thp = by_path("/sys/kernel/mm/transparent_hugepage/enabled");
    assert_eq!(thp.current.as_deref(), Some("[always] madvise never"));
    // 6 sysctls + 2 THP knobs + 32 governors + 8 IRQs.
    assert_eq!(changes.len(), 6 + 2 + 32 + 8, "{changes:#?}");

    let results = apply_changes(root, &changes);
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(read(root, "/proc/sys/vm/overcommit_memory"), "1");
    assert_eq!(read(root, "/proc/sys/net/core/somaxconn"), "4096");
    assert_eq!(read(root, "/sys/kernel/mm/transparent_hugepage/enabled"), "madvise");
    assert_eq!(read(root, "/sys/devices/system/cpu/cpu31/cpufreq/scaling_governor"), "performance");
    assert_eq!(read(root, "/proc/irq/203/smp_affinity_list"), "50");

    // Every check a write can fix is now ok; limits and the kernel need a person.
    let (after, _) = report_for(root);
    for c in &after.checks {
        let fixed_by_writes =
            !matches!(c.id.as_str(), "limit.nofile" | "limit.memlock" | "kernel.io_uring");
        if fixed_by_writes {
            assert_eq!(c.verdict, Verdict::Ok, "{} still {}", c.id, c.current);
        } else {
            assert_eq!(c.verdict, Verdict::Fail, "{}", c.id);
        }
    }
    assert!(planned_changes(root, &after).is_empty());
    assert_eq!(p.shards.len(), 32);
}

#[test]
fn apply_never_creates_files() {
    let dir = copy_fixture("vm-1node-2cpu");
    let root = dir.path();
    let change = Change {
        check: "test".into(),
        path: "/proc/sys/vm/does_not_exist".into(),
        sysctl: Some("vm.does_not_exist".into()),
        current: None,
        value: "1".into(),
    };
    let results = apply_changes(root, std::slice::from_ref(&change));
    assert!(results[0].is_err());
    assert!(!root.join("proc/sys/vm/does_not_exist").exists());
}

#[test]
fn snippets_list_the_recommended_settings() {
    let (r, p) = report_for(&fixture("epyc-4node"));
    let sysctl = sysctl_snippet(&r);
    for line in [
        "vm.overcommit_memory = 1",
        "vm.swappiness = 1",
        "net.core.somaxconn = 4096",
        "net.ipv4.tcp_max_syn_backlog = 4096",
        "kernel.io_uring_disabled = 0",
        "kernel.numa_balancing = 0",
    ] {
        assert!(sysctl.lines().any(|l| l == line), "missing {line:?} in\n{sysctl}");
    }
    let unit = systemd_snippet(&r, &p);
    assert!(unit.contains("[Service]"));
    assert!(unit.lines().any(|l| l == "LimitNOFILE=65536"), "{unit}");
    assert!(unit.lines().any(|l| l == "LimitMEMLOCK=infinity"), "{unit}");
    assert!(unit.contains("ExecStartPre=+/bin/sh -c 'echo madvise > /sys/kernel/mm/transparent_hugepage/enabled || true'"));
    assert!(unit.contains("#CPUAffinity=0-31"));

    let (good, p) = report_for(&fixture("2socket-2x16-smt"));
    assert!(sysctl_snippet(&good).contains("nothing to change"));
    assert!(!systemd_snippet(&good, &p).contains("Limit"));
}

#[test]
fn irq_affinity_falls_back_to_the_hex_mask() {
    let dir = copy_fixture("2socket-2x16-smt");
    let root = dir.path();
    std::fs::remove_file(root.join("proc/irq/101/smp_affinity_list")).unwrap();
    // Bit 16 of the second 32-bit group: CPU 48, where queue 0 belongs.
    write(root, "/proc/irq/101/smp_affinity", "00010000,00000000");
    let (r, _) = report_for(root);
    assert_eq!(
        verdict(&r, "irq.affinity"),
        Verdict::Ok,
        "{}",
        r.check("irq.affinity").unwrap().current
    );
    write(root, "/proc/irq/101/smp_affinity", "00000000,00000001");
    let (r, _) = report_for(root);
    assert_eq!(verdict(&r, "irq.affinity"), Verdict::Warn);
    std::fs::remove_file(root.join("proc/irq/101/smp_affinity")).unwrap();
    let (r, _) = report_for(root);
    assert!(r.check("irq.affinity").unwrap().current.contains("affinity unreadable for IRQs 101"));
}
