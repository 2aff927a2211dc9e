//! Request parameters as Prometheus reads them: URL query and
//! form-encoded body merged (repeated keys like `match[]` kept), times as
//! RFC3339 or unix seconds, durations as Prometheus durations or float seconds.

use axum::http::{HeaderMap, header};

pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Body parameters (POST form) first, then the URL query, like Go's `r.Form`.
    pub fn parse(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Params {
        let mut pairs = Vec::new();
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if is_form && !body.is_empty() {
            pairs.extend(form_urlencoded::parse(body).into_owned());
        }
        if let Some(q) = query {
            pairs.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        Params { pairs }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A non-empty value.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Prometheus's smallest and largest API times (`minTime`/`maxTime`).
pub const MIN_TIME_MS: i64 = -9_223_309_901_257_974;
pub const MAX_TIME_MS: i64 = 9_223_309_901_257_974;

/// Parses `1435781451.781` or `2015-07-01T20:10:51.781Z` into milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let bad = || format!("cannot parse {s:?} to a valid timestamp");
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return Err(bad());
        }
        let ms = (f * 1000.0).round();
        if ms > MAX_TIME_MS as f64 || ms < MIN_TIME_MS as f64 {
            return Err(bad());
        }
        return Ok(ms as i64);
    }
    // The formatted forms of minTime/maxTime that clients send back.
    match s {
        "-292273086-05-16T16:47:06Z" => return Ok(MIN_TIME_MS),
        "292277025-08-18T07:12:54.999999999Z" => return Ok(MAX_TIME_MS),
        _ => {}
    }
    parse_rfc3339(s).ok_or_else(bad)
}

/// Minimal RFC 3339 parser (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`).
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse::<i64>().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac_ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        if digits.is_empty() {
            return None;
        }
        let mut ms = String::from(digits);
        ms.truncate(3);
        while ms.len() < 3 {
            ms.push('0');
        }
        frac_ms = ms.parse().ok()?;
    }
    let offset_s = match b.get(i) {
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
        Some(c @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let v = oh * 3600 + om * 60;
            if *c == b'+' { v } else { -v }
        }
        _ => return None,
    };
    let days = sightline_model::civil::days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_s;
    Some(secs * 1000 + frac_ms)
}

/// Parses `15s`, `1m30s` or float seconds (`15`, `0.5`) into milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("cannot parse {s:?} to a valid duration");
    if let Ok(f) = s.parse::<f64>() {
        let ms = f * 1000.0;
        if !ms.is_finite() || ms > i64::MAX as f64 || ms < i64::MIN as f64 {
            return Err(bad());
        }
        return Ok(ms.round() as i64);
    }
    sightline_promql::parser::parse_duration(s).map_err(|_| bad())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1435781451.781").unwrap(), 1_435_781_451_781);
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z").unwrap(),
            1_435_781_451_781
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51.781+02:00").unwrap(),
            1_435_781_451_781
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s").unwrap(), 15_000);
        assert_eq!(parse_duration("0.5").unwrap(), 500);
        assert_eq!(parse_duration("1m30s").unwrap(), 90_000);
        assert!(parse_duration("fast").is_err());
    }
}
