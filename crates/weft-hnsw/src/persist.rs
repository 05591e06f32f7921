//! Building an index from a snapshot and replaying graph operations onto it.

use crate::IndexError;
use crate::config::HnswConfig;
use crate::hnsw::Hnsw;
use crate::nodes::NodeState;
use crate::ops::{GraphOp, GraphSnapshot, NodeSnapshot};

impl Hnsw {
    /// The graph's adjacency lists, tombstones and entry point. Taken node by node without a
    /// global pause: under concurrent writes it is fuzzy, which replaying the (idempotent) ops
    /// logged since the snapshot began repairs.
    pub fn snapshot(&self) -> GraphSnapshot {
        let mut nodes = Vec::new();
        for id in 0..self.id_bound() as u32 {
            let state = self.nodes.state(id);
            if !matches!(state, NodeState::Live | NodeState::Tombstoned) {
                continue;
            }
            let neighbors = (0..=self.nodes.level(id))
                .map(|l| {
                    let mut v = Vec::new();
                    self.nodes.read(id, l, &mut v);
                    v
                })
                .collect();
            nodes.push(NodeSnapshot {
                id,
                tombstoned: state == NodeState::Tombstoned,
                neighbors,
            });
        }
        GraphSnapshot {
            entry: self.entry_point().map(|(id, l)| (id, l as u8)),
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

    /// Applies one logged operation. Idempotent: applying an op twice, or an op whose effect
    /// the snapshot already contains, leaves the same graph.
    pub fn apply(
        &self,
        op: &GraphOp,
        vector_of: &mut dyn FnMut(u32) -> Option<Vec<f32>>,
    ) -> Result<(), IndexError> {
        match op {
            GraphOp::AddNode { id, level } => {
                if self.nodes.state(*id) == NodeState::Empty && !self.vectors.contains(*id) {
                    let v = vector_of(*id).ok_or(IndexError::MissingVector(*id))?;
                    self.add_node(*id, &v, usize::from(*level), NodeState::Live)?;
                }
            }
            GraphOp::SetNeighbors {
                id,
                level,
                neighbors,
            } => {
                let _g = self.nodes.lock(*id);
                self.nodes.write(*id, usize::from(*level), neighbors);
                self.emit(|| op.clone());
            }
            GraphOp::SetEntryPoint { entry } => {
                let _g = self.entry_lock.lock();
                self.set_entry(entry.map(|(id, l)| (id, usize::from(l))));
            }
            GraphOp::Tombstone { id } => {
                self.delete(*id);
            }
            GraphOp::RemoveNode { id } => {
                self.mark_deleted();
                let _g = self.nodes.lock(*id);
                let was = self.nodes.state(*id);
                if was == NodeState::Live {
                    self.live_counter()
                        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                }
                for l in 0..=self.nodes.level(*id) {
                    self.nodes.write(*id, l, &[]);
                }
                if was != NodeState::Empty {
                    self.nodes.set_state(*id, NodeState::Removed);
                    self.tombstones.lock().remove(*id);
                    self.raise_bound(*id);
                }
                self.emit(|| op.clone());
            }
        }
        Ok(())
    }
}
