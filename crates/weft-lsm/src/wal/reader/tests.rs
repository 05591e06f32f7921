//! The chunked reader against the whole-file scan it replaced (kept here as the oracle), for
//! chunk sizes that put boundaries inside headers, payloads and padding.

use super::*;
use crate::wal::format::{RecordRef, Scan, encode_record, scan_chunked};

const SALT: u32 = 0x5eed_f00d;
const FIRST: u64 = 7;

/// The pre-streaming whole-file scan: the reference the reader must agree with.
fn oracle(bytes: &[u8], max_len: usize) -> Result<Scan, (u64, &'static str)> {
    let header = FileHeader::decode(bytes)?;
    let mut records = Vec::new();
    let mut off = HEADER_LEN;
    let mut expect = header.first_lsn;
    let mut damage = None;
    while off < bytes.len() {
        match parse_record(bytes, off, header.salt, max_len) {
            Some(r) if r.lsn == expect => {
                records.push(r);
                expect += 1;
                off = r.end;
            }
            other => {
                let reason = if other.is_some() {
                    "LSN out of sequence"
                } else {
                    "invalid record"
                };
                let followed_by_valid = (off + 8..bytes.len()).step_by(8).any(|p| {
                    parse_record(bytes, p, header.salt, max_len).is_some_and(|r| r.lsn >= expect)
                });
                damage = Some(Damage {
                    offset: off,
                    reason,
                    followed_by_valid,
                });
                break;
            }
        }
    }
    Ok(Scan {
        header,
        records,
        valid_end: off,
        damage,
    })
}

/// A WAL file whose payload sizes are `sizes` (record i filled with byte i).
fn file(sizes: &[usize]) -> Vec<u8> {
    let mut b = FileHeader {
        salt: SALT,
        first_lsn: FIRST,
    }
    .encode()
    .to_vec();
    for (i, &n) in sizes.iter().enumerate() {
        encode_record(&mut b, SALT, FIRST + i as u64, &vec![i as u8; n]);
    }
    b
}

const SIZES: [usize; 9] = [0, 1, 13, 40, 7, 130, 24, 3, 64];
const CHUNKS: [usize; 8] = [1, 7, 8, 24, 25, 64, 100, DEFAULT_CHUNK];

fn check_same(bytes: &[u8], max_len: usize, what: &str) {
    let want = oracle(bytes, max_len);
    for chunk in CHUNKS {
        let got = scan_chunked(bytes, max_len, chunk);
        assert_eq!(got, want, "{what}, chunk {chunk}");
    }
}

#[test]
fn clean_file_reads_the_same_at_every_chunk_size() {
    let b = file(&SIZES);
    let s = scan_chunked(&b, 1 << 20, 24).unwrap();
    assert_eq!(s.records.len(), SIZES.len());
    assert_eq!(s.valid_end, b.len());
    assert_eq!(s.damage, None);
    check_same(&b, 1 << 20, "clean");
}

#[test]
fn every_truncation_matches_the_whole_file_scan() {
    let b = file(&SIZES);
    for cut in 0..=b.len() {
        check_same(b.get(..cut).unwrap(), 1 << 20, &format!("cut {cut}"));
    }
}

#[test]
fn every_byte_flip_matches_the_whole_file_scan() {
    let b = file(&SIZES);
    for pos in 0..b.len() {
        let mut bad = b.clone();
        bad[pos] ^= 0x10;
        check_same(&bad, 1 << 20, &format!("flip at {pos}"));
    }
}

#[test]
fn records_straddling_chunk_boundaries_keep_their_payloads() {
    // Payloads larger than the chunk, and boundaries inside headers and padding.
    let sizes = [300, 5, 97, 1000, 17];
    let b = file(&sizes);
    for chunk in [1, 16, 24, 31, 64, 256] {
        let mut r = RecordReader::open(&b[..], b.len() as u64, 1 << 20, chunk).unwrap();
        for (i, &n) in sizes.iter().enumerate() {
            match r.next_record().unwrap() {
                Next::Record {
                    lsn,
                    offset,
                    payload,
                } => {
                    assert_eq!(lsn, FIRST + i as u64);
                    assert_eq!(payload, &vec![i as u8; n][..], "chunk {chunk} record {i}");
                    let at = offset as usize;
                    assert_eq!(&b[at..at + n], payload);
                }
                other => panic!("chunk {chunk} record {i}: {other:?}"),
            }
        }
        assert_eq!(r.next_record().unwrap(), Next::End);
        assert_eq!(r.records(), sizes.len() as u64);
        assert_eq!(r.valid_end(), b.len() as u64);
    }
}

#[test]
fn a_record_torn_at_a_chunk_boundary_is_a_torn_tail() {
    let sizes = [40, 40, 40];
    let b = file(&sizes);
    let rec = RECORD_HEADER_LEN + 40;
    let second = HEADER_LEN + rec;
    // Cut inside the second record's header and inside its payload, with the chunk ending
    // exactly at the cut, before it, and after it.
    for cut in [second + 10, second + RECORD_HEADER_LEN + 20] {
        let torn = &b[..cut];
        for chunk in [cut - HEADER_LEN, cut - HEADER_LEN - 8, rec, 1] {
            let s = scan_chunked(torn, 1 << 20, chunk).unwrap();
            assert_eq!(s.records.len(), 1, "cut {cut} chunk {chunk}");
            assert_eq!(s.valid_end, second);
            let d = s.damage.unwrap();
            assert_eq!(d.offset, second);
            assert!(!d.followed_by_valid);
        }
    }
}

