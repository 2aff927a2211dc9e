//! A small block-style YAML emitter for JSON values, used to show the
//! loaded config (serde-saphyr is built without its serializer here).

use serde_json::Value;

/// Renders `v` (normally an object) as a YAML document.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => emit_map(m, 0, &mut out),
        Value::Array(a) if !a.is_empty() => emit_seq(a, 0, &mut out),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn indent(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn is_inline(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => true,
    }
}

fn emit_map(m: &serde_json::Map<String, Value>, level: usize, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        // The first key of a sequence item goes on the `- ` line.
        if i > 0 || !out.ends_with("- ") {
            indent(level, out);
        }
        out.push_str(&string(k));
        out.push(':');
        emit_value_after_key(v, level, out);
    }
}

fn emit_value_after_key(v: &Value, level: usize, out: &mut String) {
    if is_inline(v) {
        out.push(' ');
        out.push_str(&scalar(v));
        out.push('\n');
        return;
    }
    out.push('\n');
    match v {
        Value::Object(m) => emit_map(m, level + 2, out),
        // Sequences under a key are indented like Prometheus's output.
        Value::Array(a) => emit_seq(a, level + 2, out),
        _ => unreachable!("scalars are inline"),
    }
}

fn emit_seq(a: &[Value], level: usize, out: &mut String) {
    for v in a {
        indent(level, out);
        out.push_str("- ");
        match v {
            Value::Object(m) if !m.is_empty() => emit_map(m, level + 2, out),
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                emit_seq(inner, level + 2, out);
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
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Object(_) => "{}".to_string(),
        Value::Array(_) => "[]".to_string(),
    }
}

/// A string, quoted only when a plain scalar would be misread.
fn string(s: &str) -> String {
    if needs_quotes(s) {
        // JSON string escapes are valid in YAML double-quoted scalars.
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    } else {
        s.to_string()
    }
}

fn needs_quotes(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return true;
    };
    if "-?:,[]{}#&*!|>'\"%@`".contains(first)
        || first.is_whitespace()
        || s.ends_with(char::is_whitespace)
    {
        return true;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.chars().any(char::is_control) {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "null"
            | "~"
            | "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | ".nan"
            | ".inf"
            | "-.inf"
    ) {
        return true;
    }
    s.parse::<f64>().is_ok() || s.starts_with("0x") || s.starts_with("0o")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn emits_block_yaml() {
        let v = json!({
            "a": 1,
            "b": {"c": "x y", "d": []},
            "e": [{"f": "1", "g": true}, "plain", "<secret>"],
            "h": ""
        });
        assert_eq!(
            to_yaml(&v),
            "a: 1\nb:\n  c: x y\n  d: []\ne:\n  - f: \"1\"\n    g: true\n  - plain\n  - <secret>\nh: \"\"\n"
        );
    }

    #[test]
    fn output_parses_back() {
        let v = json!({"k": ["a: b", "#x", "null", "multi\nline"], "n": {"m": {"o": -1}}});
        let back: Value = serde_saphyr::from_str(&to_yaml(&v)).unwrap();
        assert_eq!(back, v);
    }
}
