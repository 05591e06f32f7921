//! The monitor with injected readings: against a stub of the shards, and inside a real `Db`.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::json;
use uuid::Uuid;
use weft_io::disk::DiskUsage;

use super::monitor::{Pressure, TickReport};
use super::*;
use crate::object::{ObjectInput, WriteMode};
use crate::objects::STORAGE_FAILURE;
use crate::schema::{ClassDef, reason};
use crate::{Db, DbOptions};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// A disk of `total` bytes with `used_percent` used and nothing reserved.
fn disk(total: u64, used_percent: u64) -> DiskUsage {
    let free = total / 100 * (100 - used_percent);
    DiskUsage {
        total,
        free,
        available: free,
    }
}

#[derive(Default)]
struct Stub {
    shards: Mutex<Vec<ShardView>>,
    recovered: Mutex<Vec<String>>,
    fail_recovery: Mutex<bool>,
}

impl Stub {
    fn with(shards: &[(&str, ShardState, &str)]) -> Self {
        let stub = Self::default();
        for (name, status, why) in shards {
            stub.add(name, *status, why);
        }
        stub
    }

    fn add(&self, name: &str, status: ShardState, why: &str) {
        self.shards.lock().push(ShardView {
            class: format!("C{name}"),
            name: name.into(),
            status,
            reason: why.into(),
            poisoned: false,
        });
    }

    fn get(&self, name: &str) -> (ShardState, String) {
        let shards = self.shards.lock();
        let s = shards.iter().find(|s| s.name == name).unwrap();
        (s.status, s.reason.clone())
    }
}

impl ShardControl for Stub {
    fn shards(&self) -> Vec<ShardView> {
        self.shards.lock().clone()
    }

    fn set_status(
        &self,
        _class: &str,
        shard: &str,
        status: ShardState,
        reason: &str,
    ) -> Result<(), DbError> {
        let mut shards = self.shards.lock();
        let s = shards.iter_mut().find(|s| s.name == shard).unwrap();
        s.status = status;
        s.reason = reason.into();
        Ok(())
    }

    fn recover(&self, class: &str) -> Result<bool, DbError> {
        if *self.fail_recovery.lock() {
            return Err(DbError::Poisoned);
        }
        self.recovered.lock().push(class.into());
        let mut shards = self.shards.lock();
        for s in shards.iter_mut().filter(|s| s.class == class) {
            s.poisoned = false;
            if s.reason == STORAGE_FAILURE {
                s.status = ShardState::Ready;
                s.reason = reason::BELOW_THRESHOLD.into();
            }
        }
        Ok(true)
    }
}

fn monitor(options: DiskOptions) -> Monitor {
    Monitor::new(options, PathBuf::from("/data"))
}

#[test]
fn warnings_back_off_exponentially_and_reset_below_the_threshold() {
    let mut m = monitor(DiskOptions::default().with_percentages(80, 0));
    let stub = Stub::default();
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut warned = Vec::new();
    for ms in (0..=8000).step_by(500) {
        if m.tick(Ok(disk(100 * GIB, 85)), at(ms), &stub).warned {
            warned.push(ms);
        }
    }
    // 1 s, then 2 s, then 4 s between repeats.
    assert_eq!(warned, [0, 1000, 3000, 7000]);
    assert!(!m.tick(Ok(disk(100 * GIB, 50)), at(8500), &stub).warned);
    assert!(m.tick(Ok(disk(100 * GIB, 85)), at(9000), &stub).warned);
    let off = &mut monitor(DiskOptions::default());
    assert!(!off.tick(Ok(disk(100 * GIB, 99)), t0, &stub).warned);
}

#[test]
fn pressure_sets_readonly_then_ready_and_leaves_manual_shards_alone() {
    let mut m = monitor(DiskOptions::default().with_percentages(80, 90));
    let stub = Stub::with(&[
        ("a", ShardState::Ready, ""),
        ("m", ShardState::ReadOnly, reason::MANUAL),
    ]);
    let now = Instant::now();
    let report = m.tick(Ok(disk(100 * GIB, 95)), now, &stub);
    assert!(
        matches!(report.entered_read_only, Some(Pressure::Percentage { used, threshold })
            if (used - 95.0).abs() < 0.01 && (threshold - 90.0).abs() < f64::EPSILON),
        "{report:?}"
    );
    assert_eq!(
        stub.get("a"),
        (ShardState::ReadOnly, reason::RESOURCE_PRESSURE.into())
    );
    assert_eq!(stub.get("m"), (ShardState::ReadOnly, reason::MANUAL.into()));

    // Later ticks of the same episode do not log again but cover new shards; a shard set
    // READY by hand during the episode is respected.
    stub.add("new", ShardState::Ready, "");
    stub.add("override", ShardState::Ready, reason::MANUAL);
    let report = m.tick(Ok(disk(100 * GIB, 95)), now, &stub);
    assert_eq!(report.entered_read_only, None);
    assert_eq!(stub.get("new").0, ShardState::ReadOnly);
    assert_eq!(stub.get("override").0, ShardState::Ready);

    let report = m.tick(Ok(disk(100 * GIB, 70)), now, &stub);
    assert!(report.released);
    assert_eq!(
        stub.get("a"),
        (ShardState::Ready, reason::BELOW_THRESHOLD.into())
    );
    assert_eq!(stub.get("new").0, ShardState::Ready);
    assert_eq!(stub.get("m"), (ShardState::ReadOnly, reason::MANUAL.into()));
    let again = m.tick(Ok(disk(100 * GIB, 70)), now, &stub);
    assert_eq!(again, TickReport::default());

    // A new episode overrides a manual READY.
    let report = m.tick(Ok(disk(100 * GIB, 95)), now, &stub);
    assert!(report.entered_read_only.is_some());
    assert_eq!(stub.get("override").0, ShardState::ReadOnly);
}

