//! cargo fuzz run rdb_load -- -max_len=65536 (seed corpus: ../shared/fixtures/redis-7.0/rdb
//! and corrupt). Any input must decode or fail with an error: no panic, no abort on
//! allocation, no hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mayfly_persistence::{decode_file, DecodeOptions};

fuzz_target!(|data: &[u8]| {
    for verify_checksum in [false, true] {
        let opts = DecodeOptions { verify_checksum, deep_sanitize: true, ..DecodeOptions::default() };
        let _ = decode_file(data, opts);
    }
});
