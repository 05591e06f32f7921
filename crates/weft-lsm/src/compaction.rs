//! Compaction: merging adjacent segments of a bucket into one (generation + 1) in the
//! background, and the thread that looks for work. Readers keep their snapshot of the old
//! segments; the inputs become obsolete and are deleted after the grace period.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::merge::MergeIter;
use crate::segment::{Segment, SegmentSpec, SegmentWriter};
use crate::shard::{Bucket, Inner, TMP_DIR, View, segment_name};

impl Inner {
    /// Merges adjacent segments of one bucket. With `full`, all of them; otherwise, when the
    /// bucket has at least `compaction_min_segments`, the adjacent pair with the smallest
    /// combined size. Returns whether it did anything.
    pub(crate) fn compact_bucket(&self, b: &Arc<Bucket>, full: bool) -> Result<bool> {
        let _guard = self.compaction.lock();
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
        let inputs: Vec<Arc<Segment>> = segs[run.clone()].to_vec();
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
        let result = (|| {
            let mut w = SegmentWriter::create(self.vfs.as_ref(), &tmp, &spec)?;
            for item in MergeIter::over_segments(&inputs) {
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
            w.finish()?;
            let rel = b.rel_dir().join(segment_name(file_no));
            let dst = self.dir.join(&rel);
            self.vfs
                .rename(&tmp, &dst)
                .map_err(Error::io("rename", &dst))?;
            let d = self.dir.join(b.rel_dir());
            self.vfs
                .sync_dir(&d)
                .map_err(Error::io("fsync directory", &d))?;
            Segment::open(self.vfs.as_ref(), &dst, rel)
        })();
        let out = match result {
            Ok(seg) => Arc::new(seg),
            Err(e) => {
                // Inputs are untouched; a leftover temp file is removed at the next open.
                let _ = self.vfs.remove_file(&tmp);
                return Err(e);
            }
        };
        {
            let mut v = b.view.write();
            let mut nv = View::clone(&v);
            let pos = nv.segments.iter().position(|s| Arc::ptr_eq(s, first));
            let Some(pos) = pos else { return Ok(false) };
            nv.segments.splice(pos..pos + inputs.len(), [out]);
            *v = Arc::new(nv);
        }
        for s in inputs {
            self.gc.mark(s.rel.clone(), Some(s));
        }
        Ok(true)
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
            let buckets: Vec<_> = self.buckets.read().values().cloned().collect();
            for b in buckets {
                // Compaction failures never touch acknowledged data; retried next round.
                while matches!(self.compact_bucket(&b, false), Ok(true)) {
                    if self.signal.lock().stop {
                        return;
                    }
                }
            }
        }
    }
}
