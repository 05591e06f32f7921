//! [`VectorArena`]: write-once vector slots by dense `u32` id, read without locks; and
//! [`SlotArena`], the same slots made reusable behind a grace period.
//!
//! Slots live in segments that double in size (256, 512, 1024, … slots), so ids up to
//! `u32::MAX` are addressable, memory grows with the highest id used, and a segment never moves
//! once allocated. Each slot has a state byte (empty → writing → ready); readers see a vector
//! only once it is ready, which the writer publishes with release ordering after copying it in.
//!
//! In a [`VectorArena`] a slot is written at most once, so a published slice is never written
//! again and stays valid for the arena's lifetime.
//!
//! A [`SlotArena`] can also retire a slot (ready → retired: readers stop seeing it at once) and
//! later free it for a new vector (retired → empty). Freeing happens only inside
//! [`SlotArena::exclusive`], which holds the write side of the arena's grace lock, while every
//! slice is handed out by a [`SlotReader`] that holds the read side for the slice's lifetime.
//! So when a slot is freed no slice of it is alive, and a slot is never written while a slice
//! of it can be read.

use std::cell::UnsafeCell;
use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{OnceLock, PoisonError, RwLock, RwLockReadGuard};

const BASE_SHIFT: u32 = 8;
/// Words of a row [`VectorArena::prefetch`] asks for: 8 cache lines.
const PREFETCH_WORDS: usize = 128;
const SEGMENTS: usize = 33 - BASE_SHIFT as usize;

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const READY: u8 = 2;
/// Retired by a [`SlotArena`]: not readable, not writable until freed.
const RETIRED: u8 = 3;

/// Why a vector could not be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArenaError {
    /// The vector's length differs from the arena's dimension.
    Dimension {
        /// The arena's dimension.
        expected: usize,
        /// The vector's length.
        got: usize,
    },
    /// The id already holds a vector (slots are write-once).
    Occupied(u32),
}

impl fmt::Display for ArenaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArenaError::Dimension { expected, got } => {
                write!(f, "vector has {got} dimensions, the index has {expected}")
            }
            ArenaError::Occupied(id) => write!(f, "id {id} already holds a vector"),
        }
    }
}

impl std::error::Error for ArenaError {}

/// Segment index and offset of `id`: segment k holds ids [2^(k+8) − 256, 2^(k+9) − 256).
#[inline(always)]
fn locate(id: u32) -> (usize, usize) {
    let x = u64::from(id) + (1 << BASE_SHIFT);
    let high = 63 - x.leading_zeros();
    ((high - BASE_SHIFT) as usize, (x - (1u64 << high)) as usize)
}

struct Segment {
    data: Box<[UnsafeCell<f32>]>,
    state: Box<[AtomicU8]>,
}

#[expect(
    unsafe_code,
    reason = "shared write-once slots behind per-slot state bytes"
)]
// SAFETY: `data` is only written by the one thread that moved a slot from EMPTY to WRITING
// (compare-exchange), and only read after observing READY with acquire ordering, which the
// writer stores with release ordering after its last write. A slot becomes EMPTY again only
// through `SlotArena::exclusive`, when no slice of it is alive (module docs). So no slot is read
// while written.
unsafe impl Sync for Segment {}

impl Segment {
    #[expect(
        unsafe_code,
        reason = "reinterpret a zeroed f32 allocation as UnsafeCell<f32>"
    )]
    fn new(slots: usize, dim: usize) -> Segment {
        // Zeroed allocation: the OS commits pages only as slots are written (huge pages for
        // large segments, `mem.rs`).
        let zeroed: Box<[f32]> = crate::mem::zeroed_slice(slots * dim);
        let raw = Box::into_raw(zeroed) as *mut [UnsafeCell<f32>];
        // SAFETY: UnsafeCell<f32> is repr(transparent) over f32, so the allocation's layout
        // and length are unchanged; ownership passes from the old box to the new one.
        let data = unsafe { Box::from_raw(raw) };
        let state = (0..slots).map(|_| AtomicU8::new(EMPTY)).collect();
        Segment { data, state }
    }
}

/// Contiguous storage of fixed-dimension vectors by dense id. See the module docs.
pub struct VectorArena {
    dim: usize,
    segments: Box<[OnceLock<Segment>]>,
    count: AtomicUsize,
}

impl fmt::Debug for VectorArena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VectorArena")
            .field("dim", &self.dim)
            .field("len", &self.len())
            .field("allocated_bytes", &self.allocated_bytes())
            .finish()
    }
}

