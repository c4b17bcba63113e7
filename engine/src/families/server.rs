//! Server and introspection commands. COMMAND is generated from the command table itself.
//! Commands that need connection or server-wide state are declared here with `Handler::Net`
//! and implemented by the net crate; declaring them here keeps one table for COMMAND, ACL
//! categories and routing.

use bytes::Bytes;

use crate::command::{cmd, flags::*, CommandSpec, Handler, SubcommandSpec, NO_KEYS};
use crate::reply::Reply;
use crate::shard::Ctx;

const CLIENT_SUBS: &[SubcommandSpec] = &[
    SubcommandSpec {
        name: "id",
        arity: 2,
        flags: NOSCRIPT | LOADING | STALE,
        summary: "Returns the unique client ID of the connection.",
    },
    SubcommandSpec {
        name: "setname",
        arity: 3,
        flags: NOSCRIPT | LOADING | STALE,
        summary: "Sets the connection name.",
    },
    SubcommandSpec {
        name: "getname",
        arity: 2,
        flags: NOSCRIPT | LOADING | STALE,
        summary: "Returns the name of the connection.",
    },
    SubcommandSpec {
        name: "list",
        arity: -2,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        summary: "Lists open connections.",
    },
    SubcommandSpec {
        name: "info",
        arity: 2,
        flags: NOSCRIPT | LOADING | STALE,
        summary: "Returns information about the connection.",
    },
    SubcommandSpec {
        name: "kill",
        arity: -3,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        summary: "Terminates open connections.",
    },
    SubcommandSpec {
        name: "unblock",
        arity: -3,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        summary: "Unblocks a client blocked by a blocking command from a different connection.",
    },
    SubcommandSpec {
        name: "no-evict",
        arity: 3,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        summary: "Sets the client eviction mode of the connection.",
    },
    SubcommandSpec {
        name: "reply",
        arity: 3,
        flags: NOSCRIPT | LOADING | STALE,
        summary: "Instructs the server whether to reply to commands.",
    },
    SubcommandSpec {
        name: "pause",
        arity: -3,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        summary: "Suspends commands processing.",
    },
    SubcommandSpec {
        name: "unpause",
        arity: 2,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        summary: "Resumes processing commands from paused clients.",
    },
    SubcommandSpec {
        name: "help",
        arity: 2,
        flags: LOADING | STALE,
        summary: "Returns helpful text about the different subcommands.",
    },
];

const CONFIG_SUBS: &[SubcommandSpec] = &[
    SubcommandSpec {
        name: "get",
        arity: -3,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        summary: "Returns the effective values of configuration parameters.",
    },
    SubcommandSpec {
        name: "set",
        arity: -4,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        summary: "Sets configuration parameters in-flight.",
    },
    SubcommandSpec {
        name: "resetstat",
        arity: 2,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        summary: "Resets the server's statistics.",
    },
    SubcommandSpec {
        name: "rewrite",
        arity: 2,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        summary: "Persists the effective configuration to file.",
    },
    SubcommandSpec {
        name: "help",
        arity: 2,
        flags: LOADING | STALE,
        summary: "Returns helpful text about the different subcommands.",
    },
];

const COMMAND_SUBS: &[SubcommandSpec] = &[
    SubcommandSpec {
        name: "count",
        arity: 2,
        flags: LOADING | STALE,
        summary: "Returns a count of commands.",
    },
    SubcommandSpec {
        name: "list",
        arity: -2,
        flags: LOADING | STALE,
        summary: "Returns a list of command names.",
    },
    SubcommandSpec {
        name: "info",
        arity: -2,
        flags: LOADING | STALE,
        summary: "Returns information about one, multiple or all commands.",
    },
    SubcommandSpec {
        name: "docs",
        arity: -2,
        flags: LOADING | STALE,
        summary: "Returns documentary information about one, multiple or all commands.",
    },
    SubcommandSpec {
        name: "getkeys",
        arity: -4,
        flags: LOADING | STALE,
        summary: "Extracts the key names from an arbitrary command.",
    },
    SubcommandSpec {
        name: "help",
        arity: 2,
        flags: LOADING | STALE,
        summary: "Returns helpful text about the different subcommands.",
    },
];

