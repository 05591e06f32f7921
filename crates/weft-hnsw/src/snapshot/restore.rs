//! Loading an HNSW snapshot on every core.
//!
//! The caller's thread reads chunks and checks their checksums; workers parse them and write
//! nodes straight into the index's arrays. Nodes arrive in increasing id order and a fresh
//! index hands out slots densely, so the `i`-th node of the file gets slot `i`: a worker
//! knows every slot of its chunk from the node counts of the chunks before it, and chunks can
//! be restored in any order, in parallel. Lists are written as the file's (external) ids and
//! translated to slots in a last pass, next to building the id map; when the ids are exactly
//! `0..n` (an index that never lost a node) translation is the identity and is skipped.
//!
//! Workers fail on the first malformed node; the error reported is the one at the lowest
//! offset, so a damaged file names the same place however the work was split.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};

use parking_lot::Mutex;

use super::read::{Section, SnapshotReader, parse_chunk, words};
use super::{SnapshotError, SnapshotHeader, SnapshotTrailer};
use crate::hnsw::Hnsw;
use crate::nodes::NodeState;
use crate::store::Store;

/// A checked chunk for a worker.
struct Job {
    at: u64,
    count: u32,
    /// Slot of the chunk's first node.
    base: u32,
    payload: Vec<u8>,
}

/// What a worker restored.
#[derive(Default)]
struct Tally {
    live: usize,
    tombstones: Vec<u32>,
    /// Per chunk: offset, first slot, first and last id.
    chunks: Vec<(u64, u32, u32, u32)>,
    /// Highest id any list links to.
    max_link: Option<u32>,
}

/// What the restore found, for [`Hnsw::read_snapshot`].
pub(crate) struct Restored {
    pub(crate) trailer: SnapshotTrailer,
    pub(crate) nodes: u32,
    pub(crate) tombstoned: u64,
}

fn offset_of(e: &SnapshotError) -> u64 {
    match e {
        SnapshotError::Truncated { offset, .. }
        | SnapshotError::Checksum { offset, .. }
        | SnapshotError::Malformed { offset, .. } => *offset,
        _ => u64::MAX,
    }
}

/// Worker threads: one per core, at most two (the reader thread is mostly the kernel's copy).
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 2))
}

impl Hnsw {
    /// Restores every node of `reader` into this fresh index (see the module docs).
    pub(crate) fn restore_from(
        &self,
        reader: &mut SnapshotReader<'_>,
        header: &SnapshotHeader,
    ) -> Result<Restored, SnapshotError> {
        let st = self.store();
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(4);
        // Held only by the workers: once they all stopped, the reader's send fails instead
        // of waiting for room forever.
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (buf_tx, buf_rx) = mpsc::channel::<Vec<u8>>();
        let failed = AtomicBool::new(false);
        let (read, tallies) = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers())
                .map(|_| {
                    let buf_tx = buf_tx.clone();
                    let job_rx = Arc::clone(&job_rx);
                    let (failed, st) = (&failed, &st);
                    s.spawn(move || {
                        let mut tally = Tally::default();
                        loop {
                            let job = job_rx.lock().recv();
                            let Ok(job) = job else { break };
                            if let Err(e) = self.restore_chunk(st, header, &job, &mut tally) {
                                failed.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                            // The reader may have finished: then the buffer is just dropped.
                            let _ = buf_tx.send(job.payload);
                        }
                        Ok(tally)
                    })
                })
                .collect();
            drop(job_rx);
            let read = (|| -> Result<Option<(SnapshotTrailer, u32)>, SnapshotError> {
                let job_tx = job_tx;
                let mut base = 0u32;
                loop {
                    if failed.load(Ordering::Relaxed) {
                        return Ok(None);
                    }
                    let mut buf = buf_rx.try_recv().unwrap_or_default();
                    match reader.next_section(&mut buf)? {
                        Section::Chunk { at, count } => {
                            let job = Job {
                                at,
                                count,
                                base,
                                payload: buf,
                            };
                            base = base.checked_add(count).filter(|&b| b < u32::MAX).ok_or(
                                SnapshotError::Malformed {
                                    offset: at,
                                    what: "more nodes than an index holds",
                                },
                            )?;
                            if job_tx.send(job).is_err() {
                                return Ok(None);
                            }
                        }
                        Section::Trailer(t) => return Ok(Some((t, base))),
                    }
                }
            })();
            let tallies: Vec<Result<Tally, SnapshotError>> = handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect();
            (read, tallies)
        });
        let mut merged = Tally::default();
        let mut worker_err: Option<SnapshotError> = None;
        for t in tallies {
            match t {
                Ok(t) => {
                    merged.live += t.live;
                    merged.tombstones.extend(t.tombstones);
                    merged.chunks.extend(t.chunks);
                    merged.max_link = merged.max_link.max(t.max_link);
                }
                Err(e) => {
                    if worker_err
                        .as_ref()
                        .is_none_or(|w| offset_of(&e) < offset_of(w))
                    {
                        worker_err = Some(e);
                    }
                }
            }
        }
        if let Some(e) = worker_err {
            return Err(e);
        }
        let Some((trailer, total)) = read? else {
            return Err(SnapshotError::Malformed {
                offset: 0,
                what: "snapshot restore stopped",
            });
        };
        // Ids increase across chunks too (each worker checked its own chunks).
        merged.chunks.sort_unstable_by_key(|c| c.1);
        for pair in merged.chunks.windows(2) {
            if pair[1].2 <= pair[0].3 {
                return Err(SnapshotError::Malformed {
                    offset: pair[1].0,
                    what: "node ids not increasing or not below the watermark",
                });
            }
        }
        let tombstoned = merged.tombstones.len() as u64;
        self.finish_restore(total, merged.live, merged.tombstones, merged.max_link);
        Ok(Restored {
            trailer,
            nodes: total,
            tombstoned,
        })
    }

    fn restore_chunk(
        &self,
        st: &Store,
        header: &SnapshotHeader,
        job: &Job,
        tally: &mut Tally,
    ) -> Result<(), SnapshotError> {
        let mut slot = job.base;
        let (first, last) = parse_chunk(header, job.at, &job.payload, job.count, 0, |v| {
            let level = v.levels.max(1) - 1;
            self.nodes.init_node(slot, v.id, level);
            for (l, raw) in v.lists().enumerate() {
                let top = self.nodes.write_le(slot, l, raw);
                tally.max_link = tally.max_link.max(top);
            }
            st.arena
                .write_with(slot, |dst| {
                    for (d, w) in dst.iter_mut().zip(words(v.vector)) {
                        *d = f32::from_bits(w);
                    }
                })
                .map_err(|_| SnapshotError::Malformed {
                    offset: job.at,
                    what: "vector cannot be restored",
                })?;
            if v.tombstoned {
                self.nodes.set_state(slot, NodeState::Tombstoned);
                tally.tombstones.push(slot);
            } else {
                self.nodes.set_state(slot, NodeState::Live);
                tally.live += 1;
            }
            slot += 1;
            Ok(())
        })?;
        tally.chunks.push((job.at, job.base, first, last));
        Ok(())
    }
}
