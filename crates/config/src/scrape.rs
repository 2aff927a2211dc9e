//! `scrape_configs` entries.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use crate::de::{ByteSize, Scalar, default_true, is_zero_u64, opt_string};
use crate::duration::Duration;
use crate::error::{FieldPath, Validation};
use crate::global::GlobalConfig;
use crate::relabel::{NameValidationScheme, RelabelConfig, validate_all};
use crate::sd::{check_target_address, with_service_discovery};

/// A scrape protocol name such as `OpenMetricsText1.0.0` (case sensitive).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScrapeProtocol(pub String);

impl ScrapeProtocol {
    /// Supported protocols and their `Accept` header media types.
    pub const SUPPORTED: [(&'static str, &'static str); 5] = [
        (
            "OpenMetricsText0.0.1",
            "application/openmetrics-text;version=0.0.1",
        ),
        (
            "OpenMetricsText1.0.0",
            "application/openmetrics-text;version=1.0.0",
        ),
        (
            "PrometheusProto",
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
        ),
        ("PrometheusText0.0.4", "text/plain;version=0.0.4"),
        ("PrometheusText1.0.0", "text/plain;version=1.0.0"),
    ];

    pub fn new(s: &str) -> Self {
        ScrapeProtocol(s.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `Accept` header value for this protocol, if supported.
    pub fn header_value(&self) -> Option<&'static str> {
        Self::SUPPORTED
            .iter()
            .find(|(n, _)| *n == self.0)
            .map(|(_, h)| *h)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.header_value().is_some() {
            return Ok(());
        }
        let names: Vec<&str> = Self::SUPPORTED.iter().map(|(n, _)| *n).collect();
        Err(format!(
            "unknown scrape protocol {}, supported: [{}]",
            self.0,
            names.join(" ")
        ))
    }

    /// Prometheus's default negotiation order.
    pub fn defaults() -> Vec<ScrapeProtocol> {
        [
            "OpenMetricsText1.0.0",
            "OpenMetricsText0.0.1",
            "PrometheusText1.0.0",
            "PrometheusText0.0.4",
        ]
        .map(ScrapeProtocol::new)
        .to_vec()
    }

    /// The default order when native histograms are scraped (protobuf first).
    pub fn proto_first_defaults() -> Vec<ScrapeProtocol> {
        let mut v = vec![ScrapeProtocol::new("PrometheusProto")];
        v.extend(Self::defaults());
        v
    }
}

impl fmt::Display for ScrapeProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn validate_scrape_protocols(protocols: &[ScrapeProtocol]) -> Result<(), String> {
    if protocols.is_empty() {
        return Err("scrape_protocols cannot be empty".into());
    }
    let mut seen: Vec<String> = Vec::new();
    for p in protocols {
        let lower = p.0.to_lowercase();
        if seen.contains(&lower) {
            let all: Vec<&str> = protocols.iter().map(ScrapeProtocol::as_str).collect();
            return Err(format!(
                "duplicated protocol in scrape_protocols, got [{}]",
                all.join(" ")
            ));
        }
        p.validate().map_err(|m| format!("scrape_protocols: {m}"))?;
        seen.push(lower);
    }
    Ok(())
}

/// `metric_name_validation_scheme`: `""`, `utf8` or `legacy`.
pub(crate) fn opt_validation_scheme<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<NameValidationScheme>, D::Error> {
    match Option::<Scalar>::deserialize(d)?.map(|s| s.0).as_deref() {
        None | Some("") => Ok(None),
        Some("utf8") => Ok(Some(NameValidationScheme::Utf8)),
        Some("legacy") => Ok(Some(NameValidationScheme::Legacy)),
        Some(other) => Err(de::Error::custom(format!(
            "unrecognized ValidationScheme: {other:?}"
        ))),
    }
}

/// Metric name escaping schemes a scrape may request.
pub const ESCAPING_SCHEMES: [&str; 4] = ["allow-utf-8", "underscores", "dots", "values"];

fn default_metrics_path() -> String {
    "/metrics".to_string()
}

fn default_scheme() -> String {
    "http".to_string()
}

with_service_discovery! {
    enable_http2_default = "crate::de::default_true";
    /// One scrape job. After loading, unset values hold the effective
    /// values inherited from `global`.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ScrapeConfig {
        #[serde(default, deserialize_with = "opt_string")]
        pub job_name: String,
        #[serde(default)]
        pub honor_labels: bool,
        #[serde(default = "default_true")]
        pub honor_timestamps: bool,
        #[serde(default)]
        pub track_timestamps_staleness: bool,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub params: BTreeMap<String, Vec<String>>,
        #[serde(default)]
        pub scrape_interval: Duration,
        #[serde(default)]
        pub scrape_timeout: Duration,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub scrape_protocols: Vec<ScrapeProtocol>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub fallback_scrape_protocol: Option<ScrapeProtocol>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub scrape_native_histograms: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub always_scrape_classic_histograms: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub convert_classic_histograms_to_nhcb: Option<bool>,
        #[serde(default, deserialize_with = "opt_string", skip_serializing_if = "String::is_empty")]
        pub scrape_failure_log_file: String,
        #[serde(default = "default_metrics_path", deserialize_with = "opt_string")]
        pub metrics_path: String,
        #[serde(default = "default_scheme", deserialize_with = "opt_string")]
        pub scheme: String,
        #[serde(default = "default_true")]
        pub enable_compression: bool,
        #[serde(default, skip_serializing_if = "ByteSize::is_zero")]
        pub body_size_limit: ByteSize,
        #[serde(default, skip_serializing_if = "is_zero_u64")]
        pub sample_limit: u64,
        #[serde(default, skip_serializing_if = "is_zero_u64")]
        pub target_limit: u64,
        #[serde(default, skip_serializing_if = "is_zero_u64")]
        pub label_limit: u64,
        #[serde(default, skip_serializing_if = "is_zero_u64")]
        pub label_name_length_limit: u64,
        #[serde(default, skip_serializing_if = "is_zero_u64")]
        pub label_value_length_limit: u64,
        #[serde(default, skip_serializing_if = "is_zero_u64")]
        pub native_histogram_bucket_limit: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub native_histogram_min_bucket_factor: Option<f64>,
        #[serde(default, skip_serializing_if = "is_zero_u64")]
        pub keep_dropped_targets: u64,
        #[serde(default, deserialize_with = "opt_validation_scheme", skip_serializing_if = "Option::is_none")]
        pub metric_name_validation_scheme: Option<NameValidationScheme>,
        #[serde(default, deserialize_with = "opt_string", skip_serializing_if = "String::is_empty")]
        pub metric_name_escaping_scheme: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub extra_scrape_metrics: Option<bool>,
        #[serde(default, deserialize_with = "crate::de::target_relabel_rules", skip_serializing_if = "Vec::is_empty")]
        pub relabel_configs: Vec<RelabelConfig>,
        #[serde(default, deserialize_with = "crate::de::metric_relabel_rules", skip_serializing_if = "Vec::is_empty")]
        pub metric_relabel_configs: Vec<RelabelConfig>,
    }
}

