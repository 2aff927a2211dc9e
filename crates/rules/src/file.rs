//! Rule files in Prometheus's format (`rulefmt`): parsing with positions and
//! validation. Every error names `file:line: field: problem`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_saphyr::Spanned;
use sightline_config::Duration;
use sightline_promql::parser::Expr;

/// A rule-file problem, located: `file:line: field: problem` (the field path
/// is like `groups[0].rules[1].expr`, empty when the whole file is at fault).
pub type RuleFileError = sightline_config::ConfigError;

// ---- raw YAML shape (unknown fields are errors, as with Go's KnownFields) ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Vec<Spanned<RawGroup>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    name: Option<Spanned<String>>,
    #[serde(default)]
    interval: Option<Spanned<Duration>>,
    #[serde(default)]
    query_offset: Option<Spanned<Duration>>,
    #[serde(default)]
    limit: Option<Spanned<i64>>,
    #[serde(default)]
    labels: Option<Spanned<BTreeMap<String, String>>>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: Option<Spanned<String>>,
    #[serde(default)]
    alert: Option<Spanned<String>>,
    #[serde(default)]
    expr: Option<Spanned<String>>,
    #[serde(default, rename = "for")]
    for_: Option<Spanned<Duration>>,
    #[serde(default)]
    keep_firing_for: Option<Spanned<Duration>>,
    #[serde(default)]
    labels: Option<Spanned<BTreeMap<String, String>>>,
    #[serde(default)]
    annotations: Option<Spanned<BTreeMap<String, String>>>,
}

// ---- validated model ----

/// What a rule does with its query result.
#[derive(Debug, Clone)]
pub enum RuleKind {
    Recording,
    Alerting {
        for_ms: i64,
        keep_firing_for_ms: i64,
        annotations: Vec<(String, String)>,
    },
}

/// One validated rule.
#[derive(Debug, Clone)]
pub struct RuleSpec {
    /// `record` or `alert` value.
    pub name: String,
    /// The expression as written (templates and the API's `query` print the parsed form).
    pub expr_text: String,
    pub expr: Arc<Expr>,
    /// Rule labels (group labels merged under them), sorted by name.
    pub labels: Vec<(String, String)>,
    pub kind: RuleKind,
    pub line: u64,
}

impl RuleSpec {
    pub fn is_alerting(&self) -> bool {
        matches!(self.kind, RuleKind::Alerting { .. })
    }
}

/// One validated group.
#[derive(Debug, Clone)]
pub struct GroupSpec {
    pub name: String,
    pub file: String,
    /// `None`: the global evaluation interval.
    pub interval_ms: Option<i64>,
    /// `None`: the global rule query offset.
    pub query_offset_ms: Option<i64>,
    pub limit: usize,
    pub rules: Vec<RuleSpec>,
}

struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, line: u64, field: String, message: impl Into<String>) -> RuleFileError {
        RuleFileError {
            file: self.file.to_string(),
            line: (line > 0).then_some(line),
            field,
            message: message.into(),
        }
    }
}

fn line_of<T>(s: &Spanned<T>) -> u64 {
    s.referenced.line()
}

/// Reads and validates one rule file.
pub fn load_file(path: &Path) -> Result<Vec<GroupSpec>, RuleFileError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| RuleFileError {
        file: name.clone(),
        line: None,
        field: String::new(),
        message: format!("reading file: {e}"),
    })?;
    parse_str(&text, &name)
}

/// Whether a document holds nothing but comments and blanks (Go yields no groups).
fn is_blank(yaml: &str) -> bool {
    yaml.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

/// Parses and validates rule-file text; `file` names it in errors and in groups.
pub fn parse_str(yaml: &str, file: &str) -> Result<Vec<GroupSpec>, RuleFileError> {
    let ctx = Ctx { file };
    if is_blank(yaml) {
        return Ok(Vec::new());
    }
    let raw: RawFile = serde_saphyr::from_str(yaml).map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(0);
        let msg = e.without_snippet().to_string();
        // The parser appends its own "at line N column M"; we print the line ourselves.
        let msg = strip_location(&msg);
        ctx.err(line, String::new(), msg)
    })?;
    let mut seen = HashSet::new();
    let mut groups = Vec::new();
    for (gi, g) in raw.groups.iter().enumerate() {
        let gpath = format!("groups[{gi}]");
        let gline = line_of(g);
        let g = &g.value;
        let name = g.name.as_ref().map(|n| n.value.clone()).unwrap_or_default();
        if name.is_empty() {
            return Err(ctx.err(
                gline,
                format!("{gpath}.name"),
                "Groupname must not be empty",
            ));
        }
        if !seen.insert(name.clone()) {
            let l = g.name.as_ref().map(line_of).unwrap_or(gline);
            return Err(ctx.err(
                l,
                format!("{gpath}.name"),
                format!("groupname: \"{name}\" is repeated in the same file"),
            ));
        }
        let limit = match &g.limit {
            Some(l) if l.value < 0 => {
                return Err(ctx.err(line_of(l), format!("{gpath}.limit"), "must not be negative"));
            }
            Some(l) => l.value as usize,
            None => 0,
        };
        let group_labels = match &g.labels {
            Some(l) => check_labels(&ctx, l, &format!("{gpath}.labels"))?,
            None => Vec::new(),
        };
        let mut rules = Vec::new();
        for (ri, r) in g.rules.iter().enumerate() {
            let rpath = format!("{gpath}.rules[{ri}]");
            rules.push(check_rule(&ctx, r, &rpath, &group_labels)?);
        }
        groups.push(GroupSpec {
            name,
            file: file.to_string(),
            interval_ms: g
                .interval
                .as_ref()
                .map(|d| d.value.as_millis() as i64)
                .filter(|d| *d > 0),
            query_offset_ms: g.query_offset.as_ref().map(|d| d.value.as_millis() as i64),
            limit,
            rules,
        });
    }
    Ok(groups)
}

