//! Encoding: header, chunks of nodes, trailer.

use std::io::{self, Write};

use super::{
    CHUNK_TARGET, FLAG_TOMBSTONE, HEADER_LEN, IndexKind, MAGIC, SnapshotHeader, SnapshotInfo,
    SnapshotMark, SnapshotTrailer, TAG_CHUNK, TAG_TRAILER, VERSION,
};
use crate::flat::FlatIndex;
use crate::hnsw::Hnsw;
use crate::nodes::NodeState;

pub(crate) fn encode_header(h: &SnapshotHeader) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    b[0..8].copy_from_slice(&MAGIC);
    b[8..10].copy_from_slice(&VERSION.to_le_bytes());
    b[10] = h.kind.code();
    b[11] = h.metric.code();
    b[12..16].copy_from_slice(&h.dim.to_le_bytes());
    b[16..20].copy_from_slice(&h.max_connections.to_le_bytes());
    // 20..24: length of the quantizer block.
    let qlen = h
        .quantizer
        .as_ref()
        .map_or(0, |q| q.to_bytes().len() as u32);
    b[20..24].copy_from_slice(&qlen.to_le_bytes());
    b[24..32].copy_from_slice(&h.covered.to_le_bytes());
    b[32..40].copy_from_slice(&h.rng_state.to_le_bytes());
    b[40..48].copy_from_slice(&h.lsn.to_le_bytes());
    b[48..56].copy_from_slice(&h.log_generation.to_le_bytes());
    let crc = crc32c::crc32c(&b[..56]);
    b[56..60].copy_from_slice(&crc.to_le_bytes());
    b
}

pub(crate) fn encode_trailer(t: &SnapshotTrailer) -> [u8; super::TRAILER_LEN] {
    let mut b = [0u8; super::TRAILER_LEN];
    b[0] = TAG_TRAILER;
    if let Some((id, level)) = t.entry {
        b[1] = 1;
        b[2] = level;
        b[3..7].copy_from_slice(&id.to_le_bytes());
    }
    b[7..15].copy_from_slice(&t.nodes.to_le_bytes());
    b[15..19].copy_from_slice(&t.chunks.to_le_bytes());
    let crc = crc32c::crc32c(&b[..19]);
    b[19..23].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Streams nodes into chunks.
pub(crate) struct SnapshotWriter<'a> {
    out: &'a mut dyn Write,
    payload: Vec<u8>,
    in_chunk: u32,
    info: SnapshotInfo,
    chunks: u32,
}

impl<'a> SnapshotWriter<'a> {
    pub(crate) fn start(out: &'a mut dyn Write, header: &SnapshotHeader) -> io::Result<Self> {
        out.write_all(&encode_header(header))?;
        let mut bytes = HEADER_LEN as u64;
        if let Some(q) = &header.quantizer {
            let params = q.to_bytes();
            out.write_all(&params)?;
            out.write_all(&crc32c::crc32c(&params).to_le_bytes())?;
            bytes += params.len() as u64 + 4;
        }
        Ok(SnapshotWriter {
            out,
            payload: Vec::with_capacity(CHUNK_TARGET + 4096),
            in_chunk: 0,
            info: SnapshotInfo {
                covered: header.covered,
                lsn: header.lsn,
                log_generation: header.log_generation,
                bytes,
                ..SnapshotInfo::default()
            },
            chunks: 0,
        })
    }

    /// Appends one node: `lists` is empty for flat indexes.
    pub(crate) fn node(
        &mut self,
        id: u32,
        tombstoned: bool,
        lists: &[Vec<u32>],
        vector: &[f32],
    ) -> io::Result<()> {
        let p = &mut self.payload;
        p.extend_from_slice(&id.to_le_bytes());
        p.push(if tombstoned { FLAG_TOMBSTONE } else { 0 });
        p.push(lists.len() as u8);
        for list in lists {
            p.extend_from_slice(&(list.len() as u16).to_le_bytes());
            for n in list {
                p.extend_from_slice(&n.to_le_bytes());
            }
        }
        for x in vector {
            p.extend_from_slice(&x.to_le_bytes());
        }
        self.in_chunk += 1;
        self.info.nodes += 1;
        self.info.tombstoned += u64::from(tombstoned);
        if self.payload.len() >= CHUNK_TARGET {
            self.flush_chunk()?;
        }
        Ok(())
    }

    fn flush_chunk(&mut self) -> io::Result<()> {
        if self.in_chunk == 0 {
            return Ok(());
        }
        let mut head = [0u8; super::CHUNK_HEADER_LEN];
        head[0] = TAG_CHUNK;
        head[1..5].copy_from_slice(&(self.payload.len() as u32).to_le_bytes());
        head[5..9].copy_from_slice(&self.in_chunk.to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&head[..9]), &self.payload);
        head[9..13].copy_from_slice(&crc.to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(&self.payload)?;
        self.info.bytes += (head.len() + self.payload.len()) as u64;
        self.payload.clear();
        self.in_chunk = 0;
        self.chunks += 1;
        Ok(())
    }

    pub(crate) fn finish(mut self, entry: Option<(u32, u8)>) -> io::Result<SnapshotInfo> {
        self.flush_chunk()?;
        let trailer = SnapshotTrailer {
            entry,
            nodes: self.info.nodes,
            chunks: self.chunks,
        };
        let t = encode_trailer(&trailer);
        self.out.write_all(&t)?;
        self.out.flush()?;
        self.info.bytes += t.len() as u64;
        Ok(self.info)
    }
}

