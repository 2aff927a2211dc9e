//! OTLP metrics → TSDB samples with Prometheus' OTLP translation
//! (`prometheus/otlptranslator`, underscore escaping with suffixes):
//! metric names are sanitised, get their unit suffix (`_seconds`, `_bytes`,
//! `_ratio` …) and `_total` for monotonic sums; labels are sanitised; `job` and
//! `instance` come from `service.namespace`/`service.name` and
//! `service.instance.id`, and the remaining resource attributes go onto a
//! `target_info` series. Delta temporality is rejected with an explanation
//! (Prometheus does the same without its delta-to-cumulative feature).

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, metric::Data, number_data_point};
use sightline_model::{Exemplar, Labels, MetricMetadata, MetricType, stale_nan};
use sightline_traces::Value;
use sightline_tsdb::{Appendable, Appender};

use crate::convert::value_from_pb;

const DELTA: i32 = 1;
/// `DataPointFlags.NO_RECORDED_VALUE`: written as a staleness marker.
const NO_RECORDED_VALUE: u32 = 1;

#[derive(Default, Debug)]
pub struct MetricsOutcome {
    pub accepted: u64,
    pub rejected: u64,
    pub error: Option<String>,
}

/// Prometheus label name from an OTel attribute key: invalid characters → `_`,
/// a leading digit gets `key_`, runs of `_` are kept.
pub fn sanitize_label(k: &str) -> String {
    let mut s: String = k
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "key_");
    } else if s.starts_with('_') && !s.starts_with("__") {
        s.insert_str(0, "key");
    }
    s
}

/// Unit → Prometheus suffix (`ms` → `milliseconds`, `By/s` → `bytes_per_second`, `{req}` → none).
pub fn unit_suffix(unit: &str) -> String {
    fn one(u: &str) -> String {
        let m = match u {
            "d" => "days",
            "h" => "hours",
            "min" => "minutes",
            "s" => "seconds",
            "ms" => "milliseconds",
            "us" => "microseconds",
            "ns" => "nanoseconds",
            "By" => "bytes",
            "KiBy" => "kibibytes",
            "MiBy" => "mebibytes",
            "GiBy" => "gibibytes",
            "TiBy" => "tibibytes",
            "KBy" => "kilobytes",
            "MBy" => "megabytes",
            "GBy" => "gigabytes",
            "TBy" => "terabytes",
            "m" => "meters",
            "V" => "volts",
            "A" => "amperes",
            "J" => "joules",
            "W" => "watts",
            "g" => "grams",
            "Cel" => "celsius",
            "Hz" => "hertz",
            "%" => "percent",
            "1" => "",
            other => other,
        };
        m.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect::<String>()
            .trim_matches('_')
            .to_string()
    }
    // Annotations in braces carry no unit.
    let mut u = String::new();
    let mut depth = 0;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ if depth == 0 => u.push(c),
            _ => {}
        }
    }
    let u = u.trim();
    match u.split_once('/') {
        Some((a, b)) => {
            let (a, b) = (one(a), one(b));
            match (a.is_empty(), b.is_empty()) {
                (_, true) => a,
                (true, false) => format!("per_{b}"),
                (false, false) => format!("{a}_per_{b}"),
            }
        }
        None => one(u),
    }
}

/// Prometheus metric name for an OTel metric.
pub fn metric_name(name: &str, unit: &str, kind: MetricType, gauge_ratio: bool) -> String {
    let mut tokens: Vec<String> = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| t.to_string())
        .collect();
    let mut suffix = unit_suffix(unit);
    if suffix.is_empty() && gauge_ratio && unit.trim() == "1" {
        suffix = "ratio".into();
    }
    // Like the translator: the unit is added unless the name already carries it.
    let unit_tokens: Vec<String> = suffix
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| p.to_string())
        .collect();
    let present = tokens.ends_with(&unit_tokens)
        || (unit_tokens.len() == 1 && tokens.contains(&unit_tokens[0]));
    if !unit_tokens.is_empty() && !present {
        tokens.extend(unit_tokens);
    }
    if kind == MetricType::Counter {
        if tokens.last().is_some_and(|t| t == "total") {
            tokens.pop();
        }
        tokens.push("total".into());
    }
    let mut n = tokens.join("_");
    if n.starts_with(|c: char| c.is_ascii_digit()) {
        n.insert(0, '_');
    }
    n
}

fn text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        v => v.to_text(),
    }
}

