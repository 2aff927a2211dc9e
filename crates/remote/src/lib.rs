//! Prometheus remote-write wire format: protobuf messages for remote write 1.0
//! and 2.0 (and remote read), snappy framing, content negotiation, and decoding
//! into protocol-neutral series ready to append.
//!
//! The messages are hand-written `prost` structs (no build-time codegen); their
//! field numbers follow upstream `prompb` exactly.

mod decode;
mod encode;
mod error;
mod media;
pub mod prompb;
pub mod read;
mod view;
pub mod writev2;

pub use decode::{
    DecodedSeries, DecodedWrite, decode_proto, decode_write_request, decompress_snappy,
};
pub use encode::{
    EncodedSeries, SymbolTable, compress_snappy, decode_labels_v1, encode_labels_v1,
    encode_metadata_request_v1, encode_write_request_v1, encode_write_request_v2, write_request_v1,
    write_request_v1_encoded_into, write_request_v2,
};
pub use error::RemoteError;
pub use media::{WriteProto, check_content_encoding, write_proto_from_content_type};
pub use view::{SeriesView, for_each_series_v1};
