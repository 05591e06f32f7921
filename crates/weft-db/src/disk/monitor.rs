//! The monitor's state machine: one [`Monitor::tick`] per reading, no threads, no clock.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use weft_io::disk::DiskUsage;

use super::{DiskOptions, RECOVERY_MIN_FREE_BYTES};
use crate::error::DbError;
use crate::objects::STORAGE_FAILURE;
use crate::schema::{ShardState, reason};

/// First pause between two repeated warnings; it doubles up to [`WARNING_BACKOFF_MAX`].
const WARNING_BACKOFF_START: Duration = Duration::from_secs(1);
const WARNING_BACKOFF_MAX: Duration = Duration::from_secs(600);
/// Without more free space, a failed shard is retried after this pause, doubling up to
/// [`RECOVERY_RETRY_MAX`] while attempts fail (a transient I/O error heals this way).
const RECOVERY_RETRY_START: Duration = Duration::from_secs(5);
const RECOVERY_RETRY_MAX: Duration = Duration::from_secs(300);

/// One shard as the monitor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShardView {
    pub class: String,
    pub name: String,
    pub status: ShardState,
    pub reason: String,
    /// The storage engine refuses writes after an I/O failure.
    pub poisoned: bool,
}

/// What the monitor may do to shards (the database; a stub in tests).
pub(crate) trait ShardControl {
    /// Every shard with its status.
    fn shards(&self) -> Vec<ShardView>;
    /// Sets one shard's status.
    fn set_status(
        &self,
        class: &str,
        shard: &str,
        status: ShardState,
        reason: &str,
    ) -> Result<(), DbError>;
    /// Reopens the poisoned shards of `class` and sets those READONLY by a storage failure
    /// back to READY.
    fn recover(&self, class: &str) -> Result<bool, DbError>;
}

/// Why the shards are read-only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Pressure {
    /// used% above the read-only percentage (and less than the cap available).
    Percentage { used: f64, threshold: f64 },
    /// Less available than the floor.
    Floor { available: u64, floor: u64 },
}

/// What one tick did (for tests and the caller's curiosity).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TickReport {
    /// The usage warning was logged.
    pub warned: bool,
    /// Pressure began: shards were set READONLY and `set_shard_read_only` logged.
    pub entered_read_only: Option<Pressure>,
    /// Pressure ended: shards READONLY by pressure were set READY.
    pub released: bool,
    /// Classes whose storage-failed shards were recovered.
    pub recovered: Vec<String>,
}

#[derive(Debug, Clone)]
struct Backoff {
    start: Duration,
    max: Duration,
    delay: Duration,
    next: Option<Instant>,
}

impl Backoff {
    fn new(start: Duration, max: Duration) -> Self {
        Self {
            start,
            max,
            delay: start,
            next: None,
        }
    }

    fn ready(&self, now: Instant) -> bool {
        self.next.is_none_or(|t| now >= t)
    }

    fn fired(&mut self, now: Instant) {
        self.next = Some(now + self.delay);
        self.delay = (self.delay * 2).min(self.max);
    }

    fn reset(&mut self) {
        self.delay = self.start;
        self.next = None;
    }
}

/// The disk-use monitor's state between readings.
#[derive(Debug)]
pub(crate) struct Monitor {
    options: DiskOptions,
    path: PathBuf,
    /// In a pressure episode (shards were set READONLY by it).
    read_only: bool,
    warning: Backoff,
    read_error: Backoff,
    /// When failed shards were first seen and how much was available then.
    failure_seen: Option<(Instant, u64)>,
    recovery_delay: Duration,
    /// The free-bytes floor rule was logged (at the first reading).
    floor_logged: bool,
}

impl Monitor {
    pub(crate) fn new(options: DiskOptions, path: PathBuf) -> Self {
        Self {
            options,
            path,
            read_only: false,
            warning: Backoff::new(WARNING_BACKOFF_START, WARNING_BACKOFF_MAX),
            read_error: Backoff::new(WARNING_BACKOFF_START, WARNING_BACKOFF_MAX),
            failure_seen: None,
            recovery_delay: RECOVERY_RETRY_START,
            floor_logged: false,
        }
    }

