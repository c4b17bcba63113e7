//! Stream values: Redis 7.0's stream, an ordered tree of listpack nodes with field-name
//! deduplication against each node's master entry, plus consumer groups.
//!
//! ```text
//!  Stream ─┬─ nodes ─┬─ sealed: BTreeSet<[master id | listpack]>  one boxed buffer per node
//!          │         └─ tail:   Vec<u8> [master id | listpack]    the last node, growable
//!          ├─ length, last_id, first_id, max_deleted_entry_id, entries_added
//!          └─ groups: BTreeMap<name, ConsumerGroup>
//!                       ├─ last_id, entries_read (-1 = unknown)
//!                       ├─ pel: BTreeMap<id, Nack { delivery_time_ms, delivery_count, consumer }>
//!                       └─ consumers: BTreeMap<name, Consumer { seen_time_ms, pel: BTreeSet<id> }>
//!
//!  node listpack (byte for byte what Redis writes):
//!    master entry:  count │ deleted │ num-fields │ field_1 … field_N │ 0
//!    each entry:    flags │ ms-delta │ seq-delta │ [num-fields │ field_1 value_1 …] or
//!                   [value_1 … value_N when flags has SAMEFIELDS] │ lp-count
//! ```
//! Why this layout: an entry whose field names equal the master entry's stores only its values
//! and two small id deltas, so a 3-field entry costs its value bytes plus about a dozen bytes,
//! with no per-entry pointer or allocation. Nodes are byte-identical to Redis's listpacks, so
//! node splitting (which decides what `MAXLEN ~` trims), `XINFO STREAM` figures and RDB type 19
//! (which stores these very listpacks) all match redis-server, and persistence copies node
//! buffers as they are (see [`Stream::nodes`] and [`Stream::from_nodes`]). Redis keys its nodes
//! in a radix tree; here the id sits at the front of the node's own allocation and the tree
//! (a B-tree set ordered by that id) holds one 16-byte pointer per node, which keeps the
//! overhead per node below the rax's (see the memory test in `tests/stream.rs`). The last node
//! stays out of the tree with spare capacity, as Redis pre-allocates its tail listpack, so an
//! append touches one buffer and no tree node.
//!
//! Deletion marks entries with a flag (as Redis does) and drops a node once it holds no live
//! entry; trimming drops whole nodes from the head and marks entries inside at most one node.
//! Work per call is bounded by the nodes it touches: a range seeks its first node in the tree
//! and walks at most one node's listpack before reaching its first entry.

use std::borrow::Borrow;
use std::collections::{btree_set, BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;

use crate::types::list::{lp, Elem};
use crate::value::parse_i64_strict;

/// Entry flag: the entry was deleted (a tombstone, skipped by readers).
pub const FLAG_DELETED: i64 = 1;
/// Entry flag: the entry has the master entry's field names and stores only values.
pub const FLAG_SAMEFIELDS: i64 = 2;

/// Largest listpack Redis lets a node grow to, whatever `stream-node-max-bytes` says.
pub const LISTPACK_MAX_SIZE: usize = 1 << 30;
/// Redis pre-allocates at most this much for a new node.
const MAX_PREALLOCATE: usize = 4096;
const HEADER_SIZE: usize = 6;
/// A node buffer starts with its master id (16 bytes, big-endian); the listpack follows.
const ID_BYTES: usize = 16;
const EOF: u8 = 0xFF;

/// A stream entry id: milliseconds and a sequence number, ordered as a 128-bit number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The next id, or None past the largest one (Redis's `streamIncrID` failing).
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                return None;
            }
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous id, or None before 0-0 (Redis's `streamDecrID` failing).
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                return None;
            }
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// The 16 big-endian bytes Redis uses as radix-tree key and in RDB PELs.
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    pub fn from_be_bytes(b: [u8; 16]) -> StreamId {
        let mut ms = [0u8; 8];
        let mut seq = [0u8; 8];
        ms.copy_from_slice(&b[..8]);
        seq.copy_from_slice(&b[8..]);
        StreamId::new(u64::from_be_bytes(ms), u64::from_be_bytes(seq))
    }

    /// Writes `<ms>-<seq>` to `out`.
    pub fn write_to(self, out: &mut Vec<u8>) {
        let mut b = itoa::Buffer::new();
        out.extend_from_slice(b.format(self.ms).as_bytes());
        out.push(b'-');
        out.extend_from_slice(b.format(self.seq).as_bytes());
    }

    /// `<ms>-<seq>` as a bulk reply.
    pub fn to_bytes(self) -> Bytes {
        let mut out = Vec::with_capacity(41);
        self.write_to(&mut out);
        Bytes::from(out)
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// C's `strtoull(s, &end, 10)` accepting only when it consumes the whole string: optional
/// leading white space and sign (a `-` negates modulo 2^64), at least one digit, no overflow.
fn strtoull_whole(s: &[u8]) -> Option<u64> {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Redis's `string2ull`: a strict signed integer must not be negative; anything else goes
/// through `strtoull` (so `007`, `+7` and ` 7` parse, and ` -1` wraps around).
fn string2ull(s: &[u8]) -> Option<u64> {
    match parse_i64_strict(s) {
        Some(v) if v < 0 => None,
        Some(v) => Some(v as u64),
        None => strtoull_whole(s),
    }
}

/// How an id argument is read (Redis's `streamGenericParseIDOrReply` options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdSyntax {
    /// Sequence used when the argument has no `-<seq>` part.
    pub missing_seq: u64,
    /// Refuse the `-` and `+` shorthands.
    pub strict: bool,
    /// Accept `<ms>-*` (XADD).
    pub ms_star: bool,
}

/// A parsed id argument. `seq_given` is false for `<ms>-*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedId {
    pub id: StreamId,
    pub seq_given: bool,
}

/// Parses an id argument as Redis 7.0 does; None for Redis's "Invalid stream ID" error.
pub fn parse_id(arg: &[u8], syntax: IdSyntax) -> Option<ParsedId> {
    if arg.len() > 127 {
        return None;
    }
    // Redis copies the argument into a C string: everything from a NUL on is ignored.
    let arg = match memchr::memchr(0, arg) {
        Some(nul) => &arg[..nul],
        None => arg,
    };
    if syntax.strict && (arg == b"-" || arg == b"+") {
        return None;
    }
    if arg == b"-" {
        return Some(ParsedId { id: StreamId::MIN, seq_given: true });
    }
    if arg == b"+" {
        return Some(ParsedId { id: StreamId::MAX, seq_given: true });
    }
    let (ms_part, seq_part) = match memchr::memchr(b'-', arg) {
        Some(dash) => (&arg[..dash], Some(&arg[dash + 1..])),
        None => (arg, None),
    };
    let ms = string2ull(ms_part)?;
    let (seq, seq_given) = match seq_part {
        Some(b"*") if syntax.ms_star => (0, false),
        Some(s) => (string2ull(s)?, true),
        None => (syntax.missing_seq, true),
    };
    Some(ParsedId { id: StreamId::new(ms, seq), seq_given })
}

// ---- listpack node codec ------------------------------------------------------------------

/// Reads the integer element at `off` (Redis's `lpGetInteger`: a string element counts when it
/// is a strict integer). Returns the value and the offset of the next element.
fn int_at(node: &[u8], off: usize) -> Option<(i64, usize)> {
    let (e, next) = lp::decode(node, off)?;
    let v = match e {
        Elem::Int(v) => v,
        Elem::Str(s) => parse_i64_strict(s)?,
    };
    Some((v, next))
}

fn skip(node: &[u8], off: usize) -> Option<usize> {
    lp::decode(node, off).map(|(_, next)| next)
}

/// The start of the element that ends at `end`.
fn prev(node: &[u8], end: usize) -> Option<usize> {
    let (l, n) = lp::read_backlen(node, end)?;
    let start = end.checked_sub(l + n)?;
    (start >= HEADER_SIZE).then_some(start)
}

fn eof_offset(node: &[u8]) -> usize {
    node.len().saturating_sub(1)
}

/// Number of elements in the header (65535 = unknown, kept as Redis keeps it).
fn header_count(node: &[u8]) -> u16 {
    u16::from_le_bytes([node[4], node[5]])
}

fn set_total_bytes(node: &mut [u8]) {
    let total = u32::try_from(node.len()).unwrap_or(u32::MAX);
    node[0..4].copy_from_slice(&total.to_le_bytes());
}

/// Appends an element after the last one, as `lpAppend`/`lpAppendInteger` (the terminator
/// moves, the header's element count grows unless it is already "unknown"). The listpack
/// starts at `ID_BYTES` in the node buffer.
struct Appender<'a> {
    node: &'a mut Vec<u8>,
    added: usize,
}

