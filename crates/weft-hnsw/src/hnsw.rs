//! The HNSW index: insert, search (optionally filtered), delete.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;
use roaring::RoaringBitmap;
use weft_vector::{ArenaError, DistanceFn, SlotArena, SlotReader, normalize};

use crate::config::HnswConfig;
use crate::ids::IdMap;
use crate::inflight::InFlight;
use crate::nodes::{NodeState, Nodes};
use crate::ops::{GraphObserver, GraphOp};
use crate::search::{Accept, Cand, with_ctx};
use crate::{IndexError, Neighbor};

/// Highest level a node can get.
const MAX_LEVEL: usize = 15;
const NO_ENTRY: u64 = u64::MAX;

/// A hierarchical navigable small-world graph over vectors with `u32` ids chosen by the caller.
///
/// Internally every node lives in a dense slot (`ids.rs`): the caller's id is translated at
/// the API boundary, and the slots of removed nodes are reused, so memory follows the number
/// of live nodes, not the highest id. Vectors are copied into the index's own [`SlotArena`]
/// (normalised first for cosine), so a distance is one pointer computation away; see
/// `docs/decisions/0006-vector-index.md`. Inserts, deletes and searches may run concurrently
/// from any number of threads: an insert holds its new node's lock throughout and builds all
/// of the node's lists before any other node links to it (see `insert.rs` for why that makes
/// concurrent inserts safe); searches take no node lock. Every operation holds a reader of the
/// arena's grace lock, which is what lets cleanup reuse slots safely (`cleanup.rs`).
pub struct Hnsw {
    pub(crate) cfg: HnswConfig,
    pub(crate) dist: DistanceFn,
    pub(crate) vectors: SlotArena,
    pub(crate) nodes: Nodes,
    /// External id ↔ slot.
    pub(crate) ids: IdMap,
    /// Entry point packed as `level << 32 | slot`, or [`NO_ENTRY`].
    entry: AtomicU64,
    /// Held while changing the entry point, and by inserts that may raise the top level. Never
    /// waited for while holding a node lock, except by an insert holding its own new node's
    /// lock, which no other thread waits for at that point (see `insert.rs`).
    pub(crate) entry_lock: Mutex<()>,
    /// One past the highest slot used.
    bound: AtomicU64,
    pub(crate) live: AtomicUsize,
    /// Set on the first delete: from then on searches check node states.
    any_deleted: AtomicBool,
    /// Slots of tombstoned nodes.
    pub(crate) tombstones: Mutex<RoaringBitmap>,
    pub(crate) cleanup_lock: Mutex<()>,
    /// Inserts in progress (see `inflight.rs`).
    pub(crate) inflight: InFlight,
    rng: AtomicU64,
    level_mult: f64,
    observer: Option<Arc<dyn GraphObserver>>,
}

