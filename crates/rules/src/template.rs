//! Alert templates: Go `text/template` (gotmpl) with Prometheus's data
//! (`$labels`, `$value`, `$externalLabels`, `$externalURL`) and functions
//! (`template/template.go`). An expansion error becomes the text, as in
//! Prometheus: `<error expanding template: …>`.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::{FuncMap, Template, TemplateError, Value};

use crate::humanize;

/// Runs a PromQL query at the template's evaluation time (the `query` function).
pub type QueryFn = Arc<dyn Fn(&str, i64) -> Result<Vec<QuerySample>, String> + Send + Sync>;

/// One element of a `query` result as templates see it (`.Labels`, `.Value`).
#[derive(Debug, Clone)]
pub struct QuerySample {
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Everything an expansion needs besides the text.
#[derive(Clone)]
pub struct Expander {
    pub external_labels: Vec<(String, String)>,
    pub external_url: String,
    pub query: Option<QueryFn>,
}

/// The variables Prometheus defines before every alert template.
const DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

fn s(x: &str) -> Value {
    Value::String(Arc::from(x))
}

fn kv<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Map(Arc::new(pairs.map(|(k, v)| (Arc::from(k), s(v))).collect()))
}

fn err(msg: impl Into<String>) -> TemplateError {
    TemplateError::Exec(msg.into())
}

impl Expander {
    /// Expands `text` for an alert with `labels` and `value` at `ts_ms`; a
    /// failure is returned as Prometheus renders it into the alert.
    pub fn expand(
        &self,
        name: &str,
        text: &str,
        labels: &[(String, String)],
        value: f64,
        ts_ms: i64,
    ) -> String {
        // Plain text never needs the template engine (most label values).
        if !text.contains("{{") {
            return text.to_string();
        }
        match self.try_expand(name, text, labels, value, ts_ms) {
            Ok(s) => s,
            Err(e) => format!("<error expanding template: {e}>"),
        }
    }

    fn try_expand(
        &self,
        name: &str,
        text: &str,
        labels: &[(String, String)],
        value: f64,
        ts_ms: i64,
    ) -> Result<String, String> {
        let src = format!("{DEFS}{text}");
        let t = Template::new(name)
            .funcs(self.funcs(ts_ms))
            .parse(&src)
            .map_err(|e| format!("error parsing template {name}: {e}"))?;
        let mut data = BTreeMap::new();
        data.insert(
            Arc::from("Labels"),
            kv(labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        );
        data.insert(
            Arc::from("ExternalLabels"),
            kv(self
                .external_labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))),
        );
        data.insert(Arc::from("ExternalURL"), s(&self.external_url));
        data.insert(Arc::from("Value"), Value::Float(value));
        t.execute_to_string(&Value::Map(Arc::new(data)))
            .map_err(|e| format!("error executing template {name}: {e}"))
    }

    fn funcs(&self, ts_ms: i64) -> FuncMap {
        let mut f = base_funcs();
        let q = self.query.clone();
        f.insert(
            "query".into(),
            Arc::new(move |a: &[Value]| {
                let Some(q) = &q else {
                    return Err(err("query is not available here"));
                };
                let text = str_arg(a, 0)?;
                let res = q(&text, ts_ms).map_err(err)?;
                Ok(Value::List(res.iter().map(sample_value).collect()))
            }),
        );
        let url = self.external_url.clone();
        f.insert(
            "externalURL".into(),
            Arc::new(move |_: &[Value]| Ok(s(&url))),
        );
        let prefix = url_path(&self.external_url);
        f.insert(
            "pathPrefix".into(),
            Arc::new(move |_: &[Value]| Ok(s(&prefix))),
        );
        let now = ts_ms as f64 / 1000.0;
        f.insert(
            "now".into(),
            Arc::new(move |_: &[Value]| Ok(Value::Float(now))),
        );
        f
    }
}

/// Checks that a rule template is valid as `promtool check rules` does:
/// undefined variables or functions are errors; failures that depend on
/// data (an empty `query` result, …) are not.
pub fn check(name: &str, text: &str) -> Result<(), String> {
    if !text.contains("{{") {
        return Ok(());
    }
    let e = Expander {
        external_labels: Vec::new(),
        external_url: String::new(),
        query: Some(Arc::new(|_: &str, _| Ok(Vec::new()))),
    };
    match e.try_expand(name, text, &[], 0.0, 0) {
        Err(msg) if msg.starts_with("error parsing") || msg.contains("undefined") => Err(msg),
        _ => Ok(()),
    }
}

