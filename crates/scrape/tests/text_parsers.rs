//! Behaviour of the Prometheus text and OpenMetrics parsers.

use sightline_model::MetricType;
use sightline_scrape::parser::{
    Entry, Format, OwnedEntry, OwnedExemplar, OwnedSample, ParseError, ParseErrorKind,
    ParseOptions, SinkError, format_from_content_type, parse, parse_with,
};

const DEFAULT_TS: i64 = 1_700_000_000_000;

fn run(format: Format, input: &str) -> Result<Vec<OwnedEntry>, ParseError> {
    let mut out = Vec::new();
    parse(format, input.as_bytes(), DEFAULT_TS, &mut out).map(|()| out)
}

fn prom(input: &str) -> Vec<OwnedEntry> {
    run(Format::PrometheusText, input).unwrap_or_else(|e| panic!("{e}\n{input}"))
}

fn om(input: &str) -> Vec<OwnedEntry> {
    run(Format::OpenMetrics, input).unwrap_or_else(|e| panic!("{e}\n{input}"))
}

fn prom_err(input: &str) -> String {
    match run(Format::PrometheusText, input) {
        Ok(v) => panic!("accepted {input:?}: {v:?}"),
        Err(e) => e.to_string(),
    }
}

fn sample(name: &str, labels: &[(&str, &str)], value: f64, ts: Option<i64>) -> OwnedEntry {
    OwnedEntry::Sample(owned(name, labels, value, ts))
}

fn owned(name: &str, labels: &[(&str, &str)], value: f64, ts: Option<i64>) -> OwnedSample {
    OwnedSample {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(n, v)| ((*n).into(), (*v).into()))
            .collect(),
        value,
        timestamp: ts,
        t: ts.unwrap_or(DEFAULT_TS),
        exemplar: None,
    }
}

fn help(family: &str, text: &str) -> OwnedEntry {
    OwnedEntry::Help {
        family: family.into(),
        text: text.into(),
    }
}

fn typ(family: &str, kind: MetricType) -> OwnedEntry {
    OwnedEntry::Type {
        family: family.into(),
        kind,
    }
}

// ---- Prometheus text format -------------------------------------------------

#[test]
fn prom_full_example() {
    let input = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# A plain comment.
#HELP not metadata either
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9
metric_without_timestamp_and_labels 12.47
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 3.3e-05
go_gc_duration_seconds_sum NaN
"#;
    let mut got = prom(input);
    // NaN != NaN: check the last sample by hand, then compare the rest.
    let Some(OwnedEntry::Sample(last)) = got.pop() else {
        panic!("{got:?}")
    };
    assert_eq!(last.name, "go_gc_duration_seconds_sum");
    assert!(last.value.is_nan());
    assert_eq!(
        got,
        vec![
            help("http_requests_total", "The total number of HTTP requests."),
            typ("http_requests_total", MetricType::Counter),
            sample(
                "http_requests_total",
                &[("method", "post"), ("code", "200")],
                1027.0,
                Some(1395066363000)
            ),
            sample(
                "http_requests_total",
                &[("method", "post"), ("code", "400")],
                3.0,
                Some(1395066363000)
            ),
            sample(
                "msdos_file_access_time_seconds",
                &[
                    ("path", r"C:\DIR\FILE.TXT"),
                    ("error", "Cannot find file:\n\"FILE.TXT\"")
                ],
                1.458255915e9,
                None
            ),
            sample("metric_without_timestamp_and_labels", &[], 12.47, None),
            typ("go_gc_duration_seconds", MetricType::Summary),
            // Prometheus normalizes summary quantiles to canonical floats.
            sample(
                "go_gc_duration_seconds",
                &[("quantile", "0.0")],
                3.3e-5,
                None
            ),
        ]
    );
}

