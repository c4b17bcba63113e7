//! Lua scripting end to end: EVAL & co. and SCRIPT against the real binary, replies compared
//! byte for byte with redis-server 7.0 where it is installed, the script cache shared by
//! every shard, and a script's atomicity against concurrent clients with `--shards 2`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{show, RawClient, RedisServer, Resp, Server};
use mayfly_engine::slot::{key_slot, SLOT_COUNT};

fn shard_of(key: &str, shards: usize) -> usize {
    key_slot(key.as_bytes()) as usize * shards / SLOT_COUNT
}

fn key_on(prefix: &str, shard: usize, shards: usize) -> String {
    (0..).map(|n| format!("{prefix}{n}")).find(|k| shard_of(k, shards) == shard).expect("key")
}

/// Scripts (run with `EVAL <script> 0` after `SET str abc`) whose replies must equal Redis's.
const SCRIPTS: &[&str] = &[
    "return {1,2,3,'x',nil,4}",
    "return {ok='fine'}",
    "return {err='bad thing'}",
    "return redis.error_reply('My Error')",
    "return redis.error_reply('x')",
    "return redis.status_reply('Yo')",
    "return 3.99",
    "return -3.99",
    "return 1e20",
    "return true",
    "return false",
    "return nil",
    "return redis.call('get','nokey')",
    "return redis.sha1hex('')",
    "x = 5",
    "return undefinedvar",
    "return redis.call('nosuch')",
    "return redis.call('get')",
    "return redis.pcall('nosuch')",
    "error('boom')",
    "error({err='X custom'})",
    "return redis.call('incr','str')",
    "return redis.pcall('incr','str')",
    "return {1,{2,{3}}}",
    "return os.time()",
    "return loadfile",
    "return dofile",
    "return print",
    "return redis.call('eval','return 1','0')",
    "return redis.call('multi')",
    "return redis.call('subscribe','x')",
    "return tostring(bit.band(7,3))",
    "return bit.tohex(255)",
    "return cjson.encode({1,2,3})",
    "return cjson.decode('[1,2,{\"a\":3}]')[3].a",
    "return redis.REDIS_VERSION",
    "return redis.call('ping')",
    "return {1.5, 2.7}",
    "return {a=1}",
    "return redis.pcall('get')",
    "return redis.call()",
    "return redis.call('get', {})",
    "redis.call = nil",
    "return redis.call('hset','h','a','1','b','2')",
    "return redis.call('hgetall','h')",
    "redis.setresp(3); return redis.call('hgetall','h')",
    "redis.setresp(3); return redis.call('get','nokey')",
    "return redis.setresp(4)",
    "return {double=1.5}",
    "return redis.call('select', 1)",
    "return redis.call('lpush','str','a')",
    "return redis.pcall('lpush','str','a')",
    "return string.format('%d', 5)",
    "return table.concat({'a','b'}, ',')",
    "return loadstring('return 1')()",
    "return redis.call('incrbyfloat','fl','1.5')",
    "return redis.call('zadd','z','1','a')",
    "return redis.call('zscore','z','a')",
    "redis.setresp(3); return redis.call('zscore','z','a')",
    "return redis.call('set', 'num', 3.5)",
    "return redis.call('get', 'num')",
    "syntax error here",
    "local t = redis.pcall('nosuch'); return t['err']",
];

/// Other requests compared as whole argument vectors.
fn requests() -> Vec<Vec<&'static str>> {
    vec![
        vec!["EVAL", "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}", "2", "a", "b", "c", "d"],
        vec!["EVAL", "return 1", "x"],
        vec!["EVAL", "return 1", "2", "a"],
        vec!["EVAL", "return 1", "-1"],
        vec!["EVAL"],
        vec!["EVALSHA", "abc", "0"],
        vec!["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"],
        vec!["EVAL_RO", "return redis.call('set','a','b')", "0"],
        vec!["EVAL_RO", "return redis.call('get','str')", "0"],
        vec!["SCRIPT", "LOAD", "return 'loaded'"],
        vec!["EVALSHA", "f6f4fe5a9a3a5e2a6a1d6d4e2cb6c5e8c4bb8c9e", "0"],
        vec!["SCRIPT", "EXISTS", "a5a5d2c17a33c0d6e5ab5d1e6ae3e5edc5b52d0f", "nope"],
        vec!["SCRIPT", "LOAD", "syntax error here"],
        vec!["SCRIPT", "FLUSH", "foo"],
        vec!["SCRIPT", "FLUSH", "ASYNC"],
        vec!["SCRIPT", "EXISTS"],
        vec!["SCRIPT", "LOAD"],
        vec!["SCRIPT", "KILL"],
        vec!["SCRIPT", "HELP"],
        vec!["SCRIPT", "FOO"],
    ]
}

