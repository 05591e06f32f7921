//! Fuzz target: a flush record file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = weft_lsm::decode::flush_record(data);
});
