#![no_main]
//! Alertmanager matcher parsing and alertmanager.yml loading.

use libfuzzer_sys::fuzz_target;
use sightline_alertmanager::{config, matchers};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let _ = matchers::parse_matchers(input);
    let _ = matchers::parse_matcher(input);
    if let Ok(cfg) = config::load_str(input, "alertmanager.yml") {
        let _ = cfg.to_yaml();
    }
});
