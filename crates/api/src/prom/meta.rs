//! `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/{name}/values`,
//! `/api/v1/query_exemplars`.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use sightline_model::{Labels, Matcher};
use sightline_promql::parser::{self, Expr};
use sightline_tsdb::{Queryable, SelectHints};

use super::params::{MAX_TIME_MS, MIN_TIME_MS, Params, parse_time};
use super::response::{ApiError, json_str, push_labels, push_ts, success_raw};
use crate::ApiState;

fn time_range(p: &Params) -> Result<(i64, i64), ApiError> {
    let start = match p.value("start") {
        Some(s) => parse_time(s).map_err(|e| ApiError::invalid_param("start", e))?,
        None => MIN_TIME_MS,
    };
    let end = match p.value("end") {
        Some(s) => parse_time(s).map_err(|e| ApiError::invalid_param("end", e))?,
        None => MAX_TIME_MS,
    };
    if end < start {
        return Err(ApiError::invalid_param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    Ok((start, end))
}

fn matcher_sets(p: &Params) -> Result<Vec<Vec<Matcher>>, ApiError> {
    p.all("match[]")
        .into_iter()
        .map(|m| parser::parse_selector(m).map_err(|e| ApiError::invalid_param("match[]", e)))
        .collect()
}

fn limit(p: &Params) -> Result<usize, ApiError> {
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

fn string_list(items: impl IntoIterator<Item = String>, limit: usize) -> Response {
    let mut s = String::from("[");
    let mut warnings = Vec::new();
    for (i, v) in items.into_iter().enumerate() {
        if limit > 0 && i >= limit {
            warnings.push("results truncated due to limit".to_string());
            break;
        }
        if i > 0 {
            s.push(',');
        }
        json_str(&mut s, &v);
    }
    s.push(']');
    success_raw(&s, &warnings, &[])
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
}

pub async fn series(
    State(st): State<Arc<ApiState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::parse(q.as_deref(), &headers, &body);
    let res = async {
        let sets = matcher_sets(&p)?;
        if sets.is_empty() {
            return Err(ApiError::bad_data("no match[] parameter provided"));
        }
        let (start, end) = time_range(&p)?;
        let limit = limit(&p)?;
        let all = blocking(move || {
            let qr = st
                .db
                .querier(start, end)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let hints = SelectHints {
                series_only: true,
                limit: 0,
            };
            let mut all: BTreeSet<Labels> = BTreeSet::new();
            for ms in &sets {
                for s in qr
                    .select(ms, &hints)
                    .map_err(|e| ApiError::internal(e.to_string()))?
                {
                    all.insert(s.labels);
                }
            }
            Ok(all)
        })
        .await?;
        let mut out = String::from("[");
        let mut warnings = Vec::new();
        for (i, l) in all.iter().enumerate() {
            if limit > 0 && i >= limit {
                warnings.push("results truncated due to limit".to_string());
                break;
            }
            if i > 0 {
                out.push(',');
            }
            push_labels(&mut out, l);
        }
        out.push(']');
        Ok(success_raw(&out, &warnings, &[]))
    }
    .await;
    res.unwrap_or_else(|e| e.into_response())
}

pub async fn labels(
    State(st): State<Arc<ApiState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::parse(q.as_deref(), &headers, &body);
    let res = async {
        let sets = matcher_sets(&p)?;
        let (start, end) = time_range(&p)?;
        let limit = limit(&p)?;
        let names = blocking(move || {
            let qr = st
                .db
                .querier(start, end)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let mut names: BTreeSet<String> = BTreeSet::new();
            if sets.is_empty() {
                names.extend(
                    qr.label_names(&[])
                        .map_err(|e| ApiError::internal(e.to_string()))?,
                );
            }
            for ms in &sets {
                names.extend(
                    qr.label_names(ms)
                        .map_err(|e| ApiError::internal(e.to_string()))?,
                );
            }
            Ok(names)
        })
        .await?;
        Ok(string_list(names, limit))
    }
    .await;
    res.unwrap_or_else(|e: ApiError| e.into_response())
}

pub async fn label_values(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::parse(q.as_deref(), &headers, &body);
    let res = async {
        // Prometheus 3 accepts `U__`-escaped UTF-8 names in the path.
        let name = unescape_name(&name);
        if name.is_empty() {
            return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
        }
        let sets = matcher_sets(&p)?;
        let (start, end) = time_range(&p)?;
        let limit = limit(&p)?;
        let vals = blocking(move || {
            let qr = st
                .db
                .querier(start, end)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let mut vals: BTreeSet<String> = BTreeSet::new();
            if sets.is_empty() {
                vals.extend(
                    qr.label_values(&name, &[])
                        .map_err(|e| ApiError::internal(e.to_string()))?,
                );
            }
            for ms in &sets {
                vals.extend(
                    qr.label_values(&name, ms)
                        .map_err(|e| ApiError::internal(e.to_string()))?,
                );
            }
            Ok(vals)
        })
        .await?;
        Ok(string_list(vals, limit))
    }
    .await;
    res.unwrap_or_else(|e: ApiError| e.into_response())
}

/// Decodes Prometheus's `U__` label-name escaping (`U__a_2e_b` is `a.b`).
fn unescape_name(s: &str) -> String {
    let Some(rest) = s.strip_prefix("U__") else {
        return s.to_string();
    };
    let mut out = String::new();
    // Segments alternate between literal text and hex code points; `__` is a literal `_`.
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'_' {
            if b.get(i + 1) == Some(&b'_') {
                out.push('_');
                i += 2;
                continue;
            }
            let end = rest[i + 1..].find('_').map(|e| i + 1 + e);
            match end.and_then(|e| {
                u32::from_str_radix(&rest[i + 1..e], 16)
                    .ok()
                    .map(|c| (e, c))
            }) {
                Some((e, c)) => {
                    if let Some(ch) = char::from_u32(c) {
                        out.push(ch);
                    }
                    i = e + 1;
                }
                None => return s.to_string(),
            }
        } else {
            let ch = rest[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

pub async fn query_exemplars(
    State(st): State<Arc<ApiState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = Params::parse(q.as_deref(), &headers, &body);
    let res = async {
        let (start, end) = time_range(&p)?;
        let expr = parser::parse(p.get("query").unwrap_or(""))
            .map_err(|e| ApiError::invalid_param("query", e))?;
        let mut sets: Vec<Vec<Matcher>> = Vec::new();
        expr.walk(&mut |n| match n {
            Expr::Vector(vs) | Expr::Matrix { vs, .. } => sets.push(vs.matchers.clone()),
            _ => {}
        });
        let found = blocking(move || {
            let qr = st
                .db
                .querier(start, end)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let mut out: Vec<(Labels, Vec<sightline_model::Exemplar>)> = Vec::new();
            for ms in &sets {
                for (l, ex) in qr
                    .exemplars(ms)
                    .map_err(|e| ApiError::internal(e.to_string()))?
                {
                    let ex: Vec<_> = ex
                        .into_iter()
                        .filter(|e| e.t >= start && e.t <= end)
                        .collect();
                    if ex.is_empty() || out.iter().any(|(o, _)| *o == l) {
                        continue;
                    }
                    out.push((l, ex));
                }
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        })
        .await?;
        let mut s = String::from("[");
        for (i, (l, ex)) in found.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(r#"{"seriesLabels":"#);
            push_labels(&mut s, l);
            s.push_str(r#","exemplars":["#);
            for (j, e) in ex.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                s.push_str(r#"{"labels":"#);
                push_labels(&mut s, &e.labels);
                s.push_str(r#","value":""#);
                s.push_str(&sightline_promql::format_value(e.v));
                s.push_str(r#"","timestamp":"#);
                push_ts(&mut s, e.t);
                s.push('}');
            }
            s.push_str("]}");
        }
        s.push(']');
        Ok(success_raw(&s, &[], &[]))
    }
    .await;
    res.unwrap_or_else(|e: ApiError| e.into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn utf8_name_escaping() {
        assert_eq!(super::unescape_name("U__a_2e_b"), "a.b");
        assert_eq!(super::unescape_name("job"), "job");
        assert_eq!(super::unescape_name("U__my__name"), "my_name");
    }
}
