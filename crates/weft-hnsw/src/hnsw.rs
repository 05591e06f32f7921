//! The HNSW index: insert, search (optionally filtered), delete.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLock};
use roaring::RoaringBitmap;
use weft_vector::{Quantizer, normalize};

use crate::config::HnswConfig;
use crate::ids::IdMap;
use crate::inflight::InFlight;
use crate::nodes::{NodeState, Nodes};
use crate::ops::{GraphObserver, GraphOp};
use crate::search::{Accept, Cand, with_ctx};
use crate::store::{Rows, Store, rescore_hits};
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
    dim: usize,
    /// The vectors or their codes (`store.rs`); replaced once by [`Hnsw::compress`].
    store: RwLock<Arc<Store>>,
    /// Inserts write their vector under the read side; a compression starts under the write
    /// side (`store.rs`).
    pub(crate) gate: RwLock<()>,
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
    observer: std::sync::OnceLock<Arc<dyn GraphObserver>>,
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
            dim,
            store: RwLock::new(Arc::new(Store::plain(dim, cfg.metric))),
            gate: RwLock::new(()),
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
            observer: std::sync::OnceLock::new(),
            cfg,
        }
    }

    /// Reports every graph mutation to `observer` from now on (see [`GraphOp`]).
    pub fn with_observer(self, observer: Arc<dyn GraphObserver>) -> Hnsw {
        self.observe(observer);
        self
    }

    /// [`Hnsw::with_observer`] on a shared index; false (and nothing changes) if it already
    /// has one. Mutations already running may or may not be reported.
    pub fn observe(&self, observer: Arc<dyn GraphObserver>) -> bool {
        self.observer.set(observer).is_ok()
    }

    /// The configuration.
    pub fn config(&self) -> &HnswConfig {
        &self.cfg
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The store operations started now use.
    pub(crate) fn store(&self) -> Arc<Store> {
        Arc::clone(&self.store.read())
    }

    /// The quantizer of the vectors, once compressed.
    pub fn quantizer(&self) -> Option<Quantizer> {
        self.store.read().quant.clone()
    }

    /// Whether the vectors are compressed.
    pub fn is_compressed(&self) -> bool {
        self.store.read().quant.is_some()
    }

    /// Replaces the store (before the index is shared, or by [`Hnsw::compress`]).
    pub(crate) fn set_store(&self, store: Arc<Store>) {
        *self.store.write() = store;
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
    /// tombstoned; once compressed, its row of codes.
    pub fn vector(&self, id: u32) -> Option<Vec<f32>> {
        let st = self.store();
        let r = st.read();
        let slot = self.ids.slot(id)?;
        r.get(slot).map(<[f32]>::to_vec)
    }

    /// Bytes allocated by vectors, graph and id map (pages of vector segments are committed
    /// lazily).
    pub fn memory_bytes(&self) -> usize {
        self.store().arena.allocated_bytes()
            + self.nodes.allocated_bytes()
            + self.ids.allocated_bytes()
    }

    /// Number of internal slots ever used: the size the node and vector arrays are addressed
    /// up to. Follows the live count plus the nodes deleted since the last cleanup.
    pub fn slot_count(&self) -> usize {
        self.id_bound()
    }

    /// The entry point (caller's id) and its level.
    pub fn entry_point(&self) -> Option<(u32, usize)> {
        let st = self.store();
        let _r = st.read();
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
        if let Some(o) = self.observer.get() {
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
    #[expect(
        clippy::too_many_arguments,
        reason = "the store joins the node's fields"
    )]
    pub(crate) fn add_node(
        &self,
        store: &Store,
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
        {
            let _gate = self.gate.read();
            store.put(slot, v, norm, ext)?;
        }
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

    /// Ends a snapshot restore that put nodes in slots `0..total` (`snapshot/restore.rs`)
    /// with lists in the snapshot's (external) ids: builds the id map, sets the counters and
    /// tombstones, and translates the lists to slots, dropping links to ids the snapshot does
    /// not hold. Ids must increase with the slot. `max_link` is the highest id any list holds.
    pub(crate) fn finish_restore(
        &self,
        total: u32,
        live: usize,
        mut tombstones: Vec<u32>,
        max_link: Option<u32>,
    ) {
        let exts: Vec<u32> = (0..total).map(|s| self.ext(s)).collect();
        // Increasing ids that end at total − 1 are exactly 0..total: every link below total
        // is its own slot.
        let identity = exts.last().is_none_or(|&l| l.checked_add(1) == Some(total))
            && max_link.is_none_or(|m| m < total);
        // Dense table when the ids are not too sparse, else a binary search of the sorted
        // ids.
        let table: Option<Vec<u32>> = (!identity)
            .then(|| exts.last().map_or(0, |&m| m as usize + 1))
            .filter(|&len| len <= 4 * total as usize + 4096)
            .map(|len| {
                let mut t = vec![u32::MAX; len];
                for (slot, &e) in exts.iter().enumerate() {
                    t[e as usize] = slot as u32;
                }
                t
            });
        let slot_of = |ext: u32| match &table {
            Some(t) => t.get(ext as usize).copied().filter(|&s| s != u32::MAX),
            None => exts.binary_search(&ext).ok().map(|s| s as u32),
        };
        let translate = |slots: std::ops::Range<u32>| {
            let mut list = Vec::new();
            for slot in slots {
                for l in 0..=self.nodes.level(slot) {
                    self.nodes.read(slot, l, &mut list);
                    list.retain_mut(|n| match slot_of(*n) {
                        Some(s) => {
                            *n = s;
                            true
                        }
                        None => false,
                    });
                    self.nodes.write(slot, l, &list);
                }
            }
        };
        std::thread::scope(|s| {
            s.spawn(|| self.ids.write().restore(&exts));
            if !identity {
                let half = total / 2;
                let upper = &translate;
                s.spawn(move || upper(half..total));
                translate(0..half);
            }
        });
        self.bound.store(u64::from(total), Ordering::Release);
        self.live.store(live, Ordering::Relaxed);
        if !tombstones.is_empty() {
            tombstones.sort_unstable();
            self.any_deleted.store(true, Ordering::Release);
            let mut t = self.tombstones.lock();
            t.extend(tombstones);
        }
    }

    /// Sorts `cands` (distances from `id`), keeps at most `cap` by the heuristic and writes
    /// them as `id`'s list at `level`. Hold `id`'s lock.
    pub(crate) fn write_selected(
        &self,
        r: &Rows<'_>,
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
        let st = self.store();
        let _r = st.read();
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
    /// `flatSearchCutoff` are scanned exhaustively instead of walking the graph. Once the
    /// index is compressed, distances are estimates from the codes (see [`Hnsw::search_rescored`]).
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        allow: Option<&RoaringBitmap>,
    ) -> Result<Vec<Neighbor>, IndexError> {
        self.search_rescored(query, k, None, allow, None)
    }

    /// As [`Hnsw::search`] with an explicit `ef` (raised to `k` if smaller).
    pub fn search_with_ef(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        allow: Option<&RoaringBitmap>,
    ) -> Result<Vec<Neighbor>, IndexError> {
        self.search_rescored(query, k, Some(ef), allow, None)
    }

    /// As [`Hnsw::search`] (`ef` None: the configured one), and on a compressed index with
    /// `rescore`, Weaviate's rescoring: the best `rescore.limit` candidates by code distance
    /// (all `ef` of them when the limit is below `k`) get their exact distance from the f32
    /// vectors `rescore.source` returns, and the best `k` of those are returned. Candidates
    /// the source has no vector for are dropped. Without compression, or with `limit` 0, the
    /// search is unchanged.
    pub fn search_rescored(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        allow: Option<&RoaringBitmap>,
        rescore: Option<&Rescore<'_>>,
    ) -> Result<Vec<Neighbor>, IndexError> {
        let prepared = self.prepare_query(query)?;
        let exact_q = prepared.as_deref().unwrap_or(query);
        if k == 0 {
            return Ok(Vec::new());
        }
        let ef = ef.unwrap_or_else(|| self.cfg.effective_ef(k)).max(k);
        let st = self.store();
        let rescore = rescore.filter(|r| r.limit > 0 && st.quant.is_some());
        let keep = match rescore {
            Some(r) if r.limit >= k => r.limit,
            Some(_) => ef,
            None => k,
        };
        let row = st.row(exact_q);
        let q: &[f32] = &row;
        // Slots become ids under the reader: once it is dropped, cleanup may free a slot and
        // an insert reuse it for another id.
        let mut hits: Vec<Neighbor> = {
            let r = st.read();
            self.candidates(&r, q, keep, ef, allow)
                .into_iter()
                .map(|c| Neighbor {
                    id: self.ext(c.id),
                    distance: c.d,
                })
                .collect()
        };
        if let Some(rescore) = rescore {
            hits = rescore_hits(self.cfg.metric, self.dim, exact_q, hits, rescore)?;
        }
        hits.truncate(k);
        Ok(hits)
    }

    /// The `keep` best candidates (slots) for the prepared query row `q`: from an exhaustive
    /// scan of a small allow-list, or from a graph walk with `ef` (≥ `keep` results only if
    /// `ef` ≥ `keep`).
    fn candidates(
        &self,
        r: &Rows<'_>,
        q: &[f32],
        keep: usize,
        ef: usize,
        allow: Option<&RoaringBitmap>,
    ) -> Vec<Cand> {
        if let Some(allow) = allow
            && (allow.len() as usize) < self.cfg.flat_search_cutoff
        {
            let slots = self.slots_of(allow);
            return self.exact_prepared(r, q, keep.min(ef), slots.into_iter());
        }
        let Some((ep, top)) = self.entry_slot() else {
            return Vec::new();
        };
        let Some(d) = self.dist_to(r, q, ep) else {
            return Vec::new();
        };
        let accept = match allow {
            Some(a) => Accept::Allowed(a),
            None => self.query_accept(),
        };
        with_ctx(|ctx| {
            let mut cur = Cand { d, id: ep };
            for l in (1..=top).rev() {
                cur = self.greedy(r, q, cur, l, &mut ctx.buf);
            }
            self.search_layer(r, q, cur, ef, 0, accept, ctx);
            let mut found = ctx.take_sorted();
            found.truncate(keep);
            found
        })
    }

    /// The slots of the ids in `allow` that have one.
    fn slots_of(&self, allow: &RoaringBitmap) -> Vec<u32> {
        let ids = self.ids.read();
        allow.iter().filter_map(|e| ids.slot(e)).collect()
    }

    /// Checks the query's dimension; for cosine returns a normalised copy.
    pub(crate) fn prepare_query(&self, query: &[f32]) -> Result<Option<Vec<f32>>, IndexError> {
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

    /// Exact k-NN by scanning `ids` (all live nodes if None), optionally restricted to `allow`
    /// (over the codes once compressed).
    pub fn exact_search(
        &self,
        query: &[f32],
        k: usize,
        allow: Option<&RoaringBitmap>,
    ) -> Result<Vec<Neighbor>, IndexError> {
        let q = self.prepare_query(query)?;
        let q = q.as_deref().unwrap_or(query);
        let st = self.store();
        let row = st.row(q);
        let r = st.read();
        let found = match allow {
            Some(a) => {
                let slots = self.slots_of(a);
                self.exact_prepared(&r, &row, k, slots.into_iter())
            }
            None => self.exact_prepared(&r, &row, k, 0..self.id_bound() as u32),
        };
        Ok(found
            .into_iter()
            .map(|c| Neighbor {
                id: self.ext(c.id),
                distance: c.d,
            })
            .collect())
    }

    fn exact_prepared(
        &self,
        r: &Rows<'_>,
        q: &[f32],
        k: usize,
        ids: impl Iterator<Item = u32>,
    ) -> Vec<Cand> {
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
    }

    /// Compresses the vectors with `q` (built for this index's dimension and metric): every
    /// stored vector is encoded into a new store while searches and inserts go on, then the
    /// index switches to it and the f32 vectors are freed once no operation holds them. The
    /// graph is kept. Cleanup waits meanwhile. Returns false (and does nothing) if the index
    /// is compressed already.
    pub fn compress(&self, q: Quantizer) -> Result<bool, IndexError> {
        if q.dim() != self.dim {
            return Err(IndexError::Dimension {
                expected: self.dim,
                got: q.dim(),
            });
        }
        if q.metric() != self.cfg.metric {
            return Err(IndexError::Quantizer(format!(
                "the quantizer is for distance {}, the index uses {}",
                q.metric(),
                self.cfg.metric
            )));
        }
        let _no_cleanup = self.cleanup_lock.lock();
        let old = self.store();
        if old.quant.is_some() {
            return Ok(false);
        }
        let new = Arc::new(Store::compressed(q));
        {
            let _no_inserts = self.gate.write();
            if old.next.set(Arc::clone(&new)).is_err() {
                return Ok(false);
            }
        }
        let bound = self.id_bound() as u32;
        for start in (0..bound).step_by(4096) {
            // A reader per batch: the grace lock is not held across the whole copy.
            let r = old.read();
            for slot in start..bound.min(start.saturating_add(4096)) {
                if let Some(v) = r.get(slot) {
                    // Occupied: an insert wrote it meanwhile.
                    let _ = new.put_stored(slot, v);
                }
            }
        }
        self.set_store(new);
        // Wait for the operations still on the f32 store before cleanup may run again: its
        // grace barriers only wait for readers of the current store.
        old.arena.exclusive(&[], || ());
        Ok(true)
    }

    /// An `sq` quantizer trained on up to `limit` of the stored vectors (evenly spread over
    /// the slots); None once compressed.
    pub fn train_sq(&self, limit: usize) -> Option<Quantizer> {
        self.with_sample(limit, |sample| {
            Quantizer::train_sq(self.cfg.metric, self.dim, sample).ok()
        })
    }

    /// An `rq` 1-bit quantizer centred on the mean of up to `limit` of the stored vectors
    /// (evenly spread over the slots; the origin for an empty index); None once compressed.
    pub fn train_rq1(&self, limit: usize, seed: u64) -> Option<Quantizer> {
        self.with_sample(limit, |sample| {
            Quantizer::train_rq1(self.cfg.metric, self.dim, seed, sample).ok()
        })
    }

    /// A `pq` quantizer (`segments` codebooks, 0: automatic, of `centroids`) trained on up to
    /// `limit` of the stored vectors (evenly spread over the slots) on two threads; Ok(None)
    /// once compressed, an error when the parameters do not fit the vectors (more segments
    /// than dimensions) or the index is empty.
    pub fn train_pq(
        &self,
        limit: usize,
        segments: usize,
        centroids: usize,
    ) -> Result<Option<Quantizer>, IndexError> {
        let mut err = None;
        let q = self.with_sample(limit, |sample| {
            Quantizer::train_pq(self.cfg.metric, self.dim, segments, centroids, &sample, 2)
                .map_err(|e| err = Some(IndexError::Quantizer(e.to_string())))
                .ok()
        });
        match err {
            Some(e) => Err(e),
            None => Ok(q),
        }
    }

    fn with_sample(
        &self,
        limit: usize,
        train: impl FnOnce(Vec<&[f32]>) -> Option<Quantizer>,
    ) -> Option<Quantizer> {
        let st = self.store();
        if st.quant.is_some() {
            return None;
        }
        let r = st.read();
        let bound = self.id_bound().max(1);
        let stride = bound.div_ceil(limit.max(1)).max(1);
        let sample: Vec<&[f32]> = (0..bound as u32)
            .step_by(stride)
            .filter_map(|s| r.get(s))
            .collect();
        train(sample)
    }
}

/// Reads the f32 vectors of ids for rescoring (see [`Rescore::source`]).
pub type VectorSource<'a> = dyn Fn(&[u32]) -> Result<Vec<Option<Vec<f32>>>, IndexError> + Sync + 'a;

/// Rescoring of a compressed search (see [`Hnsw::search_rescored`]).
pub struct Rescore<'a> {
    /// How many candidates get an exact distance (Weaviate's `rescoreLimit`; 0: none).
    pub limit: usize,
    /// The f32 vectors of the given (caller's) ids, in order; None for an id without one; an
    /// error fails the search.
    pub source: &'a VectorSource<'a>,
}

impl std::fmt::Debug for Rescore<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rescore")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}
