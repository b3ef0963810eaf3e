//! Where a stream tail stands, saved with the job's checkpoints so a resumed rebuild replays the
//! stream from there: the writes made while the interrupted run was stopped reach the index too.
//!
//! Per shard, the position is the sequence number of the first applied record of the last
//! second the tail applied records of (replayed `AT_SEQUENCE_NUMBER`): a resumed tail reads that
//! second's records again and gives them the versions they had (see
//! [`crate::sink::version::StreamClock`]), so a record it replays never loses to a copy of itself.
//! A shard read to its end is marked ended; a shard being read with nothing applied yet has no
//! sequence number and is replayed from `TRIM_HORIZON`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// One shard's position, as saved in the job record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPosition {
    /// The worker whose tail this is.
    pub worker: u32,
    pub shard: String,
    /// Replay from this sequence number (inclusive); `None`: from the shard's start.
    pub from: Option<String>,
    /// The shard was read to its end.
    #[serde(default)]
    pub ended: bool,
}

/// Where to start reading one shard on resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    At(String),
    FromStart,
    Ended,
}

#[derive(Debug, Clone, Default)]
struct Mark {
    second: u64,
    from: Option<String>,
    ended: bool,
    /// The last record applied (not saved: a resume replays the whole last second).
    last: Option<String>,
}

/// Where a tail stands in a shard, to read on from there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Just after this record, the last applied.
    After(String),
    /// At this record, where the tail resumed (nothing applied since).
    At(String),
    /// Nothing applied: from the shard's oldest record (a replay outranks nothing newer, as
    /// stream versions order by creation time).
    FromStart,
}

/// A tail's positions, shared with the worker that saves them.
#[derive(Debug, Clone, Default)]
pub struct Book(Arc<Mutex<HashMap<String, Mark>>>, Arc<AtomicBool>);

impl Book {
    /// The tail reads `shard` (nothing applied yet if it is new).
    pub fn reading(&self, shard: &str) {
        if let Ok(mut marks) = self.0.lock() {
            marks.entry(shard.to_owned()).or_default();
        }
    }

    /// Whether this tail resumed from an interrupted run's positions (its own saves then stand
    /// for the [`INHERITED`] ones).
    pub fn is_resumed(&self) -> bool {
        self.1.load(Ordering::Relaxed)
    }

    /// This tail starts from an interrupted run's positions.
    pub fn mark_resumed(&self) {
        self.1.store(true, Ordering::Relaxed);
    }

    /// The tail reads `shard` again from `sequence`, where an interrupted run stood.
    pub fn resumed(&self, shard: &str, sequence: &str) {
        if let Ok(mut marks) = self.0.lock() {
            marks.insert(
                shard.to_owned(),
                Mark {
                    second: 0,
                    from: Some(sequence.to_owned()),
                    ended: false,
                    last: None,
                },
            );
        }
    }

    /// A record of `shard` made at `second` with sequence number `sequence` was applied.
    pub fn applied(&self, shard: &str, second: u64, sequence: &str) {
        if let Ok(mut marks) = self.0.lock() {
            let mark = marks.entry(shard.to_owned()).or_default();
            if mark.from.is_none() || second > mark.second {
                mark.second = second;
                mark.from = Some(sequence.to_owned());
            }
            mark.last = Some(sequence.to_owned());
        }
    }

