//! List values: Redis 7.0's quicklist, a deque of nodes that each hold a byte-exact listpack.
//!
//! ```text
//!  ListValue ─┬─ Single(Node)            one node: no deque, one allocation fewer
//!             └─ Multi(VecDeque<Node>)   a deque of nodes
//!  Node ─┬─ Packed { buf, count }   listpack: [total u32][count u16] entry* [0xFF]
//!        └─ Plain(Box<[u8]>)        one element of ≥ 1 GiB on its own (Redis's PLAIN node)
//!  entry = header (integer, or string length) · data · backlen (1–5 bytes, read right to left)
//! ```
//! Why listpacks: an element costs its bytes plus two or three (strict integers cost one to nine
//! bytes in total), with no per-element pointer or allocation, and each node is exactly the blob
//! an RDB `QUICKLIST_2` dump stores, so persistence copies node buffers as they are. Node size
//! follows `list-max-listpack-size` as Redis's `_quicklistNodeAllowInsert` does (-1..-5: 4..64
//! KiB per node, positive: entries per node under an 8 KiB safety limit), so memory per element
//! matches redis-server's quicklist. Redis 7.0 reports `quicklist` for every list (the
//! `listpack` list encoding arrived in 7.2), and so does [`ListValue::encoding`]; a list of one
//! node simply skips the deque.
//!
//! Work per operation is bounded by one node (a few KiB) plus a walk over node headers, as in
//! Redis: pushes and pops at the ends touch one node, indexing walks node counts.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

use crate::value::parse_i64_strict;

/// Elements at least this long get a node of their own (Redis's `packed_threshold`, 1 GiB).
pub const PACKED_THRESHOLD: usize = 1 << 30;

static PACKED_THRESHOLD_NOW: AtomicUsize = AtomicUsize::new(PACKED_THRESHOLD);

/// Changes the plain-node threshold process-wide, as Redis's `DEBUG QUICKLIST-PACKED-THRESHOLD`
/// does; clamped to 1..=1 GiB so listpack string lengths always fit their 32-bit field.
pub fn set_packed_threshold(bytes: usize) {
    PACKED_THRESHOLD_NOW.store(bytes.clamp(1, PACKED_THRESHOLD), Ordering::Relaxed);
}

fn is_large(len: usize) -> bool {
    len >= PACKED_THRESHOLD_NOW.load(Ordering::Relaxed)
}
/// Positive fills still stop a node at this many bytes (Redis's `SIZE_SAFETY_LIMIT`).
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Node byte limits for fills -1..-5.
const OPTIMIZATION_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// Redis clamps the fill to this many entries.
const FILL_MAX: i64 = (1 << 15) - 1;

const HEADER_SIZE: usize = 6;
const EOF: u8 = 0xFF;

/// One element as a listpack stores it: strict integers as numbers, everything else as bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Elem<'_> {
    pub fn to_bytes(self) -> Bytes {
        match self {
            Elem::Int(v) => Bytes::copy_from_slice(itoa::Buffer::new().format(v).as_bytes()),
            Elem::Str(s) => Bytes::copy_from_slice(s),
        }
    }

    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Elem::Int(v) => itoa::Buffer::new().format(v).as_bytes().to_vec(),
            Elem::Str(s) => s.to_vec(),
        }
    }
}

/// A value to compare elements with, parsed once: as in `lpCompare`, an integer element equals
/// the needle when the needle is the same strict integer.
#[derive(Clone, Copy, Debug)]
pub struct Needle<'a> {
    bytes: &'a [u8],
    int: Option<i64>,
}

impl<'a> Needle<'a> {
    pub fn new(bytes: &'a [u8]) -> Needle<'a> {
        Needle { bytes, int: strict_int(bytes) }
    }

    pub fn matches(&self, e: Elem<'_>) -> bool {
        match e {
            Elem::Int(v) => self.int == Some(v),
            Elem::Str(s) => s == self.bytes,
        }
    }
}

fn strict_int(b: &[u8]) -> Option<i64> {
    if b.len() > 20 {
        None
    } else {
        parse_i64_strict(b)
    }
}

/// Listpack primitives over a byte buffer. Buffers are built here or validated by
/// [`validate_listpack`], so offsets handed around always point at entry starts. Shared with
/// the stream type, whose nodes are listpacks too.
pub(crate) mod lp {
    use super::{strict_int, Elem, EOF, HEADER_SIZE};

    pub fn empty() -> Vec<u8> {
        let mut buf = Vec::with_capacity(HEADER_SIZE + 1);
        buf.extend_from_slice(&[(HEADER_SIZE + 1) as u8, 0, 0, 0, 0, 0, EOF]);
        buf
    }

    /// Writes the header fields after the buffer changed.
    pub fn set_header(buf: &mut [u8], count: usize) {
        let total = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        buf[0..4].copy_from_slice(&total.to_le_bytes());
        // 65535 means "count unknown" in the format; readers then walk the entries.
        let n = u16::try_from(count).unwrap_or(u16::MAX);
        buf[4..6].copy_from_slice(&n.to_le_bytes());
    }

    pub fn backlen_size(l: usize) -> usize {
        if l <= 127 {
            1
        } else if l < 16383 {
            2
        } else if l < 2097151 {
            3
        } else if l < 268435455 {
            4
        } else {
            5
        }
    }

    fn push_backlen(out: &mut Vec<u8>, l: usize) {
        let n = backlen_size(l);
        // The first byte holds the highest bits without the continuation flag; the last byte
        // the lowest 7 bits, so a reader walking backwards starts with the low bits.
        for i in (0..n).rev() {
            let part = ((l >> (7 * i)) & 127) as u8;
            out.push(if i == n - 1 { part } else { part | 128 });
        }
    }

