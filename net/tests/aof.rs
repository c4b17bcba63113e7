//! The append-only file end to end (issue 14): Redis 7's multi-part directory with one incr
//! file per shard, restarts after SIGKILL with `appendfsync always`, loading hand-made and
//! pre-7.0 files (torn tails, an open MULTI, a transaction over shards missing a part),
//! BGREWRITEAOF and CONFIG SET appendonly, INFO, and directories moving both ways between
//! Mayfly and a real redis-server.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{
    encode_cmd, redis_server_available, run_to_exit, RawClient, RedisServer, Resp, Server,
};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A private directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("mayfly-aof-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }

    fn aof_dir(&self) -> PathBuf {
        self.0.join("appendonlydir")
    }

    fn manifest(&self) -> String {
        std::fs::read_to_string(self.aof_dir().join("appendonly.aof.manifest")).unwrap_or_default()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start(dir: &TempDir, shards: usize, extra: &[&str]) -> Server {
    let shards = shards.to_string();
    let mut args = vec![
        "--dir",
        dir.path(),
        "--shards",
        &shards,
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
    ];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn ok(c: &mut RawClient, line: &str) {
    let r = c.cmd_str(line);
    assert!(r.starts_with(b"+") || r.starts_with(b":"), "{line}: {}", text(&r));
}

fn kill9(srv: &mut Server) {
    srv.signal(libc::SIGKILL);
    srv.wait_exit(Duration::from_secs(10)).expect("killed");
}

fn writes(c: &mut RawClient) {
    for line in [
        "SET s hello",
        "SET n 41",
        "INCR n",
        "RPUSH l a b c",
        "HSET h f1 v1 f2 v2",
        "SADD st x y z",
        "ZADD z 1 one 2 two",
        "SET ttl v EX 1000",
        "SELECT 3",
        "SET db3 three",
        "SELECT 0",
        "INCRBYFLOAT f 1.5",
        "SPOP st",
    ] {
        let r = c.cmd_str(line);
        assert!(!r.starts_with(b"-"), "{line}: {}", text(&r));
    }
    ok(c, "MULTI");
    c.cmd_str("SET {t}a 1");
    c.cmd_str("SET tb 1");
    c.cmd_str("INCR {t}a");
    let r = c.cmd_str("EXEC");
    assert!(r.starts_with(b"*3"), "{}", text(&r));
}

/// Every key with type, value and TTL presence, db 0 and 3, sorted.
fn dataset(c: &mut RawClient) -> Vec<String> {
    let mut out = Vec::new();
    for db in ["0", "3"] {
        ok(c, &format!("SELECT {db}"));
        let keys = Resp::parse(&c.cmd(&["KEYS", "*"]));
        let mut keys: Vec<Vec<u8>> = keys.items().iter().map(|k| k.as_bytes().to_vec()).collect();
        keys.sort();
        for k in keys {
            let ty = text(&c.cmd(&[b"TYPE".as_slice(), &k]));
            let value = match ty.trim() {
                "+string" => text(&c.cmd(&[b"GET".as_slice(), &k])),
                "+list" => text(&c.cmd(&[b"LRANGE".as_slice(), &k, b"0", b"-1"])),
                "+hash" => {
                    let mut v: Vec<String> = Resp::parse(&c.cmd(&[b"HGETALL".as_slice(), &k]))
                        .items()
                        .chunks(2)
                        .map(|p| format!("{}={}", text(p[0].as_bytes()), text(p[1].as_bytes())))
                        .collect();
                    v.sort();
                    v.join(",")
                }
                "+set" => {
                    let mut v: Vec<String> = Resp::parse(&c.cmd(&[b"SMEMBERS".as_slice(), &k]))
                        .items()
                        .iter()
                        .map(|m| text(m.as_bytes()))
                        .collect();
                    v.sort();
                    v.join(",")
                }
                "+zset" => text(&c.cmd(&[b"ZRANGE".as_slice(), &k, b"0", b"-1", b"WITHSCORES"])),
                other => other.to_string(),
            };
            let ttl = Resp::parse(&c.cmd(&[b"PTTL".as_slice(), &k])).as_int() > 0;
            out.push(format!("db{db} {} {} {value} ttl={ttl}", text(&k), ty.trim()));
        }
    }
    ok(c, "SELECT 0");
    out
}

#[test]
fn a_fresh_start_writes_redis7_layout_with_one_incr_file_per_shard() {
    let dir = TempDir::new("layout");
    let srv = start(&dir, 2, &[]);
    let mut c = srv.raw();
    ok(&mut c, "SET a 1");
    assert_eq!(
        dir.manifest(),
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    let base = std::fs::read(dir.aof_dir().join("appendonly.aof.1.base.rdb")).expect("base");
    assert!(base.starts_with(b"REDIS0010"), "an RDB preamble base");
    assert!(base.windows(8).any(|w| w == b"aof-base"), "aof-base aux field");
    // appendfsync always: the reply came after the record was written; it is there now.
    let mut incr: Vec<u8> = ["appendonly.aof.1.incr.aof", "appendonly.aof.2.incr.aof"]
        .iter()
        .flat_map(|f| std::fs::read(dir.aof_dir().join(f)).expect("incr"))
        .collect();
    let mut expected = b"#MF-SHARD 0 2\r\n#MF-SHARD 1 2\r\n".to_vec();
    expected.extend(encode_cmd(&["SELECT", "0"]));
    expected.extend(encode_cmd(&["SET", "a", "1"]));
    incr.sort_unstable();
    expected.sort_unstable();
    assert_eq!(incr, expected, "the shard marks, SELECT and the SET, nothing else");
    let info = text(&c.cmd_str("INFO persistence"));
    for field in
        ["aof_enabled:1", "aof_last_write_status:ok", "aof_base_size:", "aof_delayed_fsync:0"]
    {
        assert!(info.contains(field), "{field} in {info}");
    }
}

#[test]
fn kill9_keeps_every_acknowledged_write_one_and_two_shards() {
    for shards in [1, 2] {
        let dir = TempDir::new("kill9");
        let before = {
            let mut srv = start(&dir, shards, &[]);
            let mut c = srv.raw();
            writes(&mut c);
            let d = dataset(&mut c);
            kill9(&mut srv);
            d
        };
        assert!(before.len() >= 10, "{before:?}");
        // Restarted twice: the start-up rewrite and the incr files after it.
        for round in 0..2 {
            let mut srv = start(&dir, shards, &[]);
            let mut c = srv.raw();
            assert_eq!(dataset(&mut c), before, "shards {shards}, round {round}");
            kill9(&mut srv);
        }
        // And at the other shard count.
        let srv = start(&dir, 3 - shards, &[]);
        assert_eq!(dataset(&mut srv.raw()), before, "shards {shards} -> {}", 3 - shards);
    }
}

#[test]
fn a_flush_on_one_shard_never_removes_later_writes_of_another() {
    let dir = TempDir::new("flush");
    let before = {
        let mut srv = start(&dir, 2, &[]);
        let mut c = srv.raw();
        for i in 0..20 {
            ok(&mut c, &format!("SET old{i} 1"));
        }
        ok(&mut c, "FLUSHALL");
        for i in 0..20 {
            ok(&mut c, &format!("SET new{i} 1"));
        }
        ok(&mut c, "SELECT 2");
        ok(&mut c, "SET two 2");
        ok(&mut c, "FLUSHDB");
        ok(&mut c, "SET two-after 2");
        ok(&mut c, "SWAPDB 0 2");
        let d = dataset(&mut c);
        kill9(&mut srv);
        d
    };
    let srv = start(&dir, 2, &[]);
    let mut c = srv.raw();
    assert_eq!(dataset(&mut c), before);
    ok(&mut c, "SELECT 2");
    assert_eq!(text(&c.cmd_str("DBSIZE")), ":20\r\n");
    ok(&mut c, "SELECT 0");
    assert_eq!(text(&c.cmd_str("KEYS *")), "*1\r\n$9\r\ntwo-after\r\n");
}

fn write_dir(dir: &TempDir, files: &[(&str, &[u8])], manifest: &str) {
    std::fs::create_dir_all(dir.aof_dir()).expect("mkdir");
    for (name, data) in files {
        std::fs::write(dir.aof_dir().join(name), data).expect("write");
    }
    std::fs::write(dir.aof_dir().join("appendonly.aof.manifest"), manifest).expect("manifest");
}

fn cmds(list: &[&[&str]]) -> Vec<u8> {
    list.iter().flat_map(|c| encode_cmd(c)).collect()
}

#[test]
fn torn_tails_are_cut_and_refused_like_redis() {
    let manifest = "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n";
    let base = cmds(&[&["SELECT", "0"], &["SET", "base", "1"]]);
    let mut incr = cmds(&[&["SELECT", "0"], &["SET", "kept", "1"]]);
    let cut_at = incr.len();
    incr.extend(cmds(&[&["MULTI"], &["SET", "tx1", "1"], &["SET", "tx2", "1"]]));
    incr.extend(b"*1\r\n$4\r\nEX");
    // aof-load-truncated no: exit 1 with Redis's text.
    {
        let dir = TempDir::new("torn-no");
        write_dir(
            &dir,
            &[("appendonly.aof.1.base.aof", &base), ("appendonly.aof.1.incr.aof", &incr)],
            manifest,
        );
        let (code, log) = run_to_exit(&[
            "--dir",
            dir.path(),
            "--appendonly",
            "yes",
            "--aof-load-truncated",
            "no",
        ]);
        assert_eq!(code, Some(1), "{log}");
        assert!(
            log.contains(
                "Unexpected end of file reading the append only file appendonly.aof.1.incr.aof"
            ),
            "{log}"
        );
    }
    // yes: the open MULTI is cut whole; a write after the load survives the next restart.
    let dir = TempDir::new("torn-yes");
    write_dir(
        &dir,
        &[("appendonly.aof.1.base.aof", &base), ("appendonly.aof.1.incr.aof", &incr)],
        manifest,
    );
    {
        let mut srv = start(&dir, 2, &[]);
        let log = srv.log();
        assert!(
            log.contains(
                "Revert incomplete MULTI/EXEC transaction in AOF file appendonly.aof.1.incr.aof"
            ),
            "{log}"
        );
        assert!(
            log.contains(&format!(
                "!!! Truncating the AOF appendonly.aof.1.incr.aof at offset {cut_at} !!!"
            )),
            "{log}"
        );
        let mut c = srv.raw();
        assert_eq!(
            text(&c.cmd_str("MGET base kept tx1 tx2")),
            "*4\r\n$1\r\n1\r\n$1\r\n1\r\n$-1\r\n$-1\r\n"
        );
        ok(&mut c, "SET after 1");
        kill9(&mut srv);
    }
    let srv = start(&dir, 2, &[]);
    assert_eq!(
        text(&srv.raw().cmd_str("MGET base kept after tx1")),
        "*4\r\n$1\r\n1\r\n$1\r\n1\r\n$1\r\n1\r\n$-1\r\n"
    );
    // Garbage is refused, never loaded partly.
    let dir = TempDir::new("garbage");
    write_dir(
        &dir,
        &[
            ("appendonly.aof.1.base.aof", &base),
            ("appendonly.aof.1.incr.aof", b"*1\r\n$4\r\nPING\r\nhello\r\n"),
        ],
        manifest,
    );
    let (code, log) = run_to_exit(&["--dir", dir.path(), "--appendonly", "yes"]);
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("Bad file format reading the append only file appendonly.aof.1.incr.aof"),
        "{log}"
    );
}

#[test]
fn a_transaction_over_shards_missing_a_part_is_not_replayed() {
    let manifest = "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.2.incr.aof seq 2 type i\n";
    let base = cmds(&[&["SELECT", "0"]]);
    let mut one = cmds(&[&["SELECT", "0"]]);
    one.extend(b"#MF-TX 77 2\r\n");
    one.extend(cmds(&[&["MULTI"], &["SET", "x", "1"], &["EXEC"], &["SET", "later", "1"]]));
    let two = cmds(&[&["SELECT", "0"], &["SET", "other", "1"]]);
    let dir = TempDir::new("torn-tx");
    write_dir(
        &dir,
        &[
            ("appendonly.aof.1.base.aof", &base),
            ("appendonly.aof.1.incr.aof", &one),
            ("appendonly.aof.2.incr.aof", &two),
        ],
        manifest,
    );
    let srv = start(&dir, 2, &[]);
    assert_eq!(
        text(&srv.raw().cmd_str("MGET x later other")),
        "*3\r\n$-1\r\n$1\r\n1\r\n$1\r\n1\r\n"
    );
}

#[test]
fn a_pre_7_single_file_is_loaded_and_migrated() {
    let dir = TempDir::new("legacy");
    let data = cmds(&[&["SELECT", "0"], &["SET", "old", "v"], &["RPUSH", "ol", "a", "b"]]);
    std::fs::write(dir.0.join("appendonly.aof"), &data).expect("write");
    let srv = start(&dir, 2, &[]);
    let mut c = srv.raw();
    assert_eq!(text(&c.cmd_str("GET old")), "$1\r\nv\r\n");
    assert_eq!(text(&c.cmd_str("LLEN ol")), ":2\r\n");
    assert!(!dir.0.join("appendonly.aof").exists(), "the old file is gone");
    assert!(dir.manifest().contains("type b"), "{}", dir.manifest());
    assert!(srv.log().contains("Successfully migrated an old-style AOF"));
}

#[test]
fn bgrewriteaof_and_config_set_appendonly_switch_the_directory() {
    let dir = TempDir::new("rewrite");
    let srv = Server::start(&["--dir", dir.path(), "--shards", "2", "--save", ""]);
    let mut c = srv.raw();
    assert_eq!(
        text(&c.cmd_str("BGREWRITEAOF")),
        "-ERR Background append only file rewriting is only available when AOF is enabled\r\n"
    );
    ok(&mut c, "SET before 1");
    ok(&mut c, "CONFIG SET appendonly yes");
    assert!(dir.manifest().contains("appendonly.aof.1.base.rdb"), "{}", dir.manifest());
    ok(&mut c, "SET after 1");
    assert_eq!(
        text(&c.cmd_str("BGREWRITEAOF")),
        "+Background append only file rewriting started\r\n"
    );
    for _ in 0..500 {
        if text(&c.cmd_str("INFO persistence")).contains("aof_rewrite_in_progress:0") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        dir.manifest(),
        "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.3.incr.aof seq 3 type i\nfile appendonly.aof.4.incr.aof seq 4 type i\n"
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.aof_dir())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "appendonly.aof.2.base.rdb",
            "appendonly.aof.3.incr.aof",
            "appendonly.aof.4.incr.aof",
            "appendonly.aof.manifest"
        ]
    );
    ok(&mut c, "SET last 1");
    ok(&mut c, "CONFIG SET appendonly no");
    assert!(text(&c.cmd_str("INFO persistence")).contains("aof_enabled:0"));
    drop(c);
    drop(srv);
    let srv = start(&dir, 1, &[]);
    assert_eq!(
        text(&srv.raw().cmd_str("MGET before after last")),
        "*3\r\n$1\r\n1\r\n$1\r\n1\r\n$1\r\n1\r\n"
    );
}

#[test]
fn directories_move_both_ways_with_redis_server() {
    if !redis_server_available() {
        eprintln!("NOTE: redis-server is not installed; skipping the AOF interop test");
        return;
    }
    // Mayfly (2 shards, after a rewrite and more writes) -> redis-server.
    let dir = TempDir::new("to-redis");
    let expected = {
        let mut srv = start(&dir, 2, &[]);
        let mut c = srv.raw();
        writes(&mut c);
        ok(&mut c, "BGREWRITEAOF");
        for _ in 0..500 {
            if text(&c.cmd_str("INFO persistence")).contains("aof_rewrite_in_progress:0") {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        ok(&mut c, "SET after-rewrite 1");
        ok(&mut c, "RPUSH l d");
        ok(&mut c, "DEL h");
        let d = dataset(&mut c);
        kill9(&mut srv);
        d
    };
    let redis =
        RedisServer::start(&["--dir", dir.path(), "--appendonly", "yes"]).expect("redis-server");
    assert_eq!(dataset(&mut redis.raw()), expected, "Mayfly's directory in redis-server");
    drop(redis);

    // redis-server -> Mayfly.
    let dir = TempDir::new("from-redis");
    let expected = {
        let redis = RedisServer::start(&[
            "--dir",
            dir.path(),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ])
        .expect("redis-server");
        let mut c = redis.raw();
        writes(&mut c);
        ok(&mut c, "BGREWRITEAOF");
        for _ in 0..500 {
            let info = text(&c.cmd_str("INFO persistence"));
            if info.contains("aof_rewrite_in_progress:0")
                && info.contains("aof_rewrite_scheduled:0")
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        ok(&mut c, "SET after-rewrite 1");
        dataset(&mut c)
    };
    for shards in [1, 2] {
        let srv = start(&dir, shards, &[]);
        assert_eq!(
            dataset(&mut srv.raw()),
            expected,
            "redis-server's directory in Mayfly ({shards} shards)"
        );
    }
}

#[test]
fn the_aof_rewrites_itself_when_it_grows_and_timestamps_are_skipped_on_load() {
    let dir = TempDir::new("auto");
    let mut srv =
        start(&dir, 2, &["--auto-aof-rewrite-min-size", "4096", "--aof-timestamp-enabled", "yes"]);
    let mut c = srv.raw();
    ok(&mut c, "SET seed 1");
    let incr: String = ["appendonly.aof.1.incr.aof", "appendonly.aof.2.incr.aof"]
        .iter()
        .map(|f| text(&std::fs::read(dir.aof_dir().join(f)).unwrap_or_default()))
        .collect();
    assert!(incr.contains("#TS:"), "{incr}");
    let value = "x".repeat(1000);
    for i in 0..20 {
        ok(&mut c, &format!("SET big{i} {value}"));
    }
    let mut rewritten = false;
    for _ in 0..300 {
        if dir.manifest().contains("appendonly.aof.2.base.rdb") {
            rewritten = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(rewritten, "{}", dir.manifest());
    assert!(srv.log().contains("Starting automatic rewriting of AOF on"), "{}", srv.log());
    let before = dataset(&mut c);
    kill9(&mut srv);
    let srv = start(&dir, 2, &[]);
    assert_eq!(dataset(&mut srv.raw()), before);
}
