//! Decoding: every length is checked against the remaining input before anything is
//! allocated or read.

use std::io::Read;

use super::{
    CHUNK_HEADER_LEN, FLAG_TOMBSTONE, HEADER_LEN, IndexKind, MAGIC, MAX_CHUNK, MAX_LEVELS,
    OLD_HEADER_LEN, SnapshotError, SnapshotHeader, SnapshotTrailer, TAG_CHUNK, TAG_TRAILER,
    TRAILER_LEN, VERSION,
};
use weft_vector::{Metric, Quantizer};

/// One node as decoded; buffers are reused from node to node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeRecord {
    /// Node id.
    pub id: u32,
    /// Tombstoned (HNSW only).
    pub tombstoned: bool,
    /// Neighbour lists by level (empty for flat indexes).
    pub neighbors: Vec<Vec<u32>>,
    /// The stored vector (normalised for cosine).
    pub vector: Vec<f32>,
}

/// Reads a snapshot from a byte stream of known length.
pub struct SnapshotReader<'a> {
    input: &'a mut dyn Read,
    offset: u64,
    len: u64,
    header: SnapshotHeader,
}

impl std::fmt::Debug for SnapshotReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotReader")
            .field("offset", &self.offset)
            .field("len", &self.len)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Reads exactly `n` bytes into `buf` (resized), after checking that the input has them.
fn take(
    input: &mut dyn Read,
    offset: &mut u64,
    len: u64,
    n: usize,
    buf: &mut Vec<u8>,
) -> Result<(), SnapshotError> {
    let remaining = len.saturating_sub(*offset);
    if (n as u64) > remaining {
        return Err(SnapshotError::Truncated {
            offset: *offset,
            needed: n as u64 - remaining,
        });
    }
    buf.clear();
    buf.resize(n, 0);
    input.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            SnapshotError::Truncated {
                offset: *offset,
                needed: n as u64,
            }
        } else {
            SnapshotError::Io(e)
        }
    })?;
    *offset += n as u64;
    Ok(())
}

/// The format version of a header (its first 10 bytes at least), if this build reads it.
fn header_version(b: &[u8]) -> Result<u16, SnapshotError> {
    if b.get(0..8) != Some(&MAGIC[..]) {
        return Err(SnapshotError::BadMagic);
    }
    let version = u16_at(b, 8).ok_or(SnapshotError::Malformed {
        offset: 0,
        what: "short header",
    })?;
    if !(1..=VERSION).contains(&version) {
        return Err(SnapshotError::Version(version));
    }
    Ok(version)
}

/// The header and the length of the quantizer block after it.
fn decode_header(b: &[u8]) -> Result<(SnapshotHeader, usize), SnapshotError> {
    let malformed = |what| SnapshotError::Malformed { offset: 0, what };
    let version = header_version(b)?;
    // Versions 1 and 2: the CRC at 40..44; version 3: LSN and log generation at 40..56, the
    // CRC at 56..60.
    let crc_at = if version >= 3 { 56 } else { 40 };
    let stored = u32_at(b, crc_at).ok_or(malformed("short header"))?;
    if crc32c::crc32c(b.get(..crc_at).unwrap_or_default()) != stored {
        return Err(SnapshotError::Checksum {
            section: "header",
            offset: 0,
        });
    }
    let kind = b
        .get(10)
        .and_then(|&c| IndexKind::from_code(c))
        .ok_or(malformed("unknown index kind"))?;
    let metric = b
        .get(11)
        .and_then(|&c| Metric::from_code(c))
        .ok_or(malformed("unknown metric"))?;
    let dim = u32_at(b, 12).ok_or(malformed("short header"))?;
    if dim == 0 || dim as usize > MAX_CHUNK / 4 {
        return Err(malformed("dimension out of range"));
    }
    let max_connections = u32_at(b, 16).ok_or(malformed("short header"))?;
    if max_connections > u32::from(u16::MAX) / 2 {
        return Err(malformed("maxConnections out of range"));
    }
    // Version 1: 20..24 reserved; version 2: 20..22 the quantizer block's length.
    let qlen = if version == 1 {
        0
    } else {
        u16_at(b, 20).unwrap_or(0)
    };
    if (version == 1 && u32_at(b, 20) != Some(0)) || u16_at(b, 22) != Some(0) {
        return Err(malformed("reserved header bytes are not zero"));
    }
    Ok(SnapshotHeader {
        kind,
        metric,
        dim,
        max_connections,
        covered: u64_at(b, 24).ok_or(malformed("short header"))?,
        rng_state: u64_at(b, 32).ok_or(malformed("short header"))?,
        lsn: if version >= 3 {
            u64_at(b, 40).ok_or(malformed("short header"))?
        } else {
            0
        },
        log_generation: if version >= 3 {
            u64_at(b, 48).ok_or(malformed("short header"))?
        } else {
            0
        },
        quantizer: None,
    })
    .map(|h| (h, usize::from(qlen)))
}

