//! HTTP basic authentication from the exporter-toolkit web config
//! (`basic_auth_users` with bcrypt hashes).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

pub struct BasicAuth {
    users: BTreeMap<String, String>,
    /// Digests of credentials that already passed bcrypt: bcrypt is deliberately
    /// slow (tens of ms), too slow to run on every scrape or API call.
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl BasicAuth {
    pub fn new(users: BTreeMap<String, String>) -> Self {
        BasicAuth {
            users,
            verified: Mutex::new(HashSet::new()),
        }
    }

    pub fn check(&self, authorization: Option<&str>) -> bool {
        let Some((user, pass)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let Some(hash) = self.users.get(&user) else {
            return false;
        };
        let key: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0u8])
            .chain_update(pass.as_bytes())
            .chain_update([0u8])
            .chain_update(hash.as_bytes())
            .finalize()
            .into();
        if self.verified.lock().contains(&key) {
            return true;
        }
        let ok = bcrypt::verify(&pass, hash).unwrap_or(false);
        if ok {
            self.verified.lock().insert(key);
        }
        ok
    }
}

fn parse_basic(h: &str) -> Option<(String, String)> {
    use base64::Engine;
    let enc = h
        .strip_prefix("Basic ")
        .or_else(|| h.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(enc.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

pub async fn require(State(auth): State<Arc<BasicAuth>>, req: Request, next: Next) -> Response {
    let h = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth.check(h) {
        return next.run(req).await;
    }
    let mut r = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcrypt_users_are_checked_and_cached() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let a = BasicAuth::new([("alice".to_string(), hash)].into());
        // "alice:s3cret"
        assert!(a.check(Some("Basic YWxpY2U6czNjcmV0")));
        assert!(a.check(Some("Basic YWxpY2U6czNjcmV0")));
        // "alice:wrong"
        assert!(!a.check(Some("Basic YWxpY2U6d3Jvbmc=")));
        // "bob:s3cret"
        assert!(!a.check(Some("Basic Ym9iOnMzY3JldA==")));
        assert!(!a.check(None));
        assert!(!a.check(Some("Bearer x")));
    }
}
