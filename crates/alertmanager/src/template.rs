//! Notification templates: Go `text/template` (via `gotmpl`) with
//! Alertmanager's data model and functions, and Sightline's built-in
//! templates (`templates/*.tmpl`), which provide every template name
//! Alertmanager's do.
//!
//! gotmpl has no method calls, but Alertmanager templates call methods on
//! their data (`.Alerts.Firing`, `.CommonLabels.SortedPairs.Values`,
//! `.CommonLabels.Remove .GroupLabels.Names`). Before parsing, template
//! source is rewritten so each such method becomes a registered function
//! (`(__am_firing .Alerts)`), which keeps user templates working unchanged.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::{FuncMap, Template, Value};

use crate::labels::{LabelSet, fingerprint, fp_string};
use crate::time::Ts;

/// Sightline's built-in templates, in parse order: every `define` of
/// Alertmanager's `default.tmpl` (0.25 and later) and `email.tmpl`, under
/// the same names and rendering the same text, plus Sightline's own HTML
/// email body. Sources live in the crate's `templates/` folder.
pub const BUILTIN_TEMPLATES: &[(&str, &str)] = &[
    ("default.tmpl", include_str!("../templates/default.tmpl")),
    ("email.tmpl", include_str!("../templates/email.tmpl")),
];

const METHODS: &[(&str, &str)] = &[
    ("Firing", "__am_firing"),
    ("Resolved", "__am_resolved"),
    ("SortedPairs", "__am_sortedpairs"),
    ("Names", "__am_names"),
    ("Values", "__am_values"),
    ("Remove", "__am_remove"),
];

/// The loaded templates: built-ins overridden by the user's `templates:` files.
#[derive(Clone)]
pub struct Templates {
    base: Template,
    /// The same sources as an auto-escaping `html/template` (email bodies).
    html_base: gotmpl::html::Template,
    pub external_url: String,
}

/// One alert as templates see it.
#[derive(Clone, Debug)]
pub struct TmplAlert {
    pub status: &'static str,
    pub labels: Arc<LabelSet>,
    pub annotations: Arc<LabelSet>,
    pub starts_at: Ts,
    pub ends_at: Ts,
    pub generator_url: Arc<str>,
}

/// `template.Data`.
#[derive(Clone, Debug)]
pub struct Data {
    pub receiver: String,
    pub status: &'static str,
    pub alerts: Vec<TmplAlert>,
    pub group_labels: LabelSet,
    pub common_labels: LabelSet,
    pub common_annotations: LabelSet,
    pub external_url: String,
}

impl Templates {
    /// Built-in templates plus the files matching `patterns` (globs, relative to `base_dir`).
    pub fn new(
        patterns: &[String],
        base_dir: &std::path::Path,
        external_url: &str,
    ) -> Result<Templates, String> {
        let mut sources: Vec<(String, String)> = BUILTIN_TEMPLATES
            .iter()
            .map(|(n, s)| (format!("built-in {n}"), s.to_string()))
            .collect();
        for p in patterns {
            let full = if std::path::Path::new(p).is_absolute() {
                p.clone()
            } else {
                base_dir.join(p).display().to_string()
            };
            let paths =
                glob::glob(&full).map_err(|e| format!("invalid template glob {p:?}: {e}"))?;
            for path in paths.flatten() {
                let src = std::fs::read_to_string(&path)
                    .map_err(|e| format!("reading template {}: {e}", path.display()))?;
                sources.push((format!("template {}", path.display()), src));
            }
        }
        Templates::from_sources(&sources, external_url)
    }

