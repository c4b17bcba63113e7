//! Numbers derived from a run: per-command and overall percentiles, the
//! throughput timeline, open-loop schedule keeping, client cost. The same
//! [`Report`] feeds the human summary, the JSON file, plots and `compare`.

use crate::runner::{new_histogram, RunResult};
use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Quantiles shown in the summary, with their column titles.
pub const SUMMARY_QUANTILES: [(f64, &str); 6] =
    [(0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9"), (0.9999, "p99.99"), (1.0, "max")];

/// Open-loop send lag above which the client is reported as behind schedule.
pub const BEHIND_SCHEDULE_LAG_US: f64 = 1000.0;

/// What the run was asked to do (echoed into the JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunDescription {
    pub server: String,
    pub connections: usize,
    pub pipeline: usize,
    pub threads: usize,
    pub rate: Option<f64>,
    pub duration_s: Option<f64>,
    pub requests: Option<u64>,
    pub warmup_s: f64,
    pub commands: Vec<String>,
    pub keyspace: u64,
    pub key_distribution: String,
    pub data_size: String,
    pub protocol: String,
}

/// One point of a percentile distribution.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PercentilePoint {
    /// 0..=100.
    pub percentile: f64,
    pub value_us: f64,
    pub count: u64,
}

/// Latency statistics of one command (or of all: `name == "ALL"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommandReport {
    pub name: String,
    pub count: u64,
    pub ops_per_sec: f64,
    pub mean_us: f64,
    pub stdev_us: f64,
    pub min_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub p9999_us: f64,
    pub max_us: f64,
    /// HdrHistogram-style distribution (5 ticks per half distance).
    pub percentiles: Vec<PercentilePoint>,
    /// The full histogram (nanoseconds), V2 deflate, base64: lossless.
    pub histogram_v2_base64: String,
}

/// One interval of the timeline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TimelinePoint {
    pub start_s: f64,
    pub length_s: f64,
    pub count: u64,
    pub ops_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub errors: u64,
}

/// Whether an open-loop run kept to its schedule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OpenLoopReport {
    pub requested_rate: f64,
    pub achieved_rate: f64,
    pub send_lag_p50_us: f64,
    pub send_lag_p99_us: f64,
    pub send_lag_max_us: f64,
    pub unsent: u64,
    pub kept_up: bool,
}

/// What the client itself cost.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientCost {
    pub cpu_seconds: f64,
    pub wall_seconds: f64,
    pub replies_total: u64,
    pub cpu_seconds_per_million_requests: f64,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub tool: String,
    pub version: String,
    pub run: RunDescription,
    pub start_time_unix_s: f64,
    pub measured_s: f64,
    pub overall: CommandReport,
    pub commands: Vec<CommandReport>,
    pub errors_total: u64,
    pub errors: BTreeMap<String, u64>,
    pub timeline: Vec<TimelinePoint>,
    pub open_loop: Option<OpenLoopReport>,
    pub client: ClientCost,
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// Encodes a histogram losslessly (V2 deflate, base64).
pub fn encode_histogram(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    match V2DeflateSerializer::new().serialize(histogram, &mut bytes) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(bytes),
        Err(_) => String::new(),
    }
}

/// Decodes [`encode_histogram`] output.
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("bad base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("bad histogram: {e:?}"))
}

/// Statistics of one histogram over `seconds` of measurement.
pub fn command_report(name: &str, histogram: &Histogram<u64>, seconds: f64) -> CommandReport {
    let at = |q: f64| if histogram.is_empty() { 0.0 } else { us(histogram.value_at_quantile(q)) };
    let mut percentiles = Vec::new();
    if !histogram.is_empty() {
        for step in histogram.iter_quantiles(5) {
            percentiles.push(PercentilePoint {
                percentile: step.quantile_iterated_to() * 100.0,
                value_us: us(step.value_iterated_to()),
                count: step.count_since_last_iteration(),
            });
            if percentiles.len() >= 1000 {
                break;
            }
        }
    }
    CommandReport {
        name: name.to_string(),
        count: histogram.len(),
        ops_per_sec: if seconds > 0.0 { histogram.len() as f64 / seconds } else { 0.0 },
        mean_us: if histogram.is_empty() { 0.0 } else { histogram.mean() / 1000.0 },
        stdev_us: if histogram.is_empty() { 0.0 } else { histogram.stdev() / 1000.0 },
        min_us: if histogram.is_empty() { 0.0 } else { us(histogram.min()) },
        p50_us: at(0.5),
        p90_us: at(0.9),
        p99_us: at(0.99),
        p999_us: at(0.999),
        p9999_us: at(0.9999),
        max_us: if histogram.is_empty() { 0.0 } else { us(histogram.max()) },
        percentiles,
        histogram_v2_base64: encode_histogram(histogram),
    }
}

/// The overall histogram: every command merged.
pub fn overall_histogram(result: &RunResult) -> Histogram<u64> {
    let mut all = new_histogram();
    for h in &result.totals {
        all.add(h).expect("histograms share bounds");
    }
    all
}

