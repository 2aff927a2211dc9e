//! Function calls: dispatch, instant-vector functions, label functions,
//! sorting and date functions. Range-vector functions live in `range_fns`.

use regex::Regex;
use sightline_model::Labels;

use super::QueryError;
use super::evaluator::{Evaluator, R, merge_same_labels};
use super::range_fns::absent_labels;
use super::types::*;
use crate::parser::functions::Function;
use crate::parser::{Expr, Pos, ValueType};

fn str_arg(e: &Expr) -> R<&str> {
    match e.unparen() {
        Expr::Str { val, .. } => Ok(val),
        _ => Err(QueryError::exec("expected string literal")),
    }
}

/// `labels.FormatOpenMetricsFloat`: like Go's %g but always with a decimal point.
fn openmetrics_float(v: f64) -> String {
    let s = crate::parser::format_float(v);
    if v.is_finite() && !s.contains('.') && !s.contains('e') {
        format!("{s}.0")
    } else {
        s
    }
}

/// Go's `math.Max`/`math.Min`: NaN wins (Rust's `max`/`min` ignore it).
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn valid_label_name(s: &str) -> bool {
    !s.is_empty() && !crate::parser::lexer::has_invalid_bytes(s)
}

/// Natural ("version") ordering used by `sort_by_label`.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < ab.len() && j < bb.len() {
        if ab[i].is_ascii_digit() && bb[j].is_ascii_digit() {
            let si = i;
            while i < ab.len() && ab[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < bb.len() && bb[j].is_ascii_digit() {
                j += 1;
            }
            let (na, nb) = (
                a[si..i].trim_start_matches('0'),
                b[sj..j].trim_start_matches('0'),
            );
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        } else {
            let ca = a[i..].chars().next().unwrap();
            let cb = b[j..].chars().next().unwrap();
            if ca != cb {
                return ca.cmp(&cb);
            }
            i += ca.len_utf8();
            j += cb.len_utf8();
        }
    }
    (ab.len() - i).cmp(&(bb.len() - j))
}

