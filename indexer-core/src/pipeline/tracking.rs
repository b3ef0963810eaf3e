//! What a run tracks as it goes: live counts for the progress reporter, and per-segment trackers
//! that advance each segment's checkpoint as its pages settle.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::checkpoint::{Checkpoint, SegmentTracker, Ticket, Verdict};

/// Live counts, shared with the progress reporter.
#[derive(Debug, Default)]
pub struct Counters {
    pub scanned: AtomicU64,
    pub indexed: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub retries: AtomicU64,
    pub batches: AtomicU64,
    pub segments_done: AtomicU64,
    /// Read-capacity units consumed, in thousandths.
    pub read_milliunits: AtomicU64,
    /// The adaptive bulk concurrency now, and the highest it reached.
    pub concurrency: AtomicU64,
    pub max_concurrency: AtomicU64,
    /// Attributes items carried that the entity does not map (for the summary).
    pub unmapped: std::sync::Mutex<crate::source::schema::Unmapped>,
}

impl Counters {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Counters starting from what saved checkpoints already account for.
    pub fn resuming(checkpoints: &[Checkpoint]) -> Counters {
        let counters = Counters::default();
        for checkpoint in checkpoints {
            counters
                .scanned
                .fetch_add(checkpoint.scanned, Ordering::Relaxed);
            counters
                .indexed
                .fetch_add(checkpoint.indexed, Ordering::Relaxed);
            counters
                .dead_lettered
                .fetch_add(checkpoint.dead_lettered, Ordering::Relaxed);
            counters
                .segments_done
                .fetch_add(u64::from(checkpoint.done), Ordering::Relaxed);
        }
        counters
    }
}

/// Per-segment progress, shared by the readers (pages read) and the writers (verdicts).
///
/// A worker of a job split over several tracks only the segments it reads (its *active* ones);
/// it can take a segment over ([`Trackers::adopt`]) or give one up ([`Trackers::release`]).
#[derive(Debug)]
pub struct Trackers {
    segments: std::sync::Mutex<Vec<Slot>>,
    /// Woken whenever a segment becomes done.
    done: tokio::sync::Notify,
}

#[derive(Debug)]
struct Slot {
    tracker: SegmentTracker,
    active: bool,
}

impl Trackers {
    /// Trackers for `segments` segments, continuing from `saved` checkpoints where given.
    pub fn new(segments: u32, saved: &[Checkpoint]) -> Trackers {
        Trackers::owned_by(segments, saved, None)
    }

    /// Trackers for one worker of a job split over several: only the segments `saved` says
    /// `worker` owns are active.
    pub fn for_worker(segments: u32, saved: &[Checkpoint], worker: u32) -> Trackers {
        Trackers::owned_by(segments, saved, Some(worker))
    }

    fn owned_by(segments: u32, saved: &[Checkpoint], worker: Option<u32>) -> Trackers {
        let slots = crate::checkpoint::for_segments(segments, saved)
            .into_iter()
            .map(|checkpoint| Slot {
                active: worker.is_none_or(|w| checkpoint.owner == w),
                tracker: SegmentTracker::new(checkpoint),
            })
            .collect();
        Trackers {
            segments: std::sync::Mutex::new(slots),
            done: tokio::sync::Notify::new(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Vec<Slot>) -> T) -> T {
        let mut guard = self
            .segments
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    /// Applies `f` and wakes [`Trackers::segment_done`] if a segment became done.
    fn watching<T>(&self, f: impl FnOnce(&mut Vec<Slot>) -> T) -> T {
        let (result, newly_done) = self.with(|slots| {
            let before = slots.iter().filter(|s| s.tracker.checkpoint().done).count();
            let result = f(slots);
            let after = slots.iter().filter(|s| s.tracker.checkpoint().done).count();
            (result, after > before)
        });
        if newly_done {
            self.done.notify_one();
        }
        result
    }

    /// Notes a page of `items` read from `segment`, ending at `end_key`; its ticket.
    pub(super) fn page_read(
        &self,
        segment: u32,
        items: u64,
        end_key: Option<crate::source::item::Item>,
    ) -> Ticket {
        self.watching(|t| t[segment as usize].tracker.page_read(items, end_key))
    }

    /// Settles the pages of `tickets` with `verdict`.
    pub(super) fn settle_all(&self, tickets: impl IntoIterator<Item = Ticket>, verdict: Verdict) {
        self.watching(|t| {
            for ticket in tickets {
                if let Some(slot) = t.get_mut(ticket.segment as usize) {
                    slot.tracker.settle(ticket.page, verdict);
                }
            }
        });
    }

    /// The current checkpoint of every segment.
    pub fn checkpoints(&self) -> Vec<Checkpoint> {
        self.with(|t| {
            t.iter()
                .map(|slot| slot.tracker.checkpoint().clone())
                .collect()
        })
    }

    /// The checkpoints of the active segments.
    pub fn active_checkpoints(&self) -> Vec<Checkpoint> {
        self.with(|t| {
            t.iter()
                .filter(|slot| slot.active)
                .map(|slot| slot.tracker.checkpoint().clone())
                .collect()
        })
    }

    /// Starts tracking a segment taken over from `checkpoint`. Verdicts still arriving for pages
    /// read under an earlier tracking of the segment are ignored.
    pub fn adopt(&self, checkpoint: Checkpoint) {
        self.with(|t| {
            if let Some(slot) = t.get_mut(checkpoint.segment as usize) {
                let first = slot.tracker.next_page();
                slot.tracker = SegmentTracker::numbered_from(checkpoint, first);
                slot.active = true;
            }
        });
    }

    /// Stops tracking a segment that passed to another worker; verdicts on its pages still in
    /// flight are ignored.
    pub fn release(&self, segment: u32) {
        self.with(|t| {
            if let Some(slot) = t.get_mut(segment as usize) {
                let first = slot.tracker.next_page();
                let checkpoint = slot.tracker.checkpoint().clone();
                slot.tracker = SegmentTracker::numbered_from(checkpoint, first);
                slot.active = false;
            }
        });
    }

    /// Resolves when a segment has become done since the last call.
    pub async fn segment_done(&self) {
        self.done.notified().await;
    }
}
