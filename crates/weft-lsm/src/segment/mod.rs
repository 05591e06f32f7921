//! Immutable sorted segment files: checksummed data blocks, a sparse index, a bloom filter,
//! properties (LSN range, generation, input files) and a footer with magic and version.
//! Byte layout: `docs/format/segment.md`.
//!
//! A segment is opened by reading and validating its footer first (so a truncated or foreign
//! file is rejected before any offset is trusted), then its header, properties, index and
//! bloom. Data blocks are read on demand and their CRC is checked on every read.

pub(crate) mod format;

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weft_io::{ReadFile, Vfs, WriteFile};

use self::format::{
    FOOTER_LEN, Footer, HEADER_LEN, Header, IndexEntry, Props, decode_block, decode_index, seal,
    unseal,
};
use crate::Strategy;
use crate::bloom::Bloom;
use crate::codec::{DecodeError, put_bytes, put_varint};
use crate::entry::Entry;
use crate::error::{Error, Result};

/// What a new segment is.
#[derive(Debug, Clone)]
pub(crate) struct SegmentSpec {
    pub(crate) strategy: Strategy,
    pub(crate) file_no: u64,
    pub(crate) generation: u32,
    pub(crate) lsn_lo: u64,
    pub(crate) lsn_hi: u64,
    pub(crate) inputs: Vec<u64>,
    pub(crate) block_bytes: usize,
    pub(crate) bloom_bits_per_key: u32,
}

struct Out {
    file: Box<dyn WriteFile>,
    buf: Vec<u8>,
    off: u64,
    path: PathBuf,
}

impl Out {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(bytes);
        self.off += bytes.len() as u64;
        if self.buf.len() >= 1 << 20 {
            self.drain()?;
        }
        Ok(())
    }

    fn drain(&mut self) -> Result<()> {
        self.file
            .write_all(&self.buf)
            .map_err(Error::io("write segment", &self.path))?;
        self.buf.clear();
        Ok(())
    }

    /// Writes a sealed section and returns (offset, length).
    fn section(&mut self, mut payload: Vec<u8>) -> Result<(u64, u64)> {
        seal(&mut payload);
        let at = self.off;
        self.put(&payload)?;
        Ok((at, payload.len() as u64))
    }
}

/// Cuts sorted (key, value) pairs into blocks and collects the index.
struct TableWriter {
    body: Vec<u8>,
    count: u64,
    last_key: Vec<u8>,
    index: Vec<IndexEntry>,
    block_bytes: usize,
}

impl TableWriter {
    fn new(block_bytes: usize) -> Self {
        Self {
            body: Vec::new(),
            count: 0,
            last_key: Vec::new(),
            index: Vec::new(),
            block_bytes,
        }
    }

    fn add(&mut self, out: &mut Out, key: &[u8], value: &[u8]) -> Result<()> {
        put_bytes(&mut self.body, key);
        put_bytes(&mut self.body, value);
        self.count += 1;
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        if self.body.len() >= self.block_bytes {
            self.cut(out)?;
        }
        Ok(())
    }

    fn cut(&mut self, out: &mut Out) -> Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        let mut payload = Vec::with_capacity(self.body.len() + 16);
        put_varint(&mut payload, self.count);
        payload.extend_from_slice(&self.body);
        let (offset, len) = out.section(payload)?;
        self.index.push(IndexEntry {
            last_key: std::mem::take(&mut self.last_key),
            offset,
            len,
        });
        self.body.clear();
        self.count = 0;
        Ok(())
    }

    fn finish(mut self, out: &mut Out) -> Result<(u64, u64)> {
        self.cut(out)?;
        let mut payload = Vec::new();
        format::encode_index(&self.index, &mut payload);
        out.section(payload)
    }
}

/// Streams sorted entries into a new segment file.
pub(crate) struct SegmentWriter {
    out: Out,
    table: TableWriter,
    hashes: Vec<u64>,
    secondary: Vec<(usize, Vec<u8>, Vec<u8>)>,
    props: Props,
    value: Vec<u8>,
    block_bytes: usize,
    bloom_bits_per_key: u32,
}

impl SegmentWriter {
    pub(crate) fn create(vfs: &dyn Vfs, path: &Path, spec: &SegmentSpec) -> Result<Self> {
        let file = vfs
            .create(path)
            .map_err(Error::io("create segment", path))?;
        let mut out = Out {
            file,
            buf: Vec::with_capacity(1 << 20),
            off: 0,
            path: path.to_path_buf(),
        };
        let header = Header {
            strategy: spec.strategy,
            file_no: spec.file_no,
            generation: spec.generation,
        };
        out.put(&header.encode())?;
        Ok(Self {
            out,
            table: TableWriter::new(spec.block_bytes),
            hashes: Vec::new(),
            secondary: Vec::new(),
            props: Props {
                lsn_lo: spec.lsn_lo,
                lsn_hi: spec.lsn_hi,
                inputs: spec.inputs.clone(),
                ..Props::default()
            },
            value: Vec::new(),
            block_bytes: spec.block_bytes,
            bloom_bits_per_key: spec.bloom_bits_per_key,
        })
    }

