//! Streams (RDB types 15 and 19) as plain data: the engine has no stream type yet, so a stream
//! decodes into [`StreamData`], which the stream type will be built from, and encodes back
//! from it.
//!
//! ```text
//!  STREAM_LISTPACKS_2 = nodes · length · last id · first id · max deleted id · entries added
//!                       · groups
//!  node   = master id (16 bytes BE, as an RDB string) · listpack:
//!           count · deleted · n · field₁..fieldₙ · 0                       (master entry)
//!           then per entry: flags · ms-diff · seq-diff · [n · (field value)ₙ | valueₙ]
//!                           · lp-count          (SAMEFIELDS (2): the master's fields)
//!  group  = name · last id · entries read (u64; 2^64-1 = unknown) · PEL · consumers
//!  PEL    = n · (id 16 bytes raw · delivery time ms i64 LE · delivery count)ₙ
//!  consumer = name · seen time ms i64 LE · n · (id 16 bytes raw)ₙ
//! ```
//! Entries keep only what XRANGE shows (deleted entries are dropped on load); nodes are rebuilt
//! on save the way XADD fills them (`stream-node-max-bytes`, `stream-node-max-entries`), so a
//! stream saved by Mayfly has the node layout Redis would have if the same entries were
//! added in order.

use bytes::Bytes;

use crate::error::RdbError;
use crate::format::{TYPE_STREAM_LISTPACKS, TYPE_STREAM_LISTPACKS_2};
use crate::packed::listpack::{self, Entry};
use crate::reader::Reader;

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;
/// `STREAM_LISTPACK_MAX_SIZE`: the node byte limit when the setting is 0 or larger.
const LISTPACK_MAX_SIZE: usize = 1 << 30;

const CORRUPT_LISTPACK: &str = "Stream listpack integrity check failed.";

/// A stream entry id, `ms-seq`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The 128-bit big-endian form used as radix-tree key and in PELs.
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    pub fn from_be_bytes(b: &[u8]) -> Option<StreamId> {
        let b: &[u8; 16] = b.try_into().ok()?;
        let mut ms = [0u8; 8];
        let mut seq = [0u8; 8];
        ms.copy_from_slice(&b[..8]);
        seq.copy_from_slice(&b[8..]);
        Some(StreamId { ms: u64::from_be_bytes(ms), seq: u64::from_be_bytes(seq) })
    }

    fn is_zero(self) -> bool {
        self == StreamId::default()
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One live entry: its id and its field/value pairs in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEntry {
    pub id: StreamId,
    pub fields: Vec<(Bytes, Bytes)>,
}

/// A pending (delivered, not acknowledged) entry of a consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEntry {
    pub id: StreamId,
    pub delivery_time_ms: i64,
    pub delivery_count: u64,
    /// The consumer that owns it. `None` only when decoded without deep sanitization from a
    /// payload where no consumer claims it (Redis keeps such entries too; with
    /// `deep_sanitize` they are refused).
    pub consumer: Option<Bytes>,
}

/// A consumer of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumer {
    pub name: Bytes,
    pub seen_time_ms: i64,
    /// Ids of the group PEL entries this consumer owns, ascending.
    pub pending: Vec<StreamId>,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerGroup {
    pub name: Bytes,
    pub last_id: StreamId,
    /// The group's logical read counter; -1 when unknown (stored as 2^64-1).
    pub entries_read: i64,
    /// Ascending by id.
    pub pel: Vec<PendingEntry>,
    /// Ascending by name.
    pub consumers: Vec<Consumer>,
}

/// A whole stream value.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StreamData {
    /// Live entries, ascending by id.
    pub entries: Vec<StreamEntry>,
    /// Number of live entries (XLEN).
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_entry_id: StreamId,
    pub entries_added: u64,
    /// Ascending by name.
    pub groups: Vec<ConsumerGroup>,
}

/// Node layout limits used when writing (`stream-node-max-bytes`, `stream-node-max-entries`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamNodeLimits {
    pub max_bytes: usize,
    pub max_entries: usize,
}

impl Default for StreamNodeLimits {
    fn default() -> Self {
        StreamNodeLimits { max_bytes: 4096, max_entries: 100 }
    }
}

