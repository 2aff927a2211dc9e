//! `test rules`: promtool's rule unit-test format (`cmd/promtool/unittest.go`).
//! Input series are loaded into memory, every group is evaluated at each
//! `evaluation_interval` step up to the last eval time, firing alerts are
//! compared at each `alert_rule_test` time and `promql_expr_test`s run on
//! the result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use sightline_model::{Labels, MatchOp, stale_nan};
use sightline_promql::{Engine, EngineOptions};

use crate::alerting::AlertState;
use crate::eval::EvalContext;
use crate::group::Group;
use crate::memstore::MemStore;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<String>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    fuzzy_compare: bool,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<PromqlTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    start_timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    #[serde(default)]
    values: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    eval_time: String,
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PromqlTest {
    expr: String,
    eval_time: String,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    #[serde(default)]
    labels: String,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    histogram: Option<String>,
}

/// Outcome of one test file.
#[derive(Debug, Default)]
pub struct FileResult {
    pub passed: usize,
    pub failed: usize,
    /// Problems, promtool-formatted (empty when everything passed).
    pub errors: Vec<String>,
}

fn dur_ms(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(0);
    }
    sightline_config::parse_duration(s).map(|d| d.as_millis() as i64)
}

/// Go's `time.Duration.String()` for whole milliseconds.
pub fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let neg = ms < 0;
    let ms = ms.abs();
    let (h, m) = (ms / 3_600_000, (ms / 60_000) % 60);
    let s = (ms % 60_000) as f64 / 1000.0;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if ms < 1000 {
        out.push_str(&format!("{ms}ms"));
        return out;
    }
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{s}s"));
    out
}

/// Expands promtool/PromQL-test series notation (`1+2x3 _ stale 5x2 _x3`)
/// into per-step values; `None` is a missing step.
pub fn expand_values(s: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        if tok.starts_with("{{") {
            return Err("native histograms are not supported".into());
        }
        let (head, times) = match tok.rsplit_once('x') {
            Some((h, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                (h, Some(n.parse::<usize>().map_err(|e| e.to_string())?))
            }
            _ => (tok, None),
        };
        if head == "_" {
            out.extend(std::iter::repeat_n(None, times.unwrap_or(1)));
            continue;
        }
        if head == "stale" {
            out.extend(std::iter::repeat_n(
                Some(stale_nan()),
                times.map_or(1, |n| n + 1),
            ));
            continue;
        }
        // `a+b` / `a-b`: the step starts at a sign that is not the first
        // character and does not follow an exponent marker.
        let bytes = head.as_bytes();
        let split = (1..bytes.len()).find(|&i| {
            (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E')
        });
        let (a, step) = match split {
            Some(i) => (&head[..i], Some(&head[i..])),
            None => (head, None),
        };
        let a = parse_num(a)?;
        match (step, times) {
            (None, None) => out.push(Some(a)),
            (None, Some(n)) => out.extend(std::iter::repeat_n(Some(a), n + 1)),
            (Some(st), Some(n)) => {
                let st = parse_num(st)?;
                let mut v = a;
                for _ in 0..=n {
                    out.push(Some(v));
                    v += st;
                }
            }
            (Some(_), None) => return Err(format!("invalid series value {tok:?}")),
        }
    }
    Ok(out)
}

fn parse_num(s: &str) -> Result<f64, String> {
    match s.trim_start_matches('+').to_ascii_lowercase().as_str() {
        "inf" => {
            return Ok(if s.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        "-inf" => return Ok(f64::NEG_INFINITY),
        "nan" => return Ok(f64::NAN),
        _ => {}
    }
    s.parse::<f64>()
        .map_err(|_| format!("invalid series value {s:?}"))
}

/// Labels of a series written as a selector (`up{job="a"}`, `{a="b"}`, `name`).
fn series_labels(s: &str) -> Result<Labels, String> {
    if s.trim().is_empty() {
        return Ok(Labels::empty());
    }
    let ms = sightline_promql::parser::parse_selector(s).map_err(|e| e.to_string())?;
    let mut pairs = Vec::new();
    for m in ms {
        if m.op != MatchOp::Equal {
            return Err(format!("invalid series {s:?}: only equality matchers"));
        }
        pairs.push((m.name, m.value));
    }
    Ok(Labels::from_pairs(pairs))
}

fn fmt_labels(l: &Labels) -> String {
    l.to_string()
}

fn fmt_samples(v: &[(Labels, f64)]) -> String {
    let parts: Vec<String> = v
        .iter()
        .map(|(l, x)| format!("{} {}", fmt_labels(l), sightline_promql::format_value(*x)))
        .collect();
    format!("[{}]", parts.join(", "))
}

fn fmt_alerts(v: &[(Labels, Labels)]) -> String {
    let parts: Vec<String> = v
        .iter()
        .map(|(l, a)| format!("Labels:{}\nAnnotations:{}", fmt_labels(l), fmt_labels(a)))
        .collect();
    format!("[\n{}\n]", parts.join("\n"))
}

/// `start_timestamp`: Unix seconds or RFC 3339.
fn parse_start(s: &str) -> Result<i64, String> {
    if let Ok(v) = s.parse::<f64>() {
        return Ok((v * 1000.0) as i64);
    }
    parse_rfc3339(s).ok_or_else(|| format!("cannot parse {s:?} as Unix or RFC 3339 time"))
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    let (date, rest) = s.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-');
    let (y, mo, da): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (time, offset_s) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, 0)
    } else {
        let i = rest.rfind(['+', '-'])?;
        let (h, m) = rest[i + 1..].split_once(':')?;
        let off = h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60;
        (&rest[..i], if &rest[i..i + 1] == "-" { -off } else { off })
    };
    let mut t = time.splitn(3, ':');
    let (h, mi): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let sec: f64 = t.next()?.parse().ok()?;
    let days = sightline_model::civil::days_from_civil(y, mo as u32, da as u32);
    let secs = days * 86400 + h * 3600 + mi * 60 - offset_s;
    Some(secs * 1000 + (sec * 1000.0).round() as i64)
}

fn approx_eq(a: f64, b: f64, fuzzy: bool) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    fuzzy && ((a - b).abs() <= 1e-6 * a.abs().max(b.abs()))
}

