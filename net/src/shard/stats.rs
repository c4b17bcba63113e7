//! Per-shard runtime counters, summed by INFO.

use std::collections::HashMap;

/// Per-command counters, updated on every command: hashbrown's default (foldhash) hasher,
/// not std's SipHash, which cost a visible share of a pipelined GET.
type CommandMap = hashbrown::HashMap<&'static str, CommandStat>;

#[derive(Default, Clone, Debug)]
pub struct CommandStat {
    pub calls: u64,
    pub usec: u64,
    pub failed_calls: u64,
    pub rejected_calls: u64,
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
