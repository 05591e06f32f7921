//! Tombstone cleanup: reconnect the neighbours of deleted nodes, unlink them, and free their
//! slots for reuse once nothing can reach them.
//!
//! # When a removed node's slot may be reused
//!
//! Reusing slot `s` writes a new vector and new lists into it. That is only sound once no
//! operation can still read `s` meaning its old node: through a slot number it holds (a
//! search's candidate heap, an insert's chosen neighbours, a vector slice) or through a link to
//! `s` left in some list. Every operation (search, insert, delete, snapshot batch, cleanup
//! phase, replay op) holds a reader of the vector arena's grace lock for its duration, and a
//! *barrier* is [`weft_vector::SlotArena::exclusive`]: it waits until no reader exists. A run
//! of cleanup removes the dead nodes and then reclaims them with two barriers:
//!
//! 1. **Remove** (as a reader): repair every list that links to a dead node, move the entry
//!    point off dead nodes, then empty each dead node's lists, mark it `Removed` and retire its
//!    vector (unreadable from now on; a reader holding a slice keeps it until it is dropped).
//! 2. **Barrier B1.** A link to `s` is only ever written by an operation that saw `s` not
//!    removed: new lists are chosen among search results and peers accepted as live or being
//!    inserted, back-links skip removed owners, a list being shrunk drops removed members,
//!    repairs take only linked nodes. An operation that starts after B1 sees `s` as
//!    `Removed` (B1 happens after the state was stored), so after B1 no new link to `s` can
//!    appear; but operations that raced with step 1 may have left some.
//! 3. **Purge** (as a reader): visit every list of every live or tombstoned node under the
//!    node's lock and repair those that still link to a removed node. Lists of nodes being
//!    inserted were started after B1 and cannot hold `s`. Afterwards no list holds `s`.
//! 4. **Barrier B2**, during which the removed slots are freed (arena slot emptied, node
//!    state `Empty`, the external id forgotten, the slot put in its pool) and the in-flight
//!    registry drops its finished entries (no insert runs during a barrier, and finished
//!    entries matter only to inserts in progress). Operations that read a leftover link to `s`
//!    before the purge ended have finished; operations after B2 find no link to `s`, no
//!    entry point at `s` (moved in step 1, and inserts only make themselves the entry),
//!    and no mapping to `s`. So nothing reaches `s` as its old node.
//!
//! Removals by replay ([`Hnsw::apply`] of `RemoveNode`) are queued and go through B1 at the
//! next run. A barrier waits for the operations running when it starts (at most one insert
//! or search each) and delays the ones starting meanwhile by as long: twice per cleanup run.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
// The barriers below wait for the readers of the current store only; `Hnsw::compress` waits
// for the readers of the store it replaces before it lets cleanup run again.
use std::time::Duration;

use crate::store::Rows;
use roaring::RoaringBitmap;

use crate::hnsw::Hnsw;
use crate::nodes::NodeState;
use crate::ops::GraphOp;
use crate::search::{Accept, Cand, Ctx, with_ctx};

impl Hnsw {
    /// Removes every node tombstoned before the call: each live node that links to one gets a
    /// new list chosen (by the selection heuristic) from its remaining neighbours and the
    /// deleted neighbours' neighbours, plus a fresh search when that leaves too few; then the
    /// tombstoned nodes are unlinked and marked removed, and their slots are freed for new
    /// nodes (module docs). Searches and inserts may run meanwhile. Returns the number of
    /// nodes removed. Do not call it from a [`crate::GraphObserver`].
    pub fn cleanup(&self) -> usize {
        let _one_at_a_time = self.cleanup_lock.lock();
        let dead = self.tombstones.lock().clone();
        if dead.is_empty() && self.ids.read().retired.is_empty() {
            return 0;
        }
        if !dead.is_empty() {
            let st = self.store();
            let r = st.read();
            self.replace_dead_entry(&dead);
            self.repair_all(&r, &dead);
            for d in &dead {
                let _g = self.nodes.lock(d);
                for level in 0..=self.nodes.level(d) {
                    self.nodes.write(d, level, &[]);
                }
                self.nodes.set_state(d, NodeState::Removed);
                st.arena.retire(d);
                self.emit(|| GraphOp::RemoveNode { id: self.ext(d) });
            }
            self.ids.write().retired.extend(dead.iter());
            let mut t = self.tombstones.lock();
            *t -= &dead;
        }
        // B1: from here on nobody can add a link to the removed slots.
        let freeing = self
            .store()
            .arena
            .exclusive(&[], || std::mem::take(&mut self.ids.write().retired));
        if !freeing.is_empty() {
            // Purge the links that operations racing with the removal left.
            let st = self.store();
            let r = st.read();
            self.repair_all(&r, &RoaringBitmap::new());
            drop(r);
            // B2: nothing reaches the removed slots any more; free them.
            self.store().arena.exclusive(&freeing, || {
                let mut ids = self.ids.write();
                for &s in &freeing {
                    ids.release(self.nodes.ext(s), s, self.nodes.upper_levels(s));
                    self.nodes.free(s);
                }
                ids.compact();
                self.inflight.forget_finished();
            });
        }
        dead.len() as usize
    }

