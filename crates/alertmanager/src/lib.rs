//! Sightline's Alertmanager: an Alertmanager 0.25-compatible notifier.

pub mod config;
pub mod labels;
pub mod matchers;
pub mod route;
pub mod template;
pub mod time;
pub mod timeinterval;