impl<'a> Appender<'a> {
    fn new(node: &'a mut Vec<u8>) -> Appender<'a> {
        node.pop(); // the terminator comes back in `finish`
        Appender { node, added: 0 }
    }

    fn int(&mut self, v: i64) {
        lp::encode_int(self.node, v);
        self.added += 1;
    }

    fn bytes(&mut self, v: &[u8]) {
        lp::encode(self.node, v);
        self.added += 1;
    }

    fn finish(self) {
        self.node.push(EOF);
        let lp = &mut self.node[ID_BYTES..];
        let count = header_count(lp);
        if count != u16::MAX {
            let n = (count as usize + self.added).min(u16::MAX as usize) as u16;
            lp[4..6].copy_from_slice(&n.to_le_bytes());
        }
        set_total_bytes(lp);
    }
}

/// Replaces the integer element at listpack offset `off` of a node buffer with `v` (Redis's
/// `lpReplaceInteger`), moving the rest when the encoding changes size. Returns the size
/// difference.
fn replace_int(node: &mut Vec<u8>, off: usize, v: i64) -> isize {
    let Some(old_end) = skip(&node[ID_BYTES..], off) else { return 0 };
    let (enc, len) = lp::int_entry(v);
    let (start, end) = (ID_BYTES + off, ID_BYTES + old_end);
    let delta = len as isize - (end - start) as isize;
    if delta == 0 {
        node[start..end].copy_from_slice(&enc[..len]);
    } else {
        node.splice(start..end, enc[..len].iter().copied());
        set_total_bytes(&mut node[ID_BYTES..]);
    }
    delta
}

/// The master entry of a node.
#[derive(Clone, Copy, Debug)]
struct Master {
    /// Live entries.
    count: i64,
    /// Entries flagged deleted.
    deleted: i64,
    /// Offset of the `deleted` element.
    deleted_off: usize,
    num_fields: u64,
    /// Offset of the first master field.
    fields_off: usize,
    /// Offset of the first entry (after the master's zero terminator).
    entries_off: usize,
}

fn master(node: &[u8]) -> Option<Master> {
    let (count, off) = int_at(node, HEADER_SIZE)?;
    let deleted_off = off;
    let (deleted, off) = int_at(node, off)?;
    let (num_fields, mut off) = int_at(node, off)?;
    let num_fields = u64::try_from(num_fields).ok()?;
    let fields_off = off;
    for _ in 0..num_fields {
        off = skip(node, off)?;
    }
    let (_zero, entries_off) = int_at(node, off)?;
    Some(Master { count, deleted, deleted_off, num_fields, fields_off, entries_off })
}

/// One entry of a node, located.
#[derive(Clone, Copy, Debug)]
struct EntryPos {
    id: StreamId,
    flags: i64,
    flags_off: usize,
    num_fields: u64,
    /// Offset of the first field (own fields) or first value (SAMEFIELDS).
    data_off: usize,
    /// Offset just past the entry's lp-count.
    end: usize,
}

fn entry_at(node: &[u8], off: usize, master_id: StreamId, m: &Master) -> Option<EntryPos> {
    let (flags, p) = int_at(node, off)?;
    let (ms_delta, p) = int_at(node, p)?;
    let (seq_delta, mut p) = int_at(node, p)?;
    let id = StreamId::new(
        master_id.ms.wrapping_add(ms_delta as u64),
        master_id.seq.wrapping_add(seq_delta as u64),
    );
    let (num_fields, to_skip) = if flags & FLAG_SAMEFIELDS != 0 {
        (m.num_fields, m.num_fields)
    } else {
        let (n, next) = int_at(node, p)?;
        p = next;
        let n = u64::try_from(n).ok()?;
        (n, n.checked_mul(2)?)
    };
    let data_off = p;
    for _ in 0..to_skip {
        p = skip(node, p)?;
    }
    let end = skip(node, p)?;
    Some(EntryPos { id, flags, flags_off: off, num_fields, data_off, end })
}

/// The entry whose lp-count ends at `end`, walking backwards; None at the master entry.
fn entry_before(node: &[u8], end: usize, master_id: StreamId, m: &Master) -> Option<EntryPos> {
    let count_off = prev(node, end)?;
    let (lp_count, _) = int_at(node, count_off)?;
    if lp_count <= 0 {
        return None;
    }
    let mut p = count_off;
    for _ in 0..lp_count {
        p = prev(node, p)?;
    }
    entry_at(node, p, master_id, m)
}

/// Builds a new node buffer (`[master id][listpack]`) holding the master entry for `fields`
/// (every other element of `pairs`).
fn new_node<P: AsRef<[u8]>>(id: StreamId, pairs: &[P], prealloc: usize) -> Vec<u8> {
    let mut node = Vec::with_capacity(prealloc.max(ID_BYTES + HEADER_SIZE + 1));
    node.extend_from_slice(&id.to_be_bytes());
    node.extend_from_slice(&[0, 0, 0, 0, 0, 0, EOF]);
    let mut a = Appender::new(&mut node);
    a.int(0); // count: bumped by the append that follows
    a.int(0);
    a.int((pairs.len() / 2) as i64);
    for f in pairs.iter().step_by(2) {
        a.bytes(f.as_ref());
    }
    a.int(0);
    a.finish();
    node
}

/// A borrowed entry: its id and its field-value pairs.
#[derive(Clone, Copy)]
pub struct EntryRef<'a> {
    pub id: StreamId,
    node: &'a [u8],
    pos: EntryPos,
    master_fields_off: usize,
}

impl<'a> EntryRef<'a> {
    pub fn num_fields(&self) -> u64 {
        self.pos.num_fields
    }

    /// True when this entry is a tombstone (only yielded by iterators that include them).
    pub fn is_deleted(&self) -> bool {
        self.pos.flags & FLAG_DELETED != 0
    }

    /// The field-value pairs in order.
    pub fn fields(&self) -> Fields<'a> {
        Fields {
            node: self.node,
            same: self.pos.flags & FLAG_SAMEFIELDS != 0,
            master_off: self.master_fields_off,
            off: self.pos.data_off,
            left: self.pos.num_fields,
        }
    }
}

/// Iterator over an entry's field-value pairs.
pub struct Fields<'a> {
    node: &'a [u8],
    same: bool,
    master_off: usize,
    off: usize,
    left: u64,
}

impl<'a> Iterator for Fields<'a> {
    type Item = (Elem<'a>, Elem<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let field = if self.same {
            let (f, next) = lp::decode(self.node, self.master_off)?;
            self.master_off = next;
            f
        } else {
            let (f, next) = lp::decode(self.node, self.off)?;
            self.off = next;
            f
        };
        let (v, next) = lp::decode(self.node, self.off)?;
        self.off = next;
        Some((field, v))
    }
}

/// Iterates the entries with ids in `[start, end]`, forwards or backwards, across nodes.
pub struct RangeIter<'a> {
    nodes: NodeIter<'a>,
    start: StreamId,
    end: StreamId,
    rev: bool,
    tombstones: bool,
    /// The node being walked: its master id, bytes, master entry and cursor (forward: offset
    /// of the next entry; backward: offset just past the next entry to read).
    cur: Option<(StreamId, &'a [u8], Master, usize)>,
    done: bool,
}

impl<'a> RangeIter<'a> {
    fn next_node(&mut self) -> bool {
        let next = if self.rev { self.nodes.next_back() } else { self.nodes.next() };
        let Some((master_id, node)) = next else {
            self.done = true;
            return false;
        };
        let Some(m) = master(node) else {
            // Nodes are built here or validated on load; a malformed one ends the walk.
            self.done = true;
            return false;
        };
        let pos = if self.rev { eof_offset(node) } else { m.entries_off };
        self.cur = Some((master_id, node, m, pos));
        true
    }
}

impl<'a> Iterator for RangeIter<'a> {
    type Item = EntryRef<'a>;

    fn next(&mut self) -> Option<EntryRef<'a>> {
        loop {
            if self.done {
                return None;
            }
            let Some((master_id, node, m, pos)) = self.cur else {
                if !self.next_node() {
                    return None;
                }
                continue;
            };
            let entry = if self.rev {
                entry_before(node, pos, master_id, &m)
            } else if pos < eof_offset(node) {
                entry_at(node, pos, master_id, &m)
            } else {
                None
            };
            let Some(e) = entry else {
                self.cur = None;
                continue;
            };
            self.cur = Some((master_id, node, m, if self.rev { e.flags_off } else { e.end }));
            let live = self.tombstones || e.flags & FLAG_DELETED == 0;
            if self.rev {
                if e.id <= self.end && live {
                    if e.id < self.start {
                        self.done = true;
                        return None;
                    }
                    return Some(EntryRef {
                        id: e.id,
                        node,
                        pos: e,
                        master_fields_off: m.fields_off,
                    });
                }
                // Entries are ordered: one below `start` ends a backward walk even as a tombstone.
                if e.id < self.start {
                    self.done = true;
                    return None;
                }
            } else {
                if e.id >= self.start && live {
                    if e.id > self.end {
                        self.done = true;
                        return None;
                    }
                    return Some(EntryRef {
                        id: e.id,
                        node,
                        pos: e,
                        master_fields_off: m.fields_off,
                    });
                }
                if e.id > self.end {
                    self.done = true;
                    return None;
                }
            }
        }
    }
}

