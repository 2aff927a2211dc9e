//! Zero-copy reading of remote-write 1.0 requests: series are handed to a
//! callback with labels borrowed from the request bytes, so a series the
//! receiver already knows costs no allocation. (Decoding into owned `Labels`
//! made allocation the largest cost of ingest.)

use prost::Message;
use sightline_model::{Exemplar, Labels, MetricMetadata, Sample};

use crate::decode::check_series_labels;
use crate::{RemoteError, prompb};

/// One series of a request, borrowing from the request body.
pub struct SeriesView<'a> {
    /// Sorted by name, unique, empty values removed.
    pub labels: &'a [(&'a str, &'a str)],
    pub samples: &'a [Sample],
    pub exemplars: &'a [Exemplar],
    /// Native histograms are not stored yet; counted so they can be reported.
    pub histogram_count: usize,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn malformed(what: &str) -> RemoteError {
    RemoteError::Malformed(format!("proto decode: {what}"))
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, RemoteError> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| malformed("truncated varint"))?;
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(malformed("varint overflow"));
            }
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(malformed("varint overflow"))
    }

    fn key(&mut self) -> Result<(u32, u8), RemoteError> {
        let k = self.varint()?;
        Ok(((k >> 3) as u32, (k & 7) as u8))
    }

    fn bytes(&mut self) -> Result<&'a [u8], RemoteError> {
        let n = self.varint()? as usize;
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| malformed("length beyond end of message"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn fixed64(&mut self) -> Result<u64, RemoteError> {
        let s = self
            .buf
            .get(self.pos..self.pos + 8)
            .ok_or_else(|| malformed("truncated fixed64"))?;
        self.pos += 8;
        Ok(u64::from_le_bytes(s.try_into().expect("8 bytes")))
    }

    fn skip(&mut self, wire: u8) -> Result<(), RemoteError> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.fixed64().map(|_| ()),
            2 => self.bytes().map(|_| ()),
            5 => {
                self.pos = self
                    .pos
                    .checked_add(4)
                    .filter(|&e| e <= self.buf.len())
                    .ok_or_else(|| malformed("truncated fixed32"))?;
                Ok(())
            }
            w => Err(malformed(&format!("unsupported wire type {w}"))),
        }
    }
}

fn utf8(b: &[u8]) -> Result<&str, RemoteError> {
    std::str::from_utf8(b).map_err(|_| malformed("label is not valid UTF-8"))
}

fn label(b: &[u8]) -> Result<(&str, &str), RemoteError> {
    let mut r = Reader::new(b);
    let (mut name, mut value) = ("", "");
    while !r.done() {
        match r.key()? {
            (1, 2) => name = utf8(r.bytes()?)?,
            (2, 2) => value = utf8(r.bytes()?)?,
            (_, w) => r.skip(w)?,
        }
    }
    Ok((name, value))
}

fn sample(b: &[u8]) -> Result<Sample, RemoteError> {
    let mut r = Reader::new(b);
    let mut s = Sample { t: 0, v: 0.0 };
    while !r.done() {
        match r.key()? {
            (1, 1) => s.v = f64::from_bits(r.fixed64()?),
            (2, 0) => s.t = r.varint()? as i64,
            (_, w) => r.skip(w)?,
        }
    }
    Ok(s)
}

/// Reusable buffers, so steady-state decoding does not allocate.
#[derive(Default)]
struct ViewBuffers<'a> {
    labels: Vec<(&'a str, &'a str)>,
    samples: Vec<Sample>,
    exemplars: Vec<Exemplar>,
}

