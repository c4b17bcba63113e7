//! Command line (memtier_benchmark's option names where they exist) and the
//! glue from options to a run and its outputs. `main.rs` only calls [`main`].

use crate::client::{BenchError, Protocol, ServerOptions};
use crate::keys::KeyDistribution;
use crate::report::{Report, RunDescription};
use crate::runner::{self, LiveStatus, RunConfig, Stop};
use crate::workload::{parse_ratio, DataSize, Template, Workload};
use crate::{compare, hlog, plot};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Latency benchmark for Redis-protocol servers (Mayfly, Redis, Valkey,
/// Dragonfly): closed or open loop, HDR histograms, interval logs, plots.
#[derive(Debug, Parser)]
#[command(name = "mayfly-bench", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub bench: BenchArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print two JSON reports side by side with B/A ratios (and plot both).
    Compare {
        /// Baseline report (A).
        a: PathBuf,
        /// Report to compare with the baseline (B).
        b: PathBuf,
        /// Draw both percentile curves and throughput timelines into this SVG.
        #[arg(long, value_name = "FILE.svg")]
        plot: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DistributionArg {
    Uniform,
    Sequential,
    Zipf,
    Gaussian,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    Resp2,
    Resp3,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Server host name or address.
    #[arg(short = 's', long, default_value = "127.0.0.1")]
    pub server: String,
    /// Server port.
    #[arg(short = 'p', long, default_value_t = 6379)]
    pub port: u16,
    /// Connections in total (spread over --threads).
    #[arg(short = 'c', long, default_value_t = 50)]
    pub connections: usize,
    /// Closed loop: requests per batch per connection. Open loop: the most
    /// requests a connection may have outstanding.
    #[arg(short = 'P', long, default_value_t = 1)]
    pub pipeline: usize,
    /// Client threads, each running one event loop; 0 means one per CPU.
    #[arg(short = 't', long, default_value_t = 1)]
    pub threads: usize,
    /// Pin client thread k to CPU k (thread per core).
    #[arg(long)]
    pub pin_threads: bool,
    /// Open loop: send this many requests per second in total, on a fixed
    /// schedule; latency counts from each request's intended send time.
    #[arg(long, value_name = "OPS")]
    pub rate: Option<f64>,
    /// Measure for this many seconds (default 10 unless --requests).
    #[arg(long, value_name = "SECONDS", conflicts_with = "requests")]
    pub duration: Option<f64>,
    /// Send this many requests in total, then stop.
    #[arg(short = 'n', long, value_name = "N")]
    pub requests: Option<u64>,
    /// Run this many seconds before recording starts.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
    pub warmup: f64,
    /// SET:GET weights of the default workload.
    #[arg(long, default_value = "1:10")]
    pub ratio: String,
    /// A command template with __key__ and __data__ placeholders; repeat for
    /// several weighted commands (replaces the --ratio workload).
    #[arg(long, value_name = "TEMPLATE")]
    pub command: Vec<String>,
    /// Weight of each --command, in the same order (default 1).
    #[arg(long, value_name = "WEIGHT")]
    pub command_ratio: Vec<u32>,
    /// Number of distinct keys.
    #[arg(long, default_value_t = 100_000)]
    pub keyspace: u64,
    /// Key distribution.
    #[arg(long, value_enum, default_value = "uniform")]
    pub distribution: DistributionArg,
    /// Zipfian keys with this exponent (implies --distribution zipf).
    #[arg(long, value_name = "S")]
    pub zipf: Option<f64>,
    /// Gaussian: mean key index (default keyspace/2).
    #[arg(long)]
    pub key_median: Option<f64>,
    /// Gaussian: standard deviation (default keyspace/6).
    #[arg(long)]
    pub key_stddev: Option<f64>,
    /// Prefix of every key.
    #[arg(long, default_value = "key:")]
    pub key_prefix: String,
    /// Value size in bytes: N or MIN-MAX.
    #[arg(short = 'd', long, default_value = "32")]
    pub data_size: String,
    /// Give SET values of the --ratio workload this TTL (EX seconds).
    #[arg(long, value_name = "SECONDS")]
    pub ttl: Option<u64>,
    /// Before the run, SET every key of the keyspace once (not recorded).
    #[arg(long)]
    pub prefill: bool,
    /// Seed of key and value choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Reply protocol (resp3 sends HELLO 3).
    #[arg(long, value_enum, default_value = "resp2")]
    pub protocol: ProtocolArg,
    /// Password for AUTH (or HELLO 3 AUTH).
    #[arg(short = 'a', long, value_name = "PASSWORD")]
    pub authenticate: Option<String>,
    /// ACL user name for AUTH.
    #[arg(long)]
    pub user: Option<String>,
    /// SELECT this database on every connection.
    #[arg(long, value_name = "DB")]
    pub select_db: Option<u32>,
    /// Write the full report as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write an HdrHistogram interval log (.hlog).
    #[arg(long, value_name = "FILE")]
    pub hdr_log: Option<PathBuf>,
    /// Draw latency by percentile and throughput over time (SVG).
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Width of one interval (timeline and .hlog), seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub interval: f64,
    /// After the measured phase, wait this long for outstanding replies.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub drain_timeout: f64,
    /// Give up a connection that has not replied for this long.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub reply_timeout: f64,
    /// Connect timeout, seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub connect_timeout: f64,
    /// Never show the progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

fn seconds(value: f64, name: &str) -> Result<Duration, BenchError> {
    if !value.is_finite() || !(0.0..=1e9).contains(&value) {
        return Err(BenchError::Config(format!("{name} must be a number of seconds >= 0")));
    }
    Ok(Duration::from_secs_f64(value))
}

impl BenchArgs {
    /// Server connection options.
    pub fn server_options(&self) -> Result<ServerOptions, BenchError> {
        Ok(ServerOptions {
            host: self.server.clone(),
            port: self.port,
            protocol: match self.protocol {
                ProtocolArg::Resp2 => Protocol::Resp2,
                ProtocolArg::Resp3 => Protocol::Resp3,
            },
            user: self.user.clone(),
            password: self.authenticate.clone(),
            select_db: self.select_db,
            connect_timeout: seconds(self.connect_timeout, "--connect-timeout")?,
        })
    }

    /// `--threads`, with 0 meaning one per CPU this process may use.
    pub fn thread_count(&self) -> usize {
        if self.threads > 0 {
            return self.threads;
        }
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    fn distribution(&self) -> Result<(KeyDistribution, String), BenchError> {
        let keyspace = self.keyspace as f64;
        let kind = if self.zipf.is_some() { DistributionArg::Zipf } else { self.distribution };
        Ok(match kind {
            DistributionArg::Uniform => (KeyDistribution::Uniform, "uniform".into()),
            DistributionArg::Sequential => (KeyDistribution::Sequential, "sequential".into()),
            DistributionArg::Zipf => {
                let s = self.zipf.unwrap_or(0.99);
                if !(s.is_finite() && s > 0.0 && s <= 100.0) {
                    return Err(BenchError::Config("--zipf must be in (0, 100]".into()));
                }
                (KeyDistribution::Zipf(s), format!("zipf {s}"))
            }
            DistributionArg::Gaussian => {
                let mean = self.key_median.unwrap_or(keyspace / 2.0);
                let stddev = self.key_stddev.unwrap_or(keyspace / 6.0);
                if !(mean.is_finite() && stddev.is_finite() && stddev > 0.0) {
                    return Err(BenchError::Config(
                        "gaussian needs a finite median and a positive stddev".into(),
                    ));
                }
                (
                    KeyDistribution::Gaussian { mean, stddev },
                    format!("gaussian mean {mean} stddev {stddev}"),
                )
            }
        })
    }

    /// The templates of the run.
    pub fn templates(&self) -> Result<Vec<Template>, BenchError> {
        if !self.command.is_empty() {
            if self.command_ratio.len() > self.command.len() {
                return Err(BenchError::Config(
                    "more --command-ratio than --command values".into(),
                ));
            }
            return self
                .command
                .iter()
                .enumerate()
                .map(|(i, text)| {
                    Template::parse(text, self.command_ratio.get(i).copied().unwrap_or(1))
                        .map_err(BenchError::Config)
                })
                .collect();
        }
        let (set_weight, get_weight) = parse_ratio(&self.ratio).map_err(BenchError::Config)?;
        let set = match self.ttl {
            Some(ttl) => format!("SET __key__ __data__ EX {ttl}"),
            None => "SET __key__ __data__".to_string(),
        };
        Ok(vec![
            Template::parse(&set, set_weight).map_err(BenchError::Config)?,
            Template::parse("GET __key__", get_weight).map_err(BenchError::Config)?,
        ])
    }

    /// The run configuration and its description for the report.
    pub fn run_config(&self) -> Result<(RunConfig, RunDescription), BenchError> {
        let server = self.server_options()?;
        let (distribution, distribution_name) = self.distribution()?;
        let data_size = DataSize::parse(&self.data_size).map_err(BenchError::Config)?;
        let templates = self.templates()?;
        let commands =
            templates.iter().map(|t| format!("{} (weight {})", t.text, t.weight)).collect();
        let workload = Workload::new(
            templates,
            self.keyspace,
            &self.key_prefix,
            distribution,
            data_size,
            self.seed,
        )
        .map_err(BenchError::Config)?;
        let stop = match (self.requests, self.duration) {
            (Some(n), _) => Stop::Requests(n),
            (None, Some(d)) => Stop::Duration(seconds(d, "--duration")?),
            (None, None) => Stop::Duration(Duration::from_secs(10)),
        };
        let config = RunConfig {
            server: server.clone(),
            connections: self.connections,
            pipeline: self.pipeline,
            threads: self.thread_count(),
            rate: self.rate,
            stop,
            warmup: seconds(self.warmup, "--warmup")?,
            workload: Arc::new(workload),
            interval: seconds(self.interval, "--interval")?,
            drain_timeout: seconds(self.drain_timeout, "--drain-timeout")?,
            reply_timeout: seconds(self.reply_timeout, "--reply-timeout")?,
            pin_threads: self.pin_threads,
        };
        let description = RunDescription {
            server: server.address(),
            connections: self.connections,
            pipeline: self.pipeline,
            threads: self.thread_count().min(self.connections),
            rate: self.rate,
            duration_s: match stop {
                Stop::Duration(d) => Some(d.as_secs_f64()),
                Stop::Requests(_) => None,
            },
            requests: self.requests,
            warmup_s: self.warmup,
            commands,
            keyspace: self.keyspace,
            key_distribution: distribution_name,
            data_size: self.data_size.clone(),
            protocol: format!("{:?}", self.protocol).to_lowercase(),
        };
        Ok((config, description))
    }

    /// A closed-loop run that SETs every key once, in order.
    pub fn prefill_config(&self, main: &RunConfig) -> Result<RunConfig, BenchError> {
        let template = Template::parse("SET __key__ __data__", 1).map_err(BenchError::Config)?;
        let workload = Workload::new(
            vec![template],
            main.workload.keyspace,
            &self.key_prefix,
            KeyDistribution::Sequential,
            main.workload.data_size,
            self.seed,
        )
        .map_err(BenchError::Config)?;
        Ok(RunConfig {
            rate: None,
            pipeline: main.pipeline.max(16),
            stop: Stop::Requests(main.workload.keyspace),
            warmup: Duration::ZERO,
            workload: Arc::new(workload),
            ..main.clone()
        })
    }
}

fn progress_bar(enabled: bool, config: &RunConfig) -> indicatif::ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let (length, template) = match config.stop {
        Stop::Duration(d) => (d.as_millis() as u64, "{bar:40} {elapsed_precise} {msg}"),
        Stop::Requests(n) => (n, "{bar:40} {pos}/{len} {msg}"),
    };
    let bar = indicatif::ProgressBar::new(length);
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

fn observe(bar: &indicatif::ProgressBar, stop: Stop) -> impl FnMut(&LiveStatus) + '_ {
    move |status: &LiveStatus| {
        if status.warming_up {
            bar.set_message("warming up");
            return;
        }
        match stop {
            Stop::Duration(_) => bar.set_position(status.measured_ns / 1_000_000),
            Stop::Requests(_) => bar.set_position(status.recorded),
        }
        bar.set_message(format!(
            "{:.0} ops/s  p99 {:.3} ms",
            status.ops_per_sec,
            status.p99_ns as f64 / 1e6
        ));
    }
}

/// Runs the benchmark described by `args` and writes every requested output.
pub fn bench(args: &BenchArgs) -> Result<Report, BenchError> {
    let (config, description) = args.run_config()?;
    if args.prefill {
        let prefill = args.prefill_config(&config)?;
        eprintln!("prefill: SET {} keys ...", prefill.workload.keyspace);
        let bar = progress_bar(!args.no_progress, &prefill);
        let result = runner::run(&prefill, observe(&bar, prefill.stop))?;
        bar.finish_and_clear();
        let errors: u64 = result.errors.values().sum();
        eprintln!(
            "prefill: {} replies in {:.2} s, {} errors",
            result.replies_total, result.wall_seconds, errors
        );
        if errors > 0 {
            eprintln!("prefill errors: {:?}", result.errors);
        }
    }
    let bar = progress_bar(!args.no_progress, &config);
    let result = runner::run(&config, observe(&bar, config.stop))?;
    bar.finish_and_clear();
    let report = Report::new(&result, description);
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_json())
            .map_err(|e| BenchError::Io(format!("cannot write {}: {e}", path.display())))?;
    }
    if let Some(path) = &args.hdr_log {
        hlog::write(&result, path).map_err(BenchError::Io)?;
    }
    if let Some(path) = &args.plot {
        let series = [plot::Series { name: report.run.server.clone(), report: &report }];
        plot::draw(&series, path).map_err(BenchError::Io)?;
    }
    Ok(report)
}

fn load(path: &std::path::Path) -> Result<Report, BenchError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| BenchError::Io(format!("cannot read {}: {e}", path.display())))?;
    Report::from_json(&text).map_err(|e| BenchError::Io(format!("{}: {e}", path.display())))
}