/// Walks one node listpack (Redis's deep `streamValidateListpackIntegrity`) and appends its
/// live entries to `out`. `None` when the layout is wrong.
fn decode_node(master: StreamId, entries: &[Entry<'_>], out: &mut Vec<StreamEntry>) -> Option<()> {
    let mut it = entries.iter().copied();
    fn int<'a>(it: &mut impl Iterator<Item = Entry<'a>>) -> Option<i64> {
        it.next()?.as_int()
    }
    let count = int(&mut it)?;
    let deleted = int(&mut it)?;
    let master_fields = int(&mut it)?;
    if count < 0 || deleted < 0 || master_fields < 0 || master_fields as u64 > entries.len() as u64
    {
        return None;
    }
    let names: Vec<Entry<'_>> = (0..master_fields).map(|_| it.next()).collect::<Option<_>>()?;
    if int(&mut it)? != 0 {
        return None;
    }
    let total = count.checked_add(deleted)?;
    // Every entry takes at least four listpack entries.
    if total as u64 > entries.len() as u64 / 4 + 1 {
        return None;
    }
    for _ in 0..total {
        let flags = int(&mut it)?;
        let ms_diff = int(&mut it)?;
        let seq_diff = int(&mut it)?;
        let id = StreamId {
            ms: master.ms.wrapping_add(ms_diff as u64),
            seq: master.seq.wrapping_add(seq_diff as u64),
        };
        let mut fields = Vec::new();
        let expected_count = if flags & FLAG_SAMEFIELDS != 0 {
            for name in &names {
                let value = it.next()?;
                fields.push((Bytes::from(name.to_vec()), Bytes::from(value.to_vec())));
            }
            master_fields + 3
        } else {
            let n = int(&mut it)?;
            if n < 0 || n as u64 > entries.len() as u64 {
                return None;
            }
            for _ in 0..n {
                let field = it.next()?;
                let value = it.next()?;
                fields.push((Bytes::from(field.to_vec()), Bytes::from(value.to_vec())));
            }
            2 * n + 4
        };
        if int(&mut it)? != expected_count {
            return None;
        }
        if flags & FLAG_DELETED == 0 {
            out.push(StreamEntry { id, fields });
        }
    }
    it.next().is_none().then_some(())
}

/// Redis's `streamEstimateDistanceFromFirstEverEntry`, for groups of type-15 streams, which
/// carry no read counter.
fn estimate_entries_read(s: &StreamData, id: StreamId) -> i64 {
    if s.entries_added == 0 {
        return 0;
    }
    if s.length == 0 && id <= s.last_id {
        return s.entries_added as i64;
    }
    if id == s.last_id {
        return s.entries_added as i64;
    }
    if id > s.last_id {
        return -1;
    }
    if s.max_deleted_entry_id.is_zero() || s.max_deleted_entry_id < s.first_id {
        if id < s.first_id {
            return (s.entries_added - s.length) as i64;
        }
        if id == s.first_id {
            return (s.entries_added - s.length + 1) as i64;
        }
    }
    -1
}

fn read_id(r: &mut Reader<'_>) -> Result<StreamId, RdbError> {
    let raw = r.take(16)?;
    Ok(StreamId::from_be_bytes(raw).unwrap_or_default())
}

