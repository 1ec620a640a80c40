//! Arbitrary bytes as one Kinesis record's data, through the decoder the function runs on every
//! record (`unifiedetl_lambda::decode::decode`), under each key schema. See `src/lib.rs` for the
//! invariants checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    unifiedetl_lambda_fuzz::check(payload);
});
