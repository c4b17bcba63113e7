//! mayfly-engine: the data side of Mayfly.
//!
//! ```text
//!   argv ──► check_command (table: arity, name) ──► Shard::execute (call.rs) ──► Reply
//!                                                     │ handler(Ctx, argv)
//!            Db ─ Table<Entry> (segmented, keyed hash) ◄┤
//!            journal Record, when a journal is attached ◄┘ (the shard's one write path)
//! ```
//! Goals: Redis 7.0 semantics for every command, exact to the reply type and error text; data
//! structures that are compact and bounded in per-call work. Non-goals: sockets, threads,
//! io_uring, protocol encoding — the net crate owns those and sees the engine only through the
//! command table, [`shard::Shard::execute`] and the shard's write path (`store_entry`,
//! `begin_tx`/`end_tx`, the [`journal::Journal`] hook; see the `shard` module doc).

pub mod call;
pub mod clock;
pub mod command;
pub mod config;
pub mod csort;
pub mod db;
pub mod digest;
pub mod error;
pub mod evict;
pub mod families;
pub mod geohash;
pub mod glob;
pub mod journal;
pub mod notify;
pub mod reply;
pub mod rewrite;
pub mod shard;
pub mod slot;
pub mod table;
pub mod testing;
pub mod types;
pub mod value;

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

use command::CommandSpec;
use reply::Reply;

fn registry() -> &'static HashMap<&'static str, &'static CommandSpec> {
    static REGISTRY: OnceLock<HashMap<&'static str, &'static CommandSpec>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut map = HashMap::new();
        for spec in families::all() {
            let previous = map.insert(spec.name, spec);
            assert!(previous.is_none(), "command {} declared twice", spec.name);
        }
        map
    })
}

/// Looks a command up by name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    if name.len() > 64 {
        return None;
    }
    let mut buf = [0u8; 64];
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    let s = std::str::from_utf8(lower).ok()?;
    registry().get(s).copied()
}

/// Every command in the table.
pub fn commands() -> impl Iterator<Item = &'static CommandSpec> {
    registry().values().copied()
}

/// Redis's reply for an unknown command, args quoted up to 128 bytes as Redis 7.0 does.
pub fn unknown_command_error(argv: &[Bytes]) -> Reply {
    let name = argv.first().map(|b| sanitize(&b[..b.len().min(128)])).unwrap_or_default();
    let mut args = String::new();
    for a in argv.iter().skip(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push('\'');
        args.push_str(&sanitize(&a[..a.len().min(room)]));
        args.push_str("' ");
    }
    Reply::error(format!("ERR unknown command '{name}', with args beginning with: {args}"))
}

/// Error texts must stay on one line: Redis replaces CR and LF with spaces.
fn sanitize(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace(['\r', '\n'], " ")
}

/// Looks up argv[0] and checks arity; the error reply is Redis's.
pub fn check_command(argv: &[Bytes]) -> Result<&'static CommandSpec, Reply> {
    let Some(name) = argv.first() else {
        return Err(Reply::error("ERR empty command"));
    };
    let spec = lookup(name).ok_or_else(|| unknown_command_error(argv))?;
    if !spec.arity_ok(argv.len()) {
        return Err(error::OpError::WrongArity(spec.name.to_string()).into());
    }
    if !spec.subcommands.is_empty() && argv.len() >= 2 {
        check_subcommand(spec, argv)?;
    }
    Ok(spec)
}

/// Container commands (CONFIG, CLIENT, …): Redis 7.0 answers an unknown subcommand and a
/// known one with the wrong argument count with these exact errors.
fn check_subcommand(spec: &CommandSpec, argv: &[Bytes]) -> Result<(), Reply> {
    let sub = &argv[1];
    match spec.subcommands.iter().find(|s| s.name.as_bytes().eq_ignore_ascii_case(sub)) {
        None => Err(Reply::error(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            sanitize(&sub[..sub.len().min(128)]),
            spec.name.to_ascii_uppercase()
        ))),
        Some(s) => {
            let argc = argv.len() as i64;
            let ok = if s.arity >= 0 { argc == s.arity as i64 } else { argc >= -(s.arity as i64) };
            if ok {
                Ok(())
            } else {
                Err(error::OpError::WrongArity(format!("{}|{}", spec.name, s.name)).into())
            }
        }
    }
}
