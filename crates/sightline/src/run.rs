//! `sightline run`: open storage, start the receivers and loops, serve HTTP,
//! and shut everything down in order on SIGTERM/SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sightline_api::{ApiState, BasicAuth, SelfMetrics};
use sightline_config::Config;
use sightline_tsdb::{Db, Options};
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::RunArgs;
use crate::serve;

fn init_logging(args: &RunArgs) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{},h2=warn,hyper=warn,tower=warn,reqwest=warn",
            args.log_level
        ))
    });
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if args.log_format == "json" {
        b.json().init();
    } else {
        b.init();
    }
}

/// The config the server runs: the file given, or the embedded default that scrapes itself.
fn load_config(args: &RunArgs) -> Result<Config, String> {
    match &args.config_file {
        Some(p) => sightline_config::load_file(p).map_err(|e| e.to_string()),
        None => Ok(Config::embedded_default(&self_scrape_address(
            &args.web_listen,
        ))),
    }
}

/// Where the server reaches itself: a wildcard listen address becomes localhost.
fn self_scrape_address(listen: &str) -> String {
    match listen.rsplit_once(':') {
        Some(("0.0.0.0" | "" | "[::]", port)) => format!("localhost:{port}"),
        _ => listen.to_string(),
    }
}

fn tsdb_options(args: &RunArgs, cfg: &Config) -> Result<Options, String> {
    let retention = sightline_config::parse_duration(&args.retention_time)
        .map_err(|e| format!("--storage.tsdb.retention.time: {e}"))?;
    let size = if args.retention_size == "0" {
        0
    } else {
        sightline_config::parse_byte_size(&args.retention_size)
            .map_err(|e| format!("--storage.tsdb.retention.size: {e}"))?
            .0
    };
    let frame_cache = if args.frame_cache_size == "0" {
        0
    } else {
        sightline_config::parse_byte_size(&args.frame_cache_size)
            .map_err(|e| format!("--storage.tsdb.frame-cache-size: {e}"))?
            .0
    };
    sightline_tsdb::block::frame_cache::global().set_budget(frame_cache);
    let ooo = match &args.ooo_window {
        Some(s) => sightline_config::parse_duration(s)
            .map_err(|e| format!("--storage.tsdb.out-of-order-time-window: {e}"))?
            .as_millis() as i64,
        None => cfg.storage.tsdb.out_of_order_time_window.as_millis() as i64,
    };
    Ok(Options {
        retention_ms: retention.as_millis() as i64,
        retention_bytes: size,
        out_of_order_window_ms: ooo,
        ..Options::default()
    })
}

