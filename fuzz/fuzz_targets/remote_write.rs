#![no_main]
//! Remote-write 1.0/2.0 decoders, the zero-copy 1.0 view, remote read, and the
//! snappy-compressed HTTP body path.

use libfuzzer_sys::fuzz_target;
use sightline_remote::{
    WriteProto, decode_proto, decode_write_request, decompress_snappy, for_each_series_v1,
    read::decode_read_request,
};

const LIMIT: usize = 32 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            let _ = decode_proto(WriteProto::V1, body);
            let _ = for_each_series_v1(body, |s| {
                let _ = (s.labels.len(), s.samples.len(), s.exemplars.len());
            });
        }
        1 => {
            let _ = decode_proto(WriteProto::V2, body);
        }
        2 => {
            let _ = decode_read_request(body);
        }
        _ => {
            let _ = decompress_snappy(body, LIMIT);
            for ct in [
                None,
                Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"),
            ] {
                let _ = decode_write_request(body, ct, Some("snappy"), LIMIT);
            }
        }
    }
});
