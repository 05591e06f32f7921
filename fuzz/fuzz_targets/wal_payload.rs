//! Fuzz target: a WAL record payload (write batch).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = weft_lsm::decode::wal_payload(data);
});
