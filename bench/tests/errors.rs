//! Failures are reported clearly and errors never enter latency histograms.

mod common;

use common::{config, Behavior, FakeServer};
use mayfly_bench::client::BenchError;
use mayfly_bench::runner::{run, Stop};
use std::net::TcpListener;

#[test]
fn unreachable_server_is_a_clear_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let cfg = config(port, 2, Stop::Requests(10), None);
    match run(&cfg, |_| {}) {
        Err(error @ BenchError::Connect { .. }) => {
            let message = error.to_string();
            assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
            assert!(message.contains("cannot connect"), "{message}");
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
}

#[test]
fn error_replies_are_counted_by_kind_not_timed() {
    let server = FakeServer::start(Behavior::Error(
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    ));
    let cfg = config(server.port, 2, Stop::Requests(1_000), None);
    let result = run(&cfg, |_| {}).expect("run");
    assert_eq!(result.errors.get("WRONGTYPE"), Some(&1_000), "{:?}", result.errors);
    assert!(result.totals.iter().all(|h| h.is_empty()), "errors must not be recorded as latencies");
    let per_interval: u64 = result.intervals.iter().map(|i| i.errors).sum();
    assert_eq!(per_interval, 1_000);
}

#[test]
fn server_closing_connections_is_reported() {
    // A listener that accepts and immediately closes.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let closer = std::thread::spawn(move || {
        for stream in listener.incoming().take(2) {
            drop(stream);
        }
    });
    let cfg = config(port, 2, Stop::Requests(100), None);
    let result = run(&cfg, |_| {}).expect("run starts; losses are counted");
    closer.join().expect("closer thread");
    let lost: u64 =
        result.errors.iter().filter(|(k, _)| k.starts_with("connection")).map(|(_, v)| v).sum();
    assert_eq!(lost, 2, "{:?}", result.errors);
    assert!(result.totals.iter().all(|h| h.is_empty()));
}
