//! The server: start-up (configuration, the listening socket, the placement plan, shard
//! threads) and the commands that act on the server or the connection rather than on keys,
//! one file per family: [`connection`] (HELLO, AUTH, SELECT, QUIT, RESET), [`client`]
//! (CLIENT), [`info`], [`config`], [`debug`], [`pubsub`], [`transactions`] (MULTI, EXEC,
//! WATCH). [`dispatch`] is the entry point of every parsed request.
//!
//! ```text
//!   conn (serve loop) ──Service::dispatch──► server::dispatch ─┬─ server-level: a family here
//!                                                               └─ keys: coord::route / block
//! ```
//! The top layer: it may use every layer below (`conn`, `coord`, `shard`, `rt`, `mem`);
//! nothing below uses it.

pub mod args;
pub mod client;
pub mod config;
pub mod connection;
pub mod debug;
pub mod dispatch;
pub mod info;
pub mod pubsub;
pub mod transactions;

use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, OnceLock};

use mayfly_engine::config::Config;
use mayfly_engine::reply::Reply;

use crate::conn::client::Clients;
use crate::rt::exec;
use crate::rt::mesh;
use crate::shard::run::{self as shard_loop, Hooks};
use crate::shard::{Msg, Shared};

/// The Redis version Mayfly answers as (clients and the test suite check it).
pub const REDIS_VERSION: &str = "7.0.15";

/// The process: what the shards share, the connected clients, and what INFO reports about
/// the process itself. One per process, set once at start-up ([`get`]).
pub struct Server {
    pub shared: Arc<Shared>,
    pub clients: Arc<Clients>,
    pub start_ms: u64,
    pub run_id: String,
    pub port: u16,
    /// (cpu, node) of each shard, for INFO.
    pub placement: Vec<(Option<usize>, usize)>,
    pub io_path: Mutex<String>,
    pub executable: String,
    pub config_file: String,
}

static SERVER: OnceLock<Arc<Server>> = OnceLock::new();

/// The running server.
pub fn get() -> &'static Arc<Server> {
    SERVER.get().expect("server::get() before the server started")
}

pub(crate) fn lower(b: &[u8]) -> Vec<u8> {
    b.to_ascii_lowercase()
}

pub(crate) fn subcommand_error(sub: &[u8], parent: &str) -> Reply {
    mayfly_engine::families::server::subcommand_error(sub, parent)
}

/// Starts serving a connection on the calling shard.
fn spawn_conn(fd: RawFd) {
    exec::spawn(crate::conn::serve(fd, get().clients.clone(), &dispatch::RedisService));
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
    let split_memory = crate::mem::alloc::init(nshards);
    let port = config.port;
    let memory = Arc::new(crate::mem::book::MemoryBook::new(nshards, split_memory));
    let shared = Arc::new(Shared::new(config, nshards, memory));
    let server = Arc::new(Server {
        shared: shared.clone(),
        clients: Arc::new(Clients::default()),
        start_ms: mayfly_engine::clock::unix_time_ms(),
        run_id: random_run_id(),
        port,
        placement: placement.clone(),
        io_path: Mutex::new(String::new()),
        executable: std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
        config_file,
    });
    if SERVER.set(server).is_err() {
        return Err(std::io::Error::other("the server is already running in this process"));
    }

    let parkers =
        Arc::new((0..nshards).map(|_| mesh::Parker::new()).collect::<Result<Vec<_>, _>>()?);
    let endpoints = mesh::build::<Msg>(nshards, 8192, parkers);
    let mut handles = Vec::new();
    for (i, ep) in endpoints.into_iter().enumerate() {
        let g = shared.clone();
        let spec =
            shard_loop::ShardSpec { id: i, cpu: placement[i].0, node: placement[i].1, node_count };
        let start: Option<Box<dyn FnOnce() + Send>> = if i == 0 {
            Some(Box::new(move || {
                exec::spawn(crate::conn::accept_loop(listener, get().clients.clone()))
            }))
        } else {
            None
        };
        let hooks = Hooks { new_conn: spawn_conn, start };
        handles.push(
            std::thread::Builder::new()
                .name(format!("shard-{i}"))
                .spawn(move || shard_loop::run(spec, ep, g, hooks))?,
        );
    }
    println!("mayfly ready: {nshards} shard(s), listening on port {port}");
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}
