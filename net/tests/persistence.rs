//! RDB persistence end to end (issue 13): a restart keeps every type at `--shards 1` and 2,
//! SAVE and LASTSAVE, SHUTDOWN SAVE/NOSAVE and SIGTERM with save points, DEBUG RELOAD,
//! BGSAVE, FLUSHALL's save, -MISCONF, corrupt files refused with Redis's log and exit code,
//! files both ways with a real redis-server, and a BGSAVE taken while cross-shard MULTI/EXEC
//! transactions run holds each of them wholly or not at all.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{redis_server_available, run_to_exit, RawClient, RedisServer, Resp, Server};

/// A reply's bytes as text (lossy), for comparisons with literals.
fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A private directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("mayfly-persist-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests-data/redis-7.0")
}

fn start(dir: &TempDir, shards: usize, extra: &[&str]) -> Server {
    let shards = shards.to_string();
    let mut args = vec!["--dir", dir.path(), "--shards", &shards, "--enable-debug-command", "yes"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn ok(c: &mut RawClient, line: &str) {
    let r = c.cmd_str(line);
    assert_eq!(text(&r), "+OK\r\n", "{line}");
}

fn info_field(c: &mut RawClient, field: &str) -> String {
    let r = Resp::parse(&c.cmd(&["INFO", "persistence"]));
    let text = String::from_utf8_lossy(r.as_bytes()).to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no {field} in {text}"))
}

/// Waits until no background save runs; returns its status field.
fn wait_bgsave(c: &mut RawClient) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(c, "rdb_bgsave_in_progress") != "0" {
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    info_field(c, "rdb_last_bgsave_status")
}

/// Writes keys of every type and encoding into databases 0 and 3.
fn populate(c: &mut RawClient) {
    for db in ["0", "3"] {
        ok(c, &format!("SELECT {db}"));
        ok(c, "SET str:int 12345");
        ok(c, "SET str:big 9223372036854775807");
        ok(c, "SET str:text hello-world");
        let long = "abc".repeat(300);
        ok(c, &format!("SET str:long {long}"));
        ok(c, "SET str:ttl v PX 1000000");
        c.cmd(&["RPUSH", "list:small", "a", "1", "b"]);
        let many: Vec<String> = (0..600).map(|i| format!("element-{i}")).collect();
        let mut args = vec!["RPUSH".to_string(), "list:big".into()];
        args.extend(many.iter().cloned());
        c.cmd(&args);
        c.cmd(&["HSET", "hash:small", "f1", "v1", "f2", "2"]);
        let mut args = vec!["HSET".to_string(), "hash:big".into()];
        for i in 0..600 {
            args.push(format!("field{i}"));
            args.push(format!("value{i}"));
        }
        c.cmd(&args);
        c.cmd(&["SADD", "set:int", "1", "2", "3", "-7"]);
        let mut args = vec!["SADD".to_string(), "set:big".into()];
        args.extend((0..700).map(|i| format!("m{i}")));
        c.cmd(&args);
        c.cmd(&["ZADD", "zset:small", "1", "a", "2.5", "b", "-inf", "c"]);
        let mut args = vec!["ZADD".to_string(), "zset:big".into()];
        for i in 0..200 {
            args.push(format!("{}", i as f64 / 3.0));
            args.push(format!("member{i}"));
        }
        c.cmd(&args);
        c.cmd(&["XADD", "stream", "1-1", "a", "1"]);
        c.cmd(&["XADD", "stream", "2-1", "b", "2"]);
        c.cmd(&["XGROUP", "CREATE", "stream", "g", "0"]);
        c.cmd(&["XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "stream", ">"]);
        c.cmd(&["PEXPIREAT", "hash:small", "4102444800000"]);
        c.cmd(&["SETEX", "str:gone", "1", "x"]);
    }
    ok(c, "SELECT 0");
}

/// Asserts two fingerprints are equal, naming the first difference (briefly).
fn same(got: &[String], want: &[String], what: &str) {
    let cut = |s: &str| s.chars().take(300).collect::<String>();
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g == w, "{what}: entry {i} differs:\n got  {}\n want {}", cut(g), cut(w));
    }
    assert_eq!(got.len(), want.len(), "{what}: key counts differ");
}

fn sorted_items(r: &Resp) -> Vec<String> {
    let mut v: Vec<String> = r.items().iter().map(|i| text(i.as_bytes())).collect();
    v.sort();
    v
}

/// Everything observable about the keys of databases 0 and 3, in a stable order.
fn fingerprint(c: &mut RawClient) -> Vec<String> {
    let mut out = Vec::new();
    for db in ["0", "3"] {
        ok(c, &format!("SELECT {db}"));
        let keys = Resp::parse(&c.cmd(&["KEYS", "*"]));
        let mut keys: Vec<Vec<u8>> = keys.items().iter().map(|k| k.as_bytes().to_vec()).collect();
        keys.sort();
        for k in keys {
            let ty = Resp::parse(&c.cmd(&[b"TYPE".as_slice(), &k]));
            let ty = String::from_utf8_lossy(ty.as_bytes()).to_string();
            let enc = text(&c.cmd(&[b"OBJECT".as_slice(), b"ENCODING", &k]));
            let exp = text(&c.cmd(&[b"PEXPIRETIME".as_slice(), &k]));
            let value = match ty.as_str() {
                "string" => text(&c.cmd(&[b"GET".as_slice(), &k])),
                "list" => text(&c.cmd(&[b"LRANGE".as_slice(), &k, b"0", b"-1"])),
                "hash" => {
                    sorted_items(&Resp::parse(&c.cmd(&[b"HGETALL".as_slice(), &k]))).join(",")
                }
                "set" => {
                    sorted_items(&Resp::parse(&c.cmd(&[b"SMEMBERS".as_slice(), &k]))).join(",")
                }
                "zset" => text(&c.cmd(&[b"ZRANGE".as_slice(), &k, b"0", b"-1", b"WITHSCORES"])),
                "stream" => format!(
                    "{} {}",
                    text(&c.cmd(&[b"XRANGE".as_slice(), &k, b"-", b"+"])),
                    text(&c.cmd(&[b"XPENDING".as_slice(), &k, b"g"]))
                ),
                other => panic!("unexpected type {other}"),
            };
            out.push(format!("db{db} {} {ty} {enc} {exp} {value}", text(&k)));
        }
    }
    ok(c, "SELECT 0");
    out
}

fn restart_keeps_every_type(shards: usize) {
    let dir = TempDir::new(&format!("restart{shards}"));
    let before = {
        let mut srv = start(&dir, shards, &[]);
        let mut c = srv.raw();
        populate(&mut c);
        std::thread::sleep(Duration::from_millis(1100)); // str:gone expires
        let fp = fingerprint(&mut c);
        assert!(!fp.is_empty());
        let _ = c.try_cmd(&["SHUTDOWN", "SAVE"]);
        let status = srv.wait_exit(Duration::from_secs(10)).expect("exited");
        assert!(status.success(), "{}", srv.log());
        assert!(srv.log().contains("DB saved on disk"), "{}", srv.log());
        fp
    };
    assert!(dir.file("dump.rdb").exists());
    // The same file at the other shard count too: keys go to their owners.
    for n in [shards, 3 - shards] {
        let srv = start(&dir, n, &[]);
        let mut c = srv.raw();
        same(&fingerprint(&mut c), &before, &format!("after a restart with --shards {n}"));
        assert!(srv.log().contains("DB loaded from disk: "), "{}", srv.log());
        assert_eq!(info_field(&mut c, "loading"), "0");
        assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    }
}

#[test]
fn restart_keeps_every_type_one_shard() {
    restart_keeps_every_type(1);
}

#[test]
fn restart_keeps_every_type_two_shards() {
    restart_keeps_every_type(2);
}

#[test]
fn save_lastsave_and_changes_counter() {
    let dir = TempDir::new("save");
    let srv = start(&dir, 2, &[]);
    let mut c = srv.raw();
    let start_time = Resp::parse(&c.cmd(&["LASTSAVE"])).as_int();
    ok(&mut c, "MSET a 1 b 2 c 3");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "3");
    std::thread::sleep(Duration::from_millis(1100));
    ok(&mut c, "SAVE");
    let saved = Resp::parse(&c.cmd(&["LASTSAVE"])).as_int();
    assert!(saved > start_time, "LASTSAVE {saved} after {start_time}");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    assert_eq!(info_field(&mut c, "rdb_saves"), "1");
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert!(dir.file("dump.rdb").exists());
    assert!(!dir.file(&format!("temp-{}.rdb", srv.pid())).exists());
    assert!(srv.log().contains("DB saved on disk"));
    ok(&mut c, "SET a 2");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "1");
    // SAVE in MULTI is refused as in Redis; LASTSAVE's arity.
    ok(&mut c, "MULTI");
    assert!(text(&c.cmd(&["SAVE"])).starts_with("-ERR Command not allowed inside a transaction"));
    c.cmd(&["DISCARD"]);
    assert!(text(&c.cmd(&["LASTSAVE", "x"])).starts_with("-ERR wrong number of arguments"));
}

