//! `check rules` and `test rules` against promtool's own fixtures (read in
//! place from the shared conformance folder).

use std::path::PathBuf;

use sightline_rules::{check, unittest};

fn testdata(f: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/prometheus/cmd/promtool/testdata")
        .join(f)
}

fn rulefmt(f: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/prometheus/model/rulefmt/testdata")
        .join(f)
}

#[test]
fn check_rules_good_and_bad_files() {
    for good in ["rules.yml", "rules_large.yml"] {
        assert!(
            check::check_file(&testdata(good)).is_ok(),
            "{good}: {:?}",
            check::check_file(&testdata(good))
        );
    }
    for good in [
        "test.yaml",
        "utf-8_lname.good.yaml",
        "utf-8_annotation.good.yaml",
    ] {
        let r = check::check_file(&rulefmt(good));
        assert!(r.is_ok(), "{good}: {r:?}");
    }
    let dir = rulefmt("");
    let mut bad = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        // Legacy-name validation is an opt-in scheme; UTF-8 names are valid by default.
        if !name.ends_with(".bad.yaml") || name.starts_with("legacy_") {
            continue;
        }
        let r = check::check_file(&p);
        let e = r.expect_err(&name);
        // file:line: field: problem
        assert!(e.contains(&format!("{name}:")), "{e}");
        let line = e.split(':').nth(1).unwrap_or("");
        assert!(line.trim().parse::<u32>().is_ok(), "no line in {e}");
        bad += 1;
    }
    assert!(bad >= 9, "{bad} bad files checked");
    let e = check::check_file(&testdata("rules-bad.yml")).unwrap_err();
    assert!(e.contains("rules-bad.yml:"), "{e}");
}

#[test]
fn promtool_unit_tests() {
    let mut total_pass = 0;
    let mut total_fail = 0;
    let mut out = Vec::new();
    for (file, must_pass) in [
        ("unittest.yml", false), // has native-histogram cases, not stored yet
        ("failing.yml", false),
        ("long-period.yml", true),
        ("at-modifier-test.yml", true),
        ("negative-offset-test.yml", true),
        ("bad-rules-error-test.yml", false),
        ("bad-rules-syntax-test.yml", false),
        ("rules_run.yml", false), /* has a deliberately wrong group for --run */
        ("no-test-group-interval.yml", true),
        ("start-time-test.yml", true),
    ] {
        let r = unittest::run_file(&testdata(file));
        out.push(format!(
            "{file}: {} passed, {} failed\n{}",
            r.passed,
            r.failed,
            r.errors.join("\n")
        ));
        if must_pass {
            assert_eq!(r.failed, 0, "{file}:\n{}", r.errors.join("\n"));
        }
        total_pass += r.passed;
        total_fail += r.failed;
    }
    println!("{}", out.join("\n"));
    println!("promtool unit tests: {total_pass} passed, {total_fail} failed");
    // failing.yml must fail every group.
    let f = unittest::run_file(&testdata("failing.yml"));
    assert_eq!(f.passed, 0);
    assert!(f.failed >= 2);
    // unittest.yml: everything except the native-histogram group passes.
    let u = unittest::run_file(&testdata("unittest.yml"));
    assert_eq!((u.passed, u.failed), (4, 1), "{}", u.errors.join("\n"));
}
