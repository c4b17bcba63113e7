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

use mayfly_engine::reply::Reply;

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

/// Submits every `(shard, job)` at once (the shards work in parallel) and returns their
/// replies in the same order.
pub async fn exec_parts(jobs: impl IntoIterator<Item = (usize, Job)>) -> Vec<Reply> {
    let pending: Vec<_> = jobs.into_iter().map(|(s, job)| submit(s, job)).collect();
    let mut replies = Vec::with_capacity(pending.len());
    for p in pending {
        replies.push(p.get().await.into_reply());
    }
    replies
}

/// Releases transaction `txid`'s key locks on each of `shards`, all at once, and waits until
/// every shard has done so.
pub async fn unlock_on(shards: impl IntoIterator<Item = usize>, txid: u64) {
    let pending: Vec<_> = shards.into_iter().map(|s| submit(s, Job::Unlock { txid })).collect();
    for p in pending {
        p.get().await;
    }
}
