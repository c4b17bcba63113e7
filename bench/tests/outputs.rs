//! The numbers a run prints, writes to JSON and logs to `.hlog` are the
//! numbers its histograms recorded.

mod common;

use common::{config, Behavior, FakeServer};
use mayfly_bench::report::{decode_histogram, parse_summary_table, Report, SUMMARY_QUANTILES};
use mayfly_bench::runner::{new_histogram, run, RunResult, Stop};
use mayfly_bench::{compare, hlog, plot};
use std::time::Duration;

fn short_run(port: u16, requests: u64) -> RunResult {
    let mut cfg = config(port, 4, Stop::Requests(requests), None);
    cfg.pipeline = 4;
    cfg.threads = 2;
    run(&cfg, |_| {}).expect("run")
}

/// Printed values are milliseconds with three decimals: equal within half a unit of the last digit.
fn assert_printed(printed: f64, value_ns: u64, what: &str) {
    let exact_ms = value_ns as f64 / 1e6;
    assert!(
        (printed - exact_ms).abs() <= 0.0005 + 1e-9,
        "{what}: printed {printed} ms, histogram {exact_ms} ms"
    );
}

#[test]
fn printed_percentiles_equal_the_recorded_histograms() {
    let server = FakeServer::start(Behavior::Ok);
    let result = short_run(server.port, 20_000);
    let report = Report::new(&result, Default::default());
    let summary = report.summary();
    println!("{summary}");
    let table = parse_summary_table(&summary);

    let mut all = new_histogram();
    let mut checked = Vec::new();
    for (label, histogram) in result.labels.iter().zip(&result.totals) {
        all.add(histogram).expect("same bounds");
        checked.push((label.clone(), histogram.clone()));
    }
    checked.push(("ALL".to_string(), all.clone()));
    assert_eq!(all.len(), 20_000, "every request recorded once");

    for (label, histogram) in &checked {
        let row = table.get(label).unwrap_or_else(|| panic!("row {label} missing from\n{summary}"));
        assert_eq!(row.len(), 1 + SUMMARY_QUANTILES.len());
        let mean_ns = histogram.mean();
        assert!((row[0] - mean_ns / 1e6).abs() <= 0.0005 + 1e-9, "{label} mean");
        for (i, (quantile, title)) in SUMMARY_QUANTILES.iter().enumerate() {
            let value_ns = if *quantile >= 1.0 {
                histogram.max()
            } else {
                histogram.value_at_quantile(*quantile)
            };
            assert_printed(row[i + 1], value_ns, &format!("{label} {title}"));
        }
    }

    // The JSON carries the same numbers and the lossless histogram.
    let parsed = Report::from_json(&report.to_json()).expect("json round trip");
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    assert_eq!(parsed.overall.count, report.overall.count);
    assert_eq!(parsed.commands.len(), report.commands.len());
    assert!(close(parsed.overall.p99_us, all.value_at_quantile(0.99) as f64 / 1000.0));
    assert!(close(parsed.overall.p9999_us, all.value_at_quantile(0.9999) as f64 / 1000.0));
    assert!(close(parsed.overall.max_us, all.max() as f64 / 1000.0));
    let decoded = decode_histogram(&parsed.overall.histogram_v2_base64).expect("decode");
    assert_eq!(decoded, all);

    // The timeline adds up to the totals.
    let timeline_count: u64 = report.timeline.iter().map(|t| t.count).sum();
    assert_eq!(timeline_count, all.len());
}

#[test]
fn hlog_reads_back_with_the_same_counts() {
    let server = FakeServer::start(Behavior::Ok);
    let result = short_run(server.port, 5_000);
    let bytes = hlog::render(&result).expect("render");
    let text = String::from_utf8(bytes.clone()).expect("ascii log");
    assert!(text.contains("#[StartTime: "));
    assert!(text.contains("#[BaseTime: "));
    assert!(text.contains("\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"));
    let legend_at = text.find("\"StartTimestamp\"").expect("legend");
    let first_interval =
        text.lines().position(|l| l.starts_with("0.000,")).expect("first interval line");
    assert!(
        text.lines().position(|l| l.starts_with("\"StartTimestamp\"")).expect("legend line")
            < first_interval
    );
    assert!(
        !text[legend_at..].lines().skip(1).any(|l| l.starts_with('#')),
        "no header after the legend"
    );

    let totals = hlog::read_totals(&bytes).expect("read back");
    let untagged = totals.get("").expect("untagged histograms");
    let mut all = new_histogram();
    for (label, histogram) in result.labels.iter().zip(&result.totals) {
        all.add(histogram).expect("same bounds");
        let tagged = totals.get(label).unwrap_or_else(|| panic!("tag {label}"));
        assert_eq!(tagged.len(), histogram.len(), "{label} count");
        assert_eq!(tagged.value_at_quantile(0.99), histogram.value_at_quantile(0.99));
    }
    assert_eq!(untagged.len(), 5_000);
    assert_eq!(untagged, &all);
}

#[test]
fn compare_and_plot() {
    let server = FakeServer::start(Behavior::Ok);
    let a = Report::new(&short_run(server.port, 3_000), Default::default());
    let b = Report::new(&short_run(server.port, 3_000), Default::default());
    let table = compare::render(&a, "a.json", &a, "a.json");
    assert!(table.contains("B/A"));
    // A report compared with itself has every ratio 1.
    for line in table.lines().filter(|l| l.trim_start().starts_with("p99 ")) {
        assert!(line.trim_end().ends_with("1.000"), "{line}");
    }
    let table = compare::render(&a, "a.json", &b, "b.json");
    assert!(table.contains("GET") && table.contains("SET") && table.contains("ALL"));

    let dir = std::env::temp_dir().join(format!("mayfly-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("both.svg");
    let series = [
        plot::Series { name: "A".into(), report: &a },
        plot::Series { name: "B".into(), report: &b },
    ];
    plot::draw(&series, &path).expect("draw");
    let svg = std::fs::read_to_string(&path).expect("svg written");
    assert!(
        svg.starts_with("<svg") && svg.contains("Latency by percentile") && svg.contains("99.9%")
    );
    assert!(svg.contains("Throughput over time"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn warmup_is_not_recorded() {
    let server = FakeServer::start(Behavior::Ok);
    let mut cfg = config(server.port, 2, Stop::Duration(Duration::from_millis(600)), None);
    cfg.warmup = Duration::from_millis(400);
    let result = run(&cfg, |_| {}).expect("run");
    let recorded: u64 = result.totals.iter().map(|h| h.len()).sum();
    assert!(recorded > 0);
    assert!(
        result.replies_total > recorded,
        "warm-up replies {} vs recorded {recorded}",
        result.replies_total
    );
    assert!(result.measured_ns >= 600_000_000);
}
