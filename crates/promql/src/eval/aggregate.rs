//! Aggregation operators. Series are assigned to groups once; values are then
//! accumulated per group and step.

use std::collections::HashMap;

use sightline_model::{Labels, LabelsBuilder};

use super::QueryError;
use super::evaluator::{Evaluator, R};
use super::parallel::Consumer;
use super::types::*;
use crate::parser::{AggOp, Expr, Pos};

/// Kahan–Neumaier compensated addition, as Prometheus's `kahanSumInc`.
#[inline]
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Orders NaN first, as Prometheus's `vectorByValueHeap`.
pub fn cmp_nan_first(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Less,
        (false, true) => Greater,
        _ => a.partial_cmp(&b).unwrap_or(Equal),
    }
}

/// Prometheus's `quantile` over a set of values (φ-quantile with linear interpolation).
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| cmp_nan_first(*a, *b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Prometheus's `labels.Hash()`: xxHash64 over `name\xffvalue\xff...`.
pub fn prom_labels_hash(l: &Labels) -> u64 {
    let mut b = Vec::with_capacity(128);
    for lab in l.iter() {
        b.extend_from_slice(lab.name.as_bytes());
        b.push(0xff);
        b.extend_from_slice(lab.value.as_bytes());
        b.push(0xff);
    }
    xxhash_rust::xxh64::xxh64(&b, 0)
}

fn group_labels(l: &Labels, grouping: &[String], without: bool) -> Labels {
    if without {
        let mut b = l.to_builder();
        b.del("__name__");
        for g in grouping {
            b.del(g);
        }
        b.build()
    } else {
        let mut b = LabelsBuilder::new();
        for g in grouping {
            if let Some(v) = l.get(g) {
                b.set(g.clone(), v.to_string());
            }
        }
        b.build()
    }
}

/// Hash of a series' grouping key without building the group's label set
/// (Prometheus also keys groups by a 64-bit hash of the grouping labels).
fn group_hash(l: &Labels, grouping: &[String], without: bool) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut add = |n: &str, v: &str| {
        h.update(n.as_bytes());
        h.update(&[0xff]);
        h.update(v.as_bytes());
        h.update(&[0xff]);
    };
    if without {
        for lab in l.iter() {
            if lab.name != "__name__" && !grouping.contains(&lab.name) {
                add(&lab.name, &lab.value);
            }
        }
    } else {
        // `grouping` is sorted and deduplicated by the caller.
        for g in grouping {
            if let Some(v) = l.get(g) {
                add(g, v);
            }
        }
    }
    h.digest()
}

fn format_count_value(v: f64) -> String {
    format_value(v)
}

