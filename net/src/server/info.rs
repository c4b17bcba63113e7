//! INFO: Redis's sections and field names, summed over shards, plus Mayfly's own lines.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use mayfly_engine::reply::Reply;

use crate::shard::env::Env;

use super::REDIS_VERSION;

/// A snapshot of one shard for INFO.
struct ShardInfo {
    stats: crate::shard::stats::ShardStats,
    engine: mayfly_engine::shard::Stats,
    keyspace: Vec<(usize, usize, u64)>,
    dirty: u64,
}

async fn gather_info() -> Vec<ShardInfo> {
    crate::coord::on_all_shards(|env: &mut Env| ShardInfo {
        stats: env.stats.clone(),
        engine: env.shard.stats.clone(),
        keyspace: env.shard.dbs.iter().map(|d| (d.len(), d.expires, d.avg_ttl_ms)).collect(),
        dirty: env.shard.dirty,
    })
    .await
}

/// Mayfly's own INFO memory lines: how maxmemory is split; what each shard allocated and has
/// not freed (exact, from jemalloc's per-thread counters and the credited cross-shard frees);
/// what each shard is charged against its budget (that, plus its arena's slab holes and
/// thread-cached blocks, plus an even share of memory no shard owns).
fn shard_memory_fields(book: &crate::mem::book::MemoryBook, maxmemory: u64) -> String {
    let figures: Vec<String> = if book.split() {
        (0..book.shards()).map(|i| book.shard_used(i).to_string()).collect()
    } else {
        vec![book.total_used().to_string()]
    };
    let live: Vec<String> = (0..book.shards()).map(|i| book.shard_live(i).to_string()).collect();
    format!(
        "maxmemory_split:{}\r\nshard_allocated_memory:{}\r\nshard_used_memory:{}\r\nshard_maxmemory:{}\r\nshard_memory_spilled:{}\r\n",
        if book.split() { "shards" } else { "process" },
        live.join(","),
        figures.join(","),
        book.budget(maxmemory),
        crate::mem::alloc::spilled_bytes(),
    )
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn human_bytes(n: u64) -> String {
    let f = n as f64;
    if n < 1024 {
        format!("{n}B")
    } else if f < 1024.0 * 1024.0 {
        format!("{:.2}K", f / 1024.0)
    } else if f < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", f / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", f / (1024.0 * 1024.0 * 1024.0))
    }
}

