//! Retries and dead letters against a proxy that injects 429/503, connection resets and per-item
//! failures in front of the real search server.

use std::collections::HashMap;

use indexer_tests::faults::{FaultPlan, FaultProxy, RequestFault};
use indexer_tests::fixtures;
use indexer_tests::harness::{
    Search, dead_letter_path, dead_letters, indexer, rebuild_args, rebuilt, seed,
};

const FAST_RETRIES: [&str; 2] = ["--retry-base-ms", "5"];

fn args<'a>(extra: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    let mut all = extra.to_vec();
    all.extend_from_slice(more);
    all
}

#[tokio::test]
async fn transient_failures_are_retried_until_every_item_is_indexed() {
    let count = 200;
    let names = seed("persons", count).await;
    let search = Search::default();
    let plan = FaultPlan {
        bulk_requests: vec![
            Some(RequestFault::Status(503)),
            Some(RequestFault::Status(429)),
            Some(RequestFault::Reset),
            None,
            Some(RequestFault::Status(502)),
        ],
        items: HashMap::from([
            (fixtures::person_id(3), vec![429, 503]),
            (fixtures::person_id(42), vec![429]),
        ]),
        ..FaultPlan::default()
    };
    let proxy = FaultProxy::start(&search.url, plan).await.expect("proxy");
    let run = indexer(&rebuild_args(
        &names,
        "persons",
        &proxy.url,
        &args(&FAST_RETRIES, &["--batch-docs", "40", "--concurrency", "1"]),
    ))
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["indexed"], count);
    assert_eq!(run.summary["dead_lettered"], 0);
    let seen = proxy.seen();
    assert_eq!(
        (seen.injected_statuses, seen.resets, seen.injected_items),
        (3, 1, 3)
    );
    assert!(
        run.summary["retries"].as_u64().unwrap_or_default() >= 6,
        "{}",
        run.summary
    );
    assert_eq!(search.count(&names.alias).await, count);
    assert!(
        search
            .source(&names.alias, &fixtures::person_id(3))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn rejected_items_are_dead_lettered_and_the_gate_counts_them() {
    let count = 90;
    let names = seed("tenures", count).await;
    let search = Search::default();
    let rejected = vec![fixtures::tenure_id(5), fixtures::tenure_id(77)];
    let plan = FaultPlan {
        always_reject: rejected.clone(),
        ..FaultPlan::default()
    };
    let proxy = FaultProxy::start(&search.url, plan).await.expect("proxy");
    let dead = dead_letter_path(&names);

    let run = indexer(&rebuild_args(
        &names,
        "tenures",
        &proxy.url,
        &args(&FAST_RETRIES, &["--dead-letter", &dead]),
    ))
    .await;
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.summary["dead_lettered"], 2);
    assert_eq!(run.summary["indexed"], count - 2);
    assert!(search.alias_targets(&names.alias).await.is_empty());
    let records = dead_letters(&dead);
    let mut ids: Vec<String> = records
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    let mut expected = rejected.clone();
    expected.sort();
    assert_eq!(ids, expected);
    for record in &records {
        assert_eq!(record["status"], 400);
        assert_eq!(record["error_type"], "mapper_parsing_exception");
        assert_eq!(
            record["document"]["id"], record["id"],
            "the refused document is kept"
        );
    }

    std::fs::remove_file(&dead).ok();
    let run = indexer(&rebuild_args(
        &names,
        "tenures",
        &proxy.url,
        &args(
            &FAST_RETRIES,
            &["--dead-letter", &dead, "--max-errors", "2"],
        ),
    ))
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(search.count(&names.alias).await, count - 2);
}

#[tokio::test]
async fn items_still_throttled_after_the_retry_budget_are_dead_lettered() {
    let names = seed("assets", 30).await;
    let search = Search::default();
    let stuck = fixtures::asset_id(7);
    let plan = FaultPlan {
        items: HashMap::from([(stuck.clone(), vec![429; 10])]),
        ..FaultPlan::default()
    };
    let proxy = FaultProxy::start(&search.url, plan).await.expect("proxy");
    let dead = dead_letter_path(&names);
    let run = indexer(&rebuild_args(
        &names,
        "assets",
        &proxy.url,
        &args(
            &FAST_RETRIES,
            &["--dead-letter", &dead, "--max-retries", "2"],
        ),
    ))
    .await;
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.summary["dead_lettered"], 1);
    let records = dead_letters(&dead);
    assert_eq!(records[0]["id"], stuck.as_str());
    assert_eq!(records[0]["error_type"], "retries_exhausted");
    assert_eq!(records[0]["status"], 429);
    assert_eq!(
        proxy.seen().injected_items,
        3,
        "one attempt and two retries"
    );
}

