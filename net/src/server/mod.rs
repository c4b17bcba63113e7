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

pub mod access;
pub mod aof;
pub mod aof_load;
pub mod args;
pub mod client;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod debug;
pub mod debug_data;
pub mod dispatch;
pub mod dump;
pub mod info;
pub mod latency;
pub mod migrate;
pub mod monitor;
pub mod observe;
pub mod pause;
pub mod persist;
pub mod pubsub;
pub mod shutdown;
pub mod slowlog;
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
    /// The listening sockets (closed by the shutdown).
    pub listeners: Vec<RawFd>,
    /// The pidfile written at start ("" = none), removed by the shutdown.
    pub pidfile: String,
    /// Written by the signal thread to start a shutdown on shard 0 (an eventfd).
    pub shutdown_eventfd: RawFd,
}

static SERVER: OnceLock<Arc<Server>> = OnceLock::new();

/// The running server.
pub fn get() -> &'static Arc<Server> {
    SERVER.get().expect("server::get() before the server started")
}

/// The running server, or None before start-up finished.
pub fn try_get() -> Option<&'static Arc<Server>> {
    SERVER.get()
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

/// The addresses of `bind` (Redis syntax: space-separated, a leading `-` marks an address
/// that may be unavailable), each with whether it is optional.
fn bind_addresses(bind: &str, port: u16) -> std::io::Result<Vec<(std::net::SocketAddr, bool)>> {
    let mut out = Vec::new();
    for word in bind.split_whitespace() {
        let (host, optional) = match word.strip_prefix('-') {
            Some(h) => (h, true),
            None => (word, false),
        };
        let host = if host == "*" { "0.0.0.0" } else { host };
        let addr: std::net::SocketAddr = format!("{host}:{port}")
            .parse()
            .or_else(|_| format!("[{host}]:{port}").parse())
            .map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("bad bind address {host}: {e}"),
                )
            })?;
        out.push((addr, optional));
    }
    if out.is_empty() {
        out.push((std::net::SocketAddr::from(([127, 0, 0, 1], port)), false));
    }
    Ok(out)
}

fn setsockopt_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> i32 {
    // SAFETY: setsockopt on a socket we own with a valid int option.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    }
}

/// Opens one listening socket with SO_REUSEADDR and `backlog` (std's TcpListener fixes the
/// backlog at 128). IPv6 sockets are IPv6-only, as Redis's, so `bind 0.0.0.0 ::` works.
fn listen_on(addr: std::net::SocketAddr, backlog: u64) -> std::io::Result<RawFd> {
    let (family, storage, len) = match addr {
        std::net::SocketAddr::V4(a) => {
            // SAFETY: an all-zero sockaddr_in is valid; we fill the fields we need.
            let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr { s_addr: u32::from(*a.ip()).to_be() };
            // SAFETY: sockaddr_storage is larger than sockaddr_in; zeroed is valid.
            let mut st: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            // SAFETY: copying a sockaddr_in into the front of a larger, aligned storage.
            unsafe { std::ptr::write(&mut st as *mut _ as *mut libc::sockaddr_in, sin) };
            (libc::AF_INET, st, std::mem::size_of::<libc::sockaddr_in>())
        }
        std::net::SocketAddr::V6(a) => {
            // SAFETY: an all-zero sockaddr_in6 is valid; we fill the fields we need.
            let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr = libc::in6_addr { s6_addr: a.ip().octets() };
            sin6.sin6_scope_id = a.scope_id();
            // SAFETY: as above, for sockaddr_in6.
            let mut st: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            // SAFETY: copying a sockaddr_in6 into the front of a larger, aligned storage.
            unsafe { std::ptr::write(&mut st as *mut _ as *mut libc::sockaddr_in6, sin6) };
            (libc::AF_INET6, st, std::mem::size_of::<libc::sockaddr_in6>())
        }
    };
    // SAFETY: plain socket creation; the fd is ours until returned or closed below.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fail = |fd: RawFd| {
        let e = std::io::Error::last_os_error();
        // SAFETY: closing the socket created above, not yet handed out.
        unsafe { libc::close(fd) };
        e
    };
    if setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1) != 0 {
        return Err(fail(fd));
    }
    if family == libc::AF_INET6 && setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1) != 0
    {
        return Err(fail(fd));
    }
    // SAFETY: `storage` holds a sockaddr of `len` bytes for this family.
    let rc = unsafe {
        libc::bind(fd, &storage as *const _ as *const libc::sockaddr, len as libc::socklen_t)
    };
    if rc != 0 {
        return Err(fail(fd));
    }
    let backlog = backlog.min(i32::MAX as u64) as libc::c_int;
    // SAFETY: listen on the bound socket.
    if unsafe { libc::listen(fd, backlog) } != 0 {
        return Err(fail(fd));
    }
    Ok(fd)
}

/// Opens every `bind` address. An optional (`-`) address that cannot be bound is skipped.
fn listen(bind: &str, port: u16, backlog: u64) -> std::io::Result<Vec<RawFd>> {
    let mut fds = Vec::new();
    for (addr, optional) in bind_addresses(bind, port)? {
        match listen_on(addr, backlog) {
            Ok(fd) => fds.push(fd),
            Err(e) if optional => {
                crate::log::notice(&format!("Skipping optional bind address {addr}: {e}"))
            }
            Err(e) => {
                for fd in fds {
                    // SAFETY: closing listeners opened above.
                    unsafe { libc::close(fd) };
                }
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("Could not create server TCP listening socket {addr}: {e}"),
                ));
            }
        }
    }
    warn_if_backlog_capped(backlog);
    Ok(fds)
}

