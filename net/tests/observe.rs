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

// ---------------------------------------------------------------- CLIENT PAUSE / KILL / LIST

fn info_field(c: &mut RawClient, section: &str, field: &str) -> String {
    let reply = Resp::parse(&c.cmd(&["INFO", section]));
    let text = text(reply.as_bytes());
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}: {text}"))
}

fn blocked_clients(c: &mut RawClient) -> i64 {
    info_field(c, "clients", "blocked_clients").parse().expect("a number")
}

#[test]
fn client_pause_write_holds_writes_on_every_shard_reads_go_on() {
    let server = Server::with_shards(2);
    let mut admin = server.raw();
    admin.cmd(&["SET", "FOO", "old"]);
    let mut writers: Vec<RawClient> = (0..4).map(|_| server.raw()).collect();
    // Queued before the pause (queueing a write is itself held during one, as in Redis).
    writers[3].cmd(&["MULTI"]);
    writers[3].cmd(&["INCR", "n"]);
    assert_eq!(text(&admin.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"])), "+OK\r\n");
    // Reads, PING and INFO answer at once from any shard.
    let mut reader = server.raw();
    assert_eq!(text(&reader.cmd(&["GET", "FOO"])), "$3\r\nold\r\n");
    assert_eq!(text(&reader.cmd(&["PING"])), "+PONG\r\n");
    assert_eq!(blocked_clients(&mut admin), 0);
    // Writes from clients on both shards wait, as do PUBLISH, PFCOUNT, EVAL and EXEC of writes.
    writers[0].send(&common::encode_cmd(&["SET", "FOO", "new"])).unwrap();
    writers[1].send(&common::encode_cmd(&["PUBLISH", "ch", "m"])).unwrap();
    writers[2].send(&common::encode_cmd(&["EVAL", "return 1", "0"])).unwrap();
    writers[3].send(&common::encode_cmd(&["EXEC"])).unwrap();
    assert!(eventually(Duration::from_secs(5), || blocked_clients(&mut admin) == 4));
    assert_eq!(text(&reader.cmd(&["GET", "FOO"])), "$3\r\nold\r\n");
    // A read-only transaction and a read-only script are not held.
    let mut ro = server.raw();
    ro.cmd(&["MULTI"]);
    ro.cmd(&["GET", "FOO"]);
    assert_eq!(text(&ro.cmd(&["EXEC"])), "*1\r\n$3\r\nold\r\n");
    assert_eq!(text(&ro.cmd(&["EVAL_RO", "return 7", "0"])), ":7\r\n");
    // Syntax errors answer at once.
    assert!(text(&ro.cmd(&["SET", "FOO"])).starts_with("-ERR wrong number of arguments"));
    assert_eq!(text(&admin.cmd(&["CLIENT", "UNPAUSE"])), "+OK\r\n");
    assert_eq!(text(&writers[0].read_reply().unwrap()), "+OK\r\n");
    assert_eq!(text(&writers[1].read_reply().unwrap()), ":0\r\n");
    assert_eq!(text(&writers[2].read_reply().unwrap()), ":1\r\n");
    assert_eq!(text(&writers[3].read_reply().unwrap()), "*1\r\n:1\r\n");
    assert_eq!(text(&reader.cmd(&["GET", "FOO"])), "$3\r\nnew\r\n");
    assert_eq!(blocked_clients(&mut admin), 0);
}

#[test]
fn client_pause_all_ends_by_timeout_and_holds_expiry() {
    let server = Server::with_shards(2);
    let mut admin = server.raw();
    let expired0: i64 = info_field(&mut admin, "stats", "expired_keys").parse().unwrap();
    admin.cmd(&["MULTI"]);
    admin.cmd(&["SET", "foo{t}", "bar", "PX", "10"]);
    admin.cmd(&["SET", "bar{t}", "foo", "PX", "10"]);
    admin.cmd(&["CLIENT", "PAUSE", "50000", "WRITE"]);
    admin.cmd(&["EXEC"]);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(text(&admin.cmd(&["GET", "foo{t}"])), "$-1\r\n");
    assert_eq!(text(&admin.cmd(&["GET", "bar{t}"])), "$-1\r\n");
    let expired: i64 = info_field(&mut admin, "stats", "expired_keys").parse().unwrap();
    assert_eq!(expired, expired0, "no key expires while paused");
    admin.cmd(&["CLIENT", "UNPAUSE"]);
    admin.cmd(&["GET", "foo{t}"]);
    admin.cmd(&["GET", "bar{t}"]);
    let expired: i64 = info_field(&mut admin, "stats", "expired_keys").parse().unwrap();
    assert_eq!(expired, expired0 + 2);
    // ALL holds reads too, until the timeout.
    admin.cmd(&["CLIENT", "PAUSE", "300", "ALL"]);
    let mut c = server.raw();
    let start = Instant::now();
    assert_eq!(text(&c.cmd(&["PING"])), "+PONG\r\n");
    assert!(start.elapsed() >= Duration::from_millis(200), "{:?}", start.elapsed());
}

#[test]
fn client_kill_filters() {
    let server = Server::with_shards(2);
    let mut admin = server.raw();
    let mut victims: Vec<RawClient> = (0..3).map(|_| server.raw()).collect();
    let ids: Vec<i64> =
        victims.iter_mut().map(|v| Resp::parse(&v.cmd(&["CLIENT", "ID"])).as_int()).collect();
    victims[2].cmd(&["SUBSCRIBE", "ch"]);
    let me = Resp::parse(&admin.cmd(&["CLIENT", "ID"])).as_int();
    // By ID.
    assert_eq!(text(&admin.cmd(&["CLIENT", "KILL", "ID", &ids[0].to_string()])), ":1\r\n");
    assert!(victims[0].wait_closed(Duration::from_secs(5)).is_ok());
    // By TYPE pubsub: only the subscriber.
    assert_eq!(text(&admin.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"])), ":1\r\n");
    assert!(victims[2].wait_closed(Duration::from_secs(5)).is_ok());
    // Old form by address.
    let list =
        text(Resp::parse(&admin.cmd(&["CLIENT", "LIST", "ID", &ids[1].to_string()])).as_bytes());
    let addr = list.split(' ').find_map(|f| f.strip_prefix("addr=")).unwrap().to_string();
    assert_eq!(text(&admin.cmd(&["CLIENT", "KILL", &addr])), "+OK\r\n");
    assert_eq!(text(&admin.cmd(&["CLIENT", "KILL", &addr])), "-ERR No such client\r\n");
    // USER default, SKIPME yes: everyone but me (nobody left), then SKIPME no kills me.
    assert_eq!(text(&admin.cmd(&["CLIENT", "KILL", "USER", "default"])), ":0\r\n");
    assert_eq!(
        text(&admin.cmd(&["CLIENT", "KILL", "ID", &me.to_string(), "SKIPME", "no"])),
        ":1\r\n"
    );
    assert!(admin.wait_closed(Duration::from_secs(5)).is_ok());
}

#[test]
fn client_list_fields_and_errors_match_redis() {
    let server = Server::with_shards(2);
    let mut c = server.raw();
    let line = text(Resp::parse(&c.cmd(&["CLIENT", "INFO"])).as_bytes());
    let names: Vec<&str> =
        line.trim_end().split(' ').map(|f| f.split('=').next().unwrap_or("")).collect();
    assert_eq!(
        names.join(" "),
        "id addr laddr fd name age idle flags db sub psub ssub multi qbuf qbuf-free argv-mem multi-mem rbs rbp obl oll omem tot-mem events cmd user redir resp"
    );
    assert!(line.contains(" cmd=client|info "), "{line}");
    assert!(line.contains(" flags=N "), "{line}");
    c.cmd(&["CLIENT", "NO-EVICT", "on"]);
    let line = text(Resp::parse(&c.cmd(&["CLIENT", "INFO"])).as_bytes());
    assert!(line.contains(" flags=e "), "{line}");
    let mut s = server.raw();
    s.cmd(&["SUBSCRIBE", "a", "b"]);
    s.cmd(&["PSUBSCRIBE", "p*"]);
    let list = text(Resp::parse(&c.cmd(&["CLIENT", "LIST", "TYPE", "pubsub"])).as_bytes());
    assert!(list.contains(" flags=P ") && list.contains(" sub=2 psub=1 ssub=0 "), "{list}");
    assert_eq!(list.lines().count(), 1);
    let diffs = compare_with_redis(
        &mut c,
        &[
            "CLIENT HELP",
            "CLIENT LIST TYPE foo",
            "CLIENT LIST ID 1 abc",
            "CLIENT LIST foo",
            "CLIENT LIST TYPE master",
            "CLIENT LIST TYPE replica",
            "CLIENT KILL MAXAGE 10",
            "CLIENT KILL USER nobody",
            "CLIENT KILL TYPE foo",
            "CLIENT KILL ID 0",
            "CLIENT KILL ID abc",
            "CLIENT KILL 1.2.3.4:5",
            "CLIENT KILL ADDR",
            "CLIENT KILL ADDR 1.2.3.4:5 SKIPME maybe",
            "CLIENT KILL LADDR 1.2.3.4:5",
            "CLIENT KILL TYPE master",
            "CLIENT PAUSE abc",
            "CLIENT PAUSE -1",
            "CLIENT PAUSE 10 foo",
            "CLIENT PAUSE 0 WRITE",
            "CLIENT UNPAUSE",
            "CLIENT NO-EVICT maybe",
            "CLIENT NO-EVICT off",
        ],
    );
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

// ---------------------------------------------------------------- MONITOR

/// Reads MONITOR lines until `n` arrived (bounded by the client's read timeout).
fn monitor_lines(m: &mut RawClient, n: usize) -> Vec<String> {
    (0..n).map(|_| text(&m.read_reply().expect("a monitor line"))).collect()
}

/// `+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"` → `[0] "keys" "*"` (time and port
/// differ between servers).
fn monitor_shape(line: &str) -> String {
    let line = line.strip_prefix('+').expect("a status line").trim_end();
    let (stamp, rest) = line.split_once(' ').expect("time first");
    let (secs, micros) = stamp.split_once('.').expect("seconds.micros");
    assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{line}");
    let (client, args) = rest.split_once("] ").expect("[db addr]");
    let (db, addr) = client.trim_start_matches('[').split_once(' ').expect("db addr");
    assert!(addr.starts_with("127.0.0.1:"), "{line}");
    format!("[{db}] {args}")
}

fn monitor_session(port: u16) -> Vec<String> {
    let mut m = RawClient::connect(port);
    m.set_timeout(Duration::from_secs(5));
    assert_eq!(text(&m.cmd(&["MONITOR"])), "+OK\r\n");
    let mut c = RawClient::connect(port);
    let cmds: &[&[&str]] = &[
        &["SET", "k", "v"],
        &["GET", "k"],
        &["SET", "q", "a\"b\\c\r\n\x01"],
        &["CONFIG", "GET", "maxmemory"],
        &["SELECT", "3"],
        &["MULTI"],
        &["INCR", "n"],
        &["EXEC"],
        &["AUTH", "x"],
        &["PING"],
    ];
    for cmd in cmds {
        c.cmd(cmd);
    }
    // CONFIG is an administrative command: not shown. AUTH is shown redacted.
    monitor_lines(&mut m, cmds.len() - 1).iter().map(|l| monitor_shape(l)).collect()
}

#[test]
fn monitor_lines_match_redis_across_shards() {
    let server = Server::with_shards(2);
    let got = monitor_session(server.port);
    assert_eq!(got[0], r#"[0] "SET" "k" "v""#);
    assert_eq!(got[2], r#"[0] "SET" "q" "a\"b\\c\r\n\x01""#);
    assert!(got.iter().any(|l| l == r#"[3] "INCR" "n""#), "{got:?}");
    let Some(redis) = RedisServer::start(&[]) else { return };
    assert_eq!(got, monitor_session(redis.port));
}

#[test]
fn monitor_sees_every_connection_and_stops_on_close() {
    let server = Server::with_shards(2);
    let mut m = server.raw();
    m.set_timeout(Duration::from_secs(5));
    assert_eq!(text(&m.cmd(&["MONITOR"])), "+OK\r\n");
    let mut clients: Vec<RawClient> = (0..4).map(|_| server.raw()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.cmd(&["SET", &format!("key{i}"), "x"]);
    }
    let lines = monitor_lines(&mut m, 4);
    let ports: std::collections::HashSet<&str> =
        lines.iter().map(|l| l.split("] ").next().unwrap_or("")).collect();
    assert_eq!(ports.len(), 4, "{lines:?}");
    let mut admin = server.raw();
    let list = text(Resp::parse(&admin.cmd(&["CLIENT", "LIST"])).as_bytes());
    assert!(list.contains("flags=O"), "{list}");
    drop(m);
    assert!(eventually(Duration::from_secs(5), || {
        let list = text(Resp::parse(&admin.cmd(&["CLIENT", "LIST"])).as_bytes());
        !list.contains("flags=O")
    }));
    // Nobody monitors any more: commands go on.
    assert_eq!(text(&clients[0].cmd(&["GET", "key0"])), "$1\r\nx\r\n");
}

#[test]
fn monitor_that_does_not_read_is_closed_at_its_limit() {
    let server = Server::start(&["--client-output-buffer-limit", "normal 256kb 0 0"]);
    let mut m = server.raw();
    assert_eq!(text(&m.cmd(&["MONITOR"])), "+OK\r\n");
    let mut c = server.raw();
    let value = "v".repeat(1000);
    let mut admin = server.raw();
    let closed = eventually(Duration::from_secs(20), || {
        for _ in 0..200 {
            c.cmd(&["SET", "k", &value]);
        }
        let list = text(Resp::parse(&admin.cmd(&["CLIENT", "LIST"])).as_bytes());
        !list.contains("flags=O")
    });
    assert!(closed, "the monitor is closed once over its output limit");
    assert!(server.log().contains("closed for overcoming of output buffer limits"));
}

// ---------------------------------------------------------------- LATENCY, latencystats

#[test]
fn latency_monitor_events_latest_history_reset() {
    let server = Server::start(&["--shards", "2", "--enable-debug-command", "yes"]);
    let mut c = server.raw();
    assert!(text(&c.cmd(&["LATENCY", "DOCTOR"])).contains("I'm sorry, Dave"));
    assert_eq!(text(&c.cmd(&["LATENCY", "LATEST"])), "*0\r\n");
    c.cmd(&["CONFIG", "SET", "latency-monitor-threshold", "50"]);
    c.cmd(&["DEBUG", "SLEEP", "0.1"]);
    c.cmd(&["PING"]);
    let latest = Resp::parse(&c.cmd(&["LATENCY", "LATEST"]));
    assert_eq!(
        latest.items().len(),
        1,
        "only the slow command: {}",
        show(&c.cmd(&["LATENCY", "LATEST"]))
    );
    let e = latest.items()[0].items();
    assert_eq!(e[0].as_bytes(), b"command");
    assert!(e[2].as_int() >= 100 && e[3].as_int() >= 100, "{e:?}");
    let history = Resp::parse(&c.cmd(&["LATENCY", "HISTORY", "command"]));
    assert_eq!(history.items().len(), 1);
    assert_eq!(history.items()[0].items()[0].as_int(), e[1].as_int());
    let graph = text(Resp::parse(&c.cmd(&["LATENCY", "GRAPH", "command"])).as_bytes());
    assert!(graph.starts_with("command - high "), "{graph}");
    let doctor = text(Resp::parse(&c.cmd(&["LATENCY", "DOCTOR"])).as_bytes());
    assert!(doctor.contains("1. command: 1 latency spikes"), "{doctor}");
    assert_eq!(text(&c.cmd(&["LATENCY", "HISTORY", "blabla"])), "*0\r\n");
    assert_eq!(text(&c.cmd(&["LATENCY", "RESET", "blabla"])), ":0\r\n");
    assert_eq!(text(&c.cmd(&["LATENCY", "RESET"])), ":1\r\n");
    assert_eq!(text(&c.cmd(&["LATENCY", "LATEST"])), "*0\r\n");
}

#[test]
fn latency_histogram_and_latencystats() {
    let server = Server::with_shards(2);
    let mut c = server.raw();
    c.cmd(&["CONFIG", "RESETSTAT"]);
    let h = Resp::parse(&c.cmd(&["LATENCY", "HISTOGRAM"]));
    assert_eq!(h.items().len(), 2, "only config|resetstat: {h:?}");
    assert_eq!(h.items()[0].as_bytes(), b"config|resetstat");
    c.cmd(&["CONFIG", "RESETSTAT"]);
    c.cmd(&["SET", "a", "b"]);
    c.cmd(&["SET", "c", "d"]);
    c.cmd(&["GET", "a"]);
    c.cmd(&["CLIENT", "ID"]);
    c.cmd(&["CLIENT", "LIST"]);
    let h = Resp::parse(&c.cmd(&["LATENCY", "HISTOGRAM", "blabla", "set", "client"]));
    let names: Vec<String> = h.items().iter().step_by(2).map(|n| text(n.as_bytes())).collect();
    assert_eq!(names, vec!["set", "client|id", "client|list"]);
    let set = h.items()[1].items();
    assert_eq!(text(set[0].as_bytes()), "calls");
    assert_eq!(set[1].as_int(), 2);
    assert_eq!(text(set[2].as_bytes()), "histogram_usec");
    assert!(!set[3].items().is_empty());
    let stats = text(Resp::parse(&c.cmd(&["INFO", "latencystats"])).as_bytes());
    let line = stats.lines().find(|l| l.starts_with("latency_percentiles_usec_set:")).expect("set");
    assert!(
        line.starts_with("latency_percentiles_usec_set:p50=")
            && line.contains(",p99=")
            && line.contains(",p99.9="),
        "{line}"
    );
    c.cmd(&["CONFIG", "SET", "latency-tracking-info-percentiles", "0 100 50.5"]);
    let stats = text(Resp::parse(&c.cmd(&["INFO", "latencystats"])).as_bytes());
    assert!(stats.contains("latency_percentiles_usec_get:p0="), "{stats}");
    assert!(stats.contains(",p100=") && stats.contains(",p50.5="), "{stats}");
    // Off: no new histograms.
    c.cmd(&["CONFIG", "SET", "latency-tracking", "no"]);
    c.cmd(&["HSET", "h", "f", "v"]);
    let h = Resp::parse(&c.cmd(&["LATENCY", "HISTOGRAM", "hset"]));
    assert_eq!(h.items().len(), 0);
    // INFO commandstats counts server-level commands too.
    let cmdstats = text(Resp::parse(&c.cmd(&["INFO", "commandstats"])).as_bytes());
    assert!(cmdstats.contains("cmdstat_client|id:calls=1,"), "{cmdstats}");
}

#[test]
fn latency_help_errors_and_config_match_redis() {
    let server = Server::start(&[]);
    let mut c = server.raw();
    let diffs = compare_with_redis(
        &mut c,
        &[
            "LATENCY HELP",
            "LATENCY HELP xxx",
            "LATENCY FOO",
            "LATENCY GRAPH nothing",
            "LATENCY HISTORY nothing",
            "LATENCY LATEST",
            "LATENCY RESET",
            "LATENCY DOCTOR",
            "LATENCY HISTOGRAM nosuchcommand",
            "CONFIG SET latency-monitor-threshold -1",
            "CONFIG SET latency-tracking-info-percentiles 101",
            "CONFIG SET latency-tracking-info-percentiles x",
            "CONFIG SET latency-tracking-info-percentiles 1e1",
            "CONFIG GET latency-tracking-info-percentiles",
            "CONFIG SET latency-tracking-info-percentiles \"\"",
            "CONFIG SET latency-monitor-threshold 7",
            "CONFIG GET latency-monitor-threshold",
            "CONFIG SET latency-tracking no",
            "CONFIG GET latency-tracking",
        ],
    );
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
