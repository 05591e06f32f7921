//! Fuzz target: a segment index section and the properties section.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = weft_lsm::decode::segment_index(data);
    let _ = weft_lsm::decode::segment_props(data);
});
