//! LATENCY LATEST / HISTORY / RESET / GRAPH / DOCTOR / HISTOGRAM / HELP, and INFO
//! latencystats. The monitor's samples live in `shard::latency` (one store for the server);
//! the per-command histograms in each shard's statistics, merged here.

use bytes::Bytes;
use mayfly_engine::reply::Reply;

use crate::shard::env::Env;
use crate::shard::latency::{with_events, Series};
use crate::shard::stats::{CommandStat, Histogram, ShardStats};

/// Columns of a LATENCY GRAPH (Redis's LATENCY_GRAPH_COLS).
const GRAPH_COLS: usize = 80;

const HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
];

/// Every shard's command statistics, merged.
pub async fn merged_stats() -> ShardStats {
    let all = crate::coord::on_all_shards(|env: &mut Env| env.stats.clone()).await;
    let mut total = ShardStats::default();
    for s in &all {
        total.merge(s);
    }
    total
}

pub async fn latency_command(argv: &[Bytes]) -> Reply {
    let sub = argv[1].to_ascii_lowercase();
    match (sub.as_slice(), argv.len()) {
        (b"history", 3) => {
            let name = String::from_utf8_lossy(&argv[2]).into_owned();
            let history = with_events(|e| e.get(&name).map(Series::history)).unwrap_or_default();
            Reply::Array(
                history
                    .into_iter()
                    .map(|s| {
                        Reply::Array(vec![
                            Reply::Int(s.time_s as i64),
                            Reply::Int(s.latency_ms as i64),
                        ])
                    })
                    .collect(),
            )
        }
        (b"graph", 3) => {
            let name = String::from_utf8_lossy(&argv[2]).into_owned();
            let now_s = mayfly_engine::clock::unix_time_ms() / 1000;
            match with_events(|e| e.get(&name).map(|s| graph(&name, s, now_s))) {
                Some(g) => Reply::Verbatim("txt", Bytes::from(g)),
                None => Reply::error(format!("ERR No samples available for event '{name}'")),
            }
        }
        (b"latest", 2) => with_events(|e| {
            Reply::Array(
                e.iter()
                    .map(|(name, s)| {
                        let last = s.latest();
                        Reply::Array(vec![
                            Reply::bulk(name.clone()),
                            Reply::Int(last.time_s as i64),
                            Reply::Int(last.latency_ms as i64),
                            Reply::Int(s.max_ms as i64),
                        ])
                    })
                    .collect(),
            )
        }),
        (b"doctor", 2) => {
            let g = super::get().clone();
            let (threshold, slower_than, hz) = g
                .shared
                .read_config(|c| (c.latency_monitor_threshold_ms, c.slowlog_log_slower_than, c.hz));
            let now_s = mayfly_engine::clock::unix_time_ms() / 1000;
            let text = with_events(|e| doctor(e, threshold, slower_than, hz, now_s));
            Reply::Verbatim("txt", Bytes::from(text))
        }
        (b"reset", _) => {
            let n = with_events(|e| {
                if argv.len() == 2 {
                    let n = e.len();
                    e.clear();
                    n
                } else {
                    argv[2..]
                        .iter()
                        .filter(|a| e.remove(&*String::from_utf8_lossy(a)).is_some())
                        .count()
                }
            });
            Reply::Int(n as i64)
        }
        (b"histogram", _) => {
            let stats = merged_stats().await;
            histogram_reply(&stats, &argv[2..])
        }
        (b"help", 2) => Reply::Array(HELP.iter().map(|l| Reply::status(*l)).collect()),
        _ => super::slowlog::syntax_error(&argv[1], "LATENCY"),
    }
}

/// `calls N histogram_usec {µs: cumulative count, ...}` over doubling levels from 1024 ns,
/// each reported by the highest value of the bucket holding the level, only where the count
/// grew (Redis's fillCommandCDF over hdr_iter_log(1024, 2)).
fn command_cdf(h: &Histogram) -> Reply {
    let total = h.len();
    let mut points = Vec::new();
    let mut previous = 0u64;
    let mut level = 1024u64;
    while previous < total && level <= crate::shard::stats::HISTOGRAM_MAX_NS * 2 {
        let top = h.highest_equivalent(level);
        let cumulative = h.count_between(0, top);
        if cumulative > previous {
            points.push((Reply::Int((top / 1000) as i64), Reply::Int(cumulative as i64)));
        }
        previous = cumulative;
        level *= 2;
    }
    Reply::Map(vec![
        (Reply::bulk_str("calls"), Reply::Int(total as i64)),
        (Reply::bulk_str("histogram_usec"), Reply::Map(points)),
    ])
}

