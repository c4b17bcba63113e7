//! A tiny seeded generator (xorshift64*) for randomized tests that must replay exactly: the
//! same seed gives the same command stream on every machine, so a failing seed can be rerun.
//! Include with `#[path = "support/xorshift.rs"] mod xorshift;`.
//!
//! Each test binary uses part of this module, so unused items are expected.

#![allow(dead_code)]

/// xorshift64*; the seed must not be zero.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `0..n` for test streams (modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// In `-span..=span`.
    pub fn signed(&mut self, span: i64) -> i64 {
        self.below(2 * span as u64 + 1) as i64 - span
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}
