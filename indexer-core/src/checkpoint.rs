//! Checkpoints: how far each segment is safely done.
//!
//! The model: a segment is read page by page; page `p` ends at the `LastEvaluatedKey` DynamoDB
//! returned with it. A page is **settled** once every item on it has a final verdict — indexed
//! (acknowledged by the cluster) or dead-lettered (recorded on disk). A segment's checkpoint is the
//! end key of its last page such that it and every page before it are settled, together with the
//! counts of those pages. Items travel through shared batches in any order, so pages settle out of
//! order; the checkpoint only ever moves forward over a contiguous settled prefix.
//!
//! Resuming from a checkpoint re-reads everything after it, so an item acknowledged after the last
//! saved checkpoint is sent again. Delivery is therefore at-least-once; documents have stable
//! `_id`s, so a replay overwrites a document with itself. Counts are restored from the checkpoint
//! and the re-read items counted afresh, which keeps the gate's arithmetic exact.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::source::item::Item;

/// Where an item came from: its segment and the sequence number of its page in that segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub segment: u32,
    pub page: u64,
}

/// A final verdict on one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Indexed,
    DeadLettered,
}

/// What a segment has safely done: the persisted form of its progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub segment: u32,
    /// Continue the scan after this key (DynamoDB JSON); `None` means from the start.
    pub last_key: Option<serde_json::Value>,
    /// The whole segment is settled.
    pub done: bool,
    pub scanned: u64,
    pub indexed: u64,
    pub dead_lettered: u64,
    /// The worker reading the segment, when a job is split over workers.
    #[serde(default)]
    pub owner: u32,
}

/// One checkpoint per segment `0..segments`: the saved one where there is one, else a fresh
/// start.
pub fn for_segments(segments: u32, saved: &[Checkpoint]) -> Vec<Checkpoint> {
    (0..segments)
        .map(|segment| {
            saved
                .iter()
                .find(|c| c.segment == segment)
                .cloned()
                .unwrap_or(Checkpoint {
                    segment,
                    ..Checkpoint::default()
                })
        })
        .collect()
}

#[derive(Debug)]
struct Page {
    seq: u64,
    remaining: u64,
    end_key: Option<Item>,
    last: bool,
    scanned: u64,
    indexed: u64,
    dead_lettered: u64,
}

/// The live progress of one segment.
#[derive(Debug)]
pub struct SegmentTracker {
    checkpoint: Checkpoint,
    /// Pages read but not yet folded into the checkpoint, oldest first.
    pages: VecDeque<Page>,
    next_page: u64,
}

impl SegmentTracker {
    /// A tracker continuing from a saved checkpoint (or from the start).
    pub fn new(checkpoint: Checkpoint) -> SegmentTracker {
        SegmentTracker::numbered_from(checkpoint, 0)
    }

    /// Like [`SegmentTracker::new`], numbering pages from `first_page`: a tracker replacing
    /// another one for the same segment numbers past it, so verdicts on the old one's pages
    /// (which arrive late, from batches in flight) are ignored.
    pub fn numbered_from(checkpoint: Checkpoint, first_page: u64) -> SegmentTracker {
        SegmentTracker {
            checkpoint,
            pages: VecDeque::new(),
            next_page: first_page,
        }
    }

    /// The number the next page will get.
    pub fn next_page(&self) -> u64 {
        self.next_page
    }

    /// Records a page just read: `items` items, ending at `end_key` (`None` when it is the
    /// segment's last page). Returns the page's ticket.
    pub fn page_read(&mut self, items: u64, end_key: Option<Item>) -> Ticket {
        let seq = self.next_page;
        self.next_page += 1;
        self.pages.push_back(Page {
            seq,
            remaining: items,
            last: end_key.is_none(),
            end_key,
            scanned: items,
            indexed: 0,
            dead_lettered: 0,
        });
        self.advance();
        Ticket {
            segment: self.checkpoint.segment,
            page: seq,
        }
    }

    /// Records the verdict on one item of page `page`.
    pub fn settle(&mut self, page: u64, verdict: Verdict) {
        let Some(front) = self.pages.front() else {
            return;
        };
        if page < front.seq || page >= self.next_page {
            return;
        }
        let Some(entry) = self.pages.get_mut((page - front.seq) as usize) else {
            return;
        };
        if entry.remaining == 0 {
            return;
        }
        entry.remaining -= 1;
        match verdict {
            Verdict::Indexed => entry.indexed += 1,
            Verdict::DeadLettered => entry.dead_lettered += 1,
        }
        self.advance();
    }

    fn advance(&mut self) {
        while self.pages.front().is_some_and(|p| p.remaining == 0) {
            let Some(page) = self.pages.pop_front() else {
                break;
            };
            let checkpoint = &mut self.checkpoint;
            checkpoint.scanned += page.scanned;
            checkpoint.indexed += page.indexed;
            checkpoint.dead_lettered += page.dead_lettered;
            checkpoint.done = page.last;
            checkpoint.last_key = page
                .end_key
                .as_ref()
                .map(crate::source::item::to_dynamo_json);
        }
    }

    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use proptest::prelude::*;

