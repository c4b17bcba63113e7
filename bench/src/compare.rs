//! `compare A.json B.json`: two runs side by side with B/A ratios.

use crate::report::{CommandReport, Report};
use std::fmt::Write;

fn metrics(c: &CommandReport) -> [(&'static str, f64); 9] {
    [
        ("ops/s", c.ops_per_sec),
        ("avg (ms)", c.mean_us / 1000.0),
        ("p50 (ms)", c.p50_us / 1000.0),
        ("p90 (ms)", c.p90_us / 1000.0),
        ("p99 (ms)", c.p99_us / 1000.0),
        ("p99.9 (ms)", c.p999_us / 1000.0),
        ("p99.99 (ms)", c.p9999_us / 1000.0),
        ("max (ms)", c.max_us / 1000.0),
        ("count", c.count as f64),
    ]
}

fn ratio(a: f64, b: f64) -> String {
    if a == 0.0 {
        "-".to_string()
    } else {
        format!("{:.3}", b / a)
    }
}

/// The side-by-side table. Commands present in only one run are listed with
/// a note; `ALL` is always compared.
pub fn render(a: &Report, a_name: &str, b: &Report, b_name: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "A: {a_name}  ({}, {} s measured)", a.run.server, fmt_num(a.measured_s));
    let _ = writeln!(out, "B: {b_name}  ({}, {} s measured)", b.run.server, fmt_num(b.measured_s));
    let mut pairs: Vec<(&CommandReport, &CommandReport)> = Vec::new();
    for ca in &a.commands {
        match b.commands.iter().find(|cb| cb.name == ca.name) {
            Some(cb) => pairs.push((ca, cb)),
            None => {
                let _ = writeln!(out, "(command {} only in A)", ca.name);
            }
        }
    }
    for cb in &b.commands {
        if !a.commands.iter().any(|ca| ca.name == cb.name) {
            let _ = writeln!(out, "(command {} only in B)", cb.name);
        }
    }
    if !(pairs.len() == 1 && a.commands.len() == 1 && b.commands.len() == 1) {
        pairs.push((&a.overall, &b.overall));
    }
    for (ca, cb) in pairs {
        let _ = writeln!(out, "\n{:<14} {:>14} {:>14} {:>8}", ca.name, "A", "B", "B/A");
        for ((name, va), (_, vb)) in metrics(ca).iter().zip(metrics(cb).iter()) {
            let _ = writeln!(
                out,
                "  {:<12} {:>14} {:>14} {:>8}",
                name,
                fmt_num(*va),
                fmt_num(*vb),
                ratio(*va, *vb)
            );
        }
    }
    let _ = writeln!(
        out,
        "\n  {:<12} {:>14} {:>14} {:>8}",
        "errors", a.errors_total, b.errors_total, ""
    );
    out
}

fn fmt_num(value: f64) -> String {
    if value >= 1000.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
    }
}
