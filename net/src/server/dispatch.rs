//! The entry point of every parsed request: the cross-protocol guard, table lookup and arity,
//! the protected commands (DEBUG), AUTH, the RESP2 subscribed context, MULTI queueing, then
//! either a server-level family of this layer or the coordination layer (keys → shards,
//! blocking commands). New connections pass [`RedisService::admit`] (protected mode) first.

use bytes::Bytes;
use mayfly_engine::command::{flags, CommandSpec, Handler};
use mayfly_engine::reply::Reply;

use crate::conn::{Conn, ConnInterrupts, Service};
use std::sync::atomic::Ordering;

use crate::coord::block::{self, BlockRequest};
use crate::coord::multi::{self, Held, Plan};
use crate::shard::here;
use crate::shard::pubsub::Kind;

use super::{client, config, connection, debug, info, observe, pubsub, transactions};

/// Mayfly's Redis service, run by every connection.
pub struct RedisService;

impl Service for RedisService {
    async fn dispatch(&self, conn: &mut Conn, argv: Vec<Bytes>) -> Reply {
        dispatch(conn, argv).await
    }

    fn admit(&self, conn: &mut Conn) -> Result<(), &'static [u8]> {
        super::access::admit(conn)?;
        conn.face = super::cluster::face_of(conn);
        Ok(())
    }

    async fn on_close(&self, conn: &mut Conn) {
        crate::coord::multi::unwatch(&mut conn.watch).await;
        pubsub::unsubscribe_all(conn);
        super::monitor::forget(&conn.info);
    }
}

/// The text Redis logs (at most once a minute) when it closes a connection for a
/// cross-protocol request.
pub const SECURITY_ATTACK_LOG: &str = "Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: commands to Redis. This is likely due to an attacker attempting to use Cross Protocol Scripting to compromise your Redis instance. Connection aborted.";

/// `POST` or `Host:` as a command is an HTTP request that a web page made a browser send to
/// this port (cross-protocol scripting): log it (rate-limited like Redis) and close the
/// connection without answering anything, not even the replies already queued.
fn cross_protocol(conn: &mut Conn, name: &[u8]) -> bool {
    if !(name.eq_ignore_ascii_case(b"post") || name.eq_ignore_ascii_case(b"host:")) {
        return false;
    }
    static LAST_LOG_S: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now_s = mayfly_engine::clock::unix_time_ms() / 1000;
    let last = LAST_LOG_S.load(std::sync::atomic::Ordering::Relaxed);
    if now_s.abs_diff(last) > 60
        && LAST_LOG_S
            .compare_exchange(
                last,
                now_s,
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
            )
            .is_ok()
    {
        crate::log::warning(SECURITY_ATTACK_LOG);
    }
    conn.close_now = true;
    true
}

/// DEBUG and MODULE are refused unless their enable-*-command setting allows this client.
fn protected_command_refused(conn: &Conn, spec: &CommandSpec) -> Option<Reply> {
    let (label, option) = match spec.name {
        "debug" => ("DEBUG", "enable-debug-command"),
        "module" => ("MODULE", "enable-module-command"),
        _ => return None,
    };
    let setting = here().shared.read_config(|c| {
        if spec.name == "debug" {
            c.enable_debug_command.clone()
        } else {
            c.enable_module_command.clone()
        }
    });
    if super::access::protected_action_allowed(&setting, conn) {
        return None;
    }
    Some(Reply::error(format!(
        "ERR {label} command not allowed. If the {option} option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."
    )))
}

