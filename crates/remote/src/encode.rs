//! Building remote-write bodies: used by tests and the benchmark load generator.

use std::collections::HashMap;

use prost::Message;
use sightline_model::{Labels, MetricMetadata, MetricType, Sample};

use crate::{prompb, writev2};

/// Snappy block compression, as remote write expects.
pub fn compress_snappy(raw: &[u8]) -> Vec<u8> {
    // The encoder only fails for inputs over ~4 GiB, far beyond any request
    // this helper is meant to build.
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .expect("snappy input exceeds the maximum block size")
}

/// A snappy-compressed `prometheus.WriteRequest` holding the given series.
pub fn encode_write_request_v1(series: &[(Labels, Vec<Sample>)]) -> Vec<u8> {
    compress_snappy(&write_request_v1(series).encode_to_vec())
}

/// The (uncompressed) 1.0 message for the given series.
pub fn write_request_v1(series: &[(Labels, Vec<Sample>)]) -> prompb::WriteRequest {
    prompb::WriteRequest {
        timeseries: series
            .iter()
            .map(|(labels, samples)| prompb::TimeSeries {
                labels: labels
                    .iter()
                    .map(|l| prompb::Label {
                        name: l.name.clone(),
                        value: l.value.clone(),
                    })
                    .collect(),
                samples: samples
                    .iter()
                    .map(|s| prompb::Sample {
                        value: s.v,
                        timestamp: s.t,
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        metadata: Vec::new(),
    }
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

// proto3 leaves default values (empty strings, 0) out, as prost does.
fn str_field_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        1 + varint_len(s.len() as u64) + s.len()
    }
}

fn put_str_field(out: &mut Vec<u8>, tag: u8, s: &str) {
    if !s.is_empty() {
        out.push(tag << 3 | 2);
        put_varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
}

fn sample_len(s: &Sample) -> usize {
    (if s.v != 0.0 { 9 } else { 0 })
        + (if s.t != 0 {
            1 + varint_len(s.t as u64)
        } else {
            0
        })
}

/// A series' labels as the `labels` fields of a 1.0 `TimeSeries`, encoded
/// once: a sender keeps these bytes per series instead of the label set
/// (a third of the memory) and copies them into every request.
pub fn encode_labels_v1(labels: &Labels) -> Vec<u8> {
    let mut out = Vec::new();
    for l in labels.iter() {
        out.push(1 << 3 | 2);
        put_varint(
            &mut out,
            (str_field_len(&l.name) + str_field_len(&l.value)) as u64,
        );
        put_str_field(&mut out, 1, &l.name);
        put_str_field(&mut out, 2, &l.value);
    }
    out
}

/// The label set of [`encode_labels_v1`]'s bytes.
pub fn decode_labels_v1(mut b: &[u8]) -> Option<Labels> {
    fn varint(b: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&x, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(x & 0x7f) << shift;
            if x < 0x80 {
                return Some(v);
            }
        }
        None
    }
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if b.len() < n {
            return None;
        }
        let (x, rest) = b.split_at(n);
        *b = rest;
        Some(x)
    }
    let mut pairs = Vec::new();
    while !b.is_empty() {
        if varint(&mut b)? != (1 << 3 | 2) {
            return None;
        }
        let n = varint(&mut b)? as usize;
        let mut inner = take(&mut b, n)?;
        let (mut name, mut value) = (String::new(), String::new());
        while !inner.is_empty() {
            let key = varint(&mut inner)?;
            let n = varint(&mut inner)? as usize;
            let s = String::from_utf8(take(&mut inner, n)?.to_vec()).ok()?;
            match key {
                0x0a => name = s,
                0x12 => value = s,
                _ => return None,
            }
        }
        pairs.push((name, value));
    }
    Some(Labels::from_pairs(pairs))
}

/// One series of a 1.0 request with pre-encoded labels ([`encode_labels_v1`]).
pub struct EncodedSeries<'a> {
    pub labels: &'a [u8],
    pub samples: &'a [Sample],
    /// `(encoded exemplar labels, value, timestamp)`.
    pub exemplars: &'a [(&'a [u8], f64, i64)],
}

/// The uncompressed 1.0 message for series whose labels are already encoded,
/// written straight into `out`: the remote-write sender's hot path.
/// Byte-identical to prost's encoding of the same `prompb::WriteRequest`.
pub fn write_request_v1_encoded_into(series: &[EncodedSeries<'_>], out: &mut Vec<u8>) {
    fn exemplar_len(labels: &[u8], v: f64, t: i64) -> usize {
        labels.len()
            + (if v != 0.0 { 9 } else { 0 })
            + (if t != 0 { 1 + varint_len(t as u64) } else { 0 })
    }
    for s in series {
        let mut ts_len = s.labels.len();
        for smp in s.samples {
            let n = sample_len(smp);
            ts_len += 1 + varint_len(n as u64) + n;
        }
        for (l, v, t) in s.exemplars {
            let n = exemplar_len(l, *v, *t);
            ts_len += 1 + varint_len(n as u64) + n;
        }
        out.push(1 << 3 | 2);
        put_varint(out, ts_len as u64);
        out.extend_from_slice(s.labels);
        for smp in s.samples {
            out.push(2 << 3 | 2);
            put_varint(out, sample_len(smp) as u64);
            if smp.v != 0.0 {
                out.push(1 << 3 | 1);
                out.extend_from_slice(&smp.v.to_le_bytes());
            }
            if smp.t != 0 {
                out.push(2 << 3);
                put_varint(out, smp.t as u64);
            }
        }
        for (l, v, t) in s.exemplars {
            out.push(3 << 3 | 2);
            put_varint(out, exemplar_len(l, *v, *t) as u64);
            out.extend_from_slice(l);
            if *v != 0.0 {
                out.push(2 << 3 | 1);
                out.extend_from_slice(&v.to_le_bytes());
            }
            if *t != 0 {
                out.push(3 << 3);
                put_varint(out, *t as u64);
            }
        }
    }
}

/// A snappy-compressed 1.0 request carrying only metric metadata, as
/// Prometheus's remote-write queues send it every `send_interval`.
pub fn encode_metadata_request_v1(md: &[(String, MetricMetadata)]) -> Vec<u8> {
    use prompb::metric_metadata::MetricType as P;
    let metadata = md
        .iter()
        .map(|(family, m)| prompb::MetricMetadata {
            r#type: match m.kind {
                MetricType::Counter => P::Counter,
                MetricType::Gauge => P::Gauge,
                MetricType::Histogram => P::Histogram,
                MetricType::Gaugehistogram => P::Gaugehistogram,
                MetricType::Summary => P::Summary,
                MetricType::Info => P::Info,
                MetricType::Stateset => P::Stateset,
                MetricType::Unknown => P::Unknown,
            } as i32,
            metric_family_name: family.clone(),
            help: m.help.clone(),
            unit: m.unit.clone(),
        })
        .collect();
    compress_snappy(
        &prompb::WriteRequest {
            timeseries: Vec::new(),
            metadata,
        }
        .encode_to_vec(),
    )
}

