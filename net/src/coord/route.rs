//! Routing a shard-implemented command to the shards that own its keys.
//!
//! ```text
//!   keys on one shard ─────────────► Exec on that shard (inline when it is this one)
//!   keys on several, Split ────────► lock shards in ascending order → Exec subsets → merge → unlock
//!   keys on several, Gather ───────► lock → Fetch entries → run on a scratch shard → Store back
//!   keyless Broadcast ─────────────► Exec on every shard → merge
//! ```
//! Locks make multi-shard commands atomic and isolated: a reader that takes shared locks in
//! the same shard order can never see half of a multi-shard write.

use bytes::Bytes;
use mayfly_engine::clock::Clock;
use mayfly_engine::command::{flags, CommandSpec, Merge, MultiShard};
use mayfly_engine::journal::ShardSet;
use mayfly_engine::reply::Reply;
use mayfly_engine::shard::Shard;
use mayfly_engine::table::Key;

use super::{exec_parts, unlock_on};
use crate::shard::env::{select_in_batch, DbKey, Job, Out};
use crate::shard::{call, here, submit};

/// Routes a shard-implemented command by its keys.
pub async fn route(db: usize, resp3: bool, spec: &'static CommandSpec, argv: Vec<Bytes>) -> Reply {
    route_in(db, resp3, spec, argv, 0).await
}

/// Routes a command; `held` ≠ 0 is the txid of a transaction that already holds every shard
/// (see `multi::Held`): the command's jobs run under it and take no locks of their own.
pub async fn route_in(
    db: usize,
    resp3: bool,
    spec: &'static CommandSpec,
    argv: Vec<Bytes>,
    held: u64,
) -> Reply {
    let rt = here();
    // Borrow, never clone, the shared Arc here: a refcount bump per command would bounce its
    // cache line between every shard's core.
    let g = &*rt.shared;
    // Most commands name exactly one key at a fixed place: route them without building the
    // key index list (an allocation per command).
    if let Some(i) = spec.single_key(argv.len()) {
        let shard = g.shard_of(&argv[i]);
        return call(shard, Job::Exec { spec: Some(spec), db, argv, resp3, txid: held })
            .await
            .into_reply();
    }
    if g.nshards > 1 && super::sort_gather::reads_pattern_keys(spec, &argv) {
        let gather = async |argv, extra, check: &dyn Fn(&mut Shard) -> bool| {
            gather_with(db, resp3, vec![argv], held, extra, Some(check)).await
        };
        return super::sort_gather::sort(db, resp3, held, spec, argv, gather).await;
    }
    let idx = spec.keys_of(&argv);
    if idx.is_empty() {
        return match spec.multi {
            MultiShard::Broadcast(merge) => broadcast_in(db, resp3, argv, merge, held).await,
            MultiShard::Net => super::keyless::keyless_special(db, resp3, spec, argv, held).await,
            _ => call(rt.id, Job::Exec { spec: Some(spec), db, argv, resp3, txid: held })
                .await
                .into_reply(),
        };
    }
    let first = g.shard_of(&argv[idx[0]]);
    if g.nshards == 1 || idx.iter().all(|&i| g.shard_of(&argv[i]) == first) {
        return call(first, Job::Exec { spec: Some(spec), db, argv, resp3, txid: held })
            .await
            .into_reply();
    }
    if matches!(spec.name, "xread" | "xreadgroup") {
        return super::stream_block::xread_split(db, resp3, argv, held).await;
    }
    match spec.multi {
        MultiShard::Split(merge) => split(db, resp3, spec, argv, &idx, merge, held).await,
        _ => match gather(db, resp3, vec![argv], held).await {
            Ok(mut replies) => replies.pop().unwrap_or(Reply::Nil),
            Err(oom) => oom,
        },
    }
}

/// Runs a keyless command on every shard and merges the replies.
pub async fn broadcast(db: usize, resp3: bool, argv: Vec<Bytes>, merge: Merge) -> Reply {
    broadcast_in(db, resp3, argv, merge, 0).await
}

/// [`broadcast`] inside a transaction that holds every shard (`held` ≠ 0), or not (0).
async fn broadcast_in(db: usize, resp3: bool, argv: Vec<Bytes>, merge: Merge, held: u64) -> Reply {
    let n = here().nshards;
    let jobs =
        (0..n).map(|s| (s, Job::Exec { spec: None, db, argv: argv.clone(), resp3, txid: held }));
    merge_replies(merge, exec_parts(jobs).await, None)
}

