//! Typed options of a shard. The crate reads no environment variables: the binary passes
//! Weaviate's setting names and values to [`Options::apply_setting`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};

/// When an acknowledged write is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// Acknowledge after `fdatasync` of the WAL (group commit). Survives power loss.
    #[default]
    Sync,
    /// Acknowledge after the WAL bytes reached the OS; `fdatasync` every given interval.
    /// Survives a process crash; a power loss can lose up to one interval.
    Interval(Duration),
    /// Acknowledge after the WAL bytes reached the OS; sync only at flush and close.
    None,
}

impl FromStr for SyncPolicy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason| Error::InvalidOption {
            name: "PERSISTENCE_WAL_SYNC".into(),
            value: s.into(),
            reason,
        };
        match s.trim() {
            "sync" => Ok(Self::Sync),
            "none" => Ok(Self::None),
            other => {
                let ms = other
                    .strip_prefix("interval:")
                    .ok_or_else(|| bad("expected sync, interval:<ms> or none"))?;
                let ms: u64 = ms
                    .trim()
                    .parse()
                    .map_err(|_| bad("interval must be milliseconds"))?;
                if ms == 0 {
                    return Err(bad("interval must be at least 1 ms"));
                }
                Ok(Self::Interval(Duration::from_millis(ms)))
            }
        }
    }
}

impl fmt::Display for SyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sync => f.write_str("sync"),
            Self::Interval(d) => write!(f, "interval:{}", d.as_millis()),
            Self::None => f.write_str("none"),
        }
    }
}

/// Options of a shard. Build with `Options::default()` and the setters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// WAL sync policy (`PERSISTENCE_WAL_SYNC`, weft's own setting).
    pub sync: SyncPolicy,
    /// Flush when the memtables of a shard hold this many bytes
    /// (`PERSISTENCE_MEMTABLES_MAX_SIZE_MB`, default 200 MiB).
    pub memtable_max_bytes: u64,
    /// Flush memtables that have held unflushed data this long
    /// (`PERSISTENCE_MEMTABLES_FLUSH_DIRTY_AFTER_SECONDS`, default 60 s).
    pub flush_dirty_after: Duration,
    /// How long a file replaced by a flush or compaction stays on disk before deletion
    /// (`PERSISTENCE_FILE_DELETION_GRACE`, default 15 min). It is what makes a `cp -r` of a
    /// running data folder recoverable.
    pub file_deletion_grace: Duration,
    /// Upper bound of a compaction output (`PERSISTENCE_LSM_MAX_SEGMENT_SIZE`, default unlimited).
    pub max_segment_bytes: u64,
    /// A bucket with at least this many segments is compacted in the background.
    pub compaction_min_segments: usize,
    /// How often the compaction thread looks for work.
    pub compaction_interval: Duration,
    /// Target size of a segment data block before it is cut.
    pub block_bytes: usize,
    /// Bloom filter bits per key.
    pub bloom_bits_per_key: u32,
    /// Largest WAL record (one write batch); checked before allocating on replay.
    pub max_record_bytes: usize,
    /// Size of the reads WAL replay makes (default 8 MiB): each read fills a fresh buffer that
    /// the memtable keeps its keys and values in. A record larger than this is still read
    /// whole, after its length passed the record cap.
    pub replay_read_bytes: usize,
    /// Run the background flush, compaction and deletion threads. Tests that want a
    /// deterministic sequence of file operations turn this off and call `flush`/`compact`.
    pub background: bool,
    /// Where the background threads report what went wrong (the crate does not log).
    pub events: EventSink,
}

/// Something a background thread of a shard wants the operator to know.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A background flush failed; the shard is poisoned and refuses writes.
    FlushFailed {
        /// The shard directory.
        dir: &'a std::path::Path,
        /// What failed.
        error: &'a Error,
    },
    /// A background compaction failed; acknowledged data is untouched and it is retried.
    CompactionFailed {
        /// The shard directory.
        dir: &'a std::path::Path,
        /// The bucket being compacted.
        bucket: &'a str,
        /// What failed.
        error: &'a Error,
    },
}

