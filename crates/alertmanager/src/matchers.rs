//! Alertmanager label matchers (`pkg/labels`): `=`, `!=`, `=~`, `!~` with
//! fully anchored RE2-style regexes, a missing label matching as "", the
//! `name="value"` print form used in route keys, and the `matchers:` string
//! grammar in Alertmanager's fallback mode (classic parser first; the UTF-8
//! parser only when the classic one refuses the input).

use std::cmp::Ordering;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::labels::{LabelSet, go_quote};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MatchType {
    Equal,
    NotEqual,
    Regexp,
    NotRegexp,
}

impl MatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regexp => "=~",
            MatchType::NotRegexp => "!~",
        }
    }

    pub fn from_flags(is_regex: bool, is_equal: bool) -> MatchType {
        match (is_regex, is_equal) {
            (false, true) => MatchType::Equal,
            (false, false) => MatchType::NotEqual,
            (true, true) => MatchType::Regexp,
            (true, false) => MatchType::NotRegexp,
        }
    }

    pub fn is_regex(self) -> bool {
        matches!(self, MatchType::Regexp | MatchType::NotRegexp)
    }

    pub fn is_equal(self) -> bool {
        matches!(self, MatchType::Equal | MatchType::Regexp)
    }
}

#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub ty: MatchType,
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.ty == o.ty && self.value == o.value
    }
}
impl Eq for Matcher {}

impl Matcher {
    pub fn new(
        ty: MatchType,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, String> {
        let name = name.into();
        let value = value.into();
        let re = if ty.is_regex() {
            Some(
                regex::RegexBuilder::new(&format!("^(?:{value})$"))
                    .size_limit(1 << 22)
                    .build()
                    .map_err(|e| {
                        format!(
                            "error parsing regexp: {}",
                            e.to_string().lines().last().unwrap_or("invalid")
                        )
                    })?,
            )
        } else {
            None
        };
        Ok(Matcher {
            name,
            ty,
            value,
            re,
        })
    }

    pub fn matches(&self, v: &str) -> bool {
        match self.ty {
            MatchType::Equal => v == self.value,
            MatchType::NotEqual => v != self.value,
            MatchType::Regexp => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchType::NotRegexp => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    pub fn matches_labels(&self, ls: &LabelSet) -> bool {
        self.matches(ls.get(&self.name).unwrap_or(""))
    }

    /// Order used for printing: name, then value, then type.
    pub fn sort_cmp(&self, o: &Matcher) -> Ordering {
        self.name
            .cmp(&o.name)
            .then_with(|| self.value.cmp(&o.value))
            .then_with(|| self.ty.cmp(&o.ty))
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.name,
            self.ty.as_str(),
            go_quote(&self.value)
        )
    }
}

/// A conjunction of matchers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    pub fn matches(&self, ls: &LabelSet) -> bool {
        self.0.iter().all(|m| m.matches_labels(ls))
    }

    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| a.sort_cmp(b));
    }
}

impl fmt::Display for Matchers {
    /// `{a="1",b=~"x"}`: what route keys are made of.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

/// Parses a `matchers:` entry, an API `filter=` value or an amtool argument:
/// one or more comma-separated matchers, optionally in braces.
pub fn parse_matchers(s: &str) -> Result<Vec<Matcher>, String> {
    match parse_classic(s) {
        Ok(ms) => Ok(ms),
        Err(classic) => parse_utf8(s).map_err(|_| classic),
    }
}

/// Parses exactly one matcher.
pub fn parse_matcher(s: &str) -> Result<Matcher, String> {
    let ms = parse_matchers(s)?;
    match ms.len() {
        1 => Ok(ms.into_iter().next().expect("one element")),
        n => Err(format!("expected 1 matcher, found {n}: {s}")),
    }
}

/// The pre-0.27 parser (`pkg/labels.ParseMatchers`).
fn parse_classic(s: &str) -> Result<Vec<Matcher>, String> {
    let s = s.strip_prefix('{').unwrap_or(s);
    let s = s.strip_suffix('}').unwrap_or(s);
    let mut tokens = Vec::new();
    let mut token = String::new();
    let (mut inside, mut escaped) = (false, false);
    for c in s.chars() {
        match c {
            ',' if !inside => {
                tokens.push(std::mem::take(&mut token));
                continue;
            }
            ',' => {}
            '"' => {
                if !escaped {
                    inside = !inside;
                } else {
                    escaped = false;
                }
            }
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
        token.push(c);
    }
    if !token.trim().is_empty() {
        tokens.push(token.trim().to_string());
    }
    tokens.iter().map(|t| parse_classic_one(t)).collect()
}

fn parse_classic_one(s: &str) -> Result<Matcher, String> {
    static RE: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*((?s).*?)\s*$")
            .expect("static regex")
    });
    let caps = RE
        .captures(s)
        .ok_or_else(|| format!("bad matcher format: {s}"))?;
    let raw_full = caps.get(3).map_or("", |m| m.as_str());
    let (raw, mut expect_quote) = match raw_full.strip_prefix('"') {
        Some(r) => (r, true),
        None => (raw_full, false),
    };
    let mut value = String::new();
    let mut escaped = false;
    let chars: Vec<(usize, char)> = raw.char_indices().collect();
    for (i, c) in chars.iter().copied() {
        let last = i + c.len_utf8() == raw.len();
        if escaped {
            escaped = false;
            match c {
                'n' => value.push('\n'),
                '"' | '\\' => value.push(c),
                _ => {
                    value.push('\\');
                    value.push(c);
                }
            }
            continue;
        }
        match c {
            '\\' if !last => escaped = true,
            '\\' => value.push('\\'),
            '"' => {
                if !expect_quote || !last {
                    return Err(format!(
                        "matcher value contains unescaped double quote: {raw_full}"
                    ));
                }
                expect_quote = false;
            }
            _ => value.push(c),
        }
    }
    if expect_quote {
        return Err(format!(
            "matcher value contains unescaped double quote: {raw_full}"
        ));
    }
    let ty = match &caps[2] {
        "=" => MatchType::Equal,
        "!=" => MatchType::NotEqual,
        "=~" => MatchType::Regexp,
        _ => MatchType::NotRegexp,
    };
    Matcher::new(ty, &caps[1], value)
}