#[test]
fn replies_match_redis_byte_for_byte() {
    let server = Server::with_shards(1);
    let mut m = server.raw();
    let Some(oracle) = RedisServer::start(&[]) else { return };
    let mut r = oracle.raw();
    for c in [&mut m, &mut r] {
        assert_eq!(c.cmd(&["SET", "str", "abc"]), b"+OK\r\n");
    }
    let mut diffs = Vec::new();
    for s in SCRIPTS {
        let req = ["EVAL", s, "0"];
        let (want, got) = (r.cmd(&req), m.cmd(&req));
        if want != got {
            diffs.push(format!("{s}\n    redis:  {}\n    mayfly: {}", show(&want), show(&got)));
        }
    }
    // The SHA of a loaded script, then EVALSHA of it, on both.
    let load = ["SCRIPT", "LOAD", "return 'loaded'"];
    let sha = String::from_utf8(Resp::parse(&r.cmd(&load)).as_bytes().to_vec()).expect("sha");
    assert_eq!(m.cmd(&load), r.cmd(&load));
    let mut reqs = requests();
    reqs.push(vec!["EVALSHA", Box::leak(sha.clone().into_boxed_str()), "0"]);
    reqs.push(vec!["SCRIPT", "EXISTS", Box::leak(sha.into_boxed_str()), "nope"]);
    for req in reqs {
        let (want, got) = (r.cmd(&req), m.cmd(&req));
        if want != got {
            diffs.push(format!("{req:?}\n    redis:  {}\n    mayfly: {}", show(&want), show(&got)));
        }
    }
    assert!(diffs.is_empty(), "{} replies differ:\n{}", diffs.len(), diffs.join("\n"));
}

#[test]
fn script_cache_is_shared_by_every_shard_and_flush_empties_it() {
    let server = Server::with_shards(2);
    // Several connections: with two shards they land on both.
    let mut conns: Vec<RawClient> = (0..4).map(|_| server.raw()).collect();
    let sha = Resp::parse(&conns[0].cmd(&["SCRIPT", "LOAD", "return ARGV[1] .. KEYS[1]"]))
        .as_bytes()
        .to_vec();
    let sha = String::from_utf8(sha).expect("sha");
    for (i, c) in conns.iter_mut().enumerate() {
        for shard in 0..2 {
            let key = key_on(&format!("k{i}:"), shard, 2);
            let got = c.cmd(&["EVALSHA", &sha, "1", &key, "v"]);
            assert_eq!(Resp::parse(&got).as_bytes(), format!("v{key}").as_bytes());
            // The SHA is case-insensitive, as in Redis.
            let upper = sha.to_uppercase();
            let got = c.cmd(&["EVALSHA", &upper, "1", &key, "v"]);
            assert_eq!(Resp::parse(&got).as_bytes(), format!("v{key}").as_bytes());
        }
        assert_eq!(c.cmd(&["SCRIPT", "EXISTS", &sha]), b"*1\r\n:1\r\n");
    }
    assert_eq!(conns[1].cmd(&["SCRIPT", "FLUSH"]), b"+OK\r\n");
    for c in conns.iter_mut() {
        assert_eq!(c.cmd(&["SCRIPT", "EXISTS", &sha]), b"*1\r\n:0\r\n");
        assert_eq!(
            c.cmd(&["EVALSHA", &sha, "0"]),
            b"-NOSCRIPT No matching script. Please use EVAL.\r\n"
        );
    }
    // EVAL caches what it runs.
    let body = "return 42";
    assert_eq!(conns[2].cmd(&["EVAL", body, "0"]), b":42\r\n");
    let sha = Resp::parse(&conns[3].cmd(&["SCRIPT", "LOAD", body])).as_bytes().to_vec();
    let sha = String::from_utf8(sha).expect("sha");
    assert_eq!(conns[0].cmd(&["EVALSHA", &sha, "0"]), b":42\r\n");
    // INFO memory counts the cache (server-wide) and the interpreters.
    let info = Resp::parse(&conns[1].cmd(&["INFO", "memory"])).as_bytes().to_vec();
    let info = String::from_utf8_lossy(&info);
    assert!(info.contains("number_of_cached_scripts:1\r\n"), "{info}");
    assert!(info.contains("used_memory_scripts_eval:9\r\n"), "{info}");
    assert!(!info.contains("used_memory_vm_eval:0\r\n"), "{info}");
}

