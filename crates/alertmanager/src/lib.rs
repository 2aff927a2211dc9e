//! Sightline's Alertmanager: an Alertmanager 0.25-compatible notifier.
//!
//! `config` loads `alertmanager.yml`; `core::Alertmanager` holds the alert
//! store, silences, notification log and history and runs the dispatcher;
//! `api::router` serves API v2 on the shared HTTP port.

pub mod alert;
pub mod api;
pub mod config;
pub mod core;
pub mod dispatch;
pub mod history;
pub mod inhibit;
pub mod labels;
pub mod matchers;
pub mod metrics;
pub mod nflog;
pub mod notify;
pub mod persist;
pub mod pipeline;
pub mod route;
pub mod silence;
pub mod store;
pub mod template;
pub mod time;
pub mod timeinterval;

pub use crate::core::{Alertmanager, Options};
pub use api::router;