    /// The creation second of the last records applied from the slowest of `reading` (shards
    /// with a record applied; ended ones are not being read).
    pub fn slowest_second<'a>(&self, reading: impl IntoIterator<Item = &'a String>) -> Option<u64> {
        let marks = self.0.lock().ok()?;
        reading
            .into_iter()
            .filter_map(|shard| marks.get(shard))
            .filter(|mark| mark.last.is_some() && !mark.ended)
            .map(|mark| mark.second)
            .min()
    }

    /// Where to take a fresh iterator on `shard` to read on from where the tail stands: just
    /// after the last record applied, else where it resumed, else from its start.
    pub fn standing(&self, shard: &str) -> Standing {
        let Some(mark) = self.0.lock().ok().and_then(|m| m.get(shard).cloned()) else {
            return Standing::FromStart;
        };
        match (mark.last, mark.from) {
            (Some(last), _) => Standing::After(last),
            (None, Some(from)) => Standing::At(from),
            (None, None) => Standing::FromStart,
        }
    }

    /// The sequence number of the last record of `shard` this tail applied, if any.
    pub fn last_applied(&self, shard: &str) -> Option<String> {
        self.0.lock().ok()?.get(shard)?.last.clone()
    }

    /// `shard` was read to its end.
    pub fn ended(&self, shard: &str) {
        if let Ok(mut marks) = self.0.lock() {
            marks.entry(shard.to_owned()).or_default().ended = true;
        }
    }

    /// Forgets `shard`'s position if it was read to its end.
    pub fn forget_ended(&self, shard: &str) {
        if let Ok(mut marks) = self.0.lock()
            && marks.get(shard).is_some_and(|mark| mark.ended)
        {
            marks.remove(shard);
        }
    }

    /// The positions to save for `worker`.
    pub fn snapshot(&self, worker: u32) -> Vec<StreamPosition> {
        let Ok(marks) = self.0.lock() else {
            return Vec::new();
        };
        let mut out: Vec<StreamPosition> = marks
            .iter()
            .map(|(shard, mark)| StreamPosition {
                worker,
                shard: shard.clone(),
                from: mark.from.clone(),
                ended: mark.ended,
            })
            .collect();
        out.sort_by(|a, b| a.shard.cmp(&b.shard));
        out
    }
}

/// Puts one tail's positions (`mine`, all of one worker) into the job's `saved` ones: they
/// replace that worker's earlier ones only. Another tail's positions stay, even for the same
/// shards: this tail may have started later (a backup opened at the stream's end while the
/// other replays what was written while the job was stopped), so only the earliest of them all
/// ([`resume_points`]) is safe to resume from — replaying more is harmless, less loses writes.
///
/// The positions a resumed job inherits from its interrupted run are saved as [`INHERITED`]
/// (not under the old run's worker numbers, which this run's workers reuse for other tails): only
/// the tail that resumed from them (`resumed`) replaces them, with its own.
pub fn save_positions(saved: &mut Vec<StreamPosition>, mine: Vec<StreamPosition>, resumed: bool) {
    let replaced = |p: &StreamPosition| {
        mine.iter().any(|m| m.worker == p.worker) || (resumed && p.worker == INHERITED)
    };
    saved.retain(|p| !replaced(p));
    saved.extend(mine);
}

/// The worker number of positions inherited from an interrupted run.
pub const INHERITED: u32 = u32::MAX;

/// An interrupted run's positions, as the job resuming it first saves them.
pub fn inherited(positions: &[StreamPosition]) -> Vec<StreamPosition> {
    positions
        .iter()
        .map(|p| StreamPosition {
            worker: INHERITED,
            ..p.clone()
        })
        .collect()
}

/// Where to resume each shard from the positions saved by every worker's tail: the earliest of
/// them (replaying more is harmless, replaying less loses writes). A shard one tail ended and
/// another did not is read from the other's position.
pub fn resume_points(saved: &[StreamPosition]) -> HashMap<String, Resume> {
    let mut out: HashMap<String, Resume> = HashMap::new();
    for position in saved {
        let mine = match (&position.from, position.ended) {
            (_, true) => Resume::Ended,
            (Some(sequence), false) => Resume::At(sequence.clone()),
            (None, false) => Resume::FromStart,
        };
        let merged = match out.remove(&position.shard) {
            None => mine,
            Some(other) => earliest(other, mine),
        };
        out.insert(position.shard.clone(), merged);
    }
    out
}

fn earliest(a: Resume, b: Resume) -> Resume {
    match (a, b) {
        (Resume::FromStart, _) | (_, Resume::FromStart) => Resume::FromStart,
        (Resume::Ended, other) | (other, Resume::Ended) => other,
        (Resume::At(x), Resume::At(y)) => {
            if sequence_before(&x, &y) {
                Resume::At(x)
            } else {
                Resume::At(y)
            }
        }
    }
}

