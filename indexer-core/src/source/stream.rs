//! Tailing a table's DynamoDB stream while a rebuild runs, so writes made during it are not lost.
//!
//! The tail starts before the scan: it takes a `LATEST` iterator on every open shard, so every
//! write from then on is either seen by the scan or read from the stream (or both). A background
//! task polls `GetRecords` over all shards continuously (every [`IDLE_POLL`] when nothing comes;
//! iterators expire after 15 minutes unused) and applies each record to the target index:
//! INSERT and MODIFY write the `NewImage` mapped by the entity's factory, REMOVE deletes the
//! document of the item. Shards that appear later (DynamoDB splits and rotates them) are
//! found by describing the stream again and read from `TRIM_HORIZON`.
//!
//! Every write and delete carries an external version in the stream band (see
//! [`crate::sink::version`]): above every scanned copy, in stream order among the records of one
//! item, whether or not the item has a `versionNumber`; a 409 version conflict means a newer
//! copy is already there. A `NEW_IMAGE` stream's REMOVE carries only the item's keys: the
//! document's id comes from them through the entity's id rule. Deletes leave tombstones, which
//! the building index keeps for [`crate::rebuild::BUILD_GC_DELETES`].

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_dynamodbstreams::Client as StreamsClient;
use aws_sdk_dynamodbstreams::types::{Record, StreamViewType};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::catchup::{self, Catchup};
use super::positions::{Book, Resume, StreamPosition, resume_points};
use super::records::action;
use super::shards::{Shards, Start};
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

/// A failure reading the stream or applying its records.
#[derive(Debug, thiserror::Error)]
#[error("stream {stream}: {op} failed: {message}")]
pub struct StreamError {
    pub stream: String,
    pub op: &'static str,
    pub message: String,
}

/// What the tail did, for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TailStats {
    /// Records written to the index (including those a newer copy made moot).
    pub applied: u64,
    /// Records that could not be applied (unmappable image, or refused by the cluster).
    pub failed: u64,
}

/// Whether the stream carries new images, which the tail needs.
pub async fn has_new_images(client: &StreamsClient, arn: &str) -> Result<bool, StreamError> {
    let output = client
        .describe_stream()
        .stream_arn(arn)
        .limit(1)
        .send()
        .await
        .map_err(|e| error(arn, "DescribeStream", e))?;
    Ok(matches!(
        output
            .stream_description()
            .and_then(|d| d.stream_view_type()),
        Some(StreamViewType::NewImage | StreamViewType::NewAndOldImages)
    ))
}

pub(super) fn error(
    arn: &str,
    op: &'static str,
    err: impl std::error::Error + Send + Sync + 'static,
) -> StreamError {
    StreamError {
        stream: arn.to_owned(),
        op,
        message: crate::logging::cause_chain(&err),
    }
}

struct State {
    shards: Shards,
    entity: &'static dyn Entity,
    search: SearchClient,
    index: String,
    retry: RetryPolicy,
    stats: TailStats,
    failure: Option<String>,
    /// Versions the records in stream order.
    clock: StreamClock,
    /// The drain under way, if any: every round reports its answers into it, the background
    /// poll's too, so a record one of them read is never missed by the drain's count.
    catchup: Option<Catchup>,
}

/// A stream with `LATEST` iterators taken on its open shards and nothing read yet: opened before
/// a scan starts, and tailed ([`OpenedStream::tail`]) once the index to write into is known.
/// Iterators stay valid for 15 minutes.
pub struct OpenedStream(Shards);

impl OpenedStream {
    /// Takes `LATEST` iterators on the stream's open shards: every write from now on is read.
    pub async fn open(client: StreamsClient, arn: &str) -> Result<OpenedStream, StreamError> {
        let mut shards = Shards::new(client, arn);
        shards.discover(Start::Latest).await?;
        Ok(OpenedStream(shards))
    }

    /// Takes iterators where the tails of an interrupted run stood (`saved`, see
    /// [`super::positions`]), so the writes made while it was stopped are replayed too. Returns
    /// the stream, and the shards whose saved position is past the stream's retention (their
    /// records from before the retention are lost to the replay).
    pub async fn resume(
        client: StreamsClient,
        arn: &str,
        saved: &[StreamPosition],
    ) -> Result<(OpenedStream, Vec<String>), StreamError> {
        let points = resume_points(saved);
        let mut shards = Shards::new(client, arn);
        shards.book.mark_resumed();
        let mut gaps = shards.discover(Start::Resume(&points)).await?;
        for (shard, point) in &points {
            if *point != Resume::Ended && !shards.known.contains(shard) && !gaps.contains(shard) {
                gaps.push(shard.clone());
            }
        }
        gaps.sort();
        Ok((OpenedStream(shards), gaps))
    }

