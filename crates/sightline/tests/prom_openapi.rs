//! Responses of the Prometheus API checked against Prometheus's own OpenAPI
//! description (../shared/conformance/prometheus/web/api/v1/testdata/), with a
//! small validator for the JSON-schema subset it uses ($ref, type, properties,
//! required, additionalProperties, items, enum, oneOf/anyOf, min/maxItems).

use crate::common;
use crate::promdata;

use common::{Server, http_get, http_request, remote_write};
use promdata::{base_time, dataset, form, secs, write_batches};
use serde_json::Value;

fn spec() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/prometheus/web/api/v1/testdata/openapi_3.1_golden.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_saphyr::from_str(&text).unwrap()
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(|r| r.as_str()) {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            resolve(spec, &spec["components"]["schemas"][name])
        }
        None => schema,
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => true,
    }
}

/// Returns the first violation found, with a JSON path.
fn validate(spec: &Value, schema: &Value, v: &Value, path: &str) -> Result<(), String> {
    let s = resolve(spec, schema);
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = s.get(key).and_then(|a| a.as_array()) {
            let errs: Vec<String> = alts
                .iter()
                .filter_map(|alt| validate(spec, alt, v, path).err())
                .collect();
            if errs.len() == alts.len() {
                return Err(format!("{path}: matches none of {key}: {errs:?}"));
            }
        }
    }
    match s.get("type") {
        Some(Value::String(t)) if !type_ok(t, v) => {
            return Err(format!("{path}: expected {t}, got {v}"));
        }
        Some(Value::Array(ts)) if !ts.iter().any(|t| type_ok(t.as_str().unwrap_or(""), v)) => {
            return Err(format!("{path}: expected one of {ts:?}, got {v}"));
        }
        _ => {}
    }
    if let Some(e) = s.get("enum").and_then(|e| e.as_array())
        && !e.contains(v)
    {
        return Err(format!("{path}: {v} not in {e:?}"));
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(|p| p.as_object());
        for r in s
            .get("required")
            .and_then(|r| r.as_array())
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                return Err(format!("{path}: missing required {r:?}"));
            }
        }
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(spec, ps, val, &format!("{path}.{k}"))?,
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Err(format!("{path}: unexpected property {k:?}"));
                    }
                    Some(ap @ Value::Object(_)) => validate(spec, ap, val, &format!("{path}.{k}"))?,
                    _ => {}
                },
            }
        }
    }
    if let Some(arr) = v.as_array() {
        if let Some(min) = s.get("minItems").and_then(|m| m.as_u64())
            && (arr.len() as u64) < min
        {
            return Err(format!("{path}: fewer than {min} items"));
        }
        if let Some(max) = s.get("maxItems").and_then(|m| m.as_u64())
            && arr.len() as u64 > max
        {
            return Err(format!("{path}: more than {max} items"));
        }
        if let Some(items) = s.get("items") {
            for (i, it) in arr.iter().enumerate() {
                validate(spec, items, it, &format!("{path}[{i}]"))?;
            }
        }
    }
    Ok(())
}

/// The JSON schema of `op`'s response with `code` (falling back to `default`).
fn response_schema<'a>(spec: &'a Value, path: &str, method: &str, code: u16) -> &'a Value {
    let responses = &spec["paths"][path][method]["responses"];
    let r = if responses.get(code.to_string()).is_some() {
        &responses[code.to_string()]
    } else {
        &responses["default"]
    };
    let r = resolve(spec, r);
    &r["content"]["application/json"]["schema"]
}

fn check(spec: &Value, port: u16, method: &str, api_path: &str, query: &str, expect_code: u16) {
    let url = if query.is_empty() {
        format!("/api/v1{api_path}")
    } else {
        format!("/api/v1{api_path}?{query}")
    };
    let (code, body) = match method {
        "get" => http_get(port, &url).unwrap(),
        _ => http_request(
            port,
            "POST",
            &format!("/api/v1{api_path}"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            query.as_bytes(),
        )
        .unwrap(),
    };
    assert_eq!(code, expect_code, "{method} {url}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"));
    let spec_path = if api_path.starts_with("/label/") {
        "/label/{name}/values"
    } else {
        api_path
    };
    let schema = response_schema(spec, spec_path, method, code);
    assert!(
        !schema.is_null(),
        "no schema for {method} {spec_path} {code}"
    );
    if let Err(e) = validate(spec, schema, &v, "$") {
        panic!("{method} {url} does not match the OpenAPI schema: {e}\n{body}");
    }
}

