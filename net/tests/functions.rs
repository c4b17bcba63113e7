//! Functions end to end: FUNCTION LOAD / LIST / DELETE / FLUSH / DUMP / RESTORE / STATS /
//! KILL and FCALL / FCALL_RO against the real binary, replies compared byte for byte with
//! redis-server 7.0 where it is installed, libraries shared by every shard, and FUNCTION
//! KILL vs SCRIPT KILL on a busy function.

mod common;

use common::{show, RawClient, RedisServer, Resp, Server};
use mayfly_engine::slot::{key_slot, SLOT_COUNT};

fn shard_of(key: &str, shards: usize) -> usize {
    key_slot(key.as_bytes()) as usize * shards / SLOT_COUNT
}

fn key_on(prefix: &str, shard: usize, shards: usize) -> String {
    (0..).map(|n| format!("{prefix}{n}")).find(|k| shard_of(k, shards) == shard).expect("key")
}

fn lib(name: &str, body: &str) -> String {
    format!("#!lua name={name}\n{body}")
}

/// Library bodies loaded with `FUNCTION LOAD REPLACE` (as library `libx`); each reply must
/// equal Redis's (the library name, or the error).
const LOADS: &[&str] = &[
    "redis.call('ping')",
    "redis.register_function('f2', 5)",
    "redis.register_function{function_name='f2', callback=function() return 1 end, flags={'no-writes','bad'}}",
    "error('boom')",
    "local x = ",
    "return 1",
    "x = 1",
    "redis.register_function{function_name='f7'}",
    "redis.register_function{callback=function() end}",
    "redis.register_function{function_name=1, callback=function() end}",
    "redis.register_function{function_name='f7', callback=function() end, foo=1}",
    "redis.register_function{function_name='f7', callback=1}",
    "redis.register_function{function_name='f7', callback=function() end, flags='x'}",
    "redis.register_function{function_name='f7', callback=function() end, description=1}",
    "redis.register_function{[1]='a'}",
    "redis.register_function('f7')",
    "redis.register_function()",
    "redis.register_function('f 7', function() end)",
    "redis.register_function('f7', function() end) redis.register_function('f7', function() end)",
    "redis.register_function('f1', function() end)",
    "redis.register_function({}, function() end)",
    "redis.register_function('x', function() end, 3)",
    "redis.register_function(3)",
    "local a = redis.setresp",
    "redis.register_function{function_name='f9', callback=function() end, flags={1}}",
    "redis.register_function{function_name='f9', callback=function() end, flags={'NO-WRITES'}}",
    "redis.register_function{function_name='f9', callback=function() end, flags={'no-writes',{}}}",
    "redis.math.random()",
    "redis.redis.call('ping')",
    "while true do end",
];

