//! Deterministic in-process harness: a shard with a manual clock, driven by argv.
//!
//! ```
//! use mayfly_engine::testing::TestShard;
//! use mayfly_engine::reply::Reply;
//! let mut t = TestShard::new();
//! assert_eq!(t.run(&["SET", "k", "v"]), Reply::ok());
//! t.advance_ms(5);
//! ```

use bytes::Bytes;

use crate::clock::Clock;
use crate::config::Config;
use crate::reply::Reply;
use crate::shard::Shard;

/// Start of the manual clock: a fixed, realistic Unix time in ms.
pub const START_MS: u64 = 1_700_000_000_000;

pub struct TestShard {
    pub shard: Shard,
    pub db: usize,
    pub resp3: bool,
}

impl Default for TestShard {
    fn default() -> Self {
        Self::new()
    }
}

impl TestShard {
    pub fn new() -> TestShard {
        Self::with_config(Config::default())
    }

    pub fn with_config(config: Config) -> TestShard {
        TestShard { shard: Shard::new(0, config, Clock::Manual(START_MS)), db: 0, resp3: false }
    }

    pub fn run(&mut self, argv: &[&str]) -> Reply {
        let argv: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
        self.run_bytes(&argv)
    }

    pub fn run_bytes(&mut self, argv: &[Bytes]) -> Reply {
        self.shard.execute(self.db, argv, self.resp3)
    }

    pub fn advance_ms(&mut self, ms: u64) {
        self.shard.clock.advance_ms(ms);
    }

    pub fn now_ms(&self) -> u64 {
        self.shard.clock.now_ms()
    }
}

/// Shorthand for a bulk reply in assertions.
pub fn bulk(s: &str) -> Reply {
    Reply::bulk_str(s)
}
