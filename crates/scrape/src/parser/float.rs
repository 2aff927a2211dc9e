//! Number parsing and formatting with Go's rules, because Prometheus's
//! behaviour is defined by `strconv.ParseFloat`/`FormatFloat`.

/// Parses a sample value the way Prometheus's `parseFloat` does: Go's
/// `strconv.ParseFloat` restricted to pre-Go-1.13 syntax (no hex floats, no
/// digit separators).
///
/// Rust's `f64::from_str` already rejects hex and underscores and accepts the
/// same `inf`/`infinity`/`nan` spellings (case-insensitively). Two gaps remain:
/// Go refuses a signed NaN, and Go reports overflow (`1e400`) as an error
/// where Rust silently yields infinity.
pub(crate) fn parse_go_float(s: &str) -> Result<f64, &'static str> {
    let v: f64 = s.parse().map_err(|_| "invalid number")?;
    if v.is_nan() && s.starts_with(['+', '-']) {
        return Err("invalid number");
    }
    if v.is_infinite() && !s.bytes().any(|b| b == b'i' || b == b'I') {
        return Err("number out of range");
    }
    Ok(v)
}

/// Appends `f` formatted like Prometheus's `formatOpenMetricsFloat`: Go's
/// shortest `%g` representation, with `.0` added to integers so that `le="1"`
/// and `le="1.0"` name the same series.
pub(crate) fn push_openmetrics_float(out: &mut String, f: f64) {
    use std::fmt::Write;
    if f.is_nan() {
        out.push_str("NaN");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if f == 0.0 {
        // Also catches -0.0, as Go's `f == 0` does.
        out.push_str("0.0");
        return;
    }
    // `{:e}` yields the shortest round-tripping digits: "-1.5e-7", "1e6".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if f < 0.0 {
        out.push('-');
    }
    // strconv.FormatFloat(f, 'g', -1, 64): with the shortest precision Go
    // switches to exponent form when the decimal exponent is < -4 or >= 6.
    let eprec = 6;
    if exp < -4 || exp >= eprec {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
        return;
    }
    // Plain decimal: place the point after `exp + 1` digits.
    let point = exp + 1;
    if point <= 0 {
        out.push_str("0.");
        for _ in 0..-point {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let point = point as usize;
        if digits.len() <= point {
            out.push_str(&digits);
            for _ in digits.len()..point {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(f: f64) -> String {
        let mut s = String::new();
        push_openmetrics_float(&mut s, f);
        s
    }

    #[test]
    fn formats_like_go() {
        for (f, want) in [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-1.0, "-1.0"),
            (0.1, "0.1"),
            (2.5, "2.5"),
            (10.0, "10.0"),
            (100000.0, "100000.0"),
            (1e6, "1e+06"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1.1e-4, "0.00011"),
            (1555555.55555552, "1.55555555555552e+06"),
            (1e23, "1e+23"),
            (123456.0, "123456.0"),
            (-0.5, "-0.5"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(fmt(f), want, "{f}");
        }
    }

    #[test]
    fn parses_like_go() {
        for ok in [
            "1", "-1.5e3", "+Inf", "-Inf", "inf", "NaN", "nan", ".5", "1.", "0001",
        ] {
            assert!(parse_go_float(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "0x1p-3", "1_000", "+NaN", "-nan", "1e400", "a", "1 ", "0x10",
        ] {
            assert!(parse_go_float(bad).is_err(), "{bad}");
        }
    }
}
