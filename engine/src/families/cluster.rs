//! The Redis Cluster commands of the cluster face (issue 19): CLUSTER and READONLY /
//! READWRITE / ASKING. All are `Handler::Net` (net/src/server/cluster.rs): they describe the
//! node's shards as the masters of a cluster and need the connection's port to answer. On a
//! connection that did not come through a cluster-face port they answer Redis's
//! "cluster support disabled" error, as a redis-server without `cluster-enabled` does.

use crate::command::{cmd, flags::*, CommandSpec, Handler, SubcommandSpec, NO_KEYS};

const CLUSTER_SUBS: &[SubcommandSpec] = &[
    SubcommandSpec {
        name: "help",
        arity: 2,
        flags: LOADING | STALE,
        summary: "Show helpful text about the different subcommands",
    },
    SubcommandSpec {
        name: "info",
        arity: 2,
        flags: STALE,
        summary: "Provides info about Redis Cluster node state",
    },
    SubcommandSpec {
        name: "keyslot",
        arity: 3,
        flags: STALE,
        summary: "Returns the hash slot of the specified key",
    },
    SubcommandSpec { name: "myid", arity: 2, flags: STALE, summary: "Return the node id" },
    SubcommandSpec {
        name: "nodes",
        arity: 2,
        flags: STALE,
        summary: "Get Cluster config for the node",
    },
    SubcommandSpec {
        name: "shards",
        arity: 2,
        flags: STALE,
        summary: "Get array of cluster slots to node mappings",
    },
    SubcommandSpec {
        name: "slots",
        arity: 2,
        flags: STALE,
        summary: "Get array of Cluster slot to node mappings",
    },
];

pub static COMMANDS: &[CommandSpec] = &[
    cmd(
        "cluster",
        -2,
        0,
        NO_KEYS,
        "cluster",
        "3.0.0",
        "A container for cluster commands",
        Handler::Net,
    )
    .subcommands(CLUSTER_SUBS),
    cmd(
        "readonly",
        1,
        FAST | LOADING | STALE,
        NO_KEYS,
        "cluster",
        "3.0.0",
        "Enables read queries for a connection to a cluster replica node",
        Handler::Net,
    ),
    cmd(
        "readwrite",
        1,
        FAST | LOADING | STALE,
        NO_KEYS,
        "cluster",
        "3.0.0",
        "Disables read queries for a connection to a cluster replica node",
        Handler::Net,
    ),
    cmd(
        "asking",
        1,
        FAST,
        NO_KEYS,
        "cluster",
        "3.0.0",
        "Sent by cluster clients after an -ASK redirect",
        Handler::Net,
    ),
];
