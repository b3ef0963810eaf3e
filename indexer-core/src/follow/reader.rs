//! Reading a stream and applying its records, one step at a time, for a follower.
//!
//! A step reads one page from every shard that may be read now (a child only once its parent is
//! read to its end, see [`crate::source::catchup::readable`]), turns the records into versioned
//! bulk actions once (see [`crate::source::records`]: the stream band, in stream order), and
//! holds them as the *pending* step until every action has a durable verdict: acknowledged by
//! the cluster (a 409 means a newer copy is there), or dead-lettered and committed. Only then do
//! the shards' positions ([`crate::source::positions::Book`]) move past those records. A step
//! whose writes cannot get through (the cluster is down, the alias names no single index) stays
//! pending and is sent again; nothing more is read meanwhile, so memory stays bounded by one
//! step. The positions saved leave out the shards that ended and whose children carry on
//! ([`super::prune::prune`]), so the follower's record does not grow as DynamoDB rotates shards.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodbstreams::Client as StreamsClient;
use aws_sdk_dynamodbstreams::types::Record;

use super::prune::prune;
use crate::checkpoint::Ticket;
use crate::deadletter::{DeadLetters, Group};
use crate::entities::Entity;
use crate::error::Error;
use crate::sink::adaptive::Aimd;
use crate::sink::batch::Batch;
use crate::sink::bulk;
use crate::sink::client::SearchClient;
use crate::sink::retry::{RetryPolicy, is_retriable_status};
use crate::sink::version::StreamClock;
use crate::source::catchup;
use crate::source::positions::{Resume, StreamPosition, resume_points};
use crate::source::records::{Action, action, to_item};
use crate::source::shards::{Shards, Start};
use crate::source::stream::StreamError;

/// How often the stream is described again to find new shards.
const DESCRIBE_EVERY: Duration = Duration::from_secs(5);
/// The most records one `GetRecords` call is asked for (its maximum).
const RECORDS_PER_CALL: i32 = 1000;
/// The most actions in one bulk request.
const ACTIONS_PER_REQUEST: usize = 500;

/// What a follower did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Records whose write or delete the cluster acknowledged (or made moot with a newer copy).
    pub applied: u64,
    /// Records dead-lettered: unmappable, or refused by the cluster for good.
    pub dead_lettered: u64,
}

/// Where a step's writes go.
pub struct Sink<'a> {
    pub search: &'a SearchClient,
    /// The index the alias names now.
    pub index: &'a str,
    pub retry: &'a RetryPolicy,
    pub dead: &'a DeadLetters,
}

/// Records read and turned into actions, waiting for their verdicts.
struct Step {
    /// Each shard's records in stream order: (shard, creation second, sequence number).
    marks: Vec<(String, u64, String)>,
    /// Shards read to their end in this step.
    ended: Vec<String>,
    /// Bulk requests not yet answered; their `_index` is set when sent.
    requests: Vec<Vec<Action>>,
    /// Records that cannot be applied, to dead-letter.
    unmappable: Vec<(String, String, Vec<u8>)>,
    /// The creation time of the oldest record in the step.
    oldest: Option<u64>,
}

/// A stream being followed.
pub struct Reader {
    shards: Shards,
    entity: &'static dyn Entity,
    clock: StreamClock,
    pending: Option<Step>,
    /// Per shard: the creation time of the newest record read, while more may follow.
    behind: HashMap<String, u64>,
    aimd: Aimd,
    pub stats: Applied,
}

