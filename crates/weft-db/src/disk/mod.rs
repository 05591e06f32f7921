//! The disk-use monitor: Weaviate's warning and READONLY thresholds, plus a free-bytes floor,
//! automatic return to READY, and recovery of shards a full disk poisoned.
//!
//! A std thread owned by [`crate::Db`] reads `statvfs` of the data path every
//! [`DiskOptions::interval`] and hands the reading to [`Monitor::tick`], a synchronous state
//! machine that is unit-tested with injected readings. Rules (decision record 0007):
//!
//! * used% = (blocks − bfree) / blocks × 100, as Weaviate;
//! * warning when used% > `warning_percentage` (exponential back-off between repeats);
//! * READONLY (reason `resource pressure`) when available < `readonly_min_free_bytes` (the
//!   floor), or when used% > `readonly_percentage` **and** available <
//!   `readonly_percentage_max_free_bytes` (a huge disk with plenty of room is not locked);
//! * below both: shards READONLY by pressure go back to READY; shards READONLY by a storage
//!   failure (ENOSPC, I/O error) are reopened and set READY once at least
//!   [`RECOVERY_MIN_FREE_BYTES`] are available. Shards set READONLY by hand are never touched.

mod monitor;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub(crate) use monitor::{Monitor, ShardControl, ShardView};
use parking_lot::{Condvar, Mutex};
use weft_io::disk::DiskUsage;

use crate::db::ShardRegistry;
use crate::error::DbError;
use crate::schema::ShardState;

/// A storage-failed shard is only reopened when at least this much space is available.
pub const RECOVERY_MIN_FREE_BYTES: u64 = 1 << 20;

/// The automatic free-bytes floor: this share of the volume (capped by the configured floor).
pub const AUTO_FLOOR_PERCENT: u8 = 5;

/// Where readings come from: `weft_io::disk::disk_usage` in production, a stub in tests.
pub(crate) type UsageSource = Arc<dyn Fn(&Path) -> io::Result<DiskUsage> + Send + Sync>;

/// The real source: `statvfs` of the path.
pub(crate) fn statvfs_source() -> UsageSource {
    Arc::new(weft_io::disk::disk_usage)
}

/// Thresholds of the disk-use monitor. `Default` disables every threshold (the monitor then
/// only recovers shards a storage failure poisoned); the binary sets Weaviate's 80/90.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DiskOptions {
    /// `DISK_USE_WARNING_PERCENTAGE`: log a warning above this used %; 0 disables.
    pub warning_percentage: u8,
    /// `DISK_USE_READONLY_PERCENTAGE`: shards turn READONLY above this used %; 0 disables.
    pub readonly_percentage: u8,
    /// `DISK_USE_READONLY_MIN_FREE_MB` (in bytes): shards turn READONLY when less than this is
    /// available, whatever the percentage; 0 disables.
    pub readonly_min_free_bytes: u64,
    /// The floor scales with the volume: the smaller of `readonly_min_free_bytes` and
    /// [`AUTO_FLOOR_PERCENT`] % of the volume (the default, so a small volume is not READONLY
    /// at a few percent used).
    pub readonly_min_free_auto: bool,
    /// `DISK_USE_READONLY_PERCENTAGE_MAX_FREE_MB` (in bytes): the read-only percentage only
    /// counts while less than this is available; 0 = always (exactly Weaviate).
    pub readonly_percentage_max_free_bytes: u64,
    /// Time between two readings (Weaviate: 500 ms).
    pub interval: Duration,
}

impl Default for DiskOptions {
    fn default() -> Self {
        Self {
            warning_percentage: 0,
            readonly_percentage: 0,
            readonly_min_free_bytes: 0,
            readonly_min_free_auto: false,
            readonly_percentage_max_free_bytes: 0,
            interval: Duration::from_millis(500),
        }
    }
}

impl DiskOptions {
    /// Sets the warning and read-only percentages (0 disables either).
    pub fn with_percentages(mut self, warning: u8, readonly: u8) -> Self {
        self.warning_percentage = warning;
        self.readonly_percentage = readonly;
        self
    }

    /// Sets the free-bytes floor (0 disables).
    pub fn with_min_free_bytes(mut self, bytes: u64) -> Self {
        self.readonly_min_free_bytes = bytes;
        self.readonly_min_free_auto = false;
        self
    }

    /// Sets the free-bytes floor to scale with the volume, at most `cap` bytes.
    pub fn with_min_free_bytes_auto(mut self, cap: u64) -> Self {
        self.readonly_min_free_bytes = cap;
        self.readonly_min_free_auto = true;
        self
    }

    /// The floor in force on a volume of `total` bytes.
    pub fn min_free_bytes(&self, total: u64) -> u64 {
        if self.readonly_min_free_auto {
            self.readonly_min_free_bytes
                .min(total / 100 * u64::from(AUTO_FLOOR_PERCENT))
        } else {
            self.readonly_min_free_bytes
        }
    }

    /// Sets the available space above which the read-only percentage is ignored (0 = never).
    pub fn with_percentage_max_free_bytes(mut self, bytes: u64) -> Self {
        self.readonly_percentage_max_free_bytes = bytes;
        self
    }
}

impl ShardControl for ShardRegistry {
    fn shards(&self) -> Vec<ShardView> {
        let collections = self.collections.read();
        self.catalog
            .all_shards()
            .into_iter()
            .map(|(class, s)| ShardView {
                poisoned: collections
                    .get(&class)
                    .or_else(|| collections.get(&crate::db::tenant_key(&class, &s.name)))
                    .is_some_and(|c| c.shard_name() == s.name && c.is_poisoned()),
                class,
                name: s.name,
                status: s.status,
                reason: s.reason,
            })
            .collect()
    }

    fn set_status(
        &self,
        class: &str,
        shard: &str,
        status: ShardState,
        reason: &str,
    ) -> Result<(), DbError> {
        self.catalog
            .set_shard_status(class, shard, status, reason)
            .map(drop)
    }

    fn recover(&self, class: &str) -> Result<bool, DbError> {
        ShardRegistry::recover(self, class)
    }
}

#[derive(Debug, Default)]
struct StopSignal {
    stopped: Mutex<bool>,
    wake: Condvar,
}

/// The running monitor thread; stopping (or dropping) it joins the thread.
#[derive(Debug)]
pub(crate) struct MonitorThread {
    signal: Arc<StopSignal>,
    thread: Option<JoinHandle<()>>,
}

impl MonitorThread {
    /// Starts a thread that calls `monitor.tick` with a reading of `source` every interval.
    pub(crate) fn spawn(
        mut monitor: Monitor,
        source: UsageSource,
        shards: ShardRegistry,
    ) -> io::Result<Self> {
        let signal = Arc::new(StopSignal::default());
        let theirs = Arc::clone(&signal);
        let thread = std::thread::Builder::new()
            .name("weft-disk-monitor".into())
            .spawn(move || {
                let interval = monitor.options().interval;
                let path: PathBuf = monitor.path().to_path_buf();
                loop {
                    {
                        let mut stopped = theirs.stopped.lock();
                        if !*stopped {
                            theirs.wake.wait_for(&mut stopped, interval);
                        }
                        if *stopped {
                            return;
                        }
                    }
                    monitor.tick(source(&path), Instant::now(), &shards);
                }
            })?;
        Ok(Self {
            signal,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        *self.signal.stopped.lock() = true;
        self.signal.wake.notify_all();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(action = "disk_monitor", "the disk monitor thread panicked");
        }
    }
}

impl Drop for MonitorThread {
    fn drop(&mut self) {
        self.shutdown();
    }
}
