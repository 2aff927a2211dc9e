//! Field paths and the YAML line they point at, for `file:line: field:
//! problem` errors: the config crate's implementation, shared.

pub use sightline_config::FieldPath;

/// The line of the deepest node of `path` present in `yaml`.
pub fn line_of(yaml: &str, path: &FieldPath) -> Option<u64> {
    sightline_config::line_of_path(yaml, path)
}
