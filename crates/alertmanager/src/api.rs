//! Alertmanager API v2 (`/api/v2/...`, per the upstream OpenAPI spec) plus
//! Sightline's alert history (`GET /api/v2/history`).

// Helpers return ready-made error responses; their size does not matter here.
#![allow(clippy::result_large_err)]

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::alert::{Alert, PostableAlert};
use crate::core::Alertmanager;
use crate::labels::fp_string;
use crate::matchers::{Matcher, parse_matchers};
use crate::silence::{SetError, Silence, SilenceMatcher, sort_for_api};
use crate::time::Ts;

/// The version reported to clients; amtool checks its major.minor.
pub const VERSION: &str = "0.25.0";

pub fn router(am: Alertmanager) -> Router {
    Router::new()
        .route("/api/v2/status", get(status))
        .route("/api/v2/receivers", get(receivers))
        .route("/api/v2/alerts", get(get_alerts).post(post_alerts))
        .route("/api/v2/alerts/groups", get(get_groups))
        .route("/api/v2/silences", get(get_silences).post(post_silence))
        .route(
            "/api/v2/silence/{id}",
            get(get_silence).delete(delete_silence),
        )
        .route("/api/v2/history", get(history))
        .route("/api/v1/{*rest}", get(gone).post(gone).delete(gone))
        .with_state(am)
}

fn err(code: StatusCode, msg: impl Into<String>) -> Response {
    (code, axum::Json(Value::String(msg.into()))).into_response()
}

async fn gone() -> Response {
    err(
        StatusCode::GONE,
        "the Alertmanager API v1 was removed; use /api/v2",
    )
}

/// Query parameters, keeping repeated keys.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<String>) -> Query {
        Query(
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }
    fn all(&self, k: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
    fn one(&self, k: &str) -> Option<&str> {
        self.all(k).next()
    }
    fn flag(&self, k: &str) -> Result<bool, Response> {
        match self.one(k) {
            None => Ok(true),
            Some(v) => v.parse().map_err(|_| {
                err(
                    StatusCode::BAD_REQUEST,
                    format!("{k} in query must be of type boolean: {v:?}"),
                )
            }),
        }
    }
    fn matchers(&self) -> Result<Vec<Matcher>, Response> {
        let mut out = Vec::new();
        for f in self.all("filter") {
            out.extend(parse_matchers(f).map_err(|e| err(StatusCode::BAD_REQUEST, e))?);
        }
        Ok(out)
    }
}

async fn status(State(am): State<Alertmanager>) -> Response {
    let rt = am.runtime();
    axum::Json(json!({
        "cluster": {"name": "sightline", "status": "disabled", "peers": []},
        "versionInfo": {
            "version": VERSION,
            "revision": concat!("sightline-", env!("CARGO_PKG_VERSION")),
            "branch": "main",
            "buildUser": "sightline",
            "buildDate": "",
            "goVersion": "n/a (Rust)",
        },
        "config": {"original": rt.config_yaml},
        "uptime": am.shared.started,
    }))
    .into_response()
}

async fn receivers(State(am): State<Alertmanager>) -> Response {
    let rt = am.runtime();
    let list: Vec<Value> = rt
        .config
        .receivers
        .iter()
        .map(|r| json!({"name": r.name}))
        .collect();
    axum::Json(list).into_response()
}

/// Per-alert status as the API reports it (recomputed on every read).
struct Status {
    silenced_by: Vec<String>,
    inhibited_by: Vec<String>,
}

impl Status {
    fn state(&self) -> &'static str {
        if self.silenced_by.is_empty() && self.inhibited_by.is_empty() {
            "active"
        } else {
            "suppressed"
        }
    }
}

fn alert_status(am: &Alertmanager, rt: &crate::core::Runtime, a: &Alert, now: Ts) -> Status {
    Status {
        silenced_by: am.shared.silences.silenced_by(&a.labels, now),
        inhibited_by: rt
            .inhibitor
            .inhibited_by(&a.labels, now)
            .map(fp_string)
            .into_iter()
            .collect(),
    }
}

/// JSON written straight into one response buffer, byte for byte what
/// serde_json prints for the API's `gettableAlert` (field order included):
/// listings hold tens of thousands of alerts, so no per-alert value tree or
/// intermediate structs.
mod out {
    use std::io::Write;

