//! Node storage: per-node state, level, lock, external id and neighbour lists, addressed by
//! dense internal `u32` slot (see `ids.rs` for the external id ↔ slot map and slot reuse).
//!
//! Layout, chosen for search speed: level-0 lists of all nodes sit in one array per segment
//! (`count, n₀, …, n_{M0−1}` as `AtomicU32`s), upper-level lists (about one node in M has any)
//! in one shared word arena, a block per slot allocated once at its first insert and found by
//! its offset (a node's metadata is 12 bytes: a boxed list per node took 24 more, for every
//! slot of a segment). Segments double in size (256, 512, … nodes; 4 Ki, 8 Ki, … words) and
//! never move, so readers follow ids without any lock.
//!
//! Neighbour lists are written under the node's mutex and read without it, with relaxed atomic
//! loads: a reader racing a writer may see a mix of the old and new list, which is harmless for
//! a graph walk (every id it sees is a node that exists) and is what hnswlib tolerates too.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use parking_lot::{Mutex, MutexGuard};

const BASE_SHIFT: u32 = 8;
const SEGMENTS: usize = 33 - BASE_SHIFT as usize;

/// Lifecycle of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum NodeState {
    /// Never used, or freed for reuse.
    Empty = 0,
    /// In the graph and returned by searches.
    Live = 1,
    /// Deleted: still traversed, never returned, waiting for cleanup to reconnect its neighbours.
    Tombstoned = 2,
    /// Cleaned up: unlinked, vector retired; the slot is freed (back to `Empty`) by a later
    /// grace barrier of cleanup (`cleanup.rs`).
    Removed = 3,
    /// Being inserted: its lists are being built; not returned by live-only searches, not
    /// touched by cleanup, not eligible as entry point, not in snapshots.
    Inserting = 4,
}

impl NodeState {
    fn from_u8(v: u8) -> NodeState {
        match v {
            1 => NodeState::Live,
            2 => NodeState::Tombstoned,
            3 => NodeState::Removed,
            4 => NodeState::Inserting,
            _ => NodeState::Empty,
        }
    }
}

#[inline(always)]
fn locate(id: u32) -> (usize, usize) {
    let x = u64::from(id) + (1 << BASE_SHIFT);
    let high = 63 - x.leading_zeros();
    ((high - BASE_SHIFT) as usize, (x - (1u64 << high)) as usize)
}

pub(crate) struct Meta {
    pub(crate) lock: Mutex<()>,
    state: AtomicU8,
    level: AtomicU8,
    /// How many upper levels the slot's lists have room for (0: none). Set once, with
    /// `upper`, for the level of the slot's first node; a reused slot keeps them (it is handed
    /// only to nodes whose level fits, see `ids.rs`).
    upper_levels: AtomicU8,
    /// The caller's id of the node in this slot.
    ext: AtomicU32,
    /// Word offset of the slot's upper lists in [`Uppers`] (valid once `upper_levels` > 0).
    upper: AtomicU32,
}

struct Segment {
    links0: Box<[AtomicU32]>,
    meta: Box<[Meta]>,
}

pub(crate) struct Nodes {
    /// Level-0 list capacity (2·M).
    pub(crate) m0: usize,
    /// Upper-level list capacity (M).
    pub(crate) m: usize,
    segments: Box<[OnceLock<Segment>]>,
    upper: Uppers,
}

const UPPER_SHIFT: u32 = 12;
const UPPER_SEGMENTS: usize = 33 - UPPER_SHIFT as usize;

/// The upper-level lists of all slots: blocks of words handed out once, never moved or freed
/// (a freed slot keeps its block for the next node in it), each inside one segment.
struct Uppers {
    segments: Box<[OnceLock<Box<[AtomicU32]>>]>,
    /// The next free word offset.
    next: Mutex<u64>,
}

