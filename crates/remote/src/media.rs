//! Content negotiation for remote write, per the remote-write 2.0 spec.

use crate::RemoteError;

/// The protobuf message a remote-write body carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteProto {
    /// `prometheus.WriteRequest` (remote write 1.0).
    V1,
    /// `io.prometheus.write.v2.Request` (remote write 2.0).
    V2,
}

impl WriteProto {
    /// The canonical `proto=` parameter value.
    pub fn proto_name(self) -> &'static str {
        match self {
            WriteProto::V1 => PROTO_V1,
            WriteProto::V2 => PROTO_V2,
        }
    }

    /// The canonical Content-Type a sender uses for this message.
    pub fn content_type(self) -> &'static str {
        match self {
            WriteProto::V1 => "application/x-protobuf",
            WriteProto::V2 => "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        }
    }
}

const MEDIA_TYPE: &str = "application/x-protobuf";
const PROTO_V1: &str = "prometheus.WriteRequest";
const PROTO_V2: &str = "io.prometheus.write.v2.Request";

/// Picks the message type from a Content-Type header.
///
/// A missing header means 1.0, as does `application/x-protobuf` without a
/// `proto` parameter: 1.0 senders never set one. Anything else is a 415.
pub fn write_proto_from_content_type(
    content_type: Option<&str>,
) -> Result<WriteProto, RemoteError> {
    let Some(ct) = content_type.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(WriteProto::V1);
    };
    let mut parts = ct.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case(MEDIA_TYPE) {
        return Err(RemoteError::UnsupportedMediaType(format!(
            "unsupported content type {ct:?}: expected {MEDIA_TYPE:?}"
        )));
    }
    for param in parts {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let Some((key, value)) = param.split_once('=') else {
            return Err(RemoteError::UnsupportedMediaType(format!(
                "malformed content type parameter {param:?} in {ct:?}"
            )));
        };
        if !key.trim().eq_ignore_ascii_case("proto") {
            continue;
        }
        let value = value.trim().trim_matches('"');
        return match value {
            PROTO_V1 => Ok(WriteProto::V1),
            PROTO_V2 => Ok(WriteProto::V2),
            other => Err(RemoteError::UnsupportedMediaType(format!(
                "unsupported remote write protobuf message {other:?}: expected {PROTO_V1:?} or {PROTO_V2:?}"
            ))),
        };
    }
    Ok(WriteProto::V1)
}

/// Only snappy block compression is defined for remote write. A missing
/// header is tolerated (Prometheus does the same for old 1.0 senders).
pub fn check_content_encoding(enc: Option<&str>) -> Result<(), RemoteError> {
    match enc.map(str::trim) {
        None | Some("") => Ok(()),
        Some(e) if e.eq_ignore_ascii_case("snappy") => Ok(()),
        Some(e) => Err(RemoteError::UnsupportedMediaType(format!(
            "unsupported content encoding {e:?}: only \"snappy\" is supported"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let ok = |ct| write_proto_from_content_type(ct).unwrap();
        assert_eq!(ok(None), WriteProto::V1);
        assert_eq!(ok(Some("application/x-protobuf")), WriteProto::V1);
        assert_eq!(
            ok(Some("application/x-protobuf;proto=prometheus.WriteRequest")),
            WriteProto::V1
        );
        assert_eq!(
            ok(Some(
                "application/x-protobuf; proto=io.prometheus.write.v2.Request"
            )),
            WriteProto::V2
        );
        assert_eq!(ok(Some(WriteProto::V2.content_type())), WriteProto::V2);
        for bad in [
            "application/json",
            "application/x-protobuf;proto=foo.Bar",
            "application/x-protobuf;proto",
        ] {
            let e = write_proto_from_content_type(Some(bad)).unwrap_err();
            assert_eq!(e.status_code(), 415, "{bad}: {e}");
        }
    }

    #[test]
    fn encodings() {
        assert!(check_content_encoding(None).is_ok());
        assert!(check_content_encoding(Some("snappy")).is_ok());
        assert_eq!(
            check_content_encoding(Some("gzip"))
                .unwrap_err()
                .status_code(),
            415
        );
    }
}
