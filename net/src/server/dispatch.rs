//! The entry point of every parsed request: table lookup and arity, AUTH, the RESP2
//! subscribed context, MULTI queueing, then either a server-level family of this layer or the
//! coordination layer (keys → shards, blocking commands).

use bytes::Bytes;
use mayfly_engine::command::{flags, CommandSpec, Handler};
use mayfly_engine::reply::Reply;

use crate::conn::{Conn, ConnInterrupts, Service};
use crate::coord::block::{self, BlockRequest};
use crate::shard::here;
use crate::shard::pubsub::Kind;

use super::{client, config, connection, debug, info, pubsub, transactions};

/// Mayfly's Redis service, run by every connection.
pub struct RedisService;

impl Service for RedisService {
    async fn dispatch(&self, conn: &mut Conn, argv: Vec<Bytes>) -> Reply {
        dispatch(conn, argv).await
    }

    async fn on_close(&self, conn: &mut Conn) {
        crate::coord::multi::unwatch(&mut conn.watch).await;
        pubsub::unsubscribe_all(conn);
    }
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
                let rt = here();
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
        return blocking(conn, spec, argv).await;
    }
    execute(conn, spec, argv).await
}

/// A blocking command: waits on the owning shard while watching the connection.
async fn blocking(conn: &mut Conn, spec: &'static CommandSpec, argv: Vec<Bytes>) -> Reply {
    let stamp_ns = match conn.receiver.last_rx_ns() {
        0 => crate::rt::realtime_ns(),
        ns => ns,
    };
    let req =
        BlockRequest { id: conn.info.id, db: conn.db, resp3: conn.resp3, spec, argv, stamp_ns };
    let (reply, closed) = block::block(req, &mut ConnInterrupts { conn }).await;
    if closed {
        conn.close_after_reply = true;
    }
    reply
}

/// Runs a command that passed the checks (outside MULTI).
pub async fn execute(conn: &mut Conn, spec: &'static CommandSpec, argv: Vec<Bytes>) -> Reply {
    match spec.handler {
        Handler::Net => server_command(conn, spec, argv).await,
        Handler::Shard(_) => crate::coord::route::route(conn.db, conn.resp3, spec, argv).await,
    }
}

/// The server-level commands (the table marks them `Handler::Net`), one family per file.
pub async fn server_command(
    conn: &mut Conn,
    spec: &'static CommandSpec,
    argv: Vec<Bytes>,
) -> Reply {
    match spec.name {
        "hello" => connection::hello(conn, &argv),
        "auth" => connection::auth(conn, &argv),
        "select" => connection::select(conn, &argv),
        "quit" => {
            conn.close_after_reply = true;
            Reply::ok()
        }
        "reset" => {
            connection::reset(conn).await;
            Reply::status("RESET")
        }
        "client" => client::client(conn, &argv).await,
        "info" => info::info(&argv).await,
        "config" => config::config(&argv).await,
        "debug" => debug::debug(&argv).await,
        "shutdown" => {
            eprintln!("mayfly: SHUTDOWN requested by client {}, exiting", conn.info.id);
            std::process::exit(0);
        }
        "multi" => transactions::multi(conn),
        "discard" => transactions::discard(conn).await,
        "exec" => transactions::exec(conn).await,
        "watch" => transactions::watch(conn, &argv).await,
        "unwatch" => {
            crate::coord::multi::unwatch(&mut conn.watch).await;
            Reply::ok()
        }
        "subscribe" => pubsub::subscribe(conn, Kind::Channel, &argv[1..]),
        "psubscribe" => pubsub::subscribe(conn, Kind::Pattern, &argv[1..]),
        "ssubscribe" => pubsub::subscribe(conn, Kind::Shard, &argv[1..]),
        "unsubscribe" => pubsub::unsubscribe(conn, Kind::Channel, &argv[1..]),
        "punsubscribe" => pubsub::unsubscribe(conn, Kind::Pattern, &argv[1..]),
        "sunsubscribe" => pubsub::unsubscribe(conn, Kind::Shard, &argv[1..]),
        "publish" => pubsub::publish(Kind::Channel, argv[1].clone(), argv[2].clone()).await,
        "spublish" => pubsub::publish(Kind::Shard, argv[1].clone(), argv[2].clone()).await,
        "pubsub" => pubsub::pubsub_cmd(&argv).await,
        other => Reply::error(format!("ERR command '{other}' is not available")),
    }
}
