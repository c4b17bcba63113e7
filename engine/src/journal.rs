//! The journal seam: every effective change of a shard's keyspace, as a deterministic command.
//!
//! ```text
//!   command ─► handler ─► dirty went up? ─► its argv, or the form it declared ─┐
//!   lazy / active expiry ─► DEL|UNLINK key ────────────────────────────────────┤
//!   eviction ─► DEL|UNLINK key ────────────────────────────────────────────────┤
//!   store_entry (gathered write) ─► DEL key + the commands that recreate it ───┤
//!   FLUSHDB / FLUSHALL / SWAPDB ─► the command ────────────────────────────────┤
//!                                                                              ▼
//!        JournalState: LSN, HLC, txid + shards ─► Box<dyn Journal>::append(Record)
//!                          (AOF, replication, active-active peers: the net layer)
//! ```
//! A [`Record`] is what a consumer must execute to reproduce the change: relative expiry made
//! absolute, random choices (SPOP) replaced by what they chose, blocking pops by the pop that
//! happened, expiry and eviction as the deletion. Replaying a shard's records in LSN order on a
//! copy of its starting dataset gives its dataset, whatever the copy's clock or hash keys.
//!
//! The records of one operation (a command with the lazy deletions it caused, one
//! `store_entry`) are handed over together; when there are several and no transaction is open
//! they share a shard-local transaction id, as Redis wraps such a group in MULTI/EXEC, so a
//! consumer applies them whole. Without a journal attached nothing here runs beyond one branch.

use std::sync::Arc;

use bytes::Bytes;

/// Where records go. Implemented by the net layer (bounded buffers feeding the AOF writer and
/// replication) and by tests. `append` must not block the shard: a slow consumer is the
/// consumer's problem (detach it), never a reason to stall a write.
pub trait Journal {
    fn append(&mut self, record: Record);
}

/// One change of a shard's keyspace, in the form to replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Per-shard sequence number: 1 for the shard's first record, then +1 per record.
    pub lsn: u64,
    /// The database the command runs in (`SELECT db` before it on replay).
    pub db: usize,
    /// The deterministic command to execute.
    pub argv: Vec<Bytes>,
    /// 0 = not part of a transaction. Otherwise every record of the transaction on this shard
    /// carries the same id, to be applied atomically with the other shards in `shards`.
    pub txid: u64,
    /// The shards the transaction touched (empty when `txid` is 0).
    pub shards: ShardSet,
    /// The node the change was made on (0 until active-active exists).
    pub origin: u32,
    /// Hybrid logical clock: Unix ms in the high 48 bits, a counter in the low 16; strictly
    /// increasing per shard even when the wall clock steps back.
    pub hlc: u64,
}

/// Bits of [`Record::hlc`] below the milliseconds.
pub const HLC_LOGICAL_BITS: u32 = 16;

/// The physical time (Unix ms) of an HLC value.
pub fn hlc_physical_ms(hlc: u64) -> u64 {
    hlc >> HLC_LOGICAL_BITS
}

/// Transaction ids the engine makes for a multi-record operation outside any transaction have
/// this bit set (global ids from the coordinator count up from 1 and never reach it).
pub const LOCAL_TXID_BIT: u64 = 1 << 62;

/// A set of shard ids. Ids below 64 live in one inline word, so the common transaction (a few
/// shards of a box with at most 64) costs no allocation and clones as a copy; bigger boxes
/// spill to a shared bitmap, so the records of one transaction still share one allocation and
/// clone by a reference count. A `Vec<usize>` would allocate for every record.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ShardSet(Words);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Words {
    Inline(u64),
    Spilled(Arc<[u64]>),
}

impl Default for Words {
    fn default() -> Self {
        Words::Inline(0)
    }
}

impl ShardSet {
    pub fn new() -> ShardSet {
        ShardSet::default()
    }

    /// The set of the given ids.
    pub fn from_ids(ids: impl IntoIterator<Item = usize>) -> ShardSet {
        let mut words: Vec<u64> = vec![0];
        for id in ids {
            let (w, b) = (id / 64, id % 64);
            if w >= words.len() {
                words.resize(w + 1, 0);
            }
            words[w] |= 1 << b;
        }
        while words.len() > 1 && words.last() == Some(&0) {
            words.pop();
        }
        match words[..] {
            [one] => ShardSet(Words::Inline(one)),
            _ => ShardSet(Words::Spilled(words.into())),
        }
    }