const PUBSUB_SUBS: &[SubcommandSpec] = &[
    SubcommandSpec {
        name: "channels",
        arity: -2,
        flags: PUBSUB | LOADING | STALE,
        summary: "Returns the active channels.",
    },
    SubcommandSpec {
        name: "numsub",
        arity: -2,
        flags: PUBSUB | LOADING | STALE,
        summary: "Returns a count of subscribers to channels.",
    },
    SubcommandSpec {
        name: "numpat",
        arity: 2,
        flags: PUBSUB | LOADING | STALE,
        summary: "Returns a count of unique pattern subscriptions.",
    },
    SubcommandSpec {
        name: "shardchannels",
        arity: -2,
        flags: PUBSUB | LOADING | STALE,
        summary: "Returns the active shard channels.",
    },
    SubcommandSpec {
        name: "shardnumsub",
        arity: -2,
        flags: PUBSUB | LOADING | STALE,
        summary: "Returns the count of subscribers of shard channels.",
    },
    SubcommandSpec {
        name: "help",
        arity: 2,
        flags: LOADING | STALE,
        summary: "Returns helpful text about the different subcommands.",
    },
];

pub static COMMANDS: &[CommandSpec] = &[
    cmd(
        "command",
        -1,
        LOADING | STALE,
        NO_KEYS,
        "server",
        "2.8.13",
        "Returns detailed information about all commands.",
        Handler::Shard(command),
    )
    .subcommands(COMMAND_SUBS),
    cmd(
        "time",
        1,
        LOADING | STALE | FAST,
        NO_KEYS,
        "server",
        "2.6.0",
        "Returns the server time.",
        Handler::Shard(time),
    ),
    cmd(
        "hello",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_SUBSCRIBED,
        NO_KEYS,
        "connection",
        "6.0.0",
        "Handshakes with the Redis server.",
        Handler::Net,
    ),
    cmd(
        "auth",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_SUBSCRIBED,
        NO_KEYS,
        "connection",
        "1.0.0",
        "Authenticates the connection.",
        Handler::Net,
    ),
    cmd(
        "select",
        2,
        LOADING | STALE | FAST,
        NO_KEYS,
        "connection",
        "1.0.0",
        "Changes the selected database.",
        Handler::Net,
    ),
    cmd(
        "client",
        -2,
        NOSCRIPT | LOADING | STALE,
        NO_KEYS,
        "connection",
        "2.4.0",
        "A container for client connection commands.",
        Handler::Net,
    )
    .subcommands(CLIENT_SUBS),
    cmd(
        "quit",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_SUBSCRIBED,
        NO_KEYS,
        "connection",
        "1.0.0",
        "Closes the connection.",
        Handler::Net,
    ),
    cmd(
        "reset",
        1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_SUBSCRIBED,
        NO_KEYS,
        "connection",
        "6.2.0",
        "Resets the connection.",
        Handler::Net,
    ),
    cmd(
        "info",
        -1,
        LOADING | STALE,
        NO_KEYS,
        "server",
        "1.0.0",
        "Returns information and statistics about the server.",
        Handler::Net,
    ),
    cmd(
        "config",
        -2,
        NOSCRIPT | LOADING | STALE,
        NO_KEYS,
        "server",
        "2.0.0",
        "A container for server configuration commands.",
        Handler::Net,
    )
    .subcommands(CONFIG_SUBS),
    cmd(
        "debug",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NO_KEYS,
        "server",
        "1.0.0",
        "A container for debugging commands.",
        Handler::Net,
    ),
    cmd(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI,
        NO_KEYS,
        "server",
        "1.0.0",
        "Synchronously saves the database(s) to disk and shuts down the Redis server.",
        Handler::Net,
    ),
    cmd(
        "multi",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_SUBSCRIBED,
        NO_KEYS,
        "transactions",
        "1.2.0",
        "Starts a transaction.",
        Handler::Net,
    ),
    cmd(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
        NO_KEYS,
        "transactions",
        "1.2.0",
        "Executes all commands in a transaction.",
        Handler::Net,
    ),
    cmd(
        "discard",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_SUBSCRIBED,
        NO_KEYS,
        "transactions",
        "2.0.0",
        "Discards a transaction.",
        Handler::Net,
    ),
    cmd(
        "watch",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_SUBSCRIBED | NO_MULTI,
        (1, -1, 1),
        "transactions",
        "2.2.0",
        "Monitors changes to keys to determine the execution of a transaction.",
        Handler::Net,
    ),
    cmd(
        "subscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE | ALLOW_SUBSCRIBED,
        NO_KEYS,
        "pubsub",
        "2.0.0",
        "Listens for messages published to channels.",
        Handler::Net,
    ),
    cmd(
        "unsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE | ALLOW_SUBSCRIBED,
        NO_KEYS,
        "pubsub",
        "2.0.0",
        "Stops listening to messages posted to channels.",
        Handler::Net,
    ),
    cmd(
        "psubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE | ALLOW_SUBSCRIBED,
        NO_KEYS,
        "pubsub",
        "2.0.0",
        "Listens for messages published to channels that match one or more patterns.",
        Handler::Net,
    ),
    cmd(
        "punsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE | ALLOW_SUBSCRIBED,
        NO_KEYS,
        "pubsub",
        "2.0.0",
        "Stops listening to messages published to channels that match one or more patterns.",
        Handler::Net,
    ),
    cmd(
        "ssubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE | ALLOW_SUBSCRIBED,
        NO_KEYS,
        "pubsub",
        "7.0.0",
        "Listens for messages published to shard channels.",
        Handler::Net,
    ),
    cmd(
        "sunsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE | ALLOW_SUBSCRIBED,
        NO_KEYS,
        "pubsub",
        "7.0.0",
        "Stops listening to messages posted to shard channels.",
        Handler::Net,
    ),
    cmd(
        "publish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        NO_KEYS,
        "pubsub",
        "2.0.0",
        "Posts a message to a channel.",
        Handler::Net,
    ),
    cmd(
        "spublish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        NO_KEYS,
        "pubsub",
        "7.0.0",
        "Post a message to a shard channel",
        Handler::Net,
    ),
    cmd(
        "pubsub",
        -2,
        PUBSUB | LOADING | STALE,
        NO_KEYS,
        "pubsub",
        "2.8.0",
        "A container for Pub/Sub commands.",
        Handler::Net,
    )
    .subcommands(PUBSUB_SUBS),
    cmd(
        "unwatch",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_SUBSCRIBED,
        NO_KEYS,
        "transactions",
        "2.2.0",
        "Forgets about watched keys of a transaction.",
        Handler::Net,
    ),
    cmd(
        "save",
        1,
        ADMIN | NOSCRIPT | NO_MULTI,
        NO_KEYS,
        "server",
        "1.0.0",
        "Synchronously saves the database(s) to disk.",
        Handler::Net,
    ),
    cmd(
        "bgsave",
        -1,
        ADMIN | NOSCRIPT,
        NO_KEYS,
        "server",
        "1.0.0",
        "Asynchronously saves the database(s) to disk.",
        Handler::Net,
    ),
    cmd(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        NO_KEYS,
        "server",
        "1.0.0",
        "Returns the Unix timestamp of the last successful save to disk.",
        Handler::Net,
    ),
    cmd(
        "bgrewriteaof",
        1,
        ADMIN | NOSCRIPT,
        NO_KEYS,
        "server",
        "1.0.0",
        "Asynchronously rewrites the append-only file to disk.",
        Handler::Net,
    ),
    cmd(
        "slowlog",
        -2,
        0,
        NO_KEYS,
        "server",
        "2.2.12",
        "A container for slow log commands.",
        Handler::Net,
    )
    .subcommands(SLOWLOG_SUBS),
    cmd(
        "latency",
        -2,
        0,
        NO_KEYS,
        "server",
        "2.8.13",
        "A container for latency diagnostics commands.",
        Handler::Net,
    )
    .subcommands(LATENCY_SUBS),
    cmd(
        "monitor",
        1,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NO_KEYS,
        "server",
        "1.0.0",
        "Listens for all requests received by the server in real-time.",
        Handler::Net,
    ),
];