type EventFn = dyn Fn(&Event<'_>) + Send + Sync;

/// A callback for [`Event`]s; the default drops them.
#[derive(Clone, Default)]
pub struct EventSink(Option<std::sync::Arc<EventFn>>);

impl EventSink {
    /// A sink calling `f` for every event (from background threads).
    pub fn new(f: impl Fn(&Event<'_>) + Send + Sync + 'static) -> Self {
        Self(Some(std::sync::Arc::new(f)))
    }

    pub(crate) fn emit(&self, event: &Event<'_>) {
        if let Some(f) = &self.0 {
            f(event);
        }
    }
}

impl fmt::Debug for EventSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "EventSink(set)"
        } else {
            "EventSink(none)"
        })
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sync: SyncPolicy::Sync,
            memtable_max_bytes: 200 << 20,
            flush_dirty_after: Duration::from_secs(60),
            file_deletion_grace: Duration::from_secs(15 * 60),
            max_segment_bytes: u64::MAX,
            compaction_min_segments: 4,
            compaction_interval: Duration::from_secs(1),
            block_bytes: 4 << 10,
            bloom_bits_per_key: 10,
            max_record_bytes: 64 << 20,
            replay_read_bytes: crate::wal::reader::REPLAY_CHUNK,
            background: true,
            events: EventSink::default(),
        }
    }
}

/// Names of the settings [`Options::apply_setting`] understands.
pub const SETTING_NAMES: &[&str] = &[
    "PERSISTENCE_WAL_SYNC",
    "PERSISTENCE_MEMTABLES_MAX_SIZE_MB",
    "PERSISTENCE_MEMTABLES_FLUSH_DIRTY_AFTER_SECONDS",
    "PERSISTENCE_FLUSH_IDLE_MEMTABLES_AFTER",
    "PERSISTENCE_FILE_DELETION_GRACE",
    "PERSISTENCE_LSM_MAX_SEGMENT_SIZE",
    "PERSISTENCE_LSM_COMPACTION_INTERVAL",
];

impl Options {
    /// Sets where background failures are reported.
    pub fn events(mut self, sink: EventSink) -> Self {
        self.events = sink;
        self
    }

