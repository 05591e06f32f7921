//! Fuzz target: a bloom filter section.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = weft_lsm::decode::bloom(data);
});