impl ScrapeConfig {
    /// A job with Prometheus's defaults (before inheriting from `global`).
    pub fn new(job_name: &str) -> Self {
        // The empty YAML mapping yields exactly the per-field defaults.
        let mut c: ScrapeConfig =
            serde_json::from_value(serde_json::json!({})).expect("defaults deserialize");
        c.job_name = job_name.to_string();
        c
    }

    pub fn scrape_native_histograms_enabled(&self) -> bool {
        self.scrape_native_histograms == Some(true)
    }

    pub fn extra_scrape_metrics_enabled(&self) -> bool {
        self.extra_scrape_metrics == Some(true)
    }

    /// The effective name validation scheme.
    pub fn name_validation_scheme(&self) -> NameValidationScheme {
        self.metric_name_validation_scheme.unwrap_or_default()
    }

    /// The checks Prometheus runs while parsing the section
    /// (`ScrapeConfig.UnmarshalYAML`).
    pub(crate) fn validate_syntax(&mut self, path: &FieldPath) -> Validation {
        self.validate_service_discovery(path)?;
        if self.job_name.is_empty() {
            return Err(path.key("job_name").error("job_name is empty"));
        }
        self.validate_http_client(path)?;
        // Catch URLs put where addresses belong (skipped when relabeling
        // could rewrite `__address__`).
        if self.relabel_configs.is_empty() {
            for (i, sc) in self.static_configs.iter().enumerate() {
                let p = path.key("static_configs").idx(i);
                for (j, t) in sc.targets.iter().enumerate() {
                    check_target_address(t).map_err(|m| p.key("targets").idx(j).error(m))?;
                }
            }
        }
        for (i, sc) in self.static_configs.iter().enumerate() {
            sc.validate(&path.key("static_configs").idx(i))?;
        }
        Ok(())
    }

