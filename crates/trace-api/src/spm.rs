//! Jaeger SPM (Monitor tab): `/jaeger/api/metrics/{calls,errors,latencies}`,
//! computed from the span metrics in the TSDB with the same semantics as the
//! PromQL Jaeger issues (`sum(rate(calls[ratePer])) by (G)`, error ratio,
//! `histogram_quantile(q, sum(rate(bucket[ratePer])) by (G, le))`), evaluated
//! per step over `[endTs - lookback, endTs]`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value as J, json};
use sightline_model::{Matcher, Sample};
use sightline_traces::{SpanKind, now_ns};
use sightline_tsdb::{Queryable, SelectHints};

use crate::deps::{BASELINE_MS, window_increase};
use crate::params::{Params, format_rfc3339};
use crate::{TraceApi, blocking};

fn error(status: StatusCode, msg: &str) -> Response {
    (
        status,
        Json(crate::jaeger_model::envelope(
            J::Null,
            0,
            Some(vec![json!({"code": status.as_u16(), "msg": msg})]),
        )),
    )
        .into_response()
}

struct Req {
    services: Vec<String>,
    kinds: Vec<&'static str>,
    by_op: bool,
    end: i64,
    start: i64,
    step: i64,
    rate_per: i64,
    quantile: Option<f64>,
}

fn parse(p: &Params, latencies: bool) -> Result<Req, String> {
    let services: Vec<String> = p.all("service").map(str::to_string).collect();
    if services.is_empty() {
        return Err("please provide at least one service name".into());
    }
    let num = |k: &str, d: i64| -> Result<i64, String> {
        match p.get(&[k]) {
            Some(v) => v
                .parse::<i64>()
                .map_err(|_| format!("unable to parse param '{k}': {v:?}")),
            None => Ok(d),
        }
    };
    let end = num("endTs", (now_ns() / 1_000_000) as i64)?;
    let lookback = num("lookback", 3_600_000)?;
    let step = num("step", 5_000)?;
    let rate_per = num("ratePer", 600_000)?;
    if step <= 0 || rate_per <= 0 || lookback < 0 {
        return Err("step, ratePer and lookback must be positive".into());
    }
    if lookback / step > 11_000 {
        return Err("too many points: increase 'step' or reduce 'lookback'".into());
    }
    let mut kinds = Vec::new();
    for k in p.all("spanKind") {
        let kind = SpanKind::parse(k).ok_or_else(|| format!("unsupported spanKind {k:?}"))?;
        kinds.push(kind.otel_name());
    }
    if kinds.is_empty() {
        kinds.push(SpanKind::Server.otel_name());
    }
    let quantile = match p.get(&["quantile"]) {
        Some(q) => {
            let q: f64 = q
                .parse()
                .map_err(|_| format!("unable to parse param 'quantile': {q:?}"))?;
            if !(q > 0.0 && q <= 1.0) {
                return Err("'quantile' must be in (0, 1]".into());
            }
            Some(q)
        }
        None if latencies => return Err("please provide a quantile between (0, 1]".into()),
        None => None,
    };
    let by_op = p
        .get(&["groupByOperation"])
        .is_some_and(|v| v == "true" || v == "1");
    Ok(Req {
        services,
        kinds,
        by_op,
        end,
        start: end - lookback,
        step,
        rate_per,
        quantile,
    })
}

type Group = (String, Option<String>);
/// (group, extra label value) → summed rate per step (None = no data at that step).
type Rates = BTreeMap<(Group, String), Vec<Option<f64>>>;

/// Per group (and optional extra label, e.g. `le`), per step: summed rate.
fn rates(
    db: &dyn Queryable,
    r: &Req,
    name: &str,
    errors_only: bool,
    extra: Option<&str>,
) -> Result<Rates, String> {
    let q = db
        .querier(r.start - r.rate_per - BASELINE_MS, r.end)
        .map_err(|e| e.to_string())?;
    let series = q
        .select(&[Matcher::equal("__name__", name)], &SelectHints::default())
        .map_err(|e| e.to_string())?;
    let steps = ((r.end - r.start) / r.step + 1) as usize;
    let mut out: Rates = BTreeMap::new();
    for s in series {
        let l = &s.labels;
        let (Some(svc), Some(kind)) = (l.get("service_name"), l.get("span_kind")) else {
            continue;
        };
        if !r.services.iter().any(|x| x == svc) || !r.kinds.contains(&kind) {
            continue;
        }
        if errors_only && l.get("status_code") != Some("STATUS_CODE_ERROR") {
            continue;
        }
        let group = (
            svc.to_string(),
            r.by_op
                .then(|| l.get("span_name").unwrap_or("").to_string()),
        );
        let key = (
            group,
            extra.and_then(|e| l.get(e)).unwrap_or("").to_string(),
        );
        let entry = out.entry(key).or_insert_with(|| vec![None; steps]);
        for (i, slot) in entry.iter_mut().enumerate() {
            let t = r.start + i as i64 * r.step;
            let win: Vec<Sample> = s.samples.iter().copied().filter(|x| x.t <= t).collect();
            if win.last().is_none_or(|x| x.t <= t - r.rate_per) {
                continue; // no sample in the window: no point, as rate() would return nothing
            }
            let rate = window_increase(&win, t - r.rate_per + 1) / (r.rate_per as f64 / 1000.0);
            *slot = Some(slot.unwrap_or(0.0) + rate);
        }
    }
    Ok(out)
}