/// Entry point for every parsed request.
pub async fn dispatch(conn: &mut Conn, argv: Vec<Bytes>) -> Reply {
    if argv.first().is_some_and(|name| cross_protocol(conn, name)) {
        return Reply::NilArray;
    }
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
    conn.info.set_last_sub(spec, &argv);
    if let Some(refusal) = protected_command_refused(conn, spec) {
        if conn.multi.is_some() {
            conn.multi_failed = true;
        }
        return refusal;
    }
    if !conn.authenticated && !spec.has(flags::NO_AUTH) {
        return Reply::error("NOAUTH Authentication required.");
    }
    if let Some(refused) = super::aof::refusal(spec.has(flags::WRITE) || spec.name == "ping") {
        if conn.multi.is_some() {
            conn.multi_failed = true;
        }
        return refused;
    }
    if let Some(refused) = super::persist::refusal(spec) {
        if conn.multi.is_some() {
            conn.multi_failed = true;
        }
        return refused;
    }
    if let Some(busy) = crate::script::busy_refusal(spec.name, &argv) {
        return busy;
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
    if let Some(face) = conn.face {
        // Redis Cluster's checks, before queueing as in Redis (EXEC checks its whole queue).
        let refused = super::cluster::redirect(conn, face, spec, &argv)
            .or_else(|| super::cluster::refusal(spec, &argv).filter(|_| conn.multi.is_none()));
        if let Some(refused) = refused {
            if conn.multi.is_some() {
                conn.multi_failed = true;
            }
            return refused;
        }
    }
    if crate::shard::pause::maybe_paused()
        && super::pause::wait_while_paused(conn, spec, &argv).await.is_err()
    {
        conn.close_now = true;
        return Reply::NilArray;
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
    let settings = observe::settings();
    if !observe::wants_argv(spec, &settings) {
        if settings.latency_monitor_threshold_ms == 0 {
            return execute(conn, spec, argv).await;
        }
        let start = std::time::Instant::now();
        let reply = execute(conn, spec, argv).await;
        observe::latency_sample(spec, observe::elapsed_us(start));
        return reply;
    }
    let kept = argv.clone();
    let start = std::time::Instant::now();
    let reply = execute(conn, spec, argv).await;
    observe::after_command(conn, spec, &kept, observe::elapsed_us(start));
    reply
}

/// A blocking command: waits on the owning shard while watching the connection.
async fn blocking(conn: &mut Conn, spec: &'static CommandSpec, argv: Vec<Bytes>) -> Reply {
    let stamp_ns = match conn.receiver.last_rx_ns() {
        0 => crate::rt::realtime_ns(),
        ns => ns,
    };
    let kept = observe::wants_argv(spec, &observe::settings()).then(|| argv.clone());
    let start = std::time::Instant::now();
    let req =
        BlockRequest { id: conn.info.id, db: conn.db, resp3: conn.resp3, spec, argv, stamp_ns };
    let mut clock = observe::WaitClock::new(ConnInterrupts { conn });
    let (reply, closed) = block::block(req, &mut clock).await;
    let waited_us = clock.waited_us;
    if closed {
        conn.close_after_reply = true;
    } else {
        let ran_us = observe::elapsed_us(start).saturating_sub(waited_us);
        // Redis logs a blocked command once it is served, not when it times out.
        let served = waited_us == 0 || !matches!(reply, Reply::NilArray | Reply::Nil);
        match kept {
            Some(kept) if served => observe::after_command(conn, spec, &kept, ran_us),
            _ => observe::latency_sample(spec, ran_us),
        }
    }
    reply
}

/// Runs a command that passed the checks (outside MULTI).
pub async fn execute(conn: &mut Conn, spec: &'static CommandSpec, argv: Vec<Bytes>) -> Reply {
    match spec.handler {
        Handler::Net => {
            // Counted here as a shard counts the commands it runs (commandstats, latency
            // histograms): server-level commands run on the connection's shard.
            let name = crate::shard::stats::stat_name(spec, &argv);
            let start = std::time::Instant::now();
            let reply = server_command(conn, spec, argv).await;
            let us = observe::elapsed_us(start);
            here().env.borrow_mut().stats.record(name, us, reply.is_error());
            reply
        }
        Handler::Shard(_) if spec.name == "flushall" => {
            let reply = match conn.face {
                Some(face) => {
                    super::cluster::run_on_face(face, conn.db, conn.resp3, spec, argv).await
                }
                None => crate::coord::route::route(conn.db, conn.resp3, spec, argv).await,
            };
            super::persist::after_flushall().await;
            reply
        }
        Handler::Shard(_) => match conn.face {
            Some(face) if super::cluster::is_node_local(spec, &argv) => {
                super::cluster::run_on_face(face, conn.db, conn.resp3, spec, argv).await
            }
            _ => crate::coord::route::route(conn.db, conn.resp3, spec, argv).await,
        },
    }
}

/// The server-level commands (the table marks them `Handler::Net`), one family per file.
pub async fn server_command(
    conn: &mut Conn,
    spec: &'static CommandSpec,
    argv: Vec<Bytes>,
) -> Reply {
    let reply = match spec.name {
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
        "info" => match conn.face {
            // A cluster-face connection sees a cluster node.
            Some(_) => super::cluster::as_cluster_info(info::info(&argv).await),
            None => info::info(&argv).await,
        },
        "cluster" => super::cluster::cluster(conn, &argv),
        "readonly" | "readwrite" | "asking" => super::cluster::connection_flag(conn),
        "migrate" => super::migrate::migrate(conn, &argv).await,
        "config" => config::config(conn, &argv).await,
        "debug" => debug::debug(conn, &argv).await,
        "shutdown" => super::shutdown::shutdown_command(&argv).await,
        "save" => super::persist::save_command().await,
        "bgsave" => super::persist::bgsave_command(&argv, false).await,
        "lastsave" => super::persist::lastsave(),
        "bgrewriteaof" => super::aof::bgrewriteaof().await,
        "multi" => transactions::multi(conn),
        "discard" => transactions::discard(conn).await,
        "exec" => exec(conn).await,
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
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" => crate::script::eval(conn, argv).await,
        "script" => crate::script::script(conn, argv).await,
        "slowlog" => super::slowlog::slowlog_command(&argv),
        "monitor" => super::monitor::monitor_command(conn),
        "latency" => super::latency::latency_command(&argv).await,
        "fcall" | "fcall_ro" => crate::script::functions::fcall(conn, argv).await,
        "function" => crate::script::functions::function(conn, argv).await,
        other => Reply::error(format!("ERR command '{other}' is not available")),
    };
    if spec.has(flags::PUBSUB) || spec.name == "reset" {
        super::client::sync_subscriptions(conn);
    }
    if spec.name == "reset" {
        super::monitor::forget(&conn.info);
        conn.info.monitor.store(false, Ordering::Relaxed);
    }
    reply
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
    if let Some(face) = conn.face {
        if let Some(refused) = super::cluster::redirect_exec(conn, face, &cmds) {
            transactions::end_multi(conn);
            multi::unwatch(&mut conn.watch).await;
            return refused;
        }
    }
    let failed = conn.multi_failed;
    transactions::end_multi(conn);
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
    let settings = observe::settings();
    let observed = specs.iter().any(|s| observe::wants_argv(s, &settings));
    let start = std::time::Instant::now();
    match multi::plan(&specs, &cmds) {
        Plan::Batch { shard } => {
            let kept = observed.then(|| cmds.clone());
            match multi::run_batch(shard, conn.db, conn.resp3, cmds).await {
                Ok((replies, db)) => {
                    set_db(conn, db);
                    observe::after_batch(conn, &specs, kept, observe::elapsed_us(start));
                    Reply::Array(replies)
                }
                Err(refused) => refused,
            }
        }
        Plan::Gather => {
            let kept = observed.then(|| cmds.clone());
            match multi::run_gather(conn.db, conn.resp3, cmds).await {
                Ok((replies, db)) => {
                    set_db(conn, db);
                    observe::after_batch(conn, &specs, kept, observe::elapsed_us(start));
                    Reply::Array(replies)
                }
                Err(refused) => refused,
            }
        }
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
                let kept = observe::wants_argv(spec, &settings).then(|| argv.clone());
                let start = std::time::Instant::now();
                let reply = match spec.handler {
                    Handler::Shard(_) => held.run(conn.db, conn.resp3, spec, argv).await,
                    // A script inside EXEC runs under the transaction's hold.
                    Handler::Net if crate::script::is_eval(spec.name) => {
                        crate::script::eval_in(conn, argv, held.txid()).await
                    }
                    // Server-level commands (SELECT, INFO, CONFIG SET, CLIENT …) run at their
                    // place while every shard is held.
                    Handler::Net if spec.name == "bgsave" => {
                        super::persist::bgsave_command(&argv, true).await
                    }
                    Handler::Net => Box::pin(server_command(conn, spec, argv)).await,
                };
                if let Some(kept) = kept {
                    observe::after_command(conn, spec, &kept, observe::elapsed_us(start));
                }
                replies.push(reply);
            }
            held.release().await;
            Reply::Array(replies)
        }
    }
}
