//! The storage interface the receivers and query APIs use. The embedded
//! [`crate::TraceDb`] implements it; a distributed backend (ClickHouse is
//! planned) implements the same reads and writes, translating [`crate::Expr`]
//! to its own query language.

use std::collections::BTreeSet;
use std::fmt;

use crate::query::{Field, SearchQuery, TraceHit};
use crate::span::{Span, SpanKind, TraceId, Value};

#[derive(Debug)]
pub enum StoreError {
    Io(std::io::Error),
    /// The store cannot take more right now (segment writing is behind); retry later.
    Overloaded,
    Closed,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io(e) => write!(f, "trace storage i/o error: {e}"),
            StoreError::Overloaded => f.write_str("trace storage is overloaded, retry later"),
            StoreError::Closed => f.write_str("trace storage is closed"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e)
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A (service, operation, kind) triple seen in stored spans.
pub type Operation = (String, String, SpanKind);

/// Attribute keys seen, by scope (for Tempo's tag autocomplete).
#[derive(Debug, Default, Clone)]
pub struct TagKeys {
    pub span: BTreeSet<String>,
    pub resource: BTreeSet<String>,
}

pub trait TraceStore: Send + Sync {
    /// Whether a write would be accepted now (Overloaded/Closed otherwise); lets callers
    /// refuse a request before deriving anything from it.
    fn ready(&self) -> Result<()> {
        Ok(())
    }
    /// Stores spans durably (they survive a crash once this returns Ok).
    fn write(&self, spans: Vec<Span>) -> Result<()>;
    /// All stored spans of a trace; `range` (ns) may narrow the lookup. Empty = not found.
    fn trace(&self, id: &TraceId, range: Option<(u64, u64)>) -> Result<Vec<Span>>;
    /// Traces having a span that matches, newest first, at most `q.limit`.
    fn search(&self, q: &SearchQuery) -> Result<Vec<TraceHit>>;
    /// Distinct operations (sorted).
    fn operations(&self) -> Result<Vec<Operation>>;
    /// Attribute keys seen in recent spans within `[start, end]` ns.
    fn tag_keys(&self, start_ns: u64, end_ns: u64) -> Result<TagKeys>;
    /// Distinct values of `field` among recent spans matching `q.filter` within `q`'s range.
    fn tag_values(&self, field: &Field, q: &SearchQuery) -> Result<Vec<Value>>;
}