fn strip_location(msg: &str) -> String {
    let re = regex::Regex::new(r"(?i)\s*,?\s*\(?\s*at line \d+,? column \d+\)?\s*$")
        .expect("static regex");
    re.replace(msg.trim(), "").into_owned()
}

fn check_labels(
    ctx: &Ctx,
    l: &Spanned<BTreeMap<String, String>>,
    path: &str,
) -> Result<Vec<(String, String)>, RuleFileError> {
    for k in l.value.keys() {
        // UTF-8 names are valid (Prometheus 3's default scheme); `__name__` is not a rule label.
        if k.is_empty() || k == "__name__" {
            return Err(ctx.err(
                line_of(l),
                format!("{path}.{k}"),
                format!("invalid label name: {k}"),
            ));
        }
    }
    Ok(l.value
        .iter()
        .map(|(a, b)| (a.clone(), b.clone()))
        .collect())
}

fn check_rule(
    ctx: &Ctx,
    r: &Spanned<RawRule>,
    path: &str,
    group_labels: &[(String, String)],
) -> Result<RuleSpec, RuleFileError> {
    let line = line_of(r);
    let r = &r.value;
    let (name, alerting) = match (&r.record, &r.alert) {
        (Some(_), Some(a)) => {
            return Err(ctx.err(
                line_of(a),
                path.to_string(),
                "only one of 'record' and 'alert' must be set",
            ));
        }
        (None, None) => {
            return Err(ctx.err(
                line,
                path.to_string(),
                "one of 'record' or 'alert' must be set",
            ));
        }
        (Some(rec), None) => (rec, false),
        (None, Some(a)) => (a, true),
    };
    let field = if alerting { "alert" } else { "record" };
    if name.value.is_empty() {
        return Err(ctx.err(
            line_of(name),
            format!("{path}.{field}"),
            format!("field '{field}' must be set in rule"),
        ));
    }
    let Some(expr) = r.expr.as_ref().filter(|e| !e.value.trim().is_empty()) else {
        let l = r.expr.as_ref().map(line_of).unwrap_or(line);
        return Err(ctx.err(
            l,
            format!("{path}.expr"),
            "field 'expr' must be set in rule",
        ));
    };
    let parsed = sightline_promql::parse(&expr.value).map_err(|e| {
        ctx.err(
            line_of(expr),
            format!("{path}.expr"),
            format!("could not parse expression: {e}"),
        )
    })?;
    if !alerting {
        if name.value.contains('{') || name.value.contains('}') {
            return Err(ctx.err(
                line_of(name),
                format!("{path}.record"),
                format!(
                    "braces present in the recording rule name; should it be in expr?: {}",
                    name.value
                ),
            ));
        }
        for (present, f) in [
            (r.annotations.is_some(), "annotations"),
            (r.for_.is_some(), "for"),
            (r.keep_firing_for.is_some(), "keep_firing_for"),
        ] {
            if present {
                return Err(ctx.err(
                    line,
                    format!("{path}.{f}"),
                    format!("invalid field '{f}' in recording rule"),
                ));
            }
        }
    }
    let mut labels: BTreeMap<String, String> = group_labels.iter().cloned().collect();
    if let Some(l) = &r.labels {
        labels.extend(check_labels(ctx, l, &format!("{path}.labels"))?);
    }
    let kind = if alerting {
        let annotations = match &r.annotations {
            Some(a) => {
                for k in a.value.keys() {
                    if k.is_empty() {
                        return Err(ctx.err(
                            line_of(a),
                            format!("{path}.annotations"),
                            "invalid annotation name: ",
                        ));
                    }
                }
                for (k, v) in &a.value {
                    crate::template::check(&format!("__alert_{}", name.value), v)
                        .map_err(|e| ctx.err(line_of(a), format!("{path}.annotations.{k}"), e))?;
                }
                a.value
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }
            None => Vec::new(),
        };
        for (k, v) in &labels {
            crate::template::check(&format!("__alert_{}", name.value), v)
                .map_err(|e| ctx.err(line, format!("{path}.labels.{k}"), e))?;
        }
        RuleKind::Alerting {
            for_ms: r
                .for_
                .as_ref()
                .map(|d| d.value.as_millis() as i64)
                .unwrap_or(0),
            keep_firing_for_ms: r
                .keep_firing_for
                .as_ref()
                .map(|d| d.value.as_millis() as i64)
                .unwrap_or(0),
            annotations,
        }
    } else {
        RuleKind::Recording
    };
    Ok(RuleSpec {
        name: name.value.clone(),
        expr_text: expr.value.clone(),
        expr: Arc::new(parsed),
        labels: labels.into_iter().collect(),
        kind,
        line,
    })
}

/// Loads every file; the first error stops (as Prometheus refuses the whole reload).
pub fn load_files(files: &[impl AsRef<Path>]) -> Result<Vec<GroupSpec>, RuleFileError> {
    let mut out = Vec::new();
    for f in files {
        out.extend(load_file(f.as_ref())?);
    }
    Ok(out)
}
