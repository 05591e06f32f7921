//! Tombstone cleanup: reconnect the neighbours of deleted nodes, then unlink them.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use roaring::RoaringBitmap;

use crate::hnsw::Hnsw;
use crate::nodes::NodeState;
use crate::ops::GraphOp;
use crate::search::{Accept, Cand, Ctx, with_ctx};

impl Hnsw {
    /// Removes every node tombstoned before the call: each live node that links to one gets a
    /// new list chosen (by the selection heuristic) from its remaining neighbours and the
    /// deleted neighbours' neighbours, plus a fresh search when that leaves too few; then the
    /// tombstoned nodes are unlinked and marked removed. Searches and inserts may run
    /// meanwhile. Returns the number of nodes removed.
    pub fn cleanup(&self) -> usize {
        let _one_at_a_time = self.cleanup_lock.lock();
        let dead = self.tombstones.lock().clone();
        if dead.is_empty() {
            return 0;
        }
        self.replace_dead_entry(&dead);
        let bound = self.id_bound() as u32;
        with_ctx(|ctx| {
            let mut list = Vec::new();
            for id in 0..bound {
                if dead.contains(id) || !self.nodes_state_is_linked(id) {
                    continue;
                }
                for level in 0..=self.nodes.level(id) {
                    self.nodes.read(id, level, &mut list);
                    let stale = list
                        .iter()
                        .any(|&n| dead.contains(n) || self.nodes.state(n) == NodeState::Removed);
                    if stale {
                        self.repair(id, level, &dead, ctx);
                    }
                }
            }
        });
        for d in &dead {
            let _g = self.nodes.lock(d);
            for level in 0..=self.nodes.level(d) {
                self.nodes.write(d, level, &[]);
            }
            self.nodes.set_state(d, NodeState::Removed);
            self.emit(|| GraphOp::RemoveNode { id: d });
        }
        let mut t = self.tombstones.lock();
        *t -= &dead;
        dead.len() as usize
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
        let Some((ep, _)) = self.entry_point() else {
            return;
        };
        if !dead.contains(ep) {
            return;
        }
        let mut best: Option<(u32, usize)> = None;
        for id in 0..self.id_bound() as u32 {
            if self.nodes.state(id) == NodeState::Live && !dead.contains(id) {
                let l = self.nodes.level(id);
                if best.is_none_or(|(_, bl)| l > bl) {
                    best = Some((id, l));
                }
            }
        }
        self.set_entry(best);
    }

    /// New list for `id` at `level` without dead nodes.
    fn repair(&self, id: u32, level: usize, dead: &RoaringBitmap, ctx: &mut Ctx) {
        let Some(q) = self.vectors.get(id) else {
            return;
        };
        let usable = |n: u32| n != id && !dead.contains(n) && self.nodes_state_is_linked(n);
        let _g = self.nodes.lock(id);
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
            .filter_map(|&n| self.dist_to(q, n).map(|d| Cand { d, id: n }))
            .collect();
        let cap = self.nodes.cap(level);
        if cands.len() < cap / 2 {
            cands.extend(
                self.search_level(q, level, ctx)
                    .into_iter()
                    .filter(|c| usable(c.id)),
            );
        }
        self.write_selected(id, level, cands, cap);
    }

    /// Live nodes near `q` on `level`, found from the entry point with efConstruction.
    fn search_level(&self, q: &[f32], level: usize, ctx: &mut Ctx) -> Vec<Cand> {
        let Some((ep, top)) = self.entry_point() else {
            return Vec::new();
        };
        if top < level {
            return Vec::new();
        }
        let Some(d) = self.dist_to(q, ep) else {
            return Vec::new();
        };
        let mut cur = Cand { d, id: ep };
        for l in (level + 1..=top).rev() {
            cur = self.greedy(q, cur, l, &mut ctx.buf);
        }
        self.search_layer(q, cur, self.cfg.ef_construction, level, Accept::Live, ctx);
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
