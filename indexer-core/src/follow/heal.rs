//! Healing a gap in what the follower read: when the stream cannot be followed from where the
//! checkpoints stand, the records in between are unknown, so the whole alias is repaired with
//! `verify --fix` (its repairs rank above every stream copy written before the item was read,
//! below every later one, see [`crate::sink::version::repaired`]).
//!
//! The stream is opened first (at the start of every shard the checkpoints cannot place, or of
//! the new stream), so every write made from then on is read; the repair then covers everything
//! before. The follower record says a repair is owed before it starts and clears that once it
//! succeeded: a follower stopped during one repairs again when it starts.

use std::time::Duration;

use super::follower::Follower;
use super::lease::FollowerStatus;
use crate::drift::commands::{VerifyOptions, verify};
use crate::error::Error;
use crate::shutdown::Signals;
use crate::source::scan;

/// How long a repair waits for the alias's lock while another job (a rebuild) holds it.
const LOCKED_PAUSE: Duration = Duration::from_secs(5);

/// Why the stream cannot be followed from where the checkpoints stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gap {
    /// The stream was disabled and enabled again: a new stream, and writes made in between
    /// are in neither.
    StreamChanged { was: Option<String> },
    /// Checkpoints in shards the stream no longer holds (past its 24-hour retention, or gone).
    Trimmed { shards: Vec<String> },
    /// A repair was started and did not finish.
    Unfinished,
}

impl Gap {
    fn describe(&self) -> String {
        match self {
            Gap::StreamChanged { was } => format!(
                "the table's stream changed (was {}): it was disabled and enabled again, and writes made in between are in neither stream",
                was.as_deref().unwrap_or("none")
            ),
            Gap::Trimmed { shards } => format!(
                "the checkpoints of shards {} are no longer in the stream (past its 24-hour retention, or the shards are gone)",
                shards.join(", ")
            ),
            Gap::Unfinished => "a repair started by an earlier follower did not finish".into(),
        }
    }
}

/// Whether the table's stream is no longer the one being read; if so, switches the reader to
/// the new stream's start and returns the gap to repair.
pub(super) async fn stream_changed(follower: &mut Follower) -> Result<Option<Gap>, Error> {
    let info = scan::describe(&follower.dynamo, &follower.plan.table).await?;
    let current = info.stream_arn;
    if current.as_deref() == Some(follower.reader.arn()) {
        return Ok(None);
    }
    let Some(arn) = current else {
        tracing::warn!(table = %follower.plan.table, "the table's stream is disabled; the follower reads what the old stream still holds and repairs once a stream is enabled again");
        return Ok(None);
    };
    let was = Some(follower.reader.arn().to_owned());
    tracing::warn!(stream = %arn, was = ?was, "the table's stream changed; following the new one from its start");
    let stats = follower.reader.stats;
    let (mut reader, _) = super::reader::Reader::open(
        follower.streams.clone(),
        &arn,
        follower.entity,
        &[],
        follower.plan.concurrency,
    )
    .await?;
    reader.stats = stats;
    follower.reader = reader;
    Ok(Some(Gap::StreamChanged { was }))
}

/// Repairs the whole alias for `gap`. `Ok(false)`: a signal stopped it (the record still owes
/// the repair); `Err(LockLost)`: the lease was lost.
pub(super) async fn repair(
    follower: &mut Follower,
    signals: &mut Signals,
    gap: &Gap,
) -> Result<bool, Error> {
    let why = gap.describe();
    tracing::warn!(alias = %follower.plan.alias, reason = %why, "the stream cannot be followed from the checkpoints; repairing the whole alias (verify --fix), then following on");
    follower.lease.record.repair_pending = true;
    if !follower.checkpoint(FollowerStatus::Following).await? {
        return Err(lost());
    }
    let target = crate::drift::Target {
        table: follower.plan.table.clone(),
        alias: follower.plan.alias.clone(),
        entity: follower.entity,
        segments: follower.plan.segments,
        page_size: follower.plan.page_size,
        retry: follower.plan.retry,
        timing: follower.plan.timing,
        tally: crate::drift::Tally::default(),
    };
    let options = VerifyOptions {
        fix: true,
        max_changes: u64::MAX,
        force: true,
        dry_run: false,
    };
    let (dynamo, search) = (follower.dynamo.clone(), follower.search.clone());
    let store = crate::jobs::store::JobStore::new(search.clone());
    loop {
        // While another job holds the alias (a rebuild may take hours), wait for it cheaply:
        // `verify` would compare the whole table before it learns the lock is taken.
        let held = match store
            .lock(follower.plan.alias.as_str(), chrono::Utc::now())
            .await
        {
            Ok(lock) => lock
                .filter(|lock| !lock.stale)
                .map(|lock| lock.record.job_id),
            Err(error) => {
                tracing::warn!(error = %error, "reading the alias's lock failed; will retry");
                Some(String::new())
            }
        };
        if let Some(job) = held {
            tracing::info!(job = %job, "the repair waits for the alias's lock");
            tokio::select! {
                _ = tokio::time::sleep(LOCKED_PAUSE) => {}
                _ = signals.recv() => return Ok(false),
            }
            if !follower.checkpoint(FollowerStatus::Following).await? {
                return Err(lost());
            }
            continue;
        }
        let attempt = verify(&dynamo, &search, &target, &options);
        tokio::pin!(attempt);
        // The lease is renewed while the repair runs: a repair of a large table takes a while.
        let outcome = loop {
            tokio::select! {
                outcome = &mut attempt => break outcome,
                _ = tokio::time::sleep(follower.plan.timing.heartbeat) => {
                    match follower.checkpoint(FollowerStatus::Following).await {
                        Ok(true) => {}
                        Ok(false) => return Err(lost()),
                        Err(error) => tracing::warn!(error = %error, "saving the checkpoints failed; will retry"),
                    }
                }
                _ = signals.recv() => {
                    // The repair hears the signal too and ends its job as interrupted (and
                    // releases the alias's lock): let it, within the stop timeout.
                    let _ = tokio::time::timeout(follower.plan.stop_timeout, &mut attempt).await;
                    return Ok(false);
                }
            }
        };
        match outcome {
            Ok((report, code)) => {
                if code != crate::error::exit::SUCCESS {
                    follower.summary.warnings.push(format!(
                        "the repair after a gap in the stream could not fix every document ({}); check with `indexer verify --table {} --index {}`",
                        report["fixed"], follower.plan.table, follower.plan.alias
                    ));
                }
                tracing::warn!(status = %report["status"], changes = %report["changes"], fixed = %report["fixed"], code, "the alias was repaired after a gap in the stream");
                follower.summary.warnings.push(format!(
                    "{why}; the alias was repaired ({} changes)",
                    report["changes"]
                ));
                break;
            }
            Err(Error::Locked(message)) => {
                tracing::warn!(holder = %message, "the repair waits for the alias's lock");
                tokio::select! {
                    _ = tokio::time::sleep(LOCKED_PAUSE) => {}
                    _ = signals.recv() => return Ok(false),
                }
            }
            Err(error) => return Err(error),
        }
        // Keep the lease alive while the repair waits.
        if !follower.checkpoint(FollowerStatus::Following).await? {
            return Err(lost());
        }
    }
    follower.lease.record.repair_pending = false;
    follower.lease.record.repairs += 1;
    if !follower.checkpoint(FollowerStatus::Following).await? {
        return Err(lost());
    }
    Ok(true)
}

fn lost() -> Error {
    Error::LockLost("another follower took the lease over".into())
}
