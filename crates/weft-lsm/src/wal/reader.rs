//! Streaming WAL reader for recovery: reads a file in fixed-size chunks through one reused
//! buffer and hands out each validated record's payload as a borrowed slice.
//!
//! Every check of the whole-file scan is kept, in the same order: a record's length is checked
//! against the record cap and the bytes left in the file *before* the buffer may grow to hold
//! it; its CRC (salted per file), kind and LSN are verified before it is returned. A record that
//! straddles a chunk boundary is completed by moving the unread tail to the front of the buffer
//! and reading on. At the first record that does not validate the reader looks at the rest of
//! the file for any valid record with a later LSN, which separates a torn tail from damage in
//! the middle (`docs/format/wal.md`).

use std::io;

use bytes::Bytes;

use super::format::{
    Damage, FileHeader, HEADER_LEN, KIND_BATCH, RECORD_HEADER_LEN, padded, parse_record, record_crc,
};
use crate::codec::{le_u32, le_u64};

/// Default chunk size of whole-file scans (one reused buffer).
pub(crate) const DEFAULT_CHUNK: usize = 1 << 20;

/// Default chunk size of WAL replay ([`stream`]): a fresh buffer per read, large enough to
/// sit on huge pages (one page fault per 2 MiB instead of per 4 KiB).
pub(crate) const REPLAY_CHUNK: usize = 8 << 20;

/// Where WAL bytes come from: a file (positional reads) or a slice (fuzzing, tests).
pub(crate) trait Source {
    /// Reads exactly `buf.len()` bytes at `offset`; the caller stays inside the length it was
    /// given.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl Source for &[u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let src = usize::try_from(offset)
            .ok()
            .and_then(|o| self.get(o..o.checked_add(buf.len())?))
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past end"))?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl Source for &dyn weft_io::ReadFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.read_exact_at(buf, offset)
    }
}

/// Why a reader could not start.
#[derive(Debug)]
pub(crate) enum OpenError {
    Io(io::Error),
    /// The file header is invalid: offset and reason.
    Header(u64, &'static str),
}

/// One step of the reader.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next<'a> {
    /// A record that validated.
    Record {
        lsn: u64,
        /// File offset of the payload.
        offset: u64,
        payload: &'a [u8],
    },
    /// The file ends cleanly after the last record.
    End,
    /// The bytes at `valid_end` do not form the next record.
    Damaged(Damage),
}

#[derive(Debug)]
pub(crate) struct RecordReader<S> {
    src: S,
    len: u64,
    salt: u32,
    max_len: usize,
    chunk: usize,
    header: FileHeader,
    /// The LSN the next record must carry.
    expect: u64,
    /// Holds `filled` bytes read from the file; never shrinks, so a refill reads into bytes
    /// that are already there instead of zero-filling a fresh tail every time.
    buf: Vec<u8>,
    filled: usize,
    /// File offset of `buf[0]`.
    buf_off: u64,
    /// Position in `buf` of the next record.
    pos: usize,
    /// Refill into a fresh buffer instead of reusing `buf`, so the records already handed
    /// out stay where they are (see [`stream`]).
    fresh_buffers: bool,
    /// The buffer the last refill replaced, with the records returned from it.
    retired: Option<Vec<u8>>,
    /// Where in `buf` the payload of the last record returned lies.
    last: (usize, usize),
}

impl<S: Source> RecordReader<S> {
    /// Reads and checks the file header of a `len`-byte file.
    pub(crate) fn open(src: S, len: u64, max_len: usize, chunk: usize) -> Result<Self, OpenError> {
        let head_len = len.min(HEADER_LEN as u64) as usize;
        let mut head = [0u8; HEADER_LEN];
        let head = head.get_mut(..head_len).unwrap_or_default();
        src.read_at(head, 0).map_err(OpenError::Io)?;
        let header = FileHeader::decode(head).map_err(|(o, r)| OpenError::Header(o, r))?;
        Ok(Self {
            src,
            len,
            salt: header.salt,
            max_len,
            chunk: chunk.max(1),
            header,
            expect: header.first_lsn,
            buf: Vec::new(),
            filled: 0,
            buf_off: HEADER_LEN as u64,
            pos: 0,
            fresh_buffers: false,
            retired: None,
            last: (0, 0),
        })
    }

    pub(crate) fn header(&self) -> FileHeader {
        self.header
    }

