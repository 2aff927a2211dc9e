//! PromQL tokenizer. Produces tokens with byte offsets so parse errors and
//! annotations can point at `line:col` like Prometheus does.

use super::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// Identifier or metric name (may contain `:`); keywords are identifiers too,
    /// the parser decides from context (PromQL allows `sum` as a metric name).
    Ident(String),
    Number(f64),
    /// A duration literal like `5m` or `1h30m`, in milliseconds.
    Duration(i64),
    Str(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    At,
    Assign,
    Eql,
    Neq,
    Lss,
    Lte,
    Gtr,
    Gte,
    EqlRegex,
    NeqRegex,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    TrimUpper,
    TrimLower,
    Eof,
}

impl Tok {
    /// How the token is named in "unexpected ..." errors.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("identifier {s:?}"),
            Tok::Number(_) => "number".into(),
            Tok::Duration(_) => "duration".into(),
            Tok::Str(_) => "string".into(),
            Tok::LParen => "\"(\"".into(),
            Tok::RParen => "\")\"".into(),
            Tok::LBrace => "\"{\"".into(),
            Tok::RBrace => "\"}\"".into(),
            Tok::LBracket => "\"[\"".into(),
            Tok::RBracket => "\"]\"".into(),
            Tok::Comma => "\",\"".into(),
            Tok::Colon => "\":\"".into(),
            Tok::At => "\"@\"".into(),
            Tok::Assign => "\"=\"".into(),
            Tok::Eof => "end of input".into(),
            other => format!("{:?}", op_str(other).unwrap_or("?")),
        }
    }
}

pub fn op_str(t: &Tok) -> Option<&'static str> {
    Some(match t {
        Tok::Eql => "==",
        Tok::Neq => "!=",
        Tok::Lss => "<",
        Tok::Lte => "<=",
        Tok::Gtr => ">",
        Tok::Gte => ">=",
        Tok::EqlRegex => "=~",
        Tok::NeqRegex => "!~",
        Tok::Add => "+",
        Tok::Sub => "-",
        Tok::Mul => "*",
        Tok::Div => "/",
        Tok::Mod => "%",
        Tok::Pow => "^",
        Tok::TrimUpper => "</",
        Tok::TrimLower => ">/",
        _ => return None,
    })
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

pub fn lex(input: &str) -> Result<Vec<Token>, ParseError> {
    let b = input.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // `[...]` nesting: a `:` there separates a subquery's range and step;
    // elsewhere it starts a metric name (`:foo`), as in Prometheus's lexer.
    let mut brackets = 0usize;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        let two = |n: u8| b.get(i + 1) == Some(&n);
        let (tok, len) = match c {
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b'{' => (Tok::LBrace, 1),
            b'}' => (Tok::RBrace, 1),
            b'[' => {
                brackets += 1;
                (Tok::LBracket, 1)
            }
            b']' => {
                brackets = brackets.saturating_sub(1);
                (Tok::RBracket, 1)
            }
            b',' => (Tok::Comma, 1),
            b':' if brackets > 0 => (Tok::Colon, 1),
            b'@' => (Tok::At, 1),
            b'+' => (Tok::Add, 1),
            b'-' => (Tok::Sub, 1),
            b'*' => (Tok::Mul, 1),
            b'/' => (Tok::Div, 1),
            b'%' => (Tok::Mod, 1),
            b'^' => (Tok::Pow, 1),
            b'=' if two(b'=') => (Tok::Eql, 2),
            b'=' if two(b'~') => (Tok::EqlRegex, 2),
            b'=' => (Tok::Assign, 1),
            b'!' if two(b'=') => (Tok::Neq, 2),
            b'!' if two(b'~') => (Tok::NeqRegex, 2),
            b'<' if two(b'=') => (Tok::Lte, 2),
            b'<' if two(b'/') => (Tok::TrimUpper, 2),
            b'<' => (Tok::Lss, 1),
            b'>' if two(b'=') => (Tok::Gte, 2),
            b'>' if two(b'/') => (Tok::TrimLower, 2),
            b'>' => (Tok::Gtr, 1),
            b'"' | b'\'' | b'`' => {
                let (s, len) = lex_string(input, i)?;
                (Tok::Str(s), len)
            }
            b'0'..=b'9' | b'.' => lex_number(input, i)?,
            c if c == b'_' || c.is_ascii_alphabetic() || c == b':' => {
                let mut j = i;
                while j < b.len() && (b[j] == b'_' || b[j] == b':' || b[j].is_ascii_alphanumeric())
                {
                    j += 1;
                }
                let word = &input[i..j];
                let lower = word.to_ascii_lowercase();
                // Inf and NaN are number literals in PromQL, in any case.
                if lower == "inf" {
                    (Tok::Number(f64::INFINITY), j - i)
                } else if lower == "nan" {
                    (Tok::Number(f64::NAN), j - i)
                } else {
                    (Tok::Ident(word.to_string()), j - i)
                }
            }
            _ => {
                let ch = input[i..].chars().next().unwrap_or('?');
                return Err(ParseError::new(i, format!("unexpected character: {ch:?}")));
            }
        };
        i += len;
        out.push(Token { tok, start, end: i });
    }
    out.push(Token {
        tok: Tok::Eof,
        start: b.len(),
        end: b.len(),
    });
    Ok(out)
}

