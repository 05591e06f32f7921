//! Deferred deletion. A file replaced by a flush or compaction becomes *obsolete*; it is
//! deleted only once the grace period has passed, no reader holds it, and no pin lists it.
//! This is what makes a plain copy of a running data folder recoverable, and what backups use.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use weft_io::Vfs;

use crate::segment::Segment;

#[derive(Debug)]
struct Obsolete {
    rel: PathBuf,
    since: Instant,
    /// Keeps track of readers: deleted only when this is the last reference.
    segment: Option<Arc<Segment>>,
}

#[derive(Debug, Default)]
struct State {
    obsolete: Vec<Obsolete>,
    pins: BTreeMap<u64, BTreeSet<PathBuf>>,
    next_pin: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Gc {
    state: Mutex<State>,
}

impl Gc {
    pub(crate) fn mark(&self, rel: PathBuf, segment: Option<Arc<Segment>>) {
        let mut st = self.state.lock();
        if st.obsolete.iter().any(|o| o.rel == rel) {
            return;
        }
        st.obsolete.push(Obsolete {
            rel,
            since: Instant::now(),
            segment,
        });
    }

    pub(crate) fn pin(&self, files: BTreeSet<PathBuf>) -> u64 {
        let mut st = self.state.lock();
        st.next_pin += 1;
        let id = st.next_pin;
        st.pins.insert(id, files);
        id
    }

    pub(crate) fn unpin(&self, id: u64) {
        self.state.lock().pins.remove(&id);
    }

    pub(crate) fn pending(&self) -> Vec<PathBuf> {
        self.state
            .lock()
            .obsolete
            .iter()
            .map(|o| o.rel.clone())
            .collect()
    }

    /// Deletes what is eligible; returns the deleted paths. A failed deletion is kept for a
    /// later attempt (deleting is never required for correctness).
    pub(crate) fn collect(&self, vfs: &dyn Vfs, shard_dir: &Path, grace: Duration) -> Vec<PathBuf> {
        let mut st = self.state.lock();
        let pinned: BTreeSet<PathBuf> = st.pins.values().flatten().cloned().collect();
        let mut deleted = Vec::new();
        let mut dirs = BTreeSet::new();
        st.obsolete.retain(|o| {
            let held = o.segment.as_ref().is_some_and(|s| Arc::strong_count(s) > 1);
            if o.since.elapsed() < grace || held || pinned.contains(&o.rel) {
                return true;
            }
            let path = shard_dir.join(&o.rel);
            match vfs.remove_file(&path) {
                Ok(()) => {
                    if let Some(p) = path.parent() {
                        dirs.insert(p.to_path_buf());
                    }
                    deleted.push(o.rel.clone());
                    false
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(_) => true,
            }
        });
        drop(st);
        for d in dirs {
            let _ = vfs.sync_dir(&d);
        }
        deleted
    }
}
