//! OTLP receivers for traces and metrics (gRPC and HTTP, protobuf and JSON,
//! gzip), the conversion between OTLP and the trace store's span model, and
//! Prometheus' OTLP metric translation into the TSDB.
//!
//! This is the only crate that depends on tonic and opentelemetry-proto's
//! generated code; everything else sees `sightline_traces::Span`.

pub mod convert;
pub mod grpc;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod rpc_status;

pub use ingest::{Ingest, IngestError, IngestStats};
pub use opentelemetry_proto as proto;