    /// Adds the next entry; keys must be strictly increasing.
    pub(crate) fn add(&mut self, key: &[u8], entry: &Entry) -> Result<()> {
        if let Entry::Value { secondary: s, .. } = entry {
            self.secondary.extend(
                s.iter()
                    .enumerate()
                    .map(|(i, s)| (i, s.clone(), key.to_vec())),
            );
        }
        self.props.entries += 1;
        self.props.tombstones += u64::from(matches!(entry, Entry::Tombstone));
        self.hashes.push(Bloom::hash(key));
        self.value.clear();
        entry.encode(&mut self.value);
        self.table.add(&mut self.out, key, &self.value)
    }

    /// Writes index, secondary tables, bloom, properties and footer, then `fdatasync`s.
    /// Returns the file size. The caller publishes the file with a rename and a directory sync.
    pub(crate) fn finish(self) -> Result<u64> {
        let Self {
            mut out,
            table,
            hashes,
            mut secondary,
            mut props,
            ..
        } = self;
        let index = table.finish(&mut out)?;
        secondary.sort();
        secondary.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let positions = secondary.last().map_or(0, |s| s.0 + 1);
        for pos in 0..positions {
            let mut t = TableWriter::new(self.block_bytes);
            for (_, skey, pkey) in secondary.iter().filter(|s| s.0 == pos) {
                t.add(&mut out, skey, pkey)?;
            }
            props.secondary.push(t.finish(&mut out)?);
        }
        let mut payload = Vec::new();
        Bloom::build(&hashes, self.bloom_bits_per_key).encode(&mut payload);
        let bloom = out.section(payload)?;
        let mut payload = Vec::new();
        props.encode(&mut payload);
        let props_at = out.section(payload)?;
        let file_len = out.off + FOOTER_LEN as u64;
        let footer = Footer {
            index,
            bloom,
            props: props_at,
            file_len,
        };
        out.put(&footer.encode())?;
        out.drain()?;
        let path = out.path.clone();
        out.file
            .sync_data()
            .map_err(Error::io("fsync segment", &path))?;
        Ok(file_len)
    }
}

/// An open, validated segment.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) path: PathBuf,
    /// Path relative to the shard directory (for pins and backups).
    pub(crate) rel: PathBuf,
    file: Box<dyn ReadFile>,
    pub(crate) header: Header,
    pub(crate) props: Props,
    index: Vec<IndexEntry>,
    secondary: Vec<Vec<IndexEntry>>,
    bloom: Bloom,
    pub(crate) size: u64,
}

impl Segment {
    /// Opens and validates everything but the data blocks.
    pub(crate) fn open(vfs: &dyn Vfs, path: &Path, rel: PathBuf) -> Result<Segment> {
        let file = vfs
            .open_read(path)
            .map_err(Error::io("open segment", path))?;
        let size = file.len().map_err(Error::io("stat segment", path))?;
        let corrupt =
            |base: u64, e: DecodeError| Error::corrupt(path, base + e.offset as u64, e.reason);
        if size < (HEADER_LEN + FOOTER_LEN) as u64 {
            return Err(Error::corrupt(
                path,
                0,
                format!("{size} bytes is too short for a segment"),
            ));
        }
        let read = |off: u64, len: u64| -> Result<Vec<u8>> {
            let len =
                usize::try_from(len).map_err(|_| Error::corrupt(path, off, "section too large"))?;
            let mut buf = vec![0u8; len];
            file.read_exact_at(&mut buf, off)
                .map_err(Error::io("read segment", path))?;
            Ok(buf)
        };
        let footer_at = size - FOOTER_LEN as u64;
        let footer = Footer::decode(&read(footer_at, FOOTER_LEN as u64)?, size)
            .map_err(|e| corrupt(footer_at, e))?;
        let header = Header::decode(&read(0, HEADER_LEN as u64)?).map_err(|e| corrupt(0, e))?;
        let section = |(off, len): (u64, u64)| -> Result<Vec<u8>> {
            let bytes = read(off, len)?;
            Ok(unseal(&bytes).map_err(|e| corrupt(off, e))?.to_vec())
        };
        let props =
            Props::decode(&section(footer.props)?, size).map_err(|e| corrupt(footer.props.0, e))?;
        let index =
            decode_index(&section(footer.index)?, size).map_err(|e| corrupt(footer.index.0, e))?;
        let bloom =
            Bloom::decode(&section(footer.bloom)?).map_err(|e| corrupt(footer.bloom.0, e))?;
        let mut secondary = Vec::new();
        for s in &props.secondary {
            secondary.push(decode_index(&section(*s)?, size).map_err(|e| corrupt(s.0, e))?);
        }
        Ok(Segment {
            path: path.to_path_buf(),
            rel,
            file,
            header,
            props,
            index,
            secondary,
            bloom,
            size,
        })
    }

