//! Shared pieces of the benchmark tools: reading the RED dataset into
//! remote-write requests, synthetic series, a minimal keep-alive HTTP sender
//! and process statistics from /proc.

pub mod dataset;
pub mod http;
pub mod procstat;
