//! All of this crate's integration tests in one binary: one link instead of
//! one per file keeps the build's disk footprint and link time down.

mod dns_sd;
mod file_sd;
mod http_sd;
mod kubernetes;