fn merge_replies(merge: Merge, replies: Vec<Reply>, order: Option<&[(usize, usize)]>) -> Reply {
    if let Some(err) = replies.iter().find(|r| r.is_error()) {
        return err.clone();
    }
    match merge {
        Merge::SumInts => {
            Reply::Int(replies.iter().map(|r| if let Reply::Int(n) = r { *n } else { 0 }).sum())
        }
        Merge::AllOk => Reply::ok(),
        Merge::ConcatArrays => {
            let mut out = Vec::new();
            for r in replies {
                if let Reply::Array(items) = r {
                    out.extend(items);
                }
            }
            Reply::Array(out)
        }
        Merge::ArrayInKeyOrder => {
            // order[i] = (position in `replies`, index within that reply's array) of key i.
            let mut arrays: Vec<Vec<Option<Reply>>> = replies
                .into_iter()
                .map(|r| match r {
                    Reply::Array(items) => items.into_iter().map(Some).collect(),
                    _ => Vec::new(),
                })
                .collect();
            let order = order.unwrap_or(&[]);
            Reply::Array(
                order
                    .iter()
                    .map(|&(s, i)| {
                        arrays
                            .get_mut(s)
                            .and_then(|a| a.get_mut(i))
                            .and_then(Option::take)
                            .unwrap_or(Reply::Nil)
                    })
                    .collect(),
            )
        }
    }
}

/// Locks `keys` (grouped by shard, ascending) for `txid`; each shard learns which shards the
/// transaction touches (its journal records carry them).
async fn lock_all(txid: u64, by_shard: &[(usize, Vec<DbKey>)], exclusive: bool) {
    let shards = ShardSet::from_ids(by_shard.iter().map(|(s, _)| *s));
    for (shard, keys) in by_shard {
        let job = Job::Lock { txid, keys: keys.clone(), exclusive, shards: shards.clone() };
        call(*shard, job).await;
    }
}

fn group_by_shard(keys: &[DbKey]) -> Vec<(usize, Vec<DbKey>)> {
    let rt = here();
    let g = &*rt.shared;
    let mut groups: Vec<(usize, Vec<DbKey>)> = Vec::new();
    for k in keys {
        let s = g.shard_of(&k.1);
        match groups.iter_mut().find(|(gs, _)| *gs == s) {
            Some((_, v)) => v.push(k.clone()),
            None => groups.push((s, vec![k.clone()])),
        }
    }
    groups.sort_by_key(|(s, _)| *s);
    groups
}

/// Multi-shard command whose key groups can run independently per shard (MGET, MSET, DEL, …).
async fn split(
    db: usize,
    resp3: bool,
    spec: &'static CommandSpec,
    argv: Vec<Bytes>,
    idx: &[usize],
    merge: Merge,
    held: u64,
) -> Reply {
    let g = here().shared.clone();
    let step = spec.step.max(1) as usize;
    let mut per_shard: Vec<(usize, Vec<Bytes>)> = Vec::new();
    let mut order: Vec<(usize, usize)> = Vec::with_capacity(idx.len());
    for &i in idx {
        let s = g.shard_of(&argv[i]);
        let pos = match per_shard.iter().position(|(ps, _)| *ps == s) {
            Some(p) => p,
            None => {
                per_shard.push((s, vec![argv[0].clone()]));
                per_shard.len() - 1
            }
        };
        let sub = &mut per_shard[pos].1;
        order.push((pos, (sub.len() - 1) / step));
        sub.extend(argv[i..(i + step).min(argv.len())].iter().cloned());
    }
    let txid = if held != 0 { held } else { g.next_txid() };
    let keys: Vec<DbKey> = idx.iter().map(|&i| (db, Key::from(&argv[i][..]))).collect();
    let groups = group_by_shard(&keys);
    if held == 0 {
        lock_all(txid, &groups, spec.has(flags::WRITE)).await;
    }
    let jobs = per_shard
        .iter()
        .map(|(s, sub)| (*s, Job::Exec { spec: Some(spec), db, argv: sub.clone(), resp3, txid }));
    let replies = exec_parts(jobs).await;
    if held == 0 {
        unlock_on(groups.iter().map(|(s, _)| *s), txid).await;
    }
    publish_split_events(txid, &keys);
    merge_replies(merge, replies, Some(&order))
}