// ---- consumer groups ----------------------------------------------------------------------

/// A pending (delivered, not acknowledged) entry of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    /// Unix time of the last delivery, in ms.
    pub delivery_time_ms: i64,
    pub delivery_count: u64,
    /// Name of the consumer it was last delivered to.
    pub consumer: Arc<[u8]>,
}

/// A consumer of a group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consumer {
    /// Unix time this consumer was last active, in ms.
    pub seen_time_ms: i64,
    /// Ids pending for this consumer (each also in the group's PEL, owned by this consumer).
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerGroup {
    /// Last delivered id.
    pub last_id: StreamId,
    /// Logical reads counter; -1 when unknown (Redis's `SCG_INVALID_ENTRIES_READ`).
    pub entries_read: i64,
    pel: BTreeMap<StreamId, Nack>,
    consumers: BTreeMap<Arc<[u8]>, Consumer>,
}

/// `entries_read` value meaning "unknown".
pub const ENTRIES_READ_INVALID: i64 = -1;

impl ConsumerGroup {
    pub fn new(last_id: StreamId, entries_read: i64) -> ConsumerGroup {
        ConsumerGroup { last_id, entries_read, pel: BTreeMap::new(), consumers: BTreeMap::new() }
    }

    /// The group's pending entries, by id.
    pub fn pel(&self) -> &BTreeMap<StreamId, Nack> {
        &self.pel
    }

    /// Consumers by name (byte order, as Redis's rax).
    pub fn consumers(&self) -> impl DoubleEndedIterator<Item = (&[u8], &Consumer)> + '_ {
        self.consumers.iter().map(|(k, v)| (&k[..], v))
    }

    pub fn consumer(&self, name: &[u8]) -> Option<&Consumer> {
        self.consumers.get(name)
    }

    pub fn consumer_count(&self) -> usize {
        self.consumers.len()
    }

    /// Looks a consumer up; refreshes its seen time when `now_ms` is given.
    pub fn touch_consumer(&mut self, name: &[u8], now_ms: Option<i64>) -> bool {
        match self.consumers.get_mut(name) {
            Some(c) => {
                if let Some(now) = now_ms {
                    c.seen_time_ms = now;
                }
                true
            }
            None => false,
        }
    }

    /// Creates a consumer; false when it already exists.
    pub fn create_consumer(&mut self, name: &[u8], seen_time_ms: i64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(Arc::from(name), Consumer { seen_time_ms, pel: BTreeSet::new() });
        true
    }

    /// Deletes a consumer and its pending entries; returns how many were pending, or None
    /// when there is no such consumer.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Acknowledges `id`; true when it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(nack) = self.pel.remove(&id) else { return false };
        if let Some(c) = self.consumers.get_mut(&nack.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// Records a (re)delivery of `id` to `consumer` as XREADGROUP does: a new NACK with count 1,
    /// or the existing one moved to `consumer` with its count reset to 1. The consumer must
    /// exist.
    pub fn deliver(&mut self, id: StreamId, consumer: &[u8], now_ms: i64) {
        let Some((name, _)) = self.consumers.get_key_value(consumer) else { return };
        let name = name.clone();
        if let Some(old) = self.pel.get(&id) {
            if let Some(c) = self.consumers.get_mut(&old.consumer) {
                c.pel.remove(&id);
            }
        }
        self.pel.insert(id, Nack { delivery_time_ms: now_ms, delivery_count: 1, consumer: name });
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }

    /// Gives the pending entry `id` to `consumer` (which must exist), creating the NACK when
    /// `create` (XCLAIM FORCE) and updating its delivery time and count.
    pub fn claim(
        &mut self,
        id: StreamId,
        consumer: &[u8],
        delivery_time_ms: i64,
        count: ClaimCount,
    ) -> bool {
        let Some((name, _)) = self.consumers.get_key_value(consumer) else { return false };
        let name = name.clone();
        let Some(nack) = self.pel.get_mut(&id) else { return false };
        let previous = std::mem::replace(&mut nack.consumer, name);
        nack.delivery_time_ms = delivery_time_ms;
        match count {
            ClaimCount::Set(n) => nack.delivery_count = n,
            ClaimCount::Increment => nack.delivery_count = nack.delivery_count.wrapping_add(1),
            ClaimCount::Keep => {}
        }
        if &previous[..] != consumer {
            if let Some(c) = self.consumers.get_mut(&previous) {
                c.pel.remove(&id);
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
        true
    }

    /// Adds a NACK for `id` owned by `consumer` (which must exist) with one delivery, as
    /// XCLAIM FORCE creates one before claiming it; false when `id` is already pending.
    pub fn force_pending(&mut self, id: StreamId, consumer: &[u8], now_ms: i64) -> bool {
        if self.pel.contains_key(&id) {
            return false;
        }
        let Some((name, _)) = self.consumers.get_key_value(consumer) else { return false };
        let name = name.clone();
        self.pel.insert(id, Nack { delivery_time_ms: now_ms, delivery_count: 1, consumer: name });
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
        true
    }

    /// Updates the NACK of `id` after its entry was served again from a consumer's history.
    pub fn redeliver(&mut self, id: StreamId, now_ms: i64) {
        if let Some(n) = self.pel.get_mut(&id) {
            n.delivery_time_ms = now_ms;
            n.delivery_count = n.delivery_count.wrapping_add(1);
        }
    }

    /// Rough heap bytes of the PELs and consumers (B-tree slots, names).
    fn heap_bytes(&self) -> usize {
        let names: usize = self.consumers.keys().map(|k| k.len() + 16).sum::<usize>();
        self.pel.len() * (16 + std::mem::size_of::<Nack>() + 16) * 5 / 4
            + self.consumers.len() * (16 + std::mem::size_of::<Consumer>() + 8) * 5 / 4
            + names
    }
}

/// How XCLAIM/XAUTOCLAIM change a pending entry's delivery counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimCount {
    Set(u64),
    Increment,
    Keep,
}

// ---- node store --------------------------------------------------------------------------

/// The master id at the front of a node buffer.
fn buf_id(buf: &[u8]) -> StreamId {
    match <[u8; 16]>::try_from(buf.get(..ID_BYTES).unwrap_or(&[0; 16])) {
        Ok(b) => StreamId::from_be_bytes(b),
        Err(_) => StreamId::MIN,
    }
}

/// A node that is not the last one: its buffer (`[master id][listpack]`) in one exact-size
/// allocation, ordered by the id, so the tree holds one 16-byte pointer per node.
#[derive(Clone, Debug)]
struct Sealed(Box<[u8]>);

static NO_ID: [u8; 16] = [0; 16];

impl Borrow<[u8; 16]> for Sealed {
    fn borrow(&self) -> &[u8; 16] {
        // Buffers are built here or validated on load: they always start with their id.
        self.0.get(..ID_BYTES).and_then(|b| b.try_into().ok()).unwrap_or(&NO_ID)
    }
}

impl PartialEq for Sealed {
    fn eq(&self, other: &Self) -> bool {
        Borrow::<[u8; 16]>::borrow(self) == Borrow::<[u8; 16]>::borrow(other)
    }
}

impl Eq for Sealed {}

impl PartialOrd for Sealed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Sealed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        Borrow::<[u8; 16]>::borrow(self).cmp(Borrow::<[u8; 16]>::borrow(other))
    }
}

fn sealed_view(n: &Sealed) -> (StreamId, &[u8]) {
    (buf_id(&n.0), n.0.get(ID_BYTES..).unwrap_or(&[]))
}

