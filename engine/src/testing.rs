//! Deterministic in-process harness: a shard with a manual clock, driven by argv; a journal
//! that keeps its records; a canonical dump of a dataset and a replay of records, so a test
//! can check that replaying a shard's journal reproduces its data exactly.
//!
//! ```
//! use mayfly_engine::testing::TestShard;
//! use mayfly_engine::reply::Reply;
//! let mut t = TestShard::new();
//! assert_eq!(t.run(&["SET", "k", "v"]), Reply::ok());
//! t.advance_ms(5);
//! ```

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;

use crate::clock::Clock;
use crate::config::Config;
use crate::journal::{hlc_physical_ms, Journal, Record};
use crate::reply::Reply;
use crate::shard::Shard;
use crate::value::Value;

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

/// A journal that keeps every record; clones share the list.
#[derive(Clone, Default)]
pub struct RecordingJournal(pub Rc<RefCell<Vec<Record>>>);

impl Journal for RecordingJournal {
    fn append(&mut self, record: Record) {
        self.0.borrow_mut().push(record);
    }
}

impl RecordingJournal {
    /// Attaches a new recording journal to `shard` and returns a handle to its records.
    pub fn attach(shard: &mut Shard) -> RecordingJournal {
        let journal = RecordingJournal::default();
        shard.set_journal(Some(Box::new(journal.clone())));
        journal
    }

    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }

    /// A copy of the records so far.
    pub fn records(&self) -> Vec<Record> {
        self.0.borrow().clone()
    }

    /// The argv of the records from index `from` on, as text, for assertions.
    pub fn argvs_since(&self, from: usize) -> Vec<Vec<String>> {
        self.0.borrow()[from..]
            .iter()
            .map(|r| r.argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect())
            .collect()
    }
}

/// Executes `records` in order on `shard`, each at the instant it was made (its HLC's
/// physical time, when the shard's clock is manual). Returns the records that answered an
/// error, with the error: a journal's records should replay without any.
pub fn replay(records: &[Record], shard: &mut Shard) -> Vec<(Record, Reply)> {
    let mut errors = Vec::new();
    for r in records {
        if matches!(shard.clock, Clock::Manual(_)) {
            shard.clock.set_ms(hlc_physical_ms(r.hlc));
        }
        let reply = shard.execute(r.db, &r.argv, false);
        if reply.is_error() {
            errors.push((r.clone(), reply));
        }
    }
    errors
}

/// A value in a comparable form: strings as bytes; lists in order; a listpack hash in its
/// order (HGETALL shows it), other hashes and sets sorted (their order is the table's, which
/// depends on the hash keys); sorted sets in rank order with the exact score bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueDump {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    Set(Vec<Vec<u8>>),
    ZSet(Vec<(Vec<u8>, u64)>),
    /// Live entries (id, fields), metadata (length, last id, max deleted id, entries added),
    /// groups (name, last id, entries read, pending (id, consumer, delivery time, count),
    /// consumer names). Tombstones, node layout and consumers' seen times are not compared.
    Stream {
        entries: Vec<StreamEntryDump>,
        meta: (u64, Bytes, Bytes, u64),
        groups: Vec<StreamGroupDump>,
    },
}

/// One entry of a [`ValueDump::Stream`]: its id and field-value pairs.
pub type StreamEntryDump = (Bytes, Vec<(Vec<u8>, Vec<u8>)>);

/// One consumer group of a [`ValueDump::Stream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamGroupDump {
    pub name: Bytes,
    pub last_id: Bytes,
    pub entries_read: i64,
    pub pending: Vec<(Bytes, Vec<u8>, i64, u64)>,
    pub consumers: Vec<Vec<u8>>,
}

/// One key of a dataset: where it is, its value, Redis's encoding name and its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDump {
    pub db: usize,
    pub key: Vec<u8>,
    pub encoding: &'static str,
    pub expire_at_ms: u64,
    pub value: ValueDump,
}

/// The comparable form of one value.
pub fn dump_value(value: &Value) -> ValueDump {
    match value {
        Value::Str(s) => ValueDump::Str(s.to_vec()),
        Value::List(l) => ValueDump::List(l.iter().map(|e| e.to_vec()).collect()),
        Value::Hash(h) => {
            let mut pairs = Vec::with_capacity(h.len());
            h.for_each(|f, v| pairs.push((f.to_vec(), v.to_vec())));
            if h.encoding() != "listpack" {
                pairs.sort();
            }
            ValueDump::Hash(pairs)
        }
        Value::Set(s) => {
            let mut members: Vec<Vec<u8>> = s.members().iter().map(|m| m.to_vec()).collect();
            members.sort();
            ValueDump::Set(members)
        }
        Value::ZSet(z) => {
            ValueDump::ZSet(z.iter().map(|(m, s)| (m.to_vec(), s.to_bits())).collect())
        }
        Value::Stream(st) => {
            let meta = st.meta();
            ValueDump::Stream {
                entries: st
                    .iter()
                    .map(|e| {
                        (
                            e.id.to_bytes(),
                            e.fields().map(|(f, v)| (f.to_vec(), v.to_vec())).collect(),
                        )
                    })
                    .collect(),
                meta: (
                    meta.length,
                    meta.last_id.to_bytes(),
                    meta.max_deleted_entry_id.to_bytes(),
                    meta.entries_added,
                ),
                groups: st
                    .groups()
                    .map(|(name, g)| StreamGroupDump {
                        name: name.clone(),
                        last_id: g.last_id.to_bytes(),
                        entries_read: g.entries_read,
                        pending: g
                            .pel()
                            .iter()
                            .map(|(id, n)| {
                                (
                                    id.to_bytes(),
                                    n.consumer.to_vec(),
                                    n.delivery_time_ms,
                                    n.delivery_count,
                                )
                            })
                            .collect(),
                        consumers: g.consumers().map(|(c, _)| c.to_vec()).collect(),
                    })
                    .collect(),
            }
        }
    }
}

/// Every key of every database, sorted by (db, key); expired keys not yet deleted included.
pub fn dataset(shard: &Shard) -> Vec<KeyDump> {
    let mut out = Vec::with_capacity(shard.key_count());
    for (db, d) in shard.dbs.iter().enumerate() {
        for (k, e) in d.table.iter() {
            out.push(KeyDump {
                db,
                key: k.to_vec(),
                encoding: e.value.encoding(),
                expire_at_ms: e.expire_at_ms,
                value: dump_value(&e.value),
            });
        }
    }
    out.sort_by(|a, b| (a.db, &a.key).cmp(&(b.db, &b.key)));
    out
}
