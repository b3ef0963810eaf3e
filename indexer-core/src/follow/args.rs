//! `indexer follow` flags, and how they become a [`FollowPlan`].

use std::time::Duration;

use clap::Args;

use super::driver::follow;
use super::plan::FollowPlan;
use crate::cli::{LeaseArgs, Target, aws_clients, aws_config, dead_letter_destination};
use crate::error::Error;
use crate::sink::retry::RetryPolicy;
use crate::summary::Summary;

/// `indexer follow` flags.
#[derive(Debug, Clone, Args)]
pub struct FollowArgs {
    #[command(flatten)]
    pub target: Target,

    /// The most bulk requests in flight; the tool adapts between 1 and this.
    #[arg(long, visible_alias = "max-concurrency", env = "CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64), help_heading = "Tuning")]
    pub concurrency: u32,

    /// Retries of a failing bulk request or item before giving up on it (a record refused
    /// for good is dead-lettered; a request that cannot get through is sent again later).
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

    /// Parallel Scan segments of a full repair (run when the stream cannot be followed from
    /// the checkpoints).
    #[arg(long, env = "SEGMENTS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1_000_000), help_heading = "Source (DynamoDB)")]
    pub segments: u32,

    /// Items per Scan page of a full repair.
    #[arg(long, env = "PAGE_SIZE", default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=10_000), help_heading = "Source (DynamoDB)")]
    pub page_size: u32,

    /// Where to write stream records that could not be applied (JSON lines): a file, or an
    /// `s3://bucket/prefix/`; default `<alias>.follow.dead-letter.jsonl` in the working
    /// directory.
    #[arg(long, env = "DEAD_LETTER_PATH", help_heading = "Output")]
    pub dead_letter: Option<crate::deadletter::Spec>,

    /// KMS key (id, ARN or alias) to encrypt S3 dead letters with (SSE-KMS).
    #[arg(long, env = "DEAD_LETTER_KMS_KEY", help_heading = "Output")]
    pub dead_letter_kms_key: Option<String>,

    /// Seconds between progress lines.
    #[arg(
        long,
        env = "PROGRESS_INTERVAL_SECS",
        default_value_t = 5,
        help_heading = "Output"
    )]
    pub progress_interval: u64,

    /// Seconds SIGTERM/SIGINT may take to let in-flight writes land before exiting (ECS kills
    /// 30 s after SIGTERM).
    #[arg(
        long,
        env = "STOP_TIMEOUT_SECS",
        default_value_t = 25,
        help_heading = "Safety"
    )]
    pub stop_timeout: u64,

    #[command(flatten)]
    pub lease: LeaseArgs,
}

/// Validates the flags, connects, and follows until stopped.
pub async fn run(args: FollowArgs) -> Result<Summary, Error> {
    let target = args.target.resolve(false)?;
    let host = target
        .host
        .clone()
        .ok_or_else(|| Error::Input("no host given: pass --host or set INDEX_NODE_HOST".into()))?;
    let timing = args.lease.timing()?;
    let config = aws_config().await?;
    crate::preflight::dynamo_answers(&config, &target.table).await?;
    let (dynamo, streams) = aws_clients(&config);
    let retry = RetryPolicy {
        max_retries: args.max_retries,
        base: Duration::from_millis(args.retry_base_ms.max(1)),
        cap: Duration::from_secs(30),
    };
    let timeout = Duration::from_secs(args.request_timeout.max(1));
    let search = args.target.connect.connect(host, timeout, retry)?;
    crate::preflight::search_cluster(&search).await?;
    let dead_letter =
        dead_letter_destination(args.dead_letter, args.dead_letter_kms_key, &target.alias).await?;
    let plan = FollowPlan {
        table: target.table,
        alias: target.alias,
        entity: target.entity,
        retry,
        concurrency: args.concurrency as usize,
        dead_letter,
        timing,
        stop_timeout: Duration::from_secs(args.stop_timeout),
        progress_interval: Duration::from_secs(args.progress_interval.max(1)),
        segments: args.segments,
        page_size: args.page_size,
    };
    follow(dynamo, streams, search, plan).await
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use crate::cli::{Cli, Command};

    #[test]
    fn follow_help_shows_what_is_required_and_groups_its_options() {
        let mut command = Cli::command();
        command.build();
        let help = command
            .find_subcommand_mut("follow")
            .map(|c| c.render_help().to_string())
            .unwrap_or_default();
        assert!(
            help.contains("Usage: indexer follow --table <TABLE> --index <ALIAS> --host <URL>"),
            "{help}"
        );
        for heading in ["Source (DynamoDB):", "Target (search cluster):", "Safety:"] {
            assert!(help.contains(heading), "{heading}: {help}");
        }
    }

    #[test]
    fn a_heartbeat_not_shorter_than_the_lease_is_refused() {
        let cli = Cli::try_parse_from([
            "indexer",
            "follow",
            "--table",
            "Persons",
            "--index",
            "persons",
            "--heartbeat",
            "30",
            "--lease",
            "30",
        ])
        .expect("parses");
        let Command::Follow(args) = cli.command else {
            panic!("a follow")
        };
        let error = args.lease.timing().expect_err("refused");
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("--heartbeat 30"), "{error}");
    }
}