/// The 0.27+ UTF-8 parser: quoted or bare names and values, trailing comma allowed.
fn parse_utf8(input: &str) -> Result<Vec<Matcher>, String> {
    let s = input.trim();
    let s = match (s.starts_with('{'), s.ends_with('}')) {
        (true, true) => &s[1..s.len() - 1],
        (false, false) => s,
        _ => return Err(format!("unbalanced braces: {input}")),
    };
    let mut p = Utf8Parser {
        s: s.as_bytes(),
        src: s,
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        p.skip_ws();
        if p.i >= p.s.len() {
            break;
        }
        let name = p.term()?;
        p.skip_ws();
        let ty = p.op()?;
        p.skip_ws();
        let value = p.term()?;
        out.push(Matcher::new(ty, name, value)?);
        p.skip_ws();
        if p.i < p.s.len() {
            if p.s[p.i] != b',' {
                return Err(format!("expected a comma at position {} in {input}", p.i));
            }
            p.i += 1;
        }
    }
    Ok(out)
}

struct Utf8Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
}

impl Utf8Parser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn op(&mut self) -> Result<MatchType, String> {
        let rest = &self.src[self.i..];
        for (tok, ty) in [
            ("=~", MatchType::Regexp),
            ("!~", MatchType::NotRegexp),
            ("!=", MatchType::NotEqual),
            ("=", MatchType::Equal),
        ] {
            if rest.starts_with(tok) {
                self.i += tok.len();
                return Ok(ty);
            }
        }
        Err(format!("expected an operator at position {}", self.i))
    }

    fn term(&mut self) -> Result<String, String> {
        if self.s.get(self.i) == Some(&b'"') {
            return self.quoted();
        }
        let start = self.i;
        while self.i < self.s.len() {
            let c = self.src[self.i..].chars().next().unwrap_or(' ');
            if c.is_whitespace() || "{}!=~,\\\"'`".contains(c) {
                break;
            }
            self.i += c.len_utf8();
        }
        if start == self.i {
            return Err(format!("expected a name or value at position {start}"));
        }
        Ok(self.src[start..self.i].to_string())
    }

    /// A Go double-quoted string literal.
    fn quoted(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = String::new();
        let mut chars = self.src[self.i..].char_indices();
        while let Some((off, c)) = chars.next() {
            match c {
                '"' => {
                    self.i += off + 1;
                    return Ok(out);
                }
                '\\' => {
                    let (_, e) = chars.next().ok_or("unterminated escape")?;
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'a' => out.push('\u{7}'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'v' => out.push('\u{b}'),
                        '\\' | '"' | '\'' => out.push(e),
                        'x' | 'u' | 'U' => {
                            let n = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex: String = (0..n)
                                .filter_map(|_| chars.next().map(|(_, c)| c))
                                .collect();
                            let v = u32::from_str_radix(&hex, 16)
                                .map_err(|_| format!("invalid escape \\{e}{hex}"))?;
                            out.push(char::from_u32(v).ok_or("invalid code point")?);
                        }
                        other => return Err(format!("invalid escape \\{other}")),
                    }
                }
                c => out.push(c),
            }
        }
        Err("unterminated quoted string".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Matcher {
        parse_matcher(s).unwrap()
    }

    #[test]
    fn classic_forms() {
        let ms = parse_matchers(r#"{alertname="Watchdog", severity=~"warning|critical"}"#).unwrap();
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[1].ty, MatchType::Regexp);
        assert!(ms[1].matches("critical") && !ms[1].matches("xcritical"));
        assert_eq!(one("foo=bar").value, "bar");
        assert_eq!(one(r#"foo="a\"b""#).value, "a\"b");
        assert_eq!(one(r#"foo=a\db"#).value, r"a\db");
        assert_eq!(one("env=~prod|staging").value, "prod|staging");
        assert_eq!(one("foo=").value, "");
        assert!(parse_matchers(r#"foo="a"b""#).is_err());
    }

    #[test]
    fn utf8_fallback() {
        // Quoted UTF-8 names only parse with the newer parser.
        let m = one(r#"{"service.name"="api",}"#);
        assert_eq!(m.name, "service.name");
        assert_eq!(parse_matchers("a=1,b!=2,").unwrap().len(), 2);
    }

    #[test]
    fn semantics() {
        let l = crate::labels::ls([("a", "1")]);
        assert!(one("b=\"\"").matches_labels(&l));
        assert!(one("b!=x").matches_labels(&l));
        assert!(!one("b=~.+").matches_labels(&l));
        assert!(one("a!~2|3").matches_labels(&l));
    }

    #[test]
    fn printing_and_sorting() {
        let mut ms = Matchers(vec![one("b=~x"), one("a!=\"q\\\"\""), one("a=\"q\\\"\"")]);
        ms.sort();
        assert_eq!(ms.to_string(), r#"{a="q\"",a!="q\"",b=~"x"}"#);
    }
}