/// Decodes a stream value of `rdb_type` (15 or 19).
pub(crate) fn decode(r: &mut Reader<'_>, rdb_type: u8, deep: bool) -> Result<StreamData, RdbError> {
    debug_assert!(rdb_type == TYPE_STREAM_LISTPACKS || rdb_type == TYPE_STREAM_LISTPACKS_2);
    let nodes = r.read_len()?;
    let mut keyed: Vec<(StreamId, Vec<StreamEntry>)> = Vec::new();
    // Each node takes at least a few bytes: the loop ends with the input.
    for _ in 0..nodes {
        let at = r.pos();
        let key = r.string()?;
        let key = key.bytes();
        let Some(master) = StreamId::from_be_bytes(&key) else {
            return Err(r.corrupt(at, "Stream node key entry is not the size of a stream ID"));
        };
        let at = r.pos();
        let blob = r.string()?;
        let blob = blob.bytes();
        let entries = listpack::parse(&blob).ok_or_else(|| r.corrupt(at, CORRUPT_LISTPACK))?;
        if entries.is_empty() {
            return Err(r.corrupt(at, "Empty listpack inside stream"));
        }
        let mut node_entries = Vec::new();
        decode_node(master, &entries, &mut node_entries)
            .ok_or_else(|| r.corrupt(at, CORRUPT_LISTPACK))?;
        keyed.push((master, node_entries));
    }
    let at = r.pos();
    keyed.sort_by_key(|(k, _)| *k);
    if keyed.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(r.corrupt(at, "Listpack re-added with existing key"));
    }
    let node_count = keyed.len();
    let entries: Vec<StreamEntry> = keyed.into_iter().flat_map(|(_, e)| e).collect();
    if entries.windows(2).any(|w| w[0].id >= w[1].id) {
        return Err(r.corrupt(at, CORRUPT_LISTPACK));
    }
    let mut s = StreamData { entries, ..StreamData::default() };
    s.length = r.read_len()?;
    s.last_id = StreamId::new(r.read_len()?, r.read_len()?);
    if rdb_type == TYPE_STREAM_LISTPACKS_2 {
        s.first_id = StreamId::new(r.read_len()?, r.read_len()?);
        s.max_deleted_entry_id = StreamId::new(r.read_len()?, r.read_len()?);
        s.entries_added = r.read_len()?;
    } else {
        s.max_deleted_entry_id = StreamId::default();
        s.entries_added = s.length;
        s.first_id = s.entries.first().map_or(StreamId::MAX, |e| e.id);
    }
    if s.length != 0 && node_count == 0 {
        return Err(r.corrupt(at, "Stream length inconsistent with rax entries"));
    }
    if s.length != s.entries.len() as u64 {
        return Err(r.corrupt(at, "Stream length inconsistent with rax entries"));
    }
    let groups = r.read_len()?;
    for _ in 0..groups {
        let at = r.pos();
        let name = Bytes::from(r.string_vec()?);
        let last_id = StreamId::new(r.read_len()?, r.read_len()?);
        let entries_read = if rdb_type == TYPE_STREAM_LISTPACKS_2 {
            r.read_len()? as i64
        } else {
            estimate_entries_read(&s, last_id)
        };
        if s.groups.iter().any(|g| g.name == name) {
            return Err(r.corrupt(at, "Duplicated consumer group name"));
        }
        let mut pel: Vec<PendingEntry> = Vec::new();
        let pel_size = r.read_len()?;
        for _ in 0..pel_size {
            let id = read_id(r)?;
            let delivery_time_ms = r.i64_le()?;
            let delivery_count = r.read_len()?;
            pel.push(PendingEntry { id, delivery_time_ms, delivery_count, consumer: None });
        }
        pel.sort_by_key(|p| p.id);
        if pel.windows(2).any(|w| w[0].id == w[1].id) {
            return Err(r.corrupt(at, "Duplicated global PEL entry loading stream consumer group"));
        }
        let mut consumers: Vec<Consumer> = Vec::new();
        let consumer_count = r.read_len()?;
        for _ in 0..consumer_count {
            let at = r.pos();
            let cname = Bytes::from(r.string_vec()?);
            if consumers.iter().any(|c| c.name == cname) {
                return Err(r.corrupt(at, "Duplicate stream consumer detected."));
            }
            let seen_time_ms = r.i64_le()?;
            let n = r.read_len()?;
            let mut pending = Vec::new();
            for _ in 0..n {
                let at = r.pos();
                let id = read_id(r)?;
                let Ok(i) = pel.binary_search_by_key(&id, |p| p.id) else {
                    return Err(r.corrupt(at, "Consumer entry not found in group global PEL"));
                };
                if pel[i].consumer.is_some() {
                    // Redis only refuses a repeat inside one consumer's PEL; an entry owned by
                    // two consumers would leave its owner ambiguous, so it is refused too.
                    return Err(r.corrupt(
                        at,
                        "Duplicated consumer PEL entry  loading a stream consumer group",
                    ));
                }
                pel[i].consumer = Some(cname.clone());
                pending.push(id);
            }
            pending.sort_unstable();
            consumers.push(Consumer { name: cname, seen_time_ms, pending });
        }
        if deep && pel.iter().any(|p| p.consumer.is_none()) {
            return Err(r.corrupt(r.pos(), "Stream CG PEL entry without consumer"));
        }
        consumers.sort_by(|a, b| a.name.cmp(&b.name));
        s.groups.push(ConsumerGroup { name, last_id, entries_read, pel, consumers });
    }
    s.groups.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(s)
}

