//! The fault matrix: every kind of request a rebuild makes, against each kind of fault —
//! throttling, server errors, a reset before forwarding, a hang, and the fault no real server
//! shows on its own: **forwarded and applied, then the answer dropped**.
//!
//! For each cell a rebuild (of an alias that already has a live index) either succeeds with exact
//! counts, or exits non-zero with a summary that matches the cluster's real state — where the
//! alias points, whether it swapped, the job no longer `running` — and the next run recovers to
//! exact counts. Cells run a few at a time; each has its own table and alias.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indexer_tests::faults::{Fault, FaultPlan, FaultProxy, Rule};
use indexer_tests::harness::{Names, Search, indexer, rebuild_args, rebuilt};
use indexer_tests::http1::Request;
use serde_json::Value;

const ITEMS: u64 = 40;

/// A test on a request's path.
type PathTest = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// The request kinds of a rebuild of `alias`, as (method, path test).
fn request(kind: &str, alias: &str) -> (&'static str, PathTest) {
    let building = format!("/{alias}-");
    let lock = format!("/indexer-jobs/_doc/lock:{alias}");
    match kind {
        "create index" => (
            "PUT",
            Box::new(move |p: &str| p.starts_with(&building) && p.matches('/').count() == 1),
        ),
        "delete index" => (
            "DELETE",
            Box::new(move |p: &str| p.starts_with(&building) && p.matches('/').count() == 1),
        ),
        "settings" => (
            "PUT",
            Box::new(move |p: &str| p.starts_with(&building) && p.ends_with("/_settings")),
        ),
        "refresh" => ("POST", Box::new(|p: &str| p.ends_with("/_refresh"))),
        "count" => (
            "GET",
            Box::new(move |p: &str| p.starts_with(&building) && p.ends_with("/_count")),
        ),
        "aliases" => ("POST", Box::new(|p: &str| p == "/_aliases")),
        "lock create" | "lock renew" => ("PUT", Box::new(move |p: &str| p == lock)),
        "lock release" => ("DELETE", Box::new(move |p: &str| p == lock)),
        "job create" | "job write" | "job end" => (
            "PUT",
            Box::new(|p: &str| p.starts_with("/indexer-jobs/_doc/job:")),
        ),
        "bulk" => ("POST", Box::new(|p: &str| p.ends_with("/_bulk"))),
        other => panic!("unknown request kind {other}"),
    }
}

/// Which request of a kind is faulted, and whether only bodies holding some text count (the
/// job record's final write is the one that says `succeeded`).
fn nth_of(kind: &str) -> (u32, Option<&'static str>) {
    match kind {
        // The second lock write renews it; the third job write is a heartbeat.
        "lock renew" => (2, None),
        "job write" => (3, None),
        "bulk" => (2, None),
        "job end" => (1, Some("\"status\":\"succeeded\"")),
        _ => (1, None),
    }
}

/// Every request kind a rebuild makes.
const KINDS: [&str; 13] = [
    "create index",
    "delete index",
    "settings",
    "refresh",
    "count",
    "aliases",
    "lock create",
    "lock renew",
    "lock release",
    "job create",
    "job write",
    "job end",
    "bulk",
];

/// One cell: the `nth` request of `kind` meets `fault`; `expect` is the exit code the design
/// promises.
struct Cell {
    kind: &'static str,
    nth: u32,
    fault: Fault,
    expect: i32,
    /// Only bodies at least this long count (to refuse whole bulk requests as too large).
    min_body: usize,
    /// Only bodies holding this text count.
    holding: Option<&'static str>,
}

/// A cluster's refusal of a request body larger than it takes.
const TOO_LONG: &str = r#"{"error":{"type":"content_too_long_exception","reason":"request content is too long"},"status":400}"#;

/// Every request kind against every fault: the `_aliases` call is sent once, never retried, so
/// a fault that keeps it from applying fails the run (exit 1, the alias untouched); everything
/// else is retried or read back, and the run succeeds.
fn cells() -> Vec<Cell> {
    use Fault::*;
    let mut cells = Vec::new();
    for kind in KINDS {
        for fault in [Status(429), Status(503), Reset, Hang, DropAnswer] {
            let (nth, holding) = nth_of(kind);
            let expect = if kind == "aliases" && fault != DropAnswer {
                1
            } else {
                0
            };
            cells.push(Cell {
                kind,
                nth,
                fault,
                expect,
                min_body: 0,
                holding,
            });
        }
    }
    // A whole bulk request refused as too large — a 413, or a 400 that says the content is too
    // long — is sent again in halves.
    for fault in [Status(413), Answer(400, TOO_LONG)] {
        cells.push(Cell {
            kind: "bulk",
            nth: 1,
            fault,
            expect: 0,
            min_body: 4_000,
            holding: None,
        });
    }
    cells
}

const FAST: [&str; 12] = [
    "--request-timeout",
    "3",
    "--retry-base-ms",
    "50",
    "--heartbeat",
    "1",
    "--lease",
    "3",
    "--batch-docs",
    "10",
    "--segments",
    "2",
];

