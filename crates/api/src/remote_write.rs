//! `POST /api/v1/write`: Prometheus remote write 1.0 and 2.0.
//!
//! Status codes follow what senders rely on: 204 stored; 400 malformed or
//! refused samples (never retried); 413/415 for size and media type; 503 with
//! `Retry-After` when too many writes are in flight (retried).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sightline_tsdb::Appendable;

use crate::ApiState;

fn header_str<'a>(h: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

pub async fn handler(State(s): State<Arc<ApiState>>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(_permit) = s.write_permits.try_acquire() else {
        let mut r = (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many concurrent writes\n",
        )
            .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    };
    let decoded = match sightline_remote::decode_write_request(
        &body,
        header_str(&headers, &header::CONTENT_TYPE),
        header_str(&headers, &header::CONTENT_ENCODING),
        s.max_write_bytes,
    ) {
        Ok(d) => d,
        Err(e) => {
            s.metrics.remote_write_rejected_requests.inc();
            let code = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
            return (code, format!("{e}\n")).into_response();
        }
    };
    let mut app = s.db.appender();
    let mut first_error: Option<String> = None;
    for series in &decoded.series {
        let mut r = None;
        for smp in &series.samples {
            let res = match r {
                Some(r) => app
                    .append_ref(r, smp.t, smp.v)
                    .unwrap_or_else(|| app.append(&series.labels, smp.t, smp.v).map(|_| ())),
                None => app.append(&series.labels, smp.t, smp.v).map(|x| {
                    r = Some(x);
                }),
            };
            if let Err(reason) = res
                && first_error.is_none()
            {
                first_error = Some(format!(
                    "{reason} for series {} at timestamp {}",
                    series.labels, smp.t
                ));
            }
        }
        if series.samples.is_empty() && !series.exemplars.is_empty() {
            // Exemplars need a series to hang on; Prometheus drops them too.
            continue;
        }
        if let Some(r) = r {
            for e in &series.exemplars {
                let _ = app.append_exemplar(r, e);
            }
        }
    }
    for (family, md) in &decoded.metadata {
        app.update_metadata(family, md);
    }
    let stats = match app.commit() {
        Ok(st) => st,
        Err(e) => {
            tracing::error!(error = %e, "remote write commit failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("storage error: {e}\n"),
            )
                .into_response();
        }
    };
    s.metrics.remote_write_samples.inc_by(stats.samples);
    let rejected = stats.rejected_total();
    if rejected > 0 {
        s.metrics.remote_write_samples_rejected.inc_by(rejected);
        let msg = first_error.unwrap_or_else(|| format!("{:?}", stats.rejected));
        // Accepted samples are stored; the sender must not retry the refused ones.
        return (
            StatusCode::BAD_REQUEST,
            format!("{rejected} samples refused: {msg}\n"),
        )
            .into_response();
    }
    StatusCode::NO_CONTENT.into_response()
}
