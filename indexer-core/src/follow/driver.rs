//! The follower's run: take the lease, open the stream where the checkpoints stand (healing a
//! gap with a full repair), then read and apply step after step until a signal stops it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_dynamodbstreams::Client as StreamsClient;
use chrono::Utc;

use super::follower::Follower;
use super::heal::{self, Gap};
use super::lease::{self, FollowerRecord, FollowerStatus, Taken};
use super::plan::FollowPlan;
use super::reader::{Reader, Sink};
use super::target::{guard_target, live_index, stream_of};
use crate::deadletter::{DeadLetters, Writer};
use crate::entities::{self, Entity};
use crate::error::Error;
use crate::jobs::store::JobStore;
use crate::shutdown::Signals;
use crate::sink::client::SearchClient;
use crate::source::stream::IDLE_POLL;
use crate::summary::{Status, Summary};

/// How long a stopping follower tries to save its checkpoints and release its lease.
const STOP_SAVE: Duration = Duration::from_secs(8);
/// How long the follower waits after a step that could not write (the cluster refused, the
/// alias names no single index) or could not read the stream.
const BACKOFF: Duration = Duration::from_secs(2);
/// How often the table is described again, to notice a stream disabled and re-enabled.
const CHECK_STREAM_EVERY: Duration = Duration::from_secs(10);

/// Follows `plan.table`'s stream into `plan.alias` until a signal stops it; the summary of the
/// run (status `interrupted`, exit 5, after a clean stop).
pub async fn follow(
    dynamo: DynamoClient,
    streams: StreamsClient,
    search: SearchClient,
    plan: FollowPlan,
) -> Result<Summary, Error> {
    let started = Instant::now();
    let mut signals = Signals::new();
    let entity = entities::by_name(plan.entity)
        .ok_or_else(|| Error::Input(format!("unknown entity {:?}", plan.entity)))?;
    let arn = stream_of(&dynamo, &streams, &plan).await?;
    guard_target(&search, &plan).await?;
    // From here on it writes: a first signal is handled here, by stopping cleanly.
    crate::shutdown::arm_for("the follower")?;
    JobStore::new(search.clone()).ensure().await?;
    let now = Utc::now();
    let mine = FollowerRecord {
        alias: plan.alias.to_string(),
        table: plan.table.to_string(),
        entity: entity.name().to_owned(),
        holder: crate::jobs::holder(),
        status: FollowerStatus::Following,
        acquired_at: now,
        heartbeat_at: now,
        lease_secs: plan.timing.lease.as_secs().max(1),
        stream_arn: Some(arn.clone()),
        positions: Vec::new(),
        checkpoint_at: None,
        applied: 0,
        dead_lettered: 0,
        lag_s: None,
        shard_lag_s: BTreeMap::new(),
        records_per_s: 0.0,
        dead_letter_locations: Vec::new(),
        repairs: 0,
        repair_pending: false,
    };
    let (lease, previous) = match lease::acquire(&search, mine).await? {
        Taken::Held(holder) => {
            return Err(Error::Locked(lease::held_message(&holder, Utc::now())));
        }
        Taken::Taken {
            lease,
            previous,
            took_over_hung,
        } => {
            if took_over_hung && let Some(hung) = &previous {
                tracing::warn!(holder = %hung.holder, heartbeat_at = %hung.heartbeat_at, "took over the lease of a follower that stopped renewing it");
            }
            (*lease, previous)
        }
    };
    let mut summary = Summary::new("follow");
    summary.table = Some(plan.table.to_string());
    summary.entity = Some(entity.name().to_owned());
    summary.alias = Some(plan.alias.to_string());
    summary.stream = Some("followed");
    let (reader, gap) = match open_from(&streams, &arn, entity, previous.as_deref(), &plan).await {
        Ok(opened) => opened,
        Err(error) => {
            // Hand the lease back with what it held, so the next follower need not wait for it.
            let mut lease = lease;
            let released = FollowerRecord {
                status: FollowerStatus::Stopped,
                heartbeat_at: Utc::now(),
                ..lease.record.clone()
            };
            if let Err(release) = lease.write(&search, released).await {
                tracing::warn!(error = %release, "the lease could not be released");
            }
            return Err(error);
        }
    };
    let run_id = format!("follow-{}", now.format("%Y%m%dt%H%M%S%3fz"));
    let dead = DeadLetters::open(
        plan.dead_letter.as_ref(),
        format!("{}.follow.dead-letter.jsonl", plan.alias),
        Writer {
            alias: plan.alias.as_str(),
            job_id: &run_id,
            worker: 0,
        },
    );
    let mut follower = Follower {
        dynamo,
        streams,
        search,
        plan,
        entity,
        lease,
        reader,
        dead,
        summary,
        last: (Instant::now(), 0),
        rate: 0.0,
    };
    let ended = follower.run(&mut signals, gap).await;
    let mut summary = follower.close(ended).await?;
    summary.set_elapsed(started.elapsed());
    Ok(summary)
}

