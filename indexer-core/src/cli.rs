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
use crate::rebuild::{self, RebuildPlan};
use crate::sink::retry::RetryPolicy;
use crate::summary::Summary;
use crate::validate::{IndexName, NodeUrl, TableName};

/// The largest bulk request the tool will build.
pub const MAX_BATCH_BYTES: usize = 10 * 1024 * 1024;

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

pub use dispatch::{main, run};
pub use operator::{
    AbandonArgs, AliasTarget, DriftArgs, JobsArgs, MappingDiffArgs, ResyncArgs, RollbackArgs,
    StatusArgs, SyncArgs, VerifyArgs,
};

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

/// `indexer rebuild` flags.
#[derive(Debug, Clone, Args)]
pub struct RebuildArgs {
    #[command(flatten)]
    pub target: Target,

    /// Parallel Scan segments (DynamoDB TotalSegments).
    #[arg(long, env = "SEGMENTS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1_000_000), help_heading = "Source (DynamoDB)")]
    pub segments: u32,

    /// Items per Scan page (the Scan `Limit`). Pages of every segment are in memory at once;
    /// 250 keeps that small without slowing the scan.
    #[arg(long, env = "PAGE_SIZE", default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=10_000), help_heading = "Source (DynamoDB)")]
    pub page_size: u32,

    /// Largest bulk request body, in bytes or with a unit (`5MiB`, `512KiB`); at most 10 MiB.
    #[arg(long, env = "BATCH_BYTES", default_value = "5MiB", value_parser = parse_batch_bytes, help_heading = "Tuning")]
    pub batch_bytes: usize,

    /// Most documents per bulk request.
    #[arg(long, env = "BATCH_DOCS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000), help_heading = "Tuning")]
    pub batch_docs: u32,

    /// The most bulk requests in flight; the tool adapts between 1 and this (additive increase
    /// while the cluster is healthy, halving on 429/5xx or a latency spike).
    #[arg(long, visible_alias = "max-concurrency", env = "CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64), help_heading = "Tuning")]
    pub concurrency: u32,

    /// Cap on DynamoDB read-capacity units per second, all segments together (measured from the
    /// capacity each Scan page reports).
    #[arg(long, env = "MAX_READ_UNITS", value_parser = parse_read_units, help_heading = "Source (DynamoDB)")]
    pub max_read_units: Option<f64>,

    /// Dead-lettered items allowed before the gate refuses the swap.
    #[arg(long, env = "MAX_ERRORS", default_value_t = 0, help_heading = "Safety")]
    pub max_errors: u64,

    /// The new index must hold at least this fraction of the live index's documents.
    #[arg(long, env = "MIN_RATIO", default_value_t = 0.9, value_parser = parse_ratio, help_heading = "Safety")]
    pub min_ratio: f64,

    /// Previous physical indexes to keep for rollback, at least 1 (the index just replaced is
    /// always kept: rollback returns to it); older ones are deleted.
    #[arg(long, env = "KEEP", default_value_t = 1, value_parser = parse_keep, help_heading = "Safety")]
    pub keep: usize,

    /// Where to write items that could not be indexed (JSON lines): a file, or an
    /// `s3://bucket/prefix/` (one object per group of records); default
    /// `<new index>.dead-letter.jsonl` in the working directory.
    #[arg(long, env = "DEAD_LETTER_PATH", help_heading = "Output")]
    pub dead_letter: Option<crate::deadletter::Spec>,

    /// KMS key (id, ARN or alias) to encrypt S3 dead letters with (SSE-KMS); without it, the
    /// bucket's default encryption applies.
    #[arg(long, env = "DEAD_LETTER_KMS_KEY", help_heading = "Output")]
    pub dead_letter_kms_key: Option<String>,

    /// Scan, map and encode everything; write nothing to the cluster.
    #[arg(long, env = "DRY_RUN", help_heading = "Safety")]
    pub dry_run: bool,