/// Runs one test file; rule files are relative to its directory.
pub fn run_file(path: &Path) -> FileResult {
    let mut res = FileResult::default();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            res.failed += 1;
            res.errors.push(format!("  {e}"));
            return res;
        }
    };
    let tf: TestFile = match serde_saphyr::from_str(&text) {
        Ok(t) => t,
        Err(e) => {
            res.failed += 1;
            res.errors
                .push(format!("  {}: {}", path.display(), e.without_snippet()));
            return res;
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let eval_interval = match tf.evaluation_interval.as_deref().map(dur_ms) {
        None => 60_000,
        Some(Ok(0)) => 60_000,
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            res.failed += 1;
            res.errors.push(format!("  evaluation_interval: {e}"));
            return res;
        }
    };
    let files = match resolve(dir, &tf.rule_files) {
        Ok(f) => f,
        Err(e) => {
            res.failed += 1;
            res.errors.push(format!("  {e}"));
            return res;
        }
    };
    let specs = match crate::file::load_files(&files) {
        Ok(s) => s,
        Err(e) => {
            res.failed += 1;
            res.errors.push(format!("  {e}"));
            return res;
        }
    };
    for tg in &tf.tests {
        let errs = run_group(tg, &specs, &tf, eval_interval);
        if errs.is_empty() {
            res.passed += 1;
        } else {
            res.failed += 1;
            let prefix = if tg.name.is_empty() {
                String::new()
            } else {
                format!("    name: {},\n", tg.name)
            };
            for e in errs {
                res.errors.push(format!("{prefix}{e}"));
            }
        }
    }
    res
}

fn resolve(dir: &Path, patterns: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in patterns {
        let full = dir.join(p);
        if p.contains(['*', '?', '[']) {
            let mut matched: Vec<PathBuf> = std::fs::read_dir(full.parent().unwrap_or(dir))
                .map_err(|e| e.to_string())?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| glob_match(&full, f))
                .collect();
            matched.sort();
            out.extend(matched);
        } else {
            out.push(full);
        }
    }
    Ok(out)
}

/// Glob on the file name only (`rules/*.yml`), enough for rule_files.
fn glob_match(pattern: &Path, f: &Path) -> bool {
    let (Some(p), Some(n)) = (pattern.file_name(), f.file_name()) else {
        return false;
    };
    let re = regex::escape(&p.to_string_lossy())
        .replace("\\*", ".*")
        .replace("\\?", ".");
    regex::Regex::new(&format!("^{re}$"))
        .map(|r| r.is_match(&n.to_string_lossy()))
        .unwrap_or(false)
}

