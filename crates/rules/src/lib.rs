//! Prometheus recording and alerting rules for Sightline: rule files
//! (`rulefmt`), group evaluation on Prometheus's time grid, alert state with
//! `for`/`keep_firing_for` and restore after restart, Go templates with
//! Prometheus's functions, and sending alerts to Alertmanagers.

pub mod alerting;
pub mod check;
pub mod eval;
pub mod file;
pub mod group;
pub mod humanize;
pub mod manager;
pub mod memstore;
pub mod notifier;
pub mod recording;
pub mod restore;
pub mod template;
pub mod unittest;

pub use alerting::{Alert, AlertState, AlertingState};
pub use eval::EvalContext;
pub use file::{GroupSpec, RuleFileError, RuleKind, RuleSpec, load_file, load_files, parse_str};
pub use group::{Group, Health, Rule};
pub use manager::{Manager, Settings};
pub use notifier::{AlertSink, BuiltinSink, ExternalSink, Notifier, NotifyAlert};
