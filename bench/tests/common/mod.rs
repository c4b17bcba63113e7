//! Test helpers: a fake RESP server (optionally stalling on a schedule) and
//! a quick way to build a run configuration against it.
#![allow(dead_code)]

use mayfly_bench::client::{Protocol, ServerOptions};
use mayfly_bench::keys::KeyDistribution;
use mayfly_bench::resp::{parse_reply, Parsed};
use mayfly_bench::runner::{RunConfig, Stop};
use mayfly_bench::workload::{DataSize, Template, Workload};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the fake server answers.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// `+OK` to everything.
    Ok,
    /// This error line to everything.
    Error(&'static str),
    /// `+OK`, but during the last `stall` of every `period` (counted from
    /// server start) no connection gets an answer.
    Stall { period: Duration, stall: Duration },
}

pub struct FakeServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl FakeServer {
    pub fn start(behavior: Behavior) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        listener.set_nonblocking(true).expect("nonblocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let stop_accept = Arc::clone(&stop);
        let started = Instant::now();
        let accept = std::thread::spawn(move || {
            let mut connections = Vec::new();
            while !stop_accept.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let behavior = behavior.clone();
                        let stop = Arc::clone(&stop_accept);
                        connections.push(std::thread::spawn(move || {
                            serve(stream, behavior, stop, started)
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            for connection in connections {
                let _ = connection.join();
            }
        });
        FakeServer { port, stop, accept: Some(accept) }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve(mut stream: TcpStream, behavior: Behavior, stop: Arc<AtomicBool>, started: Instant) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let n = match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue
            }
            Err(_) => return,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut pos = 0;
        let mut commands = 0;
        while let Ok(Parsed::Reply { len, .. }) = parse_reply(&buf[pos..]) {
            pos += len;
            commands += 1;
        }
        buf.drain(..pos);
        if let Behavior::Stall { period, stall } = &behavior {
            let period_ns = period.as_nanos() as u64;
            let phase = started.elapsed().as_nanos() as u64 % period_ns;
            if phase >= period_ns - stall.as_nanos() as u64 {
                std::thread::sleep(Duration::from_nanos(period_ns - phase));
            }
        }
        out.clear();
        for _ in 0..commands {
            match &behavior {
                Behavior::Error(line) => {
                    out.push(b'-');
                    out.extend_from_slice(line.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                _ => out.extend_from_slice(b"+OK\r\n"),
            }
        }
        if stream.write_all(&out).is_err() {
            return;
        }
    }
}

pub fn server(port: u16) -> ServerOptions {
    ServerOptions {
        host: "127.0.0.1".to_string(),
        port,
        protocol: Protocol::Resp2,
        user: None,
        password: None,
        select_db: None,
        connect_timeout: Duration::from_secs(2),
    }
}

/// A SET:GET workload over a small keyspace.
pub fn set_get_workload(set_weight: u32, get_weight: u32) -> Arc<Workload> {
    let templates = vec![
        Template::parse("SET __key__ __data__", set_weight).expect("template"),
        Template::parse("GET __key__", get_weight).expect("template"),
    ];
    Arc::new(
        Workload::new(
            templates,
            1000,
            "key:",
            KeyDistribution::Uniform,
            DataSize { min: 8, max: 8 },
            1,
        )
        .expect("workload"),
    )
}

pub fn config(port: u16, connections: usize, stop: Stop, rate: Option<f64>) -> RunConfig {
    RunConfig {
        server: server(port),
        connections,
        pipeline: 1,
        threads: 1,
        rate,
        stop,
        warmup: Duration::ZERO,
        workload: set_get_workload(1, 1),
        interval: Duration::from_millis(500),
        drain_timeout: Duration::from_secs(2),
        reply_timeout: Duration::from_secs(5),
        pin_threads: false,
    }
}
