//! Wiring of the rule manager: rule files from `rule_files`, evaluation
//! settings from `global`, alerts sent to the built-in Alertmanager and to
//! `alerting.alertmanagers`; reloaded with the configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sightline_alertmanager::Alertmanager;
use sightline_config::Config;
use sightline_promql::Engine;
use sightline_rules::notifier::{AlertSink, BuiltinSink, ExternalSink};
use sightline_rules::{Manager, Notifier, Settings};
use sightline_tsdb::Db;

use crate::cli::RunArgs;

pub struct Rules {
    pub manager: Manager,
    /// External Alertmanagers (`/api/v1/alertmanagers`).
    pub external: Arc<ExternalSink>,
    engine: Engine,
    external_url: String,
    config_dir: PathBuf,
}

fn config_dir(args: &RunArgs) -> PathBuf {
    args.config_file
        .as_ref()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Starts the manager after storage and the Alertmanager (inside the runtime).
pub fn start(
    args: &RunArgs,
    cfg: &Config,
    db: Arc<Db>,
    am: Alertmanager,
    engine: Engine,
) -> Result<Rules, String> {
    let external = ExternalSink::start();
    // Relative file_sd paths are relative to the config file, as in Prometheus.
    external.set_config_dir(config_dir(args));
    let sinks: Vec<Arc<dyn AlertSink>> = vec![Arc::new(BuiltinSink(am)), external.clone()];
    let manager = Manager::new(db.clone(), db, Arc::new(Notifier::new(sinks)));
    let rules = Rules {
        manager,
        external,
        engine,
        external_url: crate::alerting::external_url(args),
        config_dir: config_dir(args),
    };
    rules.apply(cfg)?;
    Ok(rules)
}

impl Rules {
    /// Applies a (re)loaded configuration; on error the running rules stay.
    pub fn apply(&self, cfg: &Config) -> Result<(), String> {
        let files = cfg
            .resolve_rule_files(&self.config_dir)
            .map_err(|e| e.to_string())?;
        // Built first: an Alertmanager whose HTTP client cannot be built fails the reload.
        let alertmanagers = self
            .external
            .prepare(&cfg.alerting)
            .map_err(|e| format!("alerting: {e}"))?;
        let settings = Settings {
            engine: self.engine.clone(),
            default_interval_ms: cfg.global.evaluation_interval.as_millis() as i64,
            default_query_offset_ms: cfg.global.rule_query_offset.as_millis() as i64,
            external_labels: cfg
                .global
                .external_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            external_url: self.external_url.clone(),
        };
        self.manager
            .update(&files, settings)
            .map_err(|e| format!("loading rules: {e}"))?;
        *self.manager.notifier().relabel.write() = cfg.alerting.alert_relabel_configs.clone();
        self.external.install(alertmanagers);
        tracing::info!(files = files.len(), "rules loaded");
        Ok(())
    }
}