    /// Starts polling in the background, applying records to `index`.
    pub fn tail(
        self,
        entity: &'static dyn Entity,
        search: SearchClient,
        index: String,
        retry: RetryPolicy,
    ) -> StreamTail {
        let shards = self.0;
        tracing::info!(stream = %shards.arn, shards = shards.iterators.len(), "tailing the table's stream");
        let state = Arc::new(Mutex::new(State {
            shards,
            entity,
            search,
            index,
            retry,
            stats: TailStats::default(),
            failure: None,
            clock: StreamClock::default(),
            catchup: None,
        }));
        let stop = CancellationToken::new();
        let failed = CancellationToken::new();
        let task = tokio::spawn(poll_forever(
            Arc::clone(&state),
            stop.clone(),
            failed.clone(),
        ));
        StreamTail {
            state,
            stop,
            failed,
            task: Some(task),
        }
    }
}

/// A running tail; [`StreamTail::drain`] catches up, [`StreamTail::stop`] ends it.
/// Dropping it stops the background task too.
pub struct StreamTail {
    state: Arc<Mutex<State>>,
    stop: CancellationToken,
    /// Cancelled the moment the tail fails: a run must not learn of it only at its final drain.
    failed: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for StreamTail {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl StreamTail {
    /// Takes `LATEST` iterators on the stream's open shards and starts polling in the background,
    /// applying records to `index`.
    pub async fn start(
        client: StreamsClient,
        arn: &str,
        entity: &'static dyn Entity,
        search: SearchClient,
        index: String,
        retry: RetryPolicy,
    ) -> Result<StreamTail, StreamError> {
        Ok(OpenedStream::open(client, arn)
            .await?
            .tail(entity, search, index, retry))
    }

    /// Reads and applies records up to the present: the stream's shards are listed again, then
    /// read until every one of them has caught up with the moment `settle` after this call (see
    /// [`catchup`]: closed shards to their end, open ones past that moment or empty for
    /// [`catchup::EMPTY_SPAN`]), parents before children. Writes keep coming on a busy table,
    /// so waiting for a round with no records at all might never end.
    /// Gives up after `limit` (the tail keeps running) and says so with `Ok(false)`.
    pub async fn drain(&self, settle: Duration, limit: Duration) -> Result<bool, StreamError> {
        let began = Instant::now();
        self.state.lock().await.catchup = Some(Catchup::new(began, SystemTime::now(), settle));
        let ended = self.drain_rounds(began, limit).await;
        self.state.lock().await.catchup = None;
        ended
    }

    async fn drain_rounds(&self, began: Instant, limit: Duration) -> Result<bool, StreamError> {
        let mut listed = false;
        loop {
            let (records, caught_up) = {
                let mut state = self.state.lock().await;
                state.check()?;
                let round = async {
                    if !listed {
                        state.shards.discover(Start::TrimHorizon).await?;
                    }
                    state.round().await
                }
                .await;
                if let Err(e) = &round {
                    state.failure = Some(e.to_string());
                    self.failed.cancel();
                }
                let records = round?;
                listed = true;
                (records, state.caught_up())
            };
            if caught_up {
                return Ok(true);
            }
            if began.elapsed() >= limit {
                return Ok(false);
            }
            if records == 0 {
                tokio::time::sleep(IDLE_POLL).await;
            }
        }
    }

    /// Stops polling and returns what the tail did.
    pub async fn stop(mut self) -> Result<TailStats, StreamError> {
        self.stop.cancel();
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            tracing::warn!(error = %e, "the stream tail task ended abnormally");
        }
        let state = self.state.lock().await;
        state.check()?;
        Ok(state.stats)
    }

    /// Resolves when the tail has failed (it stopped applying records).
    pub async fn failed(&self) {
        self.failed.cancelled().await
    }

    /// The tail's failure, if it failed.
    pub async fn failure(&self) -> Option<StreamError> {
        self.state.lock().await.check().err()
    }

    /// Where the tail stands in each shard, shared: the worker saves it with its checkpoints.
    pub async fn book(&self) -> Book {
        self.state.lock().await.shards.book.clone()
    }

    /// What the tail did so far.
    pub async fn stats(&self) -> TailStats {
        self.state.lock().await.stats
    }
}

async fn poll_forever(
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
    fn check(&self) -> Result<(), StreamError> {
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
    async fn round(&mut self) -> Result<u64, StreamError> {
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
    fn caught_up(&self) -> bool {
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
