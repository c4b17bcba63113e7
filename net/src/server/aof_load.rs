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

/// Executes `commands` as a client without a socket would (Redis's fake client).
async fn replay(commands: Vec<Vec<Bytes>>) {
    let rt = here();
    let info = Arc::new(crate::conn::client::ClientInfo::new(
        0,
        -1,
        rt.id,
        String::new(),
        String::new(),
        mayfly_engine::clock::unix_time_ms(),
    ));
    drop(rt);
    let mut conn = crate::conn::Conn {
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
    };
    for (i, argv) in commands.into_iter().enumerate() {
        if argv.is_empty() {
            continue;
        }
        if mayfly_engine::lookup(&argv[0]).is_none() {
            log::warning(&format!(
                "Unknown command '{}' reading the append only file",
                String::from_utf8_lossy(&argv[0])
            ));
            std::process::exit(1);
        }
        let _ = super::dispatch::dispatch(&mut conn, argv).await;
        if i % 1024 == 1023 {
            crate::rt::exec::yield_now().await;
        }
    }
    if conn.multi.is_some() {
        // An open MULTI at the very end was cut by the parser already; nothing queued runs.
        conn.multi = None;
    }
}
