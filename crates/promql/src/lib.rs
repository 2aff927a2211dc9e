//! PromQL for Sightline: a hand-written parser (Prometheus 3.x syntax with
//! positioned errors) and an evaluator over the storage's `Querier` trait.

// The evaluator walks parallel per-step arrays (values, counts, parameters)
// by step index; iterator chains over several of them would read worse.
#![allow(
    clippy::needless_range_loop,
    clippy::type_complexity,
    clippy::too_many_arguments
)]

pub mod eval;
pub mod parser;

pub use eval::{Engine, EngineOptions, ErrorKind, QueryError, QueryResult, Value, format_value};
pub use parser::{ParseError, parse};
