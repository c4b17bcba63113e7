//! CLIENT and its subcommands.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use mayfly_engine::reply::Reply;

use crate::conn::client::ClientInfo;
use crate::conn::Conn;
use crate::coord::block::UnblockAs;

use super::{lower, subcommand_error};

pub async fn client(conn: &mut Conn, argv: &[Bytes]) -> Reply {
    let sub = lower(&argv[1]);
    let g = super::get().clone();
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
        (b"list", _) => {
            let mut ids: Option<Vec<u64>> = None;
            let mut i = 2;
            while i < argv.len() {
                let opt = lower(&argv[i]);
                if opt == b"type" && i + 1 < argv.len() {
                    let t = lower(&argv[i + 1]);
                    if !matches!(
                        t.as_slice(),
                        b"normal" | b"master" | b"replica" | b"slave" | b"pubsub"
                    ) {
                        return Reply::error(format!(
                            "ERR Unknown client type '{}'",
                            String::from_utf8_lossy(&argv[i + 1])
                        ));
                    }
                    if t != b"normal" {
                        ids = Some(Vec::new());
                    }
                    i += 2;
                } else if opt == b"id" && i + 1 < argv.len() {
                    let mut list = Vec::new();
                    for a in &argv[i + 1..] {
                        match std::str::from_utf8(a).ok().and_then(|s| s.parse::<u64>().ok()) {
                            Some(id) if id > 0 => list.push(id),
                            _ => return Reply::error("ERR Invalid client ID"),
                        }
                    }
                    ids = Some(list);
                    i = argv.len();
                } else {
                    return Reply::error("ERR syntax error");
                }
            }
            let clients: Vec<Arc<ClientInfo>> = g.clients.all();
            let mut out = String::new();
            for c in clients {
                if ids.as_ref().is_some_and(|ids| !ids.contains(&c.id)) {
                    continue;
                }
                out.push_str(&c.describe(now));
                out.push('\n');
            }
            Reply::Verbatim("txt", Bytes::from(out))
        }
        (b"kill", n) if n >= 3 => client_kill(conn, argv),
        (b"unblock", 3 | 4) => client_unblock(argv).await,
        (b"unblock", _) => Reply::error(
            "ERR unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.",
        ),
        (b"no-evict", 3) | (b"no-touch", 3) => match lower(&argv[2]).as_slice() {
            b"on" | b"off" => Reply::ok(),
            _ => Reply::error("ERR syntax error"),
        },
        (b"unpause", 2) => Reply::ok(),
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
        (b"help", 2) => Reply::Array(
            [
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GETNAME",
                "    Return the name of the current connection.",
                "ID",
                "    Return the ID of the current connection.",
                "INFO",
                "    Return information about the current client connection.",
                "KILL <ip:port>",
                "    Kill connection made from <ip:port>.",
                "KILL <option> <value> [<option> <value> [...]]",
                "    Kill connections. Options are: ID, ADDR, LADDR, SKIPME (yes|no).",
                "REPLY (ON|OFF|SKIP)",
                "    Control the replies sent to the current connection.",
                "LIST [options ...]",
                "    Return information about client connections. Options:",
                "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                "    * ID id [id ...]",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Reply::status(*l))
            .collect(),
        ),
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

fn client_kill(conn: &mut Conn, argv: &[Bytes]) -> Reply {
    let g = super::get().clone();
    let clients: Vec<Arc<ClientInfo>> = g.clients.all();
    let kill = |c: &ClientInfo| {
        c.killed.store(true, Ordering::Relaxed);
        // SAFETY: shutting down a socket wakes its task's pending recv with EOF; the owning task
        // closes the fd itself.
        unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
    };
    if argv.len() == 3 {
        // Old form: CLIENT KILL addr:port.
        let addr = String::from_utf8_lossy(&argv[2]);
        return match clients.iter().find(|c| c.addr == addr) {
            Some(c) => {
                if c.id == conn.info.id {
                    conn.close_after_reply = true;
                } else {
                    kill(c);
                }
                Reply::ok()
            }
            None => Reply::error("ERR No such client"),
        };
    }
    if !argv.len().is_multiple_of(2) {
        return Reply::error("ERR syntax error");
    }
    let (mut id, mut addr, mut laddr, mut skipme) = (None, None, None, true);
    let mut i = 2;
    while i + 1 < argv.len() {
        let v = &argv[i + 1];
        match lower(&argv[i]).as_slice() {
            b"id" => match std::str::from_utf8(v).ok().and_then(|s| s.parse::<u64>().ok()) {
                Some(n) if n > 0 => id = Some(n),
                _ => return Reply::error("ERR client-id should be greater than 0"),
            },
            b"addr" => addr = Some(String::from_utf8_lossy(v).into_owned()),
            b"laddr" => laddr = Some(String::from_utf8_lossy(v).into_owned()),
            b"skipme" => match lower(v).as_slice() {
                b"yes" => skipme = true,
                b"no" => skipme = false,
                _ => return Reply::error("ERR syntax error"),
            },
            b"type" | b"user" | b"maxage" => {}
            _ => return Reply::error("ERR syntax error"),
        }
        i += 2;
    }
    let mut killed = 0;
    for c in &clients {
        if id.is_some_and(|x| x != c.id)
            || addr.as_ref().is_some_and(|a| *a != c.addr)
            || laddr.as_ref().is_some_and(|a| *a != c.laddr)
        {
            continue;
        }
        if c.id == conn.info.id {
            if skipme {
                continue;
            }
            conn.close_after_reply = true;
        } else {
            kill(c);
        }
        killed += 1;
    }
    Reply::Int(killed)
}
