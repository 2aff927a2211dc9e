//! Metrics collection: exposition parsers, relabeling, scrape targets and the
//! loops that scrape them into the TSDB through its `Appender`.

mod manager;
pub mod metrics;
pub mod parser;
pub mod relabel;
mod scrape_loop;
pub mod target;

pub use manager::{DroppedTarget, ScrapeManager, TargetInfo, TargetMetadataInfo};
pub use scrape_loop::{
    Health, IngestStats, LoopSettings, ScrapeLoop, TargetHealth, TargetMetadata, merge_labels,
};
