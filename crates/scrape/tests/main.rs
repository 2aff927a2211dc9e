//! All of this crate's integration tests in one binary: one link instead of
//! one per file keeps the build's disk footprint and link time down.

mod common;

mod manager;
mod oauth2;
mod openmetrics_conformance;
mod scrape_loop;
mod text_parsers;
mod tls;
