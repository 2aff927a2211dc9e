//! Sightline's web UI: a single-page app (HTML, CSS and vanilla JavaScript,
//! no build step) embedded in the binary and served at `/`, its files under
//! `/ui/...`.
//!
//! The app only talks to the APIs Sightline already serves on the same port
//! (Prometheus `/api/v1`, Alertmanager `/api/v2`, Jaeger `/jaeger/api`), using
//! URLs relative to the page, so it works behind a reverse proxy that mounts
//! Sightline under a path prefix.
//!
//! Pages (hash routes, `assets/*.js`):
//! * `#/services`: every service (Jaeger service list ∪ span-metric
//!   `service_name`s) with request rate, error ratio and p99 now, plus
//!   last-hour sparklines, from `traces_span_metrics_calls_total` and
//!   `traces_span_metrics_duration_milliseconds_bucket`.
//! * `#/service/<name>`: RED charts over 15m/1h/6h/24h (p50/p95/p99 by
//!   `histogram_quantile`, exemplar traces as markers) and a per-operation
//!   table. Clicking a latency point, or dragging a box, opens the trace search
//!   for that service and window with `minDuration` at the lower bound of the
//!   histogram bucket holding the picked latency.
//! * `#/traces`, `#/trace/<id>`: Jaeger search (service, operation, tags,
//!   min/max duration, range, limit) with a duration scatter plot, and the
//!   trace waterfall (span tree, service colours, errors, span details).
//! * `#/alerts`: rule alerts, rule groups, Alertmanager alerts, silences
//!   (create, expire).
//! * `#/query`: PromQL as a table (instant) or a graph (range).
//!
//! Caching: `index.html` is always revalidated (`no-cache` + `ETag`) and refers
//! to every asset as `ui/<file>?v=<content hash>`; a request carrying the
//! current hash is cacheable for a year (`immutable`), any other is revalidated
//! by `ETag`. So a new binary never serves stale JavaScript, and an unchanged
//! one costs the browser no requests beyond the page itself.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file served under `/ui/`.
pub struct Asset {
    /// Path below `/ui/` (also how `index.html` refers to it, as `ui/<path>`).
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// FNV-1a of `body`, computed at compile time: the `ETag` and `?v=` value.
    pub hash: u64,
}

const fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < b.len() {
        h ^= b[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

macro_rules! asset {
    ($path:literal, $ct:expr) => {
        Asset {
            path: $path,
            content_type: $ct,
            body: include_bytes!(concat!("../assets/", $path)),
            hash: fnv1a(include_bytes!(concat!("../assets/", $path))),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file below `/ui/`.
pub static ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("util.js", JS),
    asset!("chart.js", JS),
    asset!("pages.js", JS),
    asset!("traces.js", JS),
    asset!("app.js", JS),
    asset!("favicon.svg", "image/svg+xml"),
];

/// The page template as written (asset references without `?v=`).
pub const INDEX_TEMPLATE: &str = include_str!("../assets/index.html");

/// The embedded file at `path` (below `/ui/`).
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The JavaScript sources, for tests that check what the app calls.
pub fn scripts() -> impl Iterator<Item = (&'static str, &'static str)> {
    ASSETS
        .iter()
        .filter(|a| a.content_type == JS)
        .map(|a| (a.path, std::str::from_utf8(a.body).unwrap_or("")))
}

/// `index.html` with each `ui/<file>` reference versioned by the file's hash.
pub fn index_html() -> &'static str {
    static INDEX: OnceLock<String> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut s = INDEX_TEMPLATE.to_string();
        for a in ASSETS {
            let from = format!("\"ui/{}\"", a.path);
            let to = format!("\"ui/{}?v={:016x}\"", a.path, a.hash);
            s = s.replace(&from, &to);
        }
        s
    })
}

fn index_etag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| format!("\"{:016x}\"", fnv1a(index_html().as_bytes())))
}

/// Only the app's own server is contacted: no inline script, no other origin.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

/// Routes `/` (the app) and `/ui/{file}` (its assets). No fallback, so it
/// merges beside the API routers.
pub fn router() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/ui/{*path}", get(serve_asset))
}

fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == etag
        })
}

async fn index(headers: HeaderMap) -> Response {
    let etag = index_etag();
    let mut r = if not_modified(&headers, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            index_html(),
        )
            .into_response()
    };
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::ETAG, HeaderValue::from_str(etag).expect("ascii"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

async fn serve_asset(
    Path(path): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(a) = asset(&path) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found\n",
        )
            .into_response();
    };
    let version = format!("{:016x}", a.hash);
    let etag = format!("\"{version}\"");
    let current = q
        .as_deref()
        .unwrap_or("")
        .split('&')
        .any(|kv| kv.strip_prefix("v=") == Some(version.as_str()));
    let cache = if current {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut r = if not_modified(&headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, a.content_type)], a.body).into_response()
    };
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("ascii"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_fnv1a() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn every_asset_is_referenced_and_versioned() {
        let html = index_html();
        for a in ASSETS {
            let r = format!("\"ui/{}?v={:016x}\"", a.path, a.hash);
            assert!(html.contains(&r), "index.html does not refer to {r}");
        }
        assert!(
            !html.contains("src=\"/"),
            "absolute script URL breaks path prefixes"
        );
        assert!(
            !html.contains("href=\"/"),
            "absolute link URL breaks path prefixes"
        );
    }
}