/// Publishes the keyspace events of a split command's parts in the order of its keys, as
/// Redis raises them (each part answered after sending its events, so all are here).
fn publish_split_events(txid: u64, keys: &[DbKey]) {
    let rt = here();
    let mut events = rt.take_held_events(txid);
    if events.is_empty() {
        return;
    }
    let mut first: std::collections::HashMap<(usize, &[u8]), usize> =
        std::collections::HashMap::with_capacity(keys.len());
    for (i, (db, k)) in keys.iter().enumerate() {
        first.entry((*db, &k[..])).or_insert(i);
    }
    // Stable: the events of one key keep their order.
    events.sort_by_key(|e| first.get(&(e.db, &e.key[..])).copied().unwrap_or(usize::MAX));
    rt.publish_events(events, true);
}

/// One key written back by a gather: its new entry, or None to delete it.
type StoreWrite = (DbKey, Option<mayfly_engine::db::Entry>);

/// The (db, key) pairs a command touches, honouring `COPY … DB n`.
fn command_db_keys(db: usize, spec: &CommandSpec, argv: &[Bytes]) -> Vec<DbKey> {
    let idx = spec.keys_of(argv);
    let mut dst_db = db;
    if spec.name == "copy" {
        let mut i = 3;
        while i + 1 < argv.len() {
            if argv[i].eq_ignore_ascii_case(b"db") {
                if let Some(n) =
                    std::str::from_utf8(&argv[i + 1]).ok().and_then(|s| s.parse::<usize>().ok())
                {
                    dst_db = n;
                }
            }
            i += 1;
        }
    }
    idx.iter()
        .enumerate()
        .map(|(n, &i)| (if n == 1 { dst_db } else { db }, Key::from(&argv[i][..])))
        .collect()
}

/// Runs `cmds` atomically over keys that live on several shards: lock every key, copy the
/// entries into a scratch shard, run the commands there, and store what they changed. Inside
/// a transaction that holds every shard (`held` ≠ 0) it takes and releases no locks.
/// Err is the OOM reply when the commands may grow memory and an owner shard is over
/// maxmemory and cannot evict (nothing ran).
pub async fn gather(
    db: usize,
    resp3: bool,
    cmds: Vec<Vec<Bytes>>,
    held: u64,
) -> Result<Vec<Reply>, Reply> {
    Ok(gather_with(db, resp3, cmds, held, Vec::new(), None).await?.unwrap_or_default())
}

/// Checks the scratch shard holding the fetched keys before the commands run; false means
/// they would need keys not fetched (nothing runs, the locks are released).
pub type GatherCheck<'a> = &'a dyn Fn(&mut Shard) -> bool;