/// Nodes in id order: (master id, listpack).
type NodeIter<'a> = std::iter::Chain<
    std::iter::Map<btree_set::Range<'a, Sealed>, fn(&Sealed) -> (StreamId, &[u8])>,
    std::option::IntoIter<(StreamId, &'a [u8])>,
>;

/// The nodes of a stream. Invariant: the last node is `tail` (a growable buffer, as Redis
/// pre-allocates its tail listpack), every other node is in `sealed`, shrunk to fit; so
/// appends never touch the tree, and the tree costs one pointer per node.
#[derive(Debug, Default)]
struct Nodes {
    sealed: BTreeSet<Sealed>,
    tail: Option<Vec<u8>>,
    /// Allocated bytes of all buffers (for eviction's size estimate).
    bytes: usize,
}

impl Clone for Nodes {
    fn clone(&self) -> Nodes {
        let sealed: BTreeSet<Sealed> = self.sealed.iter().cloned().collect();
        let tail = self.tail.clone();
        let bytes = sealed.iter().map(|n| n.0.len()).sum::<usize>()
            + tail.as_ref().map_or(0, Vec::capacity);
        Nodes { sealed, tail, bytes }
    }
}

impl Nodes {
    fn len(&self) -> usize {
        self.sealed.len() + self.tail.is_some() as usize
    }

    fn tail_view(&self) -> Option<(StreamId, &[u8])> {
        self.tail.as_ref().map(|t| (buf_id(t), t.get(ID_BYTES..).unwrap_or(&[])))
    }

    fn iter(&self) -> NodeIter<'_> {
        let view: fn(&Sealed) -> (StreamId, &[u8]) = sealed_view;
        self.sealed.range::<[u8; 16], _>(..).map(view).chain(self.tail_view())
    }

    /// Nodes whose master id is in `[lo, hi]`.
    fn range(&self, lo: StreamId, hi: StreamId) -> NodeIter<'_> {
        let view: fn(&Sealed) -> (StreamId, &[u8]) = sealed_view;
        let (lo_b, hi_b) = (lo.to_be_bytes(), hi.to_be_bytes());
        let sealed = if lo <= hi {
            self.sealed.range::<[u8; 16], _>(lo_b..=hi_b)
        } else {
            self.sealed.range::<[u8; 16], _>(hi_b..hi_b)
        };
        let tail = self.tail_view().filter(|(id, _)| lo <= *id && *id <= hi);
        sealed.map(view).chain(tail)
    }

    /// The master id of the last node whose id is ≤ `id`.
    fn floor(&self, id: StreamId) -> Option<StreamId> {
        if let Some((t, _)) = self.tail_view() {
            if t <= id {
                return Some(t);
            }
        }
        self.sealed.range::<[u8; 16], _>(..=id.to_be_bytes()).next_back().map(|n| buf_id(&n.0))
    }

    fn first_id(&self) -> Option<StreamId> {
        match self.sealed.first() {
            Some(n) => Some(buf_id(&n.0)),
            None => self.tail_view().map(|(id, _)| id),
        }
    }

    /// Runs `f` on the buffer of node `key`, keeping the byte count and the tree in order.
    fn modify<R>(&mut self, key: StreamId, f: impl FnOnce(&mut Vec<u8>) -> R) -> Option<R> {
        if let Some(t) = self.tail.as_mut() {
            if buf_id(t) == key {
                let before = t.capacity();
                let r = f(t);
                self.bytes = self.bytes - before + t.capacity();
                return Some(r);
            }
        }
        let node = self.sealed.take(&key.to_be_bytes())?;
        let before = node.0.len();
        let mut buf = node.0.into_vec();
        let r = f(&mut buf);
        let buf = buf.into_boxed_slice();
        self.bytes = self.bytes - before + buf.len();
        self.sealed.insert(Sealed(buf));
        Some(r)
    }

    /// Removes node `key`; the last sealed node becomes the tail when the tail goes.
    fn remove(&mut self, key: StreamId) {
        if self.tail.as_ref().is_some_and(|t| buf_id(t) == key) {
            if let Some(t) = self.tail.take() {
                self.bytes -= t.capacity();
            }
            if let Some(last) = self.sealed.pop_last() {
                self.tail = Some(last.0.into_vec());
            }
            return;
        }
        if let Some(n) = self.sealed.take(&key.to_be_bytes()) {
            self.bytes -= n.0.len();
        }
    }

    /// Seals the tail (shrunk to fit, as `lpShrinkToFit`) and makes `buf` the new tail.
    fn push_tail(&mut self, buf: Vec<u8>) {
        if let Some(old) = self.tail.take() {
            self.bytes -= old.capacity();
            let old = old.into_boxed_slice();
            self.bytes += old.len();
            self.sealed.insert(Sealed(old));
        }
        self.bytes += buf.capacity();
        self.tail = Some(buf);
    }
}

// ---- the stream ---------------------------------------------------------------------------

/// Node size limits (`stream-node-max-bytes`, `stream-node-max-entries`; 0 = no limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    pub max_bytes: u64,
    pub max_entries: u64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits { max_bytes: 4096, max_entries: 100 }
    }
}

/// The id XADD asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdRequest {
    /// `*`: from the clock, never going backwards.
    Auto,
    /// `<ms>-*`: the given ms with the next free sequence.
    Ms(u64),
    /// `<ms>-<seq>`.
    Exact(StreamId),
}

/// Why an append failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendError {
    /// The id is equal or smaller than the top item.
    IdTooSmall,
    /// The elements are too large (also what Redis answers when `<ms>-*` has no free sequence).
    TooLarge,
}

/// How a trim selects entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimStrategy {
    MaxLen(u64),
    MinId(StreamId),
}

/// A trim request: strategy, approximate (`~`: whole nodes only), and a limit on deleted
/// entries (0 = none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trim {
    pub strategy: TrimStrategy,
    pub approx: bool,
    pub limit: u64,
}

/// The stream value.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    nodes: Nodes,
    length: u64,
    last_id: StreamId,
    first_id: StreamId,
    max_deleted_entry_id: StreamId,
    entries_added: u64,
    groups: BTreeMap<Bytes, ConsumerGroup>,
}

