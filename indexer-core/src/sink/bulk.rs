//! Sending one batch through `_bulk` until every item has a verdict.
//!
//! The whole request failing transiently (429, 5xx, timeout, reset, an unreadable answer) re-sends
//! the batch; a successful request is read item by item: acknowledged items are done, items
//! answered 429 or 5xx are re-sent alone, and every other item is a rejection with the cluster's
//! reason. Retries are bounded by the [`RetryPolicy`]; items still failing then become rejections
//! too, while a request that still cannot get through fails the run. Nothing counts as indexed
//! unless the cluster acknowledged it, or answered that it already holds the same or a newer
//! version of it (a 409 `version_conflict_engine_exception` to an externally versioned write).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::batch::{Batch, Entry};
use super::client::{SearchClient, SinkError, snippet};
use super::retry::{RetryPolicy, is_retriable_status};
use crate::checkpoint::Ticket;

/// An item the cluster refused for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub id: String,
    pub ticket: Ticket,
    pub status: u16,
    pub error_type: String,
    pub reason: String,
    /// The document as sent.
    pub document: Vec<u8>,
}

/// The verdicts for one batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BulkOutcome {
    /// Where each acknowledged document came from.
    pub indexed: Vec<Ticket>,
    pub rejected: Vec<Rejection>,
    /// Requests re-sent after a transient failure.
    pub retries: u32,
    /// How the cluster coped, for adaptive concurrency.
    pub signal: Option<super::adaptive::Signal>,
}

/// One item's verdict from a bulk answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemVerdict {
    Done,
    Retry {
        status: u16,
        reason: String,
    },
    Rejected {
        status: u16,
        error_type: String,
        reason: String,
    },
}

#[derive(Deserialize)]
struct BulkAnswer {
    items: Vec<BTreeMap<String, ItemAnswer>>,
}

#[derive(Deserialize)]
struct ItemAnswer {
    status: u16,
    #[serde(default)]
    error: Option<Value>,
}

/// Reads a bulk answer into one verdict per sent item, in order. An answer that does not account
/// for exactly `expected` items is an error: nothing may be assumed done.
pub fn parse_answer(bytes: &[u8], expected: usize) -> Result<Vec<ItemVerdict>, String> {
    let answer: BulkAnswer = serde_json::from_slice(bytes)
        .map_err(|e| format!("unreadable bulk answer ({e}): {:?}", snippet(bytes)))?;
    if answer.items.len() != expected {
        return Err(format!(
            "bulk answer has {} items for {expected} sent",
            answer.items.len()
        ));
    }
    answer
        .items
        .into_iter()
        .map(|item| {
            let (_, result) = item
                .into_iter()
                .next()
                .ok_or_else(|| "empty item in bulk answer".to_owned())?;
            Ok(verdict(result))
        })
        .collect()
}

