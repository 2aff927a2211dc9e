//! Borrowed label sets: spans into the input or into a per-line scratch buffer
//! (for values that needed unescaping), so parsing allocates nothing per sample.

/// Where a string lives: a byte range of the input or of the scratch buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) in_buf: bool,
}

impl Span {
    pub(crate) fn input(start: usize, end: usize) -> Self {
        Span {
            start,
            end,
            in_buf: false,
        }
    }

    pub(crate) fn resolve<'a>(self, input: &'a str, buf: &'a str) -> &'a str {
        let src = if self.in_buf { buf } else { input };
        // Spans always sit on ASCII delimiters, hence on char boundaries;
        // `get` keeps that an invariant rather than a panic.
        src.get(self.start..self.end).unwrap_or_default()
    }
}

/// The labels of one sample or exemplar, in input order, unescaped. The metric
/// name is not included. Values may be empty (meaning "absent").
#[derive(Clone, Copy)]
pub struct LabelsRef<'a> {
    input: &'a str,
    buf: &'a str,
    pairs: &'a [(Span, Span)],
}

impl<'a> LabelsRef<'a> {
    pub(crate) fn new(input: &'a str, buf: &'a str, pairs: &'a [(Span, Span)]) -> Self {
        LabelsRef { input, buf, pairs }
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// `(name, value)` pairs in input order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a str)> + 'a {
        let (input, buf) = (self.input, self.buf);
        self.pairs
            .iter()
            .map(move |(n, v)| (n.resolve(input, buf), v.resolve(input, buf)))
    }

    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

impl std::fmt::Debug for LabelsRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for LabelsRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// The first label name that occurs twice, if any. Label sets are small, so a
/// quadratic scan beats hashing; large ones are sorted instead.
pub(crate) fn find_duplicate<'a>(labels: &LabelsRef<'a>) -> Option<&'a str> {
    if labels.len() <= 16 {
        for (i, (a, _)) in labels.iter().enumerate() {
            if labels.iter().skip(i + 1).any(|(b, _)| a == b) {
                return Some(a);
            }
        }
        return None;
    }
    let mut names: Vec<&str> = labels.iter().map(|(n, _)| n).collect();
    names.sort_unstable();
    names.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}
