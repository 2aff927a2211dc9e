//! Binary operators: scalar/scalar, vector/scalar and vector/vector with
//! label matching (`on`/`ignoring`, `group_left`/`group_right`, `fill`),
//! comparison filtering and `bool`, and the set operators.

use std::collections::HashMap;

use sightline_model::Labels;

use super::QueryError;
use super::evaluator::{Evaluator, R, merge_same_labels};
use super::types::*;
use crate::parser::{BinOp, Card, Expr, Pos, VectorMatching};

/// Applies an arithmetic or comparison operator. For comparisons the result
/// is `Some(lhs)` when true and `None` when false.
#[inline]
pub fn apply(op: BinOp, l: f64, r: f64) -> Option<f64> {
    match op {
        BinOp::Add => Some(l + r),
        BinOp::Sub => Some(l - r),
        BinOp::Mul => Some(l * r),
        BinOp::Div => Some(l / r),
        BinOp::Mod => Some(l % r),
        BinOp::Pow => Some(l.powf(r)),
        BinOp::Atan2 => Some(l.atan2(r)),
        BinOp::Eql => (l == r).then_some(l),
        BinOp::Neq => (l != r).then_some(l),
        BinOp::Gtr => (l > r).then_some(l),
        BinOp::Lss => (l < r).then_some(l),
        BinOp::Gte => (l >= r).then_some(l),
        BinOp::Lte => (l <= r).then_some(l),
        _ => None,
    }
}