fn cpu_times() -> (f64, f64) {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

pub async fn info(argv: &[Bytes]) -> Reply {
    let requested: Vec<String> =
        argv[1..].iter().map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).collect();
    let all = requested.iter().any(|s| s == "all" || s == "everything");
    let default = requested.is_empty() || requested.iter().any(|s| s == "default");
    let wants = |name: &str, in_default: bool| {
        all || (default && in_default) || requested.iter().any(|s| s == name)
    };
    let g = super::get().clone();
    let shards = gather_info().await;
    let mut stats = crate::shard::stats::ShardStats::default();
    let mut engine = mayfly_engine::shard::Stats::default();
    let mut dirty = 0;
    let databases = shards.first().map(|s| s.keyspace.len()).unwrap_or(16);
    let mut keyspace = vec![(0usize, 0usize, 0u64); databases];
    for s in &shards {
        stats.merge(&s.stats);
        engine.expired_keys += s.engine.expired_keys;
        engine.evicted_keys += s.engine.evicted_keys;
        engine.keyspace_hits += s.engine.keyspace_hits;
        engine.keyspace_misses += s.engine.keyspace_misses;
        dirty += s.dirty;
        for (i, (k, e, t)) in s.keyspace.iter().enumerate() {
            if let Some(slot) = keyspace.get_mut(i) {
                slot.0 += k;
                slot.1 += e;
                slot.2 = slot.2.max(*t);
            }
        }
    }
    let now = mayfly_engine::clock::unix_time_ms();
    let uptime = now.saturating_sub(g.start_ms) / 1000;
    let config = g.shared.read_config(|c| c.clone());
    let mut out = String::new();
    let mut section = |name: &str, body: String| {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        out.push_str(&format!("# {name}\r\n{body}"));
    };
    if wants("server", true) {
        let mut shards_line = String::new();
        for (i, (cpu, node)) in g.placement.iter().enumerate() {
            shards_line.push_str(&format!(
                "shard{i}:cpu={},node={node}\r\n",
                cpu.map(|c| c.to_string()).unwrap_or_else(|| "unpinned".into())
            ));
        }
        section(
            "Server",
            format!(
                "redis_version:{REDIS_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:Linux\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:io_uring\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\nmayfly_version:{}\r\nmayfly_shards:{}\r\nmayfly_io:{}\r\n{shards_line}",
                std::process::id(),
                g.run_id,
                g.port,
                mayfly_engine::clock::unix_time_us(),
                uptime / 86400,
                config.hz,
                config.hz,
                (now / 1000) & ((1 << 24) - 1),
                g.executable,
                g.config_file,
                env!("CARGO_PKG_VERSION"),
                g.shared.nshards,
                g.io_path.lock().map(|s| s.clone()).unwrap_or_default(),
            ),
        );
    }
    if wants("clients", true) {
        section(
            "Clients",
            format!(
                "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\n",
                g.clients.connected.load(Ordering::Relaxed),
                config.maxclients,
                g.shared.blocked_clients.load(Ordering::Relaxed)
            ),
        );
    }
    if wants("memory", true) {
        let a = crate::mem::book::allocator_stats();
        let used = a.allocated;
        let rss = rss_bytes();
        let peak = crate::mem::book::peak_bytes(used);
        let ratio = |x: u64, y: u64| if y > 0 { x as f64 / y as f64 } else { 0.0 };
        let scripts = crate::script::info_memory_fields().await;
        section(
            "Memory",
            format!(
                "used_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_dataset:{used}\r\nallocator_allocated:{used}\r\nallocator_active:{}\r\nallocator_resident:{}\r\nallocator_metadata:{}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nallocator_frag_ratio:{:.2}\r\nallocator_frag_bytes:{}\r\nallocator_rss_ratio:{:.2}\r\nallocator_rss_bytes:{}\r\nrss_overhead_ratio:{:.2}\r\nrss_overhead_bytes:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_allocator:jemalloc-5.3.0\r\nlazyfree_pending_objects:0\r\n{}",
                human_bytes(used),
                human_bytes(rss),
                human_bytes(peak),
                a.active,
                a.resident,
                a.metadata,
                config.maxmemory,
                human_bytes(config.maxmemory),
                config.maxmemory_policy.name(),
                ratio(a.active, used),
                a.active as i64 - used as i64,
                ratio(a.resident, a.active),
                a.resident as i64 - a.active as i64,
                ratio(rss, a.resident),
                rss as i64 - a.resident as i64,
                ratio(rss, used),
                rss as i64 - used as i64,
                scripts + &shard_memory_fields(&g.shared.memory, config.maxmemory),
            ),
        );
    }
    if wants("persistence", true) {
        section("Persistence", super::persist::info_section(dirty, &super::aof::info_fields()));
    }
    if wants("stats", true) {
        section(
            "Stats",
            format!(
                "total_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:0\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nexpired_stale_perc:0.00\r\nexpired_time_cap_reached_count:0\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:0\r\npubsub_patterns:0\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:{}\r\ntotal_active_defrag_time:0\r\ntracking_total_keys:0\r\nunexpected_error_replies:0\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:0\r\ntotal_reads_processed:0\r\ntotal_writes_processed:0\r\n",
                stats.connections_received,
                stats.total_commands,
                stats.net_input_bytes,
                stats.net_output_bytes,
                stats.rejected_connections,
                engine.expired_keys,
                engine.evicted_keys,
                engine.keyspace_hits,
                engine.keyspace_misses,
                super::migrate::cached_sockets(),
                stats.error_replies,
            ),
        );
    }
    if wants("replication", true) {
        section(
            "Replication",
            format!(
                "role:master\r\nconnected_slaves:0\r\nmaster_replid:{}\r\nmaster_repl_offset:0\r\n",
                g.run_id
            ),
        );
    }
    if wants("cpu", true) {
        let (sys, user) = cpu_times();
        section("CPU", format!("used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n"));
    }
    if wants("modules", true) {
        section("Modules", String::new());
    }
    if wants("commandstats", false) {
        let mut names: Vec<_> = stats.commands.iter().collect();
        names.sort_by_key(|(n, _)| **n);
        let body: String = names
            .into_iter()
            .map(|(n, s)| {
                format!(
                    "cmdstat_{n}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
                    s.calls,
                    s.usec,
                    if s.calls > 0 { s.usec as f64 / s.calls as f64 } else { 0.0 },
                    s.rejected_calls,
                    s.failed_calls
                )
            })
            .collect();
        section("Commandstats", body);
    }
    if wants("errorstats", true) {
        let mut codes: Vec<_> = stats.errors_by_code.iter().collect();
        codes.sort();
        section(
            "Errorstats",
            codes.into_iter().map(|(c, n)| format!("errorstat_{c}:count={n}\r\n")).collect(),
        );
    }
    if wants("latencystats", false) {
        let percentiles = &config.latency_tracking_info_percentiles;
        section("Latencystats", super::latency::info_section(&stats, percentiles));
    }
    if wants("cluster", true) {
        section("Cluster", "cluster_enabled:0\r\n".into());
    }
    if wants("keyspace", true) {
        let body: String = keyspace
            .iter()
            .enumerate()
            .filter(|(_, (k, _, _))| *k > 0)
            .map(|(i, (k, e, t))| format!("db{i}:keys={k},expires={e},avg_ttl={t}\r\n"))
            .collect();
        section("Keyspace", body);
    }
    Reply::Verbatim("txt", Bytes::from(out))
}
