use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "sightline",
    version,
    about = "Metrics, alerting and tracing in one binary, speaking Prometheus, Alertmanager, Jaeger and Tempo protocols."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Run(Box<RunArgs>),
    /// Validate configuration files.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Work with TSDB directories.
    #[command(subcommand)]
    Tsdb(TsdbCommand),
    /// Alertmanager tools (as amtool's).
    #[command(subcommand)]
    Alertmanager(AlertmanagerCommand),
    /// Unit tests (as promtool's).
    #[command(subcommand)]
    Test(TestCommand),
}

#[derive(Subcommand, Debug)]
pub enum TestCommand {
    /// Run rule unit tests in promtool's format; exits 1 when any fails.
    Rules { files: Vec<PathBuf> },
}

#[derive(Subcommand, Debug)]
pub enum AlertmanagerCommand {
    /// Routing tree tools.
    #[command(subcommand)]
    Routes(RoutesCommand),
}

#[derive(Subcommand, Debug)]
pub enum RoutesCommand {
    /// Print the receivers an alert with the given labels is routed to (as `amtool config routes test`).
    Test {
        /// Alertmanager configuration file.
        #[arg(long = "config.file", default_value = "alertmanager.yml")]
        config_file: PathBuf,
        /// Comma-separated receivers expected; exit 1 when they differ.
        #[arg(long = "verify.receivers")]
        verify_receivers: Option<String>,
        /// Also print the routing tree.
        #[arg(long)]
        tree: bool,
        /// Alert labels as label=value.
        labels: Vec<String>,
    },
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Prometheus configuration file (optionally with a `sightline:` section). Without it, the embedded default runs.
    #[arg(long = "config.file")]
    pub config_file: Option<PathBuf>,
    /// Base path for metrics storage.
    #[arg(
        long = "storage.path",
        visible_alias = "storage.tsdb.path",
        default_value = "./data"
    )]
    pub storage_path: PathBuf,
    /// How long to retain samples (Prometheus duration, e.g. 15d).
    #[arg(long = "storage.tsdb.retention.time", default_value = "15d")]
    pub retention_time: String,
    /// Maximum bytes of storage blocks to retain (e.g. 512MB, 10GB); 0 means no limit.
    #[arg(long = "storage.tsdb.retention.size", default_value = "0")]
    pub retention_size: String,
    /// Memory for decompressed block chunk frames shared by all queries (e.g. 256MB; 0 disables).
    #[arg(long = "storage.tsdb.frame-cache-size", default_value = "256MB")]
    pub frame_cache_size: String,
    /// Accept out-of-order samples this far behind a series' newest sample (overrides the config file).
    #[arg(long = "storage.tsdb.out-of-order-time-window")]
    pub ooo_window: Option<String>,
    /// Address to listen on for the UI, API and telemetry.
    #[arg(long = "web.listen-address", default_value = "0.0.0.0:9090")]
    pub web_listen: String,
    /// Exporter-toolkit web config file enabling TLS and/or basic auth.
    #[arg(long = "web.config.file")]
    pub web_config: Option<PathBuf>,
    /// Alertmanager configuration file for the built-in Alertmanager.
    #[arg(long = "alertmanager.config.file")]
    pub alertmanager_config: Option<PathBuf>,
    /// URL under which Sightline is reached (used in notification links).
    #[arg(long = "web.external-url")]
    pub web_external_url: Option<String>,
    /// Address for the OTLP gRPC receiver.
    #[arg(long = "otlp.grpc.listen-address", default_value = "0.0.0.0:4317")]
    pub otlp_grpc_listen: String,
    /// Address for the OTLP HTTP receiver.
    #[arg(long = "otlp.http.listen-address", default_value = "0.0.0.0:4318")]
    pub otlp_http_listen: String,
    /// How long to retain traces (Prometheus duration, e.g. 7d).
    #[arg(long = "storage.traces.retention.time", default_value = "7d")]
    pub traces_retention_time: String,
    /// Maximum bytes of trace segments to retain (e.g. 10GB); 0 means no limit.
    #[arg(long = "storage.traces.retention.size", default_value = "0")]
    pub traces_retention_size: String,
    /// How often span metrics and service-graph metrics are written into the TSDB.
    #[arg(long = "traces.span-metrics.flush-interval", default_value = "15s")]
    pub span_metrics_flush: String,
    /// Enable the admin endpoints (`/api/v1/admin/tsdb/delete_series`, `clean_tombstones`).
    #[arg(long = "web.enable-admin-api")]
    pub enable_admin_api: bool,
    /// How far back PromQL looks for the latest sample of a series.
    #[arg(long = "query.lookback-delta", default_value = "5m")]
    pub query_lookback_delta: String,
    /// Most samples a single query may hold in memory.
    #[arg(long = "query.max-samples", default_value_t = 50_000_000)]
    pub query_max_samples: usize,
    /// Most queries evaluated at the same time; more wait for a slot.
    #[arg(long = "query.max-concurrency", default_value_t = 20)]
    pub query_max_concurrency: usize,
    /// Longest a query may run before it is aborted.
    #[arg(long = "query.timeout", default_value = "2m")]
    pub query_timeout: String,
    /// Log level: debug, info, warn, error.
    #[arg(long = "log.level", default_value = "info")]
    pub log_level: String,
    /// Log format: logfmt (human-readable) or json.
    #[arg(long = "log.format", default_value = "logfmt")]
    pub log_format: String,
}

#[derive(Subcommand, Debug)]
pub enum CheckCommand {
    /// Validate a prometheus.yml; prints `file:line: field: problem` and exits 1 on error.
    Config { files: Vec<PathBuf> },
    /// Validate an exporter-toolkit web config file.
    WebConfig { files: Vec<PathBuf> },
    /// Validate an alertmanager.yml; prints `file:line: field: problem` and exits 1 on error.
    AlertmanagerConfig { files: Vec<PathBuf> },
    /// Validate rule files; prints `file:line: field: problem` and exits 1 on error.
    Rules { files: Vec<PathBuf> },
}

#[derive(Subcommand, Debug)]
pub enum TsdbCommand {
    /// Write blocks from an exposition file (as promtool's).
    #[command(name = "create-blocks-from", subcommand)]
    CreateBlocksFrom(CreateBlocksFrom),
    /// Series and label cardinality of a data directory (as promtool's).
    Analyze {
        /// Data directory.
        #[arg(default_value = "./data")]
        dir: PathBuf,
        /// Rows per table.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

#[derive(Subcommand, Debug)]
pub enum CreateBlocksFrom {
    /// From an OpenMetrics text file with timestamps.
    Openmetrics {
        input: PathBuf,
        #[arg(default_value = "./data")]
        output: PathBuf,
        /// Block duration (a multiple of 2h).
        #[arg(long = "max-block-duration", default_value = "2h")]
        max_block_duration: String,
    },
}
