//! Wiring of the built-in Alertmanager: config file (or the minimal default),
//! state under `<storage.path>/alertmanager`, API v2 routes, reload.

use std::path::Path;

use sightline_alertmanager::config::{Config, load_file};
use sightline_alertmanager::{Alertmanager, Options};

use crate::cli::RunArgs;

/// The URL the Alertmanager puts in notifications: `--web.external-url`, or
/// the listen address (a wildcard host becomes `localhost`).
pub fn external_url(args: &RunArgs) -> String {
    if let Some(u) = &args.web_external_url {
        return u.trim_end_matches('/').to_string();
    }
    let listen = match args.web_listen.rsplit_once(':') {
        Some(("0.0.0.0" | "" | "[::]", port)) => format!("localhost:{port}"),
        _ => args.web_listen.clone(),
    };
    format!("http://{listen}")
}

fn load(path: Option<&Path>) -> Result<Config, String> {
    match path {
        Some(p) => load_file(p).map_err(|e| e.to_string()),
        None => Ok(Config::minimal()),
    }
}

/// Starts the Alertmanager; returns it and its API routes.
pub fn start(args: &RunArgs) -> Result<(Alertmanager, axum::Router), String> {
    let cfg = load(args.alertmanager_config.as_deref())?;
    let opts = Options {
        data_dir: Some(args.storage_path.join("alertmanager")),
        external_url: external_url(args),
        ..Options::default()
    };
    let am = Alertmanager::start(cfg, opts)?;
    tracing::info!(config = ?args.alertmanager_config, "alertmanager started");
    let routes = sightline_alertmanager::router(am.clone());
    Ok((am, routes))
}

/// Re-reads the Alertmanager config file (on `/-/reload` and SIGHUP).
pub fn reload(am: &Alertmanager, path: Option<&Path>) -> Result<(), String> {
    let Some(p) = path else { return Ok(()) };
    let cfg = load(Some(p)).inspect_err(|_| am.record_reload_failure())?;
    am.apply_config(cfg)?;
    tracing::info!(file = %p.display(), "alertmanager configuration reloaded");
    Ok(())
}