/// Segment and index of word offset `off` (segments of 4 Ki, 8 Ki, … words).
#[inline(always)]
fn locate_word(off: u64) -> (usize, usize) {
    let x = off + (1 << UPPER_SHIFT);
    let high = 63 - x.leading_zeros();
    ((high - UPPER_SHIFT) as usize, (x - (1u64 << high)) as usize)
}

impl Uppers {
    fn new() -> Uppers {
        Uppers {
            segments: (0..UPPER_SEGMENTS).map(|_| OnceLock::new()).collect(),
            next: Mutex::new(0),
        }
    }

    /// A block of `n` zeroed words inside one segment; `None` once the arena's 2³² words are
    /// used up (about a billion nodes with upper levels).
    fn alloc(&self, n: usize) -> Option<u32> {
        let mut next = self.next.lock();
        loop {
            let (k, i) = locate_word(*next);
            let len = 1usize << (k + UPPER_SHIFT as usize);
            let seg = self.segments.get(k)?;
            if i + n <= len {
                let off = u32::try_from(*next).ok()?;
                seg.get_or_init(|| weft_vector::zeroed_slice(len));
                *next += n as u64;
                return Some(off);
            }
            // Does not fit in what is left of this segment: start the next one.
            *next = (1u64 << (k + 1 + UPPER_SHIFT as usize)) - (1 << UPPER_SHIFT);
        }
    }

    #[inline(always)]
    fn words(&self, off: u32, n: usize) -> Option<&[AtomicU32]> {
        let (k, i) = locate_word(u64::from(off));
        self.segments.get(k)?.get()?.get(i..i + n)
    }

    fn allocated_bytes(&self) -> usize {
        *self.next.lock() as usize * 4
    }
}

impl Nodes {
    pub(crate) fn new(m: usize) -> Nodes {
        Nodes {
            m0: 2 * m,
            m,
            segments: (0..SEGMENTS).map(|_| OnceLock::new()).collect(),
            upper: Uppers::new(),
        }
    }

    /// Capacity of the list at `level`.
    #[inline]
    pub(crate) fn cap(&self, level: usize) -> usize {
        if level == 0 { self.m0 } else { self.m }
    }

    #[inline(always)]
    fn seg(&self, id: u32) -> Option<(&Segment, usize)> {
        let (k, off) = locate(id);
        Some((self.segments.get(k)?.get()?, off))
    }

    fn seg_or_init(&self, id: u32) -> (&Segment, usize) {
        let (k, off) = locate(id);
        let n = 1usize << (k + BASE_SHIFT as usize);
        let seg = self.segments[k].get_or_init(|| Segment {
            // Zeroed by the allocator, on huge pages when large: the pages are committed as
            // nodes are written, not here, under the segment's initialisation.
            links0: weft_vector::zeroed_slice(n * (self.m0 + 1)),
            meta: (0..n)
                .map(|_| Meta {
                    lock: Mutex::new(()),
                    state: AtomicU8::new(0),
                    level: AtomicU8::new(0),
                    upper_levels: AtomicU8::new(0),
                    ext: AtomicU32::new(0),
                    upper: AtomicU32::new(0),
                })
                .collect(),
        });
        (seg, off)
    }

    pub(crate) fn meta(&self, id: u32) -> Option<&Meta> {
        let (seg, off) = self.seg(id)?;
        seg.meta.get(off)
    }

    /// Creates the node's slot (idempotent) and returns it.
    pub(crate) fn ensure(&self, id: u32) -> &Meta {
        let (seg, off) = self.seg_or_init(id);
        &seg.meta[off]
    }

    #[inline]
    pub(crate) fn state(&self, id: u32) -> NodeState {
        self.meta(id).map_or(NodeState::Empty, |m| {
            NodeState::from_u8(m.state.load(Ordering::Acquire))
        })
    }

    pub(crate) fn set_state(&self, id: u32, s: NodeState) {
        self.ensure(id).state.store(s as u8, Ordering::Release);
    }

