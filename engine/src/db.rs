//! One logical database: the keyspace table plus per-key metadata.

use crate::table::{Key, Table};
use crate::value::Value;

/// A key's value and metadata.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in Unix milliseconds; 0 means no expiry.
    pub expire_at_ms: u64,
    /// 24-bit LRU clock (seconds resolution) or LFU counter+decay time, as Redis packs it.
    pub lru: u32,
}

impl Entry {
    pub fn new(value: Value) -> Entry {
        Entry { value, expire_at_ms: 0, lru: 0 }
    }

    pub fn with_expiry(value: Value, expire_at_ms: u64) -> Entry {
        Entry { value, expire_at_ms, lru: 0 }
    }

    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms != 0 && self.expire_at_ms <= now_ms
    }
}

#[derive(Default)]
pub struct Db {
    pub table: Table<Entry>,
    /// Number of entries with an expiry (INFO keyspace `expires=`).
    pub expires: usize,
    /// Cursor of the active expiry sweep over this database.
    pub expire_cursor: u64,
    /// Sum of `expire_at_ms - now` over keys with TTL seen by the last sweep, for `avg_ttl`.
    pub avg_ttl_ms: u64,
}

impl Db {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Inserts or replaces an entry, keeping the `expires` count right.
    pub fn insert(&mut self, key: Key, entry: Entry) -> Option<Entry> {
        let has_ttl = entry.expire_at_ms != 0;
        let old = self.table.insert(key, entry);
        if let Some(o) = &old {
            if o.expire_at_ms != 0 {
                self.expires -= 1;
            }
        }
        if has_ttl {
            self.expires += 1;
        }
        old
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<(Key, Entry)> {
        let old = self.table.remove(key);
        if let Some((_, e)) = &old {
            if e.expire_at_ms != 0 {
                self.expires -= 1;
            }
        }
        old
    }

    /// Sets or clears the expiry of an existing key; returns false when the key is absent.
    pub fn set_expiry(&mut self, key: &[u8], expire_at_ms: u64) -> bool {
        let Some(e) = self.table.get_mut(key) else { return false };
        match (e.expire_at_ms != 0, expire_at_ms != 0) {
            (false, true) => self.expires += 1,
            (true, false) => self.expires -= 1,
            _ => {}
        }
        e.expire_at_ms = expire_at_ms;
        true
    }

    pub fn clear(&mut self) {
        self.table.clear();
        self.expires = 0;
        self.expire_cursor = 0;
        self.avg_ttl_ms = 0;
    }
}
