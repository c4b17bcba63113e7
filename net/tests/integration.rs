//! End-to-end tests of the `mayfly` binary through the `redis` client crate (and raw sockets
//! where exact bytes matter): strings and keys, pipelining across shards, databases, expiry,
//! RESP3, AUTH, CLIENT, QUIT, INFO, CONFIG, COMMAND, many clients and `maxclients`.

mod common;

use std::time::{Duration, Instant};

use common::{show, RawClient, RedisServer, Resp, Server};
use redis::{Commands, RedisResult, Value};

/// Waits (bounded) until the server counts exactly `n` connected clients. Closes are noticed
/// asynchronously (e.g. the start-up PING connection), so counts are polled, not read once.
fn wait_clients(raw: &mut RawClient, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let info = Resp::parse(&raw.cmd_str("INFO clients"));
        let text = String::from_utf8_lossy(info.as_bytes()).into_owned();
        if text.contains(&format!("connected_clients:{n}\r\n")) {
            return;
        }
        assert!(Instant::now() < deadline, "expected {n} clients: {text}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn err_text<T: std::fmt::Debug>(r: RedisResult<T>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn strings_and_keys() {
    let s = Server::with_shards(2);
    let mut c = s.client();
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    assert_eq!(c.get::<_, Option<String>>("missing").unwrap(), None);
    assert_eq!(c.append::<_, _, i64>("k", "w").unwrap(), 2);
    assert_eq!(c.strlen::<_, i64>("k").unwrap(), 2);
    assert_eq!(c.incr::<_, _, i64>("n", 5).unwrap(), 5);
    assert_eq!(c.decr::<_, _, i64>("n", 2).unwrap(), 3);
    assert!(err_text(c.incr::<_, _, i64>("k", 1)).contains("not an integer"));
    let _: () = c.mset(&[("a", "1"), ("b", "2"), ("c", "3")]).unwrap();
    let got: Vec<Option<String>> = c.mget(&["a", "b", "zz", "c"]).unwrap();
    assert_eq!(got, vec![Some("1".into()), Some("2".into()), None, Some("3".into())]);
    assert_eq!(c.exists::<_, i64>(&["a", "b", "zz"]).unwrap(), 2);
    let t: String = redis::cmd("TYPE").arg("a").query(&mut c).unwrap();
    assert_eq!(t, "string");
    let t: String = redis::cmd("TYPE").arg("zz").query(&mut c).unwrap();
    assert_eq!(t, "none");
    let mut keys: Vec<String> = c.keys("*").unwrap();
    keys.sort();
    assert_eq!(keys, vec!["a", "b", "c", "k", "n"]);
    assert_eq!(c.del::<_, i64>(&["a", "b", "zz"]).unwrap(), 2);
    let dbsize: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(dbsize, 3);
    let _: () = c.rename("c", "c2").unwrap();
    assert_eq!(c.get::<_, String>("c2").unwrap(), "3");
    let _: () = redis::cmd("FLUSHDB").query(&mut c).unwrap();
    let dbsize: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(dbsize, 0);
    // Binary-safe values and keys.
    let bin: Vec<u8> = (0..=255u8).collect();
    let _: () = c.set(&bin[..], &bin[..]).unwrap();
    assert_eq!(c.get::<_, Vec<u8>>(&bin[..]).unwrap(), bin);
}

fn pipeline_in_order(shards: usize) {
    let s = Server::with_shards(shards);
    let mut c = s.client();
    // 500 SETs then 500 GETs of keys spread over every shard: 1000 replies, in request order.
    let mut p = redis::pipe();
    for i in 0..500 {
        p.set(format!("key:{i}"), format!("value-{i}"));
    }
    for i in 0..500 {
        p.get(format!("key:{i}"));
    }
    let replies: Vec<Value> = p.query(&mut c).unwrap();
    assert_eq!(replies.len(), 1000);
    for (i, r) in replies.iter().take(500).enumerate() {
        assert_eq!(r, &Value::Okay, "reply {i}");
    }
    for (i, r) in replies.iter().skip(500).enumerate() {
        assert_eq!(r, &Value::BulkString(format!("value-{i}").into_bytes()), "reply {}", 500 + i);
    }
    // 1000 INCRs round-robin over 10 counters on different shards: each counter's replies
    // count up 1, 2, 3… in the order they were sent.
    let mut p = redis::pipe();
    for i in 0..1000 {
        p.incr(format!("ctr:{}", i % 10), 1);
    }
    let replies: Vec<i64> = p.query(&mut c).unwrap();
    let expected: Vec<i64> = (0..1000).map(|i| i / 10 + 1).collect();
    assert_eq!(replies, expected);
    // The same through one raw write of 1000 requests, with a multi-shard MGET in between.
    let mut raw = s.raw();
    let mut bytes = Vec::new();
    for i in 0..999 {
        if i == 500 {
            bytes.extend(common::encode_cmd(&["MGET", "key:1", "key:2", "key:3", "nokey"]));
        } else {
            bytes.extend(common::encode_cmd(&["ECHO", &i.to_string()]));
        }
    }
    bytes.extend(common::encode_cmd(&["PING"]));
    raw.send(&bytes).unwrap();
    for i in 0..999 {
        let r = raw.read_reply().unwrap();
        if i == 500 {
            assert_eq!(
                r,
                b"*4\r\n$7\r\nvalue-1\r\n$7\r\nvalue-2\r\n$7\r\nvalue-3\r\n$-1\r\n",
                "{}",
                show(&r)
            );
        } else {
            let want = i.to_string();
            assert_eq!(r, format!("${}\r\n{want}\r\n", want.len()).into_bytes());
        }
    }
    assert_eq!(raw.read_reply().unwrap(), b"+PONG\r\n");

    // A pipeline whose replies pass the 256 KiB flush size in one batch: 100 GETs of a 10 KB
    // value (1 MB of replies) sent at once. The requests after the flush are already read,
    // so no recv announces them; they used to wait for more input that never came.
    let big = "x".repeat(10_000);
    let _: () = c.set("big", &big).unwrap();
    let mut bytes = Vec::new();
    for _ in 0..100 {
        bytes.extend(common::encode_cmd(&["GET", "big"]));
    }
    bytes.extend(common::encode_cmd(&["PING"]));
    raw.send(&bytes).unwrap();
    let want = format!("$10000\r\n{big}\r\n").into_bytes();
    for i in 0..100 {
        assert_eq!(raw.read_reply().unwrap(), want, "GET {i} of 100");
    }
    assert_eq!(raw.read_reply().unwrap(), b"+PONG\r\n");
}

#[test]
fn pipeline_1000_one_shard() {
    pipeline_in_order(1);
}

#[test]
fn pipeline_1000_two_shards() {
    pipeline_in_order(2);
}

#[test]
fn select_isolates_databases() {
    let s = Server::with_shards(2);
    let mut c0 = s.client();
    let mut c5 = s.client();
    let _: () = redis::cmd("SELECT").arg(5).query(&mut c5).unwrap();
    let _: () = c0.set("k", "in0").unwrap();
    assert_eq!(c5.get::<_, Option<String>>("k").unwrap(), None);
    let _: () = c5.set("k", "in5").unwrap();
    assert_eq!(c0.get::<_, String>("k").unwrap(), "in0");
    assert_eq!(c5.get::<_, String>("k").unwrap(), "in5");
    let _: () = redis::cmd("FLUSHDB").query(&mut c5).unwrap();
    assert_eq!(c0.get::<_, String>("k").unwrap(), "in0");
    // Through the URL's database too.
    let mut c7 = redis::Client::open(format!("redis://127.0.0.1:{}/7", s.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = c7.set("only7", "x").unwrap();
    assert_eq!(c0.exists::<_, i64>("only7").unwrap(), 0);
    let _: () = redis::cmd("MOVE").arg("k").arg(7).query(&mut c0).unwrap();
    assert_eq!(c7.get::<_, String>("k").unwrap(), "in0");
    let mut raw = s.raw();
    assert_eq!(raw.cmd_str("SELECT 16"), b"-ERR DB index is out of range\r\n");
    assert_eq!(raw.cmd_str("SELECT x"), b"-ERR value is not an integer or out of range\r\n");
}

#[test]
fn expire_and_ttl() {
    let s = Server::with_shards(2);
    let mut c = s.client();
    let _: () = redis::cmd("SET").arg("e").arg("v").arg("EX").arg(100).query(&mut c).unwrap();
    let ttl: i64 = c.ttl("e").unwrap();
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    let pttl: i64 = c.pttl("e").unwrap();
    assert!((98_000..=100_000).contains(&pttl), "pttl {pttl}");
    assert_eq!(c.persist::<_, i64>("e").unwrap(), 1);
    assert_eq!(c.ttl::<_, i64>("e").unwrap(), -1);
    assert_eq!(c.ttl::<_, i64>("nokey").unwrap(), -2);
    assert_eq!(c.expire::<_, i64>("e", 1000).unwrap(), 1);
    let ttl: i64 = c.ttl("e").unwrap();
    assert!((999..=1000).contains(&ttl), "ttl {ttl}");
    // A time in the past deletes at once.
    let _: () = c.set("gone", "v").unwrap();
    assert_eq!(c.expire_at::<_, i64>("gone", 1).unwrap(), 1);
    assert_eq!(c.exists::<_, i64>("gone").unwrap(), 0);
    // A short PEXPIRE: the key disappears (bounded poll, not a fixed sleep).
    let _: () = c.set("short", "v").unwrap();
    assert_eq!(c.pexpire::<_, i64>("short", 50).unwrap(), 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.exists::<_, i64>("short").unwrap() == 1 {
        assert!(Instant::now() < deadline, "key with PEXPIRE 50 still there after 5 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(c.get::<_, Option<String>>("short").unwrap(), None);
}

#[test]
fn hello_3_map_reply() {
    let s = Server::with_shards(1);
    let mut raw = s.raw();
    let r = raw.cmd_str("HELLO 3");
    assert!(r.starts_with(b"%7\r\n"), "{}", show(&r));
    let Resp::Map(pairs) = Resp::parse(&r) else { panic!("not a map: {}", show(&r)) };
    let keys: Vec<&[u8]> = pairs.iter().map(|(k, _)| k.as_bytes()).collect();
    assert_eq!(
        keys,
        vec![&b"server"[..], b"version", b"proto", b"id", b"mode", b"role", b"modules"]
    );
    assert_eq!(pairs[2].1, Resp::Int(3));
    assert!(matches!(pairs[3].1, Resp::Int(id) if id > 0));
    assert_eq!(pairs[4].1, Resp::Bulk(b"standalone".to_vec()));
    assert_eq!(pairs[5].1, Resp::Bulk(b"master".to_vec()));
    assert_eq!(pairs[6].1, Resp::Array(vec![]));
    // RESP3 types after HELLO 3: null and map-typed replies.
    assert_eq!(raw.cmd_str("GET nokey"), b"_\r\n");
    assert_eq!(raw.cmd_str("SET k v"), b"+OK\r\n");
    // Back to RESP2.
    let r = raw.cmd_str("HELLO 2");
    assert!(r.starts_with(b"*14\r\n"), "{}", show(&r));
    assert_eq!(raw.cmd_str("GET nokey"), b"$-1\r\n");
    assert_eq!(
        raw.cmd_str("HELLO 4"),
        b"-NOPROTO unsupported protocol version\r\n".to_vec(),
        "HELLO 4"
    );
    // The redis crate over RESP3.
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{}/?protocol=resp3", s.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let v: Value = redis::cmd("GET").arg("nokey").query(&mut c).unwrap();
    assert_eq!(v, Value::Nil);
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
}

#[test]
fn auth_with_requirepass() {
    let s = Server::start(&["--shards", "2", "--requirepass", "s3cret"]);
    let mut raw = s.raw();
    assert_eq!(raw.cmd_str("GET k"), b"-NOAUTH Authentication required.\r\n");
    assert_eq!(raw.cmd_str("SET k v"), b"-NOAUTH Authentication required.\r\n");
    assert_eq!(
        raw.cmd_str("AUTH wrong"),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        raw.cmd_str("AUTH default wrong"),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(raw.cmd_str("AUTH s3cret"), b"+OK\r\n");
    assert_eq!(raw.cmd_str("SET k v"), b"+OK\r\n");
    assert_eq!(raw.cmd_str("GET k"), b"$1\r\nv\r\n");
    let mut raw2 = s.raw();
    assert_eq!(raw2.cmd_str("AUTH default s3cret"), b"+OK\r\n");
    assert_eq!(raw2.cmd_str("GET k"), b"$1\r\nv\r\n");
    // HELLO with AUTH in one step.
    let mut raw3 = s.raw();
    let r = raw3.cmd_str("HELLO 3 AUTH default s3cret");
    assert!(r.starts_with(b"%7\r\n"), "{}", show(&r));
    // The client crate with a password in the URL.
    let mut c = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{}/", s.port))
        .unwrap()
        .get_connection()
        .unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    let bad = redis::Client::open(format!("redis://:nope@127.0.0.1:{}/", s.port))
        .unwrap()
        .get_connection();
    assert!(bad.is_err());
    // Without requirepass, AUTH is an error.
    let s = Server::with_shards(1);
    let mut raw = s.raw();
    assert_eq!(
        raw.cmd_str("AUTH x"),
        b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"
    );
}

#[test]
fn client_commands() {
    let s = Server::with_shards(2);
    let mut a = s.raw();
    let mut b = s.raw();
    wait_clients(&mut a, 2);
    assert_eq!(a.cmd_str("CLIENT GETNAME"), b"$-1\r\n");
    assert_eq!(a.cmd_str("CLIENT SETNAME alpha"), b"+OK\r\n");
    assert_eq!(a.cmd_str("CLIENT GETNAME"), b"$5\r\nalpha\r\n");
    assert_eq!(
        a.cmd(&["CLIENT", "SETNAME", "has space"]),
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    );
    let id_a = Resp::parse(&a.cmd_str("CLIENT ID")).as_int();
    let id_b = Resp::parse(&b.cmd_str("CLIENT ID")).as_int();
    assert!(id_a > 0 && id_b > 0 && id_a != id_b);
    let list = Resp::parse(&a.cmd_str("CLIENT LIST"));
    let list = String::from_utf8(list.as_bytes().to_vec()).unwrap();
    let line_a = list
        .lines()
        .find(|l| l.starts_with(&format!("id={id_a} ")))
        .unwrap_or_else(|| panic!("no line for {id_a} in {list}"));
    assert!(line_a.contains(" name=alpha "), "{line_a}");
    assert!(line_a.contains(" addr=127.0.0.1:"), "{line_a}");
    assert!(line_a.contains(" cmd=client"), "{line_a}");
    assert!(list.lines().any(|l| l.starts_with(&format!("id={id_b} "))), "{list}");
    assert_eq!(list.lines().count(), 2, "{list}");
    // CLIENT INFO is the caller's own line.
    let info = Resp::parse(&a.cmd_str("CLIENT INFO"));
    assert!(info.as_bytes().starts_with(format!("id={id_a} ").as_bytes()));
    // KILL ID closes the other connection.
    assert_eq!(a.cmd(&["CLIENT", "KILL", "ID", &id_b.to_string()]), b":1\r\n");
    b.wait_closed(Duration::from_secs(5)).expect("killed client closed");
    assert_eq!(a.cmd_str("CLIENT KILL ID 999999"), b":0\r\n");
    assert_eq!(a.cmd_str("CLIENT KILL 1.2.3.4:5"), b"-ERR No such client\r\n");
    assert_eq!(a.cmd_str("PING"), b"+PONG\r\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let list = Resp::parse(&a.cmd_str("CLIENT LIST"));
        if list.as_bytes().split(|&c| c == b'\n').filter(|l| !l.is_empty()).count() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "killed client still listed");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn quit_closes() {
    let s = Server::with_shards(1);
    let mut raw = s.raw();
    raw.send(b"*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n").unwrap();
    let got = raw.wait_closed(Duration::from_secs(5)).expect("closed after QUIT");
    assert_eq!(got, b"+OK\r\n", "{}", show(&got));
}

#[test]
fn info_sections_and_fields() {
    let s = Server::with_shards(2);
    let mut c = s.client();
    let _: () = c.set("a", "1").unwrap();
    let _: () = redis::cmd("SET").arg("b").arg("2").arg("EX").arg(1000).query(&mut c).unwrap();
    let _: () = c.set("{b}c", "3").unwrap();
    wait_clients(&mut s.raw(), 2);
    let info: String = redis::cmd("INFO").query(&mut c).unwrap();
    for section in ["# Server", "# Clients", "# Memory", "# Stats", "# Keyspace"] {
        assert!(info.contains(section), "missing {section} in {info}");
    }
    let field = |name: &str| -> String {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in {info}"))
            .trim_end()
            .to_string()
    };
    assert!(field("redis_version").starts_with("7."), "{}", field("redis_version"));
    assert_eq!(field("tcp_port"), s.port.to_string());
    assert!(["1", "2"].contains(&field("connected_clients").as_str()), "{info}");
    assert!(field("used_memory").parse::<u64>().unwrap() > 0);
    assert_eq!(field("process_id"), s.pid().to_string());
    assert!(field("db0").starts_with("keys=3,expires=1,avg_ttl="), "{}", field("db0"));
    assert!(info.lines().all(|l| !l.starts_with("db1:")), "empty db listed: {info}");
    // One section only, and case-insensitively.
    let mem: String = redis::cmd("INFO").arg("MEMORY").query(&mut c).unwrap();
    assert!(mem.starts_with("# Memory\r\n"), "{mem}");
    assert!(!mem.contains("# Server"));
    let ks: String = redis::cmd("INFO").arg("keyspace").query(&mut c).unwrap();
    assert!(ks.contains("db0:keys=3,expires=1,avg_ttl="), "{ks}");
    // Two more clients show up in connected_clients.
    let mut d = s.raw();
    let _e = s.raw();
    wait_clients(&mut d, 3);
}

#[test]
fn config_get_set() {
    let s = Server::with_shards(2);
    let mut raw = s.raw();
    assert_eq!(raw.cmd_str("CONFIG GET maxmemory"), b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
    assert_eq!(raw.cmd_str("CONFIG SET maxmemory 10mb"), b"+OK\r\n");
    assert_eq!(raw.cmd_str("CONFIG GET maxmemory"), b"*2\r\n$9\r\nmaxmemory\r\n$8\r\n10485760\r\n");
    assert_eq!(raw.cmd_str("CONFIG SET maxmemory-policy allkeys-lru"), b"+OK\r\n");
    assert_eq!(
        raw.cmd_str("CONFIG GET maxmemory-policy"),
        b"*2\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lru\r\n"
    );
    // Several at once, and a glob.
    assert_eq!(raw.cmd_str("CONFIG SET hz 20 maxmemory-samples 7"), b"+OK\r\n");
    let got = Resp::parse(&raw.cmd_str("CONFIG GET maxmemory*"));
    let names: Vec<&[u8]> = got.items().iter().step_by(2).map(|r| r.as_bytes()).collect();
    assert!(names.contains(&&b"maxmemory-samples"[..]), "{names:?}");
    assert!(names.iter().all(|n| n.starts_with(b"maxmemory")), "{names:?}");
    assert_eq!(raw.cmd_str("CONFIG GET hz"), b"*2\r\n$2\r\nhz\r\n$2\r\n20\r\n");
    assert_eq!(raw.cmd_str("CONFIG GET nosuchparam"), b"*0\r\n");
    // Errors, byte for byte as real Redis gives them.
    let errors = ["CONFIG SET nosuchparam 1", "CONFIG SET maxmemory abc", "CONFIG SET hz 10 hz 11"];
    let known =
        SUBCOMMAND_ERRORS.iter().chain(CONFIG_SET_ERRORS).filter(|c| c.starts_with("CONFIG"));
    for cmd in errors.iter().chain(known) {
        let got = raw.cmd_str(cmd);
        assert!(got.starts_with(b"-ERR "), "{cmd}: {}", show(&got));
    }
    let mismatches = common::compare_with_redis(&mut raw, &errors);
    assert!(mismatches.is_empty(), "differs from Redis:\n{}", mismatches.join("\n"));
    // Redis's text, possibly followed by policies only Mayfly has.
    let got = raw.cmd_str("CONFIG SET maxmemory-policy nope");
    let want = "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - \
                argument(s) must be one of the following: volatile-lru, volatile-lfu, \
                volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, \
                noeviction";
    assert!(got.starts_with(want.as_bytes()), "{}", show(&got));
    // A failed multi-set changes nothing.
    assert_eq!(raw.cmd_str("CONFIG GET hz"), b"*2\r\n$2\r\nhz\r\n$2\r\n20\r\n");
    assert_eq!(raw.cmd_str("CONFIG RESETSTAT"), b"+OK\r\n");
}

#[test]
fn command_count_info_getkeys() {
    let s = Server::with_shards(1);
    let mut raw = s.raw();
    let count = Resp::parse(&raw.cmd_str("COMMAND COUNT")).as_int();
    assert!(count >= 40, "COMMAND COUNT {count}");
    let all = Resp::parse(&raw.cmd_str("COMMAND"));
    assert_eq!(all.items().len() as i64, count);
    assert_eq!(Resp::parse(&raw.cmd_str("COMMAND INFO nosuchcmd")), Resp::Array(vec![Resp::Nil]));
    assert_eq!(raw.cmd_str("COMMAND GETKEYS MSET a 1 b 2"), b"*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    let mismatches = command_info_differences(&mut raw, COMMAND_INFO_SAME);
    assert!(mismatches.is_empty(), "differs from Redis:\n{}", mismatches.join("\n"));
    let cases = [
        "COMMAND GETKEYS MSET a 1 b 2",
        "COMMAND GETKEYS GET k",
        "COMMAND GETKEYS SET k v EX 10",
        "COMMAND GETKEYS DEL a b c",
        "COMMAND GETKEYS RENAME x y",
        "COMMAND GETKEYS MSETNX a 1 b",
        "COMMAND GETKEYS NOSUCH a",
        "COMMAND GETKEYS PING x",
    ];
    let mismatches = common::compare_with_redis(&mut raw, &cases);
    assert!(mismatches.is_empty(), "differs from Redis:\n{}", mismatches.join("\n"));
}

/// Commands whose COMMAND INFO head (name, arity, flags, first/last key, step) matches Redis.
const COMMAND_INFO_SAME: &[&str] = &[
    "get",
    "set",
    "mset",
    "mget",
    "del",
    "expire",
    "incrbyfloat",
    "getex",
    "copy",
    "scan",
    "ping",
];

/// COMMAND INFO heads that differ from Redis (see the ignored test below).
const COMMAND_INFO_DIFFERENT: &[&str] = &["hello"];

/// Differences between Mayfly's and Redis's COMMAND INFO heads for `names`.
fn command_info_differences(raw: &mut RawClient, names: &[&str]) -> Vec<String> {
    let Some(oracle) = RedisServer::start(&[]) else { return Vec::new() };
    let mut r = oracle.raw();
    let mut mismatches = Vec::new();
    let flags = |e: &Resp| {
        let mut f: Vec<String> =
            e.items().iter().map(|x| String::from_utf8_lossy(x.as_bytes()).into_owned()).collect();
        f.sort();
        f
    };
    for name in names {
        let got = Resp::parse(&raw.cmd(&["COMMAND", "INFO", name]));
        let entry = &got.items()[0].items()[..6];
        assert_eq!(entry[0], Resp::Bulk(name.as_bytes().to_vec()));
        let want = Resp::parse(&r.cmd(&["COMMAND", "INFO", name]));
        let want = &want.items()[0].items()[..6];
        if entry[..2] != want[..2] || entry[3..6] != want[3..6] {
            mismatches.push(format!("COMMAND INFO {name}: redis {want:?}, mayfly {entry:?}"));
        }
        if flags(&entry[2]) != flags(&want[2]) {
            mismatches.push(format!(
                "COMMAND INFO {name} flags: redis {:?}, mayfly {:?}",
                flags(&want[2]),
                flags(&entry[2])
            ));
        }
    }
    mismatches
}

/// Subcommand errors of container commands (CONFIG, COMMAND, CLIENT, OBJECT): Redis checks
/// each subcommand's own arity and names the subcommand `container|sub`.
const SUBCOMMAND_ERRORS: &[&str] = &[
    "CONFIG SET hz",
    "CONFIG GET",
    "CONFIG NOSUCH",
    "COMMAND GETKEYS",
    "COMMAND GETKEYS GET",
    "COMMAND GETKEYS PING",
    "COMMAND NOSUCH",
    "COMMAND COUNT x",
    "CLIENT NOSUCH",
    "CLIENT GETNAME x",
    "CLIENT ID x",
    "OBJECT NOSUCH k",
    "OBJECT ENCODING",
];

/// CONFIG SET errors whose text differs from Redis (see the ignored test below).
const CONFIG_SET_ERRORS: &[&str] = &["CONFIG SET hz -1", "CONFIG SET maxclients -1"];

#[test]
#[ignore = "BUG: CONFIG SET with a negative number for a ranged parameter says `argument couldn't be parsed into an integer` where Redis 7.0 says `argument must be between 0 and 2147483647 inclusive` (hz -1) / `argument must be between 1 and 4294967295 inclusive` (maxclients -1)"]
fn config_set_errors_match_redis() {
    let s = Server::with_shards(1);
    let mut raw = s.raw();
    let mismatches = common::compare_with_redis(&mut raw, CONFIG_SET_ERRORS);
    assert!(mismatches.is_empty(), "differs from Redis:\n{}", mismatches.join("\n"));
}

#[test]
fn subcommand_errors_match_redis() {
    let s = Server::with_shards(1);
    let mut raw = s.raw();
    let mismatches = common::compare_with_redis(&mut raw, SUBCOMMAND_ERRORS);
    assert!(mismatches.is_empty(), "differs from Redis:\n{}", mismatches.join("\n"));
}

#[test]
#[ignore = "BUG: full COMMAND INFO replies differ from Redis 7.0: key-spec flags lack Redis's access/operation flags (GET: Mayfly `RO`, Redis `RO access`; SET: `RW` vs `RW access update variable_flags`; MSET: `RW` vs `OW update`; DEL: `RW` vs `RM delete`); command tips are empty (MSET: Redis `request_policy:multi_shard response_policy:all_succeeded`, DEL: `… response_policy:agg_sum`); SET's key spec lacks Redis's `notes` field; DEL's ACL categories are ordered `@write @keyspace @slow`, Redis `@keyspace @write @slow`"]
fn command_info_matches_redis_fully() {
    let s = Server::with_shards(1);
    let mut raw = s.raw();
    let cases = ["COMMAND INFO nosuch", "COMMAND INFO get", "COMMAND INFO set mset del"];
    let mismatches = common::compare_with_redis(&mut raw, &cases);
    assert!(mismatches.is_empty(), "differs from Redis:\n{}", mismatches.join("\n"));
}

#[test]
#[ignore = "BUG: COMMAND INFO HELLO lacks the `allow_busy` flag Redis 7.0 reports"]
fn command_info_flags_match_redis() {
    let s = Server::with_shards(1);
    let mut raw = s.raw();
    let mismatches = command_info_differences(&mut raw, COMMAND_INFO_DIFFERENT);
    assert!(mismatches.is_empty(), "differs from Redis:\n{}", mismatches.join("\n"));
}

#[test]
fn many_concurrent_clients() {
    let s = Server::with_shards(2);
    let port = s.port;
    let threads: Vec<_> = (0..200)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = RawClient::connect(port);
                for i in 0..20 {
                    let k = format!("c{t}:{i}");
                    assert_eq!(c.cmd(&["SET", &k, &t.to_string()]), b"+OK\r\n");
                    let want = format!("${}\r\n{t}\r\n", t.to_string().len());
                    assert_eq!(c.cmd(&["GET", &k]), want.as_bytes());
                }
                c
            })
        })
        .collect();
    // Keep every connection open until all are done, so 200 are connected at once.
    let conns: Vec<RawClient> = threads.into_iter().map(|h| h.join().unwrap()).collect();
    let mut c = s.client();
    wait_clients(&mut s.raw(), 202);
    drop(conns);
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 4000);
}

#[test]
fn maxclients_rejects_the_sixth() {
    let s = Server::start(&["--shards", "2", "--maxclients", "5"]);
    let mut first = s.raw();
    wait_clients(&mut first, 1);
    let mut conns: Vec<RawClient> = vec![first];
    conns.extend((0..4).map(|_| s.raw()));
    for c in conns.iter_mut() {
        assert_eq!(c.cmd_str("PING"), b"+PONG\r\n");
    }
    let mut sixth = s.raw();
    let got = sixth.wait_closed(Duration::from_secs(5)).expect("sixth closed");
    assert_eq!(got, b"-ERR max number of clients reached\r\n", "{}", show(&got));
    for c in conns.iter_mut() {
        assert_eq!(c.cmd_str("PING"), b"+PONG\r\n");
    }
    // A slot frees when one leaves (the server notices the close asynchronously).
    drop(conns.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = s.raw();
        c.set_timeout(Duration::from_secs(2));
        match c.try_cmd(&["PING"]) {
            Ok(r) if r == b"+PONG\r\n" => break,
            other => {
                assert!(Instant::now() < deadline, "no slot after a client left: {other:?}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
