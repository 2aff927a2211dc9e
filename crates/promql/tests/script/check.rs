//! Running an eval and checking its result, errors and annotations against
//! the expectations (FORMAT.md 5.3, 7.2-7.4).

use regex::Regex;
use sightline_model::stale_nan;
use sightline_promql::parser::{self, AtModifier, Expr};
use sightline_promql::{Engine, Value};

use super::values::Item;
use super::{Expect, Store};

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

pub(super) fn instant_eval(
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

pub(super) fn check_range(
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
