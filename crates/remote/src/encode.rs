//! Building remote-write bodies: used by tests and the benchmark load generator.

use std::collections::HashMap;

use prost::Message;
use sightline_model::{Labels, Sample};

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
