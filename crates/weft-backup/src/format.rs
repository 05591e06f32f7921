//! The backup format (`docs/format/backup.md`): the descriptors (JSON) and the chunks (a tar
//! stream, gzip- or zstd-compressed or plain, holding shard files or parts of them).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use weft_api::backup::{CompressionLevel, Status};

/// Weaviate's backup structure version, written so the layout is recognisable.
pub const STRUCTURE_VERSION: &str = "2.1";
/// weft's own format version of the descriptors and chunks.
pub const WEFT_FORMAT: u32 = 1;
/// Name of the coordinator descriptor.
pub const BACKUP_CONFIG: &str = "backup_config.json";
/// Name of the restore descriptor.
pub const RESTORE_CONFIG: &str = "restore_config.json";
/// Name of the node descriptor.
pub const NODE_MANIFEST: &str = "backup.json";
/// PAX key carrying a part's offset inside its file.
pub const PAX_OFFSET: &str = "WEFT.fileOffset";

/// One node's line in the coordinator descriptor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeSummary {
    /// Classes backed up on the node.
    pub classes: Vec<String>,
    /// The node's status.
    pub status: Status,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// Bytes before compression.
    #[serde(default)]
    pub pre_compression_size_bytes: u64,
}

/// `backup_config.json` / `restore_config.json`: the job as a whole.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The backup id.
    pub id: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339; empty while running.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub completed_at: String,
    /// Per node.
    pub nodes: BTreeMap<String, NodeSummary>,
    /// The job's status.
    pub status: Status,
    /// Weaviate's structure version.
    pub version: String,
    /// weft's version.
    pub server_version: String,
    /// The coordinating node.
    pub leader: String,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// Bytes before compression.
    #[serde(default)]
    pub pre_compression_size_bytes: u64,
    /// `gzip`, `zstd` or `none`.
    #[serde(default)]
    pub compression_type: String,
    /// The base of an incremental backup.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base_backup_id: String,
    /// weft's format version.
    #[serde(default)]
    pub weft_format: u32,
}

impl Descriptor {
    /// `completedAt`, or Weaviate's zero time while the job runs.
    pub fn completed_or_zero(&self) -> String {
        if self.completed_at.is_empty() {
            weft_api::backup::ZERO_TIME.to_string()
        } else {
            self.completed_at.clone()
        }
    }

    /// Every class of every node.
    pub fn classes(&self) -> Vec<String> {
        self.nodes
            .values()
            .flat_map(|n| n.classes.iter().cloned())
            .collect()
    }
}

/// Where a file's bytes are: a range of one chunk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Part {
    /// Chunk number (in the class of the backup holding the bytes).
    pub chunk: u32,
    /// Offset of the part inside the file.
    pub offset: u64,
    /// Length of the part.
    pub len: u64,
    /// CRC32C of the part's bytes.
    pub crc32c: u32,
}

/// One file of a shard.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the shard directory.
    pub path: String,
    /// Length.
    pub size: u64,
    /// CRC32C of the whole file.
    pub crc32c: u32,
    /// The backup whose chunks hold the bytes: this one, or (incremental) an earlier one.
    pub backup: String,
    /// The parts, in file order.
    pub parts: Vec<Part>,
}

/// One shard of a class.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShardManifest {
    /// Shard name.
    pub name: String,
    /// Node that held it.
    pub node: String,
    /// The last write the backup holds.
    pub lsn: u64,
    /// Every file, sorted by path.
    pub files: Vec<FileEntry>,
    /// The tenant's activity status (`HOT` / `COLD`) when the shard is a tenant of a
    /// multi-tenant class; absent otherwise (and in backups before tenants).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "tenantStatus"
    )]
    pub tenant_status: Option<String>,
}

/// One chunk object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ChunkInfo {
    /// Stored length.
    pub size: u64,
    /// CRC32C of the stored bytes.
    pub crc32c: u32,
    /// Bytes of file data in it.
    pub data_bytes: u64,
}

/// One class in a node manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClassManifest {
    /// Class name.
    pub name: String,
    /// The class as `GET /v1/schema/{class}` returns it.
    pub schema: serde_json::Value,
    /// Its shards.
    pub shards: Vec<ShardManifest>,
    /// The chunks this backup wrote for the class, by number.
    pub chunks: BTreeMap<u32, ChunkInfo>,
    /// Bytes before compression (all files, referenced ones included).
    pub pre_compression_size_bytes: u64,
}

