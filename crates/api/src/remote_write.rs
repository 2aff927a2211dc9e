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
use sightline_model::{Exemplar, Sample};
use sightline_remote::{self as remote, RemoteError, WriteProto};
use sightline_tsdb::{Appendable, Appender};

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
    let refused = |s: &ApiState, e: RemoteError| {
        s.metrics.remote_write_rejected_requests.inc();
        let code = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
        (code, format!("{e}\n")).into_response()
    };
    let proto =
        match remote::write_proto_from_content_type(header_str(&headers, &header::CONTENT_TYPE))
            .and_then(|p| {
                remote::check_content_encoding(header_str(&headers, &header::CONTENT_ENCODING))
                    .map(|_| p)
            }) {
            Ok(p) => p,
            Err(e) => return refused(&s, e),
        };
    let raw = match remote::decompress_snappy(&body, s.max_write_bytes) {
        Ok(r) => r,
        Err(e) => return refused(&s, e),
    };
    let mut app = s.db.appender();
    let mut first_error: Option<String> = None;
    let metadata = match proto {
        // 1.0 is what nearly every sender speaks: read it without copying labels.
        WriteProto::V1 => remote::for_each_series_v1(&raw, |v| {
            append_series(
                &mut *app,
                v.labels,
                v.samples,
                v.exemplars,
                &mut first_error,
            )
        }),
        WriteProto::V2 => remote::decode_proto(WriteProto::V2, &raw).map(|d| {
            for series in &d.series {
                let pairs: Vec<(&str, &str)> = series
                    .labels
                    .iter()
                    .map(|l| (l.name.as_str(), l.value.as_str()))
                    .collect();
                if series.start_timestamp != 0 {
                    append_series_st(
                        &mut *app,
                        &pairs,
                        series.start_timestamp,
                        &series.samples,
                        &series.exemplars,
                        &mut first_error,
                    );
                    continue;
                }
                append_series(
                    &mut *app,
                    &pairs,
                    &series.samples,
                    &series.exemplars,
                    &mut first_error,
                );
            }
            d.metadata
        }),
    };
    let metadata = match metadata {
        Ok(m) => m,
        // Nothing of a malformed request is stored: the appender is dropped uncommitted.
        Err(e) => return refused(&s, e),
    };
    for (family, md) in &metadata {
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

/// Like `append_series`, for a 2.0 series with a created timestamp: it
/// becomes the start timestamp of every sample.
fn append_series_st(
    app: &mut dyn Appender,
    labels: &[(&str, &str)],
    st: i64,
    samples: &[Sample],
    exemplars: &[Exemplar],
    first_error: &mut Option<String>,
) {
    let labels_owned = sightline_model::Labels::from_pairs(labels.iter().copied());
    let mut r = None;
    for smp in samples {
        let res = match r {
            Some(r) => app
                .append_ref_st(r, smp.t, st, smp.v)
                .unwrap_or_else(|| app.append_st(&labels_owned, smp.t, st, smp.v).map(|_| ())),
            None => app
                .append_st(&labels_owned, smp.t, st, smp.v)
                .map(|x| r = Some(x)),
        };
        if let Err(reason) = res
            && first_error.is_none()
        {
            *first_error = Some(format!(
                "{reason} for series {labels_owned} at timestamp {}",
                smp.t
            ));
        }
    }
    if let Some(r) = r {
        for e in exemplars {
            let _ = app.append_exemplar(r, e);
        }
    }
}

/// Appends one series' samples (the first by labels, the rest by ref) and exemplars.
fn append_series(
    app: &mut dyn Appender,
    labels: &[(&str, &str)],
    samples: &[Sample],
    exemplars: &[Exemplar],
    first_error: &mut Option<String>,
) {
    let mut r = None;
    for smp in samples {
        let res = match r {
            Some(r) => app
                .append_ref(r, smp.t, smp.v)
                .unwrap_or_else(|| app.append_pairs(labels, smp.t, smp.v).map(|_| ())),
            None => app.append_pairs(labels, smp.t, smp.v).map(|x| r = Some(x)),
        };
        if let Err(reason) = res
            && first_error.is_none()
        {
            let l = sightline_model::Labels::from_pairs(labels.iter().copied());
            *first_error = Some(format!("{reason} for series {l} at timestamp {}", smp.t));
        }
    }
    // Exemplars need a series to hang on; without samples they are dropped, as Prometheus does.
    if let Some(r) = r {
        for e in exemplars {
            let _ = app.append_exemplar(r, e);
        }
    }
}
