//! FLP YAML configuration parsing: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = netobserv_flow::config::Config::from_yaml(text);
    }
});