#[test]
fn prom_negative_timestamp_is_rejected() {
    // Prometheus's lexer only accepts digits for timestamps.
    let e = prom_err("a +Inf -3982045\n");
    assert!(
        e.starts_with("line 1: expected timestamp or newline after value"),
        "{e}"
    );
}

#[test]
fn prom_values_and_timestamps() {
    let got = prom("a NaN\nb +Inf\nc -Inf\nd 1e3 5\ne -0.5\nf inf\n");
    let vals: Vec<(f64, Option<i64>)> = got
        .iter()
        .map(|e| match e {
            OwnedEntry::Sample(s) => (s.value, s.timestamp),
            _ => panic!(),
        })
        .collect();
    assert!(vals[0].0.is_nan());
    assert!(
        !sightline_model::is_stale_nan(vals[0].0),
        "a parsed NaN is never a stale marker"
    );
    assert_eq!(vals[1].0, f64::INFINITY);
    assert_eq!(vals[2].0, f64::NEG_INFINITY);
    assert_eq!(vals[3], (1000.0, Some(5)));
    assert_eq!(vals[4], (-0.5, None));
    assert_eq!(vals[5].0, f64::INFINITY);
    let OwnedEntry::Sample(s) = &got[0] else {
        panic!()
    };
    assert_eq!(s.t, DEFAULT_TS);
}

#[test]
fn prom_escapes() {
    let got = prom("# HELP a x\\\\y\\nz\\\"q\\t\na{b=\"x\\\\y\\\"z\\nw\\q\"} 1\n");
    // HELP knows only \\ and \n; label values also \".
    assert_eq!(got[0], help("a", "x\\y\nz\\\"q\\t"));
    assert_eq!(got[1], sample("a", &[("b", "x\\y\"z\nw\\q")], 1.0, None));
}

#[test]
fn prom_whitespace_and_commas() {
    let got = prom("  a { b = \"c\" , d=\"e\" f=\"g\", } 1  2 \t\n\t\n");
    assert_eq!(
        got,
        vec![sample(
            "a",
            &[("b", "c"), ("d", "e"), ("f", "g")],
            1.0,
            Some(2)
        )]
    );
    // Raw newlines are allowed inside label values.
    let got = prom("a{b=\"x\ny\"} 1\n");
    assert_eq!(got, vec![sample("a", &[("b", "x\ny")], 1.0, None)]);
}

#[test]
fn prom_metadata_details() {
    let got = prom(
        "# TYPE a untyped\n# TYPE b gauge\n# HELP c\n# HELP  d   two  words\n#\tTYPE e histogram\n",
    );
    assert_eq!(
        got,
        vec![
            typ("a", MetricType::Unknown),
            typ("b", MetricType::Gauge),
            help("c", ""),
            // Only the one separating blank is stripped.
            help("d", "  two  words"),
            typ("e", MetricType::Histogram),
        ]
    );
    // Comments that merely start like metadata.
    assert_eq!(prom("# HELPER x\n# TYPE\n#\n"), vec![]);
}

#[test]
fn prom_utf8_names() {
    let got = prom("# HELP \"my.metric\" dots\n{\"my.metric\", \"label.x\"=\"v\", y=\"w\"} 1\n");
    assert_eq!(got[0], help("my.metric", "dots"));
    assert_eq!(
        got[1],
        sample("my.metric", &[("label.x", "v"), ("y", "w")], 1.0, None)
    );
    let e = prom_err("a{\"b\"} 1\n");
    assert_eq!(e, "line 1: metric name already set");
}

