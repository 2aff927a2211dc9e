#![no_main]
//! PromQL and config duration parsing, with the printer round trip.

use libfuzzer_sys::fuzz_target;
use sightline_promql::parser::{format_duration, parse_duration};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ms) = parse_duration(input) {
        let printed = format_duration(ms);
        let back = parse_duration(&printed)
            .unwrap_or_else(|e| panic!("printed {printed:?} of {input:?} does not parse: {e}"));
        assert_eq!(back, ms, "{input:?} -> {printed:?}");
    }
    if let Ok(d) = sightline_config::parse_duration(input) {
        let _ = d.to_string();
    }
    let _ = sightline_config::parse_byte_size(input);
});
