//! Service discovery sections of scrape and Alertmanager configs.
//!
//! Sightline implements `static_configs`, `file_sd_configs` and
//! `kubernetes_sd_configs`. Every other mechanism (`http_sd_configs` too)
//! Prometheus knows is still accepted (so existing `prometheus.yml` files
//! load), kept as a loosely typed map, and checked with the same
//! validations Prometheus applies when it parses them.

mod generic;
mod kubernetes;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

pub use generic::GenericSdConfig;
pub(crate) use generic::validate_generic;
pub use kubernetes::{
    KubernetesAttachMetadata, KubernetesNamespaceDiscovery, KubernetesSdConfig, KubernetesSelector,
};

use crate::duration::Duration;
use crate::error::{FieldPath, Validation};

/// Adds Prometheus's inline `*_sd_configs` fields (and the HTTP client
/// fields, see [`crate::http::with_http_client_config!`]) to a struct, plus
/// `unsupported_sd_configs()` listing the loosely parsed mechanisms.
macro_rules! with_service_discovery {
    (
        enable_http2_default = $h2:literal;
        $(#[$meta:meta])*
        pub struct $name:ident { $($body:tt)* }
    ) => {
        $crate::sd::with_service_discovery! {
            @generic [
                azure_sd_configs, consul_sd_configs, digitalocean_sd_configs, docker_sd_configs,
                dockerswarm_sd_configs, dns_sd_configs, ec2_sd_configs, ecs_sd_configs,
                eureka_sd_configs, gce_sd_configs, hetzner_sd_configs, http_sd_configs,
                ionos_sd_configs, kuma_sd_configs, lightsail_sd_configs, linode_sd_configs,
                marathon_sd_configs, nerve_sd_configs, nomad_sd_configs, oci_sd_configs,
                openstack_sd_configs, outscale_sd_configs, ovhcloud_sd_configs,
                puppetdb_sd_configs, scaleway_sd_configs, serverset_sd_configs,
                stackit_sd_configs, triton_sd_configs, uyuni_sd_configs, vultr_sd_configs
            ]
            enable_http2_default = $h2;
            $(#[$meta])*
            pub struct $name { $($body)* }
        }
    };
    (
        @generic [$($generic:ident),* $(,)?]
        enable_http2_default = $h2:literal;
        $(#[$meta:meta])*
        pub struct $name:ident { $($body:tt)* }
    ) => {
        $crate::http::with_http_client_config! {
            enable_http2_default = $h2;
            $(#[$meta])*
            pub struct $name {
                $($body)*
                #[serde(default, deserialize_with = "crate::de::static_configs", skip_serializing_if = "Vec::is_empty")]
                pub static_configs: Vec<$crate::sd::StaticConfig>,
                #[serde(default, deserialize_with = "crate::de::sd_configs", skip_serializing_if = "Vec::is_empty")]
                pub file_sd_configs: Vec<$crate::sd::FileSdConfig>,
                #[serde(default, deserialize_with = "crate::de::sd_configs", skip_serializing_if = "Vec::is_empty")]
                pub kubernetes_sd_configs: Vec<$crate::sd::KubernetesSdConfig>,
                $(
                    #[serde(default, deserialize_with = "crate::de::sd_configs", skip_serializing_if = "Vec::is_empty")]
                    pub $generic: Vec<$crate::sd::GenericSdConfig>,
                )*
            }
        }

        impl $name {
            /// Service discovery sections parsed loosely, by YAML key
            /// (`http_sd_configs`, `consul_sd_configs`, ...); only non-empty ones.
            pub fn generic_sd_configs(&self) -> Vec<(&'static str, &[$crate::sd::GenericSdConfig])> {
                let all: Vec<(&'static str, &[$crate::sd::GenericSdConfig])> =
                    vec![$((stringify!($generic), &self.$generic[..])),*];
                all.into_iter().filter(|(_, v)| !v.is_empty()).collect()
            }

            /// Validates every service discovery section.
            pub(crate) fn validate_service_discovery(&mut self, path: &$crate::error::FieldPath) -> $crate::error::Validation {
                for (i, c) in self.file_sd_configs.iter().enumerate() {
                    c.validate(&path.key("file_sd_configs").idx(i))?;
                }
                for (i, c) in self.kubernetes_sd_configs.iter_mut().enumerate() {
                    c.validate(&path.key("kubernetes_sd_configs").idx(i))?;
                }
                $(
                    for (i, c) in self.$generic.iter().enumerate() {
                        $crate::sd::validate_generic(stringify!($generic), c, &path.key(stringify!($generic)).idx(i))?;
                    }
                )*
                Ok(())
            }
        }
    };
}
pub(crate) use with_service_discovery;

/// A static target group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// `host:port` addresses.
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl StaticConfig {
    pub(crate) fn validate(&self, path: &FieldPath) -> Validation {
        for name in self.labels.keys() {
            if name.is_empty() {
                return Err(path
                    .key("labels")
                    .error(format!("{name:?} is not a valid label name")));
            }
        }
        Ok(())
    }
}

/// Checks that a static target is an address, not a URL (Prometheus's
/// `CheckTargetAddress`).
pub(crate) fn check_target_address(target: &str) -> Result<(), String> {
    if target.contains('/') {
        return Err(format!("{target:?} is not a valid hostname"));
    }
    Ok(())
}

fn default_file_refresh() -> Duration {
    Duration::from_secs(5 * 60)
}

/// `file_sd_configs` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default = "default_file_refresh")]
    pub refresh_interval: Duration,
}

static FILE_SD_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$").expect("static regex compiles")
});

impl FileSdConfig {
    pub(crate) fn validate(&self, path: &FieldPath) -> Validation {
        if self.files.is_empty() {
            return Err(path
                .key("files")
                .error("file service discovery config must contain at least one path name"));
        }
        for (i, f) in self.files.iter().enumerate() {
            if !FILE_SD_NAME.is_match(f) {
                return Err(path
                    .key("files")
                    .idx(i)
                    .error(format!("path name {f:?} is not valid for file discovery")));
            }
        }
        Ok(())
    }
}