    fn log_floor(&mut self, usage: &DiskUsage) {
        if std::mem::replace(&mut self.floor_logged, true) {
            return;
        }
        let o = &self.options;
        let floor = o.min_free_bytes(usage.total);
        let rule = if floor == 0 {
            "disabled (DISK_USE_READONLY_MIN_FREE_MB=0)".to_string()
        } else if o.readonly_min_free_auto {
            format!(
                "the smaller of {:.0} MiB and {}% of this {:.0} MiB volume",
                mib(o.readonly_min_free_bytes),
                super::AUTO_FLOOR_PERCENT,
                mib(usage.total)
            )
        } else {
            "DISK_USE_READONLY_MIN_FREE_MB".to_string()
        };
        tracing::info!(
            action = "read_disk_use",
            path = %self.path.display(),
            floor_mib = mib(floor),
            "shards turn READONLY when less than {:.1} MiB are available: {rule}",
            mib(floor)
        );
    }

    pub(crate) fn options(&self) -> &DiskOptions {
        &self.options
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Acts on one reading.
    pub(crate) fn tick(
        &mut self,
        usage: io::Result<DiskUsage>,
        now: Instant,
        shards: &dyn ShardControl,
    ) -> TickReport {
        let mut report = TickReport::default();
        let usage = match usage {
            Ok(usage) => {
                self.read_error.reset();
                usage
            }
            Err(err) => {
                if self.read_error.ready(now) {
                    tracing::warn!(
                        action = "read_disk_use",
                        path = %self.path.display(),
                        "cannot read disk usage: {err}"
                    );
                    self.read_error.fired(now);
                }
                return report;
            }
        };
        self.log_floor(&usage);
        let used = usage.used_percent();
        const GB: f64 = 1_000_000_000.0;
        tracing::debug!(
            action = "disk_use_stats",
            path = %self.path.display(),
            "total: {:.2}GB, free: {:.2}GB, used: {:.2}GB (avail: {:.2}GB)",
            usage.total as f64 / GB,
            usage.free as f64 / GB,
            usage.total.saturating_sub(usage.free) as f64 / GB,
            usage.available as f64 / GB,
        );
        report.warned = self.warn(used, now);
        self.mark_poisoned(shards);
        match self.pressure(&usage) {
            Some(pressure) => {
                report.entered_read_only = self.hold_read_only(pressure, shards);
            }
            None => {
                if self.read_only {
                    self.release(shards);
                    report.released = true;
                }
                report.recovered = self.recover_failed(&usage, now, shards);
            }
        }
        report
    }

    /// Whether the readings call for READONLY, and why.
    pub(crate) fn pressure(&self, usage: &DiskUsage) -> Option<Pressure> {
        let o = &self.options;
        let floor = o.min_free_bytes(usage.total);
        if floor > 0 && usage.available < floor {
            return Some(Pressure::Floor {
                available: usage.available,
                floor,
            });
        }
        let used = usage.used_percent();
        let threshold = f64::from(o.readonly_percentage);
        let capped = o.readonly_percentage_max_free_bytes > 0
            && usage.available >= o.readonly_percentage_max_free_bytes;
        (o.readonly_percentage > 0 && used > threshold && !capped)
            .then_some(Pressure::Percentage { used, threshold })
    }

    fn warn(&mut self, used: f64, now: Instant) -> bool {
        let threshold = f64::from(self.options.warning_percentage);
        if self.options.warning_percentage == 0 || used <= threshold {
            self.warning.reset();
            return false;
        }
        if !self.warning.ready(now) {
            return false;
        }
        tracing::warn!(
            action = "read_disk_use",
            path = %self.path.display(),
            "disk usage currently at {used:.2}%, threshold set to {threshold:.2}%"
        );
        self.warning.fired(now);
        true
    }

    /// A shard whose engine is poisoned (e.g. a background flush hit ENOSPC) but that is not
    /// READONLY yet is set READONLY, so writes fail fast and recovery picks it up.
    fn mark_poisoned(&self, shards: &dyn ShardControl) {
        for s in shards.shards() {
            if s.poisoned && s.status != ShardState::ReadOnly {
                self.set(shards, &s, ShardState::ReadOnly, STORAGE_FAILURE);
            }
        }
    }

    /// Sets READONLY every shard not READONLY yet. Within an episode, a shard a user set
    /// READY by hand is left alone; a new episode overrides it.
    fn hold_read_only(
        &mut self,
        pressure: Pressure,
        shards: &dyn ShardControl,
    ) -> Option<Pressure> {
        let entering = !self.read_only;
        for s in shards.shards() {
            if s.status == ShardState::ReadOnly || (!entering && s.reason == reason::MANUAL) {
                continue;
            }
            self.set(shards, &s, ShardState::ReadOnly, reason::RESOURCE_PRESSURE);
        }
        if !entering {
            return None;
        }
        self.read_only = true;
        let path = self.path.display();
        match pressure {
            Pressure::Percentage { used, threshold } => tracing::warn!(
                action = "set_shard_read_only",
                path = %path,
                "Set READONLY, disk usage currently at {used:.2}%, threshold set to {threshold:.2}%"
            ),
            Pressure::Floor { available, floor } => tracing::warn!(
                action = "set_shard_read_only",
                path = %path,
                "Set READONLY, available disk space {:.2} MiB is below the floor of {:.2} MiB",
                mib(available),
                mib(floor)
            ),
        }
        Some(pressure)
    }

    /// Pressure is over: shards READONLY because of it go back to READY.
    fn release(&mut self, shards: &dyn ShardControl) {
        self.read_only = false;
        for s in shards.shards() {
            if s.status == ShardState::ReadOnly && s.reason == reason::RESOURCE_PRESSURE {
                self.set(shards, &s, ShardState::Ready, reason::BELOW_THRESHOLD);
            }
        }
        tracing::info!(
            action = "set_shard_ready",
            path = %self.path.display(),
            "Resource usage below threshold. Set shards back to READY"
        );
    }

    /// Reopens shards a storage failure left READONLY once space was freed: at least
    /// [`RECOVERY_MIN_FREE_BYTES`] more available than when the failure was seen (a WAL that
    /// hit ENOSPC with a little room left would fail again at once). Without new space it
    /// retries after a pause that doubles while attempts fail.
    fn recover_failed(
        &mut self,
        usage: &DiskUsage,
        now: Instant,
        shards: &dyn ShardControl,
    ) -> Vec<String> {
        let failed: BTreeSet<String> = shards
            .shards()
            .into_iter()
            .filter(|s| {
                s.poisoned || (s.status == ShardState::ReadOnly && s.reason == STORAGE_FAILURE)
            })
            .map(|s| s.class)
            .collect();
        if failed.is_empty() {
            self.failure_seen = None;
            return Vec::new();
        }
        let Some((since, baseline)) = self.failure_seen else {
            self.failure_seen = Some((now, usage.available));
            return Vec::new();
        };
        let freed = usage.available >= baseline.saturating_add(RECOVERY_MIN_FREE_BYTES);
        let due = now >= since + self.recovery_delay;
        if usage.available < RECOVERY_MIN_FREE_BYTES || !(freed || due) {
            return Vec::new();
        }
        // The next failure (if this attempt does not hold) starts a new observation.
        self.failure_seen = None;
        let mut recovered = Vec::new();
        let mut all_ok = true;
        for class in failed {
            match shards.recover(&class) {
                Ok(_) => {
                    tracing::info!(
                        action = "set_shard_ready",
                        class = %class,
                        path = %self.path.display(),
                        "storage failure recovered: shard reopened and set back to READY"
                    );
                    recovered.push(class);
                }
                Err(err) => {
                    all_ok = false;
                    tracing::warn!(
                        action = "set_shard_ready",
                        class = %class,
                        error = %crate::error::chain(&err),
                        "recovering the shard after a storage failure failed; retrying later"
                    );
                }
            }
        }
        self.recovery_delay = if all_ok && freed {
            RECOVERY_RETRY_START
        } else {
            (self.recovery_delay * 2).min(RECOVERY_RETRY_MAX)
        };
        recovered
    }

    fn set(&self, shards: &dyn ShardControl, s: &ShardView, status: ShardState, why: &str) {
        if let Err(err) = shards.set_status(&s.class, &s.name, status, why) {
            tracing::error!(
                action = "set_shard_read_only",
                class = %s.class,
                shard = %s.name,
                "failed to set to {status}: shard {:?}: {err}",
                s.name
            );
        }
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1u32 << 20)
}
