//! The settle ordering, through a dead-letter store that watches the trackers.

use std::sync::{Arc, Mutex};

use super::shared::settle_durably;
use super::tracking::{Counters, Trackers};
use crate::checkpoint::{Ticket, Verdict};
use crate::deadletter::{DeadLetters, Group};

/// A failed item on the last (and only) page of segment 0, beside one already indexed.
fn one_page_with_a_failure() -> (Arc<Trackers>, Ticket, Group) {
    let trackers = Arc::new(Trackers::new(1, &[]));
    let ticket = trackers.page_read(0, 2, None);
    trackers.settle_all([ticket], Verdict::Indexed);
    let mut failed = Group::new();
    failed
        .document_failure(
            "bulk",
            "p1",
            Some(400),
            "mapper_parsing_exception",
            "bad",
            b"{}",
        )
        .expect("encoded");
    (trackers, ticket, failed)
}

#[tokio::test]
async fn a_page_settles_only_after_its_dead_letters_are_durable() {
    let (trackers, ticket, failed) = one_page_with_a_failure();
    let seen_at_commit = Arc::new(Mutex::new(Vec::new()));
    let dead = {
        let (trackers, seen) = (Arc::clone(&trackers), Arc::clone(&seen_at_commit));
        DeadLetters::probe(move |lines| {
            let checkpoint = trackers.checkpoints()[0].clone();
            seen.lock()
                .expect("lock")
                .push((checkpoint.done, lines.to_vec()));
            Ok(())
        })
    };
    let counters = Counters::default();
    settle_durably(&dead, &trackers, &counters, failed, [ticket])
        .await
        .expect("committed");
    let seen = seen_at_commit.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1, "one commit for the group");
    assert!(
        !seen[0].0,
        "the page was not yet settled when its record was committed"
    );
    assert!(String::from_utf8_lossy(&seen[0].1).contains(r#""id":"p1""#));
    let checkpoint = trackers.checkpoints()[0].clone();
    assert!(checkpoint.done, "settled once the record is durable");
    assert_eq!((checkpoint.indexed, checkpoint.dead_lettered), (1, 1));
    assert_eq!(Counters::get(&counters.dead_lettered), 1);
}

#[tokio::test]
async fn a_failed_dead_letter_write_settles_nothing() {
    let (trackers, ticket, failed) = one_page_with_a_failure();
    let dead = DeadLetters::probe(|_| Err(std::io::Error::other("disk full")));
    let counters = Counters::default();
    let error = settle_durably(&dead, &trackers, &counters, failed, [ticket])
        .await
        .expect_err("the write failed");
    assert!(error.to_string().contains("disk full"), "{error}");
    let checkpoint = trackers.checkpoints()[0].clone();
    assert!(!checkpoint.done);
    assert_eq!((checkpoint.scanned, checkpoint.dead_lettered), (0, 0));
    assert_eq!(Counters::get(&counters.dead_lettered), 0);
    assert_eq!(dead.count(), 0);
}
