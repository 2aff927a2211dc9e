//! PromQL for Sightline: a hand-written parser (Prometheus 3.x syntax with
//! positioned errors) and an evaluator over the storage's `Querier` trait.

pub mod eval;
pub mod parser;

pub use eval::{Engine, EngineOptions, QueryError, QueryResult, Value};
pub use parser::{ParseError, parse};
