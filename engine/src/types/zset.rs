//! Sorted set values: `listpack` when small, `skiplist` when large (Redis's encoding names).
//!
//! ```text
//!  listpack:  Vec<Slot> sorted by (score, member)          ≤ zset-max-listpack-entries
//!                                                           and every member ≤ …-value bytes
//!  skiplist:  Big ─┬─ slots: chunks of 4096 Slot  (id: u32 = chunk << 12 | offset)
//!                  ├─ index: HashTable<u32>       member → id   (O(1) ZSCORE / ZADD update)
//!                  └─ order: blocks of ids sorted by (score, member), ≤ 1024 per block,
//!                            with a Fenwick tree over block lengths (rank / select O(log n))
//!  Slot = { member: Member (≤ 22 bytes inline, else boxed), score: f64 }   32 bytes
//! ```
//! Why not a pointer skip list like Redis: every member is stored once, in a 32-byte slot, and
//! both indexes hold 4-byte ids, so a large set costs about 32 + ~10 (hash) + ~5 (order) bytes
//! per member plus the member's own heap bytes when longer than 22 — under half of Redis's
//! skiplist node + dict entry + sds. The order index is a blocked sorted array: inserts move at
//! most one block (4 KiB), and splits/merges rebuild only the small Fenwick tree.
//!
//! Order is Redis's: by score, ties by member bytes (memcmp, shorter first). No NaN score is
//! ever stored (callers reject it), so comparisons are total; `-0` compares equal to `0`.

use std::cmp::Ordering;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

/// Members up to this length live inside the slot without a heap allocation.
const INLINE_MEMBER_MAX: usize = 22;

/// A member's bytes: inline when short.
#[derive(Clone)]
enum Member {
    Inline { len: u8, data: [u8; INLINE_MEMBER_MAX] },
    Heap(Box<[u8]>),
}

impl Member {
    fn new(b: &[u8]) -> Member {
        if b.len() <= INLINE_MEMBER_MAX {
            let mut data = [0u8; INLINE_MEMBER_MAX];
            data[..b.len()].copy_from_slice(b);
            Member::Inline { len: b.len() as u8, data }
        } else {
            Member::Heap(b.into())
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Member::Inline { len, data } => &data[..*len as usize],
            Member::Heap(b) => b,
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Member::Inline { .. } => 0,
            Member::Heap(b) => b.len(),
        }
    }
}

/// One member and its score.
#[derive(Clone)]
struct Slot {
    member: Member,
    score: f64,
}

impl Slot {
    fn cmp_to(&self, score: f64, member: &[u8]) -> Ordering {
        cmp_entries(self.score, self.member.as_bytes(), score, member)
    }
}

