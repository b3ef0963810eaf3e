//! The external versions a rebuild writes with, so that copies of one item reach the index in
//! any order and the newest still wins, whether or not the item carries a `versionNumber`.
//!
//! Every write uses `version_type=external_gte` (the cluster keeps a write whose version is at
//! least the stored one, and answers 409 to an older one), in two bands:
//!
//! - a **scanned** copy is written at the item's `versionNumber`, or 0 when it has none: below
//!   [`STREAM_BAND`], so it never replaces a copy the stream wrote. Two scanned copies of an
//!   unversioned item (a re-read after a resume) tie at 0, and the later write wins.
//! - a **stream** copy (a write or a delete) is written at [`STREAM_BAND`] + the record's
//!   creation time in seconds × 2^20 + its rank among the same item's records of that second,
//!   in stream order ([`StreamClock`]): every stream record outranks every scanned copy (the
//!   stream covers from before the scan began, so its last record of an item is that item's
//!   final state), and the records of one item apply in stream order.
//!
//! A 409 then always means the index already holds a newer copy of the item.
//! Deletes are versioned too, so they leave tombstones (kept for the index's `gc_deletes`).

use std::collections::HashMap;

/// The lowest version a stream record is written with; scanned copies stay below it.
pub const STREAM_BAND: u64 = 1 << 62;

/// How many records of one item one second may hold and still be ordered by rank.
const RANKS_PER_SECOND: u64 = 1 << 20;

/// The version of a scanned copy: the item's `versionNumber` (capped below the stream band), or
/// 0 without one.
pub fn scanned(version_number: Option<u64>) -> u64 {
    version_number.map_or(0, |v| v.min(STREAM_BAND - 1))
}

/// The version of a repair (`verify --fix`, `resync`, `sync`) of an item read consistently in
/// second `read_secs`: as a stream record of that second ranked first, so it replaces every copy
/// the stream wrote before that second (and every scanned copy), while a stream record of the
/// same second or later — a write that may follow the read — still replaces it.
pub fn repaired(read_secs: u64) -> u64 {
    STREAM_BAND
        .saturating_add(read_secs.saturating_mul(RANKS_PER_SECOND))
        .min(i64::MAX as u64 - RANKS_PER_SECOND)
}

/// Gives each stream record its version, in the order the tail applies them. Deterministic: a
/// tail that reads the same records from the same position gives the same versions, so a
/// resumed tail that replays a second's records again writes them at the versions they had.
///
/// Memory is bounded by the write rate, not the run's length: the tail tells the clock the
/// creation second of the slowest shard it reads ([`StreamClock::forget_before`]), and the
/// clock forgets items whose last record is more than two minutes older than that, as a later
/// record of them needs no memory to outrank it (its second's floor already does).
#[derive(Debug, Default)]
pub struct StreamClock {
    /// The last version given to each item, while recent.
    last: HashMap<String, u64>,
    /// The second up to which items were last forgotten.
    pruned_secs: u64,
}

/// How long (in record seconds) the clock remembers an item's last version behind the slowest
/// shard: creation times are approximate and may step back a little, never by this much within
/// one shard.
const KEEP_SECS: u64 = 120;
/// How far (in record seconds) the slowest shard moves on between two prunings.
const PRUNE_EVERY_SECS: u64 = 30;

fn floor(created_secs: u64) -> u64 {
    STREAM_BAND
        .saturating_add(created_secs.saturating_mul(RANKS_PER_SECOND))
        .min(i64::MAX as u64 - RANKS_PER_SECOND)
}

impl StreamClock {
    /// The version of the next record of item `id`, made at `created_secs` (Unix seconds).
    /// Strictly greater than every version given to `id` before (while remembered).
    pub fn next(&mut self, id: &str, created_secs: u64) -> u64 {
        let floor_now = floor(created_secs);
        let version = match self.last.get(id) {
            Some(&last) if last >= floor_now => last + 1,
            _ => floor_now,
        };
        self.last.insert(id.to_owned(), version);
        version
    }

