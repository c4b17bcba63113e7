//! SORT / SORT_RO whose BY or GET patterns name keys, on a server with several shards.
//!
//! ```text
//!   1. on the sorted key's shard: which keys will the patterns read? (its current elements)
//!   2. all on that shard ──► run SORT there
//!      else ──► gather: lock sorted key, STORE destination and pattern keys, copy them to a
//!               scratch shard, check the patterns still name only fetched keys, run, store
//!   the elements changed in between (check failed) ──► again, a few times, then run anyway
//! ```
//! Redis Cluster refuses such patterns; Mayfly reads them as one atomic multi-shard read.

use bytes::Bytes;
use mayfly_engine::command::CommandSpec;
use mayfly_engine::families::sort;
use mayfly_engine::reply::Reply;
use mayfly_engine::shard::Shard;
use mayfly_engine::table::Key;

use crate::shard::env::{DbKey, Job, Out};
use crate::shard::{call, here};

/// Attempts before the last one, which runs on whatever it fetched.
const RETRIES: usize = 3;

/// True for a SORT / SORT_RO whose patterns read other keys.
pub fn reads_pattern_keys(spec: &CommandSpec, argv: &[Bytes]) -> bool {
    matches!(spec.name, "sort" | "sort_ro")
        && argv.len() > 2
        && sort::reads_other_keys(argv, spec.name == "sort_ro")
}

/// The keys SORT's patterns read now, asked of the sorted key's shard.
async fn pattern_keys(shard: usize, db: usize, argv: &[Bytes], readonly: bool) -> Vec<Bytes> {
    let argv = argv.to_vec();
    let job = Job::Run(Box::new(move |env| {
        let mut ctx = env.shard.ctx(db, false);
        Out::Any(Box::new(sort::pattern_keys(&mut ctx, &argv, readonly)))
    }));
    match call(shard, job).await {
        Out::Any(b) => b.downcast::<Vec<Bytes>>().map(|v| *v).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Runs the SORT with every key its patterns read, wherever they live.
/// `gather(argv, extra keys, check)` is the router's gather (it runs SORT on a scratch shard
/// holding the declared and the extra keys when `check` accepts them; Ok(None) when not).
/// `spec` is SORT's or SORT_RO's entry.
pub async fn sort(
    db: usize,
    resp3: bool,
    held: u64,
    spec: &'static CommandSpec,
    argv: Vec<Bytes>,
    gather: impl AsyncFn(
        Vec<Bytes>,
        Vec<DbKey>,
        &dyn Fn(&mut Shard) -> bool,
    ) -> Result<Option<Vec<Reply>>, Reply>,
) -> Reply {
    let readonly = spec.name == "sort_ro";
    let shared = here().shared.clone();
    let owner = shared.shard_of(&argv[1]);
    for attempt in 0..=RETRIES {
        let keys = pattern_keys(owner, db, &argv, readonly).await;
        let declared = spec.keys_of(&argv);
        let local = keys.iter().all(|k| shared.shard_of(k) == owner)
            && declared.iter().all(|&i| shared.shard_of(&argv[i]) == owner);
        if local {
            let job = Job::Exec { spec: Some(spec), db, argv, resp3, txid: held };
            return call(owner, job).await.into_reply();
        }
        let fetched: hashbrown::HashSet<Bytes> = keys.iter().cloned().collect();
        let extra: Vec<DbKey> = keys.iter().map(|k| (db, Key::from(&k[..]))).collect();
        let check_argv = argv.clone();
        let last = attempt == RETRIES;
        let check = move |scratch: &mut Shard| {
            if last {
                return true;
            }
            let mut ctx = scratch.ctx(db, false);
            sort::pattern_keys(&mut ctx, &check_argv, readonly).iter().all(|k| fetched.contains(k))
        };
        match gather(argv.clone(), extra, &check).await {
            Ok(Some(mut replies)) => return replies.pop().unwrap_or(Reply::Nil),
            Ok(None) => continue,
            Err(oom) => return oom,
        }
    }
    Reply::error("ERR internal: SORT could not gather its pattern keys")
}