#[test]
fn scripts_run_on_the_shard_of_their_keys_from_any_connection() {
    let server = Server::with_shards(2);
    let mut c = server.raw();
    for shard in 0..2 {
        let k1 = key_on(&format!("s{shard}:"), shard, 2);
        let script = "redis.call('set', KEYS[1], ARGV[1]); return redis.call('get', KEYS[1])";
        let got = c.cmd(&["EVAL", script, "1", &k1, "val"]);
        assert_eq!(got, b"$3\r\nval\r\n", "{}", show(&got));
        assert_eq!(c.cmd(&["GET", &k1]), b"$3\r\nval\r\n");
        // Undeclared keys of the same shard are fine.
        let other = key_on("undeclared", shard, 2);
        let script = "return redis.call('set', ARGV[1], 'u')";
        assert_eq!(c.cmd(&["EVAL", script, "1", &k1, &other]), b"+OK\r\n");
        assert_eq!(c.cmd(&["GET", &other]), b"$1\r\nu\r\n");
    }
    // Keys on two shards: refused with a clear error, nothing written.
    let (a, b) = (key_on("x", 0, 2), key_on("x", 1, 2));
    let got = c.cmd(&["EVAL", "redis.call('set', KEYS[1], 1) return 1", "2", &a, &b]);
    assert!(got.starts_with(b"-ERR Script keys live on several shards"), "{}", show(&got));
    assert_eq!(c.cmd(&["EXISTS", &a]), b":0\r\n");
    // An undeclared key of another shard: the call fails inside the script.
    let script = "return redis.pcall('get', ARGV[1])";
    let got = c.cmd(&["EVAL", script, "1", &a, &b]);
    assert!(got.starts_with(b"-ERR Script accessed key"), "{}", show(&got));
}

/// A script's two writes are never seen half done by other clients, while several
/// connections (on both shards) run it concurrently.
#[test]
fn script_writes_are_atomic_under_concurrent_readers() {
    let server = Server::with_shards(2);
    let port = server.port;
    let script = "local v = redis.call('incr', KEYS[1]); redis.call('set', KEYS[2], v); return v";
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = RawClient::connect(port);
                let mut checks = 0u32;
                while !stop.load(Ordering::Relaxed) && checks < 20_000 {
                    let r = Resp::parse(&c.cmd(&["MGET", "{t}a", "{t}b"]));
                    let items = r.items();
                    let a = match &items[0] {
                        Resp::Bulk(b) => b.clone(),
                        _ => Vec::new(),
                    };
                    let b = match &items[1] {
                        Resp::Bulk(b) => b.clone(),
                        _ => Vec::new(),
                    };
                    assert_eq!(a, b, "a script was seen half done");
                    checks += 1;
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = RawClient::connect(port);
                for _ in 0..500 {
                    let r = Resp::parse(&c.cmd(&["EVAL", script, "2", "{t}a", "{t}b"]));
                    assert!(r.as_int() > 0);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader");
    }
    let mut c = RawClient::connect(port);
    assert_eq!(c.cmd(&["GET", "{t}a"]), b"$4\r\n1500\r\n");
    assert_eq!(c.cmd(&["GET", "{t}b"]), b"$4\r\n1500\r\n");
}

/// The redis-py `Lock` pattern: SET NX PX to take, a Lua compare-and-delete to release,
/// several clients contending; at most one holds the lock at any time.
#[test]
fn redis_py_style_lock_under_contention() {
    let server = Server::with_shards(2);
    let port = server.port;
    const RELEASE: &str = "local token = redis.call('get', KEYS[1]) if not token or token ~= ARGV[1] then return 0 end redis.call('del', KEYS[1]) return 1";
    const EXTEND: &str = "local token = redis.call('get', KEYS[1]) if not token or token ~= ARGV[1] then return 0 end redis.call('pexpire', KEYS[1], ARGV[2]) return 1";
    let inside = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let inside = inside.clone();
            std::thread::spawn(move || {
                let mut c = RawClient::connect(port);
                let token = format!("token-{w}");
                let mut acquired = 0;
                for _ in 0..300 {
                    let got = c.cmd(&["SET", "lock:res", &token, "NX", "PX", "10000"]);
                    if got != b"+OK\r\n" {
                        assert_eq!(got, b"$-1\r\n");
                        continue;
                    }
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    assert_eq!(
                        c.cmd(&["EVAL", EXTEND, "1", "lock:res", &token, "20000"]),
                        b":1\r\n"
                    );
                    // Someone else's token cannot release it.
                    assert_eq!(c.cmd(&["EVAL", RELEASE, "1", "lock:res", "not-mine"]), b":0\r\n");
                    inside.fetch_sub(1, Ordering::SeqCst);
                    assert_eq!(c.cmd(&["EVAL", RELEASE, "1", "lock:res", &token]), b":1\r\n");
                    acquired += 1;
                }
                acquired
            })
        })
        .collect();
    let total: u32 = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    assert!(total > 0);
}