/// One node being filled, as XADD fills the tail node.
struct NodeBuilder {
    master: StreamId,
    master_fields: Vec<Bytes>,
    /// Everything after the master entry's count: deleted, n, fields, 0, entries.
    body: listpack::Writer,
    count: i64,
}

impl NodeBuilder {
    fn new(first: &StreamEntry) -> NodeBuilder {
        let mut body = listpack::Writer::new();
        body.push_int(0);
        body.push_int(first.fields.len() as i64);
        for (f, _) in &first.fields {
            body.push(f);
        }
        body.push_int(0);
        NodeBuilder {
            master: first.id,
            master_fields: first.fields.iter().map(|(f, _)| f.clone()).collect(),
            body,
            count: 0,
        }
    }

    /// `lpBytes` of the node as it stands.
    fn bytes(&self) -> usize {
        self.body.bytes() + listpack::int_entry_size(self.count)
    }

    fn push(&mut self, e: &StreamEntry) {
        let same = e.fields.len() == self.master_fields.len()
            && e.fields.iter().zip(&self.master_fields).all(|((f, _), m)| f == m);
        let flags = if same { FLAG_SAMEFIELDS } else { 0 };
        let b = &mut self.body;
        b.push_int(flags);
        b.push_int(e.id.ms.wrapping_sub(self.master.ms) as i64);
        b.push_int(e.id.seq.wrapping_sub(self.master.seq) as i64);
        if !same {
            b.push_int(e.fields.len() as i64);
        }
        for (f, v) in &e.fields {
            if !same {
                b.push(f);
            }
            b.push(v);
        }
        let n = e.fields.len() as i64;
        b.push_int(if same { n + 3 } else { 2 * n + 4 });
        self.count += 1;
    }

    fn finish(self) -> (StreamId, Vec<u8>) {
        let mut head = listpack::Writer::new();
        head.push_int(self.count);
        // The body writer counted its own entries; the master count adds one.
        let lp = listpack::assemble(&[head.body(), self.body.body()], self.body.len() + 1);
        (self.master, lp)
    }
}

/// Splits the entries into node listpacks as consecutive XADDs would: a new node when the
/// tail's bytes plus the entry's field and value bytes reach `max_bytes`, or when the tail
/// holds `max_entries` entries.
pub(crate) fn build_nodes(s: &StreamData, limits: StreamNodeLimits) -> Vec<(StreamId, Vec<u8>)> {
    let max_bytes = if limits.max_bytes == 0 || limits.max_bytes > LISTPACK_MAX_SIZE {
        LISTPACK_MAX_SIZE
    } else {
        limits.max_bytes
    };
    let mut nodes = Vec::new();
    let mut tail: Option<NodeBuilder> = None;
    for e in &s.entries {
        let payload: usize = e.fields.iter().map(|(f, v)| f.len() + v.len()).sum();
        if let Some(node) = &tail {
            let full = node.bytes() + payload >= max_bytes
                || (limits.max_entries != 0 && node.count as usize >= limits.max_entries);
            if full {
                if let Some(done) = tail.take() {
                    nodes.push(done.finish());
                }
            }
        }
        let node = tail.get_or_insert_with(|| NodeBuilder::new(e));
        node.push(e);
    }
    if let Some(done) = tail {
        nodes.push(done.finish());
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ms: u64, seq: u64, fields: &[(&str, &str)]) -> StreamEntry {
        StreamEntry {
            id: StreamId::new(ms, seq),
            fields: fields
                .iter()
                .map(|(f, v)| {
                    (Bytes::copy_from_slice(f.as_bytes()), Bytes::copy_from_slice(v.as_bytes()))
                })
                .collect(),
        }
    }

    #[test]
    fn nodes_round_trip_and_split_like_xadd() {
        let s = StreamData {
            entries: (0..10)
                .map(|i| {
                    if i % 3 == 0 {
                        entry(1000 + i, 0, &[("a", "1"), ("b", "x")])
                    } else {
                        entry(1000 + i, 0, &[("c", "2")])
                    }
                })
                .collect(),
            ..StreamData::default()
        };
        let nodes = build_nodes(&s, StreamNodeLimits { max_bytes: 4096, max_entries: 4 });
        assert_eq!(nodes.len(), 3);
        let mut out = Vec::new();
        for (master, lp) in &nodes {
            let entries = listpack::parse(lp).expect("valid listpack");
            decode_node(*master, &entries, &mut out).expect("valid node");
        }
        assert_eq!(out, s.entries);
        // A small byte limit: every entry in its own node.
        let nodes = build_nodes(&s, StreamNodeLimits { max_bytes: 10, max_entries: 0 });
        assert_eq!(nodes.len(), 10);
    }

    #[test]
    fn estimates_entries_read_like_redis() {
        let s = StreamData {
            entries: vec![entry(5, 0, &[("f", "v")])],
            length: 1,
            last_id: StreamId::new(5, 0),
            first_id: StreamId::new(5, 0),
            entries_added: 3,
            ..StreamData::default()
        };
        assert_eq!(estimate_entries_read(&s, StreamId::new(5, 0)), 3);
        assert_eq!(estimate_entries_read(&s, StreamId::new(6, 0)), -1);
        assert_eq!(estimate_entries_read(&s, StreamId::new(1, 0)), 2);
    }
}

