//! Everything one follower run holds, and the figures it saves and logs: its checkpoints in the
//! follower record and its progress lines.

use std::time::Instant;

use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_dynamodbstreams::Client as StreamsClient;
use chrono::Utc;

use super::lease::{FollowerRecord, FollowerStatus, Lease};
use super::plan::FollowPlan;
use super::reader::Reader;
use crate::deadletter::DeadLetters;
use crate::entities::Entity;
use crate::error::Error;
use crate::sink::client::SearchClient;
use crate::summary::Summary;

/// Everything one follower run holds.
pub(super) struct Follower {
    pub dynamo: DynamoClient,
    pub streams: StreamsClient,
    pub search: SearchClient,
    pub plan: FollowPlan,
    pub entity: &'static dyn Entity,
    pub lease: Lease,
    pub reader: Reader,
    pub dead: DeadLetters,
    pub summary: Summary,
    /// Counts at the last progress line, for the rate.
    pub(super) last: (Instant, u64),
    pub(super) rate: f64,
}

impl Follower {
    /// Saves the checkpoints and figures in the follower record. `false`: the lease was lost.
    pub(super) async fn checkpoint(&mut self, status: FollowerStatus) -> Result<bool, Error> {
        let now = Utc::now();
        let lag = self.reader.lag(u64::try_from(now.timestamp()).unwrap_or(0));
        let record = FollowerRecord {
            status,
            heartbeat_at: now,
            stream_arn: Some(self.reader.arn().to_owned()),
            positions: self.reader.positions(),
            checkpoint_at: Some(now),
            applied: self.reader.stats.applied,
            dead_lettered: self.reader.stats.dead_lettered,
            lag_s: Some(lag.values().copied().fold(0.0, f64::max)),
            shard_lag_s: lag,
            records_per_s: self.rate,
            dead_letter_locations: crate::deadletter::locations(
                &self.lease.record.dead_letter_locations,
                self.dead.finish(),
            ),
            ..self.lease.record.clone()
        };
        Ok(self.lease.write(&self.search, record).await?)
    }

    /// Logs one progress line: records applied, their rate, failures, lag and checkpoint age.
    pub(super) fn progress(&mut self) {
        let now = Utc::now();
        let stats = self.reader.stats;
        let elapsed = self.last.0.elapsed().as_secs_f64();
        self.rate = crate::progress::per_second(stats.applied.saturating_sub(self.last.1), elapsed);
        self.last = (Instant::now(), stats.applied);
        let lag = self.reader.lag(u64::try_from(now.timestamp()).unwrap_or(0));
        let overall = lag.values().copied().fold(0.0, f64::max);
        let checkpoint_age = self.lease.record.checkpoint_age(now).unwrap_or(0.0);
        if crate::summary::emf::json_logs() {
            // A JSON progress line with the follower's figures as CloudWatch metrics.
            let fields = serde_json::json!({
                "applied": stats.applied,
                "indexed": stats.applied,
                "dead_lettered": stats.dead_lettered,
                "records_per_s": self.rate,
                "docs_per_s": self.rate,
                "lag_s": overall,
                "shard_lag_s": lag,
                "checkpoint_age_s": checkpoint_age,
                "shards": lag.len(),
            });
            let line = crate::summary::emf::progress_line(
                self.plan.alias.as_str(),
                "follow",
                fields.as_object().cloned().unwrap_or_default(),
            );
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "{line}");
            return;
        }
        let shard_lag = serde_json::to_string(&lag).unwrap_or_default();
        tracing::info!(
            applied = stats.applied,
            dead_lettered = stats.dead_lettered,
            records_per_s = self.rate,
            lag_s = overall,
            shard_lag_s = %shard_lag,
            checkpoint_age_s = checkpoint_age,
            shards = lag.len(),
            "following"
        );
    }
}
