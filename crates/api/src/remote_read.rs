//! `POST /api/v1/read`: Prometheus remote read (`SAMPLES` response type), so a
//! Prometheus with `remote_read` pointed here, or any remote-read client,
//! reads Sightline's samples.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sightline_model::{Labels, Sample};
use sightline_remote::read::{decode_read_request, encode_read_response};
use sightline_remote::{self as remote, RemoteError};
use sightline_tsdb::{Queryable, SelectHints};

use crate::ApiState;

pub async fn handler(State(s): State<Arc<ApiState>>, body: Bytes) -> Response {
    let refused = |e: RemoteError| {
        let code = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
        (code, format!("{e}\n")).into_response()
    };
    let queries = match remote::decompress_snappy(&body, s.max_write_bytes)
        .and_then(|raw| decode_read_request(&raw))
    {
        Ok(q) => q,
        Err(e) => return refused(e),
    };
    let st = s.clone();
    let res = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let mut results: Vec<Vec<(Labels, Vec<Sample>)>> = Vec::with_capacity(queries.len());
        for q in &queries {
            let qr = st
                .db
                .querier(q.start_ms, q.end_ms)
                .map_err(|e| e.to_string())?;
            let series = qr
                .select(&q.matchers, &SelectHints::default())
                .map_err(|e| e.to_string())?;
            results.push(
                series
                    .into_iter()
                    .filter(|s| !s.samples.is_empty())
                    .map(|s| (s.labels, s.samples))
                    .collect(),
            );
        }
        Ok(encode_read_response(&results))
    })
    .await;
    match res {
        Ok(Ok(body)) => (
            [
                (header::CONTENT_TYPE, "application/x-protobuf"),
                (header::CONTENT_ENCODING, "snappy"),
            ],
            body,
        )
            .into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}