impl Evaluator<'_> {
    #[allow(clippy::too_many_arguments)]
    pub fn eval_aggregate(
        &mut self,
        op: AggOp,
        expr: &Expr,
        param: Option<&Expr>,
        grouping: &[String],
        without: bool,
        pos: Pos,
        grid: &Grid,
    ) -> R<IVal> {
        let n = grid.n;
        if op == AggOp::CountValues {
            let Some(Expr::Str { val: label, .. }) = param.map(|p| p.unparen()) else {
                return Err(QueryError::exec("count_values needs a string parameter"));
            };
            if label.is_empty() || crate::parser::lexer::has_invalid_bytes(label) {
                return Err(QueryError::exec(format!(
                    "invalid label name {}",
                    crate::parser::quote(label)
                )));
            }
            let input = self.eval_vector(expr, grid)?;
            let mut grouping: Vec<String> = grouping.to_vec();
            if !without {
                grouping.push(label.clone());
            }
            let mut out: Vec<VSeries> = Vec::new();
            let mut index: HashMap<Labels, usize> = HashMap::new();
            for s in &input {
                for i in 0..n {
                    let v = s.vals[i];
                    if !present(v) {
                        continue;
                    }
                    let mut b = s.labels.to_builder();
                    b.set(label.clone(), format_count_value(v));
                    let gl = group_labels(&b.build(), &grouping, without);
                    let idx = *index.entry(gl.clone()).or_insert_with(|| {
                        out.push(VSeries {
                            labels: gl,
                            drop_name: false,
                            vals: vec![absent(); n],
                        });
                        out.len() - 1
                    });
                    let slot = &mut out[idx].vals[i];
                    *slot = if present(*slot) { *slot + 1.0 } else { 1.0 };
                }
            }
            return Ok(IVal::Vector(out));
        }

        let params = match param {
            Some(p) if op != AggOp::CountValues => Some(self.eval_scalar(p, grid)?),
            _ => None,
        };
        if matches!(
            op,
            AggOp::Sum
                | AggOp::Avg
                | AggOp::Count
                | AggOp::Group
                | AggOp::Min
                | AggOp::Max
                | AggOp::Stddev
                | AggOp::Stdvar
        ) {
            return self.aggregate_stream(op, expr, grouping, without, grid);
        }
        let input = self.eval_vector(expr, grid)?;

        // Assign series to groups.
        let mut group_of = Vec::with_capacity(input.len());
        let mut groups: Vec<Labels> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        for s in &input {
            let gl = group_labels(&s.labels, grouping, without);
            let g = *index.entry(gl.clone()).or_insert_with(|| {
                groups.push(gl);
                groups.len() - 1
            });
            group_of.push(g);
        }
        let ng = groups.len();

        match op {
            AggOp::Topk | AggOp::Bottomk | AggOp::Limitk | AggOp::LimitRatio => {
                let params = params.unwrap_or_default();
                return self.aggregate_k(
                    op,
                    input,
                    &group_of,
                    ng,
                    &params,
                    param.map(|p| p.pos()).unwrap_or(pos),
                    grid,
                );
            }
            _ => {}
        }

        if op == AggOp::Quantile {
            let qs = params.clone().unwrap_or_default();
            let ppos = param.map(|p| p.pos()).unwrap_or(pos);
            if qs.iter().any(|q| q.is_nan()) {
                self.warn("quantile value should be between 0 and 1, got NaN", ppos);
            }
            let max = qs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let min = qs.iter().copied().fold(f64::INFINITY, f64::min);
            if max > 1.0 {
                self.warn(
                    &format!("quantile value should be between 0 and 1, got {max}"),
                    ppos,
                );
            }
            if min < 0.0 {
                self.warn(
                    &format!("quantile value should be between 0 and 1, got {min}"),
                    ppos,
                );
            }
        }

        let mut out: Vec<VSeries> = groups
            .into_iter()
            .map(|labels| VSeries {
                labels,
                drop_name: false,
                vals: vec![absent(); n],
            })
            .collect();
        match op {
            AggOp::Quantile => {
                let qs = params.unwrap_or_default();
                let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); ng];
                for i in 0..n {
                    for b in &mut buckets {
                        b.clear();
                    }
                    for (si, s) in input.iter().enumerate() {
                        if present(s.vals[i]) {
                            buckets[group_of[si]].push(s.vals[i]);
                        }
                    }
                    for (g, b) in buckets.iter_mut().enumerate() {
                        if !b.is_empty() {
                            out[g].vals[i] = quantile(qs[i], b);
                        }
                    }
                }
                for (si, s) in input.iter().enumerate() {
                    out[group_of[si]].drop_name |= s.drop_name;
                }
            }
            _ => unreachable!(),
        }
        out.retain(|s| !s.is_empty());
        Ok(IVal::Vector(out))
    }

    #[allow(clippy::too_many_arguments)]
    fn aggregate_k(
        &mut self,
        op: AggOp,
        input: Vec<VSeries>,
        group_of: &[usize],
        ng: usize,
        params: &[f64],
        ppos: Pos,
        grid: &Grid,
    ) -> R<IVal> {
        let n = grid.n;
        let max = params.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = params.iter().copied().fold(f64::INFINITY, f64::min);
        let any_nan = params.iter().any(|p| p.is_nan());
        if op == AggOp::LimitRatio {
            if max == 0.0 && min == 0.0 {
                return Ok(IVal::Vector(Vec::new()));
            }
            if any_nan {
                return Err(QueryError::exec("Ratio value is NaN"));
            }
            if max > 1.0 {
                self.warn(
                    &format!("ratio value should be between -1 and 1, got {max}, capping to 1"),
                    ppos,
                );
            }
            if min < -1.0 {
                self.warn(
                    &format!("ratio value should be between -1 and 1, got {min}, capping to -1"),
                    ppos,
                );
            }
        } else {
            if max.partial_cmp(&1.0).is_none_or(|o| o.is_lt()) && !any_nan {
                return Ok(IVal::Vector(Vec::new()));
            }
            if any_nan {
                return Err(QueryError::exec("Parameter value is NaN"));
            }
            if min <= i64::MIN as f64 {
                return Err(QueryError::exec(format!(
                    "Scalar value {min} underflows int64"
                )));
            }
            if max >= i64::MAX as f64 {
                return Err(QueryError::exec(format!(
                    "Scalar value {max} overflows int64"
                )));
            }
        }
        let total = input.len() as i64;
        let mut keep: Vec<Vec<bool>> = vec![vec![false; n]; input.len()];
        // Instant queries keep the selection order (topk descending, bottomk ascending).
        let mut order: Vec<usize> = Vec::new();
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); ng];
        for (si, g) in group_of.iter().enumerate() {
            members[*g].push(si);
        }
        let ratio_offsets: Vec<f64> = if op == AggOp::LimitRatio {
            input
                .iter()
                .map(|s| prom_labels_hash(&s.labels) as f64 / u64::MAX as f64)
                .collect()
        } else {
            Vec::new()
        };
        for i in 0..n {
            let p = params[i];
            for g in 0..ng {
                let cand: Vec<usize> = members[g]
                    .iter()
                    .copied()
                    .filter(|&si| present(input[si].vals[i]))
                    .collect();
                if cand.is_empty() {
                    continue;
                }
                let chosen: Vec<usize> = match op {
                    AggOp::LimitRatio => {
                        let r = p.clamp(-1.0, 1.0);
                        cand.into_iter()
                            .filter(|&si| {
                                let off = ratio_offsets[si];
                                if r >= 0.0 { off < r } else { off >= 1.0 + r }
                            })
                            .collect()
                    }
                    _ => {
                        let k = (p as i64).min(total);
                        if k < 1 {
                            continue;
                        }
                        let k = k as usize;
                        let mut c = cand;
                        match op {
                            AggOp::Topk => {
                                // Descending, NaN last; stable so earlier series win ties.
                                c.sort_by(|a, b| {
                                    cmp_nan_first(input[*b].vals[i], input[*a].vals[i])
                                });
                            }
                            AggOp::Bottomk => {
                                c.sort_by(|a, b| {
                                    let (x, y) = (input[*a].vals[i], input[*b].vals[i]);
                                    match (x.is_nan(), y.is_nan()) {
                                        (true, true) => std::cmp::Ordering::Equal,
                                        (true, false) => std::cmp::Ordering::Greater,
                                        (false, true) => std::cmp::Ordering::Less,
                                        _ => x.partial_cmp(&y).unwrap(),
                                    }
                                });
                            }
                            _ => {}
                        }
                        c.truncate(k);
                        c
                    }
                };
                for si in chosen {
                    keep[si][i] = true;
                    if n == 1 {
                        order.push(si);
                    }
                }
            }
        }
        let mut input: Vec<Option<VSeries>> = input.into_iter().map(Some).collect();
        let mut out = Vec::new();
        let idx: Vec<usize> = if n == 1 {
            order
        } else {
            (0..input.len()).collect()
        };
        for si in idx {
            let Some(mut s) = input[si].take() else {
                continue;
            };
            for (v, k) in s.vals.iter_mut().zip(&keep[si]) {
                if !k {
                    *v = absent();
                }
            }
            if !s.is_empty() {
                out.push(s);
            }
        }
        Ok(IVal::Vector(out))
    }
}

