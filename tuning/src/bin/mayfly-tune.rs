//! `mayfly-tune`: topology, placement plan, host checks and fixes for a Mayfly node.
//!
//! Every command reads the live machine by default, or a sysfs/procfs fixture tree with
//! `--root DIR`. `apply` never writes without `--yes`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mayfly_tuning::{apply, checks, cpulist, placement, render, HostFacts, Topology};

#[derive(Parser)]
#[command(
    name = "mayfly-tune",
    version,
    about = "Topology, shard placement and host checks for Mayfly"
)]
struct Cli {
    /// Read sysfs/procfs (and write, for apply) below DIR instead of `/`.
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct PlanArgs {
    /// Number of shards (default: one per physical core in the affinity mask).
    #[arg(long)]
    shards: Option<usize>,
    /// Count SMT siblings as shard CPUs.
    #[arg(long)]
    use_smt: bool,
    /// Restrict shards to these CPUs (kernel list syntax, e.g. 2-15,18-31).
    #[arg(long, value_name = "LIST")]
    cpus: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// What the machine is: CPUs, cores, SMT siblings, packages, NUMA nodes, NICs.
    Topology {
        #[arg(long)]
        json: bool,
    },
    /// Where shards, their memory and the NIC interrupts go.
    Plan {
        #[command(flatten)]
        plan: PlanArgs,
        #[arg(long)]
        json: bool,
    },
    /// Host checks with verdicts and fixes. Exit status 1 if any check fails.
    Check {
        #[command(flatten)]
        plan: PlanArgs,
        /// The server's maxclients (sizes the open-file check).
        #[arg(long, default_value_t = 10_000)]
        maxclients: u64,
        #[arg(long)]
        json: bool,
    },
    /// Show the sysctl/sysfs writes the checks recommend; perform them with --yes.
    Apply {
        #[command(flatten)]
        plan: PlanArgs,
        #[arg(long, default_value_t = 10_000)]
        maxclients: u64,
        /// Actually write the changes.
        #[arg(long, conflicts_with_all = ["print_sysctl", "print_systemd"])]
        yes: bool,
        /// Print an /etc/sysctl.d snippet instead of writing.
        #[arg(long, conflicts_with = "print_systemd")]
        print_sysctl: bool,
        /// Print a systemd drop-in (limits, boot-time sysfs writes) instead of writing.
        #[arg(long)]
        print_systemd: bool,
    },
}

struct Host {
    root: PathBuf,
    topo: Topology,
    facts: HostFacts,
}

fn load(root: Option<PathBuf>) -> Result<Host, String> {
    match root {
        None => {
            let topo = Topology::read_host().map_err(|e| format!("reading the topology: {e}"))?;
            Ok(Host { root: PathBuf::from("/"), topo, facts: HostFacts::live() })
        }
        Some(root) => {
            let topo =
                Topology::read(&root).map_err(|e| format!("reading {}: {e}", root.display()))?;
            let facts = HostFacts::read(&root);
            Ok(Host { root, topo, facts })
        }
    }
}

fn options(args: &PlanArgs) -> Result<placement::PlanOptions, String> {
    let allowed_cpus = match &args.cpus {
        Some(list) => Some(
            cpulist::parse_list(list)
                .filter(|l| !l.is_empty())
                .ok_or_else(|| format!("--cpus {list:?}: expected a CPU list such as 0-3,8"))?,
        ),
        None => None,
    };
    Ok(placement::PlanOptions { shards: args.shards, use_smt: args.use_smt, allowed_cpus })
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string_pretty(value).map_err(|e| format!("encoding JSON: {e}"))
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    let host = load(cli.root)?;
    match cli.command {
        Command::Topology { json: as_json } => {
            if as_json {
                println!("{}", json(&host.topo)?);
            } else {
                print!("{}", render::topology(&host.topo));
            }
        }
        Command::Plan { plan, json: as_json } => {
            let p = placement::plan(&host.topo, &options(&plan)?);
            if as_json {
                println!("{}", json(&p)?);
            } else {
                print!("{}", render::plan(&host.topo, &p));
            }
        }
        Command::Check { plan, maxclients, json: as_json } => {
            let p = placement::plan(&host.topo, &options(&plan)?);
            let opts = checks::CheckOptions { maxclients };
            let report = checks::run_checks(&host.root, &host.topo, &p, &host.facts, &opts);
            if as_json {
                #[derive(serde::Serialize)]
                struct Out<'a> {
                    report: &'a checks::Report,
                    plan: &'a placement::Plan,
                    facts: &'a HostFacts,
                }
                println!("{}", json(&Out { report: &report, plan: &p, facts: &host.facts })?);
            } else {
                print!("{}", render::report(&host.topo, &p, &report));
            }
            if report.worst() == checks::Verdict::Fail {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Apply { plan, maxclients, yes, print_sysctl, print_systemd } => {
            let p = placement::plan(&host.topo, &options(&plan)?);
            let opts = checks::CheckOptions { maxclients };
            let report = checks::run_checks(&host.root, &host.topo, &p, &host.facts, &opts);
            if print_sysctl {
                print!("{}", apply::sysctl_snippet(&report));
                return Ok(ExitCode::SUCCESS);
            }
            if print_systemd {
                print!("{}", apply::systemd_snippet(&report, &p));
                return Ok(ExitCode::SUCCESS);
            }
            let changes = apply::planned_changes(&host.root, &report);
            print!("{}", render::changes(&changes));
            if changes.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            if !yes {
                println!(
                    "\nDry run: nothing written. Re-run with --yes to write these under {}.",
                    host.root.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let mut failed = 0;
            for (change, result) in changes.iter().zip(apply::apply_changes(&host.root, &changes)) {
                match result {
                    Ok(()) => println!("  wrote {} = {}", change.path, change.value),
                    Err(e) => {
                        failed += 1;
                        println!("  FAILED {} = {}: {e}", change.path, change.value);
                    }
                }
            }
            println!(
                "{} written, {failed} failed. These reset on reboot: persist with --print-sysctl / --print-systemd.",
                changes.len() - failed
            );
            if failed > 0 {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("mayfly-tune: {msg}");
            ExitCode::from(2)
        }
    }
}
