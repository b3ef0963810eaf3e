//! `status` and `jobs`, answered by the launcher itself so an operator sees them in the
//! console's Test result without a tunnel to a VPC domain. They read the alias and the job
//! records with the worker's own library calls (`indexer_core::ops`), through the same client:
//! TLS verified, SigV4-signed for an AWS domain with the launcher's role. They only read.
//!
//! A Lambda invocation has a deadline, so requests here time out sooner and retry less than a
//! worker's: an unreachable cluster is reported within about a minute, not after the function
//! is killed.

use std::time::Duration;

use indexer_core::connect::ConnectArgs;
use indexer_core::sink::retry::RetryPolicy;
use serde::Serialize;
use serde_json::Value;

use crate::error::LaunchError;
use crate::event::{Mode, Request};

/// Timeout of one request to the cluster.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Retries of a failing request: three attempts in all, a few seconds apart at most.
const RETRY: RetryPolicy = RetryPolicy {
    max_retries: 2,
    base: Duration::from_millis(200),
    cap: Duration::from_secs(2),
};

/// Jobs listed when the event names no `limit` (the CLI's default).
pub const DEFAULT_JOBS_LIMIT: u32 = 20;

/// The answer to `status` or `jobs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub mode: Mode,
    pub alias: String,
    /// The cluster asked.
    pub host: String,
    /// What `indexer status --json` or `indexer jobs --json` prints.
    pub report: Value,
}

/// Answers a `status` or `jobs` request from the cluster.
pub async fn answer(request: &Request) -> Result<Report, LaunchError> {
    let cluster_error = |source| LaunchError::Cluster {
        mode: request.mode,
        host: request.host.to_string(),
        source,
    };
    let client = ConnectArgs::default()
        .connect(request.host.clone(), REQUEST_TIMEOUT, RETRY)
        .map_err(cluster_error)?;
    let encode = |result: Result<serde_json::Result<Value>, indexer_core::error::Error>| {
        result.and_then(|encoded| {
            encoded.map_err(|e| {
                indexer_core::error::Error::Job(format!("cannot encode the report: {e}"))
            })
        })
    };
    let report = match request.mode {
        Mode::Status => encode(
            indexer_core::ops::status(&client, &request.alias)
                .await
                .map(serde_json::to_value),
        ),
        _ => {
            let limit = request.limit.unwrap_or(DEFAULT_JOBS_LIMIT) as usize;
            encode(
                indexer_core::ops::jobs(&client, &request.alias, limit)
                    .await
                    .map(serde_json::to_value),
            )
        }
    }
    .map_err(cluster_error)?;
    Ok(Report {
        mode: request.mode,
        alias: request.alias.to_string(),
        host: request.host.to_string(),
        report,
    })
}
