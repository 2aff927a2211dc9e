use std::fmt;

/// Why a remote-write body was refused. Each variant maps to the HTTP status
/// Prometheus answers with, so a receiver can turn it into a response directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteError {
    /// The body is not a valid request (bad snappy, bad protobuf, invalid
    /// labels, dangling symbol references…). HTTP 400.
    Malformed(String),
    /// Content-Type or Content-Encoding names something we do not speak. HTTP 415.
    UnsupportedMediaType(String),
    /// The decompressed body would exceed the configured limit. HTTP 413.
    TooLarge { decompressed: usize, limit: usize },
}

impl RemoteError {
    pub fn status_code(&self) -> u16 {
        match self {
            RemoteError::Malformed(_) => 400,
            RemoteError::UnsupportedMediaType(_) => 415,
            RemoteError::TooLarge { .. } => 413,
        }
    }

    pub(crate) fn malformed(msg: impl Into<String>) -> Self {
        RemoteError::Malformed(msg.into())
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteError::Malformed(m) | RemoteError::UnsupportedMediaType(m) => f.write_str(m),
            RemoteError::TooLarge {
                decompressed,
                limit,
            } => write!(
                f,
                "decompressed body of {decompressed} bytes exceeds the limit of {limit} bytes"
            ),
        }
    }
}

impl std::error::Error for RemoteError {}
