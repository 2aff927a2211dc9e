//! OAuth 2.0 client-credentials tokens for outgoing requests: the `oauth2:`
//! block of Prometheus's HTTP client settings. A token is fetched from
//! `token_url` on first use, cached, and fetched again 10 s before it expires
//! (as Go's `golang.org/x/oauth2/clientcredentials`, which Prometheus uses).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use sightline_config::HttpClientConfig;
use sightline_config::OAuth2;

use crate::tls::TlsMaterial;

const FORM: &str = "application/x-www-form-urlencoded";

/// Tokens are renewed this long before they expire.
const EXPIRY_DELTA: Duration = Duration::from_secs(10);

pub struct OAuth2Source {
    cfg: OAuth2,
    client: reqwest::Client,
    cached: tokio::sync::Mutex<Option<Token>>,
}

#[derive(Clone)]
struct Token {
    /// The full `Authorization` header value (`Bearer abc`).
    header: String,
    expires: Option<Instant>,
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: String,
    #[serde(default)]
    expires_in: Option<f64>,
}

impl OAuth2Source {
    /// The token source the settings ask for, if they have an `oauth2` block.
    pub fn from_config(http: &HttpClientConfig) -> Result<Option<Arc<OAuth2Source>>, String> {
        let Some(cfg) = &http.oauth2 else {
            return Ok(None);
        };
        crate::tls::ensure_provider();
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("Sightline/", env!("CARGO_PKG_VERSION")));
        let tls = TlsMaterial::from_config(&cfg.tls_config)?;
        if !tls.is_default() {
            b = b.tls_backend_preconfigured(tls.client_config()?);
        }
        if !cfg.proxy_url.is_empty() {
            b = b.proxy(
                reqwest::Proxy::all(&cfg.proxy_url)
                    .map_err(|e| format!("oauth2 proxy_url: {e}"))?,
            );
        } else if !cfg.proxy_from_environment {
            b = b.no_proxy();
        }
        Ok(Some(Arc::new(OAuth2Source {
            cfg: cfg.clone(),
            client: b.build().map_err(|e| format!("oauth2 client: {e}"))?,
            cached: tokio::sync::Mutex::new(None),
        })))
    }

    /// The `Authorization` header value for the next request.
    pub async fn authorization(&self) -> Result<String, String> {
        let mut cached = self.cached.lock().await;
        if let Some(t) = cached.as_ref()
            && t.expires.is_none_or(|e| Instant::now() + EXPIRY_DELTA < e)
        {
            return Ok(t.header.clone());
        }
        let t = self.fetch().await?;
        let header = t.header.clone();
        *cached = Some(t);
        Ok(header)
    }

    /// Adds the current token to a request.
    pub async fn apply(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, String> {
        Ok(req.header(AUTHORIZATION, self.authorization().await?))
    }

    async fn fetch(&self) -> Result<Token, String> {
        let id = read_value(&self.cfg.client_id, &self.cfg.client_id_file, "client_id")?;
        let secret = read_value(
            self.cfg.client_secret.expose(),
            &self.cfg.client_secret_file,
            "client_secret",
        )?;
        let mut form: Vec<(String, String)> =
            vec![("grant_type".into(), "client_credentials".into())];
        if !self.cfg.scopes.is_empty() {
            form.push(("scope".into(), self.cfg.scopes.join(" ")));
        }
        for (k, v) in &self.cfg.endpoint_params {
            form.push((k.clone(), v.clone()));
        }
        // Credentials in a basic-auth header first; servers that refuse that
        // get them as form parameters (Go's auto-detected auth style).
        let basic = format!(
            "Basic {}",
            base64_encode(&format!("{}:{}", query_escape(&id), query_escape(&secret)))
        );
        let first = self
            .client
            .post(&self.cfg.token_url)
            .header(AUTHORIZATION, basic)
            .header(CONTENT_TYPE, FORM)
            .body(encode_form(&form))
            .send()
            .await
            .map_err(|e| format!("oauth2: token request to {}: {e}", self.cfg.token_url))?;
        let resp = if first.status().is_client_error() {
            let mut with_params = form.clone();
            with_params.push(("client_id".into(), id));
            with_params.push(("client_secret".into(), secret));
            self.client
                .post(&self.cfg.token_url)
                .header(CONTENT_TYPE, FORM)
                .body(encode_form(&with_params))
                .send()
                .await
                .map_err(|e| format!("oauth2: token request to {}: {e}", self.cfg.token_url))?
        } else {
            first
        };
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| format!("oauth2: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "oauth2: cannot fetch token: {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ));
        }
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| format!("oauth2: token response from {}: {e}", self.cfg.token_url))?;
        if t.access_token.is_empty() {
            return Err("oauth2: server response missing access_token".into());
        }
        Ok(Token {
            header: format!("{} {}", token_type(&t.token_type), t.access_token),
            expires: t
                .expires_in
                .filter(|s| *s > 0.0)
                .map(|s| Instant::now() + Duration::from_secs_f64(s)),
        })
    }
}

/// The header scheme for a `token_type`, as Go's `oauth2.Token.Type`.
fn token_type(t: &str) -> String {
    if t.is_empty() || t.eq_ignore_ascii_case("bearer") {
        "Bearer".into()
    } else if t.eq_ignore_ascii_case("mac") {
        "MAC".into()
    } else if t.eq_ignore_ascii_case("basic") {
        "Basic".into()
    } else {
        t.to_string()
    }
}

fn read_value(inline: &str, file: &str, what: &str) -> Result<String, String> {
    if file.is_empty() {
        return Ok(inline.to_string());
    }
    std::fs::read_to_string(file)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("oauth2 {what}_file: {e}"))
}

fn encode_form(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Go's `url.QueryEscape` (the client id and secret are escaped before
/// basic-auth encoding, per RFC 6749 §2.3.1).
fn query_escape(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_types_and_escaping() {
        assert_eq!(token_type(""), "Bearer");
        assert_eq!(token_type("bearer"), "Bearer");
        assert_eq!(token_type("MAC"), "MAC");
        assert_eq!(token_type("DPoP"), "DPoP");
        assert_eq!(query_escape("a b+c/d"), "a+b%2Bc%2Fd");
    }
}
