//! What a rule needs to evaluate: the engine, storage and template settings,
//! and the query call rules and templates share.

use std::sync::Arc;

use sightline_model::Labels;
use sightline_promql::parser::Expr;
use sightline_promql::{Engine, Value};
use sightline_tsdb::Queryable;

use crate::template::{Expander, QueryFn, QuerySample};

#[derive(Clone)]
pub struct EvalContext {
    pub engine: Engine,
    pub queryable: Arc<dyn Queryable>,
    pub expander: Expander,
}

impl EvalContext {
    /// Builds the template expander whose `query` function runs on this context's storage.
    pub fn new(
        engine: Engine,
        queryable: Arc<dyn Queryable>,
        external_labels: Vec<(String, String)>,
        external_url: String,
    ) -> EvalContext {
        let (e, q) = (engine.clone(), queryable.clone());
        let query: QueryFn = Arc::new(move |text: &str, t: i64| {
            let expr = sightline_promql::parse(text).map_err(|e| e.to_string())?;
            let v = instant(&e, q.as_ref(), text, &expr, t)?;
            Ok(v.into_iter()
                .map(|(l, v)| QuerySample {
                    labels: l
                        .iter()
                        .map(|l| (l.name.clone(), l.value.clone()))
                        .collect(),
                    value: v,
                })
                .collect())
        });
        EvalContext {
            engine,
            queryable,
            expander: Expander {
                external_labels,
                external_url,
                query: Some(query),
            },
        }
    }

    /// Evaluates a rule expression at `t` (ms) as Prometheus's `EngineQueryFunc`.
    pub fn query(&self, text: &str, expr: &Expr, t: i64) -> Result<Vec<(Labels, f64)>, String> {
        instant(&self.engine, self.queryable.as_ref(), text, expr, t)
    }
}

/// A vector result; a scalar becomes one sample without labels; a string
/// becomes a sample labelled `__value__` (what `strvalue` reads in templates).
fn instant(
    engine: &Engine,
    q: &dyn Queryable,
    text: &str,
    expr: &Expr,
    t: i64,
) -> Result<Vec<(Labels, f64)>, String> {
    let r = engine
        .exec(q, text, expr, t, t, 0)
        .map_err(|e| e.to_string())?;
    match r.value {
        Value::Vector(v) => Ok(v.into_iter().map(|s| (s.labels, s.v)).collect()),
        Value::Scalar { v, .. } => Ok(vec![(Labels::empty(), v)]),
        Value::String { v, .. } => Ok(vec![(Labels::from_pairs([("__value__", v)]), 0.0)]),
        Value::Matrix(_) => Err("rule result is not a vector or scalar".into()),
    }
}
