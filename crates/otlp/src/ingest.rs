//! The one ingest path both transports (gRPC, HTTP) share: convert, validate,
//! store, derive span metrics, and map failures to OTLP's retry semantics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use sightline_traces::{SpanMetrics, StoreError, TraceStore};
use sightline_tsdb::Appendable;

use crate::convert::spans_from_pb;

/// Why a request failed as a whole.
#[derive(Debug)]
pub enum IngestError {
    /// Malformed or unusable data: not retryable (HTTP 400, gRPC INVALID_ARGUMENT).
    Invalid(String),
    /// Too many requests in flight: retry later (HTTP 429, gRPC RESOURCE_EXHAUSTED).
    TooMany,
    /// Storage cannot keep up or failed transiently: retry later (HTTP 503, gRPC UNAVAILABLE).
    Unavailable(String),
}

impl std::fmt::Display for IngestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IngestError::Invalid(m) => f.write_str(m),
            IngestError::TooMany => f.write_str("too many concurrent export requests"),
            IngestError::Unavailable(m) => f.write_str(m),
        }
    }
}

/// Seconds clients are told to wait before retrying.
pub const RETRY_AFTER_SECS: u64 = 1;

#[derive(Default)]
pub struct IngestStats {
    pub spans_accepted: AtomicU64,
    pub spans_rejected: AtomicU64,
    pub points_accepted: AtomicU64,
    pub points_rejected: AtomicU64,
    pub requests_refused: AtomicU64,
}

pub struct Ingest {
    pub store: Arc<dyn TraceStore>,
    pub span_metrics: Arc<SpanMetrics>,
    pub tsdb: Arc<dyn Appendable>,
    pub stats: IngestStats,
    /// Largest request body (after decompression) accepted, bytes.
    pub max_request_bytes: usize,
    permits: tokio::sync::Semaphore,
}

impl Ingest {
    pub fn new(
        store: Arc<dyn TraceStore>,
        span_metrics: Arc<SpanMetrics>,
        tsdb: Arc<dyn Appendable>,
    ) -> Arc<Ingest> {
        Arc::new(Ingest {
            store,
            span_metrics,
            tsdb,
            stats: IngestStats::default(),
            max_request_bytes: 32 << 20,
            permits: tokio::sync::Semaphore::new(256),
        })
    }

    pub fn with_limits(
        mut self: Arc<Self>,
        max_request_bytes: usize,
        max_in_flight: usize,
    ) -> Arc<Self> {
        let me = Arc::get_mut(&mut self).expect("configure before sharing");
        me.max_request_bytes = max_request_bytes;
        me.permits = tokio::sync::Semaphore::new(max_in_flight);
        self
    }

    pub async fn traces(
        self: &Arc<Self>,
        req: ExportTraceServiceRequest,
    ) -> Result<ExportTraceServiceResponse, IngestError> {
        let _permit = self.permits.try_acquire().map_err(|_| {
            self.stats.requests_refused.fetch_add(1, Ordering::Relaxed);
            IngestError::TooMany
        })?;
        let conv = spans_from_pb(req.resource_spans);
        self.stats
            .spans_rejected
            .fetch_add(conv.rejected, Ordering::Relaxed);
        if conv.spans.is_empty() && conv.rejected > 0 {
            // Nothing usable at all: the request is malformed, not partially accepted.
            return Err(IngestError::Invalid(conv.error.unwrap_or_default()));
        }
        let n = conv.spans.len() as u64;
        let (rejected, error, spans) = (conv.rejected, conv.error, conv.spans);
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            // Derive metrics only from requests the store will take (an overloaded store
            // refuses up front, so retried requests are not counted twice), without copying spans.
            me.store.ready()?;
            me.span_metrics.observe(&spans);
            me.store.write(spans)
        })
        .await
        .map_err(|e| IngestError::Unavailable(e.to_string()))?
        .map_err(|e: StoreError| {
            self.stats.requests_refused.fetch_add(1, Ordering::Relaxed);
            IngestError::Unavailable(e.to_string())
        })?;
        self.stats.spans_accepted.fetch_add(n, Ordering::Relaxed);
        Ok(ExportTraceServiceResponse {
            partial_success: (rejected > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: rejected as i64,
                error_message: error.unwrap_or_default(),
            }),
        })
    }

    pub async fn metrics(
        self: &Arc<Self>,
        req: ExportMetricsServiceRequest,
    ) -> Result<ExportMetricsServiceResponse, IngestError> {
        let _permit = self.permits.try_acquire().map_err(|_| {
            self.stats.requests_refused.fetch_add(1, Ordering::Relaxed);
            IngestError::TooMany
        })?;
        let me = self.clone();
        let out = tokio::task::spawn_blocking(move || {
            crate::metrics::write(me.tsdb.as_ref(), &req.resource_metrics)
        })
        .await
        .map_err(|e| IngestError::Unavailable(e.to_string()))?
        .map_err(|e| IngestError::Unavailable(e.to_string()))?;
        self.stats
            .points_accepted
            .fetch_add(out.accepted, Ordering::Relaxed);
        self.stats
            .points_rejected
            .fetch_add(out.rejected, Ordering::Relaxed);
        if out.accepted == 0 && out.rejected > 0 {
            return Err(IngestError::Invalid(out.error.unwrap_or_default()));
        }
        Ok(ExportMetricsServiceResponse {
            partial_success: (out.rejected > 0).then(|| ExportMetricsPartialSuccess {
                rejected_data_points: out.rejected as i64,
                error_message: out.error.unwrap_or_default(),
            }),
        })
    }
}