const LIB3: &str = "redis.register_function('f3', function(keys, args) error('oops') end)
redis.register_function('f4', function(keys, args) return redis.call('nosuch') end)
redis.register_function('f5', function(keys, args) return {keys[1], args[1]} end)
redis.register_function('f6', function(keys, args) return KEYS end)
redis.register_function('f7', function(keys, args) return redis.call('set', keys[1], args[1]) end)
redis.register_function{function_name='f8', callback=function(keys, args) return redis.call('set', keys[1], args[1]) end, flags={'no-writes'}}
redis.register_function{function_name='f9', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys'}, description='reads'}
redis.register_function('f10', function(keys, args) return redis.register_function('x', function() end) end)
redis.register_function('f11', function(keys, args) return {err='My Error'} end)
redis.register_function('f12', function(keys, args) return redis.pcall('incr', keys[1]) end)
redis.register_function('f13', function(keys, args) redis.setresp(3) return redis.call('hgetall', keys[1]) end)
local lib = redis
redis.register_function('f14', function() return lib.register_function('y', function() end) end)
";

fn requests() -> Vec<Vec<&'static str>> {
    vec![
        vec!["FCALL", "f3", "0"],
        vec!["FCALL", "f4", "0"],
        vec!["FCALL", "f5", "1", "a", "b"],
        vec!["FCALL", "F5", "1", "a", "b"],
        vec!["FCALL", "nosuch", "0"],
        vec!["FCALL", "f5", "x"],
        vec!["FCALL", "f5", "-1"],
        vec!["FCALL", "f5", "3", "a"],
        vec!["FCALL", "f6", "0"],
        vec!["FCALL", "f7", "1", "k", "v"],
        vec!["FCALL_RO", "f7", "1", "k", "v"],
        vec!["FCALL", "f8", "1", "k", "v"],
        vec!["FCALL_RO", "f8", "1", "k", "v"],
        vec!["FCALL_RO", "f9", "1", "k"],
        vec!["FCALL", "f9", "1", "k"],
        vec!["FCALL", "f10", "0"],
        vec!["FCALL", "f11", "0"],
        vec!["FCALL", "f12", "1", "k"],
        vec!["HSET", "h", "a", "1"],
        vec!["FCALL", "f13", "1", "h"],
        vec!["FCALL", "f14", "0"],
        vec!["FCALL"],
        // (One function per library: Redis lists a library's functions in hash order.)
        vec!["FUNCTION", "LIST", "LIBRARYNAME", "lib9", "WITHCODE"],
        vec!["FUNCTION", "LIST", "LIBRARYNAME", "LIB9"],
        vec!["FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "l?b9"],
        vec!["FUNCTION", "LIST", "WITHCODE", "WITHCODE"],
        vec!["FUNCTION", "LIST", "LIBRARYNAME"],
        vec!["FUNCTION", "LIST", "bad"],
        vec!["FUNCTION", "STATS"],
        vec!["FUNCTION", "KILL"],
        vec!["SCRIPT", "KILL"],
        vec!["FUNCTION", "DELETE", "nosuch"],
        vec!["FUNCTION", "DELETE"],
        vec!["FUNCTION", "RESTORE", "abc"],
        vec!["FUNCTION", "RESTORE", "abc", "foo"],
        vec!["FUNCTION", "RESTORE", "a", "b", "c"],
        vec!["FUNCTION", "FLUSH", "x"],
        vec!["FUNCTION", "FLUSH", "sync", "x"],
        vec!["FUNCTION", "LOAD"],
        vec!["FUNCTION", "LOAD", "replace"],
        vec!["FUNCTION", "LOAD", "foo", "bar"],
        vec!["FUNCTION", "LOAD", "no shebang"],
        vec!["FUNCTION", "LOAD", "#!lua name=x"],
        vec!["FUNCTION", "LOAD", "#!lua\n"],
        vec!["FUNCTION", "LOAD", "#!lua name=a name=b\n"],
        vec!["FUNCTION", "LOAD", "#!lua name=a foo=bar\n"],
        vec!["FUNCTION", "LOAD", "#!js name=a\n"],
        vec!["FUNCTION", "LOAD", "#!lua name=a-b\n"],
        vec!["FUNCTION", "LOAD", "#!lua name=lib3\nredis.register_function('z', function() end)"],
        vec!["FUNCTION", "HELP"],
        vec!["FUNCTION", "FOO"],
        vec!["FUNCTION", "DELETE", "lib9"],
        vec!["FUNCTION", "DUMP"],
        vec!["COMMAND", "GETKEYS", "FCALL", "f5", "1", "x", "foo"],
        vec!["COMMAND", "GETKEYS", "FCALL_RO", "f5", "1", "x", "foo"],
        vec!["FUNCTION", "DELETE", "lib3"],
        vec!["FCALL", "f5", "1", "a", "b"],
        vec!["FUNCTION", "FLUSH", "ASYNC"],
        vec!["FUNCTION", "LIST"],
        vec!["FUNCTION", "DUMP"],
    ]
}

#[test]
fn replies_match_redis_byte_for_byte() {
    let server = Server::with_shards(2);
    let mut m = server.raw();
    let Some(oracle) = RedisServer::start(&[]) else { return };
    let mut r = oracle.raw();
    let mut diffs = Vec::new();
    let mut check = |req: &[&str], diffs: &mut Vec<String>| {
        let (want, got) = (r.cmd(req), m.cmd(req));
        if want != got {
            diffs.push(format!("{req:?}\n    redis:  {}\n    mayfly: {}", show(&want), show(&got)));
        }
    };
    let lib1 = lib("lib1", "redis.register_function('f1', function(keys, args) return 1 end)");
    check(&["FUNCTION", "LOAD", &lib1], &mut diffs);
    for body in LOADS {
        check(&["FUNCTION", "LOAD", "REPLACE", &lib("libx", body)], &mut diffs);
    }
    check(&["FUNCTION", "DELETE", "libx"], &mut diffs);
    check(&["FUNCTION", "LOAD", &lib("lib1", "x")], &mut diffs);
    check(&["FUNCTION", "DELETE", "lib1"], &mut diffs);
    check(&["FUNCTION", "LOAD", &lib("lib3", LIB3)], &mut diffs);
    let lib9 = lib("lib9", "redis.register_function{function_name='g9', callback=function() return 9 end, flags={'allow-stale', 'no-writes'}, description='nine'}");
    check(&["FUNCTION", "LOAD", &lib9], &mut diffs);
    for req in requests() {
        check(&req, &mut diffs);
    }
    assert!(diffs.is_empty(), "{} replies differ:\n{}", diffs.len(), diffs.join("\n"));
}

/// FUNCTION DUMP of one server restores into the other, both ways, and the functions run.
#[test]
fn dump_payloads_round_trip_with_redis() {
    let server = Server::with_shards(1);
    let mut m = server.raw();
    let Some(oracle) = RedisServer::start(&[]) else { return };
    let mut r = oracle.raw();
    let a = lib("liba", "redis.register_function('fa', function(keys, args) return 'from a ' .. (args[1] or '') end)");
    let b = lib("libb", "redis.register_function{function_name='fb', callback=function() return 2 end, flags={'no-writes'}, description='bee'}");
    assert_eq!(r.cmd(&["FUNCTION", "LOAD", &a]), b"$4\r\nliba\r\n");
    assert_eq!(m.cmd(&["FUNCTION", "LOAD", &b]), b"$4\r\nlibb\r\n");
    let from_redis = Resp::parse(&r.cmd(&["FUNCTION", "DUMP"])).as_bytes().to_vec();
    let from_mayfly = Resp::parse(&m.cmd(&["FUNCTION", "DUMP"])).as_bytes().to_vec();
    // Same library, same payload bytes (LZF included).
    let mut r2 = oracle.raw();
    assert_eq!(r2.cmd(&["FUNCTION", "LOAD", &b]), b"$4\r\nlibb\r\n");
    assert_eq!(r2.cmd(&["FUNCTION", "DELETE", "liba"]), b"+OK\r\n");
    assert_eq!(Resp::parse(&r2.cmd(&["FUNCTION", "DUMP"])).as_bytes(), &from_mayfly[..]);
    assert_eq!(r2.cmd(&["FUNCTION", "LOAD", &a]), b"$4\r\nliba\r\n");

    let restore = |c: &mut RawClient, p: &[u8], policy: &str| {
        let mut args: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", p];
        if !policy.is_empty() {
            args.push(policy.as_bytes());
        }
        c.cmd(&args)
    };
    assert_eq!(restore(&mut m, &from_redis, ""), b"+OK\r\n");
    assert_eq!(m.cmd(&["FCALL", "fa", "0", "x"]), b"$8\r\nfrom a x\r\n");
    assert_eq!(m.cmd(&["FCALL_RO", "fb", "0"]), b":2\r\n");
    assert_eq!(restore(&mut m, &from_redis, ""), b"-ERR Library liba already exists\r\n");
    assert_eq!(restore(&mut m, &from_redis, "REPLACE"), b"+OK\r\n");
    assert_eq!(restore(&mut m, &from_redis, "FLUSH"), b"+OK\r\n");
    assert_eq!(m.cmd(&["FCALL", "fb", "0"]), b"-ERR Function not found\r\n");
    let mut bad = from_redis.clone();
    bad[4] ^= 0xff;
    assert_eq!(restore(&mut m, &bad, ""), b"-ERR DUMP payload version or checksum are wrong\r\n");

    assert_eq!(restore(&mut r, &from_mayfly, "FLUSH"), b"+OK\r\n");
    assert_eq!(r.cmd(&["FCALL_RO", "fb", "0"]), b":2\r\n");
    let list = r.cmd(&["FUNCTION", "LIST"]);
    assert_eq!(restore(&mut m, &from_mayfly, "FLUSH"), b"+OK\r\n");
    assert_eq!(m.cmd(&["FUNCTION", "LIST"]), list);
}

/// A library loaded on one connection is callable from every connection, on keys of every
/// shard; DELETE and REPLACE reach every shard too.
#[test]
fn libraries_are_shared_by_every_shard() {
    let server = Server::with_shards(2);
    let mut conns: Vec<RawClient> = (0..4).map(|_| server.raw()).collect();
    let v1 = lib("shared", "redis.register_function('put', function(keys, args) redis.call('set', keys[1], args[1]) return redis.call('get', keys[1]) end)");
    assert_eq!(conns[0].cmd(&["FUNCTION", "LOAD", &v1]), b"$6\r\nshared\r\n");
    for (i, c) in conns.iter_mut().enumerate() {
        for shard in 0..2 {
            let key = key_on(&format!("k{i}:"), shard, 2);
            assert_eq!(c.cmd(&["FCALL", "put", "1", &key, "v1"]), b"$2\r\nv1\r\n");
            assert_eq!(c.cmd(&["GET", &key]), b"$2\r\nv1\r\n");
        }
        // No keys: runs on the connection's own shard.
        assert!(c.cmd(&["FCALL", "PUT", "0"]).starts_with(b"-ERR"));
    }
    let v2 = lib("shared", "redis.register_function('put', function(keys, args) return 'v2' end)");
    assert_eq!(
        conns[1].cmd(&["FUNCTION", "LOAD", &v1]),
        b"-ERR Library 'shared' already exists\r\n"
    );
    assert_eq!(conns[1].cmd(&["FUNCTION", "LOAD", "REPLACE", &v2]), b"$6\r\nshared\r\n");
    for (i, c) in conns.iter_mut().enumerate() {
        for shard in 0..2 {
            let key = key_on(&format!("k{i}:"), shard, 2);
            assert_eq!(c.cmd(&["FCALL", "put", "1", &key]), b"$2\r\nv2\r\n");
        }
    }
    assert_eq!(conns[2].cmd(&["FUNCTION", "DELETE", "shared"]), b"+OK\r\n");
    for c in conns.iter_mut() {
        assert_eq!(c.cmd(&["FCALL", "put", "0"]), b"-ERR Function not found\r\n");
    }
    // Keys of two shards in one call are refused clearly.
    assert_eq!(conns[0].cmd(&["FUNCTION", "LOAD", &v1]), b"$6\r\nshared\r\n");
    let (a, b) = (key_on("x", 0, 2), key_on("x", 1, 2));
    let got = conns[0].cmd(&["FCALL", "put", "2", &a, &b, "v"]);
    assert!(got.starts_with(b"-ERR Script keys live on several shards"), "{}", show(&got));
    let info = Resp::parse(&conns[3].cmd(&["INFO", "memory"])).as_bytes().to_vec();
    let info = String::from_utf8_lossy(&info);
    assert!(info.contains("number_of_functions:1\r\n"), "{info}");
    assert!(info.contains("number_of_libraries:1\r\n"), "{info}");
    assert!(!info.contains("used_memory_vm_functions:0\r\n"), "{info}");
    let stats = conns[3].cmd(&["FUNCTION", "STATS"]);
    assert_eq!(
        stats,
        b"*4\r\n$14\r\nrunning_script\r\n$-1\r\n$7\r\nengines\r\n*2\r\n$3\r\nLUA\r\n*4\r\n$15\r\nlibraries_count\r\n:1\r\n$15\r\nfunctions_count\r\n:1\r\n"
    );
}

/// A function looping past busy-reply-threshold: others get -BUSY naming FUNCTION KILL,
/// SCRIPT KILL refuses it, FUNCTION STATS shows it, FUNCTION KILL stops it.
#[test]
fn busy_function_gets_killed_by_function_kill() {
    let server = Server::with_shards(2);
    let port = server.port;
    let mut admin = server.raw();
    assert_eq!(admin.cmd(&["CONFIG", "SET", "busy-reply-threshold", "50"]), b"+OK\r\n");
    let code = lib(
        "busy",
        "redis.register_function('spin', function() local i = 0 while true do i = i + 1 end end)",
    );
    assert_eq!(admin.cmd(&["FUNCTION", "LOAD", &code]), b"$4\r\nbusy\r\n");
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
        c.cmd(&["FCALL", "spin", "1", &key])
    });
    let mut killed = false;
    let (mut saw_busy, mut saw_stats, mut saw_script_kill) = (false, false, false);
    let mut stuck = vec![false; conns.len()];
    for _ in 0..200 {
        for (i, c) in conns.iter_mut().enumerate() {
            if stuck[i] {
                continue;
            }
            c.send(&common::encode_cmd(&["PING"])).expect("send");
            let Ok(r) = c.read_reply() else {
                stuck[i] = true;
                continue;
            };
            if r.starts_with(b"-BUSY") {
                assert_eq!(
                    r,
                    b"-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n"
                );
                saw_busy = true;
                let s = c.cmd(&["SCRIPT", "KILL"]);
                assert_eq!(s, r);
                saw_script_kill = true;
                let st = c.cmd(&["FUNCTION", "STATS"]);
                let text = show(&st);
                assert!(text.contains("spin") && text.contains("duration_ms"), "{text}");
                saw_stats = true;
                let k = c.cmd(&["FUNCTION", "KILL"]);
                assert_eq!(k, b"+OK\r\n", "{}", show(&k));
                killed = true;
                break;
            }
        }
        if killed {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(killed && saw_busy && saw_stats && saw_script_kill, "FUNCTION KILL never ran");
    let got = runner.join().expect("runner");
    assert!(
        got.starts_with(
            b"-ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:2."
        ),
        "{}",
        show(&got)
    );
    let mut c = server.raw();
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(c.cmd(&["FUNCTION", "KILL"]), b"-NOTBUSY No scripts in execution right now.\r\n");
}

/// A library whose code runs too long at load is refused; the server goes on.
#[test]
fn load_timeout_and_bad_libraries_do_not_hurt_the_server() {
    let server = Server::with_shards(1);
    let mut c = server.raw();
    let code = lib("slow", "while true do end");
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", &code]),
        b"-ERR Error registering functions: ERR FUNCTION LOAD timeout\r\n"
    );
    let code = lib("deep", "redis.register_function('d', function() local t = {} local x = t for i = 1, 2000 do x[1] = {} x = x[1] end return t end)");
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", &code]), b"$4\r\ndeep\r\n");
    let got = c.cmd(&["FCALL", "d", "0"]);
    assert!(
        got.starts_with(b"-ERR reached lua stack limit") || got.starts_with(b"*1"),
        "{}",
        show(&got)
    );
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(c.cmd(&["FUNCTION", "LIST", "LIBRARYNAME", "slow"]), b"*0\r\n");
    // FCALL inside MULTI/EXEC.
    let code = lib(
        "m",
        "redis.register_function('inc', function(keys) return redis.call('incr', keys[1]) end)",
    );
    assert_eq!(c.cmd(&["FUNCTION", "LOAD", &code]), b"$1\r\nm\r\n");
    assert_eq!(c.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["FCALL", "inc", "1", "n"]), b"+QUEUED\r\n");
    assert_eq!(c.cmd(&["FCALL", "inc", "1", "n"]), b"+QUEUED\r\n");
    assert_eq!(c.cmd(&["EXEC"]), b"*2\r\n:1\r\n:2\r\n");
}

