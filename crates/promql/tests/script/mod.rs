//! Interpreter for the PromQL test-script language (FORMAT.md).

mod values;

use std::sync::Arc;

use regex::Regex;
use sightline_model::{Labels, Matcher, stale_nan};
use sightline_promql::parser::{self, AtModifier, Expr};
use sightline_promql::{Engine, EngineOptions, Value};
use sightline_tsdb::{Appendable, Db, Options};

use values::{Item, parse_duration_word, parse_series_line};

pub enum Outcome {
    Pass,
    Fail(String),
}

pub struct EvalResult {
    pub line: usize,
    pub expr: String,
    pub native_histogram: bool,
    pub outcome: Outcome,
}

struct Store {
    _dir: tempfile::TempDir,
    db: Arc<Db>,
    /// Label sets holding native-histogram samples since the last `clear`.
    hist_series: Vec<Labels>,
}

impl Store {
    fn new() -> Store {
        let dir = tempfile::tempdir().unwrap();
        // A huge block range so the head accepts loads at any time order.
        let opts = Options {
            block_range_ms: 1 << 42,
            ..Options::default()
        };
        let db = Db::open(dir.path(), opts).unwrap();
        Store {
            _dir: dir,
            db,
            hist_series: Vec::new(),
        }
    }
}

#[derive(Default)]
struct Expect {
    fail: Option<(Option<String>, Option<String>)>, // (msg, regex)
    warn: Vec<Option<Regex>>,
    info: Vec<Option<Regex>>,
    no_warn: bool,
    no_info: bool,
    ordered: bool,
    range_vector: Option<(i64, i64, i64)>,
    string: Option<String>,
    scalar: Option<f64>,
    series: Vec<(Labels, Vec<Item>)>,
}

fn exact(s: &str) -> Regex {
    Regex::new(&format!("^{}$", regex::escape(s))).unwrap()
}

pub fn run_file(_name: &str, text: &str) -> Vec<EvalResult> {
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| {
            let t = l.trim();
            if t.starts_with('#') {
                String::new()
            } else {
                t.to_string()
            }
        })
        .collect();
    let mut store = Store::new();
    let mut results = Vec::new();
    let mut i = 0;
    let engine = Engine::new(EngineOptions {
        timeout: std::time::Duration::from_secs(100),
        ..Default::default()
    });
    while i < lines.len() {
        let l = &lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let word = l.split_whitespace().next().unwrap().to_ascii_lowercase();
        if word == "clear" {
            store = Store::new();
            i += 1;
            continue;
        }
        if word.starts_with("load") {
            let nhcb = word == "load_with_nhcb";
            let interval = parse_duration_word(l.split_whitespace().nth(1).unwrap_or("")).unwrap();
            let mut j = i + 1;
            let mut block = Vec::new();
            while j < lines.len() && !lines[j].is_empty() {
                block.push(lines[j].clone());
                j += 1;
            }
            load(&mut store, interval, nhcb, &block);
            i = j;
            continue;
        }
        if word.starts_with("eval") {
            let header_line = i + 1;
            let mut j = i + 1;
            let mut body = Vec::new();
            while j < lines.len() && !lines[j].is_empty() {
                let b = lines[j].clone();
                j += 1;
                let is_number = parse_bare_number(&b).is_some();
                body.push(b);
                if is_number {
                    break;
                }
            }
            results.push(run_eval(&engine, &store, l, &body, header_line));
            i = j;
            continue;
        }
        panic!("invalid command at line {}: {l}", i + 1);
    }
    results
}

fn parse_bare_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    let (neg, body) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let lower = body.to_ascii_lowercase();
    let v = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()? as f64
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()? as f64
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()? as f64
    } else if lower == "inf" || lower == "+inf" {
        f64::INFINITY
    } else if lower == "nan" {
        f64::NAN
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|c| c.is_ascii_digit())
    {
        i64::from_str_radix(&lower[1..], 8).ok()? as f64
    } else {
        if !lower
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'+' | b'-'))
        {
            return None;
        }
        lower.parse::<f64>().ok()?
    };
    Some(if neg { -v } else { v })
}

