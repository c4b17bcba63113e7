//! The cluster face: zero-hop routing for cluster-aware clients (issue 19 §2).
//!
//! ```text
//!   port P (normal)  ──► any shard (round-robin) ── full single-node semantics
//!   port N + i       ──► shard i ── "a Redis Cluster master of shard i's slots":
//!                        key in another shard's slot  → -MOVED slot host:N+j
//!                        keys in several slots        → -CROSSSLOT
//!                        keyless KEYS/SCAN/DBSIZE/FLUSH* → shard i only (one node's view)
//!                        CLUSTER SLOTS/SHARDS/NODES/MYID/INFO/KEYSLOT describe every shard
//! ```
//! With `cluster-face-port N`, shard i also listens on port N + i and every connection that
//! comes through it lives on shard i. A cluster client (redis-cli -c, redis-benchmark
//! --cluster, redis-py's RedisCluster, the `redis` crate's cluster client) reads the slot map
//! from any of those ports and then sends each key straight to the shard that owns it, so no
//! request takes a cross-shard hop. Each shard is a master whose node id is derived from the
//! server's run id and the shard number; there are no replicas and no cluster bus (the bus
//! port shown in CLUSTER NODES is 0).
//!
//! What Redis Cluster has and the face does not: the slot map is fixed (ranges of equal size,
//! as the shards split them), so there is no ASK, no resharding (SETSLOT, ADDSLOTS, MIGRATE
//! between faces), no COUNTKEYSINSLOT / GETKEYSINSLOT (answered as unknown subcommands).

use bytes::Bytes;
use mayfly_engine::command::{CommandSpec, MultiShard};
use mayfly_engine::config::Config;
use mayfly_engine::reply::Reply;
use mayfly_engine::slot::{key_slot, SLOT_COUNT};
use std::os::fd::RawFd;

use crate::conn::Conn;
use crate::shard::env::Job;
use crate::shard::{call, here};

const DISABLED: &str = "ERR This instance has cluster support disabled";
const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

/// Opens the cluster-face listeners, `(shard, fd)` for every shard and bound address, when
/// `cluster-face-port` is set; `listen(port)` opens one port on every `bind` address.
pub fn listen_face(
    config: &Config,
    nshards: usize,
    listen: impl Fn(u16) -> std::io::Result<Vec<RawFd>>,
) -> std::io::Result<Vec<(usize, RawFd)>> {
    let base = config.cluster_face_port;
    if base == 0 {
        return Ok(Vec::new());
    }
    let last = base + nshards as u64 - 1;
    if last > u16::MAX as u64 {
        return Err(std::io::Error::other(format!(
            "cluster-face-port {base} with {nshards} shards needs ports up to {last}, past 65535"
        )));
    }
    let mut out: Vec<(usize, RawFd)> = Vec::new();
    for shard in 0..nshards {
        match listen((base + shard as u64) as u16) {
            Ok(fds) => out.extend(fds.into_iter().map(|fd| (shard, fd))),
            Err(e) => {
                for (_, fd) in out {
                    // SAFETY: closing the face listeners opened above before giving up.
                    unsafe { libc::close(fd) };
                }
                return Err(e);
            }
        }
    }
    crate::log::notice(&format!(
        "Cluster face: shard i answers as a cluster master on port {base}+i ({base}-{last})"
    ));
    Ok(out)
}

/// The shard whose cluster-face port `conn` came through, if it did.
pub fn face_of(conn: &Conn) -> Option<usize> {
    let base = here().shared.read_config(|c| c.cluster_face_port);
    if base == 0 {
        return None;
    }
    let port: u64 = conn.info.laddr.rsplit_once(':')?.1.parse().ok()?;
    let shard = port.checked_sub(base)? as usize;
    (shard < here().nshards).then_some(shard)
}

/// The host part of the address this connection reached us on: what the face announces, so
/// a client is sent back to the address it already knows works.
fn host(conn: &Conn) -> String {
    match conn.info.laddr.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']').to_string(),
        None => "127.0.0.1".into(),
    }
}

fn port_of(shard: usize) -> u64 {
    here().shared.read_config(|c| c.cluster_face_port) + shard as u64
}

fn owner(slot: u16) -> usize {
    here().shared.slots.get(slot as usize).copied().unwrap_or(0) as usize
}

/// The slot of every key of one command, in order (empty for a keyless one).
fn slots_of(spec: &CommandSpec, argv: &[Bytes]) -> Vec<u16> {
    spec.keys_of(argv).into_iter().map(|i| key_slot(&argv[i])).collect()
}

