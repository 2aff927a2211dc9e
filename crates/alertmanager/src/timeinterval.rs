//! `time_intervals` (`timeinterval` package): named sets of periods used by
//! routes' `mute_time_intervals` / `active_time_intervals`.

use crate::config::TimeIntervalConfig;
use crate::time::{Ts, days_in_month};

#[derive(Clone, Debug)]
pub struct TimeInterval {
    pub specs: Vec<Spec>,
}

#[derive(Clone, Debug, Default)]
pub struct Spec {
    /// `[start, end)` in minutes of the day.
    times: Vec<(u32, u32)>,
    weekdays: Vec<(i64, i64)>,
    days_of_month: Vec<(i64, i64)>,
    months: Vec<(i64, i64)>,
    years: Vec<(i64, i64)>,
    location: Location,
}

#[derive(Clone, Debug, Default)]
enum Location {
    #[default]
    Utc,
    /// Transitions (unix seconds, UTC offset seconds), sorted; plus the offset before the first.
    Zone {
        transitions: Vec<(i64, i64)>,
        initial: i64,
    },
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

impl TimeInterval {
    pub fn parse(c: &TimeIntervalConfig) -> Result<TimeInterval, String> {
        let specs = c
            .time_intervals
            .iter()
            .map(parse_spec)
            .collect::<Result<_, _>>()?;
        Ok(TimeInterval { specs })
    }