    /// Reads the backlen that ends just before `end`; None when malformed.
    pub fn read_backlen(buf: &[u8], end: usize) -> Option<(usize, usize)> {
        let mut val = 0usize;
        let mut shift = 0;
        let mut p = end;
        loop {
            p = p.checked_sub(1)?;
            let b = *buf.get(p)?;
            val |= ((b & 127) as usize) << shift;
            if b & 128 == 0 {
                break;
            }
            shift += 7;
            if shift > 28 {
                return None;
            }
        }
        Some((val, end - p))
    }

    /// Bytes an entry for `v` takes, header + data + backlen.
    pub fn entry_size(v: &[u8]) -> usize {
        let l = match strict_int(v) {
            Some(n) => int_size(n),
            None => str_header_size(v.len()) + v.len(),
        };
        l + backlen_size(l)
    }

    fn int_size(n: i64) -> usize {
        match n {
            0..=127 => 1,
            -4096..=4095 => 2,
            -32768..=32767 => 3,
            -8388608..=8388607 => 4,
            -2147483648..=2147483647 => 5,
            _ => 9,
        }
    }

    fn str_header_size(len: usize) -> usize {
        if len < 64 {
            1
        } else if len < 4096 {
            2
        } else {
            5
        }
    }

    /// The encoded integer entry `n` (header, data and its one-byte backlen) on the stack.
    pub fn int_entry(n: i64) -> ([u8; 12], usize) {
        let mut out = [0u8; 12];
        let l = match int_size(n) {
            1 => {
                out[0] = n as u8;
                1
            }
            2 => {
                let u = (n as u64) & 0x1FFF;
                out[0] = 0xC0 | (u >> 8) as u8;
                out[1] = u as u8;
                2
            }
            size => {
                let (tag, width) = match size {
                    3 => (0xF1, 2),
                    4 => (0xF2, 3),
                    5 => (0xF3, 4),
                    _ => (0xF4, 8),
                };
                out[0] = tag;
                out[1..1 + width].copy_from_slice(&n.to_le_bytes()[..width]);
                1 + width
            }
        };
        // An integer entry is at most 9 bytes: its backlen is the one byte `l`.
        out[l] = l as u8;
        (out, l + 1)
    }

    /// Appends the encoded integer entry `n` to `out` (Redis's `lpAppendInteger`).
    pub fn encode_int(out: &mut Vec<u8>, n: i64) {
        let (entry, len) = int_entry(n);
        out.extend_from_slice(&entry[..len]);
    }

    /// Appends the encoded entry for `v` to `out`.
    pub fn encode(out: &mut Vec<u8>, v: &[u8]) {
        if let Some(n) = strict_int(v) {
            encode_int(out, n);
            return;
        }
        let start = out.len();
        let len = v.len();
        if len < 64 {
            out.push(0x80 | len as u8);
        } else if len < 4096 {
            out.push(0xE0 | (len >> 8) as u8);
            out.push(len as u8);
        } else {
            out.push(0xF0);
            // Callers keep elements under PACKED_THRESHOLD (< 4 GiB) in listpacks.
            out.extend_from_slice(&(len as u32).to_le_bytes());
        }
        out.extend_from_slice(v);
        let l = out.len() - start;
        push_backlen(out, l);
    }

    fn sign_extend(u: u64, bits: u32) -> i64 {
        let shift = 64 - bits;
        ((u << shift) as i64) >> shift
    }

    /// Decodes the entry at `off`: its element, and the offset of the next entry. None when the
    /// bytes are not a well-formed entry inside `buf` (only possible for foreign buffers).
    pub fn decode(buf: &[u8], off: usize) -> Option<(Elem<'_>, usize)> {
        let b = *buf.get(off)?;
        let le = |from: usize, width: usize| -> Option<u64> {
            let s = buf.get(from..from.checked_add(width)?)?;
            let mut raw = [0u8; 8];
            raw[..width].copy_from_slice(s);
            Some(u64::from_le_bytes(raw))
        };
        let (elem, l) = if b & 0x80 == 0 {
            (Elem::Int(b as i64), 1)
        } else if b & 0xC0 == 0x80 {
            let len = (b & 0x3F) as usize;
            (Elem::Str(buf.get(off + 1..off + 1 + len)?), 1 + len)
        } else if b & 0xE0 == 0xC0 {
            let u = (((b & 0x1F) as u64) << 8) | *buf.get(off + 1)? as u64;
            (Elem::Int(sign_extend(u, 13)), 2)
        } else if b & 0xF0 == 0xE0 {
            let len = (((b & 0x0F) as usize) << 8) | *buf.get(off + 1)? as usize;
            (Elem::Str(buf.get(off + 2..(off + 2).checked_add(len)?)?), 2 + len)
        } else {
            match b {
                0xF0 => {
                    let len = le(off + 1, 4)? as usize;
                    (Elem::Str(buf.get(off + 5..(off + 5).checked_add(len)?)?), 5 + len)
                }
                0xF1 => (Elem::Int(sign_extend(le(off + 1, 2)?, 16)), 3),
                0xF2 => (Elem::Int(sign_extend(le(off + 1, 3)?, 24)), 4),
                0xF3 => (Elem::Int(sign_extend(le(off + 1, 4)?, 32)), 5),
                0xF4 => (Elem::Int(le(off + 1, 8)? as i64), 9),
                _ => return None,
            }
        };
        let next = off + l + backlen_size(l);
        if next > buf.len() {
            return None;
        }
        Some((elem, next))
    }