#[test]
fn floor_applies_below_the_percentage_and_a_roomy_disk_ignores_the_percentage() {
    let options = DiskOptions::default()
        .with_percentages(80, 90)
        .with_min_free_bytes(512 * MIB)
        .with_percentage_max_free_bytes(32 * GIB);
    let m = monitor(options);
    // A 1 GiB disk at 60 %: 400 MiB left is below the floor.
    let small = disk(GIB, 60);
    assert!(
        matches!(m.pressure(&small), Some(Pressure::Floor { floor, .. }) if floor == 512 * MIB)
    );
    assert_eq!(m.pressure(&disk(GIB, 40)), None);
    // 10 TB at 95 %: 500 GB left is plenty; at 99.8 % (20 GB left) the percentage counts.
    assert_eq!(m.pressure(&disk(10_000 * GIB, 95)), None);
    let nearly_full = DiskUsage {
        total: 10_000 * GIB,
        free: 20 * GIB,
        available: 20 * GIB,
    };
    assert!(matches!(
        m.pressure(&nearly_full),
        Some(Pressure::Percentage { .. })
    ));
    // With no cap, the percentage alone decides (Weaviate's rule).
    let weaviate = monitor(DiskOptions::default().with_percentages(80, 90));
    assert!(weaviate.pressure(&disk(10_000 * GIB, 95)).is_some());

    let mut m = monitor(DiskOptions::default().with_min_free_bytes(512 * MIB));
    let stub = Stub::with(&[("a", ShardState::Ready, "")]);
    let now = Instant::now();
    assert!(
        m.tick(Ok(disk(GIB, 60)), now, &stub)
            .entered_read_only
            .is_some()
    );
    assert_eq!(stub.get("a").0, ShardState::ReadOnly);
    assert!(m.tick(Ok(disk(GIB, 10)), now, &stub).released);
    assert_eq!(stub.get("a").0, ShardState::Ready);
}

#[test]
fn storage_failures_recover_when_space_returns_with_backoff() {
    let mut m = monitor(DiskOptions::default());
    let stub = Stub::with(&[("a", ShardState::ReadOnly, STORAGE_FAILURE)]);
    stub.add("p", ShardState::Ready, "");
    stub.shards.lock()[1].poisoned = true;
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    // ENOSPC with 2 MiB still available (e.g. a preallocating writer).
    let full = DiskUsage {
        total: 8 * MIB,
        free: 2 * MIB,
        available: 2 * MIB,
    };
    assert!(m.tick(Ok(full), at(0), &stub).recovered.is_empty());
    // The poisoned shard was marked READONLY even though no write saw the failure.
    assert_eq!(
        stub.get("p"),
        (ShardState::ReadOnly, STORAGE_FAILURE.into())
    );
    // No new space: no attempt before the retry pause (5 s).
    assert!(m.tick(Ok(full), at(500), &stub).recovered.is_empty());
    assert!(stub.recovered.lock().is_empty());

    // Space freed: an attempt at once; it fails, so the next waits (10 s without new space).
    *stub.fail_recovery.lock() = true;
    let freed = disk(8 * MIB, 25);
    assert!(m.tick(Ok(freed), at(1000), &stub).recovered.is_empty());
    *stub.fail_recovery.lock() = false;
    assert!(m.tick(Ok(freed), at(1500), &stub).recovered.is_empty());
    assert!(m.tick(Ok(freed), at(9000), &stub).recovered.is_empty());
    assert!(stub.recovered.lock().is_empty());
    let report = m.tick(Ok(freed), at(11_600), &stub);
    assert_eq!(report.recovered, ["Ca", "Cp"]);
    assert_eq!(
        stub.get("a"),
        (ShardState::Ready, reason::BELOW_THRESHOLD.into())
    );
    assert_eq!(stub.get("p").0, ShardState::Ready);

    // A nearly full disk never triggers an attempt.
    stub.add("z", ShardState::ReadOnly, STORAGE_FAILURE);
    let tiny = DiskUsage {
        total: 8 * MIB,
        free: 4096,
        available: 4096,
    };
    for ms in [20_000, 600_000, 1_200_000] {
        assert!(m.tick(Ok(tiny), at(ms), &stub).recovered.is_empty());
    }
}

