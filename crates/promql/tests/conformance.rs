//! Runs Prometheus's PromQL test scripts (`../shared/conformance/promql/*.test`,
//! language described in FORMAT.md there) against the engine, with data loaded
//! through the tsdb `Appender` into a real `Db`. Prints pass/fail per file;
//! evals touching native histograms are counted separately.

use crate::script;

use std::path::PathBuf;

use script::{Outcome, run_file};

/// Float (non-native-histogram) evals known to pass; raise it as the engine improves.
/// All of them pass, start_timestamps.test included (its `@st` lines are loaded
/// through `Appender::append_st`).
const FLOAT_PASS_FLOOR: usize = 1288;

#[test]
fn promql_conformance() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/promql");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let only = std::env::var("PROMQL_TEST_FILE").ok();
    let verbose = std::env::var("PROMQL_VERBOSE").is_ok();
    let (mut fp, mut ft, mut hp, mut ht) = (0, 0, 0, 0);
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        let results = run_file(&name, &text);
        let (mut p, mut t, mut nhp, mut nht) = (0, 0, 0, 0);
        for r in &results {
            let ok = matches!(r.outcome, Outcome::Pass);
            if r.native_histogram {
                nht += 1;
                if ok {
                    nhp += 1;
                }
            } else {
                t += 1;
                if ok {
                    p += 1;
                } else if verbose && let Outcome::Fail(msg) = &r.outcome {
                    println!("  FAIL {}:{}: {}\n        {}", name, r.line, r.expr, msg);
                }
            }
        }
        println!("{name}: {p}/{t} float evals passed (native histograms: {nhp}/{nht})");
        fp += p;
        ft += t;
        hp += nhp;
        ht += nht;
    }
    println!(
        "promql conformance: {fp}/{ft} evals passed (native histograms: {hp}/{ht} counted separately)"
    );
    if only.is_none() {
        assert!(
            fp >= FLOAT_PASS_FLOOR,
            "float evals passing regressed: {fp} < {FLOAT_PASS_FLOOR}"
        );
    }
}
