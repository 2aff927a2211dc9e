//! Runs the OpenMetrics parser conformance suite (shared/conformance, outside
//! the repository) and requires every case's accept/reject verdict to match.

use std::path::PathBuf;

use sightline_scrape::parser::{Entry, Format, SinkError, parse};

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/openmetrics/parsers")
}

/// `test.json` is `{"type": "text", "file": "metrics", "shouldParse": <bool>, ...}`;
/// the one field we need does not justify a JSON dependency.
fn should_parse(json: &str) -> Option<bool> {
    let rest = json.split_once("\"shouldParse\"")?.1;
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    if rest.starts_with("true") {
        Some(true)
    } else if rest.starts_with("false") {
        Some(false)
    } else {
        None
    }
}

#[test]
fn openmetrics_conformance() {
    let dir = suite_dir();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", dir.display());

    // OPENMETRICS_VERBOSE=1 prints each case's verdict and error message.
    let verbose = std::env::var_os("OPENMETRICS_VERBOSE").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let json = std::fs::read_to_string(case.join("test.json")).unwrap();
        let want = should_parse(&json).unwrap_or_else(|| panic!("{name}: no shouldParse"));
        let input = std::fs::read(case.join("metrics")).unwrap();
        let mut sink = |_: Entry<'_>| -> Result<(), SinkError> { Ok(()) };
        let got = parse(Format::OpenMetrics, &input, 0, &mut sink);
        if verbose {
            match &got {
                Ok(()) => println!("{name}: ok"),
                Err(e) => println!("{name}: {e}"),
            }
        }
        if got.is_ok() != want {
            let why = match got {
                Ok(()) => "accepted, should be rejected".to_owned(),
                Err(e) => format!("rejected ({e}), should parse"),
            };
            failures.push(format!("{name}: {why}"));
        }
    }
    println!(
        "openmetrics conformance: {}/{} passed",
        cases.len() - failures.len(),
        cases.len()
    );
    for f in &failures {
        println!("  FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "{} conformance cases failed",
        failures.len()
    );
}