fn verdict(item: ItemAnswer) -> ItemVerdict {
    let (error_type, reason) = match &item.error {
        None => (String::new(), String::new()),
        Some(Value::String(s)) => ("error".to_owned(), s.clone()),
        Some(error) => {
            let text = |key: &str| {
                error
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let mut reason = text("reason");
            if let Some(cause) = error
                .get("caused_by")
                .and_then(|c| c.get("reason"))
                .and_then(Value::as_str)
            {
                reason = format!("{reason}: {cause}");
            }
            (text("type"), reason)
        }
    };
    if (200..300).contains(&item.status) && item.error.is_none() {
        ItemVerdict::Done
    } else if item.status == 409 && error_type == "version_conflict_engine_exception" {
        // Written with an external version: the index already holds this version or a newer
        // one (or a newer delete), which is what the write wanted to ensure.
        ItemVerdict::Done
    } else if is_retriable_status(item.status) {
        ItemVerdict::Retry {
            status: item.status,
            reason: if error_type.is_empty() {
                reason
            } else {
                format!("{error_type}: {reason}")
            },
        }
    } else {
        ItemVerdict::Rejected {
            status: item.status,
            error_type: if error_type.is_empty() {
                "rejected".to_owned()
            } else {
                error_type
            },
            reason,
        }
    }
}

/// Sends `batch` until every item is indexed or rejected, or the request itself keeps failing.
pub async fn send(
    client: &SearchClient,
    batch: Batch,
    policy: &RetryPolicy,
) -> Result<BulkOutcome, SinkError> {
    let mut outcome = BulkOutcome::default();
    let mut pending = batch;
    let mut attempt = 0u32;
    let started = std::time::Instant::now();
    loop {
        let answer = client.bulk(pending.body.clone()).await;
        if attempt == 0 {
            outcome.signal = Some(super::adaptive::Signal::Healthy {
                latency: started.elapsed(),
            });
        }
        let verdicts = match answer {
            Ok(bytes) => parse_answer(&bytes, pending.len()).map_err(|reason| SinkError::Decode {
                op: "bulk".into(),
                reason,
            }),
            Err(e) => Err(e),
        };
        let verdicts = match verdicts {
            Ok(verdicts) => verdicts,
            Err(e) if e.too_large() => {
                split(client, pending, policy, &mut outcome, &e).await?;
                return Ok(outcome);
            }
            Err(e)
                if (e.is_retriable() || matches!(e, SinkError::Decode { .. }))
                    && attempt < policy.max_retries =>
            {
                tracing::warn!(attempt, docs = pending.len(), error = %e, "bulk request failed, retrying");
                outcome.signal = Some(super::adaptive::Signal::Pressure);
                backoff(policy, attempt).await;
                attempt += 1;
                outcome.retries += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut again: Vec<(&Entry, u16, String)> = Vec::new();
        for (entry, verdict) in pending.entries.iter().zip(verdicts) {
            match verdict {
                ItemVerdict::Done => outcome.indexed.push(entry.ticket),
                ItemVerdict::Retry { status, reason } => again.push((entry, status, reason)),
                ItemVerdict::Rejected {
                    status,
                    error_type,
                    reason,
                } => outcome.rejected.push(Rejection {
                    id: entry.id.clone(),
                    ticket: entry.ticket,
                    status,
                    error_type,
                    reason,
                    document: pending.source(entry).to_vec(),
                }),
            }
        }
        if again.is_empty() {
            return Ok(outcome);
        }
        outcome.signal = Some(super::adaptive::Signal::Pressure);
        if attempt >= policy.max_retries {
            for (entry, status, reason) in again {
                outcome.rejected.push(Rejection {
                    id: entry.id.clone(),
                    ticket: entry.ticket,
                    status,
                    error_type: "retries_exhausted".into(),
                    reason: format!("still failing after {} attempts: {reason}", attempt + 1),
                    document: pending.source(entry).to_vec(),
                });
            }
            return Ok(outcome);
        }
        tracing::debug!(
            attempt,
            docs = again.len(),
            "re-sending items the cluster asked to retry"
        );
        let next = pending.subset(again.iter().map(|(entry, _, _)| *entry));
        pending = next;
        backoff(policy, attempt).await;
        attempt += 1;
        outcome.retries += 1;
    }
}

/// A request the cluster refused as too large: sends each half on its own (halving again as
/// needed); a single document still too large is rejected with the cluster's reason.
async fn split(
    client: &SearchClient,
    pending: Batch,
    policy: &RetryPolicy,
    outcome: &mut BulkOutcome,
    error: &SinkError,
) -> Result<(), SinkError> {
    outcome.signal = Some(super::adaptive::Signal::Pressure);
    if pending.len() <= 1 {
        for entry in &pending.entries {
            outcome.rejected.push(Rejection {
                id: entry.id.clone(),
                ticket: entry.ticket,
                status: 413,
                error_type: "request_too_large".into(),
                reason: format!(
                    "the cluster refused even this document alone as too large: {error}"
                ),
                document: pending.source(entry).to_vec(),
            });
        }
        return Ok(());
    }
    tracing::warn!(
        docs = pending.len(),
        bytes = pending.body.len(),
        "the cluster refused the bulk request as too large; sending it in two halves"
    );
    let half = pending.len() / 2;
    for part in [
        pending.subset(&pending.entries[..half]),
        pending.subset(&pending.entries[half..]),
    ] {
        let sent = Box::pin(send(client, part, policy)).await?;
        outcome.indexed.extend(sent.indexed);
        outcome.rejected.extend(sent.rejected);
        outcome.retries += sent.retries;
    }
    Ok(())
}

async fn backoff(policy: &RetryPolicy, attempt: u32) {
    let wait = policy.backoff(attempt, &mut rand::rng());
    tokio::time::sleep(wait).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn items_are_read_one_by_one_and_classified() {
        let answer = br#"{"took":3,"errors":true,"items":[
            {"index":{"_id":"1","status":201}},
            {"index":{"_id":"2","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"index":{"_id":"3","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [dateOfBirth]","caused_by":{"type":"x","reason":"bad date"}}}},
            {"index":{"_id":"4","status":503,"error":"unavailable"}}
        ]}"#;
        let verdicts = parse_answer(answer, 4).expect("parses");
        assert_eq!(verdicts[0], ItemVerdict::Done);
        assert_eq!(
            verdicts[1],
            ItemVerdict::Retry {
                status: 429,
                reason: "es_rejected_execution_exception: queue full".into()
            }
        );
        assert_eq!(
            verdicts[2],
            ItemVerdict::Rejected {
                status: 400,
                error_type: "mapper_parsing_exception".into(),
                reason: "failed to parse field [dateOfBirth]: bad date".into()
            }
        );
        assert!(matches!(
            verdicts[3],
            ItemVerdict::Retry { status: 503, .. }
        ));
    }

    #[test]
    fn a_version_conflict_means_a_newer_copy_is_there_and_counts_as_done() {
        let answer = br#"{"errors":true,"items":[
            {"index":{"_id":"1","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[1]: version conflict, current version [5] is higher or equal to the one provided [3]"}}},
            {"delete":{"_id":"2","status":409,"error":{"type":"version_conflict_engine_exception","reason":"conflict"}}},
            {"index":{"_id":"3","status":409,"error":{"type":"other_exception","reason":"not a version conflict"}}}
        ]}"#;
        let verdicts = parse_answer(answer, 3).expect("parses");
        assert_eq!(verdicts[0], ItemVerdict::Done);
        assert_eq!(verdicts[1], ItemVerdict::Done);
        assert!(matches!(
            verdicts[2],
            ItemVerdict::Rejected { status: 409, .. }
        ));
    }

    #[test]
    fn an_answer_that_does_not_account_for_every_item_is_an_error() {
        let answer = br#"{"errors":false,"items":[{"index":{"status":201}}]}"#;
        assert!(
            parse_answer(answer, 2)
                .expect_err("short")
                .contains("1 items for 2 sent")
        );
        assert!(parse_answer(b"<html>502 Bad Gateway</html>", 1).is_err());
        assert!(parse_answer(br#"{"errors":false,"items":[{"index":{"status":2"#, 1).is_err());
    }

    proptest! {
        #[test]
        fn the_answer_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), expected in 0usize..5) {
            let _ = parse_answer(&bytes, expected);
        }

        #[test]
        fn the_answer_parser_never_panics_on_json_shaped_input(text in r#"\{"items":\[(\{"[a-z]{0,6}":\{"status":[0-9]{1,3}(,"error":("[a-z]*"|\{"type":"[a-z]*"\}|null|1))?\}\},?){0,4}\]\}"#) {
            let _ = parse_answer(text.as_bytes(), 2);
        }
    }

    /// A bulk answer for `statuses`, with an error object on every failed item.
    fn answer_for(statuses: &[u16]) -> String {
        let items: Vec<Value> = statuses
            .iter()
            .enumerate()
            .map(|(i, status)| {
                let mut item =
                    serde_json::json!({ "_index": "x", "_id": i.to_string(), "status": status });
                if *status >= 300 {
                    item["error"] =
                        serde_json::json!({ "type": "some_exception", "reason": "because" });
                }
                serde_json::json!({ "index": item })
            })
            .collect();
        serde_json::json!({ "took": 1, "errors": true, "items": items }).to_string()
    }

    #[test]
    fn nesting_deeper_than_any_answer_is_an_error_not_a_stack_overflow() {
        for depth in [200, 100_000] {
            let deep = format!("{{\"items\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
            assert!(parse_answer(deep.as_bytes(), 1).is_err());
            let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
            assert!(parse_answer(objects.as_bytes(), 1).is_err());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Every cut of a real answer short of its end is an error: a truncated answer never
        /// counts anything as done.
        #[test]
        fn every_truncation_of_an_answer_is_an_error(statuses in proptest::collection::vec(prop_oneof![Just(200u16), Just(201), Just(400), Just(409), Just(429), Just(503)], 1..40)) {
            let answer = answer_for(&statuses);
            let bytes = answer.as_bytes();
            prop_assert_eq!(parse_answer(bytes, statuses.len()).map(|v| v.len()), Ok(statuses.len()));
            for cut in 0..bytes.len() {
                prop_assert!(parse_answer(&bytes[..cut], statuses.len()).is_err(), "accepted a cut at {cut}");
            }
        }

        /// Random answers of up to 2,000 items: one verdict per item when the count matches
        /// (done, retry or rejection according to the status), an error otherwise.
        #[test]
        fn verdicts_follow_the_status_of_each_item(
            statuses in proptest::collection::vec(any::<u16>(), 0..2_000),
            off_by in prop_oneof![Just(0usize), 1usize..3],
        ) {
            let answer = answer_for(&statuses);
            let expected = statuses.len() + off_by;
            let verdicts = parse_answer(answer.as_bytes(), expected);
            if off_by > 0 {
                prop_assert!(verdicts.is_err());
                return Ok(());
            }
            let verdicts = verdicts.map_err(TestCaseError::fail)?;
            for (status, verdict) in statuses.iter().zip(&verdicts) {
                match verdict {
                    ItemVerdict::Done => prop_assert!((200..300).contains(status)),
                    ItemVerdict::Retry { status: s, .. } => prop_assert!(s == status && is_retriable_status(*s)),
                    ItemVerdict::Rejected { status: s, .. } => prop_assert!(s == status && !(200..300).contains(s)),
                }
            }
        }

        /// Large random bytes (up to 64 KiB), and a valid answer with random bytes spliced in.
        #[test]
        fn large_random_and_corrupted_answers_never_panic(
            noise in proptest::collection::vec(any::<u8>(), 0..65_536),
            at in any::<prop::sample::Index>(),
            statuses in proptest::collection::vec(Just(201u16), 1..20),
        ) {
            prop_assert!(parse_answer(&noise, 1).is_err());
            let answer = answer_for(&statuses);
            let mut corrupted = answer.into_bytes();
            let at = at.index(corrupted.len());
            corrupted.splice(at..at, noise.iter().copied().take(64));
            let _ = parse_answer(&corrupted, statuses.len());
        }
    }
}