impl Report {
    /// Derives every number from a run.
    pub fn new(result: &RunResult, run: RunDescription) -> Report {
        let seconds = result.measured_ns as f64 / 1e9;
        let overall_h = overall_histogram(result);
        let overall = command_report("ALL", &overall_h, seconds);
        let commands = result
            .labels
            .iter()
            .zip(&result.totals)
            .map(|(name, h)| command_report(name, h, seconds))
            .collect();
        let timeline = result
            .intervals
            .iter()
            .map(|interval| {
                let mut merged = new_histogram();
                for h in &interval.per_command {
                    merged.add(h.unpack()).expect("histograms share bounds");
                }
                let length_s = interval.length_ns as f64 / 1e9;
                let value =
                    |q: f64| if merged.is_empty() { 0.0 } else { us(merged.value_at_quantile(q)) };
                TimelinePoint {
                    start_s: interval.start_ns as f64 / 1e9,
                    length_s,
                    count: merged.len(),
                    ops_per_sec: merged.len() as f64 / length_s,
                    p50_us: value(0.5),
                    p99_us: value(0.99),
                    max_us: if merged.is_empty() { 0.0 } else { us(merged.max()) },
                    errors: interval.errors,
                }
            })
            .collect();
        let open_loop = result.open_loop.as_ref().map(|open| {
            let lag = &open.send_lag;
            let lag_at = |q: f64| if lag.is_empty() { 0.0 } else { us(lag.value_at_quantile(q)) };
            let achieved_rate = overall.ops_per_sec;
            let send_lag_p99_us = lag_at(0.99);
            OpenLoopReport {
                requested_rate: open.requested_rate,
                achieved_rate,
                send_lag_p50_us: lag_at(0.5),
                send_lag_p99_us,
                send_lag_max_us: if lag.is_empty() { 0.0 } else { us(lag.max()) },
                unsent: open.unsent,
                kept_up: open.unsent == 0
                    && send_lag_p99_us < BEHIND_SCHEDULE_LAG_US
                    && achieved_rate >= 0.95 * open.requested_rate,
            }
        });
        let errors_total = result.errors.values().sum();
        let start_time_unix_s = result
            .start_time
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Report {
            tool: "mayfly-bench".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            run,
            start_time_unix_s,
            measured_s: seconds,
            overall,
            commands,
            errors_total,
            errors: result.errors.clone(),
            timeline,
            open_loop,
            client: ClientCost {
                cpu_seconds: result.cpu_seconds,
                wall_seconds: result.wall_seconds,
                replies_total: result.replies_total,
                cpu_seconds_per_million_requests: if result.replies_total > 0 {
                    result.cpu_seconds * 1e6 / result.replies_total as f64
                } else {
                    0.0
                },
            },
        }
    }

    /// The human summary. Latencies are printed in milliseconds with three
    /// decimals (microsecond resolution).
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let run = &self.run;
        let mode = match &self.open_loop {
            Some(open) => format!("open loop at {:.0} ops/s", open.requested_rate),
            None => "closed loop".to_string(),
        };
        let _ = writeln!(
            out,
            "mayfly-bench {} | {} | {} connections, pipeline {}, {} threads | {:.2} s measured",
            self.server_line(),
            mode,
            run.connections,
            run.pipeline,
            run.threads,
            self.measured_s
        );
        let _ = write!(out, "{:<12} {:>12} {:>10}", "Command", "Ops/sec", "Avg(ms)");
        for (_, title) in SUMMARY_QUANTILES {
            let _ = write!(out, " {:>10}", format!("{title}(ms)"));
        }
        out.push('\n');
        let mut rows: Vec<&CommandReport> = self.commands.iter().collect();
        if self.commands.len() > 1 {
            rows.push(&self.overall);
        }
        for row in rows {
            let _ = write!(
                out,
                "{:<12} {:>12.2} {:>10.3}",
                row.name,
                row.ops_per_sec,
                row.mean_us / 1000.0
            );
            for value in [row.p50_us, row.p90_us, row.p99_us, row.p999_us, row.p9999_us, row.max_us]
            {
                let _ = write!(out, " {:>10.3}", value / 1000.0);
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "Requests recorded: {}   errors: {}",
            self.overall.count, self.errors_total
        );
        for (kind, count) in &self.errors {
            let _ = writeln!(out, "  error {kind}: {count}");
        }
        if let Some(open) = &self.open_loop {
            let _ = writeln!(
                out,
                "Open loop: requested {:.0} ops/s, achieved {:.0} ops/s; send lag p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; unsent {}",
                open.requested_rate,
                open.achieved_rate,
                open.send_lag_p50_us / 1000.0,
                open.send_lag_p99_us / 1000.0,
                open.send_lag_max_us / 1000.0,
                open.unsent
            );
            if !open.kept_up {
                let _ = writeln!(
                    out,
                    "WARNING: the requested rate was not kept: requests left late or not at all \
                     (client or server saturated). Latencies still count from the intended send \
                     times, so they include that wait."
                );
            }
        }
        let _ = writeln!(
            out,
            "Client CPU: {:.3} s for {} replies = {:.3} CPU s per million requests",
            self.client.cpu_seconds,
            self.client.replies_total,
            self.client.cpu_seconds_per_million_requests
        );
        out
    }

    fn server_line(&self) -> String {
        self.run.server.clone()
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }

    /// Reads a report written by [`Report::to_json`].
    pub fn from_json(text: &str) -> Result<Report, String> {
        serde_json::from_str(text).map_err(|e| format!("not a mayfly-bench JSON report: {e}"))
    }
}

/// Parses the summary table back: command name → [avg, p50, p90, p99,
/// p99.9, p99.99, max] in milliseconds. Used to check that what is printed
/// is what was recorded.
pub fn parse_summary_table(summary: &str) -> BTreeMap<String, Vec<f64>> {
    let mut rows = BTreeMap::new();
    let mut in_table = false;
    for line in summary.lines() {
        if line.starts_with("Command") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != 9 {
            break;
        }
        let values: Result<Vec<f64>, _> = fields[2..].iter().map(|f| f.parse::<f64>()).collect();
        match values {
            Ok(values) => {
                rows.insert(fields[0].to_string(), values);
            }
            Err(_) => break,
        }
    }
    rows
}
