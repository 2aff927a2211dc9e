//! A byte cursor with the token shapes both text formats share.

use super::labels::Span;

pub(crate) fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

pub(crate) fn is_label_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

pub(crate) struct Cursor<'a> {
    pub(crate) src: &'a str,
    pub(crate) b: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Cursor {
            src,
            b: src.as_bytes(),
            pos: 0,
        }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.b.len()
    }

    pub(crate) fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn eat_str(&mut self, s: &str) -> bool {
        if self.starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    pub(crate) fn starts_with(&self, s: &str) -> bool {
        self.b
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(s.as_bytes()))
    }

    /// Skips `[ \t]*`.
    pub(crate) fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> Span {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        Span::input(start, self.pos)
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`
    pub(crate) fn metric_name(&mut self) -> Option<Span> {
        if !self.peek().is_some_and(is_name_start) {
            return None;
        }
        Some(self.take_while(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':'))
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`
    pub(crate) fn label_name(&mut self) -> Option<Span> {
        if !self.peek().is_some_and(is_label_start) {
            return None;
        }
        Some(self.take_while(|c| c.is_ascii_alphanumeric() || c == b'_'))
    }

    /// A run of bytes up to (not including) a space, newline or any byte in `stop`.
    pub(crate) fn token(&mut self, stop: &[u8]) -> Span {
        self.take_while(|c| c != b' ' && c != b'\n' && !stop.contains(&c))
    }

    /// Everything up to the next newline (not consumed).
    pub(crate) fn rest_of_line(&mut self) -> Span {
        let start = self.pos;
        self.pos = memchr_newline(&self.b[start..]).map_or(self.b.len(), |i| start + i);
        Span::input(start, self.pos)
    }

    /// A `"`-quoted string, `"(\\.|[^\\"])*"`, with the cursor on the opening
    /// quote. Returns the raw (still escaped) contents. A backslash escapes any
    /// character except a newline; raw newlines are allowed only if asked.
    pub(crate) fn quoted(&mut self, allow_newline: bool) -> Result<Span, &'static str> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        let start = self.pos + 1;
        let mut i = start;
        while let Some(&c) = self.b.get(i) {
            match c {
                b'"' => {
                    self.pos = i + 1;
                    return Ok(Span::input(start, i));
                }
                b'\\' => match self.b.get(i + 1) {
                    None | Some(b'\n') => break,
                    Some(_) => i += 2,
                },
                b'\n' if !allow_newline => break,
                _ => i += 1,
            }
        }
        Err("unterminated quoted string")
    }

    /// What follows the cursor, for error messages: a quoted excerpt of the
    /// rest of the line, or `newline` / `end of input`.
    pub(crate) fn describe_next(&self) -> String {
        let rest = self.src.get(self.pos..).unwrap_or_default();
        let line = rest.split('\n').next().unwrap_or_default();
        if line.is_empty() {
            return if rest.is_empty() {
                "end of input"
            } else {
                "newline"
            }
            .to_owned();
        }
        match line.char_indices().nth(24) {
            Some((i, _)) => format!("{:?}...", &line[..i]),
            None => format!("{line:?}"),
        }
    }

    pub(crate) fn str(&self, span: Span) -> &'a str {
        span.resolve(self.src, "")
    }

    /// 1-based line number of byte offset `pos`.
    pub(crate) fn line_of(&self, pos: usize) -> usize {
        1 + self.b[..pos.min(self.b.len())]
            .iter()
            .filter(|&&c| c == b'\n')
            .count()
    }
}

fn memchr_newline(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// Which escape sequences a quoted string or HELP text understands. Anything
/// else after a backslash is kept verbatim, as Go's `strings.Replacer` does.
#[derive(Clone, Copy)]
pub(crate) enum Escapes {
    /// `\\`, `\"`, `\n`: label values, quoted names, OpenMetrics HELP.
    Quoted,
    /// `\\`, `\n`: Prometheus text HELP.
    Help,
}

/// Unescapes `raw` (a span of `src`). Without backslashes the input span is
/// returned as is; otherwise the unescaped text is appended to `buf`.
pub(crate) fn unescape(src: &str, raw: Span, esc: Escapes, buf: &mut String) -> Span {
    let s = raw.resolve(src, "");
    if !s.contains('\\') {
        return raw;
    }
    let start = buf.len();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            buf.push(c);
            continue;
        }
        let mut ahead = chars.clone();
        match (ahead.next(), esc) {
            (Some('\\'), _) => buf.push('\\'),
            (Some('n'), _) => buf.push('\n'),
            (Some('"'), Escapes::Quoted) => buf.push('"'),
            _ => {
                buf.push('\\');
                continue;
            }
        }
        chars = ahead;
    }
    Span {
        start,
        end: buf.len(),
        in_buf: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn un(s: &str, esc: Escapes) -> String {
        let mut buf = String::new();
        let span = unescape(s, Span::input(0, s.len()), esc, &mut buf);
        span.resolve(s, &buf).to_owned()
    }

    #[test]
    fn unescaping() {
        assert_eq!(un(r#"a\\b\"c\nd\z\"#, Escapes::Quoted), "a\\b\"c\nd\\z\\");
        assert_eq!(un(r#"a\\b\"c\nd"#, Escapes::Help), "a\\b\\\"c\nd");
        assert_eq!(un(r"\\n", Escapes::Quoted), "\\n");
        assert_eq!(un("plain", Escapes::Quoted), "plain");
    }
}
