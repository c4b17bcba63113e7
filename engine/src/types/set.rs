//! Set values: `intset` for small integer sets, `listpack`, `hashtable`.

use bytes::Bytes;
use hashbrown::HashSet;

#[derive(Debug, Clone, Default)]
pub struct SetValue {
    pub members: HashSet<Bytes>,
}

impl SetValue {
    pub fn encoding(&self) -> &'static str {
        "hashtable"
    }
}