use sightline_model::civil::civil_from_days as civil;

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn date_fn(name: &str, secs: f64) -> f64 {
    // Go: time.Unix(int64(f), 0).UTC()
    let s = if secs.is_nan() {
        i64::MIN / 2
    } else {
        secs as i64
    };
    let days = s.div_euclid(86_400);
    let sod = s.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    let month_days = [
        31,
        if is_leap(y) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    match name {
        "year" => y as f64,
        "month" => m as f64,
        "day_of_month" => d as f64,
        "day_of_year" => (month_days[..(m - 1) as usize].iter().sum::<i64>() + d as i64) as f64,
        "day_of_week" => ((days.rem_euclid(7) + 4) % 7) as f64,
        "days_in_month" => month_days[(m - 1) as usize] as f64,
        "hour" => (sod / 3600) as f64,
        "minute" => (sod % 3600 / 60) as f64,
        _ => f64::NAN,
    }
}

fn simple_fn(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "sgn" => |v: f64| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

/// Go's `regexp.Expand`: `$1`, `${1}`, `$name`, `${name}`, `$$`.
fn expand(tmpl: &str, caps: &regex::Captures, re: &Regex) -> String {
    let mut out = String::new();
    let b = tmpl.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            let ch = tmpl[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        i += 1;
        if i < b.len() && b[i] == b'$' {
            out.push('$');
            i += 1;
            continue;
        }
        let (name, next) = if i < b.len() && b[i] == b'{' {
            match tmpl[i + 1..].find('}') {
                Some(e) => (&tmpl[i + 1..i + 1 + e], i + 2 + e),
                None => {
                    out.push('$');
                    continue;
                }
            }
        } else {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            (&tmpl[i..j], j)
        };
        if name.is_empty() {
            out.push('$');
            continue;
        }
        i = next;
        let m = match name.parse::<usize>() {
            Ok(n) => caps.get(n),
            Err(_) => {
                if re.capture_names().any(|c| c == Some(name)) {
                    caps.name(name)
                } else {
                    None
                }
            }
        };
        if let Some(m) = m {
            out.push_str(m.as_str());
        }
    }
    out
}

impl Evaluator<'_> {
    pub fn eval_call(
        &mut self,
        func: &'static Function,
        args: &[Expr],
        pos: Pos,
        grid: &Grid,
    ) -> R<IVal> {
        let n = grid.n;
        let name = func.name;
        // Range-vector functions.
        if let Some(m) = args
            .iter()
            .position(|a| a.value_type() == ValueType::Matrix)
        {
            return self.eval_range_fn(name, args, m, grid);
        }
        match name {
            "time" => {
                return Ok(IVal::Scalar(
                    (0..n).map(|i| grid.t(i) as f64 / 1000.0).collect(),
                ));
            }
            "pi" => return Ok(IVal::Scalar(vec![std::f64::consts::PI; n])),
            "start" => return Ok(IVal::Scalar(vec![self.qstart as f64 / 1000.0; n])),
            "end" => return Ok(IVal::Scalar(vec![self.qend as f64 / 1000.0; n])),
            "step" => return Ok(IVal::Scalar(vec![self.qstep as f64 / 1000.0; n])),
            "range" => {
                return Ok(IVal::Scalar(vec![
                    (self.qend - self.qstart) as f64 / 1000.0;
                    n
                ]));
            }
            "vector" => {
                let s = self.eval_scalar(&args[0], grid)?;
                return Ok(IVal::Vector(vec![VSeries {
                    labels: Labels::empty(),
                    drop_name: false,
                    vals: s,
                }]));
            }
            "scalar" => {
                let v = self.eval_vector(&args[0], grid)?;
                let mut out = vec![f64::NAN; n];
                let mut cnt = vec![0u32; n];
                for s in &v {
                    for i in 0..n {
                        if present(s.vals[i]) {
                            cnt[i] += 1;
                            out[i] = s.vals[i];
                        }
                    }
                }
                for i in 0..n {
                    if cnt[i] != 1 {
                        out[i] = f64::NAN;
                    }
                }
                return Ok(IVal::Scalar(out));
            }
            "timestamp" => {
                if let Expr::Vector(vs) = args[0].unparen() {
                    let mut v = self.eval_vector_selector(vs, grid, true)?;
                    for s in &mut v {
                        s.drop_name = true;
                    }
                    return Ok(IVal::Vector(v));
                }
                let mut v = self.eval_vector(&args[0], grid)?;
                for s in &mut v {
                    s.drop_name = true;
                    for i in 0..n {
                        if present(s.vals[i]) {
                            s.vals[i] = grid.t(i) as f64 / 1000.0;
                        }
                    }
                }
                return Ok(IVal::Vector(v));
            }
            "absent" => {
                let v = self.eval_vector(&args[0], grid)?;
                let mut vals = vec![1.0; n];
                for s in &v {
                    for i in 0..n {
                        if present(s.vals[i]) {
                            vals[i] = absent();
                        }
                    }
                }
                let s = VSeries {
                    labels: absent_labels(&args[0]),
                    drop_name: false,
                    vals,
                };
                return Ok(IVal::Vector(if s.is_empty() { vec![] } else { vec![s] }));
            }
            "label_replace" => return self.label_replace(args, grid),
            "label_join" => return self.label_join(args, grid),
            "histogram_quantile" => {
                let q = self.eval_scalar(&args[0], grid)?;
                return self.eval_classic_histogram(Some((&args[0], q)), None, &args[1], grid);
            }
            "histogram_quantiles" => {
                let label = str_arg(&args[1])?.to_string();
                let mut out = Vec::new();
                for qa in &args[2..] {
                    let q = self.eval_scalar(qa, grid)?;
                    let qv = q[0];
                    let IVal::Vector(v) =
                        self.eval_classic_histogram(Some((qa, q)), None, &args[0], grid)?
                    else {
                        unreachable!()
                    };
                    for mut s in v {
                        let mut b = s.labels.to_builder();
                        b.set(label.clone(), openmetrics_float(qv));
                        s.labels = b.build();
                        out.push(s);
                    }
                }
                return Ok(IVal::Vector(merge_same_labels(out)?));
            }
            "histogram_fraction" => {
                let lo = self.eval_scalar(&args[0], grid)?;
                let hi = self.eval_scalar(&args[1], grid)?;
                return self.eval_classic_histogram(None, Some((lo, hi)), &args[2], grid);
            }
            "info" => return self.eval_info(args, pos, grid),
            "start_timestamp" => {
                // Only samples read straight from storage carry start
                // timestamps; any other expression loses them.
                if let Expr::Vector(vs) = args[0].unparen() {
                    let parts = self.start_timestamp_par(vs, grid, &super::parallel::Collect)?;
                    return Ok(IVal::Vector(parts.into_iter().flatten().collect()));
                }
                let _ = self.eval(&args[0], grid)?;
                return Ok(IVal::Vector(Vec::new()));
            }
            _ => {}
        }
        if name.starts_with("histogram_") {
            // Only native histograms carry these statistics; float samples are ignored.
            let _ = self.eval(&args[0], grid)?;
            return Ok(IVal::Vector(Vec::new()));
        }
        if let Some(f) = simple_fn(name) {
            let mut v = self.eval_vector(&args[0], grid)?;
            for s in &mut v {
                s.drop_name = true;
                for x in &mut s.vals {
                    if present(*x) {
                        *x = f(*x);
                    }
                }
            }
            return Ok(IVal::Vector(v));
        }
        match name {
            "clamp" | "clamp_min" | "clamp_max" | "round" => {
                let mut v = self.eval_vector(&args[0], grid)?;
                let a = if args.len() > 1 {
                    Some(self.eval_scalar(&args[1], grid)?)
                } else {
                    None
                };
                let b = if args.len() > 2 {
                    Some(self.eval_scalar(&args[2], grid)?)
                } else {
                    None
                };
                for s in &mut v {
                    s.drop_name = true;
                    for i in 0..n {
                        let x = s.vals[i];
                        if !present(x) {
                            continue;
                        }
                        s.vals[i] = match name {
                            "clamp" => {
                                let (lo, hi) = (a.as_ref().unwrap()[i], b.as_ref().unwrap()[i]);
                                if hi < lo {
                                    absent()
                                } else {
                                    go_max(lo, go_min(hi, x))
                                }
                            }
                            "clamp_min" => go_max(a.as_ref().unwrap()[i], x),
                            "clamp_max" => go_min(a.as_ref().unwrap()[i], x),
                            _ => {
                                let to = a.as_ref().map(|a| a[i]).unwrap_or(1.0);
                                let inv = 1.0 / to;
                                (x * inv + 0.5).floor() / inv
                            }
                        };
                    }
                }
                v.retain(|s| !s.is_empty());
                Ok(IVal::Vector(v))
            }
            "year" | "month" | "day_of_month" | "day_of_year" | "day_of_week" | "days_in_month"
            | "hour" | "minute" => {
                if args.is_empty() {
                    let vals = (0..n)
                        .map(|i| date_fn(name, (grid.t(i) / 1000) as f64))
                        .collect();
                    return Ok(IVal::Vector(vec![VSeries {
                        labels: Labels::empty(),
                        drop_name: false,
                        vals,
                    }]));
                }
                let mut v = self.eval_vector(&args[0], grid)?;
                for s in &mut v {
                    s.drop_name = true;
                    for x in &mut s.vals {
                        if present(*x) {
                            *x = date_fn(name, *x);
                        }
                    }
                }
                Ok(IVal::Vector(v))
            }
            "sort" | "sort_desc" => {
                self.sort_warning(pos);
                let mut v = self.eval_vector(&args[0], grid)?;
                if n == 1 {
                    let desc = name == "sort_desc";
                    // NaN sorts last in both directions.
                    v.sort_by(|a, b| {
                        let (x, y) = (a.vals[0], b.vals[0]);
                        match (x.is_nan(), y.is_nan()) {
                            (true, true) => std::cmp::Ordering::Equal,
                            (true, false) => std::cmp::Ordering::Greater,
                            (false, true) => std::cmp::Ordering::Less,
                            _ if desc => y.partial_cmp(&x).unwrap(),
                            _ => x.partial_cmp(&y).unwrap(),
                        }
                    });
                }
                Ok(IVal::Vector(v))
            }
            "sort_by_label" | "sort_by_label_desc" => {
                self.sort_warning(pos);
                let mut v = self.eval_vector(&args[0], grid)?;
                let labels: Vec<String> = args[1..]
                    .iter()
                    .map(|a| str_arg(a).map(str::to_string))
                    .collect::<R<_>>()?;
                let desc = name.ends_with("_desc");
                v.sort_by(|a, b| {
                    for l in &labels {
                        let (x, y) = (a.labels.get(l).unwrap_or(""), b.labels.get(l).unwrap_or(""));
                        if x == y {
                            continue;
                        }
                        let o = natural_cmp(x, y);
                        return if desc { o.reverse() } else { o };
                    }
                    let o = a.labels.cmp(&b.labels);
                    if desc { o.reverse() } else { o }
                });
                Ok(IVal::Vector(v))
            }
            _ => Err(QueryError::exec(format!(
                "function {name:?} is not implemented"
            ))),
        }
    }

    fn sort_warning(&mut self, pos: Pos) {
        if self.qstep != 0 {
            self.warn(
                "sort is ineffective for range queries since results are always ordered by labels",
                pos,
            );
        }
    }

    fn label_replace(&mut self, args: &[Expr], grid: &Grid) -> R<IVal> {
        let dst = str_arg(&args[1])?.to_string();
        let repl = str_arg(&args[2])?.to_string();
        let src = str_arg(&args[3])?.to_string();
        let re_s = str_arg(&args[4])?.to_string();
        let re = Regex::new(&format!("^(?s:{re_s})$")).map_err(|_| {
            QueryError::exec(format!(
                "invalid regular expression in label_replace(): {re_s}"
            ))
        })?;
        if !valid_label_name(&dst) {
            return Err(QueryError::exec(format!(
                "invalid destination label name in label_replace(): {}",
                crate::parser::quote(&dst).trim_matches('"')
            )));
        }
        let mut v = self.eval_vector(&args[0], grid)?;
        for s in &mut v {
            let sv = s.labels.get(&src).unwrap_or("").to_string();
            if let Some(caps) = re.captures(&sv) {
                let res = expand(&repl, &caps, &re);
                let mut b = s.labels.to_builder();
                b.set(dst.clone(), res);
                s.labels = b.build();
                if dst == "__name__" {
                    s.drop_name = false;
                }
            }
        }
        Ok(IVal::Vector(merge_same_labels(v)?))
    }

    fn label_join(&mut self, args: &[Expr], grid: &Grid) -> R<IVal> {
        let dst = str_arg(&args[1])?.to_string();
        let sep = str_arg(&args[2])?.to_string();
        let srcs: Vec<String> = args[3..]
            .iter()
            .map(|a| str_arg(a).map(str::to_string))
            .collect::<R<_>>()?;
        if !valid_label_name(&dst) {
            return Err(QueryError::exec(format!(
                "invalid destination label name in label_join(): {dst}"
            )));
        }
        let mut v = self.eval_vector(&args[0], grid)?;
        for s in &mut v {
            let joined = srcs
                .iter()
                .map(|l| s.labels.get(l).unwrap_or(""))
                .collect::<Vec<_>>()
                .join(&sep);
            let mut b = s.labels.to_builder();
            b.set(dst.clone(), joined);
            s.labels = b.build();
            if dst == "__name__" {
                s.drop_name = false;
            }
        }
        Ok(IVal::Vector(merge_same_labels(v)?))
    }
}
