#![no_main]
//! prometheus.yml loading.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let _ = sightline_config::load_str(input, "prometheus.yml");
});
