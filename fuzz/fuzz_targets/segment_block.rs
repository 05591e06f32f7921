//! Fuzz target: a segment data block with its CRC trailer, and every entry in it; also bare entries.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = weft_lsm::decode::segment_block(data);
    let _ = weft_lsm::decode::segment_entry(data);
});