    /// Offsets of every entry, in order.
    pub fn offsets(buf: &[u8]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut off = HEADER_SIZE;
        while off < buf.len() && buf[off] != EOF {
            out.push(off);
            match decode(buf, off) {
                Some((_, next)) => off = next,
                None => break,
            }
        }
        out
    }
}

/// Checks that `buf` is a well-formed listpack (header, entries, backlens, terminator) and
/// returns its number of entries. Input from disk goes through here before it becomes a node.
pub fn validate_listpack(buf: &[u8]) -> Result<usize, &'static str> {
    if buf.len() < HEADER_SIZE + 1 {
        return Err("listpack shorter than its header");
    }
    let total = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if total != buf.len() {
        return Err("listpack total bytes do not match its length");
    }
    let declared = u16::from_le_bytes([buf[4], buf[5]]);
    let mut off = HEADER_SIZE;
    let mut count = 0usize;
    loop {
        let Some(&b) = buf.get(off) else {
            return Err("listpack without terminator");
        };
        if b == EOF {
            break;
        }
        let (_, next) = lp::decode(buf, off).ok_or("malformed listpack entry")?;
        let (l, n) = lp::read_backlen(buf, next).ok_or("malformed listpack backlen")?;
        if n != lp::backlen_size(l) || off + l + n != next {
            return Err("listpack backlen does not match its entry");
        }
        count += 1;
        off = next;
    }
    if off + 1 != buf.len() {
        return Err("listpack has bytes after its terminator");
    }
    if declared != u16::MAX && declared as usize != count {
        return Err("listpack count does not match its entries");
    }
    Ok(count)
}

/// A quicklist node.
#[derive(Clone, Debug)]
pub enum Node {
    /// A listpack and its number of entries (the header's u16 saturates, so it is kept here).
    Packed { buf: Vec<u8>, count: u32 },
    /// One element too big for a listpack.
    Plain(Box<[u8]>),
}

impl Node {
    fn packed_empty() -> Node {
        Node::Packed { buf: lp::empty(), count: 0 }
    }

    fn packed_from<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Node {
        let mut buf = lp::empty();
        buf.pop();
        let mut count = 0u32;
        for v in items {
            lp::encode(&mut buf, v);
            count += 1;
        }
        buf.push(EOF);
        buf.shrink_to_fit();
        lp::set_header(&mut buf, count as usize);
        Node::Packed { buf, count }
    }

    fn for_value(v: &[u8]) -> Node {
        if is_large(v.len()) {
            Node::Plain(v.into())
        } else {
            Node::packed_from([v])
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Node::Packed { count, .. } => *count as usize,
            Node::Plain(_) => 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the node's payload (Redis's `node->sz`).
    pub fn byte_size(&self) -> usize {
        match self {
            Node::Packed { buf, .. } => buf.len(),
            Node::Plain(b) => b.len(),
        }
    }

    /// Heap bytes this node owns, counting spare capacity.
    fn heap_bytes(&self) -> usize {
        match self {
            Node::Packed { buf, .. } => buf.capacity(),
            Node::Plain(b) => b.len(),
        }
    }

    /// The listpack bytes, or the plain element, as an RDB `QUICKLIST_2` node stores them.
    pub fn raw(&self) -> (bool, &[u8]) {
        match self {
            Node::Packed { buf, .. } => (false, buf),
            Node::Plain(b) => (true, b),
        }
    }

    /// Every element, in order.
    fn elems(&self) -> Vec<Elem<'_>> {
        match self {
            Node::Packed { buf, .. } => {
                let mut out = Vec::with_capacity(self.len());
                let mut off = HEADER_SIZE;
                while buf[off] != EOF {
                    let Some((e, next)) = lp::decode(buf, off) else { break };
                    out.push(e);
                    off = next;
                }
                out
            }
            Node::Plain(b) => vec![Elem::Str(b)],
        }
    }

