//! `info(v, [selector])`: enriches series with the data labels of matching
//! info metrics (`target_info` by default), joined on `instance` and `job`.
//! The info series are looked up at the same reference time as the first
//! selector of `v` (its `@` and offsets, and those of enclosing subqueries).

use std::collections::HashMap;

use sightline_model::{Labels, LabelsBuilder, MatchOp, Matcher, is_stale_nan};

use super::QueryError;
use super::evaluator::{Evaluator, R, merge_same_labels};
use super::types::*;
use crate::parser::{AtModifier, Expr, Pos};

const IDENTIFYING: [&str; 2] = ["instance", "job"];

/// `@`/offset modifiers on the way from the root to the first vector selector.
fn time_chain(e: &Expr, out: &mut Vec<(Option<AtModifier>, Option<Expr>)>) -> bool {
    match e {
        Expr::Vector(vs) | Expr::Matrix { vs, .. } => {
            out.push((vs.at, vs.offset.as_deref().cloned()));
            true
        }
        Expr::Subquery {
            expr, at, offset, ..
        } => {
            out.push((*at, offset.as_deref().cloned()));
            if time_chain(expr, out) {
                return true;
            }
            out.pop();
            false
        }
        Expr::Paren { expr, .. } | Expr::Unary { expr, .. } => time_chain(expr, out),
        Expr::Binary { lhs, rhs, .. } => time_chain(lhs, out) || time_chain(rhs, out),
        Expr::Aggregate { expr, param, .. } => {
            param.as_deref().is_some_and(|p| time_chain(p, out)) || time_chain(expr, out)
        }
        Expr::Call { args, .. } => args.iter().any(|a| time_chain(a, out)),
        _ => false,
    }
}

fn identifying(l: &Labels) -> Vec<(String, String)> {
    IDENTIFYING
        .iter()
        .filter_map(|n| l.get(n).map(|v| (n.to_string(), v.to_string())))
        .collect()
}

