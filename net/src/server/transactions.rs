//! MULTI, EXEC, DISCARD, WATCH: the connection's side of transactions. How the queued commands
//! run atomically across shards is `coord::multi`'s business.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use mayfly_engine::command::{flags, CommandSpec, Handler};
use mayfly_engine::reply::Reply;

use crate::conn::Conn;
use crate::coord::multi::{self, Held, Plan};

pub fn multi(conn: &mut Conn) -> Reply {
    if conn.multi.is_some() {
        return Reply::error("ERR MULTI calls can not be nested");
    }
    conn.multi = Some(Vec::new());
    conn.multi_failed = false;
    conn.info.in_multi.store(true, Ordering::Relaxed);
    Reply::ok()
}

pub async fn discard(conn: &mut Conn) -> Reply {
    if conn.multi.is_none() {
        return Reply::error("ERR DISCARD without MULTI");
    }
    end_multi(conn);
    multi::unwatch(&mut conn.watch).await;
    Reply::ok()
}

pub async fn watch(conn: &mut Conn, argv: &[Bytes]) -> Reply {
    if conn.multi.is_some() {
        return Reply::error("ERR WATCH inside MULTI is not allowed");
    }
    multi::watch(&mut conn.watch, conn.db, &argv[1..]).await;
    Reply::ok()
}

pub fn end_multi(conn: &mut Conn) {
    conn.multi = None;
    conn.multi_failed = false;
    conn.info.in_multi.store(false, Ordering::Relaxed);
    conn.info.multi_len.store(0, Ordering::Relaxed);
}

fn set_db(conn: &mut Conn, db: usize) {
    conn.db = db;
    conn.info.db.store(db, Ordering::Relaxed);
}

/// EXEC: runs the queue atomically, whatever it holds (see `coord::multi`).
pub async fn exec(conn: &mut Conn) -> Reply {
    let Some(cmds) = conn.multi.take() else {
        return Reply::error("ERR EXEC without MULTI");
    };
    let failed = conn.multi_failed;
    end_multi(conn);
    let dirty = conn.watch.is_dirty();
    multi::unwatch(&mut conn.watch).await;
    if failed {
        return Reply::error("EXECABORT Transaction discarded because of previous errors.");
    }
    if dirty {
        return Reply::NilArray;
    }
    if cmds.is_empty() {
        return Reply::Array(vec![]);
    }
    // Every queued command was looked up when it was queued.
    let Some(specs) = cmds
        .iter()
        .map(|c| mayfly_engine::lookup(&c[0]))
        .collect::<Option<Vec<&'static CommandSpec>>>()
    else {
        return Reply::error("ERR internal: a queued command is unknown");
    };
    match multi::plan(&specs, &cmds) {
        Plan::Batch { shard } => match multi::run_batch(shard, conn.db, conn.resp3, cmds).await {
            Ok((replies, db)) => {
                set_db(conn, db);
                Reply::Array(replies)
            }
            Err(refused) => refused,
        },
        Plan::Gather => match multi::run_gather(conn.db, conn.resp3, cmds).await {
            Ok((replies, db)) => {
                set_db(conn, db);
                Reply::Array(replies)
            }
            Err(refused) => refused,
        },
        Plan::Hold => {
            let held = Held::begin().await;
            if specs.iter().any(|s| s.has(flags::DENYOOM)) {
                if let Err(oom) = held.check_room().await {
                    held.release().await;
                    return oom;
                }
            }
            let mut replies = Vec::with_capacity(cmds.len());
            for (spec, argv) in specs.into_iter().zip(cmds) {
                let reply = match spec.handler {
                    Handler::Shard(_) => held.run(conn.db, conn.resp3, spec, argv).await,
                    // Server-level commands (SELECT, INFO, CONFIG SET, CLIENT …) run at their
                    // place while every shard is held.
                    Handler::Net => {
                        Box::pin(super::dispatch::server_command(conn, spec, argv)).await
                    }
                };
                replies.push(reply);
            }
            held.release().await;
            Reply::Array(replies)
        }
    }
}