    fn words(&self) -> &[u64] {
        match &self.0 {
            Words::Inline(w) => std::slice::from_ref(w),
            Words::Spilled(ws) => ws,
        }
    }

    pub fn contains(&self, id: usize) -> bool {
        self.words().get(id / 64).is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    pub fn len(&self) -> usize {
        self.words().iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words()
            .iter()
            .enumerate()
            .flat_map(|(i, &w)| (0..64).filter(move |b| w & (1 << b) != 0).map(move |b| i * 64 + b))
    }
}

/// A shard's journal bookkeeping: the attached sink, the next LSN, the HLC, the transaction in
/// progress and the records of the operation in progress. The LSN and the HLC live here, not
/// in the sink, so they go on across a detach and re-attach.
pub struct JournalState {
    sink: Option<Box<dyn Journal>>,
    next_lsn: u64,
    last_hlc: u64,
    /// Set by `begin_tx` (the coordinator's id and shard set) until `end_tx`.
    tx: Option<(u64, ShardSet)>,
    /// Records of the operation in progress (see [`JournalState::begin_group`]).
    group: Vec<Record>,
    depth: u32,
    local_txids: u64,
    origin: u32,
}

impl Default for JournalState {
    fn default() -> Self {
        JournalState {
            sink: None,
            next_lsn: 1,
            last_hlc: 0,
            tx: None,
            group: Vec::new(),
            depth: 0,
            local_txids: 0,
            origin: 0,
        }
    }
}

impl JournalState {
    /// True when a journal is attached. The one branch the write path pays without one.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.sink.is_some()
    }

    /// Attaches (or detaches, with None) the sink; returns the previous one. Records of an
    /// operation in progress go to the sink attached when it ends.
    pub fn set_sink(&mut self, sink: Option<Box<dyn Journal>>) -> Option<Box<dyn Journal>> {
        std::mem::replace(&mut self.sink, sink)
    }

    /// The LSN the next record will carry.
    pub fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    /// The last HLC value handed out (0 before the first record).
    pub fn last_hlc(&self) -> u64 {
        self.last_hlc
    }

    pub fn begin_tx(&mut self, txid: u64, shards: ShardSet) {
        self.tx = Some((txid, shards));
    }

    pub fn end_tx(&mut self) {
        self.tx = None;
    }

    /// The transaction in progress, if any.
    pub fn tx(&self) -> Option<(u64, &ShardSet)> {
        self.tx.as_ref().map(|(id, s)| (*id, s))
    }

    /// Opens an operation: records until the matching [`JournalState::end_group`] are handed
    /// over together. Operations nest; the outermost one decides.
    #[inline]
    pub fn begin_group(&mut self) {
        self.depth += 1;
    }

    /// Closes an operation; at the outermost level hands its records to the sink, under a
    /// shard-local transaction id when there are several and no transaction is open.
    pub fn end_group(&mut self, shard_id: usize) {
        debug_assert!(self.depth > 0, "end_group without begin_group");
        self.depth = self.depth.saturating_sub(1);
        if self.depth > 0 || self.group.is_empty() {
            return;
        }
        if self.group.len() > 1 && self.tx.is_none() {
            // Bit 62, the shard in bits 40..62, a counter below (wrapping after 2^40 groups).
            self.local_txids = (self.local_txids + 1) & ((1 << 40) - 1);
            let txid = LOCAL_TXID_BIT | (((shard_id as u64) & 0x3f_ffff) << 40) | self.local_txids;
            let shards = ShardSet::from_ids([shard_id]);
            for r in &mut self.group {
                r.txid = txid;
                r.shards = shards.clone();
            }
        }
        match &mut self.sink {
            Some(sink) => self.group.drain(..).for_each(|r| sink.append(r)),
            None => self.group.clear(),
        }
    }

