//! The exporter-toolkit web config file (`--web.config.file`): TLS, HTTP
//! server options and basic auth users.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::de::{default_true, nullable, opt_string};
use crate::duration::Duration;
use crate::error::{ConfigError, FieldPath, Validation};
use crate::http::TLS_VERSIONS;
use crate::loader::{locate, parse, read};
use crate::secret::Secret;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// `None` (or a section with nothing set) means plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_config: Option<TlsServerConfig>,
    #[serde(default, deserialize_with = "nullable")]
    pub http_server_config: HttpServerConfig,
    /// Username to bcrypt hash.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub basic_auth_users: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitConfig>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// PEM certificate text (alternative to `cert_file`).
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub cert: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub key: Secret,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub client_ca: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub cert_file: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub key_file: String,
    /// `NoClientCert` (default), `RequestClientCert`, `RequireAnyClientCert`,
    /// `VerifyClientCertIfGiven` or `RequireAndVerifyClientCert`.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub client_auth_type: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub client_ca_file: String,
    /// Go cipher suite names, e.g. `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cipher_suites: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub curve_preferences: Vec<String>,
    /// Defaults to `TLS12`.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub min_version: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub max_version: String,
    #[serde(default = "default_true")]
    pub prefer_server_cipher_suites: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_allowed_sans: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    #[serde(default = "default_true")]
    pub http2: bool,
    /// Extra response headers (only the security headers exporter-toolkit allows).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            http2: true,
            headers: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    #[serde(default)]
    pub interval: Duration,
    #[serde(default)]
    pub burst: u64,
}

const CLIENT_AUTH_TYPES: [&str; 5] = [
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
];

const CURVES: [&str; 4] = ["CurveP256", "CurveP384", "CurveP521", "X25519"];

/// Response headers exporter-toolkit lets users set.
const ALLOWED_HEADERS: [&str; 5] = [
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

impl TlsServerConfig {
    /// Whether any TLS setting is present; an empty section serves plain HTTP.
    pub fn is_enabled(&self) -> bool {
        !(self.cert.is_empty()
            && self.cert_file.is_empty()
            && self.key.is_empty()
            && self.key_file.is_empty()
            && self.client_ca.is_empty()
            && self.client_ca_file.is_empty()
            && self.client_auth_type.is_empty())
    }

    fn validate(&self, path: &FieldPath) -> Validation {
        if !self.is_enabled() {
            return Ok(());
        }
        if !self.cert_file.is_empty() && !self.cert.is_empty() {
            return Err(path.error("cannot specify both cert_file and cert"));
        }
        if !self.key_file.is_empty() && !self.key.is_empty() {
            return Err(path.error("cannot specify both key_file and key"));
        }
        if self.cert_file.is_empty() && self.cert.is_empty() {
            return Err(path
                .key("cert_file")
                .error("missing one of cert or cert_file"));
        }
        if self.key_file.is_empty() && self.key.is_empty() {
            return Err(path.key("key_file").error("missing one of key or key_file"));
        }
        if !self.client_ca_file.is_empty() && !self.client_ca.is_empty() {
            return Err(path.error("cannot specify both client_ca_file and client_ca"));
        }
        let auth = self.client_auth_type.as_str();
        if !auth.is_empty() && !CLIENT_AUTH_TYPES.contains(&auth) {
            return Err(path
                .key("client_auth_type")
                .error(format!("Invalid ClientAuth: {auth}")));
        }
        let has_ca = !self.client_ca_file.is_empty() || !self.client_ca.is_empty();
        if has_ca && (auth.is_empty() || auth == "NoClientCert") {
            return Err(path
                .key("client_auth_type")
                .error("Client CA's have been configured without a Client Auth Policy"));
        }
        for (field, v) in [
            ("min_version", &self.min_version),
            ("max_version", &self.max_version),
        ] {
            if !v.is_empty() && !TLS_VERSIONS.contains(&v.as_str()) {
                return Err(path.key(field).error(format!("unknown TLS version: {v}")));
            }
        }
        for (i, c) in self.cipher_suites.iter().enumerate() {
            if !c.starts_with("TLS_") {
                return Err(path
                    .key("cipher_suites")
                    .idx(i)
                    .error(format!("unknown cipher: {c}")));
            }
        }
        for (i, c) in self.curve_preferences.iter().enumerate() {
            if !CURVES.contains(&c.as_str()) {
                return Err(path
                    .key("curve_preferences")
                    .idx(i)
                    .error(format!("unknown curve: {c}")));
            }
        }
        Ok(())
    }

    /// Makes relative file paths relative to `dir` (the web config's directory).
    fn set_directory(&mut self, dir: &Path) {
        for f in [
            &mut self.cert_file,
            &mut self.key_file,
            &mut self.client_ca_file,
        ] {
            if !f.is_empty() && Path::new(f.as_str()).is_relative() {
                *f = dir.join(f.as_str()).display().to_string();
            }
        }
    }
}

impl WebConfig {
    fn validate(&self) -> Validation {
        let root = FieldPath::root();
        if let Some(tls) = &self.tls_server_config {
            tls.validate(&root.key("tls_server_config"))?;
        }
        let headers = root.key("http_server_config").key("headers");
        for (name, value) in &self.http_server_config.headers {
            let Some(canonical) = ALLOWED_HEADERS
                .iter()
                .find(|h| h.eq_ignore_ascii_case(name))
            else {
                return Err(headers
                    .key(name)
                    .error(format!("HTTP header {name:?} can not be configured")));
            };
            let ok = match *canonical {
                "X-Content-Type-Options" => value == "nosniff",
                "X-Frame-Options" => {
                    value.eq_ignore_ascii_case("deny") || value.eq_ignore_ascii_case("sameorigin")
                }
                _ => true,
            };
            if !ok {
                return Err(headers
                    .key(name)
                    .error(format!("invalid value for {canonical}: {value:?}")));
            }
        }
        for (user, hash) in &self.basic_auth_users {
            // bcrypt hashes look like `$2y$10$...`; catch plain-text passwords early.
            if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
                return Err(root
                    .key("basic_auth_users")
                    .key(user)
                    .error("password must be a bcrypt hash ($2a$, $2b$ or $2y$)"));
            }
        }
        Ok(())
    }

    /// Whether the server should speak TLS.
    pub fn tls_enabled(&self) -> bool {
        self.tls_server_config
            .as_ref()
            .is_some_and(TlsServerConfig::is_enabled)
    }
}

/// Reads and validates a web config file. Relative certificate paths are
/// made relative to the file's directory, as exporter-toolkit does.
pub fn load_web_config(path: &Path) -> Result<WebConfig, ConfigError> {
    let yaml = read(path)?;
    let mut cfg = load_web_config_str(&yaml, &path.display().to_string())?;
    if let Some(tls) = &mut cfg.tls_server_config {
        tls.set_directory(path.parent().unwrap_or(Path::new(".")));
    }
    Ok(cfg)
}

/// Parses and validates a web config held in memory.
pub fn load_web_config_str(yaml: &str, path_for_errors: &str) -> Result<WebConfig, ConfigError> {
    let cfg: WebConfig = parse(yaml, path_for_errors)?;
    cfg.validate()
        .map_err(|inv| locate(inv, yaml, path_for_errors))?;
    Ok(cfg)
}
