//! Connection commands that need no connection state: PING, ECHO. Commands that do (HELLO,
//! AUTH, SELECT, CLIENT, QUIT, RESET) are declared here with `Handler::Net`.

use bytes::Bytes;

use crate::command::{cmd, flags::*, CommandSpec, Handler, NO_KEYS};
use crate::reply::Reply;
use crate::shard::Ctx;

pub static COMMANDS: &[CommandSpec] = &[
    cmd(
        "ping",
        -1,
        FAST | ALLOW_SUBSCRIBED,
        NO_KEYS,
        "connection",
        "1.0.0",
        "Returns the server's liveliness response.",
        Handler::Shard(ping),
    ),
    cmd(
        "echo",
        2,
        FAST,
        NO_KEYS,
        "connection",
        "1.0.0",
        "Returns the given string.",
        Handler::Shard(echo),
    ),
];

fn ping(_ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match argv.len() {
        1 => Reply::status("PONG"),
        2 => Reply::Bulk(argv[1].clone()),
        _ => crate::error::OpError::WrongArity("ping".into()).into(),
    }
}

fn echo(_ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    Reply::Bulk(argv[1].clone())
}