/// Per-group, per-step accumulators of the streaming aggregations.
struct Acc {
    labels: Labels,
    drop_name: bool,
    /// sum / value / count / min / max
    a: Vec<f64>,
    /// Kahan compensation
    b: Vec<f64>,
    /// element count (avg, stddev)
    c: Vec<f64>,
    /// running mean (avg in incremental mode, stddev)
    d: Vec<f64>,
    /// avg switched to incremental mean (sum overflowed)
    incr: Vec<bool>,
}

impl Acc {
    fn new(op: AggOp, labels: Labels, n: usize) -> Acc {
        let need = |yes: bool, v: f64| if yes { vec![v; n] } else { Vec::new() };
        let avg = op == AggOp::Avg;
        let dev = matches!(op, AggOp::Stddev | AggOp::Stdvar);
        Acc {
            labels,
            drop_name: false,
            a: vec![absent(); n],
            b: need(op == AggOp::Sum || avg, 0.0),
            c: need(avg || dev, 0.0),
            d: need(avg || dev, 0.0),
            incr: if avg { vec![false; n] } else { Vec::new() },
        }
    }

    fn add(&mut self, op: AggOp, drop_name: bool, vals: &[f64]) {
        self.drop_name |= drop_name;
        for (i, &f) in vals.iter().enumerate() {
            if !present(f) {
                continue;
            }
            let cur = self.a[i];
            match op {
                AggOp::Sum => {
                    if present(cur) {
                        let (t, c) = kahan_inc(f, cur, self.b[i]);
                        self.a[i] = t;
                        self.b[i] = c;
                    } else {
                        self.a[i] = f;
                    }
                }
                AggOp::Count => self.a[i] = if present(cur) { cur + 1.0 } else { 1.0 },
                AggOp::Group => self.a[i] = 1.0,
                AggOp::Min | AggOp::Max
                    if !present(cur)
                        || cur.is_nan()
                        || (op == AggOp::Max && cur < f)
                        || (op == AggOp::Min && cur > f) =>
                {
                    self.a[i] = f;
                }
                AggOp::Avg => {
                    if self.c[i] == 0.0 {
                        self.c[i] = 1.0;
                        self.a[i] = f;
                        self.d[i] = f;
                        self.b[i] = 0.0;
                        continue;
                    }
                    self.c[i] += 1.0;
                    let cnt = self.c[i];
                    if !self.incr[i] {
                        let (nv, nc) = kahan_inc(f, self.a[i], self.b[i]);
                        if !nv.is_infinite() {
                            self.a[i] = nv;
                            self.b[i] = nc;
                            continue;
                        }
                        // The sum would overflow: continue with an incremental mean.
                        self.incr[i] = true;
                        self.d[i] = self.a[i] / (cnt - 1.0);
                        self.b[i] /= cnt - 1.0;
                    }
                    let q = (cnt - 1.0) / cnt;
                    let (m, c) = kahan_inc(f / cnt, q * self.d[i], q * self.b[i]);
                    self.d[i] = m;
                    self.b[i] = c;
                }
                AggOp::Stddev | AggOp::Stdvar => {
                    if self.c[i] == 0.0 {
                        self.c[i] = 1.0;
                        self.d[i] = f;
                        self.a[i] = if f.is_nan() || f.is_infinite() {
                            f64::NAN
                        } else {
                            0.0
                        };
                        continue;
                    }
                    self.c[i] += 1.0;
                    let delta = f - self.d[i];
                    self.d[i] += delta / self.c[i];
                    self.a[i] += delta * (f - self.d[i]);
                }
                _ => {}
            }
        }
    }

