//! `remote_write` and `remote_read`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::de::{default_true, is_false, opt_string};
use crate::duration::Duration;
use crate::error::{FieldPath, Validation};
use crate::http::with_http_client_config;
use crate::relabel::{NameValidationScheme, RelabelConfig, validate_all};
use crate::sd::GenericSdConfig;

/// Headers remote read/write users may not set (`reservedHeaders`).
pub(crate) const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

pub(crate) fn validate_headers(headers: &BTreeMap<String, String>, path: &FieldPath) -> Validation {
    for name in headers.keys() {
        let lower = name.to_ascii_lowercase();
        let p = path.key("headers").key(name);
        if lower == "authorization" {
            return Err(p.error(
                "authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter",
            ));
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(p.error(format!(
                "{name} is a reserved header. It must not be changed"
            )));
        }
    }
    Ok(())
}

/// Remote write protobuf messages (`protobuf_message`).
pub const PROTOBUF_MESSAGES: [&str; 2] =
    ["prometheus.WriteRequest", "io.prometheus.write.v2.Request"];

fn default_remote_write_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_protobuf_message() -> String {
    PROTOBUF_MESSAGES[0].to_string()
}

with_http_client_config! {
    // Remote write defaults to HTTP/1.1 (many connections beat one
    // multiplexed HTTP/2 connection for throughput).
    enable_http2_default = "crate::de::is_false_default";
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RemoteWriteConfig {
        #[serde(default, deserialize_with = "opt_string")]
        pub url: String,
        #[serde(default = "default_remote_write_timeout")]
        pub remote_timeout: Duration,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub headers: BTreeMap<String, String>,
        #[serde(default, deserialize_with = "crate::de::write_relabel_rules", skip_serializing_if = "Vec::is_empty")]
        pub write_relabel_configs: Vec<RelabelConfig>,
        #[serde(default, deserialize_with = "opt_string", skip_serializing_if = "String::is_empty")]
        pub name: String,
        #[serde(default, skip_serializing_if = "is_false")]
        pub send_exemplars: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        pub send_native_histograms: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        pub round_robin_dns: bool,
        #[serde(default = "default_protobuf_message", deserialize_with = "opt_string")]
        pub protobuf_message: String,
        #[serde(default)]
        pub queue_config: QueueConfig,
        #[serde(default)]
        pub metadata_config: MetadataConfig,
        /// Cloud auth schemes; accepted but not implemented by Sightline.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub sigv4: Option<GenericSdConfig>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub azuread: Option<GenericSdConfig>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub google_iam: Option<GenericSdConfig>,
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    pub capacity: i64,
    pub max_shards: i64,
    pub min_shards: i64,
    pub max_samples_per_send: i64,
    pub batch_send_deadline: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    #[serde(rename = "retry_on_http_429", skip_serializing_if = "is_false")]
    pub retry_on_rate_limit: bool,
    #[serde(skip_serializing_if = "Duration::is_zero_ref")]
    pub sample_age_limit: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_rate_limit: false,
            sample_age_limit: Duration::ZERO,
        }
    }
}

impl QueueConfig {
    fn validate(&self, path: &FieldPath) -> Validation {
        for (field, v) in [
            ("capacity", self.capacity),
            ("max_shards", self.max_shards),
            ("min_shards", self.min_shards),
            ("max_samples_per_send", self.max_samples_per_send),
        ] {
            if v <= 0 {
                return Err(path
                    .key(field)
                    .error(format!("{field} must be greater than 0, got {v}")));
            }
        }
        if self.min_shards > self.max_shards {
            return Err(path.key("min_shards").error(format!(
                "min_shards ({}) must not be greater than max_shards ({})",
                self.min_shards, self.max_shards
            )));
        }
        if self.max_backoff < self.min_backoff {
            return Err(path.key("max_backoff").error(format!(
                "max_backoff ({}) must not be less than min_backoff ({})",
                self.max_backoff, self.min_backoff
            )));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    pub send: bool,
    pub send_interval: Duration,
    pub max_samples_per_send: i64,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            send: true,
            send_interval: Duration::from_secs(60),
            max_samples_per_send: 2000,
        }
    }
}

impl RemoteWriteConfig {
    pub(crate) fn validate(
        &mut self,
        path: &FieldPath,
        scheme: NameValidationScheme,
    ) -> Validation {
        if self.url.is_empty() {
            return Err(path.key("url").error("url for remote_write is empty"));
        }
        validate_headers(&self.headers, path)?;
        if !PROTOBUF_MESSAGES.contains(&self.protobuf_message.as_str()) {
            return Err(path.key("protobuf_message").error(format!(
                "invalid protobuf_message value: unknown type for remote write protobuf message {}, supported: {}",
                self.protobuf_message,
                PROTOBUF_MESSAGES.join(", ")
            )));
        }
        self.validate_http_client(path)?;
        let configured: Vec<&str> = [
            ("basic_auth", self.basic_auth.is_some()),
            ("authorization", self.authorization.is_some()),
            ("oauth2", self.oauth2.is_some()),
            ("sigv4", self.sigv4.is_some()),
            ("azuread", self.azuread.is_some()),
            ("google_iam", self.google_iam.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, set)| set.then_some(n))
        .collect();
        if configured.len() > 1 {
            return Err(path.error(format!(
                "at most one of basic_auth, authorization, oauth2, sigv4, azuread or google_iam must be configured. Currently configured: [{}]",
                configured.join(" ")
            )));
        }
        self.queue_config.validate(&path.key("queue_config"))?;
        validate_all(
            &self.write_relabel_configs,
            &path.key("write_relabel_configs"),
            scheme,
        )
    }
}

fn default_remote_read_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_chunked_read_limit() -> u64 {
    50_000_000
}

with_http_client_config! {
    enable_http2_default = "crate::de::default_true";
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RemoteReadConfig {
        #[serde(default, deserialize_with = "opt_string")]
        pub url: String,
        #[serde(default = "default_remote_read_timeout")]
        pub remote_timeout: Duration,
        #[serde(default = "default_chunked_read_limit")]
        pub chunked_read_limit: u64,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub headers: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "is_false")]
        pub read_recent: bool,
        #[serde(default, deserialize_with = "opt_string", skip_serializing_if = "String::is_empty")]
        pub name: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub required_matchers: BTreeMap<String, String>,
        #[serde(default = "default_true")]
        pub filter_external_labels: bool,
    }
}

impl RemoteReadConfig {
    pub(crate) fn validate(&mut self, path: &FieldPath) -> Validation {
        if self.url.is_empty() {
            return Err(path.key("url").error("url for remote_read is empty"));
        }
        validate_headers(&self.headers, path)?;
        self.validate_http_client(path)
    }
}