/// What a stream holds besides its nodes, as RDB type 19 stores it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamMeta {
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_entry_id: StreamId,
    pub entries_added: u64,
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    /// Live entries.
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    pub fn last_id(&self) -> StreamId {
        self.last_id
    }

    /// The first live entry's id as recorded (0-0 when empty).
    pub fn first_id(&self) -> StreamId {
        self.first_id
    }

    pub fn max_deleted_entry_id(&self) -> StreamId {
        self.max_deleted_entry_id
    }

    pub fn entries_added(&self) -> u64 {
        self.entries_added
    }

    pub fn meta(&self) -> StreamMeta {
        StreamMeta {
            length: self.length,
            last_id: self.last_id,
            first_id: self.first_id,
            max_deleted_entry_id: self.max_deleted_entry_id,
            entries_added: self.entries_added,
        }
    }

    /// Number of nodes (Redis's `radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The nodes in id order: each node's master id and its listpack bytes, exactly what an
    /// RDB type 19 dump stores (the id as 16 big-endian bytes, see [`StreamId::to_be_bytes`]).
    pub fn nodes(&self) -> impl DoubleEndedIterator<Item = (StreamId, &[u8])> + '_ {
        self.nodes.iter()
    }

    /// Heap bytes this stream owns: node buffers, tree slots (a 16-byte pointer per node in
    /// B-tree nodes about 60% full), groups. O(groups).
    pub fn heap_bytes(&self) -> usize {
        let tree = self.nodes.len() * 16 * 5 / 3;
        let groups: usize =
            self.groups.iter().map(|(k, g)| k.len() + 96 + g.heap_bytes()).sum::<usize>();
        self.nodes.bytes + tree + groups
    }

    /// Number of nodes a Redis rax holding the node keys has (`radix-tree-nodes`): the nodes of
    /// the compressed trie over the 16-byte big-endian master ids.
    pub fn radix_tree_nodes(&self) -> u64 {
        let keys: Vec<[u8; 16]> = self.nodes.iter().map(|(k, _)| k.to_be_bytes()).collect();
        if keys.is_empty() {
            return 1;
        }
        trie_nodes(&keys, 0)
    }

    fn tail_limits_reached(
        node: &[u8],
        m: &Master,
        extra_bytes: usize,
        limits: NodeLimits,
    ) -> bool {
        let mut max_bytes = limits.max_bytes as usize;
        if max_bytes == 0 || max_bytes > LISTPACK_MAX_SIZE {
            max_bytes = LISTPACK_MAX_SIZE;
        }
        if node.len() + extra_bytes >= max_bytes {
            return true;
        }
        limits.max_entries != 0 && (m.count.saturating_add(m.deleted)) as u64 >= limits.max_entries
    }

    /// The id an append with `req` would get, checked as `streamAppendItem` checks it.
    pub fn next_id(&self, req: IdRequest, now_ms: u64) -> Result<StreamId, AppendError> {
        let id = match req {
            IdRequest::Exact(id) => id,
            IdRequest::Ms(ms) => {
                if self.last_id.ms == ms {
                    if self.last_id.seq == u64::MAX {
                        return Err(AppendError::TooLarge);
                    }
                    StreamId::new(ms, self.last_id.seq + 1)
                } else {
                    StreamId::new(ms, 0)
                }
            }
            IdRequest::Auto => {
                if now_ms > self.last_id.ms {
                    StreamId::new(now_ms, 0)
                } else {
                    self.last_id.incr().unwrap_or(StreamId::MIN)
                }
            }
        };
        if id <= self.last_id {
            return Err(AppendError::IdTooSmall);
        }
        Ok(id)
    }

    /// Appends an entry with the field-value `pairs` (an even number of elements), as XADD.
    pub fn append<P: AsRef<[u8]>>(
        &mut self,
        req: IdRequest,
        pairs: &[P],
        limits: NodeLimits,
        now_ms: u64,
    ) -> Result<StreamId, AppendError> {
        debug_assert!(pairs.len().is_multiple_of(2));
        let id = self.next_id(req, now_ms)?;
        let total_elem_bytes: usize = pairs.iter().map(|p| p.as_ref().len()).sum();
        if total_elem_bytes > LISTPACK_MAX_SIZE {
            return Err(AppendError::TooLarge);
        }
        let num_fields = (pairs.len() / 2) as u64;

        // The last node, unless it is full (then it is sealed, shrunk to fit, and a new one
        // starts with this entry's fields as its master entry).
        let fitting = self.nodes.tail_view().and_then(|(_, node)| {
            master(node).filter(|m| !Self::tail_limits_reached(node, m, total_elem_bytes, limits))
        });
        let m = match fitting {
            Some(m) => m,
            None => {
                let mut prealloc = MAX_PREALLOCATE;
                if limits.max_bytes > 0 && (limits.max_bytes as usize) < prealloc {
                    prealloc = limits.max_bytes as usize;
                }
                let node = new_node(id, pairs, prealloc);
                let Some(m) = master(&node[ID_BYTES..]) else { return Err(AppendError::TooLarge) };
                self.nodes.push_tail(node);
                m
            }
        };
        let bytes_before = self.nodes.bytes;
        let Some(node) = self.nodes.tail.as_mut() else { return Err(AppendError::TooLarge) };
        let master_id = buf_id(node);
        let before = node.capacity();
        let same = num_fields == m.num_fields && {
            let lp = &node[ID_BYTES..];
            let mut off = m.fields_off;
            let mut all = true;
            for f in pairs.iter().step_by(2) {
                match lp::decode(lp, off) {
                    Some((e, next)) if elem_eq(e, f.as_ref()) => off = next,
                    _ => {
                        all = false;
                        break;
                    }
                }
            }
            all
        };
        replace_int(node, HEADER_SIZE, m.count + 1);
        let flags = if same { FLAG_SAMEFIELDS } else { 0 };
        let mut a = Appender::new(node);
        a.int(flags);
        a.int(id.ms.wrapping_sub(master_id.ms) as i64);
        a.int(id.seq.wrapping_sub(master_id.seq) as i64);
        if !same {
            a.int(num_fields as i64);
        }
        for (i, p) in pairs.iter().enumerate() {
            if same && i % 2 == 0 {
                continue;
            }
            a.bytes(p.as_ref());
        }
        let lp_count = if same { num_fields + 3 } else { num_fields * 2 + 4 };
        a.int(lp_count as i64);
        a.finish();
        self.nodes.bytes = bytes_before - before + node.capacity();
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(id)
    }

    /// Entries with ids in `[start, end]` in id order (or reversed), tombstones skipped.
    pub fn range(&self, start: StreamId, end: StreamId, rev: bool) -> RangeIter<'_> {
        self.range_with(start, end, rev, false)
    }

    fn range_with(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        tombstones: bool,
    ) -> RangeIter<'_> {
        let lo = self.nodes.floor(start).unwrap_or(StreamId::MIN);
        // An empty node range when start > end.
        let nodes = if start > end {
            self.nodes.range(end, StreamId::MIN)
        } else {
            self.nodes.range(lo, end)
        };
        RangeIter { nodes, start, end, rev, tombstones, cur: None, done: start > end }
    }

    /// Every live entry in order.
    pub fn iter(&self) -> RangeIter<'_> {
        self.range(StreamId::MIN, StreamId::MAX, false)
    }

    /// The entry `id` when it exists (and is not deleted).
    pub fn get(&self, id: StreamId) -> Option<EntryRef<'_>> {
        self.range(id, id, false).next()
    }

    pub fn contains(&self, id: StreamId) -> bool {
        self.get(id).is_some()
    }

    /// The first or last live entry id, or MAX/MIN when there is none (`streamGetEdgeID`).
    pub fn edge_id(&self, first: bool, skip_tombstones: bool) -> StreamId {
        let mut it = self.range_with(StreamId::MIN, StreamId::MAX, !first, !skip_tombstones);
        match it.next() {
            Some(e) => e.id,
            None if first => StreamId::MAX,
            None => StreamId::MIN,
        }
    }

    /// The last live id (`streamLastValidID`); 0-0 when empty.
    pub fn last_valid_id(&self) -> StreamId {
        if self.length == 0 {
            return StreamId::MIN;
        }
        self.edge_id(false, true)
    }

    /// Marks entry `id` deleted (Redis's `streamDeleteItem`); drops its node when no live
    /// entry is left. Does not touch `first_id`/`max_deleted_entry_id` (see [`Stream::delete`]).
    fn delete_item(&mut self, id: StreamId) -> bool {
        let Some(key) = self.nodes.floor(id) else { return false };
        let found = {
            let Some((_, node)) = self.nodes.range(key, key).next() else { return false };
            let Some(m) = master(node) else { return false };
            let mut off = m.entries_off;
            loop {
                if off >= eof_offset(node) {
                    break None;
                }
                let Some(e) = entry_at(node, off, key, &m) else { break None };
                if e.id == id {
                    break (e.flags & FLAG_DELETED == 0).then_some((e, m));
                }
                if e.id > id {
                    break None;
                }
                off = e.end;
            }
        };
        let Some((e, m)) = found else { return false };
        if m.count == 1 {
            self.nodes.remove(key);
        } else {
            self.nodes.modify(key, |buf| {
                // Flags 0..3 keep their one-byte encoding: the entry does not move.
                replace_int(buf, e.flags_off, e.flags | FLAG_DELETED);
                let d = replace_int(buf, HEADER_SIZE, m.count - 1);
                replace_int(buf, (m.deleted_off as isize + d) as usize, m.deleted + 1);
            });
        }
        self.length -= 1;
        true
    }

    /// Deletes entries as XDEL does; returns how many existed.
    pub fn delete(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        let mut first_entry = false;
        for &id in ids {
            if self.delete_item(id) {
                if id == self.first_id {
                    first_entry = true;
                }
                if id > self.max_deleted_entry_id {
                    self.max_deleted_entry_id = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first_entry {
                self.first_id = self.edge_id(true, true);
            }
        }
        deleted
    }

    /// Trims as Redis's `streamTrim`: whole nodes from the head, then (unless approximate)
    /// entries inside one more node. Returns the number of entries removed.
    pub fn trim(&mut self, t: Trim) -> u64 {
        let mut deleted: u64 = 0;
        let limit = t.limit;
        loop {
            if let TrimStrategy::MaxLen(max) = t.strategy {
                if self.length <= max {
                    break;
                }
            }
            let Some(key) = self.nodes.first_id() else { break };
            let (m, remove_node) = {
                let Some((_, node)) = self.nodes.range(key, key).next() else { break };
                let Some(m) = master(node) else { break };
                let entries = m.count.max(0) as u64;
                if limit != 0 && deleted + entries > limit {
                    break;
                }
                let remove_node = match t.strategy {
                    TrimStrategy::MaxLen(max) => self.length - entries.min(self.length) >= max,
                    TrimStrategy::MinId(min) => match entry_before(node, eof_offset(node), key, &m)
                    {
                        Some(last) => last.id < min,
                        None => true,
                    },
                };
                (m, remove_node)
            };
            let entries = m.count.max(0) as u64;
            if remove_node {
                self.nodes.remove(key);
                self.length -= entries.min(self.length);
                deleted += entries;
                continue;
            }
            if t.approx {
                break;
            }
            // Mark entries inside this node.
            let mut length = self.length;
            let deleted_here = self
                .nodes
                .modify(key, |buf| {
                    let mut deleted_here: i64 = 0;
                    let mut off = m.entries_off;
                    loop {
                        let node = &buf[ID_BYTES..];
                        if off >= eof_offset(node) {
                            break;
                        }
                        let Some(e) = entry_at(node, off, key, &m) else { break };
                        let stop = match t.strategy {
                            TrimStrategy::MaxLen(max) => length <= max,
                            TrimStrategy::MinId(min) => e.id >= min,
                        };
                        if stop {
                            break;
                        }
                        if e.flags & FLAG_DELETED == 0 {
                            replace_int(buf, e.flags_off, e.flags | FLAG_DELETED);
                            deleted_here += 1;
                            length -= 1;
                        }
                        off = e.end;
                    }
                    let d = replace_int(buf, HEADER_SIZE, m.count - deleted_here);
                    replace_int(
                        buf,
                        (m.deleted_off as isize + d) as usize,
                        m.deleted + deleted_here,
                    );
                    deleted_here
                })
                .unwrap_or(0);
            self.length = length;
            deleted += deleted_here as u64;
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.edge_id(true, true);
        }
        deleted
    }

    /// XSETID: sets the last id, and optionally entries-added and the max deleted id.
    pub fn set_id(&mut self, last_id: StreamId, entries_added: Option<u64>, max_deleted: StreamId) {
        self.last_id = last_id;
        if let Some(n) = entries_added {
            self.entries_added = n;
        }
        if !max_deleted.is_zero() {
            self.max_deleted_entry_id = max_deleted;
        }
    }

    /// True when `[start, end]` (None = unbounded) may contain a tombstone
    /// (`streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: Option<StreamId>, end: Option<StreamId>) -> bool {
        if self.length == 0 || self.max_deleted_entry_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_entry_id {
            return false;
        }
        let start = start.unwrap_or(StreamId::MIN);
        let end = end.unwrap_or(StreamId::MAX);
        start <= self.max_deleted_entry_id && self.max_deleted_entry_id <= end
    }

    /// The logical read counter of `id` (`streamEstimateDistanceFromFirstEverEntry`), or
    /// [`ENTRIES_READ_INVALID`] when it cannot be known.
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        let added = self.entries_added as i64;
        if self.length == 0 && id <= self.last_id {
            return added;
        }
        if id == self.last_id {
            return added;
        }
        if id > self.last_id {
            return ENTRIES_READ_INVALID;
        }
        if self.max_deleted_entry_id.is_zero() || self.max_deleted_entry_id < self.first_id {
            if id < self.first_id {
                return added - self.length as i64;
            }
            if id == self.first_id {
                return added - self.length as i64 + 1;
            }
        }
        ENTRIES_READ_INVALID
    }

    /// A group's lag (`streamReplyWithCGLag`), None when it cannot be known.
    pub fn group_lag(&self, g: &ConsumerGroup) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != ENTRIES_READ_INVALID
            && !self.range_has_tombstones(Some(g.last_id), None)
        {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let read = self.estimate_distance(g.last_id);
        (read != ENTRIES_READ_INVALID).then(|| self.entries_added as i64 - read)
    }

    /// Advances a group past delivered entry `id` (the group-bookkeeping part of Redis's
    /// `streamReplyWithRange` for one entry).
    pub fn advance_group(&mut self, group: &[u8], id: StreamId) {
        let tombstones_after = self.range_has_tombstones(Some(id), None);
        let estimate = self.estimate_distance(id);
        let added = self.entries_added;
        let Some(g) = self.groups.get_mut(group) else { return };
        if id > g.last_id {
            if g.entries_read != ENTRIES_READ_INVALID && !tombstones_after {
                g.entries_read += 1;
            } else if added != 0 {
                g.entries_read = estimate;
            }
            g.last_id = id;
        }
    }

    // ---- groups --------------------------------------------------------------------------

    pub fn groups(&self) -> impl DoubleEndedIterator<Item = (&Bytes, &ConsumerGroup)> + '_ {
        self.groups.iter()
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    pub fn group(&self, name: &[u8]) -> Option<&ConsumerGroup> {
        self.groups.get(name)
    }

    pub fn group_mut(&mut self, name: &[u8]) -> Option<&mut ConsumerGroup> {
        self.groups.get_mut(name)
    }

    /// Creates a group; false when the name is taken.
    pub fn create_group(&mut self, name: &[u8], last_id: StreamId, entries_read: i64) -> bool {
        if self.groups.contains_key(name) {
            return false;
        }
        self.groups.insert(Bytes::copy_from_slice(name), ConsumerGroup::new(last_id, entries_read));
        true
    }

    pub fn destroy_group(&mut self, name: &[u8]) -> bool {
        self.groups.remove(name).is_some()
    }

    // ---- persistence ---------------------------------------------------------------------

    /// Rebuilds a stream from RDB type 19 parts: the nodes (master id, listpack) in any order
    /// and the metadata. Each listpack is checked deeply (Redis's
    /// `streamValidateListpackIntegrity` with deep checks) and the live entries must add up
    /// to `meta.length`. Groups are added afterwards with [`Stream::load_group`].
    pub fn from_nodes(
        nodes: impl IntoIterator<Item = (StreamId, Vec<u8>)>,
        meta: StreamMeta,
    ) -> Result<Stream, &'static str> {
        let mut sorted: BTreeMap<StreamId, Vec<u8>> = BTreeMap::new();
        let mut live: u64 = 0;
        for (key, node) in nodes {
            let (count, first) = validate_node(&node, key)?;
            if first.is_none() {
                return Err("Empty listpack inside stream");
            }
            live = live.checked_add(count).ok_or("Stream length inconsistent with rax entries")?;
            if sorted.insert(key, node).is_some() {
                return Err("Listpack re-added with existing key");
            }
        }
        if live != meta.length {
            return Err("Stream length inconsistent with rax entries");
        }
        // Entries must be in id order across nodes: each node's first entry comes after the
        // previous node's last one.
        let mut prev_last: Option<StreamId> = None;
        for (&key, node) in &sorted {
            let m = master(node).ok_or("Stream listpack integrity check failed.")?;
            let first = entry_at(node, m.entries_off, key, &m)
                .ok_or("Stream listpack integrity check failed.")?;
            let last = entry_before(node, eof_offset(node), key, &m)
                .ok_or("Stream listpack integrity check failed.")?;
            if prev_last.is_some_and(|p| first.id <= p) {
                return Err("Stream listpack entries out of order");
            }
            prev_last = Some(last.id);
        }
        let mut s = Stream::new();
        for (key, lp) in sorted {
            let mut buf = Vec::with_capacity(ID_BYTES + lp.len());
            buf.extend_from_slice(&key.to_be_bytes());
            buf.extend_from_slice(&lp);
            s.nodes.push_tail(buf);
        }
        s.length = meta.length;
        s.last_id = meta.last_id;
        s.first_id = meta.first_id;
        s.max_deleted_entry_id = meta.max_deleted_entry_id;
        s.entries_added = meta.entries_added;
        Ok(s)
    }

    /// Rebuilds a stream from a pre-7.0 dump (RDB type 15), which stores only the length and
    /// the last id besides the nodes: as Redis's loader, entries-added is the length, the max
    /// deleted id 0-0 and the first id the first live entry's. Groups of such a dump get
    /// `entries_read` = [`Stream::estimate_distance`] of their last id.
    pub fn from_nodes_legacy(
        nodes: impl IntoIterator<Item = (StreamId, Vec<u8>)>,
        length: u64,
        last_id: StreamId,
    ) -> Result<Stream, &'static str> {
        let meta = StreamMeta {
            length,
            last_id,
            first_id: StreamId::MIN,
            max_deleted_entry_id: StreamId::MIN,
            entries_added: length,
        };
        let mut s = Stream::from_nodes(nodes, meta)?;
        if s.length > 0 {
            s.first_id = s.edge_id(true, true);
        }
        Ok(s)
    }

    /// Adds a group loaded from RDB: its PEL as (id, delivery time, delivery count) and its
    /// consumers as (name, seen time, pending ids). Every PEL entry must belong to exactly one
    /// consumer and every consumer id must be in the PEL, as Redis's loader (with deep
    /// sanitization) requires. `entries_read` is -1 for "unknown" (RDB stores it as u64::MAX).
    pub fn load_group(
        &mut self,
        name: &[u8],
        last_id: StreamId,
        entries_read: i64,
        pel: impl IntoIterator<Item = (StreamId, i64, u64)>,
        consumers: impl IntoIterator<Item = (Vec<u8>, i64, Vec<StreamId>)>,
    ) -> Result<(), &'static str> {
        if self.groups.contains_key(name) {
            return Err("Duplicated consumer group name");
        }
        let mut g = ConsumerGroup::new(last_id, entries_read);
        let mut unowned: BTreeMap<StreamId, (i64, u64)> = BTreeMap::new();
        for (id, time, count) in pel {
            if unowned.insert(id, (time, count)).is_some() {
                return Err("Duplicated global PEL entry loading stream consumer group");
            }
        }
        for (cname, seen, ids) in consumers {
            if g.consumers.contains_key(&cname[..]) {
                return Err("Duplicate stream consumer detected.");
            }
            let cname: Arc<[u8]> = Arc::from(cname);
            let mut c = Consumer { seen_time_ms: seen, pel: BTreeSet::new() };
            for id in ids {
                let Some((time, count)) = unowned.remove(&id) else {
                    return Err("Consumer entry not found in group global PEL");
                };
                g.pel.insert(
                    id,
                    Nack { delivery_time_ms: time, delivery_count: count, consumer: cname.clone() },
                );
                c.pel.insert(id);
            }
            g.consumers.insert(cname, c);
        }
        if !unowned.is_empty() {
            return Err("Stream CG PEL entry without consumer");
        }
        self.groups.insert(Bytes::copy_from_slice(name), g);
        Ok(())
    }
}