impl Reader {
    /// Takes iterators on the stream `arn`: where `saved` positions say (shards born since, and
    /// shards without a position, from their start). Returns the reader and the shards whose
    /// saved position is gone (past the stream's retention, or the shard no longer exists).
    pub async fn open(
        client: StreamsClient,
        arn: &str,
        entity: &'static dyn Entity,
        saved: &[StreamPosition],
        concurrency: usize,
    ) -> Result<(Reader, Vec<String>), StreamError> {
        let mut shards = Shards::new(client, arn);
        let gaps = if saved.is_empty() {
            shards.discover(Start::TrimHorizon).await?;
            Vec::new()
        } else {
            let points = resume_points(saved);
            let mut gaps = shards.discover(Start::Resume(&points)).await?;
            for (shard, point) in &points {
                if *point != Resume::Ended && !shards.known.contains(shard) && !gaps.contains(shard)
                {
                    gaps.push(shard.clone());
                }
            }
            gaps.sort();
            gaps
        };
        let reader = Reader {
            shards,
            entity,
            clock: StreamClock::default(),
            pending: None,
            behind: HashMap::new(),
            aimd: Aimd::new(concurrency.max(1)),
            stats: Applied::default(),
        };
        Ok((reader, gaps))
    }

    /// The stream read.
    pub fn arn(&self) -> &str {
        &self.shards.arn
    }

    /// The positions to save: the book's, without the ended shards whose children carry on
    /// (see [`super::prune::prune`]).
    pub fn positions(&self) -> Vec<StreamPosition> {
        prune(self.shards.book.snapshot(0), &self.shards.parents)
    }

    /// Whether records read wait for their verdicts.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Age in seconds of the oldest record not yet applied, per shard (0 for a shard caught up).
    pub fn lag(&self, now_secs: u64) -> BTreeMap<String, f64> {
        let mut out: BTreeMap<String, f64> = self
            .shards
            .iterators
            .keys()
            .map(|shard| {
                let behind = self
                    .behind
                    .get(shard)
                    .map_or(0, |t| now_secs.saturating_sub(*t));
                (shard.clone(), behind as f64)
            })
            .collect();
        if let Some(step) = &self.pending
            && let Some(oldest) = step.oldest
        {
            let age = now_secs.saturating_sub(oldest) as f64;
            for (shard, _, _) in &step.marks {
                let entry = out.entry(shard.clone()).or_insert(0.0);
                *entry = entry.max(age);
            }
        }
        out
    }

