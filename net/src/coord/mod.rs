//! Cross-shard coordination: how one client's command reaches the shards that own its keys
//! and stays atomic and isolated when there are several.
//!
//! ```text
//!   route ──one shard──► Exec on the owner (inline when it is this shard)
//!         ──Split──────► lock keys (ascending shards) → Exec parts → merge → unlock
//!         ──Gather─────► lock → Fetch entries → run on a scratch shard → Store back
//!         ──Broadcast──► Exec on every shard → merge
//!   multi ──EXEC───────► one Batch, a gather, or every shard held while the commands run
//!   block ──BLPOP & co──► a waiter on the owner, withdrawn on timeout / interrupt
//! ```
//! This layer sends jobs and reads replies; it never touches another shard's data. It knows
//! no sockets: what a connection contributes (its interrupts while blocked, its
//! server-level commands inside EXEC) is passed in by the layers above.

pub mod block;
pub mod keyless;
pub mod multi;
pub mod route;
pub mod sort_gather;
pub mod stream_block;

use crate::shard::env::{Env, Job, Out};
use crate::shard::{here, submit};

/// Runs `f` on every shard (as a job, in the shards' own threads) and returns the results in
/// shard order. The one fan-out helper: INFO, CONFIG SET, PUBLISH, PUBSUB and the like.
pub async fn on_all_shards<T, F>(f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(&mut Env) -> T + Clone + Send + 'static,
{
    let n = here().nshards;
    let pending: Vec<_> = (0..n)
        .map(|s| {
            let f = f.clone();
            submit(s, Job::Run(Box::new(move |env: &mut Env| Out::Any(Box::new(f(env))))))
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for p in pending {
        if let Out::Any(b) = p.get().await {
            if let Ok(v) = b.downcast::<T>() {
                out.push(*v);
            }
        }
    }
    out
}
