//! HdrHistogram interval logs (`.hlog`, log format V1.3 with V2 compressed
//! histograms), readable by HdrHistogram's `HistogramLogProcessor` and
//! plotters.
//!
//! Each interval has one untagged histogram for all commands (the one tools
//! process by default) and one `Tag=<COMMAND>` histogram per command.
//! Values are nanoseconds; the `Interval_Max` column is in milliseconds, the
//! convention of the Java writer.

use crate::runner::{new_histogram, RunResult};
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// Nanoseconds per millisecond, the divisor for the human-readable max column.
const MAX_VALUE_DIVISOR: f64 = 1_000_000.0;

/// Renders the whole interval log.
pub fn render(result: &RunResult) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut writer = IntervalLogWriterBuilder::new()
            .with_max_value_divisor(MAX_VALUE_DIVISOR)
            .begin_log_with(&mut body, &mut serializer)
            .map_err(|e| format!("hlog: {e}"))?;
        for interval in &result.intervals {
            let start = Duration::from_nanos(interval.start_ns);
            let length = Duration::from_nanos(interval.length_ns);
            let per_command: Vec<Histogram<u64>> =
                interval.per_command.iter().map(|p| p.unpack()).collect();
            let mut all = new_histogram();
            for h in &per_command {
                all.add(h).expect("histograms share bounds");
            }
            writer
                .write_histogram(&all, start, length, None)
                .map_err(|e| format!("hlog: {e:?}"))?;
            for (label, h) in result.labels.iter().zip(&per_command) {
                let Some(tag) = Tag::new(label) else { continue };
                writer
                    .write_histogram(h, start, length, Some(tag))
                    .map_err(|e| format!("hlog: {e:?}"))?;
            }
        }
    }
    let start_s = result
        .start_time
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut out = Vec::with_capacity(body.len() + 512);
    out.extend_from_slice(b"#[Logged with mayfly-bench]\n");
    out.extend_from_slice(b"#[Histogram log format version 1.3]\n");
    out.extend_from_slice(format!("#[StartTime: {start_s:.3} (seconds since epoch)]\n").as_bytes());
    out.extend_from_slice(format!("#[BaseTime: {start_s:.3} (seconds since epoch)]\n").as_bytes());
    // The crate's writer emits its own comment lines first; the legend must
    // follow every header comment and precede the first interval.
    let mut rest: &[u8] = &body;
    while rest.first() == Some(&b'#') {
        let line_end = rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |p| p + 1);
        out.extend_from_slice(&rest[..line_end]);
        rest = &rest[line_end..];
    }
    out.extend_from_slice(b"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n");
    out.extend_from_slice(rest);
    Ok(out)
}

/// Writes the interval log to `path`.
pub fn write(result: &RunResult, path: &std::path::Path) -> Result<(), String> {
    let bytes = render(result)?;
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Sums of a log's histograms, keyed by tag (`""` for untagged).
pub fn read_totals(bytes: &[u8]) -> Result<BTreeMap<String, Histogram<u64>>, String> {
    let mut totals: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(bytes) {
        let entry = entry.map_err(|e| format!("hlog parse error: {e:?}"))?;
        let LogEntry::Interval(interval) = entry else { continue };
        let tag = interval.tag().map(|t| t.as_str().to_string()).unwrap_or_default();
        let encoded = base64_decode(interval.encoded_histogram())?;
        let histogram: Histogram<u64> = deserializer
            .deserialize(&mut encoded.as_slice())
            .map_err(|e| format!("hlog histogram: {e:?}"))?;
        let total = totals.entry(tag).or_insert_with(new_histogram);
        total.add(&histogram).map_err(|e| format!("hlog histogram bounds: {e:?}"))?;
    }
    Ok(totals)
}

fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| format!("hlog base64: {e}"))
}
