//! The command line: one configuration type for flags and environment variables, so the ECS task
//! (configured by container environment overrides) and a person at a terminal share it.
//!
//! Every flag reads an environment variable; the original tool's names (`DYNAMODB_TABLE`,
//! `ELASTICSEARCH_INDEX`, `ELASTICSEARCH_HOST`) are accepted as fallbacks.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use clap::{Args, Parser, Subcommand};

pub use crate::connect::ConnectArgs;
use crate::entities;
use crate::error::Error;
use crate::jobs::session::Timing;
pub use crate::logging::LogFormat;
use crate::validate::{IndexName, NodeUrl, TableName};

/// Rebuilds and keeps true an OpenSearch index from a DynamoDB table.
#[derive(Debug, Parser)]
#[command(name = "indexer", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log format on stderr: `auto` is human-readable on a terminal and JSON lines otherwise.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto, global = true, help_heading = "Output")]
    pub log_format: LogFormat,

    /// CloudWatch namespace of the metrics embedded in the summary and progress lines.
    #[arg(long, env = "METRICS_NAMESPACE", default_value = crate::summary::emf::DEFAULT_NAMESPACE, global = true, help_heading = "Output")]
    pub metrics_namespace: crate::summary::emf::Namespace,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a fresh index from the table and swap the alias onto it atomically.
    #[command(
        override_usage = "indexer rebuild --table <TABLE> --index <ALIAS> --host <URL> [OPTIONS]\n       indexer rebuild --table <TABLE> --index <ALIAS> --dry-run [OPTIONS]"
    )]
    Rebuild(RebuildArgs),
    /// Show the alias's live index, kept indexes, running job and last finished job.
    #[command(override_usage = "indexer status --index <ALIAS> --host <URL> [OPTIONS]")]
    Status(StatusArgs),
    /// List the alias's jobs, newest first.
    #[command(override_usage = "indexer jobs --index <ALIAS> --host <URL> [OPTIONS]")]
    Jobs(JobsArgs),
    /// Give up on a running, hung or interrupted job: release its lock, delete its building index.
    #[command(override_usage = "indexer abandon --index <ALIAS> --host <URL> [OPTIONS]")]
    Abandon(AbandonArgs),
    /// Point the alias (and the aliases that moved with it) back to the previous kept index.
    #[command(override_usage = "indexer rollback --index <ALIAS> --host <URL> [OPTIONS]")]
    Rollback(RollbackArgs),
    /// Compare table and index: missing, extra and stale documents (exit 6 on drift); `--fix`
    /// repairs them.
    #[command(
        override_usage = "indexer verify --table <TABLE> --index <ALIAS> --host <URL> [OPTIONS]"
    )]
    Verify(VerifyArgs),
    /// Re-read named items and upsert them, or delete their documents when they are gone.
    #[command(
        override_usage = "indexer resync --table <TABLE> --index <ALIAS> --host <URL> (--ids <IDS> | --ids-file <PATH>) [OPTIONS]"
    )]
    Resync(ResyncArgs),
    /// Refresh the live index in place: write changed and missing documents, delete orphans.
    #[command(
        override_usage = "indexer sync --table <TABLE> --index <ALIAS> --host <URL> [OPTIONS]"
    )]
    Sync(SyncArgs),
    /// Compare the live index's mapping with the entity's, without building (exit 3 when the
    /// new mapping lacks or changes a live field).
    #[command(
        override_usage = "indexer mapping-diff --table <TABLE> --index <ALIAS> --host <URL> [OPTIONS]"
    )]
    MappingDiff(MappingDiffArgs),
    /// Keep the alias's live index true from the table's stream, continuously (one follower
    /// per alias; stop it with SIGTERM or Ctrl-C).
    #[command(
        override_usage = "indexer follow --table <TABLE> --index <ALIAS> --host <URL> [OPTIONS]"
    )]
    Follow(crate::follow::FollowArgs),
}

mod dispatch;
mod operator;
mod rebuild_args;

pub use dispatch::{main, run};
pub use operator::{
    AbandonArgs, AliasTarget, DriftArgs, JobsArgs, MappingDiffArgs, ResyncArgs, RollbackArgs,
    StatusArgs, SyncArgs, VerifyArgs,
};
pub use rebuild_args::{MAX_BATCH_BYTES, RebuildArgs};

