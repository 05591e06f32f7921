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
    /// Nodes and chunks read so far (checked against the trailer).
    nodes: u64,
    chunks: u32,
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
    // A recycled buffer is cut to size, not zeroed again: the read overwrites it.
    buf.truncate(n);
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
    // Version 1: 20..24 reserved; version 2: 20..22 the quantizer block's length, 22..24
    // reserved; version 3: 20..24 the length (u32: a pq codebook exceeds 64 KiB).
    let qlen = match version {
        1 => 0,
        2 => u32::from(u16_at(b, 20).unwrap_or(0)),
        _ => u32_at(b, 20).unwrap_or(0),
    };
    if (version == 1 && u32_at(b, 20) != Some(0)) || (version == 2 && u16_at(b, 22) != Some(0)) {
        return Err(malformed("reserved header bytes are not zero"));
    }
    if qlen as usize > MAX_CHUNK {
        return Err(malformed("quantizer block too long"));
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
    .map(|h| (h, qlen as usize))
}

/// Parses nodes of one chunk payload.
struct ChunkCursor<'b> {
    b: &'b [u8],
    at: usize,
}

impl<'b> ChunkCursor<'b> {
    fn bytes(&mut self, n: usize) -> Option<&'b [u8]> {
        let b: &'b [u8] = self.b;
        let s = b.get(self.at..self.at.checked_add(n)?)?;
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

/// One node as it lies in a checked chunk: the numbers decoded, the lists and the vector
/// left as little-endian bytes for the caller to copy where they belong.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NodeView<'b> {
    pub(crate) id: u32,
    pub(crate) tombstoned: bool,
    /// Number of levels (0 for flat indexes).
    pub(crate) levels: usize,
    /// Per level: a `u16` count, then that many `u32` ids (lengths already checked).
    lists: &'b [u8],
    /// `row_words` little-endian words.
    pub(crate) vector: &'b [u8],
}

impl<'b> NodeView<'b> {
    /// The neighbour lists, level 0 first, as little-endian `u32` bytes.
    pub(crate) fn lists(&self) -> impl Iterator<Item = &'b [u8]> + 'b {
        let mut rest = self.lists;
        (0..self.levels).map(move |_| {
            let n = u16_at(rest, 0).map_or(0, usize::from);
            let (list, tail) = rest
                .get(2..)
                .unwrap_or_default()
                .split_at((4 * n).min(rest.len().saturating_sub(2)));
            rest = tail;
            list
        })
    }
}

/// Little-endian `u32`s of `raw` (whole words).
pub(crate) fn words(raw: &[u8]) -> impl Iterator<Item = u32> + '_ {
    raw.chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

impl<'b> ChunkCursor<'b> {
    /// Parses the next node; the error says what is malformed. `next_id` is the lowest id
    /// the node may have, and becomes one past it.
    fn view(
        &mut self,
        h: &SnapshotHeader,
        next_id: &mut u64,
    ) -> Result<NodeView<'b>, &'static str> {
        let (Some(id), Some(flags), Some(levels)) = (self.u32(), self.u8(), self.u8()) else {
            return Err("node header past the chunk end");
        };
        if u64::from(id) < *next_id || u64::from(id) >= h.covered {
            return Err("node ids not increasing or not below the watermark");
        }
        *next_id = u64::from(id) + 1;
        let levels = usize::from(levels);
        let tombstoned = match (h.kind, flags) {
            (IndexKind::Hnsw, 0) | (IndexKind::Flat, 0) => false,
            (IndexKind::Hnsw, FLAG_TOMBSTONE) => true,
            _ => return Err("unknown node flags"),
        };
        match h.kind {
            IndexKind::Hnsw if (1..=MAX_LEVELS).contains(&levels) => {}
            IndexKind::Flat if levels == 0 => {}
            IndexKind::Hnsw | IndexKind::Flat => return Err("node level out of range"),
        }
        let m = (h.max_connections as usize).max(2);
        let start = self.at;
        for l in 0..levels {
            let n = usize::from(self.u16().ok_or("list past the chunk end")?);
            if n > if l == 0 { 2 * m } else { m } {
                return Err("neighbour list longer than its capacity");
            }
            self.bytes(4 * n).ok_or("list past the chunk end")?;
        }
        let b: &'b [u8] = self.b;
        let lists = b.get(start..self.at).unwrap_or_default();
        let vector = self
            .bytes(4 * h.row_words())
            .ok_or("vector past the chunk end")?;
        Ok(NodeView {
            id,
            tombstoned,
            levels,
            lists,
            vector,
        })
    }
}

