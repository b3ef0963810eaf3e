//! The state of a stream tail and its rounds: one `GetRecords` per shard that may be read, its
//! records applied to the index with external versions, the positions noted once applied.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodbstreams::types::Record;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::catchup::{self, Catchup};
use super::records::action;
use super::shards::{Shards, Start};
use super::stream_error::{StreamError, error};
use crate::checkpoint::Ticket;
use crate::entities::Entity;
use crate::sink::batch::Batch;
use crate::sink::bulk;
use crate::sink::client::SearchClient;
use crate::sink::retry::{RetryPolicy, is_retriable_status};
use crate::sink::version::StreamClock;

/// How long a tail waits after the stream refused a read (throttled, or a passing error).
const THROTTLED_PAUSE: Duration = Duration::from_secs(1);
/// How long the background task waits after a round that returned nothing.
pub const IDLE_POLL: Duration = Duration::from_millis(200);
/// How often the stream is described again to find new shards.
const DESCRIBE_EVERY: Duration = Duration::from_secs(5);
/// The most records one `GetRecords` call is asked for (its maximum).
const RECORDS_PER_CALL: i32 = 1000;

/// What the tail did, for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TailStats {
    /// Records written to the index (including those a newer copy made moot).
    pub applied: u64,
    /// Records that could not be applied (unmappable image, or refused by the cluster).
    pub failed: u64,
}

/// What a running tail holds, behind the lock its background task and its drains share.
pub(super) struct State {
    pub(super) shards: Shards,
    entity: &'static dyn Entity,
    search: SearchClient,
    index: String,
    retry: RetryPolicy,
    pub(super) stats: TailStats,
    pub(super) failure: Option<String>,
    /// Versions the records in stream order.
    clock: StreamClock,
    /// The drain under way, if any: every round reports its answers into it, the background
    /// poll's too, so a record one of them read is never missed by the drain's count.
    pub(super) catchup: Option<Catchup>,
}

/// Reads and applies rounds until `stop`, or until one fails (then `failed` is cancelled).
pub(super) async fn poll_forever(
    state: Arc<Mutex<State>>,
    stop: CancellationToken,
    failed: CancellationToken,
) {
    while !stop.is_cancelled() {
        let records = {
            let mut state = state.lock().await;
            if state.failure.is_some() {
                return;
            }
            match state.round().await {
                Ok(records) => records,
                Err(e) => {
                    tracing::error!(error = %e, "the stream tail failed");
                    state.failure = Some(e.to_string());
                    failed.cancel();
                    return;
                }
            }
        };
        if records == 0 {
            tokio::select! {
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = stop.cancelled() => {}
            }
        }
    }
}

impl State {
    /// A tail that has read nothing yet, writing into `index`.
    pub(super) fn new(
        shards: Shards,
        entity: &'static dyn Entity,
        search: SearchClient,
        index: String,
        retry: RetryPolicy,
    ) -> State {
        State {
            shards,
            entity,
            search,
            index,
            retry,
            stats: TailStats::default(),
            failure: None,
            clock: StreamClock::default(),
            catchup: None,
        }
    }

    /// The tail's failure, if it failed.
    pub(super) fn check(&self) -> Result<(), StreamError> {
        match &self.failure {
            Some(message) => Err(StreamError {
                stream: self.shards.arn.clone(),
                op: "tailing",
                message: message.clone(),
            }),
            None => Ok(()),
        }
    }

