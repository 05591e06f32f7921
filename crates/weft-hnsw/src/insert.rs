//! Insertion, safe under any number of concurrent inserts, deletes, searches and a cleanup.
//!
//! # Why concurrent inserts cannot leave a node half-linked
//!
//! The hazard: if a new node X is linked into its neighbours' lists on an upper level while its
//! own lower lists are still empty, a concurrent insert Y that descends through X finds nothing
//! below it, links only to X, and once X's full list drops Y, Y is unreachable. So an insert of
//! X runs in two phases, holding X's node lock from before the node exists until it is done:
//!
//! 1. **Build.** Descend and search every level `min(level, top)..=0`, select X's neighbours
//!    and write all of X's lists. Nothing links to X and X is not the entry point, so no
//!    search can reach X: its lists are complete before anyone can read them. X's state is
//!    `Inserting`, so cleanup neither repairs X nor makes it the entry point, and snapshots
//!    skip it (the op log replays it).
//! 2. **Publish.** Add X to each selected neighbour's list (locking that neighbour), then mark
//!    X `Live` and, if it is the new top, make it the entry point. From the first back-link on,
//!    a walk can enter X and sees X's finished lists. Another insert that picked X as a
//!    neighbour and wants to add a back-link to X waits for X's lock, i.e. for X to finish;
//!    X's lists are therefore written only by X's inserter until then.
//!
//! Two concurrent inserts cannot find each other by searching (neither is reachable yet), so
//! level 0 also considers the other inserts in progress ([`crate::inflight`]); a back-link to
//! an insert still in progress goes to its inbox, which it drains into its own lists before it
//! finishes.
//!
//! No deadlock: an insert never waits for the lock of a node whose insert still takes
//! back-links (it uses the inbox instead). So it waits only for locks held by cleanup, a
//! delete, replay (each holds one node lock and waits for nothing while holding it) or an
//! insert past its inbox (which waits for nothing any more). The entry lock is never requested
//! while holding a node lock that someone may wait for: an insert takes it while holding only
//! its own, still unreachable, node's lock, and the late entry check below runs after that
//! lock is released.
//!
//! Everything here works on slots (`ids.rs`); the caller's id is translated once, when the
//! slot is assigned, and in the ops reported to the observer. The insert holds a reader of the
//! arena's grace lock throughout, so no slot it learns of is freed before it returns
//! (`cleanup.rs`).

use crate::store::Rows;

use crate::IndexError;
use crate::hnsw::Hnsw;
use crate::inflight::BackLink;
use crate::nodes::NodeState;
use crate::ops::GraphOp;
use crate::search::{Accept, Cand, Ctx, with_ctx};

/// How often an insert restarts its build phase when the entry point it started from was
/// removed by a concurrent cleanup before the search found anything.
const ENTRY_RETRIES: usize = 3;
/// Rounds of reconsidering peers because others got built meanwhile before the last round,
/// which runs under the registry lock.
const PEER_ROUNDS: usize = 8;

impl Hnsw {
    /// Inserts `vector` under `id`. Ids are never reused: inserting an id that was ever
    /// inserted (even if deleted since) fails with [`IndexError::Exists`].
    pub fn insert(&self, id: u32, vector: &[f32]) -> Result<(), IndexError> {
        self.check_dim(vector)?;
        let st = self.store();
        let r = st.read();
        let level = self.random_level();
        let slot = self.assign_slot(id, level)?;
        {
            let _own = self.nodes.lock(slot);
            self.add_node(&st, slot, id, vector, level, NodeState::Inserting, true)?;
            // A compressed store searches with the vector's query row, not its stored codes:
            // rq-4 queries keep 8 bits, rq-1 queries 4, pq tables come from the vector itself.
            let q = match &st.quant {
                None => {
                    std::borrow::Cow::Borrowed(r.get(slot).ok_or(IndexError::MissingVector(id))?)
                }
                Some(quant) => {
                    let prepared = self.prepare_query(vector)?;
                    std::borrow::Cow::Owned(
                        quant.encode_query(prepared.as_deref().unwrap_or(vector)),
                    )
                }
            };
            self.inflight.register(slot);
            with_ctx(|ctx| self.link(&r, slot, &q, level, ctx));
        }
        // A cleanup may have lowered the entry point below `level` meanwhile (moving it off a
        // deleted node): then this node, now complete, is the better entry.
        if self.entry_slot().is_none_or(|(_, l)| level > l) {
            let _g = self.entry_lock.lock();
            if self.entry_slot().is_none_or(|(_, l)| level > l)
                && self.nodes.state(slot) == NodeState::Live
            {
                self.set_entry(Some((slot, level)));
            }
        }
        Ok(())
    }

