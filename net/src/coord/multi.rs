//! MULTI/EXEC and WATCH across shards.
//!
//! ```text
//!   EXEC ── every command a shard command, keys on one shard ──► one Batch job (fast path)
//!        ── shard commands over several shards ───────────────► gather (lock keys, scratch)
//!        ── anything else (FLUSHALL, DBSIZE, INFO, CONFIG SET…) ► Held: lock every shard
//!                                                                 whole, run each command at
//!                                                                 its position, unlock
//! ```
//! Whatever the queue holds, no other client observes the transaction half done: in the
//! held case each shard runs only the transaction's jobs until it is released (jobs that do
//! not touch the keyspace, such as INFO's gathering or a barrier, still run). Shards are taken
//! in ascending order, like key locks, so two transactions never wait on each other in a cycle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use mayfly_engine::command::{CommandSpec, Handler, MultiShard};
use mayfly_engine::journal::ShardSet;
use mayfly_engine::reply::Reply;
use mayfly_engine::table::Key;

use crate::shard::env::{select_in_batch, DbKey, Env, Job, Out};
use crate::shard::{call, here, submit};

/// A connection's WATCHed keys and the flag their shards set when one changes.
pub struct WatchState {
    pub dirty: Arc<AtomicBool>,
    /// (owning shard, key) of every watched key.
    pub keys: Vec<(usize, DbKey)>,
}

impl Default for WatchState {
    fn default() -> WatchState {
        WatchState { dirty: Arc::new(AtomicBool::new(false)), keys: Vec::new() }
    }
}

impl WatchState {
    /// True when a watched key changed since WATCH.
    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::SeqCst)
    }
}

/// WATCH: registers each key with the shard that owns it.
pub async fn watch(state: &mut WatchState, db: usize, keys: &[Bytes]) {
    let shared = here().shared.clone();
    for k in keys {
        let key: DbKey = (db, Key::from(&k[..]));
        if state.keys.iter().any(|(_, wk)| *wk == key) {
            continue;
        }
        let shard = shared.shard_of(k);
        let (flag, kk) = (state.dirty.clone(), key.clone());
        call(
            shard,
            Job::Run(Box::new(move |env: &mut Env| {
                env.watch(kk, flag);
                Out::Done
            })),
        )
        .await;
        state.keys.push((shard, key));
    }
}

/// UNWATCH (also after EXEC and DISCARD, and on disconnect).
pub async fn unwatch(state: &mut WatchState) {
    let keys = std::mem::take(&mut state.keys);
    let pending: Vec<_> = keys
        .into_iter()
        .map(|(shard, key)| {
            let flag = state.dirty.clone();
            submit(
                shard,
                Job::Run(Box::new(move |env: &mut Env| {
                    env.unwatch(&key, &flag);
                    Out::Done
                })),
            )
        })
        .collect();
    for p in pending {
        p.get().await;
    }
    state.dirty = Arc::new(AtomicBool::new(false));
}

/// How an EXEC's queued commands run.
pub enum Plan {
    /// Every command is a shard command and their keys live on `shard`: one Batch job.
    Batch { shard: usize },
    /// Shard commands with keys on several shards, nothing server-wide: a gather.
    Gather,
    /// Broadcast, cursor or server-level commands inside: every shard is held while the
    /// commands run one by one (see [`Held`]).
    Hold,
}