fn load(store: &mut Store, interval: i64, nhcb: bool, block: &[String]) {
    let mut series: Vec<(Labels, Vec<Item>)> = Vec::new();
    let mut k = 0;
    while k < block.len() {
        let line = &block[k];
        let first = line.split_whitespace().next().unwrap_or("");
        if first.ends_with("@st") {
            // Start timestamps are not stored by this storage; skip the annotation line.
            k += 1;
            continue;
        }
        let (labels, items) =
            parse_series_line(line).unwrap_or_else(|e| panic!("bad series line {line:?}: {e}"));
        if let Some(pos) = series.iter().position(|(l, _)| *l == labels) {
            series[pos].1 = items;
        } else {
            series.push((labels, items));
        }
        k += 1;
    }
    let mut samples: Vec<(i64, usize, f64)> = Vec::new();
    for (si, (labels, items)) in series.iter().enumerate() {
        let mut has_hist = false;
        for (idx, it) in items.iter().enumerate() {
            let t = idx as i64 * interval;
            match it {
                Item::Float(v) => samples.push((t, si, *v)),
                Item::Stale => samples.push((t, si, stale_nan())),
                Item::Histogram => has_hist = true,
                Item::Omitted => {}
            }
        }
        if has_hist && !store.hist_series.contains(labels) {
            store.hist_series.push(labels.clone());
        }
    }
    if nhcb {
        // The converted NHCB series live under the base name; we cannot store
        // them, but remember them so evals that select them count as native.
        for (labels, _) in &series {
            if let Some(name) = labels.get("__name__") {
                for suf in ["_bucket", "_sum", "_count"] {
                    if let Some(base) = name.strip_suffix(suf) {
                        let mut b = labels.to_builder();
                        b.set("__name__", base.to_string());
                        b.del("le");
                        let l = b.build();
                        if !store.hist_series.contains(&l) {
                            store.hist_series.push(l);
                        }
                    }
                }
            }
        }
    }
    samples.sort_by_key(|s| (s.0, s.1));
    let mut app = store.db.appender();
    for (t, si, v) in samples {
        let _ = app.append(&series[si].0, t, v);
    }
    app.commit().unwrap();
}

fn parse_expect_text(rest: &str) -> Result<Option<Regex>, String> {
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(None);
    }
    if let Some(m) = rest.strip_prefix("msg:") {
        return Ok(Some(exact(m.trim())));
    }
    if let Some(r) = rest.strip_prefix("regex:") {
        return Regex::new(r.trim()).map(Some).map_err(|e| e.to_string());
    }
    Err(format!("bad expect modifier {rest:?}"))
}

