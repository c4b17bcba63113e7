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