/// Redis's order: score first, then member bytes.
pub fn cmp_entries(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> Ordering {
    match a_score.partial_cmp(&b_score) {
        Some(Ordering::Equal) | None => a_member.cmp(b_member),
        Some(o) => o,
    }
}

/// Slots per slab chunk; ids are `chunk << CHUNK_BITS | offset`.
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;
/// Order blocks split when they reach this many ids and merge when much smaller.
const BLOCK_MAX: usize = 1024;
const BLOCK_MIN: usize = BLOCK_MAX / 8;

/// Slots [`ZSetValue::for_each_from`] loads ahead of visiting them.
const PREFETCH: usize = 16;

/// Ids are u32: a set can hold at most this many members (far beyond any machine's memory at
/// ~50 bytes each, but bounded rather than wrapping).
pub const MAX_MEMBERS: usize = u32::MAX as usize;

#[derive(Clone, Default)]
struct Order {
    blocks: Vec<Vec<u32>>,
    /// Fenwick tree (1-based) over `blocks[i].len()`.
    tree: Vec<usize>,
    len: usize,
}

impl Order {
    fn rebuild_tree(&mut self) {
        let n = self.blocks.len();
        self.tree.clear();
        self.tree.resize(n + 1, 0);
        for i in 0..n {
            let j = i + 1;
            self.tree[j] += self.blocks[i].len();
            let parent = j + (j & j.wrapping_neg());
            if parent <= n {
                self.tree[parent] += self.tree[j];
            }
        }
    }

    fn tree_add(&mut self, block: usize, delta: isize) {
        let mut j = block + 1;
        while j < self.tree.len() {
            self.tree[j] = self.tree[j].wrapping_add_signed(delta);
            j += j & j.wrapping_neg();
        }
    }

    /// Number of ids in blocks before `block`.
    fn prefix(&self, block: usize) -> usize {
        let mut j = block;
        let mut sum = 0;
        while j > 0 {
            sum += self.tree[j];
            j -= j & j.wrapping_neg();
        }
        sum
    }

    /// Block and offset of `rank` (< len).
    fn locate(&self, rank: usize) -> (usize, usize) {
        debug_assert!(rank < self.len);
        let n = self.blocks.len();
        let mut pos = 0;
        let mut remaining = rank;
        let mut step = if n == 0 { 0 } else { 1usize << (usize::BITS - 1 - n.leading_zeros()) };
        while step > 0 {
            let next = pos + step;
            if next <= n && self.tree[next] <= remaining {
                pos = next;
                remaining -= self.tree[next];
            }
            step >>= 1;
        }
        (pos, remaining)
    }

    fn get(&self, rank: usize) -> u32 {
        let (b, o) = self.locate(rank);
        self.blocks[b][o]
    }

    /// First rank whose id fails `pred`; `pred` must hold on a prefix of the order.
    fn partition_point(&self, pred: impl Fn(u32) -> bool) -> usize {
        let b = self.blocks.partition_point(|blk| blk.last().is_some_and(|&id| pred(id)));
        if b == self.blocks.len() {
            return self.len;
        }
        self.prefix(b) + self.blocks[b].partition_point(|&id| pred(id))
    }

    fn insert(&mut self, rank: usize, id: u32) {
        if self.blocks.is_empty() {
            self.blocks.push(Vec::new());
            self.rebuild_tree();
        }
        let (b, o) = if rank == self.len {
            let last = self.blocks.len() - 1;
            (last, self.blocks[last].len())
        } else {
            self.locate(rank)
        };
        self.blocks[b].insert(o, id);
        self.len += 1;
        if self.blocks[b].len() >= BLOCK_MAX {
            let tail = self.blocks[b].split_off(BLOCK_MAX / 2);
            self.blocks.insert(b + 1, tail);
            self.rebuild_tree();
        } else {
            self.tree_add(b, 1);
        }
    }

    fn remove(&mut self, rank: usize) -> u32 {
        let (b, o) = self.locate(rank);
        let id = self.blocks[b].remove(o);
        self.len -= 1;
        if !self.rebalance(b) {
            self.tree_add(b, -1);
        }
        id
    }

    /// Merges block `b` into a neighbour when it got small; true when the tree was rebuilt.
    fn rebalance(&mut self, b: usize) -> bool {
        let n = self.blocks.len();
        if self.blocks[b].len() >= BLOCK_MIN || n == 1 {
            return false;
        }
        let (left, right) = if b + 1 < n { (b, b + 1) } else { (b - 1, b) };
        if self.blocks[left].len() + self.blocks[right].len() > BLOCK_MAX / 2 * 3 / 2
            && !self.blocks[b].is_empty()
        {
            return false;
        }
        let moved = std::mem::take(&mut self.blocks[right]);
        self.blocks[left].extend_from_slice(&moved);
        self.blocks.remove(right);
        if self.blocks[left].len() >= BLOCK_MAX {
            let half = self.blocks[left].len() / 2;
            let tail = self.blocks[left].split_off(half);
            self.blocks.insert(left + 1, tail);
        }
        self.rebuild_tree();
        true
    }

    /// Removes ranks `start..end`, returning their ids in order.
    fn drain(&mut self, start: usize, end: usize) -> Vec<u32> {
        let end = end.min(self.len);
        if start >= end {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(end - start);
        let (mut b, mut o) = self.locate(start);
        let mut left = end - start;
        while left > 0 {
            let take = (self.blocks[b].len() - o).min(left);
            out.extend(self.blocks[b].drain(o..o + take));
            left -= take;
            b += 1;
            o = 0;
        }
        self.len -= out.len();
        self.blocks.retain(|blk| !blk.is_empty());
        if self.blocks.is_empty() {
            self.blocks.push(Vec::new());
        }
        // At most two partly drained blocks remain small; merge them with neighbours.
        let mut i = 0;
        while i < self.blocks.len() {
            if self.blocks[i].len() < BLOCK_MIN && self.blocks.len() > 1 {
                let (l, r) = if i + 1 < self.blocks.len() { (i, i + 1) } else { (i - 1, i) };
                if self.blocks[l].len() + self.blocks[r].len() < BLOCK_MAX {
                    let moved = std::mem::take(&mut self.blocks[r]);
                    self.blocks[l].extend_from_slice(&moved);
                    self.blocks.remove(r);
                    continue;
                }
            }
            i += 1;
        }
        self.rebuild_tree();
        out
    }

    fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * std::mem::size_of::<Vec<u32>>()
            + self.blocks.iter().map(|b| b.capacity() * 4).sum::<usize>()
            + self.tree.capacity() * std::mem::size_of::<usize>()
    }
}

/// The large encoding.
#[derive(Clone, Default)]
struct Big {
    chunks: Vec<Vec<Slot>>,
    free: Vec<u32>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    order: Order,
}

impl Big {
    fn slot(&self, id: u32) -> &Slot {
        &self.chunks[(id >> CHUNK_BITS) as usize][id as usize & (CHUNK - 1)]
    }

    fn slot_mut(&mut self, id: u32) -> &mut Slot {
        &mut self.chunks[(id >> CHUNK_BITS) as usize][id as usize & (CHUNK - 1)]
    }

    fn alloc(&mut self, slot: Slot) -> u32 {
        if let Some(id) = self.free.pop() {
            *self.slot_mut(id) = slot;
            return id;
        }
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::new());
        }
        let c = self.chunks.len() - 1;
        let chunk = &mut self.chunks[c];
        let id = (c << CHUNK_BITS | chunk.len()) as u32;
        chunk.push(slot);
        id
    }

    /// Frees a slot; a NaN score marks it free (no stored score is ever NaN), for [`ZSetValue::scan`].
    fn release(&mut self, id: u32) {
        *self.slot_mut(id) = Slot { member: Member::new(b""), score: f64::NAN };
        self.free.push(id);
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(member);
        self.index.find(hash, |&id| self.slot(id).member.as_bytes() == member).copied()
    }

    fn rank_of(&self, score: f64, member: &[u8]) -> usize {
        self.order.partition_point(|id| self.slot(id).cmp_to(score, member) == Ordering::Less)
    }

    fn insert_new(&mut self, member: &[u8], score: f64) {
        let rank = self.rank_of(score, member);
        let id = self.alloc(Slot { member: Member::new(member), score });
        let hash = self.hasher.hash_one(member);
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        self.index.insert_unique(hash, id, |&other| {
            let s = &chunks[(other >> CHUNK_BITS) as usize][other as usize & (CHUNK - 1)];
            hasher.hash_one(s.member.as_bytes())
        });
        self.order.insert(rank, id);
    }

    fn unindex(&mut self, id: u32) {
        let hash = self.hasher.hash_one(self.slot(id).member.as_bytes());
        if let Ok(entry) = self.index.find_entry(hash, |&other| other == id) {
            entry.remove();
        } else {
            debug_assert!(false, "id {id} missing from the member index");
        }
    }

    fn from_sorted(slots: Vec<Slot>) -> Big {
        let mut big = Big::default();
        big.index.reserve(slots.len(), |_| 0);
        let mut block = Vec::new();
        for slot in slots {
            let hash = big.hasher.hash_one(slot.member.as_bytes());
            let id = big.alloc(slot);
            let (chunks, hasher) = (&big.chunks, &big.hasher);
            big.index.insert_unique(hash, id, |&other| {
                let s = &chunks[(other >> CHUNK_BITS) as usize][other as usize & (CHUNK - 1)];
                hasher.hash_one(s.member.as_bytes())
            });
            block.push(id);
            if block.len() == BLOCK_MAX / 2 {
                big.order.len += block.len();
                big.order.blocks.push(std::mem::take(&mut block));
            }
        }
        if !block.is_empty() || big.order.blocks.is_empty() {
            big.order.len += block.len();
            big.order.blocks.push(block);
        }
        big.order.rebuild_tree();
        big
    }
}

