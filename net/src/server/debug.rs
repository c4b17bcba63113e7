//! DEBUG and its subcommands.

use bytes::Bytes;
use mayfly_engine::reply::Reply;

use super::{lower, subcommand_error};

pub async fn debug(argv: &[Bytes]) -> Reply {
    let sub = lower(&argv[1]);
    match sub.as_slice() {
        b"sleep" if argv.len() == 3 => {
            let secs: f64 =
                std::str::from_utf8(&argv[2]).ok().and_then(|s| s.parse().ok()).unwrap_or(0.0);
            crate::rt::sleep_ms((secs.max(0.0) * 1000.0) as u64).await;
            Reply::ok()
        }
        b"set-active-expire" if argv.len() == 3 => {
            let on = argv[2].as_ref() != b"0";
            super::config::update_config(move |c| c.active_expire_enabled = on).await;
            Reply::ok()
        }
        b"log" => Reply::ok(),
        b"help" => Reply::Array(
            [
                "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "LOG <message>",
                "SET-ACTIVE-EXPIRE <0|1>",
                "SLEEP <seconds>",
            ]
            .iter()
            .map(|l| Reply::status(*l))
            .collect(),
        ),
        _ => subcommand_error(&argv[1], "DEBUG"),
    }
}
