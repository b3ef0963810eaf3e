//! Tailing a table's DynamoDB stream while a rebuild runs, so writes made during it are not lost.
//!
//! The tail starts before the scan: it takes a `LATEST` iterator on every open shard, so every
//! write from then on is either seen by the scan or read from the stream (or both). A background
//! task polls `GetRecords` over all shards continuously (every [`IDLE_POLL`] when nothing comes;
//! iterators expire after 15 minutes unused) and applies each record to the target index:
//! INSERT and MODIFY write the `NewImage` mapped by the entity's factory, REMOVE deletes the
//! document of the `OldImage`. Shards that appear later (DynamoDB splits and rotates them) are
//! found by describing the stream again and read from `TRIM_HORIZON`.
//!
//! Every write carries the item's `versionNumber` as an external version (a delete: the old
//! version + 1), so whatever order the scan's copies and the stream's records reach the index
//! in, the newest wins and a delete is never undone; a 409 version conflict means a newer copy is
//! already there. Items without a `versionNumber` are written without external versioning, so
//! nothing orders their copies: a scanned copy may land after a newer stream write (`verify`
//! finds that). A delete leaves a tombstone only for the cluster's `index.gc_deletes` (60 s by
//! default): a scanned copy of a deleted item must reach the index within that time, which it
//! does in a healthy run since the pipeline writes what it reads within seconds.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue as DynamoValue;
use aws_sdk_dynamodbstreams::Client as StreamsClient;
use aws_sdk_dynamodbstreams::types::{
    AttributeValue as StreamValue, OperationType, Record, ShardIteratorType, StreamViewType,
};
use serde_json::json;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::item::Item;
use crate::checkpoint::Ticket;
use crate::entities::Entity;
use crate::sink::batch::Batch;
use crate::sink::bulk;
use crate::sink::client::SearchClient;
use crate::sink::retry::RetryPolicy;

/// How long the background task waits after a round that returned nothing.
pub const IDLE_POLL: Duration = Duration::from_millis(200);
/// How often the stream is described again to find new shards.
const DESCRIBE_EVERY: Duration = Duration::from_secs(5);
/// The most records one `GetRecords` call is asked for (its maximum).
const RECORDS_PER_CALL: i32 = 1000;
/// `GetRecords` answers at most 1 MB; an item is at most 400 KB.
const ANSWER_BYTES: i64 = 1 << 20;
const MAX_RECORD_BYTES: i64 = 400 << 10;
/// The most pages `DescribeStream` is asked for in one description.
const MAX_DESCRIBE_PAGES: usize = 1000;

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

