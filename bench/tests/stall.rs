//! Coordinated omission: a server that stalls 100 ms once a second. The open
//! loop, measuring from intended send times, must show the stall at p99; the
//! closed loop hides it (only its max shows the stall).

mod common;

use common::{config, Behavior, FakeServer};
use mayfly_bench::report::Report;
use mayfly_bench::runner::{run, Stop};
use std::time::Duration;

#[test]
fn open_loop_shows_the_stall_that_closed_loop_hides() {
    let server = FakeServer::start(Behavior::Stall {
        period: Duration::from_millis(1000),
        stall: Duration::from_millis(100),
    });

    let open_config = config(server.port, 4, Stop::Duration(Duration::from_secs(3)), Some(1000.0));
    let open = run(&open_config, |_| {}).expect("open-loop run");
    let open_report = Report::new(&open, Default::default());

    let closed_config = config(server.port, 1, Stop::Duration(Duration::from_secs(3)), None);
    let closed = run(&closed_config, |_| {}).expect("closed-loop run");
    let closed_report = Report::new(&closed, Default::default());

    println!("open loop:\n{}", open_report.summary());
    println!("closed loop:\n{}", closed_report.summary());
    assert_eq!(open_report.errors_total, 0, "{:?}", open_report.errors);
    assert_eq!(closed_report.errors_total, 0, "{:?}", closed_report.errors);

    // About 10% of the open-loop schedule falls into a stall, waiting up to 100 ms.
    let open_p99_ms = open_report.overall.p99_us / 1000.0;
    assert!(open_p99_ms >= 50.0, "open-loop p99 {open_p99_ms} ms should show the 100 ms stall");
    assert!(open_report.overall.count >= 2500, "open loop sent {}", open_report.overall.count);

    // The closed loop waits out each stall with a single request.
    let closed_p99_ms = closed_report.overall.p99_us / 1000.0;
    let closed_max_ms = closed_report.overall.max_us / 1000.0;
    assert!(closed_max_ms >= 50.0, "closed-loop max {closed_max_ms} ms should contain a stall");
    assert!(
        closed_p99_ms * 5.0 < open_p99_ms,
        "closed-loop p99 {closed_p99_ms} ms should hide the stall (open {open_p99_ms} ms)"
    );
}