/// Decides how `cmds` (with their table entries, same order) run atomically.
pub fn plan(specs: &[&'static CommandSpec], cmds: &[Vec<Bytes>]) -> Plan {
    let rt = here();
    let shared = &rt.shared;
    let mut shards: Vec<usize> = Vec::new();
    let mut server_wide = false;
    for (spec, argv) in specs.iter().zip(cmds) {
        let is_select = spec.name == "select" && argv.len() == 2;
        if !matches!(spec.handler, Handler::Shard(_)) && !is_select {
            server_wide = true;
        }
        if matches!(spec.multi, MultiShard::Broadcast(_) | MultiShard::Net) {
            server_wide = true;
        }
        // SORT BY / GET patterns read undeclared keys, anywhere: hold every shard.
        if shared.nshards > 1 && super::sort_gather::reads_pattern_keys(spec, argv) {
            server_wide = true;
        }
        for i in spec.keys_of(argv) {
            let s = shared.shard_of(&argv[i]);
            if !shards.contains(&s) {
                shards.push(s);
            }
        }
    }
    if server_wide {
        // On one shard a Batch is already atomic, but server-level commands (INFO, CLIENT …)
        // are not shard jobs: hold that one shard instead.
        if shared.nshards == 1 && specs.iter().all(|s| matches!(s.handler, Handler::Shard(_))) {
            return Plan::Batch { shard: 0 };
        }
        return Plan::Hold;
    }
    match shards.len() {
        0 => Plan::Batch { shard: rt.id },
        1 => Plan::Batch { shard: shards[0] },
        _ if shared.nshards == 1 => Plan::Batch { shard: 0 },
        _ => Plan::Gather,
    }
}

/// Runs a Batch plan: the whole queue as one job on `shard`. Returns the replies and the
/// database selected at the end, or the one reply that refused the whole transaction (OOM).
pub async fn run_batch(
    shard: usize,
    db: usize,
    resp3: bool,
    cmds: Vec<Vec<Bytes>>,
) -> Result<(Vec<Reply>, usize), Reply> {
    let last_db = selected_db(db, &cmds);
    let txid = here().shared.next_txid();
    match call(shard, Job::Batch { db, cmds, resp3, txid }).await {
        Out::Replies(r) => Ok((r, last_db)),
        Out::Reply(refused) => Err(refused),
        _ => Err(Reply::error("ERR internal: EXEC failed")),
    }
}

/// Runs a Gather plan. Returns the replies and the database selected at the end, or the one
/// reply that refused the whole transaction (OOM).
pub async fn run_gather(
    db: usize,
    resp3: bool,
    cmds: Vec<Vec<Bytes>>,
) -> Result<(Vec<Reply>, usize), Reply> {
    let last_db = selected_db(db, &cmds);
    Ok((super::route::gather(db, resp3, cmds, 0).await?, last_db))
}

/// The database a queue leaves selected (its last valid SELECT).
fn selected_db(db: usize, cmds: &[Vec<Bytes>]) -> usize {
    let databases = here().env.borrow().shard.dbs.len();
    cmds.iter().fold(db, |cur, c| match select_in_batch(c, databases) {
        Some(Ok(n)) => n,
        _ => cur,
    })
}

/// Every shard held whole for one transaction. Commands run through [`Held::run`] (shard
/// commands) or by the caller (server-level ones) while it lives; [`Held::release`] lets the
/// other clients in again.
pub struct Held {
    txid: u64,
    released: bool,
}

impl Held {
    /// Takes every shard, in ascending order, waiting for locks held by others to go.
    pub async fn begin() -> Held {
        let rt = here();
        let txid = rt.shared.next_txid();
        let shards = ShardSet::from_ids(0..rt.nshards);
        for s in 0..rt.nshards {
            call(s, Job::LockAll { txid, shards: shards.clone() }).await;
        }
        Held { txid, released: false }
    }

    /// The transaction's id (jobs carrying it run while it holds the shards).
    pub fn txid(&self) -> u64 {
        self.txid
    }

    /// Before the first command of a transaction that may grow memory: makes room on every
    /// shard as a denyoom command would; Err is the OOM reply that refuses the whole EXEC.
    pub async fn check_room(&self) -> Result<(), Reply> {
        let results = super::on_all_shards(|env: &mut Env| env.check_room()).await;
        results.into_iter().collect()
    }

    /// Runs one shard command (any kind: single-key, split, gather, broadcast, SCAN) inside
    /// the transaction.
    pub async fn run(
        &self,
        db: usize,
        resp3: bool,
        spec: &'static CommandSpec,
        argv: Vec<Bytes>,
    ) -> Reply {
        super::route::route_in(db, resp3, spec, argv, self.txid).await
    }

    /// Lets every shard go.
    pub async fn release(mut self) {
        self.released = true;
        let n = here().nshards;
        let pending: Vec<_> = (0..n).map(|s| submit(s, Job::Unlock { txid: self.txid })).collect();
        for p in pending {
            p.get().await;
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.released {
            // The connection's task was dropped mid-transaction (server shutdown): release
            // without waiting for the answers.
            let rt = here();
            for s in 0..rt.nshards {
                drop(submit(s, Job::Unlock { txid: self.txid }));
            }
        }
    }
}