fn error(
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

/// Where the tail is in the stream: the shards seen and an iterator for each one still read.
struct Shards {
    client: StreamsClient,
    arn: String,
    /// Every shard seen, open or not.
    known: HashSet<String>,
    /// The iterator of each shard still being read.
    iterators: HashMap<String, String>,
    described: Instant,
}

struct State {
    shards: Shards,
    entity: &'static dyn Entity,
    search: SearchClient,
    index: String,
    retry: RetryPolicy,
    stats: TailStats,
    failure: Option<String>,
}

/// A stream with `LATEST` iterators taken on its open shards and nothing read yet: opened before
/// a scan starts, and tailed ([`OpenedStream::tail`]) once the index to write into is known.
/// Iterators stay valid for 15 minutes.
pub struct OpenedStream(Shards);

impl OpenedStream {
    /// Takes `LATEST` iterators on the stream's open shards: every write from now on is read.
    pub async fn open(client: StreamsClient, arn: &str) -> Result<OpenedStream, StreamError> {
        let mut shards = Shards {
            client,
            arn: arn.to_owned(),
            known: HashSet::new(),
            iterators: HashMap::new(),
            described: Instant::now(),
        };
        shards.discover(ShardIteratorType::Latest).await?;
        Ok(OpenedStream(shards))
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

    /// Reads and applies records up to the present: until, in one round that started at least
    /// `settle` after this call (writes acknowledged just before it may take that long to appear
    /// in the stream), every shard answered all it had (an empty answer included) or a record
    /// made at or after that moment. Writes keep coming on a busy table, so waiting for a round
    /// with no records at all might never end.
    /// Gives up after `limit` (the tail keeps running) and says so with `Ok(false)`.
    pub async fn drain(&self, settle: Duration, limit: Duration) -> Result<bool, StreamError> {
        let began = Instant::now();
        let target = SystemTime::now() + settle;
        loop {
            let round_started = Instant::now();
            let (records, caught_up) = {
                let mut state = self.state.lock().await;
                state.check()?;
                let round = state.round(Some(target)).await;
                if let Err(e) = &round {
                    state.failure = Some(e.to_string());
                    self.failed.cancel();
                }
                round?
            };
            if caught_up && round_started.duration_since(began) >= settle {
                return Ok(true);
            }
            if began.elapsed() >= limit {
                return Ok(false);
            }
            if records == 0 {
                tokio::time::sleep(IDLE_POLL.min(settle.max(Duration::from_millis(10)))).await;
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
            match state.round(None).await {
                Ok((records, _)) => records,
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

impl Shards {
    /// Describes the stream and takes an iterator of type `kind` on every open shard not seen
    /// before.
    async fn discover(&mut self, kind: ShardIteratorType) -> Result<(), StreamError> {
        let mut start: Option<String> = None;
        for _ in 0..MAX_DESCRIBE_PAGES {
            let output = self
                .client
                .describe_stream()
                .stream_arn(&self.arn)
                .set_exclusive_start_shard_id(start.take())
                .send()
                .await
                .map_err(|e| error(&self.arn, "DescribeStream", e))?;
            let Some(description) = output.stream_description() else {
                break;
            };
            for shard in description.shards() {
                let Some(id) = shard.shard_id() else { continue };
                if !self.known.insert(id.to_owned()) {
                    continue;
                }
                let open = shard
                    .sequence_number_range()
                    .is_none_or(|r| r.ending_sequence_number().is_none());
                // At the start only open shards matter (closed ones hold the past); a shard
                // found later holds writes made since, closed or not.
                if !open && kind == ShardIteratorType::Latest {
                    continue;
                }
                let iterator = self
                    .client
                    .get_shard_iterator()
                    .stream_arn(&self.arn)
                    .shard_id(id)
                    .shard_iterator_type(kind.clone())
                    .send()
                    .await
                    .map_err(|e| error(&self.arn, "GetShardIterator", e))?;
                if let Some(iterator) = iterator.shard_iterator() {
                    self.iterators.insert(id.to_owned(), iterator.to_owned());
                }
            }
            match description.last_evaluated_shard_id() {
                Some(last) => start = Some(last.to_owned()),
                None => break,
            }
        }
        self.described = Instant::now();
        Ok(())
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

    /// One `GetRecords` per shard being read; applies what came. Returns how many records came,
    /// and whether every shard has caught up with `target`: its answer reached the shard's end
    /// at the time of the call ([`at_tip`]), or its last record was made at or after `target`.
    async fn round(&mut self, target: Option<SystemTime>) -> Result<(u64, bool), StreamError> {
        if self.shards.described.elapsed() >= DESCRIBE_EVERY {
            self.shards.discover(ShardIteratorType::TrimHorizon).await?;
        }
        let mut records = Vec::new();
        let mut caught_up = true;
        let shards: Vec<(String, String)> = self
            .shards
            .iterators
            .iter()
            .map(|(shard, iterator)| (shard.clone(), iterator.clone()))
            .collect();
        for (shard, iterator) in shards {
            let output = self
                .shards
                .client
                .get_records()
                .shard_iterator(iterator)
                .limit(RECORDS_PER_CALL)
                .send()
                .await
                .map_err(|e| error(&self.shards.arn, "GetRecords", e))?;
            match output.next_shard_iterator() {
                Some(next) => {
                    self.shards.iterators.insert(shard, next.to_owned());
                }
                None => {
                    tracing::debug!(shard = %shard, "stream shard closed and read to its end");
                    self.shards.iterators.remove(&shard);
                }
            }
            let page = output.records.unwrap_or_default();
            if let Some(target) = target {
                caught_up &= at_tip(&page) || made_since(&page, target);
            }
            records.extend(page);
        }
        let count = records.len() as u64;
        if count > 0 {
            self.apply(&records).await?;
        }
        Ok((count, caught_up))
    }

    /// Writes the records' effects to the index, with external versions.
    async fn apply(&mut self, records: &[Record]) -> Result<(), StreamError> {
        let ticket = Ticket {
            segment: 0,
            page: 0,
        };
        let mut batch = Batch::default();
        for record in records {
            match action(self.entity, &self.index, record) {
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
                } else {
                    tracing::warn!(id = %rejection.id, status = rejection.status, error_type = %rejection.error_type, reason = %rejection.reason, "the cluster refused a stream record");
                    self.stats.failed += 1;
                }
            }
        }
        Ok(())
    }
}

/// Whether a `GetRecords` answer holds everything its shard had at the time: neither the record
/// limit nor the 1 MB limit can have cut it short.
fn at_tip(page: &[Record]) -> bool {
    let bytes: i64 = page
        .iter()
        .filter_map(|r| r.dynamodb().and_then(|d| d.size_bytes()))
        .sum();
    page.len() < RECORDS_PER_CALL as usize && bytes + MAX_RECORD_BYTES < ANSWER_BYTES
}

/// Whether the last record of an answer was made at or after `target`. Stream times are rounded
/// down (to the second on AWS, to the minute on DynamoDB Local), so such a record was.
fn made_since(page: &[Record], target: SystemTime) -> bool {
    page.last()
        .and_then(|r| r.dynamodb())
        .and_then(|d| d.approximate_creation_date_time())
        .and_then(|t| SystemTime::try_from(*t).ok())
        .is_some_and(|made| made >= target)
}

/// One bulk action: the document id, the action line, and the source line (none for a delete).
type Action = (String, serde_json::Value, Option<Vec<u8>>);

/// The bulk action for one record, `None` for records that change nothing, `Err` for a record
/// whose image cannot be read.
fn action(entity: &dyn Entity, index: &str, record: &Record) -> Result<Option<Action>, String> {
    let Some(data) = record.dynamodb() else {
        return Ok(None);
    };
    match record.event_name() {
        Some(OperationType::Insert | OperationType::Modify) => {
            let image = data
                .new_image()
                .ok_or("an INSERT or MODIFY record without its new image")?;
            let doc = entity
                .to_document(&to_item(image))
                .map_err(|e| e.to_string())?;
            let mut meta = json!({ "_index": index, "_id": doc.id });
            if let Some(version) = doc.version {
                meta["version"] = json!(version);
                meta["version_type"] = json!("external");
            }
            Ok(Some((doc.id, json!({ "index": meta }), Some(doc.body))))
        }
        Some(OperationType::Remove) => {
            let image = data
                .old_image()
                .ok_or("a REMOVE record without its old image")?;
            let doc = entity
                .to_document(&to_item(image))
                .map_err(|e| e.to_string())?;
            let mut meta = json!({ "_index": index, "_id": doc.id });
            // The delete is newer than the version it removed.
            if let Some(version) = doc.version.and_then(|v| v.checked_add(1)) {
                meta["version"] = json!(version);
                meta["version_type"] = json!("external");
            }
            Ok(Some((doc.id, json!({ "delete": meta }), None)))
        }
        _ => Ok(None),
    }
}

/// A stream image as a DynamoDB item (the two SDKs have their own, identical, value types).
pub fn to_item(image: &HashMap<String, StreamValue>) -> Item {
    image
        .iter()
        .map(|(name, value)| (name.clone(), to_value(value)))
        .collect()
}

fn to_value(value: &StreamValue) -> DynamoValue {
    match value {
        StreamValue::S(s) => DynamoValue::S(s.clone()),
        StreamValue::N(n) => DynamoValue::N(n.clone()),
        StreamValue::B(b) => DynamoValue::B(b.clone()),
        StreamValue::Bool(b) => DynamoValue::Bool(*b),
        StreamValue::Null(b) => DynamoValue::Null(*b),
        StreamValue::Ss(v) => DynamoValue::Ss(v.clone()),
        StreamValue::Ns(v) => DynamoValue::Ns(v.clone()),
        StreamValue::Bs(v) => DynamoValue::Bs(v.clone()),
        StreamValue::L(v) => DynamoValue::L(v.iter().map(to_value).collect()),
        StreamValue::M(m) => DynamoValue::M(to_item(m)),
        _ => DynamoValue::Null(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::types::StreamRecord;

    fn image(id: &str, version: Option<&str>) -> HashMap<String, StreamValue> {
        let mut image = HashMap::new();
        image.insert("id".to_owned(), StreamValue::S(id.to_owned()));
        image.insert("firstname".to_owned(), StreamValue::S("Ann".to_owned()));
        image.insert("surname".to_owned(), StreamValue::S("Lee".to_owned()));
        if let Some(version) = version {
            image.insert(
                "versionNumber".to_owned(),
                StreamValue::N(version.to_owned()),
            );
        }
        image
    }

    fn record(kind: OperationType, new: Option<&str>, old: Option<&str>) -> Record {
        let data = StreamRecord::builder()
            .set_new_image(new.map(|v| image("p1", Some(v))))
            .set_old_image(old.map(|v| image("p1", Some(v))))
            .build();
        Record::builder().event_name(kind).dynamodb(data).build()
    }

    #[test]
    fn writes_carry_the_item_version_and_deletes_the_next_one() {
        let persons = crate::entities::by_name("persons").expect("registered");
        let (id, action, body) = action(
            persons,
            "idx",
            &record(OperationType::Modify, Some("7"), Some("6")),
        )
        .expect("maps")
        .expect("an action");
        assert_eq!(id, "p1");
        assert_eq!(
            action,
            json!({"index": {"_index": "idx", "_id": "p1", "version": 7, "version_type": "external"}})
        );
        assert!(body.is_some());
        let (_, action, body) = action_of(persons, &record(OperationType::Remove, None, Some("7")));
        assert_eq!(
            action,
            json!({"delete": {"_index": "idx", "_id": "p1", "version": 8, "version_type": "external"}})
        );
        assert!(body.is_none());
    }

    fn action_of(entity: &dyn Entity, record: &Record) -> Action {
        action(entity, "idx", record)
            .expect("maps")
            .expect("an action")
    }

    #[test]
    fn an_unversioned_item_is_written_without_external_versioning() {
        let persons = crate::entities::by_name("persons").expect("registered");
        let data = StreamRecord::builder()
            .set_new_image(Some(image("p2", None)))
            .build();
        let record = Record::builder()
            .event_name(OperationType::Insert)
            .dynamodb(data)
            .build();
        let (_, action, _) = action_of(persons, &record);
        assert_eq!(action, json!({"index": {"_index": "idx", "_id": "p2"}}));
    }

    #[test]
    fn an_answer_is_at_the_tip_unless_a_limit_may_have_cut_it() {
        let sized = |bytes: i64| {
            Record::builder()
                .dynamodb(StreamRecord::builder().size_bytes(bytes).build())
                .build()
        };
        assert!(at_tip(&[]));
        assert!(at_tip(&[sized(1000), sized(2000)]));
        assert!(!at_tip(&vec![sized(10); RECORDS_PER_CALL as usize]));
        assert!(!at_tip(&[sized(700 << 10)]));
    }

    #[test]
    fn nested_stream_values_become_dynamodb_values() {
        let mut inner = HashMap::new();
        inner.insert("n".to_owned(), StreamValue::N("1.50".to_owned()));
        let value = StreamValue::L(vec![StreamValue::M(inner), StreamValue::Bool(true)]);
        let mut expected = HashMap::new();
        expected.insert("n".to_owned(), DynamoValue::N("1.50".to_owned()));
        assert_eq!(
            to_value(&value),
            DynamoValue::L(vec![DynamoValue::M(expected), DynamoValue::Bool(true)])
        );
    }
}
