//! The configuration loader: TOML syntax, then every key's type and value
//! (paths are only resolved, never read, by `Settings::parse`). Whatever an
//! operator writes is loaded or refused with a message naming the key.
#![no_main]

#[path = "clear.rs"]
mod clear;

use std::path::Path;

use entrex::config::Settings;
use libfuzzer_sys::fuzz_target;

use clear::assert_clear;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // Settings::load refuses non-UTF-8 before parsing.
    };
    if let Err(e) = Settings::parse(text, Path::new("/fuzz/hub.toml")) {
        assert_clear("config", &e.to_string());
    }
});
