//! Hand-written PromQL parser (Prometheus 3.x grammar, including duration
//! expressions, `@`, `anchored`/`smoothed`, `fill()` modifiers and quoted
//! UTF-8 names). Errors carry `line:col` positions like Prometheus's.

pub mod ast;
mod binary;
pub mod functions;
mod grammar;
pub mod lexer;
mod printer;
mod selector;

use std::fmt;

use sightline_model::Matcher;

pub use ast::*;
use lexer::{Tok, Token};
pub use lexer::{format_duration, parse_duration};
pub use printer::{format_float, pretty, quote};

#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// Byte offset of the problem in the query.
    pub pos: usize,
    pub msg: String,
    /// `line:col` (1-based), filled in by [`parse`].
    pub position: String,
}

impl ParseError {
    pub fn new(pos: usize, msg: String) -> Self {
        ParseError {
            pos,
            msg,
            position: String::new(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: parse error: {}", self.position, self.msg)
    }
}

impl std::error::Error for ParseError {}

/// `line:col` of a byte offset, both 1-based, as Prometheus prints positions.
pub fn line_col(input: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(input.len());
    let before = &input.as_bytes()[..pos];
    let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
    let col = match before.iter().rposition(|&c| c == b'\n') {
        Some(nl) => pos - nl,
        None => pos + 1,
    };
    (line, col)
}

/// Parses a PromQL expression.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let res = (|| {
        let toks = lexer::lex(input)?;
        let mut p = Parser {
            toks,
            i: 0,
            allow_empty_selector: false,
            depth: 0,
        };
        if p.peek() == &Tok::Eof {
            return Err(ParseError::new(0, "no expression found in input".into()));
        }
        let e = p.expr(0)?;
        if p.peek() != &Tok::Eof {
            return Err(p.unexpected());
        }
        if tree_depth(&e) > MAX_TREE_DEPTH {
            return Err(ParseError::new(0, too_deep()));
        }
        Ok(e)
    })();
    res.map_err(|mut e| {
        let (l, c) = line_col(input, e.pos);
        e.position = format!("{l}:{c}");
        e
    })
}

/// Parses a standalone label matcher set like `{job="x"}` or `up{job="x"}`
/// (used for `match[]` API parameters).
pub fn parse_selector(input: &str) -> Result<Vec<Matcher>, ParseError> {
    match parse(input)? {
        Expr::Vector(vs) if vs.offset.is_none() && vs.at.is_none() => Ok(vs.matchers),
        e => Err(ParseError {
            pos: e.pos().start,
            msg: "expected vector selector".into(),
            position: "1:1".into(),
        }),
    }
}

/// How deeply expressions may nest (parentheses, function and aggregation
/// arguments, unary operators, right-associative `^`). The parser and the
/// tree walks after it recurse once per level, so without a bound a short
/// query like `((((...))))` overflows the thread's stack and aborts the
/// process; past this depth parsing fails with an error instead.
pub const MAX_NESTING_DEPTH: usize = 128;

/// How deep the finished syntax tree may be. Left-associative operator
/// chains (`a or b or c ...`) are parsed in a loop, so the nesting bound does
/// not cover them, but every later walk over the tree (checks, printing,
/// evaluation) recurses once per level: a 500-term `or` chain overflowed a
/// 2 MiB thread stack and aborted the process. Prometheus has no such bound
/// (Go's stacks grow); 128 levels (a 128-term chain) is far beyond any query
/// written by hand or by Grafana, and stays inside the smallest stack that
/// walks the tree (`/api/v1/parse_query`'s JSON rendering in a debug build).
pub const MAX_TREE_DEPTH: usize = 128;

fn too_deep() -> String {
    format!("expression too deeply nested or chained (more than {MAX_TREE_DEPTH} levels)")
}

/// The depth of `e`'s syntax tree, computed without recursion.
pub fn tree_depth(e: &Expr) -> usize {
    let mut max = 0;
    let mut stack: Vec<(&Expr, usize)> = vec![(e, 1)];
    while let Some((e, d)) = stack.pop() {
        max = max.max(d);
        stack.extend(children(e).into_iter().map(|c| (c, d + 1)));
    }
    max
}

/// The direct subexpressions of `e`.
fn children(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::Number { .. } | Expr::Str { .. } => Vec::new(),
        Expr::Vector(vs) => vs.offset.as_deref().into_iter().collect(),
        Expr::Matrix { vs, range, .. } => {
            let mut v = vec![range.as_ref()];
            v.extend(vs.offset.as_deref());
            v
        }
        Expr::Subquery {
            expr,
            range,
            step,
            offset,
            ..
        } => {
            let mut v = vec![expr.as_ref(), range.as_ref()];
            v.extend(step.as_deref());
            v.extend(offset.as_deref());
            v
        }
        Expr::Paren { expr, .. } | Expr::Unary { expr, .. } => vec![expr.as_ref()],
        Expr::Binary { lhs, rhs, .. } => vec![lhs.as_ref(), rhs.as_ref()],
        Expr::Aggregate { expr, param, .. } => {
            let mut v = vec![expr.as_ref()];
            v.extend(param.as_deref());
            v
        }
        Expr::Call { args, .. } | Expr::DurationFn { args, .. } => args.iter().collect(),
    }
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    /// Parsing the label-selector argument of `info()`, which may match everything.
    allow_empty_selector: bool,
    /// Current nesting of [`Parser::expr`] calls, bounded by [`MAX_NESTING_DEPTH`].
    depth: usize,
}