    fn get(&self, i: usize) -> Option<Elem<'_>> {
        match self {
            Node::Packed { buf, count } => {
                if i >= *count as usize {
                    return None;
                }
                let mut off = HEADER_SIZE;
                for _ in 0..i {
                    off = lp::decode(buf, off)?.1;
                }
                lp::decode(buf, off).map(|(e, _)| e)
            }
            Node::Plain(b) => (i == 0).then_some(Elem::Str(b)),
        }
    }

    fn first(&self) -> Option<Elem<'_>> {
        self.get(0)
    }

    fn last(&self) -> Option<Elem<'_>> {
        match self {
            Node::Packed { buf, count } => {
                if *count == 0 {
                    return None;
                }
                let end = buf.len() - 1;
                let (l, n) = lp::read_backlen(buf, end)?;
                lp::decode(buf, end - n - l).map(|(e, _)| e)
            }
            Node::Plain(b) => Some(Elem::Str(b)),
        }
    }

    /// Replaces a packed node's entries by `items`.
    fn rebuild<'a>(&mut self, items: impl IntoIterator<Item = &'a [u8]>) {
        *self = Node::packed_from(items);
    }

    /// Inserts `v` (shorter than PACKED_THRESHOLD) before entry `i` (i == len appends).
    fn insert(&mut self, i: usize, v: &[u8]) {
        let Node::Packed { buf, count } = self else {
            let old = self.elems()[0].to_vec();
            if i == 0 {
                self.rebuild([v, &old[..]]);
            } else {
                self.rebuild([&old[..], v]);
            }
            return;
        };
        let off = if i >= *count as usize {
            buf.len() - 1
        } else if i == 0 {
            HEADER_SIZE
        } else {
            let mut off = HEADER_SIZE;
            for _ in 0..i {
                off = lp::decode(buf, off).map_or(buf.len() - 1, |(_, next)| next);
            }
            off
        };
        let size = lp::entry_size(v);
        // Grow by at least an eighth so a run of pushes does not reallocate every time; full
        // nodes are trimmed to size when the list moves on to a new node.
        let spare = buf.capacity() - buf.len();
        if spare < size {
            buf.reserve_exact(size.max(buf.len() / 8));
        }
        // Encode at the end, then rotate the entry into place: no temporary buffer.
        buf.pop();
        lp::encode(buf, v);
        buf[off..].rotate_right(size);
        buf.push(EOF);
        *count += 1;
        lp::set_header(buf, *count as usize);
    }

    /// Removes the entries whose indexes are in `sorted` (ascending, distinct).
    fn remove_indexes(&mut self, sorted: &[usize]) {
        if sorted.is_empty() {
            return;
        }
        let Node::Packed { buf, count } = self else {
            *self = Node::packed_empty();
            return;
        };
        let offsets = lp::offsets(buf);
        let mut out = Vec::with_capacity(buf.len());
        out.extend_from_slice(&buf[..HEADER_SIZE]);
        let mut drop = sorted.iter().peekable();
        for (i, &off) in offsets.iter().enumerate() {
            if drop.peek() == Some(&&i) {
                drop.next();
                continue;
            }
            let end = offsets.get(i + 1).copied().unwrap_or(buf.len() - 1);
            out.extend_from_slice(&buf[off..end]);
        }
        out.push(EOF);
        *count -= sorted.len().min(*count as usize) as u32;
        lp::set_header(&mut out, *count as usize);
        *buf = out;
    }

    /// Removes `n` entries from the front (or the back).
    fn remove_run(&mut self, n: usize, front: bool) {
        let len = self.len();
        let n = n.min(len);
        if n == 0 {
            return;
        }
        let Node::Packed { buf, count } = self else {
            *self = Node::packed_empty();
            return;
        };
        if front {
            let mut off = HEADER_SIZE;
            for _ in 0..n {
                off = lp::decode(buf, off).map_or(buf.len() - 1, |(_, next)| next);
            }
            buf.drain(HEADER_SIZE..off);
        } else {
            let mut end = buf.len() - 1;
            for _ in 0..n {
                match lp::read_backlen(buf, end) {
                    Some((l, b)) => end -= l + b,
                    None => break,
                }
            }
            let last = buf.len() - 1;
            buf.drain(end..last);
        }
        *count -= n as u32;
        lp::set_header(buf, *count as usize);
        // Do not hold on to more than twice what the node needs after big removals.
        if buf.capacity() > 2 * buf.len() + 64 {
            buf.shrink_to_fit();
        }
    }

    /// Whether one more entry of `sz` bytes may join this node (Redis's
    /// `_quicklistNodeAllowInsert`, including its overestimate of the entry's overhead).
    fn allows_insert(&self, fill: i64, sz: usize) -> bool {
        let Node::Packed { buf, count } = self else { return false };
        if is_large(sz) {
            return false;
        }
        let mut overhead = if sz < 254 { 1 } else { 5 };
        overhead += if sz < 64 {
            1
        } else if sz < 16384 {
            2
        } else {
            5
        };
        fits(buf.len() + sz + overhead, *count as usize + 1, fill)
    }

    /// Whether this node is within the fill limit (a single element always is).
    fn within_limit(&self, fill: i64) -> bool {
        match self {
            Node::Packed { buf, count } => *count <= 1 || fits(buf.len(), *count as usize, fill),
            Node::Plain(_) => true,
        }
    }
}

fn clamp_fill(fill: i64) -> i64 {
    fill.clamp(-5, FILL_MAX)
}

/// A node of `sz` bytes and `count` entries respects `fill`.
fn fits(sz: usize, count: usize, fill: i64) -> bool {
    let fill = clamp_fill(fill);
    if fill < 0 {
        return sz <= OPTIMIZATION_LEVEL[(-fill - 1) as usize];
    }
    sz <= SIZE_SAFETY_LIMIT && count as i64 <= fill
}

#[derive(Clone, Debug)]
enum Repr {
    Single(Node),
    Multi(VecDeque<Node>),
}

/// A Redis list. Every mutating call takes the `list-max-listpack-size` fill to use.
#[derive(Clone, Debug)]
pub struct ListValue {
    repr: Repr,
    len: usize,
}

impl Default for ListValue {
    fn default() -> Self {
        ListValue::new()
    }
}

impl ListValue {
    pub fn new() -> ListValue {
        ListValue { repr: Repr::Single(Node::packed_empty()), len: 0 }
    }