    use crate::alert::Alert;
    use crate::labels::LabelSet;
    use crate::time::Ts;

    use super::Status;

    pub fn str(buf: &mut Vec<u8>, s: &str) {
        if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            buf.push(b'"');
            buf.extend_from_slice(s.as_bytes());
            buf.push(b'"');
        } else {
            serde_json::to_writer(&mut *buf, s).expect("writing to a Vec");
        }
    }

    pub fn labels(buf: &mut Vec<u8>, ls: &LabelSet) {
        buf.push(b'{');
        for (i, (k, v)) in ls.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            str(buf, k);
            buf.push(b':');
            str(buf, v);
        }
        buf.push(b'}');
    }

    /// `digits.len()` decimal digits of `v`, zero-padded.
    fn digits(out: &mut [u8], mut v: u32) {
        for d in out.iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }

    /// A quoted timestamp as `Ts`'s `Display` writes it (RFC 3339, UTC,
    /// fraction without trailing zeros), without the formatting machinery:
    /// listings write three per alert.
    pub fn ts(buf: &mut Vec<u8>, t: Ts) {
        let (y, mo, d, h, mi, s, ns, _) = t.civil();
        if !(0..=9999).contains(&y) {
            write!(buf, "\"{t}\"").expect("writing to a Vec");
            return;
        }
        let mut b = *b"\"0000-00-00T00:00:00.000000000";
        digits(&mut b[1..5], y as u32);
        digits(&mut b[6..8], mo);
        digits(&mut b[9..11], d);
        digits(&mut b[12..14], h);
        digits(&mut b[15..17], mi);
        digits(&mut b[18..20], s);
        let mut end = 20;
        if ns != 0 {
            digits(&mut b[21..30], ns);
            end = 30;
            while b[end - 1] == b'0' {
                end -= 1;
            }
        }
        buf.extend_from_slice(&b[..end]);
        buf.extend_from_slice(b"Z\"");
    }

    /// A fingerprint as 16 lowercase hex digits.
    fn fp_hex(buf: &mut Vec<u8>, fp: u64) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut h = [0u8; 16];
        for (i, c) in h.iter_mut().enumerate() {
            *c = HEX[(fp >> (60 - 4 * i) & 0xf) as usize];
        }
        buf.extend_from_slice(&h);
    }

    fn strs(buf: &mut Vec<u8>, v: &[String]) {
        buf.push(b'[');
        for (i, s) in v.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            str(buf, s);
        }
        buf.push(b']');
    }

    pub fn alert(buf: &mut Vec<u8>, a: &Alert, fp: u64, st: &Status, receivers: &[&str]) {
        buf.extend_from_slice(b"{\"annotations\":");
        labels(buf, &a.annotations);
        buf.extend_from_slice(b",\"endsAt\":");
        ts(buf, a.ends_at);
        buf.extend_from_slice(b",\"fingerprint\":\"");
        fp_hex(buf, fp);
        buf.extend_from_slice(b"\",\"receivers\":[");
        for (i, r) in receivers.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(b"{\"name\":");
            str(buf, r);
            buf.push(b'}');
        }
        buf.extend_from_slice(b"],\"startsAt\":");
        ts(buf, a.starts_at);
        buf.extend_from_slice(b",\"status\":{\"state\":\"");
        buf.extend_from_slice(st.state().as_bytes());
        buf.extend_from_slice(b"\",\"silencedBy\":");
        strs(buf, &st.silenced_by);
        buf.extend_from_slice(b",\"inhibitedBy\":");
        strs(buf, &st.inhibited_by);
        buf.extend_from_slice(b",\"mutedBy\":[]},\"updatedAt\":");
        ts(buf, a.updated_at);
        buf.extend_from_slice(b",\"generatorURL\":");
        str(buf, &a.generator_url);
        buf.extend_from_slice(b",\"labels\":");
        labels(buf, &a.labels);
        buf.push(b'}');
    }
}

/// Bytes per body chunk of the alert listings.
const CHUNK: usize = 64 << 10;

/// A response body produced ~64 KiB at a time by `next` (`None`: done).
/// Listings of tens of thousands of alerts are ~10 MiB of JSON; building
/// them in one buffer left that much allocator memory behind.
struct Chunks<F>(F);

