//! Pub/Sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB. The
//! registries and mailboxes live in the shard layer (`shard::pubsub`), which also routes
//! keyspace events to them.

use bytes::Bytes;
use mayfly_engine::reply::Reply;

use crate::conn::Conn;
use crate::shard::env::{Env, Job, Out};
use crate::shard::pubsub::{Kind, Mailbox};
use crate::shard::{here, submit};

use super::{lower, subcommand_error};

fn kind_names(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Channel => ("subscribe", "unsubscribe"),
        Kind::Pattern => ("psubscribe", "punsubscribe"),
        Kind::Shard => ("ssubscribe", "sunsubscribe"),
    }
}

fn push(conn: &Conn, items: Vec<Reply>) -> Reply {
    if conn.resp3 {
        Reply::Push(items)
    } else {
        Reply::Array(items)
    }
}

/// (P|S)SUBSCRIBE: registers on this connection's shard; one confirmation per name.
pub fn subscribe(conn: &mut Conn, kind: Kind, names: &[Bytes]) -> Reply {
    let rt = here();
    let mailbox = match &conn.subs.mailbox {
        Some(m) => m.clone(),
        None => {
            let spec = rt.shared.read_config(|c| c.client_output_buffer_limit.clone());
            let m = Mailbox::new(crate::shard::pubsub::pubsub_limits(&spec));
            conn.subs.mailbox = Some(m.clone());
            m
        }
    };
    mailbox.resp3.set(conn.resp3);
    let (verb, _) = kind_names(kind);
    let mut replies = Vec::with_capacity(names.len());
    for name in names {
        if !conn.subs.list(kind).contains(name) {
            conn.subs.list(kind).push(name.clone());
            rt.pubsub.borrow_mut().subscribe(kind, name.clone(), conn.info.id, mailbox.clone());
        }
        let count = conn.subs.count(kind);
        replies.push(push(
            conn,
            vec![Reply::bulk_str(verb), Reply::Bulk(name.clone()), Reply::Int(count)],
        ));
    }
    conn.split_reply = true;
    Reply::Array(replies)
}

/// (P|S)UNSUBSCRIBE: the named subscriptions, or all of that kind.
pub fn unsubscribe(conn: &mut Conn, kind: Kind, names: &[Bytes]) -> Reply {
    let rt = here();
    let (_, verb) = kind_names(kind);
    let targets: Vec<Bytes> =
        if names.is_empty() { conn.subs.list(kind).clone() } else { names.to_vec() };
    let mut replies = Vec::new();
    if targets.is_empty() {
        replies.push(push(
            conn,
            vec![Reply::bulk_str(verb), Reply::Nil, Reply::Int(conn.subs.count(kind))],
        ));
    }
    for name in targets {
        conn.subs.list(kind).retain(|n| *n != name);
        rt.pubsub.borrow_mut().unsubscribe(kind, &name, conn.info.id);
        let count = conn.subs.count(kind);
        replies.push(push(conn, vec![Reply::bulk_str(verb), Reply::Bulk(name), Reply::Int(count)]));
    }
    if !conn.subs.active() {
        conn.subs.mailbox = None;
    }
    conn.split_reply = true;
    Reply::Array(replies)
}

/// Drops every subscription (disconnect, RESET).
pub fn unsubscribe_all(conn: &mut Conn) {
    let rt = here();
    let mut reg = rt.pubsub.borrow_mut();
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        for name in std::mem::take(conn.subs.list(kind)) {
            reg.unsubscribe(kind, &name, conn.info.id);
        }
    }
    conn.subs.mailbox = None;
}

/// PUBLISH/SPUBLISH: delivered on every shard in the publisher's order; replies the number of
/// receivers.
pub async fn publish(kind: Kind, channel: Bytes, message: Bytes) -> Reply {
    let n = here().nshards;
    let pending: Vec<_> = (0..n)
        .map(|s| {
            let (c, m) = (channel.clone(), message.clone());
            submit(
                s,
                Job::Run(Box::new(move |_env: &mut Env| {
                    Out::Reply(Reply::Int(here().pubsub.borrow().publish(kind, &c, &m)))
                })),
            )
        })
        .collect();
    let mut total = 0;
    for p in pending {
        if let Reply::Int(k) = p.get().await.into_reply() {
            total += k;
        }
    }
    Reply::Int(total)
}

/// Runs `f` on every shard's registry and collects the results.
async fn on_registries<T: Send + 'static>(
    f: fn(&crate::shard::pubsub::Registry, &[Bytes]) -> T,
    args: Vec<Bytes>,
) -> Vec<T> {
    let n = here().nshards;
    let pending: Vec<_> = (0..n)
        .map(|s| {
            let a = args.clone();
            submit(
                s,
                Job::Run(Box::new(move |_env: &mut Env| {
                    Out::Any(Box::new(f(&here().pubsub.borrow(), &a)))
                })),
            )
        })
        .collect();
    let mut out = Vec::new();
    for p in pending {
        if let Out::Any(b) = p.get().await {
            if let Ok(v) = b.downcast::<T>() {
                out.push(*v);
            }
        }
    }
    out
}

pub async fn pubsub_cmd(argv: &[Bytes]) -> Reply {
    let sub = lower(&argv[1]);
    let names_of = |kind: Kind| -> fn(&crate::shard::pubsub::Registry, &[Bytes]) -> Vec<Bytes> {
        match kind {
            Kind::Shard => |r, a| r.names(Kind::Shard, a.first().map(|p| &p[..])),
            _ => |r, a| r.names(Kind::Channel, a.first().map(|p| &p[..])),
        }
    };
    match (sub.as_slice(), argv.len()) {
        (b"channels", 2 | 3) | (b"shardchannels", 2 | 3) => {
            let kind = if sub == b"channels" { Kind::Channel } else { Kind::Shard };
            let mut all: Vec<Bytes> =
                on_registries(names_of(kind), argv[2..].to_vec()).await.into_iter().flatten().collect();
            all.sort();
            all.dedup();
            Reply::Array(all.into_iter().map(Reply::Bulk).collect())
        }
        (b"numsub", _) | (b"shardnumsub", _) => {
            let counts: Vec<Vec<i64>> = if sub == b"numsub" {
                on_registries(|r, a| a.iter().map(|c| r.count(Kind::Channel, c) as i64).collect(), argv[2..].to_vec()).await
            } else {
                on_registries(|r, a| a.iter().map(|c| r.count(Kind::Shard, c) as i64).collect(), argv[2..].to_vec()).await
            };
            Reply::Map(
                argv[2..]
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (Reply::Bulk(c.clone()), Reply::Int(counts.iter().map(|v| v.get(i).copied().unwrap_or(0)).sum())))
                    .collect(),
            )
        }
        (b"numpat", 2) => {
            let mut all: Vec<Bytes> =
                on_registries(|r, _| r.names(Kind::Pattern, None), Vec::new()).await.into_iter().flatten().collect();
            all.sort();
            all.dedup();
            Reply::Int(all.len() as i64)
        }
        (b"help", 2) => Reply::Array(
            [
                "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Reply::status(*l))
            .collect(),
        ),
        _ => subcommand_error(&argv[1], "PUBSUB"),
    }
}
