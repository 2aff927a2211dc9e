//! `/api/v1/query`, `/api/v1/query_range`, `/api/v1/format_query`, `/api/v1/parse_query`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value as J, json};
use sightline_promql::parser::{self, AtModifier, Card, Expr, ValueType};
use sightline_promql::{Engine, Value};

use super::params::{Params, now_ms, parse_duration, parse_time};
use super::response::{ApiError, success, success_value};
use crate::ApiState;

/// Prometheus refuses range queries with more points than this per series.
const MAX_POINTS: i64 = 11_000;

fn engine_for(st: &ApiState, p: &Params) -> Result<Engine, ApiError> {
    let mut opts = st.prom.engine.opts.clone();
    if let Some(t) = p.value("timeout") {
        let ms = parse_duration(t).map_err(|e| ApiError::invalid_param("timeout", e))?;
        if ms > 0 {
            opts.timeout = opts
                .timeout
                .min(std::time::Duration::from_millis(ms as u64));
        }
    }
    if let Some(l) = p.value("lookback_delta") {
        let ms = parse_duration(l).map_err(|e| ApiError::invalid_param("lookback_delta", e))?;
        if ms > 0 {
            opts.lookback_delta_ms = ms;
        }
    }
    Ok(Engine::new(opts))
}

fn parse_limit(p: &Params) -> Result<usize, ApiError> {
    match p.value("limit") {
        None => Ok(0),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .map(|v| v as usize)
            .ok_or_else(|| ApiError::bad_data("limit must be a non-negative integer")),
    }
}

/// Applies `limit=` to a result (series count), warning when it cut.
fn apply_limit(v: &mut Value, limit: usize, warnings: &mut Vec<String>) {
    if limit == 0 {
        return;
    }
    let cut = match v {
        Value::Vector(s) if s.len() > limit => {
            s.truncate(limit);
            true
        }
        Value::Matrix(s) if s.len() > limit => {
            s.truncate(limit);
            true
        }
        _ => false,
    };
    if cut {
        warnings.push("results truncated due to limit".into());
    }
}

/// Per-request options besides the query itself.
struct RunOpts {
    limit: usize,
    /// `stats=...` asks for timings and sample counts in the result.
    stats: bool,
    /// When request parsing started (for `queryPreparationTime`).
    received: std::time::Instant,
}