/// Opens the stream where the previous follower stood, and says what gap, if any, lies between.
async fn open_from(
    streams: &StreamsClient,
    arn: &str,
    entity: &'static dyn Entity,
    previous: Option<&FollowerRecord>,
    plan: &FollowPlan,
) -> Result<(Reader, Option<Gap>), Error> {
    let concurrency = plan.concurrency;
    let Some(previous) = previous.filter(|p| !p.positions.is_empty() || p.repair_pending) else {
        // A first follower reads all the stream still holds: replaying is harmless.
        let (reader, _) = Reader::open(streams.clone(), arn, entity, &[], concurrency).await?;
        return Ok((reader, None));
    };
    if previous.stream_arn.as_deref() != Some(arn) {
        let (reader, _) = Reader::open(streams.clone(), arn, entity, &[], concurrency).await?;
        return Ok((
            reader,
            Some(Gap::StreamChanged {
                was: previous.stream_arn.clone(),
            }),
        ));
    }
    let (reader, gaps) = Reader::open(
        streams.clone(),
        arn,
        entity,
        &previous.positions,
        concurrency,
    )
    .await?;
    tracing::info!(
        shards = previous.positions.len(),
        "following the stream from the saved checkpoints"
    );
    let gap = if !gaps.is_empty() {
        Some(Gap::Trimmed { shards: gaps })
    } else if previous.repair_pending {
        Some(Gap::Unfinished)
    } else {
        None
    };
    Ok((reader, gap))
}

/// How a run ended.
pub(super) enum Ended {
    /// A signal stopped it.
    Stopped,
    /// Another follower took the lease over.
    LeaseLost,
    Failed(Error),
}

