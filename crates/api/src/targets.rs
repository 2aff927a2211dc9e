//! Prometheus's scrape-side API: `/api/v1/targets`, `/api/v1/targets/metadata`,
//! `/api/v1/metadata` and `/api/v1/scrape_pools`, answered from the scrape
//! manager (metadata comes from what targets last exposed, as in Prometheus).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sightline_model::{MatchOp, Matcher};

use crate::ApiState;

type Params = Query<HashMap<String, String>>;

fn success(data: Value) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

fn bad_data(msg: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"status": "error", "errorType": "bad_data", "error": msg})),
    )
        .into_response()
}

/// `GET /api/v1/targets?state=active|dropped|any&scrapePool=…`
pub async fn targets(State(state): State<Arc<ApiState>>, Query(p): Params) -> Response {
    let Some(m) = &state.scrapes else {
        return success(
            json!({"activeTargets": [], "droppedTargets": [], "droppedTargetCounts": {}}),
        );
    };
    let which = p.get("state").map(|s| s.to_lowercase()).unwrap_or_default();
    let (show_active, show_dropped) = match which.as_str() {
        "" | "any" => (true, true),
        "active" => (true, false),
        "dropped" => (false, true),
        // Prometheus ignores other values and shows both.
        _ => (true, true),
    };
    let pool = p.get("scrapePool").filter(|s| !s.is_empty());
    let in_pool = |job: &str| pool.is_none_or(|p| p == job);
    let host = hostname();
    let active: Vec<Value> = if show_active {
        m.targets()
            .into_iter()
            .filter(|t| in_pool(&t.job))
            .map(|t| {
                let h = &t.health;
                json!({
                    "discoveredLabels": t.target.discovered,
                    "labels": t.target.labels,
                    "scrapePool": t.job,
                    "scrapeUrl": t.target.url,
                    "globalUrl": global_url(&t.target.url, &host),
                    "lastError": h.last_error,
                    "lastScrape": rfc3339(h.last_scrape_ms),
                    "lastScrapeDuration": h.last_duration.as_secs_f64(),
                    "health": h.health.as_str(),
                    "scrapeInterval": t.scrape_interval,
                    "scrapeTimeout": t.scrape_timeout,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let dropped: Vec<Value> = if show_dropped {
        m.dropped()
            .into_iter()
            .filter(|d| in_pool(&d.job))
            .map(|d| json!({"discoveredLabels": d.discovered, "scrapePool": d.job}))
            .collect()
    } else {
        Vec::new()
    };
    let counts: BTreeMap<String, usize> = m
        .dropped_counts()
        .into_iter()
        .filter(|(j, _)| in_pool(j))
        .collect();
    success(
        json!({"activeTargets": active, "droppedTargets": dropped, "droppedTargetCounts": counts}),
    )
}

/// `GET /api/v1/targets/metadata?match_target=…&metric=…&limit=…`
pub async fn targets_metadata(State(state): State<Arc<ApiState>>, Query(p): Params) -> Response {
    let limit = match parse_limit(p.get("limit")) {
        Ok(l) => l,
        Err(e) => return bad_data(e),
    };
    let matchers = match p.get("match_target").filter(|s| !s.is_empty()) {
        Some(s) => match parse_selector(s) {
            Ok(m) => m,
            Err(e) => return bad_data(e),
        },
        None => Vec::new(),
    };
    let metric = p.get("metric").filter(|s| !s.is_empty());
    let mut out: Vec<Value> = Vec::new();
    let all = state
        .scrapes
        .as_ref()
        .map(|m| m.target_metadata())
        .unwrap_or_default();
    'targets: for t in all {
        if !matchers.iter().all(|m| m.matches_labels(&t.target)) {
            continue;
        }
        let mut names: Vec<&String> = t
            .metadata
            .keys()
            .filter(|n| metric.is_none_or(|m| m == *n))
            .collect();
        names.sort();
        for name in names {
            if limit.is_some_and(|l| out.len() >= l) {
                break 'targets;
            }
            let md = &t.metadata[name];
            let mut row = json!({"target": t.target, "type": md.kind.as_str(), "help": md.help, "unit": md.unit});
            if metric.is_none() {
                row["metric"] = json!(name);
            }
            out.push(row);
        }
    }
    success(Value::Array(out))
}

/// `GET /api/v1/metadata?metric=…&limit=…&limit_per_metric=…`
pub async fn metadata(State(state): State<Arc<ApiState>>, Query(p): Params) -> Response {
    let (limit, per_metric) = match (
        parse_limit(p.get("limit")),
        parse_limit(p.get("limit_per_metric")),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return bad_data(e),
    };
    let metric = p.get("metric").filter(|s| !s.is_empty());
    let mut by_metric: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for t in state
        .scrapes
        .as_ref()
        .map(|m| m.target_metadata())
        .unwrap_or_default()
    {
        for (name, md) in &t.metadata {
            if metric.is_some_and(|m| m != name) {
                continue;
            }
            let row = json!({"type": md.kind.as_str(), "help": md.help, "unit": md.unit});
            let rows = by_metric.entry(name.clone()).or_default();
            // The same metadata from many targets is listed once.
            if !rows.contains(&row) {
                rows.push(row);
            }
        }
    }
    let mut out = serde_json::Map::new();
    for (name, mut rows) in by_metric {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        if let Some(n) = per_metric {
            rows.truncate(n);
        }
        out.insert(name, Value::Array(rows));
    }
    success(Value::Object(out))
}

/// `GET /api/v1/scrape_pools`
pub async fn scrape_pools(State(state): State<Arc<ApiState>>) -> Response {
    let pools = state
        .scrapes
        .as_ref()
        .map(|m| m.scrape_pools())
        .unwrap_or_default();
    success(json!({"scrapePools": pools}))
}

/// Prometheus: a missing, empty or non-positive limit means no limit.
fn parse_limit(v: Option<&String>) -> Result<Option<usize>, String> {
    match v.map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n <= 0 => Ok(None),
            Ok(n) => Ok(Some(n as usize)),
            Err(_) => Err(format!("limit must be a number: {s:?}")),
        },
    }
}

/// A label selector `{a="b", c=~"d.*"}` (the `match_target` syntax).
pub fn parse_selector(s: &str) -> Result<Vec<Matcher>, String> {
    let inner = s
        .trim()
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(|| format!("invalid selector {s:?}"))?;
    let mut out = Vec::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or_else(|| format!("invalid selector {s:?}"))?;
        let name = &rest[..name_end];
        let after = rest[name_end..].trim_start();
        let (op, after) = [
            ("=~", MatchOp::Regex),
            ("!~", MatchOp::NotRegex),
            ("!=", MatchOp::NotEqual),
            ("=", MatchOp::Equal),
        ]
        .iter()
        .find_map(|(t, op)| after.strip_prefix(t).map(|a| (*op, a.trim_start())))
        .ok_or_else(|| format!("invalid selector {s:?}"))?;
        let (value, after) = quoted(after).ok_or_else(|| format!("invalid selector {s:?}"))?;
        if name.is_empty() {
            return Err(format!("invalid selector {s:?}"));
        }
        out.push(Matcher::new(op, name, value).map_err(|e| e.to_string())?);
        rest = after.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(out)
}

/// A double- or single-quoted string with backslash escapes; returns it and the rest.
fn quoted(s: &str) -> Option<(String, &str)> {
    let q = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let mut out = String::new();
    let mut chars = s[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c if c == q => return Some((out, &s[1 + i + 1..])),
            c => out.push(c),
        }
    }
    None
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Prometheus's `globalUrl`: a loopback host is replaced by this machine's name.
fn global_url(url: &str, host: &str) -> String {
    for lo in ["localhost", "127.0.0.1", "[::1]"] {
        for scheme in ["http://", "https://"] {
            let prefix = format!("{scheme}{lo}");
            if let Some(rest) = url.strip_prefix(&prefix)
                && (rest.is_empty() || rest.starts_with(':') || rest.starts_with('/'))
            {
                return format!("{scheme}{host}{rest}");
            }
        }
    }
    url.to_string()
}

/// Go's `time.RFC3339Nano` in UTC; 0 is Go's zero time, as for a never-scraped target.
pub fn rfc3339(ms: i64) -> String {
    if ms == 0 {
        return "0001-01-01T00:00:00Z".to_string();
    }
    let milli = ms.rem_euclid(1000);
    let (y, m, d, h, mi, s) = sightline_model::civil::utc_from_unix(ms.div_euclid(1000));
    let frac = if milli == 0 {
        String::new()
    } else {
        format!(".{milli:03}").trim_end_matches('0').to_string()
    };
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_model::Labels;

    #[test]
    fn rfc3339_matches_go() {
        assert_eq!(rfc3339(0), "0001-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_484_665_664_723), "2017-01-17T15:07:44.723Z");
        assert_eq!(rfc3339(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400_500), "2000-02-29T00:00:00.5Z");
    }

    #[test]
    fn selectors_and_global_urls() {
        let m = parse_selector(r#"{job="node", instance=~"h.*"}"#).unwrap();
        assert_eq!(m.len(), 2);
        let l = Labels::from_pairs([("job", "node"), ("instance", "host:1")]);
        assert!(m.iter().all(|m| m.matches_labels(&l)));
        assert!(parse_selector("job=\"x\"").is_err());
        assert_eq!(
            global_url("http://localhost:9100/metrics", "box"),
            "http://box:9100/metrics"
        );
        assert_eq!(
            global_url("http://localhostx:1/m", "box"),
            "http://localhostx:1/m"
        );
        assert_eq!(parse_limit(Some(&"-1".to_string())), Ok(None));
    }
}