    /// End of the last record returned (where a torn tail would be cut).
    pub(crate) fn valid_end(&self) -> u64 {
        self.buf_off + self.pos as u64
    }

    /// Number of records returned so far.
    pub(crate) fn records(&self) -> u64 {
        self.expect - self.header.first_lsn
    }

    /// Makes `n` bytes from the next record's start available in the buffer. The caller has
    /// checked that the file holds them, so the buffer never grows past `max(n, chunk)`.
    fn fill(&mut self, n: usize) -> io::Result<()> {
        if self.filled - self.pos >= n {
            return Ok(());
        }
        let tail = self.filled - self.pos;
        self.buf_off += self.pos as u64;
        let left = self.len - self.buf_off;
        let want = usize::try_from(left).map_or(n.max(self.chunk), |l| l.min(n.max(self.chunk)));
        if self.fresh_buffers {
            // Zeroed memory from the allocator costs no pass over it (fresh pages are zero).
            let mut next = weft_io::mem::zeroed_bytes(want);
            if let (Some(dst), Some(src)) =
                (next.get_mut(..tail), self.buf.get(self.pos..self.filled))
            {
                dst.copy_from_slice(src);
            }
            let old = std::mem::replace(&mut self.buf, next);
            // A second refill within one record replaces a buffer that holds none of the
            // records returned: only the first one is kept.
            if self.retired.is_none() && !old.is_empty() {
                self.retired = Some(old);
            }
        } else {
            self.buf.copy_within(self.pos..self.filled, 0);
            if self.buf.len() < want {
                self.buf.resize(want, 0);
            }
        }
        self.filled = tail;
        self.pos = 0;
        let off = self.buf_off + tail as u64;
        self.src
            .read_at(self.buf.get_mut(tail..want).unwrap_or_default(), off)?;
        self.filled = want;
        Ok(())
    }

    /// Takes the buffer with the records returned since the last refill; the reader reads no
    /// further afterwards.
    fn take_buffer(&mut self) -> Vec<u8> {
        self.buf_off += self.pos as u64;
        self.pos = 0;
        self.filled = 0;
        std::mem::take(&mut self.buf)
    }

    /// The next record, the clean end of the file, or where it is damaged.
    pub(crate) fn next_record(&mut self) -> io::Result<Next<'_>> {
        let off = self.valid_end();
        if off >= self.len {
            return Ok(Next::End);
        }
        let left = self.len - off;
        if left < RECORD_HEADER_LEN as u64 {
            return self.damaged(off, "invalid record");
        }
        self.fill(RECORD_HEADER_LEN)?;
        let header = self.header_at_pos();
        let len = le_u32(&header, 0).unwrap_or(u32::MAX) as usize;
        // Length checks come first: nothing is read or allocated for a length that is over
        // the cap or runs past the end of the file.
        let total = RECORD_HEADER_LEN as u64 + padded(len) as u64;
        if len > self.max_len || total > left {
            return self.damaged(off, "invalid record");
        }
        let total = total as usize;
        self.fill(total)?;
        let start = self.pos + RECORD_HEADER_LEN;
        let payload = self.buf.get(start..start + len).unwrap_or_default();
        if le_u32(&header, 4) != Some(record_crc(self.salt, &header, payload))
            || header[16] != KIND_BATCH
        {
            return self.damaged(off, "invalid record");
        }
        let lsn = le_u64(&header, 8).unwrap_or(0);
        if lsn != self.expect {
            return self.damaged(off, "LSN out of sequence");
        }
        self.expect += 1;
        self.pos += total;
        self.last = (start, start + len);
        let payload = self.buf.get(start..start + len).unwrap_or_default();
        Ok(Next::Record {
            lsn,
            offset: off + RECORD_HEADER_LEN as u64,
            payload,
        })
    }

    fn header_at_pos(&self) -> [u8; RECORD_HEADER_LEN] {
        let mut h = [0u8; RECORD_HEADER_LEN];
        if let Some(src) = self.buf.get(self.pos..self.pos + RECORD_HEADER_LEN) {
            h.copy_from_slice(src);
        }
        h
    }

    /// Damage at `off`: reads the rest of the file and looks, at 8-byte steps, for a valid
    /// record with an LSN not below the expected one (then it is not a torn tail).
    fn damaged(&mut self, off: u64, reason: &'static str) -> io::Result<Next<'_>> {
        let rest_len = usize::try_from(self.len - off)
            .map_err(|_| io::Error::other("WAL file larger than the address space"))?;
        let mut rest = vec![0u8; rest_len];
        self.src.read_at(&mut rest, off)?;
        let followed_by_valid = (8..rest.len()).step_by(8).any(|p| {
            parse_record(&rest, p, self.salt, self.max_len).is_some_and(|r| r.lsn >= self.expect)
        });
        Ok(Next::Damaged(Damage {
            offset: usize::try_from(off).unwrap_or(usize::MAX),
            reason,
            followed_by_valid,
        }))
    }
}