    /// Moves `id` from `from` to `to`; false if it was in another state.
    pub(crate) fn transition(&self, id: u32, from: NodeState, to: NodeState) -> bool {
        self.meta(id).is_some_and(|m| {
            m.state
                .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })
    }

    #[inline]
    pub(crate) fn level(&self, id: u32) -> usize {
        self.meta(id)
            .map_or(0, |m| usize::from(m.level.load(Ordering::Acquire)))
    }

    /// Sets up a fresh or freed slot for a node of `ext` with top level `level`: allocates its
    /// upper lists unless the slot has them (a freed slot is handed out only if it has room for
    /// `level`, see [`Nodes::upper_levels`]) and empties every list. Call before linking, while
    /// nothing links to the slot.
    pub(crate) fn init_node(&self, id: u32, ext: u32, level: usize) {
        let meta = self.ensure(id);
        if level > 0
            && meta.upper_levels.load(Ordering::Acquire) == 0
            && let Some(off) = self.upper.alloc(level * (self.m + 1))
        {
            meta.upper.store(off, Ordering::Relaxed);
            // Published by the level count: a reader that sees it sees the offset.
            meta.upper_levels.store(level as u8, Ordering::Release);
        }
        for l in 0..=self.upper_levels(id) {
            if let Some(cells) = self.cells(id, l) {
                cells[0].store(0, Ordering::Release);
            }
        }
        meta.ext.store(ext, Ordering::Release);
        meta.level.store(level as u8, Ordering::Release);
    }

    /// How many upper levels the slot has lists for (a node up to that level fits).
    pub(crate) fn upper_levels(&self, id: u32) -> usize {
        self.meta(id)
            .map_or(0, |m| usize::from(m.upper_levels.load(Ordering::Acquire)))
    }

    /// Marks a removed slot free (`Empty`, level 0); its lists are already empty.
    pub(crate) fn free(&self, id: u32) {
        if let Some(m) = self.meta(id) {
            m.level.store(0, Ordering::Release);
            m.state.store(NodeState::Empty as u8, Ordering::Release);
        }
    }

    /// The caller's id of the node in slot `id`.
    #[inline]
    pub(crate) fn ext(&self, id: u32) -> u32 {
        self.meta(id)
            .map_or(u32::MAX, |m| m.ext.load(Ordering::Acquire))
    }