/// `compare A.json B.json [--plot FILE]`: returns the table.
pub fn compare_files(
    a: &std::path::Path,
    b: &std::path::Path,
    plot_path: Option<&std::path::Path>,
) -> Result<String, BenchError> {
    let report_a = load(a)?;
    let report_b = load(b)?;
    let name = |p: &std::path::Path| {
        p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
    };
    let table = compare::render(&report_a, &name(a), &report_b, &name(b));
    if let Some(path) = plot_path {
        let series = [
            plot::Series { name: format!("A: {}", name(a)), report: &report_a },
            plot::Series { name: format!("B: {}", name(b)), report: &report_b },
        ];
        plot::draw(&series, path).map_err(BenchError::Io)?;
    }
    Ok(table)
}

/// Entry point of the binary; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Some(Command::Compare { a, b, plot }) => {
            compare_files(a, b, plot.as_deref()).map(|table| print!("{table}"))
        }
        None => bench(&cli.bench).map(|report| print!("{}", report.summary())),
    };
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("mayfly-bench: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("mayfly-bench").chain(args.iter().copied()))
            .expect("valid arguments")
    }

    #[test]
    fn memtier_style_options_build_a_run() {
        let cli = parse(&[
            "--server",
            "localhost",
            "--port",
            "7000",
            "--connections",
            "8",
            "--pipeline",
            "4",
            "--threads",
            "2",
            "--rate",
            "5000",
            "--duration",
            "3",
            "--zipf",
            "0.9",
            "--keyspace",
            "500",
            "--data-size",
            "10-20",
            "--command",
            "HSET h:__key__ f __data__",
            "--command",
            "HGET h:__key__ f",
            "--command-ratio",
            "3",
        ]);
        assert!(cli.command.is_none());
        let (config, description) = cli.bench.run_config().expect("config");
        assert_eq!(config.server.port, 7000);
        assert_eq!((config.connections, config.pipeline, config.threads), (8, 4, 2));
        assert_eq!(config.rate, Some(5000.0));
        assert_eq!(config.stop, Stop::Duration(Duration::from_secs(3)));
        assert_eq!(config.workload.distribution, KeyDistribution::Zipf(0.9));
        assert_eq!(config.workload.data_size, DataSize { min: 10, max: 20 });
        let weights: Vec<u32> = config.workload.templates.iter().map(|t| t.weight).collect();
        assert_eq!(weights, vec![3, 1]);
        assert_eq!(config.workload.labels(), vec!["HSET", "HGET"]);
        assert_eq!(description.server, "localhost:7000");
    }

    #[test]
    fn default_workload_is_the_ratio_with_optional_ttl() {
        let cli = parse(&["--ratio", "1:4", "--ttl", "60", "--requests", "100"]);
        let templates = cli.bench.templates().expect("templates");
        assert_eq!(templates[0].text, "SET __key__ __data__ EX 60");
        assert_eq!((templates[0].weight, templates[1].weight), (1, 4));
        let (config, _) = cli.bench.run_config().expect("config");
        assert_eq!(config.stop, Stop::Requests(100));
        let prefill = cli.bench.prefill_config(&config).expect("prefill");
        assert_eq!(prefill.stop, Stop::Requests(100_000));
        assert_eq!(prefill.workload.distribution, KeyDistribution::Sequential);
    }

    #[test]
    fn compare_subcommand_and_bad_options() {
        let cli = parse(&["compare", "a.json", "b.json", "--plot", "x.svg"]);
        match cli.command {
            Some(Command::Compare { a, b, plot }) => {
                assert_eq!((a, b, plot), ("a.json".into(), "b.json".into(), Some("x.svg".into())));
            }
            None => panic!("compare not parsed"),
        }
        assert!(
            Cli::try_parse_from(["mayfly-bench", "--duration", "1", "--requests", "5"]).is_err()
        );
        let per_core = parse(&["--threads", "0", "--pin-threads"]);
        let (config, _) = per_core.bench.run_config().expect("config");
        assert!(config.threads >= 1 && config.pin_threads);
        assert!(parse(&["--ratio", "0:0"]).bench.run_config().is_err());
        assert!(parse(&["--zipf=-1"]).bench.run_config().is_err());
        assert!(parse(&["--duration=-1"]).bench.run_config().is_err());
    }
}