impl<F: FnMut() -> Option<Vec<u8>> + Unpin> futures_core::Stream for Chunks<F> {
    type Item = Result<Vec<u8>, std::convert::Infallible>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready((self.0)().map(Ok))
    }
}

fn chunked_json(next: impl FnMut() -> Option<Vec<u8>> + Send + Unpin + 'static) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        axum::body::Body::from_stream(Chunks(next)),
    )
        .into_response()
}

struct AlertFilter {
    matchers: Vec<Matcher>,
    receiver: Option<regex::Regex>,
    active: bool,
    silenced: bool,
    inhibited: bool,
}

impl AlertFilter {
    fn parse(q: &Query) -> Result<AlertFilter, Response> {
        let receiver = match q.one("receiver") {
            Some(r) => Some(regex::Regex::new(&format!("^(?:{r})$")).map_err(|e| {
                err(
                    StatusCode::BAD_REQUEST,
                    format!("failed to parse receiver param: {e}"),
                )
            })?),
            None => None,
        };
        let _ = q.flag("unprocessed")?;
        Ok(AlertFilter {
            matchers: q.matchers()?,
            receiver,
            active: q.flag("active")?,
            silenced: q.flag("silenced")?,
            inhibited: q.flag("inhibited")?,
        })
    }

    fn keep_status(&self, st: &Status) -> bool {
        if !self.active && st.state() == "active" {
            return false;
        }
        if !self.silenced && !st.silenced_by.is_empty() {
            return false;
        }
        if !self.inhibited && !st.inhibited_by.is_empty() {
            return false;
        }
        true
    }
}

async fn get_alerts(State(am): State<Alertmanager>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw);
    let f = match AlertFilter::parse(&q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let now = am.now();
    let rt = am.runtime();
    // Fingerprint order: the same as ordering their 16-digit hex strings.
    // Only the fingerprints are collected up front; each chunk reads its
    // alerts from the store (no copy of every alert for the whole response).
    let mut fps = am.shared.alerts.fingerprints();
    fps.sort_unstable();
    let (mut i, mut started, mut first, mut done) = (0, false, true, false);
    chunked_json(move || {
        if done {
            return None;
        }
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 4096);
        if !started {
            buf.push(b'[');
            started = true;
        }
        while i < fps.len() && buf.len() < CHUNK {
            let fp = fps[i];
            i += 1;
            let Some(a) = am.shared.alerts.get(fp) else {
                continue;
            };
            if a.resolved_at(now) || !f.matchers.iter().all(|m| m.matches_labels(&a.labels)) {
                continue;
            }
            let receivers: Vec<&str> = rt
                .route
                .match_labels(&a.labels)
                .iter()
                .map(|r| r.opts.receiver.as_str())
                .collect();
            if let Some(re) = &f.receiver
                && !receivers.iter().any(|r| re.is_match(r))
            {
                continue;
            }
            let st = alert_status(&am, &rt, &a, now);
            if !f.keep_status(&st) {
                continue;
            }
            if !first {
                buf.push(b',');
            }
            first = false;
            out::alert(&mut buf, &a, fp, &st, &receivers);
        }
        if i == fps.len() {
            buf.push(b']');
            done = true;
        }
        Some(buf)
    })
}

async fn post_alerts(State(am): State<Alertmanager>, body: axum::body::Bytes) -> Response {
    let alerts: Vec<PostableAlert> = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return err(StatusCode::BAD_REQUEST, format!("invalid alerts: {e}")),
    };
    let errors = am.post_alerts(alerts);
    if errors.is_empty() {
        StatusCode::OK.into_response()
    } else {
        err(StatusCode::BAD_REQUEST, errors.join("; "))
    }
}

