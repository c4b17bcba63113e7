//! cargo fuzz run restore: the input is a DUMP payload body; the footer (RDB version 10 and
//! the CRC-64) is added so the fuzzer reaches the value decoders instead of the checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mayfly_persistence::{crc64::crc64, restore, EncodingLimits};

fuzz_target!(|data: &[u8]| {
    let mut payload = data.to_vec();
    payload.extend_from_slice(&[10, 0]);
    let crc = crc64(&payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    let _ = restore(&payload, true, &EncodingLimits::default());
    let _ = restore(&payload, false, &EncodingLimits::default());
    let _ = restore(data, false, &EncodingLimits::default());
});
