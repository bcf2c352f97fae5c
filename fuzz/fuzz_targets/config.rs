//! The configuration parser and option reader on arbitrary bytes: they must
//! return a value or an error, never panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(map) = ringnats::config::parse_str(&text, Path::new("fuzz.conf")) {
        let _ = ringnats::config::Options::from_map(&map);
    }
});
