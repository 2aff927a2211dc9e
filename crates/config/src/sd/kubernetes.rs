//! `kubernetes_sd_configs` (`discovery/kubernetes` SDConfig).

use serde::{Deserialize, Serialize};

use crate::de::{is_false, opt_string};
use crate::error::{FieldPath, Validation};
use crate::http::with_http_client_config;

const ROLES: [&str; 6] = [
    "pod",
    "service",
    "endpoints",
    "endpointslice",
    "node",
    "ingress",
];

with_http_client_config! {
    enable_http2_default = "crate::de::default_true";
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct KubernetesSdConfig {
        /// Empty means in-cluster configuration.
        #[serde(default, deserialize_with = "opt_string", skip_serializing_if = "String::is_empty")]
        pub api_server: String,
        /// `pod`, `service`, `endpoints`, `endpointslice`, `node` or `ingress`.
        #[serde(default, deserialize_with = "opt_string")]
        pub role: String,
        #[serde(default, deserialize_with = "opt_string", skip_serializing_if = "String::is_empty")]
        pub kubeconfig_file: String,
        #[serde(default)]
        pub namespaces: KubernetesNamespaceDiscovery,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub selectors: Vec<KubernetesSelector>,
        #[serde(default)]
        pub attach_metadata: KubernetesAttachMetadata,
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesNamespaceDiscovery {
    #[serde(default, skip_serializing_if = "is_false")]
    pub own_namespace: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSelector {
    #[serde(default, deserialize_with = "opt_string")]
    pub role: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub label: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub field: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesAttachMetadata {
    #[serde(default)]
    pub node: bool,
    #[serde(default)]
    pub namespace: bool,
}

/// Selector roles each discovery role accepts.
fn allowed_selectors(role: &str) -> &'static [&'static str] {
    match role {
        // Node selectors narrow the node metadata attached to pods.
        "pod" => &["pod", "node"],
        "service" => &["service"],
        "endpointslice" => &["pod", "service", "endpointslice"],
        "endpoints" => &["pod", "service", "endpoints"],
        "node" => &["node"],
        "ingress" => &["ingress"],
        _ => &[],
    }
}

/// A light version of Kubernetes' `fields.ParseSelector`: comma-separated
/// `key=value`, `key==value` or `key!=value` terms.
fn check_field_selector(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Ok(());
    }
    for term in s.split(',') {
        let ok = ["!=", "==", "="].iter().any(|op| term.contains(op));
        if !ok {
            return Err(format!(
                "invalid selector: '{s}'; can't understand '{term}'"
            ));
        }
    }
    Ok(())
}

impl KubernetesSdConfig {
    pub(crate) fn validate(&mut self, path: &FieldPath) -> Validation {
        if self.role.is_empty() {
            return Err(path.key("role").error(
                "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)",
            ));
        }
        if !ROLES.contains(&self.role.as_str()) {
            return Err(path
                .key("role")
                .error(format!("unknown Kubernetes SD role {:?}", self.role)));
        }
        // Compare against defaults before normalization rewrites legacy fields.
        let custom_http = !self.http_client_config().is_default();
        self.validate_http_client(path)?;
        let has_api_server = !self.api_server.is_empty();
        let has_kubeconfig = !self.kubeconfig_file.is_empty();
        if has_api_server && has_kubeconfig {
            return Err(path.error("cannot use 'kubeconfig_file' and 'api_server' simultaneously"));
        }
        if has_kubeconfig && custom_http {
            return Err(path.error(
                "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
            ));
        }
        if !has_api_server && custom_http {
            return Err(path.error("to use custom HTTP client configuration please provide the 'api_server' URL explicitly"));
        }
        if has_api_server && self.namespaces.own_namespace {
            return Err(
                path.error("cannot use 'api_server' and 'namespaces.own_namespace' simultaneously")
            );
        }
        if has_kubeconfig && self.namespaces.own_namespace {
            return Err(path.error(
                "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously",
            ));
        }
        let mut seen: Vec<&str> = Vec::new();
        for (i, sel) in self.selectors.iter().enumerate() {
            let p = path.key("selectors").idx(i);
            if seen.contains(&sel.role.as_str()) {
                return Err(p.error(format!("duplicated selector role: {}", sel.role)));
            }
            seen.push(&sel.role);
            let allowed = allowed_selectors(&self.role);
            if !allowed.contains(&sel.role.as_str()) {
                return Err(p.error(format!(
                    "{} role supports only {} selectors",
                    self.role,
                    allowed.join(", ")
                )));
            }
            check_field_selector(&sel.field).map_err(|m| p.key("field").error(m))?;
        }
        Ok(())
    }
}
