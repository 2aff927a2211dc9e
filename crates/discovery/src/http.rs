//! A reqwest client builder from Prometheus's inline HTTP client settings
//! (`basic_auth`, `authorization`, `tls_config`, `proxy_url`,
//! `follow_redirects`, `enable_http2`, `http_headers`). Used for scrapes and
//! for the Kubernetes API when `api_server` is given.

use base64::Engine;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use sightline_config::HttpClientConfig;

use crate::tls::TlsMaterial;

/// The `Authorization` header value the settings ask for, if any. Files are
/// read now; callers rebuild clients on config reload.
pub fn authorization_header(http: &HttpClientConfig) -> Result<Option<String>, String> {
    if let Some(ba) = &http.basic_auth {
        let pass = if ba.password_file.is_empty() {
            ba.password.expose().to_string()
        } else {
            read_trimmed(&ba.password_file, "password_file")?
        };
        let v =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", ba.username, pass));
        return Ok(Some(format!("Basic {v}")));
    }
    if let Some(a) = &http.authorization {
        let cred = if a.credentials_file.is_empty() {
            a.credentials.expose().to_string()
        } else {
            read_trimmed(&a.credentials_file, "credentials_file")?
        };
        let kind = if a.auth_type.is_empty() {
            "Bearer"
        } else {
            a.auth_type.as_str()
        };
        return Ok(Some(format!("{kind} {cred}")));
    }
    Ok(None)
}

fn read_trimmed(path: &str, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("{what}: {e}"))
}

/// A builder with every setting applied; callers add timeouts, compression,
/// user agent. `oauth2` tokens change over time, so they are not a default
/// header: callers add them per request through [`crate::oauth2::OAuth2Source`].
pub fn client_builder(http: &HttpClientConfig) -> Result<reqwest::ClientBuilder, String> {
    crate::tls::ensure_provider();
    let mut b = reqwest::Client::builder().redirect(if http.follow_redirects {
        reqwest::redirect::Policy::limited(10)
    } else {
        reqwest::redirect::Policy::none()
    });
    let mut headers = HeaderMap::new();
    if let Some(v) = authorization_header(http)? {
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&v).map_err(|e| format!("authorization: {e}"))?,
        );
    }
    for (name, h) in &http.http_headers {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("http_headers: {e}"))?;
        let mut values: Vec<String> = h.values.clone();
        values.extend(h.secrets.iter().map(|s| s.expose().to_string()));
        for f in &h.files {
            values.push(read_trimmed(f, "http_headers file")?);
        }
        for v in values {
            headers.append(
                name.clone(),
                HeaderValue::from_str(&v).map_err(|e| format!("http_headers: {e}"))?,
            );
        }
    }
    b = b.default_headers(headers);
    let tls = TlsMaterial::from_config(&http.tls_config)?;
    if !tls.is_default() {
        b = b.tls_backend_preconfigured(tls.client_config()?);
    }
    if !http.proxy_url.is_empty() {
        b = b.proxy(reqwest::Proxy::all(&http.proxy_url).map_err(|e| format!("proxy_url: {e}"))?);
    } else if !http.proxy_from_environment {
        b = b.no_proxy();
    }
    if !http.enable_http2 {
        b = b.http1_only();
    }
    Ok(b)
}