const SLOWLOG_SUBS: &[SubcommandSpec] = &[
    SubcommandSpec {
        name: "get",
        arity: -2,
        flags: ADMIN | LOADING | STALE,
        summary: "Returns the slow log's entries.",
    },
    SubcommandSpec {
        name: "help",
        arity: 2,
        flags: LOADING | STALE,
        summary: "Show helpful text about the different subcommands",
    },
    SubcommandSpec {
        name: "len",
        arity: 2,
        flags: ADMIN | LOADING | STALE,
        summary: "Returns the number of entries in the slow log.",
    },
    SubcommandSpec {
        name: "reset",
        arity: 2,
        flags: ADMIN | LOADING | STALE,
        summary: "Clears all entries from the slow log.",
    },
];

const LATENCY_SUBS: &[SubcommandSpec] = &[
    SubcommandSpec {
        name: "doctor",
        arity: 2,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        summary: "Returns a human-readable latency analysis report.",
    },
    SubcommandSpec {
        name: "graph",
        arity: 3,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        summary: "Returns a latency graph for an event.",
    },
    SubcommandSpec {
        name: "help",
        arity: 2,
        flags: LOADING | STALE,
        summary: "Returns helpful text about the different subcommands.",
    },
    SubcommandSpec {
        name: "histogram",
        arity: -2,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        summary: "Returns the cumulative distribution of latencies of a subset or all commands.",
    },
    SubcommandSpec {
        name: "history",
        arity: 3,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        summary: "Returns timestamp-latency samples for an event.",
    },
    SubcommandSpec {
        name: "latest",
        arity: 2,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        summary: "Returns the latest latency samples for all events.",
    },
    SubcommandSpec {
        name: "reset",
        arity: -2,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        summary: "Resets the latency data for one or more events.",
    },
];

