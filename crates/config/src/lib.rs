//! `prometheus.yml` (plus Sightline's own `sightline:` section) and the
//! exporter-toolkit web config file.
//!
//! Loading follows Prometheus 3.x: unknown keys are errors, defaults and
//! inheritance from `global` are applied, and the semantic checks Prometheus
//! makes are made here too, with the same messages where practical. Errors
//! display as `file:line: field: problem`.

mod alerting;
mod de;
mod duration;
mod error;
mod global;
mod http;
mod loader;
mod relabel;
mod remote;
mod scrape;
mod sd;
mod secret;
mod sections;
mod web;
mod yaml;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use alerting::{AlertingConfig, AlertmanagerConfig, SUPPORTED_ALERTMANAGER_API_VERSIONS};
pub use de::{ByteSize, parse_byte_size};
pub use duration::{Duration, parse_duration};
pub use error::{ConfigError, FieldPath, Seg, line_of_path};
pub use global::GlobalConfig;
pub use http::{
    Authorization, BasicAuth, HttpClientConfig, HttpHeader, OAuth2, TLS_VERSIONS, TlsConfig,
};
pub use loader::{load_file, load_str};
pub use relabel::{
    DEFAULT_RELABEL_REGEX, NameValidationScheme, RelabelAction, RelabelConfig, RelabelRegex,
    is_legacy_label_name,
};
pub use remote::{
    MetadataConfig, PROTOBUF_MESSAGES, QueueConfig, RemoteReadConfig, RemoteWriteConfig,
};
pub use scrape::{ESCAPING_SCHEMES, ScrapeConfig, ScrapeProtocol};
pub use sd::{
    FileSdConfig, GenericSdConfig, KubernetesAttachMetadata, KubernetesNamespaceDiscovery,
    KubernetesSdConfig, KubernetesSelector, StaticConfig,
};
pub use secret::{SECRET_PLACEHOLDER, Secret};
pub use sections::{
    ChunkEncodingConfig, ExemplarsConfig, OtlpConfig, RuntimeConfig, SightlineConfig,
    SightlineOtlpConfig, StorageConfig, TracesConfig, TracingConfig, TsdbConfig,
    TsdbRetentionConfig, UiConfig,
};
pub use web::{HttpServerConfig, TlsServerConfig, WebConfig, load_web_config, load_web_config_str};

/// The whole `prometheus.yml`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, deserialize_with = "de::nullable")]
    pub global: GlobalConfig,
    #[serde(default, deserialize_with = "de::nullable")]
    pub runtime: RuntimeConfig,
    #[serde(default, deserialize_with = "de::nullable")]
    pub alerting: AlertingConfig,
    /// Rule file globs as written (see [`Config::resolve_rule_files`]).
    #[serde(
        default,
        deserialize_with = "de::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub rule_files: Vec<String>,
    /// Globs of files holding more `scrape_configs`; loaded by [`load_file`]
    /// into [`Config::file_scrape_configs`].
    #[serde(
        default,
        deserialize_with = "de::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub scrape_config_files: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de::scrape_configs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub scrape_configs: Vec<ScrapeConfig>,
    #[serde(default, deserialize_with = "de::nullable")]
    pub storage: StorageConfig,
    #[serde(default, deserialize_with = "de::nullable")]
    pub tracing: TracingConfig,
    #[serde(
        default,
        deserialize_with = "de::remote_write_configs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub remote_write: Vec<RemoteWriteConfig>,
    #[serde(
        default,
        deserialize_with = "de::remote_read_configs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub remote_read: Vec<RemoteReadConfig>,
    #[serde(default, deserialize_with = "de::nullable")]
    pub otlp: OtlpConfig,
    /// Sightline's own settings; absent means defaults.
    #[serde(default, deserialize_with = "de::nullable")]
    pub sightline: SightlineConfig,
    /// Jobs read from `scrape_config_files` (validated like
    /// `scrape_configs`, job names unique across both).
    #[serde(skip)]
    pub file_scrape_configs: Vec<ScrapeConfig>,
}

impl Config {
    /// The built-in configuration used when no config file is given: scrape
    /// every 15s, with one job `sightline` scraping this server at
    /// `web_listen` (e.g. `localhost:9090`).
    pub fn embedded_default(web_listen: &str) -> Config {
        let mut cfg = Config::default();
        cfg.global.scrape_interval = Duration::from_secs(15);
        cfg.global.scrape_timeout = Duration::ZERO;
        let mut job = ScrapeConfig::new("sightline");
        job.static_configs.push(StaticConfig {
            targets: vec![web_listen.to_string()],
            ..Default::default()
        });
        cfg.scrape_configs.push(job);
        // Fills inherited values; cannot fail for this fixed shape unless
        // `web_listen` is a URL, in which case the job is kept unvalidated.
        let _ = loader::validate(&mut cfg);
        cfg
    }

    /// Main-file jobs followed by those from `scrape_config_files`.
    pub fn all_scrape_configs(&self) -> impl Iterator<Item = &ScrapeConfig> {
        self.scrape_configs.iter().chain(&self.file_scrape_configs)
    }

    /// The config as YAML, with secrets shown as `<secret>`
    /// (for `/api/v1/status/config`).
    pub fn to_yaml(&self) -> String {
        match serde_json::to_value(self) {
            Ok(v) => yaml::to_yaml(&v),
            Err(e) => format!("# error rendering config: {e}\n"),
        }
    }

    /// Expands the `rule_files` globs, relative paths being relative to
    /// `base_dir` (the config file's directory). Sorted, deduplicated.
    pub fn resolve_rule_files(&self, base_dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
        let mut files = loader::expand_globs(&self.rule_files, base_dir, "rule_files")?;
        files.sort();
        files.dedup();
        Ok(files)
    }
}

#[cfg(test)]
mod tests;