/// Whether sequence number `a` comes before `b` (decimal digits of any length).
fn sequence_before(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    (a.len(), a) < (b.len(), b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_resumes_at_the_first_record_of_the_last_second_applied() {
        let book = Book::default();
        book.reading("idle");
        book.applied("s", 100, "0010");
        book.applied("s", 100, "0011");
        book.applied("s", 101, "0012");
        book.applied("s", 101, "0013");
        book.ended("done");
        let saved = book.snapshot(3);
        assert_eq!(
            saved,
            [
                StreamPosition {
                    worker: 3,
                    shard: "done".into(),
                    from: None,
                    ended: true
                },
                StreamPosition {
                    worker: 3,
                    shard: "idle".into(),
                    from: None,
                    ended: false
                },
                StreamPosition {
                    worker: 3,
                    shard: "s".into(),
                    from: Some("0012".into()),
                    ended: false
                },
            ]
        );
        let points = resume_points(&saved);
        assert_eq!(points["s"], Resume::At("0012".into()));
        assert_eq!(points["idle"], Resume::FromStart);
        assert_eq!(points["done"], Resume::Ended);
    }

    #[test]
    fn a_tail_s_positions_replace_its_own_only() {
        let at = |worker, shard: &str, from: &str| StreamPosition {
            worker,
            shard: shard.into(),
            from: Some(from.into()),
            ended: false,
        };
        let mut saved = vec![
            at(0, "a", "1"),
            at(0, "old", "1"),
            at(1, "a", "2"),
            at(1, "b", "2"),
        ];
        save_positions(&mut saved, vec![at(0, "a", "5")], false);
        assert_eq!(saved, [at(1, "a", "2"), at(1, "b", "2"), at(0, "a", "5")]);
    }

    #[test]
    fn inherited_positions_stand_until_the_tail_that_resumed_from_them_saves() {
        let at = |worker, shard: &str, from: &str| StreamPosition {
            worker,
            shard: shard.into(),
            from: Some(from.into()),
            ended: false,
        };
        // The interrupted run's setup worker 0 stood early, its backup 1 late.
        let mut saved = inherited(&[at(0, "a", "100"), at(1, "a", "900")]);
        // This run's backup is worker 0, opened at the stream's end: the early position stays.
        save_positions(&mut saved, vec![at(0, "a", "950")], false);
        assert_eq!(resume_points(&saved)["a"], Resume::At("100".into()));
        // This run's setup worker 1 resumed from them: its own positions stand for them.
        save_positions(&mut saved, vec![at(1, "a", "120")], true);
        assert_eq!(saved, [at(0, "a", "950"), at(1, "a", "120")]);
        assert_eq!(resume_points(&saved)["a"], Resume::At("120".into()));
    }

    #[test]
    fn a_later_tail_never_erases_an_earlier_tail_s_position() {
        let at = |worker, shard: &str, from: &str| StreamPosition {
            worker,
            shard: shard.into(),
            from: Some(from.to_owned()),
            ended: false,
        };
        // Worker 0 replays the gap from 100; worker 1, a backup, opened at the end (900).
        let mut saved = vec![at(0, "a", "100")];
        save_positions(&mut saved, vec![at(1, "a", "900")], false);
        assert_eq!(resume_points(&saved)["a"], Resume::At("100".into()));
        // A tail's own newer position replaces its earlier one.
        save_positions(&mut saved, vec![at(0, "a", "500")], false);
        assert_eq!(saved.len(), 2);
        assert_eq!(resume_points(&saved)["a"], Resume::At("500".into()));
    }

    #[test]
    fn the_earliest_position_of_all_tails_wins() {
        let at = |worker, shard: &str, from: Option<&str>, ended| StreamPosition {
            worker,
            shard: shard.into(),
            from: from.map(str::to_owned),
            ended,
        };
        let points = resume_points(&[
            at(0, "a", Some("900"), false),
            at(1, "a", Some("1000"), false),
            at(0, "b", None, true),
            at(1, "b", Some("5"), false),
            at(0, "c", Some("7"), false),
            at(1, "c", None, false),
        ]);
        assert_eq!(points["a"], Resume::At("900".into()));
        assert_eq!(points["b"], Resume::At("5".into()));
        assert_eq!(points["c"], Resume::FromStart);
        assert!(sequence_before("99", "100") && !sequence_before("100", "099"));
    }
}