    /// `ScrapeConfig.Validate`: inherit from `global`, then check.
    pub(crate) fn validate(&mut self, global: &GlobalConfig, path: &FieldPath) -> Validation {
        let job = &self.job_name;
        if self.scrape_interval.is_zero() {
            self.scrape_interval = global.scrape_interval;
        }
        if self.scrape_timeout > self.scrape_interval {
            return Err(path.key("scrape_timeout").error(format!(
                "scrape timeout greater than scrape interval for scrape config with job name {job:?}"
            )));
        }
        if self.scrape_timeout.is_zero() {
            self.scrape_timeout = global.scrape_timeout.min(self.scrape_interval);
        }
        if self.body_size_limit.is_zero() {
            self.body_size_limit = global.body_size_limit;
        }
        for (mine, theirs) in [
            (&mut self.sample_limit, global.sample_limit),
            (&mut self.target_limit, global.target_limit),
            (&mut self.label_limit, global.label_limit),
            (
                &mut self.label_name_length_limit,
                global.label_name_length_limit,
            ),
            (
                &mut self.label_value_length_limit,
                global.label_value_length_limit,
            ),
            (&mut self.keep_dropped_targets, global.keep_dropped_targets),
        ] {
            if *mine == 0 {
                *mine = theirs;
            }
        }
        if self.scrape_failure_log_file.is_empty() {
            self.scrape_failure_log_file = global.scrape_failure_log_file.clone();
        }
        if self.scrape_native_histograms.is_none() {
            self.scrape_native_histograms = global.scrape_native_histograms;
        }
        if self.extra_scrape_metrics.is_none() {
            self.extra_scrape_metrics = Some(global.extra_scrape_metrics);
        }
        if self.scrape_protocols.is_empty() {
            self.scrape_protocols = if !global.scrape_protocols.is_empty() {
                global.scrape_protocols.clone()
            } else if self.scrape_native_histograms_enabled() {
                ScrapeProtocol::proto_first_defaults()
            } else {
                ScrapeProtocol::defaults()
            };
        }
        validate_scrape_protocols(&self.scrape_protocols).map_err(|m| {
            path.key("scrape_protocols").error(format!(
                "{m} for scrape config with job name {:?}",
                self.job_name
            ))
        })?;
        if let Some(fallback) = &self.fallback_scrape_protocol {
            fallback.validate().map_err(|m| {
                path.key("fallback_scrape_protocol").error(format!(
                    "invalid fallback_scrape_protocol for scrape config with job name {:?}: {m}",
                    self.job_name
                ))
            })?;
        }

        let global_scheme = global.name_validation_scheme();
        let local_unset = self.metric_name_validation_scheme.is_none();
        let scheme = *self
            .metric_name_validation_scheme
            .get_or_insert(global_scheme);

        let mut global_escaping = global.metric_name_escaping_scheme.clone();
        if global_escaping.is_empty() {
            global_escaping = match global_scheme {
                NameValidationScheme::Legacy => "underscores".into(),
                NameValidationScheme::Utf8 => "allow-utf-8".into(),
            };
        } else if !ESCAPING_SCHEMES.contains(&global_escaping.as_str()) {
            return Err(FieldPath::root().key("global").key("metric_name_escaping_scheme").error(format!(
                "unknown global name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got {global_escaping:?}"
            )));
        }
        if self.metric_name_escaping_scheme.is_empty() {
            self.metric_name_escaping_scheme = if local_unset {
                global_escaping
            } else if scheme == NameValidationScheme::Legacy {
                "underscores".into()
            } else {
                "allow-utf-8".into()
            };
        }
        let escaping_path = path.key("metric_name_escaping_scheme");
        match self.metric_name_escaping_scheme.as_str() {
            "allow-utf-8" if scheme != NameValidationScheme::Utf8 => {
                return Err(escaping_path.error(
                    "utf8 metric names requested but validation scheme is not set to UTF8",
                ));
            }
            s if ESCAPING_SCHEMES.contains(&s) => {}
            other => {
                return Err(escaping_path.error(format!(
                    "unknown scrape config name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got {other:?}"
                )));
            }
        }
        if self.convert_classic_histograms_to_nhcb.is_none() {
            self.convert_classic_histograms_to_nhcb =
                Some(global.convert_classic_histograms_to_nhcb);
        }
        if self.always_scrape_classic_histograms.is_none() {
            self.always_scrape_classic_histograms = Some(global.always_scrape_classic_histograms);
        }
        validate_all(&self.relabel_configs, &path.key("relabel_configs"), scheme)?;
        validate_all(
            &self.metric_relabel_configs,
            &path.key("metric_relabel_configs"),
            scheme,
        )?;
        Ok(())
    }
}

/// A file listed in `scrape_config_files`: only `scrape_configs` allowed.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScrapeConfigsFile {
    #[serde(default, deserialize_with = "crate::de::scrape_configs")]
    pub(crate) scrape_configs: Vec<ScrapeConfig>,
}
