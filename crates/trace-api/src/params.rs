//! Query-string and value parsing shared by the Jaeger and Tempo handlers:
//! repeated keys, Go duration strings, RFC 3339 timestamps, trace IDs.

use std::collections::HashMap;

/// All query parameters, keeping repeats (`traceID=a&traceID=b`), in order.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>) -> Params {
        Params(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
    /// First non-empty value of any of `keys` (aliases, e.g. camelCase and snake_case).
    pub fn get(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| {
            self.0
                .iter()
                .find(|(n, v)| n == k && !v.is_empty())
                .map(|(_, v)| v.as_str())
        })
    }
    pub fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(n, v)| n == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
    pub fn map(&self) -> HashMap<&str, &str> {
        self.0
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// Go `time.ParseDuration` (`1.5s`, `100ms`, `2h45m`, `300us`, `1µs`) → nanoseconds.
pub fn parse_go_duration(s: &str) -> Result<u64, String> {
    let orig = s;
    let s = s.trim();
    if s == "0" {
        return Ok(0);
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() || rest.starts_with('-') {
        return Err(format!("invalid duration {orig:?}"));
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return Err(format!("invalid duration {orig:?}"));
        }
        let num: f64 = rest[..n]
            .parse()
            .map_err(|_| format!("invalid duration {orig:?}"))?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("missing unit in duration {orig:?}")),
            other => return Err(format!("unknown unit {other:?} in duration {orig:?}")),
        };
        total += num * mult;
        rest = &rest[u..];
    }
    Ok(total.round() as u64)
}

/// RFC 3339 with optional fraction → ns since the epoch. Lenient about a space
/// where `+` was (Grafana appends these unescaped, so `+01:00` arrives as ` 01:00`).
pub fn parse_rfc3339(s: &str) -> Result<u64, String> {
    let bad = || format!("cannot parse {s:?} as RFC 3339 time");
    let b = s.trim_start().as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        std::str::from_utf8(&b[r])
            .ok()
            .and_then(|x| x.parse().ok())
            .ok_or_else(bad)
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let mut i = 19;
    let mut frac_ns = 0i64;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s.trim_start()[st..i];
        let padded = format!("{:0<9}", &digits[..digits.len().min(9)]);
        frac_ns = padded.parse().map_err(|_| bad())?;
    }
    let tz = &s.trim_start()[i..];
    let offset_s = match tz {
        "Z" | "z" | "" => 0,
        _ => {
            let sign = match tz.as_bytes()[0] {
                b'+' | b' ' => 1,
                b'-' => -1,
                _ => return Err(bad()),
            };
            let t = &tz[1..];
            let (oh, om) = t.split_once(':').ok_or_else(bad)?;
            sign * (oh.parse::<i64>().map_err(|_| bad())? * 3600
                + om.parse::<i64>().map_err(|_| bad())? * 60)
        }
    };
    let secs = sightline_model::civil::days_from_civil(y, mo as u32, d as u32) * 86400
        + h * 3600
        + mi * 60
        + se
        - offset_s;
    if secs < 0 {
        return Err(bad());
    }
    Ok(secs as u64 * 1_000_000_000 + frac_ns as u64)
}

/// ns since the epoch → RFC 3339 UTC with seconds precision (`2026-01-01T00:00:00Z`).
pub fn format_rfc3339(ns: u64) -> String {
    let (y, m, d, h, mi, s) = sightline_model::civil::utc_from_unix((ns / 1_000_000_000) as i64);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_go_duration("1.2s").unwrap(), 1_200_000_000);
        assert_eq!(parse_go_duration("100ms").unwrap(), 100_000_000);
        assert_eq!(parse_go_duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_go_duration("5µs").unwrap(), 5_000);
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("-1s").is_err());
    }

    #[test]
    fn rfc3339() {
        assert_eq!(
            parse_rfc3339("1970-01-01T00:00:01Z").unwrap(),
            1_000_000_000
        );
        assert_eq!(
            parse_rfc3339("2026-01-01T00:00:00.123456789Z").unwrap(),
            1_767_225_600_123_456_789
        );
        assert_eq!(
            parse_rfc3339("2026-01-01T01:00:00 01:00").unwrap(),
            1_767_225_600_000_000_000
        );
        assert_eq!(
            parse_rfc3339("2026-01-01T00:00:00-01:00").unwrap(),
            1_767_229_200_000_000_000
        );
        assert_eq!(
            format_rfc3339(1_767_225_600_000_000_000),
            "2026-01-01T00:00:00Z"
        );
        assert!(parse_rfc3339("yesterday").is_err());
    }
}
