//! Recording rules: the expression's result, renamed and relabelled, becomes
//! new series.

use std::collections::HashSet;

use sightline_model::Labels;

use crate::eval::EvalContext;
use crate::file::RuleSpec;

/// Evaluates a recording rule at `t`; returns the samples to store.
pub fn eval(
    spec: &RuleSpec,
    ctx: &EvalContext,
    t: i64,
    limit: usize,
) -> Result<Vec<(Labels, f64)>, String> {
    let vector = ctx.query(&spec.expr_text, &spec.expr, t)?;
    let mut out = Vec::with_capacity(vector.len());
    let mut seen = HashSet::with_capacity(vector.len());
    for (labels, v) in vector {
        let mut b = labels.to_builder();
        b.set("__name__", spec.name.clone());
        for (k, val) in &spec.labels {
            // An empty rule label removes the label, as Prometheus's label builder does.
            if val.is_empty() {
                b.del(k);
            } else {
                b.set(k.clone(), val.clone());
            }
        }
        let l = b.build();
        if !seen.insert(l.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels".into(),
            );
        }
        out.push((l, v));
    }
    if limit > 0 && out.len() > limit {
        return Err(format!(
            "exceeded limit of {limit} with {} series",
            out.len()
        ));
    }
    Ok(out)
}
