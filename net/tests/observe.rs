//! Issue 18 (operations), points 4 and 5, end to end against the real binary, with
//! redis-server 7.0.15 as the oracle where it is installed: SLOWLOG, CLIENT PAUSE / KILL /
//! LIST, MONITOR, LATENCY and INFO latencystats/errorstats.

mod common;

use std::time::{Duration, Instant};

use common::{compare_with_redis, show, RawClient, RedisServer, Resp, Server};

/// Polls `check` every 20 ms until it holds or `t` passes.
#[allow(dead_code)]
fn eventually(t: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + t;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A SLOWLOG GET reply without what differs between two servers (ids, times, durations,
/// client addresses): each entry as (arguments, client name).
fn slowlog_shape(reply: &[u8]) -> Vec<(Vec<String>, String)> {
    Resp::parse(reply)
        .items()
        .iter()
        .map(|e| {
            let f = e.items();
            assert_eq!(f.len(), 6, "entry has 6 fields: {}", show(reply));
            assert!(f[0].as_int() >= 0 && f[1].as_int() > 1_600_000_000 && f[2].as_int() >= 0);
            assert!(text(f[4].as_bytes()).starts_with("127.0.0.1:"));
            let args = f[3].items().iter().map(|a| text(a.as_bytes())).collect();
            (args, text(f[5].as_bytes()))
        })
        .collect()
}

// ---------------------------------------------------------------- SLOWLOG

/// The same session on both servers gives the same entries (arguments trimmed like Redis,
/// client names, newest first, SLOWLOG itself logged, EXEC not but its commands yes).
const SLOWLOG_SESSION: &[&[&str]] = &[
    &["CONFIG", "SET", "slowlog-log-slower-than", "0"],
    &["SLOWLOG", "RESET"],
    &["CLIENT", "SETNAME", "observer"],
    &["SET", "k", "v"],
    &["MULTI"],
    &["INCR", "n"],
    &["GET", "k"],
    &["EXEC"],
    &["AUTH", "secret"],
    &["CONFIG", "SET", "masterauth", "pw"],
    &["HELLO", "2", "AUTH", "default", "nopass"],
];

fn run_session(c: &mut RawClient, extra: &[Vec<Vec<u8>>]) -> Vec<u8> {
    for cmd in SLOWLOG_SESSION {
        c.cmd(cmd);
    }
    for cmd in extra {
        c.cmd(cmd);
    }
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    c.cmd(&["SLOWLOG", "GET", "-1"])
}

fn trimming_commands() -> Vec<Vec<Vec<u8>>> {
    let mut many: Vec<Vec<u8>> = vec![b"SADD".to_vec(), b"set".to_vec()];
    many.extend((3..=40).map(|i| i.to_string().into_bytes()));
    let long = vec![b"SET".to_vec(), b"big".to_vec(), vec![b'A'; 200]];
    let blpop = vec![b"BLPOP".to_vec(), b"nolist".to_vec(), b"0.01".to_vec()];
    vec![many, long, blpop]
}

#[test]
fn slowlog_entries_match_redis() {
    let server = Server::with_shards(2);
    let mut c = server.raw();
    let got = run_session(&mut c, &trimming_commands());
    let shape = slowlog_shape(&got);
    assert!(shape.len() >= 10, "{shape:?}");
    assert_eq!(shape.last().map(|e| e.0.join(" ")), Some("SLOWLOG RESET".to_string()));
    assert!(shape.iter().all(|e| e.0[0] != "EXEC"), "EXEC is not logged: {shape:?}");
    assert!(shape.iter().any(|e| e.0 == ["INCR", "n"]), "{shape:?}");
    assert!(shape.iter().any(|e| e.0 == ["AUTH", "(redacted)"]), "{shape:?}");
    assert!(shape.iter().any(|e| e.0.len() == 32 && e.0[31] == "... (9 more arguments)"));
    assert!(shape.iter().any(|e| e.0.len() == 3 && e.0[2].ends_with("A... (72 more bytes)")));
    assert_eq!(shape[0].1, "observer");
    let Some(redis) = RedisServer::start(&[]) else { return };
    let mut r = redis.raw();
    let want = slowlog_shape(&run_session(&mut r, &trimming_commands()));
    assert_eq!(shape, want);
}

#[test]
fn slowlog_len_max_len_get_count_reset() {
    let server = Server::with_shards(2);
    let mut c = server.raw();
    assert_eq!(Resp::parse(&c.cmd(&["SLOWLOG", "LEN"])).as_int(), 0);
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    c.cmd(&["CONFIG", "SET", "slowlog-max-len", "10"]);
    for i in 0..100 {
        c.cmd(&["SET", &format!("k{i}"), "v"]);
    }
    assert_eq!(Resp::parse(&c.cmd(&["SLOWLOG", "LEN"])).as_int(), 10);
    assert_eq!(Resp::parse(&c.cmd(&["SLOWLOG", "GET", "5"])).items().len(), 5);
    assert_eq!(Resp::parse(&c.cmd(&["SLOWLOG", "GET", "0"])).items().len(), 0);
    assert_eq!(Resp::parse(&c.cmd(&["SLOWLOG", "GET"])).items().len(), 10);
    // Ids grow, newest first.
    let ids: Vec<i64> = Resp::parse(&c.cmd(&["SLOWLOG", "GET", "-1"]))
        .items()
        .iter()
        .map(|e| e.items()[0].as_int())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "1000000"]);
    assert_eq!(text(&c.cmd(&["SLOWLOG", "RESET"])), "+OK\r\n");
    c.cmd(&["PING"]);
    assert_eq!(Resp::parse(&c.cmd(&["SLOWLOG", "LEN"])).as_int(), 0);
    // A disabled log stays empty.
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    c.cmd(&["SET", "a", "b"]);
    assert_eq!(Resp::parse(&c.cmd(&["SLOWLOG", "LEN"])).as_int(), 0);
}

#[test]
fn slowlog_one_log_for_every_shard() {
    let server = Server::with_shards(2);
    let mut a = server.raw();
    let mut b = server.raw();
    a.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    a.cmd(&["SLOWLOG", "RESET"]);
    // Two connections (accepted round robin on two shards), keys on both shards.
    for i in 0..20 {
        a.cmd(&["SET", &format!("a{i}"), "1"]);
        b.cmd(&["SET", &format!("b{i}"), "1"]);
    }
    let entries = Resp::parse(&b.cmd(&["SLOWLOG", "GET", "-1"]));
    let peers: std::collections::HashSet<String> =
        entries.items().iter().map(|e| text(e.items()[4].as_bytes())).collect();
    assert_eq!(peers.len(), 2, "both clients in one log: {peers:?}");
    assert_eq!(entries.items().len(), 41);
}

#[test]
fn slowlog_help_errors_and_config_match_redis() {
    let server = Server::start(&[]);
    let mut c = server.raw();
    let diffs = compare_with_redis(
        &mut c,
        &[
            "SLOWLOG HELP",
            "SLOWLOG GET -2",
            "SLOWLOG GET x",
            "SLOWLOG GET 1 2",
            "SLOWLOG LEN 1",
            "SLOWLOG FOO",
            "SLOWLOG",
            "CONFIG SET slowlog-log-slower-than -2",
            "CONFIG SET slowlog-max-len -1",
            "CONFIG SET slowlog-log-slower-than 5000",
            "CONFIG GET slowlog-log-slower-than",
            "CONFIG SET slowlog-max-len 7",
            "CONFIG GET slowlog-max-len",
        ],
    );
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