/// Redis Cluster's routing rule for one command on a face connection of shard `face`:
/// CROSSSLOT when its keys are in several slots, MOVED when their slot is another shard's.
pub fn redirect(conn: &Conn, face: usize, spec: &CommandSpec, argv: &[Bytes]) -> Option<Reply> {
    let slots = slots_of(spec, argv);
    let first = *slots.first()?;
    if slots.iter().any(|&s| s != first) {
        return Some(Reply::error(CROSSSLOT));
    }
    moved(conn, face, first)
}

fn moved(conn: &Conn, face: usize, slot: u16) -> Option<Reply> {
    let shard = owner(slot);
    (shard != face).then(|| Reply::error(format!("MOVED {slot} {}:{}", host(conn), port_of(shard))))
}

/// EXEC on a face connection: the whole transaction must live in one slot of this shard.
pub fn redirect_exec(conn: &Conn, face: usize, queue: &[Vec<Bytes>]) -> Option<Reply> {
    let mut slot = None;
    for argv in queue {
        let Some(spec) = mayfly_engine::lookup(&argv[0]) else { continue };
        for s in slots_of(spec, argv) {
            match slot {
                None => slot = Some(s),
                Some(prev) if prev != s => return Some(Reply::error(CROSSSLOT)),
                Some(_) => {}
            }
        }
    }
    moved(conn, face, slot?)
}

/// What Redis refuses in cluster mode because a cluster node has only database 0.
pub fn refusal(spec: &CommandSpec, argv: &[Bytes]) -> Option<Reply> {
    let int = |b: &Bytes| std::str::from_utf8(b).ok().and_then(|s| s.parse::<i64>().ok());
    match spec.name {
        "select" if int(&argv[1]).is_some_and(|id| id != 0) => {
            Some(Reply::error("ERR SELECT is not allowed in cluster mode"))
        }
        "move" => Some(Reply::error("ERR MOVE is not allowed in cluster mode")),
        "swapdb" => Some(Reply::error("ERR SWAPDB is not allowed in cluster mode")),
        "copy" => {
            let other_db = argv
                .windows(2)
                .skip(3)
                .any(|w| w[0].eq_ignore_ascii_case(b"db") && int(&w[1]).is_some_and(|d| d != 0));
            other_db.then(|| {
                Reply::error("ERR Copying to another database is not allowed in cluster mode")
            })
        }
        _ => None,
    }
}

/// A keyless command that would run on every shard (KEYS, SCAN, DBSIZE, RANDOMKEY,
/// FLUSHDB, FLUSHALL) runs on the face's shard alone: a cluster client asks every master and
/// merges the answers itself.
pub fn is_node_local(spec: &CommandSpec, argv: &[Bytes]) -> bool {
    matches!(spec.multi, MultiShard::Broadcast(_) | MultiShard::Net)
        && spec.keys_of(argv).is_empty()
}

pub async fn run_on_face(
    face: usize,
    db: usize,
    resp3: bool,
    spec: &'static CommandSpec,
    argv: Vec<Bytes>,
) -> Reply {
    call(face, Job::Exec { spec: Some(spec), db, argv, resp3, txid: 0 }).await.into_reply()
}

/// INFO as a cluster node shows it (`cluster_enabled:1`).
pub fn as_cluster_info(reply: Reply) -> Reply {
    let fix = |b: &Bytes| {
        let text = String::from_utf8_lossy(b);
        Bytes::from(text.replace("cluster_enabled:0\r\n", "cluster_enabled:1\r\n"))
    };
    match reply {
        Reply::Bulk(b) => Reply::Bulk(fix(&b)),
        Reply::Verbatim(kind, b) => Reply::Verbatim(kind, fix(&b)),
        other => other,
    }
}

/// READONLY, READWRITE and ASKING: accepted on a face (there are no replicas to read from
/// and no slot is ever migrating), refused elsewhere like a non-cluster redis-server.
pub fn connection_flag(conn: &Conn) -> Reply {
    if conn.face.is_some() {
        Reply::ok()
    } else {
        Reply::error(DISABLED)
    }
}

/// Node id of shard `shard`: 40 hex digits, stable for the life of the process.
fn node_id(shard: usize) -> String {
    let run_id = &super::get().run_id;
    let prefix: String = run_id.chars().take(32).collect();
    format!("{prefix}{shard:08x}")
}

