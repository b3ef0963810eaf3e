//! Dead letters in S3: one small object per committed group.
//!
//! S3 objects are immutable and a multipart upload's parts are invisible until it completes (and
//! must be 5 MiB but the last), so appending to one object cannot make a record durable before
//! its page settles. Each group becomes an object of its own instead, and a commit returns once
//! S3 acknowledged the `PutObject`:
//!
//! ```text
//! <prefix><alias>/<job id>/worker-<i>/<run start, UTC>-<sequence>.jsonl
//! ```
//!
//! `<run start>` (`20261130t120733123456789z`, to the nanosecond) keeps a restarted worker of
//! the same job, or two processes started with the same job id and worker number, from reusing a
//! key; within a run, the sequence gives the order in which objects were handed to S3. Objects are encrypted with the KMS key given
//! (`SSE-KMS`), or else by the bucket's default encryption. The only permission needed is
//! `s3:PutObject` on the prefix (and `kms:GenerateDataKey` on the key for SSE-KMS): a run never
//! lists, reads or deletes. It proves that permission before it starts, by putting a small
//! marker object, `<prefix><alias>/.write-check`, the same way it will put dead letters.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use chrono::Utc;

use super::{DeadLetterError, Writer};

/// An `s3://bucket/prefix/` location, checked: a valid bucket name, and a prefix that is empty
/// or ends with `/` (one is added).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    bucket: String,
    prefix: String,
}

impl S3Uri {
    pub fn parse(text: &str) -> Result<S3Uri, String> {
        let rest = text
            .strip_prefix("s3://")
            .or_else(|| text.strip_prefix("S3://"))
            .ok_or_else(|| format!("{text:?} is not an s3:// location"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_chars = bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        let valid_ends = bucket
            .chars()
            .next()
            .zip(bucket.chars().last())
            .is_some_and(|(a, b)| a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric());
        if !(3..=63).contains(&bucket.len()) || !valid_chars || !valid_ends {
            return Err(format!(
                "the dead-letter bucket {bucket:?} (in {text:?}) is not a valid S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"
            ));
        }
        if prefix.starts_with('/') || prefix.contains("//") {
            return Err(format!(
                "the dead-letter prefix {prefix:?} (in {text:?}) has an empty path segment"
            ));
        }
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_owned()
        } else {
            format!("{prefix}/")
        };
        Ok(S3Uri {
            bucket: bucket.to_owned(),
            prefix,
        })
    }

    /// Whether a location names an S3 object or prefix rather than a file.
    pub fn is_s3(location: &str) -> bool {
        location.starts_with("s3://")
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl std::fmt::Display for S3Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// An S3 prefix to write dead letters under, with its client and encryption.
#[derive(Debug, Clone)]
pub struct S3Target {
    pub uri: S3Uri,
    /// The KMS key (id, ARN or alias) to encrypt with; `None`: the bucket's default encryption.
    pub kms_key: Option<String>,
    pub client: aws_sdk_s3::Client,
}

impl S3Target {
    /// A target at `uri` with a client from `config`, retrying little and timing out early so a
    /// wrong endpoint is found in seconds. With an endpoint override (`AWS_ENDPOINT_URL_S3`, a
    /// local S3 API), buckets are addressed by path rather than by host name.
    pub fn new(uri: S3Uri, kms_key: Option<String>, config: &aws_config::SdkConfig) -> S3Target {
        let endpoint_override = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
            .iter()
            .any(|name| std::env::var(name).is_ok_and(|v| !v.is_empty()));
        let client = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(endpoint_override)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(4))
            .timeout_config(
                aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(std::time::Duration::from_secs(5))
                    .operation_attempt_timeout(std::time::Duration::from_secs(30))
                    .build(),
            )
            .build();
        S3Target {
            uri,
            kms_key: kms_key.filter(|key| !key.is_empty()),
            client: aws_sdk_s3::Client::from_conf(client),
        }
    }

    /// Puts the marker object `<prefix><alias>/.write-check` as dead letters will be put, so a
    /// missing bucket, a missing permission or an unreachable endpoint is found before any work.
    pub async fn probe(&self, alias: &str) -> Result<(), String> {
        let key = format!("{}{alias}/.write-check", self.uri.prefix);
        let body = serde_json::json!({
            "written_by": "indexer",
            "purpose": "proves the run may put dead letters here",
            "at": Utc::now().to_rfc3339(),
        });
        match self.put(&key, body.to_string().into_bytes()).await {
            Ok(()) => Ok(()),
            Err(reason) => Err(format!(
                "cannot write dead letters to bucket {} ({}): {reason}; the run needs s3:PutObject on {}*{}",
                self.uri.bucket,
                self.uri,
                self.uri,
                if self.kms_key.is_some() {
                    " and kms:GenerateDataKey on the key"
                } else {
                    ""
                }
            )),
        }
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), String> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.uri.bucket)
            .key(key)
            .content_type("application/x-ndjson")
            .body(ByteStream::from(body));
        if let Some(kms_key) = &self.kms_key {
            request = request
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(kms_key);
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(error) => Err(match error.code() {
                Some("NoSuchBucket") => "the bucket does not exist".to_owned(),
                Some("AccessDenied") => format!(
                    "access denied ({})",
                    error.message().unwrap_or("no message")
                ),
                _ => DisplayErrorContext(&error).to_string(),
            }),
        }
    }
}

/// The objects of one writer (a run, or one worker of a job).
pub(super) struct S3Store {
    target: S3Target,
    /// `<prefix><alias>/<job id>/worker-<i>/`
    base: String,
    run: String,
    next: AtomicU64,
}

impl S3Store {
    pub(super) fn new(target: S3Target, writer: Writer<'_>) -> S3Store {
        S3Store {
            base: format!(
                "{}{}/{}/worker-{}/",
                target.uri.prefix, writer.alias, writer.job_id, writer.worker
            ),
            target,
            run: Utc::now().format("%Y%m%dt%H%M%S%9fz").to_string(),
            next: AtomicU64::new(0),
        }
    }

    /// The `s3://` prefix of this writer's objects.
    pub(super) fn location(&self) -> String {
        format!("s3://{}/{}", self.target.uri.bucket, self.base)
    }

    /// Puts `lines` as the writer's next object; returns once S3 has it.
    pub(super) async fn put(&self, lines: Vec<u8>) -> Result<(), DeadLetterError> {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let key = format!("{}{}-{seq:06}.jsonl", self.base, self.run);
        self.target
            .put(&key, lines)
            .await
            .map_err(|reason| DeadLetterError::S3 {
                uri: format!("s3://{}/{key}", self.target.uri.bucket),
                reason,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_s3_location_needs_a_valid_bucket_and_gets_a_trailing_slash() {
        let uri = S3Uri::parse("s3://dead-letters.example/indexer/dl").expect("valid");
        assert_eq!(uri.bucket(), "dead-letters.example");
        assert_eq!(uri.prefix(), "indexer/dl/");
        assert_eq!(uri.to_string(), "s3://dead-letters.example/indexer/dl/");
        assert_eq!(S3Uri::parse("s3://bucket").expect("valid").prefix(), "");
        for bad in [
            "s3://",
            "s3://B",
            "s3://Upper-Case/x/",
            "s3://-dash/",
            "s3://ok-bucket//x",
        ] {
            let error = S3Uri::parse(bad).expect_err(bad);
            assert!(error.contains(bad), "{error}");
        }
    }
}
