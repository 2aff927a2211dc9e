//! Series lines of the test language: `<labels> <values>` (FORMAT.md §6).

use sightline_model::{Labels, MatchOp};
use sightline_promql::parser::{self, Expr};

#[derive(Debug, Clone)]
pub enum Item {
    Float(f64),
    Stale,
    Omitted,
    /// A native histogram value (not supported by the storage; only counted).
    Histogram,
}

pub fn parse_duration_word(s: &str) -> Result<i64, String> {
    parser::parse_duration(s)
}

/// Splits a series line into its label part and the value part.
fn split_labels(line: &str) -> (&str, &str) {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'{' {
        i += 1;
    }
    if i < b.len() && b[i] == b'{' {
        let mut quote: Option<u8> = None;
        while i < b.len() {
            let c = b[i];
            match quote {
                Some(q) => {
                    if c == b'\\' {
                        i += 1;
                    } else if c == q {
                        quote = None;
                    }
                }
                None => {
                    if c == b'"' || c == b'\'' || c == b'`' {
                        quote = Some(c);
                    } else if c == b'}' {
                        i += 1;
                        break;
                    }
                }
            }
            i += 1;
        }
    }
    (&line[..i], &line[i..])
}

fn parse_labels(s: &str) -> Result<Labels, String> {
    // Keywords are valid metric names here; wrap them so the PromQL parser
    // reads a selector.
    if s.replace(' ', "") == "{}" {
        return Ok(Labels::empty());
    }
    let src = if s.starts_with('{') {
        s.to_string()
    } else {
        let (name, rest) = s.split_at(s.find('{').unwrap_or(s.len()));
        let inner = rest.trim_start_matches('{').trim_end_matches('}').trim();
        if inner.is_empty() {
            format!("{{__name__={name:?}}}")
        } else {
            format!("{{__name__={name:?}, {inner}}}")
        }
    };
    let e = parser::parse(&src).map_err(|e| format!("labels {s:?}: {e}"))?;
    let Expr::Vector(vs) = e else {
        return Err(format!("labels {s:?} are not a selector"));
    };
    let mut pairs = Vec::new();
    for m in vs.matchers {
        if m.op != MatchOp::Equal {
            return Err(format!("non-equality matcher in series {s:?}"));
        }
        pairs.push((m.name, m.value));
    }
    Ok(Labels::from_pairs(pairs))
}

fn parse_num(s: &str) -> Result<f64, String> {
    let l = s.to_ascii_lowercase();
    match l.as_str() {
        "inf" | "+inf" => return Ok(f64::INFINITY),
        "-inf" => return Ok(f64::NEG_INFINITY),
        "nan" | "+nan" | "-nan" => return Ok(f64::NAN),
        _ => {}
    }
    s.parse::<f64>().map_err(|_| format!("bad number {s:?}"))
}

/// Tokens of the value part; `{{...}}` groups (with spaces inside) stay whole.
fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '{' => {
                depth += 1;
                cur.push(c);
            }
            '}' => {
                depth -= 1;
                cur.push(c);
            }
            c if c.is_whitespace() && depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn expand(tok: &str, out: &mut Vec<Item>) -> Result<(), String> {
    if tok == "_" {
        out.push(Item::Omitted);
        return Ok(());
    }
    if tok == "stale" {
        out.push(Item::Stale);
        return Ok(());
    }
    if tok.starts_with("{{") {
        // {{A}} | {{A}}xN | {{A}}+{{B}}xN | {{A}}-{{B}}xN
        let times = match tok.rfind("}}x") {
            Some(p) => {
                tok[p + 3..]
                    .parse::<usize>()
                    .map_err(|_| format!("bad histogram series {tok:?}"))?
                    + 1
            }
            None => 1,
        };
        for _ in 0..times {
            out.push(Item::Histogram);
        }
        return Ok(());
    }
    if let Some(n) = tok.strip_prefix("_x") {
        let n: usize = n.parse().map_err(|_| format!("bad item {tok:?}"))?;
        for _ in 0..n {
            out.push(Item::Omitted);
        }
        return Ok(());
    }
    if let Some(xp) = tok.rfind('x') {
        let n: usize = tok[xp + 1..]
            .parse()
            .map_err(|_| format!("bad item {tok:?}"))?;
        let head = &tok[..xp];
        // Find the operator between start value and delta (not a leading sign, not an exponent sign).
        let hb = head.as_bytes();
        let mut op = None;
        for k in 1..hb.len() {
            if (hb[k] == b'+' || hb[k] == b'-') && !matches!(hb[k - 1], b'e' | b'E') {
                op = Some(k);
                break;
            }
        }
        match op {
            Some(k) => {
                let mut v = parse_num(&head[..k])?;
                let d = parse_num(&head[k + 1..])?;
                let d = if hb[k] == b'-' { -d } else { d };
                for _ in 0..=n {
                    out.push(Item::Float(v));
                    v += d;
                }
            }
            None => {
                let v = parse_num(head)?;
                for _ in 0..=n {
                    out.push(Item::Float(v));
                }
            }
        }
        return Ok(());
    }
    out.push(Item::Float(parse_num(tok)?));
    Ok(())
}

