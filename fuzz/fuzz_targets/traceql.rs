#![no_main]
//! TraceQL parser and the trace API's parameter parsers.

use libfuzzer_sys::fuzz_target;
use sightline_trace_api::{params, traceql};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(q) = traceql::parse(input) {
        let _ = q.prefilter();
        let _ = q.selective_after_fetch();
    }
    let _ = params::parse_go_duration(input);
    let _ = params::parse_rfc3339(input);
    let p = params::Params::parse(Some(input));
    let _ = p.map();
});
