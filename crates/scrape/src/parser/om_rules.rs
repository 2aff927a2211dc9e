//! OpenMetrics family-level rules, checked while streaming.
//!
//! The syntax parser sees one line at a time; these rules need the context of
//! the metric family a line belongs to: which sample names a family's type
//! allows, that metadata precedes samples, that a family (or any name it
//! reserves) never reappears, that a series group's samples are adjacent with
//! non-decreasing timestamps, and the per-type value invariants (counters never
//! negative or NaN, histogram buckets ordered and consistent with `_count`...).
//! The rules and their order follow the OpenMetrics reference parser, which is
//! what the conformance suite was written against.

use std::collections::HashSet;

use sightline_model::MetricType;

use super::labels::LabelsRef;
use super::{Entry, float};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetaKind {
    Help,
    Type,
    Unit,
}

impl MetaKind {
    pub(crate) fn word(self) -> &'static str {
        match self {
            MetaKind::Help => "HELP",
            MetaKind::Type => "TYPE",
            MetaKind::Unit => "UNIT",
        }
    }
}

/// What the rules need to know about a sample line, before any normalization.
pub(crate) struct RawSample<'a> {
    pub(crate) name: &'a str,
    pub(crate) labels: LabelsRef<'a>,
    pub(crate) value: f64,
    /// Seconds, unrounded, so sub-millisecond ordering is still visible.
    pub(crate) ts: Option<f64>,
    pub(crate) exemplar_labels: Option<LabelsRef<'a>>,
}

#[derive(Default)]
pub(crate) struct OmRules {
    /// Every sample name reserved by a finished family.
    seen: HashSet<String>,
    fam: Option<Family>,
}

/// Exemplar label sets are capped at 128 characters (names plus values).
const MAX_EXEMPLAR_CHARS: usize = 128;

/// The sample-name suffixes a family of each type owns.
fn suffixes(t: MetricType) -> &'static [&'static str] {
    match t {
        MetricType::Counter => &["_total", "_created"],
        MetricType::Summary => &["", "_count", "_sum", "_created"],
        MetricType::Histogram => &["_count", "_sum", "_bucket", "_created"],
        MetricType::Gaugehistogram => &["_gcount", "_gsum", "_bucket"],
        MetricType::Info => &["_info"],
        MetricType::Gauge | MetricType::Stateset | MetricType::Unknown => &[""],
    }
}

struct Family {
    name: String,
    /// `None` until a TYPE line; families opened by a bare sample are `Unknown`.
    typ: Option<MetricType>,
    has_help: bool,
    unit: Option<String>,
    has_samples: bool,
    /// The current group (hash of its labels) and its last timestamp.
    group: Option<(u64, Option<f64>)>,
    seen_groups: HashSet<u64>,
    hist: Option<HistRun>,
}

impl Family {
    fn new(name: &str, typ: Option<MetricType>) -> Self {
        Family {
            name: name.to_owned(),
            typ,
            has_help: false,
            unit: None,
            has_samples: false,
            group: None,
            seen_groups: HashSet::new(),
            hist: None,
        }
    }

    fn allows(&self, sample: &str) -> bool {
        let Some(t) = self.typ else {
            return sample == self.name;
        };
        sample
            .strip_prefix(self.name.as_str())
            .is_some_and(|suffix| suffixes(t).contains(&suffix))
    }
}

impl OmRules {
    pub(crate) fn metadata(&mut self, entry: &Entry<'_>) -> Result<(), String> {
        let family = match entry {
            Entry::Help { family, .. }
            | Entry::Type { family, .. }
            | Entry::Unit { family, .. } => *family,
            Entry::Sample(_) | Entry::Created(_) => return Ok(()),
        };
        let fam = match &mut self.fam {
            Some(f) if f.name == family => {
                if f.has_samples {
                    return Err(format!("metadata for {family} after its samples"));
                }
                f
            }
            _ => {
                self.finish_family()?;
                self.fam.insert(Family::new(family, None))
            }
        };
        match entry {
            Entry::Help { .. } => {
                if std::mem::replace(&mut fam.has_help, true) {
                    return Err(format!("more than one HELP for {family}"));
                }
            }
            Entry::Type { kind, .. } => {
                if fam.typ.replace(*kind).is_some() {
                    return Err(format!("more than one TYPE for {family}"));
                }
            }
            Entry::Unit { unit, .. } => {
                if fam.unit.replace((*unit).to_owned()).is_some() {
                    return Err(format!("more than one UNIT for {family}"));
                }
            }
            Entry::Sample(_) | Entry::Created(_) => {}
        }
        Ok(())
    }

    pub(crate) fn sample(&mut self, s: &RawSample<'_>) -> Result<(), String> {
        let fam = match &mut self.fam {
            Some(f) if f.allows(s.name) => f,
            _ => {
                // A name outside the current family opens a new, untyped one.
                self.finish_family()?;
                self.fam
                    .insert(Family::new(s.name, Some(MetricType::Unknown)))
            }
        };
        check_sample(fam, s)
    }

