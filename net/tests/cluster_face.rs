//! The cluster face (`cluster-face-port`): each shard also listens on its own port and
//! answers there as a Redis Cluster master of its slots. Replies were compared by hand with
//! two redis-server 7.0.15 nodes in cluster mode (`cluster-enabled yes`, slots 0-8191 and
//! 8192-16383, MEET): CLUSTER SLOTS/SHARDS/INFO/HELP shapes, MOVED, CROSSSLOT, the
//! cluster-mode refusals and the EXEC rules below are the same bytes, apart from node ids,
//! ports and the bus port (0 here: there is no cluster bus).

mod common;

use std::net::TcpListener;

use common::{free_port, run_to_exit, show, RawClient, Server};

/// A port `p` with `p + 1` free too (a moment ago), for a 2-shard face.
fn face_base() -> u16 {
    for _ in 0..200 {
        let p = free_port();
        if p < 65000
            && TcpListener::bind(("127.0.0.1", p)).is_ok()
            && TcpListener::bind(("127.0.0.1", p + 1)).is_ok()
        {
            return p;
        }
    }
    panic!("no two consecutive free ports");
}

/// A key whose slot belongs to `shard` of 2 (slots split in two equal ranges).
fn key_on(shard: usize, base: &str) -> String {
    (0..10_000)
        .map(|i| format!("{base}{i}"))
        .find(|k| mayfly_engine::slot::key_slot(k.as_bytes()) as usize * 2 / 16384 == shard)
        .expect("a key for every shard")
}

fn slot(key: &str) -> u16 {
    mayfly_engine::slot::key_slot(key.as_bytes())
}

struct Face {
    server: Server,
    base: u16,
}

impl Face {
    fn start() -> Face {
        let base = face_base();
        let server = Server::start(&["--shards", "2", "--cluster-face-port", &base.to_string()]);
        Face { server, base }
    }

