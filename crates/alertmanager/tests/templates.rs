//! Sightline's built-in notification templates (`templates/*.tmpl`) against
//! Alertmanager's own files: every define name upstream provides exists, and
//! every text define renders byte-identical output for the same data. The
//! HTML email body is Sightline's own; it is checked for escaping instead.
//!
//! Upstream's files are read at run time from `../shared` (the build never
//! depends on them).

use std::collections::BTreeSet;

use gotmpl::Value;
use sightline_alertmanager::labels::{LabelSet, ls};
use sightline_alertmanager::template::{BUILTIN_TEMPLATES, Templates, TmplAlert};
use sightline_alertmanager::time::Ts;

const UPSTREAM_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/alertmanager/templates/"
);

/// Parsed in the order Sightline used to embed them: the current
/// `default.tmpl`, then 0.25's (whose defines are identical where both
/// have them), then `email.tmpl`.
const UPSTREAM_FILES: &[&str] = &["default.tmpl", "default-v0.25.0.tmpl", "email.tmpl"];

/// Defines whose output is Sightline's own, not upstream's.
const OWN_OUTPUT: &[&str] = &["email.default.html"];

/// Defines whose dot is a list of alerts rather than the notification data.
const LIST_DEFINES: &[&str] = &[
    "__text_alert_list",
    "__text_alert_list_markdown",
    "pagerduty.default.instances",
];

/// Defines that upstream's templates call by name: a user template
/// overriding one must change Sightline's output exactly as upstream's.
const CALLED_BY_NAME: &[&str] = &[
    "__alertmanager",
    "__alertmanagerURL",
    "__subject",
    "__text_alert_list",
    "__text_alert_list_markdown",
    "slack.default.title",
    "slack.default.titlelink",
    "mattermost.default.title",
    "mattermost.default.titlelink",
];

fn upstream_sources() -> Vec<(String, String)> {
    UPSTREAM_FILES
        .iter()
        .map(|f| {
            let path = format!("{UPSTREAM_DIR}{f}");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading upstream template {path}: {e}"));
            (format!("upstream {f}"), text)
        })
        .collect()
}

fn sightline_sources() -> Vec<(String, String)> {
    BUILTIN_TEMPLATES
        .iter()
        .map(|(n, s)| (format!("built-in {n}"), s.to_string()))
        .collect()
}

