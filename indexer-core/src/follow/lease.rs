//! One follower per alias: the `follower:<alias>` record in the status index is the follower's
//! lease and its checkpoints at once.
//!
//! - Taking it: created if absent (`op_type=create`); a record whose follower stopped (it
//!   released it) or whose heartbeat is older than its lease (the follower died) is taken over
//!   under optimistic concurrency, keeping its checkpoints; a live one refuses the new follower.
//! - Holding it: every heartbeat writes the record back over the version last written
//!   (`if_seq_no`), with the shards' positions. A conflict that does not name this process
//!   means another follower took the lease over: this one writes nothing more and stops.
//! - Releasing it: the record is written back `stopped`, with the final positions, so the next
//!   follower resumes from them at once.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::jobs::STATUS_INDEX;
use crate::sink::client::{Conditional, SearchClient, SinkError};
use crate::source::positions::StreamPosition;

/// Whether a follower holds the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowerStatus {
    Following,
    /// Released by a follower that stopped; the next one resumes from its positions.
    Stopped,
}

/// The follower record of one alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowerRecord {
    pub alias: String,
    pub table: String,
    pub entity: String,
    /// The process that holds (or last held) the lease: host name and process id.
    pub holder: String,
    pub status: FollowerStatus,
    pub acquired_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub lease_secs: u64,
    /// The stream the positions are in; a different ARN means the stream was re-enabled.
    pub stream_arn: Option<String>,
    /// Per shard, where to resume (see [`crate::source::positions`]).
    #[serde(default)]
    pub positions: Vec<StreamPosition>,
    /// When the positions were last saved.
    #[serde(default)]
    pub checkpoint_at: Option<DateTime<Utc>>,
    /// Records applied and dead-lettered by the current (or last) holder.
    #[serde(default)]
    pub applied: u64,
    #[serde(default)]
    pub dead_lettered: u64,
    /// Age in seconds of the oldest record not yet applied, overall and per shard, when the
    /// record was written.
    #[serde(default)]
    pub lag_s: Option<f64>,
    #[serde(default)]
    pub shard_lag_s: BTreeMap<String, f64>,
    #[serde(default)]
    pub records_per_s: f64,
    /// Every place the alias's followers wrote dead letters to, oldest first.
    #[serde(default)]
    pub dead_letter_locations: Vec<String>,
    /// Full repairs run because the stream could not be resumed where it stood.
    #[serde(default)]
    pub repairs: u64,
    /// A full repair is owed (set before it starts, cleared once it succeeded): a follower
    /// stopped in the middle of one repairs again when it starts.
    #[serde(default)]
    pub repair_pending: bool,
}

impl FollowerRecord {
    /// Whether its holder stopped renewing it for longer than the lease.
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        (now - self.heartbeat_at).num_milliseconds() > (self.lease_secs as i64) * 1000
    }

    /// Whether a live follower holds it.
    pub fn is_held(&self, now: DateTime<Utc>) -> bool {
        self.status == FollowerStatus::Following && !self.is_stale(now)
    }

    /// Seconds since the positions were last saved.
    pub fn checkpoint_age(&self, now: DateTime<Utc>) -> Option<f64> {
        self.checkpoint_at
            .map(|at| (now - at).num_milliseconds().max(0) as f64 / 1000.0)
    }
}

/// The record's id in the status index.
pub fn follower_id(alias: &str) -> String {
    format!("follower:{alias}")
}

fn encode(record: &FollowerRecord) -> Value {
    let mut body = serde_json::to_value(record).unwrap_or_else(|_| json!({}));
    body["kind"] = json!("follower");
    body
}

fn decode(value: Value) -> Result<FollowerRecord, SinkError> {
    serde_json::from_value(value).map_err(|e| SinkError::Decode {
        op: "read the follower record".into(),
        reason: e.to_string(),
    })
}

/// Reads the alias's follower record, if any, with its version.
pub async fn read(
    search: &SearchClient,
    alias: &str,
) -> Result<Option<(FollowerRecord, (u64, u64))>, SinkError> {
    match search.get_doc(STATUS_INDEX, &follower_id(alias)).await? {
        Some(doc) => Ok(Some((decode(doc.source)?, (doc.seq_no, doc.primary_term)))),
        None => Ok(None),
    }
}

/// A lease this process holds.
#[derive(Debug, Clone)]
pub struct Lease {
    pub record: FollowerRecord,
    token: (u64, u64),
}

/// What happened when taking the lease.
#[derive(Debug)]
pub enum Taken {
    /// Taken; `previous` is the record found (its positions are where to resume), and whether
    /// its follower had died without releasing it.
    Taken {
        lease: Box<Lease>,
        previous: Option<Box<FollowerRecord>>,
        took_over_hung: bool,
    },
    /// A live follower holds it.
    Held(Box<FollowerRecord>),
}

