//! AWS Signature Version 4 for `sigv4:` blocks (remote write to Amazon
//! Managed Service for Prometheus, Alertmanagers behind AWS auth), as
//! Prometheus's `sigv4` round tripper: every request is signed for the
//! `aps` service with the body's SHA-256. Credentials come from the block's
//! `access_key`/`secret_key`, else `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
//! (+ `AWS_SESSION_TOKEN`), else the shared credentials file's `profile`
//! (`AWS_PROFILE`, then `default`). The region is the block's, else
//! `AWS_REGION`/`AWS_DEFAULT_REGION`.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use sightline_config::GenericSdConfig;

const SERVICE: &str = "aps";

#[derive(Clone, Debug, PartialEq)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SigV4 {
    pub region: String,
    pub service: String,
    pub credentials: Credentials,
}

impl SigV4 {
    /// From a `sigv4:` block; `None` when there is none. Fails when no region
    /// or credentials can be found, or on `role_arn` (not implemented: better
    /// refused at load than requests sent unsigned).
    pub fn from_config(cfg: Option<&GenericSdConfig>) -> Result<Option<SigV4>, String> {
        let Some(c) = cfg else { return Ok(None) };
        let get = |k: &str| {
            c.0.get(k)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        if get("role_arn").is_some() {
            return Err("sigv4: role_arn (STS AssumeRole) is not supported".into());
        }
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let region = get("region")
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .ok_or("sigv4: no region (set sigv4.region or AWS_REGION)")?;
        let credentials = match (get("access_key"), get("secret_key")) {
            (Some(access_key), Some(secret_key)) => Credentials {
                access_key,
                secret_key,
                session_token: None,
            },
            _ => {
                match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
                    (Some(access_key), Some(secret_key)) => Credentials {
                        access_key,
                        secret_key,
                        session_token: env("AWS_SESSION_TOKEN"),
                    },
                    _ => {
                        let profile = get("profile")
                            .or_else(|| env("AWS_PROFILE"))
                            .unwrap_or_else(|| "default".into());
                        let path = env("AWS_SHARED_CREDENTIALS_FILE").unwrap_or_else(|| {
                            format!("{}/.aws/credentials", env("HOME").unwrap_or_default())
                        });
                        let text = std::fs::read_to_string(&path).map_err(|e| {
                        format!("sigv4: no credentials in the config or environment, and {path}: {e}")
                    })?;
                        shared_credentials(&text, &profile).ok_or_else(|| {
                            format!("sigv4: no credentials for profile {profile:?} in {path}")
                        })?
                    }
                }
            }
        };
        Ok(Some(SigV4 {
            region,
            service: SERVICE.into(),
            credentials,
        }))
    }

    /// Adds `X-Amz-Date`, `X-Amz-Security-Token` (temporary credentials) and
    /// `Authorization` to `req`, signed at `now`.
    pub fn sign(&self, req: &mut reqwest::Request, now: std::time::SystemTime) {
        let datetime = amz_datetime(now);
        let body = req
            .body()
            .and_then(|b| b.as_bytes())
            .unwrap_or_default()
            .to_vec();
        let url = req.url().clone();
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or("")),
            None => url.host_str().unwrap_or("").to_string(),
        };
        let mut headers = vec![
            ("host".to_string(), host),
            ("x-amz-date".to_string(), datetime.clone()),
        ];
        if let Some(t) = &self.credentials.session_token {
            headers.push(("x-amz-security-token".to_string(), t.clone()));
        }
        let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let auth = authorization(&Signing {
            method: req.method().as_str(),
            path: url.path(),
            query: &query,
            headers: &headers,
            payload_sha256: &hex(&Sha256::digest(&body)),
            datetime: &datetime,
            region: &self.region,
            service: &self.service,
            credentials: &self.credentials,
        });
        let h = req.headers_mut();
        for (k, v) in headers.iter().skip(1) {
            if let Ok(v) = v.parse() {
                h.insert(
                    reqwest::header::HeaderName::from_bytes(k.as_bytes()).expect("static name"),
                    v,
                );
            }
        }
        if let Ok(v) = auth.parse() {
            h.insert(reqwest::header::AUTHORIZATION, v);
        }
    }
}

/// What one signature covers.
pub struct Signing<'a> {
    pub method: &'a str,
    /// The URL path as sent (already percent-encoded).
    pub path: &'a str,
    /// Decoded query parameters.
    pub query: &'a [(String, String)],
    /// Lower-case names; all of them are signed.
    pub headers: &'a [(String, String)],
    pub payload_sha256: &'a str,
    /// `YYYYMMDDTHHMMSSZ`.
    pub datetime: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub credentials: &'a Credentials,
}

