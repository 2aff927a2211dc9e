//! WAL record payloads. Each payload starts with a type byte; framing and
//! checksums are the WAL's job (see `wal`).

use sightline_model::{Exemplar, Label, Labels, MetricMetadata, MetricType};

use crate::storage::SeriesRef;
use crate::varint::{Decoder, put_str, put_uvarint, put_varint};

const SERIES: u8 = 1;
const SAMPLES: u8 = 2;
const EXEMPLARS: u8 = 3;
const METADATA: u8 = 4;
/// Samples with start timestamps: written instead of `SAMPLES` for a commit
/// in which at least one sample has an ST (older WALs never hold it).
const SAMPLES_ST: u8 = 5;

#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Series(Vec<(SeriesRef, Labels)>),
    Samples(Vec<RefSample>),
    /// Samples and their start timestamps (0 = none), same length.
    SamplesSt(Vec<RefSample>, Vec<i64>),
    Exemplars(Vec<(SeriesRef, Exemplar)>),
    Metadata(Vec<(String, MetricMetadata)>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    pub r: SeriesRef,
    pub t: i64,
    pub v: f64,
}

/// Series records: the ref and the label pairs (sorted) of each series.
pub fn encode_series<'a, P>(out: &mut Vec<u8>, series: impl IntoIterator<Item = (SeriesRef, P)>)
where
    P: ExactSizeIterator<Item = (&'a str, &'a str)>,
{
    out.push(SERIES);
    for (r, pairs) in series {
        put_uvarint(out, r);
        put_uvarint(out, pairs.len() as u64);
        for (n, v) in pairs {
            put_str(out, n);
            put_str(out, v);
        }
    }
}

/// Samples are delta-encoded against the first one: refs and timestamps in a
/// batch are close together, so most fit in one or two bytes.
pub fn encode_samples(out: &mut Vec<u8>, samples: &[RefSample]) {
    out.push(SAMPLES);
    let Some(first) = samples.first() else { return };
    put_uvarint(out, first.r);
    put_varint(out, first.t);
    for s in samples {
        put_varint(out, s.r.wrapping_sub(first.r) as i64);
        put_varint(out, s.t.wrapping_sub(first.t));
        out.extend_from_slice(&s.v.to_bits().to_le_bytes());
    }
}

/// Like `encode_samples`, each sample followed by its start timestamp as
/// `T - ST` (a zigzag varint shifted so that 0 means "no ST"): 1 byte for
/// the usual ST shapes once `T - ST` is small, a few bytes otherwise.
pub fn encode_samples_st(out: &mut Vec<u8>, samples: &[RefSample], sts: &[i64]) {
    out.push(SAMPLES_ST);
    let Some(first) = samples.first() else { return };
    put_uvarint(out, first.r);
    put_varint(out, first.t);
    for (s, &st) in samples.iter().zip(sts) {
        put_varint(out, s.r.wrapping_sub(first.r) as i64);
        put_varint(out, s.t.wrapping_sub(first.t));
        out.extend_from_slice(&s.v.to_bits().to_le_bytes());
        let x = if st == 0 {
            0
        } else {
            let d = s.t.wrapping_sub(st);
            if d >= 0 { d.wrapping_add(1) } else { d }
        };
        put_varint(out, x);
    }
}

pub fn encode_exemplars(out: &mut Vec<u8>, ex: &[(SeriesRef, Exemplar)]) {
    out.push(EXEMPLARS);
    for (r, e) in ex {
        put_uvarint(out, *r);
        put_varint(out, e.t);
        out.extend_from_slice(&e.v.to_bits().to_le_bytes());
        put_uvarint(out, e.labels.len() as u64);
        for l in &e.labels {
            put_str(out, &l.name);
            put_str(out, &l.value);
        }
    }
}

pub fn encode_metadata(out: &mut Vec<u8>, md: &[(String, MetricMetadata)]) {
    out.push(METADATA);
    for (family, m) in md {
        put_str(out, family);
        put_str(out, m.kind.as_str());
        put_str(out, &m.help);
        put_str(out, &m.unit);
    }
}

fn decode_labels(d: &mut Decoder<'_>) -> Option<Labels> {
    let n = d.uvarint()? as usize;
    let mut v: Vec<Label> = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let name = d.str()?.to_string();
        let value = d.str()?.to_string();
        v.push(Label { name, value });
    }
    // Our own writer always writes sorted labels; anything else is damage.
    if !v.windows(2).all(|w| w[0].name < w[1].name) {
        return None;
    }
    Some(Labels::from_sorted(v))
}

