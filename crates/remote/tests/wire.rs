//! Remote-write wire format: round trips, field numbers checked against
//! hand-assembled bytes, 2.0 symbol tables, and malformed input.

use prost::Message;
use sightline_model::{Labels, MetricType, Sample};
use sightline_remote::{
    RemoteError, WriteProto, compress_snappy, decode_proto, decode_write_request,
    encode_write_request_v1, encode_write_request_v2, prompb, writev2,
};

const MAX: usize = 32 << 20;
const V2_CT: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

fn series() -> Vec<(Labels, Vec<Sample>)> {
    vec![
        (
            Labels::from_pairs([("__name__", "up"), ("job", "node"), ("instance", "a:9100")]),
            vec![Sample { t: 1000, v: 1.0 }, Sample { t: 2000, v: 0.0 }],
        ),
        (
            Labels::from_pairs([("__name__", "http_requests_total"), ("code", "200")]),
            vec![Sample { t: 1500, v: 42.5 }],
        ),
    ]
}

fn decode_v1(body: &[u8]) -> Result<sightline_remote::DecodedWrite, RemoteError> {
    decode_write_request(body, Some("application/x-protobuf"), Some("snappy"), MAX)
}

#[test]
fn v1_round_trip() {
    let input = series();
    let body = encode_write_request_v1(&input);
    for ct in [
        None,
        Some("application/x-protobuf;proto=prometheus.WriteRequest"),
    ] {
        let got = decode_write_request(&body, ct, None, MAX).unwrap();
        assert_eq!(got.series.len(), 2);
        for ((labels, samples), s) in input.iter().zip(&got.series) {
            assert_eq!(&s.labels, labels);
            assert_eq!(&s.samples, samples);
            assert!(s.exemplars.is_empty());
            assert_eq!(s.histogram_count, 0);
        }
        assert_eq!(got.sample_count(), 3);
    }
}

#[test]
fn v2_round_trip() {
    let input = series();
    let body = encode_write_request_v2(&input);
    let got = decode_write_request(&body, Some(V2_CT), Some("snappy"), MAX).unwrap();
    let back: Vec<_> = got
        .series
        .into_iter()
        .map(|s| (s.labels, s.samples))
        .collect();
    assert_eq!(back, input);
}

/// Encodes with prost and compares against bytes assembled by hand from the
/// upstream field numbers, so a wrong tag cannot hide behind a symmetric
/// encode/decode pair.
#[test]
fn v1_field_numbers_match_upstream() {
    let req = prompb::WriteRequest {
        timeseries: vec![prompb::TimeSeries {
            labels: vec![prompb::Label {
                name: "__name__".into(),
                value: "a".into(),
            }],
            samples: vec![prompb::Sample {
                value: 1.0,
                timestamp: 5,
            }],
            ..Default::default()
        }],
        metadata: vec![prompb::MetricMetadata {
            r#type: prompb::metric_metadata::MetricType::Counter as i32,
            metric_family_name: "a".into(),
            help: "h".into(),
            unit: "u".into(),
        }],
    };
    let mut want = vec![0x0a, 28]; // WriteRequest.timeseries = 1, LEN
    want.extend([0x0a, 13]); // TimeSeries.labels = 1
    want.extend([0x0a, 8]); // Label.name = 1
    want.extend(b"__name__");
    want.extend([0x12, 1, b'a']); // Label.value = 2
    want.extend([0x12, 11]); // TimeSeries.samples = 2
    want.push(0x09); // Sample.value = 1, I64
    want.extend(1.0f64.to_le_bytes());
    want.extend([0x10, 5]); // Sample.timestamp = 2, VARINT
    want.extend([0x1a, 11]); // WriteRequest.metadata = 3
    want.extend([0x08, 1]); // MetricMetadata.type = 1 (COUNTER = 1)
    want.extend([0x12, 1, b'a']); // metric_family_name = 2
    want.extend([0x22, 1, b'h']); // help = 4
    want.extend([0x2a, 1, b'u']); // unit = 5
    assert_eq!(req.encode_to_vec(), want);

    let got = decode_proto(WriteProto::V1, &want).unwrap();
    assert_eq!(got.series[0].samples, vec![Sample { t: 5, v: 1.0 }]);
    assert_eq!(got.metadata[0].0, "a");
    assert_eq!(got.metadata[0].1.kind, MetricType::Counter);
    assert_eq!(got.metadata[0].1.help, "h");
    assert_eq!(got.metadata[0].1.unit, "u");
}

