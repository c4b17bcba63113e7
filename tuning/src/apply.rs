//! Turning a check report into changes: the list of writes (shown first, performed only when
//! the operator says `--yes`), or persistent snippets for /etc/sysctl.d and a systemd drop-in.
//!
//! Writes go below the same root the checks read, so tests apply to a temporary fixture copy
//! and never to the real /proc or /sys. Files are opened without `O_CREAT`: a sysctl or sysfs
//! knob that does not exist is an error, not a new file.

use std::io::{self, Write};
use std::path::Path;

use crate::checks::{Fix, Report, Verdict};
use crate::cpulist::format_list;
use crate::placement::Plan;
use crate::sysroot::SysRoot;

/// One file write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(serde::Serialize))]
pub struct Change {
    /// The check that asked for it.
    pub check: String,
    /// Path as on the live system (`/proc/sys/vm/swappiness`).
    pub path: String,
    /// The sysctl name, when the change is a sysctl.
    pub sysctl: Option<String>,
    pub current: Option<String>,
    pub value: String,
}

/// The sysctl and sysfs writes recommended by non-ok checks, with current values read from
/// `root`. Limits and manual steps are not writes; see [`systemd_snippet`].
pub fn planned_changes(root: &Path, report: &Report) -> Vec<Change> {
    let sys = SysRoot::new(root);
    let mut out: Vec<Change> = Vec::new();
    for check in report.checks.iter().filter(|c| matches!(c.verdict, Verdict::Warn | Verdict::Fail))
    {
        for fix in &check.fixes {
            let (path, sysctl, value) = match fix {
                Fix::Sysctl { key, value } => (
                    format!("/proc/sys/{}", key.replace('.', "/")),
                    Some(key.clone()),
                    value.clone(),
                ),
                Fix::Sysfs { path, value } => (path.clone(), None, value.clone()),
                Fix::Systemd { .. } | Fix::Manual { .. } => continue,
            };
            if out.iter().any(|c| c.path == path) {
                continue;
            }
            let current = sys.read_trimmed(&path);
            out.push(Change { check: check.id.clone(), path, sysctl, current, value });
        }
    }
    out
}

/// Performs the writes below `root`; one result per change, in order. Keeps going after a
/// failure (a managed IRQ refusing a new affinity must not stop the sysctls).
pub fn apply_changes(root: &Path, changes: &[Change]) -> Vec<io::Result<()>> {
    let sys = SysRoot::new(root);
    changes
        .iter()
        .map(|change| {
            let path = sys.path(&change.path);
            let mut file = std::fs::OpenOptions::new().write(true).truncate(true).open(&path)?;
            file.write_all(format!("{}\n", change.value).as_bytes())
        })
        .collect()
}

/// An `/etc/sysctl.d/90-mayfly.conf` with every recommended sysctl.
pub fn sysctl_snippet(report: &Report) -> String {
    let mut out = String::from(
        "# /etc/sysctl.d/90-mayfly.conf — written by `mayfly-tune apply --print-sysctl`\n\
         # Load now with: sysctl --system\n",
    );
    let mut any = false;
    for check in report.checks.iter().filter(|c| matches!(c.verdict, Verdict::Warn | Verdict::Fail))
    {
        for fix in &check.fixes {
            if let Fix::Sysctl { key, value } = fix {
                out.push_str(&format!(
                    "# {}: was {}\n{key} = {value}\n",
                    check.title, check.current
                ));
                any = true;
            }
        }
    }
    if !any {
        out.push_str("# nothing to change: every sysctl check passed\n");
    }
    out
}

/// A systemd drop-in for mayfly.service: the limits the checks want, the sysfs writes as
/// privileged `ExecStartPre=+` lines (they reset on reboot, so they belong at start-up), and
/// the shard CPUs as a commented-out `CPUAffinity=`.
pub fn systemd_snippet(report: &Report, plan: &Plan) -> String {
    let mut out = String::from(
        "# /etc/systemd/system/mayfly.service.d/tuning.conf — written by `mayfly-tune apply --print-systemd`\n\
         # Load with: systemctl daemon-reload && systemctl restart mayfly\n[Service]\n",
    );
    let mut limits = Vec::new();
    let mut pre = Vec::new();
    for check in report.checks.iter().filter(|c| matches!(c.verdict, Verdict::Warn | Verdict::Fail))
    {
        for fix in &check.fixes {
            match fix {
                Fix::Systemd { directive, value } => limits.push(format!("{directive}={value}")),
                Fix::Sysfs { path, value } => {
                    pre.push(format!("ExecStartPre=+/bin/sh -c 'echo {value} > {path} || true'"))
                }
                Fix::Sysctl { .. } | Fix::Manual { .. } => {}
            }
        }
    }
    if limits.is_empty() {
        out.push_str("# limits already fine for this shell; the unit's own values still apply\n");
    }
    for l in limits {
        out.push_str(&l);
        out.push('\n');
    }
    for p in pre {
        out.push_str(&p);
        out.push('\n');
    }
    out.push_str(&format!(
        "# Optional: confine the whole service to the planned shard CPUs\n#CPUAffinity={}\n",
        format_list(&plan.shard_cpus()).replace(',', " ")
    ));
    out
}