#[test]
fn sigterm_saves_with_save_points_only() {
    // No save points: SIGTERM writes nothing.
    let dir = TempDir::new("sigterm-none");
    let mut srv = start(&dir, 2, &["--save", ""]);
    ok(&mut srv.raw(), "SET k v");
    srv.signal(libc::SIGTERM);
    assert!(srv.wait_exit(Duration::from_secs(10)).expect("exited").success());
    assert!(!dir.file("dump.rdb").exists());

    // With save points: SIGTERM saves, and the next start has the key.
    let dir = TempDir::new("sigterm-points");
    let mut srv = start(&dir, 2, &["--save", "900 1"]);
    ok(&mut srv.raw(), "SET k v");
    srv.signal(libc::SIGTERM);
    assert!(srv.wait_exit(Duration::from_secs(10)).expect("exited").success());
    assert!(srv.log().contains("Saving the final RDB snapshot before exiting."), "{}", srv.log());
    let srv = start(&dir, 1, &[]);
    assert_eq!(text(&srv.raw().cmd(&["GET", "k"])), "$1\r\nv\r\n");

    // SHUTDOWN NOSAVE with save points: nothing written over the file.
    let mut srv = start(&dir, 2, &["--save", "900 1"]);
    ok(&mut srv.raw(), "SET k changed");
    let _ = srv.raw().try_cmd(&["SHUTDOWN", "NOSAVE"]);
    assert!(srv.wait_exit(Duration::from_secs(10)).expect("exited").success());
    let srv = start(&dir, 2, &[]);
    assert_eq!(text(&srv.raw().cmd(&["GET", "k"])), "$1\r\nv\r\n");
}