    /// Reads one page from every readable shard, unless a step is pending. Returns how many
    /// records came.
    pub async fn read(&mut self) -> Result<u64, StreamError> {
        if self.pending.is_some() {
            return Ok(0);
        }
        if self.shards.described.elapsed() >= DESCRIBE_EVERY {
            self.shards.discover(Start::TrimHorizon).await?;
        }
        let mut records: Vec<(String, Record)> = Vec::new();
        let mut ended = Vec::new();
        let mut moves = Vec::new();
        for shard in catchup::readable(self.shards.iterators.keys(), &self.shards.parents) {
            let Some(iterator) = self.shards.iterators.get(&shard).cloned() else {
                continue;
            };
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
                // Throttled or a passing server error: read the shard again next step.
                Err(e)
                    if e.as_service_error().is_some_and(|s| {
                        s.is_limit_exceeded_exception() || s.is_internal_server_error()
                    }) =>
                {
                    tracing::warn!(shard = %shard, error = %crate::logging::cause_chain(&e), "the stream refused a read for now; reading the shard again shortly");
                    continue;
                }
                Err(e) => return Err(stream_error(&self.shards.arn, "GetRecords", &e)),
            };
            let page = output.records.unwrap_or_default();
            // Applied to the shards only once every shard's read succeeded: a read that fails
            // part-way leaves every iterator where it was, so nothing read is skipped.
            moves.push((
                shard.clone(),
                output.next_shard_iterator,
                page.last().and_then(created),
            ));
            records.extend(page.into_iter().map(|record| (shard.clone(), record)));
        }
        for (shard, next, newest) in moves {
            match next {
                Some(next) => {
                    self.shards.iterators.insert(shard.clone(), next);
                }
                None => {
                    self.shards.iterators.remove(&shard);
                    ended.push(shard.clone());
                }
            }
            // A shard read to its end is behind by nothing more than its pending records.
            match newest {
                Some(newest) if self.shards.iterators.contains_key(&shard) => {
                    self.behind.insert(shard, newest);
                }
                _ => {
                    self.behind.remove(&shard);
                }
            }
        }
        let count = records.len() as u64;
        if count > 0 || !ended.is_empty() {
            self.pending = Some(self.prepare(records, ended));
        }
        Ok(count)
    }

    /// Turns records into bulk actions, versioned once (a step sent again keeps its versions).
    fn prepare(&mut self, records: Vec<(String, Record)>, ended: Vec<String>) -> Step {
        let mut step = Step {
            marks: Vec::new(),
            ended,
            requests: Vec::new(),
            unmappable: Vec::new(),
            oldest: None,
        };
        let mut actions = Vec::new();
        for (shard, record) in &records {
            let second = created(record).unwrap_or(0);
            step.oldest = Some(step.oldest.map_or(second, |o| o.min(second)));
            if let Some(sequence) = record.dynamodb().and_then(|d| d.sequence_number()) {
                step.marks
                    .push((shard.clone(), second, sequence.to_owned()));
            }
            // The index is named when the step is sent: the alias may move meanwhile.
            match action(self.entity, "", &mut self.clock, record) {
                Ok(Some(one)) => actions.push(one),
                Ok(None) => {}
                Err(reason) => {
                    let (id, image) = describe(record);
                    tracing::warn!(id = %id, reason = %reason, "a stream record cannot be applied; dead-lettered");
                    step.unmappable.push((id, reason, image));
                }
            }
        }
        let mut requests = Vec::new();
        let mut rest = actions.into_iter().peekable();
        while rest.peek().is_some() {
            requests.push(rest.by_ref().take(ACTIONS_PER_REQUEST).collect());
        }
        step.requests = requests;
        step
    }

    /// Sends the pending step's writes to `sink.index`, at most the adaptive limit of requests at
    /// once. Once every record has a durable verdict, the positions move past them; a request
    /// that cannot get through leaves the rest of the step pending (`Err`).
    pub async fn apply(&mut self, sink: &Sink<'_>) -> Result<(), Error> {
        let Some(step) = self.pending.as_mut() else {
            return Ok(());
        };
        let mut failed = Group::new();
        for (id, reason, image) in step.unmappable.drain(..) {
            failed.document_failure("map", &id, None, "unmappable", &reason, &image)?;
        }
        let unmappable = failed.len();
        sink.dead.commit(failed).await?;
        self.stats.dead_lettered += unmappable;
        while !step.requests.is_empty() {
            let take = self.aimd.limit().min(step.requests.len());
            let wave: Vec<_> = step.requests.drain(..take).collect();
            let mut sends = tokio::task::JoinSet::new();
            for (n, actions) in wave.iter().enumerate() {
                let batch = batch_for(sink.index, actions);
                let (search, retry) = (sink.search.clone(), *sink.retry);
                sends.spawn(async move { (n, bulk::send(&search, batch, &retry).await) });
            }
            let mut answers: Vec<_> = sends.join_all().await;
            answers.sort_by_key(|(n, _)| *n);
            let answers = answers.into_iter().map(|(_, answer)| answer);
            let mut error = None;
            for (actions, answer) in wave.into_iter().zip(answers) {
                match answer {
                    Ok(outcome) => {
                        if let Some(signal) = outcome.signal {
                            self.aimd.observe(signal);
                        }
                        self.stats.applied += outcome.indexed.len() as u64;
                        let mut refused = Group::new();
                        let mut again: Vec<Action> = Vec::new();
                        for rejection in &outcome.rejected {
                            // A delete of a document that is not there is done.
                            if rejection.status == 404 && rejection.document.is_empty() {
                                self.stats.applied += 1;
                                continue;
                            }
                            // Refused for now (overloaded, or a passing error) past the retries:
                            // not a verdict. Its actions wait with the step and are sent again
                            // (at the versions they have, so none can undo a later one).
                            if is_retriable_status(rejection.status)
                                || rejection.error_type == "retries_exhausted"
                            {
                                again.extend(
                                    actions.iter().filter(|a| a.0 == rejection.id).cloned(),
                                );
                                continue;
                            }
                            tracing::warn!(id = %rejection.id, status = rejection.status, error_type = %rejection.error_type, reason = %rejection.reason, "the cluster refused a stream record; dead-lettered");
                            refused.document_failure(
                                "bulk",
                                &rejection.id,
                                Some(rejection.status),
                                &rejection.error_type,
                                &rejection.reason,
                                &rejection.document,
                            )?;
                        }
                        let count = refused.len();
                        sink.dead.commit(refused).await?;
                        self.stats.dead_lettered += count;
                        if !again.is_empty() {
                            self.aimd.observe(crate::sink::adaptive::Signal::Pressure);
                            again.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
                            let waiting = again.len();
                            step.requests.push(again);
                            error = Some(crate::sink::client::SinkError::Status {
                                op: "applying the stream's records".into(),
                                status: 429,
                                reason: format!(
                                    "the cluster kept refusing {waiting} writes for now past the retries; they wait and are sent again"
                                ),
                                error_type: "retries_exhausted".into(),
                            });
                        }
                    }
                    Err(e) => {
                        self.aimd.observe(crate::sink::adaptive::Signal::Pressure);
                        step.requests.push(actions);
                        error = Some(e);
                    }
                }
            }
            if let Some(e) = error {
                return Err(e.into());
            }
        }
        let Some(step) = self.pending.take() else {
            return Ok(());
        };
        for (shard, second, sequence) in &step.marks {
            self.shards.book.applied(shard, *second, sequence);
        }
        for shard in &step.ended {
            self.shards.book.ended(shard);
        }
        // Memory stays bounded however long the follower runs: the clock forgets the items no
        // shard still being read can rank against.
        if let Some(slowest) = self
            .shards
            .book
            .slowest_second(self.shards.iterators.keys())
        {
            self.clock.forget_before(slowest);
        }
        if !step.ended.is_empty() {
            // A shard read to its end has children: read them from their start.
            self.shards
                .discover(Start::TrimHorizon)
                .await
                .map_err(Error::from)?;
        }
        Ok(())
    }
}

