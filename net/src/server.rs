//! Server start-up: configuration, the listening socket, the placement plan, shard threads.

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use mayfly_engine::config::Config;
use mayfly_engine::slot::SLOT_COUNT;

use crate::client::ClientInfo;
use crate::rt::{mesh, shard_loop, Msg};

/// State shared by all shards. Nothing here is on the per-request hot path except the slot
/// table (read-only after start) and a few atomics.
pub struct Global {
    pub config: RwLock<Config>,
    /// Slot → shard.
    pub slots: Vec<u16>,
    pub nshards: usize,
    pub started: AtomicUsize,
    pub shutdown: AtomicBool,
    pub clients: Mutex<HashMap<u64, Arc<ClientInfo>>>,
    pub next_client_id: AtomicU64,
    pub next_txid: AtomicU64,
    pub connected: AtomicUsize,
    /// What each shard holds, compared with maxmemory (see `memory::MemoryBook`).
    pub memory: Arc<crate::memory::MemoryBook>,
    pub blocked_clients: AtomicUsize,
    pub start_ms: u64,
    pub run_id: String,
    pub port: u16,
    /// (cpu, node) of each shard, for INFO.
    pub placement: Vec<(Option<usize>, usize)>,
    pub io_path: Mutex<String>,
    pub executable: String,
    pub config_file: String,
}

impl Global {
    pub fn hz(&self) -> u64 {
        self.config.read().map(|c| c.hz).unwrap_or(10)
    }

    pub fn shard_of(&self, key: &[u8]) -> usize {
        if self.nshards == 1 {
            return 0;
        }
        self.slots[mayfly_engine::slot::key_slot(key) as usize] as usize
    }

    pub fn next_txid(&self) -> u64 {
        self.next_txid.fetch_add(1, Ordering::Relaxed)
    }
}

fn random_run_id() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40).map(|_| format!("{:x}", rng.gen_range(0..16))).collect()
}

/// Opens the listening socket (SO_REUSEADDR, non-blocking off; io_uring drives it).
fn listen(bind: &str, port: u16) -> std::io::Result<RawFd> {
    use std::net::{SocketAddr, TcpListener};
    use std::os::fd::IntoRawFd;
    let host = bind.split_whitespace().next().unwrap_or("127.0.0.1");
    let addr: SocketAddr = format!("{host}:{port}")
        .parse()
        .or_else(|_| format!("[{host}]:{port}").parse())
        .map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bad bind address {host}: {e}"),
            )
        })?;
    let l = TcpListener::bind(addr)?;
    Ok(l.into_raw_fd())
}

/// Starts the server and blocks until shutdown.
pub fn run(config: Config, config_file: String) -> std::io::Result<()> {
    let topo = mayfly_tuning::topology::Topology::read_host().ok();
    let plan = topo.as_ref().map(|t| {
        mayfly_tuning::placement::plan(
            t,
            &mayfly_tuning::placement::PlanOptions {
                shards: if config.shards > 0 { Some(config.shards) } else { None },
                use_smt: config.use_smt,
                allowed_cpus: None,
            },
        )
    });
    let nshards = if config.shards > 0 {
        config.shards
    } else {
        plan.as_ref()
            .map(|p| p.shards.len())
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
    }
    .clamp(1, 1024);
    let node_count = topo.as_ref().map(|t| t.nodes.len().max(1)).unwrap_or(1);
    let placement: Vec<(Option<usize>, usize)> = (0..nshards)
        .map(|i| {
            plan.as_ref()
                .and_then(|p| p.shards.get(i))
                .map(|s| (Some(s.cpu), s.node))
                .unwrap_or((None, 0))
        })
        .collect();

    let listener = listen(&config.bind, config.port)?;
    // One arena and address range per shard, so each shard's memory is known exactly and
    // maxmemory can be split between them (falls back to one process-wide figure).
    let split_memory = crate::alloc::init(nshards);
    let slots = (0..SLOT_COUNT).map(|s| (s * nshards / SLOT_COUNT) as u16).collect();
    let global = Arc::new(Global {
        port: config.port,
        config: RwLock::new(config),
        slots,
        nshards,
        started: AtomicUsize::new(0),
        shutdown: AtomicBool::new(false),
        clients: Mutex::new(HashMap::new()),
        next_client_id: AtomicU64::new(1),
        next_txid: AtomicU64::new(1),
        connected: AtomicUsize::new(0),
        memory: Arc::new(crate::memory::MemoryBook::new(nshards, split_memory)),
        blocked_clients: AtomicUsize::new(0),
        start_ms: mayfly_engine::clock::unix_time_ms(),
        run_id: random_run_id(),
        placement: placement.clone(),
        io_path: Mutex::new(String::new()),
        executable: std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
        config_file,
    });

    let parkers =
        Arc::new((0..nshards).map(|_| mesh::Parker::new()).collect::<Result<Vec<_>, _>>()?);
    let endpoints = mesh::build::<Msg>(nshards, 8192, parkers);
    let mut handles = Vec::new();
    for (i, ep) in endpoints.into_iter().enumerate() {
        let g = global.clone();
        let spec =
            shard_loop::ShardSpec { id: i, cpu: placement[i].0, node: placement[i].1, node_count };
        let l = if i == 0 { Some(listener) } else { None };
        handles.push(
            std::thread::Builder::new()
                .name(format!("shard-{i}"))
                .spawn(move || shard_loop::run(spec, ep, g, l))?,
        );
    }
    let port = global.port;
    println!("mayfly ready: {nshards} shard(s), listening on port {port}");
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}