fn sample_value(x: &QuerySample) -> Value {
    let mut m = BTreeMap::new();
    m.insert(
        Arc::from("Labels"),
        kv(x.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
    );
    m.insert(Arc::from("Value"), Value::Float(x.value));
    Value::Map(Arc::new(m))
}

/// The path of the external URL (`pathPrefix`), without a trailing slash.
fn url_path(u: &str) -> String {
    let rest = u.split_once("://").map(|(_, r)| r).unwrap_or(u);
    match rest.find('/') {
        Some(i) => rest[i..].trim_end_matches('/').to_string(),
        None => String::new(),
    }
}

fn str_arg(a: &[Value], i: usize) -> Result<String, TemplateError> {
    match a.get(i) {
        Some(Value::String(x)) => Ok(x.to_string()),
        Some(Value::Nil) | None => Ok(String::new()),
        Some(other) => Ok(other.to_string()),
    }
}

/// Prometheus's `convertToFloat`: numbers as they are, strings parsed.
fn float_arg(a: &[Value], i: usize) -> Result<f64, TemplateError> {
    match a.get(i) {
        Some(Value::Float(f)) => Ok(*f),
        Some(Value::Int(n)) => Ok(*n as f64),
        Some(Value::Uint(n)) => Ok(*n as f64),
        Some(Value::String(x)) => parse_go_float(x)
            .ok_or_else(|| err(format!("strconv.ParseFloat: parsing {x:?}: invalid syntax"))),
        Some(other) => Err(err(format!("can't convert {other} to float"))),
        None => Err(err("wrong number of args")),
    }
}

fn parse_go_float(x: &str) -> Option<f64> {
    match x {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => x.parse().ok(),
    }
}

/// `strings.Title`-like: upper-cases the first letter of each word, leaves the rest.
fn title(x: &str) -> String {
    let mut out = String::with_capacity(x.len());
    let mut at_start = true;
    for c in x.chars() {
        if at_start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_start = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(x: &str) -> String {
    let mut out = String::with_capacity(x.len());
    for b in x.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `strutil.TableLinkForExpression` / `GraphLinkForExpression`.
pub fn table_link(expr: &str) -> String {
    format!("/graph?g0.expr={}&g0.tab=1", query_escape(expr))
}

pub fn graph_link(expr: &str) -> String {
    format!("/graph?g0.expr={}&g0.tab=0", query_escape(expr))
}

fn go_regex(re: &str) -> Result<regex::Regex, TemplateError> {
    regex::Regex::new(re).map_err(|e| err(format!("error parsing regexp: {e}")))
}

fn sample_field<'a>(v: &'a Value, f: &str) -> Option<&'a Value> {
    v.field(f)
}

type F = fn(&[Value]) -> Result<Value, TemplateError>;

fn base_funcs() -> FuncMap {
    let mut m: FuncMap = BTreeMap::new();
    let fs: &[(&str, F)] = &[
        ("humanize", |a| Ok(s(&humanize::humanize(float_arg(a, 0)?)))),
        ("humanize1024", |a| {
            Ok(s(&humanize::humanize1024(float_arg(a, 0)?)))
        }),
        ("humanizeDuration", |a| {
            Ok(s(&humanize::humanize_duration(float_arg(a, 0)?)))
        }),
        ("humanizePercentage", |a| {
            Ok(s(&humanize::humanize_percentage(float_arg(a, 0)?)))
        }),
        ("humanizeTimestamp", |a| {
            Ok(s(&humanize::humanize_timestamp(float_arg(a, 0)?)))
        }),
        ("toTime", |a| {
            Ok(s(&humanize::humanize_timestamp(float_arg(a, 0)?)))
        }),
        ("title", |a| Ok(s(&title(&str_arg(a, 0)?)))),
        ("toUpper", |a| Ok(s(&str_arg(a, 0)?.to_uppercase()))),
        ("toLower", |a| Ok(s(&str_arg(a, 0)?.to_lowercase()))),
        ("safeHtml", |a| Ok(s(&str_arg(a, 0)?))),
        ("stripPort", |a| {
            let h = str_arg(a, 0)?;
            Ok(s(match h.rsplit_once(':') {
                Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']'),
                None => &h,
            }))
        }),
        ("match", |a| {
            Ok(Value::Bool(
                go_regex(&str_arg(a, 0)?)?.is_match(&str_arg(a, 1)?),
            ))
        }),
        ("reReplaceAll", |a| {
            let re = go_regex(&str_arg(a, 0)?)?;
            Ok(s(&re.replace_all(&str_arg(a, 2)?, str_arg(a, 1)?.as_str())))
        }),
        ("tableLink", |a| Ok(s(&table_link(&str_arg(a, 0)?)))),
        ("graphLink", |a| Ok(s(&graph_link(&str_arg(a, 0)?)))),
        ("args", |a| {
            let m: BTreeMap<Arc<str>, Value> = a
                .iter()
                .enumerate()
                .map(|(i, v)| (Arc::from(format!("arg{i}").as_str()), v.clone()))
                .collect();
            Ok(Value::Map(Arc::new(m)))
        }),
        ("first", |a| match a.first() {
            Some(Value::List(l)) => l
                .first()
                .cloned()
                .ok_or_else(|| err("first() called on vector with no elements")),
            _ => Err(err("first() called on vector with no elements")),
        }),
        ("label", |a| {
            let name = str_arg(a, 0)?;
            Ok(a.get(1)
                .and_then(|x| sample_field(x, "Labels"))
                .and_then(|l| l.field(&name))
                .cloned()
                .unwrap_or_else(|| s("")))
        }),
        ("value", |a| {
            Ok(a.first()
                .and_then(|x| sample_field(x, "Value"))
                .cloned()
                .unwrap_or(Value::Float(0.0)))
        }),
        ("strvalue", |a| {
            Ok(a.first()
                .and_then(|x| sample_field(x, "Labels"))
                .and_then(|l| l.field("__value__"))
                .cloned()
                .unwrap_or_else(|| s("")))
        }),
        ("sortByLabel", |a| {
            let name = str_arg(a, 0)?;
            let Some(Value::List(l)) = a.get(1) else {
                return Ok(Value::List(Vec::new().into()));
            };
            let mut v: Vec<Value> = l.to_vec();
            let key = |x: &Value| -> String {
                x.field("Labels")
                    .and_then(|l| l.field(&name))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            v.sort_by_key(key);
            Ok(Value::List(v.into()))
        }),
        ("parseDuration", |a| {
            let d = sightline_config::parse_duration(&str_arg(a, 0)?).map_err(err)?;
            Ok(Value::Float(d.as_millis() as f64 / 1000.0))
        }),
    ];
    for (name, f) in fs {
        let f = *f;
        m.insert(name.to_string(), Arc::new(f));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex() -> Expander {
        Expander {
            external_labels: vec![("dc".into(), "eu".into())],
            external_url: "http://prom.example:9090/sub/".into(),
            query: Some(Arc::new(|q: &str, _t| {
                if q == "up" {
                    Ok(vec![QuerySample {
                        labels: vec![("instance".into(), "a:1".into())],
                        value: 1.0,
                    }])
                } else {
                    Err(format!("bad query {q}"))
                }
            })),
        }
    }

    fn l(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn labels_value_and_functions() {
        let e = ex();
        let labels = l(&[("service", "checkout")]);
        let x = |t: &str| e.expand("__alert_X", t, &labels, 0.0723, 0);
        assert_eq!(
            x("Error rate above 5% on {{ $labels.service }}"),
            "Error rate above 5% on checkout"
        );
        assert_eq!(x("{{ $value | humanizePercentage }}"), "7.23%");
        assert_eq!(x("{{ printf \"%.2f\" $value }}"), "0.07");
        assert_eq!(
            x("{{ $externalLabels.dc }} {{ $externalURL }}"),
            "eu http://prom.example:9090/sub/"
        );
        assert_eq!(x("{{ pathPrefix }}"), "/sub");
        assert_eq!(
            x(
                "{{ with query \"up\" }}{{ . | first | label \"instance\" }}={{ . | first | value }}{{ end }}"
            ),
            "a:1=1"
        );
        assert_eq!(
            x("{{ \"abc\" | toUpper }} {{ title \"hello world\" }}"),
            "ABC Hello World"
        );
        assert_eq!(
            x("{{ reReplaceAll \"(a+)\" \"<$1>\" \"baaad\" }}"),
            "b<aaa>d"
        );
        assert_eq!(
            x("{{ if match \"^check\" $labels.service }}yes{{ end }}"),
            "yes"
        );
        assert_eq!(
            x("{{ tableLink \"up == 0\" }}"),
            "/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
        );
        assert_eq!(x("{{ (args 1 \"x\").arg1 }}"), "x");
        assert_eq!(
            x("{{ range $k, $v := $labels }}{{$k}}={{$v}};{{ end }}"),
            "service=checkout;"
        );
        assert_eq!(x("no template"), "no template");
    }

    #[test]
    fn errors_show_in_text() {
        let e = ex();
        let out = e.expand("__alert_X", "{{ query \"nope\" }}", &[], 1.0, 0);
        assert!(
            out.starts_with("<error expanding template: error executing template __alert_X:"),
            "{out}"
        );
        assert!(out.contains("bad query nope"), "{out}");
        let out = e.expand("__alert_X", "{{ nosuchfn }}", &[], 1.0, 0);
        // gotmpl resolves functions at execution, Go at parse time: both end up in the text.
        assert!(
            out.starts_with("<error expanding template: error "),
            "{out}"
        );
        assert!(out.contains("nosuchfn"), "{out}");
    }
}
