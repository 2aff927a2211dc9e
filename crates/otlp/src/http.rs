//! OTLP/HTTP: `POST /v1/traces`, `/v1/metrics` (and Prometheus' path
//! `/api/v1/otlp/v1/metrics`) with binary protobuf or JSON bodies, optionally
//! gzip-compressed. Responses follow the OTLP spec: 200 with an (optionally
//! partial-success) response message in the request's encoding; 400 with a
//! `google.rpc.Status` for malformed data; 413 for oversized bodies; 415 for
//! other content types; 429/503 with `Retry-After` when clients should back off.

use std::io::Read;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use crate::ingest::{Ingest, IngestError, RETRY_AFTER_SECS};
use crate::rpc_status;

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Proto,
    Json,
}

/// Routes for the OTLP HTTP receiver (mounted on both the OTLP HTTP port and the main port).
pub fn router(ingest: Arc<Ingest>) -> Router {
    // The compressed body limit; the decompressed size is checked while inflating.
    let limit = ingest.max_request_bytes;
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/metrics", post(metrics))
        .route("/api/v1/otlp/v1/metrics", post(metrics))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(ingest)
}

fn error(enc: Encoding, status: StatusCode, grpc_code: i32, msg: &str) -> Response {
    let mut resp = match enc {
        Encoding::Proto => (
            status,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            rpc_status::encode(grpc_code, msg),
        )
            .into_response(),
        Encoding::Json => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"code": grpc_code, "message": msg}).to_string(),
        )
            .into_response(),
    };
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, RETRY_AFTER_SECS.into());
    }
    resp
}

fn ingest_error(enc: Encoding, e: IngestError) -> Response {
    match &e {
        IngestError::Invalid(m) => error(enc, StatusCode::BAD_REQUEST, 3, m),
        IngestError::TooMany => error(enc, StatusCode::TOO_MANY_REQUESTS, 8, &e.to_string()),
        IngestError::Unavailable(m) => error(enc, StatusCode::SERVICE_UNAVAILABLE, 14, m),
    }
}

/// Content type and inflated body, or the error response to send.
#[allow(clippy::result_large_err)] // the error is the response itself, built once per request
fn prepare(
    ingest: &Ingest,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(Encoding, Vec<u8>), Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let enc = match mime.as_str() {
        "application/x-protobuf" | "application/protobuf" => Encoding::Proto,
        "application/json" => Encoding::Json,
        _ => {
            return Err(error(
                Encoding::Json,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                3,
                &format!(
                    "unsupported content type {ct:?}; use application/x-protobuf or application/json"
                ),
            ));
        }
    };
    let ce = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let max = ingest.max_request_bytes;
    let raw = match ce.as_str() {
        "" | "identity" => body.to_vec(),
        "gzip" => {
            let mut out = Vec::new();
            let r = flate2::read::GzDecoder::new(&body[..])
                .take(max as u64 + 1)
                .read_to_end(&mut out);
            if let Err(e) = r {
                return Err(error(
                    enc,
                    StatusCode::BAD_REQUEST,
                    3,
                    &format!("bad gzip body: {e}"),
                ));
            }
            if out.len() > max {
                return Err(error(
                    enc,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    8,
                    &format!("decompressed body exceeds {max} bytes"),
                ));
            }
            out
        }
        other => {
            return Err(error(
                enc,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                3,
                &format!("unsupported content encoding {other:?}"),
            ));
        }
    };
    Ok((enc, raw))
}

fn decode<T: Message + Default + serde::de::DeserializeOwned>(
    enc: Encoding,
    raw: &[u8],
) -> Result<T, String> {
    match enc {
        Encoding::Proto => T::decode(raw).map_err(|e| format!("malformed protobuf: {e}")),
        Encoding::Json => serde_json::from_slice(raw).map_err(|e| format!("malformed JSON: {e}")),
    }
}

fn ok<T: Message + serde::Serialize>(enc: Encoding, msg: &T) -> Response {
    match enc {
        Encoding::Proto => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            msg.encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_vec(msg).unwrap_or_else(|_| b"{}".to_vec()),
        )
            .into_response(),
    }
}

async fn traces(State(ingest): State<Arc<Ingest>>, headers: HeaderMap, body: Bytes) -> Response {
    let (enc, raw) = match prepare(&ingest, &headers, body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let req: ExportTraceServiceRequest = match decode(enc, &raw) {
        Ok(r) => r,
        Err(m) => return ingest_error(enc, IngestError::Invalid(m)),
    };
    match ingest.traces(req).await {
        Ok(resp) => ok(enc, &resp),
        Err(e) => ingest_error(enc, e),
    }
}

async fn metrics(State(ingest): State<Arc<Ingest>>, headers: HeaderMap, body: Bytes) -> Response {
    let (enc, raw) = match prepare(&ingest, &headers, body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let req: ExportMetricsServiceRequest = match decode(enc, &raw) {
        Ok(r) => r,
        Err(m) => return ingest_error(enc, IngestError::Invalid(m)),
    };
    match ingest.metrics(req).await {
        Ok(resp) => ok(enc, &resp),
        Err(e) => ingest_error(enc, e),
    }
}
