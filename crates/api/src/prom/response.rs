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

/// Prometheus writes times as seconds with exactly the millisecond digits needed.
pub fn push_ts(out: &mut String, t: i64) {
    use std::fmt::Write;
    let mut t = t;
    if t < 0 {
        out.push('-');
        t = -t;
    }
    let _ = write!(out, "{}", t / 1000);
    let frac = t % 1000;
    if frac != 0 {
        let _ = write!(out, ".{frac:03}");
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
    use std::fmt::Write;
    out.push('[');
    push_ts(out, t);
    out.push_str(",\"");
    // Written in place: large matrices render millions of these.
    if v.is_finite() {
        let _ = write!(out, "{v}");
    } else {
        out.push_str(&format_value(v));
    }
    out.push_str("\"]");
}

/// `{"resultType":..., "result":...}`.
pub fn render_value(v: &Value) -> String {
    let mut s = String::with_capacity(256);
    s.push_str(r#"{"resultType":""#);
    s.push_str(v.type_name());
    s.push_str(r#"","result":"#);
    match v {
        Value::Scalar { t, v } => push_point(&mut s, *t, *v),
        Value::String { t, v } => {
            s.push('[');
            push_ts(&mut s, *t);
            s.push(',');
            json_str(&mut s, v);
            s.push(']');
        }
        Value::Vector(samples) => {
            s.push('[');
            for (i, smp) in samples.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(r#"{"metric":"#);
                push_labels(&mut s, &smp.labels);
                s.push_str(r#","value":"#);
                push_point(&mut s, smp.t, smp.v);
                s.push('}');
            }
            s.push(']');
        }
        Value::Matrix(series) => {
            s.push('[');
            for (i, ser) in series.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(r#"{"metric":"#);
                push_labels(&mut s, &ser.labels);
                s.push_str(r#","values":["#);
                for (j, (t, v)) in ser.points.iter().enumerate() {
                    if j > 0 {
                        s.push(',');
                    }
                    push_point(&mut s, *t, *v);
                }
                s.push_str("]}");
            }
            s.push(']');
        }
    }
    s.push('}');
    s
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