pub fn run(args: RunArgs) -> ExitCode {
    init_logging(&args);
    // Both reqwest and the TLS listener use rustls; pin its crypto provider once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Query checks, printing and evaluation walk the syntax tree
        // recursively (depth bounded by the parser); 8 MiB leaves a wide
        // margin over tokio's 2 MiB default. Untouched stack pages cost no memory.
        .thread_stack_size(8 << 20)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run_async(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "sightline stopped");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_async(args: RunArgs) -> Result<(), String> {
    let cfg = load_config(&args)?;
    let opts = tsdb_options(&args, &cfg)?;
    let web = match &args.web_config {
        Some(p) => Some(sightline_config::load_web_config(p).map_err(|e| e.to_string())?),
        None => None,
    };
    let tls = match web.as_ref().and_then(|w| w.tls_server_config.as_ref()) {
        Some(t) => Some(serve::tls_config(t)?),
        None => None,
    };
    let auth = web
        .as_ref()
        .filter(|w| !w.basic_auth_users.is_empty())
        .map(|w| Arc::new(BasicAuth::new(w.basic_auth_users.clone())));

    let path: PathBuf = args.storage_path.clone();
    let db = tokio::task::spawn_blocking(move || Db::open(&path, opts))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("opening storage at {}: {e}", args.storage_path.display()))?;

    let metrics = Arc::new(SelfMetrics::new(db.clone()));

    let scrapes = sightline_scrape::ScrapeManager::new(db.clone());
    // Relative file_sd paths are relative to the config file, as in Prometheus.
    if let Some(dir) = args.config_file.as_ref().and_then(|p| p.parent()) {
        scrapes.set_config_dir(dir);
    }
    scrapes.apply(&cfg);
    let remote_write = {
        let head_db = db.clone();
        let newest = move || {
            let t = head_db.head().max_t.load(Ordering::Relaxed);
            (t != i64::MIN).then_some(t)
        };
        let md_db = db.clone();
        let metadata: sightline_remote_write::MetadataSource = Arc::new(move || {
            md_db
                .head()
                .metadata
                .read()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        });
        Arc::new(sightline_remote_write::RemoteWriteManager::new(
            &args.storage_path,
            Box::new(newest),
            metadata,
        ))
    };
    remote_write.apply(&cfg)?;
    let (am, am_routes) = crate::alerting::start(&args)?;

    let mut state = ApiState::new(db.clone(), metrics.clone());
    state.scrapes = Some(scrapes.clone());
    crate::prom_api::configure(&mut state.prom, &args, &cfg)?;
    let rules = Arc::new(crate::rules_wiring::start(
        &args,
        &cfg,
        db.clone(),
        am.clone(),
        state.prom.engine.clone(),
    )?);
    {
        let prom = crate::prom_api::ReloadView::of(&state.prom);
        let config_file = args.config_file.clone();
        let scrapes = scrapes.clone();
        let (am, am_file) = (am.clone(), args.alertmanager_config.clone());
        let rules = rules.clone();
        let remote_write = remote_write.clone();
        state.reload = Some(Arc::new(move || {
            crate::alerting::reload(&am, am_file.as_deref())?;
            let Some(p) = &config_file else { return Ok(()) };
            match sightline_config::load_file(p) {
                Ok(cfg) => {
                    if let Err(e) = rules.apply(&cfg) {
                        prom.failed();
                        tracing::error!(error = %e, "rule reload failed; keeping the running rules");
                        return Err(e);
                    }
                    if let Err(e) = remote_write.apply(&cfg) {
                        prom.failed();
                        tracing::error!(error = %e, "remote write reload failed; keeping the running queues");
                        return Err(e);
                    }
                    scrapes.apply(&cfg);
                    prom.applied(&cfg);
                    tracing::info!(file = %p.display(), "configuration reloaded");
                    Ok(())
                }
                Err(e) => {
                    prom.failed();
                    tracing::error!(error = %e, "configuration reload failed; keeping the running configuration");
                    Err(e.to_string())
                }
            }
        }));
    }
    // Each component's own metrics, under Prometheus's names, on /metrics.
    {
        let scrapes = scrapes.clone();
        metrics.add_source(Box::new(move |e| scrapes.expose_metrics(e)));
        let rule_manager = rules.manager.clone();
        metrics.add_source(Box::new(move |e| rule_manager.expose_metrics(e)));
        let rw = remote_write.clone();
        metrics.add_source(Box::new(move |e| rw.expose_metrics(e)));
        let am = am.clone();
        metrics.add_source(Box::new(move |e| e.push_raw(&am.expose_metrics_text())));
    }
    let state = Arc::new(state);
    let traces = crate::tracing_pipeline::start(&args, db.clone()).await?;
    let app = sightline_api::router_with(
        state.clone(),
        auth,
        traces
            .routes
            .clone()
            .merge(am_routes)
            .merge(sightline_api::rules_router(rules.manager.clone()))
            .merge(sightline_api::alertmanagers_router(rules.external.clone()))
            .merge(sightline_ui::router()),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let maintenance = {
        let db = db.clone();
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("tsdb-maintenance".into())
            .spawn(move || maintenance_loop(&db, &stop))
            .map_err(|e| e.to_string())?
    };

    let listener = tokio::net::TcpListener::bind(&args.web_listen)
        .await
        .map_err(|e| format!("listening on {}: {e}", args.web_listen))?;
    tracing::info!(address = %args.web_listen, tls = tls.is_some(), "listening");
    state.ready.store(true, Ordering::Relaxed);

    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let hup_state = state.clone();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let s = hup_state.clone();
            let _ = tokio::task::spawn_blocking(move || s.reload_config()).await;
        }
    });

    let shutdown = async {
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down");
    };
    serve::serve(listener, app, tls, shutdown).await?;

    state.ready.store(false, Ordering::Relaxed);
    scrapes.stop().await;
    remote_write.stop();
    rules.manager.stop();
    am.shutdown();
    traces.shutdown().await;
    stop.store(true, Ordering::Relaxed);
    let _ = maintenance.join();
    db.close().map_err(|e| e.to_string())?;
    tracing::info!("storage closed; bye");
    Ok(())
}

fn maintenance_loop(db: &Db, stop: &AtomicBool) {
    let mut next = std::time::Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if std::time::Instant::now() >= next {
            if let Err(e) = db.maintain() {
                tracing::error!(error = %e, "storage maintenance failed");
            }
            next = std::time::Instant::now() + Duration::from_secs(60);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
