//! Fuzz target: a whole WAL file (header, records, recovery scan).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = weft_lsm::decode::wal_file(data);
});
