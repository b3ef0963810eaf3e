//! A failure talking to the search cluster, and how an answer the cluster refused or garbled
//! becomes one.

use serde_json::Value;

/// A failure talking to the search cluster.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{op}: cannot reach the search cluster at {host}: {cause}")]
    Transport {
        op: String,
        host: String,
        /// The whole cause chain in words (a TLS verdict, a refused connection, a timeout).
        cause: String,
    },
    #[error("{op}: the search cluster answered {status}: {reason}")]
    Status {
        op: String,
        status: u16,
        reason: String,
        /// The cluster's error type (`resource_already_exists_exception`, …), empty if none.
        error_type: String,
    },
    #[error("{op}: unexpected answer from the search cluster: {reason}")]
    Decode { op: String, reason: String },
    /// The request could not be signed (no AWS credentials, or a signing failure).
    #[error("{op}: {reason}")]
    Signing { op: String, reason: String },
    /// The host answers, but not like OpenSearch or Elasticsearch (see [`super::cluster`]).
    #[error("{host} is not an OpenSearch or Elasticsearch cluster: {reason}")]
    NotACluster { host: String, reason: String },
}

impl SinkError {
    /// The cluster refused the request for its size: a 413, or a 400 whose type says the
    /// content is too long. Sending it in smaller pieces may succeed.
    pub fn too_large(&self) -> bool {
        matches!(self, SinkError::Status { status: 413, .. })
            || matches!(self, SinkError::Status { status: 400, error_type, .. } if error_type == "content_too_long_exception")
    }

    /// The cluster refused to create what already exists.
    pub fn already_exists(&self) -> bool {
        matches!(self, SinkError::Status { status: 400, error_type, .. } if error_type == "resource_already_exists_exception")
    }

    /// Whether trying again later may succeed (throttling, server errors, timeouts, resets).
    pub fn is_retriable(&self) -> bool {
        match self {
            // A certificate verdict does not change by asking again.
            SinkError::Transport { cause, .. } => !cause.contains("certificate"),
            SinkError::Status { status, .. } => super::retry::is_retriable_status(*status),
            SinkError::Decode { .. }
            | SinkError::Signing { .. }
            | SinkError::NotACluster { .. } => false,
        }
    }
}

/// A successful answer's JSON body, or why it is not JSON.
pub(super) fn decode(op: &str, bytes: &[u8]) -> Result<Value, SinkError> {
    serde_json::from_slice(bytes).map_err(|e| SinkError::Decode {
        op: op.to_owned(),
        reason: format!("{e}; body starts {:?}", snippet(bytes)),
    })
}

/// The first characters of a body, for error messages; an HTML page (a proxy's or a load
/// balancer's error page) is told by its title or text, never quoted as markup.
pub(crate) fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    let text = text.trim();
    if !text.starts_with('<') {
        return text.chars().take(300).collect();
    }
    let lower = text.to_ascii_lowercase();
    let title = lower
        .find("<title>")
        .and_then(|start| {
            let from = start + "<title>".len();
            lower[from..]
                .find("</title>")
                .map(|end| &text[from..from + end])
        })
        .map(str::to_owned);
    let words = title.unwrap_or_else(|| {
        let mut plain = String::new();
        let mut in_tag = false;
        for c in text.chars() {
            match c {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    plain.push(' ');
                }
                _ if !in_tag => plain.push(c),
                _ => {}
            }
        }
        plain
    });
    let words: Vec<&str> = words.split_whitespace().collect();
    let words: String = words.join(" ").chars().take(120).collect();
    if words.is_empty() {
        "an HTML page".to_owned()
    } else {
        format!("an HTML page ({words})")
    }
}

/// Turns an error answer into a message: the cluster's `error.type: error.reason` when it sent
/// one, else the start of the body.
pub(super) fn status_error(op: &str, status: u16, bytes: &[u8]) -> SinkError {
    let error_type = serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v["error"]["type"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let reason = serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| {
            let error = v.get("error")?;
            match error {
                Value::String(s) => Some(s.clone()),
                _ => Some(format!(
                    "{}: {}",
                    error.get("type").and_then(Value::as_str).unwrap_or("error"),
                    error.get("reason").and_then(Value::as_str).unwrap_or("")
                )),
            }
        })
        .unwrap_or_else(|| snippet(bytes));
    SinkError::Status {
        op: op.to_owned(),
        status,
        reason,
        error_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_name_the_operation_status_and_cluster_reason() {
        let body = br#"{"error":{"type":"resource_already_exists_exception","reason":"index [x] already exists"},"status":400}"#;
        let err = status_error("create index x", 400, body);
        assert_eq!(
            err.to_string(),
            "create index x: the search cluster answered 400: resource_already_exists_exception: index [x] already exists"
        );
        assert!(!err.is_retriable());
        let html = status_error("bulk", 503, b"<html>Service Unavailable</html>");
        assert!(
            html.to_string()
                .ends_with("answered 503: an HTML page (Service Unavailable)"),
            "{html}"
        );
        assert!(html.is_retriable());
        let titled = snippet(
            b"<!DOCTYPE html>\n<html><head><TITLE>502 Bad Gateway</TITLE></head><body><h1>502</h1></body></html>",
        );
        assert_eq!(titled, "an HTML page (502 Bad Gateway)");
        assert_eq!(snippet(b"  plain text  "), "plain text");
    }
}