    /// Builds a list from RDB nodes, validating every listpack; empty nodes are skipped.
    pub fn from_nodes(nodes: Vec<Node>) -> Result<ListValue, &'static str> {
        let mut list = ListValue::new();
        for node in nodes {
            if let Node::Packed { buf, count } = &node {
                let n = validate_listpack(buf)?;
                if n != *count as usize {
                    return Err("listpack count does not match its entries");
                }
            }
            if !node.is_empty() {
                list.push_node_back(node);
            }
        }
        Ok(list)
    }

    /// A packed node from an RDB listpack blob (validated) or a plain node.
    pub fn node_from_raw(plain: bool, bytes: &[u8]) -> Result<Node, &'static str> {
        if plain {
            return Ok(Node::Plain(bytes.into()));
        }
        let count = validate_listpack(bytes)?;
        Ok(Node::Packed { buf: bytes.to_vec(), count: count as u32 })
    }

    /// Redis 7.0 reports `quicklist` for every list.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The nodes, head first (for RDB and tests).
    pub fn nodes(&self) -> impl Iterator<Item = &Node> + '_ {
        self.node_slices().0.iter().chain(self.node_slices().1.iter())
    }

    pub fn node_count(&self) -> usize {
        match &self.repr {
            Repr::Single(_) => 1,
            Repr::Multi(d) => d.len(),
        }
    }

    /// Heap bytes owned by the list (nodes, their buffers and the deque), for MEMORY USAGE.
    pub fn heap_bytes(&self) -> usize {
        let deque = match &self.repr {
            Repr::Single(_) => 0,
            Repr::Multi(d) => d.capacity() * std::mem::size_of::<Node>(),
        };
        deque + self.nodes().map(Node::heap_bytes).sum::<usize>()
    }

    fn node_slices(&self) -> (&[Node], &[Node]) {
        match &self.repr {
            Repr::Single(n) => (std::slice::from_ref(n), &[]),
            Repr::Multi(d) => d.as_slices(),
        }
    }

    fn node(&self, i: usize) -> &Node {
        match &self.repr {
            Repr::Single(n) => n,
            Repr::Multi(d) => &d[i],
        }
    }

    fn node_mut(&mut self, i: usize) -> &mut Node {
        match &mut self.repr {
            Repr::Single(n) => n,
            Repr::Multi(d) => &mut d[i],
        }
    }

    fn deque(&mut self) -> &mut VecDeque<Node> {
        if let Repr::Single(n) = &mut self.repr {
            let n = std::mem::replace(n, Node::Plain(Box::default()));
            let mut d = VecDeque::with_capacity(2);
            if !n.is_empty() {
                d.push_back(n);
            }
            self.repr = Repr::Multi(d);
        }
        match &mut self.repr {
            Repr::Multi(d) => d,
            Repr::Single(_) => unreachable!("converted above"),
        }
    }

    /// Back to a single node when only one is left: small lists skip the deque.
    fn settle(&mut self) {
        if let Repr::Multi(d) = &mut self.repr {
            if d.len() <= 1 {
                let n = d.pop_front().unwrap_or_else(Node::packed_empty);
                self.repr = Repr::Single(n);
            }
        }
    }

    fn insert_node(&mut self, at: usize, node: Node) {
        let d = self.deque();
        d.insert(at.min(d.len()), node);
    }

    fn remove_node(&mut self, at: usize) {
        match &mut self.repr {
            Repr::Single(n) => *n = Node::packed_empty(),
            Repr::Multi(d) => {
                d.remove(at);
            }
        }
        self.settle();
    }

    fn push_node_back(&mut self, node: Node) {
        self.len += node.len();
        if self.len == node.len() {
            self.repr = Repr::Single(node);
        } else {
            self.deque().push_back(node);
        }
    }

    pub fn push_back(&mut self, v: &[u8], fill: i64) {
        let last = self.node_count() - 1;
        if self.node(last).allows_insert(fill, v.len()) || (self.is_empty() && !is_large(v.len())) {
            let node = self.node_mut(last);
            let n = node.len();
            node.insert(n, v);
            self.len += 1;
        } else {
            if let Node::Packed { buf, .. } = self.node_mut(last) {
                buf.shrink_to_fit();
            }
            self.push_node_back(Node::for_value(v));
        }
    }

    pub fn push_front(&mut self, v: &[u8], fill: i64) {
        if self.node(0).allows_insert(fill, v.len()) || (self.is_empty() && !is_large(v.len())) {
            self.node_mut(0).insert(0, v);
            self.len += 1;
        } else {
            if let Node::Packed { buf, .. } = self.node_mut(0) {
                buf.shrink_to_fit();
            }
            let node = Node::for_value(v);
            self.len += 1;
            if self.len == 1 {
                self.repr = Repr::Single(node);
            } else {
                self.deque().push_front(node);
            }
        }
    }

    pub fn front(&self) -> Option<Elem<'_>> {
        self.node(0).first()
    }

    pub fn back(&self) -> Option<Elem<'_>> {
        self.node(self.node_count() - 1).last()
    }

    pub fn pop_front(&mut self) -> Option<Bytes> {
        if self.is_empty() {
            return None;
        }
        let node = self.node_mut(0);
        let v = match node {
            Node::Plain(b) => {
                let v = Bytes::from(std::mem::take(b));
                *node = Node::packed_empty();
                v
            }
            _ => {
                let v = node.first()?.to_bytes();
                node.remove_run(1, true);
                v
            }
        };
        self.len -= 1;
        if self.node(0).is_empty() {
            self.remove_node(0);
        }
        Some(v)
    }

    pub fn pop_back(&mut self) -> Option<Bytes> {
        if self.is_empty() {
            return None;
        }
        let last = self.node_count() - 1;
        let node = self.node_mut(last);
        let v = match node {
            Node::Plain(b) => {
                let v = Bytes::from(std::mem::take(b));
                *node = Node::packed_empty();
                v
            }
            _ => {
                let v = node.last()?.to_bytes();
                node.remove_run(1, false);
                v
            }
        };
        self.len -= 1;
        if self.node(last).is_empty() {
            self.remove_node(last);
        }
        Some(v)
    }

    /// Node index and index inside it of element `i` (< len), walking from the nearer end.
    fn locate(&self, i: usize) -> (usize, usize) {
        debug_assert!(i < self.len);
        let (a, b) = self.node_slices();
        if i < self.len / 2 {
            let mut rest = i;
            for (n, node) in a.iter().chain(b.iter()).enumerate() {
                if rest < node.len() {
                    return (n, rest);
                }
                rest -= node.len();
            }
        } else {
            let mut rest = self.len - 1 - i;
            let total = a.len() + b.len();
            for (k, node) in b.iter().rev().chain(a.iter().rev()).enumerate() {
                if rest < node.len() {
                    return (total - 1 - k, node.len() - 1 - rest);
                }
                rest -= node.len();
            }
        }
        (self.node_count() - 1, self.node(self.node_count() - 1).len().saturating_sub(1))
    }

    /// Maps a Redis index (negative from the tail) to a position, if in range.
    pub fn resolve(&self, index: i64) -> Option<usize> {
        let len = self.len as i64;
        let i = if index < 0 { index.checked_add(len)? } else { index };
        (0..len).contains(&i).then_some(i as usize)
    }

    pub fn get(&self, i: usize) -> Option<Elem<'_>> {
        if i >= self.len {
            return None;
        }
        let (n, k) = self.locate(i);
        self.node(n).get(k)
    }

    /// Replaces element `i` (< len).
    pub fn set(&mut self, i: usize, v: &[u8], fill: i64) -> bool {
        if i >= self.len {
            return false;
        }
        let (n, k) = self.locate(i);
        let node = self.node_mut(n);
        if is_large(v.len()) || matches!(node, Node::Plain(_)) {
            self.remove_at(n, k);
            self.insert_at(i, v, fill);
            return true;
        }
        node.remove_indexes(&[k]);
        node.insert(k, v);
        self.split_if_needed(n, fill);
        true
    }

    fn remove_at(&mut self, n: usize, k: usize) {
        self.node_mut(n).remove_indexes(&[k]);
        self.len -= 1;
        if self.node(n).is_empty() {
            self.remove_node(n);
        }
    }

    /// Inserts `v` so that it becomes element `i` (i ≤ len).
    pub fn insert_at(&mut self, i: usize, v: &[u8], fill: i64) {
        if i == 0 {
            return self.push_front(v, fill);
        }
        if i >= self.len {
            return self.push_back(v, fill);
        }
        let (n, k) = self.locate(i);
        if is_large(v.len()) || matches!(self.node(n), Node::Plain(_)) {
            // A big element gets its own node between the halves of the one it lands in; an
            // element landing on a plain node (always at its index 0) gets a node before it.
            let at = match self.split_off(n, k) {
                Some(right) => {
                    self.insert_node(n + 1, right);
                    n + 1
                }
                None => n,
            };
            self.insert_node(at, Node::for_value(v));
            self.len += 1;
            return;
        }
        self.node_mut(n).insert(k, v);
        self.len += 1;
        self.split_if_needed(n, fill);
    }

    /// Splits node `n` at entry `k`: entries from `k` on move to the returned node. Returns
    /// None when `k` is 0 (nothing would stay behind).
    fn split_off(&mut self, n: usize, k: usize) -> Option<Node> {
        if k == 0 {
            return None;
        }
        let node = self.node_mut(n);
        let elems: Vec<Vec<u8>> = node.elems().into_iter().map(Elem::to_vec).collect();
        node.rebuild(elems[..k].iter().map(Vec::as_slice));
        Some(Node::packed_from(elems[k..].iter().map(Vec::as_slice)))
    }

    /// Halves node `n` until every part is within the fill limit.
    fn split_if_needed(&mut self, n: usize, fill: i64) {
        let mut n = n;
        let mut end = n + 1;
        while n < end {
            if self.node(n).within_limit(fill) {
                n += 1;
                continue;
            }
            let mid = self.node(n).len() / 2;
            if let Some(right) = self.split_off(n, mid) {
                self.insert_node(n + 1, right);
                end += 1;
            } else {
                n += 1;
            }
        }
    }

    /// Inserts `v` before or after the first element equal to `pivot`; false when absent.
    pub fn insert_around(&mut self, pivot: &[u8], after: bool, v: &[u8], fill: i64) -> bool {
        let needle = Needle::new(pivot);
        let Some(pos) = self.iter().position(|e| needle.matches(e)) else {
            return false;
        };
        self.insert_at(if after { pos + 1 } else { pos }, v, fill);
        true
    }

    /// LREM: removes up to `count` elements equal to `v` from the head (`count` > 0), from the
    /// tail (< 0), or all (0). Returns how many went.
    pub fn remove_matching(&mut self, v: &[u8], count: i64) -> usize {
        let needle = Needle::new(v);
        let limit = if count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
        let from_tail = count < 0;
        let mut removed = 0usize;
        let nodes = self.node_count();
        let order: Vec<usize> =
            if from_tail { (0..nodes).rev().collect() } else { (0..nodes).collect() };
        let mut emptied = Vec::new();
        for n in order {
            if removed >= limit {
                break;
            }
            let node = self.node_mut(n);
            let elems = node.elems();
            let mut hits: Vec<usize> = Vec::new();
            if from_tail {
                for (k, e) in elems.iter().enumerate().rev() {
                    if removed + hits.len() >= limit {
                        break;
                    }
                    if needle.matches(*e) {
                        hits.push(k);
                    }
                }
                hits.reverse();
            } else {
                for (k, e) in elems.iter().enumerate() {
                    if removed + hits.len() >= limit {
                        break;
                    }
                    if needle.matches(*e) {
                        hits.push(k);
                    }
                }
            }
            drop(elems);
            removed += hits.len();
            node.remove_indexes(&hits);
            if node.is_empty() {
                emptied.push(n);
            }
        }
        self.len -= removed;
        emptied.sort_unstable();
        for n in emptied.into_iter().rev() {
            self.remove_node(n);
        }
        removed
    }

    /// Removes `front` elements from the head and `back` from the tail.
    pub fn trim(&mut self, front: usize, back: usize) {
        if front.saturating_add(back) >= self.len {
            *self = ListValue::new();
            return;
        }
        self.len -= front + back;
        let mut rest = front;
        while rest > 0 {
            let n = self.node(0).len();
            if n <= rest {
                self.remove_node(0);
                rest -= n;
            } else {
                self.node_mut(0).remove_run(rest, true);
                rest = 0;
            }
        }
        let mut rest = back;
        while rest > 0 {
            let last = self.node_count() - 1;
            let n = self.node(last).len();
            if n <= rest {
                self.remove_node(last);
                rest -= n;
            } else {
                self.node_mut(last).remove_run(rest, false);
                rest = 0;
            }
        }
    }

    /// Elements from the head.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0)
    }

    /// Elements from position `start` towards the tail.
    pub fn iter_from(&self, start: usize) -> Iter<'_> {
        if start >= self.len {
            return Iter { list: self, node: self.node_count(), elems: Vec::new(), pos: 0 };
        }
        let (n, k) = self.locate(start);
        Iter { list: self, node: n, elems: self.node(n).elems(), pos: k }
    }

    /// Elements from the tail.
    pub fn iter_rev(&self) -> RevIter<'_> {
        let n = self.node_count();
        let elems = if self.is_empty() { Vec::new() } else { self.node(n - 1).elems() };
        RevIter { list: self, node: n, elems }
    }
}