/// Prometheus's `labels.String()`: `{a="b", c="d"}` with every label inside the braces.
pub fn prom_labels_string(l: &Labels) -> String {
    let parts: Vec<String> = l
        .iter()
        .map(|x| format!("{}={:?}", x.name, x.value))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

fn scalar_op(op: BinOp, l: f64, r: f64) -> f64 {
    match apply(op, l, r) {
        Some(v) if op.is_comparison() => {
            let _ = v;
            1.0
        }
        Some(v) => v,
        None => 0.0,
    }
}

/// The join signature of a series under a matching clause.
fn signature(l: &Labels, m: &VectorMatching) -> String {
    let mut s = String::new();
    if m.on {
        let mut names: Vec<&String> = m.labels.iter().collect();
        names.sort();
        names.dedup();
        for n in names {
            if let Some(v) = l.get(n) {
                s.push_str(n);
                s.push('\u{ff}');
                s.push_str(v);
                s.push('\u{fe}');
            }
        }
    } else {
        for lab in l.iter() {
            if lab.name == "__name__" || m.labels.contains(&lab.name) {
                continue;
            }
            s.push_str(&lab.name);
            s.push('\u{ff}');
            s.push_str(&lab.value);
            s.push('\u{fe}');
        }
    }
    s
}

/// The labels used for a fill-in series: the matching labels of the other side.
fn match_labels(l: &Labels, m: &VectorMatching) -> Labels {
    let mut b = sightline_model::LabelsBuilder::new();
    for lab in l.iter() {
        let listed = m.labels.contains(&lab.name);
        let keep = if m.on {
            listed
        } else {
            !listed && lab.name != "__name__"
        };
        if keep {
            b.set(lab.name.clone(), lab.value.clone());
        }
    }
    b.build()
}

fn result_labels(lhs: &Labels, rhs: &Labels, op: BinOp, m: &VectorMatching) -> Labels {
    let mut b = lhs.to_builder();
    if op.changes_metric_schema() {
        b.del("__name__");
        b.del("__type__");
        b.del("__unit__");
    }
    if m.card == Card::OneToOne {
        if m.on {
            let keep: Vec<String> = lhs
                .iter()
                .filter(|l| !m.labels.contains(&l.name))
                .map(|l| l.name.clone())
                .collect();
            for n in keep {
                b.del(&n);
            }
        } else {
            for n in &m.labels {
                b.del(n);
            }
        }
    }
    for n in &m.include {
        match rhs.get(n) {
            Some(v) => {
                b.set(n.clone(), v.to_string());
            }
            None => {
                b.del(n);
            }
        }
    }
    b.build()
}

impl Evaluator<'_> {
    #[allow(clippy::too_many_arguments)]
    pub fn eval_binary(
        &mut self,
        op: BinOp,
        lhs: &Expr,
        rhs: &Expr,
        matching: Option<&VectorMatching>,
        return_bool: bool,
        pos: Pos,
        grid: &Grid,
    ) -> R<IVal> {
        let l = self.eval(lhs, grid)?;
        let r = self.eval(rhs, grid)?;
        match (l, r) {
            (IVal::Scalar(a), IVal::Scalar(b)) => Ok(IVal::Scalar(
                a.iter()
                    .zip(&b)
                    .map(|(x, y)| scalar_op(op, *x, *y))
                    .collect(),
            )),
            (IVal::Vector(v), IVal::Scalar(s)) => {
                self.vector_scalar(op, v, &s, false, return_bool, pos)
            }
            (IVal::Scalar(s), IVal::Vector(v)) => {
                self.vector_scalar(op, v, &s, true, return_bool, pos)
            }
            (IVal::Vector(a), IVal::Vector(b)) => {
                let m = matching.cloned().unwrap_or(VectorMatching {
                    card: if op.is_set() {
                        Card::ManyToMany
                    } else {
                        Card::OneToOne
                    },
                    labels: vec![],
                    on: false,
                    include: vec![],
                    fill_lhs: None,
                    fill_rhs: None,
                });
                let out = match op {
                    BinOp::And | BinOp::Or | BinOp::Unless => set_op(op, a, b, &m, grid),
                    _ => self.vector_vector(op, a, b, &m, return_bool, pos, grid)?,
                };
                Ok(IVal::Vector(merge_same_labels(out)?))
            }
            _ => Err(QueryError::exec(
                "invalid operand types for binary expression",
            )),
        }
    }

    fn vector_scalar(
        &mut self,
        op: BinOp,
        mut v: Vec<VSeries>,
        s: &[f64],
        swap: bool,
        return_bool: bool,
        pos: Pos,
    ) -> R<IVal> {
        if matches!(op, BinOp::TrimUpper | BinOp::TrimLower) {
            self.info(
                &format!("incompatible sample types encountered for binary operator {:?}: float {} float", op.as_str(), op.as_str()),
                pos,
            );
            return Ok(IVal::Vector(Vec::new()));
        }
        let drop = op.changes_metric_schema() || return_bool;
        for series in &mut v {
            if drop {
                series.drop_name = true;
            }
            for (x, sv) in series.vals.iter_mut().zip(s) {
                if !present(*x) {
                    continue;
                }
                let (a, b) = if swap { (*sv, *x) } else { (*x, *sv) };
                let res = apply(op, a, b);
                *x = if return_bool {
                    if res.is_some() { 1.0 } else { 0.0 }
                } else if op.is_comparison() {
                    // The vector's value is kept, whichever side it is on.
                    if res.is_some() { *x } else { absent() }
                } else {
                    res.unwrap_or_else(absent)
                };
            }
        }
        v.retain(|s| !s.is_empty());
        Ok(IVal::Vector(v))
    }

    #[allow(clippy::too_many_arguments)]
    fn vector_vector(
        &mut self,
        op: BinOp,
        lhs: Vec<VSeries>,
        rhs: Vec<VSeries>,
        m: &VectorMatching,
        return_bool: bool,
        pos: Pos,
        grid: &Grid,
    ) -> R<Vec<VSeries>> {
        if matches!(op, BinOp::TrimUpper | BinOp::TrimLower) {
            if !lhs.is_empty() && !rhs.is_empty() {
                self.info(
                    &format!("incompatible sample types encountered for binary operator {:?}: float {} float", op.as_str(), op.as_str()),
                    pos,
                );
            }
            return Ok(Vec::new());
        }
        // group_right: swap sides so the "one" side is always on the right.
        let swapped = m.card == Card::OneToMany;
        let (lhs, rhs) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
        // Prometheus applies the fill values to the sides as they are after the swap.
        let (fill_l, fill_r) = (m.fill_lhs, m.fill_rhs);
        let n = grid.n;
        let count_present = |side: &[VSeries]| -> Vec<u32> {
            let mut c = vec![0u32; n];
            for s in side {
                for (i, v) in s.vals.iter().enumerate() {
                    if present(*v) {
                        c[i] += 1;
                    }
                }
            }
            c
        };
        let lcount = count_present(&lhs);
        let rcount = count_present(&rhs);
        let mut groups: HashMap<String, (Vec<usize>, Vec<usize>)> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for (i, s) in lhs.iter().enumerate() {
            let sig = signature(&s.labels, m);
            groups
                .entry(sig.clone())
                .or_insert_with(|| {
                    order.push(sig);
                    (vec![], vec![])
                })
                .0
                .push(i);
        }
        for (i, s) in rhs.iter().enumerate() {
            let sig = signature(&s.labels, m);
            groups
                .entry(sig.clone())
                .or_insert_with(|| {
                    order.push(sig);
                    (vec![], vec![])
                })
                .1
                .push(i);
        }
        let mut out: Vec<VSeries> = Vec::new();
        // Output series by (labels) within the current group, for uniqueness checks.
        for sig in &order {
            let (ls, rs) = &groups[sig];
            // Per step: which rhs series is present (the "one" side must be unique).
            let mut r_at: Vec<Option<usize>> = vec![None; n];
            for &ri in rs {
                for (i, v) in rhs[ri].vals.iter().enumerate() {
                    if present(*v) {
                        if let Some(prev) = r_at[i]
                            && (lcount[i] > 0 || fill_l.is_some())
                        {
                            let one = if swapped { "left" } else { "right" };
                            let ml = match_labels(&rhs[ri].labels, m);
                            let (mut a, mut b) = (&rhs[prev].labels, &rhs[ri].labels);
                            if a > b {
                                std::mem::swap(&mut a, &mut b);
                            }
                            return Err(QueryError::exec(format!(
                                "found duplicate series for the match group {} on the {} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                                prom_labels_string(&ml),
                                one,
                                prom_labels_string(a),
                                prom_labels_string(b)
                            )));
                        }
                        r_at[i] = Some(ri);
                    }
                }
            }
            let mut matched = vec![false; n];
            let mut group_out: HashMap<Labels, usize> = HashMap::new();
            let mut lhs_at: Vec<bool> = vec![false; n];
            for &li in ls {
                let lser = &lhs[li];
                // Output series for this lhs series, keyed by the rhs series it met.
                let mut per_rhs: HashMap<Option<usize>, VSeries> = HashMap::new();
                for i in 0..n {
                    let lv = lser.vals[i];
                    if !present(lv) {
                        continue;
                    }
                    if rcount[i] == 0 && fill_r.is_none() && fill_l.is_none() {
                        continue;
                    }
                    let (rv, rid) = match r_at[i] {
                        Some(ri) => (rhs[ri].vals[i], Some(ri)),
                        None => match fill_r {
                            Some(f) => (f, None),
                            None => continue,
                        },
                    };
                    if m.card == Card::OneToOne {
                        if lhs_at[i] {
                            return Err(QueryError::exec(
                                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                            ));
                        }
                        lhs_at[i] = true;
                    }
                    matched[i] = true;
                    let (a, b) = if swapped { (rv, lv) } else { (lv, rv) };
                    let res = apply(op, a, b);
                    let val = if return_bool {
                        if res.is_some() { 1.0 } else { 0.0 }
                    } else {
                        match res {
                            Some(v) => v,
                            None => continue,
                        }
                    };
                    let entry = per_rhs.entry(rid).or_insert_with(|| {
                        let rl = match rid {
                            Some(ri) => rhs[ri].labels.clone(),
                            None => match_labels(&lser.labels, m),
                        };
                        VSeries {
                            labels: result_labels(&lser.labels, &rl, op, m),
                            drop_name: return_bool,
                            vals: vec![absent(); n],
                        }
                    });
                    entry.vals[i] = val;
                }
                let mut keys: Vec<Option<usize>> = per_rhs.keys().copied().collect();
                keys.sort();
                for k in keys {
                    let s = per_rhs.remove(&k).unwrap();
                    self.add_group_output(&mut out, &mut group_out, s, m)?;
                }
            }
            // Unmatched rhs series with a left fill value.
            if let Some(f) = fill_l {
                let mut per_rhs: HashMap<usize, VSeries> = HashMap::new();
                for i in 0..n {
                    if matched[i] || lcount[i] == 0 && rcount[i] == 0 {
                        continue;
                    }
                    let Some(ri) = r_at[i] else { continue };
                    let rv = rhs[ri].vals[i];
                    let (a, b) = if swapped { (rv, f) } else { (f, rv) };
                    let res = apply(op, a, b);
                    let val = if return_bool {
                        if res.is_some() { 1.0 } else { 0.0 }
                    } else {
                        match res {
                            Some(v) => v,
                            None => continue,
                        }
                    };
                    let entry = per_rhs.entry(ri).or_insert_with(|| {
                        let ll = match_labels(&rhs[ri].labels, m);
                        VSeries {
                            labels: result_labels(&ll, &rhs[ri].labels, op, m),
                            drop_name: return_bool,
                            vals: vec![absent(); n],
                        }
                    });
                    entry.vals[i] = val;
                }
                let mut keys: Vec<usize> = per_rhs.keys().copied().collect();
                keys.sort();
                for k in keys {
                    let s = per_rhs.remove(&k).unwrap();
                    self.add_group_output(&mut out, &mut group_out, s, m)?;
                }
            }
        }
        Ok(out)
    }

    /// Adds an output series of one match group; in many-to-one matching two
    /// results with the same labels at the same step are an error.
    fn add_group_output(
        &mut self,
        out: &mut Vec<VSeries>,
        group_out: &mut HashMap<Labels, usize>,
        s: VSeries,
        m: &VectorMatching,
    ) -> R<()> {
        if s.is_empty() {
            return Ok(());
        }
        match group_out.get(&s.labels) {
            Some(&idx) => {
                for (d, v) in out[idx].vals.iter_mut().zip(&s.vals) {
                    if present(*v) {
                        if present(*d) {
                            let msg = if m.card == Card::OneToOne {
                                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                            } else {
                                "multiple matches for labels: grouping labels must ensure unique matches"
                            };
                            return Err(QueryError::exec(msg));
                        }
                        *d = *v;
                    }
                }
            }
            None => {
                group_out.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
        Ok(())
    }
}

fn set_op(
    op: BinOp,
    lhs: Vec<VSeries>,
    rhs: Vec<VSeries>,
    m: &VectorMatching,
    grid: &Grid,
) -> Vec<VSeries> {
    let n = grid.n;
    // Per signature and step: is any series of the given side present?
    let presence = |side: &[VSeries]| -> HashMap<String, Vec<bool>> {
        let mut p: HashMap<String, Vec<bool>> = HashMap::new();
        for s in side {
            let e = p
                .entry(signature(&s.labels, m))
                .or_insert_with(|| vec![false; n]);
            for (i, v) in s.vals.iter().enumerate() {
                if present(*v) {
                    e[i] = true;
                }
            }
        }
        p
    };
    match op {
        BinOp::And => {
            let rp = presence(&rhs);
            let mut out = Vec::new();
            for mut s in lhs {
                if let Some(p) = rp.get(&signature(&s.labels, m)) {
                    for (v, ok) in s.vals.iter_mut().zip(p) {
                        if !ok {
                            *v = absent();
                        }
                    }
                    if !s.is_empty() {
                        out.push(s);
                    }
                }
            }
            out
        }
        BinOp::Unless => {
            let rp = presence(&rhs);
            let mut out = Vec::new();
            for mut s in lhs {
                if let Some(p) = rp.get(&signature(&s.labels, m)) {
                    for (v, hit) in s.vals.iter_mut().zip(p) {
                        if *hit {
                            *v = absent();
                        }
                    }
                }
                if !s.is_empty() {
                    out.push(s);
                }
            }
            out
        }
        _ => {
            let lp = presence(&lhs);
            let mut out = lhs;
            for mut s in rhs {
                if let Some(p) = lp.get(&signature(&s.labels, m)) {
                    for (v, hit) in s.vals.iter_mut().zip(p) {
                        if *hit {
                            *v = absent();
                        }
                    }
                }
                if !s.is_empty() {
                    out.push(s);
                }
            }
            out
        }
    }
}