fn kw(t: &Tok, word: &str) -> bool {
    matches!(t, Tok::Ident(s) if s.eq_ignore_ascii_case(word))
}

fn err<T>(pos: usize, msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError::new(pos, msg.into()))
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].tok
    }
    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.i + n).min(self.toks.len() - 1)].tok
    }
    fn start(&self) -> usize {
        self.toks[self.i.min(self.toks.len() - 1)].start
    }
    fn prev_end(&self) -> usize {
        if self.i == 0 {
            0
        } else {
            self.toks[(self.i - 1).min(self.toks.len() - 1)].end
        }
    }
    fn next(&mut self) -> Token {
        let t = self.toks[self.i.min(self.toks.len() - 1)].clone();
        self.i += 1;
        t
    }
    fn unexpected(&self) -> ParseError {
        ParseError::new(
            self.start(),
            format!("unexpected {}", self.peek().describe()),
        )
    }
    /// Prometheus's wording for input that ends inside an open construct.
    fn unclosed(&self, ctx: &str) -> Option<ParseError> {
        if *self.peek() != Tok::Eof {
            return None;
        }
        let msg = if ctx.contains("label matching") {
            "unexpected end of input inside braces"
        } else if ctx.contains("range") || ctx.contains("subquery") || ctx.contains("step") {
            "unclosed left bracket"
        } else if ctx.contains("function call") || ctx.contains("paren") || ctx.contains("grouping")
        {
            "unclosed left parenthesis"
        } else {
            return None;
        };
        Some(ParseError::new(self.start(), msg.into()))
    }

    fn unexpected_in(&self, ctx: &str) -> ParseError {
        if let Some(e) = self.unclosed(ctx) {
            return e;
        }
        ParseError::new(
            self.start(),
            format!("unexpected {} in {ctx}", self.peek().describe()),
        )
    }
    fn expect(&mut self, t: Tok, ctx: &str) -> Result<Token, ParseError> {
        if *self.peek() == t {
            Ok(self.next())
        } else if let Some(e) = self.unclosed(ctx) {
            Err(e)
        } else {
            Err(ParseError::new(
                self.start(),
                format!(
                    "unexpected {} in {ctx}, expected {}",
                    self.peek().describe(),
                    t.describe()
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_in_errors() {
        let e = parse("sum(rate(foo[5m])))").unwrap_err();
        assert_eq!(e.to_string(), "1:19: parse error: unexpected \")\"");
        let e = parse("foo{").unwrap_err();
        assert_eq!(
            e.to_string(),
            "1:5: parse error: unexpected end of input inside braces"
        );
        let e = parse("sum(rate(foo[5m])").unwrap_err();
        assert_eq!(
            e.to_string(),
            "1:18: parse error: unclosed left parenthesis"
        );
        let e = parse("foo[5m").unwrap_err();
        assert_eq!(e.to_string(), "1:7: parse error: unclosed left bracket");
        let e = parse("1 +").unwrap_err();
        assert_eq!(e.to_string(), "1:4: parse error: unexpected end of input");
        let e = parse("foo\n  + bar{a=\"b\" c}").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("2:15: parse error: unexpected identifier \"c\""),
            "{e}"
        );
        let e = parse("rate(foo)").unwrap_err();
        assert_eq!(
            e.to_string(),
            "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector"
        );
    }

    #[test]
    fn nesting_depth_is_bounded() {
        // Found by fuzzing: deep nesting overflowed the stack, aborting the
        // process instead of returning an error.
        let parens = |n: usize| format!("{}1{}", "(".repeat(n), ")".repeat(n));
        std::thread::Builder::new()
            .stack_size(2 << 20) // a tokio worker's default
            .spawn(move || {
                let e = parse(&parens(MAX_NESTING_DEPTH - 1)).unwrap();
                let _ = (e.to_string(), pretty(&e, 0));
                let n = 100_000;
                for q in [
                    parens(MAX_NESTING_DEPTH),
                    parens(n),
                    format!("{}1", "-".repeat(n)),
                    format!("1{}", "^1".repeat(n)),
                    format!("{}x{}", "abs(".repeat(n), ")".repeat(n)),
                ] {
                    let e = parse(&q).unwrap_err();
                    assert!(e.msg.contains("nested too deeply"), "{e}");
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn operator_chains_are_bounded_by_tree_depth() {
        // A 500-term `or` chain parsed fine (a loop) but every later tree
        // walk recursed per term and overflowed a worker's stack.
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let chain = |n: usize| vec!["up"; n].join(" or ");
                let e = parse(&chain(MAX_TREE_DEPTH - 1)).unwrap();
                assert_eq!(tree_depth(&e), MAX_TREE_DEPTH - 1);
                let _ = (e.to_string(), pretty(&e, 0));
                for n in [MAX_TREE_DEPTH + 1, 500, 100_000] {
                    let err = parse(&chain(n)).unwrap_err();
                    assert!(err.msg.contains("too deeply nested or chained"), "{err}");
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn metric_name_may_start_with_colon() {
        let e = parse(":foo").unwrap();
        assert!(matches!(&e, Expr::Vector(vs) if vs.name.as_deref() == Some(":foo")));
        let e = parse("foo[5m:]").unwrap();
        assert!(matches!(e, Expr::Subquery { step: None, .. }));
        let e = parse("foo[5m :1m]").unwrap();
        assert!(matches!(e, Expr::Subquery { step: Some(_), .. }));
        assert!(parse("foo[5m:1m:]").is_err());
    }

    #[test]
    fn precedence() {
        let e = parse("-2 ^ 2").unwrap();
        assert_eq!(e.to_string(), "-2 ^ 2");
        let e = parse("a + b * c ^ d ^ e").unwrap();
        assert_eq!(e.to_string(), "a + b * c ^ d ^ e");
        let e = parse("metric offset -2 ^ 2").unwrap();
        assert!(matches!(e, Expr::Binary { op: BinOp::Pow, .. }));
    }

    #[test]
    fn pretty_splits_long_expressions() {
        let q = "sum by (service) (rate(http_requests_total{status=~\"5..\", service=~\"api-.*\"}[5m])) / sum by (service) (rate(http_requests_total[5m])) > 0.05";
        let e = parse(q).unwrap();
        let p = pretty(&e, 0);
        assert_eq!(
            p,
            "    sum by (service) (rate(http_requests_total{status=~\"5..\", service=~\"api-.*\"}[5m]))\n  /\n    sum by (service) (rate(http_requests_total[5m]))\n>\n  0.05"
        );
        assert_eq!(
            parse(&p).unwrap().to_string(),
            e.to_string(),
            "pretty output re-parses"
        );
        assert_eq!(pretty(&parse("sum(x)by(y)").unwrap(), 0), "sum by (y) (x)");
    }

    #[test]
    fn pretty_renders_the_longest_chain() {
        // Found while fuzzing: every level of `a or a or ...` re-copied the
        // rendering of all levels below it (cubic in the chain's length);
        // chains are now bounded by MAX_TREE_DEPTH and rendered into one buffer.
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let n = MAX_TREE_DEPTH - 2;
                let q = format!("a{}", " or a".repeat(n));
                let p = pretty(&parse(&q).unwrap(), 0);
                assert!(p.lines().count() > n);
                assert!(p.ends_with("\n  a"), "{}", &p[p.len() - 20..]);
                let q = "-max_over_time((sum by (job) (rate(http_requests_total{status=~\"5..\", service=~\"api-.*\"}[5m])) / clamp_min(sum by (job) (rate(http_requests_total{service=~\"api-.*\"}[5m])), 1))[30m:1m])";
                let e = parse(q).unwrap();
                let p = pretty(&e, 0);
                assert!(p.starts_with("-max_over_time(\n  (\n"), "{p}");
                assert_eq!(parse(&p).unwrap().to_string(), e.to_string(), "{p}");
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn round_trip() {
        for q in [
            "sum by (job) (rate(http_requests_total{status=~\"5..\"}[5m]))",
            "foo[5m:1m] @ 100.000 offset 1m",
            "a > bool on (x) group_left (y) b",
            "topk(3, foo)",
            "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))",
            "foo offset -5m",
            "rate(foo[1m] anchored)",
            // Found by fuzzing: the bare-string name printed outside the
            // braces next to another `__name__` matcher did not re-parse.
            "{__name__=\"a\",\"e\"}[0h0m]",
            "{__name__!=\"a\", \"e\"}",
            // Found by fuzzing: `{"::tf"}` printed as `::tf`, which the lexer
            // rejected; Prometheus reads a leading `:` outside `[...]` as the
            // start of a metric name.
            "{\"::tf\"}",
            "max_over_time(:foo:bar{a=\"b\"}[5m:1m])",
            // Found by fuzzing: the empty selector printed as nothing.
            "info(up, {})",
        ] {
            let e = parse(q).unwrap();
            let s = e.to_string();
            let e2 = parse(&s).unwrap();
            assert_eq!(s, e2.to_string(), "{q}");
        }
    }
}
