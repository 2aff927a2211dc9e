//! HTTP client settings (`prometheus/common/config.HTTPClientConfig`).
//!
//! Prometheus inlines these fields into scrape configs, Alertmanager configs,
//! remote read/write and most service discoveries. serde cannot combine
//! `flatten` with `deny_unknown_fields`, so [`with_http_client_config!`]
//! splices the field list into each struct instead.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::de::{is_false, opt_string};
use crate::error::{FieldPath, Validation};
use crate::secret::Secret;

/// Adds Prometheus's inline HTTP client fields to a struct definition, and
/// `http_client_config()` / `set_http_client_config()` accessors.
/// `enable_http2_default` is a serde default path (remote write defaults to
/// HTTP/1.1, everything else to HTTP/2).
macro_rules! with_http_client_config {
    (
        enable_http2_default = $h2:literal;
        $(#[$meta:meta])*
        pub struct $name:ident { $($body:tt)* }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($body)*
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub basic_auth: Option<$crate::http::BasicAuth>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub authorization: Option<$crate::http::Authorization>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub oauth2: Option<$crate::http::OAuth2>,
            /// Legacy; moved into `authorization` by validation.
            #[serde(default, skip_serializing_if = "crate::secret::Secret::is_empty")]
            pub bearer_token: $crate::secret::Secret,
            /// Legacy; moved into `authorization` by validation.
            #[serde(default, deserialize_with = "crate::de::opt_string", skip_serializing_if = "String::is_empty")]
            pub bearer_token_file: String,
            #[serde(default)]
            pub tls_config: $crate::http::TlsConfig,
            #[serde(default, deserialize_with = "crate::de::opt_string", skip_serializing_if = "String::is_empty")]
            pub proxy_url: String,
            #[serde(default, deserialize_with = "crate::de::opt_string", skip_serializing_if = "String::is_empty")]
            pub no_proxy: String,
            #[serde(default, skip_serializing_if = "crate::de::is_false")]
            pub proxy_from_environment: bool,
            #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
            pub proxy_connect_header: std::collections::BTreeMap<String, Vec<$crate::secret::Secret>>,
            #[serde(default = "crate::de::default_true")]
            pub follow_redirects: bool,
            #[serde(default = $h2)]
            pub enable_http2: bool,
            #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
            pub http_headers: std::collections::BTreeMap<String, $crate::http::HttpHeader>,
        }

        impl $name {
            /// The HTTP client settings of this section.
            pub fn http_client_config(&self) -> $crate::http::HttpClientConfig {
                $crate::http::HttpClientConfig {
                    basic_auth: self.basic_auth.clone(),
                    authorization: self.authorization.clone(),
                    oauth2: self.oauth2.clone(),
                    bearer_token: self.bearer_token.clone(),
                    bearer_token_file: self.bearer_token_file.clone(),
                    tls_config: self.tls_config.clone(),
                    proxy_url: self.proxy_url.clone(),
                    no_proxy: self.no_proxy.clone(),
                    proxy_from_environment: self.proxy_from_environment,
                    proxy_connect_header: self.proxy_connect_header.clone(),
                    follow_redirects: self.follow_redirects,
                    enable_http2: self.enable_http2,
                    http_headers: self.http_headers.clone(),
                }
            }

            #[allow(dead_code)]
            pub(crate) fn set_http_client_config(&mut self, c: $crate::http::HttpClientConfig) {
                self.basic_auth = c.basic_auth;
                self.authorization = c.authorization;
                self.oauth2 = c.oauth2;
                self.bearer_token = c.bearer_token;
                self.bearer_token_file = c.bearer_token_file;
                self.tls_config = c.tls_config;
                self.proxy_url = c.proxy_url;
                self.no_proxy = c.no_proxy;
                self.proxy_from_environment = c.proxy_from_environment;
                self.proxy_connect_header = c.proxy_connect_header;
                self.follow_redirects = c.follow_redirects;
                self.enable_http2 = c.enable_http2;
                self.http_headers = c.http_headers;
            }

            /// Runs Prometheus's HTTP client validation and normalization
            /// (legacy `bearer_token*` become `authorization`).
            #[allow(dead_code)]
            pub(crate) fn validate_http_client(&mut self, path: &$crate::error::FieldPath) -> $crate::error::Validation {
                let mut c = self.http_client_config();
                c.validate(path)?;
                self.set_http_client_config(c);
                Ok(())
            }
        }
    };
}
pub(crate) use with_http_client_config;