fn parse_body(header_suffix: &str, body: &[String]) -> Result<Expect, String> {
    let mut ex = Expect::default();
    match header_suffix {
        "_fail" => ex.fail = Some((None, None)),
        "_warn" => ex.warn.push(None),
        "_info" => ex.info.push(None),
        "_ordered" => ex.ordered = true,
        _ => {}
    }
    for b in body {
        if let Some(rest) = b.strip_prefix("expect ") {
            let rest = rest.trim();
            let (kind, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            match kind {
                "fail" => {
                    let tail = tail.trim();
                    if let Some(m) = tail.strip_prefix("msg:") {
                        ex.fail = Some((Some(m.trim().to_string()), None));
                    } else if let Some(r) = tail.strip_prefix("regex:") {
                        ex.fail = Some((None, Some(r.trim().to_string())));
                    } else {
                        ex.fail = Some((None, None));
                    }
                }
                "warn" => ex.warn.push(parse_expect_text(tail)?),
                "info" => ex.info.push(parse_expect_text(tail)?),
                "no_warn" => ex.no_warn = true,
                "no_info" => ex.no_info = true,
                "ordered" => ex.ordered = true,
                "range" => {
                    let w: Vec<&str> = tail.split_whitespace().collect();
                    // vector from <a> to <b> step <s>
                    let a = parse_duration_word(w[2])?;
                    let b = parse_duration_word(w[4])?;
                    let s = parse_duration_word(w[6])?;
                    ex.range_vector = Some((a, b, s));
                }
                "string" => {
                    let q = tail.trim();
                    let v = if let Some(r) = q.strip_prefix('`') {
                        r.strip_suffix('`').unwrap_or(r).to_string()
                    } else {
                        let inner = q
                            .strip_prefix('"')
                            .and_then(|r| r.strip_suffix('"'))
                            .ok_or("bad string")?;
                        parser::lexer::unescape(inner, '"')?
                    };
                    ex.string = Some(v);
                }
                _ => return Err(format!("unknown expectation {kind}")),
            }
            continue;
        }
        if let Some(v) = parse_bare_number(b) {
            ex.scalar = Some(v);
            continue;
        }
        ex.series.push(parse_series_line(b)?);
    }
    Ok(ex)
}

fn float_eq(exp: f64, got: f64) -> bool {
    let se = sightline_model::is_stale_nan(exp);
    let sg = sightline_model::is_stale_nan(got);
    if se || sg {
        return se && sg;
    }
    if exp.is_nan() && got.is_nan() {
        return true;
    }
    if exp == got {
        return true;
    }
    let sum = exp.abs() + got.abs();
    let diff = (exp - got).abs();
    const MIN_NORMAL: f64 = 2.2250738585072014e-308;
    if exp == 0.0 || got == 0.0 || sum < MIN_NORMAL {
        return diff < 1e-6 * MIN_NORMAL;
    }
    diff / sum.min(f64::MAX) < 1e-6
}

/// Does the expression select any series that holds native histograms?
fn touches_histograms(e: &Expr, hist: &[Labels]) -> bool {
    if hist.is_empty() {
        return false;
    }
    let mut hit = false;
    e.walk(&mut |n| {
        let ms: Option<&Vec<Matcher>> = match n {
            Expr::Vector(vs) => Some(&vs.matchers),
            Expr::Matrix { vs, .. } => Some(&vs.matchers),
            _ => None,
        };
        if let Some(ms) = ms
            && hist.iter().any(|l| ms.iter().all(|m| m.matches_labels(l)))
        {
            hit = true;
        }
    });
    hit
}

fn run_eval(
    engine: &Engine,
    store: &Store,
    header: &str,
    body: &[String],
    line: usize,
) -> EvalResult {
    let inst =
        Regex::new(r"^eval(_fail|_warn|_ordered|_info)?\s+instant\s+(?:at\s+(\S+))?\s+(.+)$")
            .unwrap();
    let range = Regex::new(
        r"^eval(_fail|_warn|_info)?\s+range\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)\s+(.+)$",
    )
    .unwrap();
    let has_hist_syntax = header.contains("{{") || body.iter().any(|b| b.contains("{{"));
    let mut res = EvalResult {
        line,
        expr: String::new(),
        native_histogram: has_hist_syntax,
        outcome: Outcome::Pass,
    };
    let outcome = (|| -> Result<(), String> {
        if let Some(c) = inst.captures(header) {
            let suffix = c.get(1).map(|m| m.as_str()).unwrap_or("");
            let t = parse_duration_word(c.get(2).map(|m| m.as_str()).unwrap_or(""))?;
            let q = c.get(3).unwrap().as_str().to_string();
            res.expr = q.clone();
            let expr = parser::parse(&q).map_err(|e| format!("parse: {e}"))?;
            if touches_histograms(&expr, &store.hist_series) {
                res.native_histogram = true;
            }
            let ex = parse_body(suffix, body)?;
            instant_eval(engine, store, &q, &expr, t, &ex)
        } else if let Some(c) = range.captures(header) {
            let suffix = c.get(1).map(|m| m.as_str()).unwrap_or("");
            let start = parse_duration_word(&c[2])?;
            let end = parse_duration_word(&c[3])?;
            let step = parse_duration_word(&c[4])?;
            let q = c[5].to_string();
            res.expr = q.clone();
            let expr = parser::parse(&q).map_err(|e| format!("parse: {e}"))?;
            if touches_histograms(&expr, &store.hist_series) {
                res.native_histogram = true;
            }
            let ex = parse_body(suffix, body)?;
            let r = engine.exec(store.db.as_ref(), &q, &expr, start, end, step);
            check_range(&ex, r, start, step)
        } else {
            Err(format!("bad eval header: {header}"))
        }
    })();
    if let Err(e) = outcome {
        res.outcome = Outcome::Fail(e);
    }
    res
}

fn check_annotations(ex: &Expect, warnings: &[String], infos: &[String]) -> Result<(), String> {
    for (want, got, none, kind) in [
        (&ex.warn, warnings, ex.no_warn, "warning"),
        (&ex.info, infos, ex.no_info, "info"),
    ] {
        if none && !got.is_empty() {
            return Err(format!("unexpected {kind}s: {got:?}"));
        }
        if want.is_empty() {
            continue;
        }
        if got.is_empty() {
            return Err(format!("expected {kind} annotations, got none"));
        }
        for w in want.iter().flatten() {
            if !got.iter().any(|g| w.is_match(g)) {
                return Err(format!("no {kind} matches {w}: got {got:?}"));
            }
        }
        let res: Vec<&Regex> = want.iter().flatten().collect();
        if !res.is_empty() {
            for g in got {
                if !res.iter().any(|r| r.is_match(g)) {
                    return Err(format!("unexpected {kind} {g:?}"));
                }
            }
        }
    }
    Ok(())
}

fn check_fail(
    ex: &Expect,
    r: &Result<sightline_promql::QueryResult, sightline_promql::QueryError>,
) -> Result<bool, String> {
    if let Some((msg, re)) = &ex.fail {
        return match r {
            Ok(_) => Err("expected failure, query succeeded".into()),
            Err(e) => {
                if let Some(m) = msg
                    && &e.msg != m
                {
                    return Err(format!("expected error {m:?}, got {:?}", e.msg));
                }
                if let Some(re) = re
                    && !Regex::new(re).unwrap().is_match(&e.msg)
                {
                    return Err(format!("error {:?} does not match {re:?}", e.msg));
                }
                Ok(true)
            }
        };
    }
    if let Err(e) = r {
        return Err(format!("unexpected error: {}", e.msg));
    }
    Ok(false)
}

const UNSAFE_FOR_AT: &[&str] = &[
    "time",
    "timestamp",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "start",
    "end",
    "step",
    "range",
];

/// Attaches `@ t` to every selector and subquery without one (not inside a subquery that has one).
fn pin_at(e: &Expr, t: i64) -> Expr {
    let mut e = e.clone();
    fn go(e: &mut Expr, t: i64) {
        match e {
            Expr::Vector(vs) if vs.at.is_none() => {
                vs.at = Some(AtModifier::Time(t));
            }
            Expr::Matrix { vs, .. } if vs.at.is_none() => {
                vs.at = Some(AtModifier::Time(t));
            }
            Expr::Subquery { expr, at, .. } => {
                // Selectors inside a pinned subquery stay relative to its steps.
                let _ = expr;
                if at.is_none() {
                    *at = Some(AtModifier::Time(t));
                }
            }
            Expr::Paren { expr, .. } | Expr::Unary { expr, .. } => go(expr, t),
            Expr::Binary { lhs, rhs, .. } => {
                go(lhs, t);
                go(rhs, t);
            }
            Expr::Aggregate { expr, param, .. } => {
                go(expr, t);
                if let Some(p) = param {
                    go(p, t);
                }
            }
            Expr::Call { args, .. } => {
                for a in args {
                    go(a, t);
                }
            }
            _ => {}
        }
    }
    go(&mut e, t);
    e
}

fn instant_eval(
    engine: &Engine,
    store: &Store,
    q: &str,
    expr: &Expr,
    t: i64,
    ex: &Expect,
) -> Result<(), String> {
    let at_t = ex.range_vector.map(|r| r.1).unwrap_or(t);
    let run = |query: &str, e: &Expr, at: i64| engine.exec(store.db.as_ref(), query, e, at, at, 0);
    let check_one = |query: &str, e: &Expr, at: i64| -> Result<(), String> {
        let r = run(query, e, at);
        if check_fail(ex, &r)? {
            return Ok(());
        }
        let r = r.unwrap();
        check_annotations(ex, &r.warnings, &r.infos)?;
        check_instant_value(ex, &r.value)
    };
    check_one(q, expr, at_t).map_err(|e| e.to_string())?;
    let mut unsafe_fn = false;
    expr.walk(&mut |n| {
        if let Expr::Call { func, .. } = n
            && UNSAFE_FOR_AT.contains(&func.name)
        {
            unsafe_fn = true;
        }
    });
    let mut runs: Vec<(String, Expr)> = vec![(q.to_string(), expr.clone())];
    if !unsafe_fn && ex.range_vector.is_none() {
        let pinned = pin_at(expr, at_t);
        let s = pinned.to_string();
        let reparsed =
            parser::parse(&s).map_err(|e| format!("re-serialised {s:?} does not parse: {e}"))?;
        let times: Vec<i64> = if at_t == 0 {
            vec![-1000, 0, 1000]
        } else {
            vec![-10 * at_t, 0, at_t / 5, at_t, 10 * at_t]
        };
        for tt in times {
            check_one(&s, &reparsed, tt).map_err(|e| format!("re-run of {s:?} at {tt}ms: {e}"))?;
        }
        runs.push((s, reparsed));
    }
    let skip_range = ex.range_vector.is_some()
        || ex.string.is_some()
        || ex.fail.is_some()
        || ["start()", "end()", "range()", "step()"]
            .iter()
            .any(|f| q.contains(f));
    if skip_range {
        return Ok(());
    }
    for (s, e) in runs {
        let r = engine.exec(
            store.db.as_ref(),
            &s,
            &e,
            at_t - 60_000,
            at_t + 60_000,
            60_000,
        );
        let r = r.map_err(|e| format!("range-mode run of {s:?} failed: {}", e.msg))?;
        let Value::Matrix(m) = r.value else {
            return Err("range-mode run did not return a matrix".into());
        };
        for w in m.windows(2) {
            if w[0].labels > w[1].labels {
                return Err("range-mode result not sorted".into());
            }
        }
        if ex.ordered {
            continue;
        }
        if let Some(want) = ex.scalar {
            let got = m
                .first()
                .and_then(|s| s.points.iter().find(|p| p.0 == at_t))
                .map(|p| p.1);
            match got {
                Some(g) if float_eq(want, g) => {}
                g => return Err(format!("range-mode: expected scalar {want}, got {g:?}")),
            }
            continue;
        }
        let mut samples = Vec::new();
        for s in m {
            if let Some(p) = s.points.iter().find(|p| p.0 == at_t) {
                samples.push(sightline_promql::eval::Sample {
                    labels: s.labels.clone(),
                    t: at_t,
                    v: p.1,
                });
            }
        }
        let mut ex2 = Expect {
            series: ex.series.clone(),
            ..Default::default()
        };
        ex2.ordered = false;
        check_instant_value(&ex2, &Value::Vector(samples))
            .map_err(|e| format!("range-mode check of {s:?}: {e}"))?;
    }
    Ok(())
}

fn first_value(items: &[Item]) -> Result<f64, String> {
    match items.first() {
        Some(Item::Float(v)) => Ok(*v),
        Some(Item::Stale) => Ok(stale_nan()),
        Some(Item::Histogram) => Err("expected histogram (unsupported)".into()),
        _ => Err("expected series line without value".into()),
    }
}

fn check_instant_value(ex: &Expect, v: &Value) -> Result<(), String> {
    if let Some(s) = &ex.string {
        return match v {
            Value::String { v, .. } if v == s => Ok(()),
            other => Err(format!("expected string {s:?}, got {other:?}")),
        };
    }
    if let Some(want) = ex.scalar {
        return match v {
            Value::Scalar { v, .. } if float_eq(want, *v) => Ok(()),
            other => Err(format!("expected scalar {want}, got {other:?}")),
        };
    }
    if let Some((a, b, step)) = ex.range_vector {
        let Value::Matrix(m) = v else {
            return Err(format!("expected range vector, got {}", v.type_name()));
        };
        if m.len() != ex.series.len() {
            return Err(format!(
                "expected {} series, got {}: {m:?}",
                ex.series.len(),
                m.len()
            ));
        }
        for (labels, items) in &ex.series {
            let Some(s) = m.iter().find(|s| s.labels == *labels) else {
                return Err(format!("missing series {labels}"));
            };
            let mut want = Vec::new();
            let mut t = a;
            for it in items {
                if t > b {
                    break;
                }
                match it {
                    Item::Float(f) => want.push((t, *f)),
                    Item::Stale => want.push((t, stale_nan())),
                    Item::Histogram => return Err("histogram expected".into()),
                    Item::Omitted => {}
                }
                t += step;
            }
            if want.len() != s.points.len()
                || want
                    .iter()
                    .zip(&s.points)
                    .any(|(w, g)| w.0 != g.0 || !float_eq(w.1, g.1))
            {
                return Err(format!(
                    "series {labels}: expected {want:?}, got {:?}",
                    s.points
                ));
            }
        }
        return Ok(());
    }
    let samples = match v {
        Value::Vector(s) => s,
        Value::Matrix(m) if m.is_empty() && ex.series.is_empty() => return Ok(()),
        other => return Err(format!("expected vector, got {}", other.type_name())),
    };
    if samples.len() != ex.series.len() {
        return Err(format!(
            "expected {} samples, got {}: {}",
            ex.series.len(),
            samples.len(),
            samples
                .iter()
                .map(|s| format!("{} {}", s.labels, s.v))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for (idx, (labels, items)) in ex.series.iter().enumerate() {
        let want = first_value(items)?;
        let Some(pos) = samples.iter().position(|s| s.labels == *labels) else {
            return Err(format!(
                "missing series {labels}; got {}",
                samples
                    .iter()
                    .map(|s| format!("{} {}", s.labels, s.v))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        if ex.ordered && pos != idx {
            return Err(format!("series {labels} at position {pos}, expected {idx}"));
        }
        if !float_eq(want, samples[pos].v) {
            return Err(format!(
                "series {labels}: expected {want}, got {}",
                samples[pos].v
            ));
        }
    }
    Ok(())
}

fn check_range(
    ex: &Expect,
    r: Result<sightline_promql::QueryResult, sightline_promql::QueryError>,
    start: i64,
    step: i64,
) -> Result<(), String> {
    if check_fail(ex, &r)? {
        return Ok(());
    }
    let r = r.unwrap();
    check_annotations(ex, &r.warnings, &r.infos)?;
    if ex.ordered {
        return Err("ordered is not allowed for range queries".into());
    }
    let Value::Matrix(m) = r.value else {
        return Err("range query did not return a matrix".into());
    };
    for w in m.windows(2) {
        if w[0].labels > w[1].labels {
            return Err("matrix not sorted".into());
        }
    }
    if m.len() != ex.series.len() {
        return Err(format!(
            "expected {} series, got {}: {}",
            ex.series.len(),
            m.len(),
            m.iter()
                .map(|s| format!("{} {:?}", s.labels, s.points))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    for (labels, items) in &ex.series {
        let Some(s) = m.iter().find(|s| s.labels == *labels) else {
            return Err(format!(
                "missing series {labels}; got {}",
                m.iter()
                    .map(|s| s.labels.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let mut want = Vec::new();
        for (k, it) in items.iter().enumerate() {
            let t = start + k as i64 * step;
            match it {
                Item::Float(f) => want.push((t, *f)),
                Item::Stale => want.push((t, stale_nan())),
                Item::Histogram => return Err("histogram expected".into()),
                Item::Omitted => {}
            }
        }
        if want.len() != s.points.len()
            || want
                .iter()
                .zip(&s.points)
                .any(|(w, g)| w.0 != g.0 || !float_eq(w.1, g.1))
        {
            return Err(format!(
                "series {labels}: expected {want:?}, got {:?}",
                s.points
            ));
        }
    }
    Ok(())
}
