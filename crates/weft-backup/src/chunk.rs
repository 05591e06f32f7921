//! Writing and reading chunks: tar streams of file parts, compressed.
//!
//! Each tar entry is one part of one file: named `<shard>/<path>`, preceded by a PAX record
//! `WEFT.fileOffset` with the part's offset in the file. A file larger than what is left of
//! the current chunk is split, so no chunk grows much beyond the target size and a big file is
//! streamed, never loaded whole.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use weft_api::backup::CompressionLevel;

use crate::format::{Checksummed, ChunkInfo, Encoder, PAX_OFFSET, Part, decoder};

type TarOut = tar::Builder<Encoder<Checksummed<BufWriter<File>>>>;

struct Open {
    n: u32,
    path: PathBuf,
    tar: TarOut,
    data: u64,
}

/// A finished chunk file, ready to upload.
#[derive(Debug)]
pub struct Finished {
    /// Its number.
    pub n: u32,
    /// The local file.
    pub path: PathBuf,
    /// Its size and checksum.
    pub info: ChunkInfo,
}

/// Builds the chunks of one class in a local directory.
pub struct ChunkBuilder {
    dir: PathBuf,
    level: CompressionLevel,
    target: u64,
    next: u32,
    open: Option<Open>,
    finished: Vec<Finished>,
    /// Suffix of the files while they are built (`.tmp` when built in place).
    suffix: &'static str,
}

impl std::fmt::Debug for ChunkBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkBuilder")
            .field("dir", &self.dir)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl ChunkBuilder {
    /// Chunks of about `target` bytes of file data, numbered from 1, built in `dir`.
    pub fn new(dir: &Path, level: CompressionLevel, target: u64) -> Self {
        Self {
            dir: dir.to_path_buf(),
            level,
            target: target.max(1),
            next: 1,
            open: None,
            finished: Vec::new(),
            suffix: "",
        }
    }

    /// Names the chunk files `chunk-<n>.tmp` (for building them in their final directory).
    pub fn temp_names(mut self) -> Self {
        self.suffix = ".tmp";
        self
    }

    fn current(&mut self) -> io::Result<&mut Open> {
        if self.open.is_none() {
            let n = self.next;
            self.next += 1;
            let path = self.dir.join(format!("chunk-{n}{}", self.suffix));
            let file = BufWriter::with_capacity(1 << 20, File::create(&path)?);
            let mut tar = tar::Builder::new(Encoder::new(self.level, Checksummed::new(file))?);
            tar.mode(tar::HeaderMode::Deterministic);
            self.open = Some(Open {
                n,
                path,
                tar,
                data: 0,
            });
        }
        self.open
            .as_mut()
            .ok_or_else(|| io::Error::other("no open chunk"))
    }

    /// Ends the open chunk, if any.
    pub fn finish_chunk(&mut self) -> io::Result<()> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let encoder = open.tar.into_inner()?;
        let mut sum = encoder.finish()?;
        sum.flush()?;
        let (crc32c, size) = sum.sum();
        let file = sum.into_inner().into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        self.finished.push(Finished {
            n: open.n,
            path: open.path,
            info: ChunkInfo {
                size,
                crc32c,
                data_bytes: open.data,
            },
        });
        Ok(())
    }

    /// Adds file `src` (`size` bytes, stored as `<shard>/<rel>`); returns its parts and the
    /// CRC32C of the whole file.
    pub fn add_file(
        &mut self,
        shard: &str,
        rel: &str,
        src: &Path,
        size: u64,
    ) -> io::Result<(Vec<Part>, u32)> {
        let mut reader = Checksummed::new(io::BufReader::with_capacity(1 << 20, File::open(src)?));
        let name = format!("{shard}/{rel}");
        let mut parts = Vec::new();
        let mut offset = 0u64;
        loop {
            let target = self.target;
            let open = self.current()?;
            let room = target.saturating_sub(open.data).max(1);
            let len = (size - offset).min(room);
            let offset_text = offset.to_string();
            open.tar
                .append_pax_extensions([(PAX_OFFSET, offset_text.as_bytes())])?;
            let mut header = tar::Header::new_ustar();
            header.set_size(len);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            let before = reader.sum();
            let mut part = Checksummed::new((&mut reader).take(len));
            open.tar.append_data(&mut header, &name, &mut part)?;
            let (crc, read) = part.sum();
            if read != len || reader.sum().1 - before.1 != len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} changed while it was being backed up", src.display()),
                ));
            }
            open.data += len;
            parts.push(Part {
                chunk: open.n,
                offset,
                len,
                crc32c: crc,
            });
            offset += len;
            if open.data >= target {
                self.finish_chunk()?;
            }
            if offset >= size {
                break;
            }
        }
        Ok((parts, reader.sum().0))
    }

    /// Chunks finished since the last call.
    pub fn take_finished(&mut self) -> Vec<Finished> {
        std::mem::take(&mut self.finished)
    }
}