fn run_group(
    tg: &TestGroup,
    specs: &[crate::file::GroupSpec],
    tf: &TestFile,
    eval_interval: i64,
) -> Vec<String> {
    let mut errs = Vec::new();
    let interval = match tg.interval.as_deref().map(dur_ms) {
        None | Some(Ok(0)) => eval_interval,
        Some(Ok(d)) => d,
        Some(Err(e)) => return vec![format!("    interval: {e}")],
    };
    let start = match tg.start_timestamp.as_deref().map(parse_start) {
        None => 0,
        Some(Ok(v)) => v,
        Some(Err(e)) => return vec![format!("    start_timestamp: {e}")],
    };
    let store = Arc::new(MemStore::new());
    for s in &tg.input_series {
        let l = match series_labels(&s.series) {
            Ok(l) => l,
            Err(e) => return vec![format!("    {e}")],
        };
        let vals = match expand_values(&s.values) {
            Ok(v) => v,
            Err(e) => return vec![format!("    series {:?}: {e}", s.series)],
        };
        for (i, v) in vals.into_iter().enumerate() {
            if let Some(v) = v {
                store.insert(&l, start + i as i64 * interval, v);
            }
        }
    }
    let engine = Engine::new(EngineOptions {
        default_subquery_step_ms: eval_interval,
        parallelism: 1,
        ..EngineOptions::default()
    });
    let ctx = EvalContext::new(
        engine,
        store.clone(),
        tg.external_labels.clone().into_iter().collect(),
        tg.external_url.clone(),
    );
    let mut groups: Vec<Group> = specs
        .iter()
        .map(|s| {
            let mut g = Group::new(s.clone(), eval_interval, 0);
            g.set_restored();
            g
        })
        .collect();
    if !tf.group_eval_order.is_empty() {
        let pos = |n: &str| {
            tf.group_eval_order
                .iter()
                .position(|x| x == n)
                .unwrap_or(usize::MAX)
        };
        groups.sort_by_key(|g| pos(&g.name));
    }
    // Alert tests by eval time, in order.
    let mut alert_tests: Vec<(i64, &AlertTest)> = Vec::new();
    for at in &tg.alert_rule_test {
        match dur_ms(&at.eval_time) {
            Ok(t) => alert_tests.push((t, at)),
            Err(e) => return vec![format!("    eval_time: {e}")],
        }
    }
    alert_tests.sort_by_key(|(t, _)| *t);
    let mut promql_tests = Vec::new();
    for pt in &tg.promql_expr_test {
        match dur_ms(&pt.eval_time) {
            Ok(t) => promql_tests.push((t, pt)),
            Err(e) => return vec![format!("    eval_time: {e}")],
        }
    }
    let max_t = alert_tests
        .iter()
        .map(|(t, _)| *t)
        .chain(promql_tests.iter().map(|(t, _)| *t))
        .max()
        .unwrap_or(0);
    let mut next_alert = 0;
    let mut ts = 0;
    while ts <= max_t {
        let mut eval_errs = Vec::new();
        for g in &mut groups {
            g.eval(&ctx, store.as_ref(), start + ts, 60_000);
            for r in &g.rules {
                if !r.last_error.is_empty() {
                    eval_errs.push(format!(
                        "    rule: {}, time: {}, err: {}",
                        r.spec.name,
                        go_duration(ts),
                        r.last_error
                    ));
                }
            }
        }
        if !eval_errs.is_empty() {
            return eval_errs;
        }
        // Alert tests with ts <= eval_time < ts + interval compare against this evaluation.
        while next_alert < alert_tests.len() && alert_tests[next_alert].0 < ts + eval_interval {
            let (t, at) = alert_tests[next_alert];
            next_alert += 1;
            let mut got: Vec<(Labels, Labels)> = Vec::new();
            for g in &groups {
                for r in &g.rules {
                    if !r.spec.is_alerting() || r.spec.name != at.alertname {
                        continue;
                    }
                    for a in r.alerts.active.values() {
                        if a.state == AlertState::Firing {
                            got.push((
                                a.labels.clone(),
                                Labels::from_pairs(a.annotations.iter().cloned()),
                            ));
                        }
                    }
                }
            }
            let mut exp: Vec<(Labels, Labels)> = at
                .exp_alerts
                .iter()
                .map(|e| {
                    let mut l = e.exp_labels.clone();
                    l.insert("alertname".into(), at.alertname.clone());
                    (
                        Labels::from_pairs(l),
                        Labels::from_pairs(e.exp_annotations.clone()),
                    )
                })
                .collect();
            got.sort();
            exp.sort();
            if got != exp {
                errs.push(format!(
                    "    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                    at.alertname,
                    go_duration(t),
                    fmt_alerts(&exp),
                    fmt_alerts(&got)
                ));
            }
        }
        ts += eval_interval;
    }
    for (t, pt) in promql_tests {
        let got = match sightline_promql::parse(&pt.expr)
            .map_err(|e| e.to_string())
            .and_then(|e| ctx.query(&pt.expr, &e, start + t))
        {
            Ok(v) => v,
            Err(e) => {
                errs.push(format!(
                    "    expr: {:?}, time: {}, err: {e}",
                    pt.expr,
                    go_duration(t)
                ));
                continue;
            }
        };
        let mut exp = Vec::new();
        let mut bad = None;
        for s in &pt.exp_samples {
            if s.histogram.is_some() {
                bad = Some("native histograms are not supported".to_string());
                break;
            }
            match series_labels(&s.labels) {
                Ok(l) => exp.push((l, s.value.unwrap_or(0.0))),
                Err(e) => {
                    bad = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = bad {
            errs.push(format!(
                "    expr: {:?}, time: {}, err: {e}",
                pt.expr,
                go_duration(t)
            ));
            continue;
        }
        let mut got = got;
        got.sort_by(|a, b| a.0.cmp(&b.0));
        exp.sort_by(|a, b| a.0.cmp(&b.0));
        let same = got.len() == exp.len()
            && got
                .iter()
                .zip(&exp)
                .all(|(g, e)| g.0 == e.0 && approx_eq(g.1, e.1, tf.fuzzy_compare));
        if !same {
            errs.push(format!(
                "    expr: {:?}, time: {},\n        exp: {}\n        got: {}",
                pt.expr,
                go_duration(t),
                fmt_samples(&exp),
                fmt_samples(&got)
            ));
        }
    }
    errs
}

/// Runs every file, printing promtool's report; returns (passed, failed) test groups.
pub fn run_files(files: &[impl AsRef<Path>], out: &mut impl std::io::Write) -> (usize, usize) {
    let (mut passed, mut failed) = (0, 0);
    for f in files {
        let f = f.as_ref();
        let _ = writeln!(out, "Unit Testing:  {}", f.display());
        let r = run_file(f);
        if r.errors.is_empty() {
            let _ = writeln!(out, "  SUCCESS");
        } else {
            let _ = writeln!(out, "  FAILED:");
            for e in &r.errors {
                let _ = writeln!(out, "{e}");
            }
        }
        let _ = writeln!(out);
        passed += r.passed;
        failed += r.failed;
    }
    (passed, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_notation() {
        let v = |s: &str| expand_values(s).unwrap();
        assert_eq!(v("1+1x2"), vec![Some(1.0), Some(2.0), Some(3.0)]);
        assert_eq!(v("1x2"), vec![Some(1.0); 3]);
        assert_eq!(v("-2+4x2"), vec![Some(-2.0), Some(2.0), Some(6.0)]);
        assert_eq!(v("1-1x2"), vec![Some(1.0), Some(0.0), Some(-1.0)]);
        assert_eq!(v("0 _ _x2 5"), vec![Some(0.0), None, None, None, Some(5.0)]);
        let s = v("0 stale");
        assert!(sightline_model::is_stale_nan(s[1].unwrap()));
        assert_eq!(v("1e3"), vec![Some(1000.0)]);
    }

    #[test]
    fn start_timestamps() {
        assert_eq!(parse_start("2024-01-01T00:00:00Z"), Ok(1_704_067_200_000));
        assert_eq!(parse_start("1704067200"), Ok(1_704_067_200_000));
        assert_eq!(
            parse_start("2024-01-01T01:00:00+01:00"),
            Ok(1_704_067_200_000)
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(240_000), "4m0s");
        assert_eq!(go_duration(86_400_000), "24h0m0s");
        assert_eq!(go_duration(179_999), "2m59.999s");
        assert_eq!(go_duration(0), "0s");
    }
}