with_http_client_config! {
    enable_http2_default = "crate::de::default_true";
    /// HTTP client settings, as gathered from a section's inline fields.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct HttpClientConfig {}
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            bearer_token: Secret::default(),
            bearer_token_file: String::new(),
            tls_config: TlsConfig::default(),
            proxy_url: String::new(),
            no_proxy: String::new(),
            proxy_from_environment: false,
            proxy_connect_header: BTreeMap::new(),
            follow_redirects: true,
            enable_http2: true,
            http_headers: BTreeMap::new(),
        }
    }
}

/// The keys [`HttpClientConfig`] takes, for picking them out of loosely
/// parsed service discovery sections.
pub(crate) const HTTP_CLIENT_KEYS: &[&str] = &[
    "basic_auth",
    "authorization",
    "oauth2",
    "bearer_token",
    "bearer_token_file",
    "tls_config",
    "proxy_url",
    "no_proxy",
    "proxy_from_environment",
    "proxy_connect_header",
    "follow_redirects",
    "enable_http2",
    "http_headers",
];

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub username: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub username_file: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub username_ref: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub password: Secret,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub password_file: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub password_ref: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// Defaults to `Bearer` after validation.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub auth_type: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub credentials: Secret,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub credentials_file: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub credentials_ref: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub client_id: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub client_id_file: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub client_id_ref: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub client_secret: Secret,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub client_secret_file: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub client_secret_ref: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub client_certificate_key_id: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub client_certificate_key: Secret,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub client_certificate_key_file: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub client_certificate_key_ref: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub grant_type: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub signature_algorithm: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub token_url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoint_params: BTreeMap<String, String>,
    #[serde(default)]
    pub tls_config: TlsConfig,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub proxy_url: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub no_proxy: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub proxy_from_environment: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub proxy_connect_header: BTreeMap<String, Vec<Secret>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// CA certificate PEM text.
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub ca: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub ca_file: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub ca_ref: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub cert: String,
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
    pub cert_ref: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub key: Secret,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub key_file: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub key_ref: String,
    #[serde(
        default,
        deserialize_with = "opt_string",
        skip_serializing_if = "String::is_empty"
    )]
    pub server_name: String,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// `TLS10` .. `TLS13`; empty means the library default.
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
}

/// Valid `min_version` / `max_version` spellings.
pub const TLS_VERSIONS: [&str; 4] = ["TLS10", "TLS11", "TLS12", "TLS13"];

impl TlsConfig {
    pub(crate) fn validate(&self, path: &FieldPath) -> Validation {
        let count = |xs: &[bool]| xs.iter().filter(|x| **x).count();
        if count(&[
            !self.ca.is_empty(),
            !self.ca_file.is_empty(),
            !self.ca_ref.is_empty(),
        ]) > 1
        {
            return Err(path.error("at most one of ca, ca_file & ca_ref must be configured"));
        }
        let certs = count(&[
            !self.cert.is_empty(),
            !self.cert_file.is_empty(),
            !self.cert_ref.is_empty(),
        ]);
        let keys = count(&[
            !self.key.is_empty(),
            !self.key_file.is_empty(),
            !self.key_ref.is_empty(),
        ]);
        if certs > 1 {
            return Err(path.error("at most one of cert, cert_file & cert_ref must be configured"));
        }
        if keys > 1 {
            return Err(path.error("at most one of key and key_file must be configured"));
        }
        if certs > 0 && keys == 0 {
            return Err(path.error(
                "exactly one of key or key_file must be configured when a client certificate is configured",
            ));
        }
        if keys > 0 && certs == 0 {
            return Err(path.error(
                "exactly one of cert or cert_file must be configured when a client key is configured",
            ));
        }
        for (field, v) in [
            ("min_version", &self.min_version),
            ("max_version", &self.max_version),
        ] {
            if !v.is_empty() && !TLS_VERSIONS.contains(&v.as_str()) {
                return Err(path.key(field).error(format!("unknown TLS version: {v}")));
            }
        }
        Ok(())
    }
}

