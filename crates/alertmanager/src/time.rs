//! Wall-clock instants with Go's `time.Time` conventions: RFC 3339 with
//! nanoseconds (trailing zeros trimmed) and a distinguished zero time
//! (`0001-01-01T00:00:00Z`) that Alertmanager uses for "unset".
//!
//! The clock is injectable so that timing tests run on tokio's paused clock.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Nanoseconds since the Unix epoch; `i64::MIN` is Go's zero time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ts(i64);

const NS: i64 = 1_000_000_000;

impl Ts {
    pub const ZERO: Ts = Ts(i64::MIN);

    pub const fn from_nanos(n: i64) -> Ts {
        Ts(n)
    }

    pub fn from_secs(s: i64) -> Ts {
        Ts(s * NS)
    }

    pub const fn nanos(self) -> i64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == i64::MIN
    }

    /// `self + d`, saturating; the zero time stays zero (not `ops::Add`'s semantics).
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, d: std::time::Duration) -> Ts {
        if self.is_zero() {
            return self;
        }
        Ts(self
            .0
            .saturating_add(d.as_nanos().min(i64::MAX as u128) as i64))
    }

    #[allow(clippy::should_implement_trait)]
    pub fn sub(self, d: std::time::Duration) -> Ts {
        if self.is_zero() {
            return self;
        }
        Ts(self
            .0
            .saturating_sub(d.as_nanos().min(i64::MAX as u128) as i64))
    }

    /// `self - earlier` as a duration (zero when negative).
    pub fn since(self, earlier: Ts) -> std::time::Duration {
        if self.0 <= earlier.0 {
            return std::time::Duration::ZERO;
        }
        std::time::Duration::from_nanos(self.0.wrapping_sub(earlier.0) as u64)
    }

    /// Seconds, nanoseconds; the zero time is Go's `0001-01-01`.
    fn split(self) -> (i64, u32) {
        if self.is_zero() {
            return (-62_135_596_800, 0);
        }
        (self.0.div_euclid(NS), self.0.rem_euclid(NS) as u32)
    }

    pub fn unix_secs(self) -> i64 {
        self.split().0
    }

    /// Civil UTC fields: (year, month, day, hour, minute, second, nanos, weekday 0=Sunday).
    pub fn civil(self) -> (i64, u32, u32, u32, u32, u32, u32, u32) {
        let (secs, nanos) = self.split();
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let weekday = (days + 4).rem_euclid(7) as u32; // 1970-01-01 was a Thursday
        (
            y,
            m,
            d,
            (rem / 3600) as u32,
            (rem % 3600 / 60) as u32,
            (rem % 60) as u32,
            nanos,
            weekday,
        )
    }

    /// Parses RFC 3339 (any fraction length, `Z` or `±hh:mm`).
    pub fn parse_rfc3339(s: &str) -> Result<Ts, String> {
        let bad = || format!("parsing time {s:?} as RFC 3339: invalid syntax");
        let b = s.as_bytes();
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || !(b[10] == b'T' || b[10] == b't')
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
            let t = s.get(r).ok_or_else(bad)?;
            if !t.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse::<i64>().map_err(|_| bad())
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month as u32) as i64
            || hour > 23
            || min > 59
            || sec > 59
        {
            return Err(format!("parsing time {s:?}: field out of range"));
        }
        let mut i = 19;
        let mut nanos: i64 = 0;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return Err(bad());
            }
            let frac = &s[start..i.min(start + 9)];
            nanos = frac.parse::<i64>().map_err(|_| bad())? * 10i64.pow(9 - frac.len() as u32);
        }
        let offset = match b.get(i) {
            Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
            Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
                let oh = num(i + 1..i + 3)?;
                let om = num(i + 4..i + 6)?;
                let o = oh * 3600 + om * 60;
                if *sign == b'-' { -o } else { o }
            }
            _ => return Err(bad()),
        };
        if year == 1
            && month == 1
            && day == 1
            && hour == 0
            && min == 0
            && sec == 0
            && nanos == 0
            && offset == 0
        {
            return Ok(Ts::ZERO);
        }
        let days = days_from_civil(year, month as u32, day as u32);
        let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset;
        secs.checked_mul(NS)
            .and_then(|v| v.checked_add(nanos))
            .map(Ts)
            .ok_or_else(|| format!("parsing time {s:?}: out of range"))
    }
}

impl fmt::Display for Ts {
    /// Go's `time.RFC3339Nano` in UTC.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s, ns, _) = self.civil();
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")?;
        if ns != 0 {
            let frac = format!("{ns:09}");
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ts::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

pub fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

pub use sightline_model::civil::{civil_from_days, days_from_civil};

/// Where "now" comes from. Production uses the system clock; tests use
/// tokio's (pausable) clock offset from a fixed wall time, so timers and
/// timestamps advance together.
#[derive(Clone)]
pub enum Clock {
    System,
    Tokio {
        base: Ts,
        start: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock that follows tokio's time, starting at `base`.
    pub fn tokio_at(base: Ts) -> Clock {
        Clock::Tokio {
            base,
            start: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> Ts {
        match self {
            Clock::System => {
                let d = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                Ts(d.as_nanos() as i64)
            }
            Clock::Tokio { base, start } => base.add(start.elapsed()),
        }
    }
}

pub type SharedClock = Arc<Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc3339() {
        for s in [
            "2026-11-25T23:37:48.393802761Z",
            "2026-01-01T00:00:00Z",
            "1999-12-31T23:59:59.5Z",
        ] {
            assert_eq!(Ts::parse_rfc3339(s).unwrap().to_string(), s);
        }
        assert_eq!(
            Ts::parse_rfc3339("2026-01-01T02:00:00.120+02:00")
                .unwrap()
                .to_string(),
            "2026-01-01T00:00:00.12Z"
        );
        assert!(Ts::parse_rfc3339("0001-01-01T00:00:00Z").unwrap().is_zero());
        assert_eq!(Ts::ZERO.to_string(), "0001-01-01T00:00:00Z");
        assert!(Ts::parse_rfc3339("2026-13-01T00:00:00Z").is_err());
        assert!(Ts::parse_rfc3339("yesterday").is_err());
    }

    #[test]
    fn weekday() {
        // 2024-02-29 was a Thursday.
        let t = Ts::parse_rfc3339("2024-02-29T12:00:00Z").unwrap();
        assert_eq!(t.civil().7, 4);
    }
}