    /// Mean of a partial average at step `i`.
    fn avg_mean(&self, i: usize) -> f64 {
        if self.incr[i] {
            self.d[i] + self.b[i]
        } else {
            self.a[i] / self.c[i] + self.b[i] / self.c[i]
        }
    }

    /// Folds in the accumulator of a later run of series (parallel workers
    /// cover contiguous label ranges, merged in order).
    fn merge(&mut self, op: AggOp, o: Acc) {
        self.drop_name |= o.drop_name;
        for i in 0..self.a.len() {
            let oa = o.a[i];
            if !present(oa) {
                continue;
            }
            let cur = self.a[i];
            match op {
                AggOp::Sum => {
                    if present(cur) {
                        let (t, c) = kahan_inc(oa, cur, self.b[i]);
                        self.a[i] = t;
                        self.b[i] = c + o.b[i];
                    } else {
                        self.a[i] = oa;
                        self.b[i] = o.b[i];
                    }
                }
                AggOp::Count => self.a[i] = if present(cur) { cur + oa } else { oa },
                AggOp::Group => self.a[i] = 1.0,
                AggOp::Min | AggOp::Max
                    if !present(cur)
                        || cur.is_nan()
                        || (op == AggOp::Max && cur < oa)
                        || (op == AggOp::Min && cur > oa) =>
                {
                    self.a[i] = oa;
                }
                AggOp::Avg => {
                    if self.c[i] == 0.0 {
                        (self.a[i], self.b[i], self.c[i], self.d[i], self.incr[i]) =
                            (oa, o.b[i], o.c[i], o.d[i], o.incr[i]);
                        continue;
                    }
                    if !self.incr[i] && !o.incr[i] {
                        let (t, c) = kahan_inc(oa, cur, self.b[i]);
                        if !t.is_infinite() {
                            self.a[i] = t;
                            self.b[i] = c + o.b[i];
                            self.c[i] += o.c[i];
                            continue;
                        }
                    }
                    // Combine the means when a sum overflowed.
                    let (n1, n2) = (self.c[i], o.c[i]);
                    let (m1, m2) = (self.avg_mean(i), o.avg_mean(i));
                    self.d[i] = m1 + (m2 - m1) * (n2 / (n1 + n2));
                    self.b[i] = 0.0;
                    self.c[i] = n1 + n2;
                    self.incr[i] = true;
                }
                AggOp::Stddev | AggOp::Stdvar => {
                    if self.c[i] == 0.0 {
                        (self.a[i], self.c[i], self.d[i]) = (oa, o.c[i], o.d[i]);
                        continue;
                    }
                    // Chan et al.'s pairwise update of mean and squared deviations.
                    let (n1, n2) = (self.c[i], o.c[i]);
                    let n = n1 + n2;
                    let delta = o.d[i] - self.d[i];
                    self.d[i] += delta * n2 / n;
                    self.a[i] = cur + oa + delta * delta * n1 * n2 / n;
                    self.c[i] = n;
                }
                _ => {}
            }
        }
    }