/// Which table feeds which alias on which cluster.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The DynamoDB table to read [also DYNAMODB_TABLE].
    #[arg(long, env = "DYNAMO_TABLE", help_heading = "Source (DynamoDB)")]
    pub table: Option<String>,

    /// The alias users query, e.g. `persons` [also ELASTICSEARCH_INDEX].
    #[arg(
        long,
        env = "INDEX_NAME",
        value_name = "ALIAS",
        help_heading = "Target (search cluster)"
    )]
    pub index: Option<String>,

    /// The search cluster's URL, e.g. `https://search-x.eu-west-2.es.amazonaws.com`
    /// [also ELASTICSEARCH_HOST].
    #[arg(
        long,
        env = "INDEX_NODE_HOST",
        value_name = "URL",
        help_heading = "Target (search cluster)"
    )]
    pub host: Option<String>,

    /// The entity the table holds; by default the one whose table this is.
    #[arg(long, env = "ENTITY", help_heading = "Source (DynamoDB)")]
    pub entity: Option<String>,

    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Lock lease and heartbeat timing.
#[derive(Debug, Clone, Args)]
pub struct LeaseArgs {
    /// Seconds without a heartbeat after which a run's lock counts as hung and may be taken over.
    #[arg(long = "lease", env = "LEASE_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Safety")]
    pub lease_secs: u64,

    /// Seconds between heartbeats (lock renewal and checkpoint saves).
    #[arg(long = "heartbeat", env = "HEARTBEAT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Safety")]
    pub heartbeat_secs: u64,
}

impl LeaseArgs {
    pub(crate) fn timing(&self) -> Result<Timing, Error> {
        if self.heartbeat_secs >= self.lease_secs {
            return Err(Error::Input(format!(
                "--heartbeat {} must be shorter than --lease {}, or a live run would look hung",
                self.heartbeat_secs, self.lease_secs
            )));
        }
        Ok(Timing {
            lease: Duration::from_secs(self.lease_secs),
            heartbeat: Duration::from_secs(self.heartbeat_secs),
        })
    }
}

fn env_fallback(value: Option<String>, legacy: &str) -> Option<String> {
    value
        .or_else(|| std::env::var(legacy).ok())
        .filter(|v| !v.trim().is_empty())
}

/// The validated target of a run.
pub struct Resolved {
    pub table: TableName,
    pub alias: IndexName,
    pub host: Option<NodeUrl>,
    pub entity: &'static str,
}

impl Target {
    /// Validates the target; the host is required unless `host_optional`.
    pub fn resolve(&self, host_optional: bool) -> Result<Resolved, Error> {
        let table = env_fallback(self.table.clone(), "DYNAMODB_TABLE").ok_or_else(|| {
            Error::Input("no table given: pass --table or set DYNAMO_TABLE".into())
        })?;
        let table = TableName::try_from(table.as_str())?;
        let entity = match &self.entity {
            Some(name) => entities::by_name(name).ok_or_else(|| {
                Error::Input(format!("unknown entity {name:?}; known entities: {}", entities::known()))
            })?,
            None => entities::by_table(table.as_str()).ok_or_else(|| {
                Error::Input(format!(
                    "no entity is known for table \"{table}\"; known: {}; pass --entity for a table with another name",
                    entities::known()
                ))
            })?,
        };
        let alias = env_fallback(self.index.clone(), "ELASTICSEARCH_INDEX")
            .ok_or_else(|| Error::Input("no index given: pass --index or set INDEX_NAME".into()))?;
        let alias = IndexName::try_from(alias.as_str())?;
        let host = match env_fallback(self.host.clone(), "ELASTICSEARCH_HOST") {
            Some(host) => Some(NodeUrl::try_from(host.as_str())?),
            None if host_optional => None,
            None => {
                return Err(Error::Input(
                    "no host given: pass --host or set INDEX_NODE_HOST".into(),
                ));
            }
        };
        Ok(Resolved {
            table,
            alias,
            host,
            entity: entity.name(),
        })
    }
}

pub(crate) async fn aws_config() -> Result<aws_config::SdkConfig, Error> {
    crate::preflight::endpoints_carry_no_credentials()?;
    let config = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(10))
        // One credentials cache per process: DynamoDB and the request signer share it.
        .credentials_provider(crate::credentials::as_provider(crate::credentials::shared()))
        .load()
        .await;
    if config.region().is_none() {
        return Err(Error::Input(
            "no AWS region configured: set AWS_REGION (or a profile with a region)".into(),
        ));
    }
    Ok(config)
}