async fn run(
    st: Arc<ApiState>,
    engine: Engine,
    query: String,
    expr: Expr,
    range: (i64, i64, i64),
    opts: RunOpts,
) -> Response {
    let prepared = opts.received.elapsed();
    // Queries beyond --query.max-concurrency wait for a slot, as in Prometheus.
    let queued = std::time::Instant::now();
    let _in_flight = InFlight::enter(&st.prom.queries_in_flight);
    let Ok(_permit) = st.prom.query_permits.acquire().await else {
        return ApiError::unavailable("query engine is shutting down").into_response();
    };
    let queue_time = queued.elapsed();
    let st2 = st.clone();
    let eval_start = std::time::Instant::now();
    let (start, end, step) = range;
    let res = tokio::task::spawn_blocking(move || {
        engine.exec(st2.db.as_ref(), &query, &expr, start, end, step)
    })
    .await;
    let eval_time = eval_start.elapsed();
    let d = &st.prom.query_durations;
    d.prepare_time.observe(prepared.as_secs_f64());
    d.queue_time.observe(queue_time.as_secs_f64());
    d.inner_eval.observe(eval_time.as_secs_f64());
    match res {
        Ok(Ok(mut r)) => {
            apply_limit(&mut r.value, opts.limit, &mut r.warnings);
            let stats = opts.stats.then(|| {
                format!(
                    r#","stats":{{"timings":{{"evalTotalTime":{},"resultSortTime":0,"queryPreparationTime":{},"innerEvalTime":{},"execQueueTime":{},"execTotalTime":{}}},"samples":{{"totalQueryableSamples":{},"peakSamples":{}}}}}"#,
                    eval_time.as_secs_f64(),
                    prepared.as_secs_f64(),
                    eval_time.as_secs_f64(),
                    queue_time.as_secs_f64(),
                    opts.received.elapsed().as_secs_f64(),
                    r.stats.total_queryable_samples,
                    r.stats.peak_samples,
                )
            });
            success_value(&r.value, stats.as_deref(), &r.warnings, &r.infos)
        }
        Ok(Err(e)) => ApiError::from(e).into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

pub async fn query(
    State(st): State<Arc<ApiState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received = std::time::Instant::now();
    let p = Params::parse(q.as_deref(), &headers, &body);
    let prep = (|| {
        let t = match p.value("time") {
            Some(s) => parse_time(s).map_err(|e| ApiError::invalid_param("time", e))?,
            None => now_ms(),
        };
        let engine = engine_for(&st, &p)?;
        let limit = parse_limit(&p)?;
        let text = p.get("query").unwrap_or("").to_string();
        let expr = parser::parse(&text).map_err(|e| ApiError::invalid_param("query", e))?;
        Ok::<_, ApiError>((t, engine, limit, text, expr))
    })();
    match prep {
        Ok((t, engine, limit, text, expr)) => {
            let opts = RunOpts {
                limit,
                stats: p.value("stats").is_some(),
                received,
            };
            run(st, engine, text, expr, (t, t, 0), opts).await
        }
        Err(e) => e.into_response(),
    }
}

pub async fn query_range(
    State(st): State<Arc<ApiState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received = std::time::Instant::now();
    let p = Params::parse(q.as_deref(), &headers, &body);
    let prep = (|| {
        let start = parse_time(p.get("start").unwrap_or(""))
            .map_err(|e| ApiError::invalid_param("start", e))?;
        let end = parse_time(p.get("end").unwrap_or(""))
            .map_err(|e| ApiError::invalid_param("end", e))?;
        if end < start {
            return Err(ApiError::invalid_param(
                "end",
                "end timestamp must not be before start time",
            ));
        }
        let step = parse_duration(p.get("step").unwrap_or(""))
            .map_err(|e| ApiError::invalid_param("step", e))?;
        if step <= 0 {
            return Err(ApiError::invalid_param(
                "step",
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if (end - start) / step > MAX_POINTS {
            return Err(ApiError::bad_data(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ));
        }
        let engine = engine_for(&st, &p)?;
        let limit = parse_limit(&p)?;
        let text = p.get("query").unwrap_or("").to_string();
        let expr = parser::parse(&text).map_err(|e| ApiError::invalid_param("query", e))?;
        let t = expr.value_type();
        if t != ValueType::Scalar && t != ValueType::Vector {
            return Err(ApiError::invalid_param(
                "query",
                format!(
                    "invalid expression type {:?} for range query, must be Scalar or instant Vector",
                    t.name()
                ),
            ));
        }
        Ok((start, end, step, engine, limit, text, expr))
    })();
    match prep {
        Ok((start, end, step, engine, limit, text, expr)) => {
            let opts = RunOpts {
                limit,
                stats: p.value("stats").is_some(),
                received,
            };
            run(st, engine, text, expr, (start, end, step), opts).await
        }
        Err(e) => e.into_response(),
    }
}

pub async fn format_query(RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let p = Params::parse(q.as_deref(), &headers, &body);
    match parser::parse(p.get("query").unwrap_or("")) {
        Ok(e) => success(&J::String(parser::pretty(&e, 0))),
        Err(e) => ApiError::invalid_param("query", e).into_response(),
    }
}

pub async fn parse_query(RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let p = Params::parse(q.as_deref(), &headers, &body);
    match parser::parse(p.get("query").unwrap_or("")) {
        Ok(e) => success(&translate(&e)),
        Err(e) => ApiError::invalid_param("query", e).into_response(),
    }
}

fn duration_ms(e: Option<&Expr>) -> J {
    match e {
        None => json!(0),
        Some(Expr::Number { val, .. }) => json!((val * 1000.0).round() as i64),
        Some(other) => json!(other.to_string()),
    }
}

fn at_json(at: &Option<AtModifier>) -> (J, J) {
    match at {
        Some(AtModifier::Time(t)) => (json!(t), J::Null),
        Some(AtModifier::Start) => (J::Null, json!("start")),
        Some(AtModifier::End) => (J::Null, json!("end")),
        None => (J::Null, J::Null),
    }
}

fn matchers_json(ms: &[sightline_model::Matcher]) -> J {
    J::Array(
        ms.iter()
            .map(|m| json!({"type": m.op.as_str(), "name": m.name, "value": m.value}))
            .collect(),
    )
}

fn type_name(t: ValueType) -> &'static str {
    t.api_name()
}

/// The AST in the JSON shape of Prometheus's `/api/v1/parse_query`.
pub fn translate(e: &Expr) -> J {
    match e {
        Expr::Aggregate {
            op,
            expr,
            param,
            grouping,
            without,
            ..
        } => json!({
            "type": "aggregation",
            "op": op.as_str(),
            "expr": translate(expr),
            "param": param.as_deref().map(translate).unwrap_or(J::Null),
            "grouping": grouping,
            "without": without,
        }),
        Expr::Binary {
            op,
            lhs,
            rhs,
            matching,
            return_bool,
            ..
        } => {
            let m = matching.as_ref().map(|m| {
                let card = match m.card {
                    Card::OneToOne => "one-to-one",
                    Card::ManyToOne => "many-to-one",
                    Card::OneToMany => "one-to-many",
                    Card::ManyToMany => "many-to-many",
                };
                json!({"card": card, "labels": m.labels, "on": m.on, "include": m.include})
            });
            json!({
                "type": "binaryExpr",
                "op": op.as_str(),
                "lhs": translate(lhs),
                "rhs": translate(rhs),
                "matching": m,
                "bool": return_bool,
            })
        }
        Expr::Call { func, args, .. } => json!({
            "type": "call",
            "func": {
                "name": func.name,
                "argTypes": func.args.iter().map(|t| type_name(*t)).collect::<Vec<_>>(),
                "variadic": func.variadic,
                "returnType": type_name(func.ret),
            },
            "args": args.iter().map(translate).collect::<Vec<_>>(),
        }),
        Expr::Matrix { vs, range, .. } => {
            let (ts, se) = at_json(&vs.at);
            json!({
                "type": "matrixSelector",
                "name": vs.name.clone().unwrap_or_default(),
                "range": duration_ms(Some(range)),
                "offset": duration_ms(vs.offset.as_deref()),
                "matchers": matchers_json(&vs.matchers),
                "timestamp": ts,
                "startOrEnd": se,
            })
        }
        Expr::Subquery {
            expr,
            range,
            step,
            offset,
            at,
            ..
        } => {
            let (ts, se) = at_json(at);
            json!({
                "type": "subquery",
                "expr": translate(expr),
                "range": duration_ms(Some(range)),
                "offset": duration_ms(offset.as_deref()),
                "step": duration_ms(step.as_deref()),
                "timestamp": ts,
                "startOrEnd": se,
            })
        }
        Expr::Number { val, .. } => {
            json!({"type": "numberLiteral", "val": sightline_promql::format_value(*val)})
        }
        Expr::Paren { expr, .. } => json!({"type": "parenExpr", "expr": translate(expr)}),
        Expr::Str { val, .. } => json!({"type": "stringLiteral", "val": val}),
        Expr::Unary { neg, expr, .. } => {
            json!({"type": "unaryExpr", "op": if *neg { "-" } else { "+" }, "expr": translate(expr)})
        }
        Expr::Vector(vs) => {
            let (ts, se) = at_json(&vs.at);
            json!({
                "type": "vectorSelector",
                "name": vs.name.clone().unwrap_or_default(),
                "offset": duration_ms(vs.offset.as_deref()),
                "matchers": matchers_json(&vs.matchers),
                "timestamp": ts,
                "startOrEnd": se,
            })
        }
        Expr::DurationFn { name, args, .. } => json!({
            "type": "durationExpr",
            "op": name,
            "args": args.iter().map(translate).collect::<Vec<_>>(),
        }),
    }
}

/// Counts a query in `prometheus_engine_queries` until it is answered.
struct InFlight(Arc<std::sync::atomic::AtomicI64>);

impl InFlight {
    fn enter(c: &Arc<std::sync::atomic::AtomicI64>) -> InFlight {
        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        InFlight(c.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}