fn flag_names(flags: u32) -> Vec<Reply> {
    crate::command::flags::NAMES
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|(_, n)| Reply::status(*n))
        .collect()
}

fn command_info(spec: &CommandSpec) -> Reply {
    let subs: Vec<Reply> = spec
        .subcommands
        .iter()
        .map(|s| {
            Reply::Array(vec![
                Reply::bulk(format!("{}|{}", spec.name, s.name)),
                Reply::Int(s.arity as i64),
                Reply::Array(flag_names(s.flags)),
                Reply::Int(0),
                Reply::Int(0),
                Reply::Int(0),
                Reply::Array(spec.acl_categories().into_iter().map(Reply::status).collect()),
                Reply::Array(vec![]),
                Reply::Array(vec![]),
                Reply::Array(vec![]),
            ])
        })
        .collect();
    let mut flags = flag_names(spec.flags);
    // Redis's pseudo-flag for commands whose keys depend on the arguments.
    if spec.keys_fn.is_some() {
        flags.push(Reply::status("movablekeys"));
    }
    Reply::Array(vec![
        Reply::bulk(spec.name),
        Reply::Int(spec.arity as i64),
        Reply::Array(flags),
        Reply::Int(spec.first_key as i64),
        Reply::Int(spec.last_key as i64),
        Reply::Int(spec.step as i64),
        Reply::Array(spec.acl_categories().into_iter().map(Reply::status).collect()),
        Reply::Array(vec![]),
        Reply::Array(key_specs(spec)),
        Reply::Array(subs),
    ])
}

/// A minimal Redis 7 key-spec per declared key range, so key-spec-aware clients route right.
fn key_specs(spec: &CommandSpec) -> Vec<Reply> {
    if spec.first_key <= 0 {
        return vec![];
    }
    let flags = if spec.has(WRITE) { "RW" } else { "RO" };
    vec![Reply::Map(vec![
        (Reply::bulk_str("flags"), Reply::Array(vec![Reply::status(flags)])),
        (
            Reply::bulk_str("begin_search"),
            Reply::Map(vec![
                (Reply::bulk_str("type"), Reply::bulk_str("index")),
                (
                    Reply::bulk_str("spec"),
                    Reply::Map(vec![(Reply::bulk_str("index"), Reply::Int(spec.first_key as i64))]),
                ),
            ]),
        ),
        (
            Reply::bulk_str("find_keys"),
            Reply::Map(vec![
                (Reply::bulk_str("type"), Reply::bulk_str("range")),
                (
                    Reply::bulk_str("spec"),
                    Reply::Map(vec![
                        (
                            Reply::bulk_str("lastkey"),
                            Reply::Int(if spec.last_key < 0 {
                                spec.last_key as i64
                            } else {
                                (spec.last_key - spec.first_key) as i64
                            }),
                        ),
                        (Reply::bulk_str("keystep"), Reply::Int(spec.step as i64)),
                        (Reply::bulk_str("limit"), Reply::Int(0)),
                    ]),
                ),
            ]),
        ),
    ])]
}

fn sorted_commands() -> Vec<&'static CommandSpec> {
    let mut all: Vec<_> = crate::commands().collect();
    all.sort_by_key(|s| s.name);
    all
}