/// Records handed from the reader thread of [`stream`] to its consumer.
enum Msg {
    /// A read buffer and the records in it: (LSN, file offset of the payload, payload range
    /// in the buffer), in LSN order.
    Chunk(Vec<u8>, Vec<(u64, u64, usize, usize)>),
    /// The file ended cleanly (`None`) or is damaged there.
    End(Option<Damage>),
    Err(io::Error),
}

/// Runs `reader` to the end of its file on a second thread — reads, length, CRC and LSN
/// checks — while `f` consumes the records (LSN, payload offset, the read buffer holding the
/// payload, the payload as a slice of it) in order on the calling thread: a consumer keeps
/// parts of a payload with [`Bytes::slice_ref`] on the buffer, and no handle is made per
/// record (each one is an atomic increment and decrement). Records with an LSN up to
/// `skip_through` are checked but not handed out.
/// If `f` fails, the reader stops and the error is returned; a read error goes through `io`.
/// Returns the reader (for [`RecordReader::records`] and [`RecordReader::valid_end`]) and the
/// damage that ended the file, if any. The records `f` sees, and the outcome, are exactly
/// those of calling [`RecordReader::next_record`] in a loop.
pub(crate) fn stream<S: Source + Send, E>(
    mut reader: RecordReader<S>,
    skip_through: u64,
    mut f: impl FnMut(u64, u64, &Bytes, &[u8]) -> Result<(), E>,
    io: impl FnOnce(io::Error) -> E,
) -> Result<(RecordReader<S>, Option<Damage>), E> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(2);
    reader.fresh_buffers = true;
    std::thread::scope(|scope| {
        // Payloads are handed out as slices of the read buffers themselves, which the
        // memtable keeps (no copy per record, key or value): every refill reads into a fresh
        // buffer, and the one it replaces goes to the consumer with its records.
        let producer = scope.spawn(move || {
            let mut recs = Vec::new();
            let send = |buf: Vec<u8>, recs: &mut Vec<_>| {
                recs.is_empty() || tx.send(Msg::Chunk(buf, std::mem::take(recs))).is_ok()
            };
            let end = loop {
                let step = match reader.next_record() {
                    Ok(Next::Record { lsn, offset, .. }) => Ok((lsn, offset)),
                    Ok(Next::End) => Err(Msg::End(None)),
                    Ok(Next::Damaged(d)) => Err(Msg::End(Some(d))),
                    Err(e) => Err(Msg::Err(e)),
                };
                // Every record gathered so far lies in the buffer a refill just replaced.
                if let Some(old) = reader.retired.take()
                    && !send(old, &mut recs)
                {
                    // The consumer failed; its error is what the caller sees.
                    return reader;
                }
                match step {
                    Ok((lsn, offset)) if lsn > skip_through => {
                        recs.push((lsn, offset, reader.last.0, reader.last.1));
                    }
                    Ok(_) => {}
                    Err(end) => break end,
                }
            };
            if !send(reader.take_buffer(), &mut recs) {
                return reader;
            }
            let _ = tx.send(end);
            reader
        });
        let outcome = (|| {
            for msg in &rx {
                match msg {
                    Msg::Chunk(buf, recs) => {
                        let buf = Bytes::from(buf);
                        for (lsn, offset, start, end) in recs {
                            f(lsn, offset, &buf, buf.get(start..end).unwrap_or_default())?;
                        }
                    }
                    Msg::End(damage) => return Ok(damage),
                    Msg::Err(e) => return Err(io(e)),
                }
            }
            // The reader thread ended without a last message: it panicked (join says so).
            Ok(None)
        })();
        // Dropping the receiver first unblocks a reader waiting to send after `f` failed.
        drop(rx);
        let reader = match producer.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        outcome.map(|damage| (reader, damage))
    })
}

#[cfg(test)]
mod tests;
