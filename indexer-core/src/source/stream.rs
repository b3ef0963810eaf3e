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
use crate::sink::version::StreamClock;

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
    /// Versions the records in stream order.
    clock: StreamClock,
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
            clock: StreamClock::default(),
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
/// whose image cannot be read. Writes and deletes are versioned in the stream band, in stream
/// order (see [`crate::sink::version`]); a delete leaves a tombstone at its version.
fn action(
    entity: &dyn Entity,
    index: &str,
    clock: &mut StreamClock,
    record: &Record,
) -> Result<Option<Action>, String> {
    let Some(data) = record.dynamodb() else {
        return Ok(None);
    };
    let created = data
        .approximate_creation_date_time()
        .map_or(0, |t| u64::try_from(t.secs()).unwrap_or(0));
    let meta = |id: &str, version: u64| json!({ "_index": index, "_id": id, "version": version, "version_type": "external_gte" });
    match record.event_name() {
        Some(OperationType::Insert | OperationType::Modify) => {
            let image = data
                .new_image()
                .ok_or("an INSERT or MODIFY record without its new image")?;
            let doc = entity
                .to_document(&to_item(image))
                .map_err(|e| e.to_string())?;
            let version = clock.next(&doc.id, created);
            Ok(Some((
                doc.id.clone(),
                json!({ "index": meta(&doc.id, version) }),
                Some(doc.body),
            )))
        }
        Some(OperationType::Remove) => {
            // A NEW_IMAGE stream's REMOVE carries only the item's key attributes.
            let id = match (data.old_image(), data.keys()) {
                (Some(old), _) => entity.to_document(&to_item(old)).map(|d| d.id),
                (None, Some(keys)) => entity.id_of(&to_item(keys)),
                (None, None) => return Err("a REMOVE record without its keys".to_owned()),
            }
            .map_err(|e| e.to_string())?;
            let version = clock.next(&id, created);
            Ok(Some((
                id.clone(),
                json!({ "delete": meta(&id, version) }),
                None,
            )))
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
            .approximate_creation_date_time(
                aws_sdk_dynamodbstreams::primitives::DateTime::from_secs(1_000),
            )
            .build();
        Record::builder().event_name(kind).dynamodb(data).build()
    }

    fn action_of(entity: &dyn Entity, clock: &mut StreamClock, record: &Record) -> Action {
        action(entity, "idx", clock, record)
            .expect("maps")
            .expect("an action")
    }

    fn version_of(action: &serde_json::Value) -> u64 {
        let (_, meta) = action
            .as_object()
            .and_then(|o| o.iter().next())
            .expect("one action");
        assert_eq!(meta["version_type"], "external_gte", "{action}");
        meta["version"].as_u64().expect("a version")
    }

    #[test]
    fn stream_writes_outrank_every_scanned_copy_and_apply_in_stream_order() {
        let persons = crate::entities::by_name("persons").expect("registered");
        let mut clock = StreamClock::default();
        let (id, write, body) = action_of(
            persons,
            &mut clock,
            &record(OperationType::Modify, Some("7"), Some("6")),
        );
        assert_eq!(id, "p1");
        assert_eq!(write["index"]["_id"], "p1");
        assert!(body.is_some());
        let (_, delete, body) = action_of(
            persons,
            &mut clock,
            &record(OperationType::Remove, None, Some("7")),
        );
        assert_eq!(delete["delete"]["_id"], "p1");
        assert!(body.is_none());
        let scanned = crate::sink::version::scanned(Some(u64::MAX));
        assert!(version_of(&write) > scanned, "{write}");
        // Both records were made in the same second: the delete still ranks above the write.
        assert!(version_of(&delete) > version_of(&write), "{write} {delete}");
    }

    #[test]
    fn an_unversioned_item_is_ordered_by_the_stream_too() {
        let persons = crate::entities::by_name("persons").expect("registered");
        let data = StreamRecord::builder()
            .set_new_image(Some(image("p2", None)))
            .build();
        let record = Record::builder()
            .event_name(OperationType::Insert)
            .dynamodb(data)
            .build();
        let (_, write, _) = action_of(persons, &mut StreamClock::default(), &record);
        assert!(
            version_of(&write) >= crate::sink::version::STREAM_BAND,
            "{write}"
        );
    }

    #[test]
    fn a_remove_with_only_the_keys_deletes_the_document_they_name() {
        // What a NEW_IMAGE stream sends for a deleted item: its key attributes, no old image.
        let persons = crate::entities::by_name("persons").expect("registered");
        let mut keys = HashMap::new();
        keys.insert("id".to_owned(), StreamValue::S("p3".to_owned()));
        let data = StreamRecord::builder().set_keys(Some(keys)).build();
        let record = Record::builder()
            .event_name(OperationType::Remove)
            .dynamodb(data)
            .build();
        let (id, delete, body) = action_of(persons, &mut StreamClock::default(), &record);
        assert_eq!(id, "p3");
        assert_eq!(delete["delete"]["_id"], "p3");
        assert!(body.is_none());
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