#[test]
fn v1_exemplars_and_histograms_by_hand() {
    // TimeSeries { labels: [__name__="a"], exemplars: [{labels:[t="x"], value: 2.0, ts: 7}],
    //              histograms: [{count_int: 3, schema: -1, zero_count_float: 0.5,
    //                            positive_spans: [{offset: -2, length: 1}], positive_deltas: [-1],
    //                            reset_hint: GAUGE, timestamp: 9}] }
    let mut exemplar = vec![0x0a, 6, 0x0a, 1, b't', 0x12, 1, b'x']; // labels = 1
    exemplar.push(0x11); // value = 2, I64
    exemplar.extend(2.0f64.to_le_bytes());
    exemplar.extend([0x18, 7]); // timestamp = 3
    let mut hist = vec![0x08, 3]; // count_int = 1
    hist.extend([0x20, 1]); // schema = 4, sint32 zigzag(-1) = 1
    hist.push(0x39); // zero_count_float = 7, I64
    hist.extend(0.5f64.to_le_bytes());
    hist.extend([0x5a, 4, 0x08, 3, 0x10, 1]); // positive_spans = 11: offset zigzag(-2)=3, length 1
    hist.extend([0x62, 1, 1]); // positive_deltas = 12, packed sint64 zigzag(-1) = 1
    hist.extend([0x70, 3]); // reset_hint = 14 (GAUGE)
    hist.extend([0x78, 9]); // timestamp = 15
    let mut ts = vec![0x0a, 13, 0x0a, 8];
    ts.extend(b"__name__");
    ts.extend([0x12, 1, b'a']);
    ts.extend([0x1a, exemplar.len() as u8]); // exemplars = 3
    ts.extend(&exemplar);
    ts.extend([0x22, hist.len() as u8]); // histograms = 4
    ts.extend(&hist);
    let mut req = vec![0x0a, ts.len() as u8];
    req.extend(&ts);

    let decoded = prompb::WriteRequest::decode(&req[..]).unwrap();
    let h = &decoded.timeseries[0].histograms[0];
    assert_eq!(h.count, Some(prompb::histogram::Count::CountInt(3)));
    assert_eq!(h.schema, -1);
    assert_eq!(
        h.zero_count,
        Some(prompb::histogram::ZeroCount::ZeroCountFloat(0.5))
    );
    assert_eq!(
        h.positive_spans,
        vec![prompb::BucketSpan {
            offset: -2,
            length: 1
        }]
    );
    assert_eq!(h.positive_deltas, vec![-1]);
    assert_eq!(h.reset_hint, prompb::histogram::ResetHint::Gauge as i32);
    assert_eq!(h.timestamp, 9);
    assert_eq!(
        decoded.encode_to_vec(),
        req,
        "re-encoding must reproduce the bytes"
    );

    let got = decode_proto(WriteProto::V1, &req).unwrap();
    let s = &got.series[0];
    assert_eq!(s.histogram_count, 1);
    assert_eq!(s.exemplars.len(), 1);
    assert_eq!(s.exemplars[0].labels, Labels::from_pairs([("t", "x")]));
    assert_eq!((s.exemplars[0].t, s.exemplars[0].v), (7, 2.0));
    assert_eq!(got.histogram_count(), 1);
}

#[test]
fn v2_field_numbers_match_upstream() {
    let req = writev2::Request {
        symbols: vec!["".into(), "__name__".into(), "a".into()],
        timeseries: vec![writev2::TimeSeries {
            labels_refs: vec![1, 2],
            samples: vec![writev2::Sample {
                value: 1.0,
                timestamp: 5,
            }],
            metadata: Some(writev2::Metadata {
                r#type: writev2::metadata::MetricType::Gauge as i32,
                help_ref: 2,
                unit_ref: 0,
            }),
            created_timestamp: 3,
            ..Default::default()
        }],
    };
    let mut want = vec![0x22, 0]; // symbols = 4
    want.extend([0x22, 8]);
    want.extend(b"__name__");
    want.extend([0x22, 1, b'a']);
    want.extend([0x2a, 25]); // timeseries = 5
    want.extend([0x0a, 2, 1, 2]); // labels_refs = 1, packed
    want.extend([0x12, 11, 0x09]); // samples = 2; Sample.value = 1
    want.extend(1.0f64.to_le_bytes());
    want.extend([0x10, 5]); // Sample.timestamp = 2
    want.extend([0x2a, 4, 0x08, 2, 0x18, 2]); // metadata = 5: type = 1 (GAUGE = 2), help_ref = 3
    want.extend([0x30, 3]); // created_timestamp = 6
    assert_eq!(req.encode_to_vec(), want);

    let got = decode_proto(WriteProto::V2, &want).unwrap();
    assert_eq!(
        got.series[0].labels,
        Labels::from_pairs([("__name__", "a")])
    );
    assert_eq!(got.metadata.len(), 1);
    assert_eq!(got.metadata[0].0, "a");
    assert_eq!(got.metadata[0].1.kind, MetricType::Gauge);
    assert_eq!(got.metadata[0].1.help, "a");
}