#[test]
fn damage_followed_by_a_valid_record_is_found_across_chunks() {
    let b = file(&SIZES);
    let mut bad = b.clone();
    bad[HEADER_LEN + RECORD_HEADER_LEN] ^= 1; // payload of the second record (size 1)
    for chunk in CHUNKS {
        let d = scan_chunked(&bad, 1 << 20, chunk).unwrap().damage.unwrap();
        assert!(d.followed_by_valid, "chunk {chunk}");
    }
}

#[test]
fn an_oversized_length_is_rejected_before_the_buffer_grows() {
    let mut b = file(&[8]);
    let mut header = [0u8; RECORD_HEADER_LEN];
    header[0..4].copy_from_slice(&(60u32 << 20).to_le_bytes());
    b.extend_from_slice(&header);
    b.resize(b.len() + 64, 0);
    for max_len in [1 << 20, 64 << 20] {
        let mut r = RecordReader::open(&b[..], b.len() as u64, max_len, 32).unwrap();
        assert!(matches!(r.next_record().unwrap(), Next::Record { .. }));
        assert!(matches!(r.next_record().unwrap(), Next::Damaged(_)));
        assert!(
            r.buf.capacity() <= 64,
            "buffer grew to {}",
            r.buf.capacity()
        );
    }
}

#[test]
fn a_short_or_bad_header_fails_to_open() {
    let b = file(&[]);
    for cut in 0..HEADER_LEN {
        assert!(matches!(
            RecordReader::open(&b[..cut], cut as u64, 1 << 20, 64),
            Err(OpenError::Header(..))
        ));
    }
    let records: Vec<RecordRef> = scan_chunked(&b, 1 << 20, 64).unwrap().records;
    assert!(records.is_empty());
}

/// What a plain `next_record` loop sees: (records after `skip`, outcome, records, valid end).
type Seen = (Vec<(u64, u64, Vec<u8>)>, Option<Damage>, u64, u64);

fn by_loop(bytes: &[u8], chunk: usize, skip: u64) -> Seen {
    let mut r = RecordReader::open(bytes, bytes.len() as u64, 1 << 20, chunk).unwrap();
    let mut recs = Vec::new();
    let damage = loop {
        match r.next_record().unwrap() {
            Next::Record {
                lsn,
                offset,
                payload,
            } => {
                if lsn > skip {
                    recs.push((lsn, offset, payload.to_vec()));
                }
            }
            Next::End => break None,
            Next::Damaged(d) => break Some(d),
        }
    };
    (recs, damage, r.records(), r.valid_end())
}

fn by_stream(bytes: &[u8], chunk: usize, skip: u64) -> Seen {
    let r = RecordReader::open(bytes, bytes.len() as u64, 1 << 20, chunk).unwrap();
    let mut kept = Vec::new();
    let (r, damage) = stream(
        r,
        skip,
        |lsn, offset, buf, payload| {
            // Kept as handed out (slices of the reader's buffers), compared only at the end.
            kept.push((lsn, offset, buf.slice_ref(payload)));
            Ok::<_, io::Error>(())
        },
        |e| e,
    )
    .unwrap();
    let recs = kept
        .into_iter()
        .map(|(l, o, p)| (l, o, p.to_vec()))
        .collect();
    (recs, damage, r.records(), r.valid_end())
}

#[test]
fn the_reader_thread_hands_out_what_the_loop_sees() {
    // Enough bytes for several batches, with damage and truncation near the end and records
    // skipped at the start.
    let sizes: Vec<usize> = (0..700).map(|i| (i * 37) % 3000).collect();
    let b = file(&sizes);
    let last = HEADER_LEN + (b.len() - HEADER_LEN) * 9 / 10;
    for skip in [0, FIRST + 3, FIRST + 650, u64::MAX] {
        assert_eq!(
            by_stream(&b, 4096, skip),
            by_loop(&b, 4096, skip),
            "skip {skip}"
        );
    }
    for cut in [HEADER_LEN, last, last + 5, b.len() - 1] {
        let t = &b[..cut];
        assert_eq!(
            by_stream(t, 1000, FIRST),
            by_loop(t, 1000, FIRST),
            "cut {cut}"
        );
    }
    for pos in [HEADER_LEN + 3, last, b.len() - 9] {
        let mut bad = b.clone();
        bad[pos] ^= 0x40;
        assert_eq!(
            by_stream(&bad, DEFAULT_CHUNK, 0),
            by_loop(&bad, DEFAULT_CHUNK, 0)
        );
    }
}

#[test]
fn the_reader_thread_agrees_at_every_chunk_size() {
    // Chunks smaller than a record header refill twice within one record.
    let sizes: Vec<usize> = (0..60).map(|i| (i * 13) % 90).collect();
    let b = file(&sizes);
    let mut bad = b.clone();
    let mid = HEADER_LEN + (b.len() - HEADER_LEN) / 2;
    bad[mid] ^= 0x01;
    for chunk in CHUNKS {
        for (bytes, what) in [
            (&b[..], "clean"),
            (&b[..b.len() - 3], "torn"),
            (&bad[..], "bad"),
        ] {
            assert_eq!(
                by_stream(bytes, chunk, FIRST + 2),
                by_loop(bytes, chunk, FIRST + 2),
                "{what} at chunk {chunk}"
            );
        }
    }
}

#[test]
fn a_failing_consumer_stops_the_reader_and_its_error_is_returned() {
    let sizes: Vec<usize> = (0..700).map(|i| (i * 37) % 3000).collect();
    let b = file(&sizes);
    let r = RecordReader::open(&b[..], b.len() as u64, 1 << 20, 4096).unwrap();
    let mut seen = 0;
    let res = stream(
        r,
        0,
        |lsn, _, _, _| {
            seen += 1;
            if lsn == FIRST + 10 {
                Err("stop")
            } else {
                Ok(())
            }
        },
        |_| "io",
    );
    assert_eq!(res.err(), Some("stop"));
    assert_eq!(seen, 11);
}