    fn key(id: &str) -> Option<Item> {
        Some([("id".to_owned(), AttributeValue::S(id.to_owned()))].into())
    }

    #[test]
    fn the_checkpoint_moves_only_over_settled_pages_in_order() {
        let mut tracker = SegmentTracker::new(Checkpoint {
            segment: 3,
            ..Checkpoint::default()
        });
        let first = tracker.page_read(2, key("a"));
        let second = tracker.page_read(1, key("b"));
        assert_eq!(
            first,
            Ticket {
                segment: 3,
                page: 0
            }
        );
        tracker.settle(second.page, Verdict::Indexed);
        assert_eq!(
            tracker.checkpoint().last_key,
            None,
            "page 0 is not settled yet"
        );
        tracker.settle(first.page, Verdict::Indexed);
        assert_eq!(tracker.checkpoint().scanned, 0);
        tracker.settle(first.page, Verdict::DeadLettered);
        let checkpoint = tracker.checkpoint();
        assert_eq!(
            checkpoint.last_key,
            Some(serde_json::json!({"id": {"S": "b"}}))
        );
        assert_eq!(
            (
                checkpoint.scanned,
                checkpoint.indexed,
                checkpoint.dead_lettered
            ),
            (3, 2, 1)
        );
        assert!(!checkpoint.done);
    }

    #[test]
    fn empty_pages_settle_at_once_and_the_last_page_finishes_the_segment() {
        let mut tracker = SegmentTracker::new(Checkpoint::default());
        tracker.page_read(0, key("a"));
        assert_eq!(
            tracker.checkpoint().last_key,
            Some(serde_json::json!({"id": {"S": "a"}}))
        );
        let last = tracker.page_read(1, None);
        assert!(!tracker.checkpoint().done);
        tracker.settle(last.page, Verdict::Indexed);
        assert!(tracker.checkpoint().done);
        assert_eq!(tracker.checkpoint().last_key, None);
    }

    #[test]
    fn a_resumed_tracker_adds_to_the_saved_counts() {
        let saved = Checkpoint {
            segment: 1,
            last_key: Some(serde_json::json!({"id": {"S": "m"}})),
            done: false,
            scanned: 10,
            indexed: 9,
            dead_lettered: 1,
            owner: 0,
        };
        let mut tracker = SegmentTracker::new(saved);
        let page = tracker.page_read(1, None);
        tracker.settle(page.page, Verdict::Indexed);
        let checkpoint = tracker.checkpoint();
        assert_eq!(
            (
                checkpoint.scanned,
                checkpoint.indexed,
                checkpoint.dead_lettered
            ),
            (11, 10, 1)
        );
        assert!(checkpoint.done);
    }

    #[test]
    fn a_replacing_tracker_ignores_verdicts_on_its_predecessors_pages() {
        let mut old = SegmentTracker::new(Checkpoint::default());
        let stale = old.page_read(2, key("a"));
        let mut new = SegmentTracker::numbered_from(old.checkpoint().clone(), old.next_page());
        new.settle(stale.page, Verdict::Indexed);
        let fresh = new.page_read(1, None);
        new.settle(stale.page, Verdict::Indexed);
        new.settle(stale.page, Verdict::Indexed);
        assert_eq!(
            new.checkpoint().scanned,
            0,
            "the old page's verdicts count for nothing"
        );
        new.settle(fresh.page, Verdict::Indexed);
        assert_eq!((new.checkpoint().scanned, new.checkpoint().done), (1, true));
    }

    proptest! {
        #[test]
        fn checkpoints_are_monotonic_and_never_pass_an_unsettled_item(
            pages in proptest::collection::vec(0u64..5, 1..20),
            seed: u64,
        ) {
            use rand::{SeedableRng, seq::SliceRandom};
            let mut tracker = SegmentTracker::new(Checkpoint::default());
            let mut items = Vec::new();
            for (i, count) in pages.iter().enumerate() {
                let last = i + 1 == pages.len();
                let ticket = tracker.page_read(*count, if last { None } else { key(&i.to_string()) });
                items.extend(std::iter::repeat_n(ticket.page, *count as usize));
            }
            items.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
            let mut settled = vec![0u64; pages.len()];
            let mut previous = tracker.checkpoint().scanned;
            for page in items {
                tracker.settle(page, Verdict::Indexed);
                settled[page as usize] += 1;
                let checkpoint = tracker.checkpoint();
                prop_assert!(checkpoint.scanned >= previous);
                previous = checkpoint.scanned;
                // Every page the checkpoint covers is fully settled.
                let mut covered = 0;
                for (i, count) in pages.iter().enumerate() {
                    if covered == checkpoint.scanned { break; }
                    prop_assert_eq!(settled[i], *count);
                    covered += count;
                }
                prop_assert_eq!(checkpoint.indexed, checkpoint.scanned);
            }
            prop_assert!(tracker.checkpoint().done);
            prop_assert_eq!(tracker.checkpoint().scanned, pages.iter().sum::<u64>());
        }
    }
}
