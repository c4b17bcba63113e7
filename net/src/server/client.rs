//! CLIENT and its subcommands.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use mayfly_engine::reply::Reply;

use crate::conn::client::ClientInfo;
use crate::conn::Conn;
use crate::coord::block::UnblockAs;

use super::{lower, subcommand_error};

pub async fn client(conn: &mut Conn, argv: &[Bytes]) -> Reply {
    let sub = lower(&argv[1]);
    let now = mayfly_engine::clock::unix_time_ms();
    match (sub.as_slice(), argv.len()) {
        (b"id", 2) => Reply::Int(conn.info.id as i64),
        (b"setname", 3) => match super::connection::set_client_name(conn, &argv[2]) {
            Ok(()) => Reply::ok(),
            Err(e) => e,
        },
        (b"getname", 2) => {
            let name = conn.info.name.lock().map(|n| n.clone()).unwrap_or_default();
            if name.is_empty() {
                Reply::Nil
            } else {
                Reply::bulk(name)
            }
        }
        (b"info", 2) => {
            Reply::Verbatim("txt", Bytes::from(format!("{}\n", conn.info.describe(now))))
        }
        (b"list", _) => client_list(argv, now),
        (b"kill", _) => client_kill(conn, argv),
        (b"unblock", 3 | 4) => client_unblock(argv).await,
        (b"unblock", _) => Reply::error(
            "ERR unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.",
        ),
        (b"no-evict", 3) => match lower(&argv[2]).as_slice() {
            b"on" => {
                conn.info.no_evict.store(true, Ordering::Relaxed);
                Reply::ok()
            }
            b"off" => {
                conn.info.no_evict.store(false, Ordering::Relaxed);
                Reply::ok()
            }
            _ => Reply::error("ERR syntax error"),
        },
        (b"unpause", 2) => super::pause::client_unpause(),
        (b"pause", 3 | 4) => super::pause::client_pause(argv),
        (b"reply", 3) => match lower(&argv[2]).as_slice() {
            b"on" => {
                conn.reply_off = false;
                conn.reply_skip = false;
                Reply::ok()
            }
            b"off" => {
                conn.reply_off = true;
                no_reply(conn)
            }
            b"skip" => {
                if !conn.reply_off {
                    conn.reply_skip_next = true;
                }
                no_reply(conn)
            }
            _ => Reply::error("ERR syntax error"),
        },
        (b"help", 2) => Reply::Array(HELP.iter().map(|l| Reply::status(*l)).collect()),
        _ => subcommand_error(&argv[1], "CLIENT"),
    }
}

/// CLIENT REPLY OFF and SKIP answer nothing at all: an empty list of separate replies.
fn no_reply(conn: &mut Conn) -> Reply {
    conn.split_reply = true;
    Reply::Array(Vec::new())
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 when the client was blocked and is now told to stop.
async fn client_unblock(argv: &[Bytes]) -> Reply {
    let Some(id) = std::str::from_utf8(&argv[2]).ok().and_then(|s| s.parse::<i64>().ok()) else {
        return Reply::error("ERR value is not an integer or out of range");
    };
    let how = match argv.get(3).map(|a| lower(a)) {
        None => UnblockAs::Timeout,
        Some(a) if a == b"timeout" => UnblockAs::Timeout,
        Some(a) if a == b"error" => UnblockAs::Error,
        Some(_) => return Reply::error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
    };
    let g = super::get().clone();
    let target = g.clients.get(id as u64);
    let Some(target) = target.filter(|c| id > 0 && c.blocked.load(Ordering::Relaxed)) else {
        return Reply::Int(0);
    };
    target.unblock.store(how as u8, Ordering::Release);
    // The blocked task's waker belongs to its shard: wake it there.
    let id = target.id;
    crate::shard::call(
        target.shard,
        crate::shard::env::Job::Run(Box::new(move |_| {
            crate::shard::wake_blocked_client(id);
            crate::shard::env::Out::Done
        })),
    )
    .await;
    Reply::Int(1)
}

/// Redis's client types, by the names CLIENT LIST/KILL take.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ClientType {
    Normal,
    Replica,
    Master,
    Pubsub,
}

fn client_type_by_name(name: &[u8]) -> Option<ClientType> {
    match lower(name).as_slice() {
        b"normal" => Some(ClientType::Normal),
        b"slave" | b"replica" => Some(ClientType::Replica),
        b"master" => Some(ClientType::Master),
        b"pubsub" => Some(ClientType::Pubsub),
        _ => None,
    }
}

/// A client's type (no replication here: every client is normal or, subscribed, pubsub).
fn client_type(c: &ClientInfo) -> ClientType {
    if c.is_pubsub() {
        ClientType::Pubsub
    } else {
        ClientType::Normal
    }
}

fn unknown_type(name: &[u8]) -> Reply {
    Reply::error(format!("ERR Unknown client type '{}'", String::from_utf8_lossy(name)))
}

