#![no_main]
//! Prometheus text and OpenMetrics exposition parsers.

use libfuzzer_sys::fuzz_target;
use sightline_scrape::parser::{Format, OwnedEntry, ParseOptions, parse_with};

fuzz_target!(|data: &[u8]| {
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        for validate_openmetrics in [true, false] {
            if format == Format::PrometheusText && !validate_openmetrics {
                continue;
            }
            let mut sink: Vec<OwnedEntry> = Vec::new();
            let opts = ParseOptions {
                validate_openmetrics,
            };
            let _ = parse_with(format, data, 1_700_000_000_000, opts, &mut sink);
        }
    }
});
