//! Turning remote-write bodies into protocol-neutral series.

use prost::Message;
use sightline_model::{Exemplar, Label, Labels, METRIC_NAME, MetricMetadata, MetricType, Sample};

use crate::media::{WriteProto, check_content_encoding, write_proto_from_content_type};
use crate::{RemoteError, prompb, writev2};

/// One series of a write request, whichever protocol version carried it.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    pub exemplars: Vec<Exemplar>,
    /// Native histograms are not stored yet; they are only counted so the
    /// receiver can report them (e.g. as rejected/ignored).
    pub histogram_count: usize,
    /// Start (created) timestamp of the series' samples, ms; 0 = unset
    /// (always for 1.0, which has none).
    pub start_timestamp: i64,
}

/// The content of a write request: series plus metric metadata keyed by family.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecodedWrite {
    pub series: Vec<DecodedSeries>,
    pub metadata: Vec<(String, MetricMetadata)>,
}

impl DecodedWrite {
    pub fn sample_count(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }

    pub fn exemplar_count(&self) -> usize {
        self.series.iter().map(|s| s.exemplars.len()).sum()
    }

    pub fn histogram_count(&self) -> usize {
        self.series.iter().map(|s| s.histogram_count).sum()
    }
}

/// Decodes an HTTP remote-write body.
///
/// `content_type`/`content_encoding` are the raw header values (`None` when
/// absent). The body is snappy *block* compressed; its declared decompressed
/// length is checked against `max_decompressed` before any allocation, so a
/// tiny body cannot make us allocate gigabytes.
pub fn decode_write_request(
    body: &[u8],
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    max_decompressed: usize,
) -> Result<DecodedWrite, RemoteError> {
    let proto = write_proto_from_content_type(content_type)?;
    check_content_encoding(content_encoding)?;
    let raw = decompress_snappy(body, max_decompressed)?;
    decode_proto(proto, &raw)
}

/// Decodes an already decompressed protobuf message of the given version.
pub fn decode_proto(proto: WriteProto, raw: &[u8]) -> Result<DecodedWrite, RemoteError> {
    match proto {
        WriteProto::V1 => {
            let req = prompb::WriteRequest::decode(raw)
                .map_err(|e| RemoteError::malformed(format!("proto decode: {e}")))?;
            from_v1(req)
        }
        WriteProto::V2 => {
            let req = writev2::Request::decode(raw)
                .map_err(|e| RemoteError::malformed(format!("proto decode: {e}")))?;
            from_v2(req)
        }
    }
}

/// Snappy block decompression bounded by `max_decompressed` bytes.
pub fn decompress_snappy(body: &[u8], max_decompressed: usize) -> Result<Vec<u8>, RemoteError> {
    let len = snap::raw::decompress_len(body)
        .map_err(|e| RemoteError::malformed(format!("snappy decode error: {e}")))?;
    if len > max_decompressed {
        return Err(RemoteError::TooLarge {
            decompressed: len,
            limit: max_decompressed,
        });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| RemoteError::malformed(format!("snappy decode error: {e}")))
}

fn from_v1(req: prompb::WriteRequest) -> Result<DecodedWrite, RemoteError> {
    let mut series = Vec::with_capacity(req.timeseries.len());
    for (i, ts) in req.timeseries.into_iter().enumerate() {
        check_series_labels(
            i,
            ts.labels
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str())),
        )?;
        // Validated: names sorted and unique, so only empty values need dropping.
        let labels = Labels::from_sorted(
            ts.labels
                .into_iter()
                .filter(|l| !l.value.is_empty())
                .map(|l| Label {
                    name: l.name,
                    value: l.value,
                })
                .collect(),
        );
        let exemplars = ts
            .exemplars
            .into_iter()
            .map(|e| Exemplar {
                labels: Labels::from_pairs(e.labels.into_iter().map(|l| (l.name, l.value))),
                t: e.timestamp,
                v: e.value,
            })
            .collect();
        series.push(DecodedSeries {
            labels,
            samples: ts
                .samples
                .iter()
                .map(|s| Sample {
                    t: s.timestamp,
                    v: s.value,
                })
                .collect(),
            exemplars,
            histogram_count: ts.histograms.len(),
            start_timestamp: 0,
        });
    }
    let metadata = req.metadata.into_iter().map(v1_metadata).collect();
    Ok(DecodedWrite { series, metadata })
}

/// A 1.0 metadata entry as (family, metadata).
pub(crate) fn v1_metadata(m: prompb::MetricMetadata) -> (String, MetricMetadata) {
    let kind = match prompb::metric_metadata::MetricType::try_from(m.r#type) {
        Ok(t) => v1_metric_type(t),
        Err(_) => MetricType::Unknown,
    };
    (
        m.metric_family_name,
        MetricMetadata {
            kind,
            help: m.help,
            unit: m.unit,
        },
    )
}

fn v1_metric_type(t: prompb::metric_metadata::MetricType) -> MetricType {
    use prompb::metric_metadata::MetricType as P;
    match t {
        P::Unknown => MetricType::Unknown,
        P::Counter => MetricType::Counter,
        P::Gauge => MetricType::Gauge,
        P::Histogram => MetricType::Histogram,
        P::Gaugehistogram => MetricType::Gaugehistogram,
        P::Summary => MetricType::Summary,
        P::Info => MetricType::Info,
        P::Stateset => MetricType::Stateset,
    }
}

