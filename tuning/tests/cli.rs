//! The `mayfly-tune` binary against fixture trees: output, JSON, exit codes, and that `apply`
//! writes nothing without `--yes`.

mod common;

use std::process::{Command, Output};

use common::{copy_fixture, fixture, read};

fn tune(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mayfly-tune")).args(args).output().expect("run mayfly-tune")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}

fn root(name: &str) -> String {
    fixture(name).display().to_string()
}

#[test]
fn topology_describes_each_fixture() {
    let out = tune(&["--root", &root("2socket-2x16-smt"), "topology"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("Machine: 64 CPUs (32 cores, SMT on), 2 packages, 2 NUMA nodes"),
        "{text}"
    );
    assert!(text.contains("node 1   cpus 16-31,48-63"), "{text}");
    assert!(text.contains("ens1f0     node 1"), "{text}");

    let out = tune(&["--root", &root("epyc-4node"), "topology", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("topology JSON");
    assert_eq!(json["nodes"].as_array().unwrap().len(), 4);
    assert_eq!(json["cpus"].as_array().unwrap().len(), 64);
    assert_eq!(json["nics"][0]["node"], 2);
}

#[test]
fn plan_honours_shards_smt_and_cpus() {
    let r = root("2socket-2x16-smt");
    let text = stdout(&tune(&["--root", &r, "plan", "--shards", "8"]));
    assert!(text.contains("Plan: 8 shards on CPUs 16-23, memory from node(s) 1"), "{text}");
    let json: serde_json::Value =
        serde_json::from_slice(&tune(&["--root", &r, "plan", "--use-smt", "--json"]).stdout)
            .unwrap();
    assert_eq!(json["shards"].as_array().unwrap().len(), 64);
    assert_eq!(json["shards"][63]["cpu"], 63);
    assert_eq!(json["shards"][63]["node"], 1);
    let text = stdout(&tune(&["--root", &r, "plan", "--cpus", "0-3"]));
    assert!(text.contains("Plan: 4 shards on CPUs 0-3"), "{text}");
    let bad = tune(&["--root", &r, "plan", "--cpus", "zero"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--cpus"));
}

#[test]
fn check_exit_status_follows_the_worst_verdict() {
    let good = tune(&["--root", &root("2socket-2x16-smt"), "check"]);
    assert_eq!(good.status.code(), Some(0));
    assert!(stdout(&good).contains("Summary: 13 ok, 0 warn, 0 fail, 0 n/a."), "{}", stdout(&good));

    let bad = tune(&["--root", &root("epyc-4node"), "check"]);
    assert_eq!(bad.status.code(), Some(1));
    let text = stdout(&bad);
    assert!(text.contains("[FAIL] vm.overcommit_memory"), "{text}");
    assert!(text.contains("fix:  sysctl -w vm.overcommit_memory=1"), "{text}");
}

#[test]
fn check_json_has_verdicts_fixes_and_plan() {
    let out = tune(&["--root", &root("vm-1node-2cpu"), "check", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("check JSON");
    let checks = json["report"]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 13);
    let swap = checks.iter().find(|c| c["id"] == "vm.swappiness").unwrap();
    assert_eq!(swap["verdict"], "warn");
    assert_eq!(swap["current"], "60");
    assert_eq!(swap["fixes"][0]["kind"], "sysctl");
    assert_eq!(swap["fixes"][0]["value"], "1");
    assert_eq!(json["plan"]["shards"].as_array().unwrap().len(), 2);
    assert_eq!(json["facts"]["kernel_release"], "6.18.44-fc-v669");
}

#[test]
fn apply_shows_but_does_not_write_without_yes() {
    let dir = copy_fixture("vm-1node-2cpu");
    let r = dir.path().display().to_string();
    let out = tune(&["--root", &r, "apply"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("vm.swappiness"), "{text}");
    assert!(text.contains("60 -> 1"), "{text}");
    assert!(text.contains("Dry run: nothing written"), "{text}");
    assert_eq!(read(dir.path(), "/proc/sys/vm/swappiness"), "60");

    for flag in ["--print-sysctl", "--print-systemd"] {
        let out = tune(&["--root", &r, "apply", flag]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(read(dir.path(), "/proc/sys/vm/swappiness"), "60", "{flag} must not write");
    }
    assert!(stdout(&tune(&["--root", &r, "apply", "--print-sysctl"])).contains("vm.swappiness = 1"));
    assert!(stdout(&tune(&["--root", &r, "apply", "--print-systemd"]))
        .contains("LimitMEMLOCK=infinity"));

    // --yes with a print flag is refused by the parser: nothing written.
    let out = tune(&["--root", &r, "apply", "--yes", "--print-sysctl"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(read(dir.path(), "/proc/sys/vm/swappiness"), "60");

    let out = tune(&["--root", &r, "apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("3 written, 0 failed"), "{}", stdout(&out));
    assert_eq!(read(dir.path(), "/proc/sys/vm/swappiness"), "1");
    assert_eq!(read(dir.path(), "/proc/sys/vm/overcommit_memory"), "1");
    assert_eq!(read(dir.path(), "/proc/sys/net/ipv4/tcp_max_syn_backlog"), "4096");
    assert!(stdout(&tune(&["--root", &r, "apply"])).contains("Nothing to write"));
}

#[test]
fn missing_root_is_a_clear_error() {
    let out = tune(&["--root", "/nonexistent/mayfly-fixture", "topology"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no CPUs found"));
}
