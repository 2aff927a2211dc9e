//! OTLP/gRPC: TraceService and MetricsService on `--otlp.grpc.listen-address`.

use std::net::SocketAddr;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use crate::ingest::{Ingest, IngestError, RETRY_AFTER_SECS};
use crate::rpc_status;

struct Svc(Arc<Ingest>);

/// Maps an ingest failure to the gRPC code OTLP clients act on: INVALID_ARGUMENT is
/// dropped, UNAVAILABLE / RESOURCE_EXHAUSTED (with RetryInfo) are retried.
fn status(e: IngestError) -> Status {
    match e {
        IngestError::Invalid(m) => Status::invalid_argument(m),
        IngestError::TooMany => retryable(tonic::Code::ResourceExhausted, e.to_string()),
        IngestError::Unavailable(m) => retryable(tonic::Code::Unavailable, m),
    }
}

fn retryable(code: tonic::Code, msg: String) -> Status {
    let details = rpc_status::with_retry_info(code as i32, &msg, RETRY_AFTER_SECS);
    let mut st = Status::with_details(code, msg, details.into());
    if let Ok(v) = RETRY_AFTER_SECS.to_string().parse() {
        st.metadata_mut().insert("retry-after", v);
    }
    st
}

#[tonic::async_trait]
impl TraceService for Svc {
    async fn export(
        &self,
        req: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.0
            .traces(req.into_inner())
            .await
            .map(Response::new)
            .map_err(status)
    }
}

#[tonic::async_trait]
impl MetricsService for Svc {
    async fn export(
        &self,
        req: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.0
            .metrics(req.into_inner())
            .await
            .map(Response::new)
            .map_err(status)
    }
}

/// Serves OTLP/gRPC on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ingest: Arc<Ingest>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let max = ingest.max_request_bytes;
    let traces = TraceServiceServer::new(Svc(ingest.clone()))
        .max_decoding_message_size(max)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip);
    let metrics = MetricsServiceServer::new(Svc(ingest))
        .max_decoding_message_size(max)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd);
    let incoming = tokio_stream_listener(listener);
    tonic::transport::Server::builder()
        .add_service(traces)
        .add_service(metrics)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| format!("OTLP gRPC server: {e}"))
}

fn tokio_stream_listener(
    listener: tokio::net::TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    tokio_stream::wrappers::TcpListenerStream::new(listener)
}

pub fn local_addr(l: &tokio::net::TcpListener) -> Option<SocketAddr> {
    l.local_addr().ok()
}