impl VectorArena {
    /// An empty arena for vectors of `dim` components (`dim` ≥ 1).
    pub fn new(dim: usize) -> VectorArena {
        assert!(dim > 0, "vector dimension must be positive");
        VectorArena {
            dim,
            segments: (0..SEGMENTS).map(|_| OnceLock::new()).collect(),
            count: AtomicUsize::new(0),
        }
    }

    /// The dimension of every vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of vectors stored.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether no vector is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn segment(&self, k: usize) -> &Segment {
        self.segments[k].get_or_init(|| Segment::new(1 << (k + BASE_SHIFT as usize), self.dim))
    }

    /// Stores `v` under `id`, copying it through `fill` (which receives the slot — zeroed, or
    /// holding a freed vector in a [`SlotArena`] — and the source, e.g. to normalise while
    /// copying). Fails if `id` already holds a vector (or is retired and not freed yet).
    pub fn insert_with(
        &self,
        id: u32,
        v: &[f32],
        fill: impl FnOnce(&mut [f32], &[f32]),
    ) -> Result<(), ArenaError> {
        if v.len() != self.dim {
            return Err(ArenaError::Dimension {
                expected: self.dim,
                got: v.len(),
            });
        }
        self.write_with(id, |slot| fill(slot, v))
    }

    #[expect(
        unsafe_code,
        reason = "exclusive access to a slot claimed by compare-exchange"
    )]
    #[expect(
        clippy::mut_from_ref,
        reason = "the caller holds the slot's WRITING claim"
    )]
    fn slot_mut<'a>(&'a self, seg: &'a Segment, off: usize) -> &'a mut [f32] {
        let cells = &seg.data[off * self.dim..(off + 1) * self.dim];
        let ptr = UnsafeCell::raw_get(cells.as_ptr());
        // SAFETY: the caller moved this slot from EMPTY to WRITING, so no other thread writes
        // it, and readers ignore it until READY; the range is inside the segment (bounds
        // checked by the slice index above).
        unsafe { std::slice::from_raw_parts_mut(ptr, self.dim) }
    }

    /// Stores a copy of `v` under `id`.
    pub fn insert(&self, id: u32, v: &[f32]) -> Result<(), ArenaError> {
        self.insert_with(id, v, |dst, src| dst.copy_from_slice(src))
    }

    /// Stores under `id` whatever `fill` writes into the slot (`dim` words, zeroed or holding
    /// a freed vector), e.g. an encoded row. Fails if `id` already holds a vector.
    pub fn write_with(&self, id: u32, fill: impl FnOnce(&mut [f32])) -> Result<(), ArenaError> {
        let (k, off) = locate(id);
        let seg = self.segment(k);
        if seg.state[off]
            .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(ArenaError::Occupied(id));
        }
        fill(self.slot_mut(seg, off));
        seg.state[off].store(READY, Ordering::Release);
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The vector under `id`, if one has been stored.
    #[inline]
    #[expect(unsafe_code, reason = "read of a published write-once slot")]
    pub fn get(&self, id: u32) -> Option<&[f32]> {
        let (k, off) = locate(id);
        let seg = self.segments.get(k)?.get()?;
        if seg.state.get(off)?.load(Ordering::Acquire) != READY {
            return None;
        }
        let cells = &seg.data[off * self.dim..(off + 1) * self.dim];
        // SAFETY: READY was stored with release ordering after the slot's last write and we
        // loaded it with acquire ordering. A plain `VectorArena` never writes a READY slot
        // again (`retire` / `free_retired` are private to this module and only a `SlotArena`
        // calls them), so shared reads for the arena's lifetime are sound. A `SlotArena` calls
        // this only through a `SlotReader`, which narrows the slice's lifetime to its read
        // guard; the slot is freed (and so can be written) only under the write guard.
        // UnsafeCell<f32> has f32's layout.
        Some(unsafe { std::slice::from_raw_parts(UnsafeCell::raw_get(cells.as_ptr()), self.dim) })
    }

    /// Whether `id` holds a vector.
    pub fn contains(&self, id: u32) -> bool {
        let (k, off) = locate(id);
        self.segments
            .get(k)
            .and_then(OnceLock::get)
            .is_some_and(|seg| {
                seg.state
                    .get(off)
                    .is_some_and(|s| s.load(Ordering::Acquire) == READY)
            })
    }

    /// Hints the CPU to fetch the start of `id`'s vector (no effect if absent).
    #[inline]
    pub fn prefetch(&self, id: u32) {
        let (k, off) = locate(id);
        if let Some(seg) = self.segments.get(k).and_then(OnceLock::get) {
            // The first cache lines of the row (up to 512 bytes: a whole compressed row, the
            // start of a long f32 one; the hardware prefetcher follows sequential reads).
            let start = off * self.dim;
            let end = (start + self.dim).min(start + PREFETCH_WORDS);
            for cell in seg
                .data
                .get(start..end)
                .unwrap_or_default()
                .iter()
                .step_by(16)
            {
                crate::prefetch(cell);
            }
        }
    }

    /// Bytes reserved for vector data and slot states (pages are committed lazily).
    pub fn allocated_bytes(&self) -> usize {
        self.segments
            .iter()
            .filter_map(OnceLock::get)
            .map(|s| s.data.len() * 4 + s.state.len())
            .sum()
    }

    fn state_of(&self, id: u32) -> Option<&AtomicU8> {
        let (k, off) = locate(id);
        self.segments.get(k)?.get()?.state.get(off)
    }

    /// READY → RETIRED; false if the slot held no readable vector. Only [`SlotArena`] calls it.
    fn retire(&self, id: u32) -> bool {
        let done = self.state_of(id).is_some_and(|s| {
            s.compare_exchange(READY, RETIRED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        });
        if done {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
        done
    }

    /// RETIRED → EMPTY. Only [`SlotArena::exclusive`] calls it, with no reader alive.
    fn free_retired(&self, id: u32) -> bool {
        self.state_of(id).is_some_and(|s| {
            s.compare_exchange(RETIRED, EMPTY, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })
    }
}

/// Vector slots by dense `u32` id that can be reused: [`SlotArena::retire`] makes a slot
/// unreadable at once, [`SlotArena::exclusive`] frees retired slots for new vectors once no
/// reader can hold a slice of them. Reads go through a [`SlotReader`] (see the module docs).
///
/// The grace lock is one `RwLock`: a reader costs one uncontended atomic operation to take and
/// one to release. A thread must not take a second reader while it holds one (a waiting
/// writer blocks new readers, so the second could wait for the writer, which waits for the
/// first).
pub struct SlotArena {
    slots: VectorArena,
    grace: RwLock<()>,
}

impl fmt::Debug for SlotArena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotArena")
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

/// Read access to a [`SlotArena`]: slices it hands out live no longer than it, and no slot is
/// freed while it exists. Hold it for one operation (a search, an insert), not longer: freeing
/// waits for every reader.
pub struct SlotReader<'a> {
    slots: &'a VectorArena,
    _grace: RwLockReadGuard<'a, ()>,
}

impl fmt::Debug for SlotReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotReader").finish_non_exhaustive()
    }
}

