//! `entrex reconcile`'s CSV reader, lenient (unknown dates are nulls,
//! counted) and strict (they refuse the file). Any file is read or refused
//! with its line and column named.
#![no_main]

#[path = "clear.rs"]
mod clear;

use entrex::reconcile;
use libfuzzer_sys::fuzz_target;

use clear::assert_clear;

fuzz_target!(|data: &[u8]| {
    for strict in [false, true] {
        if let Err(e) = reconcile::parse_records_with("fuzz.csv", data, strict) {
            assert_clear("reconcile", &e.to_string());
        }
    }
});