#[test]
fn prom_le_normalization() {
    let got = prom(
        "# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"1e6\"} 0\nh_bucket{le=\"+Inf\"} 0\n# TYPE g gauge\ng{le=\"1\"} 0\n",
    );
    let les: Vec<_> = got
        .iter()
        .filter_map(|e| match e {
            OwnedEntry::Sample(s) => Some(s.labels[0].1.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(les, ["1.0", "1e+06", "+Inf", "1"]);
}

#[test]
fn prom_errors_have_line_numbers() {
    let cases = [
        (
            "a 1\n\nb\n",
            "line 3: expected value after metric name, got newline",
        ),
        (
            "a 1\nb{c=\"d\"}\n",
            "line 2: expected value after metric name, got newline",
        ),
        ("a x\n", "line 1: invalid value \"x\": invalid number"),
        (
            "a 1 2 3\n",
            "line 1: expected newline after timestamp, got \"3\"",
        ),
        (
            "a 1 1.5\n",
            "line 1: expected newline after timestamp, got \".5\"",
        ),
        (
            "a 1 99999999999999999999\n",
            "line 1: timestamp 99999999999999999999 out of range",
        ),
        (
            "a 1e400\n",
            "line 1: invalid value \"1e400\": number out of range",
        ),
        (
            "a 0x1p3\n",
            "line 1: invalid value \"0x1p3\": invalid number",
        ),
        ("x 1\n# TYPE a foo\n", "line 2: invalid metric type \"foo\""),
        (
            "# TYPE a counter \n",
            "line 1: invalid metric type \"counter \"",
        ),
        ("# HELP 1a x\n", "line 1: expected metric name after HELP"),
        ("a{b=\"c} 1\n", "line 1: unterminated quoted string"),
        (
            "a{b=c} 1\n",
            "line 1: expected quoted label value, got \"c} 1\"",
        ),
        (
            "a{b} 1\n",
            "line 1: expected '=' after label name, got \"} 1\"",
        ),
        (
            "a{1=\"x\"} 1\n",
            "line 1: expected label name or '}', got \"1=\\\"x\\\"} 1\"",
        ),
        (
            "a{b=\"1\",b=\"2\"} 1\n",
            "line 1: duplicate label name \"b\"",
        ),
        (
            "a{__name__=\"b\"} 1\n",
            "line 1: duplicate label name \"__name__\"",
        ),
        (
            "{b=\"1\"} 1\n",
            "line 1: metric name not set: expected a name before '{' or a quoted name inside",
        ),
        (
            "1a 1\n",
            "line 1: expected a metric name or '#' at the start of a line, got \"1a 1\"",
        ),
        (
            "a 1",
            "line 1: expected timestamp or newline after value, got end of input",
        ),
        (
            "a 1 2",
            "line 1: expected newline after timestamp, got end of input",
        ),
        (
            "# HELP a x",
            "line 1: expected newline after HELP line, got end of input",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(prom_err(input), want, "{input:?}");
    }
}

#[test]
fn prom_edge_cases() {
    // A comment without a final newline is fine; so is NUL ending the input.
    assert_eq!(prom("a 1\n# done"), vec![sample("a", &[], 1.0, None)]);
    assert_eq!(prom("a 1\n\0garbage"), vec![sample("a", &[], 1.0, None)]);
    assert_eq!(prom(""), vec![]);
    // Invalid UTF-8 is located.
    let mut sink = Vec::new();
    let e = parse(
        Format::PrometheusText,
        b"a 1\nb{c=\"\xff\"} 1\n",
        0,
        &mut sink,
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "line 2: invalid UTF-8");
}

#[test]
fn sink_can_abort() {
    let mut n = 0;
    let mut sink = |e: Entry<'_>| -> Result<(), SinkError> {
        if matches!(e, Entry::Sample(_)) {
            n += 1;
            if n > 2 {
                return Err("sample limit exceeded".into());
            }
        }
        Ok(())
    };
    let e = parse(
        Format::PrometheusText,
        b"# TYPE a gauge\na 1\na{x=\"1\"} 1\na{x=\"2\"} 1\n",
        0,
        &mut sink,
    )
    .unwrap_err();
    assert_eq!(e.line, 4);
    assert!(matches!(e.kind, ParseErrorKind::Sink(_)));
    assert_eq!(e.to_string(), "line 4: sample limit exceeded");
}

#[test]
fn borrowed_entries_need_no_copies() {
    let input = b"# TYPE a gauge\na{b=\"plain\",c=\"esc\\\\aped\"} 1\n";
    let mut names = Vec::new();
    let mut sink = |e: Entry<'_>| -> Result<(), SinkError> {
        if let Entry::Sample(s) = e {
            names.push(s.name.to_owned());
            assert_eq!(s.labels.get("b"), Some("plain"));
            assert_eq!(s.labels.get("c"), Some("esc\\aped"));
            assert_eq!(s.labels.len(), 2);
            let l = s.to_labels();
            assert_eq!(l.metric_name(), Some("a"));
            assert_eq!(l.len(), 3);
        }
        Ok(())
    };
    parse(Format::PrometheusText, input, 0, &mut sink).unwrap();
    assert_eq!(names, ["a"]);
}

// ---- OpenMetrics ------------------------------------------------------------

#[test]
fn openmetrics_full_example() {
    let input = "# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
# HELP acme_http_router_request_seconds Latency \\\"quoted\\\" \\\\ through\\nrouter.
acme_http_router_request_seconds_sum{path=\"/api/v1\",method=\"GET\"} 9036.32
acme_http_router_request_seconds_count{path=\"/api/v1\",method=\"GET\"} 807283.0
acme_http_router_request_seconds_created{path=\"/api/v1\",method=\"GET\"} 1605281325.0
# TYPE foo counter
foo_total 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67 1520879602.5
foo_total 18.0 1520879608.0 # {} 1
# TYPE h histogram
h_bucket{le=\"1\"} 0
h_bucket{le=\"+Inf\"} 1 # {id=\"x\"} 2
# EOF
";
    let got = om(input);
    assert_eq!(
        got[0],
        typ("acme_http_router_request_seconds", MetricType::Summary)
    );
    assert_eq!(
        got[1],
        OwnedEntry::Unit {
            family: "acme_http_router_request_seconds".into(),
            unit: "seconds".into()
        }
    );
    assert_eq!(
        got[2],
        help(
            "acme_http_router_request_seconds",
            "Latency \"quoted\" \\ through\nrouter."
        )
    );
    let labels = [("path", "/api/v1"), ("method", "GET")];
    assert_eq!(
        got[3],
        sample(
            "acme_http_router_request_seconds_sum",
            &labels,
            9036.32,
            None
        )
    );
    let OwnedEntry::Created(c) = &got[5] else {
        panic!("{:?}", got[5])
    };
    assert_eq!(c.name, "acme_http_router_request_seconds_created");
    assert_eq!(c.value, 1605281325.0);
    assert_eq!(
        got[7],
        OwnedEntry::Sample(OwnedSample {
            exemplar: Some(OwnedExemplar {
                labels: vec![("trace_id".into(), "KOO5S4vxi0o".into())],
                value: 0.67,
                timestamp: Some(1520879602500),
            }),
            ..owned("foo_total", &[], 17.0, Some(1520879607789))
        })
    );
    assert_eq!(
        got[8],
        OwnedEntry::Sample(OwnedSample {
            exemplar: Some(OwnedExemplar {
                labels: vec![],
                value: 1.0,
                timestamp: None,
            }),
            ..owned("foo_total", &[], 18.0, Some(1520879608000))
        })
    );
    // le normalized after validation.
    assert_eq!(got[10], sample("h_bucket", &[("le", "1.0")], 0.0, None));
    assert_eq!(got.len(), 12);
}

#[test]
fn openmetrics_created_ms() {
    let mut seen = Vec::new();
    let mut sink = |e: Entry<'_>| -> Result<(), SinkError> {
        if let Entry::Created(s) = e {
            seen.push((s.name.to_owned(), s.created_ms()));
        }
        Ok(())
    };
    let input =
        b"# TYPE a counter\na_total 1\na_created 123.456\n# TYPE b gauge\nb_created 1\n# EOF\n";
    parse(Format::OpenMetrics, input, 0, &mut sink).unwrap();
    // b is a gauge: its `_created` is an ordinary sample.
    assert_eq!(seen, [("a_created".to_owned(), 123456)]);
}

#[test]
fn openmetrics_validation_can_be_disabled() {
    let input = b"# TYPE a counter\na_total -1\n# EOF\n";
    let mut out = Vec::new();
    assert!(parse(Format::OpenMetrics, input, 0, &mut out).is_err());
    let lenient = ParseOptions {
        validate_openmetrics: false,
    };
    out.clear();
    parse_with(Format::OpenMetrics, input, 0, lenient, &mut out).unwrap();
    assert_eq!(out.len(), 2);
    // Syntax is still enforced.
    assert!(parse_with(Format::OpenMetrics, b"a 1\n", 0, lenient, &mut out).is_err());
}

#[test]
fn openmetrics_errors_have_line_numbers() {
    let e = run(Format::OpenMetrics, "a 1\nb  2\n# EOF\n").unwrap_err();
    assert_eq!(e.to_string(), "line 2: expected value, got \" 2\"");
    let e = run(Format::OpenMetrics, "a 1\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 2: unexpected end of input: missing \"# EOF\""
    );
}

#[test]
fn content_types() {
    assert_eq!(
        format_from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        Format::OpenMetrics
    );
    assert_eq!(
        format_from_content_type("text/plain; version=0.0.4"),
        Format::PrometheusText
    );
    assert_eq!(format_from_content_type(""), Format::PrometheusText);
}

// ---- Robustness -------------------------------------------------------------

const PROM_SAMPLE: &str = "# HELP a help \\\\ \\n\n# TYPE a histogram\na_bucket{le=\"1\",x=\"y\\\"z\"} 1 123\n{\"u.tf8\",\"k.ey\"=\"v\"} NaN\n# c\n\nb +Inf\n";
const OM_SAMPLE: &str = "# TYPE a histogram\n# UNIT a_s s\n# HELP a h\\\"\na_bucket{le=\"1\"} 0 1.5 # {t=\"x\"} 1 2\na_bucket{le=\"+Inf\"} 1\na_count 1\na_sum 1\na_created 3\n# TYPE c counter\nc_total 1 # {} 1\n# EOF\n";

fn no_panic(format: Format, input: &[u8]) {
    let mut sink = |_: Entry<'_>| -> Result<(), SinkError> { Ok(()) };
    let _ = parse(format, input, 0, &mut sink);
    let lenient = ParseOptions {
        validate_openmetrics: false,
    };
    let _ = parse_with(format, input, 0, lenient, &mut sink);
}

#[test]
fn truncated_and_mutated_inputs_never_panic() {
    let mut inputs: Vec<Vec<u8>> = vec![PROM_SAMPLE.into(), OM_SAMPLE.into()];
    // The conformance inputs too, when the suite is present.
    let suite = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/openmetrics/parsers");
    if let Ok(dir) = std::fs::read_dir(suite) {
        for case in dir.flatten() {
            if let Ok(b) = std::fs::read(case.path().join("metrics")) {
                inputs.push(b);
            }
        }
    }
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let interesting = b" \t\n\\\"{}=,#\x00\xc3\xa9_:.+-0eE";
    for input in &inputs {
        for format in [Format::PrometheusText, Format::OpenMetrics] {
            for end in 0..=input.len() {
                no_panic(format, &input[..end]);
            }
            for _ in 0..200 {
                let mut m = input.clone();
                if m.is_empty() {
                    break;
                }
                for _ in 0..1 + next() % 3 {
                    let i = (next() % m.len() as u64) as usize;
                    m[i] = interesting[(next() % interesting.len() as u64) as usize];
                }
                no_panic(format, &m);
            }
        }
    }
}
