//! Human-readable reports for `mayfly-tune`: plain text, fixed-width columns, no colour, so
//! the output can be pasted into tickets and docs as is.

use std::fmt::Write;

use crate::apply::Change;
use crate::checks::{Report, Verdict};
use crate::cpulist::format_list;
use crate::placement::Plan;
use crate::topology::Topology;

/// Greedy word wrap; a word longer than `width` gets a line of its own.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// One-line summary: `2 CPUs (2 cores, no SMT), 1 package, 1 NUMA node`.
pub fn summary_line(topo: &Topology) -> String {
    let online = topo.online_cpus().len();
    let smt = if topo.smt_active() { "SMT on" } else { "no SMT" };
    format!(
        "{} ({}, {smt}), {}, {}",
        plural(online, "CPU"),
        plural(topo.online_cores(), "core"),
        plural(topo.packages().len(), "package"),
        plural(topo.nodes.len(), "NUMA node")
    )
}

pub fn topology(topo: &Topology) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Machine: {}", summary_line(topo));
    let offline: Vec<usize> = topo.cpus.iter().filter(|c| !c.online).map(|c| c.id).collect();
    let _ = writeln!(out, "Online CPUs: {}", format_list(&topo.online_cpus()));
    if !offline.is_empty() {
        let _ = writeln!(out, "Offline CPUs: {}", format_list(&offline));
    }
    match &topo.affinity {
        Some(mask) => {
            let _ = writeln!(out, "Affinity mask: {}", format_list(mask));
        }
        None => {
            let _ = writeln!(out, "Affinity mask: unknown (all online CPUs)");
        }
    }
    let _ = writeln!(out, "\nNUMA nodes:");
    for node in &topo.nodes {
        let cores = topo.cores.iter().filter(|c| c.node == node.id).count();
        let dist =
            node.distances.iter().map(|(n, d)| format!("{n}:{d}")).collect::<Vec<_>>().join(" ");
        let _ = writeln!(
            out,
            "  node {:<3} cpus {:<24} {:<10} distances {}",
            node.id,
            format_list(&node.cpus),
            plural(cores, "core"),
            if dist.is_empty() { "unknown".into() } else { dist }
        );
    }
    let _ = writeln!(out, "\nPackages:");
    for package in topo.packages() {
        let cpus: Vec<usize> =
            topo.cpus.iter().filter(|c| c.package == package).map(|c| c.id).collect();
        let cores = topo.cores.iter().filter(|c| c.package == package).count();
        let _ = writeln!(
            out,
            "  package {package:<3} cpus {:<24} {}",
            format_list(&cpus),
            plural(cores, "core")
        );
    }
    if topo.smt_active() {
        let _ = writeln!(out, "\nSMT sibling groups (first 8 cores):");
        for core in topo.cores.iter().take(8) {
            let _ = writeln!(out, "  core {:<4} cpus {}", core.index, format_list(&core.cpus));
        }
    }
    let _ = writeln!(out, "\nNetwork interfaces:");
    if topo.nics.is_empty() {
        let _ = writeln!(out, "  none backed by a device");
    }
    for nic in &topo.nics {
        let _ = writeln!(
            out,
            "  {:<10} node {:<4} driver {:<12} queue IRQs {}",
            nic.name,
            nic.node.map_or("?".to_string(), |n| n.to_string()),
            nic.driver.as_deref().unwrap_or("?"),
            if nic.queue_irqs.is_empty() {
                "none found".into()
            } else {
                format_list(&nic.queue_irqs)
            }
        );
    }
    if !topo.notes.is_empty() {
        let _ = writeln!(out, "\nNotes:");
        for note in &topo.notes {
            let _ = writeln!(out, "  - {note}");
        }
    }
    out
}

pub fn plan(topo: &Topology, plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Machine: {}", summary_line(topo));
    let _ = writeln!(
        out,
        "Plan: {} on CPUs {}, memory from node(s) {}",
        plural(plan.shards.len(), "shard"),
        format_list(&plan.shard_cpus()),
        format_list(&plan.shards.iter().map(|s| s.node).collect::<Vec<_>>())
    );
    let _ = writeln!(out, "NIC interrupts: CPUs {}", format_list(&plan.irq_cpus));
    let _ = writeln!(out, "\n  shard  cpu   node  core  siblings");
    for s in &plan.shards {
        let (core, sibs) = topo.cpu(s.cpu).map_or(("?".to_string(), "?".to_string()), |c| {
            (c.core.to_string(), format_list(&c.siblings))
        });
        let _ = writeln!(out, "  {:<6} {:<5} {:<5} {:<5} {}", s.shard, s.cpu, s.node, core, sibs);
    }
    if !plan.notes.is_empty() {
        let _ = writeln!(out, "\nNotes:");
        for note in &plan.notes {
            let _ = writeln!(out, "  - {note}");
        }
    }
    out
}

pub fn report(topo: &Topology, plan: &Plan, report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Mayfly host check (root {})", report.root);
    let _ = writeln!(out, "Machine: {}", summary_line(topo));
    let _ = writeln!(
        out,
        "Plan: {} on CPUs {}; NIC interrupts on CPUs {}\n",
        plural(plan.shards.len(), "shard"),
        format_list(&plan.shard_cpus()),
        format_list(&plan.irq_cpus)
    );
    for c in &report.checks {
        let _ = writeln!(out, "[{:^4}] {:<36} {}", c.verdict.label(), c.title, c.current);
        if matches!(c.verdict, Verdict::Warn | Verdict::Fail) {
            let _ = writeln!(out, "       want: {}", c.recommended);
            for (label, text) in std::iter::once(("why: ", c.why.clone()))
                .chain(c.fixes.iter().map(|f| ("fix: ", f.describe())))
            {
                for (i, line) in wrap(&text, 84).iter().enumerate() {
                    let label = if i == 0 { label } else { "     " };
                    let _ = writeln!(out, "       {label} {line}");
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "\nSummary: {} ok, {} warn, {} fail, {} n/a.",
        report.count(Verdict::Ok),
        report.count(Verdict::Warn),
        report.count(Verdict::Fail),
        report.count(Verdict::Skip)
    );
    if report.worst() != Verdict::Ok {
        let _ = writeln!(
            out,
            "`mayfly-tune apply` shows the writes (`--yes` performs them); \
             `--print-sysctl` / `--print-systemd` print persistent snippets."
        );
    }
    out
}

pub fn changes(changes: &[Change]) -> String {
    let mut out = String::new();
    if changes.is_empty() {
        let _ = writeln!(out, "Nothing to write: no sysctl or sysfs check needs a change.");
        return out;
    }
    let _ = writeln!(out, "Planned writes ({}):", changes.len());
    for c in changes {
        let name = c.sysctl.clone().unwrap_or_else(|| c.path.clone());
        let _ = writeln!(
            out,
            "  {:<52} {} -> {}   [{}]",
            name,
            c.current.as_deref().unwrap_or("?"),
            c.value,
            c.check
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_respects_width_and_keeps_every_word() {
        let text = "one two three four five six seven eight nine ten";
        let lines = wrap(text, 14);
        assert!(lines.iter().all(|l| l.len() <= 14));
        assert_eq!(lines.join(" "), text);
        assert_eq!(wrap("", 10), vec![String::new()]);
        assert_eq!(wrap("supercalifragilistic x", 5), vec!["supercalifragilistic", "x"]);
    }
}
