//! All of this crate's integration tests in one binary: one link instead of
//! one per file keeps the build's disk footprint and link time down.

mod append_handle;
mod db;
mod select_par;
mod start_timestamps;
mod tombstones;