fn elem_eq(e: Elem<'_>, b: &[u8]) -> bool {
    match e {
        Elem::Str(s) => s == b,
        Elem::Int(v) => itoa::Buffer::new().format(v).as_bytes() == b,
    }
}

/// Nodes of the compressed trie (Redis rax) over sorted, distinct 16-byte keys that share
/// their first `depth` bytes.
fn trie_nodes(keys: &[[u8; 16]], depth: usize) -> u64 {
    if depth >= 16 || keys.is_empty() {
        return 1; // the leaf of a key
    }
    let (first, last) = (&keys[0], &keys[keys.len() - 1]);
    if first[depth] == last[depth] {
        // One child: a compressed node spanning the common bytes, then what follows them.
        let mut l = depth;
        while l < 16 && first[l] == last[l] {
            l += 1;
        }
        return 1 + branch_nodes(keys, l);
    }
    branch_nodes(keys, depth)
}

/// A branching node at `depth` (or the leaf when `depth` is 16) and what is below it.
fn branch_nodes(keys: &[[u8; 16]], depth: usize) -> u64 {
    if depth >= 16 {
        return 1;
    }
    let mut total = 1;
    let mut i = 0;
    while i < keys.len() {
        let b = keys[i][depth];
        let mut j = i + 1;
        while j < keys.len() && keys[j][depth] == b {
            j += 1;
        }
        total += trie_nodes(&keys[i..j], depth + 1);
        i = j;
    }
    total
}

