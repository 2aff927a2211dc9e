//! Remote read (`POST /api/v1/read`), the `SAMPLES` response type: a
//! snappy-compressed `ReadRequest` of queries (time range + label matchers)
//! answered with one `QueryResult` of raw samples per query.

use prost::Message;
use sightline_model::{Labels, MatchOp, Matcher, Sample};

use crate::encode::{compress_snappy, write_request_v1};
use crate::error::RemoteError;
use crate::prompb::{self, label_matcher, read_request};

/// One query of a read request, ready for a `Querier`.
pub struct ReadQuery {
    pub start_ms: i64,
    pub end_ms: i64,
    pub matchers: Vec<Matcher>,
}

/// Decodes a (decompressed) `ReadRequest`. Clients that accept only the
/// streamed-chunks response type are refused: Sightline answers with samples.
pub fn decode_read_request(raw: &[u8]) -> Result<Vec<ReadQuery>, RemoteError> {
    let req = prompb::ReadRequest::decode(raw)
        .map_err(|e| RemoteError::Malformed(format!("decoding read request: {e}")))?;
    let samples = read_request::ResponseType::Samples as i32;
    if !req.accepted_response_types.is_empty() && !req.accepted_response_types.contains(&samples) {
        return Err(RemoteError::Malformed(
            "none of the accepted response types is supported (only SAMPLES is)".into(),
        ));
    }
    req.queries.iter().map(read_query).collect()
}

fn read_query(q: &prompb::Query) -> Result<ReadQuery, RemoteError> {
    let matchers = q
        .matchers
        .iter()
        .map(|m| {
            let op = match label_matcher::Type::try_from(m.r#type) {
                Ok(label_matcher::Type::Eq) => MatchOp::Equal,
                Ok(label_matcher::Type::Neq) => MatchOp::NotEqual,
                Ok(label_matcher::Type::Re) => MatchOp::Regex,
                Ok(label_matcher::Type::Nre) => MatchOp::NotRegex,
                Err(_) => {
                    return Err(RemoteError::Malformed(format!(
                        "invalid matcher type {}",
                        m.r#type
                    )));
                }
            };
            Matcher::new(op, m.name.clone(), m.value.clone())
                .map_err(|e| RemoteError::Malformed(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ReadQuery {
        start_ms: q.start_timestamp_ms,
        end_ms: q.end_timestamp_ms,
        matchers,
    })
}

/// The snappy-compressed `ReadResponse` holding one result per query.
pub fn encode_read_response(results: &[Vec<(Labels, Vec<Sample>)>]) -> Vec<u8> {
    let resp = prompb::ReadResponse {
        results: results
            .iter()
            .map(|series| prompb::QueryResult {
                timeseries: write_request_v1(series).timeseries,
            })
            .collect(),
    };
    compress_snappy(&resp.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_and_response_types() {
        let req = prompb::ReadRequest {
            queries: vec![prompb::Query {
                start_timestamp_ms: 1,
                end_timestamp_ms: 2,
                matchers: vec![
                    prompb::LabelMatcher {
                        r#type: 0,
                        name: "__name__".into(),
                        value: "up".into(),
                    },
                    prompb::LabelMatcher {
                        r#type: 2,
                        name: "job".into(),
                        value: "a|b".into(),
                    },
                ],
                hints: None,
            }],
            accepted_response_types: vec![],
        };
        let qs = decode_read_request(&req.encode_to_vec()).unwrap();
        assert_eq!(qs.len(), 1);
        assert_eq!((qs[0].start_ms, qs[0].end_ms), (1, 2));
        assert_eq!(qs[0].matchers[1].op, MatchOp::Regex);
        assert!(qs[0].matchers[1].matches("b"));
        assert!(!qs[0].matchers[1].matches("ab"));
        let only_chunks = prompb::ReadRequest {
            accepted_response_types: vec![1],
            ..req.clone()
        };
        assert!(decode_read_request(&only_chunks.encode_to_vec()).is_err());
        let bad_matcher = prompb::ReadRequest {
            queries: vec![prompb::Query {
                matchers: vec![prompb::LabelMatcher {
                    r#type: 9,
                    name: "a".into(),
                    value: "b".into(),
                }],
                ..req.queries[0].clone()
            }],
            ..req
        };
        assert!(decode_read_request(&bad_matcher.encode_to_vec()).is_err());
    }
}
