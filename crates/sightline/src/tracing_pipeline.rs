//! Wiring of the tracing side: the trace store under `<storage.path>/traces`,
//! span metrics flushed into the TSDB, the OTLP receivers on their own ports
//! (gRPC and HTTP), and the OTLP/Jaeger/Tempo routes for the main port.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use sightline_otlp::Ingest;
use sightline_trace_api::TraceApi;
use sightline_traces::{SpanMetrics, TraceDb, TraceOptions, TraceStore};
use sightline_tsdb::Db;
use tokio::sync::watch;

use crate::cli::RunArgs;

pub struct TracingPipeline {
    /// Routes for the main HTTP port (OTLP/HTTP, Jaeger, Tempo).
    pub routes: Router,
    store: Arc<TraceDb>,
    span_metrics: Arc<SpanMetrics>,
    db: Arc<Db>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

pub async fn start(args: &RunArgs, db: Arc<Db>) -> Result<TracingPipeline, String> {
    let std_dur = |d: sightline_config::Duration| Duration::from_millis(d.as_millis());
    let retention = sightline_config::parse_duration(&args.traces_retention_time)
        .map(std_dur)
        .map_err(|e| format!("--storage.traces.retention.time: {e}"))?;
    let retention_bytes = if args.traces_retention_size == "0" {
        0
    } else {
        sightline_config::parse_byte_size(&args.traces_retention_size)
            .map_err(|e| format!("--storage.traces.retention.size: {e}"))?
            .0
    };
    let flush = sightline_config::parse_duration(&args.span_metrics_flush)
        .map(std_dur)
        .map_err(|e| format!("--traces.span-metrics.flush-interval: {e}"))?
        .max(Duration::from_millis(100));
    let opts = TraceOptions {
        retention,
        retention_bytes,
        ..TraceOptions::default()
    };
    let dir = args.storage_path.join("traces");
    let store = tokio::task::spawn_blocking(move || TraceDb::open(&dir, opts))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("opening trace storage: {e}"))?;
    store.start_maintenance(Duration::from_secs(1));

    let span_metrics = Arc::new(SpanMetrics::new());
    let ingest = Ingest::new(
        store.clone() as Arc<dyn TraceStore>,
        span_metrics.clone(),
        db.clone(),
    );
    let api = Arc::new(TraceApi {
        store: store.clone(),
        tsdb: db.clone(),
    });
    let otlp_http = sightline_otlp::http::router(ingest.clone());
    let routes = otlp_http.clone().merge(sightline_trace_api::router(api));

    let (stop, rx) = watch::channel(false);
    let mut tasks = Vec::new();

    let grpc = tokio::net::TcpListener::bind(&args.otlp_grpc_listen)
        .await
        .map_err(|e| format!("listening on {} (OTLP gRPC): {e}", args.otlp_grpc_listen))?;
    tracing::info!(address = %args.otlp_grpc_listen, "OTLP gRPC receiver listening");
    let g = ingest.clone();
    let sd = stopped(rx.clone());
    tasks.push(tokio::spawn(async move {
        if let Err(e) = sightline_otlp::grpc::serve(grpc, g, sd).await {
            tracing::error!(error = %e, "OTLP gRPC receiver stopped");
        }
    }));

    let http = tokio::net::TcpListener::bind(&args.otlp_http_listen)
        .await
        .map_err(|e| format!("listening on {} (OTLP HTTP): {e}", args.otlp_http_listen))?;
    tracing::info!(address = %args.otlp_http_listen, "OTLP HTTP receiver listening");
    let sd = stopped(rx.clone());
    tasks.push(tokio::spawn(async move {
        if let Err(e) = axum::serve(http, otlp_http)
            .with_graceful_shutdown(sd)
            .await
        {
            tracing::error!(error = %e, "OTLP HTTP receiver stopped");
        }
    }));

    // Span metrics land in the TSDB on a fixed cadence, like a scrape of the connector.
    let (sm, fdb, mut frx) = (span_metrics.clone(), db.clone(), rx.clone());
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(flush);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = frx.wait_for(|s| *s) => return,
            }
            let (sm, fdb) = (sm.clone(), fdb.clone());
            let r = tokio::task::spawn_blocking(move || sm.flush(fdb.as_ref(), now_ms())).await;
            if let Ok(Err(e)) = r {
                tracing::warn!(error = %e, "span metrics flush failed");
            }
        }
    }));
    Ok(TracingPipeline {
        routes,
        store,
        span_metrics,
        db,
        stop,
        tasks,
    })
}

fn now_ms() -> i64 {
    (sightline_traces::now_ns() / 1_000_000) as i64
}

impl TracingPipeline {
    /// Stops the receivers, writes the last span metrics and syncs the trace WAL.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let (sm, db, store) = (self.span_metrics, self.db, self.store);
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = sm.flush(db.as_ref(), now_ms()) {
                tracing::warn!(error = %e, "final span metrics flush failed");
            }
            if let Err(e) = store.close() {
                tracing::error!(error = %e, "closing trace storage failed");
            }
        })
        .await;
    }
}