    pub(crate) fn lock(&self, id: u32) -> MutexGuard<'_, ()> {
        self.ensure(id).lock.lock()
    }

    /// The `[count, neighbours…]` cells of `id` at `level`, if the node has that level.
    #[inline(always)]
    pub(crate) fn cells(&self, id: u32, level: usize) -> Option<&[AtomicU32]> {
        let (seg, off) = self.seg(id)?;
        if level == 0 {
            let w = self.m0 + 1;
            seg.links0.get(off * w..(off + 1) * w)
        } else {
            let meta = seg.meta.get(off)?;
            if level > usize::from(meta.upper_levels.load(Ordering::Acquire)) {
                return None;
            }
            let w = self.m + 1;
            let start = u64::from(meta.upper.load(Ordering::Relaxed)) + ((level - 1) * w) as u64;
            self.upper.words(u32::try_from(start).ok()?, w)
        }
    }

    /// Hints the CPU to fetch `id`'s list at `level` (the next node a walk expands).
    #[inline]
    pub(crate) fn prefetch(&self, id: u32, level: usize) {
        if let Some(cells) = self.cells(id, level) {
            weft_vector::prefetch(&cells[0]);
        }
    }

    /// Appends `id`'s neighbours at `level` to `out` (cleared first).
    #[inline]
    pub(crate) fn read(&self, id: u32, level: usize, out: &mut Vec<u32>) {
        out.clear();
        if let Some(cells) = self.cells(id, level) {
            let n = (cells[0].load(Ordering::Acquire) as usize).min(cells.len() - 1);
            out.extend(cells[1..=n].iter().map(|c| c.load(Ordering::Relaxed)));
        }
    }

    /// Replaces `id`'s neighbours at `level` (truncated to capacity); hold the node's lock.
    pub(crate) fn write(&self, id: u32, level: usize, list: &[u32]) {
        if let Some(cells) = self.cells(id, level) {
            let n = list.len().min(cells.len() - 1);
            for (c, &v) in cells[1..=n].iter().zip(list) {
                c.store(v, Ordering::Relaxed);
            }
            cells[0].store(n as u32, Ordering::Release);
        }
    }

    /// Replaces `id`'s list at `level` by the little-endian `u32`s of `raw` (truncated to
    /// capacity); returns the highest id written. Hold the node's lock, or own the index.
    pub(crate) fn write_le(&self, id: u32, level: usize, raw: &[u8]) -> Option<u32> {
        let cells = self.cells(id, level)?;
        let mut top = None;
        let mut n = 0;
        for (c, v) in cells[1..].iter().zip(crate::snapshot::words(raw)) {
            c.store(v, Ordering::Relaxed);
            top = top.max(Some(v));
            n += 1;
        }
        cells[0].store(n, Ordering::Release);
        top
    }

    /// Bytes allocated for node storage (segments and upper lists).
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.segments
            .iter()
            .filter_map(OnceLock::get)
            .map(|s| s.links0.len() * 4 + s.meta.len() * std::mem::size_of::<Meta>())
            .sum::<usize>()
            + self.upper.allocated_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_metadata_is_twelve_bytes() {
        assert_eq!(std::mem::size_of::<Meta>(), 12);
    }

    /// Blocks of every size lie inside one segment, never overlap, and read back what was
    /// written to them, across many segment boundaries.
    #[test]
    fn upper_blocks_are_disjoint_and_inside_one_segment() {
        let u = Uppers::new();
        let mut blocks = Vec::new();
        for i in 0..3000usize {
            let n = 1 + (i * 7919) % 1100;
            let off = u.alloc(n).expect("room");
            let (k, start) = locate_word(u64::from(off));
            assert!(
                start + n <= 1 << (k + UPPER_SHIFT as usize),
                "block {i} crosses a segment"
            );
            let w = u.words(off, n).expect("allocated");
            assert!(
                w.iter().all(|c| c.load(Ordering::Relaxed) == 0),
                "block {i} not fresh"
            );
            for c in w {
                c.store(i as u32 + 1, Ordering::Relaxed);
            }
            blocks.push((off, n));
        }
        for (i, &(off, n)) in blocks.iter().enumerate() {
            let w = u.words(off, n).expect("allocated");
            assert!(
                w.iter().all(|c| c.load(Ordering::Relaxed) == i as u32 + 1),
                "block {i} overwritten"
            );
        }
        assert!(u.allocated_bytes() >= blocks.iter().map(|b| b.1 * 4).sum::<usize>());
    }

    /// A node's upper lists are its own, and a freed slot keeps them for the next node.
    #[test]
    fn upper_lists_per_slot_survive_reuse() {
        let nodes = Nodes::new(4);
        for id in 0..600u32 {
            nodes.init_node(id, id + 10, (id % 4) as usize);
            for l in 1..=(id % 4) as usize {
                nodes.write(id, l, &[id, l as u32]);
            }
        }
        for id in 0..600u32 {
            assert_eq!(nodes.upper_levels(id), (id % 4) as usize);
            assert!(nodes.cells(id, (id % 4) as usize + 1).is_none());
            for l in 1..=(id % 4) as usize {
                let mut out = Vec::new();
                nodes.read(id, l, &mut out);
                assert_eq!(out, vec![id, l as u32], "slot {id} level {l}");
            }
        }
        nodes.free(3);
        nodes.init_node(3, 99, 1);
        assert_eq!(nodes.upper_levels(3), 3);
        assert_eq!(nodes.ext(3), 99);
        let mut out = Vec::new();
        nodes.read(3, 1, &mut out);
        assert!(out.is_empty(), "a reused slot's lists start empty");
    }
}