    /// At `# EOF`.
    pub(crate) fn finish(&mut self) -> Result<(), String> {
        self.finish_family()
    }

    fn finish_family(&mut self) -> Result<(), String> {
        let Some(mut fam) = self.fam.take() else {
            return Ok(());
        };
        let typ = fam.typ.unwrap_or(MetricType::Unknown);
        let own = suffixes(typ);
        for suffix in own.iter().chain((!own.contains(&"")).then_some(&"")) {
            let name = format!("{}{suffix}", fam.name);
            if !self.seen.insert(name) {
                return Err(format!(
                    "clashing name {}{suffix}: already used by an earlier metric family",
                    fam.name
                ));
            }
        }
        if let Some(unit) = fam.unit.as_deref().filter(|u| !u.is_empty()) {
            if !fam
                .name
                .strip_suffix(unit)
                .is_some_and(|rest| rest.ends_with('_'))
            {
                return Err(format!(
                    "unit {unit:?} is not a suffix of metric {:?}",
                    fam.name
                ));
            }
            if matches!(typ, MetricType::Info | MetricType::Stateset) {
                return Err(format!("{} metrics cannot have a unit", typ.as_str()));
            }
        }
        if let Some(h) = fam.hist.take() {
            h.check(&fam.name)?;
        }
        Ok(())
    }
}

fn is_integer(v: f64) -> bool {
    v.is_finite() && v.fract() == 0.0
}

/// A bucket bound: a number, not NaN, and infinities spelled canonically.
fn parse_le(raw: &str) -> Result<f64, String> {
    match float::parse_go_float(raw) {
        Ok(f) if f.is_nan() => Err("le label must not be NaN".to_owned()),
        Ok(f) if f.is_infinite() && raw != "+Inf" && raw != "-Inf" => Err(format!(
            "le label {raw:?} is not canonical: write +Inf or -Inf"
        )),
        Ok(f) => Ok(f),
        Err(e) => Err(format!("invalid le label {raw:?}: {e}")),
    }
}

/// An order-independent hash of a label set, skipping `exclude`: the identity
/// of a sample's group (a histogram's buckets, a summary's quantiles and a
/// stateset's states belong to one group).
fn group_hash(labels: &LabelsRef<'_>, exclude: Option<&str>) -> u64 {
    labels
        .iter()
        .filter(|(n, _)| Some(*n) != exclude)
        .map(|(n, v)| {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.update(n.as_bytes());
            h.update(&[0xff]);
            h.update(v.as_bytes());
            h.digest()
        })
        .fold(0u64, u64::wrapping_add)
}

