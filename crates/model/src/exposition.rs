//! A writer for the Prometheus text exposition format (0.0.4), used by every
//! component to put its own metrics on `/metrics` under the names Prometheus
//! and Alertmanager use, so meta-monitoring rules and dashboards written for
//! them keep working against Sightline.

use std::fmt::Write;

/// Text of one exposition, family by family.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

/// One label set of a summary: label values, `(quantile, value)` pairs, sum, count.
pub type SummaryPoint = (Vec<String>, Vec<(f64, f64)>, f64, u64);

/// One sample of a family: its labels (without the metric name) and value.
pub type Point<'a> = (&'a [(&'a str, &'a str)], f64);

impl Exposition {
    pub fn new() -> Self {
        Self::default()
    }

    /// A counter family; `name` is the full sample name (with `_total`).
    pub fn counter(&mut self, name: &str, help: &str, points: &[Point<'_>]) {
        self.family(name, "counter", help, points);
    }

    pub fn gauge(&mut self, name: &str, help: &str, points: &[Point<'_>]) {
        self.family(name, "gauge", help, points);
    }

    /// An unlabeled counter.
    pub fn counter1(&mut self, name: &str, help: &str, v: f64) {
        self.family(name, "counter", help, &[(&[], v)]);
    }

    /// An unlabeled gauge.
    pub fn gauge1(&mut self, name: &str, help: &str, v: f64) {
        self.family(name, "gauge", help, &[(&[], v)]);
    }

    /// A family whose label values are owned strings (one label set per entry).
    pub fn family_owned(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        label_names: &[&str],
        points: &[(Vec<String>, f64)],
    ) {
        self.header(name, kind, help);
        for (values, v) in points {
            self.sample(
                name,
                label_names
                    .iter()
                    .copied()
                    .zip(values.iter().map(|s| s.as_str())),
                *v,
            );
        }
    }

    fn family(&mut self, name: &str, kind: &str, help: &str, points: &[Point<'_>]) {
        self.header(name, kind, help);
        for (labels, v) in points {
            self.sample(name, labels.iter().copied(), *v);
        }
    }

    fn header(&mut self, name: &str, kind: &str, help: &str) {
        // `# TYPE` names the family; for counters the text format's family
        // name is the sample name itself (`x_total`), as client_golang writes it.
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample<'a>(&mut self, name: &str, labels: impl Iterator<Item = (&'a str, &'a str)>, v: f64) {
        self.out.push_str(name);
        let mut first = true;
        for (n, val) in labels {
            self.out.push(if first { '{' } else { ',' });
            first = false;
            self.out.push_str(n);
            self.out.push_str("=\"");
            escape_value(&mut self.out, val);
            self.out.push('"');
        }
        if !first {
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(&format_sample_value(v));
        self.out.push('\n');
    }

    /// A summary family: per label set, its quantiles, sum and count.
    pub fn summary(
        &mut self,
        name: &str,
        help: &str,
        label_names: &[&str],
        points: &[SummaryPoint],
    ) {
        self.header(name, "summary", help);
        for (values, quantiles, sum, count) in points {
            let labels: Vec<(&str, &str)> = label_names
                .iter()
                .copied()
                .zip(values.iter().map(|s| s.as_str()))
                .collect();
            for (q, v) in quantiles {
                let q = format_sample_value(*q);
                let mut with_q = labels.clone();
                with_q.push(("quantile", &q));
                self.sample(name, with_q.into_iter(), *v);
            }
            self.sample(&format!("{name}_sum"), labels.iter().copied(), *sum);
            self.sample(
                &format!("{name}_count"),
                labels.iter().copied(),
                *count as f64,
            );
        }
    }

    /// Appends families already in the text format (e.g. with histograms,
    /// which this writer does not build).
    pub fn push_raw(&mut self, text: &str) {
        self.out.push_str(text);
        if !text.is_empty() && !text.ends_with('\n') {
            self.out.push('\n');
        }
    }

    pub fn into_string(self) -> String {
        self.out
    }

    pub fn as_str(&self) -> &str {
        &self.out
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Appends a label value escaped as the text format wants it.
pub fn escape_value(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)` as the text format uses it,
/// with integers written without an exponent up to 2^53.
pub fn format_sample_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
        format!("{}", v as i64)
    } else if v.abs() >= 1e21 || v.abs() < 1e-4 {
        // Go switches to an exponent outside [1e-4, 1e21) and writes it
        // signed with at least two digits.
        let s = format!("{v:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        format!("{mant}e{sign}{digits:0>2}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_as_the_text_format() {
        let mut e = Exposition::new();
        e.counter(
            "prometheus_rule_evaluation_failures_total",
            "The total number of rule evaluation failures.",
            &[
                (&[("rule_group", "a.yml;g1")], 0.0),
                (&[("rule_group", "b \"q\"\\;g\n")], 3.0),
            ],
        );
        e.gauge1(
            "prometheus_notifications_queue_capacity",
            "Capacity",
            10000.0,
        );
        e.gauge1("x_ratio", "multi\nline", 0.25);
        assert_eq!(
            e.into_string(),
            "# HELP prometheus_rule_evaluation_failures_total The total number of rule evaluation failures.\n\
             # TYPE prometheus_rule_evaluation_failures_total counter\n\
             prometheus_rule_evaluation_failures_total{rule_group=\"a.yml;g1\"} 0\n\
             prometheus_rule_evaluation_failures_total{rule_group=\"b \\\"q\\\"\\\\;g\\n\"} 3\n\
             # HELP prometheus_notifications_queue_capacity Capacity\n\
             # TYPE prometheus_notifications_queue_capacity gauge\n\
             prometheus_notifications_queue_capacity 10000\n\
             # HELP x_ratio multi\\nline\n\
             # TYPE x_ratio gauge\n\
             x_ratio 0.25\n"
        );
    }

    #[test]
    fn special_values() {
        assert_eq!(format_sample_value(f64::NAN), "NaN");
        assert_eq!(format_sample_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_sample_value(1.7e300), "1.7e+300");
        assert_eq!(format_sample_value(2.5e-7), "2.5e-07");
        assert_eq!(format_sample_value(0.001), "0.001");
        assert_eq!(format_sample_value(-3.0), "-3");
    }
}
