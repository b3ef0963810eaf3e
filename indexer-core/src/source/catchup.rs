//! When a drain of the stream has caught up, and which shards may be read now.
//!
//! DynamoDB Streams offers no call that tells where a shard ends now, and documents that an
//! answer may be empty while records lie further on ("it might take multiple calls to get to a
//! portion of the shard that contains stream records"). So a drain that began at `target` has
//! caught up when, at least `settle` after it began, every shard still being read is past it:
//!
//! - a **closed** shard only once it is read to its end (`NextShardIterator` null: it leaves the
//!   shards being read);
//! - an **open** shard once it returned a record made at or after `target` (everything before
//!   that record was read), or once its answers have been empty continuously, from a call to a
//!   later one asked at least [`EMPTY_SPAN`] after it (two answers at least: a round slowed by
//!   other shards must not let one empty answer, long ago, stand for the whole span).
//!
//! A child shard is read only once its parent is read to its end, so an item's records apply in
//! stream order across a split.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_dynamodbstreams::types::Record;

/// How long an open shard's answers must stay empty before the drain trusts it has no more.
pub const EMPTY_SPAN: Duration = Duration::from_secs(3);

/// One drain's view of the shards.
#[derive(Debug)]
pub struct Catchup {
    began: Instant,
    target: SystemTime,
    settle: Duration,
    /// Per shard, its current run of empty answers (since the drain began): when the first and
    /// the last of them were asked for.
    empty: HashMap<String, (Instant, Instant)>,
    /// Shards that returned a record made at or after `target`.
    past_target: HashSet<String>,
}

impl Catchup {
    /// A drain beginning at `began` (wall clock `now`), which must catch up with writes made up
    /// to `settle` after it.
    pub fn new(began: Instant, now: SystemTime, settle: Duration) -> Catchup {
        Catchup {
            began,
            target: now + settle,
            settle,
            empty: HashMap::new(),
            past_target: HashSet::new(),
        }
    }

    /// Notes the answer of `shard` to a call made at `asked`.
    pub fn answered(&mut self, shard: &str, asked: Instant, page: &[Record]) {
        if page.is_empty() {
            self.empty
                .entry(shard.to_owned())
                .and_modify(|(_, last)| *last = asked)
                .or_insert((asked, asked));
            return;
        }
        self.empty.remove(shard);
        if made_since(page, self.target) {
            self.past_target.insert(shard.to_owned());
        }
    }

    /// Whether the drain has caught up at `now`, given the shards still being read and whether
    /// each is closed.
    pub fn caught_up<'a>(
        &self,
        reading: impl IntoIterator<Item = (&'a str, bool)>,
        now: Instant,
    ) -> bool {
        if now.duration_since(self.began) < self.settle {
            return false;
        }
        reading.into_iter().all(|(shard, closed)| {
            !closed
                && (self.past_target.contains(shard)
                    || self
                        .empty
                        .get(shard)
                        .is_some_and(|(first, last)| last.duration_since(*first) >= EMPTY_SPAN))
        })
    }
}

/// The shards that may be read now: those whose parent is not still being read.
pub fn readable<'a>(
    reading: impl IntoIterator<Item = &'a String> + Clone,
    parents: &HashMap<String, String>,
) -> Vec<String> {
    let still: HashSet<&String> = reading.clone().into_iter().collect();
    reading
        .into_iter()
        .filter(|shard| {
            parents
                .get(*shard)
                .is_none_or(|parent| !still.contains(parent))
        })
        .cloned()
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::primitives::DateTime;
    use aws_sdk_dynamodbstreams::types::StreamRecord;

    fn made_at(t: SystemTime) -> Record {
        Record::builder()
            .dynamodb(
                StreamRecord::builder()
                    .approximate_creation_date_time(DateTime::from(t))
                    .build(),
            )
            .build()
    }

    #[test]
    fn one_empty_answer_is_not_the_end_of_an_open_shard() {
        let began = Instant::now();
        let mut drain = Catchup::new(began, SystemTime::now(), Duration::ZERO);
        drain.answered("a", began, &[]);
        assert!(!drain.caught_up([("a", false)], began + Duration::from_millis(10)));
        assert!(!drain.caught_up([("a", false)], began + EMPTY_SPAN / 2));
        // Records came after a run of empty answers: the run starts again.
        drain.answered(
            "a",
            began + EMPTY_SPAN / 2,
            &[made_at(SystemTime::UNIX_EPOCH)],
        );
        drain.answered("a", began + EMPTY_SPAN / 2, &[]);
        assert!(!drain.caught_up([("a", false)], began + EMPTY_SPAN));
        // However long ago it was asked, one empty answer is not a span.
        assert!(!drain.caught_up([("a", false)], began + EMPTY_SPAN * 10));
        drain.answered("a", began + EMPTY_SPAN * 3 / 2, &[]);
        assert!(drain.caught_up([("a", false)], began + EMPTY_SPAN * 10));
    }

    #[test]
    fn a_record_made_after_the_drain_began_means_the_shard_is_past_it() {
        let began = Instant::now();
        let now = SystemTime::now();
        let mut drain = Catchup::new(began, now, Duration::ZERO);
        drain.answered("a", began, &[made_at(now - Duration::from_secs(5))]);
        assert!(!drain.caught_up([("a", false)], began));
        drain.answered("a", began, &[made_at(now + Duration::from_secs(1))]);
        assert!(drain.caught_up([("a", false)], began));
        // Every shard being read must be past it.
        assert!(!drain.caught_up([("a", false), ("b", false)], began));
    }

    #[test]
    fn a_closed_shard_is_caught_up_only_once_read_to_its_end() {
        let began = Instant::now();
        let now = SystemTime::now();
        let mut drain = Catchup::new(began, now, Duration::ZERO);
        drain.answered("c", began, &[]);
        drain.answered("c", began + EMPTY_SPAN * 2, &[]);
        drain.answered("c", began, &[made_at(now + Duration::from_secs(1))]);
        assert!(!drain.caught_up([("c", true)], began + EMPTY_SPAN * 2));
        // Read to its end, it is no longer among the shards being read.
        assert!(drain.caught_up(std::iter::empty(), began));
    }

    #[test]
    fn the_drain_lasts_at_least_its_settle_time() {
        let began = Instant::now();
        let drain = Catchup::new(began, SystemTime::now(), Duration::from_secs(1));
        assert!(!drain.caught_up(std::iter::empty(), began));
        assert!(drain.caught_up(std::iter::empty(), began + Duration::from_secs(1)));
    }

    #[test]
    fn children_wait_for_their_parents() {
        let parents: HashMap<String, String> = [
            ("child".to_owned(), "parent".to_owned()),
            ("orphan".to_owned(), "gone".to_owned()),
        ]
        .into_iter()
        .collect();
        let reading = ["parent".to_owned(), "child".to_owned(), "orphan".to_owned()];
        let mut now = readable(reading.iter(), &parents);
        now.sort();
        assert_eq!(now, ["orphan", "parent"]);
        let reading = ["child".to_owned(), "orphan".to_owned()];
        assert_eq!(readable(reading.iter(), &parents).len(), 2);
    }
}