#[derive(Clone)]
enum Repr {
    Listpack(Vec<Slot>),
    Skiplist(Box<Big>),
}

/// A sorted set. Ranks are 0-based in ascending (score, member) order.
#[derive(Clone)]
pub struct ZSetValue {
    repr: Repr,
}

impl Default for ZSetValue {
    fn default() -> Self {
        ZSetValue { repr: Repr::Listpack(Vec::new()) }
    }
}

impl std::fmt::Debug for ZSetValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for (m, s) in self.iter() {
            list.entry(&(String::from_utf8_lossy(m), s));
        }
        list.finish()
    }
}

/// Encoding thresholds, from `zset-max-listpack-entries` / `zset-max-listpack-value`.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_listpack_entries: u64,
    pub max_listpack_value: u64,
}

/// What [`ZSetValue::upsert`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Upsert {
    Added,
    Updated { old: f64 },
    Unchanged,
}

impl ZSetValue {
    pub fn new() -> ZSetValue {
        ZSetValue::default()
    }

    /// Builds a set from (member, score) pairs with distinct members, in any order; the
    /// encoding is `listpack` when the result fits the limits (as Redis 7.0 leaves the
    /// results of ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE/ZRANGESTORE), else `skiplist`.
    pub fn from_unique(mut entries: Vec<(Vec<u8>, f64)>, limits: Limits) -> ZSetValue {
        entries.sort_by(|a, b| cmp_entries(a.1, &a.0, b.1, &b.0));
        let fits = entries.len() as u64 <= limits.max_listpack_entries
            && entries.iter().all(|(m, _)| m.len() as u64 <= limits.max_listpack_value);
        let slots: Vec<Slot> = entries
            .into_iter()
            .map(|(m, s)| {
                let score = if fits && s == 0.0 { 0.0 } else { s };
                Slot { member: Member::new(&m), score }
            })
            .collect();
        if fits {
            ZSetValue { repr: Repr::Listpack(slots) }
        } else {
            ZSetValue { repr: Repr::Skiplist(Box::new(Big::from_sorted(slots))) }
        }
    }

