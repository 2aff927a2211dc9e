//! Prometheus durations (`model.Duration`): `1h30m`, `15s`, `0`, `2w`, ...
//!
//! Parsing and formatting follow `prometheus/common/model` exactly so that a
//! config round-trips through `/api/v1/status/config` unchanged.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const MS_PER_SECOND: u64 = 1000;
const MS_PER_MINUTE: u64 = 60 * MS_PER_SECOND;
const MS_PER_HOUR: u64 = 60 * MS_PER_MINUTE;
const MS_PER_DAY: u64 = 24 * MS_PER_HOUR;
const MS_PER_WEEK: u64 = 7 * MS_PER_DAY;
const MS_PER_YEAR: u64 = 365 * MS_PER_DAY;

/// Units in the order they must appear (biggest first), with their size in ms.
const UNITS: [(&str, u64); 7] = [
    ("y", MS_PER_YEAR),
    ("w", MS_PER_WEEK),
    ("d", MS_PER_DAY),
    ("h", MS_PER_HOUR),
    ("m", MS_PER_MINUTE),
    ("s", MS_PER_SECOND),
    ("ms", 1),
];

/// Go's `time.Duration` is an int64 of nanoseconds; Prometheus rejects
/// anything that would overflow it, so we do too.
const MAX_MS: u64 = (i64::MAX as u64) / 1_000_000;

/// A Prometheus duration with millisecond precision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

impl Duration {
    pub const ZERO: Duration = Duration(0);

    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms)
    }

    pub const fn from_secs(s: u64) -> Self {
        Duration(s * MS_PER_SECOND)
    }

    pub const fn as_millis(self) -> u64 {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// For serde's `skip_serializing_if`.
    pub fn is_zero_ref(&self) -> bool {
        self.0 == 0
    }

    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.as_std()
    }
}

/// Parses a Prometheus duration string (`model.ParseDuration`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    match s {
        "0" => return Ok(Duration::ZERO),
        "" => return Err("empty duration string".to_string()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {s:?}");
    let bytes = s.as_bytes();
    let mut pos = 0;
    let mut total: u64 = 0;
    // Index into UNITS of the last unit seen; units must strictly descend.
    let mut last_unit: Option<usize> = None;
    while pos < bytes.len() {
        let digits_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == digits_start {
            return Err(invalid());
        }
        let value: u64 = s[digits_start..pos].parse().map_err(|_| invalid())?;
        let unit_start = pos;
        while pos < bytes.len() && !bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == unit_start {
            return Err(invalid());
        }
        let unit = &s[unit_start..pos];
        let Some(idx) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(format!("unknown unit {unit:?} in duration {s:?}"));
        };
        if last_unit.is_some_and(|last| idx <= last) {
            return Err(invalid());
        }
        last_unit = Some(idx);
        let mult = UNITS[idx].1;
        let add = value
            .checked_mul(mult)
            .filter(|v| *v <= MAX_MS)
            .ok_or_else(|| "duration out of range".to_string())?;
        total = total
            .checked_add(add)
            .filter(|v| *v <= MAX_MS)
            .ok_or_else(|| "duration out of range".to_string())?;
    }
    Ok(Duration(total))
}

impl std::str::FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, mult) in UNITS {
            // Like Prometheus, only use years and weeks when they divide the
            // remainder exactly: "90d" reads better than "12w6d".
            let exact_only = unit == "y" || unit == "w";
            if exact_only && !ms.is_multiple_of(mult) {
                continue;
            }
            let v = ms / mult;
            if v > 0 {
                write!(f, "{v}{unit}")?;
                ms -= v * mult;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // `key:` with no value is Go's zero value: "unset", filled from defaults.
        match Option::<crate::de::Scalar>::deserialize(d)? {
            None => Ok(Duration::ZERO),
            Some(s) => parse_duration(&s.0).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_format_round_trip() {
        for (input, ms, formatted) in [
            ("0", 0, "0s"),
            ("0s", 0, "0s"),
            ("15s", 15_000, "15s"),
            ("1h30m", 90 * 60_000, "1h30m"),
            ("1m", 60_000, "1m"),
            ("100ms", 100, "100ms"),
            ("1y", 365 * MS_PER_DAY, "1y"),
            ("2w", 14 * MS_PER_DAY, "2w"),
            ("90d", 90 * MS_PER_DAY, "90d"),
            (
                "1d2h3m4s5ms",
                MS_PER_DAY + 2 * MS_PER_HOUR + 3 * 60_000 + 4005,
                "1d2h3m4s5ms",
            ),
            ("120s", 120_000, "2m"),
        ] {
            let d = parse_duration(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(d.as_millis(), ms, "{input}");
            assert_eq!(d.to_string(), formatted, "{input}");
            assert_eq!(parse_duration(formatted).unwrap(), d);
        }
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "", "5x", "1m1h", "1s1s", "-1h", "1.5h", "h", "1", "5 s", "300000y",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should fail");
        }
        assert_eq!(
            parse_duration("5x").unwrap_err(),
            r#"unknown unit "x" in duration "5x""#
        );
    }
}
