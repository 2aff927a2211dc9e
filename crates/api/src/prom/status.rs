//! `/api/v1/status/*`: build info, running config, flags, runtime and TSDB stats.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sightline_model::Matcher;
use sightline_tsdb::{Queryable, SelectHints};

use super::response::{ApiError, success};
use crate::ApiState;

fn rfc3339(ms: i64) -> String {
    let (y, m, d, h, mi, s) = sightline_model::civil::utc_from_unix(ms.div_euclid(1000));
    format!(
        "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        ms.rem_euclid(1000)
    )
}

/// The Prometheus release whose query API and PromQL Sightline follows.
const PROMETHEUS_API_VERSION: &str = "3.0.0";

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}

pub async fn buildinfo() -> Response {
    // Clients such as Grafana enable features by the Prometheus version they
    // see; report the Prometheus API level Sightline implements and put
    // Sightline's own version in `revision`.
    success(&json!({
        "version": PROMETHEUS_API_VERSION,
        "revision": concat!("sightline-", env!("CARGO_PKG_VERSION")),
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
}

pub async fn config(State(st): State<Arc<ApiState>>) -> Response {
    let yaml = st.prom.config_yaml.read().clone();
    success(&json!({ "yaml": yaml }))
}

pub async fn flags(State(st): State<Arc<ApiState>>) -> Response {
    let flags: serde_json::Map<String, serde_json::Value> = st
        .prom
        .flags
        .read()
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    success(&serde_json::Value::Object(flags))
}

pub async fn runtimeinfo(State(st): State<Arc<ApiState>>) -> Response {
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let retention = st
        .prom
        .flags
        .read()
        .iter()
        .find(|(k, _)| k == "storage.tsdb.retention.time")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    success(&json!({
        "startTime": rfc3339(st.prom.start_time_ms),
        "CWD": cwd,
        "hostname": hostname(),
        "serverTime": rfc3339(super::params::now_ms()),
        "reloadConfigSuccess": st.prom.last_reload_ok.load(std::sync::atomic::Ordering::Relaxed),
        "lastConfigTime": rfc3339(st.prom.last_config_time_ms.load(std::sync::atomic::Ordering::Relaxed)),
        "corruptionCount": 0,
        "goroutineCount": 0,
        "GOMAXPROCS": threads,
        "GOMEMLIMIT": 0,
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": retention,
    }))
}

/// Head cardinality statistics, computed from the label index.
pub async fn tsdb(State(st): State<Arc<ApiState>>) -> Response {
    let res = tokio::task::spawn_blocking(move || {
        let (mint, maxt) = (st.db.min_time(), st.db.max_time());
        let q = st
            .db
            .querier(i64::MIN / 2, i64::MAX / 2)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let all = Matcher::new(sightline_model::MatchOp::Regex, "__name__", ".+").unwrap();
        let series = q
            .select(
                &[all],
                &SelectHints {
                    series_only: true,
                    limit: 0,
                },
            )
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let mut by_name: HashMap<String, u64> = HashMap::new();
        let mut values_by_label: HashMap<String, std::collections::HashSet<String>> =
            HashMap::new();
        let mut bytes_by_label: HashMap<String, u64> = HashMap::new();
        let mut by_pair: HashMap<String, u64> = HashMap::new();
        for s in &series {
            if let Some(n) = s.labels.get("__name__") {
                *by_name.entry(n.to_string()).or_default() += 1;
            }
            for l in s.labels.iter() {
                if values_by_label
                    .entry(l.name.clone())
                    .or_default()
                    .insert(l.value.clone())
                {
                    *bytes_by_label.entry(l.name.clone()).or_default() += l.value.len() as u64;
                }
                *by_pair
                    .entry(format!("{}={}", l.name, l.value))
                    .or_default() += 1;
            }
        }
        let top = |m: HashMap<String, u64>| -> Vec<serde_json::Value> {
            let mut v: Vec<(String, u64)> = m.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(10);
            v.into_iter()
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect()
        };
        let pairs: usize = values_by_label.values().map(|v| v.len()).sum();
        let value_counts: HashMap<String, u64> = values_by_label
            .into_iter()
            .map(|(k, v)| (k, v.len() as u64))
            .collect();
        Ok::<_, ApiError>(json!({
            "headStats": {
                "numSeries": st.db.head().num_series(),
                "numLabelPairs": pairs,
                "chunkCount": 0,
                "minTime": mint,
                "maxTime": maxt,
            },
            "seriesCountByMetricName": top(by_name),
            "labelValueCountByLabelName": top(value_counts),
            "memoryInBytesByLabelName": top(bytes_by_label),
            "seriesCountByLabelValuePair": top(by_pair),
        }))
    })
    .await;
    match res {
        Ok(Ok(v)) => success(&v),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

/// Persisted blocks, as `/api/v1/status/tsdb/blocks`.
pub async fn tsdb_blocks(State(st): State<Arc<ApiState>>) -> Response {
    let blocks: Vec<serde_json::Value> = st
        .db
        .blocks()
        .iter()
        .map(|b| {
            let m = &b.meta;
            json!({
                "ulid": m.ulid,
                "minTime": m.min_time,
                "maxTime": m.max_time,
                "stats": {
                    "numSamples": m.stats.num_samples,
                    "numSeries": m.stats.num_series,
                    "numChunks": m.stats.num_chunks,
                },
                "compaction": { "level": m.compaction.level, "sources": m.compaction.sources },
                "version": m.version,
            })
        })
        .collect();
    success(&json!({ "blocks": blocks }))
}

/// WAL replay progress; replay finishes before the API serves, so it is complete.
pub async fn walreplay(State(st): State<Arc<ApiState>>) -> Response {
    let last = st.db.open_report.wal.last_segment.unwrap_or(0);
    let first = st
        .db
        .open_report
        .wal
        .segment_max_t
        .keys()
        .next()
        .copied()
        .unwrap_or(last);
    success(&json!({ "min": first, "max": last, "current": last }))
}

/// Server notifications (none are raised yet).
pub async fn notifications() -> Response {
    success(&json!([]))
}

/// Optional API and PromQL features this server has, by category.
pub async fn features(State(st): State<Arc<ApiState>>) -> Response {
    success(&json!({
        "api": {
            "admin": st.prom.enable_admin_api,
            "exclude_alerts": false,
            "federation": true,
            "query_exemplars": true,
            "remote_write_receiver": true,
        },
        "promql": {
            "at_modifier": true,
            "negative_offset": true,
            "duration_expr": true,
            "anchored_smoothed": true,
            "fill_modifier": true,
            "delayed_name_removal": true,
            "experimental_functions": true,
            "native_histograms": false,
        },
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_rfc3339() {
        assert_eq!(
            super::rfc3339(1_435_781_451_781),
            "2015-07-01T20:10:51.781Z"
        );
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