    /// One `GetRecords` per shard that may be read now (a child only once its parent is read to
    /// its end); applies what came, and notes each answer in the drain under way. Returns how
    /// many records came.
    pub(super) async fn round(&mut self) -> Result<u64, StreamError> {
        if self.shards.described.elapsed() >= DESCRIBE_EVERY {
            self.shards.discover(Start::TrimHorizon).await?;
        }
        let mut records = Vec::new();
        let mut throttled = false;
        let mut ended = false;
        let mut ended_shards = Vec::new();
        for shard in catchup::readable(self.shards.iterators.keys(), &self.shards.parents) {
            let Some(iterator) = self.shards.iterators.get(&shard).cloned() else {
                continue;
            };
            let asked = Instant::now();
            let answer = self
                .shards
                .client
                .get_records()
                .shard_iterator(iterator)
                .limit(RECORDS_PER_CALL)
                .send()
                .await;
            let output = match answer {
                Ok(output) => output,
                // Unused for 15 minutes (a long stall, e.g. the cluster refusing writes, or a
                // child shard waiting for its parent's backlog): a fresh iterator where the tail
                // stands reads on with nothing skipped (see `Shards::iterator_again`).
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_expired_iterator_exception()) =>
                {
                    tracing::warn!(shard = %shard, "the shard's iterator expired; taking it again where the tail stands");
                    let fresh = self.shards.iterator_again(&shard).await?;
                    self.shards.iterators.insert(shard.clone(), fresh);
                    continue;
                }
                // Throttled (more readers on the stream than it serves) or a passing server
                // error, past the SDK's own retries: the shard is read again after a pause, from
                // the same iterator; nothing is skipped, the tail goes on.
                Err(e)
                    if e.as_service_error().is_some_and(|s| {
                        s.is_limit_exceeded_exception() || s.is_internal_server_error()
                    }) =>
                {
                    tracing::warn!(shard = %shard, error = %crate::logging::cause_chain(&e), "the stream refused a read for now; reading the shard again shortly");
                    throttled = true;
                    continue;
                }
                Err(e) => return Err(error(&self.shards.arn, "GetRecords", e)),
            };
            let page = output.records.unwrap_or_default();
            match output.next_shard_iterator {
                Some(next) => {
                    if let Some(drain) = self.catchup.as_mut() {
                        drain.answered(&shard, asked, &page);
                    }
                    self.shards.iterators.insert(shard.clone(), next);
                }
                None => {
                    tracing::debug!(shard = %shard, "stream shard closed and read to its end");
                    self.shards.iterators.remove(&shard);
                    ended_shards.push(shard.clone());
                    ended = true;
                }
            }
            records.extend(page.into_iter().map(|record| (shard.clone(), record)));
        }
        let count = records.len() as u64;
        if count > 0 {
            self.apply(&records).await?;
        }
        // The clock may forget what no shard still being read can rank against: items older
        // than the slowest of them (a replayed backlog lags the others by hours).
        if let Some(slowest) = self
            .shards
            .book
            .slowest_second(self.shards.iterators.keys())
        {
            self.clock.forget_before(slowest);
        }
        // Applied: the positions saved with the checkpoints may move past these records.
        for (shard, record) in &records {
            if let Some(data) = record.dynamodb()
                && let Some(sequence) = data.sequence_number()
            {
                let second = data
                    .approximate_creation_date_time()
                    .map_or(0, |t| u64::try_from(t.secs()).unwrap_or(0));
                self.shards.book.applied(shard, second, sequence);
            }
        }
        for shard in &ended_shards {
            self.shards.book.ended(shard);
        }
        if ended {
            // A shard read to its end has children: read them from their start.
            self.shards.discover(Start::TrimHorizon).await?;
        }
        if throttled {
            tokio::time::sleep(THROTTLED_PAUSE).await;
        }
        Ok(count)
    }

    /// Whether the drain under way has caught up with every shard still being read.
    pub(super) fn caught_up(&self) -> bool {
        let Some(drain) = &self.catchup else {
            return false;
        };
        let closed = &self.shards.closed;
        drain.caught_up(
            self.shards
                .iterators
                .keys()
                .map(|shard| (shard.as_str(), closed.contains(shard))),
            Instant::now(),
        )
    }

    /// Writes the records' effects to the index, with external versions.
    async fn apply(&mut self, records: &[(String, Record)]) -> Result<(), StreamError> {
        let ticket = Ticket {
            segment: 0,
            page: 0,
        };
        let mut batch = Batch::default();
        for (_, record) in records {
            match action(self.entity, &self.index, &mut self.clock, record) {
                Ok(Some((id, action, body))) => {
                    batch.push_action(&id, ticket, &action, body.as_deref());
                }
                Ok(None) => {}
                Err(reason) => {
                    tracing::warn!(reason = %reason, "a stream record cannot be applied");
                    self.stats.failed += 1;
                }
            }
        }
        let mut refused: Option<String> = None;
        // Bulk requests stay small: a round brings at most 1,000 records per shard.
        for chunk in batch.entries.chunks(500) {
            let part = batch.subset(chunk);
            let outcome = bulk::send(&self.search, part, &self.retry)
                .await
                .map_err(|e| StreamError {
                    stream: self.shards.arn.clone(),
                    op: "bulk",
                    message: e.to_string(),
                })?;
            self.stats.applied += outcome.indexed.len() as u64;
            for rejection in &outcome.rejected {
                // A delete of a document that is not there yet is done: the tombstone stays.
                if rejection.status == 404 && rejection.document.is_empty() {
                    self.stats.applied += 1;
                } else if is_retriable_status(rejection.status) {
                    // Refused for now (overloaded, or a passing error) past the retries: the
                    // record must not be skipped, so the tail fails before its position moves
                    // past it, and a resume replays it.
                    refused.get_or_insert_with(|| {
                        format!(
                            "the cluster kept refusing the write of document {} ({} {}: {}) past the retries",
                            rejection.id, rejection.status, rejection.error_type, rejection.reason
                        )
                    });
                } else {
                    tracing::warn!(id = %rejection.id, status = rejection.status, error_type = %rejection.error_type, reason = %rejection.reason, "the cluster refused a stream record");
                    self.stats.failed += 1;
                }
            }
        }
        match refused {
            Some(message) => Err(StreamError {
                stream: self.shards.arn.clone(),
                op: "bulk",
                message,
            }),
            None => Ok(()),
        }
    }
}