/// Checks a node's listpack as Redis's deep `streamValidateListpackIntegrity` does; returns
/// its live entry count and first entry id (None when it holds no entry).
fn validate_node(
    node: &[u8],
    master_id: StreamId,
) -> Result<(u64, Option<StreamId>), &'static str> {
    const BAD: &str = "Stream listpack integrity check failed.";
    crate::types::list::validate_listpack(node).map_err(|_| BAD)?;
    let m = master(node).ok_or(BAD)?;
    if m.count < 0 || m.deleted < 0 {
        return Err(BAD);
    }
    let total = m.count.checked_add(m.deleted).ok_or(BAD)?;
    let mut off = m.entries_off;
    let mut first = None;
    let mut live = 0i64;
    let mut prev: Option<StreamId> = None;
    for _ in 0..total {
        if off >= eof_offset(node) {
            return Err(BAD);
        }
        let e = entry_at(node, off, master_id, &m).ok_or(BAD)?;
        let extra = if e.flags & FLAG_SAMEFIELDS != 0 { 3 } else { 4 + e.num_fields as i64 };
        let count_off = prev_elem_start(node, e.end).ok_or(BAD)?;
        let (lp_count, _) = int_at(node, count_off).ok_or(BAD)?;
        if lp_count != e.num_fields as i64 + extra {
            return Err(BAD);
        }
        if prev.is_some_and(|p| e.id <= p) || e.id < master_id {
            return Err(BAD);
        }
        prev = Some(e.id);
        if e.flags & FLAG_DELETED == 0 {
            live += 1;
        }
        if first.is_none() {
            first = Some(e.id);
        }
        off = e.end;
    }
    if off != eof_offset(node) || live != m.count {
        return Err(BAD);
    }
    Ok((m.count as u64, first))
}

