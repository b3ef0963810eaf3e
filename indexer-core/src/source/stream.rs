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
use aws_sdk_dynamodbstreams::types::StreamViewType;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::catchup::Catchup;
use super::positions::{Book, Resume, StreamPosition, resume_points};
use super::shards::{Shards, Start};
use super::stream_error::error;
use super::tail::{State, poll_forever};
use crate::entities::Entity;
use crate::sink::client::SearchClient;
use crate::sink::retry::RetryPolicy;

pub use super::stream_error::StreamError;
pub use super::tail::{IDLE_POLL, TailStats};

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
        let state = Arc::new(Mutex::new(State::new(shards, entity, search, index, retry)));
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
    /// [`catchup`](super::catchup): closed shards to their end, open ones past that moment or
    /// empty for [`catchup::EMPTY_SPAN`](super::catchup::EMPTY_SPAN)), parents before children.
    /// Writes keep coming on a busy table, so waiting for a round with no records at all might
    /// never end.
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