/// Takes the alias's follower lease for `mine` (a fresh record of this process).
pub async fn acquire(search: &SearchClient, mine: FollowerRecord) -> Result<Taken, SinkError> {
    let id = follower_id(&mine.alias);
    for _ in 0..5 {
        let Some((current, token)) = read(search, &mine.alias).await? else {
            if let Conditional::Written {
                seq_no,
                primary_term,
            } = search
                .write_doc_if(STATUS_INDEX, &id, &encode(&mine), None)
                .await?
            {
                return Ok(Taken::Taken {
                    lease: Box::new(Lease {
                        record: mine,
                        token: (seq_no, primary_term),
                    }),
                    previous: None,
                    took_over_hung: false,
                });
            }
            continue;
        };
        let now = Utc::now();
        if current.holder == mine.holder && current.status == FollowerStatus::Following {
            // Our own creation whose answer was lost, or a dead follower that ran under the same
            // host name and process id (a restarted container): either way ours, resumed from
            // what it saved.
            return Ok(Taken::Taken {
                lease: Box::new(Lease {
                    record: current.clone(),
                    token,
                }),
                previous: Some(Box::new(current)),
                took_over_hung: false,
            });
        }
        if current.is_held(now) {
            return Ok(Taken::Held(Box::new(current)));
        }
        let record = FollowerRecord {
            positions: current.positions.clone(),
            stream_arn: current.stream_arn.clone(),
            checkpoint_at: current.checkpoint_at,
            dead_letter_locations: current.dead_letter_locations.clone(),
            repairs: current.repairs,
            repair_pending: current.repair_pending,
            ..mine.clone()
        };
        if let Conditional::Written {
            seq_no,
            primary_term,
        } = search
            .write_doc_if(STATUS_INDEX, &id, &encode(&record), Some(token))
            .await?
        {
            let hung = current.status == FollowerStatus::Following;
            return Ok(Taken::Taken {
                lease: Box::new(Lease {
                    record,
                    token: (seq_no, primary_term),
                }),
                previous: Some(Box::new(current)),
                took_over_hung: hung,
            });
        }
    }
    Err(SinkError::Decode {
        op: "take the follower lease".into(),
        reason: "the follower record changed hands repeatedly; try again".into(),
    })
}

impl Lease {
    /// Writes `record` (this lease's, updated) over the version last written. `false` when the
    /// lease was taken over: the follower must stop and write nothing more.
    pub async fn write(
        &mut self,
        search: &SearchClient,
        record: FollowerRecord,
    ) -> Result<bool, SinkError> {
        let id = follower_id(&record.alias);
        match search
            .write_doc_if(STATUS_INDEX, &id, &encode(&record), Some(self.token))
            .await?
        {
            Conditional::Written {
                seq_no,
                primary_term,
            } => {
                self.record = record;
                self.token = (seq_no, primary_term);
                Ok(true)
            }
            Conditional::Conflict => {
                // A write whose answer was lost meets a conflict on its retry: still ours if
                // the stored record still names this holder as following.
                match read(search, &record.alias).await? {
                    Some((current, token))
                        if current.holder == self.record.holder
                            && current.status == FollowerStatus::Following =>
                    {
                        self.token = token;
                        Box::pin(self.write(search, record)).await
                    }
                    _ => Ok(false),
                }
            }
        }
    }
}

/// The message for a lease held by a live follower (exit code 4).
pub fn held_message(record: &FollowerRecord, now: DateTime<Utc>) -> String {
    format!(
        "alias {:?} is already followed by {} since {} (heartbeat {:.0} s ago, lease {} s); one follower per alias: stop it first, or wait for its lease to run out",
        record.alias,
        record.holder,
        record
            .acquired_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        (now - record.heartbeat_at).num_milliseconds() as f64 / 1000.0,
        record.lease_secs,
    )
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
            holder: "h:1".into(),
            status,
            acquired_at: at("2026-01-01T00:00:00Z"),
            heartbeat_at: at(heartbeat),
            lease_secs: 30,
            stream_arn: None,
            positions: Vec::new(),
            checkpoint_at: Some(at("2026-01-01T00:00:50Z")),
            applied: 0,
            dead_lettered: 0,
            lag_s: None,
            shard_lag_s: BTreeMap::new(),
            records_per_s: 0.0,
            dead_letter_locations: Vec::new(),
            repairs: 0,
            repair_pending: false,
        }
    }

    #[test]
    fn a_follower_holds_its_lease_until_it_stops_or_its_heartbeat_is_older_than_the_lease() {
        let now = at("2026-01-01T00:01:00Z");
        assert!(record(FollowerStatus::Following, "2026-01-01T00:00:40Z").is_held(now));
        assert!(!record(FollowerStatus::Following, "2026-01-01T00:00:29Z").is_held(now));
        assert!(!record(FollowerStatus::Stopped, "2026-01-01T00:00:59Z").is_held(now));
        let held = record(FollowerStatus::Following, "2026-01-01T00:00:50Z");
        assert_eq!(held.checkpoint_age(now), Some(10.0));
        let message = held_message(&held, now);
        assert!(
            message.contains("h:1") && message.contains("\"persons\""),
            "{message}"
        );
    }

    #[test]
    fn the_record_round_trips_with_its_kind() {
        let held = record(FollowerStatus::Following, "2026-01-01T00:00:50Z");
        let body = encode(&held);
        assert_eq!(body["kind"], "follower");
        assert_eq!(body["status"], "following");
        assert_eq!(decode(body).expect("decodes"), held);
    }
}