/// `histogram_quantile` over cumulative bucket rates `(le, rate)`.
fn quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> Option<f64> {
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total <= 0.0 || !buckets.last()?.0.is_infinite() {
        return None;
    }
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for (i, (le, c)) in buckets.iter().enumerate() {
        if *c >= rank {
            if le.is_infinite() {
                return Some(if i == 0 { 0.0 } else { buckets[i - 1].0 });
            }
            let lower = if i == 0 && *le > 0.0 { 0.0 } else { prev.0 };
            let (lc, width) = (prev.1, c - prev.1);
            return Some(if width <= 0.0 {
                *le
            } else {
                lower + (le - lower) * (rank - lc) / width
            });
        }
        prev = (*le, *c);
    }
    None
}

fn family(name: &str, help: &str, groups: BTreeMap<Group, Vec<Option<f64>>>, r: &Req) -> J {
    let metrics: Vec<J> = groups
        .into_iter()
        .map(|((svc, op), points)| {
            let mut labels = vec![json!({"name": "service_name", "value": svc})];
            if let Some(op) = op {
                labels.push(json!({"name": "operation", "value": op}));
            }
            let pts: Vec<J> = points
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    let t = r.start + i as i64 * r.step;
                    v.map(|v| {
                        json!({"gaugeValue": {"doubleValue": (v * 1e4).round() / 1e4}, "timestamp": format_rfc3339((t.max(0) as u64) * 1_000_000)})
                    })
                })
                .collect();
            json!({"labels": labels, "metricPoints": pts})
        })
        .collect();
    json!({"name": name, "type": "GAUGE", "help": help, "metrics": metrics})
}

fn strip(m: Rates) -> BTreeMap<Group, Vec<Option<f64>>> {
    m.into_iter().map(|((g, _), v)| (g, v)).collect()
}

pub async fn metrics(
    State(api): State<Arc<TraceApi>>,
    Path(kind): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let p = Params::parse(q.as_deref());
    let r = match parse(&p, kind == "latencies") {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let (scope, scope_help) = if r.by_op {
        ("service_operation", "service & operation")
    } else {
        ("service", "service")
    };
    let res = blocking(move || -> Result<J, String> {
        let db = api.tsdb.as_ref();
        Ok(match kind.as_str() {
            "calls" => family(
                &format!("{scope}_call_rate"),
                &format!("calls/sec, grouped by {scope_help}"),
                strip(rates(db, &r, "traces_span_metrics_calls_total", false, None)?),
                &r,
            ),
            "errors" => {
                let all = strip(rates(db, &r, "traces_span_metrics_calls_total", false, None)?);
                let errs = strip(rates(db, &r, "traces_span_metrics_calls_total", true, None)?);
                let ratio = all
                    .into_iter()
                    .map(|(g, calls)| {
                        let e = errs.get(&g);
                        let v = calls
                            .iter()
                            .enumerate()
                            .map(|(i, c)| {
                                c.filter(|c| *c > 0.0).map(|c| e.and_then(|e| e[i]).unwrap_or(0.0) / c)
                            })
                            .collect();
                        (g, v)
                    })
                    .collect();
                family(
                    &format!("{scope}_error_rate"),
                    &format!("error rate, computed as a fraction of errors/sec over calls/sec, grouped by {scope_help}"),
                    ratio,
                    &r,
                )
            }
            "latencies" => {
                let q = r.quantile.unwrap_or(0.95);
                let b = rates(db, &r, "traces_span_metrics_duration_milliseconds_bucket", false, Some("le"))?;
                let mut groups: BTreeMap<Group, Vec<Vec<(f64, f64)>>> = BTreeMap::new();
                let steps = ((r.end - r.start) / r.step + 1) as usize;
                for ((g, le), vals) in b {
                    let le: f64 = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap_or(f64::NAN) };
                    let e = groups.entry(g).or_insert_with(|| vec![Vec::new(); steps]);
                    for (i, v) in vals.into_iter().enumerate() {
                        if let Some(v) = v {
                            e[i].push((le, v));
                        }
                    }
                }
                let lat = groups.into_iter().map(|(g, steps)| (g, steps.into_iter().map(|b| quantile(q, b)).collect())).collect();
                family(
                    &format!("{scope}_latencies"),
                    &format!("{}th quantile latency, grouped by {scope_help}", q * 100.0),
                    lat,
                    &r,
                )
            }
            other => return Err(format!("unknown metrics kind {other:?}")),
        })
    })
    .await;
    match res {
        Ok(j) => Json(j).into_response(),
        Err(e) if e.starts_with("unknown metrics kind") => error(StatusCode::NOT_FOUND, &e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn histogram_quantile_interpolates() {
        let b = vec![(10.0, 1.0), (100.0, 3.0), (f64::INFINITY, 4.0)];
        assert_eq!(quantile(0.5, b.clone()), Some(55.0));
        assert_eq!(quantile(1.0, b.clone()), Some(100.0));
        assert_eq!(quantile(0.2, b), Some(8.0));
        assert_eq!(quantile(0.5, vec![(10.0, 0.0), (f64::INFINITY, 0.0)]), None);
    }
}
