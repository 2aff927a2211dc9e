//! All of this crate's integration tests in one binary: one link instead of
//! one per file keeps the build's disk footprint and link time down.

mod common;

mod amtool;
mod config_testdata;
mod dispatch_timing;
mod persistence;
mod prometheus_client;
mod receivers;
mod self_metrics;
mod templates;
