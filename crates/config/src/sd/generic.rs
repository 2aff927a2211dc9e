//! Service discovery mechanisms Sightline does not implement, kept as maps
//! and checked with Prometheus's own validations for each mechanism.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::duration::parse_duration;
use crate::error::{FieldPath, Validation};
use crate::http::{HTTP_CLIENT_KEYS, HttpClientConfig};
use crate::secret::SECRET_PLACEHOLDER;

/// One entry of an unimplemented `*_sd_configs` list, as parsed YAML.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GenericSdConfig(pub Map<String, Value>);

/// Keys holding secrets in the various SD configs; hidden on output.
const SECRET_KEYS: &[&str] = &[
    "password",
    "credentials",
    "bearer_token",
    "client_secret",
    "secret_key",
    "token",
    "auth_token",
    "application_secret",
    "consumer_key",
    "key_passphrase",
    "service_account_key",
    "private_key",
    "key",
];

/// Keys whose values are booleans in the HTTP client config.
const BOOL_KEYS: &[&str] = &[
    "follow_redirects",
    "enable_http2",
    "insecure_skip_verify",
    "proxy_from_environment",
];

impl<'de> Deserialize<'de> for GenericSdConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Map::deserialize(d).map(GenericSdConfig)
    }
}

impl Serialize for GenericSdConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        redact(&Value::Object(self.0.clone())).serialize(s)
    }
}

fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let hidden =
                        SECRET_KEYS.contains(&k.as_str()) && !v.is_null() && !v.is_object();
                    let v = if hidden {
                        Value::String(SECRET_PLACEHOLDER.to_string())
                    } else {
                        redact(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        other => other.clone(),
    }
}

impl GenericSdConfig {
    /// A field as text; absent or null gives "".
    pub fn str(&self, key: &str) -> String {
        match self.0.get(key) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        }
    }

    fn has(&self, key: &str) -> bool {
        !self.str(key).is_empty()
    }

    /// The inline HTTP client settings, typed and checked for unknown keys.
    pub fn http_client_config(&self) -> Result<HttpClientConfig, String> {
        let subset: Map<String, Value> = self
            .0
            .iter()
            .filter(|(k, _)| HTTP_CLIENT_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), stringify_scalars(k, v)))
            .collect();
        serde_json::from_value(Value::Object(subset)).map_err(|e| e.to_string())
    }
}

/// Go decodes `bearer_token: 1234` into a string; mirror that before handing
/// loosely parsed values to the typed HTTP client structs.
fn stringify_scalars(key: &str, v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) if !BOOL_KEYS.contains(&key) => Value::String(b.to_string()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), stringify_scalars(k, v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| stringify_scalars(key, v)).collect()),
        other => other.clone(),
    }
}

/// Minimal URL split good enough for the checks Prometheus makes: scheme and
/// host. `None` when Go's `url.Parse` would fail outright.
fn split_url(s: &str) -> Option<(String, String)> {
    if s.starts_with(':') || s.chars().any(|c| c.is_control()) {
        return None;
    }
    match s.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            Some((scheme.to_lowercase(), host.to_string()))
        }
        None => {
            let scheme = match s.split_once(':') {
                Some((scheme, _))
                    if !scheme.is_empty()
                        && scheme
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
                {
                    scheme.to_lowercase()
                }
                _ => String::new(),
            };
            Some((scheme, String::new()))
        }
    }
}

/// `URL is missing` / scheme / host checks shared by HTTP and PuppetDB SD.
fn check_http_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("URL is missing".into());
    }
    let (scheme, host) = split_url(url).ok_or_else(|| format!("invalid URL {url:?}"))?;
    if scheme != "http" && scheme != "https" {
        return Err("URL scheme must be 'http' or 'https'".into());
    }
    if host.is_empty() {
        return Err("host is missing in URL".into());
    }
    Ok(())
}

fn one_of(
    path: &FieldPath,
    key: &str,
    value: &str,
    allowed: &[&str],
    msg: impl FnOnce() -> String,
) -> Validation {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(path.key(key).error(msg()))
    }
}