    /// Templates parsed from exactly `sources` (`(name for errors, text)`),
    /// in order, without the built-ins: a later non-empty `define` replaces
    /// an earlier one of the same name.
    pub fn from_sources(
        sources: &[(String, String)],
        external_url: &str,
    ) -> Result<Templates, String> {
        let mut t = Template::new("").funcs(funcs());
        let mut h = gotmpl::html::Template::new("").funcs(funcs());
        for (name, src) in sources {
            let src = rewrite_methods(src);
            t = t.parse(&src).map_err(|e| format!("{name}: {e}"))?;
            h = h.parse(&src).map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(Templates {
            base: t,
            html_base: h,
            external_url: external_url.trim_end_matches('/').to_string(),
        })
    }

    /// Renders with HTML auto-escaping (`ExecuteHTMLString`), as email bodies are.
    pub fn render_html(&self, text: &str, data: &Value) -> Result<String, String> {
        if text.is_empty() {
            return Ok(String::new());
        }
        let t = self
            .html_base
            .clone()
            .parse(&rewrite_methods(text))
            .map_err(|e| e.to_string())?;
        t.execute_to_string(data).map_err(|e| e.to_string())
    }

    /// Renders a templated config string (`ExecuteTextString`).
    pub fn render(&self, text: &str, data: &Value) -> Result<String, String> {
        if text.is_empty() {
            return Ok(String::new());
        }
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        let t = self
            .base
            .clone()
            .parse(&rewrite_methods(text))
            .map_err(|e| e.to_string())?;
        t.execute_to_string(data).map_err(|e| e.to_string())
    }

    /// Builds `template.Data` for a notification.
    pub fn data(&self, receiver: &str, group_labels: &LabelSet, alerts: &[TmplAlert]) -> Data {
        let firing = alerts.iter().any(|a| a.status == "firing");
        let (mut common_labels, mut common_annotations) = match alerts.first() {
            Some(a) => ((*a.labels).clone(), (*a.annotations).clone()),
            None => Default::default(),
        };
        for a in alerts.iter().skip(1) {
            common_labels.retain(|k, v| a.labels.get(k) == Some(v));
            common_annotations.retain(|k, v| a.annotations.get(k) == Some(v));
        }
        Data {
            receiver: quote_meta(receiver),
            status: if firing { "firing" } else { "resolved" },
            alerts: alerts.to_vec(),
            group_labels: group_labels.clone(),
            common_labels,
            common_annotations,
            external_url: self.external_url.clone(),
        }
    }
}

impl Data {
    /// The value templates execute against.
    pub fn to_value(&self) -> Value {
        let mut m = BTreeMap::new();
        m.insert(k("Receiver"), s(&self.receiver));
        m.insert(k("Status"), s(self.status));
        m.insert(
            k("Alerts"),
            Value::List(
                self.alerts
                    .iter()
                    .map(alert_value)
                    .collect::<Vec<_>>()
                    .into(),
            ),
        );
        m.insert(k("GroupLabels"), kv(&self.group_labels));
        m.insert(k("CommonLabels"), kv(&self.common_labels));
        m.insert(k("CommonAnnotations"), kv(&self.common_annotations));
        m.insert(k("ExternalURL"), s(&self.external_url));
        Value::Map(Arc::new(m))
    }
}

/// Go's `regexp.QuoteMeta` (escapes `\.+*?()|[]{}^$` only).
pub fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn k(x: &str) -> Arc<str> {
    Arc::from(x)
}
fn s(x: &str) -> Value {
    Value::String(Arc::from(x))
}
fn kv(l: &LabelSet) -> Value {
    Value::Map(Arc::new(l.iter().map(|(a, b)| (k(a), s(b))).collect()))
}

/// Go's `time.Time.String()` for a UTC time.
pub fn go_time_string(t: Ts) -> String {
    let (y, mo, d, h, mi, sec, ns, _) = t.civil();
    let frac = if ns == 0 {
        String::new()
    } else {
        format!(".{}", format!("{ns:09}").trim_end_matches('0'))
    };
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{sec:02}{frac} +0000 UTC")
}

fn alert_value(a: &TmplAlert) -> Value {
    let mut m = BTreeMap::new();
    m.insert(k("Status"), s(a.status));
    m.insert(k("Labels"), kv(&a.labels));
    m.insert(k("Annotations"), kv(&a.annotations));
    m.insert(k("StartsAt"), s(&go_time_string(a.starts_at)));
    m.insert(k("EndsAt"), s(&go_time_string(a.ends_at)));
    m.insert(k("GeneratorURL"), s(&a.generator_url));
    m.insert(k("Fingerprint"), s(&fp_string(fingerprint(&a.labels))));
    Value::Map(Arc::new(m))
}

fn str_arg(args: &[Value], i: usize) -> String {
    match args.get(i) {
        Some(Value::String(x)) => x.to_string(),
        Some(Value::Nil) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

fn list_of_strings(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect(),
        Value::Nil => Vec::new(),
        other => vec![other.to_string()],
    }
}

/// `KV.SortedPairs`: `alertname` first, the rest by name.
fn sorted_pairs(v: &Value) -> Value {
    let Value::Map(m) = v else {
        return Value::List(Vec::new().into());
    };
    let mut keys: Vec<&Arc<str>> = m.keys().collect();
    keys.sort_by_key(|x| (x.as_ref() != "alertname", x.to_string()));
    let pairs: Vec<Value> = keys
        .into_iter()
        .map(|key| {
            let mut p = BTreeMap::new();
            p.insert(k("Name"), Value::String(key.clone()));
            p.insert(k("Value"), m[key].clone());
            Value::Map(Arc::new(p))
        })
        .collect();
    Value::List(pairs.into())
}

fn pair_field(v: &Value, field: &str) -> Value {
    let pairs = match v {
        Value::Map(_) => sorted_pairs(v),
        other => other.clone(),
    };
    match pairs {
        Value::List(l) => Value::List(
            l.iter()
                .map(|p| p.field(field).cloned().unwrap_or(Value::Nil))
                .collect::<Vec<_>>()
                .into(),
        ),
        _ => Value::List(Vec::new().into()),
    }
}

fn filter_status(v: &Value, status: &str) -> Value {
    match v {
        Value::List(l) => Value::List(
            l.iter()
                .filter(|a| a.field("Status").and_then(Value::as_str) == Some(status))
                .cloned()
                .collect::<Vec<_>>()
                .into(),
        ),
        _ => Value::List(Vec::new().into()),
    }
}

fn title_case(x: &str) -> String {
    // Go's strings.Title: upper-case the first letter of each word.
    let mut out = String::with_capacity(x.len());
    let mut prev_letter = false;
    for c in x.chars() {
        if !prev_letter && c.is_alphanumeric() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '\'' || c == '_';
    }
    out
}

fn go_regex(re: &str) -> Result<regex::Regex, gotmpl::TemplateError> {
    regex::Regex::new(re).map_err(|e| gotmpl::TemplateError::Exec(e.to_string()))
}

/// Alertmanager's template functions (0.25 set plus a few later additions).
fn funcs() -> FuncMap {
    let mut f: FuncMap = BTreeMap::new();
    let mut add = |name: &str, func: gotmpl::ValueFunc| {
        f.insert(name.to_string(), func);
    };
    add(
        "toUpper",
        Arc::new(|a| Ok(s(&str_arg(a, 0).to_uppercase()))),
    );
    add(
        "toLower",
        Arc::new(|a| Ok(s(&str_arg(a, 0).to_lowercase()))),
    );
    add("title", Arc::new(|a| Ok(s(&title_case(&str_arg(a, 0))))));
    add("trimSpace", Arc::new(|a| Ok(s(str_arg(a, 0).trim()))));
    add(
        "join",
        Arc::new(|a| {
            Ok(s(
                &list_of_strings(a.get(1).unwrap_or(&Value::Nil)).join(&str_arg(a, 0))
            ))
        }),
    );
    add(
        "match",
        Arc::new(|a| {
            Ok(Value::Bool(
                go_regex(&str_arg(a, 0))?.is_match(&str_arg(a, 1)),
            ))
        }),
    );
    add(
        "reReplaceAll",
        Arc::new(|a| {
            let re = go_regex(&str_arg(a, 0))?;
            Ok(s(&re.replace_all(&str_arg(a, 2), str_arg(a, 1).as_str())))
        }),
    );
    // Go's template.HTML: trusted markup, not escaped in email bodies.
    add(
        "safeHtml",
        Arc::new(|a| {
            Ok(Value::Safe {
                kind: gotmpl::SafeKind::Html,
                s: Arc::from(str_arg(a, 0)),
            })
        }),
    );
    add(
        "stringSlice",
        Arc::new(|a| {
            Ok(Value::List(
                a.iter()
                    .map(|v| s(v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .into(),
            ))
        }),
    );
    add(
        "__am_firing",
        Arc::new(|a| Ok(filter_status(a.first().unwrap_or(&Value::Nil), "firing"))),
    );
    add(
        "__am_resolved",
        Arc::new(|a| Ok(filter_status(a.first().unwrap_or(&Value::Nil), "resolved"))),
    );
    add(
        "__am_sortedpairs",
        Arc::new(|a| Ok(sorted_pairs(a.first().unwrap_or(&Value::Nil)))),
    );
    add(
        "__am_names",
        Arc::new(|a| Ok(pair_field(a.first().unwrap_or(&Value::Nil), "Name"))),
    );
    add(
        "__am_values",
        Arc::new(|a| Ok(pair_field(a.first().unwrap_or(&Value::Nil), "Value"))),
    );
    add(
        "__am_remove",
        Arc::new(|a| {
            let drop = list_of_strings(a.get(1).unwrap_or(&Value::Nil));
            match a.first() {
                Some(Value::Map(m)) => Ok(Value::Map(Arc::new(
                    m.iter()
                        .filter(|(key, _)| !drop.iter().any(|d| d.as_str() == key.as_ref()))
                        .map(|(a, b)| (a.clone(), b.clone()))
                        .collect(),
                ))),
                _ => Ok(Value::Map(Arc::new(BTreeMap::new()))),
            }
        }),
    );
    f
}

/// Rewrites method calls inside `{{ }}` actions into function calls.
pub fn rewrite_methods(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 64);
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        // Comments pass through untouched.
        let trimmed = after.trim_start_matches('-').trim_start();
        if trimmed.starts_with("/*") {
            let end = after.find("*/").map(|i| i + 2).unwrap_or(after.len());
            let close = after[end..]
                .find("}}")
                .map(|i| end + i + 2)
                .unwrap_or(after.len());
            out.push_str("{{");
            out.push_str(&after[..close]);
            rest = &after[close..];
            continue;
        }
        let close = find_action_end(after);
        out.push_str("{{");
        out.push_str(&rewrite_action(&after[..close]));
        rest = &after[close..];
    }
    out.push_str(rest);
    out
}

/// Position of the closing `}}` of an action, skipping string literals.
fn find_action_end(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return i,
            _ => {}
        }
        i += 1;
    }
    b.len()
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn rewrite_action(a: &str) -> String {
    let b = a.as_bytes();
    let mut out = String::with_capacity(a.len() + 32);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'`' {
            let start = i;
            i += 1;
            while i < b.len() && b[i] != c {
                if c == b'"' && b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(b.len());
            out.push_str(&a[start..i]);
            continue;
        }
        let term_start = i == 0
            || matches!(
                b[i - 1],
                b' ' | b'\t' | b'\n' | b'\r' | b'(' | b'|' | b'=' | b',' | b'-'
            );
        if term_start && (c == b'.' || c == b'$') {
            let start = i;
            let base_end = if c == b'$' {
                i += 1;
                while i < b.len() && is_ident(b[i]) {
                    i += 1;
                }
                i
            } else {
                start
            };
            let mut segs = Vec::new();
            while i < b.len()
                && b[i] == b'.'
                && i + 1 < b.len()
                && (b[i + 1].is_ascii_alphabetic() || b[i + 1] == b'_')
            {
                let s0 = i + 1;
                i += 1;
                while i < b.len() && is_ident(b[i]) {
                    i += 1;
                }
                segs.push(&a[s0..i]);
            }
            if segs.is_empty() {
                // A bare `.` or `$x`.
                if c == b'.' && i == start {
                    i += 1;
                }
                out.push_str(&a[start..i]);
                continue;
            }
            let base = &a[start..base_end];
            let mut acc = base.to_string();
            let n = segs.len();
            for (j, seg) in segs.iter().enumerate() {
                match METHODS.iter().find(|(m, _)| m == seg) {
                    Some((m, f)) => {
                        let inner = if acc.is_empty() {
                            ".".to_string()
                        } else {
                            acc.clone()
                        };
                        acc = if *m == "Remove" && j + 1 == n {
                            format!("{f} {inner}")
                        } else {
                            format!("({f} {inner})")
                        };
                    }
                    None => {
                        acc.push('.');
                        acc.push_str(seg);
                    }
                }
            }
            out.push_str(&acc);
            continue;
        }
        out.push(c as char);
        i += 1;
        // Keep multi-byte characters intact.
        while i < b.len() && (b[i] & 0xC0) == 0x80 {
            out.pop();
            let s0 = i - 1;
            while i < b.len() && (b[i] & 0xC0) == 0x80 {
                i += 1;
            }
            out.push_str(&a[s0..i]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::ls;

    #[test]
    fn quote_meta_like_go() {
        assert_eq!(quote_meta("team-a.b(c)"), r"team-a\.b\(c\)");
    }

    #[test]
    fn rewrites_methods() {
        assert_eq!(
            rewrite_methods("{{ .Alerts.Firing | len }}"),
            "{{ (__am_firing .Alerts) | len }}"
        );
        assert_eq!(
            rewrite_methods("{{ .GroupLabels.SortedPairs.Values | join \" \" }}"),
            "{{ (__am_values (__am_sortedpairs .GroupLabels)) | join \" \" }}"
        );
        assert_eq!(
            rewrite_methods(
                "{{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values }}{{ end }}"
            ),
            "{{ with __am_remove .CommonLabels (__am_names .GroupLabels) }}{{ (__am_values .) }}{{ end }}"
        );
        assert_eq!(
            rewrite_methods(
                "a {{/* .Alerts.Firing */}} {{ \".Firing\" }} {{ $x.Labels.SortedPairs }}"
            ),
            "a {{/* .Alerts.Firing */}} {{ \".Firing\" }} {{ (__am_sortedpairs $x.Labels) }}"
        );
    }

    fn sample(t: &Templates) -> Value {
        let alerts = vec![
            TmplAlert {
                status: "firing",
                labels: ls([
                    ("alertname", "HighLatency"),
                    ("service", "api"),
                    ("env", "prod"),
                    ("instance", "a"),
                ])
                .into(),
                annotations: ls([("summary", "slow")]).into(),
                starts_at: Ts::from_secs(1_700_000_000),
                ends_at: Ts::ZERO,
                generator_url: "http://g".into(),
            },
            TmplAlert {
                status: "firing",
                labels: ls([
                    ("alertname", "HighLatency"),
                    ("service", "api"),
                    ("env", "prod"),
                    ("instance", "b"),
                ])
                .into(),
                annotations: ls([("summary", "slow")]).into(),
                starts_at: Ts::from_secs(1_700_000_000),
                ends_at: Ts::ZERO,
                generator_url: "http://g".into(),
            },
        ];
        t.data(
            "team.a",
            &ls([("alertname", "HighLatency"), ("service", "api")]),
            &alerts,
        )
        .to_value()
    }

    #[test]
    fn default_subject_and_links() {
        let t = Templates::new(&[], std::path::Path::new("."), "http://am.example:9093/").unwrap();
        let d = sample(&t);
        assert_eq!(
            t.render("{{ template \"__subject\" . }}", &d).unwrap(),
            "[FIRING:2] HighLatency api (prod)"
        );
        assert_eq!(
            t.render("{{ template \"slack.default.titlelink\" . }}", &d)
                .unwrap(),
            "http://am.example:9093/#/alerts?receiver=team%5C.a"
        );
        let list = t
            .render(
                "{{ template \"pagerduty.default.instances\" .Alerts.Firing }}",
                &d,
            )
            .unwrap();
        assert!(
            list.starts_with(
                "Labels:\n - alertname = HighLatency\n - env = prod\n - instance = a\n"
            ),
            "{list}"
        );
        assert!(
            list.contains("Annotations:\n - summary = slow\nSource: http://g\n"),
            "{list}"
        );
        let html = t
            .render_html("{{ template \"email.default.html\" . }}", &d)
            .unwrap();
        assert!(html.contains("HighLatency") && html.contains("<table"));
        // Label values are escaped in HTML bodies unless marked safe.
        let mut alerts = vec![];
        let mut l = crate::labels::LabelSet::new();
        l.insert("x".into(), "<b>&".into());
        alerts.push(TmplAlert {
            status: "firing",
            labels: l.into(),
            annotations: Default::default(),
            starts_at: Ts::ZERO,
            ends_at: Ts::ZERO,
            generator_url: "".into(),
        });
        let d = t.data("r", &Default::default(), &alerts).to_value();
        assert_eq!(
            t.render_html("{{ .CommonLabels.x }}", &d).unwrap(),
            "&lt;b&gt;&amp;"
        );
        assert_eq!(
            t.render_html("{{ .CommonLabels.x | safeHtml }}", &d)
                .unwrap(),
            "<b>&"
        );
        assert_eq!(t.render("{{ .CommonLabels.x }}", &d).unwrap(), "<b>&");
    }

    #[test]
    fn user_templates_override_and_errors_surface() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("x.tmpl"),
            "{{ define \"__subject\" }}custom {{ .Status }}{{ end }}",
        )
        .unwrap();
        let t = Templates::new(&["*.tmpl".into()], dir.path(), "http://x").unwrap();
        let d = sample(&t);
        assert_eq!(
            t.render("{{ template \"slack.default.title\" . }}", &d)
                .unwrap(),
            "custom firing"
        );
        assert!(t.render("{{ template \"nope\" . }}", &d).is_err());
        assert_eq!(
            t.render("{{ .CommonLabels.env | toUpper }}", &d).unwrap(),
            "PROD"
        );
    }
}