    fn face(&self, shard: u16) -> RawClient {
        RawClient::connect(self.base + shard)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

#[test]
fn keys_of_another_shard_are_moved_and_cross_slot_requests_refused() {
    let f = Face::start();
    let mut c0 = f.face(0);
    let here = key_on(0, "k");
    let there = key_on(1, "k");
    assert_eq!(text(&c0.cmd(&["SET", &here, "1"])), "+OK\r\n");
    assert_eq!(
        text(&c0.cmd(&["GET", &there])),
        format!("-MOVED {} 127.0.0.1:{}\r\n", slot(&there), f.base + 1)
    );
    let mut c1 = f.face(1);
    assert_eq!(
        text(&c1.cmd(&["GET", &here])),
        format!("-MOVED {} 127.0.0.1:{}\r\n", slot(&here), f.base)
    );
    // Keys in two slots: CROSSSLOT even when the first one is another shard's (as Redis).
    let other_here = (0..1000)
        .map(|i| format!("o{i}"))
        .find(|k| slot(k) * 2 / 16384 == 0 && slot(k) != slot(&here))
        .expect("a second slot on shard 0");
    let crossslot = "-CROSSSLOT Keys in request don't hash to the same slot\r\n";
    assert_eq!(text(&c0.cmd(&["MSET", &here, "1", &other_here, "2"])), crossslot);
    assert_eq!(text(&c0.cmd(&["MGET", &there, &here])), crossslot);
    // One hash tag, one slot: served where it lives.
    assert_eq!(text(&c0.cmd(&["MSET", "{t}a", "1", "{t}b", "2"])).starts_with("-MOVED"), {
        slot("t") * 2 / 16384 == 1
    });
    // The normal port keeps single-node semantics.
    let mut n = f.server.raw();
    assert_eq!(text(&n.cmd(&["MSET", &here, "1", &there, "2"])), "+OK\r\n");
    assert_eq!(text(&c1.cmd(&["GET", &there])), bulk("2"));
}

#[test]
fn transactions_on_a_face_stay_in_one_slot() {
    let f = Face::start();
    let mut c = f.face(0);
    let a = key_on(0, "a");
    let b = (0..1000)
        .map(|i| format!("b{i}"))
        .find(|k| slot(k) * 2 / 16384 == 0 && slot(k) != slot(&a))
        .expect("another slot of shard 0");
    let far = key_on(1, "f");
    // A queued command for another shard is redirected and fails the transaction.
    assert_eq!(text(&c.cmd(&["MULTI"])), "+OK\r\n");
    assert!(text(&c.cmd(&["SET", &far, "1"])).starts_with("-MOVED "));
    assert_eq!(text(&c.cmd(&["SET", &a, "1"])), "+QUEUED\r\n");
    assert_eq!(
        text(&c.cmd(&["EXEC"])),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    // Two slots of this shard: each command queues, EXEC refuses the whole.
    assert_eq!(text(&c.cmd(&["MULTI"])), "+OK\r\n");
    assert_eq!(text(&c.cmd(&["SET", &a, "1"])), "+QUEUED\r\n");
    assert_eq!(text(&c.cmd(&["SET", &b, "1"])), "+QUEUED\r\n");
    assert_eq!(
        text(&c.cmd(&["EXEC"])),
        "-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    );
    assert_eq!(text(&c.cmd(&["EXISTS", &a])), ":0\r\n", "nothing of it ran");
    // One slot: runs.
    assert_eq!(text(&c.cmd(&["MULTI"])), "+OK\r\n");
    assert_eq!(text(&c.cmd(&["SET", &a, "v"])), "+QUEUED\r\n");
    assert_eq!(text(&c.cmd(&["GET", &a])), "+QUEUED\r\n");
    assert_eq!(text(&c.cmd(&["EXEC"])), format!("*2\r\n+OK\r\n{}", bulk("v")));
    // A cluster node has only database 0.
    assert_eq!(text(&c.cmd(&["SELECT", "1"])), "-ERR SELECT is not allowed in cluster mode\r\n");
    assert_eq!(text(&c.cmd(&["SELECT", "0"])), "+OK\r\n");
    assert_eq!(
        text(&c.cmd(&["SWAPDB", "0", "1"])),
        "-ERR SWAPDB is not allowed in cluster mode\r\n"
    );
    assert_eq!(text(&c.cmd(&["MOVE", &a, "1"])), "-ERR MOVE is not allowed in cluster mode\r\n");
}

#[test]
fn cluster_commands_describe_every_shard_and_only_on_a_face() {
    let f = Face::start();
    let mut c0 = f.face(0);
    let mut c1 = f.face(1);
    let id0 = c0.cmd(&["CLUSTER", "MYID"]);
    let id1 = c1.cmd(&["CLUSTER", "MYID"]);
    assert_eq!(id0.len(), "$40\r\n".len() + 40 + 2, "{}", show(&id0));
    assert_ne!(id0, id1);
    let id = |b: &[u8]| text(&b[5..45]);
    let expected_slots = format!(
        "*2\r\n*3\r\n:0\r\n:8191\r\n*4\r\n{}:{}\r\n{}*0\r\n*3\r\n:8192\r\n:16383\r\n*4\r\n{}:{}\r\n{}*0\r\n",
        bulk("127.0.0.1"),
        f.base,
        bulk(&id(&id0)),
        bulk("127.0.0.1"),
        f.base + 1,
        bulk(&id(&id1)),
    );
    assert_eq!(text(&c0.cmd(&["CLUSTER", "SLOTS"])), expected_slots);
    assert_eq!(text(&c1.cmd(&["CLUSTER", "SLOTS"])), expected_slots);
    let nodes = text(&c1.cmd(&["CLUSTER", "NODES"]));
    assert!(
        nodes.contains(&format!(
            "{} 127.0.0.1:{}@0 myself,master - 0 0 2 connected 8192-16383\n",
            id(&id1),
            f.base + 1
        )),
        "{nodes}"
    );
    assert!(nodes.contains(&format!("{} 127.0.0.1:{}@0 master - 0 ", id(&id0), f.base)));
    let info = text(&c0.cmd(&["CLUSTER", "INFO"]));
    assert!(info.contains("cluster_state:ok\r\ncluster_slots_assigned:16384\r\n"), "{info}");
    assert!(info.contains("cluster_known_nodes:2\r\ncluster_size:2\r\n"), "{info}");
    assert_eq!(text(&c0.cmd(&["CLUSTER", "KEYSLOT", "foo"])), ":12182\r\n");
    assert_eq!(
        text(&c0.cmd(&["CLUSTER", "FOO"])),
        "-ERR unknown subcommand 'FOO'. Try CLUSTER HELP.\r\n"
    );
    assert!(text(&c0.cmd(&["INFO", "cluster"])).contains("cluster_enabled:1\r\n"));
    for flag in ["READONLY", "READWRITE", "ASKING"] {
        assert_eq!(text(&c0.cmd(&[flag])), "+OK\r\n");
    }
    assert!(text(&c0.cmd(&["HELLO", "3"])).contains(&format!(
        "{}{}",
        bulk("mode"),
        bulk("cluster")
    )));

    // The normal port is a standalone server, as redis-server without cluster-enabled.
    let mut n = f.server.raw();
    let disabled = "-ERR This instance has cluster support disabled\r\n";
    assert_eq!(text(&n.cmd(&["CLUSTER", "SLOTS"])), disabled);
    assert_eq!(text(&n.cmd(&["READONLY"])), disabled);
    assert!(text(&n.cmd(&["INFO", "cluster"])).contains("cluster_enabled:0\r\n"));
}

#[test]
fn keyless_commands_on_a_face_see_that_shard_only() {
    let f = Face::start();
    let mut n = f.server.raw();
    let mut on = [Vec::new(), Vec::new()];
    for i in 0..40 {
        let k = format!("key:{i}");
        n.cmd(&["SET", &k, "v"]);
        on[slot(&k) as usize * 2 / 16384].push(k);
    }
    let mut c0 = f.face(0);
    let mut c1 = f.face(1);
    assert_eq!(text(&c0.cmd(&["DBSIZE"])), format!(":{}\r\n", on[0].len()));
    assert_eq!(text(&c1.cmd(&["DBSIZE"])), format!(":{}\r\n", on[1].len()));
    assert_eq!(text(&n.cmd(&["DBSIZE"])), ":40\r\n");
    let keys = text(&c1.cmd(&["KEYS", "*"]));
    assert!(keys.starts_with(&format!("*{}\r\n", on[1].len())), "{keys}");
    assert!(on[1].iter().all(|k| keys.contains(&bulk(k))));
    assert_eq!(text(&c0.cmd(&["FLUSHALL"])), "+OK\r\n");
    assert_eq!(text(&n.cmd(&["DBSIZE"])), format!(":{}\r\n", on[1].len()));
}

#[test]
fn redis_cli_in_cluster_mode_follows_the_redirects() {
    if std::process::Command::new("redis-cli").arg("--version").output().is_err() {
        eprintln!("NOTICE: redis-cli not installed; skipping");
        return;
    }
    let f = Face::start();
    for shard in 0..2 {
        let k = key_on(shard, "cli");
        let out = std::process::Command::new("redis-cli")
            .args(["-c", "-p", &f.base.to_string(), "SET", &k, "value"])
            .output()
            .expect("redis-cli");
        assert_eq!(text(&out.stdout).trim(), "OK", "{}", text(&out.stderr));
        assert_eq!(text(&f.server.raw().cmd(&["GET", &k])), bulk("value"));
    }
}

#[test]
fn a_face_past_the_last_port_is_refused_at_start() {
    let (code, log) = run_to_exit(&["--shards", "2", "--cluster-face-port", "65535"]);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("past 65535"), "{log}");
}