    /// A `listpack` set from (member, score) pairs with distinct members and no NaN, in any
    /// order, whatever the member lengths: RDB loading keeps a stored listpack zset a listpack
    /// when its count is within `zset-max-listpack-entries` (Redis 7.0 checks only the count
    /// there). A listpack stores -0 as 0, so -0 scores become 0.
    pub fn from_unique_listpack(mut entries: Vec<(Vec<u8>, f64)>) -> ZSetValue {
        debug_assert!(entries.iter().all(|(_, s)| !s.is_nan()));
        entries.sort_by(|a, b| cmp_entries(a.1, &a.0, b.1, &b.0));
        let slots = entries
            .into_iter()
            .map(|(m, s)| Slot { member: Member::new(&m), score: if s == 0.0 { 0.0 } else { s } })
            .collect();
        ZSetValue { repr: Repr::Listpack(slots) }
    }

    /// Redis's name for the encoding.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Skiplist(_) => "skiplist",
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(v) => v.len(),
            Repr::Skiplist(b) => b.order.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Listpack(v) => v.iter().find(|s| s.member.as_bytes() == member).map(|s| s.score),
            Repr::Skiplist(b) => b.find(member).map(|id| b.slot(id).score),
        }
    }

    /// The member and score at `rank` (< len).
    pub fn get(&self, rank: usize) -> (&[u8], f64) {
        let slot = match &self.repr {
            Repr::Listpack(v) => &v[rank],
            Repr::Skiplist(b) => b.slot(b.order.get(rank)),
        };
        (slot.member.as_bytes(), slot.score)
    }

    /// The 0-based rank of `member` and its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match &self.repr {
            Repr::Listpack(v) => {
                v.iter().position(|s| s.member.as_bytes() == member).map(|i| (i, v[i].score))
            }
            Repr::Skiplist(b) => {
                let id = b.find(member)?;
                let score = b.slot(id).score;
                Some((b.rank_of(score, member), score))
            }
        }
    }

    /// First rank where `pred(score, member)` is false; `pred` must hold on a prefix.
    pub fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Listpack(v) => v.partition_point(|s| pred(s.score, s.member.as_bytes())),
            Repr::Skiplist(b) => b.order.partition_point(|id| {
                let s = b.slot(id);
                pred(s.score, s.member.as_bytes())
            }),
        }
    }

    /// Adds `member` or sets its score, converting to `skiplist` first when the addition would
    /// exceed the listpack limits (Redis's `zsetAdd`). The caller has rejected NaN.
    pub fn upsert(&mut self, member: &[u8], score: f64, limits: Limits) -> Upsert {
        debug_assert!(!score.is_nan());
        match &mut self.repr {
            Repr::Listpack(v) => {
                // A listpack keeps scores as text, where Redis writes -0 as the integer 0.
                let lp_score = if score == 0.0 { 0.0 } else { score };
                if let Some(i) = v.iter().position(|s| s.member.as_bytes() == member) {
                    let old = v[i].score;
                    if old == lp_score {
                        return Upsert::Unchanged;
                    }
                    let slot = v.remove(i);
                    let at = v.partition_point(|s| s.cmp_to(lp_score, member) == Ordering::Less);
                    v.insert(at, Slot { score: lp_score, ..slot });
                    return Upsert::Updated { old };
                }
                if v.len() as u64 + 1 > limits.max_listpack_entries
                    || member.len() as u64 > limits.max_listpack_value
                {
                    self.convert_to_skiplist();
                    return self.upsert(member, score, limits);
                }
                let at = v.partition_point(|s| s.cmp_to(lp_score, member) == Ordering::Less);
                v.insert(at, Slot { member: Member::new(member), score: lp_score });
                Upsert::Added
            }
            Repr::Skiplist(b) => {
                let Some(id) = b.find(member) else {
                    b.insert_new(member, score);
                    return Upsert::Added;
                };
                let old = b.slot(id).score;
                if old == score {
                    return Upsert::Unchanged;
                }
                let rank = b.rank_of(old, member);
                let removed = b.order.remove(rank);
                debug_assert_eq!(removed, id);
                b.slot_mut(id).score = score;
                let new_rank = b.rank_of(score, member);
                b.order.insert(new_rank, id);
                Upsert::Updated { old }
            }
        }
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.repr {
            Repr::Listpack(v) => {
                let i = v.iter().position(|s| s.member.as_bytes() == member)?;
                Some(v.remove(i).score)
            }
            Repr::Skiplist(b) => {
                let id = b.find(member)?;
                let score = b.slot(id).score;
                let rank = b.rank_of(score, member);
                let removed = b.order.remove(rank);
                debug_assert_eq!(removed, id);
                b.unindex(id);
                b.release(id);
                Some(score)
            }
        }
    }

    /// Removes ranks `start..end` (clamped); returns the removed pairs in rank order.
    pub fn remove_range(&mut self, start: usize, end: usize) -> Vec<(Vec<u8>, f64)> {
        let end = end.min(self.len());
        if start >= end {
            return Vec::new();
        }
        match &mut self.repr {
            Repr::Listpack(v) => {
                v.drain(start..end).map(|s| (s.member.as_bytes().to_vec(), s.score)).collect()
            }
            Repr::Skiplist(b) => {
                let ids = b.order.drain(start, end);
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    let s = b.slot(id);
                    out.push((s.member.as_bytes().to_vec(), s.score));
                    b.unindex(id);
                    b.release(id);
                }
                out
            }
        }
    }

    /// One step of a ZSCAN: calls `f` for up to about `count` members from `cursor` and returns
    /// the next cursor (0 when done). A listpack is returned whole, as Redis does. A skiplist
    /// cursor is a slot id: a member keeps its slot for life, so a member present for the whole
    /// iteration is returned exactly once whatever else is added or removed.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match &self.repr {
            Repr::Listpack(v) => {
                v.iter().for_each(|s| f(s.member.as_bytes(), s.score));
                0
            }
            Repr::Skiplist(b) => {
                let total = b.chunks.iter().map(Vec::len).sum::<usize>() as u64;
                let mut id = cursor;
                let mut emitted = 0;
                // Free slots cost a visit too, so one call stays bounded.
                let mut budget = count.max(1).saturating_mul(10);
                while id < total && emitted < count.max(1) && budget > 0 {
                    let slot = b.slot(id as u32);
                    if !slot.score.is_nan() {
                        f(slot.member.as_bytes(), slot.score);
                        emitted += 1;
                    }
                    id += 1;
                    budget -= 1;
                }
                if id >= total {
                    0
                } else {
                    id
                }
            }
        }
    }

    /// Calls `f` on each member and score from rank `start` upwards until it returns false.
    /// Walks the order blocks in place: one rank lookup for the whole walk, where [`Self::range`]
    /// looks each rank up (GEO searches scan long runs of a large set this way).
    pub fn for_each_from(&self, start: usize, mut f: impl FnMut(&[u8], f64) -> bool) {
        match &self.repr {
            Repr::Listpack(v) => {
                for s in v.iter().skip(start) {
                    if !f(s.member.as_bytes(), s.score) {
                        return;
                    }
                }
            }
            Repr::Skiplist(b) => {
                if start >= b.order.len {
                    return;
                }
                let (first, mut offset) = b.order.locate(start);
                for block in &b.order.blocks[first..] {
                    for ids in block[offset..].chunks(PREFETCH) {
                        // Slots sit at random places in the slab: touching a batch's scores
                        // first lets their cache misses overlap, where `f`'s own work
                        // between two slots would otherwise serialise them.
                        let mut warm = 0.0;
                        for &id in ids {
                            warm += b.slot(id).score;
                        }
                        std::hint::black_box(warm);
                        for &id in ids {
                            let s = b.slot(id);
                            if !f(s.member.as_bytes(), s.score) {
                                return;
                            }
                        }
                    }
                    offset = 0;
                }
            }
        }
    }

    /// Members and scores in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { set: self, front: 0, back: self.len() }
    }

    /// Ranks `start..end` (clamped).
    pub fn range(&self, start: usize, end: usize) -> Iter<'_> {
        let end = end.min(self.len());
        Iter { set: self, front: start.min(end), back: end }
    }

    /// Converts to the `skiplist` encoding (no-op when already there). Redis's SORT does this
    /// to every sorted set it reads, so OBJECT ENCODING changes after a SORT.
    pub fn convert_to_skiplist(&mut self) {
        if let Repr::Listpack(v) = &mut self.repr {
            let slots = std::mem::take(v);
            self.repr = Repr::Skiplist(Box::new(Big::from_sorted(slots)));
        }
    }

    /// Heap bytes owned by this value (for MEMORY USAGE-style estimates).
    pub fn heap_bytes(&self) -> usize {
        let slot = std::mem::size_of::<Slot>();
        match &self.repr {
            Repr::Listpack(v) => {
                v.capacity() * slot + v.iter().map(|s| s.member.heap_bytes()).sum::<usize>()
            }
            Repr::Skiplist(b) => {
                let slots: usize = b.chunks.iter().map(|c| c.capacity() * slot).sum();
                let members: usize = b.chunks.iter().flatten().map(|s| s.member.heap_bytes()).sum();
                slots
                    + members
                    + b.free.capacity() * 4
                    + index_bytes(b.index.capacity())
                    + b.order.heap_bytes()
                    + std::mem::size_of::<Big>()
            }
        }
    }

    /// Checks the internal invariants (tests): order, index and counts agree.
    pub fn check_invariants(&self) -> Result<(), String> {
        let n = self.len();
        for r in 1..n {
            let (m0, s0) = self.get(r - 1);
            let (m1, s1) = self.get(r);
            if cmp_entries(s0, m0, s1, m1) != Ordering::Less {
                return Err(format!("ranks {} and {r} out of order", r - 1));
            }
        }
        if let Repr::Skiplist(b) = &self.repr {
            if b.index.len() != n {
                return Err(format!("index has {} ids, order {n}", b.index.len()));
            }
            let sum: usize = b.order.blocks.iter().map(Vec::len).sum();
            if sum != n {
                return Err(format!("blocks hold {sum}, len {n}"));
            }
            for (i, blk) in b.order.blocks.iter().enumerate() {
                if b.order.prefix(i + 1) - b.order.prefix(i) != blk.len() {
                    return Err(format!("fenwick wrong at block {i}"));
                }
                if blk.len() > BLOCK_MAX {
                    return Err(format!("block {i} too big"));
                }
            }
            for r in 0..n {
                let (m, s) = self.get(r);
                if self.rank(m) != Some((r, s)) {
                    return Err(format!("rank of rank {r} disagrees"));
                }
            }
        }
        Ok(())
    }
}

