//! T7 (CI form): every on-disk decoder over random bytes: errors, never panics. The same
//! entry points are the cargo-fuzz targets in `fuzz/`.

use proptest::prelude::*;
use weft_lsm::decode;

use crate::support::env_cases;

proptest! {
    #![proptest_config(ProptestConfig { cases: env_cases(2000), ..ProptestConfig::default() })]

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), len in any::<u64>()) {
        let _ = decode::wal_file(&bytes);
        let _ = decode::wal_payload(&bytes);
        let _ = decode::segment_block(&bytes);
        let _ = decode::segment_entry(&bytes);
        let _ = decode::segment_index(&bytes);
        let _ = decode::segment_footer(&bytes, len);
        let _ = decode::segment_footer(&bytes, bytes.len() as u64);
        let _ = decode::segment_header(&bytes);
        let _ = decode::segment_props(&bytes);
        let _ = decode::bloom(&bytes);
        let _ = decode::flush_record(&bytes);
    }

    #[test]
    fn wal_decoder_survives_valid_prefixes_with_garbage(tail in proptest::collection::vec(any::<u8>(), 0..300)) {
        // A valid header followed by garbage: the scan must stop cleanly.
        let mut bytes = b"WEFTWAL\0".to_vec();
        bytes.resize(32, 0);
        bytes.extend_from_slice(&tail);
        let _ = decode::wal_file(&bytes);
    }
}

#[test]
fn varint_payloads_with_huge_counts_are_rejected_without_allocating() {
    // version 1, op count = u64::MAX as varint.
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(&[0xff; 9]);
    bytes.push(0x01);
    assert!(decode::wal_payload(&bytes).is_err());
    assert!(decode::segment_index(&bytes[1..]).is_err());
}
