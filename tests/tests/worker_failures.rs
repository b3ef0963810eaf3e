//! A job split over workers that fails: a fatal error in one worker fails the job and stops the
//! others, with nothing swapped and the lock released.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use indexer_tests::faults::FaultProxy;
use indexer_tests::fixtures;
use indexer_tests::harness::{Search, indexer, put, rebuild_args, seed};

async fn proxy(search: &Search, bulk_delay_ms: u64) -> FaultProxy {
    FaultProxy::slowed(&search.url, Duration::from_millis(bulk_delay_ms)).await
}

/// Small pages and batches, one bulk at a time per worker, a short lease: runs that last long
/// enough to kill a worker in, and dead workers noticed within seconds.
const SLOW: [&str; 12] = [
    "--batch-docs",
    "20",
    "--page-size",
    "20",
    "--concurrency",
    "1",
    "--heartbeat",
    "1",
    "--lease",
    "3",
    "--segments",
    "6",
];

/// The running job's record once its `workers` workers have joined and the workers in `busy`
/// have each checkpointed at least one page.
#[tokio::test]
async fn a_fatal_error_in_one_worker_fails_the_job_and_stops_the_others() {
    let count = 600;
    let names = seed("persons", count).await;
    // Unmappable items land in every segment; worker 1 cannot write its dead-letter file (a
    // directory stands in its place), which is fatal for it.
    let broken = (0..40).map(|n| {
        let mut item = fixtures::person(20_000 + n);
        item.insert("tenures".into(), AttributeValue::S("not a list".into()));
        item
    });
    put(&names.table, broken).await;
    let dir = std::env::temp_dir();
    let dead = dir.join(format!("{}.dl.jsonl", names.alias));
    let blocked = dir.join(format!("{}.worker-1.dl.jsonl", names.alias));
    std::fs::create_dir_all(&blocked).expect("a directory where worker 1's file would go");
    let search = Search::default();
    let proxy = proxy(&search, 100).await;
    let dead = dead.display().to_string();
    let mut args = rebuild_args(&names, "persons", &proxy.url, &SLOW);
    args.extend_from_slice(&[
        "--workers",
        "2",
        "--max-errors",
        "100",
        "--dead-letter",
        &dead,
    ]);
    let run = indexer(&args).await;
    let _ = std::fs::remove_dir_all(&blocked);
    assert_eq!(run.code, 1, "{run:?}");
    let workers = run.summary["workers"].as_array().expect("workers");
    assert!(workers.iter().all(|w| w["exit_code"] == 1), "{workers:?}");
    let job = search
        .latest_job(&names.alias)
        .await
        .expect("the job record");
    assert_eq!(job["status"], "failed", "{job}");
    let message = job["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("worker 1:"), "{message}");
    assert!(
        search.alias_targets(&names.alias).await.is_empty(),
        "nothing swapped"
    );
    assert_eq!(proxy.seen().alias_updates, 0);
    assert!(
        job["checkpoints"]
            .as_array()
            .expect("checkpoints")
            .iter()
            .any(|c| c["done"] != true),
        "the others stopped before reading everything: {job}"
    );
    assert!(
        search
            .job_doc(&format!("lock:{}", names.alias))
            .await
            .is_none(),
        "lock released"
    );
}