impl Follower {
    async fn run(&mut self, signals: &mut Signals, mut gap: Option<Gap>) -> Ended {
        let mut beat = Instant::now();
        let mut progress = Instant::now();
        let mut checked = Instant::now();
        loop {
            if let Some(why) = gap.take() {
                match heal::repair(self, signals, &why).await {
                    Ok(true) => {}
                    Ok(false) => return Ended::Stopped,
                    Err(Error::LockLost(_)) => return Ended::LeaseLost,
                    Err(error) => return Ended::Failed(error),
                }
            }
            if beat.elapsed() >= self.plan.timing.heartbeat {
                beat = Instant::now();
                match self.checkpoint(FollowerStatus::Following).await {
                    Ok(true) => {}
                    Ok(false) => return Ended::LeaseLost,
                    Err(error) => {
                        tracing::warn!(error = %error, "saving the checkpoints failed; will retry")
                    }
                }
            }
            if progress.elapsed() >= self.plan.progress_interval {
                progress = Instant::now();
                self.progress();
            }
            if checked.elapsed() >= CHECK_STREAM_EVERY {
                checked = Instant::now();
                match heal::stream_changed(self).await {
                    Ok(found) => gap = found,
                    Err(error) => {
                        tracing::warn!(error = %error, "describing the table failed; will retry")
                    }
                }
                if gap.is_some() {
                    continue;
                }
            }
            let stop_timeout = self.plan.stop_timeout;
            let done = {
                let step = self.step();
                tokio::pin!(step);
                tokio::select! {
                    done = &mut step => done,
                    _ = signals.recv() => {
                        // Read nothing more; let the writes in flight land, within the stop
                        // timeout.
                        match tokio::time::timeout(stop_timeout, step).await {
                            Ok(Err(error)) => tracing::warn!(error = %error, "the last step failed; its records are read again by the next follower"),
                            Ok(Ok(_)) => {}
                            Err(_) => tracing::warn!("writes in flight did not land within the stop timeout; the checkpoints stay before them"),
                        }
                        return Ended::Stopped;
                    }
                }
            };
            let pause = match done {
                Ok(true) => None,
                Ok(false) => Some(IDLE_POLL),
                Err(error @ Error::DeadLetter(_)) => return Ended::Failed(error),
                Err(Error::Stream(error)) => {
                    tracing::warn!(error = %error, "reading the stream failed; opening it again from the checkpoints");
                    match self.reopen().await {
                        // Shards whose positions the stream no longer holds: repair first.
                        Ok(found) => gap = found,
                        Err(error) => {
                            tracing::warn!(error = %error, "opening the stream failed; will retry")
                        }
                    }
                    Some(BACKOFF)
                }
                Err(error) => {
                    tracing::warn!(error = %error, "applying the stream's records failed; they wait and are sent again");
                    Some(BACKOFF)
                }
            };
            if let Some(pause) = pause {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = signals.recv() => return Ended::Stopped,
                }
            }
        }
    }

    /// Reads one page per readable shard and applies what came to the index the alias names
    /// now. `true` when there was work.
    async fn step(&mut self) -> Result<bool, Error> {
        let read = self.reader.read().await?;
        if !self.reader.has_pending() {
            return Ok(read > 0);
        }
        let index = live_index(&self.search, &self.plan.alias).await?;
        let sink = Sink {
            search: &self.search,
            index: &index,
            retry: &self.plan.retry,
            dead: &self.dead,
        };
        self.reader.apply(&sink).await?;
        Ok(true)
    }

    /// Opens the stream again from the checkpoints of this run (its iterators expired, or a
    /// read failed).
    pub(super) async fn reopen(&mut self) -> Result<Option<Gap>, Error> {
        let stats = self.reader.stats;
        let positions = self.reader.positions();
        let arn = self.reader.arn().to_owned();
        let (mut reader, gaps) = Reader::open(
            self.streams.clone(),
            &arn,
            self.entity,
            &positions,
            self.plan.concurrency,
        )
        .await?;
        reader.stats = stats;
        self.reader = reader;
        Ok((!gaps.is_empty()).then_some(Gap::Trimmed { shards: gaps }))
    }

    /// Saves the checkpoints, releases the lease and says how the run ended.
    async fn close(mut self, ended: Ended) -> Result<Summary, Error> {
        let mut summary = std::mem::replace(&mut self.summary, Summary::new("follow"));
        let error = match ended {
            Ended::Stopped => {
                // Bounded: the stop timeout went to the writes in flight, and ECS's SIGKILL
                // follows its margin (a few seconds) later.
                let saved =
                    tokio::time::timeout(STOP_SAVE, self.checkpoint(FollowerStatus::Stopped))
                        .await
                        .unwrap_or_else(|_| {
                            Err(Error::Job(format!(
                                "no answer within {} s",
                                STOP_SAVE.as_secs()
                            )))
                        });
                match saved {
                    Ok(true) => tracing::info!("checkpoints saved and the lease released"),
                    Ok(false) => summary.warnings.push(
                        "another follower took the lease over before this one stopped; it saved nothing".into(),
                    ),
                    Err(error) => summary.warnings.push(format!(
                        "the checkpoints could not be saved ({error}); the next follower resumes from the last ones saved, once this one's lease runs out"
                    )),
                }
                None
            }
            Ended::LeaseLost => Some(Error::LockLost(format!(
                "another follower took the lease of alias \"{}\" over; this one stopped and wrote nothing more",
                self.plan.alias
            ))),
            Ended::Failed(error) => {
                // Save what is durable, and release the lease for the next follower.
                if let Err(save) = self.checkpoint(FollowerStatus::Stopped).await {
                    tracing::warn!(error = %save, "the checkpoints could not be saved");
                }
                Some(error)
            }
        };
        let stats = self.reader.stats;
        summary.stream_records_applied = stats.applied;
        summary.indexed = stats.applied;
        summary.dead_lettered = stats.dead_lettered;
        summary.set_dead_letters(crate::deadletter::locations(&[], self.dead.finish()));
        if stats.dead_lettered > 0 {
            summary.warnings.push(format!(
                "{} stream records could not be applied and were dead-lettered; see {}",
                stats.dead_lettered,
                self.dead.location()
            ));
        }
        Ok(match error {
            None => {
                summary.status = Status::Interrupted;
                summary
            }
            Some(error) => summary.failed(&error),
        })
    }
}