fn define_names(sources: &[(String, String)]) -> BTreeSet<String> {
    let re = regex::Regex::new(r#"\{\{-?\s*define\s+"([^"]+)""#).unwrap();
    sources
        .iter()
        .flat_map(|(_, src)| re.captures_iter(src).map(|c| c[1].to_string()))
        .collect()
}

fn alert(
    status: &'static str,
    labels: LabelSet,
    annotations: LabelSet,
    generator_url: &str,
) -> TmplAlert {
    TmplAlert {
        status,
        labels: labels.into(),
        annotations: annotations.into(),
        starts_at: Ts::from_secs(1_700_000_000),
        ends_at: if status == "resolved" {
            Ts::from_secs(1_700_000_300)
        } else {
            Ts::ZERO
        },
        generator_url: generator_url.into(),
    }
}

/// One notification: receiver, group labels, alerts, external URL.
struct Case {
    name: &'static str,
    receiver: &'static str,
    group: LabelSet,
    alerts: Vec<TmplAlert>,
    external_url: &'static str,
}

fn cases() -> Vec<Case> {
    let url = "http://am.example:9093";
    let prom = "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1";
    vec![
        Case {
            name: "one firing alert with annotations",
            receiver: "team-a",
            group: ls([("alertname", "InstanceDown")]),
            alerts: vec![alert(
                "firing",
                ls([
                    ("alertname", "InstanceDown"),
                    ("instance", "db-1:9100"),
                    ("job", "node"),
                    ("severity", "critical"),
                ]),
                ls([
                    ("description", "db-1:9100 has been down for 5 minutes."),
                    ("summary", "Instance db-1:9100 down"),
                ]),
                prom,
            )],
            external_url: url,
        },
        Case {
            name: "several firing alerts, common labels and annotations",
            receiver: "team.a (pager)",
            group: ls([("alertname", "HighLatency"), ("service", "api")]),
            alerts: ["a", "b", "c"]
                .iter()
                .map(|i| {
                    alert(
                        "firing",
                        ls([
                            ("alertname", "HighLatency"),
                            ("service", "api"),
                            ("env", "prod"),
                            ("region", "eu"),
                            ("instance", i),
                            ("severity", if *i == "b" { "warning" } else { "info" }),
                        ]),
                        ls([("summary", "p99 above 1s"), ("runbook", "http://rb/x")]),
                        prom,
                    )
                })
                .collect(),
            external_url: "https://alerts.example.org/am/",
        },
        Case {
            name: "resolved only, no annotations",
            receiver: "ops",
            group: ls([("job", "node")]),
            alerts: vec![
                alert(
                    "resolved",
                    ls([("alertname", "DiskFull"), ("job", "node"), ("dev", "sda")]),
                    LabelSet::new(),
                    prom,
                ),
                alert(
                    "resolved",
                    ls([("alertname", "DiskFull"), ("job", "node"), ("dev", "sdb")]),
                    LabelSet::new(),
                    "",
                ),
            ],
            external_url: url,
        },
        Case {
            name: "mixed firing and resolved",
            receiver: "mixed",
            group: ls([("cluster", "c1")]),
            alerts: vec![
                alert(
                    "firing",
                    ls([
                        ("alertname", "A"),
                        ("cluster", "c1"),
                        ("severity", "warning"),
                    ]),
                    ls([("summary", "a fires")]),
                    prom,
                ),
                alert(
                    "resolved",
                    ls([
                        ("alertname", "B"),
                        ("cluster", "c1"),
                        ("severity", "critical"),
                    ]),
                    ls([("summary", "b was bad"), ("note", "multi\nline")]),
                    prom,
                ),
                alert(
                    "firing",
                    ls([("alertname", "C"), ("cluster", "c1")]),
                    LabelSet::new(),
                    "",
                ),
            ],
            external_url: url,
        },
        Case {
            name: "empty external URL, no group labels, odd characters",
            receiver: "r&d/[eu]?x=1 y",
            group: LabelSet::new(),
            alerts: vec![
                alert(
                    "firing",
                    ls([
                        ("instance", "<script>alert(1)</script>"),
                        ("path", "/a b?c=d&e=ü"),
                    ]),
                    ls([("summary", "\"quoted\" & <b>bold</b>")]),
                    "",
                ),
                alert(
                    "firing",
                    ls([("instance", "x"), ("path", "/a b?c=d&e=ü")]),
                    LabelSet::new(),
                    "",
                ),
            ],
            external_url: "",
        },
        Case {
            name: "resolved severities decide the Jira priority",
            receiver: "jira",
            group: ls([("alertname", "J")]),
            alerts: vec![
                alert(
                    "firing",
                    ls([("alertname", "J"), ("severity", "page")]),
                    LabelSet::new(),
                    prom,
                ),
                alert(
                    "resolved",
                    ls([("alertname", "J"), ("severity", "info")]),
                    LabelSet::new(),
                    prom,
                ),
                alert(
                    "resolved",
                    ls([("alertname", "J"), ("severity", "warning")]),
                    LabelSet::new(),
                    prom,
                ),
            ],
            external_url: url,
        },
        Case {
            name: "group label missing from the common labels",
            receiver: "r",
            group: ls([("alertname", "G"), ("zone", "z1")]),
            alerts: vec![
                alert(
                    "firing",
                    ls([("alertname", "G"), ("a", "1"), ("b", "2")]),
                    ls([("summary", "s")]),
                    prom,
                ),
                alert(
                    "firing",
                    ls([
                        ("alertname", "G"),
                        ("a", "1"),
                        ("b", "3"),
                        ("severity", "info"),
                    ]),
                    ls([("summary", "s")]),
                    prom,
                ),
            ],
            external_url: url,
        },
        Case {
            name: "no alerts",
            receiver: "empty",
            group: LabelSet::new(),
            alerts: Vec::new(),
            external_url: url,
        },
    ]
}

fn data(t: &Templates, c: &Case) -> Value {
    t.data(c.receiver, &c.group, &c.alerts).to_value()
}

/// Every difference between `ours` and `theirs` over the compared defines
/// and all cases, as readable reports. Upstream's defines must render
/// without error; Sightline's must render the same bytes.
fn mismatches(ours: &[(String, String)], theirs: &[(String, String)]) -> Vec<String> {
    let skip: BTreeSet<String> = theirs
        .iter()
        .filter(|(n, _)| n.starts_with("override"))
        .flat_map(|s| define_names(std::slice::from_ref(s)))
        .collect();
    let names: Vec<String> = define_names(theirs)
        .into_iter()
        .filter(|n| !OWN_OUTPUT.contains(&n.as_str()) && !skip.contains(n))
        .collect();
    let mut out = Vec::new();
    for c in cases() {
        let ours_t = Templates::from_sources(ours, c.external_url).unwrap();
        let theirs_t = Templates::from_sources(theirs, c.external_url).unwrap();
        let d = data(&theirs_t, &c);
        for name in &names {
            let dots: &[&str] = if LIST_DEFINES.contains(&name.as_str()) {
                &[".Alerts", ".Alerts.Firing", ".Alerts.Resolved"]
            } else {
                &["."]
            };
            for dot in dots {
                let call = format!("{{{{ template {name:?} {dot} }}}}");
                let want = theirs_t
                    .render(&call, &d)
                    .unwrap_or_else(|e| panic!("upstream {call} ({}): {e}", c.name));
                let got = ours_t.render(&call, &d);
                if got.as_ref() != Ok(&want) {
                    out.push(format!(
                        "{call} [{}]\n  upstream:  {want:?}\n  sightline: {got:?}",
                        c.name
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn every_upstream_define_name_exists() {
    let ours = define_names(&sightline_sources());
    let theirs = define_names(&upstream_sources());
    // Sanity: the upstream files were read and hold what they should.
    assert!(theirs.len() >= 60, "{theirs:?}");
    for must in [
        "__subject",
        "slack.default.title",
        "pagerduty.default.description",
        "email.default.html",
        "jira.default.priority",
    ] {
        assert!(theirs.contains(must), "{must}");
    }
    let missing: Vec<&String> = theirs.difference(&ours).collect();
    assert!(missing.is_empty(), "missing defines: {missing:?}");
    // Anything extra is a helper in Sightline's own namespace.
    let extra: Vec<&String> = ours
        .difference(&theirs)
        .filter(|n| !n.starts_with("__sightline_"))
        .collect();
    assert!(extra.is_empty(), "unexpected defines: {extra:?}");
}

#[test]
fn text_defines_render_like_upstream() {
    let m = mismatches(&sightline_sources(), &upstream_sources());
    assert!(m.is_empty(), "{} differences:\n{}", m.len(), m.join("\n"));
}

/// The cases reach every branch of the one define with real logic.
#[test]
fn cases_cover_every_jira_priority() {
    let t = Templates::from_sources(&upstream_sources(), "").unwrap();
    let seen: BTreeSet<String> = cases()
        .iter()
        .map(|c| {
            t.render(r#"{{ template "jira.default.priority" . }}"#, &data(&t, c))
                .unwrap()
        })
        .collect();
    let want: BTreeSet<String> = ["", "Low", "Medium", "High"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(seen, want);
}

/// A user template overriding a define that others call by name changes
/// Sightline's messages exactly as it changes Alertmanager's.
#[test]
fn user_overrides_propagate_like_upstream() {
    let overrides: String = CALLED_BY_NAME
        .iter()
        .map(|n| format!("{{{{ define {n:?} }}}}<{n} {{{{ len .Alerts }}}}>{{{{ end }}}}\n"))
        .collect::<String>()
        // The list defines get a list, not the data.
        .replace(
            "<__text_alert_list {{ len .Alerts }}>",
            "<__text_alert_list {{ len . }}>",
        )
        .replace(
            "<__text_alert_list_markdown {{ len .Alerts }}>",
            "<__text_alert_list_markdown {{ len . }}>",
        );
    let user = ("override user.tmpl".to_string(), overrides);
    let mut ours = sightline_sources();
    ours.push(user.clone());
    let mut theirs = upstream_sources();
    theirs.push(user);
    let m = mismatches(&ours, &theirs);
    assert!(m.is_empty(), "{} differences:\n{}", m.len(), m.join("\n"));
}

/// The comparison notices a one-character change in a shared helper.
#[test]
fn comparison_detects_a_difference() {
    let mut ours = sightline_sources();
    let changed = ours[0].1.replace("Source: ", "Source:  ");
    assert_ne!(
        changed, ours[0].1,
        "the marker text moved; update this test"
    );
    ours[0].1 = changed;
    let m = mismatches(&ours, &upstream_sources());
    assert!(m.iter().any(|x| x.contains("pagerduty.default.instances")));
    assert!(m.iter().any(|x| x.contains("opsgenie.default.description")));
}

#[test]
fn email_html_escapes_label_values() {
    let t = Templates::new(&[], std::path::Path::new("."), "http://am.example:9093").unwrap();
    let alerts = vec![
        alert(
            "firing",
            ls([
                ("alertname", "Evil"),
                ("instance", "<script>alert(1)</script>"),
            ]),
            ls([("summary", "a & b <i>c</i>")]),
            "javascript:alert(2)",
        ),
        alert(
            "resolved",
            ls([("alertname", "Fine"), ("instance", "ok")]),
            LabelSet::new(),
            "http://prometheus:9090/graph?g0.expr=up&g0.tab=1",
        ),
    ];
    let d = t
        .data("mail", &ls([("alertname", "Evil")]), &alerts)
        .to_value();
    let html = t
        .render_html(r#"{{ template "email.default.html" . }}"#, &d)
        .unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("<i>c</i>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.contains("a &amp; b &lt;i&gt;c&lt;/i&gt;"), "{html}");
    // Unsafe link targets are neutralised; safe ones kept (as HTML).
    assert!(!html.contains("javascript:"), "{html}");
    assert!(
        html.contains(r#"href="http://prometheus:9090/graph?g0.expr=up&amp;g0.tab=1""#),
        "{html}"
    );
    assert!(
        html.contains(r#"href="http://am.example:9093/#/alerts?receiver=mail""#),
        "{html}"
    );
    assert!(html.contains("Firing (1)") && html.contains("Resolved (1)"));
    // The subject (a text template) is not escaped.
    let d = t.data("mail", &LabelSet::new(), &alerts[..1]).to_value();
    assert_eq!(
        t.render(r#"{{ template "email.default.subject" . }}"#, &d)
            .unwrap(),
        "[FIRING:1]  (Evil <script>alert(1)</script>)"
    );
}

#[test]
fn email_html_renders_every_case() {
    for c in cases() {
        let t = Templates::new(&[], std::path::Path::new("."), c.external_url).unwrap();
        let html = t
            .render_html(r#"{{ template "email.default.html" . }}"#, &data(&t, &c))
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert!(html.starts_with("<!DOCTYPE html>"), "{}: {html}", c.name);
        assert!(html.trim_end().ends_with("</html>"), "{}: {html}", c.name);
        let tables = html.matches("<table").count();
        assert_eq!(tables, 2 + c.alerts.len(), "{}: {html}", c.name);
    }
}
