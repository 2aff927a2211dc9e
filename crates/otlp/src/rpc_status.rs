//! `google.rpc.Status` (+ `RetryInfo`) encoded by hand: OTLP/HTTP error bodies
//! are a Status message, and gRPC retry hints travel as Status details.

use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<Any>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Any {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<PbDuration>,
}

#[derive(Clone, PartialEq, Message)]
struct PbDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

/// A Status with a RetryInfo detail asking the client to wait `secs`.
pub fn with_retry_info(code: i32, message: &str, secs: u64) -> Vec<u8> {
    let info = RetryInfo {
        retry_delay: Some(PbDuration {
            seconds: secs as i64,
            nanos: 0,
        }),
    };
    RpcStatus {
        code,
        message: message.to_string(),
        details: vec![Any {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: info.encode_to_vec(),
        }],
    }
    .encode_to_vec()
}

pub fn encode(code: i32, message: &str) -> Vec<u8> {
    RpcStatus {
        code,
        message: message.to_string(),
        details: Vec::new(),
    }
    .encode_to_vec()
}