/// Parses nodes of one chunk payload.
struct ChunkCursor<'b> {
    b: &'b [u8],
    at: usize,
}

impl ChunkCursor<'_> {
    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|s| s[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.bytes(2).and_then(|s| u16_at(s, 0))
    }
    fn u32(&mut self) -> Option<u32> {
        self.bytes(4).and_then(|s| u32_at(s, 0))
    }
}

impl ChunkCursor<'_> {
    /// Parses the next node into `node`; the error says what is malformed.
    fn node(
        &mut self,
        h: &SnapshotHeader,
        node: &mut NodeRecord,
        next_id: &mut u64,
    ) -> Result<(), &'static str> {
        let (Some(id), Some(flags), Some(levels)) = (self.u32(), self.u8(), self.u8()) else {
            return Err("node header past the chunk end");
        };
        if u64::from(id) < *next_id || u64::from(id) >= h.covered {
            return Err("node ids not increasing or not below the watermark");
        }
        *next_id = u64::from(id) + 1;
        let levels = usize::from(levels);
        node.tombstoned = match (h.kind, flags) {
            (IndexKind::Hnsw, 0) | (IndexKind::Flat, 0) => false,
            (IndexKind::Hnsw, FLAG_TOMBSTONE) => true,
            _ => return Err("unknown node flags"),
        };
        match h.kind {
            IndexKind::Hnsw if (1..=MAX_LEVELS).contains(&levels) => {}
            IndexKind::Flat if levels == 0 => {}
            IndexKind::Hnsw | IndexKind::Flat => return Err("node level out of range"),
        }
        node.id = id;
        let m = (h.max_connections as usize).max(2);
        node.neighbors.resize_with(levels, Vec::new);
        for (l, list) in node.neighbors.iter_mut().enumerate() {
            let n = usize::from(self.u16().ok_or("list past the chunk end")?);
            if n > if l == 0 { 2 * m } else { m } {
                return Err("neighbour list longer than its capacity");
            }
            let raw = self.bytes(4 * n).ok_or("list past the chunk end")?;
            list.clear();
            list.extend(raw.chunks_exact(4).filter_map(|w| u32_at(w, 0)));
        }
        let raw = self
            .bytes(4 * h.row_words())
            .ok_or("vector past the chunk end")?;
        node.vector.clear();
        node.vector.extend(
            raw.chunks_exact(4)
                .filter_map(|w| w.try_into().ok().map(f32::from_le_bytes)),
        );
        Ok(())
    }
}

impl<'a> SnapshotReader<'a> {
    /// Reads and checks the header of the `len`-byte input.
    pub fn open(input: &'a mut dyn Read, len: u64) -> Result<Self, SnapshotError> {
        let mut offset = 0;
        let mut buf = Vec::new();
        // Every version's header starts with the 44 bytes of versions 1 and 2.
        take(input, &mut offset, len, OLD_HEADER_LEN, &mut buf)?;
        if header_version(&buf)? >= 3 {
            let mut rest = Vec::new();
            take(
                input,
                &mut offset,
                len,
                HEADER_LEN - OLD_HEADER_LEN,
                &mut rest,
            )?;
            buf.extend_from_slice(&rest);
        }
        let (mut header, qlen) = decode_header(&buf)?;
        if qlen > 0 {
            let at = offset;
            take(input, &mut offset, len, qlen + 4, &mut buf)?;
            let (params, crc) = buf.split_at(qlen);
            if u32_at(crc, 0) != Some(crc32c::crc32c(params)) {
                return Err(SnapshotError::Checksum {
                    section: "quantizer",
                    offset: at,
                });
            }
            let malformed = |what| SnapshotError::Malformed { offset: at, what };
            let q = Quantizer::from_bytes(params).map_err(|_| malformed("bad quantizer"))?;
            if q.dim() != header.dim as usize || q.metric() != header.metric {
                return Err(malformed("quantizer of another dimension or metric"));
            }
            header.quantizer = Some(q);
        }
        Ok(SnapshotReader {
            input,
            offset,
            len,
            header,
        })
    }

    /// The header.
    pub fn header(&self) -> &SnapshotHeader {
        &self.header
    }

    /// Calls `visit` for every node, in increasing id order, and returns the trailer once
    /// the input ended exactly after it. A chunk is checked whole before any of its nodes is
    /// visited, so a visitor never sees bytes a checksum did not cover.
    pub fn read_nodes(
        mut self,
        visit: &mut dyn FnMut(&NodeRecord) -> Result<(), SnapshotError>,
    ) -> Result<SnapshotTrailer, SnapshotError> {
        let mut buf = Vec::new();
        let mut node = NodeRecord::default();
        let mut nodes = 0u64;
        let mut chunks = 0u32;
        let mut next_id = 0u64;
        loop {
            let at = self.offset;
            take(self.input, &mut self.offset, self.len, 1, &mut buf)?;
            match buf.first().copied() {
                Some(TAG_CHUNK) => {
                    let count = self.chunk(at, &mut buf, &mut node, &mut next_id, visit)?;
                    nodes += u64::from(count);
                    chunks = chunks.checked_add(1).ok_or(SnapshotError::Malformed {
                        offset: at,
                        what: "too many chunks",
                    })?;
                }
                Some(TAG_TRAILER) => return self.trailer(at, &mut buf, nodes, chunks),
                _ => {
                    return Err(SnapshotError::Malformed {
                        offset: at,
                        what: "unknown section tag",
                    });
                }
            }
        }
    }