fn command(_ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() == 1 {
        return Reply::Array(sorted_commands().into_iter().map(command_info).collect());
    }
    let sub = argv[1].to_ascii_lowercase();
    match (sub.as_slice(), argv.len()) {
        (b"count", 2) => Reply::Int(crate::commands().count() as i64),
        (b"list", _) => command_list(argv),
        (b"info", _) => {
            if argv.len() == 2 {
                return Reply::Array(sorted_commands().into_iter().map(command_info).collect());
            }
            Reply::Array(
                argv[2..]
                    .iter()
                    .map(|name| crate::lookup(name).map_or(Reply::Nil, command_info))
                    .collect(),
            )
        }
        (b"docs", _) => {
            let specs: Vec<&CommandSpec> = if argv.len() == 2 {
                sorted_commands()
            } else {
                argv[2..].iter().filter_map(|n| crate::lookup(n)).collect()
            };
            Reply::Map(
                specs
                    .into_iter()
                    .map(|s| {
                        let mut doc = vec![
                            (Reply::bulk_str("summary"), Reply::bulk_str(s.summary)),
                            (Reply::bulk_str("since"), Reply::bulk_str(s.since)),
                            (Reply::bulk_str("group"), Reply::bulk_str(s.group)),
                        ];
                        if !s.subcommands.is_empty() {
                            doc.push((
                                Reply::bulk_str("subcommands"),
                                Reply::Map(
                                    s.subcommands
                                        .iter()
                                        .map(|sub| {
                                            (
                                                Reply::bulk(format!("{}|{}", s.name, sub.name)),
                                                Reply::Map(vec![
                                                    (
                                                        Reply::bulk_str("summary"),
                                                        Reply::bulk_str(sub.summary),
                                                    ),
                                                    (
                                                        Reply::bulk_str("since"),
                                                        Reply::bulk_str(s.since),
                                                    ),
                                                    (
                                                        Reply::bulk_str("group"),
                                                        Reply::bulk_str(s.group),
                                                    ),
                                                ]),
                                            )
                                        })
                                        .collect(),
                                ),
                            ));
                        }
                        (Reply::bulk_str(s.name), Reply::Map(doc))
                    })
                    .collect(),
            )
        }
        (b"getkeys", n) if n >= 3 => {
            let target = &argv[2..];
            let Some(spec) = crate::lookup(&target[0]) else {
                return Reply::error("ERR Invalid command specified");
            };
            if !spec.arity_ok(target.len()) {
                return Reply::error("ERR Invalid number of arguments specified for command");
            }
            let keys = spec.keys_of(target);
            if keys.is_empty() {
                return Reply::error("ERR The command has no key arguments");
            }
            Reply::Array(keys.into_iter().map(|i| Reply::Bulk(target[i].clone())).collect())
        }
        (b"help", 2) => Reply::Array(
            [
                "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "(no subcommand)",
                "    Return details about all Redis commands.",
                "COUNT",
                "    Return the total number of commands in this Redis server.",
                "LIST",
                "    Return a list of all commands in this Redis server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "DOCS [<command-name> ...]",
                "    Return documentation details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "GETKEYS <full-command>",
                "    Return the keys from a full Redis command.",
                "GETKEYSANDFLAGS <full-command>",
                "    Return the keys and the access flags from a full Redis command.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Reply::status(*l))
            .collect(),
        ),
        _ => subcommand_error(&argv[1], "COMMAND"),
    }
}

/// Redis's error for an unknown subcommand or wrong subcommand arity.
pub fn subcommand_error(sub: &[u8], parent: &str) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)]).replace(['\r', '\n'], " "),
        parent
    ))
}

fn command_list(argv: &[Bytes]) -> Reply {
    let all = sorted_commands();
    if argv.len() == 2 {
        return Reply::Array(all.into_iter().map(|s| Reply::bulk_str(s.name)).collect());
    }
    if argv.len() != 5 || !argv[2].eq_ignore_ascii_case(b"filterby") {
        return Reply::error("ERR syntax error");
    }
    let kind = argv[3].to_ascii_lowercase();
    let value = &argv[4];
    let names: Vec<Reply> = all
        .into_iter()
        .filter(|s| match kind.as_slice() {
            b"pattern" => crate::glob::glob_match(value, s.name.as_bytes(), true),
            b"aclcat" => {
                let cat = format!("@{}", String::from_utf8_lossy(value).to_ascii_lowercase());
                s.acl_categories().contains(&cat.as_str())
            }
            _ => false,
        })
        .map(|s| Reply::bulk_str(s.name))
        .collect();
    match kind.as_slice() {
        b"pattern" | b"aclcat" | b"module" => Reply::Array(names),
        _ => Reply::error("ERR syntax error"),
    }
}

fn time(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let us = crate::clock::unix_time_us();
    Reply::Array(vec![
        Reply::bulk((us / 1_000_000).to_string()),
        Reply::bulk((us % 1_000_000).to_string()),
    ])
}