/// `<id>/<node>/backup.json`: what a node backed up. Written after every chunk is stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeManifest {
    /// The backup id.
    pub id: String,
    /// The node.
    pub node: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub completed_at: String,
    /// The classes.
    pub classes: Vec<ClassManifest>,
    /// Always SUCCESS once written.
    pub status: Status,
    /// Weaviate's structure version.
    pub version: String,
    /// weft's version.
    pub server_version: String,
    /// `gzip`, `zstd` or `none`.
    pub compression_type: String,
    /// The base of an incremental backup.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base_backup_id: String,
    /// weft's format version.
    pub weft_format: u32,
}

/// Key of the coordinator descriptor of `id`.
pub fn config_key(id: &str) -> String {
    format!("{id}/{BACKUP_CONFIG}")
}

/// Key of the restore descriptor of `id`.
pub fn restore_key(id: &str) -> String {
    format!("{id}/{RESTORE_CONFIG}")
}

/// Key of the node manifest.
pub fn manifest_key(id: &str, node: &str) -> String {
    format!("{id}/{node}/{NODE_MANIFEST}")
}

/// Key of chunk `n` of `class`.
pub fn chunk_key(id: &str, node: &str, class: &str, n: u32) -> String {
    format!("{id}/{node}/{class}/chunk-{n}")
}

/// Compresses into `W`.
pub enum Encoder<W: Write> {
    /// gzip.
    Gzip(flate2::write::GzEncoder<W>),
    /// zstd.
    Zstd(zstd::Encoder<'static, W>),
    /// none.
    Plain(W),
}

impl<W: Write> std::fmt::Debug for Encoder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encoder")
    }
}

impl<W: Write> Encoder<W> {
    /// An encoder for `level`.
    pub fn new(level: CompressionLevel, w: W) -> io::Result<Self> {
        use flate2::Compression as G;
        Ok(match level {
            CompressionLevel::DefaultCompression => {
                Self::Gzip(flate2::write::GzEncoder::new(w, G::new(6)))
            }
            CompressionLevel::BestSpeed => Self::Gzip(flate2::write::GzEncoder::new(w, G::fast())),
            CompressionLevel::BestCompression => {
                Self::Gzip(flate2::write::GzEncoder::new(w, G::best()))
            }
            CompressionLevel::ZstdDefaultCompression => Self::Zstd(zstd::Encoder::new(w, 3)?),
            CompressionLevel::ZstdBestSpeed => Self::Zstd(zstd::Encoder::new(w, 1)?),
            CompressionLevel::ZstdBestCompression => Self::Zstd(zstd::Encoder::new(w, 19)?),
            CompressionLevel::NoCompression => Self::Plain(w),
        })
    }

    /// Ends the stream and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Self::Gzip(e) => e.finish(),
            Self::Zstd(e) => e.finish(),
            Self::Plain(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Gzip(e) => e.write(buf),
            Self::Zstd(e) => e.write(buf),
            Self::Plain(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Gzip(e) => e.flush(),
            Self::Zstd(e) => e.flush(),
            Self::Plain(w) => w.flush(),
        }
    }
}

/// A decompressing reader for `compression_type` (`gzip`, `zstd`, `none`).
pub fn decoder<'a, R: Read + 'a>(kind: &str, r: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match kind {
        "gzip" => Box::new(flate2::read::GzDecoder::new(r)),
        "zstd" => Box::new(zstd::Decoder::new(r)?),
        "none" => Box::new(r),
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown compression type {other:?}"),
            ));
        }
    })
}

/// A writer that counts and checksums what passes through.
#[derive(Debug)]
pub struct Checksummed<W> {
    inner: W,
    crc: u32,
    len: u64,
}

impl<W> Checksummed<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            crc: 0,
            len: 0,
        }
    }
    /// CRC32C and length so far.
    pub fn sum(&self) -> (u32, u64) {
        (self.crc, self.len)
    }
    /// The inner writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for Checksummed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let done = buf.get(..n).unwrap_or_default();
        self.crc = crc32c::crc32c_append(self.crc, done);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Checksummed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let done = buf.get(..n).unwrap_or_default();
        self.crc = crc32c::crc32c_append(self.crc, done);
        self.len += n as u64;
        Ok(n)
    }
}

/// CRC32C and length of a whole file, streaming.
pub fn file_crc(path: &std::path::Path) -> io::Result<(u32, u64)> {
    let mut r = Checksummed::new(std::fs::File::open(path)?);
    io::copy(&mut r, &mut io::sink())?;
    Ok(r.sum())
}