/// LATENCY HISTOGRAM [command ...]: every command with a histogram, or the named ones (a
/// container names its subcommands too; unknown names are skipped).
fn histogram_reply(stats: &ShardStats, names: &[Bytes]) -> Reply {
    let mut entries: Vec<(String, &CommandStat)> = Vec::new();
    if names.is_empty() {
        let mut all: Vec<_> = stats.commands.iter().collect();
        all.sort_by_key(|(n, _)| **n);
        entries.extend(all.into_iter().map(|(n, s)| (n.to_string(), s)));
    } else {
        for name in names {
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            let known = match name.split_once('|') {
                Some((parent, sub)) => mayfly_engine::lookup(parent.as_bytes())
                    .is_some_and(|s| s.subcommands.iter().any(|x| x.name == sub)),
                None => mayfly_engine::lookup(name.as_bytes()).is_some(),
            };
            if !known {
                continue;
            }
            if let Some((n, s)) = stats.commands.get_key_value(name.as_str()) {
                entries.push((n.to_string(), s));
            }
            if !name.contains('|') {
                let prefix = format!("{name}|");
                let mut subs: Vec<_> =
                    stats.commands.iter().filter(|(n, _)| n.starts_with(&prefix)).collect();
                subs.sort_by_key(|(n, _)| **n);
                entries.extend(subs.into_iter().map(|(n, s)| (n.to_string(), s)));
            }
        }
    }
    Reply::Map(
        entries
            .into_iter()
            .filter_map(|(n, s)| s.latency_ns.as_ref().map(|h| (Reply::bulk(n), command_cdf(h))))
            .collect(),
    )
}

/// INFO latencystats: `latency_percentiles_usec_<cmd>:p50=…,p99=…,p99.9=…` per command.
pub fn info_section(stats: &ShardStats, percentiles: &[f64]) -> String {
    let mut names: Vec<_> = stats.commands.iter().collect();
    names.sort_by_key(|(n, _)| **n);
    let mut out = String::new();
    for (name, s) in names {
        let Some(h) = &s.latency_ns else { continue };
        let fields: Vec<String> = percentiles
            .iter()
            .map(|p| {
                let v = h.value_at_percentile(*p) as f64 / 1000.0;
                format!("p{}={v:.3}", mayfly_engine::config::format_percentile(*p))
            })
            .collect();
        out.push_str(&format!("latency_percentiles_usec_{name}:{}\r\n", fields.join(",")));
    }
    out
}

/// Redis's sparkline rendering (sparkline.c), filled style: `rows` rows of `_o#|` then the
/// labels written downwards.
fn sparkline(out: &mut String, samples: &[(f64, String)], columns: usize, rows: usize) {
    if samples.is_empty() {
        return;
    }
    let min = samples.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
    let max = samples.iter().map(|s| s.0).fold(f64::NEG_INFINITY, f64::max);
    let labels = samples.iter().any(|s| !s.1.is_empty());
    const FILL: &[u8] = b"_o#";
    for (chunk_index, chunk) in samples.chunks(columns).enumerate() {
        if chunk_index != 0 {
            out.push('\n');
        }
        let relmax = if max - min == 0.0 { 1.0 } else { max - min };
        let steps = (FILL.len() * rows) as i64;
        let mut row = 0usize;
        loop {
            let mut again = false;
            let mut chars = vec![b' '; chunk.len()];
            for (j, (value, label)) in chunk.iter().enumerate() {
                let relval = value - min;
                let step = ((relval * steps as f64) / relmax) as i64;
                let step = step.clamp(0, steps - 1);
                if row < rows {
                    let charidx = step - ((rows - row - 1) * FILL.len()) as i64;
                    again = true;
                    if (0..FILL.len() as i64).contains(&charidx) {
                        chars[j] = FILL[charidx as usize];
                    } else if charidx >= FILL.len() as i64 {
                        chars[j] = b'|';
                    }
                } else {
                    if labels && row - rows < 1 {
                        again = true;
                        break;
                    }
                    let label_char = row - rows - 1;
                    if let Some(&c) = label.as_bytes().get(label_char) {
                        again = true;
                        chars[j] = c;
                    }
                }
            }
            if !again {
                break;
            }
            row += 1;
            out.push_str(&String::from_utf8_lossy(&chars));
            out.push('\n');
        }
    }
}

/// LATENCY GRAPH's text.
fn graph(event: &str, s: &Series, now_s: u64) -> String {
    let samples: Vec<(f64, String)> = s
        .history()
        .into_iter()
        .map(|x| {
            let elapsed = now_s.saturating_sub(x.time_s);
            let label = match elapsed {
                e if e < 60 => format!("{e}s"),
                e if e < 3600 => format!("{}m", e / 60),
                e if e < 86_400 => format!("{}h", e / 3600),
                e => format!("{}d", e / 86_400),
            };
            (x.latency_ms as f64, label)
        })
        .collect();
    let low = samples.iter().map(|x| x.0 as u64).min().unwrap_or(0);
    let high = samples.iter().map(|x| x.0 as u64).max().unwrap_or(0);
    let mut out =
        format!("{event} - high {high} ms, low {low} ms (all time high {} ms)\n", s.max_ms);
    out.push_str(&"-".repeat(GRAPH_COLS));
    out.push('\n');
    sparkline(&mut out, &samples, GRAPH_COLS, 4);
    out
}