/// Bytes a `HashTable<u32>` of this capacity allocates: a power-of-two bucket count at 7/8
/// load, four bytes and one control byte per bucket.
fn index_bytes(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = if capacity < 8 {
        (capacity + 1).next_power_of_two()
    } else {
        (capacity * 8 / 7).next_power_of_two()
    };
    buckets * 5 + 16
}

/// Double-ended iterator over a rank range.
pub struct Iter<'a> {
    set: &'a ZSetValue,
    front: usize,
    back: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        let item = self.set.get(self.front);
        self.front += 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        Some(self.set.get(self.back))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// `f` as C's `printf("%.17g")` prints it: Redis's `d2string` text for ZSCAN scores (and what
/// the net encoder sends for [`Reply::Double`] in RESP2).
pub fn format_score(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sci = format!("{:.16e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if (-4..17).contains(&exp) {
        let text = if exp >= 0 {
            let (int, frac) = digits.split_at(exp as usize + 1);
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                int.to_string()
            } else {
                format!("{int}.{frac}")
            }
        } else {
            let zeros = "0".repeat((-exp - 1) as usize);
            format!("0.{zeros}{}", digits.trim_end_matches('0'))
        };
        format!("{sign}{text}")
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = rest.trim_end_matches('0');
        let dot = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{dot}e{esign}{:02}", exp.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Limits = Limits { max_listpack_entries: 4, max_listpack_value: 8 };

    #[test]
    fn converts_on_entries_and_on_value_length() {
        let mut z = ZSetValue::new();
        for i in 0..4 {
            assert_eq!(z.upsert(format!("m{i}").as_bytes(), i as f64, SMALL), Upsert::Added);
        }
        assert_eq!(z.encoding(), "listpack");
        z.upsert(b"m4", 4.0, SMALL);
        assert_eq!(z.encoding(), "skiplist");
        let mut z = ZSetValue::new();
        z.upsert(b"123456789", 1.0, SMALL);
        assert_eq!(z.encoding(), "skiplist");
        z.check_invariants().unwrap();
    }

    #[test]
    fn listpack_constructor_ignores_member_length_and_drops_negative_zero() {
        let long = vec![b'm'; 100];
        let z = ZSetValue::from_unique_listpack(vec![(long.clone(), 2.0), (b"a".to_vec(), -0.0)]);
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(z.get(0), (&b"a"[..], 0.0));
        assert!(z.get(0).1.is_sign_positive());
        assert_eq!(z.get(1), (&long[..], 2.0));
        z.check_invariants().unwrap();
    }

    #[test]
    fn for_each_from_walks_like_range() {
        for n in [0usize, 3, 4, 5, 3000] {
            let mut z = ZSetValue::new();
            for i in 0..n {
                z.upsert(format!("m{}", i * 7919 % 10007).as_bytes(), (i % 97) as f64, SMALL);
            }
            for start in [0, 1, n / 2, n.saturating_sub(1), n, n + 5] {
                for stop_after in [1usize, 17, usize::MAX] {
                    let mut seen: Vec<(Vec<u8>, f64)> = Vec::new();
                    z.for_each_from(start, |m, s| {
                        seen.push((m.to_vec(), s));
                        seen.len() < stop_after
                    });
                    let want: Vec<(Vec<u8>, f64)> = z
                        .range(start, z.len())
                        .take(stop_after)
                        .map(|(m, s)| (m.to_vec(), s))
                        .collect();
                    assert_eq!(seen, want, "n {n} start {start} stop {stop_after}");
                }
            }
        }
    }

    #[test]
    fn big_sets_keep_order_through_splits_and_merges() {
        let limits = Limits { max_listpack_entries: 0, max_listpack_value: 0 };
        let mut z = ZSetValue::new();
        let n = 5000u64;
        for i in 0..n {
            // A scrambled insertion order.
            let k = (i * 7919) % n;
            z.upsert(format!("member-{k:06}").as_bytes(), (k % 97) as f64, limits);
        }
        assert_eq!(z.len(), n as usize);
        z.check_invariants().unwrap();
        for i in (0..n).step_by(3) {
            assert!(z.remove(format!("member-{i:06}").as_bytes()).is_some());
        }
        z.check_invariants().unwrap();
        let removed = z.remove_range(10, 2000);
        assert_eq!(removed.len(), 1990);
        z.check_invariants().unwrap();
        for i in 0..n {
            z.upsert(format!("member-{i:06}").as_bytes(), -(i as f64), limits);
        }
        z.check_invariants().unwrap();
        assert_eq!(z.get(0).1, -((n - 1) as f64));
        assert_eq!(z.remove_range(0, n as usize).len(), n as usize);
        assert!(z.is_empty());
        z.check_invariants().unwrap();
    }
}