fn attr_pairs(kvs: &[KeyValue]) -> Vec<(String, String)> {
    kvs.iter()
        .map(|kv| {
            (
                sanitize_label(&kv.key),
                kv.value
                    .as_ref()
                    .map(|v| text(&value_from_pb(v)))
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// Writes every data point; returns counts of accepted and rejected points.
pub fn write(
    db: &dyn Appendable,
    rms: &[ResourceMetrics],
) -> sightline_tsdb::Result<MetricsOutcome> {
    let mut out = MetricsOutcome::default();
    let mut app = db.appender();
    for rm in rms {
        let res_attrs = rm
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or(&[]);
        let get = |k: &str| {
            res_attrs
                .iter()
                .find(|kv| kv.key == k)
                .and_then(|kv| kv.value.as_ref())
                .map(|v| text(&value_from_pb(v)))
        };
        let job = match (get("service.namespace"), get("service.name")) {
            (Some(ns), Some(n)) if !ns.is_empty() => format!("{ns}/{n}"),
            (_, Some(n)) => n,
            _ => String::new(),
        };
        let instance = get("service.instance.id").unwrap_or_default();
        let base: Vec<(String, String)> = [
            ("job".to_string(), job.clone()),
            ("instance".to_string(), instance.clone()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        let mut latest_ms = 0i64;
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let Some(data) = &m.data else { continue };
                let mut reject = |n: u64, why: String| {
                    out.rejected += n;
                    out.error.get_or_insert(why);
                };
                match data {
                    Data::Gauge(g) => {
                        let name = metric_name(&m.name, &m.unit, MetricType::Gauge, true);
                        meta(app.as_mut(), &name, MetricType::Gauge, m);
                        for p in &g.data_points {
                            latest_ms = latest_ms.max((p.time_unix_nano / 1_000_000) as i64);
                            out.accepted += number(app.as_mut(), &name, &base, p, false) as u64;
                        }
                    }
                    Data::Sum(s) => {
                        if s.aggregation_temporality == DELTA {
                            reject(
                                s.data_points.len() as u64,
                                format!(
                                    "metric {:?}: delta temporality is not supported; export cumulative sums (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=cumulative)",
                                    m.name
                                ),
                            );
                            continue;
                        }
                        let kind = if s.is_monotonic {
                            MetricType::Counter
                        } else {
                            MetricType::Gauge
                        };
                        let name = metric_name(&m.name, &m.unit, kind, false);
                        meta(app.as_mut(), &name, kind, m);
                        for p in &s.data_points {
                            latest_ms = latest_ms.max((p.time_unix_nano / 1_000_000) as i64);
                            out.accepted += number(app.as_mut(), &name, &base, p, true) as u64;
                        }
                    }
                    Data::Histogram(h) => {
                        if h.aggregation_temporality == DELTA {
                            reject(
                                h.data_points.len() as u64,
                                format!(
                                    "metric {:?}: delta temporality is not supported; export cumulative histograms (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=cumulative)",
                                    m.name
                                ),
                            );
                            continue;
                        }
                        let name = metric_name(&m.name, &m.unit, MetricType::Histogram, false);
                        meta(app.as_mut(), &name, MetricType::Histogram, m);
                        for p in &h.data_points {
                            if !p.bucket_counts.is_empty()
                                && p.bucket_counts.len() != p.explicit_bounds.len() + 1
                            {
                                reject(
                                    1,
                                    format!(
                                        "metric {:?}: bucket_counts must have explicit_bounds + 1 entries",
                                        m.name
                                    ),
                                );
                                continue;
                            }
                            let t = (p.time_unix_nano / 1_000_000) as i64;
                            let st = start_ms(p.start_time_unix_nano);
                            latest_ms = latest_ms.max(t);
                            let labels = |suffix: &str, extra: Option<(&str, String)>| {
                                let mut pairs = base.clone();
                                pairs.extend(attr_pairs(&p.attributes));
                                pairs.push(("__name__".into(), format!("{name}{suffix}")));
                                if let Some((k, v)) = extra {
                                    pairs.push((k.into(), v));
                                }
                                Labels::from_pairs(pairs)
                            };
                            let stale = p.flags & NO_RECORDED_VALUE != 0;
                            let val = |v: f64| if stale { stale_nan() } else { v };
                            let mut cum = 0u64;
                            for (i, c) in p.bucket_counts.iter().enumerate() {
                                cum += c;
                                let le = p
                                    .explicit_bounds
                                    .get(i)
                                    .map(|b| format!("{b}"))
                                    .unwrap_or_else(|| "+Inf".into());
                                let upper =
                                    p.explicit_bounds.get(i).copied().unwrap_or(f64::INFINITY);
                                let lower = if i == 0 {
                                    f64::NEG_INFINITY
                                } else {
                                    p.explicit_bounds[i - 1]
                                };
                                if let Ok(r) = app.append_st(
                                    &labels("_bucket", Some(("le", le))),
                                    t,
                                    st,
                                    val(cum as f64),
                                ) {
                                    for e in &p.exemplars {
                                        let v = exemplar_value(e);
                                        if v > lower && v <= upper {
                                            let _ = app.append_exemplar(r, &exemplar(e, v));
                                        }
                                    }
                                }
                            }
                            if let Some(s) = p.sum {
                                let _ = app.append_st(&labels("_sum", None), t, st, val(s));
                            }
                            let _ =
                                app.append_st(&labels("_count", None), t, st, val(p.count as f64));
                            out.accepted += 1;
                        }
                    }
                    Data::Summary(s) => {
                        let name = metric_name(&m.name, &m.unit, MetricType::Summary, false);
                        meta(app.as_mut(), &name, MetricType::Summary, m);
                        for p in &s.data_points {
                            let t = (p.time_unix_nano / 1_000_000) as i64;
                            latest_ms = latest_ms.max(t);
                            let labels = |suffix: &str, extra: Option<(&str, String)>| {
                                let mut pairs = base.clone();
                                pairs.extend(attr_pairs(&p.attributes));
                                pairs.push(("__name__".into(), format!("{name}{suffix}")));
                                if let Some((k, v)) = extra {
                                    pairs.push((k.into(), v));
                                }
                                Labels::from_pairs(pairs)
                            };
                            for q in &p.quantile_values {
                                let _ = app.append(
                                    &labels("", Some(("quantile", format!("{}", q.quantile)))),
                                    t,
                                    q.value,
                                );
                            }
                            let _ = app.append(&labels("_sum", None), t, p.sum);
                            let _ = app.append(&labels("_count", None), t, p.count as f64);
                            out.accepted += 1;
                        }
                    }
                    Data::ExponentialHistogram(h) => reject(
                        h.data_points.len() as u64,
                        format!(
                            "metric {:?}: exponential histograms are not supported yet; use explicit-bucket histograms",
                            m.name
                        ),
                    ),
                }
            }
        }
        // target_info carries the resource attributes that are not job/instance.
        let other: Vec<(String, String)> = res_attrs
            .iter()
            .filter(|kv| {
                !matches!(
                    kv.key.as_str(),
                    "service.name" | "service.namespace" | "service.instance.id"
                )
            })
            .map(|kv| {
                (
                    sanitize_label(&kv.key),
                    kv.value
                        .as_ref()
                        .map(|v| text(&value_from_pb(v)))
                        .unwrap_or_default(),
                )
            })
            .collect();
        if !other.is_empty() && latest_ms > 0 {
            let mut pairs = base.clone();
            pairs.extend(other);
            pairs.push(("__name__".into(), "target_info".into()));
            let _ = app.append(&Labels::from_pairs(pairs), latest_ms, 1.0);
        }
    }
    app.commit()?;
    Ok(out)
}

fn meta(
    app: &mut dyn Appender,
    name: &str,
    kind: MetricType,
    m: &opentelemetry_proto::tonic::metrics::v1::Metric,
) {
    let family = match kind {
        MetricType::Counter => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    };
    app.update_metadata(
        family,
        &MetricMetadata {
            kind,
            help: m.description.clone(),
            unit: unit_suffix(&m.unit),
        },
    );
}

fn exemplar_value(e: &opentelemetry_proto::tonic::metrics::v1::Exemplar) -> f64 {
    use opentelemetry_proto::tonic::metrics::v1::exemplar::Value as V;
    match e.value {
        Some(V::AsDouble(d)) => d,
        Some(V::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

fn exemplar(e: &opentelemetry_proto::tonic::metrics::v1::Exemplar, v: f64) -> Exemplar {
    let mut pairs = attr_pairs(&e.filtered_attributes);
    if e.trace_id.len() == 16 {
        pairs.push(("trace_id".into(), sightline_traces::span::hex(&e.trace_id)));
    }
    if e.span_id.len() == 8 {
        pairs.push(("span_id".into(), sightline_traces::span::hex(&e.span_id)));
    }
    Exemplar {
        labels: Labels::from_pairs(pairs),
        t: (e.time_unix_nano / 1_000_000) as i64,
        v,
    }
}

/// A data point's `start_time_unix_nano` as a start timestamp in ms (0 = unset).
fn start_ms(ns: u64) -> i64 {
    (ns / 1_000_000) as i64
}

/// Appends one number point, with its start time as the sample's start
/// timestamp when `with_st` (sums); returns whether the sample was stored.
fn number(
    app: &mut dyn Appender,
    name: &str,
    base: &[(String, String)],
    p: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint,
    with_st: bool,
) -> bool {
    let v = if p.flags & NO_RECORDED_VALUE != 0 {
        stale_nan()
    } else {
        match p.value {
            Some(number_data_point::Value::AsDouble(d)) => d,
            Some(number_data_point::Value::AsInt(i)) => i as f64,
            None => return false,
        }
    };
    let mut pairs = base.to_vec();
    pairs.extend(attr_pairs(&p.attributes));
    pairs.push(("__name__".into(), name.to_string()));
    let t = (p.time_unix_nano / 1_000_000) as i64;
    let st = if with_st {
        start_ms(p.start_time_unix_nano)
    } else {
        0
    };
    match app.append_st(&Labels::from_pairs(pairs), t, st, v) {
        Ok(r) => {
            for e in &p.exemplars {
                let _ = app.append_exemplar(r, &exemplar(e, exemplar_value(e)));
            }
            true
        }
        Err(_) => false,
    }
}
