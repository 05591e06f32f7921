//! Building indexes from snapshots.

use std::io::Read;

use super::read::{NodeRecord, SnapshotReader};
use super::{IndexKind, SnapshotError, SnapshotInfo};
use crate::config::HnswConfig;
use crate::flat::FlatIndex;
use crate::hnsw::Hnsw;
use crate::nodes::NodeState;
use weft_vector::Metric;

impl Hnsw {
    /// Loads an index from a snapshot of `len` bytes written by [`Hnsw::write_snapshot`].
    /// Fails with [`SnapshotError::Mismatch`] if the snapshot was taken with another metric,
    /// `maxConnections` or dimension; other settings (ef, efConstruction, …) come from `cfg`.
    /// Vectors are taken as stored (already normalised for cosine).
    pub fn read_snapshot(
        input: &mut dyn Read,
        len: u64,
        dim: usize,
        cfg: HnswConfig,
    ) -> Result<(Hnsw, SnapshotInfo), SnapshotError> {
        let mut reader = SnapshotReader::open(input, len)?;
        let header = reader.header().clone();
        header.check(
            IndexKind::Hnsw,
            cfg.metric,
            dim,
            u32::try_from(cfg.max_connections).unwrap_or(u32::MAX),
        )?;
        let h = Hnsw::new(dim, cfg);
        if let Some(q) = header.quantizer.clone() {
            h.set_store(std::sync::Arc::new(crate::store::Store::compressed(q)));
        }
        h.set_rng_state(header.rng_state);
        let restored = h.restore_from(&mut reader, &header)?;
        let trailer = restored.trailer;
        let info = SnapshotInfo {
            covered: header.covered,
            lsn: header.lsn,
            log_generation: header.log_generation,
            bytes: len,
            nodes: u64::from(restored.nodes),
            tombstoned: restored.tombstoned,
        };
        let entry = trailer.entry.and_then(|(id, l)| Some((h.ids.slot(id)?, l)));
        if let Some((id, level)) = trailer.entry {
            let slot = h.ids.slot(id).unwrap_or(u32::MAX);
            let state = h.nodes.state(slot);
            if !matches!(state, NodeState::Live | NodeState::Tombstoned)
                || h.nodes.level(slot) != usize::from(level)
            {
                return Err(SnapshotError::Malformed {
                    offset: len.saturating_sub(super::TRAILER_LEN as u64),
                    what: "entry point is not a node of its level",
                });
            }
        } else if info.nodes > 0 {
            return Err(SnapshotError::Malformed {
                offset: len.saturating_sub(super::TRAILER_LEN as u64),
                what: "nodes but no entry point",
            });
        }
        {
            let _g = h.entry_lock.lock();
            h.set_entry(entry.map(|(slot, l)| (slot, usize::from(l))));
        }
        Ok((h, info))
    }
}

impl FlatIndex {
    /// Loads a flat index from a snapshot written by [`FlatIndex::write_snapshot`]; fails with
    /// [`SnapshotError::Mismatch`] for another metric or dimension.
    pub fn read_snapshot(
        input: &mut dyn Read,
        len: u64,
        dim: usize,
        metric: Metric,
    ) -> Result<(FlatIndex, SnapshotInfo), SnapshotError> {
        let reader = SnapshotReader::open(input, len)?;
        let header = reader.header().clone();
        header.check(IndexKind::Flat, metric, dim, 0)?;
        let f = match header.quantizer.clone() {
            Some(q) => FlatIndex::compressed(q),
            None => FlatIndex::new(dim, metric),
        };
        let mut info = SnapshotInfo {
            covered: header.covered,
            lsn: header.lsn,
            log_generation: header.log_generation,
            bytes: len,
            ..SnapshotInfo::default()
        };
        reader.read_nodes(&mut |n: &NodeRecord| {
            f.restore(n.id, &n.vector)
                .map_err(|_| SnapshotError::Malformed {
                    offset: 0,
                    what: "vector cannot be restored",
                })?;
            info.nodes += 1;
            Ok(())
        })?;
        Ok((f, info))
    }
}