    /// Makes the next record (LSN, HLC from `now_ms`, the open transaction) and hands it over,
    /// or keeps it with its operation. Call only when [`JournalState::is_on`].
    pub fn append(&mut self, db: usize, argv: Vec<Bytes>, now_ms: u64) {
        let physical = now_ms.saturating_mul(1 << HLC_LOGICAL_BITS);
        self.last_hlc = physical.max(self.last_hlc.saturating_add(1));
        let (txid, shards) = match &self.tx {
            Some((id, s)) => (*id, s.clone()),
            None => (0, ShardSet::new()),
        };
        let record = Record {
            lsn: self.next_lsn,
            db,
            argv,
            txid,
            shards,
            origin: self.origin,
            hlc: self.last_hlc,
        };
        self.next_lsn += 1;
        if self.depth > 0 {
            self.group.push(record);
        } else if let Some(sink) = &mut self.sink {
            sink.append(record);
        }
    }
}

/// `n` as a command argument.
pub fn num_arg(n: impl itoa::Integer) -> Bytes {
    Bytes::copy_from_slice(itoa::Buffer::new().format(n).as_bytes())
}

/// A command name or fixed keyword as an argument.
pub const fn word(w: &'static str) -> Bytes {
    Bytes::from_static(w.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    struct Sink(Rc<RefCell<Vec<Record>>>);
    impl Journal for Sink {
        fn append(&mut self, record: Record) {
            self.0.borrow_mut().push(record);
        }
    }

    #[test]
    fn shard_sets_stay_inline_below_64_and_spill_above() {
        let small = ShardSet::from_ids([0, 3, 63]);
        assert!(matches!(small.0, Words::Inline(_)));
        assert_eq!(small.iter().collect::<Vec<_>>(), vec![0, 3, 63]);
        assert!(small.contains(3) && !small.contains(4) && !small.contains(200));
        let big = ShardSet::from_ids([1, 64, 190]);
        assert!(matches!(big.0, Words::Spilled(_)));
        assert_eq!(big.iter().collect::<Vec<_>>(), vec![1, 64, 190]);
        assert_eq!(big.len(), 3);
        assert!(ShardSet::new().is_empty());
        assert_eq!(ShardSet::from_ids([5, 5]), ShardSet::from_ids([5]));
    }

    #[test]
    fn groups_of_several_records_share_a_local_txid_and_lsns_count_up() {
        let got = Rc::new(RefCell::new(Vec::new()));
        let mut j = JournalState::default();
        j.set_sink(Some(Box::new(Sink(got.clone()))));
        j.append(0, vec![word("DEL"), word("a")], 1000);
        j.begin_group();
        j.append(0, vec![word("DEL"), word("b")], 1000);
        j.append(0, vec![word("SET"), word("b"), word("1")], 1000);
        assert!(got.borrow().len() == 1, "a group is handed over when it ends");
        j.end_group(7);
        j.begin_group();
        j.append(2, vec![word("DEL"), word("c")], 999);
        j.end_group(7);
        let got = got.borrow();
        assert_eq!(got.iter().map(|r| r.lsn).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        assert_eq!(got[0].txid, 0);
        assert_ne!(got[1].txid, 0);
        assert_eq!(got[1].txid, got[2].txid);
        assert_eq!(got[1].txid & LOCAL_TXID_BIT, LOCAL_TXID_BIT);
        assert_eq!(got[1].shards.iter().collect::<Vec<_>>(), vec![7]);
        assert_eq!(got[3].txid, 0, "a group of one needs no transaction");
        assert!(got.windows(2).all(|w| w[0].hlc < w[1].hlc), "HLC is strictly increasing");
        assert_eq!(hlc_physical_ms(got[0].hlc), 1000);
        assert_eq!(hlc_physical_ms(got[3].hlc), 1000, "the clock stepped back: logical ticks");
    }

    #[test]
    fn an_open_transaction_tags_every_record() {
        let got = Rc::new(RefCell::new(Vec::new()));
        let mut j = JournalState::default();
        j.set_sink(Some(Box::new(Sink(got.clone()))));
        j.begin_tx(42, ShardSet::from_ids([0, 1]));
        j.begin_group();
        j.append(0, vec![word("DEL"), word("a")], 5);
        j.append(0, vec![word("DEL"), word("b")], 5);
        j.end_group(0);
        j.end_tx();
        j.append(0, vec![word("DEL"), word("c")], 5);
        let got = got.borrow();
        assert!(got[..2].iter().all(|r| r.txid == 42 && r.shards == ShardSet::from_ids([0, 1])));
        assert_eq!((got[2].txid, got[2].shards.len()), (0, 0));
    }
}
