//! Reading span-derived metrics back from the TSDB: counter increases over a
//! window (for Jaeger's dependency graph) and per-step rates (for SPM). These
//! are the PromQL `increase`/`rate` semantics (counter resets handled, no
//! extrapolation) computed directly on the Querier, so tracing does not depend
//! on the PromQL engine.

use std::collections::BTreeMap;

use sightline_model::{Matcher, Sample};
use sightline_tsdb::{Queryable, SelectHints};

/// Increase of a counter over the samples given (resets count from zero).
pub fn increase(samples: &[Sample]) -> f64 {
    let mut inc = 0.0;
    for w in samples.windows(2) {
        let d = w[1].v - w[0].v;
        inc += if d >= 0.0 { d } else { w[1].v };
    }
    inc
}

/// Edges `(client, server, calls)` from `traces_service_graph_request_total` in `[start, end]` ms.
pub fn dependencies(
    db: &dyn Queryable,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<(String, String, u64)>, String> {
    let q = db
        .querier(start_ms - BASELINE_MS, end_ms)
        .map_err(|e| e.to_string())?;
    let m = Matcher::equal("__name__", "traces_service_graph_request_total");
    let series = q
        .select(&[m], &SelectHints::default())
        .map_err(|e| e.to_string())?;
    let mut edges: BTreeMap<(String, String), f64> = BTreeMap::new();
    for s in series {
        let (Some(c), Some(sv)) = (s.labels.get("client"), s.labels.get("server")) else {
            continue;
        };
        *edges.entry((c.to_string(), sv.to_string())).or_default() +=
            window_increase(&s.samples, start_ms);
    }
    Ok(edges
        .into_iter()
        .filter(|(_, n)| *n > 0.0)
        .map(|((c, s), n)| (c, s, n.round() as u64))
        .collect())
}

/// How far before a window we look for a counter's baseline value.
pub const BASELINE_MS: i64 = 5 * 60_000;

/// Increase of a counter from its last value before `start_ms` to its last value; a series with
/// no earlier sample started inside the window, from zero.
pub fn window_increase(samples: &[Sample], start_ms: i64) -> f64 {
    let k = samples.partition_point(|x| x.t < start_ms);
    if k == 0 {
        samples.first().map(|x| x.v).unwrap_or(0.0) + increase(samples)
    } else {
        increase(&samples[k - 1..])
    }
}