async fn get_groups(State(am): State<Alertmanager>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw);
    let f = match AlertFilter::parse(&q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let now = am.now();
    let rt = am.runtime();
    // Statuses are computed while writing; the group filter needs them only
    // when a state is excluded (no map of every alert's status).
    let by_status = !(f.active && f.silenced && f.inhibited);
    let groups = rt.dispatcher.groups(
        |r| {
            f.receiver
                .as_ref()
                .is_none_or(|re| re.is_match(&r.opts.receiver))
        },
        |a| {
            if a.resolved_at(now) || !f.matchers.iter().all(|m| m.matches_labels(&a.labels)) {
                return false;
            }
            !by_status || f.keep_status(&alert_status(&am, &rt, a, now))
        },
    );
    let (mut gi, mut ai, mut started, mut done) = (0, 0, false, false);
    chunked_json(move || {
        if done {
            return None;
        }
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 4096);
        if !started {
            buf.push(b'[');
            started = true;
        }
        while buf.len() < CHUNK {
            let Some(g) = groups.get(gi) else {
                buf.push(b']');
                done = true;
                break;
            };
            if ai == 0 {
                if gi > 0 {
                    buf.push(b',');
                }
                buf.extend_from_slice(b"{\"labels\":");
                out::labels(&mut buf, &g.labels);
                buf.extend_from_slice(b",\"receiver\":{\"name\":");
                out::str(&mut buf, &g.receiver);
                buf.extend_from_slice(b"},\"alerts\":[");
            }
            if let Some(a) = g.alerts.get(ai) {
                if ai > 0 {
                    buf.push(b',');
                }
                let receivers: Vec<&str> = rt
                    .route
                    .match_labels(&a.labels)
                    .iter()
                    .map(|r| r.opts.receiver.as_str())
                    .collect();
                let st = alert_status(&am, &rt, a, now);
                out::alert(&mut buf, a, a.fingerprint(), &st, &receivers);
                ai += 1;
            }
            if ai >= g.alerts.len() {
                buf.extend_from_slice(b"]}");
                gi += 1;
                ai = 0;
            }
        }
        Some(buf)
    })
}

fn silence_json(s: &Silence, now: Ts) -> Value {
    json!({
        "id": s.id,
        "matchers": s.matchers,
        "startsAt": s.starts_at,
        "endsAt": s.ends_at,
        "updatedAt": s.updated_at,
        "createdBy": s.created_by,
        "comment": s.comment,
        "status": {"state": s.state(now).as_str()},
    })
}

async fn get_silences(State(am): State<Alertmanager>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw);
    let filters = match q.matchers() {
        Ok(m) => m,
        Err(r) => return r,
    };
    let now = am.now();
    let mut list: Vec<Silence> = am
        .shared
        .silences
        .list()
        .into_iter()
        .filter(|s| {
            // A silence is selected when its own matchers contain each filter matcher.
            filters.iter().all(|f| {
                s.matchers.iter().any(|m| {
                    m.name == f.name
                        && m.value == f.value
                        && m.is_regex == f.ty.is_regex()
                        && m.is_equal == f.ty.is_equal()
                })
            })
        })
        .collect();
    sort_for_api(&mut list, now);
    axum::Json(
        list.iter()
            .map(|s| silence_json(s, now))
            .collect::<Vec<_>>(),
    )
    .into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<SilenceMatcher>,
    starts_at: Ts,
    ends_at: Ts,
    created_by: String,
    comment: String,
}

async fn post_silence(State(am): State<Alertmanager>, body: axum::body::Bytes) -> Response {
    let p: PostableSilence = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return err(StatusCode::BAD_REQUEST, format!("invalid silence: {e}")),
    };
    let now = am.now();
    if p.starts_at >= p.ends_at {
        return err(
            StatusCode::BAD_REQUEST,
            "Failed to create silence: start time must be before end time",
        );
    }
    if p.ends_at < now {
        return err(
            StatusCode::BAD_REQUEST,
            "Failed to create silence: end time can't be in the past",
        );
    }
    let sil = Silence {
        id: p.id.unwrap_or_default(),
        matchers: p.matchers,
        starts_at: p.starts_at,
        ends_at: p.ends_at,
        updated_at: now,
        created_by: p.created_by,
        comment: p.comment,
    };
    match am.shared.silences.set(sil, now) {
        Ok(id) => {
            am.silences_changed();
            axum::Json(json!({ "silenceID": id })).into_response()
        }
        Err(SetError::NotFound) => err(StatusCode::NOT_FOUND, "silence not found"),
        Err(SetError::Invalid(e)) => err(StatusCode::BAD_REQUEST, e),
    }
}

async fn get_silence(State(am): State<Alertmanager>, Path(id): Path<String>) -> Response {
    match am.shared.silences.get(&id) {
        Some(s) => axum::Json(silence_json(&s, am.now())).into_response(),
        None => err(StatusCode::NOT_FOUND, "silence not found"),
    }
}