/// The `Authorization` header value for `s`.
pub fn authorization(s: &Signing<'_>) -> String {
    let date = &s.datetime[..8];
    let mut headers: Vec<(String, String)> = s
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    headers.sort();
    let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    let signed = signed.join(";");
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let mut query: Vec<(String, String)> = s
        .query
        .iter()
        .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
        .collect();
    query.sort();
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    // Non-S3 services sign the path encoded once more (each segment).
    let path = if s.path.is_empty() { "/" } else { s.path };
    let canonical_path: Vec<String> = path.split('/').map(|seg| uri_encode(seg, true)).collect();
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        s.method,
        canonical_path.join("/"),
        query.join("&"),
        canonical_headers,
        signed,
        s.payload_sha256
    );
    let scope = format!("{date}/{}/{}/aws4_request", s.region, s.service);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        s.datetime,
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{}", s.credentials.secret_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [s.region, s.service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex(&hmac(&key, to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
        s.credentials.access_key
    )
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// RFC 3986 percent-encoding of everything but unreserved characters
/// (`/` too when `slash`).
fn uri_encode(s: &str, slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if !slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `YYYYMMDDTHHMMSSZ` in UTC.
fn amz_datetime(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (y, m, d, h, mi, s) = sightline_model::civil::utc_from_unix(secs);
    format!("{y:04}{m:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// The keys of `[profile]` in an AWS shared credentials file.
fn shared_credentials(text: &str, profile: &str) -> Option<Credentials> {
    let mut in_profile = false;
    let (mut ak, mut sk, mut tok) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') && line.ends_with(']') {
            in_profile = line[1..line.len() - 1].trim() == profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().to_string();
        match k.trim() {
            "aws_access_key_id" => ak = Some(v),
            "aws_secret_access_key" => sk = Some(v),
            "aws_session_token" => tok = Some(v),
            _ => {}
        }
    }
    Some(Credentials {
        access_key: ak?,
        secret_key: sk?,
        session_token: tok,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn example() -> Credentials {
        Credentials {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    fn suite(method: &str, query: &[(&str, &str)]) -> String {
        let headers = [
            ("host".to_string(), "example.amazonaws.com".to_string()),
            ("x-amz-date".to_string(), "20150830T123600Z".to_string()),
        ];
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        authorization(&Signing {
            method,
            path: "/",
            query: &query,
            headers: &headers,
            payload_sha256: EMPTY_SHA256,
            datetime: "20150830T123600Z",
            region: "us-east-1",
            service: "service",
            credentials: &example(),
        })
    }

    /// AWS's published SigV4 test suite (get-vanilla, post-vanilla,
    /// get-vanilla-query-order-key-case).
    #[test]
    fn aws_test_suite_vectors() {
        assert_eq!(
            suite("GET", &[]),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert!(suite("POST", &[]).ends_with(
            "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        ));
        assert!(
            suite("GET", &[("Param2", "value2"), ("Param1", "value1")]).ends_with(
                "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
            )
        );
    }

    #[test]
    fn dates_and_credentials_files() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        assert_eq!(amz_datetime(t), "20150830T123600Z");
        assert_eq!(
            amz_datetime(std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400)),
            "20000229T000000Z"
        );
        let file = "[default]\naws_access_key_id = A\naws_secret_access_key = S\n\n[prod]\naws_access_key_id=PA\naws_secret_access_key=PS\naws_session_token=T\n";
        assert_eq!(shared_credentials(file, "default").unwrap().access_key, "A");
        let p = shared_credentials(file, "prod").unwrap();
        assert_eq!(
            (p.secret_key.as_str(), p.session_token.as_deref()),
            ("PS", Some("T"))
        );
        assert!(shared_credentials(file, "none").is_none());
    }

    #[test]
    fn signs_a_request_with_the_body_hash() {
        let s = SigV4 {
            region: "eu-west-1".into(),
            service: SERVICE.into(),
            credentials: Credentials {
                session_token: Some("tok".into()),
                ..example()
            },
        };
        let request = |body: &[u8]| {
            let mut r = reqwest::Request::new(
                reqwest::Method::POST,
                "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"
                    .parse()
                    .unwrap(),
            );
            *r.body_mut() = Some(body.to_vec().into());
            r
        };
        let mut req = request(b"payload");
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        s.sign(&mut req, t);
        let h = req.headers();
        assert_eq!(h["x-amz-date"], "20150830T123600Z");
        assert_eq!(h["x-amz-security-token"], "tok");
        let auth = h["authorization"].to_str().unwrap().to_string();
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/aps/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature="), "{auth}");
        // The same request with another body signs differently.
        let mut other = request(b"payload2");
        s.sign(&mut other, t);
        assert_ne!(other.headers()["authorization"], h["authorization"]);
    }
}