    /// Retries of a failing bulk request or item before giving up on it.
    #[arg(
        long,
        env = "MAX_RETRIES",
        default_value_t = 8,
        help_heading = "Tuning"
    )]
    pub max_retries: u32,

    /// First backoff ceiling in milliseconds; it doubles per retry up to 30 s, with full jitter.
    #[arg(
        long,
        env = "RETRY_BASE_MS",
        default_value_t = 250,
        help_heading = "Tuning"
    )]
    pub retry_base_ms: u64,

    /// Timeout of one request to the search cluster, in seconds.
    #[arg(
        long,
        env = "REQUEST_TIMEOUT_SECS",
        default_value_t = 60,
        help_heading = "Tuning"
    )]
    pub request_timeout: u64,

    /// Seconds between progress lines (JSON log mode).
    #[arg(
        long,
        env = "PROGRESS_INTERVAL_SECS",
        default_value_t = 5,
        help_heading = "Output"
    )]
    pub progress_interval: u64,

    /// Start afresh instead of resuming an interrupted or hung rebuild of this alias.
    #[arg(long, env = "FRESH", help_heading = "Safety")]
    pub fresh: bool,

    /// Swap even when the new mapping lacks or changes a field of the live index's.
    #[arg(long, env = "ALLOW_MAPPING_CHANGES", help_heading = "Safety")]
    pub allow_mapping_changes: bool,

    /// Rebuild even though the live index was built from another entity (e.g. moving an alias
    /// to a different kind of document on purpose).
    #[arg(long, env = "ALLOW_ENTITY_CHANGE", help_heading = "Safety")]
    pub allow_entity_change: bool,

    /// Seconds SIGTERM/SIGINT may take to drain in-flight work before exiting (ECS kills 30 s
    /// after SIGTERM).
    #[arg(
        long,
        env = "STOP_TIMEOUT_SECS",
        default_value_t = 25,
        help_heading = "Safety"
    )]
    pub stop_timeout: u64,

    /// Split the rebuild over this many workers, each reading the segments `s mod K = i` and
    /// taking over those of workers that die. Without --job-id, starts K worker processes here.
    #[arg(long, env = "WORKERS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64), help_heading = "Tuning")]
    pub workers: u32,

    /// Run as one worker of this job (set by the launcher, or by `--workers K` for its workers).
    #[arg(long, env = "JOB_ID", help_heading = "Tuning")]
    pub job_id: Option<String>,

    /// This worker's number, 0 to K-1 (with --job-id).
    #[arg(long, env = "WORKER", requires = "job_id", help_heading = "Tuning")]
    pub worker: Option<u32>,

    #[command(flatten)]
    pub lease: LeaseArgs,
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

fn parse_batch_bytes(text: &str) -> Result<usize, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let number: usize = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (use bytes or a unit: 5MiB, 512KiB)"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        other => return Err(format!("unknown size unit {other:?} (use B, KiB or MiB)")),
    };
    let bytes = number.saturating_mul(factor);
    if bytes < 1024 {
        return Err(format!("{text:?} is below the 1 KiB minimum"));
    }
    if bytes > MAX_BATCH_BYTES {
        return Err(format!(
            "{text:?} is over the 10 MiB limit of a bulk request"
        ));
    }
    Ok(bytes)
}

fn parse_read_units(text: &str) -> Result<f64, String> {
    let units: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if !(units.is_finite() && units > 0.0) {
        return Err(format!(
            "{text} must be a positive number of read units per second"
        ));
    }
    Ok(units)
}

fn parse_keep(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err(
            "0 would delete the index just replaced, which rollback returns to; use 1 or more"
                .into(),
        ),
        Ok(keep) => Ok(keep),
        Err(_) => Err(format!(
            "{text:?} is not a whole number of indexes (1 or more)"
        )),
    }
}