/// A DynamoDB client and a DynamoDB Streams client from the same configuration. The streams
/// client's own endpoint variable is `AWS_ENDPOINT_URL_DYNAMODB_STREAMS`; when neither it nor
/// `AWS_ENDPOINT_URL` is set but `AWS_ENDPOINT_URL_DYNAMODB` is (DynamoDB Local, which serves
/// streams on the same endpoint), streams are read from that endpoint too.
pub(crate) fn aws_clients(
    config: &aws_config::SdkConfig,
) -> (aws_sdk_dynamodb::Client, aws_sdk_dynamodbstreams::Client) {
    let mut streams = aws_sdk_dynamodbstreams::config::Builder::from(config);
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if set("AWS_ENDPOINT_URL_DYNAMODB_STREAMS").is_none()
        && set("AWS_ENDPOINT_URL").is_none()
        && let Some(endpoint) = set("AWS_ENDPOINT_URL_DYNAMODB")
    {
        streams = streams.endpoint_url(endpoint);
    }
    (
        aws_sdk_dynamodb::Client::new(config),
        aws_sdk_dynamodbstreams::Client::from_conf(streams.build()),
    )
}

/// The dead-letter destination; an S3 one is probed with a write first, so a missing bucket or
/// permission fails the run (exit 2) before it takes a lock or reads a page.
pub(crate) async fn dead_letter_destination(
    spec: Option<crate::deadletter::Spec>,
    kms_key: Option<String>,
    alias: &crate::validate::IndexName,
) -> Result<Option<crate::deadletter::Destination>, Error> {
    use crate::deadletter::{Destination, S3Target, Spec};
    match spec {
        None => Ok(None),
        Some(Spec::File(path)) => Ok(Some(Destination::File(path))),
        Some(Spec::S3(uri)) => {
            let target = S3Target::new(uri, kms_key, &aws_config().await?);
            target.probe(alias.as_str()).await.map_err(Error::Input)?;
            Ok(Some(Destination::S3(target)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_parses_with_defaults() {
        let cli = Cli::try_parse_from([
            "indexer",
            "rebuild",
            "--table",
            "Persons",
            "--index",
            "persons",
            "--dry-run",
        ])
        .expect("parses");
        let Command::Rebuild(args) = cli.command else {
            panic!("a rebuild")
        };
        assert_eq!(args.segments, 8);
        assert_eq!(args.batch_bytes, 5 * 1024 * 1024);
        assert_eq!(args.max_errors, 0);
        assert_eq!(args.keep, 1);
        let resolved = args.target.resolve(true).expect("valid");
        assert_eq!(resolved.entity, "persons");
        assert!(resolved.host.is_none());
    }

    /// Help text with the values of any set environment variables left out (`[env: NAME]`).
    fn help_of(name: &str) -> String {
        use clap::CommandFactory;
        let mut command = Cli::command();
        command.build();
        let help = command
            .find_subcommand_mut(name)
            .map(|c| c.render_help().to_string())
            .unwrap_or_default();
        let mut out = String::new();
        let mut rest = help.as_str();
        while let Some(at) = rest.find("[env: ") {
            let (head, tail) = rest.split_at(at);
            out.push_str(head);
            let end = tail.find(']').unwrap_or(tail.len());
            let field = &tail[..end];
            out.push_str(field.split_once('=').map_or(field, |(name, _)| name));
            rest = &tail[end..];
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn rebuild_help_groups_its_options_and_shows_what_is_required() {
        let help = help_of("rebuild");
        assert!(
            help.contains("Usage: indexer rebuild --table <TABLE> --index <ALIAS> --host <URL>"),
            "{help}"
        );
        insta::assert_snapshot!(help);
    }

    #[test]
    fn an_unknown_table_lists_the_known_entities() {
        let target = Target {
            table: Some("Widgets".into()),
            index: Some("widgets".into()),
            host: Some("http://127.0.0.1:9200".into()),
            entity: None,
            connect: ConnectArgs::default(),
        };
        let Err(err) = target.resolve(false) else {
            panic!("must fail")
        };
        let message = err.to_string();
        assert!(
            message.contains("\"Widgets\"") && message.contains("persons (table Persons)"),
            "{message}"
        );
        assert_eq!(err.exit_code(), 2);
    }
}
