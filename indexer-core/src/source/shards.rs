//! The shards of a stream a tail reads: which it has seen, an iterator for each one still being
//! read, their parents, which are closed, and where the tail stands in each ([`Book`]).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use aws_sdk_dynamodbstreams::Client as StreamsClient;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;

use super::positions::{Book, Resume, Standing};
use super::stream_error::{StreamError, error};

/// The most pages `DescribeStream` is asked for in one description.
const MAX_DESCRIBE_PAGES: usize = 1000;

/// Where to start reading the shards a description finds for the first time.
pub(crate) enum Start<'a> {
    /// At the tip of every open shard (closed ones hold the past): a tail that starts now.
    Latest,
    /// At the start of every shard: shards that appeared since the tail started.
    TrimHorizon,
    /// Where an interrupted run's tails stood; shards born since, from their start.
    Resume(&'a HashMap<String, Resume>),
}

pub(crate) struct Shards {
    pub client: StreamsClient,
    pub arn: String,
    /// Every shard seen, open or not.
    pub known: HashSet<String>,
    /// The iterator of each shard still being read.
    pub iterators: HashMap<String, String>,
    /// Each shard's parent, when it has one.
    pub parents: HashMap<String, String>,
    /// Shards the stream describes as closed (they have an ending sequence number).
    pub closed: HashSet<String>,
    pub described: Instant,
    /// Where the tail stands in each shard, for the job's checkpoints.
    pub book: Book,
}

impl Shards {
    pub fn new(client: StreamsClient, arn: &str) -> Shards {
        Shards {
            client,
            arn: arn.to_owned(),
            known: HashSet::new(),
            iterators: HashMap::new(),
            parents: HashMap::new(),
            closed: HashSet::new(),
            described: Instant::now(),
            book: Book::default(),
        }
    }

    /// Describes the stream and takes an iterator, as `start` says, on every shard not seen
    /// before. Returns the shards whose saved position (with [`Start::Resume`]) is past the
    /// stream's retention: they are read from their oldest record still kept.
    pub async fn discover(&mut self, start: Start<'_>) -> Result<Vec<String>, StreamError> {
        let mut gaps = Vec::new();
        let mut cursor: Option<String> = None;
        let mut listed: HashSet<String> = HashSet::new();
        let mut complete = false;
        for _ in 0..MAX_DESCRIBE_PAGES {
            let output = self
                .client
                .describe_stream()
                .stream_arn(&self.arn)
                .set_exclusive_start_shard_id(cursor.take())
                .send()
                .await
                .map_err(|e| error(&self.arn, "DescribeStream", e))?;
            let Some(description) = output.stream_description() else {
                break;
            };
            for shard in description.shards() {
                let Some(id) = shard.shard_id() else { continue };
                listed.insert(id.to_owned());
                let open = shard
                    .sequence_number_range()
                    .is_none_or(|r| r.ending_sequence_number().is_none());
                if !open {
                    self.closed.insert(id.to_owned());
                }
                let parent = shard.parent_shard_id();
                if let Some(parent) = parent {
                    self.parents.insert(id.to_owned(), parent.to_owned());
                }
                if !self.known.insert(id.to_owned()) {
                    continue;
                }
                let kind = match &start {
                    Start::Latest if open => (ShardIteratorType::Latest, None),
                    // At the start only open shards matter: closed ones hold the past.
                    Start::Latest => continue,
                    Start::TrimHorizon => (ShardIteratorType::TrimHorizon, None),
                    Start::Resume(points) => match points.get(id) {
                        Some(Resume::Ended) => {
                            self.book.ended(id);
                            continue;
                        }
                        Some(Resume::At(sequence)) => {
                            (ShardIteratorType::AtSequenceNumber, Some(sequence.clone()))
                        }
                        Some(Resume::FromStart) => (ShardIteratorType::TrimHorizon, None),
                        // Born while the run was stopped (open, or a descendant — through
                        // any number of splits — of a shard it read): from its start. Other
                        // closed shards hold the past.
                        None if open || descends_from(&self.parents, id, points) => {
                            (ShardIteratorType::TrimHorizon, None)
                        }
                        None => continue,
                    },
                };
                let iterator = match self.iterator(id, kind.0, kind.1.clone()).await {
                    Err(e) if kind.1.is_some() && is_trimmed(&e) => {
                        gaps.push(id.to_owned());
                        self.iterator(id, ShardIteratorType::TrimHorizon, None)
                            .await
                    }
                    other => other,
                }
                .map_err(|e| error(&self.arn, "GetShardIterator", e))?;
                if let Some(iterator) = iterator {
                    match &kind.1 {
                        Some(sequence) if !gaps.iter().any(|g| g == id) => {
                            self.book.resumed(id, sequence)
                        }
                        _ => self.book.reading(id),
                    }
                    self.iterators.insert(id.to_owned(), iterator);
                }
            }
            match description.last_evaluated_shard_id() {
                Some(last) => cursor = Some(last.to_owned()),
                None => {
                    complete = true;
                    break;
                }
            }
        }
        if complete {
            self.forget_gone(&listed);
        }
        self.described = Instant::now();
        Ok(gaps)
    }