    /// Builds `id`'s lists, then publishes it (module docs). Hold `id`'s lock.
    fn link(&self, r: &Rows<'_>, id: u32, q: &[f32], level: usize, ctx: &mut Ctx) {
        let mut entry = self.entry_slot();
        // An insert that may become the new top holds the entry lock throughout, as in hnswlib,
        // so two such inserts cannot both install themselves.
        let top_guard = entry
            .is_none_or(|(_, l)| level > l)
            .then(|| self.entry_lock.lock());
        if top_guard.is_some() {
            entry = self.entry_slot();
        }
        let mut found = Vec::new();
        for _ in 0..ENTRY_RETRIES {
            let Some(start) = entry else { break };
            found = self.search_levels(r, id, q, level, start, ctx);
            let now = self.entry_slot();
            if found.first().is_none_or(|f| !f.is_empty()) || now == entry {
                break;
            }
            entry = now;
        }
        let selected = if found.is_empty() {
            // First node, nothing to link to: built as it is.
            self.inflight.mark_built_with(id, 0, |_| {});
            Vec::new()
        } else {
            self.build_lists(r, id, q, &found)
        };
        for (l, sel) in selected.iter().enumerate() {
            self.add_back_links(r, id, l, sel);
        }
        let inbox = self.inflight.finish(id);
        for b in &inbox {
            self.add_link(r, id, b.level, Cand { d: b.d, id: b.id });
        }
        self.inflight.drained(&inbox);
        self.nodes.set_state(id, NodeState::Live);
        self.live.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.emit(|| GraphOp::Published { id: self.ext(id) });
        if top_guard.is_some() && entry.is_none_or(|(_, l)| level > l) {
            self.set_entry(Some((id, level)));
        }
    }

    /// Build phase, search: the candidates on levels `min(level, top)..=0` found from `start`
    /// (index = level).
    fn search_levels(
        &self,
        r: &Rows<'_>,
        id: u32,
        q: &[f32],
        level: usize,
        (ep, top): (u32, usize),
        ctx: &mut Ctx,
    ) -> Vec<Vec<Cand>> {
        let Some(d) = self.dist_to(r, q, ep) else {
            return Vec::new();
        };
        self.inflight.start_search(id);
        let mut cur = Cand { d, id: ep };
        for l in (level + 1..=top).rev() {
            cur = self.greedy(r, q, cur, l, &mut ctx.buf);
        }
        let accept = self.construction_accept();
        let mut found = vec![Vec::new(); level.min(top) + 1];
        for l in (0..=level.min(top)).rev() {
            self.search_layer(r, q, cur, self.cfg.ef_construction, l, accept, ctx);
            found[l] = ctx.take_sorted();
            if let Some(best) = found[l].first() {
                cur = *best;
            }
        }
        found
    }

    /// Build phase, lists: writes `id`'s lists from `found` plus the built peers the searches
    /// could not find, and those built meanwhile until none is; marks `id` built. Returns the
    /// selected neighbours per level.
    fn build_lists(&self, r: &Rows<'_>, id: u32, q: &[f32], found: &[Vec<Cand>]) -> Vec<Vec<Cand>> {
        let accept = self.construction_accept();
        let (mut newer, mut version) = self.inflight.peers(id);
        let mut peers = Vec::new();
        let mut per_level = Vec::new();
        for _ in 0..PEER_ROUNDS {
            self.add_peers(r, q, &newer, accept, &mut peers);
            per_level = self.write_own_lists(r, id, found, &peers);
            match self.inflight.try_mark_built(id, version) {
                Ok(()) => return per_level,
                Err((n, v)) => (newer, version) = (n, v),
            }
        }
        self.inflight.mark_built_with(id, version, |last| {
            newer.extend_from_slice(last);
            self.add_peers(r, q, &newer, accept, &mut peers);
            per_level = self.write_own_lists(r, id, found, &peers);
        });
        per_level
    }

