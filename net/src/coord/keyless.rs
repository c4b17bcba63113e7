//! Keyless commands that walk every shard: SCAN's cursor and RANDOMKEY.

use bytes::Bytes;
use mayfly_engine::command::CommandSpec;
use mayfly_engine::reply::Reply;

use crate::shard::env::Job;
use crate::shard::{call, here};

/// SCAN and RANDOMKEY over all shards. A global SCAN cursor packs the shard index in its low
/// 12 bits and the shard-local table position above them.
pub async fn keyless_special(
    db: usize,
    resp3: bool,
    spec: &'static CommandSpec,
    mut argv: Vec<Bytes>,
    held: u64,
) -> Reply {
    let rt = here();
    let n = rt.nshards;
    match spec.name {
        "scan" => {
            let Some(cursor) =
                std::str::from_utf8(&argv[1]).ok().and_then(|s| s.parse::<u64>().ok())
            else {
                return Reply::error("ERR invalid cursor");
            };
            let shard = (cursor & 0xfff) as usize;
            let pos = cursor >> 12;
            if shard >= n {
                return Reply::Array(vec![Reply::bulk_str("0"), Reply::Array(vec![])]);
            }
            argv[1] = Bytes::from(pos.to_string());
            let reply = call(shard, Job::Exec { spec: None, db, argv, resp3, txid: held })
                .await
                .into_reply();
            let Reply::Array(mut parts) = reply else { return reply };
            if parts.len() != 2 {
                return Reply::Array(parts);
            }
            let next_pos = match &parts[0] {
                Reply::Bulk(b) => {
                    std::str::from_utf8(b).ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
                }
                _ => 0,
            };
            let next = if next_pos != 0 {
                (next_pos << 12) | shard as u64
            } else if shard + 1 < n {
                (shard + 1) as u64
            } else {
                0
            };
            parts[0] = Reply::bulk(next.to_string());
            Reply::Array(parts)
        }
        "randomkey" => {
            use rand::Rng;
            let start = rand::thread_rng().gen_range(0..n);
            for i in 0..n {
                let s = (start + i) % n;
                let r =
                    call(s, Job::Exec { spec: None, db, argv: argv.clone(), resp3, txid: held })
                        .await
                        .into_reply();
                if !matches!(r, Reply::Nil) {
                    return r;
                }
            }
            Reply::Nil
        }
        _ => call(rt.id, Job::Exec { spec: None, db, argv, resp3, txid: held }).await.into_reply(),
    }
}
