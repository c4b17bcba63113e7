//! XREAD / XREADGROUP with BLOCK over streams on several shards.
//!
//! ```text
//!   XREAD … BLOCK … STREAMS a b $ $ ──► ask each shard for its streams' last ids ($ → id)
//!     ──► attempt (atomic multi-shard read) ──► nothing: poll each shard (read-only, cheap)
//!          every few ms and attempt again only when one of them has something past the ids
//! ```
//! Streams on one shard block as a waiter there instead (`shard::stream_wait`). A plain XREAD
//! over several shards is split per shard under shared locks ([`xread_split`]) rather than
//! gathered: the streams are read where they are, never copied.

use bytes::Bytes;
use mayfly_engine::families::stream;
use mayfly_engine::journal::ShardSet;
use mayfly_engine::reply::Reply;
use mayfly_engine::table::Key;

use super::{exec_parts, on_all_shards, unlock_on};
use crate::shard::env::{DbKey, Job, Out};
use crate::shard::{call, here, submit};

/// XREAD's `$` ids replaced by each stream's last id now (0-0 for a missing key), asked of
/// the shards that own them; a later attempt then waits for entries past that point as Redis
/// does. Other argv comes back unchanged.
pub async fn resolve_last_ids(db: usize, argv: Vec<Bytes>) -> Vec<Bytes> {
    if !argv[0].eq_ignore_ascii_case(b"xread") || !argv.iter().any(|a| &a[..] == b"$") {
        return argv;
    }
    let Some((at, n)) = stream::read_streams(&argv) else { return argv };
    let shared_argv = argv.clone();
    let per_shard = on_all_shards(move |env| {
        let rt = here();
        let me = env.shard.id;
        let mut ctx = env.shard.ctx(db, false);
        // blocking_argv resolves every `$`; keep only the ids of this shard's keys.
        let resolved = stream::blocking_argv(&mut ctx, &shared_argv).unwrap_or_default();
        let mut out = Vec::new();
        for i in 0..n {
            let key = &shared_argv[at + i];
            if &shared_argv[at + n + i][..] == b"$" && rt.shared.shard_of(key) == me {
                // blocking_argv may insert COUNT 1000 before STREAMS: count from the end.
                let id_at = resolved.len() - n + i;
                if let Some(id) = resolved.get(id_at) {
                    out.push((at + n + i, id.clone()));
                }
            }
        }
        out
    })
    .await;
    let mut argv = argv;
    for (i, id) in per_shard.into_iter().flatten() {
        argv[i] = id;
    }
    argv
}

/// Whether some shard has, for the keys it owns, something a retry would answer (entries past
/// the ids, or for XREADGROUP a key or group gone). Read-only.
pub async fn any_ready(db: usize, argv: &[Bytes]) -> bool {
    let argv = argv.to_vec();
    on_all_shards(move |env| {
        let rt = here();
        let me = env.shard.id;
        let mut ctx = env.shard.ctx(db, false);
        stream::read_ready(&mut ctx, &argv, |k| rt.shared.shard_of(k) == me)
    })
    .await
    .into_iter()
    .any(|ready| ready)
}

/// XREAD / XREADGROUP over streams on several shards, without copying them: locks on every
/// key (ascending shards; shared for XREAD, exclusive for XREADGROUP, which writes the groups),
/// a check on every shard for the error the command would give (the one about the first key
/// wins, and then no part runs), one command per shard with its own keys and ids, and the
/// served streams merged in the order the command named them.
/// `held` ≠ 0: inside a transaction that already holds every shard (no locks taken).
pub async fn xread_split(db: usize, resp3: bool, argv: Vec<Bytes>, held: u64) -> Reply {
    let group = argv[0].eq_ignore_ascii_case(b"xreadgroup");
    let Some((at, n)) = stream::read_streams(&argv) else {
        // Malformed: any shard answers the same error.
        return call(here().id, Job::Exec { spec: None, db, argv, resp3, txid: held })
            .await
            .into_reply();
    };
    let shared = here().shared.clone();
    // Per shard: the positions (in key order) of its keys.
    let mut per_shard: Vec<(usize, Vec<usize>)> = Vec::new();
    for i in 0..n {
        let s = shared.shard_of(&argv[at + i]);
        match per_shard.iter_mut().find(|(ps, _)| *ps == s) {
            Some((_, v)) => v.push(i),
            None => per_shard.push((s, vec![i])),
        }
    }
    per_shard.sort_by_key(|(s, _)| *s);
    let txid = if held != 0 { held } else { shared.next_txid() };
    if held == 0 {
        let shards = ShardSet::from_ids(per_shard.iter().map(|(s, _)| *s));
        for (s, idx) in &per_shard {
            let keys: Vec<DbKey> =
                idx.iter().map(|&i| (db, Key::from(&argv[at + i][..]))).collect();
            call(*s, Job::Lock { txid, keys, exclusive: group, shards: shards.clone() }).await;
        }
    }
    if let Some(err) = first_error(db, &argv, &per_shard).await {
        if held == 0 {
            unlock_on(per_shard.iter().map(|(s, _)| *s), txid).await;
        }
        if let Some(spec) = mayfly_engine::lookup(&argv[0]) {
            here().env.borrow_mut().stats.record(spec.name, 0, true);
        }
        return err;
    }
    let jobs = per_shard.iter().map(|(s, idx)| {
        let mut sub: Vec<Bytes> = argv[..at].to_vec();
        sub.extend(idx.iter().map(|&i| argv[at + i].clone()));
        sub.extend(idx.iter().map(|&i| argv[at + n + i].clone()));
        (*s, Job::Exec { spec: None, db, argv: sub, resp3, txid })
    });
    let replies = exec_parts(jobs).await;
    if held == 0 {
        unlock_on(per_shard.iter().map(|(s, _)| *s), txid).await;
    }
    merge_reads(&argv[at..at + n], replies, resp3)
}

