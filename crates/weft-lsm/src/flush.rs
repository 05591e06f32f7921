//! Flush: the shard-wide switch at LSN F (WAL rotated, active memtables frozen), one segment
//! per frozen memtable, the flush record that confirms them, installation, and the background
//! thread that triggers flushes, interval syncs and garbage collection.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::flush_record::{self, FlushRecord, FlushedSegment};
use crate::memtable::Memtable;
use crate::options::{Event, SyncPolicy};
use crate::segment::{Segment, SegmentSpec, SegmentWriter};
use crate::shard::{Bucket, FlushState, Inner, TMP_DIR, View, publish, segment_name};

impl Inner {
    pub(crate) fn flush_now(&self) -> Result<()> {
        let mut fs = self.flush.lock();
        self.wal.check_poison()?;
        #[cfg(test)]
        self.run_test_hook();
        let mut frozen: Vec<(Arc<Bucket>, Arc<Memtable>)> = Vec::new();
        let switched = self.wal.switch(|_| {
            // Listed here, under the append lock: a bucket declared while this flush waited
            // for the lock may already hold writes at LSNs <= F, and the flush record F tells
            // recovery to skip them.
            let buckets: Vec<Arc<Bucket>> = self.buckets.read().values().cloned().collect();
            for b in &buckets {
                let mut v = b.view.write();
                if v.active.is_empty() {
                    continue;
                }
                let mut nv = View::clone(&v);
                let old = std::mem::take(&mut nv.active);
                nv.frozen.push(Arc::clone(&old));
                *v = Arc::new(nv);
                frozen.push((Arc::clone(b), old));
            }
            !frozen.is_empty()
        })?;
        let Some(f) = switched else { return Ok(()) };
        self.mem_bytes.store(0, Ordering::Relaxed);
        *self.dirty_since.lock() = None;
        match self.write_flush(&fs, f, &frozen) {
            Ok(()) => {}
            Err(e) => return Err(self.wal.poison(e)),
        }
        for rel in self.wal.take_obsolete(f) {
            self.gc.mark(rel, None);
        }
        if let Some(old) = fs
            .record
            .replace(Path::new(flush_record::DIR).join(flush_record::file_name(f)))
        {
            self.gc.mark(old, None);
        }
        fs.flushed_lsn = f;
        Ok(())
    }

    /// Writes one segment per frozen memtable, then the flush record, then installs them.
    fn write_flush(
        &self,
        fs: &FlushState,
        f: u64,
        frozen: &[(Arc<Bucket>, Arc<Memtable>)],
    ) -> Result<()> {
        let mut record = FlushRecord {
            lsn: f,
            prev_lsn: fs.flushed_lsn,
            segments: Vec::new(),
        };
        let mut published = Vec::new();
        for (b, mem) in frozen {
            let file_no = self.next_file_no.fetch_add(1, Ordering::Relaxed);
            let spec = SegmentSpec {
                strategy: b.strategy,
                file_no,
                generation: 0,
                lsn_lo: fs.flushed_lsn,
                lsn_hi: f,
                inputs: Vec::new(),
                block_bytes: self.opts.block_bytes,
                bloom_bits_per_key: self.opts.bloom_bits_per_key,
            };
            let tmp = self.dir.join(TMP_DIR).join(segment_name(file_no));
            let mut w = SegmentWriter::create(self.vfs.as_ref(), &tmp, &spec)?;
            mem.for_each(|k, e| w.add(k, e))?;
            w.finish()?;
            let rel = b.rel_dir().join(segment_name(file_no));
            let dst = self.dir.join(&rel);
            self.vfs
                .rename(&tmp, &dst)
                .map_err(Error::io("rename", &dst))?;
            record.segments.push(FlushedSegment {
                bucket: b.name.clone(),
                file_no,
                lsn_lo: fs.flushed_lsn,
                lsn_hi: f,
            });
            published.push((Arc::clone(b), Arc::clone(mem), rel));
        }
        for (b, _, _) in &published {
            let d = self.dir.join(b.rel_dir());
            self.vfs
                .sync_dir(&d)
                .map_err(Error::io("fsync directory", &d))?;
        }
        let name = flush_record::file_name(f);
        let dst = self.dir.join(flush_record::DIR).join(&name);
        publish(self.vfs.as_ref(), &self.dir, &name, &dst, &record.encode())?;
        for (b, mem, rel) in published {
            let seg = Arc::new(Segment::open(self.vfs.as_ref(), &self.dir.join(&rel), rel)?);
            let mut v = b.view.write();
            let mut nv = View::clone(&v);
            nv.frozen.retain(|m| !Arc::ptr_eq(m, &mem));
            nv.segments.push(seg);
            *v = Arc::new(nv);
        }
        Ok(())
    }

    fn wait(&self, timeout: Duration) -> bool {
        let mut sig = self.signal.lock();
        if !sig.stop && !sig.flush_wanted {
            self.wake.wait_for(&mut sig, timeout);
        }
        sig.flush_wanted = false;
        sig.stop
    }

    pub(crate) fn flush_loop(&self) {
        let tick = match self.opts.sync {
            SyncPolicy::Interval(d) => d.min(Duration::from_millis(100)),
            SyncPolicy::Sync | SyncPolicy::None => Duration::from_millis(100),
        };
        let mut last_sync = Instant::now();
        while !self.wait(tick) {
            if let SyncPolicy::Interval(d) = self.opts.sync
                && last_sync.elapsed() >= d
            {
                let _ = self.wal.sync_now();
                last_sync = Instant::now();
            }
            let dirty_for = self.dirty_since.lock().map(|t| t.elapsed());
            let big = self.mem_bytes.load(Ordering::Relaxed) >= self.opts.memtable_max_bytes;
            let due = big || dirty_for.is_some_and(|d| d >= self.opts.flush_dirty_after);
            if due && !self.wal.is_poisoned() {
                // A failure poisons the shard; writers see it.
                if let Err(error) = self.flush_now() {
                    self.opts.events.emit(&Event::FlushFailed {
                        dir: &self.dir,
                        error: &error,
                    });
                }
            }
            self.gc
                .collect(self.vfs.as_ref(), &self.dir, self.opts.file_deletion_grace);
        }
    }
}