#[test]
fn a_failed_reading_changes_nothing() {
    let mut m = monitor(DiskOptions::default().with_percentages(80, 90));
    let stub = Stub::with(&[("a", ShardState::Ready, "")]);
    let report = m.tick(Err(io::Error::other("gone")), Instant::now(), &stub);
    assert_eq!(report, TickReport::default());
    assert_eq!(stub.get("a").0, ShardState::Ready);
}

/// The thread inside a real database: writes are refused under pressure and accepted again
/// once it ends, without a restart.
#[test]
fn database_turns_readonly_and_back_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let reading = Arc::new(Mutex::new(disk(100 * GIB, 50)));
    let source: UsageSource = {
        let reading = Arc::clone(&reading);
        Arc::new(move |_: &std::path::Path| Ok(*reading.lock()))
    };
    let mut options = DbOptions::new(dir.path(), "node1");
    options.storage = options.storage.background(false);
    options.disk = DiskOptions::default().with_percentages(80, 90);
    options.disk.interval = Duration::from_millis(5);
    let db = Db::open_with_usage(options, source).unwrap();
    db.create_class(ClassDef::new("Doc")).unwrap();
    let put = |id: u128| {
        db.put_object(
            ObjectInput {
                class: "Doc".into(),
                id: Some(Uuid::from_u128(id)),
                properties: json!({}).as_object().cloned().unwrap_or_default(),
                ..ObjectInput::default()
            },
            WriteMode::Insert,
        )
    };
    put(1).unwrap();
    let status = || db.shards("Doc").unwrap()[0].status;
    let wait_for = |want: ShardState| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while status() != want {
            assert!(Instant::now() < deadline, "shard never became {want}");
            std::thread::sleep(Duration::from_millis(5));
        }
    };

    *reading.lock() = disk(100 * GIB, 95);
    wait_for(ShardState::ReadOnly);
    let err = put(2).unwrap_err();
    assert!(
        err.to_string()
            .contains("store is read-only due to: resource pressure"),
        "{err}"
    );
    assert!(
        db.get_object("Doc", Uuid::from_u128(1), false)
            .unwrap()
            .is_some()
    );

    *reading.lock() = disk(100 * GIB, 50);
    wait_for(ShardState::Ready);
    put(2).unwrap();
    db.close().unwrap();
}

/// A disk already full at open: shards are READONLY before the first request, and the
/// pressure status is not persisted.
#[test]
fn pressure_at_open_is_applied_before_serving_and_not_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(DbOptions::new(dir.path(), "n")).unwrap();
    db.create_class(ClassDef::new("Doc")).unwrap();
    db.close().unwrap();
    let full: UsageSource = Arc::new(|_: &std::path::Path| Ok(disk(100 * GIB, 99)));
    let mut options = DbOptions::new(dir.path(), "n");
    options.disk = DiskOptions::default().with_percentages(80, 90);
    let db = Db::open_with_usage(options, full).unwrap();
    assert_eq!(db.shards("Doc").unwrap()[0].status, ShardState::ReadOnly);
    db.close().unwrap();
    let db = Db::open(DbOptions::new(dir.path(), "n")).unwrap();
    assert_eq!(db.shards("Doc").unwrap()[0].status, ShardState::Ready);
    db.close().unwrap();
}

#[test]
fn the_automatic_floor_scales_with_a_small_volume() {
    let options = DiskOptions::default()
        .with_percentages(80, 90)
        .with_min_free_bytes_auto(512 * MIB);
    let m = monitor(options.clone());
    // 64 MiB volume: floor = 5 % = 3.2 MiB, so a few percent used is not READONLY.
    assert_eq!(options.min_free_bytes(64 * MIB), 64 * MIB / 100 * 5);
    assert_eq!(m.pressure(&disk(64 * MIB, 5)), None);
    assert_eq!(m.pressure(&disk(64 * MIB, 50)), None);
    // ... but nearly full still is.
    let tiny = DiskUsage {
        total: 64 * MIB,
        free: 2 * MIB,
        available: 2 * MIB,
    };
    assert!(matches!(m.pressure(&tiny), Some(Pressure::Floor { .. })));
    // On a big volume the cap applies.
    assert_eq!(options.min_free_bytes(100 * GIB), 512 * MIB);
    // With the fixed floor of before, the small volume was READONLY at 5 % used.
    let fixed = monitor(DiskOptions::default().with_min_free_bytes(512 * MIB));
    assert!(fixed.pressure(&disk(64 * MIB, 5)).is_some());
}
