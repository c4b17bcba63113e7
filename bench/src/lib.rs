//! mayfly-bench: a latency benchmark for any RESP server (Mayfly, Redis,
//! Valkey, Dragonfly).
//!
//! ```text
//!  cli ──▶ RunConfig ──▶ runner::run ──▶ RunResult ──▶ report::Report ──▶ summary / JSON
//!                          │  (threads × epoll loops,           │
//!                          │   own RESP codec)                  ├──▶ hlog (HdrHistogram V2 log)
//!                          ▼                                    └──▶ plot (SVG)
//!                    interval histograms
//! ```
//!
//! Goals: percentiles that can be trusted (HDR histograms at 3 significant
//! digits in nanoseconds; open loop measures from the intended send time, as
//! wrk2 does, so coordinated omission cannot hide stalls), and a client cheap
//! enough per request that it is not the bottleneck. Non-goals for now:
//! cluster mode, reconnecting dropped connections.
//!
//! The crate stands alone: it shares no code with the Mayfly server.

pub mod cli;
pub mod client;
pub mod compare;
pub mod hlog;
pub mod keys;
pub mod plot;
pub mod report;
pub mod resp;
pub mod runner;
pub mod workload;