/// Forward iterator; decodes one node at a time.
pub struct Iter<'a> {
    list: &'a ListValue,
    node: usize,
    elems: Vec<Elem<'a>>,
    pos: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Elem<'a>;

    fn next(&mut self) -> Option<Elem<'a>> {
        loop {
            if let Some(e) = self.elems.get(self.pos) {
                self.pos += 1;
                return Some(*e);
            }
            self.node += 1;
            if self.node >= self.list.node_count() {
                return None;
            }
            self.elems = self.list.node(self.node).elems();
            self.pos = 0;
        }
    }
}

/// Backward iterator; decodes one node at a time.
pub struct RevIter<'a> {
    list: &'a ListValue,
    /// One past the node whose elements are in `elems`.
    node: usize,
    elems: Vec<Elem<'a>>,
}

impl<'a> Iterator for RevIter<'a> {
    type Item = Elem<'a>;

    fn next(&mut self) -> Option<Elem<'a>> {
        loop {
            if let Some(e) = self.elems.pop() {
                return Some(e);
            }
            if self.node <= 1 {
                return None;
            }
            self.node -= 1;
            self.elems = self.list.node(self.node - 1).elems();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(l: &ListValue) -> Vec<Vec<u8>> {
        l.iter().map(Elem::to_vec).collect()
    }

    fn check(l: &ListValue, fill: i64) {
        let mut total = 0;
        for node in l.nodes() {
            if let Node::Packed { buf, count } = node {
                assert_eq!(validate_listpack(buf), Ok(*count as usize));
            }
            assert!(node.within_limit(fill), "node over the fill limit");
            assert!(!node.is_empty() || l.is_empty());
            total += node.len();
        }
        assert_eq!(total, l.len());
        let rev: Vec<Vec<u8>> = l.iter_rev().map(Elem::to_vec).collect();
        let mut fwd = collect(l);
        fwd.reverse();
        assert_eq!(rev, fwd);
    }

    #[test]
    fn integers_round_trip_in_every_width() {
        let values: Vec<String> = [
            0i64,
            1,
            127,
            128,
            -1,
            -4096,
            4095,
            -4097,
            4096,
            -32768,
            32767,
            32768,
            -8388608,
            8388607,
            8388608,
            -2147483648,
            2147483647,
            2147483648,
            i64::MIN,
            i64::MAX,
        ]
        .iter()
        .map(|v| v.to_string())
        .chain(["-0", "007", "+1", " 1", "1 ", "", "x"].iter().map(|s| s.to_string()))
        .collect();
        let mut l = ListValue::new();
        for v in &values {
            l.push_back(v.as_bytes(), -2);
        }
        check(&l, -2);
        let got: Vec<String> =
            collect(&l).into_iter().map(|v| String::from_utf8(v).unwrap()).collect();
        assert_eq!(got, values);
        assert_eq!(l.get(0), Some(Elem::Int(0)));
        assert_eq!(l.get(19), Some(Elem::Int(i64::MAX)));
        assert_eq!(l.get(20), Some(Elem::Str(b"-0")));
    }

    #[test]
    fn strings_of_every_header_size() {
        let mut l = ListValue::new();
        let sizes = [0usize, 1, 63, 64, 127, 128, 4095, 4096, 16383, 16384, 70000];
        for &s in &sizes {
            l.push_back(&vec![b'a'; s], -2);
        }
        check(&l, -2);
        for (i, &s) in sizes.iter().enumerate() {
            assert_eq!(l.get(i).unwrap().to_vec().len(), s);
        }
        while let Some(v) = l.pop_back() {
            assert_eq!(v.len(), sizes[l.len()]);
        }
    }

    #[test]
    fn matches_redis_listpack_bytes() {
        // RPUSH l a 1 -1 300 in redis-server 7.0.15, then DUMP l: the node's listpack is
        // header, 0x81 'a' 2, 0x01 1, 0xDF 0xFF 2, 0xC1 0x2C 2, EOF.
        let mut l = ListValue::new();
        for v in ["a", "1", "-1", "300"] {
            l.push_back(v.as_bytes(), -2);
        }
        let (plain, raw) = l.nodes().next().unwrap().raw();
        assert!(!plain);
        let want: &[u8] =
            &[18, 0, 0, 0, 4, 0, 0x81, b'a', 2, 0x01, 1, 0xDF, 0xFF, 2, 0xC1, 0x2C, 2, 0xFF];
        assert_eq!(&raw[..6], &want[..6]);
        assert_eq!(raw, want);
    }

    #[test]
    fn nodes_respect_fill() {
        for fill in [-5i64, -2, -1, 0, 1, 3, 100] {
            let mut l = ListValue::new();
            for i in 0..500 {
                let v = format!("value-{i}-{}", "x".repeat(i % 50));
                if i % 2 == 0 {
                    l.push_back(v.as_bytes(), fill);
                } else {
                    l.push_front(v.as_bytes(), fill);
                }
            }
            check(&l, fill);
            for i in 0..100 {
                l.insert_at(i * 3, b"inserted-in-the-middle", fill);
                l.set(i * 2, &vec![b'z'; i * 40], fill);
            }
            check(&l, fill);
            if fill > 0 {
                assert!(l.nodes().all(|n| n.len() as i64 <= fill));
            }
        }
    }

    #[test]
    fn pops_and_trims_drop_empty_nodes() {
        let mut l = ListValue::new();
        for i in 0..1000 {
            l.push_back(i.to_string().as_bytes(), 4);
        }
        assert_eq!(l.node_count(), 250);
        l.trim(10, 985);
        assert_eq!(
            collect(&l),
            vec![b"10".to_vec(), b"11".to_vec(), b"12".to_vec(), b"13".to_vec(), b"14".to_vec()]
        );
        check(&l, 4);
        assert_eq!(l.node_count(), 2);
        l.trim(1, 1);
        assert_eq!(collect(&l), vec![b"11".to_vec(), b"12".to_vec(), b"13".to_vec()]);
        assert_eq!(l.node_count(), 2);
        l.trim(1, 0);
        assert_eq!(l.node_count(), 1);
        assert!(matches!(l.repr, Repr::Single(_)));
        check(&l, 4);
        l.trim(3, 0);
        assert!(l.is_empty());
    }

    #[test]
    fn remove_matching_counts_from_either_end() {
        let mut l = ListValue::new();
        for v in ["a", "1", "a", "b", "a", "1", "a"] {
            l.push_back(v.as_bytes(), 2);
        }
        assert_eq!(l.remove_matching(b"a", -2), 2);
        assert_eq!(collect(&l), ["a", "1", "a", "b", "1"].map(|s| s.as_bytes().to_vec()));
        assert_eq!(l.remove_matching(b"1", 0), 2);
        assert_eq!(l.remove_matching(b"a", 1), 1);
        assert_eq!(collect(&l), ["a", "b"].map(|s| s.as_bytes().to_vec()));
        check(&l, 2);
    }

    #[test]
    fn plain_nodes_for_big_elements() {
        // Lowered threshold, as DEBUG QUICKLIST-PACKED-THRESHOLD does; the other tests here hold
        // whichever threshold they see.
        set_packed_threshold(100);
        let big = vec![b'B'; 150];
        let mut l = ListValue::new();
        l.push_back(&big, -2);
        assert!(matches!(l.nodes().next(), Some(Node::Plain(_))));
        l.push_back(b"a", -2);
        l.push_front(b"z", -2);
        l.push_front(&big, -2);
        l.insert_at(2, &big, -2);
        l.insert_at(2, b"mid", -2);
        l.insert_at(5, b"end", -2);
        let want: Vec<Vec<u8>> = vec![
            big.clone(),
            b"z".to_vec(),
            b"mid".to_vec(),
            big.clone(),
            big.clone(),
            b"end".to_vec(),
            b"a".to_vec(),
        ];
        assert_eq!(collect(&l), want);
        check(&l, -2);
        assert!(l.nodes().filter(|n| matches!(n, Node::Plain(_))).count() == 3);
        assert!(l.set(0, b"small", -2));
        assert!(l.set(1, &big, -2));
        assert_eq!(l.remove_matching(&big, 0), 3);
        assert_eq!(
            collect(&l),
            vec![b"small".to_vec(), b"mid".to_vec(), b"end".to_vec(), b"a".to_vec()]
        );
        check(&l, -2);
        l.push_back(&big, -2);
        l.push_front(&big, -2);
        assert_eq!(l.pop_back().as_deref(), Some(&big[..]));
        assert_eq!(l.pop_front().as_deref(), Some(&big[..]));
        check(&l, -2);
        assert_eq!(l.len(), 4);
        let mut one = ListValue::new();
        one.push_back(&big, -2);
        assert_eq!(one.pop_front().as_deref(), Some(&big[..]));
        assert!(one.is_empty());
        one.push_back(&big, -2);
        assert_eq!(one.pop_back().as_deref(), Some(&big[..]));
        assert!(one.is_empty() && one.iter().next().is_none());
        set_packed_threshold(PACKED_THRESHOLD);
    }

    #[test]
    fn validation_rejects_corruption() {
        let mut l = ListValue::new();
        for v in ["hello", "12345", "x"] {
            l.push_back(v.as_bytes(), -2);
        }
        let raw = l.nodes().next().unwrap().raw().1.to_vec();
        assert_eq!(validate_listpack(&raw), Ok(3));
        for cut in 0..raw.len() {
            assert!(validate_listpack(&raw[..cut]).is_err());
        }
        for i in HEADER_SIZE..raw.len() {
            for b in [0x00u8, 0x7F, 0x80, 0xBF, 0xE0, 0xF0, 0xF4, 0xFE, 0xFF] {
                let mut bad = raw.clone();
                bad[i] = b;
                // Must not panic; may or may not be valid.
                let _ = validate_listpack(&bad);
            }
        }
        let node = ListValue::node_from_raw(false, &raw).unwrap();
        let back = ListValue::from_nodes(vec![node]).unwrap();
        assert_eq!(collect(&back), collect(&l));
    }
}
