//! XREAD / XREADGROUP with BLOCK over streams on several shards.
//!
//! ```text
//!   XREAD … BLOCK … STREAMS a b $ $ ──► ask each shard for its streams' last ids ($ → id)
//!     ──► attempt (atomic multi-shard read) ──► nothing: poll each shard (read-only, cheap)
//!          every few ms and attempt again only when one of them has something past the ids
//! ```
//! Streams on one shard block as a waiter there instead (`shard::stream_wait`).

use bytes::Bytes;
use mayfly_engine::families::stream;

use super::on_all_shards;
use crate::shard::here;

/// XREAD's `$` ids replaced by each stream's last id now (0-0 for a missing key), asked of
/// the shards that own them; a later attempt then waits for entries past that point as Redis
/// does. Other argv comes back unchanged.
pub async fn resolve_last_ids(db: usize, argv: Vec<Bytes>) -> Vec<Bytes> {
    if !argv[0].eq_ignore_ascii_case(b"xread") || !argv.iter().any(|a| &a[..] == b"$") {
        return argv;
    }
    let Some((at, n)) = stream::read_streams(&argv) else { return argv };
    let shared_argv = argv.clone();
    let per_shard = on_all_shards(move |env| {
        let rt = here();
        let me = env.shard.id;
        let mut ctx = env.shard.ctx(db, false);
        // blocking_argv resolves every `$`; keep only the ids of this shard's keys.
        let resolved = stream::blocking_argv(&mut ctx, &shared_argv).unwrap_or_default();
        let mut out = Vec::new();
        for i in 0..n {
            let key = &shared_argv[at + i];
            if &shared_argv[at + n + i][..] == b"$" && rt.shared.shard_of(key) == me {
                // blocking_argv may insert COUNT 1000 before STREAMS: count from the end.
                let id_at = resolved.len() - n + i;
                if let Some(id) = resolved.get(id_at) {
                    out.push((at + n + i, id.clone()));
                }
            }
        }
        out
    })
    .await;
    let mut argv = argv;
    for (i, id) in per_shard.into_iter().flatten() {
        argv[i] = id;
    }
    argv
}

/// Whether some shard has, for the keys it owns, something a retry would answer (entries past
/// the ids, or for XREADGROUP a key or group gone). Read-only.
pub async fn any_ready(db: usize, argv: &[Bytes]) -> bool {
    let argv = argv.to_vec();
    on_all_shards(move |env| {
        let rt = here();
        let me = env.shard.id;
        let mut ctx = env.shard.ctx(db, false);
        stream::read_ready(&mut ctx, &argv, |k| rt.shared.shard_of(k) == me)
    })
    .await
    .into_iter()
    .any(|ready| ready)
}