async fn delete_silence(State(am): State<Alertmanager>, Path(id): Path<String>) -> Response {
    match am.shared.silences.expire(&id, am.now()) {
        Ok(()) => {
            am.silences_changed();
            StatusCode::OK.into_response()
        }
        Err(_) => err(StatusCode::NOT_FOUND, "silence not found"),
    }
}

/// `GET /api/v2/history?fingerprint=&receiver=&kind=alert|notification&filter=<matcher>&since=<RFC3339>&until=&limit=`
async fn history(State(am): State<Alertmanager>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw);
    let ts = |k: &str| -> Result<Option<Ts>, Response> {
        q.one(k)
            .map(|v| Ts::parse_rfc3339(v).map_err(|e| err(StatusCode::BAD_REQUEST, e)))
            .transpose()
    };
    let f = crate::history::Filter {
        fingerprint: q.one("fingerprint").map(str::to_string),
        receiver: q.one("receiver").map(str::to_string),
        kind: q.one("kind").map(str::to_string),
        matchers: match q.matchers() {
            Ok(m) => m,
            Err(r) => return r,
        },
        since: match ts("since") {
            Ok(t) => t,
            Err(r) => return r,
        },
        until: match ts("until") {
            Ok(t) => t,
            Err(r) => return r,
        },
        limit: q.one("limit").and_then(|l| l.parse().ok()).unwrap_or(1000),
    };
    axum::Json(am.shared.history.query(&f)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::ls;

    #[test]
    fn alert_json_matches_serde_output() {
        let a = Alert {
            labels: ls([("alertname", "A\"b"), ("job", "x\ny")]).into(),
            annotations: ls([("summary", "tab\there \\ é\u{1}")]).into(),
            starts_at: Ts::from_secs(1),
            ends_at: Ts::from_nanos(2_500_000_000),
            generator_url: "http://g/?a=\"1\"".into(),
            updated_at: Ts::from_secs(3),
            timeout: false,
        };
        let st = Status {
            silenced_by: vec!["s1".into(), "s\"2".into()],
            inhibited_by: vec![],
        };
        let mut buf = Vec::new();
        out::alert(&mut buf, &a, 0xab, &st, &["r1", "r\\2"]);
        let want = format!(
            "{{\"annotations\":{},\"endsAt\":{},\"fingerprint\":\"00000000000000ab\",\"receivers\":[{{\"name\":\"r1\"}},{{\"name\":\"r\\\\2\"}}],\"startsAt\":{},\"status\":{{\"state\":\"suppressed\",\"silencedBy\":{},\"inhibitedBy\":[],\"mutedBy\":[]}},\"updatedAt\":{},\"generatorURL\":{},\"labels\":{}}}",
            serde_json::to_string(&*a.annotations).unwrap(),
            serde_json::to_string(&a.ends_at).unwrap(),
            serde_json::to_string(&a.starts_at).unwrap(),
            serde_json::to_string(&st.silenced_by).unwrap(),
            serde_json::to_string(&a.updated_at).unwrap(),
            serde_json::to_string(&a.generator_url).unwrap(),
            serde_json::to_string(&*a.labels).unwrap(),
        );
        assert_eq!(String::from_utf8(buf).unwrap(), want);
        let mut buf = Vec::new();
        out::alert(&mut buf, &a, u64::MAX - 0x0123_4567, &st, &[]);
        let v: Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["fingerprint"], format!("{:016x}", u64::MAX - 0x0123_4567));
    }

    #[test]
    fn listing_timestamps_match_display() {
        for ns in [
            0,
            1,
            1_000_000_000,
            1_764_133_896_969_000_000,
            1_764_133_896_970_213_915,
            1_764_133_896_100_000_000,
            -1,
            -1_500_000_000,
            i64::MAX,
            i64::MIN, // Go's zero time, 0001-01-01
            i64::MIN + 1,
        ] {
            let t = Ts::from_nanos(ns);
            let mut buf = Vec::new();
            out::ts(&mut buf, t);
            assert_eq!(String::from_utf8(buf).unwrap(), format!("\"{t}\""), "{ns}");
        }
    }
}
