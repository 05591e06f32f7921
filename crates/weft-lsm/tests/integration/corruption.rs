//! T4: torn tails and bit flips in WAL files and segments. Whatever the damage: no panic, no
//! read that returns wrong data; a torn WAL tail is cut and the state is a prefix; damage
//! anywhere else fails the open (or that read) with an error naming the file and offset.

use std::path::{Path, PathBuf};

use weft_io::{CrashMode, SimFs, Vfs};
use weft_lsm::{Error, WriteBatch};

use crate::support::{DIR, Mutation, Oracle, open_sim, seeded_batch, sim_opts};

fn write_batches(fs: &SimFs, n: u64, flush_every: Option<u64>) -> Vec<Vec<Mutation>> {
    let shard = open_sim(fs, sim_opts()).unwrap();
    let mut history = Vec::new();
    for i in 0..n {
        let muts = seeded_batch(i);
        let mut b = WriteBatch::new();
        for m in &muts {
            m.add_to(&mut b);
        }
        shard.write(&b).unwrap();
        history.push(muts);
        if flush_every.is_some_and(|f| i % f == f - 1) {
            shard.flush().unwrap();
        }
    }
    // Simulate kill -9: the WAL stays as written.
    fs.crash(CrashMode::Keep);
    drop(shard);
    history
}

fn files_with(fs: &SimFs, ext: &str) -> Vec<PathBuf> {
    fs.files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect()
}

fn active_wal(fs: &SimFs) -> PathBuf {
    files_with(fs, "wal").pop().unwrap()
}

/// Opens a damaged copy; returns the recovered prefix length, or the open error.
fn open_damaged(fs: &SimFs, history: &[Vec<Mutation>]) -> Result<usize, Error> {
    let shard = open_sim(fs, sim_opts())?;
    let state = Oracle::read(&shard)?;
    let n = (0..=history.len())
        .rev()
        .find(|&n| Oracle::after(history, n).same_state(&state));
    Ok(n.unwrap_or_else(|| panic!("recovered state is not a prefix of the history: {state:?}")))
}

#[test]
fn every_truncation_of_the_wal_tail_recovers_a_prefix() {
    let fs = SimFs::new();
    let history = write_batches(&fs, 12, None);
    let wal = active_wal(&fs);
    let good = fs.read_all(&wal).unwrap();
    let mut last = 0;
    for cut in (32..=good.len()).rev() {
        fs.overwrite(&wal, good[..cut].to_vec()).unwrap();
        let n = open_damaged(&fs, &history).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert!(n <= history.len());
        last = n;
        // The truncation is durable: a second open finds a clean file and the same state.
        assert_eq!(open_damaged(&fs, &history).unwrap(), n);
    }
    assert_eq!(last, 0);
}

#[test]
fn a_flip_in_the_middle_of_the_wal_refuses_to_open_naming_file_and_offset() {
    let fs = SimFs::new();
    let history = write_batches(&fs, 12, None);
    let wal = active_wal(&fs);
    let good = fs.read_all(&wal).unwrap();
    let mut refused = 0;
    for pos in 32..good.len() {
        let mut bad = good.clone();
        bad[pos] ^= 0x20;
        fs.overwrite(&wal, bad).unwrap();
        match open_damaged(&fs, &history) {
            // Damage in the last record looks like a torn tail: a prefix is fine.
            Ok(n) => assert!(
                n >= history.len() - 1,
                "flip at {pos} lost {} batches",
                history.len() - n
            ),
            Err(Error::Corrupt { file, offset, .. }) => {
                assert_eq!(file, wal);
                assert!(
                    offset <= pos as u64,
                    "offset {offset} after the flip at {pos}"
                );
                refused += 1;
            }
            Err(e) => panic!("flip at {pos}: unexpected error {e}"),
        }
        fs.overwrite(&wal, good.clone()).unwrap();
    }
    assert!(refused > 0);
}

#[test]
fn segment_damage_never_returns_wrong_data() {
    let fs = SimFs::new();
    let history = write_batches(&fs, 30, Some(10));
    let segs = files_with(&fs, "seg");
    assert!(!segs.is_empty());
    for seg in segs {
        let good = fs.read_all(&seg).unwrap();
        for pos in (0..good.len()).step_by(3) {
            let mut bad = good.clone();
            bad[pos] ^= 1 << (pos % 8);
            fs.overwrite(&seg, bad).unwrap();
            match open_damaged(&fs, &history) {
                Ok(n) => assert_eq!(
                    n,
                    history.len(),
                    "flip at {pos} of {seg:?} changed the data"
                ),
                Err(Error::Corrupt { file, .. }) => assert_eq!(file, seg),
                Err(e) => panic!("flip at {pos} of {seg:?}: unexpected error {e}"),
            }
        }
        fs.overwrite(&seg, good.clone()).unwrap();
        // Truncations are caught by the footer check before any offset is trusted.
        for cut in [
            0,
            1,
            63,
            64,
            good.len() / 2,
            good.len() - 72,
            good.len() - 1,
        ] {
            fs.overwrite(&seg, good[..cut].to_vec()).unwrap();
            let err = open_damaged(&fs, &history).unwrap_err();
            assert!(
                matches!(&err, Error::Corrupt { file, .. } if file == &seg),
                "{err}"
            );
            fs.overwrite(&seg, good.clone()).unwrap();
        }
    }
    assert_eq!(open_damaged(&fs, &history).unwrap(), history.len());
    assert!(Path::new(DIR).is_absolute());
}