pub fn parse_series_line(line: &str) -> Result<(Labels, Vec<Item>), String> {
    let (l, v) = split_labels(line.trim());
    let labels = parse_labels(l.trim())?;
    let mut items = Vec::new();
    for t in tokens(v) {
        expand(&t, &mut items)?;
    }
    Ok((labels, items))
}

/// One `@st` duration (FORMAT.md §4.2): optionally signed integer and unit
/// (`-1m`, `30s`, `-59999ms`, `0`); returns milliseconds and the rest.
fn st_duration(s: &str) -> Result<(i64, &str), String> {
    let b = s.as_bytes();
    let mut i = 0;
    let neg = match b.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let ds = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == ds {
        return Err(format!("bad start timestamp offset {s:?}"));
    }
    let n: i64 = s[ds..i]
        .parse()
        .map_err(|_| format!("bad start timestamp offset {s:?}"))?;
    let us = i;
    while i < b.len() && b[i].is_ascii_alphabetic() && b[i] != b'x' {
        i += 1;
    }
    let unit = match &s[us..i] {
        "" if n == 0 => 0,
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "y" => 365 * 86_400_000,
        u => return Err(format!("bad start timestamp unit {u:?} in {s:?}")),
    };
    let ms = n * unit;
    Ok((if neg { -ms } else { ms }, &s[i..]))
}

/// Expands one item of an `@st` line into per-position offsets (`None` = no ST).
fn expand_st(tok: &str, out: &mut Vec<Option<i64>>) -> Result<(), String> {
    if tok == "_" {
        out.push(None);
        return Ok(());
    }
    if let Some(n) = tok.strip_prefix("_x") {
        let n: usize = n.parse().map_err(|_| format!("bad item {tok:?}"))?;
        if n == 0 {
            return Err(format!("bad item {tok:?}"));
        }
        out.extend(std::iter::repeat_n(None, n));
        return Ok(());
    }
    let (start, rest) = st_duration(tok)?;
    if rest.is_empty() {
        out.push(Some(start));
        return Ok(());
    }
    let (step, rest) = match rest.as_bytes()[0] {
        b'+' | b'-' => {
            let (d, r) = st_duration(rest)?;
            (d, r)
        }
        _ => (0, rest),
    };
    let n: usize = rest
        .strip_prefix('x')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("bad start timestamp item {tok:?}"))?;
    for k in 0..=n {
        out.push(Some(start + step * k as i64));
    }
    Ok(())
}

/// An `@st` line: the label set (before `@st`) and one start-timestamp
/// offset per position.
pub fn parse_st_line(line: &str) -> Result<(Labels, Vec<Option<i64>>), String> {
    let line = line.trim();
    let end = line
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(line.len());
    let labels = line[..end]
        .strip_suffix("@st")
        .ok_or_else(|| format!("not an @st line: {line:?}"))?;
    let labels = parse_labels(labels.trim())?;
    let mut out = Vec::new();
    for t in tokens(&line[end..]) {
        expand_st(&t, &mut out)?;
    }
    Ok((labels, out))
}
