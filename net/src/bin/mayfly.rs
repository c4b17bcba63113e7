//! The `mayfly` server binary.

/// jemalloc, with one arena per shard so each shard's memory is known exactly (see
/// `mayfly_net::alloc`).
#[global_allocator]
static GLOBAL: mayfly_net::mem::alloc::ShardAlloc = mayfly_net::mem::alloc::ShardAlloc;

/// jemalloc's built-in options (read at its first allocation; `_RJEM_MALLOC_CONF` in the
/// environment still overrides them). Freed pages are returned to the kernel after 200 ms
/// instead of jemalloc's default 10 s: under maxmemory with eviction churn the default kept
/// 5–9 MiB of freed-but-resident pages, pushing RSS past maxmemory + 10%. Purging is batched
/// by jemalloc's decay, so the extra `madvise` calls are few (measured in BENCHMARKS.md).
/// The name is the prefixed symbol tikv-jemalloc-sys builds jemalloc to read.
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: Option<&'static std::ffi::CStr> =
    Some(c"dirty_decay_ms:200,muzzy_decay_ms:0");

fn main() {
    mayfly_net::mem::alloc::ShardAlloc::installed();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config, file) = match mayfly_net::server::args::parse_args(&args) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(if msg.starts_with("mayfly ") { 0 } else { 1 });
        }
    };
    if let Err(e) = mayfly_net::server::run(config, file) {
        eprintln!("mayfly: {e}");
        std::process::exit(1);
    }
}