    pub(crate) fn file_no(&self) -> u64 {
        self.header.file_no
    }

    pub(crate) fn generation(&self) -> u32 {
        self.header.generation
    }

    fn read_block(&self, e: &IndexEntry) -> Result<Vec<u8>> {
        let len = usize::try_from(e.len)
            .map_err(|_| Error::corrupt(&self.path, e.offset, "block too large"))?;
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, e.offset)
            .map_err(Error::io("read segment", &self.path))?;
        let n = unseal(&buf)
            .map_err(|d| Error::corrupt(&self.path, e.offset, format!("data block: {}", d.reason)))?
            .len();
        buf.truncate(n);
        Ok(buf)
    }

    fn block_err(&self, e: &IndexEntry, d: DecodeError) -> Error {
        Error::corrupt(
            &self.path,
            e.offset + d.offset as u64,
            format!("data block: {}", d.reason),
        )
    }

    /// Looks `key` up in one table.
    fn lookup(&self, table: &[IndexEntry], key: &[u8]) -> Result<Option<Vec<u8>>> {
        let i = table.partition_point(|e| e.last_key.as_slice() < key);
        let Some(e) = table.get(i) else {
            return Ok(None);
        };
        let payload = self.read_block(e)?;
        let found = format::find_in_block(&payload, key).map_err(|d| self.block_err(e, d))?;
        Ok(found.map(<[u8]>::to_vec))
    }

    /// The encoded entry of `key`, undecoded ([`crate::entry::delta_items`] reads a map's
    /// without copying its members).
    pub(crate) fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if !self.bloom.may_contain(key) {
            return Ok(None);
        }
        self.lookup(&self.index, key)
    }

    /// The error of an entry of this segment that does not decode.
    pub(crate) fn entry_error(&self, reason: &str) -> Error {
        Error::corrupt(&self.path, 0, format!("entry of a data block: {reason}"))
    }

    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Entry>> {
        if !self.bloom.may_contain(key) {
            return Ok(None);
        }
        match self.lookup(&self.index, key)? {
            None => Ok(None),
            Some(v) => Entry::decode(&v).map(Some).map_err(|d| {
                Error::corrupt(
                    &self.path,
                    0,
                    format!("entry of a data block: {}", d.reason),
                )
            }),
        }
    }

    /// Primary key recorded for a secondary key in this segment (may be stale).
    pub(crate) fn secondary(&self, pos: usize, skey: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.secondary.get(pos) {
            Some(table) => self.lookup(table, skey),
            None => Ok(None),
        }
    }

    /// Entries in the range, in key order, decoded block by block.
    pub(crate) fn range(self: &Arc<Self>, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> SegmentIter {
        let block = match lo {
            Bound::Unbounded => 0,
            Bound::Included(k) | Bound::Excluded(k) => {
                self.index.partition_point(|e| e.last_key.as_slice() < k)
            }
        };
        SegmentIter {
            seg: Arc::clone(self),
            block,
            pending: std::collections::VecDeque::new(),
            lo: bound_owned(lo),
            hi: bound_owned(hi),
            done: false,
        }
    }
}

fn bound_owned(b: Bound<&[u8]>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(k.to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Iterator over a key range of one segment.
#[derive(Debug)]
pub(crate) struct SegmentIter {
    seg: Arc<Segment>,
    block: usize,
    pending: std::collections::VecDeque<(Vec<u8>, Vec<u8>)>,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    done: bool,
}

impl SegmentIter {
    fn fill(&mut self) -> Result<()> {
        while self.pending.is_empty() && !self.done {
            let Some(e) = self.seg.index.get(self.block) else {
                self.done = true;
                break;
            };
            self.block += 1;
            let payload = self.seg.read_block(e)?;
            let pairs = decode_block(&payload).map_err(|d| self.seg.block_err(e, d))?;
            for (k, v) in pairs {
                let above_lo = match &self.lo {
                    Bound::Included(l) => k >= l.as_slice(),
                    Bound::Excluded(l) => k > l.as_slice(),
                    Bound::Unbounded => true,
                };
                let below_hi = match &self.hi {
                    Bound::Included(h) => k <= h.as_slice(),
                    Bound::Excluded(h) => k < h.as_slice(),
                    Bound::Unbounded => true,
                };
                if !below_hi {
                    self.done = true;
                    break;
                }
                if above_lo {
                    self.pending.push_back((k.to_vec(), v.to_vec()));
                }
            }
        }
        Ok(())
    }
}

impl Iterator for SegmentIter {
    type Item = Result<(Vec<u8>, Entry)>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Err(e) = self.fill() {
            self.done = true;
            self.pending.clear();
            return Some(Err(e));
        }
        let (k, v) = self.pending.pop_front()?;
        Some(Entry::decode(&v).map(|e| (k, e)).map_err(|d| {
            Error::corrupt(
                &self.seg.path,
                0,
                format!("entry of a data block: {}", d.reason),
            )
        }))
    }
}

#[cfg(test)]
mod tests;
