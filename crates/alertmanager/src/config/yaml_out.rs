//! A block-style YAML emitter for JSON values: renders the loaded config for
//! `GET /api/v2/status` (`config.original`), which amtool parses back.

use serde_json::Value;

pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => map(m, 0, &mut out),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn inline(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => true,
    }
}

fn map(m: &serde_json::Map<String, Value>, level: usize, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !out.ends_with("- ") {
            out.extend(std::iter::repeat_n(' ', level));
        }
        out.push_str(&string(k));
        out.push(':');
        if inline(v) {
            out.push(' ');
            out.push_str(&scalar(v));
            out.push('\n');
            continue;
        }
        out.push('\n');
        match v {
            Value::Object(m) => map(m, level + 2, out),
            Value::Array(a) => seq(a, level + 2, out),
            _ => {}
        }
    }
}

fn seq(a: &[Value], level: usize, out: &mut String) {
    for v in a {
        out.extend(std::iter::repeat_n(' ', level));
        out.push_str("- ");
        match v {
            Value::Object(m) if !m.is_empty() => map(m, level + 2, out),
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                seq(inner, level + 2, out);
            }
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

fn string(s: &str) -> String {
    let Some(first) = s.chars().next() else {
        return "\"\"".into();
    };
    let lower = s.to_ascii_lowercase();
    let special = "-?:,[]{}#&*!|>'\"%@`".contains(first)
        || first.is_whitespace()
        || s.ends_with(char::is_whitespace)
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.chars().any(char::is_control)
        || matches!(
            lower.as_str(),
            "null" | "~" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
        )
        || s.parse::<f64>().is_ok()
        || s.starts_with("0x")
        || s.starts_with("0o");
    if special {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips() {
        let v = serde_json::json!({"a": {"b": ["x: y", "{{ template \"t\" . }}", 1]}, "c": "", "d": []});
        let back: serde_json::Value = serde_saphyr::from_str(&super::to_yaml(&v)).unwrap();
        assert_eq!(back, v);
    }
}