/// The per-shard XREAD replies as one: the first error (in shard order), else every served
/// stream in the order of `keys`, else the null array.
fn merge_reads(keys: &[Bytes], replies: Vec<Reply>, resp3: bool) -> Reply {
    if let Some(err) = replies.iter().find(|r| r.is_error()) {
        return err.clone();
    }
    let mut served: Vec<(Reply, Reply)> = Vec::new();
    for r in replies {
        match r {
            Reply::Map(pairs) => served.extend(pairs),
            Reply::Array(items) => {
                for item in items {
                    if let Reply::Array(mut kv) = item {
                        if kv.len() == 2 {
                            let v = kv.pop().unwrap_or(Reply::Nil);
                            let k = kv.pop().unwrap_or(Reply::Nil);
                            served.push((k, v));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if served.is_empty() {
        return Reply::NilArray;
    }
    let position = |k: &Reply| match k {
        Reply::Bulk(b) => keys.iter().position(|x| x == b).unwrap_or(usize::MAX),
        _ => usize::MAX,
    };
    served.sort_by_key(|(k, _)| position(k));
    if resp3 {
        Reply::Map(served)
    } else {
        Reply::Array(served.into_iter().map(|(k, v)| Reply::Array(vec![k, v])).collect())
    }
}

/// The error the command gives, if any: each shard judges its own keys, and the error about
/// the key named first is the answer (as Redis checks the keys in order).
async fn first_error(
    db: usize,
    argv: &[Bytes],
    per_shard: &[(usize, Vec<usize>)],
) -> Option<Reply> {
    let pending: Vec<_> = per_shard
        .iter()
        .map(|(s, _)| {
            let argv = argv.to_vec();
            submit(
                *s,
                Job::Run(Box::new(move |env| {
                    let rt = here();
                    let me = env.shard.id;
                    let mut ctx = env.shard.ctx(db, false);
                    let found =
                        stream::read_check(&mut ctx, &argv, |k| rt.shared.shard_of(k) == me);
                    Out::Any(Box::new(found))
                })),
            )
        })
        .collect();
    let mut first: Option<(usize, Reply)> = None;
    for p in pending {
        if let Out::Any(b) = p.get().await {
            if let Ok(found) = b.downcast::<Option<(usize, Reply)>>() {
                if let Some((i, e)) = *found {
                    if first.as_ref().is_none_or(|(j, _)| i < *j) {
                        first = Some((i, e));
                    }
                }
            }
        }
    }
    first.map(|(_, e)| e)
}

/// The error a reader that was blocked over several shards gets when its retry fails: as Redis
/// answers a parked XREADGROUP, `-UNBLOCKED the stream key no longer exists` when one of its
/// keys is gone or holds another type, `-NOGROUP the consumer group this client was blocked on
/// no longer exists` when its group went; other errors as they are.
pub async fn blocked_error(db: usize, argv: &[Bytes], err: Reply) -> Reply {
    let text = match &err {
        Reply::Error(t) => t.to_string(),
        _ => return err,
    };
    if !argv[0].eq_ignore_ascii_case(b"xreadgroup") {
        return err;
    }
    if text.starts_with("WRONGTYPE") {
        return Reply::error("UNBLOCKED the stream key no longer exists");
    }
    if !text.starts_with("NOGROUP") {
        return err;
    }
    let Some((at, n)) = stream::read_streams(argv) else { return err };
    let keys: Vec<Bytes> = argv[at..at + n].to_vec();
    let all_streams = on_all_shards(move |env| {
        let rt = here();
        let me = env.shard.id;
        let mut ctx = env.shard.ctx(db, false);
        keys.iter().filter(|k| rt.shared.shard_of(k) == me).all(|k| {
            matches!(
                ctx.peek(k),
                Some(mayfly_engine::db::Entry {
                    value: mayfly_engine::value::Value::Stream(_),
                    ..
                })
            )
        })
    })
    .await
    .into_iter()
    .all(|ok| ok);
    if all_streams {
        Reply::error("NOGROUP the consumer group this client was blocked on no longer exists")
    } else {
        Reply::error("UNBLOCKED the stream key no longer exists")
    }
}