/// Conversions between the codec's [`StreamData`] and the engine's stream value.
mod engine_bridge {
    use super::{Consumer, ConsumerGroup, PendingEntry, StreamData, StreamEntry, StreamId};
    use bytes::Bytes;
    use mayfly_engine::types::stream::{self as es, IdRequest, NodeLimits, Stream};

    fn to_codec(id: es::StreamId) -> StreamId {
        StreamId { ms: id.ms, seq: id.seq }
    }

    fn to_engine(id: StreamId) -> es::StreamId {
        es::StreamId { ms: id.ms, seq: id.seq }
    }

    impl StreamData {
        /// The codec's form of an engine stream (live entries, metadata, groups).
        pub fn from_engine(s: &Stream) -> StreamData {
            let meta = s.meta();
            let entries = s
                .iter()
                .map(|e| StreamEntry {
                    id: to_codec(e.id),
                    fields: e.fields().map(|(f, v)| (f.to_bytes(), v.to_bytes())).collect(),
                })
                .collect();
            let groups = s
                .groups()
                .map(|(name, g)| ConsumerGroup {
                    name: name.clone(),
                    last_id: to_codec(g.last_id),
                    entries_read: g.entries_read,
                    pel: g
                        .pel()
                        .iter()
                        .map(|(id, n)| PendingEntry {
                            id: to_codec(*id),
                            delivery_time_ms: n.delivery_time_ms,
                            delivery_count: n.delivery_count,
                            consumer: Some(Bytes::copy_from_slice(&n.consumer)),
                        })
                        .collect(),
                    consumers: g
                        .consumers()
                        .map(|(c, info)| Consumer {
                            name: Bytes::copy_from_slice(c),
                            seen_time_ms: info.seen_time_ms,
                            pending: info.pel.iter().map(|id| to_codec(*id)).collect(),
                        })
                        .collect(),
                })
                .collect();
            StreamData {
                entries,
                length: meta.length,
                last_id: to_codec(meta.last_id),
                first_id: to_codec(meta.first_id),
                max_deleted_entry_id: to_codec(meta.max_deleted_entry_id),
                entries_added: meta.entries_added,
                groups,
            }
        }

        /// Builds the engine's stream: entries appended with their ids under the node
        /// `limits`, then the metadata and groups. Err names what is inconsistent (a loader
        /// reports it as a corrupt value).
        pub fn to_engine(&self, limits: NodeLimits) -> Result<Stream, &'static str> {
            let mut s = Stream::new();
            for e in &self.entries {
                let mut pairs: Vec<&[u8]> = Vec::with_capacity(e.fields.len() * 2);
                for (f, v) in &e.fields {
                    pairs.push(f);
                    pairs.push(v);
                }
                s.append(IdRequest::Exact(to_engine(e.id)), &pairs, limits, 0)
                    .map_err(|_| "Stream entry ids are not increasing")?;
            }
            s.set_id(
                to_engine(self.last_id),
                Some(self.entries_added),
                to_engine(self.max_deleted_entry_id),
            );
            for g in &self.groups {
                let pel =
                    g.pel.iter().map(|p| (to_engine(p.id), p.delivery_time_ms, p.delivery_count));
                let consumers = g.consumers.iter().map(|c| {
                    (
                        c.name.to_vec(),
                        c.seen_time_ms,
                        c.pending.iter().map(|id| to_engine(*id)).collect(),
                    )
                });
                s.load_group(&g.name, to_engine(g.last_id), g.entries_read, pel, consumers)?;
            }
            Ok(s)
        }
    }
}