/// What a reader found wrong in a chunk.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The chunk does not hold what the manifest says.
    #[error("{0}")]
    Corrupt(String),
}

/// Reads chunk file `path` (`kind` = compression type) and hands every part to `sink`
/// together with its verified bytes: `sink(name, offset, bytes)` where name is
/// `<shard>/<path>`. Only parts listed in `expected` (name, offset) → (len, crc) are accepted;
/// each must be present exactly once with its length and checksum.
pub fn read_chunk(
    path: &Path,
    kind: &str,
    expected: &HashMap<(String, u64), (u64, u32)>,
    mut sink: impl FnMut(&str, u64, &mut dyn Read) -> io::Result<()>,
) -> Result<(), ChunkError> {
    let file = io::BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut archive = tar::Archive::new(decoder(kind, file)?);
    let mut seen = std::collections::HashSet::new();
    let entries = archive
        .entries()
        .map_err(|e| ChunkError::Corrupt(format!("not a tar stream: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ChunkError::Corrupt(format!("bad tar entry: {e}")))?;
        let name = entry
            .path()
            .map_err(|e| ChunkError::Corrupt(format!("bad entry name: {e}")))?
            .to_string_lossy()
            .into_owned();
        let mut offset = None;
        if let Some(exts) = entry
            .pax_extensions()
            .map_err(|e| ChunkError::Corrupt(format!("bad PAX record: {e}")))?
        {
            for ext in exts {
                let ext = ext.map_err(|e| ChunkError::Corrupt(format!("bad PAX record: {e}")))?;
                if ext.key().ok() == Some(PAX_OFFSET) {
                    offset = ext.value().ok().and_then(|v| v.parse::<u64>().ok());
                }
            }
        }
        let offset = offset.unwrap_or(0);
        let Some(&(len, crc)) = expected.get(&(name.clone(), offset)) else {
            continue;
        };
        if entry.size() != len {
            return Err(ChunkError::Corrupt(format!(
                "{name} at {offset}: {} bytes, the manifest says {len}",
                entry.size()
            )));
        }
        let mut part = Checksummed::new(&mut entry);
        sink(&name, offset, &mut part)?;
        io::copy(&mut part, &mut io::sink())?;
        let (got, read) = part.sum();
        if read != len || got != crc {
            return Err(ChunkError::Corrupt(format!(
                "{name} at {offset}: checksum mismatch"
            )));
        }
        if !seen.insert((name.clone(), offset)) {
            return Err(ChunkError::Corrupt(format!(
                "{name} at {offset}: stored twice"
            )));
        }
    }
    if seen.len() != expected.len() {
        return Err(ChunkError::Corrupt(format!(
            "holds {} of the {} parts the manifest lists",
            seen.len(),
            expected.len()
        )));
    }
    Ok(())
}

/// Writes `bytes` into `dest` at `offset` (creating it and its directories).
pub fn write_part(dest: &Path, offset: u64, bytes: &mut dyn Read) -> io::Result<()> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dest)?;
    f.seek(SeekFrom::Start(offset))?;
    io::copy(bytes, &mut f)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Part;

    fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// Files of many sizes, split over chunks of a small target, in every compression: each
    /// file reassembled from its parts equals the original, and its CRC matches.
    #[test]
    fn files_split_over_chunks_reassemble_exactly() {
        let levels = [
            CompressionLevel::DefaultCompression,
            CompressionLevel::ZstdBestSpeed,
            CompressionLevel::NoCompression,
        ];
        for level in levels {
            let dir = tempfile::tempdir().unwrap();
            let src = dir.path().join("src");
            std::fs::create_dir_all(&src).unwrap();
            let sizes = [0usize, 1, 999, 1000, 1001, 4500, 12_345, 3];
            let mut b = ChunkBuilder::new(dir.path(), level, 1000);
            let mut all: Vec<(String, Vec<u8>, Vec<Part>, u32)> = Vec::new();
            let mut chunks = Vec::new();
            for (i, size) in sizes.iter().enumerate() {
                let bytes = pseudo_random(*size, i as u64 + 7);
                let path = src.join(format!("f{i}"));
                std::fs::write(&path, &bytes).unwrap();
                let (parts, crc) = b
                    .add_file("sh", &format!("d/f{i}"), &path, *size as u64)
                    .unwrap();
                assert_eq!(crc, crc32c::crc32c(&bytes));
                assert_eq!(parts.iter().map(|p| p.len).sum::<u64>(), *size as u64);
                all.push((format!("sh/d/f{i}"), bytes, parts, crc));
                chunks.extend(b.take_finished());
            }
            b.finish_chunk().unwrap();
            chunks.extend(b.take_finished());
            assert!(chunks.len() >= 18, "{} chunks", chunks.len());
            let out = dir.path().join("out");
            for c in &chunks {
                assert!(c.info.data_bytes <= 1000);
                let (crc, len) = crate::format::file_crc(&c.path).unwrap();
                assert_eq!((crc, len), (c.info.crc32c, c.info.size));
                let expected: HashMap<(String, u64), (u64, u32)> = all
                    .iter()
                    .flat_map(|(name, _, parts, _)| {
                        parts
                            .iter()
                            .filter(|p| p.chunk == c.n)
                            .map(move |p| ((name.clone(), p.offset), (p.len, p.crc32c)))
                    })
                    .collect();
                read_chunk(&c.path, level.kind(), &expected, |name, off, r| {
                    write_part(&out.join(name), off, r)
                })
                .unwrap();
            }
            for (name, bytes, parts, _) in &all {
                if parts.is_empty() {
                    continue;
                }
                assert_eq!(&std::fs::read(out.join(name)).unwrap(), bytes, "{name}");
            }
        }
    }

    /// A part the manifest does not expect is skipped; one it expects but the chunk lacks, a
    /// wrong checksum, and a flipped byte in the stored chunk are all errors.
    #[test]
    fn a_chunk_that_disagrees_with_the_manifest_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, pseudo_random(5000, 3)).unwrap();
        let mut b = ChunkBuilder::new(dir.path(), CompressionLevel::NoCompression, 1 << 20);
        let (parts, _) = b.add_file("s", "f", &f, 5000).unwrap();
        b.finish_chunk().unwrap();
        let c = b.take_finished().pop().unwrap();
        let p = &parts[0];
        let good = HashMap::from([(("s/f".to_string(), 0), (p.len, p.crc32c))]);
        read_chunk(&c.path, "none", &good, |_, _, _| Ok(())).unwrap();
        read_chunk(&c.path, "none", &HashMap::new(), |_, _, _| Ok(())).unwrap();
        let wrong = HashMap::from([(("s/f".to_string(), 0), (p.len, p.crc32c ^ 1))]);
        assert!(read_chunk(&c.path, "none", &wrong, |_, _, _| Ok(())).is_err());
        let missing = HashMap::from([
            (("s/f".to_string(), 0), (p.len, p.crc32c)),
            (("s/g".to_string(), 0), (1, 0)),
        ]);
        assert!(read_chunk(&c.path, "none", &missing, |_, _, _| Ok(())).is_err());
        let mut bytes = std::fs::read(&c.path).unwrap();
        bytes[2000] ^= 0x10;
        std::fs::write(&c.path, &bytes).unwrap();
        assert!(read_chunk(&c.path, "none", &good, |_, _, _| Ok(())).is_err());
    }
}
