//! Routing a command to the shards that own its keys.
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
use mayfly_engine::command::{flags, CommandSpec, Handler, Merge, MultiShard};
use mayfly_engine::reply::Reply;
use mayfly_engine::shard::Shard;
use mayfly_engine::table::Key;

use crate::admin;
use crate::conn::Conn;
use crate::rt::env::{DbKey, Job, Out};
use crate::rt::{call, rt, submit};

/// `SELECT n` inside a batch: Some(Ok(db)) or Some(Err(reply)); None for other commands.
pub fn select_in_batch(argv: &[Bytes], databases: usize) -> Option<Result<usize, Reply>> {
    if !argv[0].eq_ignore_ascii_case(b"select") || argv.len() != 2 {
        return None;
    }
    Some(parse_db_index(&argv[1], databases))
}

pub fn parse_db_index(arg: &[u8], databases: usize) -> Result<usize, Reply> {
    let n = std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| Reply::error("ERR value is not an integer or out of range"))?;
    if n < 0 || n as usize >= databases {
        return Err(Reply::error("ERR DB index is out of range"));
    }
    Ok(n as usize)
}

/// Entry point for every parsed request.
pub async fn dispatch(conn: &mut Conn, argv: Vec<Bytes>) -> Reply {
    let spec = match mayfly_engine::check_command(&argv) {
        Ok(spec) => spec,
        Err(reply) => {
            if conn.multi.is_some() {
                conn.multi_failed = true;
            }
            if let Some(spec) = mayfly_engine::lookup(&argv[0]) {
                let rt = rt();
                let mut env = rt.env.borrow_mut();
                env.stats.commands.entry(spec.name).or_default().rejected_calls += 1;
            }
            return reply;
        }
    };
    conn.info.set_last_cmd(spec);
    if !conn.authenticated && !spec.has(flags::NO_AUTH) {
        return Reply::error("NOAUTH Authentication required.");
    }
    if !conn.resp3 && conn.subs.active() && !spec.has(flags::ALLOW_SUBSCRIBED) {
        return Reply::error(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            spec.name
        ));
    }
    if !conn.resp3 && conn.subs.active() && spec.name == "ping" {
        // RESP2 subscribers get PING as a message-shaped array.
        let payload = argv.get(1).cloned().unwrap_or_default();
        return Reply::Array(vec![Reply::bulk_str("pong"), Reply::Bulk(payload)]);
    }
    if conn.multi.is_some()
        && !matches!(spec.name, "exec" | "discard" | "multi" | "watch" | "quit" | "reset")
    {
        if spec.has(flags::NO_MULTI) {
            conn.multi_failed = true;
            return Reply::error("ERR Command not allowed inside a transaction");
        }
        if let Some(q) = conn.multi.as_mut() {
            q.push(argv);
            conn.info.multi_len.store(q.len(), std::sync::atomic::Ordering::Relaxed);
        }
        return Reply::status("QUEUED");
    }
    if spec.has(flags::BLOCKING) {
        return block(conn, spec, argv).await;
    }
    execute(conn, spec, argv).await
}

/// The timeout of a blocking command in ms (0 = forever), or None when it does not parse
/// (the engine then answers Redis's error).
fn block_timeout_ms(spec: &CommandSpec, argv: &[Bytes]) -> Option<u64> {
    let arg = match spec.name {
        "blmpop" | "bzmpop" => argv.get(1)?,
        _ => argv.last()?,
    };
    let secs: f64 = std::str::from_utf8(arg).ok()?.trim().parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some((secs * 1000.0).ceil() as u64)
}

/// What a blocking command answers when it times out.
fn timeout_reply(spec: &CommandSpec) -> Reply {
    match spec.name {
        "blmove" | "brpoplpush" => Reply::Nil,
        _ => Reply::NilArray,
    }
}

