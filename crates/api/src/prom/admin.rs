//! `/api/v1/admin/tsdb/delete_series` and `clean_tombstones` (only with
//! `--web.enable-admin-api`, as in Prometheus). Success is `204 No Content`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sightline_promql::parser;

use super::params::{MAX_TIME_MS, MIN_TIME_MS, Params, parse_time};
use super::response::ApiError;
use crate::ApiState;

fn disabled() -> Response {
    ApiError::unavailable("admin APIs disabled").into_response()
}

pub async fn delete_series(
    State(st): State<Arc<ApiState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !st.prom.enable_admin_api {
        return disabled();
    }
    let p = Params::parse(q.as_deref(), &headers, &body);
    let prep = (|| {
        let mut sets = Vec::new();
        for m in p.all("match[]") {
            sets.push(
                parser::parse_selector(m).map_err(|e| ApiError::invalid_param("match[]", e))?,
            );
        }
        if sets.is_empty() {
            return Err(ApiError::bad_data("no match[] parameter provided"));
        }
        let start = match p.value("start") {
            Some(s) => parse_time(s).map_err(|e| ApiError::invalid_param("start", e))?,
            None => MIN_TIME_MS,
        };
        let end = match p.value("end") {
            Some(s) => parse_time(s).map_err(|e| ApiError::invalid_param("end", e))?,
            None => MAX_TIME_MS,
        };
        Ok((sets, start, end))
    })();
    let (sets, start, end) = match prep {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    match tokio::task::spawn_blocking(move || st.db.delete_series(&sets, start, end)).await {
        Ok(Ok(_)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => ApiError::internal(e.to_string()).into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

pub async fn clean_tombstones(State(st): State<Arc<ApiState>>) -> Response {
    if !st.prom.enable_admin_api {
        return disabled();
    }
    match tokio::task::spawn_blocking(move || st.db.clean_tombstones()).await {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => ApiError::internal(e.to_string()).into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}