/// One entry of `http_headers`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpHeader {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// Headers `http_headers` may not set (`prometheus/common` reservedHeaders).
const RESERVED_HTTP_HEADERS: &[&str] = &[
    "authorization",
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
    "x-prometheus-scrape-timeout-seconds",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

impl HttpClientConfig {
    /// Prometheus's `HTTPClientConfig.Validate`, including its normalization:
    /// the legacy `bearer_token(_file)` become an `authorization` section and
    /// an empty authorization type becomes `Bearer`.
    pub(crate) fn validate(&mut self, path: &FieldPath) -> Validation {
        let bearer = !self.bearer_token.is_empty() || !self.bearer_token_file.is_empty();
        if !self.bearer_token.is_empty() && !self.bearer_token_file.is_empty() {
            return Err(
                path.error("at most one of bearer_token & bearer_token_file must be configured")
            );
        }
        if (self.basic_auth.is_some() || self.oauth2.is_some()) && bearer {
            return Err(path.error(
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
            ));
        }
        if let Some(ba) = &self.basic_auth {
            let p = path.key("basic_auth");
            if [&ba.username, &ba.username_file, &ba.username_ref]
                .iter()
                .filter(|s| !s.is_empty())
                .count()
                > 1
            {
                return Err(p.error("at most one of basic_auth username, username_file & username_ref must be configured"));
            }
            let pw = [
                !ba.password.is_empty(),
                !ba.password_file.is_empty(),
                !ba.password_ref.is_empty(),
            ];
            if pw.iter().filter(|x| **x).count() > 1 {
                return Err(p.error("at most one of basic_auth password, password_file & password_ref must be configured"));
            }
        }
        if let Some(auth) = &mut self.authorization {
            let p = path.key("authorization");
            if bearer {
                return Err(p.error(
                    "authorization is not compatible with bearer_token & bearer_token_file",
                ));
            }
            let creds = [
                !auth.credentials.is_empty(),
                !auth.credentials_file.is_empty(),
                !auth.credentials_ref.is_empty(),
            ];
            if creds.iter().filter(|x| **x).count() > 1 {
                return Err(p.error("at most one of authorization credentials & credentials_file must be configured"));
            }
            auth.auth_type = auth.auth_type.trim().to_string();
            if auth.auth_type.is_empty() {
                auth.auth_type = "Bearer".to_string();
            }
            if auth.auth_type.eq_ignore_ascii_case("basic") {
                return Err(p.key("type").error(
                    r#"authorization type cannot be set to "basic", use "basic_auth" instead"#,
                ));
            }
            if self.basic_auth.is_some() || self.oauth2.is_some() {
                return Err(path.error(
                    "at most one of basic_auth, oauth2 & authorization must be configured",
                ));
            }
        } else if bearer {
            self.authorization = Some(Authorization {
                auth_type: "Bearer".to_string(),
                credentials: std::mem::take(&mut self.bearer_token),
                credentials_file: std::mem::take(&mut self.bearer_token_file),
                credentials_ref: String::new(),
            });
        }
        if let Some(o) = &self.oauth2 {
            let p = path.key("oauth2");
            if self.basic_auth.is_some() {
                return Err(path.error(
                    "at most one of basic_auth, oauth2 & authorization must be configured",
                ));
            }
            if o.client_id.is_empty() && o.client_id_file.is_empty() && o.client_id_ref.is_empty() {
                return Err(p.error("oauth2 client_id must be configured"));
            }
            if o.token_url.is_empty() {
                return Err(p.error("oauth2 token_url must be configured"));
            }
            let secrets = [
                !o.client_secret.is_empty(),
                !o.client_secret_file.is_empty(),
                !o.client_secret_ref.is_empty(),
            ];
            if secrets.iter().filter(|x| **x).count() > 1 {
                return Err(p.error("at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured"));
            }
            o.tls_config.validate(&p.key("tls_config"))?;
            validate_proxy(
                &p,
                &o.proxy_url,
                &o.no_proxy,
                o.proxy_from_environment,
                !o.proxy_connect_header.is_empty(),
            )?;
        }
        validate_proxy(
            path,
            &self.proxy_url,
            &self.no_proxy,
            self.proxy_from_environment,
            !self.proxy_connect_header.is_empty(),
        )?;
        self.tls_config.validate(&path.key("tls_config"))?;
        for name in self.http_headers.keys() {
            if RESERVED_HTTP_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(path
                    .key("http_headers")
                    .key(name)
                    .error(format!("setting header {name:?} is not allowed")));
            }
        }
        Ok(())
    }

    /// Whether anything differs from the defaults (Kubernetes SD forbids
    /// custom HTTP settings in some combinations).
    pub fn is_default(&self) -> bool {
        *self == HttpClientConfig::default()
    }
}

fn validate_proxy(
    path: &FieldPath,
    url: &str,
    no_proxy: &str,
    from_env: bool,
    connect_header: bool,
) -> Validation {
    if from_env && !url.is_empty() {
        return Err(
            path.error("if proxy_from_environment is configured, proxy_url must not be configured")
        );
    }
    if from_env && !no_proxy.is_empty() {
        return Err(
            path.error("if proxy_from_environment is configured, no_proxy must not be configured")
        );
    }
    if url.is_empty() && !no_proxy.is_empty() {
        return Err(path.error("if no_proxy is configured, proxy_url must also be configured"));
    }
    if connect_header && url.is_empty() && !from_env {
        return Err(path.error("if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured"));
    }
    Ok(())
}