#[test]
fn debug_reload_keeps_the_dataset() {
    for shards in [1, 2] {
        let dir = TempDir::new("reload");
        let srv = start(&dir, shards, &[]);
        let mut c = srv.raw();
        populate(&mut c);
        std::thread::sleep(Duration::from_millis(1100));
        let before = fingerprint(&mut c);
        ok(&mut c, "DEBUG RELOAD");
        same(&fingerprint(&mut c), &before, "after reload");
        // NOSAVE reloads the file as it is: a write since is gone.
        ok(&mut c, "SET extra 1");
        ok(&mut c, "DEBUG RELOAD NOSAVE");
        assert_eq!(text(&c.cmd(&["EXISTS", "extra"])), ":0\r\n");
        same(&fingerprint(&mut c), &before, "after reload");
    }
}

#[test]
fn bgsave_writes_a_loadable_file() {
    let dir = TempDir::new("bgsave");
    let srv = start(&dir, 2, &[]);
    let mut c = srv.raw();
    populate(&mut c);
    std::thread::sleep(Duration::from_millis(1100));
    let before = fingerprint(&mut c);
    assert_eq!(text(&c.cmd(&["BGSAVE"])), "+Background saving started\r\n");
    assert_eq!(wait_bgsave(&mut c), "ok");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    assert_ne!(info_field(&mut c, "rdb_last_bgsave_time_sec"), "-1");
    let log = srv.log();
    assert!(log.contains("Background saving started"), "{log}");
    assert!(log.contains("Background saving terminated with success"), "{log}");
    assert!(text(&c.cmd(&["BGSAVE", "x"])).starts_with("-ERR syntax error"));
    // BGSAVE SCHEDULE with nothing running starts one.
    assert_eq!(text(&c.cmd(&["BGSAVE", "SCHEDULE"])), "+Background saving started\r\n");
    assert_eq!(wait_bgsave(&mut c), "ok");
    // Inside MULTI/EXEC too (the transaction holds every shard).
    ok(&mut c, "MULTI");
    c.cmd(&["SET", "in-tx", "1"]);
    c.cmd(&["BGSAVE"]);
    let exec = text(&c.cmd(&["EXEC"]));
    assert!(exec.contains("Background saving started"), "{exec}");
    assert_eq!(wait_bgsave(&mut c), "ok");
    drop(srv);
    let srv = start(&dir, 1, &[]);
    let mut c = srv.raw();
    c.cmd(&["DEL", "in-tx"]);
    same(&fingerprint(&mut c), &before, "after reload");
}