impl Hnsw {
    /// Writes a snapshot of the nodes with ids below `covered` to `out`, in the caller's ids.
    ///
    /// The caller promises that every insert and delete of an id below `covered` has returned
    /// before this call. Nodes at or above it are left out, and so are links to them: inserts
    /// running concurrently only touch the lists of older nodes by adding such links (or by
    /// shrinking a full list), so the written graph is the graph as of those inserts' start,
    /// minus at most the links they displaced. Their ids are re-inserted from the vector
    /// source after loading. Deletes running concurrently may or may not be captured; the
    /// loader compares with the source of truth anyway.
    pub fn write_snapshot(&self, covered: u64, out: &mut dyn Write) -> io::Result<SnapshotInfo> {
        self.write_snapshot_at(SnapshotMark::covering(covered), out)
    }

    /// [`Hnsw::write_snapshot`] recording where the snapshot stands in the caller's history
    /// (see [`crate::SnapshotHeader`] for what the caller promises with each field).
    pub fn write_snapshot_at(
        &self,
        mark: SnapshotMark,
        out: &mut dyn Write,
    ) -> io::Result<SnapshotInfo> {
        let covered = mark.covered;
        // One store for the whole file: a compression switching meanwhile changes nothing here.
        let st = self.store();
        let header = SnapshotHeader {
            kind: IndexKind::Hnsw,
            metric: self.cfg.metric,
            dim: self.dim() as u32,
            max_connections: self.cfg.max_connections as u32,
            covered,
            rng_state: self.rng_state(),
            lsn: mark.lsn,
            log_generation: mark.log_generation,
            quantizer: st.quant.clone(),
        };
        let mut w = SnapshotWriter::start(out, &header)?;
        let written = |slot: u32| {
            matches!(
                self.nodes.state(slot),
                NodeState::Live | NodeState::Tombstoned
            ) && u64::from(self.ext(slot)) < covered
        };
        // The file lists nodes by increasing (external) id; slots are in no such order.
        let mut order: Vec<(u32, u32)> = {
            let _r = st.read();
            (0..self.id_bound() as u32)
                .filter(|&s| written(s))
                .map(|s| (self.ext(s), s))
                .collect()
        };
        order.sort_unstable();
        let live_entry = self.entry_point();
        let mut entry: Option<(u32, u8)> = None;
        let mut fallback: Option<(u32, u8)> = None;
        let mut lists: Vec<Vec<u32>> = Vec::new();
        // A reader per batch, not for the whole walk: cleanup's barriers wait for readers. A
        // slot freed and reused between batches no longer holds its id and is skipped (a node
        // deleted during the snapshot may or may not be in it, as before).
        for batch in order.chunks(SNAPSHOT_BATCH) {
            let r = st.read();
            for &(ext, slot) in batch {
                if self.ext(slot) != ext || !written(slot) {
                    continue;
                }
                let Some(vector) = r.get(slot) else {
                    continue;
                };
                let level = self.nodes.level(slot);
                lists.resize_with(level + 1, Vec::new);
                for (l, list) in lists.iter_mut().enumerate() {
                    self.nodes.read(slot, l, list);
                    list.retain_mut(|n| {
                        let keep = written(*n);
                        *n = self.ext(*n);
                        keep
                    });
                }
                let tombstoned = self.nodes.state(slot) == NodeState::Tombstoned;
                w.node(ext, tombstoned, &lists, vector)?;
                let here = (ext, level as u8);
                if live_entry == Some((ext, level)) {
                    entry = Some(here);
                }
                if fallback.is_none_or(|(_, l)| here.1 > l) {
                    fallback = Some(here);
                }
            }
        }
        w.finish(entry.or(fallback))
    }
}

/// Nodes written per reader of the grace lock.
const SNAPSHOT_BATCH: usize = 1024;

impl FlatIndex {
    /// Writes a snapshot of the live vectors with ids below `covered` to `out` (same promise
    /// as [`Hnsw::write_snapshot`]).
    pub fn write_snapshot(&self, covered: u64, out: &mut dyn Write) -> io::Result<SnapshotInfo> {
        self.write_snapshot_at(SnapshotMark::covering(covered), out)
    }

    /// [`FlatIndex::write_snapshot`] recording where it stands (see [`Hnsw::write_snapshot_at`]).
    pub fn write_snapshot_at(
        &self,
        mark: SnapshotMark,
        out: &mut dyn Write,
    ) -> io::Result<SnapshotInfo> {
        let covered = mark.covered;
        let header = SnapshotHeader {
            kind: IndexKind::Flat,
            metric: self.metric(),
            dim: self.dim() as u32,
            max_connections: 0,
            covered,
            rng_state: 0,
            lsn: mark.lsn,
            log_generation: mark.log_generation,
            quantizer: self.quantizer().cloned(),
        };
        let mut w = SnapshotWriter::start(out, &header)?;
        for id in self.live_ids() {
            if u64::from(id) >= covered {
                break;
            }
            if let Some(v) = self.vector(id) {
                w.node(id, false, &[], v)?;
            }
        }
        w.finish(None)
    }
}
