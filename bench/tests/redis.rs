//! End to end against a real redis-server (skipped with a note when
//! `redis-server` is not on PATH).

mod common;

use common::server;
use mayfly_bench::client::{call, BenchError, Protocol};
use mayfly_bench::keys::KeyDistribution;
use mayfly_bench::runner::{run, RunConfig, Stop};
use mayfly_bench::workload::{DataSize, Template, Workload};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Redis {
    child: Child,
    port: u16,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis() -> Option<Redis> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join("redis-server").is_file()))
        .unwrap_or(false);
    if !on_path {
        println!("note: redis-server is not on PATH; skipping the real-server test");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redis-server");
    let redis = Redis { child, port };
    // Wait for the process to listen (bounded).
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(redis)
}

fn workload(templates: &[(&str, u32)], distribution: KeyDistribution) -> Arc<Workload> {
    let templates =
        templates.iter().map(|(t, w)| Template::parse(t, *w).expect("template")).collect();
    Arc::new(
        Workload::new(templates, 1000, "key:", distribution, DataSize { min: 4, max: 64 }, 7)
            .expect("workload"),
    )
}

fn config(port: u16, workload: Arc<Workload>, stop: Stop) -> RunConfig {
    RunConfig {
        server: server(port),
        connections: 4,
        pipeline: 8,
        threads: 2,
        rate: None,
        stop,
        warmup: Duration::ZERO,
        workload,
        interval: Duration::from_millis(250),
        drain_timeout: Duration::from_secs(5),
        reply_timeout: Duration::from_secs(5),
        pin_threads: false,
    }
}

#[test]
fn real_redis_end_to_end() {
    let Some(redis) = start_redis() else { return };

    // Closed loop, SET/GET, RESP2.
    let w =
        workload(&[("SET __key__ __data__", 1), ("GET __key__", 3)], KeyDistribution::Zipf(0.99));
    let result = run(&config(redis.port, w, Stop::Requests(20_000)), |_| {}).expect("run");
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    let counts: Vec<u64> = result.totals.iter().map(|h| h.len()).collect();
    assert_eq!(counts.iter().sum::<u64>(), 20_000);
    assert!(counts[1] > counts[0] * 2, "GET:SET weights 3:1, got {counts:?}");
    assert_eq!(result.replies_total, 20_000);

    // RESP3 + SELECT, hash templates, open loop at a modest rate.
    let w = workload(
        &[("HSET h:__key__ f __data__", 1), ("HGET h:__key__ f", 1)],
        KeyDistribution::Sequential,
    );
    let mut cfg = config(redis.port, w, Stop::Duration(Duration::from_millis(800)));
    cfg.server.protocol = Protocol::Resp3;
    cfg.server.select_db = Some(3);
    cfg.rate = Some(2000.0);
    let result = run(&cfg, |_| {}).expect("resp3 run");
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    let recorded: u64 = result.totals.iter().map(|h| h.len()).sum();
    assert!((1000..=1700).contains(&recorded), "open loop at 2000/s for 0.8 s recorded {recorded}");
    let open = result.open_loop.as_ref().expect("open-loop result");
    assert_eq!(open.requested_rate, 2000.0);

    // Errors are counted by kind: INCR on a string that is not a number.
    let w = workload(&[("SET __key__ notanumber", 1)], KeyDistribution::Sequential);
    run(&config(redis.port, w, Stop::Requests(1000)), |_| {}).expect("set");
    let w = workload(&[("INCR __key__", 1)], KeyDistribution::Sequential);
    let result = run(&config(redis.port, w, Stop::Requests(500)), |_| {}).expect("incr");
    assert_eq!(result.errors.get("ERR"), Some(&500), "{:?}", result.errors);
    assert!(result.totals[0].is_empty());

    // AUTH: a wrong password is a clear handshake error, the right one works.
    let mut admin = TcpStream::connect(("127.0.0.1", redis.port)).expect("connect");
    call(&mut admin, &["CONFIG", "SET", "requirepass", "s3cret"], "CONFIG SET")
        .expect("set password");
    let w = workload(&[("GET __key__", 1)], KeyDistribution::Uniform);
    let mut cfg = config(redis.port, w, Stop::Requests(1000));
    cfg.server.password = Some("wrong".into());
    match run(&cfg, |_| {}) {
        Err(error @ BenchError::Handshake(_)) => {
            assert!(error.to_string().contains("WRONGPASS"), "{error}");
        }
        other => panic!("expected a handshake error, got {other:?}"),
    }
    cfg.server.password = Some("s3cret".into());
    cfg.server.protocol = Protocol::Resp3;
    let result = run(&cfg, |_| {}).expect("authenticated run");
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    // Without a password every command is refused, and counted as NOAUTH.
    cfg.server.password = None;
    cfg.server.protocol = Protocol::Resp2;
    let result = run(&cfg, |_| {}).expect("unauthenticated run");
    assert_eq!(result.errors.get("NOAUTH"), Some(&1000), "{:?}", result.errors);
}
