//! The deployment files stay in step with the server: `deploy/mayfly.conf` documents every
//! parameter of the engine's `PARAMS` table (read as text: tuning does not link the engine)
//! and sets only real ones; `deploy/mayfly.service` carries the limits the checks want.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Parameter names and aliases from the `PARAMS` table in engine/src/config.rs.
fn engine_params() -> (Vec<String>, Vec<String>) {
    let src = read("engine/src/config.rs");
    let start = src.find("pub static PARAMS").expect("PARAMS table");
    let table = &src[start..];
    let table = &table[..table.find("\n];").expect("end of PARAMS")];
    let first_literal = |s: &str| -> Option<String> {
        let open = s.find('"')?;
        let close = s[open + 1..].find('"')? + open + 1;
        Some(s[open + 1..close].to_string())
    };
    let mut names = Vec::new();
    let mut aliases = Vec::new();
    for (i, _) in table.match_indices("name: \"") {
        names.extend(first_literal(&table[i..]));
    }
    for pat in ["param!(", "fixed!(", "inert!("] {
        for (i, _) in table.match_indices(pat) {
            names.extend(first_literal(&table[i..]));
        }
    }
    for (i, _) in table.match_indices("Some(\"") {
        aliases.extend(first_literal(&table[i..]));
    }
    names.sort();
    names.dedup();
    (names, aliases)
}

/// Directives in the conf: (name, active?) for `name value` and `# name value` lines.
fn conf_directives(conf: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for line in conf.lines() {
        let (text, active) = match line.strip_prefix("# ") {
            Some(rest) => (rest, false),
            None if line.starts_with('#') || line.trim().is_empty() => continue,
            None => (line, true),
        };
        let Some(name) = text.split_whitespace().next() else { continue };
        let is_name = name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
            && text.split_whitespace().count() >= 2;
        if is_name {
            out.push((name.to_string(), active));
        }
    }
    out
}

#[test]
fn sample_conf_documents_every_parameter() {
    let (names, aliases) = engine_params();
    assert!(names.len() >= 40, "parsed only {names:?}");
    let conf = read("deploy/mayfly.conf");
    let directives = conf_directives(&conf);
    for name in names.iter().map(String::as_str).chain(["shards", "use-smt"]) {
        assert!(
            directives.iter().any(|(d, _)| d == name),
            "deploy/mayfly.conf does not document `{name}`"
        );
    }
    for alias in &aliases {
        assert!(conf.contains(alias.as_str()), "alias {alias} not mentioned");
    }
    // Active lines must be parameters the server knows, or it refuses to start.
    for (d, active) in &directives {
        if *active {
            assert!(names.contains(d), "deploy/mayfly.conf sets unknown parameter `{d}`");
        }
    }
}

#[test]
fn systemd_unit_sets_limits_and_runs_the_check() {
    let unit = read("deploy/mayfly.service");
    for section in ["[Unit]", "[Service]", "[Install]"] {
        assert!(unit.lines().any(|l| l == section), "missing {section}");
    }
    let value = |key: &str| -> Option<String> {
        unit.lines().find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
    };
    let nofile: u64 = value("LimitNOFILE").expect("LimitNOFILE").parse().expect("number");
    // Default maxclients + reserve + 4 descriptors for each of up to 1024 shards.
    assert!(nofile >= 10_000 + 32 + 4 * 1024, "LimitNOFILE={nofile}");
    assert_eq!(value("LimitMEMLOCK").as_deref(), Some("infinity"));
    assert!(value("ExecStart").expect("ExecStart").ends_with("mayfly /etc/mayfly/mayfly.conf"));
    assert!(
        value("ExecStartPre").expect("ExecStartPre").starts_with("-"),
        "check must not block start"
    );
    assert!(
        unit.lines().any(|l| l.starts_with("#CPUAffinity=")),
        "optional CPUAffinity documented"
    );
    assert!(value("SystemCallFilter").is_none(), "a syscall filter would block io_uring");
}
