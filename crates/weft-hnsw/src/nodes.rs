//! Node storage: per-node state, level, lock, external id and neighbour lists, addressed by
//! dense internal `u32` slot (see `ids.rs` for the external id ↔ slot map and slot reuse).
//!
//! Layout, chosen for search speed: level-0 lists of all nodes sit in one array per segment
//! (`count, n₀, …, n_{M0−1}` as `AtomicU32`s), upper-level lists (about one node in M has any)
//! in a per-node boxed array allocated once at insert. Segments double in size (256, 512, …
//! nodes) and never move, so readers follow ids without any lock.
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
    /// The caller's id of the node in this slot.
    ext: AtomicU32,
    /// Upper lists, allocated once per slot for the level of its first node; a reused slot
    /// keeps them (it is handed only to nodes whose level fits, see `ids.rs`).
    upper: OnceLock<Box<[AtomicU32]>>,
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
}

impl Nodes {
    pub(crate) fn new(m: usize) -> Nodes {
        Nodes {
            m0: 2 * m,
            m,
            segments: (0..SEGMENTS).map(|_| OnceLock::new()).collect(),
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
                    ext: AtomicU32::new(0),
                    upper: OnceLock::new(),
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
        if level > 0 {
            let _ = meta
                .upper
                .set(weft_vector::zeroed_slice(level * (self.m + 1)));
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
            .and_then(|m| m.upper.get())
            .map_or(0, |u| u.len() / (self.m + 1))
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
            let w = self.m + 1;
            seg.meta
                .get(off)?
                .upper
                .get()?
                .get((level - 1) * w..level * w)
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
            .map(|s| {
                s.links0.len() * 4
                    + s.meta.len() * std::mem::size_of::<Meta>()
                    + s.meta
                        .iter()
                        .filter_map(|m| m.upper.get())
                        .map(|u| u.len() * 4)
                        .sum::<usize>()
            })
            .sum()
    }
}
