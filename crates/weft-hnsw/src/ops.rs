//! Graph mutations as a small set of idempotent operations, for the commit log to come.
//!
//! Every change the index makes to its graph is reported, in order per node, to an optional
//! [`GraphObserver`] as a [`GraphOp`]. Replaying the ops with [`crate::Hnsw::apply`] onto an
//! index built from the last [`GraphSnapshot`] (or an empty one) reproduces the graph. Ops carry
//! full neighbour lists, so applying one twice is harmless. The vectors themselves are not in
//! the ops: they live in the shard's vector bucket, and replay asks for them by id.

/// One graph mutation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphOp {
    /// A node was created with levels `0..=level`; its vector is stored under `id` elsewhere.
    AddNode {
        /// Node id.
        id: u32,
        /// Top level.
        level: u8,
    },
    /// The full neighbour list of `id` at `level`.
    SetNeighbors {
        /// Node id.
        id: u32,
        /// Level of the list.
        level: u8,
        /// Neighbour ids, closest-first order not guaranteed.
        neighbors: Vec<u32>,
    },
    /// The entry point (None: the graph is empty).
    SetEntryPoint {
        /// Entry node and its top level.
        entry: Option<(u32, u8)>,
    },
    /// `id` was deleted and is only traversed until cleanup removes it.
    Tombstone {
        /// Node id.
        id: u32,
    },
    /// Cleanup unlinked `id`; its lists are empty and the id is never reused (its internal
    /// slot is, after cleanup's grace barriers).
    RemoveNode {
        /// Node id.
        id: u32,
    },
    /// The insert of `id` finished: every link it made (its own lists and the back-links to
    /// it) was reported before this. A replay that stops between an `AddNode` and its
    /// `Published` (a torn log) must treat the insert as not done: applying its ops alone
    /// could leave the node without the links that make it reachable. Applying it changes
    /// nothing.
    Published {
        /// Node id.
        id: u32,
    },
}

/// Receives every graph mutation (e.g. the graph-operation log writer). Called on the mutating
/// thread, sometimes while a node lock is held and always while the operation holds its reader
/// of the index's grace lock: keep it quick (buffer, don't fsync) and do not call back into
/// the index (a second reader on the same thread can deadlock with a waiting cleanup).
/// Ids in ops are the caller's.
pub trait GraphObserver: Send + Sync {
    /// Records one operation.
    fn record(&self, op: GraphOp);
}

/// Persisted state of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSnapshot {
    /// Node id.
    pub id: u32,
    /// Whether the node is tombstoned (deleted, awaiting cleanup).
    pub tombstoned: bool,
    /// Neighbour lists, index = level (so the node's top level is `neighbors.len() − 1`).
    pub neighbors: Vec<Vec<u32>>,
}

/// The whole graph: what a snapshot file will hold (vectors excluded).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GraphSnapshot {
    /// Entry point and its level.
    pub entry: Option<(u32, u8)>,
    /// Nodes that are live or tombstoned, by increasing id.
    pub nodes: Vec<NodeSnapshot>,
}

impl GraphSnapshot {
    /// The ops that rebuild this snapshot on an empty index.
    pub fn to_ops(&self) -> impl Iterator<Item = GraphOp> + '_ {
        let adds = self.nodes.iter().map(|n| GraphOp::AddNode {
            id: n.id,
            level: (n.neighbors.len().max(1) - 1) as u8,
        });
        let links = self.nodes.iter().flat_map(|n| {
            n.neighbors
                .iter()
                .enumerate()
                .map(|(l, list)| GraphOp::SetNeighbors {
                    id: n.id,
                    level: l as u8,
                    neighbors: list.clone(),
                })
        });
        let tombs = self
            .nodes
            .iter()
            .filter(|n| n.tombstoned)
            .map(|n| GraphOp::Tombstone { id: n.id });
        adds.chain(links)
            .chain(tombs)
            .chain(std::iter::once(GraphOp::SetEntryPoint {
                entry: self.entry,
            }))
    }
}
