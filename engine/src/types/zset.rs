//! Sorted set values: `listpack` when small, `skiplist` when large.

use std::collections::BTreeMap;

use bytes::Bytes;

#[derive(Debug, Clone, Default)]
pub struct ZSetValue {
    pub scores: BTreeMap<Bytes, f64>,
}

impl ZSetValue {
    pub fn encoding(&self) -> &'static str {
        "skiplist"
    }
}