#[test]
fn bad_scripts_do_not_hurt_the_server() {
    let server = Server::with_shards(1);
    let mut c = server.raw();
    let cases = [
        "local t = {} t[1] = t return t",
        "return cjson.decode('{bad json')",
        "return cjson.encode(function() end)",
        "return string.rep('x', -1)",
        "local t = {} for i = 1, 100000 do t[i] = i end return #t",
        "return loadstring(string.dump(function() end))",
        "return setmetatable(_G, nil)",
        "rawset(_G, 'x', 1)",
    ];
    for s in cases {
        let got = c.cmd(&["EVAL", s, "0"]);
        assert!(!got.is_empty(), "{s}");
    }
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(c.cmd(&["EVAL", "return 'still fine'", "0"]), b"$10\r\nstill fine\r\n");
}

/// EVAL queued in MULTI runs inside EXEC (which holds every shard) instead of waiting for it.
#[test]
fn eval_inside_multi_exec() {
    for shards in [1, 2] {
        let server = Server::with_shards(shards);
        let mut c = server.raw();
        assert_eq!(c.cmd(&["MULTI"]), b"+OK\r\n");
        assert_eq!(c.cmd(&["SET", "{m}a", "1"]), b"+QUEUED\r\n");
        let script = "return redis.call('incr', KEYS[1])";
        assert_eq!(c.cmd(&["EVAL", script, "1", "{m}a"]), b"+QUEUED\r\n");
        assert_eq!(c.cmd(&["EVAL", "return ARGV[1]", "0", "x"]), b"+QUEUED\r\n");
        let got = c.cmd(&["EXEC"]);
        assert_eq!(got, b"*3\r\n+OK\r\n:2\r\n$1\r\nx\r\n", "{}", show(&got));
        assert_eq!(c.cmd(&["GET", "{m}a"]), b"$1\r\n2\r\n");
    }
}

/// A script running past `busy-reply-threshold`: other clients get -BUSY, SCRIPT KILL stops
/// it when it has not written (its client gets Redis's error), and the server serves again.
/// With two shards a connection on the other shard can always send SCRIPT KILL.
#[test]
fn busy_script_gets_killed_by_script_kill() {
    let server = Server::with_shards(2);
    let port = server.port;
    let mut admin = server.raw();
    assert_eq!(admin.cmd(&["CONFIG", "SET", "busy-reply-threshold", "50"]), b"+OK\r\n");
    let mut conns: Vec<RawClient> = (0..6)
        .map(|_| {
            let mut c = RawClient::connect(port);
            assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
            c.set_timeout(std::time::Duration::from_millis(100));
            c
        })
        .collect();
    let key = key_on("busy", 0, 2);
    let runner = std::thread::spawn(move || {
        let mut c = RawClient::connect(port);
        c.cmd(&["EVAL", "local i = 0 while true do i = i + 1 end", "1", &key])
    });
    // Connections opened before the script starts land on both shards (a busy shard accepts
    // nothing); send SCRIPT KILL on those that answer until one says OK.
    let mut killed = false;
    let mut stuck = vec![false; conns.len()];
    for _ in 0..200 {
        for (i, c) in conns.iter_mut().enumerate() {
            if stuck[i] {
                continue;
            }
            c.send(&common::encode_cmd(&["SCRIPT", "KILL"])).expect("send");
            let Ok(r) = c.read_reply() else {
                // This connection's shard runs the script: it answers when the script ends.
                stuck[i] = true;
                continue;
            };
            if r == b"+OK\r\n" {
                killed = true;
                break;
            }
            assert!(r.starts_with(b"-NOTBUSY"), "{}", show(&r));
        }
        if killed {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(killed, "SCRIPT KILL never answered OK");
    let got = runner.join().expect("runner");
    assert!(
        got.starts_with(b"-ERR Script killed by user with SCRIPT KILL... script: "),
        "{}",
        show(&got)
    );
    let mut c = server.raw();
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(c.cmd(&["SCRIPT", "KILL"]), b"-NOTBUSY No scripts in execution right now.\r\n");
}

/// A script that allocates without limit gets an error; the server keeps serving.
#[test]
fn unbounded_allocation_in_a_script_is_an_error() {
    let server = Server::with_shards(1);
    let mut c = server.raw();
    let script = "local t = {} local s = string.rep('x', 1024 * 1024) for i = 1, 4096 do t[i] = s .. i end return #t";
    let got = c.cmd(&["EVAL", script, "0"]);
    assert!(got.starts_with(b"-ERR not enough memory"), "{}", show(&got));
    assert_eq!(c.cmd(&["EVAL", "return 'ok'", "0"]), b"$2\r\nok\r\n");
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
}