pub fn decode(buf: &[u8]) -> Option<Record> {
    let mut d = Decoder::new(buf);
    match d.u8()? {
        SERIES => {
            let mut out = Vec::new();
            while !d.is_empty() {
                let r = d.uvarint()?;
                out.push((r, decode_labels(&mut d)?));
            }
            Some(Record::Series(out))
        }
        SAMPLES => {
            let mut out = Vec::new();
            if d.is_empty() {
                return Some(Record::Samples(out));
            }
            let r0 = d.uvarint()?;
            let t0 = d.varint()?;
            while !d.is_empty() {
                let r = r0.wrapping_add(d.varint()? as u64);
                let t = t0.wrapping_add(d.varint()?);
                let v = f64::from_bits(d.u64_le()?);
                out.push(RefSample { r, t, v });
            }
            Some(Record::Samples(out))
        }
        SAMPLES_ST => {
            let mut out = Vec::new();
            let mut sts = Vec::new();
            if d.is_empty() {
                return Some(Record::SamplesSt(out, sts));
            }
            let r0 = d.uvarint()?;
            let t0 = d.varint()?;
            while !d.is_empty() {
                let r = r0.wrapping_add(d.varint()? as u64);
                let t = t0.wrapping_add(d.varint()?);
                let v = f64::from_bits(d.u64_le()?);
                let x = d.varint()?;
                let st = match x {
                    0 => 0,
                    x if x > 0 => t.wrapping_sub(x - 1),
                    x => t.wrapping_sub(x),
                };
                out.push(RefSample { r, t, v });
                sts.push(st);
            }
            Some(Record::SamplesSt(out, sts))
        }
        EXEMPLARS => {
            let mut out = Vec::new();
            while !d.is_empty() {
                let r = d.uvarint()?;
                let t = d.varint()?;
                let v = f64::from_bits(d.u64_le()?);
                let labels = decode_labels(&mut d)?;
                out.push((r, Exemplar { labels, t, v }));
            }
            Some(Record::Exemplars(out))
        }
        METADATA => {
            let mut out = Vec::new();
            while !d.is_empty() {
                let family = d.str()?.to_string();
                let kind = MetricType::parse(d.str()?);
                let help = d.str()?.to_string();
                let unit = d.str()?.to_string();
                out.push((family, MetricMetadata { kind, help, unit }));
            }
            Some(Record::Metadata(out))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        let mut b = Vec::new();
        let pairs = || l.iter().map(|x| (x.name.as_str(), x.value.as_str()));
        encode_series(&mut b, [(7, pairs()), (9, pairs())]);
        assert_eq!(
            decode(&b),
            Some(Record::Series(vec![(7, l.clone()), (9, l.clone())]))
        );

        let s = vec![
            RefSample {
                r: 10,
                t: 1000,
                v: 1.5,
            },
            RefSample {
                r: 3,
                t: 999,
                v: f64::INFINITY,
            },
        ];
        b.clear();
        encode_samples(&mut b, &s);
        assert_eq!(decode(&b), Some(Record::Samples(s.clone())));

        let sts = vec![0, 1_000, 999];
        let s3 = vec![
            s[0],
            RefSample {
                r: 11,
                t: 2000,
                v: 3.0,
            },
            s[1],
        ];
        b.clear();
        encode_samples_st(&mut b, &s3, &[0, 1_000, 2_000]);
        assert_eq!(
            decode(&b),
            Some(Record::SamplesSt(s3.clone(), vec![0, 1_000, 2_000]))
        );
        b.clear();
        encode_samples_st(&mut b, &s3, &sts);
        assert_eq!(decode(&b), Some(Record::SamplesSt(s3, sts)));

        let e = vec![(
            4,
            Exemplar {
                labels: Labels::from_pairs([("trace_id", "ab")]),
                t: 5,
                v: 0.2,
            },
        )];
        b.clear();
        encode_exemplars(&mut b, &e);
        assert_eq!(decode(&b), Some(Record::Exemplars(e)));

        let m = vec![(
            "http_requests".to_string(),
            MetricMetadata {
                kind: MetricType::Counter,
                help: "h".into(),
                unit: "".into(),
            },
        )];
        b.clear();
        encode_metadata(&mut b, &m);
        assert_eq!(decode(&b), Some(Record::Metadata(m)));
    }

    #[test]
    fn garbage_is_none_not_panic() {
        for i in 0..=255u8 {
            let _ = decode(&[i, 0xff, 0xff, 0x01]);
        }
        assert_eq!(decode(&[]), None);
    }
}
