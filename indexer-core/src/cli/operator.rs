//! Flags of the operator commands (`status`, `jobs`, `abandon`, `rollback`) and of the drift
//! commands (`verify`, `resync`, `sync`), and how each resolves its target.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{ConnectArgs, LeaseArgs, Target, aws_config, env_fallback};
use crate::entities;
use crate::error::Error;
use crate::sink::client::SearchClient;
use crate::sink::retry::RetryPolicy;
use crate::validate::{IndexName, NodeUrl};

/// What `verify`, `resync` and `sync` share.
#[derive(Debug, Clone, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub target: Target,

    /// Parallel Scan segments.
    #[arg(long, env = "SEGMENTS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1_000_000), help_heading = "Source (DynamoDB)")]
    pub segments: u32,

    /// Items per Scan page.
    #[arg(long, env = "PAGE_SIZE", default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=10_000), help_heading = "Source (DynamoDB)")]
    pub page_size: u32,

    /// Timeout of one request to the search cluster, in seconds.
    #[arg(
        long,
        env = "REQUEST_TIMEOUT_SECS",
        default_value_t = 60,
        help_heading = "Tuning"
    )]
    pub request_timeout: u64,

    #[command(flatten)]
    pub lease: LeaseArgs,
}

/// `indexer verify` flags.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub common: DriftArgs,
    /// Repair the drift found: upsert missing and stale documents, delete extra ones.
    #[arg(long)]
    pub fix: bool,
    /// The most documents `--fix` changes without `--force`.
    #[arg(
        long,
        env = "MAX_CHANGES",
        default_value_t = 1000,
        help_heading = "Safety"
    )]
    pub max_changes: u64,
    /// Let `--fix` change any number of documents.
    #[arg(long, help_heading = "Safety")]
    pub force: bool,
    /// With `--fix`: print the plan, change nothing.
    #[arg(long, env = "DRY_RUN", help_heading = "Safety")]
    pub dry_run: bool,
    /// Print JSON (the default when stdout is not a terminal).
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

/// `indexer resync` flags.
#[derive(Debug, Clone, Args)]
pub struct ResyncArgs {
    #[command(flatten)]
    pub common: DriftArgs,
    /// Comma-separated ids (`hash` or `hash|range` for a composite key).
    #[arg(
        long,
        env = "IDS",
        value_delimiter = ',',
        help_heading = "Source (DynamoDB)"
    )]
    pub ids: Vec<String>,
    /// A file with one id per line.
    #[arg(long, help_heading = "Source (DynamoDB)")]
    pub ids_file: Option<PathBuf>,
}

/// `indexer sync` flags.
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub common: DriftArgs,
}

impl DriftArgs {
    pub(super) async fn resolve(
        &self,
    ) -> Result<(aws_sdk_dynamodb::Client, SearchClient, crate::drift::Target), Error> {
        let resolved = self.target.resolve(false)?;
        let entity = entities::by_name(resolved.entity)
            .ok_or_else(|| Error::Input(format!("unknown entity {:?}", resolved.entity)))?;
        let retry = RetryPolicy::default();
        let host = resolved.host.ok_or_else(|| {
            Error::Input("no host given: pass --host or set INDEX_NODE_HOST".into())
        })?;
        let search = self.target.connect.connect(
            host,
            Duration::from_secs(self.request_timeout.max(1)),
            retry,
        )?;
        let config = aws_config().await?;
        crate::preflight::dynamo_answers(&config, &resolved.table).await?;
        crate::preflight::search_cluster(&search).await?;
        let target = crate::drift::Target {
            table: resolved.table,
            alias: resolved.alias,
            entity,
            segments: self.segments,
            page_size: self.page_size,
            retry,
            timing: self.lease.timing()?,
            tally: crate::drift::Tally::default(),
        };
        Ok((aws_sdk_dynamodb::Client::new(&config), search, target))
    }
}

/// The alias and cluster an operator command works on.
#[derive(Debug, Clone, Args)]
pub struct AliasTarget {
    /// The alias, e.g. `persons` [also ELASTICSEARCH_INDEX].
    #[arg(
        long,
        env = "INDEX_NAME",
        value_name = "ALIAS",
        help_heading = "Target (search cluster)"
    )]
    pub index: Option<String>,

    /// The search cluster's URL [also ELASTICSEARCH_HOST].
    #[arg(
        long,
        env = "INDEX_NODE_HOST",
        value_name = "URL",
        help_heading = "Target (search cluster)"
    )]
    pub host: Option<String>,

    /// Timeout of one request to the search cluster, in seconds.
    #[arg(
        long,
        env = "REQUEST_TIMEOUT_SECS",
        default_value_t = 60,
        help_heading = "Tuning"
    )]
    pub request_timeout: u64,

    #[command(flatten)]
    pub connect: ConnectArgs,
}

impl AliasTarget {
    /// The validated alias and a client for a host that answers like a search cluster.
    pub(super) async fn resolve(&self) -> Result<(IndexName, SearchClient), Error> {
        let alias = env_fallback(self.index.clone(), "ELASTICSEARCH_INDEX")
            .ok_or_else(|| Error::Input("no index given: pass --index or set INDEX_NAME".into()))?;
        let alias = IndexName::try_from(alias.as_str())?;
        let host = env_fallback(self.host.clone(), "ELASTICSEARCH_HOST").ok_or_else(|| {
            Error::Input("no host given: pass --host or set INDEX_NODE_HOST".into())
        })?;
        let host = NodeUrl::try_from(host.as_str())?;
        let client = self.connect.connect(
            host,
            Duration::from_secs(self.request_timeout.max(1)),
            RetryPolicy::default(),
        )?;
        crate::preflight::search_cluster(&client).await?;
        Ok((alias, client))
    }
}

/// `indexer status` flags.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: AliasTarget,
    /// Print JSON (the default when stdout is not a terminal).
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

/// `indexer jobs` flags.
#[derive(Debug, Clone, Args)]
pub struct JobsArgs {
    #[command(flatten)]
    pub target: AliasTarget,
    /// How many jobs to list.
    #[arg(long, default_value_t = 20, help_heading = "Output")]
    pub limit: usize,
    /// Print JSON (the default when stdout is not a terminal).
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

/// `indexer abandon` flags.
#[derive(Debug, Clone, Args)]
pub struct AbandonArgs {
    #[command(flatten)]
    pub target: AliasTarget,
    /// The job to abandon; by default the one holding the lock, or the interrupted one.
    #[arg(long)]
    pub job: Option<String>,
    /// Keep the job's building index instead of deleting it.
    #[arg(long)]
    pub keep_index: bool,
}

/// `indexer rollback` flags.
#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub target: AliasTarget,
    #[command(flatten)]
    pub lease: LeaseArgs,
}

/// `indexer mapping-diff` flags.
#[derive(Debug, Clone, Args)]
pub struct MappingDiffArgs {
    #[command(flatten)]
    pub target: Target,
    /// Timeout of one request to the search cluster, in seconds.
    #[arg(
        long,
        env = "REQUEST_TIMEOUT_SECS",
        default_value_t = 60,
        help_heading = "Tuning"
    )]
    pub request_timeout: u64,
}
