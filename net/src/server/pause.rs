//! CLIENT PAUSE / UNPAUSE, and holding a paused client's command until the pause ends (the
//! state itself is `shard::pause`, shared by every shard).
//!
//! A held command waits on its own connection's task, re-checking every few milliseconds
//! (a pause ends by CLIENT UNPAUSE on any shard or by its timeout), while watching its socket:
//! a client that goes away stops waiting. It counts in `blocked_clients`, as Redis counts its
//! postponed clients.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use mayfly_engine::command::{flags, CommandSpec};
use mayfly_engine::reply::Reply;

use crate::conn::{Conn, ConnInterrupts};
use crate::coord::block::{Interrupt, Interrupts};
use crate::rt::{race, sleep_ms, Either};
use crate::shard::here;
use crate::shard::pause::{self, Kind};

/// How often a held command looks at the pause again.
const RECHECK_MS: u64 = 5;

/// CLIENT PAUSE timeout [WRITE|ALL]: Redis's argument order of checks (mode, then timeout).
pub fn client_pause(argv: &[Bytes]) -> Reply {
    let kind = match argv.get(3).map(|m| m.to_ascii_lowercase()) {
        None => Kind::All,
        Some(m) if m == b"write" => Kind::Write,
        Some(m) if m == b"all" => Kind::All,
        Some(_) => return Reply::error("ERR CLIENT PAUSE mode must be WRITE or ALL"),
    };
    let timeout_ms = match std::str::from_utf8(&argv[2]).ok().and_then(|s| s.parse::<i64>().ok()) {
        Some(n) if n < 0 => return Reply::error("ERR timeout is negative"),
        Some(n) => n as u64,
        None => return Reply::error("ERR timeout is not an integer or out of range"),
    };
    let now = mayfly_engine::clock::unix_time_ms();
    // Redis 7.0 adds the timeout to the clock without an overflow check: an end past the
    // largest time wraps into the past, so the pause is over at once (OK all the same).
    if timeout_ms <= (i64::MAX as u64).saturating_sub(now) {
        pause::pause(kind, now + timeout_ms, now);
    }
    Reply::ok()
}

/// CLIENT UNPAUSE.
pub fn client_unpause() -> Reply {
    pause::unpause();
    Reply::ok()
}

/// A script's own flags: `#!lua flags=no-writes` (or `flags=no-writes,...`) says it does
/// not write.
fn script_declares_no_writes(body: &[u8]) -> bool {
    if !body.starts_with(b"#!") {
        return false;
    }
    let line = body.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    line.split_whitespace()
        .filter_map(|w| w.strip_prefix("flags="))
        .any(|f| f.split(',').any(|x| x == "no-writes"))
}

/// Whether a command may write or replicate (what a WRITE pause holds): Redis's
/// `is_may_replicate_command`, with EVAL's script flags.
fn may_replicate(spec: &CommandSpec, argv: &[Bytes]) -> bool {
    match spec.name {
        "eval" => !argv.get(1).is_some_and(|b| script_declares_no_writes(b)),
        "evalsha" | "fcall" => true,
        _ => {
            spec.has(flags::WRITE)
                || spec.has(flags::MAY_REPLICATE)
                || argv.get(1).is_some_and(|sub| {
                    spec.subcommands.iter().any(|s| {
                        s.flags & flags::WRITE != 0 && s.name.as_bytes().eq_ignore_ascii_case(sub)
                    })
                })
        }
    }
}

/// Whether the pause in force now holds this command.
fn held(conn: &Conn, spec: &CommandSpec, argv: &[Bytes]) -> bool {
    match pause::current(mayfly_engine::clock::unix_time_ms()) {
        Kind::Off => false,
        Kind::All => true,
        Kind::Write => {
            if spec.name == "exec" {
                conn.multi.as_ref().is_some_and(|q| {
                    q.iter()
                        .any(|c| mayfly_engine::lookup(&c[0]).is_some_and(|s| may_replicate(s, c)))
                })
            } else {
                may_replicate(spec, argv)
            }
        }
    }
}

/// Waits while a pause holds this command. Err(()) when the client went away meanwhile.
pub async fn wait_while_paused(
    conn: &mut Conn,
    spec: &CommandSpec,
    argv: &[Bytes],
) -> Result<(), ()> {
    if !held(conn, spec, argv) {
        return Ok(());
    }
    let rt = here();
    let counter = &rt.shared.blocked_clients;
    counter.fetch_add(1, Ordering::Relaxed);
    let mut result = Ok(());
    let mut intr = ConnInterrupts { conn };
    loop {
        if let Either::Right(Interrupt::Closed) = race(sleep_ms(RECHECK_MS), intr.next()).await {
            result = Err(());
            break;
        }
        if !held(intr.conn, spec, argv) {
            break;
        }
    }
    counter.fetch_sub(1, Ordering::Relaxed);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    #[test]
    fn may_replicate_follows_redis() {
        let spec = |n: &str| mayfly_engine::lookup(n.as_bytes()).expect("known");
        assert!(may_replicate(spec("set"), &v(&["set", "k", "v"])));
        assert!(may_replicate(spec("pfcount"), &v(&["pfcount", "h"])));
        assert!(may_replicate(spec("publish"), &v(&["publish", "c", "m"])));
        assert!(!may_replicate(spec("get"), &v(&["get", "k"])));
        assert!(!may_replicate(spec("ping"), &v(&["ping"])));
        assert!(may_replicate(spec("eval"), &v(&["eval", "return 1", "0"])));
        assert!(!may_replicate(
            spec("eval"),
            &v(&["eval", "#!lua flags=no-writes\nreturn 1", "0"])
        ));
        assert!(may_replicate(spec("eval"), &v(&["eval", "#!lua\nreturn 1", "0"])));
        assert!(!may_replicate(spec("eval_ro"), &v(&["eval_ro", "return 1", "0"])));
    }

    #[test]
    fn pause_arguments_like_redis() {
        assert_eq!(
            client_pause(&v(&["client", "pause", "10", "foo"])),
            Reply::error("ERR CLIENT PAUSE mode must be WRITE or ALL")
        );
        assert_eq!(
            client_pause(&v(&["client", "pause", "abc"])),
            Reply::error("ERR timeout is not an integer or out of range")
        );
        assert_eq!(
            client_pause(&v(&["client", "pause", "-1"])),
            Reply::error("ERR timeout is negative")
        );
    }
}