/// Walks a decompressed remote-write 1.0 `WriteRequest`, calling `f` for each
/// series; returns the request's metric metadata. Validation matches the owned
/// decoder: sorted unique label names, a non-empty `__name__`.
pub fn for_each_series_v1(
    raw: &[u8],
    mut f: impl FnMut(&SeriesView<'_>),
) -> Result<Vec<(String, MetricMetadata)>, RemoteError> {
    let mut metadata = Vec::new();
    let mut bufs = ViewBuffers::default();
    let mut r = Reader::new(raw);
    let mut index = 0usize;
    while !r.done() {
        match r.key()? {
            (1, 2) => {
                let ts = r.bytes()?;
                read_series(ts, index, &mut bufs)?;
                index += 1;
                f(&SeriesView {
                    labels: &bufs.labels,
                    samples: &bufs.samples,
                    exemplars: &bufs.exemplars,
                    histogram_count: count_histograms(ts)?,
                });
            }
            (3, 2) => {
                let m = prompb::MetricMetadata::decode(r.bytes()?)
                    .map_err(|e| malformed(&e.to_string()))?;
                metadata.push(crate::decode::v1_metadata(m));
            }
            (_, w) => r.skip(w)?,
        }
    }
    Ok(metadata)
}

fn count_histograms(ts: &[u8]) -> Result<usize, RemoteError> {
    let mut r = Reader::new(ts);
    let mut n = 0;
    while !r.done() {
        let (field, wire) = r.key()?;
        if field == 4 && wire == 2 {
            n += 1;
        }
        r.skip(wire)?;
    }
    Ok(n)
}

fn read_series<'a>(
    ts: &'a [u8],
    index: usize,
    bufs: &mut ViewBuffers<'a>,
) -> Result<(), RemoteError> {
    bufs.labels.clear();
    bufs.samples.clear();
    bufs.exemplars.clear();
    let mut r = Reader::new(ts);
    while !r.done() {
        match r.key()? {
            (1, 2) => bufs.labels.push(label(r.bytes()?)?),
            (2, 2) => bufs.samples.push(sample(r.bytes()?)?),
            (3, 2) => {
                let e =
                    prompb::Exemplar::decode(r.bytes()?).map_err(|e| malformed(&e.to_string()))?;
                bufs.exemplars.push(Exemplar {
                    labels: Labels::from_pairs(e.labels.into_iter().map(|l| (l.name, l.value))),
                    t: e.timestamp,
                    v: e.value,
                });
            }
            (_, w) => r.skip(w)?,
        }
    }
    check_series_labels(index, bufs.labels.iter().copied())?;
    bufs.labels.retain(|(_, v)| !v.is_empty());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_owned_decoder() {
        let series: Vec<(Labels, Vec<Sample>)> = (0..20)
            .map(|i| {
                (
                    Labels::from_pairs([
                        ("__name__", "m".to_string()),
                        ("i", i.to_string()),
                        ("z", "last".to_string()),
                    ]),
                    vec![
                        Sample {
                            t: 1000 + i,
                            v: i as f64 * 1.5,
                        },
                        Sample {
                            t: 2000 + i,
                            v: f64::NAN,
                        },
                    ],
                )
            })
            .collect();
        let raw = crate::write_request_v1(&series).encode_to_vec();
        let owned = crate::decode_proto(crate::WriteProto::V1, &raw).unwrap();
        let mut seen = 0;
        for_each_series_v1(&raw, |v| {
            let o = &owned.series[seen];
            let labels = Labels::from_pairs(v.labels.iter().copied());
            assert_eq!(labels, o.labels);
            assert_eq!(v.samples.len(), o.samples.len());
            assert_eq!(v.samples[0], o.samples[0]);
            assert!(v.samples[1].v.is_nan());
            seen += 1;
        })
        .unwrap();
        assert_eq!(seen, 20);
    }

    #[test]
    fn rejects_what_the_owned_decoder_rejects() {
        let bad = vec![(
            Labels::from_pairs([("job", "x")]),
            vec![Sample { t: 1, v: 1.0 }],
        )];
        let raw = crate::write_request_v1(&bad).encode_to_vec();
        assert!(for_each_series_v1(&raw, |_| {}).is_err());
        for cut in 0..raw.len() {
            let _ = for_each_series_v1(&raw[..cut], |_| {});
        }
        assert!(for_each_series_v1(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], |_| {}).is_err());
    }
}