    /// Appends the acceptable ones of `ids` to `peers`, with their distance and level.
    fn add_peers(
        &self,
        r: &Rows<'_>,
        q: &[f32],
        ids: &[u32],
        accept: Accept<'_>,
        peers: &mut Vec<(Cand, usize)>,
    ) {
        for &p in ids {
            if self.accepts(accept, p)
                && !peers.iter().any(|(c, _)| c.id == p)
                && let Some(d) = self.dist_to(r, q, p)
            {
                peers.push((Cand { d, id: p }, self.nodes.level(p)));
            }
        }
    }

    /// Writes `id`'s lists on the levels of `found` from the search results plus `peers`;
    /// returns the selected neighbours per level.
    fn write_own_lists(
        &self,
        r: &Rows<'_>,
        id: u32,
        found: &[Vec<Cand>],
        peers: &[(Cand, usize)],
    ) -> Vec<Vec<Cand>> {
        found
            .iter()
            .enumerate()
            .map(|(l, f)| {
                let mut cands = f.clone();
                for &(p, pl) in peers {
                    if pl >= l && !cands.iter().any(|c| c.id == p.id) {
                        cands.push(p);
                    }
                }
                cands.sort_unstable();
                self.write_own_list(r, id, l, &cands)
            })
            .collect()
    }

    /// Selects `id`'s neighbours at `level` from `found` (closest first) and writes them.
    fn write_own_list(&self, r: &Rows<'_>, id: u32, level: usize, found: &[Cand]) -> Vec<Cand> {
        let mut selected = Vec::with_capacity(self.nodes.m);
        self.select_neighbors(r, found, self.nodes.m, &mut selected);
        let ids: Vec<u32> = selected.iter().map(|c| c.id).collect();
        self.nodes.write(id, level, &ids);
        self.emit(|| GraphOp::SetNeighbors {
            id: self.ext(id),
            level: level as u8,
            neighbors: self.exts(&ids),
        });
        selected
    }

    /// Publish phase, one level: adds `id` to each selected node's list at `level`, shrinking
    /// full lists with the selection heuristic.
    fn add_back_links(&self, r: &Rows<'_>, id: u32, level: usize, selected: &[Cand]) {
        for c in selected {
            // Only a node still `Inserting` can have an open inbox (it turns `Live` after
            // closing it), so the registry is asked only about those.
            let link = BackLink { level, id, d: c.d };
            if self.nodes.state(c.id) == NodeState::Inserting && self.inflight.offer(c.id, link) {
                continue;
            }
            let _g = self.nodes.lock(c.id);
            // Cleanup unlinks a node under its lock: never link a removed node back in.
            if self.nodes.state(c.id) != NodeState::Removed {
                self.add_link(r, c.id, level, Cand { d: c.d, id });
            }
        }
    }

    /// Adds `new` (distance from `owner`) to `owner`'s list at `level`, shrinking a full list
    /// with the selection heuristic. Hold `owner`'s lock.
    fn add_link(&self, r: &Rows<'_>, owner: u32, level: usize, new: Cand) {
        let cap = self.nodes.cap(level);
        let mut list = Vec::with_capacity(cap + 1);
        self.nodes.read(owner, level, &mut list);
        if list.contains(&new.id) {
            return;
        }
        if list.len() < cap {
            list.push(new.id);
            self.nodes.write(owner, level, &list);
            self.emit(|| GraphOp::SetNeighbors {
                id: self.ext(owner),
                level: level as u8,
                neighbors: self.exts(&list),
            });
            return;
        }
        let Some(base) = r.get(owner) else {
            return;
        };
        let mut cands: Vec<Cand> = list
            .iter()
            .filter(|&&n| self.nodes.state(n) != NodeState::Removed)
            .filter_map(|&n| self.dist_between(r, base, n).map(|d| Cand { d, id: n }))
            .collect();
        cands.push(new);
        self.write_selected(r, owner, level, cands, cap);
    }
}