    /// Forgets the shards the stream no longer lists (past its 24-hour retention) that are not
    /// being read, so a reader that runs for weeks while DynamoDB rotates shards keeps only a
    /// day's worth. Their positions go too when they were read to their end; one that was not
    /// stays, so a resume still says its records are missing.
    fn forget_gone(&mut self, listed: &HashSet<String>) {
        let gone: Vec<String> = self
            .known
            .iter()
            .filter(|shard| !listed.contains(*shard) && !self.iterators.contains_key(*shard))
            .cloned()
            .collect();
        for shard in &gone {
            self.known.remove(shard);
            self.parents.remove(shard);
            self.closed.remove(shard);
            self.book.forget_ended(shard);
        }
    }

    /// A fresh iterator on `shard` where the tail stands in it (see [`Book::standing`]).
    pub async fn iterator_again(&self, shard: &str) -> Result<String, StreamError> {
        let (kind, sequence) = match self.book.standing(shard) {
            Standing::After(last) => (ShardIteratorType::AfterSequenceNumber, Some(last)),
            Standing::At(from) => (ShardIteratorType::AtSequenceNumber, Some(from)),
            Standing::FromStart => (ShardIteratorType::TrimHorizon, None),
        };
        self.iterator(shard, kind, sequence)
            .await
            .map_err(|e| error(&self.arn, "GetShardIterator", e))?
            .ok_or_else(|| StreamError {
                stream: self.arn.clone(),
                op: "GetShardIterator",
                message: format!("no iterator was given for shard {shard}"),
            })
    }

    async fn iterator(
        &self,
        shard: &str,
        kind: ShardIteratorType,
        sequence: Option<String>,
    ) -> Result<Option<String>, IteratorError> {
        let output = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .set_sequence_number(sequence)
            .send()
            .await?;
        Ok(output.shard_iterator)
    }
}

type IteratorError = aws_sdk_dynamodbstreams::error::SdkError<
    aws_sdk_dynamodbstreams::operation::get_shard_iterator::GetShardIteratorError,
>;

/// The saved position is no longer in the stream (past its 24-hour retention).
fn is_trimmed(error: &IteratorError) -> bool {
    error.as_service_error().is_some_and(|e| {
        e.is_trimmed_data_access_exception() || e.is_resource_not_found_exception()
    })
}

/// Whether shard `id` descends, through any number of generations, from a shard in `saved`.
fn descends_from<T>(
    parents: &std::collections::HashMap<String, String>,
    id: &str,
    saved: &std::collections::HashMap<String, T>,
) -> bool {
    let mut at = parents.get(id);
    // Bounded: a listing cannot make a cycle, but a corrupt one must not hang the run.
    for _ in 0..10_000 {
        match at {
            Some(parent) if saved.contains_key(parent) => return true,
            Some(parent) => at = parents.get(parent),
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod descent_tests {
    use std::collections::HashMap;

    #[test]
    fn a_shard_born_generations_after_a_saved_one_is_read() {
        let parents: HashMap<String, String> = [("c1", "s"), ("c2", "c1"), ("c3", "c2")]
            .iter()
            .map(|(c, p)| ((*c).to_owned(), (*p).to_owned()))
            .collect();
        let saved: HashMap<String, ()> = [("s".to_owned(), ())].into();
        for shard in ["c1", "c2", "c3"] {
            assert!(super::descends_from(&parents, shard, &saved), "{shard}");
        }
        assert!(!super::descends_from(&parents, "s", &saved));
        assert!(!super::descends_from(&parents, "other", &saved));
    }
}

#[cfg(test)]
mod retention_tests {
    use std::collections::HashSet;

    use super::Shards;

    fn shards() -> Shards {
        let config = aws_sdk_dynamodbstreams::Config::builder()
            .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
            .build();
        Shards::new(
            aws_sdk_dynamodbstreams::Client::from_conf(config),
            "arn:stream",
        )
    }

    #[test]
    fn shards_past_the_retention_are_forgotten_unless_still_read_or_unfinished() {
        let mut shards = shards();
        for (shard, parent) in [("old", None), ("mid", Some("old")), ("new", Some("mid"))] {
            shards.known.insert(shard.to_owned());
            if let Some(parent) = parent {
                shards.parents.insert(shard.to_owned(), parent.to_owned());
            }
        }
        shards.known.insert("unfinished".to_owned());
        shards.known.insert("reading".to_owned());
        shards
            .iterators
            .insert("reading".to_owned(), "it".to_owned());
        shards.iterators.insert("new".to_owned(), "it".to_owned());
        for shard in ["old", "mid"] {
            shards.closed.insert(shard.to_owned());
            shards.book.applied(shard, 1, "1");
            shards.book.ended(shard);
        }
        shards.book.applied("unfinished", 1, "7");
        // The stream lists only "mid" and "new" now.
        let listed: HashSet<String> = ["mid", "new"].iter().map(|s| (*s).to_owned()).collect();
        shards.forget_gone(&listed);
        let mut known: Vec<_> = shards.known.iter().cloned().collect();
        known.sort();
        assert_eq!(known, ["mid", "new", "reading"]);
        assert!(!shards.closed.contains("old") && shards.closed.contains("mid"));
        let saved: Vec<String> = shards
            .book
            .snapshot(0)
            .into_iter()
            .map(|p| p.shard)
            .collect();
        // "old" ended and is gone; "unfinished" is gone but was not read to its end: it stays.
        assert!(!saved.contains(&"old".to_owned()), "{saved:?}");
        assert!(saved.contains(&"unfinished".to_owned()) && saved.contains(&"mid".to_owned()));
    }
}