/// Prometheus's validation for the `mechanism` (YAML key, e.g.
/// `azure_sd_configs`) section `c`, in the order Prometheus applies it.
pub(crate) fn validate_generic(
    mechanism: &str,
    c: &GenericSdConfig,
    path: &FieldPath,
) -> Validation {
    let err = |m: &str| Err(path.error(m));
    if let Some(v) = c.0.get("refresh_interval").filter(|v| !v.is_null()) {
        let s = c.str("refresh_interval");
        parse_duration(&s).map_err(|m| path.key("refresh_interval").error(m))?;
        let _ = v;
    }
    match mechanism {
        "azure_sd_configs" => {
            if !c.has("subscription_id") {
                return err("azure SD configuration requires a subscription_id");
            }
            let method = match c.str("authentication_method") {
                m if m.is_empty() => "OAuth".to_string(),
                m => m,
            };
            if method == "OAuth" {
                for field in ["tenant_id", "client_id", "client_secret"] {
                    if !c.has(field) {
                        return err(&format!("azure SD configuration requires a {field}"));
                    }
                }
            }
            one_of(
                path,
                "authentication_method",
                &method,
                &["OAuth", "ManagedIdentity", "SDK"],
                || {
                    format!(
                        r#"unknown authentication_type {method:?}. Supported types are "OAuth", "ManagedIdentity" or "SDK""#
                    )
                },
            )?;
        }
        "dns_sd_configs" => {
            let names =
                c.0.get("names")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
            if names == 0 {
                return err("DNS-SD config must contain at least one SRV record name");
            }
            let rtype = match c.str("type") {
                t if t.is_empty() => "SRV".to_string(),
                t => t.to_uppercase(),
            };
            one_of(
                path,
                "type",
                &rtype,
                &["SRV", "A", "AAAA", "MX", "NS"],
                || format!("invalid DNS-SD records type {rtype}"),
            )?;
            if rtype != "SRV" && !c.has("port") {
                return err("a port is required in DNS-SD configs for all record types except SRV");
            }
        }
        "ec2_sd_configs" => {
            if let Some(filters) = c.0.get("filters").and_then(Value::as_array) {
                for (i, f) in filters.iter().enumerate() {
                    let empty = f
                        .get("values")
                        .and_then(Value::as_array)
                        .is_none_or(Vec::is_empty);
                    if empty {
                        return Err(path
                            .key("filters")
                            .idx(i)
                            .error("EC2 SD configuration filter values cannot be empty"));
                    }
                }
            }
        }
        "eureka_sd_configs" => {
            let server = c.str("server");
            if server.is_empty() {
                return err("eureka_sd: empty or null eureka server");
            }
            match split_url(&server) {
                Some((scheme, host)) if !scheme.is_empty() && !host.is_empty() => {}
                _ => {
                    return Err(path
                        .key("server")
                        .error("eureka_sd: invalid eureka server URL"));
                }
            }
        }
        "hetzner_sd_configs" => {
            let role = c.str("role");
            if role.is_empty() {
                return err("role missing (one of: robot, hcloud)");
            }
            one_of(path, "role", &role, &["robot", "hcloud"], || {
                format!("unknown role {role:?}")
            })?;
        }
        "http_sd_configs" => check_http_url(&c.str("url")).map_err(|m| path.key("url").error(m))?,
        "ionos_sd_configs" if !c.has("datacenter_id") => {
            return err("datacenter id can't be empty");
        }
        "marathon_sd_configs" => {
            let servers =
                c.0.get("servers")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
            if servers == 0 {
                return err("marathon_sd: must contain at least one Marathon server");
            }
            let token = c.has("auth_token");
            let token_file = c.has("auth_token_file");
            let any_token = token || token_file;
            if token && token_file {
                return err(
                    "marathon_sd: at most one of auth_token & auth_token_file must be configured",
                );
            }
            if c.0.contains_key("basic_auth") && any_token {
                return err(
                    "marathon_sd: at most one of basic_auth, auth_token & auth_token_file must be configured",
                );
            }
            if (c.has("bearer_token") || c.has("bearer_token_file")) && any_token {
                return err(
                    "marathon_sd: at most one of bearer_token, bearer_token_file, auth_token & auth_token_file must be configured",
                );
            }
            if c.0.contains_key("authorization") && any_token {
                return err(
                    "marathon_sd: at most one of auth_token, auth_token_file & authorization must be configured",
                );
            }
        }
        "oci_sd_configs" => {
            if !c.has("region") {
                return err("oci SD configuration requires a region");
            }
            let auth = c.str("auth");
            if !auth.is_empty() {
                one_of(
                    path,
                    "auth",
                    &auth,
                    &[
                        "user",
                        "api_key",
                        "instance_principal",
                        "workload_identity",
                        "resource_principal",
                    ],
                    || format!("unknown authentication method {auth:?}"),
                )?;
            }
        }
        "openstack_sd_configs" => {
            let role = c.str("role");
            if !role.is_empty() {
                one_of(
                    path,
                    "role",
                    &role,
                    &["hypervisor", "instance", "loadbalancer"],
                    || format!("unknown OpenStack SD role {role:?}"),
                )?;
            }
            let availability = match c.str("availability") {
                a if a.is_empty() => "public".to_string(),
                a => a,
            };
            one_of(
                path,
                "availability",
                &availability,
                &["public", "internal", "admin"],
                || {
                    format!(
                        "unknown availability {availability}, must be one of admin, internal or public"
                    )
                },
            )?;
            if role.is_empty() {
                return err("role missing (one of: instance, hypervisor, loadbalancer)");
            }
            if !c.has("region") {
                return err("openstack SD configuration requires a region");
            }
        }
        "outscale_sd_configs" => {
            if !c.has("region") {
                return err("outscale SD configuration requires a region");
            }
            let secret = c.has("secret_key");
            let secret_file = c.has("secret_key_file");
            if secret && secret_file {
                return err("at most one of secret_key & secret_key_file must be configured");
            }
            if !secret && !secret_file {
                return err("one of secret_key & secret_key_file must be configured");
            }
        }
        "ovhcloud_sd_configs" => {
            for (field, name) in [
                ("endpoint", "endpoint"),
                ("application_key", "application key"),
                ("application_secret", "application secret"),
                ("consumer_key", "consumer key"),
            ] {
                if !c.has(field) {
                    return err(&format!("{name} can not be empty"));
                }
            }
            let service = c.str("service");
            one_of(
                path,
                "service",
                &service,
                &["vps", "dedicated_server"],
                || format!("unknown service: {service}"),
            )?;
        }
        "puppetdb_sd_configs" => {
            check_http_url(&c.str("url")).map_err(|m| path.key("url").error(m))?;
            if !c.has("query") {
                return err("query missing");
            }
        }
        "scaleway_sd_configs" => {
            let role = c.str("role");
            if role.is_empty() {
                return err("role missing (one of: instance, baremetal)");
            }
            one_of(path, "role", &role, &["instance", "baremetal"], || {
                format!("unknown role {role:?}")
            })?;
            if !c.has("project_id") {
                return err("project_id is mandatory");
            }
            let secret = c.has("secret_key");
            let secret_file = c.has("secret_key_file");
            if !secret && !secret_file {
                return err("one of secret_key & secret_key_file must be configured");
            }
            if secret && secret_file {
                return err("at most one of secret_key & secret_key_file must be configured");
            }
            if !c.has("access_key") {
                return err("access_key is mandatory");
            }
        }
        "stackit_sd_configs" => {
            let endpoint = c.str("endpoint");
            if !endpoint.is_empty() && split_url(&endpoint).is_none() {
                return Err(path.key("endpoint").error(format!(
                    "invalid endpoint {endpoint:?}: missing protocol scheme"
                )));
            }
        }
        "uyuni_sd_configs" => {
            if !c.has("server") {
                return err("Uyuni SD configuration requires server host");
            }
            if !c.has("username") {
                return err("Uyuni SD configuration requires a username");
            }
            if !c.has("password") {
                return err("Uyuni SD configuration requires a password");
            }
        }
        _ => {}
    }
    // The inline HTTP client settings, where the mechanism has them.
    let mut http = c.http_client_config().map_err(|m| path.error(m))?;
    http.validate(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_split() {
        assert_eq!(
            split_url("http://foo/bar"),
            Some(("http".into(), "foo".into()))
        );
        assert_eq!(split_url("http://"), Some(("http".into(), String::new())));
        assert_eq!(split_url("invalid"), Some((String::new(), String::new())));
        assert_eq!(split_url("://invalid"), None);
        assert_eq!(
            split_url("localhost:9090"),
            Some(("localhost".into(), String::new()))
        );
    }

    #[test]
    fn secrets_redacted() {
        let mut m = Map::new();
        m.insert("client_secret".into(), Value::String("s3cret".into()));
        m.insert("client_id".into(), Value::String("id".into()));
        let out = serde_json::to_string(&GenericSdConfig(m)).unwrap();
        assert!(out.contains("<secret>") && !out.contains("s3cret"), "{out}");
    }
}
