//! All of this crate's integration tests in one binary: one link instead of
//! one per file keeps the build's disk footprint and link time down.

mod prometheus_testdata;
