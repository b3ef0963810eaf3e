//! The follower as `indexer status` reports it: a pure function of its record and a clock.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::lease::{FollowerRecord, FollowerStatus};
use crate::progress::{count, duration, plural};

/// The alias's follower, as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FollowerView {
    /// The process that holds (or last held) the lease: host name and process id.
    pub holder: String,
    pub status: FollowerStatus,
    /// Following, but its heartbeat is older than its lease: the next follower takes over.
    pub hung: bool,
    pub stream_arn: Option<String>,
    pub heartbeat_age_s: f64,
    /// Seconds since the checkpoints were last saved.
    pub checkpoint_age_s: Option<f64>,
    /// Age in seconds of the oldest record not yet applied, overall and per shard, at the last
    /// heartbeat; null once stopped.
    pub lag_s: Option<f64>,
    pub shard_lag_s: BTreeMap<String, f64>,
    pub records_per_s: f64,
    pub applied: u64,
    pub dead_lettered: u64,
    /// Shards with a saved position.
    pub shards: usize,
    pub repairs: u64,
    pub repair_pending: bool,
}

fn tenths(seconds: f64) -> f64 {
    (seconds * 10.0).round() / 10.0
}

impl FollowerView {
    pub fn new(record: &FollowerRecord, now: DateTime<Utc>) -> FollowerView {
        let following = record.status == FollowerStatus::Following;
        FollowerView {
            holder: record.holder.clone(),
            status: record.status,
            hung: following && record.is_stale(now),
            stream_arn: record.stream_arn.clone(),
            heartbeat_age_s: tenths(
                (now - record.heartbeat_at).num_milliseconds().max(0) as f64 / 1000.0,
            ),
            checkpoint_age_s: record.checkpoint_age(now).map(tenths),
            lag_s: record.lag_s.filter(|_| following).map(tenths),
            shard_lag_s: if following {
                record.shard_lag_s.clone()
            } else {
                BTreeMap::new()
            },
            records_per_s: record.records_per_s,
            applied: record.applied,
            dead_lettered: record.dead_lettered,
            shards: record.positions.iter().filter(|p| !p.ended).count(),
            repairs: record.repairs,
            repair_pending: record.repair_pending,
        }
    }

    /// One line of `indexer status` for a person.
    pub fn line(&self) -> String {
        let checkpoint = match self.checkpoint_age_s {
            Some(age) => format!("checkpoint {} old", duration(age)),
            None => "no checkpoint yet".to_owned(),
        };
        let mut line = match (self.status, self.hung) {
            (FollowerStatus::Following, false) => format!(
                "follower  {} following, lag {}, {}, {} records/s, {} applied, {} dead-lettered, {}",
                self.holder,
                duration(self.lag_s.unwrap_or(0.0)),
                checkpoint,
                count(self.records_per_s.round() as u64),
                count(self.applied),
                count(self.dead_lettered),
                plural(self.shards as u64, "shard", "shards"),
            ),
            (FollowerStatus::Following, true) => format!(
                "follower  {} hung: no heartbeat for {}; the next follower takes over from its {}",
                self.holder,
                duration(self.heartbeat_age_s),
                checkpoint
            ),
            (FollowerStatus::Stopped, _) => format!(
                "follower  stopped (last {}); the next follower resumes from its {}",
                self.holder, checkpoint
            ),
        };
        if self.repair_pending {
            line.push_str("; a full repair is owed and runs when a follower starts");
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn record(status: FollowerStatus, heartbeat: &str) -> FollowerRecord {
        FollowerRecord {
            alias: "persons".into(),
            table: "Persons".into(),
            entity: "persons".into(),
            holder: "ip-10-0-1-17:4242".into(),
            status,
            acquired_at: at("2026-11-30T10:00:00Z"),
            heartbeat_at: at(heartbeat),
            lease_secs: 60,
            stream_arn: Some("arn:aws:dynamodb:eu-west-2:1:table/Persons/stream/x".into()),
            positions: vec![crate::source::positions::StreamPosition {
                worker: 0,
                shard: "shardId-1".into(),
                from: Some("100".into()),
                ended: false,
            }],
            checkpoint_at: Some(at(heartbeat)),
            applied: 123_456,
            dead_lettered: 2,
            lag_s: Some(1.5),
            shard_lag_s: [("shardId-1".to_owned(), 1.5)].into_iter().collect(),
            records_per_s: 42.0,
            dead_letter_locations: Vec::new(),
            repairs: 1,
            repair_pending: false,
        }
    }

    #[test]
    fn a_live_follower_shows_its_lag_rate_and_checkpoint_age() {
        let now = at("2026-11-30T12:00:00Z");
        let view = FollowerView::new(
            &record(FollowerStatus::Following, "2026-11-30T11:59:58Z"),
            now,
        );
        assert!(!view.hung);
        assert_eq!(view.checkpoint_age_s, Some(2.0));
        insta::assert_snapshot!(view.line());
        insta::assert_snapshot!(serde_json::to_string_pretty(&view).expect("json"));
    }

    #[test]
    fn a_hung_or_stopped_follower_says_what_the_next_one_does() {
        let now = at("2026-11-30T12:00:00Z");
        let hung = FollowerView::new(
            &record(FollowerStatus::Following, "2026-11-30T11:58:00Z"),
            now,
        );
        assert!(hung.hung);
        let mut stopped = record(FollowerStatus::Stopped, "2026-11-30T11:55:00Z");
        stopped.repair_pending = true;
        let stopped = FollowerView::new(&stopped, now);
        assert_eq!(stopped.lag_s, None);
        insta::assert_snapshot!(format!("{}\n{}", hung.line(), stopped.line()));
    }
}