    /// Repairs every list of a live or tombstoned node (not in `dead`) that links to a node in
    /// `dead` or to a removed node. Each list is checked under its node's lock.
    fn repair_all(&self, r: &Rows<'_>, dead: &RoaringBitmap) {
        let bound = self.id_bound() as u32;
        with_ctx(|ctx| {
            let mut list = Vec::new();
            for id in 0..bound {
                if dead.contains(id) || !self.nodes_state_is_linked(id) {
                    continue;
                }
                for level in 0..=self.nodes.level(id) {
                    let _g = self.nodes.lock(id);
                    self.nodes.read(id, level, &mut list);
                    let stale = list
                        .iter()
                        .any(|&n| dead.contains(n) || self.nodes.state(n) == NodeState::Removed);
                    if stale {
                        self.repair(r, id, level, dead, ctx);
                    }
                }
            }
        });
    }

    fn nodes_state_is_linked(&self, id: u32) -> bool {
        matches!(
            self.nodes.state(id),
            NodeState::Live | NodeState::Tombstoned
        )
    }

    /// Moves the entry point off a dead node, to the live node with the highest level.
    fn replace_dead_entry(&self, dead: &RoaringBitmap) {
        let _g = self.entry_lock.lock();
        let Some((ep, _)) = self.entry_slot() else {
            return;
        };
        if !dead.contains(ep) {
            return;
        }
        let best =
            self.highest_node(|id| self.nodes.state(id) == NodeState::Live && !dead.contains(id));
        self.set_entry(best);
    }

    /// The node of the highest level among those `usable` accepts (the first such slot on a
    /// tie), for a new entry point.
    pub(crate) fn highest_node(&self, usable: impl Fn(u32) -> bool) -> Option<(u32, usize)> {
        let mut best: Option<(u32, usize)> = None;
        for id in 0..self.id_bound() as u32 {
            if usable(id) {
                let l = self.nodes.level(id);
                if best.is_none_or(|(_, bl)| l > bl) {
                    best = Some((id, l));
                }
            }
        }
        best
    }

    /// New list for `id` at `level` without dead or removed nodes. Hold `id`'s lock.
    fn repair(&self, r: &Rows<'_>, id: u32, level: usize, dead: &RoaringBitmap, ctx: &mut Ctx) {
        let Some(q) = r.query_of(id) else {
            return;
        };
        let q: &[f32] = &q;
        let usable = |n: u32| n != id && !dead.contains(n) && self.nodes_state_is_linked(n);
        let mut own = Vec::new();
        let mut hop = Vec::new();
        self.nodes.read(id, level, &mut own);
        let mut ids: Vec<u32> = Vec::with_capacity(own.len() * 4);
        for &n in &own {
            if usable(n) {
                ids.push(n);
            } else if dead.contains(n) {
                self.nodes.read(n, level, &mut hop);
                ids.extend(hop.iter().copied().filter(|&h| usable(h)));
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let mut cands: Vec<Cand> = ids
            .iter()
            .filter_map(|&n| self.dist_to(r, q, n).map(|d| Cand { d, id: n }))
            .collect();
        let cap = self.nodes.cap(level);
        if cands.len() < cap / 2 {
            cands.extend(
                self.search_level(r, q, level, ctx)
                    .into_iter()
                    .filter(|c| usable(c.id)),
            );
        }
        self.write_selected(r, id, level, cands, cap);
    }

    /// Live nodes near `q` on `level`, found from the entry point with efConstruction.
    fn search_level(&self, r: &Rows<'_>, q: &[f32], level: usize, ctx: &mut Ctx) -> Vec<Cand> {
        let Some((ep, top)) = self.entry_slot() else {
            return Vec::new();
        };
        if top < level {
            return Vec::new();
        }
        let Some(d) = self.dist_to(r, q, ep) else {
            return Vec::new();
        };
        let mut cur = Cand { d, id: ep };
        for l in (level + 1..=top).rev() {
            cur = self.greedy(r, q, cur, l, &mut ctx.buf);
        }
        self.search_layer(
            r,
            q,
            cur,
            self.cfg.ef_construction,
            level,
            Accept::Live,
            ctx,
        );
        ctx.take_sorted()
    }
}

/// A thread that runs [`Hnsw::cleanup`] every `cleanupIntervalSeconds`; stops when dropped.
#[derive(Debug)]
pub struct CleanupThread {
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl CleanupThread {
    /// Starts cleaning `index` every `interval` (the config's `cleanupIntervalSeconds` if None).
    pub fn spawn(index: Arc<Hnsw>, interval: Option<Duration>) -> std::io::Result<CleanupThread> {
        let every = interval.unwrap_or(Duration::from_secs(
            index.config().cleanup_interval_seconds.max(1),
        ));
        let (tx, rx) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("hnsw-cleanup".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                    index.cleanup();
                }
            })?;
        Ok(CleanupThread {
            stop: Some(tx),
            handle: Some(handle),
        })
    }
}

impl Drop for CleanupThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
