//! The vocabulary shared by every Sightline crate: label sets, matchers, samples,
//! exemplars, metric metadata, and the text exposition writer. Nothing here does I/O.

pub mod civil;
pub mod exposition;
mod labels;
mod matcher;
mod sample;
pub mod summary;

pub use labels::{Label, Labels, LabelsBuilder, METRIC_NAME, hash_pairs};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use sample::{
    Exemplar, MetricMetadata, MetricType, STALE_NAN_BITS, Sample, is_stale_nan, stale_nan,
};