impl SlotReader<'_> {
    /// The vector in `id`, if one is stored and not retired.
    #[inline]
    pub fn get(&self, id: u32) -> Option<&[f32]> {
        self.slots.get(id)
    }

    /// Hints the CPU to fetch the start of `id`'s vector (no effect if absent).
    #[inline]
    pub fn prefetch(&self, id: u32) {
        self.slots.prefetch(id);
    }
}

impl SlotArena {
    /// An empty arena for vectors of `dim` components (`dim` ≥ 1).
    pub fn new(dim: usize) -> SlotArena {
        SlotArena {
            slots: VectorArena::new(dim),
            grace: RwLock::new(()),
        }
    }

    /// The dimension of every vector.
    pub fn dim(&self) -> usize {
        self.slots.dim()
    }

    /// Number of readable vectors.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no vector is readable.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Read access until the reader is dropped (see [`SlotReader`]).
    pub fn read(&self) -> SlotReader<'_> {
        SlotReader {
            slots: &self.slots,
            _grace: self.grace.read().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Stores `v` in the empty (never used or freed) slot `id`, see
    /// [`VectorArena::insert_with`]. Needs no reader: nobody reads a slot before it is ready.
    pub fn insert_with(
        &self,
        id: u32,
        v: &[f32],
        fill: impl FnOnce(&mut [f32], &[f32]),
    ) -> Result<(), ArenaError> {
        self.slots.insert_with(id, v, fill)
    }

    /// Stores a copy of `v` in the empty slot `id`.
    pub fn insert(&self, id: u32, v: &[f32]) -> Result<(), ArenaError> {
        self.slots.insert(id, v)
    }

    /// Stores what `fill` writes in the empty slot `id`, see [`VectorArena::write_with`].
    pub fn write_with(&self, id: u32, fill: impl FnOnce(&mut [f32])) -> Result<(), ArenaError> {
        self.slots.write_with(id, fill)
    }

    /// Makes `id`'s vector unreadable from now on (readers holding a slice of it keep it until
    /// they are dropped). False if `id` held no readable vector.
    pub fn retire(&self, id: u32) -> bool {
        self.slots.retire(id)
    }

    /// Waits until no [`SlotReader`] exists, blocks new ones, frees the retired slots among
    /// `free` (they take new vectors from now on) and runs `f` before letting readers in again.
    /// Every reader taken after this returns sees the effects of `f`. Do not call it while this
    /// thread holds a reader (it would wait for itself).
    pub fn exclusive<R>(&self, free: &[u32], f: impl FnOnce() -> R) -> R {
        let _all = self.grace.write().unwrap_or_else(PoisonError::into_inner);
        for &id in free {
            self.slots.free_retired(id);
        }
        f()
    }

    /// Bytes reserved for vector data and slot states (pages are committed lazily).
    pub fn allocated_bytes(&self) -> usize {
        self.slots.allocated_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_is_dense_and_monotone() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(255), (0, 255));
        assert_eq!(locate(256), (1, 0));
        assert_eq!(locate(767), (1, 511));
        assert_eq!(locate(768), (2, 0));
        assert_eq!(locate(u32::MAX).0, SEGMENTS - 1);
    }

