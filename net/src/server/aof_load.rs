//! The AOF's start-up replay: the commands `aof` read from the files run through the normal
//! dispatch as a client without a socket (Redis's fake client), before the listeners accept.
//! A module of its own so that `aof` (used by `dispatch`) does not depend on `dispatch`.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::log;
use crate::shard::here;

/// On shard 0 before the listeners accept: waits for the base RDB's load, replays the
/// commands, then lets `aof` write its directory.
pub async fn start() {
    if let Some(commands) = super::aof::take_start_commands() {
        for _ in 0..(10 * 60 * 60 * 100) {
            if !super::persist::is_loading() {
                break;
            }
            crate::rt::sleep_ms(10).await;
        }
        replay(commands).await;
    }
    super::aof::finish_start().await;
}

/// A client without a socket (Redis's fake AOF client).
fn fake_conn() -> crate::conn::Conn {
    let info = Arc::new(crate::conn::client::ClientInfo::new(
        0,
        -1,
        here().id,
        String::new(),
        String::new(),
        mayfly_engine::clock::unix_time_ms(),
    ));
    crate::conn::Conn {
        fd: -1,
        info,
        db: 0,
        resp3: false,
        authenticated: true,
        multi: None,
        multi_failed: false,
        close_after_reply: false,
        close_now: false,
        local: true,
        watch: Default::default(),
        rbuf: BytesMut::new(),
        output: crate::conn::output::Output::new(0),
        subs: Default::default(),
        split_reply: false,
        reply_off: false,
        reply_skip_next: false,
        reply_skip: false,
        receiver: crate::conn::Receiver::single(),
        face: None,
    }
}

/// Runs one command as the fake client (Redis exits on a command it does not know).
async fn run(conn: &mut crate::conn::Conn, argv: Vec<Bytes>, count: &mut usize) {
    if argv.is_empty() {
        return;
    }
    if mayfly_engine::lookup(&argv[0]).is_none() {
        log::warning(&format!(
            "Unknown command '{}' reading the append only file",
            String::from_utf8_lossy(&argv[0])
        ));
        std::process::exit(1);
    }
    let _ = super::dispatch::dispatch(conn, argv).await;
    *count += 1;
    if (*count).is_multiple_of(1024) {
        crate::rt::exec::yield_now().await;
    }
}

/// A command every shard journals its own part of (the meeting points of a group).
fn is_barrier(argv: &[Bytes]) -> bool {
    argv.first().is_some_and(|n| {
        n.eq_ignore_ascii_case(b"flushall")
            || n.eq_ignore_ascii_case(b"flushdb")
            || n.eq_ignore_ascii_case(b"swapdb")
    })
}

/// Replays the groups in order; the files of a group side by side up to each barrier, which
/// runs once (see `aof::ReplayGroups`).
async fn replay(groups: super::aof::ReplayGroups) {
    let mut count = 0usize;
    for group in groups {
        let mut files: Vec<std::vec::IntoIter<Vec<Bytes>>> =
            group.into_iter().map(|f| f.into_iter()).collect();
        let mut conns: Vec<crate::conn::Conn> = files.iter().map(|_| fake_conn()).collect();
        // The barrier each file stopped at.
        let mut held: Vec<Option<Vec<Bytes>>> = files.iter().map(|_| None).collect();
        let parallel = files.len() > 1;
        loop {
            for (i, file) in files.iter_mut().enumerate() {
                if held[i].is_some() {
                    continue;
                }
                for argv in file.by_ref() {
                    if parallel && is_barrier(&argv) && conns[i].multi.is_none() {
                        held[i] = Some(argv);
                        break;
                    }
                    run(&mut conns[i], argv, &mut count).await;
                }
            }
            let Some(first) = held.iter().position(|h| h.is_some()) else { break };
            if let Some(argv) = held[first].take() {
                run(&mut conns[first], argv, &mut count).await;
            }
            for h in held.iter_mut() {
                *h = None;
            }
        }
    }
}