impl NodeRecord {
    fn fill(&mut self, v: &NodeView<'_>) {
        self.id = v.id;
        self.tombstoned = v.tombstoned;
        self.neighbors.resize_with(v.levels, Vec::new);
        for (list, raw) in self.neighbors.iter_mut().zip(v.lists()) {
            list.clear();
            list.extend(words(raw));
        }
        self.vector.clear();
        self.vector.extend(words(v.vector).map(f32::from_bits));
    }
}

/// What [`SnapshotReader::next_section`] found.
pub(crate) enum Section {
    /// A chunk whose checksum matched: its offset and node count; the payload is in the
    /// buffer passed in.
    Chunk { at: u64, count: u32 },
    /// The trailer, checked against the chunks read; the input ended right after it.
    Trailer(SnapshotTrailer),
}

/// Parses the `count` nodes of a checked chunk payload (at file offset `at`), calling `each`
/// for every one; ids must increase from `next_id` on. Returns the first and last id.
pub(crate) fn parse_chunk<'b>(
    h: &SnapshotHeader,
    at: u64,
    payload: &'b [u8],
    count: u32,
    mut next_id: u64,
    mut each: impl FnMut(NodeView<'b>) -> Result<(), SnapshotError>,
) -> Result<(u32, u32), SnapshotError> {
    let malformed = |what| SnapshotError::Malformed { offset: at, what };
    let min_node = 6 + 4 * h.row_words();
    if count == 0 || (count as usize).saturating_mul(min_node) > payload.len() {
        return Err(malformed("node count does not fit the chunk"));
    }
    let mut c = ChunkCursor { b: payload, at: 0 };
    let mut first = None;
    let mut last = 0;
    for _ in 0..count {
        let v = c.view(h, &mut next_id).map_err(malformed)?;
        first.get_or_insert(v.id);
        last = v.id;
        each(v)?;
    }
    if c.at != payload.len() {
        return Err(malformed("bytes left after the last node of a chunk"));
    }
    Ok((first.unwrap_or(last), last))
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
            nodes: 0,
            chunks: 0,
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
        let mut next_id = 0u64;
        loop {
            match self.next_section(&mut buf)? {
                Section::Chunk { at, count } => {
                    let (_, last) = parse_chunk(&self.header, at, &buf, count, next_id, |v| {
                        node.fill(&v);
                        visit(&node)
                    })?;
                    next_id = u64::from(last) + 1;
                }
                Section::Trailer(t) => return Ok(t),
            }
        }
    }

    /// Reads the next section into `buf`: a chunk (checksum checked, nodes not parsed) or
    /// the trailer.
    pub(crate) fn next_section(&mut self, buf: &mut Vec<u8>) -> Result<Section, SnapshotError> {
        let at = self.offset;
        take(self.input, &mut self.offset, self.len, 1, buf)?;
        match buf.first().copied() {
            Some(TAG_CHUNK) => {
                let count = self.chunk(at, buf)?;
                self.nodes += u64::from(count);
                self.chunks = self.chunks.checked_add(1).ok_or(SnapshotError::Malformed {
                    offset: at,
                    what: "too many chunks",
                })?;
                Ok(Section::Chunk { at, count })
            }
            Some(TAG_TRAILER) => {
                let (nodes, chunks) = (self.nodes, self.chunks);
                self.trailer(at, buf, nodes, chunks).map(Section::Trailer)
            }
            _ => Err(SnapshotError::Malformed {
                offset: at,
                what: "unknown section tag",
            }),
        }
    }

    /// Reads the chunk at `at` (its tag consumed) into `buf` and checks its checksum;
    /// returns its node count.
    fn chunk(&mut self, at: u64, buf: &mut Vec<u8>) -> Result<u32, SnapshotError> {
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
