//! The `alerting:` section.

use serde::{Deserialize, Serialize};

use crate::de::opt_string;
use crate::duration::Duration;
use crate::error::{FieldPath, Validation};
use crate::relabel::{NameValidationScheme, RelabelConfig, validate_all};
use crate::sd::{GenericSdConfig, check_target_address, with_service_discovery};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    #[serde(
        default,
        deserialize_with = "crate::de::alert_relabel_rules",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    #[serde(
        default,
        deserialize_with = "crate::de::sd_configs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

/// Alertmanager API versions Prometheus 3 can talk to (`v1` was removed).
pub const SUPPORTED_ALERTMANAGER_API_VERSIONS: [&str; 1] = ["v2"];

fn default_scheme() -> String {
    "http".to_string()
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_api_version() -> String {
    "v2".to_string()
}

with_service_discovery! {
    enable_http2_default = "crate::de::default_true";
    /// How to discover and talk to a set of Alertmanagers.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct AlertmanagerConfig {
        #[serde(default = "default_scheme", deserialize_with = "opt_string")]
        pub scheme: String,
        #[serde(default, deserialize_with = "opt_string", skip_serializing_if = "String::is_empty")]
        pub path_prefix: String,
        #[serde(default = "default_timeout")]
        pub timeout: Duration,
        #[serde(default = "default_api_version", deserialize_with = "opt_string")]
        pub api_version: String,
        /// AWS SigV4 signing; accepted but not implemented by Sightline.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub sigv4: Option<GenericSdConfig>,
        #[serde(default, deserialize_with = "crate::de::am_target_relabel_rules", skip_serializing_if = "Vec::is_empty")]
        pub relabel_configs: Vec<RelabelConfig>,
        #[serde(default, deserialize_with = "crate::de::am_alert_relabel_rules", skip_serializing_if = "Vec::is_empty")]
        pub alert_relabel_configs: Vec<RelabelConfig>,
    }
}

impl AlertmanagerConfig {
    pub(crate) fn validate(
        &mut self,
        path: &FieldPath,
        scheme: NameValidationScheme,
    ) -> Validation {
        if self.timeout.is_zero() {
            self.timeout = default_timeout();
        }
        if !SUPPORTED_ALERTMANAGER_API_VERSIONS.contains(&self.api_version.as_str()) {
            return Err(path.key("api_version").error(format!(
                "expected Alertmanager api version to be one of [{}] but got {}",
                SUPPORTED_ALERTMANAGER_API_VERSIONS.join(" "),
                self.api_version
            )));
        }
        self.validate_service_discovery(path)?;
        self.validate_http_client(path)?;
        let auth =
            self.basic_auth.is_some() || self.authorization.is_some() || self.oauth2.is_some();
        if auth && self.sigv4.is_some() {
            return Err(path.error(
                "at most one of basic_auth, authorization, oauth2, & sigv4 must be configured",
            ));
        }
        if self.relabel_configs.is_empty() {
            for (i, sc) in self.static_configs.iter().enumerate() {
                for (j, t) in sc.targets.iter().enumerate() {
                    check_target_address(t).map_err(|m| {
                        path.key("static_configs")
                            .idx(i)
                            .key("targets")
                            .idx(j)
                            .error(m)
                    })?;
                }
            }
        }
        validate_all(
            &self.alert_relabel_configs,
            &path.key("alert_relabel_configs"),
            scheme,
        )?;
        validate_all(&self.relabel_configs, &path.key("relabel_configs"), scheme)?;
        Ok(())
    }
}

impl AlertingConfig {
    pub(crate) fn validate(
        &mut self,
        path: &FieldPath,
        scheme: NameValidationScheme,
    ) -> Validation {
        validate_all(
            &self.alert_relabel_configs,
            &path.key("alert_relabel_configs"),
            scheme,
        )?;
        for (i, am) in self.alertmanagers.iter_mut().enumerate() {
            am.validate(&path.key("alertmanagers").idx(i), scheme)?;
        }
        Ok(())
    }
}
