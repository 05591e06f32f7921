//! Fuzz target: the segment footer (first 8 bytes: claimed file length) and header.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((len, rest)) = data.split_first_chunk::<8>() {
        let _ = weft_lsm::decode::segment_footer(rest, u64::from_le_bytes(*len));
        let _ = weft_lsm::decode::segment_footer(rest, rest.len() as u64);
    }
    let _ = weft_lsm::decode::segment_header(data);
});
