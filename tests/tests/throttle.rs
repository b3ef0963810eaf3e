//! Load control: adaptive bulk concurrency under pressure, and the read-capacity cap.

use std::collections::HashMap;

use indexer_tests::faults::{FaultPlan, FaultProxy, RequestFault};
use indexer_tests::fixtures;
use indexer_tests::harness::{Search, indexer, rebuild_args, seed};
use serde_json::Value;

#[tokio::test]
async fn bulk_concurrency_backs_off_under_pressure_and_recovers_without_losing_anything() {
    let count = 800;
    let names = seed("persons", count).await;
    let search = Search::default();
    let mut bulk_requests = vec![None; 40];
    for (n, fault) in [
        (9, RequestFault::Status(503)),
        (10, RequestFault::Status(429)),
        (18, RequestFault::Reset),
        (26, RequestFault::Status(502)),
    ] {
        bulk_requests[n] = Some(fault);
    }
    let plan = FaultPlan {
        bulk_requests,
        items: HashMap::from([(fixtures::person_id(11), vec![429])]),
        ..FaultPlan::default()
    };
    let proxy = FaultProxy::start(&search.url, plan).await.expect("proxy");
    let extra = [
        "--batch-docs",
        "20",
        "--concurrency",
        "4",
        "--retry-base-ms",
        "5",
    ];
    let run = indexer(&rebuild_args(&names, "persons", &proxy.url, &extra)).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["scanned"], count);
    assert_eq!(run.summary["indexed"], count);
    assert_eq!(run.summary["dead_lettered"], 0);
    assert_eq!(search.count(&names.alias).await, count);
    let seen = proxy.seen();
    assert_eq!((seen.injected_statuses, seen.resets), (3, 1));

    let moves: Vec<(String, u64)> = run
        .stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| {
            line["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("bulk concurrency"))
        })
        .map(|line| {
            (
                line["direction"].as_str().unwrap_or_default().to_owned(),
                line["concurrency"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let first_decrease = moves
        .iter()
        .position(|(d, _)| d == "decreased")
        .unwrap_or_else(|| panic!("no decrease in {moves:?}"));
    assert!(
        moves[..first_decrease]
            .iter()
            .any(|(d, _)| d == "increased"),
        "it grew first: {moves:?}"
    );
    assert!(
        moves[first_decrease..]
            .iter()
            .any(|(d, _)| d == "increased"),
        "it recovered: {moves:?}"
    );
    assert!(
        run.summary["max_concurrency_reached"]
            .as_u64()
            .unwrap_or_default()
            >= 2,
        "{}",
        run.summary
    );
    assert!((1..=4).contains(&run.summary["concurrency"].as_u64().unwrap_or_default()));
}

#[tokio::test]
async fn the_read_rate_stays_within_ten_percent_of_the_cap() {
    let names = seed("persons", 1_500).await;
    let cap = 60.0;
    let run = indexer(&[
        "rebuild",
        "--table",
        &names.table,
        "--index",
        &names.alias,
        "--entity",
        "persons",
        "--dry-run",
        "--max-read-units",
        "60",
        "--segments",
        "2",
        "--page-size",
        "25",
    ])
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["scanned"], 1_500);
    let units = run.summary["read_units"].as_f64().unwrap_or_default();
    let rate = run.summary["read_units_per_s"].as_f64().unwrap_or_default();
    assert!(
        units > 3.0 * cap,
        "the scan must last several seconds at the cap: {units} units"
    );
    eprintln!("read cap {cap} units/s: consumed {units} units at {rate} units/s");
    assert!(
        (rate - cap).abs() <= cap * 0.1,
        "measured {rate} units/s against a cap of {cap}: {}",
        run.summary
    );
}
