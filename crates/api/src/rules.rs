//! `/api/v1/rules` and `/api/v1/alerts` over the rule manager, in
//! Prometheus's JSON shapes (`web/api/v1/api.go`).

use std::collections::{BTreeMap, HashSet};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use sightline_model::Labels;
use sightline_rules::notifier::rfc3339;
use sightline_rules::{Alert, AlertState, Group, Manager, Rule, RuleKind};

/// The routes, with the manager as their state (merged by the binary).
pub fn rules_router(manager: Manager) -> Router {
    Router::new()
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/alerts", get(alerts))
        .with_state(manager)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiAlert {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    active_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_firing_since: Option<String>,
    value: String,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ApiRule {
    Alerting(AlertingRule),
    Recording(RecordingRule),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertingRule {
    state: &'static str,
    name: String,
    query: String,
    duration: f64,
    keep_firing_for: f64,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alerts: Option<Vec<ApiAlert>>,
    health: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    last_error: String,
    evaluation_time: f64,
    last_evaluation: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordingRule {
    name: String,
    query: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    health: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    last_error: String,
    evaluation_time: f64,
    last_evaluation: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiGroup {
    name: String,
    file: String,
    rules: Vec<ApiRule>,
    interval: f64,
    limit: usize,
    evaluation_time: f64,
    last_evaluation: String,
}

/// Go's zero `time.Time` when never evaluated.
fn time_or_zero(ms: i64) -> String {
    if ms == 0 {
        "0001-01-01T00:00:00Z".into()
    } else {
        rfc3339(ms)
    }
}

/// `strconv.FormatFloat(v, 'e', -1, 64)`.
fn go_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = format!("{v:e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    let sign = if e < 0 { '-' } else { '+' };
    format!("{m}e{sign}{:02}", e.abs())
}

fn labels_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

fn pairs_map(p: &[(String, String)]) -> BTreeMap<String, String> {
    p.iter().cloned().collect()
}

fn api_alert(a: &Alert) -> ApiAlert {
    ApiAlert {
        labels: labels_map(&a.labels),
        annotations: pairs_map(&a.annotations),
        state: a.state.as_str(),
        active_at: Some(rfc3339(a.active_at)),
        keep_firing_since: (a.keep_firing_since != 0).then(|| rfc3339(a.keep_firing_since)),
        value: go_e(a.value),
    }
}

fn api_rule(r: &Rule, exclude_alerts: bool) -> ApiRule {
    let query = r.spec.expr.to_string();
    match &r.spec.kind {
        RuleKind::Alerting {
            for_ms,
            keep_firing_for_ms,
            annotations,
        } => ApiRule::Alerting(AlertingRule {
            state: r.alerts.state().as_str(),
            name: r.spec.name.clone(),
            query,
            duration: *for_ms as f64 / 1000.0,
            keep_firing_for: *keep_firing_for_ms as f64 / 1000.0,
            labels: pairs_map(&r.spec.labels),
            annotations: pairs_map(annotations),
            alerts: (!exclude_alerts).then(|| {
                r.alerts
                    .active_alerts()
                    .into_iter()
                    .map(api_alert)
                    .collect()
            }),
            health: r.health.as_str(),
            last_error: r.last_error.clone(),
            evaluation_time: r.eval_seconds,
            last_evaluation: time_or_zero(r.last_eval),
            kind: "alerting",
        }),
        RuleKind::Recording => ApiRule::Recording(RecordingRule {
            name: r.spec.name.clone(),
            query,
            labels: pairs_map(&r.spec.labels),
            health: r.health.as_str(),
            last_error: r.last_error.clone(),
            evaluation_time: r.eval_seconds,
            last_evaluation: time_or_zero(r.last_eval),
            kind: "recording",
        }),
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn success(data: impl Serialize) -> Response {
    #[derive(Serialize)]
    struct Env<T> {
        status: &'static str,
        data: T,
    }
    let body = serde_json::to_string(&Env {
        status: "success",
        data,
    })
    .unwrap_or_default();
    json_response(StatusCode::OK, body)
}

fn bad_data(msg: String) -> Response {
    let body = serde_json::json!({"status": "error", "errorType": "bad_data", "error": msg});
    json_response(StatusCode::BAD_REQUEST, body.to_string())
}

/// Query parameters, repeated keys kept.
fn params(q: Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn set(p: &[(String, String)], key: &str) -> HashSet<String> {
    p.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .collect()
}

/// Filters and renders groups as `/api/v1/rules` does.
fn render_groups(groups: &[Group], p: &[(String, String)]) -> Result<Vec<ApiGroup>, String> {
    let typ = p
        .iter()
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v.to_lowercase())
        .unwrap_or_default();
    let (want_alert, want_record) = match typ.as_str() {
        "" => (true, true),
        "alert" => (true, false),
        "record" => (false, true),
        other => return Err(format!("not supported value {other:?}")),
    };
    let exclude_alerts = match p.iter().find(|(k, _)| k == "exclude_alerts") {
        None => false,
        Some((_, v)) => match v.as_str() {
            "" | "false" | "0" => false,
            "true" | "1" => true,
            other => {
                return Err(format!(
                    "parsing exclude_alerts: {other:?} is not a boolean"
                ));
            }
        },
    };
    let names = set(p, "rule_name[]");
    let group_names = set(p, "rule_group[]");
    let files = set(p, "file[]");
    let rule_filter = !typ.is_empty() || !names.is_empty();
    let mut out = Vec::new();
    for g in groups {
        if !group_names.is_empty() && !group_names.contains(&g.name) {
            continue;
        }
        if !files.is_empty() && !files.contains(&g.file) {
            continue;
        }
        let rules: Vec<ApiRule> = g
            .rules
            .iter()
            .filter(|r| {
                let type_ok = if r.spec.is_alerting() {
                    want_alert
                } else {
                    want_record
                };
                type_ok && (names.is_empty() || names.contains(&r.spec.name))
            })
            .map(|r| api_rule(r, exclude_alerts))
            .collect();
        // Groups left without rules by a rule filter are omitted.
        if rule_filter && rules.is_empty() {
            continue;
        }
        out.push(ApiGroup {
            name: g.name.clone(),
            file: g.file.clone(),
            rules,
            interval: g.interval_ms as f64 / 1000.0,
            limit: g.limit,
            evaluation_time: g.eval_seconds,
            last_evaluation: time_or_zero(g.last_eval),
        });
    }
    Ok(out)
}

async fn rules(State(m): State<Manager>, RawQuery(q): RawQuery) -> Response {
    let p = params(q);
    match render_groups(&m.groups(), &p) {
        Ok(groups) => {
            #[derive(Serialize)]
            struct Data {
                groups: Vec<ApiGroup>,
            }
            success(Data { groups })
        }
        Err(e) => bad_data(e),
    }
}

async fn alerts(State(m): State<Manager>) -> Response {
    let mut list = Vec::new();
    for g in m.groups() {
        for r in &g.rules {
            for a in r.alerts.active_alerts() {
                if a.state != AlertState::Inactive {
                    list.push(api_alert(a));
                }
            }
        }
    }
    #[derive(Serialize)]
    struct Data {
        alerts: Vec<ApiAlert>,
    }
    success(Data { alerts: list })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_e_format() {
        assert_eq!(go_e(1.0), "1e+00");
        assert_eq!(go_e(0.5), "5e-01");
        assert_eq!(go_e(123.45), "1.2345e+02");
    }

    #[test]
    fn filters_and_shapes() {
        let specs = sightline_rules::parse_str(
            "groups:\n  - name: a\n    rules:\n      - record: r\n        expr: vector(1)\n      - alert: A\n        expr: vector(1) > 0\n        for: 5m\n        labels: {severity: page}\n  - name: b\n    rules:\n      - record: q\n        expr: vector(2)\n",
            "f.yml",
        )
        .unwrap();
        let groups: Vec<Group> = specs
            .into_iter()
            .map(|s| Group::new(s, 60_000, 0))
            .collect();
        let all = render_groups(&groups, &[]).unwrap();
        let v = serde_json::to_value(&all).unwrap();
        assert_eq!(v[0]["name"], "a");
        assert_eq!(v[0]["file"], "f.yml");
        assert_eq!(v[0]["interval"], 60.0);
        assert_eq!(v[0]["lastEvaluation"], "0001-01-01T00:00:00Z");
        let alert = &v[0]["rules"][1];
        assert_eq!(alert["type"], "alerting");
        assert_eq!(alert["state"], "inactive");
        assert_eq!(alert["duration"], 300.0);
        assert_eq!(alert["health"], "unknown");
        assert_eq!(alert["query"], "vector(1) > 0");
        assert_eq!(alert["labels"]["severity"], "page");
        assert!(alert["alerts"].as_array().unwrap().is_empty());
        assert!(alert.get("lastError").is_none());
        assert_eq!(v[0]["rules"][0]["type"], "recording");
        assert!(v[0]["rules"][0].get("labels").is_none());

        let p = |k: &str, val: &str| vec![(k.to_string(), val.to_string())];
        let alerts_only = render_groups(&groups, &p("type", "alert")).unwrap();
        assert_eq!(alerts_only.len(), 1);
        assert_eq!(alerts_only[0].rules.len(), 1);
        let by_name = render_groups(&groups, &p("rule_name[]", "q")).unwrap();
        assert_eq!(by_name.len(), 1);
        assert_eq!(by_name[0].name, "b");
        let by_group = render_groups(&groups, &p("rule_group[]", "b")).unwrap();
        assert_eq!(by_group.len(), 1);
        assert!(
            render_groups(&groups, &p("file[]", "other.yml"))
                .unwrap()
                .is_empty()
        );
        assert!(render_groups(&groups, &p("type", "nope")).is_err());
        let no_alerts = render_groups(&groups, &p("exclude_alerts", "true")).unwrap();
        let v = serde_json::to_value(&no_alerts).unwrap();
        assert!(v[0]["rules"][1].get("alerts").is_none());
    }
}