impl Evaluator<'_> {
    pub fn eval_info(&mut self, args: &[Expr], _pos: Pos, grid: &Grid) -> R<IVal> {
        let n = grid.n;
        let input = self.eval_vector(&args[0], grid)?;
        let mut data_ms: HashMap<String, Vec<Matcher>> = HashMap::new();
        let mut name_ms: Vec<Matcher> = Vec::new();
        match args.get(1).map(|a| a.unparen()) {
            Some(Expr::Vector(vs)) => {
                for m in &vs.matchers {
                    if m.name == "__name__" {
                        name_ms.push(m.clone());
                    } else {
                        data_ms.entry(m.name.clone()).or_default().push(m.clone());
                    }
                }
            }
            _ => name_ms.push(Matcher::equal("__name__", "target_info")),
        }
        // Only positive name matchers define which info metrics a series may be
        // (a series is passed through untouched if it is one of them).
        let has_positive = name_ms
            .iter()
            .any(|m| matches!(m.op, MatchOp::Equal | MatchOp::Regex));
        let is_info = |l: &Labels| {
            has_positive
                && name_ms
                    .iter()
                    .all(|m| m.matches(l.get("__name__").unwrap_or("")))
        };

        // Reference time of the info lookup per step.
        let mut chain = Vec::new();
        time_chain(&args[0], &mut chain);
        let mut mods = Vec::with_capacity(chain.len());
        for (at, off) in &chain {
            let off = match off {
                Some(o) => self.duration_ms(o)?,
                None => 0,
            };
            mods.push((self.resolve_at(at), off));
        }
        let refs: Vec<i64> = (0..n)
            .map(|i| {
                let mut t = grid.t(i);
                for (at, off) in &mods {
                    if let Some(a) = at {
                        t = *a;
                    }
                    t -= off;
                }
                t
            })
            .collect();

        // Identifying label values of the series to enrich.
        let mut id_vals: HashMap<&str, Vec<String>> = HashMap::new();
        for s in &input {
            if is_info(&s.labels) {
                continue;
            }
            for l in IDENTIFYING {
                if let Some(v) = s.labels.get(l) {
                    let e = id_vals.entry(l).or_default();
                    if !e.iter().any(|x| x == v) {
                        e.push(v.to_string());
                    }
                }
            }
        }
        let lookback = self.opts.lookback_delta_ms;
        // Per info series: name+identifying signature, labels, value (orig ts) per step.
        let mut infos: Vec<(Vec<(String, String)>, String, Labels, Vec<Option<i64>>)> = Vec::new();
        if !id_vals.is_empty() {
            let mut sel: Vec<Matcher> = Vec::new();
            for (name, vals) in &id_vals {
                let re = vals
                    .iter()
                    .map(|v| regex::escape(v))
                    .collect::<Vec<_>>()
                    .join("|");
                sel.push(
                    Matcher::new(MatchOp::Regex, *name, re).map_err(|e| QueryError::exec(e.0))?,
                );
            }
            for ms in data_ms.values() {
                sel.extend(ms.iter().cloned());
            }
            if name_ms.is_empty() {
                sel.push(Matcher::equal("__name__", "target_info"));
            } else {
                sel.extend(name_ms.iter().cloned());
                if !has_positive {
                    // Only negative name matchers: still restrict to info metrics.
                    sel.push(Matcher::new(MatchOp::Regex, "__name__", ".+_info").unwrap());
                }
            }
            let lo = refs.iter().copied().min().unwrap_or(0);
            let hi = refs.iter().copied().max().unwrap_or(0);
            let data = self.select(&sel, lo - lookback + 1, hi)?;
            for (labels, samples) in data {
                let name = labels.get("__name__").unwrap_or("").to_string();
                let mut vals = vec![None; n];
                for (i, slot) in vals.iter_mut().enumerate() {
                    let r = refs[i];
                    let k = samples.partition_point(|s| s.t <= r);
                    if k > 0 {
                        let s = samples[k - 1];
                        if s.t > r - lookback && !is_stale_nan(s.v) {
                            *slot = Some(s.t);
                        }
                    }
                }
                infos.push((identifying(&labels), name, labels, vals));
            }
        }
        let names: Vec<String> = {
            let mut v: Vec<String> = infos.iter().map(|i| i.1.clone()).collect();
            v.sort();
            v.dedup();
            v
        };
        let all_match_empty = data_ms.values().flatten().all(|m| m.matches_empty());

        let mut out: Vec<VSeries> = Vec::new();
        for s in input {
            if is_info(&s.labels) {
                out.push(s);
                continue;
            }
            let ids = identifying(&s.labels);
            let mut variants: HashMap<Labels, Vec<f64>> = HashMap::new();
            let mut order: Vec<Labels> = Vec::new();
            for i in 0..n {
                let v = s.vals[i];
                if !present(v) {
                    continue;
                }
                let mut add = LabelsBuilder::new();
                let mut seen = 0;
                for name in &names {
                    // The newest info sample of this name with the same identifying labels.
                    let mut best: Option<(i64, &Labels)> = None;
                    for (iid, iname, il, ivals) in &infos {
                        if iname != name || *iid != ids {
                            continue;
                        }
                        let Some(t) = ivals[i] else { continue };
                        match best {
                            Some((bt, bl)) if bt == t => {
                                return Err(QueryError::exec(format!(
                                    "found duplicate series for info metric: existing {} @ {}, new {} @ {}",
                                    super::binary::prom_labels_string(bl),
                                    bt,
                                    super::binary::prom_labels_string(il),
                                    t
                                )));
                            }
                            Some((bt, _)) if bt > t => {}
                            _ => best = Some((t, il)),
                        }
                    }
                    let Some((_, il)) = best else { continue };
                    seen += 1;
                    for l in il.iter() {
                        if l.name == "__name__" {
                            continue;
                        }
                        if !data_ms.is_empty() && !data_ms.contains_key(&l.name) {
                            continue;
                        }
                        if let Some(prev) = add.get(&l.name)
                            && prev != l.value
                        {
                            return Err(QueryError::exec(format!("conflicting label: {}", l.name)));
                        }
                        if s.labels.get(&l.name).is_some() {
                            continue;
                        }
                        add.set(l.name.clone(), l.value.clone());
                    }
                }
                if seen == 0 && !all_match_empty {
                    continue;
                }
                let mut b = s.labels.to_builder();
                for l in add.build().iter() {
                    b.set(l.name.clone(), l.value.clone());
                }
                let labels = b.build();
                let e = variants.entry(labels.clone()).or_insert_with(|| {
                    order.push(labels);
                    vec![absent(); n]
                });
                e[i] = v;
            }
            for l in order {
                let vals = variants.remove(&l).unwrap();
                out.push(VSeries {
                    labels: l,
                    drop_name: s.drop_name,
                    vals,
                });
            }
        }
        Ok(IVal::Vector(merge_same_labels(out)?))
    }
}
