//! The error of reading a table's stream or applying its records, shared by the tail and its
//! shards.

/// A failure reading the stream or applying its records.
#[derive(Debug, thiserror::Error)]
#[error("stream {stream}: {op} failed: {message}")]
pub struct StreamError {
    pub stream: String,
    pub op: &'static str,
    pub message: String,
}

/// The error of the stream call `op` on stream `arn`, with its cause chain.
pub(crate) fn error(
    arn: &str,
    op: &'static str,
    err: impl std::error::Error + Send + Sync + 'static,
) -> StreamError {
    StreamError {
        stream: arn.to_owned(),
        op,
        message: crate::logging::cause_chain(&err),
    }
}
