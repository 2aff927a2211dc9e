//! All of this crate's integration tests in one binary: one link instead of
//! one per file keeps the build's disk footprint and link time down.

mod common;
mod promdata;

mod alertmanager_e2e;
mod alertmanagers_api;
mod cli;
mod differential_targets;
mod otlp_flask;
mod otlp_ingest;
mod prom_api;
mod prom_differential;
mod prom_openapi;
mod prom_promtool;
mod prometheus_sender;
mod remote_read;
mod remote_write;
mod remote_write_out;
mod scrape_real;
mod self_metrics;
mod tempo_api;
mod ui;
