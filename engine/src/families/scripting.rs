//! Scripting commands (EVAL & co., SCRIPT): declared here so COMMAND, arity checks and ACL
//! categories see them; implemented by the net crate (`net/src/script`).

use bytes::Bytes;

use crate::command::{cmd, flags::*, CommandSpec, Handler, SubcommandSpec, NO_KEYS};

/// EVAL-style key positions: `numkeys` at argv[2], the keys right after it.
pub fn eval_keys(argv: &[Bytes]) -> Vec<usize> {
    let n = argv
        .get(2)
        .and_then(|a| std::str::from_utf8(a).ok())
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0);
    (3..3usize.saturating_add(n)).take_while(|&i| i < argv.len()).collect()
}

const SCRIPT_SUBS: &[SubcommandSpec] = &[
    SubcommandSpec {
        name: "exists",
        arity: -3,
        flags: NOSCRIPT,
        summary: "Determines whether server-side Lua scripts exist in the script cache.",
    },
    SubcommandSpec {
        name: "flush",
        arity: -2,
        flags: NOSCRIPT,
        summary: "Removes all server-side Lua scripts from the script cache.",
    },
    SubcommandSpec {
        name: "help",
        arity: 2,
        flags: LOADING | STALE,
        summary: "Returns helpful text about the different subcommands.",
    },
    SubcommandSpec {
        name: "kill",
        arity: 2,
        flags: NOSCRIPT | ALLOW_BUSY,
        summary: "Terminates a server-side Lua script during execution.",
    },
    SubcommandSpec {
        name: "load",
        arity: 3,
        flags: NOSCRIPT | STALE,
        summary: "Loads a server-side Lua script to the script cache.",
    },
];

const FUNCTION_SUBS: &[SubcommandSpec] = &[
    SubcommandSpec {
        name: "delete",
        arity: 3,
        flags: NOSCRIPT | WRITE,
        summary: "Deletes a library and its functions.",
    },
    SubcommandSpec {
        name: "dump",
        arity: 2,
        flags: NOSCRIPT,
        summary: "Dumps all libraries into a serialized binary payload.",
    },
    SubcommandSpec {
        name: "flush",
        arity: -2,
        flags: NOSCRIPT | WRITE,
        summary: "Deletes all libraries and functions.",
    },
    SubcommandSpec {
        name: "help",
        arity: 2,
        flags: LOADING | STALE,
        summary: "Returns helpful text about the different subcommands.",
    },
    SubcommandSpec {
        name: "kill",
        arity: 2,
        flags: NOSCRIPT | ALLOW_BUSY,
        summary: "Terminates a function during execution.",
    },
    SubcommandSpec {
        name: "list",
        arity: -2,
        flags: NOSCRIPT,
        summary: "Returns information about all libraries.",
    },
    SubcommandSpec {
        name: "load",
        arity: -3,
        flags: NOSCRIPT | WRITE | DENYOOM,
        summary: "Creates a library.",
    },
    SubcommandSpec {
        name: "restore",
        arity: -3,
        flags: NOSCRIPT | WRITE | DENYOOM,
        summary: "Restores all libraries from a payload.",
    },
    SubcommandSpec {
        name: "stats",
        arity: 2,
        flags: NOSCRIPT | ALLOW_BUSY,
        summary: "Returns information about a function during execution.",
    },
];

/// `allow_busy` has no bit of its own in the table yet: the kill subcommands are recognised
/// by name by the net layer.
const ALLOW_BUSY: u32 = 0;

pub static COMMANDS: &[CommandSpec] = &[
    cmd(
        "eval",
        -3,
        NOSCRIPT | SKIP_MONITOR | STALE,
        NO_KEYS,
        "scripting",
        "2.6.0",
        "Executes a server-side Lua script.",
        Handler::Net,
    )
    .movable_keys(eval_keys),
    cmd(
        "evalsha",
        -3,
        NOSCRIPT | SKIP_MONITOR | STALE,
        NO_KEYS,
        "scripting",
        "2.6.0",
        "Executes a server-side Lua script by SHA1 digest.",
        Handler::Net,
    )
    .movable_keys(eval_keys),
    cmd(
        "eval_ro",
        -3,
        NOSCRIPT | SKIP_MONITOR | STALE | READONLY,
        NO_KEYS,
        "scripting",
        "7.0.0",
        "Executes a read-only server-side Lua script.",
        Handler::Net,
    )
    .movable_keys(eval_keys),
    cmd(
        "evalsha_ro",
        -3,
        NOSCRIPT | SKIP_MONITOR | STALE | READONLY,
        NO_KEYS,
        "scripting",
        "7.0.0",
        "Executes a read-only server-side Lua script by SHA1 digest.",
        Handler::Net,
    )
    .movable_keys(eval_keys),
    cmd(
        "script",
        -2,
        0,
        NO_KEYS,
        "scripting",
        "2.6.0",
        "A container for Lua scripts management commands.",
        Handler::Net,
    )
    .subcommands(SCRIPT_SUBS),
    cmd(
        "fcall",
        -3,
        NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | STALE,
        NO_KEYS,
        "scripting",
        "7.0.0",
        "Invokes a function.",
        Handler::Net,
    )
    .movable_keys(eval_keys),
    cmd(
        "fcall_ro",
        -3,
        NOSCRIPT | SKIP_MONITOR | STALE | READONLY,
        NO_KEYS,
        "scripting",
        "7.0.0",
        "Invokes a read-only function.",
        Handler::Net,
    )
    .movable_keys(eval_keys),
    cmd(
        "function",
        -2,
        0,
        NO_KEYS,
        "scripting",
        "7.0.0",
        "A container for function commands.",
        Handler::Net,
    )
    .subcommands(FUNCTION_SUBS),
];
