//! Time source for a shard. Production reads the system clock; tests inject a manual clock
//! and advance it, so TTL edges are exact to the millisecond.

use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub enum Clock {
    System,
    /// Fixed time in Unix milliseconds, moved only by [`Clock::advance_ms`].
    Manual(u64),
}

impl Clock {
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => unix_time_ms(),
            Clock::Manual(t) => *t,
        }
    }

    pub fn advance_ms(&mut self, ms: u64) {
        if let Clock::Manual(t) = self {
            *t += ms;
        }
    }

    pub fn set_ms(&mut self, ms: u64) {
        if let Clock::Manual(t) = self {
            *t = ms;
        }
    }
}

pub fn unix_time_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub fn unix_time_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}