fn lex_number(input: &str, i: usize) -> Result<(Tok, usize), ParseError> {
    let b = input.as_bytes();
    // Hexadecimal / octal / binary integers.
    if b[i] == b'0' && i + 1 < b.len() && matches!(b[i + 1], b'x' | b'X') {
        let mut j = i + 2;
        while j < b.len() && b[j].is_ascii_hexdigit() {
            j += 1;
        }
        let v = i64::from_str_radix(&input[i + 2..j], 16)
            .map_err(|_| ParseError::new(i, format!("bad number {:?}", &input[i..j])))?;
        return Ok((Tok::Number(v as f64), j - i));
    }
    // Duration: digits followed by a unit, possibly repeated (1h30m).
    if let Some(len) = duration_len(&b[i..]) {
        let ms = parse_duration(&input[i..i + len]).map_err(|e| ParseError::new(i, e))?;
        return Ok((Tok::Duration(ms), len));
    }
    let mut j = i;
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    if j < b.len() && b[j] == b'.' {
        j += 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
    }
    if j < b.len() && matches!(b[j], b'e' | b'E') {
        let mut k = j + 1;
        if k < b.len() && matches!(b[k], b'+' | b'-') {
            k += 1;
        }
        if k < b.len() && b[k].is_ascii_digit() {
            while k < b.len() && b[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    if j < b.len() && (b[j].is_ascii_alphabetic() || b[j] == b'_') {
        let mut k = j;
        while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_') {
            k += 1;
        }
        return Err(ParseError::new(
            i,
            format!("bad number or duration syntax: {:?}", &input[i..k]),
        ));
    }
    let text = &input[i..j];
    if text == "." {
        return Err(ParseError::new(i, "unexpected character: '.'".into()));
    }
    // Go-style octal integer literals (leading 0) are rare; treat them as decimal
    // unless they look octal (all digits 0-7 and longer than one digit).
    let v = if text.len() > 1
        && text.starts_with('0')
        && text.bytes().all(|c| (b'0'..=b'7').contains(&c))
    {
        i64::from_str_radix(&text[1..], 8)
            .map(|v| v as f64)
            .unwrap_or(0.0)
    } else {
        text.parse::<f64>()
            .map_err(|_| ParseError::new(i, format!("bad number {text:?}")))?
    };
    Ok((Tok::Number(v), j - i))
}

/// Length of a duration literal at the start of `b`, if there is one.
fn duration_len(b: &[u8]) -> Option<usize> {
    let mut j = 0;
    let mut parts = 0;
    loop {
        let ds = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j == ds || j >= b.len() {
            j = ds;
            break;
        }
        let ulen = if b[j..].starts_with(b"ms") {
            2
        } else if matches!(b[j], b's' | b'm' | b'h' | b'd' | b'w' | b'y') {
            1
        } else {
            0
        };
        if ulen == 0 {
            j = ds;
            break;
        }
        j += ulen;
        parts += 1;
    }
    if parts == 0 || j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'.' || b[j] == b'_') {
        return None;
    }
    Some(j)
}

/// Parses a Prometheus duration (`1h30m`, `90s`, `10s53ms`) into milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    if s == "0" {
        return Ok(0);
    }
    let b = s.as_bytes();
    let mut j = 0;
    let mut total: i64 = 0;
    let mut last_rank = usize::MAX;
    while j < b.len() {
        let ds = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if ds == j {
            return Err(format!("not a valid duration string: {s:?}"));
        }
        let n: i64 = s[ds..j]
            .parse()
            .map_err(|_| format!("not a valid duration string: {s:?}"))?;
        let rest = &s[j..];
        let (unit, mult, rank) = if rest.starts_with("ms") {
            ("ms", 1, 0)
        } else if rest.starts_with('s') {
            ("s", 1000, 1)
        } else if rest.starts_with('m') {
            ("m", 60_000, 2)
        } else if rest.starts_with('h') {
            ("h", 3_600_000, 3)
        } else if rest.starts_with('d') {
            ("d", 86_400_000, 4)
        } else if rest.starts_with('w') {
            ("w", 7 * 86_400_000, 5)
        } else if rest.starts_with('y') {
            ("y", 365 * 86_400_000, 6)
        } else {
            return Err(format!("not a valid duration string: {s:?}"));
        };
        if rank >= last_rank {
            return Err(format!("not a valid duration string: {s:?}"));
        }
        last_rank = rank;
        total = total
            .checked_add(
                n.checked_mul(mult)
                    .ok_or_else(|| "duration out of range".to_string())?,
            )
            .ok_or_else(|| "duration out of range".to_string())?;
        j += unit.len();
    }
    Ok(total)
}