/// [`gather`] that also fetches `extra` keys the commands read without declaring them (SORT's
/// BY / GET patterns), and runs only when `check` accepts what was fetched (Ok(None) when it
/// does not: the caller retries).
pub async fn gather_with(
    db: usize,
    resp3: bool,
    cmds: Vec<Vec<Bytes>>,
    held: u64,
    extra: Vec<DbKey>,
    check: Option<GatherCheck<'_>>,
) -> Result<Option<Vec<Reply>>, Reply> {
    let rt = here();
    let g = rt.shared.clone();
    let databases = rt.env.borrow().shard.dbs.len();
    let mut keys: Vec<DbKey> = Vec::new();
    let mut write = false;
    let mut denyoom = false;
    let mut cur_db = db;
    for argv in &cmds {
        if let Some(Ok(n)) = select_in_batch(argv, databases) {
            cur_db = n;
            continue;
        }
        if let Some(spec) = mayfly_engine::lookup(&argv[0]) {
            write |= spec.has(flags::WRITE);
            denyoom |= spec.has(flags::DENYOOM);
            for k in command_db_keys(cur_db, spec, argv) {
                if k.0 < databases && !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
    }
    for k in extra {
        if k.0 < databases && !keys.contains(&k) {
            keys.push(k);
        }
    }
    let groups = group_by_shard(&keys);
    let txid = if held != 0 { held } else { g.next_txid() };
    if held == 0 {
        lock_all(txid, &groups, write).await;
    }
    let fetches: Vec<_> = groups
        .iter()
        .map(|(s, ks)| {
            submit(*s, Job::Fetch { txid, keys: ks.clone(), make_room: denyoom && write })
        })
        .collect();
    let (config, now) = {
        let env = rt.env.borrow();
        (env.shard.config.clone(), env.shard.clock.now_ms())
    };
    let mut scratch = Shard::new(usize::MAX, config, Clock::Manual(now));
    let mut refused: Option<Reply> = None;
    for ((_, ks), f) in groups.iter().zip(fetches) {
        match f.get().await {
            Out::Entries(entries) => {
                for (k, e) in ks.iter().zip(entries) {
                    if let Some(e) = e {
                        scratch.dbs[k.0].insert(k.1.clone(), e);
                    }
                }
            }
            Out::Reply(oom) => refused = Some(oom),
            _ => {}
        }
    }
    if let Some(oom) = refused {
        // Over maxmemory on an owner that could not evict: nothing runs, as a local denyoom
        // command is refused.
        if held == 0 {
            unlock_on(groups.iter().map(|(s, _)| *s), txid).await;
        }
        let mut env = rt.env.borrow_mut();
        for argv in &cmds {
            if let Some(spec) = mayfly_engine::lookup(&argv[0]) {
                if spec.has(flags::DENYOOM) {
                    env.stats.commands.entry(spec.name).or_default().rejected_calls += 1;
                }
            }
        }
        return Err(oom);
    }
    if check.is_some_and(|check| !check(&mut scratch)) {
        if held == 0 {
            unlock_on(groups.iter().map(|(s, _)| *s), txid).await;
        }
        return Ok(None);
    }
    scratch.write_log = Some(Vec::new());
    let mut replies = Vec::with_capacity(cmds.len());
    let mut cur_db = db;
    for argv in &cmds {
        if let Some(sel) = select_in_batch(argv, databases) {
            match sel {
                Ok(n) => {
                    cur_db = n;
                    replies.push(Reply::ok());
                }
                Err(e) => replies.push(e),
            }
            continue;
        }
        // Counted in the coordinator's command statistics, as the shard would count it.
        let start = std::time::Instant::now();
        let reply = scratch.execute(cur_db, argv, resp3);
        if let Some(spec) = mayfly_engine::lookup(&argv[0]) {
            let us = start.elapsed().as_micros() as u64;
            rt.env.borrow_mut().stats.record(spec.name, us, reply.is_error());
        }
        replies.push(reply);
    }
    let mut written: Vec<DbKey> = scratch.write_log.take().unwrap_or_default();
    written.sort();
    written.dedup();
    let mut per_shard: Vec<(usize, Vec<StoreWrite>)> =
        groups.iter().map(|(s, _)| (*s, Vec::new())).collect();
    for k in written {
        let s = g.shard_of(&k.1);
        // Moved out, not cloned: a store of a million-member set would otherwise copy it
        // once more on this shard (seconds of work in one step).
        let entry = scratch.dbs[k.0].remove(&k.1).map(|(_, e)| e);
        match per_shard.iter_mut().find(|(ps, _)| *ps == s) {
            Some((_, w)) => w.push((k, entry)),
            None => {
                // A key the commands did not declare (cannot happen for table-declared keys);
                // it still has to reach its owner.
                per_shard.push((s, vec![(k, entry)]));
            }
        }
    }
    // Keyspace events of the commands go out before the stores: a reader of the written keys
    // waits for the locks anyway, and clients the stores serve (BLPOP) raise their events
    // after these, as in Redis.
    let events = scratch.take_events();
    if !events.is_empty() {
        rt.publish_events(events, true);
    }
    let release = held == 0;
    let stores: Vec<_> = per_shard
        .into_iter()
        .map(|(s, writes)| submit(s, Job::Store { txid, writes, release }))
        .collect();
    for st in stores {
        st.get().await;
    }
    // The fetched copies go to this shard's deferred frees (freed a bounded amount per tick)
    // instead of being dropped here in one step.
    let mut leftovers = Vec::new();
    for d in scratch.dbs.iter_mut().filter(|d| !d.is_empty()) {
        let keys: Vec<Key> = d.table.iter().map(|(k, _)| Key::from(k)).collect();
        leftovers.extend(keys.iter().filter_map(|k| d.remove(k)).map(|(_, e)| e));
    }
    let mut env = rt.env.borrow_mut();
    for e in leftovers {
        env.shard.defer_free(e);
    }
    drop(env);
    Ok(Some(replies))
}
