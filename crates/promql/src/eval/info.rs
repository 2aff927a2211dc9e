//! `info(v, [selector])`: enriches series with the data labels of matching
//! info metrics (`target_info` by default), joined on `instance` and `job`.

use std::collections::HashMap;

use sightline_model::{Labels, MatchOp, Matcher};

use super::evaluator::{Evaluator, R, merge_same_labels};
use super::types::*;
use crate::parser::{Expr, Pos};

const IDENTIFYING: [&str; 2] = ["instance", "job"];

impl Evaluator<'_> {
    pub fn eval_info(&mut self, args: &[Expr], _pos: Pos, grid: &Grid) -> R<IVal> {
        let n = grid.n;
        let input = self.eval_vector(&args[0], grid)?;
        // Matchers on info series: name matchers pick the info metric(s); the
        // others filter (and select) which data labels are added.
        let mut name_ms: Vec<Matcher> = Vec::new();
        let mut data_ms: Vec<Matcher> = Vec::new();
        if let Some(Expr::Vector(vs)) = args.get(1).map(|a| a.unparen()) {
            for m in &vs.matchers {
                if m.name == "__name__" {
                    name_ms.push(m.clone());
                } else {
                    data_ms.push(m.clone());
                }
            }
        }
        if name_ms.is_empty() {
            name_ms.push(Matcher::equal("__name__", "target_info"));
        }
        // Select info series over the query range with the usual lookback.
        let lookback = self.opts.lookback_delta_ms;
        let mut sel = name_ms.clone();
        // Only data matchers that do not match the empty string restrict which info series exist.
        for m in &data_ms {
            if !m.matches_empty() {
                sel.push(m.clone());
            }
        }
        let data = self.select(&sel, grid.start - lookback + 1, grid.end())?;
        // Per info series: its identifying key and per-step presence.
        struct Info {
            key: Vec<String>,
            data: Labels,
            vals: Vec<bool>,
        }
        let mut infos: Vec<Info> = Vec::new();
        for (labels, samples) in data {
            if IDENTIFYING.iter().any(|l| labels.get(l).is_none()) {
                continue;
            }
            let key: Vec<String> = IDENTIFYING
                .iter()
                .map(|l| labels.get(l).unwrap().to_string())
                .collect();
            let mut b = sightline_model::LabelsBuilder::new();
            for l in labels.iter() {
                if l.name == "__name__" || IDENTIFYING.contains(&l.name.as_str()) {
                    continue;
                }
                b.set(l.name.clone(), l.value.clone());
            }
            let dl = b.build();
            let mut vals = vec![false; n];
            let mut j = 0;
            for (i, slot) in vals.iter_mut().enumerate() {
                let t = grid.t(i);
                while j < samples.len() && samples[j].t <= t {
                    j += 1;
                }
                if j > 0 {
                    let s = samples[j - 1];
                    *slot = s.t > t - lookback && !sightline_model::is_stale_nan(s.v);
                }
            }
            infos.push(Info {
                key,
                data: dl,
                vals,
            });
        }
        let mut by_key: HashMap<Vec<String>, Vec<usize>> = HashMap::new();
        for (i, inf) in infos.iter().enumerate() {
            by_key.entry(inf.key.clone()).or_default().push(i);
        }
        let mut out: Vec<VSeries> = Vec::new();
        for s in input {
            // Info metrics themselves are passed through unchanged.
            let is_info = s
                .labels
                .get("__name__")
                .is_some_and(|nm| name_ms.iter().all(|m| m.matches(nm)));
            let key: Option<Vec<String>> = IDENTIFYING
                .iter()
                .map(|l| s.labels.get(l).map(str::to_string))
                .collect();
            let cands = if is_info {
                None
            } else {
                key.and_then(|k| by_key.get(&k))
            };
            let Some(cands) = cands else {
                if data_ms.iter().all(|m| m.matches_empty()) {
                    out.push(s);
                }
                continue;
            };
            // Split the series' steps by which info series' labels apply.
            let mut variants: HashMap<Labels, Vec<f64>> = HashMap::new();
            let mut order: Vec<Labels> = Vec::new();
            for i in 0..n {
                let v = s.vals[i];
                if !present(v) {
                    continue;
                }
                let mut b = s.labels.to_builder();
                let mut matched = false;
                for &ci in cands {
                    let inf = &infos[ci];
                    if !inf.vals[i] {
                        continue;
                    }
                    matched = true;
                    for l in inf.data.iter() {
                        if s.labels.get(&l.name).is_some() {
                            continue;
                        }
                        let wanted = data_ms
                            .iter()
                            .filter(|m| m.name == l.name)
                            .all(|m| m.matches(&l.value));
                        let restricted =
                            data_ms.is_empty() || data_ms.iter().any(|m| m.name == l.name);
                        if wanted && restricted {
                            b.set(l.name.clone(), l.value.clone());
                        }
                    }
                }
                if !matched && !data_ms.iter().all(|m| m.matches_empty()) {
                    continue;
                }
                let ok = data_ms.iter().all(|m| {
                    let lv = b.get(&m.name).unwrap_or("").to_string();
                    m.op != MatchOp::Equal && m.op != MatchOp::Regex || m.matches(&lv)
                });
                if !ok {
                    continue;
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