/// Renders milliseconds the way Prometheus's `model.Duration` does (`1h30m`, `0s`).
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let (neg, mut ms) = if ms < 0 { (true, -ms) } else { (false, ms) };
    let mut r = String::new();
    if neg {
        r.push('-');
    }
    let mut f = |unit: &str, mult: i64, exact: bool| {
        if exact && ms % mult != 0 {
            return;
        }
        let v = ms / mult;
        if v > 0 {
            r.push_str(&format!("{v}{unit}"));
            ms -= v * mult;
        }
    };
    f("y", 365 * 86_400_000, true);
    f("w", 7 * 86_400_000, true);
    f("d", 86_400_000, false);
    f("h", 3_600_000, false);
    f("m", 60_000, false);
    f("s", 1000, false);
    f("ms", 1, false);
    r
}

/// Reads a Go-style quoted string starting at `i`; returns the value and byte length.
fn lex_string(input: &str, i: usize) -> Result<(String, usize), ParseError> {
    let b = input.as_bytes();
    let q = b[i];
    let mut j = i + 1;
    if q == b'`' {
        while j < b.len() && b[j] != b'`' {
            j += 1;
        }
        if j >= b.len() {
            return Err(ParseError::new(i, "unterminated raw string".into()));
        }
        return Ok((input[i + 1..j].to_string(), j + 1 - i));
    }
    while j < b.len() && b[j] != q {
        if b[j] == b'\\' {
            j += 1;
        }
        if j < b.len() && b[j] == b'\n' {
            return Err(ParseError::new(i, "unterminated quoted string".into()));
        }
        j += 1;
    }
    if j >= b.len() {
        return Err(ParseError::new(i, "unterminated quoted string".into()));
    }
    let v = unescape(&input[i + 1..j], q as char).map_err(|e| ParseError::new(i, e))?;
    Ok((v, j + 1 - i))
}

