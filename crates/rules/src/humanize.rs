//! Number formatting of Prometheus's template functions (`humanize*`), which
//! are all built on Go's `%.4g`.

/// Go's `fmt.Sprintf("%.{prec}g", v)`: shortest of %e/%f at `prec` significant
/// digits, trailing zeros removed, exponent with at least two digits.
pub fn go_g(v: f64, prec: usize) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let prec = prec.max(1);
    // Round to `prec` significant digits through %e, which gives the exponent too.
    let e = format!("{:.*e}", prec - 1, v);
    let (mant, exp) = e.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    if exp < -4 || exp >= prec as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

pub fn humanize(mut v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return go_g(v, 4);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", go_g(v, 4))
}

pub fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return go_g(v, 4);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", go_g(v, 4))
}

pub fn humanize_duration(mut v: f64) -> String {
    if !v.is_finite() {
        return go_g(v, 4);
    }
    if v == 0.0 {
        return format!("{}s", go_g(v, 4));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        // From minutes up, seconds are shown as an integer.
        if days != 0 {
            return format!("{sign}{days}d {h}h {m}m {s}s");
        }
        if h != 0 {
            return format!("{sign}{h}h {m}m {s}s");
        }
        if m != 0 {
            return format!("{sign}{m}m {s}s");
        }
        return format!("{sign}{}s", go_g(v, 4));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", go_g(v, 4))
}

pub fn humanize_percentage(v: f64) -> String {
    format!("{}%", go_g(v * 100.0, 4))
}

/// Go's `time.Time.String()` of a UTC instant given in (fractional) Unix seconds.
pub fn humanize_timestamp(v: f64) -> String {
    if !v.is_finite() {
        return go_g(v, 4);
    }
    // Prometheus goes through a millisecond timestamp (`model.TimeFromUnixNano`).
    let ms = ((v * 1e9) as i64).div_euclid(1_000_000);
    let secs = ms.div_euclid(1000);
    let nanos = ms.rem_euclid(1000) * 1_000_000;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, mo, d) = civil_from_days(days);
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_string()
    };
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}{frac} +0000 UTC",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

pub(crate) use sightline_model::civil::civil_from_days;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_g_matches_go() {
        assert_eq!(go_g(1234567.0, 4), "1.235e+06");
        assert_eq!(go_g(0.05, 4), "0.05");
        assert_eq!(go_g(12.0, 4), "12");
        assert_eq!(go_g(0.00001234, 4), "1.234e-05");
        assert_eq!(go_g(999.96, 4), "1000");
    }

    #[test]
    fn humanizers() {
        assert_eq!(humanize(1234567.0), "1.235M");
        assert_eq!(humanize(0.0012), "1.2m");
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize1024(1048576.0), "1Mi");
        assert_eq!(humanize1024(1.0), "1");
        assert_eq!(humanize_duration(3725.0), "1h 2m 5s");
        assert_eq!(humanize_duration(90061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(1.5), "1.5s");
        assert_eq!(humanize_duration(0.0015), "1.5ms");
        assert_eq!(humanize_duration(0.0), "0s");
        assert_eq!(humanize_percentage(0.1234), "12.34%");
        assert_eq!(
            humanize_timestamp(1435065584.128),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(humanize_timestamp(0.0), "1970-01-01 00:00:00 +0000 UTC");
    }
}
