//! Compaction: merging adjacent segments of a bucket into one (generation + 1) in the
//! background, and the thread that looks for work. Readers keep their snapshot of the old
//! segments; the inputs become obsolete and are deleted after the grace period.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::merge::MergeIter;
use crate::options::Event;
use crate::segment::{Segment, SegmentSpec, SegmentWriter};
use crate::shard::{Bucket, Inner, TMP_DIR, View, segment_name};

impl Inner {
    /// Merges adjacent segments of one bucket. With `full`, all of them; otherwise, when the
    /// bucket has at least `compaction_min_segments`, the adjacent pair with the smallest
    /// combined size. Returns whether it did anything.
    pub(crate) fn compact_bucket(&self, b: &Arc<Bucket>, full: bool) -> Result<bool> {
        let _guard = self.compaction.lock();
        // A poisoned shard may hold an orphan output that a new compaction would overlap.
        self.wal.check_poison()?;
        let view = b.snapshot();
        let segs = &view.segments;
        let run = if full {
            if segs.len() < 2 && segs.first().is_none_or(|s| s.props.tombstones == 0) {
                return Ok(false);
            }
            0..segs.len()
        } else {
            if segs.len() < self.opts.compaction_min_segments {
                return Ok(false);
            }
            let best = (0..segs.len() - 1)
                .filter(|&i| segs[i].size + segs[i + 1].size <= self.opts.max_segment_bytes)
                .min_by_key(|&i| segs[i].size + segs[i + 1].size);
            match best {
                Some(i) => i..i + 2,
                None => return Ok(false),
            }
        };
        self.compact_run(b, &view, run)
    }

    /// Merges `view.segments[run]` into one segment and installs it. Caller holds the
    /// compaction lock.
    pub(crate) fn compact_run(
        &self,
        b: &Arc<Bucket>,
        view: &View,
        run: std::ops::Range<usize>,
    ) -> Result<bool> {
        let Some(inputs) = view.segments.get(run.clone()).map(<[_]>::to_vec) else {
            return Ok(false);
        };
        let (Some(first), Some(last)) = (inputs.first(), inputs.last()) else {
            return Ok(false);
        };
        let bottom = run.start == 0;
        let file_no = self.next_file_no.fetch_add(1, Ordering::Relaxed);
        let spec = SegmentSpec {
            strategy: b.strategy,
            file_no,
            generation: inputs.iter().map(|s| s.generation()).max().unwrap_or(0) + 1,
            lsn_lo: first.props.lsn_lo,
            lsn_hi: last.props.lsn_hi,
            inputs: inputs.iter().map(|s| s.file_no()).collect(),
            block_bytes: self.opts.block_bytes,
            bloom_bits_per_key: self.opts.bloom_bits_per_key,
        };
        let tmp = self.dir.join(TMP_DIR).join(segment_name(file_no));
        if let Err(e) = self.write_merged(&tmp, &spec, &inputs, bottom) {
            // Inputs are untouched; a leftover temp file is removed at the next open.
            let _ = self.vfs.remove_file(&tmp);
            return Err(e);
        }
        let rel = b.rel_dir().join(segment_name(file_no));
        let dst = self.dir.join(&rel);
        self.vfs
            .rename(&tmp, &dst)
            .map_err(Error::io("rename", &dst))
            .inspect_err(|_| {
                let _ = self.vfs.remove_file(&tmp);
            })?;
        let d = self.dir.join(b.rel_dir());
        let opened = self
            .vfs
            .sync_dir(&d)
            .map_err(Error::io("fsync directory", &d))
            .and_then(|()| Segment::open(self.vfs.as_ref(), &dst, rel));
        let out = match opened {
            Ok(seg) => Arc::new(seg),
            Err(e) => return Err(self.remove_orphan(&dst, &d, e)),
        };
        {
            let mut v = b.view.write();
            let mut nv = View::clone(&v);
            let pos = nv.segments.iter().position(|s| Arc::ptr_eq(s, first));
            let still_there = pos.is_some_and(|p| {
                nv.segments
                    .get(p..p + inputs.len())
                    .is_some_and(|run| run.iter().zip(&inputs).all(|(a, b)| Arc::ptr_eq(a, b)))
            });
            let Some(pos) = pos.filter(|_| still_there) else {
                // The inputs changed under us (cannot happen under the compaction lock): the
                // output must not stay behind as an orphan.
                drop(v);
                let d = self.dir.join(b.rel_dir());
                return Err(self.remove_orphan(
                    &self.dir.join(&out.rel),
                    &d,
                    Error::Missing {
                        dir: self.dir.clone(),
                        reason: "compaction inputs changed during the merge".into(),
                    },
                ));
            };
            nv.segments.splice(pos..pos + inputs.len(), [out]);
            *v = Arc::new(nv);
        }
        for s in inputs {
            self.gc.mark(s.rel.clone(), Some(s));
        }
        Ok(true)
    }

    fn write_merged(
        &self,
        tmp: &std::path::Path,
        spec: &SegmentSpec,
        inputs: &[Arc<Segment>],
        bottom: bool,
    ) -> Result<()> {
        let mut w = SegmentWriter::create(self.vfs.as_ref(), tmp, spec)?;
        for item in MergeIter::over_segments(inputs) {
            let (key, entries) = item?;
            let Some(mut merged) = entries.into_iter().reduce(Entry::merge) else {
                continue;
            };
            if bottom {
                match merged.into_bottom() {
                    Some(e) => merged = e,
                    None => continue,
                }
            }
            w.add(&key, &merged)?;
        }
        w.finish().map(drop)
    }

    /// A compaction output was renamed into the bucket but could not be installed. Left there,
    /// it would cover its inputs at the next open while this process goes on compacting those
    /// inputs into outputs that overlap it partially, and that shard would not open. So it is
    /// removed durably; if even that fails, the shard is poisoned: no further compaction runs,
    /// and a reopen recovers from the files as they are (the orphan is a complete merge of
    /// its inputs, so it is a valid replacement for them).
    fn remove_orphan(&self, dst: &std::path::Path, dir: &std::path::Path, err: Error) -> Error {
        let removed = self
            .vfs
            .remove_file(dst)
            .map_err(Error::io("remove compaction output", dst))
            .and_then(|()| {
                self.vfs
                    .sync_dir(dir)
                    .map_err(Error::io("fsync directory", dir))
            });
        match removed {
            Ok(()) => err,
            Err(cleanup) => {
                self.wal.poison(cleanup);
                err
            }
        }
    }

    pub(crate) fn compaction_loop(&self) {
        loop {
            {
                let mut sig = self.signal.lock();
                if !sig.stop {
                    self.wake.wait_for(&mut sig, self.opts.compaction_interval);
                }
                if sig.stop {
                    return;
                }
            }
            if self.wal.is_poisoned() {
                continue;
            }
            let buckets: Vec<_> = self.buckets.read().values().cloned().collect();
            for b in buckets {
                // Compaction failures never touch acknowledged data; retried next round.
                loop {
                    match self.compact_bucket(&b, false) {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(error) => {
                            self.opts.events.emit(&Event::CompactionFailed {
                                dir: &self.dir,
                                bucket: &b.name,
                                error: &error,
                            });
                            break;
                        }
                    }
                    if self.signal.lock().stop {
                        return;
                    }
                }
            }
        }
    }
}
