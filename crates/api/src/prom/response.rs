//! The Prometheus API envelope and value rendering, written directly into a
//! string (large matrices would be slow through a JSON value tree).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sightline_model::Labels;
use sightline_promql::{ErrorKind, QueryError, Value, format_value};

pub struct ApiError {
    pub kind: &'static str,
    pub msg: String,
    pub warnings: Vec<String>,
}

impl ApiError {
    pub fn bad_data(msg: impl Into<String>) -> Self {
        ApiError {
            kind: "bad_data",
            msg: msg.into(),
            warnings: Vec::new(),
        }
    }
    pub fn invalid_param(name: &str, err: impl std::fmt::Display) -> Self {
        ApiError::bad_data(format!("invalid parameter {name:?}: {err}"))
    }
    pub fn internal(msg: impl Into<String>) -> Self {
        ApiError {
            kind: "internal",
            msg: msg.into(),
            warnings: Vec::new(),
        }
    }
    pub fn unavailable(msg: impl Into<String>) -> Self {
        ApiError {
            kind: "unavailable",
            msg: msg.into(),
            warnings: Vec::new(),
        }
    }
    fn status(&self) -> StatusCode {
        match self.kind {
            "bad_data" => StatusCode::BAD_REQUEST,
            "execution" => StatusCode::UNPROCESSABLE_ENTITY,
            "timeout" | "canceled" | "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "not_found" => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let kind = match e.kind {
            ErrorKind::BadData => "bad_data",
            ErrorKind::Execution => "execution",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Internal => "internal",
        };
        ApiError {
            kind,
            msg: e.msg,
            warnings: e.warnings,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut s = String::from(r#"{"status":"error","errorType":"#);
        json_str(&mut s, self.kind);
        s.push_str(r#","error":"#);
        json_str(&mut s, &self.msg);
        annotations(&mut s, &self.warnings, &[]);
        s.push('}');
        (
            self.status(),
            [(header::CONTENT_TYPE, "application/json")],
            s,
        )
            .into_response()
    }
}

/// `{"status":"success","data":<data>}` plus warnings/infos when present.
pub fn success_raw(data: &str, warnings: &[String], infos: &[String]) -> Response {
    let mut s = String::with_capacity(data.len() + 64);
    s.push_str(r#"{"status":"success","data":"#);
    s.push_str(data);
    annotations(&mut s, warnings, infos);
    s.push('}');
    ([(header::CONTENT_TYPE, "application/json")], s).into_response()
}

pub fn success(data: &serde_json::Value) -> Response {
    success_raw(&data.to_string(), &[], &[])
}

fn annotations(s: &mut String, warnings: &[String], infos: &[String]) {
    for (key, list) in [("warnings", warnings), ("infos", infos)] {
        if list.is_empty() {
            continue;
        }
        s.push_str(",\"");
        s.push_str(key);
        s.push_str("\":[");
        for (i, w) in list.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            json_str(s, w);
        }
        s.push(']');
    }
}

pub fn json_str(out: &mut String, v: &str) {
    if !v.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push('"');
        out.push_str(v);
        out.push('"');
        return;
    }
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends the decimal digits of `v` (large results write millions of
/// numbers; this skips the formatting machinery).
#[inline]
fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend(buf[i..].iter().map(|&b| b as char));
}

/// Prometheus writes times as seconds with exactly the millisecond digits needed.
pub fn push_ts(out: &mut String, t: i64) {
    if t < 0 {
        out.push('-');
    }
    let t = t.unsigned_abs();
    push_u64(out, t / 1000);
    let frac = t % 1000;
    if frac != 0 {
        out.push('.');
        out.push((b'0' + (frac / 100) as u8) as char);
        out.push((b'0' + (frac / 10 % 10) as u8) as char);
        out.push((b'0' + (frac % 10) as u8) as char);
    }
}

/// A float as Go's `strconv.FormatFloat(v, 'f', -1, 64)` writes it (which
/// Rust's `Display` matches), with whole numbers — counters, bucket counts —
/// written directly.
#[inline]
pub fn push_float(out: &mut String, v: f64) {
    use std::fmt::Write;
    if v.is_finite() {
        if v.trunc() == v && v.abs() < 1e15 && !(v == 0.0 && v.is_sign_negative()) {
            if v < 0.0 {
                out.push('-');
            }
            push_u64(out, v.abs() as u64);
        } else {
            let _ = write!(out, "{v}");
        }
    } else {
        out.push_str(&format_value(v));
    }
}

pub fn push_labels(out: &mut String, l: &Labels) {
    out.push('{');
    for (i, lab) in l.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, &lab.name);
        out.push(':');
        json_str(out, &lab.value);
    }
    out.push('}');
}

fn push_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    push_ts(out, t);
    out.push_str(",\"");
    push_float(out, v);
    out.push_str("\"]");
}