    /// Sets the sync policy.
    pub fn sync(mut self, sync: SyncPolicy) -> Self {
        self.sync = sync;
        self
    }
    /// Sets the memtable flush threshold in bytes.
    pub fn memtable_max_bytes(mut self, bytes: u64) -> Self {
        self.memtable_max_bytes = bytes;
        self
    }
    /// Sets the dirty-memtable flush age.
    pub fn flush_dirty_after(mut self, d: Duration) -> Self {
        self.flush_dirty_after = d;
        self
    }
    /// Sets the deletion grace period.
    pub fn file_deletion_grace(mut self, d: Duration) -> Self {
        self.file_deletion_grace = d;
        self
    }
    /// Sets the compaction output cap.
    pub fn max_segment_bytes(mut self, bytes: u64) -> Self {
        self.max_segment_bytes = bytes;
        self
    }
    /// Sets the segment count that triggers background compaction (at least 2).
    pub fn compaction_min_segments(mut self, n: usize) -> Self {
        self.compaction_min_segments = n.max(2);
        self
    }
    /// Sets how often background compaction looks for work.
    pub fn compaction_interval(mut self, d: Duration) -> Self {
        self.compaction_interval = d;
        self
    }
    /// Sets the data block target size.
    pub fn block_bytes(mut self, bytes: usize) -> Self {
        self.block_bytes = bytes.max(64);
        self
    }
    /// Sets the WAL record cap.
    pub fn max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes;
        self
    }
    /// Sets the read size of WAL replay (at least 1 byte).
    pub fn replay_read_bytes(mut self, bytes: usize) -> Self {
        self.replay_read_bytes = bytes.max(1);
        self
    }
    /// Turns the background threads on or off.
    pub fn background(mut self, on: bool) -> Self {
        self.background = on;
        self
    }

    /// Applies one setting by its Weaviate (or weft) environment-variable name. Returns
    /// `Ok(false)` for a name this crate does not own, so the caller can pass every variable.
    pub fn apply_setting(&mut self, name: &str, value: &str) -> Result<bool> {
        let bad = |reason| Error::InvalidOption {
            name: name.into(),
            value: value.into(),
            reason,
        };
        let int = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| bad("expected a whole number"))
        };
        match name {
            "PERSISTENCE_WAL_SYNC" => self.sync = value.parse()?,
            "PERSISTENCE_MEMTABLES_MAX_SIZE_MB" => {
                // Whole MiB as Weaviate; weft also takes fractions (0.25) for small setups.
                let mb: f64 = value
                    .trim()
                    .parse()
                    .map_err(|_| bad("expected a number of MiB"))?;
                if !mb.is_finite() || mb < 1.0 / 1024.0 {
                    return Err(bad("must be at least 1 KiB (0.001)"));
                }
                self.memtable_max_bytes = (mb * f64::from(1u32 << 20)) as u64;
            }
            "PERSISTENCE_LSM_COMPACTION_INTERVAL" => {
                let d = parse_duration(value)
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| bad("expected a duration such as 100ms, 1s or 1m"))?;
                self.compaction_interval = d;
            }
            "PERSISTENCE_MEMTABLES_FLUSH_DIRTY_AFTER_SECONDS"
            | "PERSISTENCE_FLUSH_IDLE_MEMTABLES_AFTER" => {
                self.flush_dirty_after = Duration::from_secs(int(value)?);
            }
            "PERSISTENCE_FILE_DELETION_GRACE" => {
                self.file_deletion_grace = parse_duration(value)
                    .ok_or_else(|| bad("expected a duration such as 900, 900s, 15m or 1h"))?;
            }
            "PERSISTENCE_LSM_MAX_SEGMENT_SIZE" => {
                self.max_segment_bytes = parse_bytes(value)
                    .ok_or_else(|| bad("expected bytes such as 1073741824 or 8GB"))?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok()?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => return Some(Duration::from_millis(n)),
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

fn parse_bytes(v: &str) -> Option<u64> {
    let v = v.trim().to_ascii_uppercase();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "KIB" => 1 << 10,
        "MB" | "MIB" => 1 << 20,
        "GB" | "GIB" => 1 << 30,
        "TB" | "TIB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weaviate_names_set_typed_fields() {
        let mut o = Options::default();
        assert!(
            o.apply_setting("PERSISTENCE_MEMTABLES_MAX_SIZE_MB", "10")
                .unwrap()
        );
        assert_eq!(o.memtable_max_bytes, 10 << 20);
        assert!(
            o.apply_setting("PERSISTENCE_MEMTABLES_FLUSH_DIRTY_AFTER_SECONDS", "5")
                .unwrap()
        );
        assert_eq!(o.flush_dirty_after, Duration::from_secs(5));
        assert!(
            o.apply_setting("PERSISTENCE_WAL_SYNC", "interval:50")
                .unwrap()
        );
        assert_eq!(o.sync, SyncPolicy::Interval(Duration::from_millis(50)));
        assert!(
            o.apply_setting("PERSISTENCE_FILE_DELETION_GRACE", "2m")
                .unwrap()
        );
        assert_eq!(o.file_deletion_grace, Duration::from_secs(120));
        assert!(
            o.apply_setting("PERSISTENCE_LSM_MAX_SEGMENT_SIZE", "8GB")
                .unwrap()
        );
        assert_eq!(o.max_segment_bytes, 8 << 30);
        assert!(!o.apply_setting("QUERY_DEFAULTS_LIMIT", "10").unwrap());
        let err = o
            .apply_setting("PERSISTENCE_WAL_SYNC", "sometimes")
            .unwrap_err();
        assert!(err.to_string().contains("PERSISTENCE_WAL_SYNC"), "{err}");
        assert!(
            o.apply_setting("PERSISTENCE_MEMTABLES_MAX_SIZE_MB", "0")
                .is_err()
        );
        assert_eq!("none".parse::<SyncPolicy>().unwrap().to_string(), "none");
    }
}