/// Blocking commands (BLPOP & co.). When all keys live on one shard, the command is parked
/// there as a waiter and served by the write that feeds it, in blocking order. Keys spread
/// over shards fall back to retrying the atomic multi-shard attempt every few milliseconds.
async fn block(conn: &mut Conn, spec: &'static CommandSpec, argv: Vec<Bytes>) -> Reply {
    use crate::rt::{race, Either, Pending};
    let Some(timeout_ms) = block_timeout_ms(spec, &argv) else {
        return execute(conn, spec, argv).await;
    };
    let rt = rt();
    let g = rt.global.clone();
    let idx = spec.keys_of(&argv);
    let shards: Vec<usize> = idx.iter().map(|&i| g.shard_of(&argv[i])).collect();
    let single = shards.windows(2).all(|w| w[0] == w[1]);
    let deadline = if timeout_ms == 0 {
        None
    } else {
        Some(std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms))
    };
    let remaining = |d: Option<std::time::Instant>| {
        // Rounded up: a truncated 0.9 ms would end the wait before the deadline.
        d.map(|d| {
            d.saturating_duration_since(std::time::Instant::now()).as_micros().div_ceil(1000) as u64
        })
    };
    if !single || shards.is_empty() {
        // Keys on several shards: retry the atomic multi-shard attempt until data or timeout.
        g.blocked_clients.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let unblock = || g.blocked_clients.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        loop {
            let r = route(conn.db, conn.resp3, spec, argv.clone()).await;
            if !crate::rt::env::is_empty_blocking_reply(&r) || r.is_error() {
                unblock();
                return r;
            }
            if remaining(deadline) == Some(0) {
                unblock();
                return timeout_reply(spec);
            }
            // Watch the socket meanwhile: a client that goes away stops retrying at once.
            let pause = crate::rt::sleep_ms(remaining(deadline).unwrap_or(10).min(10));
            let watch_socket = conn.receiver.recv(conn.fd, &mut conn.rbuf);
            let info = conn.info.clone();
            info.blocked.store(true, std::sync::atomic::Ordering::Relaxed);
            let outcome = race(pause, race(watch_socket, unblock_requested(&info))).await;
            info.blocked.store(false, std::sync::atomic::Ordering::Relaxed);
            match outcome {
                Either::Right(Either::Left(Err(()))) => {
                    unblock();
                    conn.close_after_reply = true;
                    return timeout_reply(spec);
                }
                Either::Right(Either::Right(how)) => {
                    unblock();
                    return unblocked_reply(spec, how);
                }
                _ => {}
            }
        }
    }
    let shard = shards[0];
    let id = conn.info.id;
    let stamp = match conn.receiver.last_rx_ns() {
        0 => crate::conn::realtime_ns(),
        ns => ns,
    };
    let pending = crate::rt::submit(
        shard,
        Job::Block { id, db: conn.db, argv, resp3: conn.resp3, stamp, fresh: true },
    );
    let fut = match pending {
        Pending::Ready(out) => return out.into_reply(),
        Pending::Wait(f) => f,
    };
    let token = fut.token;
    g.blocked_clients.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let info = conn.info.clone();
    info.blocked.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut unblocked_as = None;
    let mut fut = std::pin::pin!(fut);
    let outcome = loop {
        let left = remaining(deadline);
        if left == Some(0) {
            break None;
        }
        let timer = async {
            match left {
                Some(ms) => crate::rt::sleep_ms(ms).await,
                None => std::future::pending::<()>().await,
            }
        };
        let watch_socket = conn.receiver.recv(conn.fd, &mut conn.rbuf);
        let events = race(timer, race(watch_socket, unblock_requested(&info)));
        match race(fut.as_mut(), events).await {
            Either::Left(out) => break Some(out.into_reply()),
            Either::Right(Either::Left(())) => continue,
            // Pipelined bytes arrived while blocked: keep them for after the reply.
            Either::Right(Either::Right(Either::Left(Ok(_)))) => continue,
            Either::Right(Either::Right(Either::Left(Err(())))) => {
                conn.close_after_reply = true;
                break None;
            }
            Either::Right(Either::Right(Either::Right(how))) => {
                unblocked_as = Some(how);
                break None;
            }
        }
    };
    info.blocked.store(false, std::sync::atomic::Ordering::Relaxed);
    rt.unblock_wakers.borrow_mut().remove(&id);
    g.blocked_clients.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    if let Some(reply) = outcome {
        return reply;
    }
    // Timed out, disconnected or CLIENT UNBLOCKed: withdraw the waiter, unless it was served
    // meanwhile.
    let withdrawn = call(shard, Job::Unblock { id }).await.into_reply();
    if withdrawn == Reply::Int(1) {
        rt.cancel_reply(token);
        match unblocked_as {
            Some(how) => unblocked_reply(spec, how),
            None => timeout_reply(spec),
        }
    } else {
        fut.await.into_reply()
    }
}