#[test]
fn flushall_saves_with_save_points() {
    let dir = TempDir::new("flushall");
    let srv = start(&dir, 2, &["--save", "900 1"]);
    let mut c = srv.raw();
    ok(&mut c, "SET a 1");
    ok(&mut c, "SAVE");
    ok(&mut c, "FLUSHALL");
    drop(srv); // SIGKILL: only what FLUSHALL saved is on disk
    let srv = start(&dir, 2, &[]);
    assert_eq!(text(&srv.raw().cmd(&["DBSIZE"])), ":0\r\n");
}

#[test]
fn failed_bgsave_refuses_writes_with_misconf() {
    let dir = TempDir::new("misconf");
    let gone = TempDir::new("misconf-gone");
    let srv = start(&dir, 2, &["--save", "900 1", "--enable-protected-configs", "yes"]);
    let mut c = srv.raw();
    ok(&mut c, "SET a 1");
    ok(&mut c, &format!("CONFIG SET dir {}", gone.path()));
    std::fs::remove_dir_all(&gone.0).expect("remove dir");
    assert_eq!(text(&c.cmd(&["BGSAVE"])), "+Background saving started\r\n");
    assert_eq!(wait_bgsave(&mut c), "err");
    let refused = text(&c.cmd(&["SET", "b", "2"]));
    assert!(refused.starts_with("-MISCONF Redis is configured to save RDB snapshots"), "{refused}");
    assert!(text(&c.cmd(&["GET", "a"])).starts_with("$1"));
    ok(&mut c, "CONFIG SET stop-writes-on-bgsave-error no");
    ok(&mut c, "SET b 2");
    // A good directory again: the next save succeeds and clears the error.
    ok(&mut c, "CONFIG SET stop-writes-on-bgsave-error yes");
    ok(&mut c, &format!("CONFIG SET dir {}", dir.path()));
    ok(&mut c, "SAVE");
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    ok(&mut c, "SET c 3");
}

#[test]
fn corrupt_files_are_refused_like_redis() {
    let cases = [
        ("truncated-half", "Short read or OOM loading DB. Unrecoverable error, aborting now."),
        ("bad-magic", "Wrong signature trying to load DB from file"),
        ("bad-version-11", "Can't handle RDB format version 11"),
        ("flipped-checksum", "Wrong RDB checksum expected: (9069b2f05338ea1b) but got"),
        ("unknown-type-valid-crc", "Unknown RDB encoding type 100"),
    ];
    for (name, phrase) in cases {
        let dir = TempDir::new(name);
        std::fs::copy(data_dir().join(format!("corrupt/{name}.rdb")), dir.file("dump.rdb"))
            .expect("copy fixture");
        let (code, log) = run_to_exit(&["--dir", dir.path()]);
        assert_eq!(code, Some(1), "{name}: {log}");
        assert!(log.contains(phrase), "{name}: {log}");
        assert!(!log.contains("Ready to accept connections"), "{name}: {log}");
    }
}

#[test]
fn a_redis_fixture_loads_with_expired_keys_dropped() {
    let dir = TempDir::new("fixture");
    std::fs::copy(data_dir().join("rdb/expire.rdb"), dir.file("dump.rdb")).expect("copy");
    let srv = start(&dir, 2, &[]);
    let mut c = srv.raw();
    // redis-server 7.0.15 on this file: "keys loaded: 8, keys expired: 4".
    assert_eq!(info_field(&mut c, "rdb_last_load_keys_loaded"), "8");
    assert_eq!(info_field(&mut c, "rdb_last_load_keys_expired"), "4");
    assert!(srv.log().contains("Done loading RDB, keys loaded: 8, keys expired: 4."));
}