fn check_sample(fam: &mut Family, s: &RawSample<'_>) -> Result<(), String> {
    let typ = fam.typ.unwrap_or(MetricType::Unknown);
    let suffix = s.name.get(fam.name.len()..).unwrap_or_default();
    let is_hist = matches!(typ, MetricType::Histogram | MetricType::Gaugehistogram);
    let name = s.name;
    fam.has_samples = true;

    if typ == MetricType::Stateset && s.labels.get(&fam.name).is_none() {
        return Err(format!(
            "stateset sample {name} lacks the {:?} label",
            fam.name
        ));
    }
    let mut le = None;
    if is_hist && suffix == "_bucket" {
        let raw = s
            .labels
            .get("le")
            .ok_or_else(|| format!("bucket {name} lacks an le label"))?;
        le = Some(parse_le(raw)?);
        if !is_integer(s.value) {
            return Err(format!("bucket {name} value must be an integer"));
        }
    }
    if matches!(suffix, "_count" | "_gcount") && !is_integer(s.value) {
        return Err(format!("{name} value must be an integer"));
    }
    if typ == MetricType::Summary && suffix.is_empty() {
        let q = s
            .labels
            .get("quantile")
            .and_then(|q| float::parse_go_float(q).ok());
        if !q.is_some_and(|q| (0.0..=1.0).contains(&q)) {
            return Err(format!(
                "summary sample {name} needs a quantile label between 0 and 1"
            ));
        }
    }

    let exclude = match typ {
        MetricType::Summary if suffix.is_empty() => Some("quantile"),
        MetricType::Stateset => Some(fam.name.as_str()),
        _ if is_hist && suffix == "_bucket" => Some("le"),
        _ => None,
    };
    // Info samples cannot be told apart by group: they all share one.
    let group = if typ == MetricType::Info {
        0
    } else {
        group_hash(&s.labels, exclude)
    };
    if let Some((prev, prev_ts)) = fam.group {
        if group != prev && fam.seen_groups.contains(&group) {
            return Err(format!(
                "{name}: samples of a series group must be adjacent (invalid metric grouping)"
            ));
        }
        if group == prev {
            if prev_ts.is_some() != s.ts.is_some() {
                return Err(format!("{name}: mix of timestamp presence within a group"));
            }
            if let (Some(a), Some(b)) = (prev_ts, s.ts)
                && b < a
                && typ != MetricType::Info
            {
                return Err(format!("{name}: timestamps went backwards within a group"));
            }
        }
    }
    fam.group = Some((group, s.ts));
    fam.seen_groups.insert(group);

    let v = s.value;
    if typ == MetricType::Stateset && v != 0.0 && v != 1.0 {
        return Err(format!("stateset sample {name} must be 0 or 1"));
    }
    if typ == MetricType::Info && v != 1.0 {
        return Err(format!("info sample {name} must be 1"));
    }
    if typ == MetricType::Summary && suffix.is_empty() && v < 0.0 {
        return Err(format!("quantile value of {name} cannot be negative"));
    }
    let counter_like = ["_total", "_sum", "_count", "_bucket", "_gcount", "_gsum"];
    if counter_like.contains(&suffix) && v.is_nan() {
        return Err(format!("counter-like sample {name} cannot be NaN"));
    }
    if counter_like[..5].contains(&suffix) && v < 0.0 {
        return Err(format!("counter-like sample {name} cannot be negative"));
    }

    if let Some(ex) = &s.exemplar_labels {
        let allowed = (is_hist && name.ends_with("_bucket"))
            || (typ == MetricType::Counter && name.ends_with("_total"));
        if !allowed {
            return Err(format!(
                "{name}: exemplars are only allowed on histogram buckets and counter totals"
            ));
        }
        let chars: usize = ex
            .iter()
            .map(|(n, v)| n.chars().count() + v.chars().count())
            .sum();
        if chars > MAX_EXEMPLAR_CHARS {
            return Err(format!(
                "{name}: exemplar labels have {chars} characters, more than {MAX_EXEMPLAR_CHARS}"
            ));
        }
    }

    if is_hist && !suffix.is_empty() {
        let same_run = fam
            .hist
            .as_ref()
            .is_some_and(|h| h.group == group && h.ts == s.ts);
        if !same_run {
            if let Some(h) = fam.hist.take() {
                h.check(&fam.name)?;
            }
            fam.hist = Some(HistRun::new(group, s.ts));
        }
        if let Some(h) = &mut fam.hist {
            h.add(suffix, le, v, &fam.name)?;
        }
    }
    Ok(())
}

/// The samples of one histogram (one group at one timestamp).
struct HistRun {
    group: u64,
    ts: Option<f64>,
    /// Largest bound seen so far and its cumulative count.
    bucket: Option<f64>,
    value: f64,
    count: Option<f64>,
    negative_buckets: bool,
    has_sum: bool,
    has_gsum: bool,
    negative_gsum: bool,
}

impl HistRun {
    fn new(group: u64, ts: Option<f64>) -> Self {
        HistRun {
            group,
            ts,
            bucket: None,
            value: 0.0,
            count: None,
            negative_buckets: false,
            has_sum: false,
            has_gsum: false,
            negative_gsum: false,
        }
    }

    fn add(&mut self, suffix: &str, le: Option<f64>, v: f64, name: &str) -> Result<(), String> {
        match suffix {
            "_bucket" => {
                let b = le.unwrap_or(f64::NAN);
                self.negative_buckets |= b < 0.0;
                if self.bucket.is_some_and(|prev| b <= prev) {
                    return Err(format!("histogram {name}: buckets out of order"));
                }
                if v < self.value {
                    return Err(format!("histogram {name}: bucket counts decrease"));
                }
                self.bucket = Some(b);
                self.value = v;
            }
            "_count" | "_gcount" => self.count = Some(v),
            "_sum" => self.has_sum = true,
            "_gsum" => {
                self.has_gsum = true;
                self.negative_gsum |= v < 0.0;
            }
            _ => {}
        }
        Ok(())
    }

    fn check(&self, name: &str) -> Result<(), String> {
        let fail = |what: &str| Err(format!("histogram {name}: {what}"));
        if self.bucket != Some(f64::INFINITY) {
            return fail("+Inf bucket missing");
        }
        if self.count.is_some_and(|c| c != self.value) {
            return fail("count does not match the +Inf bucket");
        }
        if self.has_sum && self.count.is_none() {
            return fail("_count must be present if _sum is");
        }
        if self.has_gsum && self.count.is_none() {
            return fail("_gcount must be present if _gsum is");
        }
        if !(self.has_sum || self.has_gsum) && self.count.is_some() {
            return fail("_sum/_gsum must be present if _count/_gcount is");
        }
        if self.negative_buckets && self.has_sum {
            return fail("_sum is not allowed with negative buckets");
        }
        if !self.negative_buckets && self.negative_gsum {
            return fail("negative _gsum requires negative buckets");
        }
        Ok(())
    }
}