#[test]
fn responses_match_the_prometheus_openapi_spec() {
    let spec = spec();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "scrape_configs: []\n").unwrap();
    let srv = Server::start(
        &dir.path().join("data"),
        &[&format!("--config.file={}", cfg.display())],
    );
    let base = base_time();
    for body in write_batches(&dataset(base)) {
        assert_eq!(remote_write(srv.port, &body).unwrap().0, 204);
    }
    let p = srv.port;
    let t = secs(base + 30 * 60_000);
    let (s, e) = (secs(base + 10 * 60_000), secs(base + 20 * 60_000));
    for (m, path, q, code) in [
        (
            "get",
            "/query",
            form(&[
                ("query", "sum by (service) (rate(http_requests_total[5m]))"),
                ("time", &t),
            ]),
            200,
        ),
        (
            "get",
            "/query",
            form(&[
                ("query", "rate(process_resident_memory_bytes[5m])"),
                ("time", &t),
            ]),
            200,
        ),
        (
            "get",
            "/query",
            form(&[("query", "1/0"), ("time", &t)]),
            200,
        ),
        (
            "get",
            "/query",
            form(&[("query", "process_resident_memory_bytes[1m]"), ("time", &t)]),
            200,
        ),
        (
            "post",
            "/query",
            form(&[("query", "up"), ("time", &t)]),
            200,
        ),
        (
            "get",
            "/query",
            form(&[
                ("query", "count(http_requests_total)"),
                ("time", &t),
                ("stats", "all"),
            ]),
            200,
        ),
        (
            "get",
            "/query_range",
            form(&[
                ("query", "sum(http_requests_total)"),
                ("start", &s),
                ("end", &e),
                ("step", "60"),
                ("stats", "all"),
            ]),
            200,
        ),
        ("get", "/query", form(&[("query", "sum(")]), 400),
        (
            "get",
            "/query",
            form(&[
                (
                    "query",
                    "process_resident_memory_bytes + on() process_resident_memory_bytes",
                ),
                ("time", &t),
            ]),
            422,
        ),
        (
            "get",
            "/query_range",
            form(&[
                ("query", "sum(rate(http_requests_total[5m]))"),
                ("start", &s),
                ("end", &e),
                ("step", "60"),
            ]),
            200,
        ),
        (
            "post",
            "/query_range",
            form(&[
                ("query", "topk(2, rate(http_requests_total[5m]))"),
                ("start", &s),
                ("end", &e),
                ("step", "1m"),
            ]),
            200,
        ),
        (
            "get",
            "/query_range",
            form(&[("query", "up"), ("start", "x"), ("end", &e), ("step", "60")]),
            400,
        ),
        (
            "get",
            "/query_exemplars",
            form(&[("query", "http_requests_total"), ("start", &s), ("end", &e)]),
            200,
        ),
        (
            "get",
            "/format_query",
            form(&[("query", "sum(x)by(y)")]),
            200,
        ),
        (
            "get",
            "/parse_query",
            form(&[("query", "sum by (y) (rate(x[5m])) > bool 1")]),
            200,
        ),
        ("get", "/labels", String::new(), 200),
        (
            "post",
            "/labels",
            form(&[("match[]", "process_resident_memory_bytes")]),
            200,
        ),
        ("get", "/label/service/values", String::new(), 200),
        (
            "get",
            "/series",
            form(&[("match[]", "process_resident_memory_bytes")]),
            200,
        ),
        (
            "post",
            "/series",
            form(&[
                ("match[]", "up"),
                ("match[]", "process_resident_memory_bytes{pod=\"cart-0\"}"),
            ]),
            200,
        ),
        ("get", "/series", String::new(), 400),
        ("get", "/status/config", String::new(), 200),
        ("get", "/status/runtimeinfo", String::new(), 200),
        ("get", "/status/buildinfo", String::new(), 200),
        ("get", "/status/flags", String::new(), 200),
        ("get", "/status/tsdb", String::new(), 200),
        ("get", "/status/tsdb/blocks", String::new(), 200),
        ("get", "/status/walreplay", String::new(), 200),
        ("get", "/notifications", String::new(), 200),
        ("get", "/features", String::new(), 200),
    ] {
        check(&spec, p, m, path, &q, code);
    }
}