/// Runs the same commands on both servers and returns their fingerprints.
#[test]
fn files_move_both_ways_with_redis_server() {
    if !redis_server_available() {
        eprintln!("NOTICE: redis-server not installed; skipping");
        return;
    }
    // Both run with their compiled-in defaults (hash-max-listpack-entries 512 in both), so
    // encodings compare too.
    // Mayfly -> Redis.
    let dir = TempDir::new("to-redis");
    let expected = {
        let srv = start(&dir, 2, &[]);
        let mut c = srv.raw();
        populate(&mut c);
        std::thread::sleep(Duration::from_millis(1100));
        ok(&mut c, "SAVE");
        fingerprint(&mut c)
    };
    let redis = RedisServer::start(&["--dir", dir.path(), "--dbfilename", "dump.rdb"])
        .expect("redis-server");
    same(&fingerprint(&mut redis.raw()), &expected, "Mayfly's file in redis-server");
    drop(redis);

    // Redis -> Mayfly.
    let dir = TempDir::new("from-redis");
    let expected = {
        let redis = RedisServer::start(&["--dir", dir.path(), "--dbfilename", "dump.rdb"])
            .expect("redis-server");
        let mut c = redis.raw();
        populate(&mut c);
        std::thread::sleep(Duration::from_millis(1100));
        ok(&mut c, "SAVE");
        fingerprint(&mut c)
    };
    for shards in [1, 2] {
        let srv = start(&dir, shards, &[]);
        same(
            &fingerprint(&mut srv.raw()),
            &expected,
            &format!("redis-server's file, --shards {shards}"),
        );
    }
}

#[test]
fn bgsave_during_cross_shard_transactions_is_all_or_nothing() {
    let dir = TempDir::new("atomic");
    let srv = start(&dir, 2, &[]);
    // Three keys, the first two on different shards (slots are split in halves).
    let shard = |k: &str| mayfly_engine::slot::key_slot(k.as_bytes()) as usize * 2 / 16384;
    let names: Vec<String> = (0..100).map(|i| format!("key{i}")).collect();
    let alpha = names[0].clone();
    let beta =
        names.iter().find(|k| shard(k) != shard(&alpha)).expect("a key on the other shard").clone();
    let gamma = "gamma".to_string();
    let port = srv.port;
    let (a_name, b_name) = (alpha.clone(), beta.clone());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut c = RawClient::connect(port);
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 200_000 {
                i += 1;
                let v = i.to_string();
                c.cmd(&["MULTI"]);
                c.cmd(&["SET", &a_name, &v]);
                c.cmd(&["SET", &b_name, &v]);
                c.cmd(&["INCR", "gamma"]);
                let r = c.cmd(&["EXEC"]);
                assert!(r.starts_with(b"*3"), "{}", text(&r));
            }
        })
    };
    let mut c = srv.raw();
    let opts = mayfly_persistence::DecodeOptions::default();
    let mut checked = 0;
    for _ in 0..15 {
        assert_eq!(text(&c.cmd(&["BGSAVE"])), "+Background saving started\r\n");
        assert_eq!(wait_bgsave(&mut c), "ok");
        let data = std::fs::read(dir.file("dump.rdb")).expect("dump.rdb");
        let file = mayfly_persistence::decode_file(&data, opts).expect("a valid file");
        let mut values = std::collections::HashMap::new();
        for k in &file.keys {
            if let mayfly_persistence::RdbValue::Value(v) = &k.value {
                values.insert(k.key.clone(), format!("{v:?}"));
            }
        }
        let a = values.get(alpha.as_bytes());
        let b = values.get(beta.as_bytes());
        let g = values.get(gamma.as_bytes());
        assert_eq!(a, b, "{alpha} and {beta} are written by one EXEC");
        assert_eq!(a, g, "the INCR of the same EXEC");
        if a.is_some() {
            checked += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().expect("writer");
    assert!(checked > 0, "no snapshot caught a transaction");
}
