//! Sightline's trace store and span-derived metrics.
//!
//! Spans arrive as [`Span`]s (converted from OTLP by `sightline-otlp`), are
//! logged to a WAL, held in an in-memory head and cut into immutable columnar
//! [`segment`]s. Readers use the [`TraceStore`] trait; [`TraceDb`] is the
//! embedded implementation.

pub mod codec;
pub mod query;
pub mod segment;
pub mod span;
pub mod wal;

pub use query::{Expr, Field, Lit, Op, SearchQuery, SpanView, TraceHit};
pub use span::{
    Attrs, Event, Link, Resource, Scope, Span, SpanId, SpanKind, StatusCode, TraceId, Value,
};

mod db;
mod head;
pub mod store;

pub use db::{TraceDb, TraceOptions, now_ns};
pub use store::{Operation, StoreError, TagKeys, TraceStore};
pub mod histogram;
pub mod servicegraph;
pub mod spanmetrics;

pub use spanmetrics::SpanMetrics;