    /// Whether `t` falls in any of the periods.
    pub fn contains(&self, t: Ts) -> bool {
        self.specs.iter().any(|s| s.contains(t))
    }
}

fn parse_hhmm(s: &str) -> Result<u32, String> {
    let bad = || format!("couldn't parse timestamp {s}, invalid format");
    if s == "24:00" {
        return Ok(24 * 60);
    }
    let b = s.as_bytes();
    if b.len() != 5
        || b[2] != b':'
        || !b
            .iter()
            .enumerate()
            .all(|(i, c)| i == 2 || c.is_ascii_digit())
    {
        return Err(bad());
    }
    let h: u32 = s[0..2].parse().map_err(|_| bad())?;
    let m: u32 = s[3..5].parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn parse_ranges(
    items: &[String],
    what: &str,
    names: &[&str],
    min: i64,
    max: i64,
    offset: i64,
) -> Result<Vec<(i64, i64)>, String> {
    let one = |s: &str| -> Result<i64, String> {
        let t = s.trim().to_ascii_lowercase();
        if let Some(i) = names.iter().position(|n| *n == t) {
            return Ok(i as i64 + offset);
        }
        let v: i64 = t
            .parse()
            .map_err(|_| format!("{s} is not a valid {what}"))?;
        if v < min || v > max || (what == "day of month" && v == 0) {
            return Err(format!("{s} is not a valid {what}"));
        }
        Ok(v)
    };
    items
        .iter()
        .map(|item| {
            let (a, b) = match item.split_once(':') {
                Some((a, b)) => (one(a)?, one(b)?),
                None => {
                    let v = one(item)?;
                    (v, v)
                }
            };
            if (a.signum() == b.signum() || what != "day of month") && a > b {
                return Err(format!("start {what} cannot be after end {what}: {item}"));
            }
            Ok((a, b))
        })
        .collect()
}

fn parse_spec(c: &crate::config::TimeIntervalSpec) -> Result<Spec, String> {
    let mut times = Vec::new();
    for t in &c.times {
        let (s, e) = (parse_hhmm(&t.start_time)?, parse_hhmm(&t.end_time)?);
        if s >= e {
            return Err("start time cannot be equal or greater than end time".into());
        }
        times.push((s, e));
    }
    Ok(Spec {
        times,
        weekdays: parse_ranges(&c.weekdays, "weekday", &WEEKDAYS, 0, 6, 0)?,
        days_of_month: parse_ranges(&c.days_of_month, "day of month", &[], -31, 31, 0)?,
        months: parse_ranges(&c.months, "month", &MONTHS, 1, 12, 1)?,
        years: parse_ranges(&c.years, "year", &[], 0, 9999, 0)?,
        location: match c.location.as_deref() {
            None | Some("UTC") | Some("") => Location::Utc,
            Some("Local") => load_zone("/etc/localtime").unwrap_or_default(),
            Some(name) => {
                if name.contains("..") {
                    return Err(format!("unknown time zone {name}"));
                }
                load_zone(&format!("/usr/share/zoneinfo/{name}"))
                    .ok_or_else(|| format!("unknown time zone {name}"))?
            }
        },
    })
}

impl Location {
    fn offset_at(&self, unix: i64) -> i64 {
        match self {
            Location::Utc => 0,
            Location::Zone {
                transitions,
                initial,
            } => match transitions.partition_point(|(t, _)| *t <= unix) {
                0 => *initial,
                i => transitions[i - 1].1,
            },
        }
    }
}

/// Transitions, the initial offset, and where the data block ended.
type Parsed = (Vec<(i64, i64)>, i64, usize);

/// Reads a TZif file (version 2+ 64-bit section when present).
fn load_zone(path: &str) -> Option<Location> {
    let data = std::fs::read(path).ok()?;
    let parse = |d: &[u8], wide: bool| -> Option<Parsed> {
        if d.len() < 44 || &d[0..4] != b"TZif" {
            return None;
        }
        let n = |i: usize| {
            u32::from_be_bytes([d[20 + 4 * i], d[21 + 4 * i], d[22 + 4 * i], d[23 + 4 * i]])
                as usize
        };
        let (isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt) =
            (n(0), n(1), n(2), n(3), n(4), n(5));
        let tsz = if wide { 8 } else { 4 };
        let mut p = 44;
        let mut times = Vec::with_capacity(timecnt);
        for _ in 0..timecnt {
            let b = d.get(p..p + tsz)?;
            times.push(if wide {
                i64::from_be_bytes(b.try_into().ok()?)
            } else {
                i32::from_be_bytes(b.try_into().ok()?) as i64
            });
            p += tsz;
        }
        let idx = d.get(p..p + timecnt)?.to_vec();
        p += timecnt;
        let mut types = Vec::with_capacity(typecnt);
        for _ in 0..typecnt {
            let b = d.get(p..p + 6)?;
            types.push(i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as i64);
            p += 6;
        }
        p += charcnt + leapcnt * (tsz + 4) + isstdcnt + isutcnt;
        let transitions = times
            .iter()
            .zip(&idx)
            .map(|(t, i)| (*t, *types.get(*i as usize).unwrap_or(&0)))
            .collect();
        Some((transitions, *types.first().unwrap_or(&0), p))
    };
    let (v1, initial, end) = parse(&data, false)?;
    if data[4] >= b'2'
        && let Some((v2, initial2, _)) = parse(&data[end..], true)
    {
        return Some(Location::Zone {
            transitions: v2,
            initial: initial2,
        });
    }
    Some(Location::Zone {
        transitions: v1,
        initial,
    })
}

impl Spec {
    fn contains(&self, t: Ts) -> bool {
        let local = Ts::from_secs(t.unix_secs() + self.location.offset_at(t.unix_secs()));
        let (y, mo, d, h, mi, _, _, wd) = local.civil();
        if !self.times.is_empty() {
            let m = h * 60 + mi;
            if !self.times.iter().any(|(s, e)| m >= *s && m < *e) {
                return false;
            }
        }
        if !self.days_of_month.is_empty() {
            let dim = days_in_month(y, mo) as i64;
            let ok = self.days_of_month.iter().any(|(b, e)| {
                let begin = if *b < 0 { dim + b + 1 } else { *b };
                let end = if *e < 0 { dim + e + 1 } else { *e };
                if begin > dim {
                    return false;
                }
                let (begin, end) = (begin.clamp(-dim, dim), end.clamp(-dim, dim));
                (d as i64) >= begin && (d as i64) <= end
            });
            if !ok {
                return false;
            }
        }
        let within =
            |rs: &[(i64, i64)], v: i64| rs.is_empty() || rs.iter().any(|(a, b)| v >= *a && v <= *b);
        within(&self.weekdays, wd as i64)
            && within(&self.months, mo as i64)
            && within(&self.years, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{TimeIntervalSpec, TimeRangeConfig};

    fn spec(f: impl FnOnce(&mut TimeIntervalSpec)) -> TimeInterval {
        let mut s = TimeIntervalSpec::default();
        f(&mut s);
        TimeInterval::parse(&TimeIntervalConfig {
            name: "x".into(),
            time_intervals: vec![s],
        })
        .unwrap()
    }

    fn at(s: &str) -> Ts {
        Ts::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn weekday_hours_and_month_ends() {
        let ti = spec(|s| {
            s.times = vec![TimeRangeConfig {
                start_time: "17:00".into(),
                end_time: "24:00".into(),
            }];
            s.weekdays = vec!["monday:friday".into()];
        });
        assert!(ti.contains(at("2026-11-23T17:00:00Z"))); // Monday
        assert!(!ti.contains(at("2026-11-23T16:59:59Z")));
        assert!(!ti.contains(at("2026-11-22T18:00:00Z"))); // Sunday
        let last = spec(|s| s.days_of_month = vec!["-1".into()]);
        assert!(last.contains(at("2024-02-29T10:00:00Z")));
        assert!(!last.contains(at("2024-02-28T10:00:00Z")));
    }

    #[test]
    fn rejects_bad_specs() {
        let s = TimeIntervalSpec {
            times: vec![TimeRangeConfig {
                start_time: "9:00".into(),
                end_time: "10:00".into(),
            }],
            ..Default::default()
        };
        assert!(
            TimeInterval::parse(&TimeIntervalConfig {
                name: "x".into(),
                time_intervals: vec![s]
            })
            .is_err()
        );
        let s = TimeIntervalSpec {
            weekdays: vec!["friday:monday".into()],
            ..Default::default()
        };
        assert!(
            TimeInterval::parse(&TimeIntervalConfig {
                name: "x".into(),
                time_intervals: vec![s]
            })
            .is_err()
        );
    }

    #[test]
    fn location_offsets() {
        if !std::path::Path::new("/usr/share/zoneinfo/Europe/Berlin").exists() {
            return;
        }
        let ti = spec(|s| {
            s.times = vec![TimeRangeConfig {
                start_time: "09:00".into(),
                end_time: "10:00".into(),
            }];
            s.location = Some("Europe/Berlin".into());
        });
        // 08:30 UTC in July is 10:30 in Berlin (CEST); 07:30 UTC is 09:30.
        assert!(!ti.contains(at("2026-07-01T08:30:00Z")));
        assert!(ti.contains(at("2026-07-01T07:30:00Z")));
    }
}
