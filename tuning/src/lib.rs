//! mayfly-tuning: what the machine is, where Mayfly's shards go, and what to change on the host.
//!
//! ```text
//!   sysfs/procfs below a root ──► topology::Topology ──► placement::plan ──► Plan
//!          ("/" or a fixture)            │                                 │   shard → cpu, node
//!                                        │                                 │   NIC IRQs → cpus
//!   facts::HostFacts (rlimits, uname) ───┴──► checks::run_checks ◄─────────┘
//!                                                   │
//!                                  apply (writes, --yes only) / render (text) / --json
//!   affinity: pin a thread, set its preferred node, mbind a buffer (the server's side)
//! ```
//! The server links this crate for [`topology`], [`placement`] and [`affinity`] only, so the
//! CLI's dependencies (clap, serde) sit behind the default `cli` feature. Every reader takes a
//! root directory: production passes `/`, tests pass fixture trees under `tests/fixtures/`.
//! Non-goals: changing anything without the operator's explicit `--yes`; persistent
//! configuration management (we print sysctl.d and systemd snippets instead).

pub mod affinity;
pub mod apply;
pub mod checks;
pub mod cpulist;
pub mod facts;
pub mod placement;
pub mod render;
pub mod sysroot;
pub mod topology;

pub use checks::{run_checks, CheckOptions, Report, Verdict};
pub use facts::HostFacts;
pub use placement::{plan, Plan, PlanOptions, ShardPlacement};
pub use topology::Topology;