    /// Forgets the items whose last record is more than `KEEP_SECS` older than `slowest_secs`,
    /// the creation second the slowest shard being read has reached.
    pub fn forget_before(&mut self, slowest_secs: u64) {
        if slowest_secs < self.pruned_secs + PRUNE_EVERY_SECS {
            return;
        }
        self.pruned_secs = slowest_secs;
        let keep = floor(slowest_secs.saturating_sub(KEEP_SECS));
        self.last.retain(|_, v| *v >= keep);
    }

    /// How many items the clock remembers.
    pub fn remembered(&self) -> usize {
        self.last.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanned_copies_stay_below_every_stream_copy() {
        assert_eq!(scanned(None), 0);
        assert_eq!(scanned(Some(7)), 7);
        assert_eq!(scanned(Some(u64::MAX)), STREAM_BAND - 1);
        let mut clock = StreamClock::default();
        assert!(clock.next("a", 0) > scanned(Some(u64::MAX)));
        assert!(clock.next("b", 1_800_000_000) <= i64::MAX as u64);
    }

    #[test]
    fn a_repair_outranks_earlier_stream_copies_and_yields_to_its_own_second_and_later() {
        let mut clock = StreamClock::default();
        let before = clock.next("a", 99);
        let same = clock.next("b", 100);
        let later = clock.next("c", 101);
        assert!(repaired(100) > before && repaired(100) > scanned(Some(u64::MAX)));
        assert!(same >= repaired(100) && later > repaired(100));
    }

    #[test]
    fn records_of_one_item_rank_in_stream_order_within_and_across_seconds() {
        let mut clock = StreamClock::default();
        let first = clock.next("a", 100);
        let second = clock.next("a", 100);
        let other = clock.next("b", 100);
        let later = clock.next("a", 101);
        assert!(first < second && second < later, "{first} {second} {later}");
        assert_eq!(other, first, "items rank independently");
        // A creation time that goes back (it is approximate) never ranks a record lower.
        assert!(clock.next("a", 99) > later);
    }

    #[test]
    fn memory_holds_only_recent_items_however_long_the_stream() {
        let mut clock = StreamClock::default();
        // Ten distinct items a second for three hours of record time, on one shard.
        for second in 0..3 * 3600u64 {
            for n in 0..10 {
                clock.next(&format!("{second}-{n}"), 1_700_000_000 + second);
            }
            clock.forget_before(1_700_000_000 + second);
            assert!(
                clock.remembered() <= 10 * (KEEP_SECS + PRUNE_EVERY_SECS + 1) as usize,
                "{} remembered at second {second}",
                clock.remembered()
            );
        }
        // An item written again after it was forgotten still ranks above its earlier record.
        let early = clock.next("x", 1_700_020_000);
        let late = clock.next("x", 1_700_020_000 + 10 * KEEP_SECS);
        assert!(late > early);
    }

    #[test]
    fn a_lagging_shard_keeps_its_items_however_far_the_others_are() {
        let mut clock = StreamClock::default();
        // A backlog an hour old: two records of one item in one second...
        let old = 1_700_000_000;
        let first = clock.next("x", old);
        let second = clock.next("x", old);
        // ...while another shard reads the present; the slowest shard is still the old one.
        for n in 0..100 {
            clock.next(&format!("now-{n}"), old + 3600);
        }
        clock.forget_before(old);
        let third = clock.next("x", old);
        assert!(first < second && second < third, "{first} {second} {third}");
    }

    #[test]
    fn the_same_records_from_the_same_position_get_the_same_versions() {
        let replay = |clock: &mut StreamClock| {
            [("a", 5), ("a", 5), ("b", 5), ("a", 6)]
                .iter()
                .map(|(id, s)| clock.next(id, *s))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            replay(&mut StreamClock::default()),
            replay(&mut StreamClock::default())
        );
    }
}