/// LATENCY DOCTOR: Redis's report for the events Mayfly records (command, fast-command,
/// expire-cycle) and the advice that goes with them.
fn doctor(
    events: &std::collections::BTreeMap<String, Series>,
    threshold_ms: u64,
    slowlog_slower_than_us: i64,
    hz: u64,
    now_s: u64,
) -> String {
    if events.is_empty() && threshold_ms == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string();
    }
    let mut report = String::new();
    let (mut slowlog_enabled, mut slowlog_tuning, mut slowlog_inspect) = (false, false, false);
    let (mut scheduler, mut advise_hz, mut large_objects) = (false, false, false);
    let mut advices = 0;
    for (n, (event, s)) in events.iter().enumerate() {
        if n == 0 {
            report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let history = s.history();
        let count = history.len() as u64;
        let sum: u64 = history.iter().map(|x| x.latency_ms).sum();
        let avg = sum.checked_div(count).unwrap_or(0);
        let mad = history
            .iter()
            .map(|x| x.latency_ms.abs_diff(avg))
            .sum::<u64>()
            .checked_div(count)
            .unwrap_or(0);
        let oldest = history.iter().map(|x| x.time_s).min().unwrap_or(now_s);
        let period = now_s.saturating_sub(oldest).max(1);
        report.push_str(&format!(
            "{}. {event}: {count} latency spikes (average {avg}ms, mean deviation {mad}ms, period {:.2} sec). Worst all time event {}ms.",
            n + 1,
            period as f64 / count.max(1) as f64,
            s.max_ms
        ));
        match event.as_str() {
            "command" => {
                if slowlog_slower_than_us < 0 {
                    slowlog_enabled = true;
                    advices += 1;
                } else if (slowlog_slower_than_us / 1000) as u64 > threshold_ms {
                    slowlog_tuning = true;
                    advices += 1;
                }
                slowlog_inspect = true;
                large_objects = true;
                advices += 2;
            }
            "fast-command" => {
                scheduler = true;
                advices += 1;
            }
            "expire-cycle" => {
                advise_hz = true;
                large_objects = true;
                advices += 2;
            }
            _ => {}
        }
        report.push('\n');
    }
    if events.is_empty() && advices == 0 {
        report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
    } else if advices == 0 {
        report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
    } else {
        report.push_str("\nI have a few advices for you:\n\n");
        if slowlog_enabled {
            report.push_str(&format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n", threshold_ms * 1000));
        }
        if slowlog_tuning {
            report.push_str(&format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.\n", threshold_ms * 1000));
        }
        if slowlog_inspect {
            report.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        }
        if scheduler {
            report.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
        }
        if advise_hz && hz < 100 {
            report.push_str("- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n");
        }
        if large_objects {
            report.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_renders_like_redis_sparklines() {
        let mut s = Series::default();
        s.add(1000, 100);
        s.add(1001, 300);
        s.add(1002, 200);
        let g = graph("command", &s, 1010);
        let mut lines = g.lines();
        assert_eq!(lines.next(), Some("command - high 300 ms, low 100 ms (all time high 300 ms)"));
        assert_eq!(lines.next().map(str::len), Some(80));
        // 4 rows of bars, a spacer row, then the labels (10s, 9s, 8s) written downwards.
        let rest: Vec<&str> = lines.collect();
        assert_eq!(rest, vec![" # ", " |_", " ||", "_||", "   ", "198", "0ss", "s  "], "{g}");
    }

    #[test]
    fn doctor_disabled_and_with_events() {
        let empty = std::collections::BTreeMap::new();
        assert!(doctor(&empty, 0, 10000, 10, 5).starts_with("I'm sorry, Dave"));
        let mut e = std::collections::BTreeMap::new();
        let mut s = Series::default();
        s.add(100, 300);
        e.insert("command".to_string(), s);
        let r = doctor(&e, 200, 10000, 10, 101);
        assert!(r.contains("1. command: 1 latency spikes (average 300ms, mean deviation 0ms, period 1.00 sec). Worst all time event 300ms."), "{r}");
        assert!(r.contains("I have a few advices for you"));
    }

    #[test]
    fn histogram_levels_match_redis() {
        // Redis answered `2 1 4 3 33 4 66 5` for five calls like these.
        let mut h = crate::shard::stats::new_histogram().expect("bounds");
        for ns in [1500, 3000, 3000, 30_000, 60_000] {
            h.record(ns).expect("in range");
        }
        let Reply::Map(top) = command_cdf(&h) else { panic!("a map") };
        assert_eq!(top[0].1, Reply::Int(5));
        let Reply::Map(points) = &top[1].1 else { panic!("a map") };
        let flat: Vec<Reply> = points.iter().flat_map(|(a, b)| [a.clone(), b.clone()]).collect();
        let want: Vec<Reply> = [2, 1, 4, 3, 33, 4, 66, 5].into_iter().map(Reply::Int).collect();
        assert_eq!(flat, want);
        // A call under 1 µs shows as 1 µs.
        let mut h = crate::shard::stats::new_histogram().expect("bounds");
        h.record(1).expect("in range");
        let Reply::Map(top) = command_cdf(&h) else { panic!("a map") };
        assert_eq!(top[1].1, Reply::Map(vec![(Reply::Int(1), Reply::Int(1))]));
    }
}
