//! String commands.

use bytes::Bytes;

use crate::command::{cmd, flags::*, CommandSpec, Handler, ONE_KEY};
use crate::reply::Reply;
use crate::shard::Ctx;
use crate::value::{StrValue, Value};

pub static COMMANDS: &[CommandSpec] = &[
    cmd("get", 2, READONLY | FAST, ONE_KEY, "string", "1.0.0",
        "Returns the string value of a key.", Handler::Shard(get)),
    cmd("set", -3, WRITE | DENYOOM, ONE_KEY, "string", "1.0.0",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        Handler::Shard(set)),
];

fn get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match ctx.get_str(&argv[1]) {
        Ok(Some(s)) => Reply::Bulk(s.to_bytes()),
        Ok(None) => Reply::Nil,
        Err(e) => e.into(),
    }
}

fn set(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    ctx.set_value(&argv[1], Value::Str(StrValue::from_bytes(&argv[2])), 0);
    Reply::ok()
}
