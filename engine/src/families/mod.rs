//! Command implementations, one file per family. Each family exports a `COMMANDS` table;
//! add a new family to `FAMILIES` below. A handler writes through `Ctx` and declares how it is
//! journaled when replaying its argv could differ (relative times, random picks, blocking
//! pops): see "Writing a command family" in the `shard` module doc.

pub mod bitmap;
pub mod cluster;
pub mod connection;
pub mod dump;
pub mod expire;
pub mod geo;
pub mod hash;
pub mod hyperloglog;
pub mod keys;
pub mod list;
pub mod memory;
pub mod scripting;
pub mod server;
pub mod set;
pub mod sort;
pub mod stream;
pub mod string;
pub mod zset;

use crate::command::CommandSpec;

static FAMILIES: &[&[CommandSpec]] = &[
    connection::COMMANDS,
    server::COMMANDS,
    cluster::COMMANDS,
    string::COMMANDS,
    keys::COMMANDS,
    dump::COMMANDS,
    list::COMMANDS,
    expire::COMMANDS,
    hash::COMMANDS,
    set::COMMANDS,
    zset::COMMANDS,
    stream::COMMANDS,
    bitmap::COMMANDS,
    hyperloglog::COMMANDS,
    geo::COMMANDS,
    sort::COMMANDS,
    memory::COMMANDS,
    scripting::COMMANDS,
];

/// Every family's table.
pub fn all() -> impl Iterator<Item = &'static CommandSpec> {
    FAMILIES.iter().flat_map(|f| f.iter())
}