    fn chunk(
        &mut self,
        at: u64,
        buf: &mut Vec<u8>,
        node: &mut NodeRecord,
        next_id: &mut u64,
        visit: &mut dyn FnMut(&NodeRecord) -> Result<(), SnapshotError>,
    ) -> Result<u32, SnapshotError> {
        let malformed = |what| SnapshotError::Malformed { offset: at, what };
        take(
            self.input,
            &mut self.offset,
            self.len,
            CHUNK_HEADER_LEN - 1,
            buf,
        )?;
        let (Some(plen), Some(count), Some(stored)) =
            (u32_at(buf, 0), u32_at(buf, 4), u32_at(buf, 8))
        else {
            return Err(malformed("short chunk header"));
        };
        let mut crc = crc32c::crc32c(&[super::TAG_CHUNK]);
        crc = crc32c::crc32c_append(crc, buf.get(..8).unwrap_or_default());
        let plen = plen as usize;
        if plen > MAX_CHUNK {
            return Err(malformed("chunk larger than the format allows"));
        }
        take(self.input, &mut self.offset, self.len, plen, buf)?;
        if crc32c::crc32c_append(crc, buf) != stored {
            return Err(SnapshotError::Checksum {
                section: "chunk",
                offset: at,
            });
        }
        let h = &self.header;
        let min_node = 6 + 4 * h.row_words();
        if count == 0 || (count as usize).saturating_mul(min_node) > plen {
            return Err(malformed("node count does not fit the chunk"));
        }
        let mut c = ChunkCursor { b: buf, at: 0 };
        for _ in 0..count {
            c.node(h, node, next_id).map_err(malformed)?;
            visit(node)?;
        }
        if c.at != plen {
            return Err(malformed("bytes left after the last node of a chunk"));
        }
        Ok(count)
    }

    fn trailer(
        &mut self,
        at: u64,
        buf: &mut Vec<u8>,
        nodes: u64,
        chunks: u32,
    ) -> Result<SnapshotTrailer, SnapshotError> {
        let malformed = |what| SnapshotError::Malformed { offset: at, what };
        take(self.input, &mut self.offset, self.len, TRAILER_LEN - 1, buf)?;
        let mut full = Vec::with_capacity(TRAILER_LEN);
        full.push(TAG_TRAILER);
        full.extend_from_slice(buf);
        let stored = u32_at(&full, 19).ok_or(malformed("short trailer"))?;
        if crc32c::crc32c(full.get(..19).unwrap_or_default()) != stored {
            return Err(SnapshotError::Checksum {
                section: "trailer",
                offset: at,
            });
        }
        let entry = match full.get(1).copied() {
            Some(0) => None,
            Some(1) => Some((
                u32_at(&full, 3).ok_or(malformed("short trailer"))?,
                full.get(2).copied().ok_or(malformed("short trailer"))?,
            )),
            _ => return Err(malformed("bad entry flag")),
        };
        let t = SnapshotTrailer {
            entry,
            nodes: u64_at(&full, 7).ok_or(malformed("short trailer"))?,
            chunks: u32_at(&full, 15).ok_or(malformed("short trailer"))?,
        };
        if t.nodes != nodes || t.chunks != chunks {
            return Err(malformed("trailer counts differ from the chunks read"));
        }
        if self.offset != self.len {
            return Err(malformed("bytes after the trailer"));
        }
        Ok(t)
    }
}

/// A whole snapshot decoded into memory (for tests, tools and fuzzing).
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedSnapshot {
    /// The header.
    pub header: SnapshotHeader,
    /// Nodes in id order.
    pub nodes: Vec<NodeRecord>,
    /// The trailer.
    pub trailer: SnapshotTrailer,
}

/// Decodes a snapshot held in memory.
pub fn decode(bytes: &[u8]) -> Result<DecodedSnapshot, SnapshotError> {
    let mut input = bytes;
    let reader = SnapshotReader::open(&mut input, bytes.len() as u64)?;
    let header = reader.header().clone();
    let mut nodes = Vec::new();
    let trailer = reader.read_nodes(&mut |n| {
        nodes.push(n.clone());
        Ok(())
    })?;
    Ok(DecodedSnapshot {
        header,
        nodes,
        trailer,
    })
}