fn v2_metric_type(t: i32) -> MetricType {
    use writev2::metadata::MetricType as P;
    match P::try_from(t) {
        Ok(P::Counter) => MetricType::Counter,
        Ok(P::Gauge) => MetricType::Gauge,
        Ok(P::Histogram) => MetricType::Histogram,
        Ok(P::Gaugehistogram) => MetricType::Gaugehistogram,
        Ok(P::Summary) => MetricType::Summary,
        Ok(P::Info) => MetricType::Info,
        Ok(P::Stateset) => MetricType::Stateset,
        Ok(P::Unspecified) | Err(_) => MetricType::Unknown,
    }
}

/// Series labels must be sorted by name with no duplicates (Prometheus answers
/// 400 otherwise), names non-empty, and a non-empty `__name__` present. Empty
/// values are allowed on the wire and mean "absent"; the caller drops them.
pub(crate) fn check_series_labels<'a>(
    series: usize,
    labels: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<(), RemoteError> {
    let mut prev: Option<&str> = None;
    let mut has_name = false;
    for (name, value) in labels {
        if name.is_empty() {
            return Err(RemoteError::malformed(format!(
                "series {series} has an empty label name"
            )));
        }
        if let Some(p) = prev {
            if p == name {
                return Err(RemoteError::malformed(format!(
                    "series {series} has duplicate label name {name:?}"
                )));
            }
            if p > name {
                return Err(RemoteError::malformed(format!(
                    "series {series} labels are not sorted: {name:?} comes after {p:?}"
                )));
            }
        }
        has_name |= name == METRIC_NAME && !value.is_empty();
        prev = Some(name);
    }
    if !has_name {
        return Err(RemoteError::malformed(format!(
            "series {series} has no {METRIC_NAME} label"
        )));
    }
    Ok(())
}

/// Resolves RW 2.0 `labels_refs` pairs against the symbol table into `out`.
fn resolve_refs<'s>(
    symbols: &'s [String],
    refs: &[u32],
    series: usize,
    what: &str,
    out: &mut Vec<(&'s str, &'s str)>,
) -> Result<(), RemoteError> {
    out.clear();
    if !refs.len().is_multiple_of(2) {
        return Err(RemoteError::malformed(format!(
            "series {series}: {what} labels_refs has odd length {}",
            refs.len()
        )));
    }
    for pair in refs.chunks_exact(2) {
        out.push((
            symbol(symbols, pair[0], series)?,
            symbol(symbols, pair[1], series)?,
        ));
    }
    Ok(())
}

fn symbol(symbols: &[String], r: u32, series: usize) -> Result<&str, RemoteError> {
    symbols.get(r as usize).map(String::as_str).ok_or_else(|| {
        RemoteError::malformed(format!(
            "series {series}: symbol reference {r} out of range ({} symbols)",
            symbols.len()
        ))
    })
}

fn owned_labels(pairs: &[(&str, &str)]) -> Vec<Label> {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(n, v)| Label {
            name: (*n).to_owned(),
            value: (*v).to_owned(),
        })
        .collect()
}

fn from_v2(req: writev2::Request) -> Result<DecodedWrite, RemoteError> {
    let symbols = &req.symbols;
    let mut series = Vec::with_capacity(req.timeseries.len());
    let mut metadata: Vec<(String, MetricMetadata)> = Vec::new();
    let mut pairs = Vec::new();
    for (i, ts) in req.timeseries.into_iter().enumerate() {
        if !ts.samples.is_empty() && !ts.histograms.is_empty() {
            return Err(RemoteError::malformed(format!(
                "series {i} has both samples and histograms"
            )));
        }
        resolve_refs(symbols, &ts.labels_refs, i, "series", &mut pairs)?;
        check_series_labels(i, pairs.iter().copied())?;
        let labels = Labels::from_sorted(owned_labels(&pairs));

        let mut exemplars = Vec::with_capacity(ts.exemplars.len());
        for e in &ts.exemplars {
            resolve_refs(symbols, &e.labels_refs, i, "exemplar", &mut pairs)?;
            exemplars.push(Exemplar {
                labels: Labels::from_pairs(pairs.iter().copied()),
                t: e.timestamp,
                v: e.value,
            });
        }

        if let Some(m) = ts.metadata {
            let help = symbol(symbols, m.help_ref, i)?;
            let unit = symbol(symbols, m.unit_ref, i)?;
            let kind = v2_metric_type(m.r#type);
            let family = labels.metric_name().unwrap_or_default();
            // Series of one family usually arrive together with identical
            // metadata; keep one copy per run instead of one per series.
            let dup = metadata.last().is_some_and(|(f, md)| {
                f == family && md.kind == kind && md.help == help && md.unit == unit
            });
            let empty = kind == MetricType::Unknown && help.is_empty() && unit.is_empty();
            if !dup && !empty {
                metadata.push((
                    family.to_owned(),
                    MetricMetadata {
                        kind,
                        help: help.to_owned(),
                        unit: unit.to_owned(),
                    },
                ));
            }
        }

        series.push(DecodedSeries {
            labels,
            samples: ts
                .samples
                .iter()
                .map(|s| Sample {
                    t: s.timestamp,
                    v: s.value,
                })
                .collect(),
            exemplars,
            histogram_count: ts.histograms.len(),
            start_timestamp: ts.created_timestamp,
        });
    }
    Ok(DecodedWrite { series, metadata })
}
