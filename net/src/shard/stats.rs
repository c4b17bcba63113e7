//! Per-shard runtime counters, summed by INFO.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Per-command counters, updated on every command: hashbrown's default (foldhash) hasher,
/// not std's SipHash, which cost a visible share of a pipelined GET.
type CommandMap = hashbrown::HashMap<&'static str, CommandStat>;

#[derive(Default, Clone, Debug)]
pub struct CommandStat {
    pub calls: u64,
    pub usec: u64,
    pub failed_calls: u64,
    pub rejected_calls: u64,
    /// Latency histogram in ns (LATENCY HISTOGRAM, INFO latencystats), made on the first
    /// call while `latency-tracking` is on.
    pub latency_ns: Option<Box<Histogram>>,
}

/// Redis's per-command histogram: 1 ns to 1 s, 2 significant digits, in ns.
pub type Histogram = hdrhistogram::Histogram<u64>;
/// Histogram bounds (Redis's LATENCY_HISTOGRAM_MIN_VALUE / MAX_VALUE / PRECISION).
pub const HISTOGRAM_MIN_NS: u64 = 1;
pub const HISTOGRAM_MAX_NS: u64 = 1_000_000_000;
pub const HISTOGRAM_PRECISION: u8 = 2;

/// `latency-tracking`, mirrored here by the server layer whenever the configuration changes,
/// so recording a command's latency needs no configuration read.
pub static LATENCY_TRACKING: AtomicBool = AtomicBool::new(true);

/// A fresh histogram with Redis's bounds.
pub fn new_histogram() -> Option<Box<Histogram>> {
    Histogram::new_with_bounds(HISTOGRAM_MIN_NS, HISTOGRAM_MAX_NS, HISTOGRAM_PRECISION)
        .ok()
        .map(Box::new)
}

impl CommandStat {
    /// Adds one call's latency to the histogram (values clamped to its bounds, as Redis).
    pub fn record_latency(&mut self, usec: u64) {
        if self.latency_ns.is_none() {
            self.latency_ns = new_histogram();
        }
        if let Some(h) = &mut self.latency_ns {
            let ns = usec.saturating_mul(1000).clamp(HISTOGRAM_MIN_NS, HISTOGRAM_MAX_NS);
            let _ = h.record(ns);
        }
    }
}

#[derive(Default, Clone, Debug)]
pub struct ShardStats {
    pub commands: CommandMap,
    pub total_commands: u64,
    pub error_replies: u64,
    pub errors_by_code: HashMap<String, u64>,
    pub connections_received: u64,
    pub rejected_connections: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
}

impl ShardStats {
    pub fn record(&mut self, name: &'static str, usec: u64, failed: bool) {
        self.total_commands += 1;
        let s = self.commands.entry(name).or_default();
        s.calls += 1;
        s.usec += usec;
        if failed {
            s.failed_calls += 1;
        }
        if LATENCY_TRACKING.load(Ordering::Relaxed) {
            s.record_latency(usec);
        }
    }

    /// Counts an error reply under its code (`ERR`, `WRONGTYPE`, …) for INFO errorstats.
    pub fn record_error(&mut self, text: &str) {
        self.error_replies += 1;
        let code = text.split(' ').next().unwrap_or("ERR").to_string();
        *self.errors_by_code.entry(code).or_default() += 1;
    }

    pub fn merge(&mut self, other: &ShardStats) {
        for (k, v) in &other.commands {
            let s = self.commands.entry(k).or_default();
            s.calls += v.calls;
            s.usec += v.usec;
            s.failed_calls += v.failed_calls;
            s.rejected_calls += v.rejected_calls;
            if let Some(h) = &v.latency_ns {
                match &mut s.latency_ns {
                    Some(mine) => {
                        let _ = mine.add(&**h);
                    }
                    None => s.latency_ns = Some(h.clone()),
                }
            }
        }
        self.total_commands += other.total_commands;
        self.error_replies += other.error_replies;
        for (k, v) in &other.errors_by_code {
            *self.errors_by_code.entry(k.clone()).or_default() += v;
        }
        self.connections_received += other.connections_received;
        self.rejected_connections += other.rejected_connections;
        self.net_input_bytes += other.net_input_bytes;
        self.net_output_bytes += other.net_output_bytes;
    }
}

/// The name a command is counted under in INFO commandstats: `parent|sub` for a container
/// command's known subcommand (`xgroup|create`, `object|encoding`), as Redis 7 counts them;
/// else the command's own name.
pub fn stat_name(
    spec: &'static mayfly_engine::command::CommandSpec,
    argv: &[bytes::Bytes],
) -> &'static str {
    if spec.subcommands.is_empty() || argv.len() < 2 {
        return spec.name;
    }
    static NAMES: std::sync::OnceLock<HashMap<(&'static str, String), &'static str>> =
        std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| {
        // Built once from the command table (a few dozen names, kept for the process).
        let mut m = HashMap::new();
        for c in mayfly_engine::commands() {
            for sub in c.subcommands {
                let full: &'static str = Box::leak(format!("{}|{}", c.name, sub.name).into());
                m.insert((c.name, sub.name.to_ascii_lowercase()), full);
            }
        }
        m
    });
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    names.get(&(spec.name, sub)).copied().unwrap_or(spec.name)
}