impl std::fmt::Debug for Hnsw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hnsw")
            .field("dim", &self.dim())
            .field("len", &self.len())
            .field("config", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Hnsw {
    /// An empty index for `dim`-dimensional vectors.
    pub fn new(dim: usize, cfg: HnswConfig) -> Hnsw {
        let m = cfg.max_connections.max(2);
        Hnsw {
            dist: cfg.metric.distance_fn(),
            vectors: SlotArena::new(dim),
            nodes: Nodes::new(m),
            ids: IdMap::default(),
            entry: AtomicU64::new(NO_ENTRY),
            entry_lock: Mutex::new(()),
            bound: AtomicU64::new(0),
            live: AtomicUsize::new(0),
            any_deleted: AtomicBool::new(false),
            tombstones: Mutex::new(RoaringBitmap::new()),
            cleanup_lock: Mutex::new(()),
            inflight: InFlight::default(),
            rng: AtomicU64::new(cfg.seed),
            level_mult: 1.0 / (m as f64).ln(),
            observer: None,
            cfg,
        }
    }

    /// Reports every graph mutation to `observer` from now on (see [`GraphOp`]).
    pub fn with_observer(mut self, observer: Arc<dyn GraphObserver>) -> Hnsw {
        self.observer = Some(observer);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &HnswConfig {
        &self.cfg
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.vectors.dim()
    }

    /// Number of live (inserted, not deleted) nodes.
    pub fn len(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Whether the index has no live node.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of tombstoned nodes waiting for [`Hnsw::cleanup`].
    pub fn tombstone_count(&self) -> usize {
        self.tombstones.lock().len() as usize
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: u32) -> bool {
        // The state is read under the map's lock: the slot cannot be freed and reused meanwhile.
        let ids = self.ids.read();
        ids.slot(id)
            .is_some_and(|s| self.nodes.state(s) == NodeState::Live)
    }

    /// Whether `id` is in the index: live, tombstoned, or removed by a cleanup that has not
    /// reclaimed its slot yet.
    pub fn holds(&self, id: u32) -> bool {
        self.ids.slot(id).is_some()
    }

    /// A copy of the stored (for cosine: normalised) vector of `id`, while it is live or
    /// tombstoned.
    pub fn vector(&self, id: u32) -> Option<Vec<f32>> {
        let r = self.vectors.read();
        let slot = self.ids.slot(id)?;
        r.get(slot).map(<[f32]>::to_vec)
    }

    /// Bytes allocated by vectors, graph and id map (pages of vector segments are committed
    /// lazily).
    pub fn memory_bytes(&self) -> usize {
        self.vectors.allocated_bytes() + self.nodes.allocated_bytes() + self.ids.allocated_bytes()
    }

    /// Number of internal slots ever used: the size the node and vector arrays are addressed
    /// up to. Follows the live count plus the nodes deleted since the last cleanup.
    pub fn slot_count(&self) -> usize {
        self.id_bound()
    }

    /// The entry point (caller's id) and its level.
    pub fn entry_point(&self) -> Option<(u32, usize)> {
        let _r = self.vectors.read();
        self.entry_slot().map(|(s, l)| (self.nodes.ext(s), l))
    }

    /// The entry point's slot and level.
    pub(crate) fn entry_slot(&self) -> Option<(u32, usize)> {
        let e = self.entry.load(Ordering::Acquire);
        (e != NO_ENTRY).then_some(((e & 0xffff_ffff) as u32, (e >> 32) as usize))
    }

    /// Sets the entry point (slot, level); hold `entry_lock`.
    pub(crate) fn set_entry(&self, e: Option<(u32, usize)>) {
        let packed = e.map_or(NO_ENTRY, |(id, l)| ((l as u64) << 32) | u64::from(id));
        self.entry.store(packed, Ordering::Release);
        self.emit(|| GraphOp::SetEntryPoint {
            entry: e.map(|(id, l)| (self.nodes.ext(id), l as u8)),
        });
    }

    /// One past the highest slot used.
    pub(crate) fn id_bound(&self) -> usize {
        self.bound.load(Ordering::Acquire) as usize
    }

    /// The caller's id of slot `slot`.
    #[inline]
    pub(crate) fn ext(&self, slot: u32) -> u32 {
        self.nodes.ext(slot)
    }

    /// The caller's ids of `slots`.
    pub(crate) fn exts(&self, slots: &[u32]) -> Vec<u32> {
        slots.iter().map(|&s| self.ext(s)).collect()
    }

    /// Gives `ext` a slot with room for `level` (see `ids.rs`); fails if `ext` is known.
    pub(crate) fn assign_slot(&self, ext: u32, level: usize) -> Result<u32, IndexError> {
        let mut ids = self.ids.write();
        let slot = ids.assign(ext, level)?;
        self.bound
            .fetch_max(u64::from(ids.bound()), Ordering::AcqRel);
        Ok(slot)
    }

    #[inline]
    pub(crate) fn emit(&self, op: impl FnOnce() -> GraphOp) {
        if let Some(o) = &self.observer {
            o.record(op());
        }
    }

    /// What a search for results (not for an insert's neighbours) may return.
    fn query_accept(&self) -> Accept<'static> {
        if self.any_deleted.load(Ordering::Acquire) {
            Accept::Live
        } else {
            Accept::All
        }
    }

    /// What an insert's construction search may pick as neighbours: nodes not deleted,
    /// including ones whose own insert is finishing (their lists are complete).
    pub(crate) fn construction_accept(&self) -> Accept<'static> {
        if self.any_deleted.load(Ordering::Acquire) {
            Accept::NotDeleted
        } else {
            Accept::All
        }
    }

    pub(crate) fn random_level(&self) -> usize {
        // splitmix64 over an atomic counter: lock-free and reproducible for a fixed seed and
        // insertion order.
        let mut z = self.rng.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let u = ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        ((-u.ln() * self.level_mult) as usize).min(MAX_LEVEL)
    }

    /// Fails unless `v` has the index's dimension.
    pub(crate) fn check_dim(&self, v: &[f32]) -> Result<(), IndexError> {
        if v.len() == self.dim() {
            Ok(())
        } else {
            Err(IndexError::Dimension {
                expected: self.dim(),
                got: v.len(),
            })
        }
    }

    /// Stores the vector in the freshly assigned `slot` and creates the node of `ext` (not
    /// linked yet) in `state`: `Inserting` for an insert that links it next, `Live` for a
    /// replayed node whose lists follow as ops. `normalize`: false for vectors taken from a
    /// snapshot (stored normalised already).
    pub(crate) fn add_node(
        &self,
        slot: u32,
        ext: u32,
        v: &[f32],
        level: usize,
        state: NodeState,
        normalize_it: bool,
    ) -> Result<(), IndexError> {
        let norm = normalize_it && self.cfg.metric.normalizes();
        // Before the vector: a reader that got the vector (acquire) sees the external id.
        self.nodes.init_node(slot, ext, level);
        self.vectors
            .insert_with(slot, v, |dst, src| {
                dst.copy_from_slice(src);
                if norm {
                    normalize(dst);
                }
            })
            .map_err(|e| match e {
                ArenaError::Dimension { expected, got } => IndexError::Dimension { expected, got },
                ArenaError::Occupied(_) => IndexError::Exists(ext),
            })?;
        self.nodes.set_state(slot, state);
        if state == NodeState::Live {
            self.live.fetch_add(1, Ordering::Relaxed);
        }
        self.emit(|| GraphOp::AddNode {
            id: ext,
            level: level as u8,
        });
        Ok(())
    }

    /// The level generator's state (persisted in snapshots).
    pub(crate) fn rng_state(&self) -> u64 {
        self.rng.load(Ordering::Relaxed)
    }

    pub(crate) fn set_rng_state(&self, state: u64) {
        self.rng.store(state, Ordering::Relaxed);
    }

    /// Recreates a node from a snapshot in the next slot: the vector as stored (no
    /// normalisation), its state, and its lists still in the snapshot's (external) ids, which
    /// [`Hnsw::finish_restore`] translates once every node is in. Used before the index is
    /// shared, so no observer op is emitted.
    pub(crate) fn restore_node(&self, n: &crate::snapshot::NodeRecord) -> Result<(), IndexError> {
        let level = n.neighbors.len().max(1) - 1;
        self.check_dim(&n.vector)?;
        let slot = self.assign_slot(n.id, level)?;
        self.nodes.init_node(slot, n.id, level);
        self.vectors.insert(slot, &n.vector).map_err(|e| match e {
            ArenaError::Dimension { expected, got } => IndexError::Dimension { expected, got },
            ArenaError::Occupied(_) => IndexError::Exists(n.id),
        })?;
        for (l, list) in n.neighbors.iter().enumerate() {
            self.nodes.write(slot, l, list);
        }
        if n.tombstoned {
            self.any_deleted.store(true, Ordering::Release);
            self.nodes.set_state(slot, NodeState::Tombstoned);
            self.tombstones.lock().insert(slot);
        } else {
            self.nodes.set_state(slot, NodeState::Live);
            self.live.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Translates the lists written by [`Hnsw::restore_node`] from external ids to slots,
    /// dropping links to ids the snapshot does not hold.
    pub(crate) fn finish_restore(&self) {
        let ids = self.ids.read();
        let mut list = Vec::new();
        for slot in 0..ids.bound() {
            for l in 0..=self.nodes.level(slot) {
                self.nodes.read(slot, l, &mut list);
                list.retain_mut(|n| match ids.slot(*n) {
                    Some(s) => {
                        *n = s;
                        true
                    }
                    None => false,
                });
                self.nodes.write(slot, l, &list);
            }
        }
    }

    /// Sorts `cands` (distances from `id`), keeps at most `cap` by the heuristic and writes
    /// them as `id`'s list at `level`. Hold `id`'s lock.
    pub(crate) fn write_selected(
        &self,
        r: &SlotReader<'_>,
        id: u32,
        level: usize,
        mut cands: Vec<Cand>,
        cap: usize,
    ) {
        cands.sort_unstable();
        cands.dedup_by_key(|c| c.id);
        let mut kept = Vec::with_capacity(cap);
        self.select_neighbors(r, &cands, cap, &mut kept);
        let ids: Vec<u32> = kept.iter().map(|c| c.id).collect();
        self.nodes.write(id, level, &ids);
        self.emit(|| GraphOp::SetNeighbors {
            id: self.ext(id),
            level: level as u8,
            neighbors: self.exts(&ids),
        });
    }

    /// Deletes `id`: it stops appearing in results at once, stays traversable, and is unlinked
    /// by the next [`Hnsw::cleanup`]. False if `id` was not live.
    pub fn delete(&self, id: u32) -> bool {
        let _r = self.vectors.read();
        self.any_deleted.store(true, Ordering::Release);
        match self.ids.slot(id) {
            Some(slot) => self.delete_slot(slot),
            None => false,
        }
    }

    /// [`Hnsw::delete`] of a slot; hold a reader (so the slot keeps its node).
    pub(crate) fn delete_slot(&self, slot: u32) -> bool {
        self.any_deleted.store(true, Ordering::Release);
        if self.nodes.state(slot) == NodeState::Empty {
            return false;
        }
        // An insert of the node still in progress holds this lock: wait for it to finish.
        let _g = self.nodes.lock(slot);
        if !self
            .nodes
            .transition(slot, NodeState::Live, NodeState::Tombstoned)
        {
            return false;
        }
        self.tombstones.lock().insert(slot);
        self.live.fetch_sub(1, Ordering::Relaxed);
        self.emit(|| GraphOp::Tombstone { id: self.ext(slot) });
        true
    }

    pub(crate) fn mark_deleted(&self) {
        self.any_deleted.store(true, Ordering::Release);
    }

    pub(crate) fn live_counter(&self) -> &AtomicUsize {
        &self.live
    }

    /// The `k` nearest live neighbours of `query`, closest first, with the configured ef
    /// (`ef` −1: dynamic). With `allow`, only ids in it are returned; allow-lists smaller than
    /// `flatSearchCutoff` are scanned exhaustively instead of walking the graph.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        allow: Option<&RoaringBitmap>,
    ) -> Result<Vec<Neighbor>, IndexError> {
        self.search_with_ef(query, k, self.cfg.effective_ef(k), allow)
    }

    /// As [`Hnsw::search`] with an explicit `ef` (raised to `k` if smaller).
    pub fn search_with_ef(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        allow: Option<&RoaringBitmap>,
    ) -> Result<Vec<Neighbor>, IndexError> {
        let prepared = self.prepare_query(query)?;
        let q = prepared.as_deref().unwrap_or(query);
        if k == 0 {
            return Ok(Vec::new());
        }
        let r = self.vectors.read();
        if let Some(allow) = allow
            && (allow.len() as usize) < self.cfg.flat_search_cutoff
        {
            let slots = self.slots_of(allow);
            return Ok(self.exact_prepared(&r, q, k, slots.into_iter()));
        }
        let Some((ep, top)) = self.entry_slot() else {
            return Ok(Vec::new());
        };
        let Some(d) = self.dist_to(&r, q, ep) else {
            return Ok(Vec::new());
        };
        let accept = match allow {
            Some(a) => Accept::Allowed(a),
            None => self.query_accept(),
        };
        Ok(with_ctx(|ctx| {
            let mut cur = Cand { d, id: ep };
            for l in (1..=top).rev() {
                cur = self.greedy(&r, q, cur, l, &mut ctx.buf);
            }
            self.search_layer(&r, q, cur, ef.max(k), 0, accept, ctx);
            let mut found = ctx.take_sorted();
            found.truncate(k);
            found
                .into_iter()
                .map(|c| Neighbor {
                    id: self.ext(c.id),
                    distance: c.d,
                })
                .collect()
        }))
    }

    /// The slots of the ids in `allow` that have one.
    fn slots_of(&self, allow: &RoaringBitmap) -> Vec<u32> {
        let ids = self.ids.read();
        allow.iter().filter_map(|e| ids.slot(e)).collect()
    }

    /// Checks the query's dimension; for cosine returns a normalised copy.
    fn prepare_query(&self, query: &[f32]) -> Result<Option<Vec<f32>>, IndexError> {
        if query.len() != self.dim() {
            return Err(IndexError::Dimension {
                expected: self.dim(),
                got: query.len(),
            });
        }
        Ok(self.cfg.metric.normalizes().then(|| {
            let mut v = query.to_vec();
            normalize(&mut v);
            v
        }))
    }

    /// Exact k-NN by scanning `ids` (all live nodes if None), optionally restricted to `allow`.
    pub fn exact_search(
        &self,
        query: &[f32],
        k: usize,
        allow: Option<&RoaringBitmap>,
    ) -> Result<Vec<Neighbor>, IndexError> {
        let q = self.prepare_query(query)?;
        let q = q.as_deref().unwrap_or(query);
        let r = self.vectors.read();
        Ok(match allow {
            Some(a) => {
                let slots = self.slots_of(a);
                self.exact_prepared(&r, q, k, slots.into_iter())
            }
            None => self.exact_prepared(&r, q, k, 0..self.id_bound() as u32),
        })
    }

    fn exact_prepared(
        &self,
        r: &SlotReader<'_>,
        q: &[f32],
        k: usize,
        ids: impl Iterator<Item = u32>,
    ) -> Vec<Neighbor> {
        let mut heap = std::collections::BinaryHeap::with_capacity(k.min(1 << 16) + 1);
        for id in ids {
            if self.nodes.state(id) != NodeState::Live {
                continue;
            }
            let Some(d) = self.dist_to(r, q, id) else {
                continue;
            };
            if heap.len() < k {
                heap.push(Cand { d, id });
            } else if heap.peek().is_some_and(|w: &Cand| d < w.d) {
                heap.pop();
                heap.push(Cand { d, id });
            }
        }
        heap.into_sorted_vec()
            .into_iter()
            .map(|c| Neighbor {
                id: self.ext(c.id),
                distance: c.d,
            })
            .collect()
    }
}