#[test]
fn v2_symbols_resolve() {
    let req = writev2::Request {
        symbols: [
            "", "__name__", "cpu", "mode", "idle", "trace_id", "abc", "user", "help me", "s",
        ]
        .map(String::from)
        .to_vec(),
        timeseries: vec![
            writev2::TimeSeries {
                labels_refs: vec![1, 2, 3, 4],
                samples: vec![writev2::Sample {
                    value: 1.5,
                    timestamp: 10,
                }],
                exemplars: vec![writev2::Exemplar {
                    labels_refs: vec![5, 6],
                    value: 0.5,
                    timestamp: 11,
                }],
                metadata: Some(writev2::Metadata {
                    r#type: writev2::metadata::MetricType::Counter as i32,
                    help_ref: 8,
                    unit_ref: 9,
                }),
                created_timestamp: 7,
                ..Default::default()
            },
            // Same family, same metadata: kept once. Empty value dropped.
            writev2::TimeSeries {
                labels_refs: vec![1, 2, 3, 7, 5, 0],
                samples: vec![writev2::Sample {
                    value: 2.5,
                    timestamp: 10,
                }],
                metadata: Some(writev2::Metadata {
                    r#type: writev2::metadata::MetricType::Counter as i32,
                    help_ref: 8,
                    unit_ref: 9,
                }),
                ..Default::default()
            },
            writev2::TimeSeries {
                labels_refs: vec![1, 2],
                histograms: vec![writev2::Histogram::default(); 2],
                ..Default::default()
            },
        ],
    };
    let body = compress_snappy(&req.encode_to_vec());
    let got = decode_write_request(&body, Some(V2_CT), Some("snappy"), MAX).unwrap();
    assert_eq!(
        got.series[0].labels,
        Labels::from_pairs([("__name__", "cpu"), ("mode", "idle")])
    );
    assert_eq!(
        got.series[0].exemplars[0].labels,
        Labels::from_pairs([("trace_id", "abc")])
    );
    assert_eq!(
        got.series[1].labels,
        Labels::from_pairs([("__name__", "cpu"), ("mode", "user")])
    );
    assert_eq!(got.series[0].start_timestamp, 7);
    assert_eq!(got.series[1].start_timestamp, 0);
    assert_eq!(got.series[2].histogram_count, 2);
    assert_eq!(got.histogram_count(), 2);
    assert_eq!(got.exemplar_count(), 1);
    assert_eq!(got.metadata.len(), 1);
    let (family, md) = &got.metadata[0];
    assert_eq!(family, "cpu");
    assert_eq!(
        (md.kind, md.help.as_str(), md.unit.as_str()),
        (MetricType::Counter, "help me", "s")
    );
}

fn v1_body(labels: &[(&str, &str)]) -> Vec<u8> {
    let req = prompb::WriteRequest {
        timeseries: vec![
            prompb::TimeSeries {
                labels: vec![prompb::Label {
                    name: "__name__".into(),
                    value: "ok".into(),
                }],
                ..Default::default()
            },
            prompb::TimeSeries {
                labels: labels
                    .iter()
                    .map(|(n, v)| prompb::Label {
                        name: (*n).into(),
                        value: (*v).into(),
                    })
                    .collect(),
                samples: vec![prompb::Sample {
                    value: 1.0,
                    timestamp: 1,
                }],
                ..Default::default()
            },
        ],
        metadata: vec![],
    };
    compress_snappy(&req.encode_to_vec())
}