/// A private directory, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("mayfly-functions-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Libraries are saved in the RDB (FUNCTION2 records) and come back after a restart, at any
/// shard count; an RDB with functions made by redis-server loads into Mayfly and Mayfly's
/// loads into redis-server.
#[test]
fn functions_persist_in_the_rdb_both_ways_with_redis() {
    let dir = TempDir::new("rdb");
    let ml = lib("ml", "redis.register_function{function_name='mf', callback=function(keys) return 'mayfly ' .. (keys[1] or '') end, flags={'no-writes'}}");
    {
        let mut srv = Server::start(&["--dir", dir.path(), "--shards", "2"]);
        let mut c = srv.raw();
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", &ml]), b"$2\r\nml\r\n");
        assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
        assert_eq!(c.cmd(&["SAVE"]), b"+OK\r\n");
        let _ = c.try_cmd(&["SHUTDOWN", "NOSAVE"]);
        srv.wait_exit(std::time::Duration::from_secs(10)).expect("exited");
    }
    for shards in ["1", "2"] {
        let srv = Server::start(&["--dir", dir.path(), "--shards", shards]);
        let mut c = srv.raw();
        assert_eq!(c.cmd(&["FCALL_RO", "mf", "1", "x"]), b"$8\r\nmayfly x\r\n");
        assert_eq!(c.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
        let list = c.cmd(&["FUNCTION", "LIST", "WITHCODE"]);
        assert!(show(&list).contains("no-writes"), "{}", show(&list));
    }
    let Some(oracle) = RedisServer::start(&["--dir", dir.path()]) else { return };
    let mut r = oracle.raw();
    // redis-server read Mayfly's file at start.
    assert_eq!(r.cmd(&["FCALL_RO", "mf", "1", "y"]), b"$8\r\nmayfly y\r\n");
    let rl = lib("rl", "redis.register_function('rf', function() return 'redis made' end)");
    assert_eq!(r.cmd(&["FUNCTION", "LOAD", &rl]), b"$2\r\nrl\r\n");
    assert_eq!(r.cmd(&["SAVE"]), b"+OK\r\n");
    drop(r);
    drop(oracle);
    let srv = Server::start(&["--dir", dir.path(), "--shards", "2"]);
    let mut c = srv.raw();
    assert_eq!(c.cmd(&["FCALL", "rf", "0"]), b"$10\r\nredis made\r\n");
    assert_eq!(c.cmd(&["FCALL_RO", "mf", "1", "z"]), b"$8\r\nmayfly z\r\n");
}
