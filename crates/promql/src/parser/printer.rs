//! Renders an AST back to PromQL the way Prometheus's `String()` methods do,
//! so the output re-parses to the same tree (used by `format_query` and the
//! conformance runner's `@`-pinned re-runs).

use std::fmt::{self, Write};

use sightline_model::MatchOp;

use super::ast::*;
use super::lexer::format_duration;

/// Go's `%v` rendering of a float64 (shortest representation, `e+XX` exponents).
pub fn format_float(v: f64) -> String {
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
    let exp = if v == 0.0 {
        0
    } else {
        v.abs().log10().floor() as i32
    };
    if !(-4..21).contains(&exp) {
        let s = format!("{v:e}");
        // Rust prints `1e21`/`1.5e-7`; Go prints `1e+21`/`1.5e-07`.
        let (m, e) = s.split_once('e').unwrap();
        let (sign, digits) = if let Some(d) = e.strip_prefix('-') {
            ('-', d)
        } else {
            ('+', e)
        };
        let digits = if digits.len() < 2 {
            format!("0{digits}")
        } else {
            digits.to_string()
        };
        format!("{m}e{sign}{digits}")
    } else {
        format!("{v}")
    }
}

/// Go's `strconv.Quote`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (super::lexer::INVALID_BYTE_BASE..super::lexer::INVALID_BYTE_BASE + 256)
                .contains(&(c as u32)) =>
            {
                let _ = write!(out, "\\x{:02x}", c as u32 - super::lexer::INVALID_BYTE_BASE);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn is_plain_label(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn is_plain_metric(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c == ':' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c == ':' || c.is_ascii_alphanumeric())
}

fn label_name(s: &str) -> String {
    if is_plain_label(s) {
        s.to_string()
    } else {
        quote(s)
    }
}

fn label_list(l: &[String]) -> String {
    l.iter()
        .map(|s| label_name(s))
        .collect::<Vec<_>>()
        .join(", ")
}

fn at_offset(at: &Option<AtModifier>, offset: &Option<Box<Expr>>) -> String {
    let mut s = String::new();
    match at {
        Some(AtModifier::Time(ms)) => {
            let _ = write!(s, " @ {:.3}", *ms as f64 / 1000.0);
        }
        Some(AtModifier::Start) => s.push_str(" @ start()"),
        Some(AtModifier::End) => s.push_str(" @ end()"),
        None => {}
    }
    if let Some(o) = offset {
        match o.as_ref() {
            Expr::Number {
                dur_ms: Some(ms), ..
            } if *ms < 0 => {
                let _ = write!(s, " offset -{}", format_duration(-ms));
            }
            Expr::Number {
                dur_ms: Some(ms), ..
            } => {
                let _ = write!(s, " offset {}", format_duration(*ms));
            }
            Expr::Number { val, .. } if *val < 0.0 => {
                let _ = write!(
                    s,
                    " offset -{}",
                    format_duration((-val * 1000.0).round() as i64)
                );
            }
            Expr::Number { val, .. } => {
                let _ = write!(
                    s,
                    " offset {}",
                    format_duration((val * 1000.0).round() as i64)
                );
            }
            Expr::Paren { .. } | Expr::Call { .. } | Expr::DurationFn { .. } => {
                let _ = write!(s, " offset {o}");
            }
            e => {
                let _ = write!(s, " offset ({e})");
            }
        }
    }
    s
}

fn selector_body(vs: &VectorSelector) -> String {
    let mut s = String::new();
    let ms: Vec<_> = vs
        .matchers
        .iter()
        .filter(|m| {
            !(vs.name.is_some()
                && m.name == "__name__"
                && m.op == MatchOp::Equal
                && Some(&m.value) == vs.name.as_ref())
        })
        .collect();
    // Another `__name__` matcher (e.g. `{__name__="a", "b"}`) cannot stay
    // in the braces behind a name written outside them: that re-parses as
    // "metric name must not be set twice". Keep the name inside then.
    let other_name_matcher = ms.iter().any(|m| m.name == "__name__");
    let mut name_inside = false;
    if let Some(n) = &vs.name {
        if is_plain_metric(n) && !other_name_matcher {
            s.push_str(n);
        } else {
            name_inside = true;
        }
    }
    // Without a name, braces are all there is (`info(up, {})`).
    if ms.is_empty() && !name_inside && vs.name.is_some() {
        return s;
    }
    s.push('{');
    let mut parts = Vec::new();
    if name_inside {
        parts.push(quote(vs.name.as_deref().unwrap()));
    }
    for m in ms {
        parts.push(format!(
            "{}{}{}",
            label_name(&m.name),
            m.op.as_str(),
            quote(&m.value)
        ));
    }
    s.push_str(&parts.join(", "));
    s.push('}');
    s
}

fn duration_text(e: &Expr) -> String {
    match e {
        Expr::Number {
            dur_ms: Some(ms), ..
        } if *ms >= 0 => format_duration(*ms),
        Expr::Number {
            val, dur_ms: None, ..
        } if *val >= 0.0 && (val * 1000.0).fract() == 0.0 => format_duration((val * 1000.0) as i64),
        e => e.to_string(),
    }
}

/// ` bool on (a) group_left (b) fill(0)` as Prometheus 3 prints modifiers.
fn binary_modifiers(return_bool: bool, matching: Option<&VectorMatching>) -> String {
    let mut s = String::new();
    if return_bool {
        s.push_str(" bool");
    }
    let Some(m) = matching else { return s };
    if m.on || !m.labels.is_empty() {
        let _ = write!(
            s,
            " {} ({})",
            if m.on { "on" } else { "ignoring" },
            label_list(&m.labels)
        );
        match m.card {
            Card::ManyToOne => {
                let _ = write!(s, " group_left ({})", label_list(&m.include));
            }
            Card::OneToMany => {
                let _ = write!(s, " group_right ({})", label_list(&m.include));
            }
            _ => {}
        }
    }
    match (m.fill_lhs, m.fill_rhs) {
        (Some(l), Some(r)) if l.to_bits() == r.to_bits() => {
            let _ = write!(s, " fill({})", format_float(l));
        }
        (l, r) => {
            if let Some(l) = l {
                let _ = write!(s, " fill_left({})", format_float(l));
            }
            if let Some(r) = r {
                let _ = write!(s, " fill_right({})", format_float(r));
            }
        }
    }
    s
}

/// Prometheus splits expressions longer than this over several lines.
const MAX_LINE: usize = 100;

fn indent(level: usize) -> String {
    "  ".repeat(level)
}

/// Multi-line rendering as Prometheus's `Prettify` (`/api/v1/format_query`):
/// a node that fits in 100 characters stays on one line; otherwise its
/// children go on their own, indented lines.
pub fn pretty(e: &Expr, level: usize) -> String {
    let mut out = String::new();
    pretty_into(&mut out, e, level);
    out
}

/// [`pretty`] appending to one buffer: returning each child's rendering as a
/// string to be copied into its parent's made a long `a or b or ...` chain
/// cost the cube of its length (every level re-copies all lines below it).
fn pretty_into(out: &mut String, e: &Expr, level: usize) {
    let flat = e.to_string();
    let pad = indent(level);
    if flat.len() <= MAX_LINE {
        out.push_str(&pad);
        out.push_str(match e {
            Expr::Unary { .. } => flat.trim_start(),
            _ => &flat,
        });
        return;
    }
    match e {
        Expr::Aggregate {
            op,
            expr,
            param,
            grouping,
            without,
            ..
        } => {
            out.push_str(&pad);
            out.push_str(op.as_str());
            if *without {
                let _ = write!(out, " without ({}) ", label_list(grouping));
            } else if !grouping.is_empty() {
                let _ = write!(out, " by ({}) ", label_list(grouping));
            }
            out.push_str("(\n");
            if let Some(p) = param {
                pretty_into(out, p, level + 1);
                out.push_str(",\n");
            }
            pretty_into(out, expr, level + 1);
            let _ = write!(out, "\n{pad})");
        }
        Expr::Binary {
            op,
            lhs,
            rhs,
            matching,
            return_bool,
            ..
        } => {
            pretty_into(out, lhs, level + 1);
            let _ = writeln!(
                out,
                "\n{pad}{}{}",
                op.as_str(),
                binary_modifiers(*return_bool, matching.as_ref())
            );
            pretty_into(out, rhs, level + 1);
        }
        Expr::Call { func, args, .. } => {
            let _ = writeln!(out, "{pad}{}(", func.name);
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                pretty_into(out, a, level + 1);
            }
            let _ = write!(out, "\n{pad})");
        }
        Expr::Paren { expr, .. } => {
            let _ = writeln!(out, "{pad}(");
            pretty_into(out, expr, level + 1);
            let _ = write!(out, "\n{pad})");
        }
        Expr::Subquery {
            expr,
            range,
            step,
            offset,
            at,
            ..
        } => {
            let step = step.as_ref().map(|s| duration_text(s)).unwrap_or_default();
            pretty_into(out, expr, level);
            let _ = write!(
                out,
                "[{}:{}]{}",
                duration_text(range),
                step,
                at_offset(at, offset)
            );
        }
        Expr::Unary { neg, expr, .. } => {
            out.push_str(&pad);
            out.push(if *neg { '-' } else { '+' });
            let start = out.len();
            pretty_into(out, expr, level);
            let ws = out[start..].len() - out[start..].trim_start().len();
            out.drain(start..start + ws);
        }
        _ => {
            out.push_str(&pad);
            out.push_str(&flat);
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number {
                val,
                dur_ms: Some(ms),
                ..
            } if *val >= 0.0 => f.write_str(&format_duration(*ms)),
            Expr::Number { val, .. } => f.write_str(&format_float(*val)),
            Expr::Str { val, .. } => f.write_str(&quote(val)),
            Expr::Vector(vs) => {
                write!(f, "{}{}", selector_body(vs), at_offset(&vs.at, &vs.offset))?;
                if vs.smoothed {
                    f.write_str(" smoothed")?;
                }
                Ok(())
            }
            Expr::Matrix { vs, range, .. } => {
                write!(f, "{}[{}]", selector_body(vs), duration_text(range))?;
                if vs.anchored {
                    f.write_str(" anchored")?;
                }
                if vs.smoothed {
                    f.write_str(" smoothed")?;
                }
                f.write_str(&at_offset(&vs.at, &vs.offset))
            }
            Expr::Subquery {
                expr,
                range,
                step,
                offset,
                at,
                ..
            } => {
                let step = step.as_ref().map(|s| duration_text(s)).unwrap_or_default();
                write!(
                    f,
                    "{}[{}:{}]{}",
                    expr,
                    duration_text(range),
                    step,
                    at_offset(at, offset)
                )
            }
            Expr::Paren { expr, .. } => write!(f, "({expr})"),
            Expr::Unary { neg, expr, .. } => write!(f, "{}{}", if *neg { "-" } else { "+" }, expr),
            Expr::Binary {
                op,
                lhs,
                rhs,
                matching,
                return_bool,
                ..
            } => {
                write!(
                    f,
                    "{} {}{} {}",
                    lhs,
                    op.as_str(),
                    binary_modifiers(*return_bool, matching.as_ref()),
                    rhs
                )
            }
            Expr::Aggregate {
                op,
                expr,
                param,
                grouping,
                without,
                by,
                ..
            } => {
                f.write_str(op.as_str())?;
                if *without {
                    write!(f, " without ({})", label_list(grouping))?;
                } else if *by || !grouping.is_empty() {
                    write!(f, " by ({})", label_list(grouping))?;
                }
                if !*without && !*by && grouping.is_empty() {
                    f.write_str("(")?;
                } else {
                    f.write_str(" (")?;
                }
                if let Some(p) = param {
                    write!(f, "{p}, ")?;
                }
                write!(f, "{expr})")
            }
            Expr::Call { func, args, .. } => {
                let a: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                write!(f, "{}({})", func.name, a.join(", "))
            }
            Expr::DurationFn { name, args, .. } => {
                let a: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                write!(f, "{}({})", name, a.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::format_float;

    #[test]
    fn go_float_format() {
        assert_eq!(format_float(1.5), "1.5");
        assert_eq!(format_float(1e21), "1e+21");
        assert_eq!(format_float(0.00001), "1e-05");
        assert_eq!(format_float(100.0), "100");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
    }
}
