//! Hash values: `listpack` when small, `hashtable` when large.

use bytes::Bytes;
use hashbrown::HashMap;

#[derive(Debug, Clone, Default)]
pub struct HashValue {
    pub fields: HashMap<Bytes, Bytes>,
}

impl HashValue {
    pub fn encoding(&self) -> &'static str {
        "hashtable"
    }
}
