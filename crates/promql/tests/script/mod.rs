//! Interpreter for the PromQL test-script language (FORMAT.md).

mod check;
mod values;

use std::sync::Arc;

use regex::Regex;
use sightline_model::{Labels, Matcher, stale_nan};
use sightline_promql::parser::{self, Expr};
use sightline_promql::{Engine, EngineOptions};
use sightline_tsdb::{Appendable, Db, Options};

use check::{check_range, instant_eval};
use values::{Item, parse_duration_word, parse_series_line, parse_st_line};

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
    // Per series: labels, values and start-timestamp offsets (FORMAT.md §4.2).
    let mut series: Vec<(Labels, Vec<Item>, Vec<Option<i64>>)> = Vec::new();
    let mut pending_st: Option<(Labels, Vec<Option<i64>>)> = None;
    let mut k = 0;
    while k < block.len() {
        let line = &block[k];
        let first = line.split_whitespace().next().unwrap_or("");
        if first.ends_with("@st") {
            assert!(
                pending_st.is_none(),
                "@st line {line:?} is not followed by its series line"
            );
            pending_st =
                Some(parse_st_line(line).unwrap_or_else(|e| panic!("bad @st line {line:?}: {e}")));
            k += 1;
            continue;
        }
        let (labels, items) =
            parse_series_line(line).unwrap_or_else(|e| panic!("bad series line {line:?}: {e}"));
        let sts = match pending_st.take() {
            Some((l, sts)) => {
                assert_eq!(
                    l, labels,
                    "@st line labels differ from the series line {line:?}"
                );
                assert_eq!(
                    sts.len(),
                    items.len(),
                    "@st line and series line {line:?} expand to different lengths"
                );
                sts
            }
            None => Vec::new(),
        };
        if let Some(pos) = series.iter().position(|(l, _, _)| *l == labels) {
            series[pos].1 = items;
            series[pos].2 = sts;
        } else {
            series.push((labels, items, sts));
        }
        k += 1;
    }
    assert!(
        pending_st.is_none(),
        "@st line without a following series line"
    );
    // (time, series, value, start timestamp or 0)
    let mut samples: Vec<(i64, usize, f64, i64)> = Vec::new();
    for (si, (labels, items, sts)) in series.iter().enumerate() {
        let mut has_hist = false;
        for (idx, it) in items.iter().enumerate() {
            let t = idx as i64 * interval;
            let st = sts.get(idx).copied().flatten().map_or(0, |off| t + off);
            match it {
                Item::Float(v) => samples.push((t, si, *v, st)),
                Item::Stale => samples.push((t, si, stale_nan(), st)),
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
        for (labels, _, _) in &series {
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
    for (t, si, v, st) in samples {
        let _ = if st != 0 {
            app.append_st(&series[si].0, t, st, v)
        } else {
            app.append(&series[si].0, t, v)
        };
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
