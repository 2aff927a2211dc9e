//! Wiring of the Prometheus query API: engine limits from the `--query.*`
//! flags, and the running configuration shown by `/api/v1/status/*`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;
use sightline_api::PromSettings;
use sightline_config::Config;
use sightline_promql::{Engine, EngineOptions};

use crate::cli::RunArgs;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn flag_duration(name: &str, v: &str) -> Result<Duration, String> {
    sightline_config::parse_duration(v)
        .map(Duration::from)
        .map_err(|e| format!("--{name}: {e}"))
}

pub fn configure(p: &mut PromSettings, args: &RunArgs, cfg: &Config) -> Result<(), String> {
    let lookback = flag_duration("query.lookback-delta", &args.query_lookback_delta)?;
    let timeout = flag_duration("query.timeout", &args.query_timeout)?;
    let eval_interval: Duration = cfg.global.evaluation_interval.into();
    p.engine = Engine::new(EngineOptions {
        lookback_delta_ms: lookback.as_millis() as i64,
        max_samples: args.query_max_samples,
        timeout,
        default_subquery_step_ms: (eval_interval.as_millis() as i64).max(1),
        ..EngineOptions::default()
    });
    p.enable_admin_api = args.enable_admin_api;
    p.query_permits = tokio::sync::Semaphore::new(args.query_max_concurrency.max(1));
    p.query_max_concurrency = args.query_max_concurrency.max(1);
    *p.config_yaml.write() = cfg.to_yaml();
    *p.external_labels.write() = external_labels(cfg);
    let opt = |o: &Option<std::path::PathBuf>| {
        o.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    *p.flags.write() = vec![
        ("config.file".into(), opt(&args.config_file)),
        (
            "storage.tsdb.path".into(),
            args.storage_path.display().to_string(),
        ),
        (
            "storage.tsdb.retention.time".into(),
            args.retention_time.clone(),
        ),
        (
            "storage.tsdb.retention.size".into(),
            args.retention_size.clone(),
        ),
        (
            "storage.tsdb.frame-cache-size".into(),
            args.frame_cache_size.clone(),
        ),
        ("web.listen-address".into(), args.web_listen.clone()),
        ("web.config.file".into(), opt(&args.web_config)),
        (
            "web.external-url".into(),
            args.web_external_url.clone().unwrap_or_default(),
        ),
        (
            "alertmanager.config.file".into(),
            opt(&args.alertmanager_config),
        ),
        (
            "query.lookback-delta".into(),
            args.query_lookback_delta.clone(),
        ),
        (
            "query.max-samples".into(),
            args.query_max_samples.to_string(),
        ),
        ("query.timeout".into(), args.query_timeout.clone()),
        (
            "query.max-concurrency".into(),
            args.query_max_concurrency.to_string(),
        ),
        (
            "web.enable-admin-api".into(),
            args.enable_admin_api.to_string(),
        ),
        ("log.level".into(), args.log_level.clone()),
        ("log.format".into(), args.log_format.clone()),
    ];
    Ok(())
}

fn external_labels(cfg: &Config) -> Vec<(String, String)> {
    cfg.global
        .external_labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The parts of [`PromSettings`] the reload hook updates.
pub struct ReloadView {
    yaml: Arc<RwLock<String>>,
    external: Arc<RwLock<Vec<(String, String)>>>,
    last_time: Arc<AtomicI64>,
    last_ok: Arc<AtomicBool>,
}

impl ReloadView {
    pub fn of(p: &PromSettings) -> Self {
        ReloadView {
            yaml: p.config_yaml.clone(),
            external: p.external_labels.clone(),
            last_time: p.last_config_time_ms.clone(),
            last_ok: p.last_reload_ok.clone(),
        }
    }

    pub fn applied(&self, cfg: &Config) {
        *self.yaml.write() = cfg.to_yaml();
        *self.external.write() = external_labels(cfg);
        self.last_time.store(now_ms(), Ordering::Relaxed);
        self.last_ok.store(true, Ordering::Relaxed);
    }

    pub fn failed(&self) {
        self.last_ok.store(false, Ordering::Relaxed);
    }
}
