//! The default US normaliser's `split` and `normalise`, natively: the
//! same code the WebAssembly component runs on a source's batch. Every batch
//! is cut or refused with a clear error; every record it yields is
//! normalised or rejected with a clear reason.
#![no_main]

#[path = "clear.rs"]
mod clear;

use libfuzzer_sys::fuzz_target;

use clear::assert_clear;

fuzz_target!(|data: &[u8]| {
    match us_normaliser::split_batch(data) {
        Ok(records) => {
            for record in records {
                if let Err(rejection) = us_normaliser::normalise_record(&record.data) {
                    assert_clear("normalise", &rejection.reason);
                }
            }
        }
        Err(e) => assert_clear("split", &e),
    }
    if let Err(rejection) = us_normaliser::normalise_record(data) {
        assert_clear("normalise", &rejection.reason);
    }
});