/// A snappy-compressed `io.prometheus.write.v2.Request` holding the given series.
pub fn encode_write_request_v2(series: &[(Labels, Vec<Sample>)]) -> Vec<u8> {
    compress_snappy(&write_request_v2(series).encode_to_vec())
}

/// The (uncompressed) 2.0 message for the given series, with an interned symbol table.
pub fn write_request_v2(series: &[(Labels, Vec<Sample>)]) -> writev2::Request {
    let mut table = SymbolTable::default();
    let timeseries = series
        .iter()
        .map(|(labels, samples)| writev2::TimeSeries {
            labels_refs: labels
                .iter()
                .flat_map(|l| [table.intern(&l.name), table.intern(&l.value)])
                .collect(),
            samples: samples
                .iter()
                .map(|s| writev2::Sample {
                    value: s.v,
                    timestamp: s.t,
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    writev2::Request {
        symbols: table.symbols,
        timeseries,
    }
}

/// Interns strings for a 2.0 request. The spec requires symbol 0 to be "".
#[derive(Debug)]
pub struct SymbolTable {
    symbols: Vec<String>,
    index: HashMap<String, u32>,
}

impl Default for SymbolTable {
    fn default() -> Self {
        SymbolTable {
            symbols: vec![String::new()],
            index: HashMap::from([(String::new(), 0)]),
        }
    }
}

impl SymbolTable {
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&r) = self.index.get(s) {
            return r;
        }
        let r = u32::try_from(self.symbols.len()).expect("more than 2^32 symbols");
        self.symbols.push(s.to_owned());
        self.index.insert(s.to_owned(), r);
        r
    }

    pub fn into_symbols(self) -> Vec<String> {
        self.symbols
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_encoded_v1_labels_are_byte_identical_to_prost() {
        let series = vec![
            (
                Labels::from_pairs([("__name__", "up"), ("job", "a"), ("x", "")]),
                vec![
                    Sample {
                        t: 1_700_000_000_000,
                        v: 1.5,
                    },
                    Sample { t: 0, v: 0.0 },
                    Sample { t: -5, v: -0.25 },
                    Sample { t: 1, v: f64::NAN },
                ],
            ),
            (Labels::from_pairs([("__name__", "x".repeat(300))]), vec![]),
            (Labels::empty(), vec![Sample { t: 127, v: 1e300 }]),
        ];
        let encoded: Vec<Vec<u8>> = series.iter().map(|(l, _)| encode_labels_v1(l)).collect();
        for ((l, _), e) in series.iter().zip(&encoded) {
            assert_eq!(decode_labels_v1(e).as_ref(), Some(l));
        }
        let borrowed: Vec<EncodedSeries<'_>> = encoded
            .iter()
            .zip(&series)
            .map(|(e, (_, s))| EncodedSeries {
                labels: e.as_slice(),
                samples: s.as_slice(),
                exemplars: &[],
            })
            .collect();
        let mut out = Vec::new();
        write_request_v1_encoded_into(&borrowed, &mut out);
        assert_eq!(out, write_request_v1(&series).encode_to_vec());

        // With exemplars, against prost's encoding of the same message.
        let ex_labels = Labels::from_pairs([("trace_id", "4bf92f3577b34da6")]);
        let ex_enc = encode_labels_v1(&ex_labels);
        let exemplars = [
            (ex_enc.as_slice(), 0.25, 1_700_000_000_123),
            (ex_enc.as_slice(), 0.0, 0),
        ];
        let mut out = Vec::new();
        write_request_v1_encoded_into(
            &[EncodedSeries {
                labels: &encoded[0],
                samples: &series[0].1,
                exemplars: &exemplars,
            }],
            &mut out,
        );
        let mut want = write_request_v1(&series[..1]);
        want.timeseries[0].exemplars = exemplars
            .iter()
            .map(|(_, v, t)| prompb::Exemplar {
                labels: vec![prompb::Label {
                    name: "trace_id".into(),
                    value: "4bf92f3577b34da6".into(),
                }],
                value: *v,
                timestamp: *t,
            })
            .collect();
        assert_eq!(out, want.encode_to_vec());
    }
}
