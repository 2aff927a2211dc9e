//! The UI router in-process: content types, cache headers, conditional
//! requests, 404s; and (when node is installed) a syntax check of every script.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use tower::ServiceExt;

async fn get(path: &str, headers: &[(&str, &str)]) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    get_method(Method::GET, path, headers).await
}

async fn get_method(
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = sightline_ui::router()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20).await.unwrap();
    (parts.status, parts.headers, bytes.to_vec())
}

fn hdr(h: &axum::http::HeaderMap, k: header::HeaderName) -> &str {
    h.get(k).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// `ui/...` references (with their `?v=`) in the served page.
fn refs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').unwrap();
            if rest[..end].starts_with("ui/") {
                out.push(rest[..end].to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[tokio::test]
async fn index_and_assets() {
    let (st, h, body) = get("/", &[]).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(hdr(&h, header::CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(hdr(&h, header::CACHE_CONTROL), "no-cache");
    assert!(hdr(&h, header::CONTENT_SECURITY_POLICY).contains("script-src 'self'"));
    let html = String::from_utf8(body).unwrap();
    let refs = refs(&html);
    // Every embedded file is referenced by the page, and nothing else is.
    assert_eq!(refs.len(), sightline_ui::ASSETS.len(), "{refs:?}");
    for r in &refs {
        let (path, v) = r.split_once("?v=").expect("versioned reference");
        let (st, h, body) = get(&format!("/{r}"), &[]).await;
        assert_eq!(st, StatusCode::OK, "{r}");
        let want = match path.rsplit('.').next().unwrap() {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            other => panic!("unexpected asset type {other}"),
        };
        assert_eq!(hdr(&h, header::CONTENT_TYPE), want, "{r}");
        assert_eq!(
            hdr(&h, header::CACHE_CONTROL),
            "public, max-age=31536000, immutable",
            "{r}"
        );
        assert_eq!(hdr(&h, header::ETAG), format!("\"{v}\""));
        assert_eq!(hdr(&h, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert!(!body.is_empty());
        // Without the current version it must be revalidated, and revalidation is cheap.
        let (st, h, _) = get(&format!("/{path}"), &[]).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(hdr(&h, header::CACHE_CONTROL), "no-cache");
        let etag = format!("\"{v}\"");
        let (st, _, body) = get(&format!("/{path}?v=old"), &[("if-none-match", &etag)]).await;
        assert_eq!(st, StatusCode::NOT_MODIFIED, "{r}");
        assert!(body.is_empty());
    }
    let (_, h, _) = get("/", &[]).await;
    let etag = hdr(&h, header::ETAG).to_string();
    let (st, _, _) = get("/", &[("if-none-match", &etag)]).await;
    assert_eq!(st, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn unknown_asset_is_404_and_head_works() {
    for p in [
        "/ui/nope.js",
        "/ui/",
        "/ui/../Cargo.toml",
        "/ui/app.js/x",
        "/ui/index.html",
    ] {
        let (st, h, _) = get(p, &[]).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{p}");
        if st == StatusCode::NOT_FOUND && p != "/ui/" {
            assert_eq!(
                hdr(&h, header::CONTENT_TYPE),
                "text/plain; charset=utf-8",
                "{p}"
            );
        }
    }
    let (st, h, body) = get_method(Method::HEAD, "/ui/app.js", &[]).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        hdr(&h, header::CONTENT_TYPE),
        "text/javascript; charset=utf-8"
    );
    assert!(body.is_empty());
}

#[test]
fn scripts_build_the_dom_without_html_parsing() {
    for (name, src) in sightline_ui::scripts() {
        for bad in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ] {
            assert!(!src.contains(bad), "{name} uses {bad}");
        }
        // All server URLs go through the relative `SL.API` table.
        assert!(
            !src.contains("fetch(\"/") && !src.contains("\"/api/") && !src.contains("\"/jaeger/"),
            "{name} uses an absolute URL"
        );
        let src = src.replace("\"http://www.w3.org/2000/svg\"", "");
        assert!(
            !src.contains("http://") && !src.contains("https://"),
            "{name} refers to another origin"
        );
    }
    let css = std::str::from_utf8(sightline_ui::asset("app.css").unwrap().body).unwrap();
    assert!(
        !css.contains("@import") && !css.contains("url(http"),
        "no external CSS"
    );
}

/// `node --check` on every script, when node is installed (nothing is installed for it).
#[test]
fn scripts_parse() {
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("node not installed; skipping the JavaScript syntax check");
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    for (name, _) in sightline_ui::scripts() {
        let out = std::process::Command::new("node")
            .arg("--check")
            .arg(dir.join(name))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