/// The success envelope around a query result, written into one buffer;
/// `extra` (e.g. `,"stats":{...}`) goes inside the data object.
pub fn success_value(
    v: &Value,
    extra: Option<&str>,
    warnings: &[String],
    infos: &[String],
) -> Response {
    let mut s = String::with_capacity(256);
    s.push_str(r#"{"status":"success","data":"#);
    render_value_into(&mut s, v);
    if let Some(x) = extra {
        s.pop();
        s.push_str(x);
        s.push('}');
    }
    annotations(&mut s, warnings, infos);
    s.push('}');
    ([(header::CONTENT_TYPE, "application/json")], s).into_response()
}

/// `{"resultType":..., "result":...}`.
#[cfg(test)]
fn render_value(v: &Value) -> String {
    let mut s = String::with_capacity(256);
    render_value_into(&mut s, v);
    s
}

fn render_value_into(s: &mut String, v: &Value) {
    s.push_str(r#"{"resultType":""#);
    s.push_str(v.type_name());
    s.push_str(r#"","result":"#);
    match v {
        Value::Scalar { t, v } => push_point(s, *t, *v),
        Value::String { t, v } => {
            s.push('[');
            push_ts(s, *t);
            s.push(',');
            json_str(s, v);
            s.push(']');
        }
        Value::Vector(samples) => {
            s.push('[');
            for (i, smp) in samples.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(r#"{"metric":"#);
                push_labels(s, &smp.labels);
                s.push_str(r#","value":"#);
                push_point(s, smp.t, smp.v);
                s.push('}');
            }
            s.push(']');
        }
        Value::Matrix(series) => {
            // Sized up front: large matrices would otherwise be copied on
            // every doubling of the buffer.
            let points: usize = series.iter().map(|x| x.points.len()).sum();
            s.reserve(points * 24 + series.len() * 160);
            s.push('[');
            for (i, ser) in series.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(r#"{"metric":"#);
                push_labels(s, &ser.labels);
                s.push_str(r#","values":["#);
                for (j, (t, v)) in ser.points.iter().enumerate() {
                    if j > 0 {
                        s.push(',');
                    }
                    push_point(s, *t, *v);
                }
                s.push_str("]}");
            }
            s.push(']');
        }
    }
    s.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_values() {
        let mut s = String::new();
        push_ts(&mut s, 1_435_781_451_781);
        assert_eq!(s, "1435781451.781");
        let mut s = String::new();
        push_ts(&mut s, 1_500);
        assert_eq!(s, "1.500");
        let mut s = String::new();
        push_ts(&mut s, 1_000);
        assert_eq!(s, "1");
        let mut s = String::new();
        push_ts(&mut s, -1_500);
        assert_eq!(s, "-1.500");
        let mut s = String::new();
        push_ts(&mut s, 1_007);
        assert_eq!(s, "1.007");
        for v in [
            0.0,
            -0.0,
            1.0,
            -7.0,
            123456789.0,
            1.5,
            -0.25,
            1e15,
            1e21,
            999999999999999.0,
            1e-7,
            f64::MAX,
            f64::MIN_POSITIVE,
            4503599627370497.0,
        ] {
            let mut s = String::new();
            push_float(&mut s, v);
            assert_eq!(s, format!("{v}"), "{v:e}");
        }
        let v = Value::Scalar {
            t: 1000,
            v: f64::INFINITY,
        };
        assert_eq!(
            render_value(&v),
            r#"{"resultType":"scalar","result":[1,"+Inf"]}"#
        );
    }
}