    fn finish(mut self, op: AggOp) -> VSeries {
        for i in 0..self.a.len() {
            if !present(self.a[i]) {
                continue;
            }
            match op {
                AggOp::Sum => self.a[i] += self.b[i],
                AggOp::Avg => {
                    let cnt = self.c[i];
                    self.a[i] = if self.incr[i] {
                        self.d[i] + self.b[i]
                    } else {
                        self.a[i] / cnt + self.b[i] / cnt
                    };
                }
                AggOp::Stddev => self.a[i] = (self.a[i] / self.c[i]).sqrt(),
                AggOp::Stdvar => self.a[i] /= self.c[i],
                _ => {}
            }
        }
        VSeries {
            labels: self.labels,
            drop_name: self.drop_name,
            vals: self.a,
        }
    }
}

impl Evaluator<'_> {
    /// sum/avg/count/group/min/max/stddev/stdvar, fed one input series at a
    /// sum/avg/count/group/min/max/stddev/stdvar, fed one input series at a
    /// time (in parallel where the input allows) so inputs such as `rate`
    /// over every series are never all in memory.
    fn aggregate_stream(
        &mut self,
        op: AggOp,
        expr: &Expr,
        grouping: &[String],
        without: bool,
        grid: &Grid,
    ) -> R<IVal> {
        let mut sorted: Vec<String> = grouping.to_vec();
        sorted.sort();
        sorted.dedup();
        let c = AggConsumer {
            op,
            grouping: &sorted,
            without,
            n: grid.n,
        };
        let mut parts = self.stream_vector_par(expr, grid, &c)?.into_iter();
        let mut all = parts.next().unwrap_or_else(|| c.state());
        for part in parts {
            for (key, acc) in part.keys.into_iter().zip(part.groups) {
                match all.index.get(&key) {
                    Some(&g) => all.groups[g].merge(op, acc),
                    None => {
                        all.index.insert(key, all.groups.len());
                        all.keys.push(key);
                        all.groups.push(acc);
                    }
                }
            }
        }
        let out: Vec<VSeries> = all
            .groups
            .into_iter()
            .map(|a| a.finish(op))
            .filter(|s| !s.is_empty())
            .collect();
        Ok(IVal::Vector(out))
    }
}

/// Groups of one worker, in order of first appearance.
struct AccSet {
    groups: Vec<Acc>,
    keys: Vec<u64>,
    index: ahash::AHashMap<u64, usize>,
}

struct AggConsumer<'g> {
    op: AggOp,
    grouping: &'g [String],
    without: bool,
    n: usize,
}

impl Consumer for AggConsumer<'_> {
    type State = AccSet;
    fn state(&self) -> AccSet {
        AccSet {
            groups: Vec::new(),
            keys: Vec::new(),
            index: ahash::AHashMap::new(),
        }
    }
    fn consume(&self, st: &mut AccSet, labels: &Labels, drop_name: bool, vals: Vec<f64>) -> R<()> {
        let key = group_hash(labels, self.grouping, self.without);
        let g = match st.index.get(&key) {
            Some(&g) => g,
            None => {
                st.index.insert(key, st.groups.len());
                st.keys.push(key);
                st.groups.push(Acc::new(
                    self.op,
                    group_labels(labels, self.grouping, self.without),
                    self.n,
                ));
                st.groups.len() - 1
            }
        };
        st.groups[g].add(self.op, drop_name, &vals);
        Ok(())
    }
}
