//! `indexer rebuild` flags, how their values are parsed, and how they become a rebuild run.

use std::time::Duration;

use clap::Args;

use super::{LeaseArgs, Target, aws_clients, aws_config, dead_letter_destination};
use crate::error::Error;
use crate::rebuild::{self, RebuildPlan};
use crate::sink::retry::RetryPolicy;
use crate::summary::Summary;

/// The largest bulk request the tool will build.
pub const MAX_BATCH_BYTES: usize = 10 * 1024 * 1024;

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

/// Resolves the flags into a plan, checks that DynamoDB and the cluster answer, and runs the
/// rebuild (or, for a rebuild split over workers, starts them here).
pub(super) async fn run_rebuild(args: RebuildArgs) -> Result<Rebuilt, Error> {
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

/// What a rebuild reports: its summary, or — when it ran several worker processes — their
/// combined report and exit code.
pub(super) enum Rebuilt {
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
}