/// Resolves when CLIENT UNBLOCK asks this client to stop waiting (and clears the request).
async fn unblock_requested(info: &crate::client::ClientInfo) -> crate::client::UnblockAs {
    use crate::client::UnblockAs;
    use std::sync::atomic::Ordering;
    std::future::poll_fn(|cx| match info.unblock.swap(0, Ordering::AcqRel) {
        0 => {
            rt().unblock_wakers.borrow_mut().insert(info.id, cx.waker().clone());
            // A request that landed while registering must not be missed.
            match info.unblock.swap(0, Ordering::AcqRel) {
                0 => std::task::Poll::Pending,
                2 => std::task::Poll::Ready(UnblockAs::Error),
                _ => std::task::Poll::Ready(UnblockAs::Timeout),
            }
        }
        2 => std::task::Poll::Ready(UnblockAs::Error),
        _ => std::task::Poll::Ready(UnblockAs::Timeout),
    })
    .await
}

/// What a blocking command answers when CLIENT UNBLOCK ends it.
fn unblocked_reply(spec: &CommandSpec, how: crate::client::UnblockAs) -> Reply {
    match how {
        crate::client::UnblockAs::Timeout => timeout_reply(spec),
        crate::client::UnblockAs::Error => {
            Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
        }
    }
}

/// Runs a command that passed the checks (also used by EXEC for queued commands).
pub async fn execute(conn: &mut Conn, spec: &'static CommandSpec, argv: Vec<Bytes>) -> Reply {
    match spec.handler {
        Handler::Net => admin::handle(conn, spec, argv).await,
        Handler::Shard(_) => route(conn.db, conn.resp3, spec, argv).await,
    }
}

/// Routes a shard-implemented command by its keys.
pub async fn route(db: usize, resp3: bool, spec: &'static CommandSpec, argv: Vec<Bytes>) -> Reply {
    let rt = rt();
    // Borrow, never clone, the shared Arc here: a refcount bump per command would bounce its
    // cache line between every shard's core.
    let g = &*rt.global;
    // Most commands name exactly one key at a fixed place: route them without building the
    // key index list (an allocation per command).
    if let Some(i) = spec.single_key(argv.len()) {
        let shard = g.shard_of(&argv[i]);
        return call(shard, Job::Exec { spec: Some(spec), db, argv, resp3, txid: 0 })
            .await
            .into_reply();
    }
    let idx = spec.keys_of(&argv);
    if idx.is_empty() {
        return match spec.multi {
            MultiShard::Broadcast(merge) => broadcast(db, resp3, argv, merge).await,
            MultiShard::Net => admin::keyless_special(db, resp3, spec, argv).await,
            _ => call(rt.id, Job::Exec { spec: Some(spec), db, argv, resp3, txid: 0 })
                .await
                .into_reply(),
        };
    }
    let first = g.shard_of(&argv[idx[0]]);
    if g.nshards == 1 || idx.iter().all(|&i| g.shard_of(&argv[i]) == first) {
        return call(first, Job::Exec { spec: Some(spec), db, argv, resp3, txid: 0 })
            .await
            .into_reply();
    }
    match spec.multi {
        MultiShard::Split(merge) => split(db, resp3, spec, argv, &idx, merge).await,
        _ => gather(db, resp3, spec, vec![argv]).await.pop().unwrap_or(Reply::Nil),
    }
}

