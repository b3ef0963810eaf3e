//! Checks made before a command does anything, so that a wrong endpoint fails in seconds with
//! one sentence instead of after minutes of retries:
//!
//! - DynamoDB answers: one `DescribeTable` with a short connect timeout and one retry (the run's
//!   own client keeps the SDK's patient retries for throttling later on). Any answer from the
//!   service, even an error, passes: only an endpoint that does not answer fails here.
//! - The search host is an OpenSearch or Elasticsearch cluster (`GET /`, see
//!   [`crate::sink::cluster`]); its distribution and version are logged once.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::SdkError;

use crate::error::Error;
use crate::sink::client::SearchClient;
use crate::sink::cluster::ClusterInfo;
use crate::validate::{TableName, redact_userinfo};

/// How long the first DynamoDB call may take to connect, and in all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the DynamoDB client sends requests, as the SDK picks it: the service's endpoint
/// variable, the global one, else the region's public endpoint. Credentials are never shown.
pub fn dynamo_endpoint(config: &SdkConfig) -> String {
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let endpoint = set("AWS_ENDPOINT_URL_DYNAMODB")
        .or_else(|| set("AWS_ENDPOINT_URL"))
        .or_else(|| config.endpoint_url().map(str::to_owned))
        .unwrap_or_else(|| {
            let region = config.region().map(|r| r.to_string()).unwrap_or_default();
            format!("https://dynamodb.{region}.amazonaws.com")
        });
    redact_userinfo(&endpoint)
}

/// The AWS endpoint variables: refused when one carries credentials, which the AWS SDK would
/// show in its own debug logs (AWS credentials come from the credentials chain, never a URL).
pub const ENDPOINT_VARIABLES: [&str; 3] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
];

/// Checks the AWS endpoint variables before any AWS client is made.
pub fn endpoints_carry_no_credentials() -> Result<(), Error> {
    for name in ENDPOINT_VARIABLES {
        let Some(value) = std::env::var(name).ok().filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        let shown = redact_userinfo(&value);
        if shown != value.escape_debug().to_string() {
            return Err(Error::Input(format!(
                "invalid {name} \"{shown}\": credentials must not be part of the URL, where they would show in logs; AWS credentials come from the credentials chain (AWS_ACCESS_KEY_ID, a profile, a role)"
            )));
        }
    }
    Ok(())
}

/// Fails fast, with the endpoint and the cause, when DynamoDB does not answer.
pub async fn dynamo_answers(config: &SdkConfig, table: &TableName) -> Result<(), Error> {
    let quick = aws_sdk_dynamodb::config::Builder::from(config)
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(quick);
    let result = client
        .describe_table()
        .table_name(table.as_str())
        .send()
        .await;
    let cause = match result {
        Ok(_) | Err(SdkError::ServiceError(_)) => return Ok(()),
        Err(SdkError::TimeoutError(_)) => {
            format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())
        }
        Err(SdkError::DispatchFailure(failure)) if failure.is_timeout() => {
            format!("no connection within {} s", CONNECT_TIMEOUT.as_secs())
        }
        Err(error) => innermost(&error),
    };
    Err(Error::Unreachable {
        service: "DynamoDB",
        endpoint: dynamo_endpoint(config),
        cause,
    })
}

/// The deepest cause of an error, in its own words, lowercased: `connection refused (os error
/// 111)`, `dns error: failed to lookup address information`.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest = error;
    while let Some(source) = deepest.source() {
        deepest = source;
    }
    let text = deepest.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "no reason given".into(),
    }
}

/// Asks the search host what it is; refuses one that is not a search cluster (exit 2) and fails
/// at once on one that cannot be reached. Logs the distribution and version once.
pub async fn search_cluster(search: &SearchClient) -> Result<ClusterInfo, Error> {
    let info = search.cluster_info().await?;
    let version = info.version.map(|v| v.to_string());
    tracing::info!(
        host = %search.node(),
        distribution = info.distribution.name(),
        version = version.as_deref(),
        "connected to the search cluster"
    );
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("dispatch failure")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("Connection refused (os error 111)")]
    struct Inner;

    #[test]
    fn aws_errors_read_as_words_without_debug_text() {
        let error: SdkError<std::io::Error, ()> = SdkError::construction_failure(Outer(Inner));
        let debugging = aws_sdk_dynamodb::error::DisplayErrorContext(&error).to_string();
        assert!(debugging.contains("ConstructionFailure"), "{debugging}");
        let words = crate::logging::cause_chain(&error);
        assert_eq!(
            words,
            "failed to construct request: dispatch failure: Connection refused (os error 111)"
        );
    }

    #[test]
    fn the_cause_is_the_innermost_error_in_words() {
        assert_eq!(
            innermost(&Outer(Inner)),
            "connection refused (os error 111)"
        );
    }
}