/// CLIENT LIST [TYPE type] | [ID id ...]: Redis's parsing (exactly `TYPE t`, or `ID` and at
/// least one id).
fn client_list(argv: &[Bytes], now: u64) -> Reply {
    let g = super::get().clone();
    let mut out = String::new();
    if argv.len() == 4 && lower(&argv[2]) == b"type" {
        let Some(t) = client_type_by_name(&argv[3]) else { return unknown_type(&argv[3]) };
        for c in g.clients.all().iter().filter(|c| client_type(c) == t) {
            out.push_str(&c.describe(now));
            out.push('\n');
        }
    } else if argv.len() > 3 && lower(&argv[2]) == b"id" {
        for a in &argv[3..] {
            let Some(id) = std::str::from_utf8(a).ok().and_then(|s| s.parse::<i64>().ok()) else {
                return Reply::error("ERR Invalid client ID");
            };
            if let Some(c) = u64::try_from(id).ok().and_then(|id| g.clients.get(id)) {
                out.push_str(&c.describe(now));
                out.push('\n');
            }
        }
    } else if argv.len() != 2 {
        return Reply::error("ERR syntax error");
    } else {
        for c in g.clients.all() {
            out.push_str(&c.describe(now));
            out.push('\n');
        }
    }
    Reply::Verbatim("txt", Bytes::from(out))
}

/// Keeps CLIENT LIST's `sub`/`psub`/`ssub` (and the pubsub type) in step with the
/// connection's subscriptions, after a (un)subscribe or RESET.
pub fn sync_subscriptions(conn: &Conn) {
    let counts =
        [conn.subs.channels.len(), conn.subs.patterns.len(), conn.subs.shard_channels.len()];
    for (slot, n) in conn.info.subscriptions.iter().zip(counts) {
        slot.store(n, Ordering::Relaxed);
    }
}

const HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
];

/// CLIENT KILL addr (old form: answers OK or "No such client", may kill the caller) or
/// CLIENT KILL option value ... (answers the count; SKIPME yes by default), with Redis's
/// option checks in order.
fn client_kill(conn: &mut Conn, argv: &[Bytes]) -> Reply {
    let g = super::get().clone();
    let (mut addr, mut laddr, mut ctype, mut id, mut skipme) = (None, None, None, None, true);
    let mut user_filter = false;
    if argv.len() == 3 {
        addr = Some(String::from_utf8_lossy(&argv[2]).into_owned());
        skipme = false;
    } else if argv.len() > 3 {
        let mut i = 2;
        while i < argv.len() {
            let more = argv.len() > i + 1;
            let opt = lower(&argv[i]);
            if !more {
                return Reply::error("ERR syntax error");
            }
            let v = &argv[i + 1];
            match opt.as_slice() {
                b"id" => match std::str::from_utf8(v).ok().and_then(|s| s.parse::<i64>().ok()) {
                    Some(n) if n >= 1 => id = Some(n as u64),
                    _ => return Reply::error("ERR client-id should be greater than 0"),
                },
                b"type" => match client_type_by_name(v) {
                    Some(t) => ctype = Some(t),
                    None => return unknown_type(v),
                },
                b"addr" => addr = Some(String::from_utf8_lossy(v).into_owned()),
                b"laddr" => laddr = Some(String::from_utf8_lossy(v).into_owned()),
                b"user" => {
                    // Only the default user exists (no ACL users yet).
                    if &v[..] != b"default" {
                        return Reply::error(format!(
                            "ERR No such user '{}'",
                            String::from_utf8_lossy(v)
                        ));
                    }
                    user_filter = true;
                }
                b"skipme" => match lower(v).as_slice() {
                    b"yes" => skipme = true,
                    b"no" => skipme = false,
                    _ => return Reply::error("ERR syntax error"),
                },
                _ => return Reply::error("ERR syntax error"),
            }
            i += 2;
        }
    } else {
        return Reply::error("ERR syntax error");
    }
    let _ = user_filter; // every client is the default user's
    let mut killed = 0;
    for c in g.clients.all() {
        // A client killed before is already gone for Redis (freed at once), even while its
        // task here has not yet left the list.
        if c.killed.load(Ordering::Relaxed) {
            continue;
        }
        if addr.as_ref().is_some_and(|a| *a != c.addr)
            || laddr.as_ref().is_some_and(|a| *a != c.laddr)
            || ctype.is_some_and(|t| t != client_type(&c))
            || id.is_some_and(|x| x != c.id)
        {
            continue;
        }
        if c.id == conn.info.id {
            if skipme {
                continue;
            }
            conn.close_after_reply = true;
        } else {
            kill(&c);
        }
        killed += 1;
    }
    if argv.len() == 3 {
        if killed == 0 {
            Reply::error("ERR No such client")
        } else {
            Reply::ok()
        }
    } else {
        Reply::Int(killed)
    }
}

/// Closes another client: its task sees the socket shut and goes away.
fn kill(c: &ClientInfo) {
    c.killed.store(true, Ordering::Relaxed);
    // SAFETY: shutting down a socket wakes its task's pending recv with EOF; the owning task
    // closes the fd itself.
    unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
}