/// First of 256 private-use code points standing for invalid UTF-8 bytes.
pub const INVALID_BYTE_BASE: u32 = 0xF700;

/// Whether a string holds bytes that were not valid UTF-8 in the query.
pub fn has_invalid_bytes(s: &str) -> bool {
    s.chars()
        .any(|c| (INVALID_BYTE_BASE..INVALID_BYTE_BASE + 256).contains(&(c as u32)))
}

/// Go `strconv.Unquote` escape handling for the body of a quoted string.
pub fn unescape(s: &str, quote: char) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut bytes: Vec<u8> = Vec::new();
    let mut it = s.chars().peekable();
    // Escaped bytes that are not valid UTF-8 are kept as private-use characters
    // U+F700+byte so they can be printed back as `\xNN` and rejected as names.
    let flush = |bytes: &mut Vec<u8>, out: &mut String| -> Result<(), String> {
        let mut rest: &[u8] = bytes;
        while !rest.is_empty() {
            match std::str::from_utf8(rest) {
                Ok(v) => {
                    out.push_str(v);
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(good).unwrap());
                    out.push(char::from_u32(INVALID_BYTE_BASE + bad[0] as u32).unwrap());
                    rest = &bad[1..];
                }
            }
        }
        bytes.clear();
        Ok(())
    };
    while let Some(c) = it.next() {
        if c != '\\' {
            flush(&mut bytes, &mut out)?;
            out.push(c);
            continue;
        }
        let e = it.next().ok_or("invalid syntax")?;
        let simple = match e {
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'f' => Some('\x0c'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\x0b'),
            '\\' => Some('\\'),
            '\'' | '"' => {
                if e != quote {
                    return Err(format!("invalid escape sequence: \\{e}"));
                }
                Some(e)
            }
            _ => None,
        };
        if let Some(ch) = simple {
            flush(&mut bytes, &mut out)?;
            out.push(ch);
            continue;
        }
        match e {
            'x' => {
                let h: String = (0..2).filter_map(|_| it.next()).collect();
                let v = u8::from_str_radix(&h, 16).map_err(|_| "invalid escape sequence")?;
                bytes.push(v);
            }
            'u' | 'U' => {
                let n = if e == 'u' { 4 } else { 8 };
                let h: String = (0..n).filter_map(|_| it.next()).collect();
                let v = u32::from_str_radix(&h, 16).map_err(|_| "invalid escape sequence")?;
                flush(&mut bytes, &mut out)?;
                out.push(char::from_u32(v).ok_or("invalid unicode escape")?);
            }
            '0'..='7' => {
                let mut h = String::from(e);
                for _ in 0..2 {
                    if let Some(c) = it.next() {
                        h.push(c);
                    }
                }
                let v = u32::from_str_radix(&h, 8).map_err(|_| "invalid escape sequence")?;
                if v > 255 {
                    return Err("invalid escape sequence".into());
                }
                bytes.push(v as u8);
            }
            _ => return Err(format!("unknown escape sequence {:?}", format!("\\{e}"))),
        }
    }
    flush(&mut bytes, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration("10s53ms").unwrap(), 10_053);
        assert!(parse_duration("30m1h").is_err());
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(86_400_000 * 7), "1w");
    }

    #[test]
    fn tokens() {
        let t: Vec<Tok> = lex("rate(foo:bar[5m]) >/ 1e3 </ 0x10")
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect();
        assert_eq!(
            t,
            vec![
                Tok::Ident("rate".into()),
                Tok::LParen,
                Tok::Ident("foo:bar".into()),
                Tok::LBracket,
                Tok::Duration(300_000),
                Tok::RBracket,
                Tok::RParen,
                Tok::TrimLower,
                Tok::Number(1000.0),
                Tok::TrimUpper,
                Tok::Number(16.0),
                Tok::Eof
            ]
        );
    }
}
