#![no_main]
//! PromQL parser, selector parser and printer round trip.

use libfuzzer_sys::fuzz_target;
use sightline_promql::parser::{parse_selector, pretty};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_selector(input);
    let Ok(expr) = sightline_promql::parse(input) else {
        return;
    };
    // The printed form must parse back to an expression that prints the same.
    let printed = expr.to_string();
    let again = sightline_promql::parse(&printed)
        .unwrap_or_else(|e| panic!("printed form {printed:?} of {input:?} does not parse: {e}"));
    assert_eq!(again.to_string(), printed, "printing is not stable for {input:?}");
    let pretty_form = pretty(&expr, 0);
    if let Err(e) = sightline_promql::parse(&pretty_form) {
        panic!("pretty form {pretty_form:?} of {input:?} does not parse: {e}");
    }
});
