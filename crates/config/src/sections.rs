//! The smaller top-level sections: `storage`, `tracing`, `otlp`, `runtime`
//! and Sightline's own `sightline`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::de::{ByteSize, default_true, is_false, nullable, opt_string};
use crate::duration::Duration;
use crate::error::{FieldPath, Validation};
use crate::http::TlsConfig;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default, deserialize_with = "nullable")]
    pub tsdb: TsdbConfig,
    #[serde(default, deserialize_with = "nullable")]
    pub exemplars: ExemplarsConfig,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsdbConfig {
    /// How far back out-of-order samples are accepted; 0 disables.
    #[serde(default)]
    pub out_of_order_time_window: Duration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_series_compaction_threshold: Option<f64>,
    #[serde(default, deserialize_with = "nullable")]
    pub retention: TsdbRetentionConfig,
    #[serde(default, deserialize_with = "nullable")]
    pub chunk_encoding: ChunkEncodingConfig,
}

/// Retention limits; zero values mean "not set here" (flags decide).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsdbRetentionConfig {
    #[serde(default)]
    pub time: Duration,
    #[serde(default)]
    pub size: ByteSize,
    /// Percentage of the disk the TSDB may use, 0..=100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<f64>,
}

/// Float chunk encodings: `xor` (default) or `xor2`, lower case.
pub const FLOAT_CHUNK_ENCODINGS: [&str; 2] = ["xor", "xor2"];

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkEncodingConfig {
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub floats: String,
}

impl StorageConfig {
    pub(crate) fn validate(&self, path: &FieldPath) -> Validation {
        let p = path.key("tsdb");
        if let Some(t) = self.tsdb.stale_series_compaction_threshold
            && !(0.0..=1.0).contains(&t)
        {
            return Err(p.key("stale_series_compaction_threshold").error(format!(
                "stale_series_compaction_threshold must be between 0 and 1, got {t}"
            )));
        }
        if let Some(pct) = self.tsdb.retention.percentage
            && !(0.0..=100.0).contains(&pct)
        {
            return Err(p.key("retention").key("percentage").error(format!(
                "retention percentage must be between 0 and 100, got {pct}"
            )));
        }
        let floats = &self.tsdb.chunk_encoding.floats;
        if !floats.is_empty() && !FLOAT_CHUNK_ENCODINGS.contains(&floats.as_str()) {
            return Err(p.key("chunk_encoding").key("floats").error(format!(
                "unknown float chunk encoding {floats:?}, supported: {}",
                FLOAT_CHUNK_ENCODINGS.join(", ")
            )));
        }
        Ok(())
    }
}

fn default_max_exemplars() -> i64 {
    100_000
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExemplarsConfig {
    /// Size of the in-memory exemplar ring; 0 or less disables storage.
    #[serde(default = "default_max_exemplars")]
    pub max_exemplars: i64,
}

impl Default for ExemplarsConfig {
    fn default() -> Self {
        ExemplarsConfig {
            max_exemplars: default_max_exemplars(),
        }
    }
}

/// Where Prometheus-style self tracing is exported (`tracing:`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracingConfig {
    /// `grpc` (default) or `http`.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub client_type: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_fraction: Option<f64>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub tls_config: TlsConfig,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub compression: String,
    #[serde(default)]
    pub timeout: Duration,
}

impl TracingConfig {
    pub(crate) fn validate(&mut self, path: &FieldPath) -> Validation {
        if *self == TracingConfig::default() {
            // No `tracing:` section: tracing disabled.
            return Ok(());
        }
        if self.client_type.is_empty() {
            self.client_type = "grpc".into();
        }
        if self.client_type != "grpc" && self.client_type != "http" {
            return Err(path.key("client_type").error(format!(
                "expected tracing client type to be to be http or grpc, but got {}",
                self.client_type
            )));
        }
        for name in self.headers.keys() {
            let lower = name.to_ascii_lowercase();
            let p = path.key("headers").key(name);
            if lower == "authorization" {
                return Err(
                    p.error("custom authorization header configuration is not yet supported")
                );
            }
            if crate::remote::RESERVED_HEADERS.contains(&lower.as_str()) {
                return Err(p.error(format!(
                    "{name} is a reserved header. It must not be changed"
                )));
            }
        }
        if self.endpoint.is_empty() {
            return Err(path.key("endpoint").error("tracing endpoint must be set"));
        }
        if !self.compression.is_empty() && self.compression != "gzip" {
            return Err(path.key("compression").error(format!(
                "invalid compression type {} provided, valid options: gzip",
                self.compression
            )));
        }
        self.tls_config.validate(&path.key("tls_config"))
    }
}

/// OTLP translation strategies.
pub const OTLP_TRANSLATION_STRATEGIES: [&str; 4] = [
    "UnderscoreEscapingWithSuffixes",
    "UnderscoreEscapingWithoutSuffixes",
    "NoUTF8EscapingWithSuffixes",
    "NoTranslation",
];