fn parse_ratio(text: &str) -> Result<f64, String> {
    let ratio: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if !(0.0..=1.0).contains(&ratio) {
        return Err(format!("{ratio} is not between 0 and 1"));
    }
    Ok(ratio)
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

async fn run_rebuild(args: RebuildArgs) -> Result<Rebuilt, Error> {
    let target = args.target.resolve(args.dry_run)?;
    let config = aws_config().await?;
    crate::preflight::dynamo_answers(&config, &target.table).await?;
    let (dynamo, streams) = aws_clients(&config);
    let timeout = Duration::from_secs(args.request_timeout.max(1));
    let retry = RetryPolicy {
        max_retries: args.max_retries,
        base: Duration::from_millis(args.retry_base_ms.max(1)),
        cap: Duration::from_secs(30),
    };
    let search = match &target.host {
        Some(host) => {
            let search = args.target.connect.connect(host.clone(), timeout, retry)?;
            crate::preflight::search_cluster(&search).await?;
            Some(search)
        }
        None => None,
    };
    let dead_letter =
        dead_letter_destination(args.dead_letter, args.dead_letter_kms_key, &target.alias).await?;
    let plan = RebuildPlan {
        table: target.table,
        alias: target.alias,
        entity: target.entity,
        segments: args.segments,
        page_size: args.page_size,
        batch_bytes: args.batch_bytes,
        batch_docs: args.batch_docs as usize,
        concurrency: args.concurrency as usize,
        max_read_units: args.max_read_units,
        retry,
        max_errors: args.max_errors,
        min_ratio: args.min_ratio,
        keep: args.keep,
        dead_letter,
        dry_run: args.dry_run,
        progress_interval: Duration::from_secs(args.progress_interval.max(1)),
        fresh: args.fresh,
        allow_mapping_changes: args.allow_mapping_changes,
        allow_entity_change: args.allow_entity_change,
        timing: args.lease.timing()?,
        stop_timeout: Duration::from_secs(args.stop_timeout),
        workers: args.workers,
        worker: args.job_id.map(|job_id| rebuild::WorkerSpec {
            job_id,
            worker: args.worker.unwrap_or(0),
        }),
    };
    rebuild::validate(&plan)?;
    if plan.workers > 1 && plan.worker.is_none() && !plan.dry_run {
        let search = search.ok_or_else(|| Error::Input("no host given".into()))?;
        let (value, code) =
            rebuild::run_local(&search, &plan, std::env::args_os().skip(1).collect()).await?;
        return Ok(Rebuilt::Workers(value, code));
    }
    rebuild::rebuild(dynamo, streams, search, plan)
        .await
        .map(|summary| Rebuilt::Summary(Box::new(summary)))
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

/// What a rebuild reports: its summary, or — when it ran several worker processes — their
/// combined report and exit code.
enum Rebuilt {
    Summary(Box<Summary>),
    Workers(serde_json::Value, i32),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sizes_accept_units_and_stay_within_the_bulk_limit() {
        assert_eq!(parse_batch_bytes("5MiB"), Ok(5 * 1024 * 1024));
        assert_eq!(parse_batch_bytes("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_batch_bytes("2048"), Ok(2048));
        assert_eq!(parse_batch_bytes("10MiB"), Ok(MAX_BATCH_BYTES));
        assert!(
            parse_batch_bytes("11MiB")
                .expect_err("too big")
                .contains("10 MiB")
        );
        assert!(
            parse_batch_bytes("12")
                .expect_err("too small")
                .contains("minimum")
        );
        assert!(parse_batch_bytes("5GB").expect_err("unit").contains("unit"));
        assert!(parse_batch_bytes("lots").is_err());
    }

    #[test]
    fn the_min_ratio_is_a_fraction() {
        assert_eq!(parse_ratio("0.9"), Ok(0.9));
        assert!(parse_ratio("1.5").is_err());
        assert!(parse_ratio("-1").is_err());
    }

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