/// One bulk request's body, every action aimed at `index`.
fn batch_for(index: &str, actions: &[Action]) -> Batch {
    let ticket = Ticket {
        segment: 0,
        page: 0,
    };
    let mut batch = Batch::default();
    for (id, action, body) in actions {
        let mut action = action.clone();
        if let Some(meta) = action.as_object_mut().and_then(|o| o.values_mut().next()) {
            meta["_index"] = serde_json::json!(index);
        }
        batch.push_action(id, ticket, &action, body.as_deref());
    }
    batch
}

/// A record's creation time in Unix seconds.
fn created(record: &Record) -> Option<u64> {
    record
        .dynamodb()
        .and_then(|d| d.approximate_creation_date_time())
        .and_then(|t| u64::try_from(t.secs()).ok())
}

/// What names an unmappable record in its dead letter: its keys (or sequence number), and its
/// image as DynamoDB JSON.
fn describe(record: &Record) -> (String, Vec<u8>) {
    let data = record.dynamodb();
    let id = data
        .and_then(|d| d.keys())
        .and_then(|keys| keys.get("id"))
        .and_then(|v| v.as_s().ok())
        .cloned()
        .or_else(|| {
            data.and_then(|d| d.sequence_number())
                .map(|s| format!("sequence {s}"))
        })
        .unwrap_or_else(|| "<unknown>".to_owned());
    let image = data
        .and_then(|d| d.new_image().or(d.old_image()))
        .map(|image| crate::source::item::to_dynamo_json(&to_item(image)).to_string())
        .unwrap_or_else(|| "null".to_owned());
    (id, image.into_bytes())
}

fn stream_error(arn: &str, op: &'static str, err: &dyn std::error::Error) -> StreamError {
    StreamError {
        stream: arn.to_owned(),
        op,
        message: crate::logging::cause_chain(err),
    }
}
