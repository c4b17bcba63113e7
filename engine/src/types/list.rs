//! List values. Small lists use Redis's `listpack` encoding name, large ones `quicklist`.

use std::collections::VecDeque;

use bytes::Bytes;

#[derive(Debug, Clone, Default)]
pub struct ListValue {
    pub items: VecDeque<Bytes>,
}

impl ListValue {
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }
}