/// Every shard's slot ranges: `(first, last, shard)` in slot order.
fn ranges() -> Vec<(u16, u16, usize)> {
    let slots = &here().shared.slots;
    let mut out: Vec<(u16, u16, usize)> = Vec::new();
    for s in 0..SLOT_COUNT as u16 {
        let shard = slots.get(s as usize).copied().unwrap_or(0) as usize;
        match out.last_mut() {
            Some(last) if last.2 == shard && last.1 + 1 == s => last.1 = s,
            _ => out.push((s, s, shard)),
        }
    }
    out
}

/// CLUSTER <subcommand> (arity and subcommand names were checked by the table).
pub fn cluster(conn: &Conn, argv: &[Bytes]) -> Reply {
    let Some(face) = conn.face else { return Reply::error(DISABLED) };
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    let n = here().nshards;
    let host = host(conn);
    match sub.as_str() {
        "myid" => Reply::bulk(node_id(face)),
        "keyslot" => Reply::Int(key_slot(&argv[2]) as i64),
        "slots" => Reply::Array(
            ranges()
                .into_iter()
                .map(|(first, last, shard)| {
                    Reply::Array(vec![
                        Reply::Int(first as i64),
                        Reply::Int(last as i64),
                        Reply::Array(vec![
                            Reply::bulk(host.clone()),
                            Reply::Int(port_of(shard) as i64),
                            Reply::bulk(node_id(shard)),
                            Reply::Map(vec![]),
                        ]),
                    ])
                })
                .collect(),
        ),
        "shards" => Reply::Array(
            (0..n)
                .map(|shard| {
                    let slots = ranges()
                        .into_iter()
                        .filter(|r| r.2 == shard)
                        .flat_map(|(a, b, _)| [Reply::Int(a as i64), Reply::Int(b as i64)])
                        .collect();
                    let node = Reply::Map(vec![
                        (Reply::bulk_str("id"), Reply::bulk(node_id(shard))),
                        (Reply::bulk_str("port"), Reply::Int(port_of(shard) as i64)),
                        (Reply::bulk_str("ip"), Reply::bulk(host.clone())),
                        (Reply::bulk_str("endpoint"), Reply::bulk(host.clone())),
                        (Reply::bulk_str("role"), Reply::bulk_str("master")),
                        (Reply::bulk_str("replication-offset"), Reply::Int(0)),
                        (Reply::bulk_str("health"), Reply::bulk_str("online")),
                    ]);
                    Reply::Map(vec![
                        (Reply::bulk_str("slots"), Reply::Array(slots)),
                        (Reply::bulk_str("nodes"), Reply::Array(vec![node])),
                    ])
                })
                .collect(),
        ),
        "nodes" => {
            let now_ms = mayfly_engine::clock::unix_time_ms();
            let mut text = String::new();
            for shard in 0..n {
                let (flags, pong) =
                    if shard == face { ("myself,master", 0) } else { ("master", now_ms) };
                text.push_str(&format!(
                    "{} {host}:{}@0 {flags} - 0 {pong} {} connected",
                    node_id(shard),
                    port_of(shard),
                    shard + 1
                ));
                for (a, b, _) in ranges().into_iter().filter(|r| r.2 == shard) {
                    if a == b {
                        text.push_str(&format!(" {a}"));
                    } else {
                        text.push_str(&format!(" {a}-{b}"));
                    }
                }
                text.push('\n');
            }
            Reply::Verbatim("txt", Bytes::from(text))
        }
        "info" => Reply::Verbatim(
            "txt",
            Bytes::from(format!(
            "cluster_state:ok\r\ncluster_slots_assigned:{SLOT_COUNT}\r\ncluster_slots_ok:{SLOT_COUNT}\r\n\
             cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:{n}\r\n\
             cluster_size:{n}\r\ncluster_current_epoch:{n}\r\ncluster_my_epoch:{}\r\n\
             cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n\
             total_cluster_links_buffer_limit_exceeded:0\r\n",
            face + 1
            )),
        ),
        "help" => Reply::Array(
            [
                "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "INFO",
                "    Return information about the cluster.",
                "KEYSLOT <key>",
                "    Return the hash slot for <key>.",
                "MYID",
                "    Return the node id.",
                "NODES",
                "    Return cluster configuration seen by node. Output format:",
                "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
                "SLOTS",
                "    Return information about slots range mappings. Each range is made of:",
                "    start, end, master and replicas IP addresses, ports and ids",
                "SHARDS",
                "    Return information about slot range mappings and the nodes associated with them.",
                "HELP",
                "    Prints this help.",
            ]
            .into_iter()
            .map(Reply::status)
            .collect(),
        ),
        _ => Reply::error(format!(
            "ERR unknown subcommand '{}'. Try CLUSTER HELP.",
            String::from_utf8_lossy(&argv[1])
        )),
    }
}