    #[test]
    fn write_once_and_read_back() {
        let a = VectorArena::new(3);
        assert_eq!(a.get(5), None);
        a.insert(5, &[1.0, 2.0, 3.0]).unwrap();
        a.insert(100_000, &[4.0, 5.0, 6.0]).unwrap();
        assert_eq!(a.get(5), Some(&[1.0, 2.0, 3.0][..]));
        assert_eq!(a.get(100_000), Some(&[4.0, 5.0, 6.0][..]));
        assert_eq!(a.insert(5, &[0.0; 3]), Err(ArenaError::Occupied(5)));
        assert!(matches!(
            a.insert(6, &[0.0; 2]),
            Err(ArenaError::Dimension { .. })
        ));
        assert_eq!(a.len(), 2);
        assert!(a.contains(100_000) && !a.contains(6));
    }

    #[test]
    fn slots_are_retired_at_once_and_reused_after_exclusive() {
        let a = SlotArena::new(2);
        a.insert(3, &[1.0, 2.0]).unwrap();
        {
            let r = a.read();
            let v = r.get(3).unwrap();
            assert!(a.retire(3));
            assert!(!a.retire(3), "retired twice");
            assert_eq!(r.get(3), None, "unreadable at once");
            // A slice taken before retiring stays valid for the reader's lifetime.
            assert_eq!(v, &[1.0, 2.0]);
        }
        assert_eq!(a.len(), 0);
        assert_eq!(a.insert(3, &[5.0, 6.0]), Err(ArenaError::Occupied(3)));
        assert_eq!(a.exclusive(&[3], || 7), 7);
        a.insert(3, &[5.0, 6.0]).unwrap();
        assert_eq!(a.read().get(3), Some(&[5.0, 6.0][..]));
        // Freeing a slot that was not retired does nothing.
        a.exclusive(&[3], || ());
        assert_eq!(a.read().get(3), Some(&[5.0, 6.0][..]));
    }

    #[test]
    fn readers_never_see_a_reused_slot_change() {
        let a = SlotArena::new(8);
        a.insert(0, &[0.0; 8]).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let r = a.read();
                    if let Some(v) = r.get(0) {
                        let first = v[0];
                        std::hint::black_box(&r);
                        assert!(v.iter().all(|&x| x == first), "torn vector {v:?}");
                    }
                }
            });
            for round in 1..500u32 {
                a.retire(0);
                a.exclusive(&[0], || ());
                a.insert(0, &[round as f32; 8]).unwrap();
            }
            stop.store(true, Ordering::Relaxed);
        });
    }

    #[test]
    fn concurrent_writers_and_readers() {
        let a = VectorArena::new(4);
        std::thread::scope(|s| {
            for t in 0..2u32 {
                let a = &a;
                s.spawn(move || {
                    for i in 0..2000u32 {
                        let id = i * 2 + t;
                        a.insert(id, &[id as f32; 4]).unwrap();
                    }
                });
            }
            s.spawn(|| {
                for _ in 0..3 {
                    for id in 0..4000u32 {
                        if let Some(v) = a.get(id) {
                            assert_eq!(v, &[id as f32; 4]);
                        }
                    }
                }
            });
        });
        assert_eq!(a.len(), 4000);
    }
}