fn default_translation_strategy() -> String {
    OTLP_TRANSLATION_STRATEGIES[0].to_string()
}

/// The OTLP metrics receiver's translation settings (`otlp:`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    #[serde(default, skip_serializing_if = "is_false")]
    pub promote_all_resource_attributes: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promote_resource_attributes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_resource_attributes: Vec<String>,
    #[serde(
        default = "default_translation_strategy",
        deserialize_with = "opt_string"
    )]
    pub translation_strategy: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub keep_identifying_resource_attributes: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub convert_histograms_to_nhcb: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub promote_scope_metadata: bool,
    #[serde(default = "default_true")]
    pub label_name_underscore_sanitization: bool,
    #[serde(default = "default_true")]
    pub label_name_preserve_multiple_underscores: bool,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            promote_all_resource_attributes: false,
            promote_resource_attributes: Vec::new(),
            ignore_resource_attributes: Vec::new(),
            translation_strategy: default_translation_strategy(),
            keep_identifying_resource_attributes: false,
            convert_histograms_to_nhcb: false,
            promote_scope_metadata: false,
            label_name_underscore_sanitization: true,
            label_name_preserve_multiple_underscores: true,
        }
    }
}

/// Trims attribute names, reporting empty and duplicate ones (all of them,
/// like Go's `errors.Join`).
fn sanitize_attributes(attrs: &mut [String], adjective: &str) -> Result<(), String> {
    let mut errors = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for attr in attrs.iter_mut() {
        let trimmed = attr.trim().to_string();
        if trimmed.is_empty() {
            errors.push(format!("empty {adjective} OTel resource attribute"));
            continue;
        }
        if seen.contains(&trimmed) {
            errors.push(format!(
                "duplicated {adjective} OTel resource attribute {trimmed:?}"
            ));
            continue;
        }
        seen.push(trimmed.clone());
        *attr = trimmed;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

impl OtlpConfig {
    pub(crate) fn validate(&mut self, path: &FieldPath) -> Validation {
        if self.promote_all_resource_attributes {
            if !self.promote_resource_attributes.is_empty() {
                return Err(path.error(
                    "'promote_all_resource_attributes' and 'promote_resource_attributes' cannot be configured simultaneously",
                ));
            }
            sanitize_attributes(&mut self.ignore_resource_attributes, "ignored").map_err(|m| {
                path.key("ignore_resource_attributes")
                    .error(format!("invalid 'ignore_resource_attributes': {m}"))
            })?;
        } else {
            if !self.ignore_resource_attributes.is_empty() {
                return Err(path.key("ignore_resource_attributes").error(
                    "'ignore_resource_attributes' cannot be configured unless 'promote_all_resource_attributes' is true",
                ));
            }
            sanitize_attributes(&mut self.promote_resource_attributes, "promoted").map_err(
                |m| {
                    path.key("promote_resource_attributes")
                        .error(format!("invalid 'promote_resource_attributes': {m}"))
                },
            )?;
        }
        Ok(())
    }
}

fn default_gogc() -> i64 {
    75
}

/// `runtime:`: Go runtime tuning. Kept for compatibility; Sightline has no
/// garbage collector to tune, so the value is informational.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    #[serde(default = "default_gogc")]
    pub gogc: i64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            gogc: default_gogc(),
        }
    }
}

/// Sightline's own settings (`sightline:`); every field has a default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SightlineConfig {
    #[serde(default, deserialize_with = "nullable")]
    pub traces: TracesConfig,
    #[serde(default, deserialize_with = "nullable")]
    pub ui: UiConfig,
    #[serde(default, deserialize_with = "nullable")]
    pub otlp: SightlineOtlpConfig,
}

fn default_trace_retention() -> Duration {
    Duration::from_millis(7 * 24 * 3600 * 1000)
}

/// Trace storage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracesConfig {
    /// How long spans are kept (default 7d).
    #[serde(default = "default_trace_retention")]
    pub retention: Duration,
    /// Upper bound on trace storage size; 0 means unlimited.
    #[serde(default)]
    pub max_bytes: ByteSize,
}

impl Default for TracesConfig {
    fn default() -> Self {
        TracesConfig {
            retention: default_trace_retention(),
            max_bytes: ByteSize(0),
        }
    }
}

/// The built-in web UI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig { enabled: true }
    }
}

/// OTLP receiver listeners. Empty means that listener is not started
/// (OTLP over HTTP is still served on the main web port).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SightlineOtlpConfig {
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub grpc_listen_address: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub http_listen_address: String,
}

impl SightlineConfig {
    pub(crate) fn validate(&self, path: &FieldPath) -> Validation {
        if self.traces.retention.is_zero() {
            return Err(path
                .key("traces")
                .key("retention")
                .error("trace retention must be greater than 0"));
        }
        Ok(())
    }
}
