//! The LATENCY monitor's samples (Redis's latency.c): per event, the worst latency of each
//! second over the last [`SAMPLES`] seconds that had one, and the worst ever. One store for the
//! server, written only when an event reached `latency-monitor-threshold` (rare by design).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Samples kept per event (Redis's LATENCY_TS_LEN).
pub const SAMPLES: usize = 160;

#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Sample {
    pub time_s: u64,
    pub latency_ms: u64,
}

/// One event's ring of samples.
#[derive(Clone, Debug)]
pub struct Series {
    next: usize,
    pub max_ms: u64,
    samples: [Sample; SAMPLES],
}

impl Default for Series {
    fn default() -> Self {
        Series { next: 0, max_ms: 0, samples: [Sample::default(); SAMPLES] }
    }
}

impl Series {
    /// Adds a sample; a second sample in the same second only raises that second's value.
    pub fn add(&mut self, time_s: u64, latency_ms: u64) {
        self.max_ms = self.max_ms.max(latency_ms);
        let prev = (self.next + SAMPLES - 1) % SAMPLES;
        if self.samples[prev].time_s == time_s {
            let p = &mut self.samples[prev];
            p.latency_ms = p.latency_ms.max(latency_ms);
            return;
        }
        self.samples[self.next] = Sample { time_s, latency_ms };
        self.next = (self.next + 1) % SAMPLES;
    }

    /// The newest sample.
    pub fn latest(&self) -> Sample {
        self.samples[(self.next + SAMPLES - 1) % SAMPLES]
    }

    /// Every sample, oldest first.
    pub fn history(&self) -> Vec<Sample> {
        (0..SAMPLES)
            .map(|j| self.samples[(self.next + j) % SAMPLES])
            .filter(|s| s.time_s != 0)
            .collect()
    }
}

static EVENTS: Mutex<BTreeMap<String, Series>> = Mutex::new(BTreeMap::new());

/// Runs `f` on the store.
pub fn with_events<R>(f: impl FnOnce(&mut BTreeMap<String, Series>) -> R) -> R {
    f(&mut EVENTS.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Records `latency_ms` for `event` when the monitor is on (`threshold_ms` > 0) and it is at
/// least the threshold (Redis's latencyAddSampleIfNeeded).
pub fn add_sample_if_needed(event: &str, latency_ms: u64, threshold_ms: u64) {
    if threshold_ms == 0 || latency_ms < threshold_ms {
        return;
    }
    let now_s = mayfly_engine::clock::unix_time_ms() / 1000;
    with_events(|e| e.entry(event.to_string()).or_default().add(now_s, latency_ms));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_ring_and_max() {
        let mut s = Series::default();
        s.add(100, 5);
        s.add(100, 3);
        s.add(100, 9);
        assert_eq!(s.history(), vec![Sample { time_s: 100, latency_ms: 9 }]);
        for t in 101..101 + SAMPLES as u64 {
            s.add(t, 1);
        }
        let h = s.history();
        assert_eq!(h.len(), SAMPLES);
        assert_eq!(h[0].time_s, 101);
        assert_eq!(s.latest().time_s, 100 + SAMPLES as u64);
        assert_eq!(s.max_ms, 9);
    }
}