/// Redis's start-up warning when the kernel caps the listen backlog below `tcp-backlog`.
fn warn_if_backlog_capped(backlog: u64) {
    let Ok(text) = std::fs::read_to_string("/proc/sys/net/core/somaxconn") else { return };
    let Ok(somaxconn) = text.trim().parse::<u64>() else { return };
    if somaxconn < backlog {
        crate::log::warning(&format!(
            "WARNING: The TCP backlog setting of {backlog} cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of {somaxconn}."
        ));
    }
}

/// Process-level settings applied before serving: the log, the working directory (`dir`,
/// as Redis's chdir), the pidfile. Err ends the start-up (like Redis's fatal config errors).
fn apply_process_settings(config: &mut Config) -> std::io::Result<()> {
    crate::log::set_level(crate::log::Level::parse(&config.loglevel));
    if let Err(e) = std::env::set_current_dir(&config.dir) {
        return Err(std::io::Error::new(e.kind(), format!("Can't chdir to '{}': {e}", config.dir)));
    }
    if let Ok(cwd) = std::env::current_dir() {
        config.dir = cwd.display().to_string();
    }
    crate::log::set_file(&config.logfile)
        .map_err(|e| std::io::Error::new(e.kind(), format!("Can't open the log file: {e}")))?;
    crate::log::warning(&format!(
        "Mayfly {} (Redis {REDIS_VERSION} compatible) is starting, pid={}",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    ));
    for line in config.inert() {
        crate::log::notice(&line);
    }
    if config.always_show_logo {
        // Redis's logo carries `Port:` and `PID:`; tools (the Redis test suite among them)
        // wait for ` PID: <pid>` followed by "Server initialized".
        crate::log::notice(&format!(
            "Mayfly {} 64 bit, standalone mode, Port: {}, PID: {}",
            env!("CARGO_PKG_VERSION"),
            config.port,
            std::process::id()
        ));
    }
    if !config.pidfile.is_empty() {
        if let Err(e) = std::fs::write(&config.pidfile, format!("{}\n", std::process::id())) {
            crate::log::warning(&format!("Failed to write PID file: {e}"));
        }
    }
    Ok(())
}

/// Starts the server and blocks until shutdown.
pub fn run(mut config: Config, config_file: String) -> std::io::Result<()> {
    // Before any thread starts, so every thread inherits the mask and only the signal thread
    // ever sees SIGTERM/SIGINT.
    let signals = shutdown::block_signals()?;
    dump::install();
    apply_process_settings(&mut config)?;
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

    let listeners = match listen(&config.bind, config.port, config.tcp_backlog) {
        Ok(l) => l,
        Err(e) => {
            crate::log::warning(&format!("Warning: {e}"));
            crate::log::warning(&format!(
                "Failed listening on port {} (tcp), aborting.",
                config.port
            ));
            return Err(e);
        }
    };
    let face_listeners = match cluster::listen_face(&config, nshards, |port| {
        listen(&config.bind, port, config.tcp_backlog)
    }) {
        Ok(l) => l,
        Err(e) => {
            crate::log::warning(&format!("Warning: {e}"));
            for fd in &listeners {
                // SAFETY: closing the listeners opened above before giving up.
                unsafe { libc::close(*fd) };
            }
            return Err(e);
        }
    };
    crate::log::notice("Server initialized");
    let pidfile = config.pidfile.clone();
    // SAFETY: a plain eventfd; the signal thread writes it, shard 0 reads it.
    let shutdown_eventfd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if shutdown_eventfd < 0 {
        return Err(std::io::Error::last_os_error());
    }
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
        listeners: listeners
            .iter()
            .chain(face_listeners.iter().map(|(_, fd)| fd))
            .copied()
            .collect(),
        pidfile,
        shutdown_eventfd,
    });
    if SERVER.set(server).is_err() {
        return Err(std::io::Error::other("the server is already running in this process"));
    }
    let loaded = if shared.read_config(|c| c.appendonly) {
        aof::load_at_start(&shared)
    } else {
        persist::load_at_start(&shared)
    };
    if !loaded {
        std::process::exit(1);
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
            let listeners = listeners.clone();
            let face_listeners = face_listeners.clone();
            Some(Box::new(move || {
                exec::spawn(async move {
                    // With appendonly yes: the AOF is replayed and its directory in place
                    // before the first client is accepted.
                    aof_load::start().await;
                    for fd in listeners {
                        exec::spawn(crate::conn::accept_loop(fd, get().clients.clone(), None));
                    }
                    // A cluster-face connection lives on the shard whose port it came through.
                    for (shard, fd) in face_listeners {
                        exec::spawn(crate::conn::accept_loop(
                            fd,
                            get().clients.clone(),
                            Some(shard),
                        ));
                    }
                });
                exec::spawn(shutdown::signal_task(shutdown_eventfd));
                exec::spawn(persist::cron());
                exec::spawn(aof::cron());
            }))
        } else {
            None
        };
        let hooks = Hooks { new_conn: spawn_conn, start, init: Some(persist::load_on_shard) };
        handles.push(
            std::thread::Builder::new()
                .name(format!("shard-{i}"))
                .spawn(move || shard_loop::run(spec, ep, g, hooks))?,
        );
    }
    shutdown::spawn_signal_thread(signals)?;
    persist::wait_loaded();
    aof::wait_ready();
    crate::log::notice(&format!("mayfly ready: {nshards} shard(s), listening on port {port}"));
    crate::log::notice("Ready to accept connections");
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}
