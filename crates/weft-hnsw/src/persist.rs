//! Building an index from a snapshot and replaying graph operations onto it.

use crate::IndexError;
use crate::config::HnswConfig;
use crate::hnsw::Hnsw;
use crate::nodes::NodeState;
use crate::ops::{GraphOp, GraphSnapshot, NodeSnapshot};

impl Hnsw {
    /// The graph's adjacency lists, tombstones and entry point, in the caller's ids (nodes by
    /// increasing id; links only to nodes in the snapshot). Taken node by node without a
    /// global pause: under concurrent writes it is fuzzy, which replaying the (idempotent) ops
    /// logged since the snapshot began repairs.
    pub fn snapshot(&self) -> GraphSnapshot {
        let st = self.store();
        let _r = st.read();
        let in_snapshot =
            |s: u32| matches!(self.nodes.state(s), NodeState::Live | NodeState::Tombstoned);
        let mut nodes = Vec::new();
        let mut list = Vec::new();
        for slot in 0..self.id_bound() as u32 {
            if !in_snapshot(slot) {
                continue;
            }
            let neighbors = (0..=self.nodes.level(slot))
                .map(|l| {
                    self.nodes.read(slot, l, &mut list);
                    list.iter()
                        .filter(|&&n| in_snapshot(n))
                        .map(|&n| self.ext(n))
                        .collect()
                })
                .collect();
            nodes.push(NodeSnapshot {
                id: self.ext(slot),
                tombstoned: self.nodes.state(slot) == NodeState::Tombstoned,
                neighbors,
            });
        }
        nodes.sort_unstable_by_key(|n| n.id);
        GraphSnapshot {
            entry: self.entry_slot().map(|(s, l)| (self.ext(s), l as u8)),
            nodes,
        }
    }

    /// An index with `snapshot`'s graph; `vector_of` supplies each node's vector (from the
    /// vector bucket). Replay the op-log tail with [`Hnsw::apply`] afterwards.
    pub fn from_snapshot(
        dim: usize,
        cfg: HnswConfig,
        snapshot: &GraphSnapshot,
        mut vector_of: impl FnMut(u32) -> Option<Vec<f32>>,
    ) -> Result<Hnsw, IndexError> {
        let h = Hnsw::new(dim, cfg);
        for op in snapshot.to_ops() {
            h.apply(&op, &mut vector_of)?;
        }
        Ok(h)
    }

    /// After a replay that may have stopped anywhere: if the entry point is missing or not a
    /// live or tombstoned node while such nodes exist, the highest-level live node (else
    /// tombstoned) becomes the entry. Returns whether it changed.
    pub fn repair_entry(&self) -> bool {
        let st = self.store();
        let _r = st.read();
        let _g = self.entry_lock.lock();
        let linked =
            |s: u32| matches!(self.nodes.state(s), NodeState::Live | NodeState::Tombstoned);
        if self
            .entry_slot()
            .is_some_and(|(s, l)| linked(s) && self.nodes.level(s) == l)
        {
            return false;
        }
        let now = self
            .highest_node(|s| self.nodes.state(s) == NodeState::Live)
            .or_else(|| self.highest_node(linked));
        let was = self.entry_slot();
        self.set_entry(now);
        was != now
    }

    /// Applies one logged operation (ids are the caller's). Idempotent: applying an op twice,
    /// or an op whose effect the snapshot already contains, leaves the same graph. Links to ids
    /// the index does not hold are dropped. Do not call it from a [`crate::GraphObserver`].
    pub fn apply(
        &self,
        op: &GraphOp,
        vector_of: &mut dyn FnMut(u32) -> Option<Vec<f32>>,
    ) -> Result<(), IndexError> {
        let st = self.store();
        let _r = st.read();
        match op {
            GraphOp::AddNode { id, level } => {
                if !self.ids.read().known(*id) {
                    let v = vector_of(*id).ok_or(IndexError::MissingVector(*id))?;
                    self.check_dim(&v)?;
                    let level = usize::from(*level);
                    let slot = self.assign_slot(*id, level)?;
                    self.add_node(&st, slot, *id, &v, level, NodeState::Live, true)?;
                }
            }
            GraphOp::SetNeighbors {
                id,
                level,
                neighbors,
            } => {
                let (slot, list) = {
                    let ids = self.ids.read();
                    let list: Vec<u32> = neighbors.iter().filter_map(|&n| ids.slot(n)).collect();
                    (ids.slot(*id), list)
                };
                if let Some(slot) = slot {
                    let _g = self.nodes.lock(slot);
                    self.nodes.write(slot, usize::from(*level), &list);
                    self.emit(|| op.clone());
                }
            }
            GraphOp::SetEntryPoint { entry } => {
                let slot = match entry {
                    None => None,
                    // An entry the index does not hold (its insert was not replayed): keep
                    // the current one; never empty the graph's entry for it.
                    Some((id, l)) => match self.ids.slot(*id) {
                        Some(s) if self.nodes.level(s) == usize::from(*l) => {
                            Some((s, usize::from(*l)))
                        }
                        _ => return Ok(()),
                    },
                };
                let _g = self.entry_lock.lock();
                self.set_entry(slot);
            }
            GraphOp::Tombstone { id } => {
                self.mark_deleted();
                if let Some(slot) = self.ids.slot(*id) {
                    self.delete_slot(slot);
                }
            }
            GraphOp::Published { .. } => {}
            GraphOp::RemoveNode { id } => {
                self.mark_deleted();
                if let Some(slot) = self.ids.slot(*id) {
                    let _g = self.nodes.lock(slot);
                    let was = self.nodes.state(slot);
                    if was == NodeState::Live {
                        self.live_counter()
                            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    for l in 0..=self.nodes.level(slot) {
                        self.nodes.write(slot, l, &[]);
                    }
                    if !matches!(was, NodeState::Empty | NodeState::Removed) {
                        self.nodes.set_state(slot, NodeState::Removed);
                        self.tombstones.lock().remove(slot);
                        self.store().arena.retire(slot);
                        // Freed by a later cleanup, after its grace barriers.
                        self.ids.write().retired.push(slot);
                    }
                }
                self.emit(|| op.clone());
            }
        }
        Ok(())
    }
}