fn prev_elem_start(node: &[u8], end: usize) -> Option<usize> {
    prev(node, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syntax() -> IdSyntax {
        IdSyntax { missing_seq: 0, strict: false, ms_star: false }
    }

    #[test]
    fn ids_parse_like_redis() {
        let p = |s: &str| parse_id(s.as_bytes(), syntax()).map(|p| p.id.to_string());
        assert_eq!(p("1-2").as_deref(), Some("1-2"));
        assert_eq!(p("5").as_deref(), Some("5-0"));
        assert_eq!(p("-").as_deref(), Some("0-0"));
        assert_eq!(p("+").as_deref(), Some("18446744073709551615-18446744073709551615"));
        assert_eq!(p("007-08").as_deref(), Some("7-8"));
        assert_eq!(p("+5-+3").as_deref(), Some("5-3"));
        assert_eq!(p("1- -1").as_deref(), Some("1-18446744073709551615"));
        assert_eq!(p(" -1"), None);
        assert_eq!(p("1--1"), None);
        assert_eq!(p("0x5"), None);
        assert_eq!(p("1-2-3"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("18446744073709551616"), None);
        assert_eq!(p("1\u{0}junk").as_deref(), Some("1-0"));
        let strict = IdSyntax { strict: true, ..syntax() };
        assert_eq!(parse_id(b"+", strict), None);
        let star = IdSyntax { ms_star: true, ..syntax() };
        assert_eq!(
            parse_id(b"5-*", star),
            Some(ParsedId { id: StreamId::new(5, 0), seq_given: false })
        );
        assert_eq!(parse_id(b"5-*", syntax()), None);
        assert_eq!(parse_id(&[b'1'; 128], syntax()), None);
    }

    #[test]
    fn ids_step_and_order() {
        assert_eq!(StreamId::new(1, u64::MAX).incr(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.incr(), None);
        assert_eq!(StreamId::new(2, 0).decr(), Some(StreamId::new(1, u64::MAX)));
        assert_eq!(StreamId::MIN.decr(), None);
        let id = StreamId::new(0x0102, 7);
        assert_eq!(StreamId::from_be_bytes(id.to_be_bytes()), id);
        assert!(StreamId::new(1, 5) < StreamId::new(2, 0));
    }

    fn add(s: &mut Stream, id: (u64, u64), pairs: &[&str]) -> Result<StreamId, AppendError> {
        let pairs: Vec<&[u8]> = pairs.iter().map(|p| p.as_bytes()).collect();
        s.append(IdRequest::Exact(StreamId::new(id.0, id.1)), &pairs, NodeLimits::default(), 0)
    }

    fn entries(s: &Stream) -> Vec<(String, Vec<String>)> {
        s.iter()
            .map(|e| {
                let mut fv = Vec::new();
                for (f, v) in e.fields() {
                    fv.push(String::from_utf8(f.to_vec()).unwrap());
                    fv.push(String::from_utf8(v.to_vec()).unwrap());
                }
                (e.id.to_string(), fv)
            })
            .collect()
    }

    #[test]
    fn node_bytes_match_redis_listpack() {
        // XADD s 1-0 a 1 b hello  then  XADD s 2-5 a 2 b x  then  XADD s 3-0 c 3
        let mut s = Stream::new();
        add(&mut s, (1, 0), &["a", "1", "b", "hello"]).unwrap();
        add(&mut s, (2, 5), &["a", "2", "b", "x"]).unwrap();
        add(&mut s, (3, 0), &["c", "3"]).unwrap();
        let (_, node) = s.nodes().next().unwrap();
        // Header, master (count 3, deleted 0, 2 fields a b, 0), three entries.
        let mut want: Vec<u8> = vec![0, 0, 0, 0, 0, 0];
        let int = |w: &mut Vec<u8>, v: u8| w.extend_from_slice(&[v, 1]);
        let s1 = |w: &mut Vec<u8>, t: &str| {
            w.push(0x80 | t.len() as u8);
            w.extend_from_slice(t.as_bytes());
            w.push(1 + t.len() as u8);
        };
        int(&mut want, 3);
        int(&mut want, 0);
        int(&mut want, 2);
        s1(&mut want, "a");
        s1(&mut want, "b");
        int(&mut want, 0);
        for v in [2, 0, 0, 1] {
            int(&mut want, v);
        }
        s1(&mut want, "hello");
        int(&mut want, 5);
        for v in [2, 1, 5, 2] {
            int(&mut want, v);
        }
        s1(&mut want, "x");
        int(&mut want, 5);
        for v in [0, 2, 0, 1] {
            int(&mut want, v);
        }
        s1(&mut want, "c");
        int(&mut want, 3);
        int(&mut want, 6);
        want.push(0xFF);
        let total = want.len() as u32;
        want[0..4].copy_from_slice(&total.to_le_bytes());
        // Elements: master 6, two SAMEFIELDS entries of 6, one own-fields entry of 7.
        let count: u16 = 6 + 6 + 6 + 7;
        want[4..6].copy_from_slice(&count.to_le_bytes());
        assert_eq!(node, &want[..]);
        assert_eq!(
            entries(&s),
            vec![
                ("1-0".into(), vec!["a".into(), "1".into(), "b".into(), "hello".into()]),
                ("2-5".into(), vec!["a".into(), "2".into(), "b".into(), "x".into()]),
                ("3-0".into(), vec!["c".into(), "3".into()]),
            ]
        );
    }

    #[test]
    fn appends_check_ids() {
        let mut s = Stream::new();
        add(&mut s, (5, 5), &["f", "v"]).unwrap();
        assert_eq!(add(&mut s, (5, 5), &["f", "v"]), Err(AppendError::IdTooSmall));
        assert_eq!(
            s.append(IdRequest::Ms(5), &[b"f", b"v"], NodeLimits::default(), 0),
            Ok(StreamId::new(5, 6))
        );
        assert_eq!(
            s.append(IdRequest::Ms(4), &[b"f", b"v"], NodeLimits::default(), 0),
            Err(AppendError::IdTooSmall)
        );
        assert_eq!(
            s.append(IdRequest::Auto, &[b"f", b"v"], NodeLimits::default(), 3),
            Ok(StreamId::new(5, 7))
        );
        assert_eq!(
            s.append(IdRequest::Auto, &[b"f", b"v"], NodeLimits::default(), 9),
            Ok(StreamId::new(9, 0))
        );
        add(&mut s, (20, u64::MAX), &["f", "v"]).unwrap();
        assert_eq!(
            s.append(IdRequest::Ms(20), &[b"f", b"v"], NodeLimits::default(), 0),
            Err(AppendError::TooLarge)
        );
    }

    #[test]
    fn delete_range_and_reverse() {
        let mut s = Stream::new();
        let limits = NodeLimits { max_bytes: 0, max_entries: 3 };
        for i in 1..=10u64 {
            let v = i.to_string();
            s.append(IdRequest::Exact(StreamId::new(i, 0)), &[b"f", v.as_bytes()], limits, 0)
                .unwrap();
        }
        assert_eq!(s.node_count(), 4);
        assert_eq!(s.delete(&[StreamId::new(1, 0), StreamId::new(5, 0), StreamId::new(99, 0)]), 2);
        assert_eq!(s.first_id(), StreamId::new(2, 0));
        assert_eq!(s.max_deleted_entry_id(), StreamId::new(5, 0));
        let fwd: Vec<u64> =
            s.range(StreamId::new(3, 0), StreamId::new(8, 0), false).map(|e| e.id.ms).collect();
        assert_eq!(fwd, vec![3, 4, 6, 7, 8]);
        let rev: Vec<u64> =
            s.range(StreamId::new(3, 0), StreamId::new(8, 0), true).map(|e| e.id.ms).collect();
        assert_eq!(rev, vec![8, 7, 6, 4, 3]);
        // Deleting a node's last live entries drops the node.
        assert_eq!(s.delete(&[StreamId::new(4, 0), StreamId::new(6, 0)]), 2);
        assert_eq!(s.node_count(), 3);
        assert_eq!(s.len(), 6);
        assert_eq!(s.last_valid_id(), StreamId::new(10, 0));
        let heap: usize = s.nodes().map(|(_, n)| n.len() + ID_BYTES).sum();
        assert!(s.nodes.bytes >= heap);
    }

    #[test]
    fn trims_by_length_and_id() {
        let limits = NodeLimits { max_bytes: 0, max_entries: 10 };
        let mut s = Stream::new();
        for i in 1..=100u64 {
            s.append(IdRequest::Exact(StreamId::new(i, 0)), &[b"f", b"v"], limits, 0).unwrap();
        }
        let approx = |strategy| Trim { strategy, approx: true, limit: 0 };
        assert_eq!(s.trim(approx(TrimStrategy::MaxLen(55))), 40);
        assert_eq!(s.len(), 60);
        assert_eq!(s.trim(Trim { strategy: TrimStrategy::MaxLen(55), approx: false, limit: 0 }), 5);
        assert_eq!(s.first_id(), StreamId::new(46, 0));
        assert_eq!(
            s.trim(Trim {
                strategy: TrimStrategy::MinId(StreamId::new(73, 0)),
                approx: false,
                limit: 0
            }),
            27
        );
        assert_eq!(s.first_id(), StreamId::new(73, 0));
        assert_eq!(s.trim(Trim { strategy: TrimStrategy::MaxLen(0), approx: true, limit: 10 }), 8);
    }

    #[test]
    fn rax_node_counts() {
        let n = |ids: &[(u64, u64)]| {
            let mut keys: Vec<[u8; 16]> =
                ids.iter().map(|&(a, b)| StreamId::new(a, b).to_be_bytes()).collect();
            keys.sort();
            trie_nodes(&keys, 0)
        };
        assert_eq!(n(&[(1, 0)]), 2);
        // Figures read from redis-server 7.0.15 (XINFO STREAM radix-tree-nodes) with one entry
        // per node.
        assert_eq!(n(&[(1, 0), (2, 0)]), 6);
        assert_eq!(n(&[(1, 0), (2, 0), (3, 0)]), 8);
        assert_eq!(n(&[(1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (300, 0)]), 15);
        assert_eq!(n(&[(1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (300, 0), (70000, 0)]), 18);
        assert_eq!(n(&[(3, 0), (4, 0), (5, 0), (300, 0), (70000, 0)]), 14);
        assert_eq!(Stream::new().radix_tree_nodes(), 1);
    }

    #[test]
    fn nodes_round_trip_through_from_nodes() {
        let mut s = Stream::new();
        let limits = NodeLimits { max_bytes: 0, max_entries: 4 };
        for i in 1..=9u64 {
            let f = if i % 3 == 0 { "other" } else { "f" };
            s.append(IdRequest::Exact(StreamId::new(i, i)), &[f.as_bytes(), b"1234567"], limits, 0)
                .unwrap();
        }
        s.delete(&[StreamId::new(2, 2)]);
        let nodes: Vec<(StreamId, Vec<u8>)> = s.nodes().map(|(k, v)| (k, v.to_vec())).collect();
        let back = Stream::from_nodes(nodes.clone(), s.meta()).unwrap();
        assert_eq!(entries(&back), entries(&s));
        let mut broken = nodes.clone();
        broken[0].1[10] ^= 0x40;
        assert!(Stream::from_nodes(broken, s.meta()).is_err());
        let wrong_len = StreamMeta { length: 3, ..s.meta() };
        assert!(Stream::from_nodes(nodes.clone(), wrong_len).is_err());
        let legacy = Stream::from_nodes_legacy(nodes, s.len(), s.last_id()).unwrap();
        assert_eq!(legacy.first_id(), StreamId::new(1, 1));
        assert_eq!(legacy.entries_added(), 8);
        assert_eq!(legacy.max_deleted_entry_id(), StreamId::MIN);
    }

    #[test]
    fn groups_load_and_track_ownership() {
        let mut s = Stream::new();
        s.load_group(
            b"g",
            StreamId::new(5, 0),
            -1,
            [(StreamId::new(1, 0), 10, 2), (StreamId::new(2, 0), 11, 1)],
            [
                (b"alice".to_vec(), 7, vec![StreamId::new(1, 0)]),
                (b"bob".to_vec(), 8, vec![StreamId::new(2, 0)]),
            ],
        )
        .unwrap();
        let g = s.group_mut(b"g").unwrap();
        assert!(g.claim(StreamId::new(2, 0), b"alice", 50, ClaimCount::Increment));
        assert_eq!(g.consumer(b"alice").unwrap().pel.len(), 2);
        assert!(g.consumer(b"bob").unwrap().pel.is_empty());
        assert_eq!(g.pel()[&StreamId::new(2, 0)].delivery_count, 2);
        assert!(g.ack(StreamId::new(1, 0)));
        assert_eq!(g.delete_consumer(b"alice"), Some(1));
        assert!(g.pel().is_empty());
        let err = s.load_group(b"h", StreamId::MIN, 0, [(StreamId::new(1, 0), 0, 1)], []);
        assert_eq!(err, Err("Stream CG PEL entry without consumer"));
    }
}