fn malformed(r: Result<sightline_remote::DecodedWrite, RemoteError>) -> String {
    match r {
        Err(e @ RemoteError::Malformed(_)) => {
            assert_eq!(e.status_code(), 400);
            e.to_string()
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn empty_label_values_are_dropped() {
    let got = decode_v1(&v1_body(&[("__name__", "x"), ("a", ""), ("b", "1")])).unwrap();
    assert_eq!(
        got.series[1].labels,
        Labels::from_pairs([("__name__", "x"), ("b", "1")])
    );
}

#[test]
fn invalid_labels_are_rejected() {
    let msg = malformed(decode_v1(&v1_body(&[
        ("__name__", "x"),
        ("job", "a"),
        ("job", "b"),
    ])));
    assert_eq!(msg, "series 1 has duplicate label name \"job\"");
    let msg = malformed(decode_v1(&v1_body(&[
        ("__name__", "x"),
        ("b", "1"),
        ("a", "2"),
    ])));
    assert!(msg.contains("series 1 labels are not sorted"), "{msg}");
    let msg = malformed(decode_v1(&v1_body(&[("job", "a")])));
    assert_eq!(msg, "series 1 has no __name__ label");
    let msg = malformed(decode_v1(&v1_body(&[("__name__", ""), ("job", "a")])));
    assert_eq!(msg, "series 1 has no __name__ label");
    let msg = malformed(decode_v1(&v1_body(&[("", "v"), ("__name__", "x")])));
    assert_eq!(msg, "series 1 has an empty label name");
}

#[test]
fn bad_snappy_and_bad_proto() {
    let msg = malformed(decode_v1(b"\xff\xff\xff\xff\xff\xff"));
    assert!(msg.starts_with("snappy decode error: "), "{msg}");
    // Declares 10 bytes but holds fewer.
    let msg = malformed(decode_v1(&[10, 0x08, b'a']));
    assert!(msg.starts_with("snappy decode error: "), "{msg}");
    // Valid snappy wrapping a truncated protobuf (LEN field claiming 100 bytes).
    let msg = malformed(decode_v1(&compress_snappy(&[0x0a, 100, 1, 2])));
    assert!(msg.starts_with("proto decode: "), "{msg}");
    let msg = malformed(decode_write_request(
        &compress_snappy(&[0x2a, 100]),
        Some(V2_CT),
        None,
        MAX,
    ));
    assert!(msg.starts_with("proto decode: "), "{msg}");
}

#[test]
fn too_large_is_checked_before_decompressing() {
    let body = encode_write_request_v1(&series());
    let len = snap::raw::decompress_len(&body).unwrap();
    let err = decode_write_request(&body, None, None, len - 1).unwrap_err();
    assert_eq!(
        err,
        RemoteError::TooLarge {
            decompressed: len,
            limit: len - 1
        }
    );
    assert_eq!(err.status_code(), 413);
    assert!(decode_write_request(&body, None, None, len).is_ok());
}

#[test]
fn unsupported_media() {
    let body = encode_write_request_v1(&series());
    let err = decode_write_request(&body, Some("application/x-protobuf;proto=x.Y"), None, MAX)
        .unwrap_err();
    assert_eq!(err.status_code(), 415);
    assert!(err.to_string().contains("\"x.Y\""), "{err}");
    let err = decode_write_request(&body, None, Some("zstd"), MAX).unwrap_err();
    assert_eq!(err.status_code(), 415);
}

#[test]
fn v2_bad_symbol_refs() {
    let mk = |labels_refs: Vec<u32>| {
        let req = writev2::Request {
            symbols: vec!["".into(), "__name__".into(), "a".into()],
            timeseries: vec![
                writev2::TimeSeries {
                    labels_refs: vec![1, 2],
                    ..Default::default()
                },
                writev2::TimeSeries {
                    labels_refs,
                    ..Default::default()
                },
            ],
        };
        decode_write_request(
            &compress_snappy(&req.encode_to_vec()),
            Some(V2_CT),
            None,
            MAX,
        )
    };
    assert_eq!(
        malformed(mk(vec![1, 17])),
        "series 1: symbol reference 17 out of range (3 symbols)"
    );
    assert!(malformed(mk(vec![1, 2, 1])).contains("odd length"));
    assert_eq!(
        malformed(mk(vec![1, 2, 1, 2])),
        "series 1 has duplicate label name \"__name__\""
    );
    assert!(mk(vec![1, 2]).is_ok());
}

#[test]
fn v2_samples_and_histograms_are_exclusive() {
    let req = writev2::Request {
        symbols: vec!["".into(), "__name__".into(), "a".into()],
        timeseries: vec![writev2::TimeSeries {
            labels_refs: vec![1, 2],
            samples: vec![writev2::Sample::default()],
            histograms: vec![writev2::Histogram::default()],
            ..Default::default()
        }],
    };
    let msg = malformed(decode_write_request(
        &compress_snappy(&req.encode_to_vec()),
        Some(V2_CT),
        None,
        MAX,
    ));
    assert_eq!(msg, "series 0 has both samples and histograms");
}

#[test]
fn truncated_bodies_never_panic() {
    let bodies = [
        encode_write_request_v1(&series()),
        encode_write_request_v2(&series()),
    ];
    for body in &bodies {
        for end in 0..body.len() {
            for ct in [None, Some(V2_CT)] {
                let _ = decode_write_request(&body[..end], ct, None, MAX);
            }
        }
        // Corrupt each byte of the raw proto too.
        let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
        for i in 0..raw.len() {
            let mut r = raw.clone();
            r[i] ^= 0xa5;
            let _ = decode_proto(WriteProto::V1, &r);
            let _ = decode_proto(WriteProto::V2, &r);
        }
    }
}