#[tokio::test]
async fn a_cluster_that_keeps_failing_fails_the_run_and_leaves_the_alias_untouched() {
    let (names, search, live) = rebuilt("persons", 20).await;
    let plan = FaultPlan {
        bulk_requests: vec![Some(RequestFault::Status(503)); 50],
        ..FaultPlan::default()
    };
    let proxy = FaultProxy::start(&search.url, plan).await.expect("proxy");
    let run = indexer(&rebuild_args(
        &names,
        "persons",
        &proxy.url,
        &args(&FAST_RETRIES, &["--max-retries", "3"]),
    ))
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.summary["status"], "failed");
    assert!(
        run.summary["error"]
            .as_str()
            .unwrap_or_default()
            .contains("503"),
        "{}",
        run.summary
    );
    assert_eq!(run.summary["swapped"], false);
    assert_eq!(
        proxy.seen().injected_statuses,
        4,
        "one attempt and three retries"
    );
    assert_eq!(search.alias_targets(&names.alias).await, vec![live]);
    assert_eq!(search.count(&names.alias).await, 20);
    // The failed job is resumed, not thrown away: its checkpoints hold only durable verdicts.
    let again = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.summary["resumed_from"], run.summary["job_id"]);
    assert_eq!(search.count(&names.alias).await, 20);
}

#[tokio::test]
async fn a_bulk_request_that_never_answers_times_out_and_is_retried() {
    let names = seed("tenures", 30).await;
    let search = Search::default();
    let plan = FaultPlan {
        bulk_requests: vec![Some(RequestFault::Hang)],
        ..FaultPlan::default()
    };
    let proxy = FaultProxy::start(&search.url, plan).await.expect("proxy");
    let run = indexer(&rebuild_args(
        &names,
        "tenures",
        &proxy.url,
        &args(&FAST_RETRIES, &["--request-timeout", "2"]),
    ))
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(proxy.seen().hangs, 1);
    assert!(
        run.summary["retries"].as_u64().unwrap_or_default() >= 1,
        "{}",
        run.summary
    );
    assert_eq!(run.summary["indexed"], 30);
    assert!(
        run.stderr.contains("bulk request failed, retrying"),
        "{}",
        run.stderr
    );
    assert_eq!(search.count(&names.alias).await, 30);
}

#[tokio::test]
async fn progress_is_logged_as_json_lines_while_a_rebuild_runs() {
    let names = seed("persons", 200).await;
    let search = Search::default();
    let plan = FaultPlan {
        bulk_delay: std::time::Duration::from_millis(400),
        ..FaultPlan::default()
    };
    let proxy = FaultProxy::start(&search.url, plan).await.expect("proxy");
    let run = indexer(&rebuild_args(
        &names,
        "persons",
        &proxy.url,
        &[
            "--batch-docs",
            "20",
            "--concurrency",
            "1",
            "--progress-interval",
            "1",
        ],
    ))
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let progress: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["message"] == "progress")
        .collect();
    assert!(
        progress.len() >= 2,
        "expected progress lines in {}",
        run.stderr
    );
    for line in &progress {
        for field in [
            "scanned",
            "indexed",
            "dead_lettered",
            "docs_per_s",
            "segments_done",
            "segments",
        ] {
            assert!(line.get(field).is_some(), "{field} missing from {line}");
        }
    }
    let indexed: Vec<u64> = progress
        .iter()
        .filter_map(|l| l["indexed"].as_u64())
        .collect();
    assert!(
        indexed.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes backwards: {indexed:?}"
    );
    assert!(
        run.stdout.lines().count() == 1,
        "stdout holds only the summary: {}",
        run.stdout
    );
}