/// Checks what a faulted run reported against the cluster; returns the problems found.
async fn check_faulted(
    search: &Search,
    names: &Names,
    previous: &str,
    run: &Value,
    code: i32,
) -> Vec<String> {
    let mut problems = Vec::new();
    let new_index = run["new_index"].as_str().unwrap_or_default().to_owned();
    let targets = search.alias_targets(&names.alias).await;
    let swapped = run["swapped"].as_bool().unwrap_or(false);
    if swapped && targets != vec![new_index.clone()] {
        problems.push(format!(
            "summary says swapped but the alias is on {targets:?}"
        ));
    }
    if !swapped && targets != vec![previous.to_owned()] {
        problems.push(format!(
            "summary says not swapped but the alias is on {targets:?}, not {previous}"
        ));
    }
    if code == 0 {
        if run["scanned"] != ITEMS || run["indexed"] != ITEMS || !swapped {
            problems.push(format!("exit 0 without exact counts and a swap: {run}"));
        }
        if search.count(&names.alias).await != ITEMS {
            problems.push("exit 0 but the alias does not hold every item".into());
        }
    }
    // Which indexes exist: the one replaced is kept, the one that went live is there, and every
    // index the summary says it deleted is gone.
    if !index_exists(search, previous).await {
        problems.push(format!("the replaced index {previous} is gone"));
    }
    if swapped && !index_exists(search, &new_index).await {
        problems.push(format!(
            "the summary says swapped but {new_index} does not exist"
        ));
    }
    for deleted in run["deleted_indexes"].as_array().into_iter().flatten() {
        let deleted = deleted.as_str().unwrap_or_default();
        if index_exists(search, deleted).await {
            problems.push(format!(
                "the summary says {deleted} was deleted, but it exists"
            ));
        }
    }
    match run["job_id"].as_str() {
        Some(job) => match search.job_doc(&format!("job:{job}")).await {
            Some(record) => {
                let status = record["status"].as_str().unwrap_or_default();
                let expected = match code {
                    0 => "succeeded",
                    3 => "gate_failed",
                    _ => "failed",
                };
                if status != expected {
                    problems.push(format!("exit {code} but the job record says {status}"));
                }
            }
            None => problems.push(format!("no record of job {job}")),
        },
        None => problems.push(format!("a summary without a job id: {run}")),
    }
    // The lock is released, or the summary says why it is left to go stale.
    if search
        .job_doc(&format!("lock:{}", names.alias))
        .await
        .is_some()
        && !run["warnings"]
            .to_string()
            .contains("lock could not be released")
    {
        problems.push("the lock is left behind and the summary does not say so".into());
    }
    problems
}

async fn index_exists(search: &Search, index: &str) -> bool {
    search.indexes(index).await.iter().any(|i| i == index)
}

async fn run_cell(cell: Cell) -> Result<String, String> {
    let name = format!("{} #{} {:?}", cell.kind, cell.nth, cell.fault);
    let (names, search, previous) = rebuilt("tenures", ITEMS).await;
    let mut previous = previous;
    if cell.kind == "delete index" {
        // A second build, so the faulted one has an old index to retire.
        let again = indexer(&rebuild_args(&names, "tenures", &search.url, &[])).await;
        previous = again.summary["new_index"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    }
    let (method, test) = request(cell.kind, &names.alias);
    let holding = cell.holding;
    let rule = Rule {
        min_body: cell.min_body,
        matches: Arc::new(move |request: &Request| {
            request.method == method
                && test(request.path())
                && holding.is_none_or(|text| String::from_utf8_lossy(&request.body).contains(text))
        }),
        ..Rule::new(&name, method, cell.nth, cell.fault, |_| false)
    };
    let proxy = FaultProxy::start(
        &search.url,
        FaultPlan {
            rules: vec![rule],
            ..FaultPlan::default()
        },
    )
    .await
    .map_err(|e| format!("{name}: proxy: {e}"))?;
    let started = Instant::now();
    let run = indexer(&rebuild_args(&names, "tenures", &proxy.url, &FAST)).await;
    let seconds = started.elapsed().as_secs_f64();
    let hits = proxy.seen().rule_hits[0];
    drop(proxy);
    let mut problems = Vec::new();
    if hits != 1 {
        problems.push(format!("the fault fired {hits} times, not once"));
    }
    if run.code != cell.expect {
        problems.push(format!(
            "exit {} (expected {}): {}",
            run.code, cell.expect, run.summary
        ));
    }
    problems.extend(check_faulted(&search, &names, &previous, &run.summary, run.code).await);
    // The next run, without faults, recovers to exact counts (waiting out a lock left behind).
    let deadline = Instant::now() + Duration::from_secs(30);
    let recovered = loop {
        let next = indexer(&rebuild_args(&names, "tenures", &search.url, &FAST)).await;
        if next.code != 4 || Instant::now() > deadline {
            break next;
        }
    };
    if recovered.code != 0 || recovered.summary["scanned"] != ITEMS {
        problems.push(format!("the next run did not recover: {recovered:?}"));
    } else if search.count(&names.alias).await != ITEMS {
        problems.push("after recovery the alias does not hold every item".into());
    }
    let line = format!("{name}: exit {} in {seconds:.1} s", run.code);
    if problems.is_empty() {
        Ok(line)
    } else {
        Err(format!("{line}: {}", problems.join("; ")))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_request_kind_survives_every_fault_or_reports_the_truth() {
    let mut failures = Vec::new();
    let mut cells = cells().into_iter();
    loop {
        let batch: Vec<Cell> = cells.by_ref().take(4).collect();
        if batch.is_empty() {
            break;
        }
        let mut running = tokio::task::JoinSet::new();
        for cell in batch {
            running.spawn(run_cell(cell));
        }
        while let Some(done) = running.join_next().await {
            match done {
                Ok(Ok(line)) => eprintln!("{line}"),
                Ok(Err(problem)) => failures.push(problem),
                Err(panic) => failures.push(format!("a cell panicked: {panic}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