/// Runs a keyless command on every shard and merges the replies.
pub async fn broadcast(db: usize, resp3: bool, argv: Vec<Bytes>, merge: Merge) -> Reply {
    let n = rt().nshards;
    let pending: Vec<_> = (0..n)
        .map(|s| submit(s, Job::Exec { spec: None, db, argv: argv.clone(), resp3, txid: 0 }))
        .collect();
    let mut replies = Vec::with_capacity(n);
    for p in pending {
        replies.push(p.get().await.into_reply());
    }
    merge_replies(merge, replies, None)
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

/// Locks `keys` (grouped by shard, ascending) for `txid`.
async fn lock_all(txid: u64, by_shard: &[(usize, Vec<DbKey>)], exclusive: bool) {
    for (shard, keys) in by_shard {
        call(*shard, Job::Lock { txid, keys: keys.clone(), exclusive }).await;
    }
}

fn group_by_shard(keys: &[DbKey]) -> Vec<(usize, Vec<DbKey>)> {
    let rt = rt();
    let g = &*rt.global;
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
) -> Reply {
    let g = rt().global.clone();
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
    let txid = g.next_txid();
    let keys: Vec<DbKey> = idx.iter().map(|&i| (db, Key::from(&argv[i][..]))).collect();
    let groups = group_by_shard(&keys);
    lock_all(txid, &groups, spec.has(flags::WRITE)).await;
    let pending: Vec<_> = per_shard
        .iter()
        .map(|(s, sub)| {
            submit(*s, Job::Exec { spec: Some(spec), db, argv: sub.clone(), resp3, txid })
        })
        .collect();
    let mut replies = Vec::with_capacity(pending.len());
    for p in pending {
        replies.push(p.get().await.into_reply());
    }
    let unlocks: Vec<_> = groups.iter().map(|(s, _)| submit(*s, Job::Unlock { txid })).collect();
    for u in unlocks {
        u.get().await;
    }
    publish_split_events(txid, &keys);
    merge_replies(merge, replies, Some(&order))
}

/// Publishes the keyspace events of a split command's parts in the order of its keys, as
/// Redis raises them (each part answered after sending its events, so all are here).
fn publish_split_events(txid: u64, keys: &[DbKey]) {
    let rt = rt();
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
/// entries into a scratch shard, run the commands there, and store what they changed.
pub async fn gather(
    db: usize,
    resp3: bool,
    _spec: &'static CommandSpec,
    cmds: Vec<Vec<Bytes>>,
) -> Vec<Reply> {
    let rt = rt();
    let g = rt.global.clone();
    let databases = rt.env.borrow().shard.dbs.len();
    let mut keys: Vec<DbKey> = Vec::new();
    let mut write = false;
    let mut cur_db = db;
    for argv in &cmds {
        if let Some(Ok(n)) = select_in_batch(argv, databases) {
            cur_db = n;
            continue;
        }
        if let Some(spec) = mayfly_engine::lookup(&argv[0]) {
            write |= spec.has(flags::WRITE);
            for k in command_db_keys(cur_db, spec, argv) {
                if k.0 < databases && !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
    }
    let groups = group_by_shard(&keys);
    let txid = g.next_txid();
    lock_all(txid, &groups, write).await;
    let fetches: Vec<_> =
        groups.iter().map(|(s, ks)| submit(*s, Job::Fetch { keys: ks.clone() })).collect();
    let (config, now) = {
        let env = rt.env.borrow();
        (env.shard.config.clone(), env.shard.clock.now_ms())
    };
    let mut scratch = Shard::new(usize::MAX, config, Clock::Manual(now));
    for ((_, ks), f) in groups.iter().zip(fetches) {
        if let Out::Entries(entries) = f.get().await {
            for (k, e) in ks.iter().zip(entries) {
                if let Some(e) = e {
                    scratch.dbs[k.0].insert(k.1.clone(), e);
                }
            }
        }
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
        replies.push(scratch.execute(cur_db, argv, resp3));
    }
    let mut written: Vec<DbKey> = scratch.write_log.take().unwrap_or_default();
    written.sort();
    written.dedup();
    let mut per_shard: Vec<(usize, Vec<StoreWrite>)> =
        groups.iter().map(|(s, _)| (*s, Vec::new())).collect();
    for k in written {
        let s = g.shard_of(&k.1);
        let entry = scratch.dbs[k.0].table.get(&k.1).cloned();
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
    let stores: Vec<_> =
        per_shard.into_iter().map(|(s, writes)| submit(s, Job::Store { txid, writes })).collect();
    for st in stores {
        st.get().await;
    }
    replies
}
