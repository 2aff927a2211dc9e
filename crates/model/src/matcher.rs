use std::fmt;

use regex::Regex;

use crate::Labels;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatcherError(pub String);

impl fmt::Display for MatcherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MatcherError {}

/// One label matcher. Regexes are fully anchored and `.` matches newlines,
/// as in Prometheus 3.x. A missing label matches as the empty string.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<Regex>,
    /// Literal alternatives when a regex is a plain `a|b|c` set: served from postings directly.
    set: Option<Vec<String>>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}

impl Matcher {
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let name = name.into();
        let value = value.into();
        let (re, set) = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                let re = regex::RegexBuilder::new(&format!("^(?s:{value})$"))
                    .size_limit(1 << 22)
                    .build()
                    .map_err(|e| {
                        MatcherError(format!("invalid regular expression {value:?}: {e}"))
                    })?;
                (Some(re), literal_alternatives(&value))
            }
            _ => (None, None),
        };
        Ok(Matcher {
            name,
            op,
            value,
            re,
            set,
        })
    }

    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(MatchOp::Equal, name, value).expect("equality matchers always build")
    }

    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::Regex => self.re_matches(v),
            MatchOp::NotRegex => !self.re_matches(v),
        }
    }

    fn re_matches(&self, v: &str) -> bool {
        if let Some(set) = &self.set {
            return set.iter().any(|s| s == v);
        }
        self.re.as_ref().is_some_and(|r| r.is_match(v))
    }

    /// Whether the matcher accepts a series that lacks the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    pub fn matches_labels(&self, l: &Labels) -> bool {
        self.matches(l.get(&self.name).unwrap_or(""))
    }

    /// For `=~"a|b|c"` with only literal alternatives, the values; the index
    /// unions their postings instead of scanning every value.
    pub fn literal_set(&self) -> Option<&[String]> {
        self.set.as_deref()
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

fn literal_alternatives(re: &str) -> Option<Vec<String>> {
    const META: &[char] = &[
        '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '^', '$', '\\',
    ];
    if re.contains(META) {
        return None;
    }
    Some(re.split('|').map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_is_anchored_and_dot_matches_newline() {
        let m = Matcher::new(MatchOp::Regex, "a", "fo.").unwrap();
        assert!(m.matches("foo"));
        assert!(m.matches("fo\n"));
        assert!(!m.matches("xfoo"));
        assert!(!m.matches("fooo"));
    }

    #[test]
    fn literal_sets_are_detected() {
        let m = Matcher::new(MatchOp::Regex, "a", "x|yy|z").unwrap();
        assert_eq!(m.literal_set().unwrap(), ["x", "yy", "z"]);
        assert!(m.matches("yy") && !m.matches("y"));
        let m = Matcher::new(MatchOp::Regex, "a", "x.*").unwrap();
        assert!(m.literal_set().is_none());
    }

    #[test]
    fn missing_label_is_empty() {
        let l = Labels::from_pairs([("a", "1")]);
        assert!(
            Matcher::new(MatchOp::Equal, "b", "")
                .unwrap()
                .matches_labels(&l)
        );
        assert!(
            Matcher::new(MatchOp::NotRegex, "b", ".+")
                .unwrap()
                .matches_labels(&l)
        );
        assert!(
            !Matcher::new(MatchOp::Regex, "b", ".+")
                .unwrap()
                .matches_labels(&l)
        );
    }

    #[test]
    fn bad_regex_is_an_error() {
        let e = Matcher::new(MatchOp::Regex, "a", "(").unwrap_err();
        assert!(e.0.contains("invalid regular expression"), "{e}");
    }
}
