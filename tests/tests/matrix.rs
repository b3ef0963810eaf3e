//! The fault matrix: every kind of request a rebuild makes, against each kind of fault —
//! throttling, server errors, a reset before forwarding, a hang, and the fault no real server
//! shows on its own: **forwarded and applied, then the answer dropped**.
//!
//! For each cell a rebuild (of an alias that already has a live index) either succeeds with exact
//! counts, or exits non-zero with a summary that matches the cluster's real state — where the
//! alias points, whether it swapped, the job no longer `running` — and the next run recovers to
//! exact counts. Cells run a few at a time; each has its own table and alias.

use std::time::{Duration, Instant};

use indexer_tests::faults::{Fault, FaultPlan, FaultProxy, Rule};
use indexer_tests::harness::{Names, Search, indexer, rebuild_args, rebuilt};
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
        "lock write" => ("PUT", Box::new(move |p: &str| p == lock)),
        "lock release" => ("DELETE", Box::new(move |p: &str| p == lock)),
        "job write" => (
            "PUT",
            Box::new(|p: &str| p.starts_with("/indexer-jobs/_doc/job:")),
        ),
        "bulk" => ("POST", Box::new(|p: &str| p.ends_with("/_bulk"))),
        other => panic!("unknown request kind {other}"),
    }
}

/// One cell: the `nth` request of `kind` meets `fault`; `expect` is the exit code the design
/// promises, when it promises one.
struct Cell {
    kind: &'static str,
    nth: u32,
    fault: Fault,
    expect: Option<i32>,
    /// Only bodies at least this long count (to refuse whole bulk requests as too large).
    min_body: usize,
}

fn cell(kind: &'static str, nth: u32, fault: Fault, expect: Option<i32>) -> Cell {
    Cell {
        kind,
        nth,
        fault,
        expect,
        min_body: 0,
    }
}

fn cells() -> Vec<Cell> {
    use Fault::*;
    vec![
        cell("create index", 1, DropAnswer, Some(0)),
        cell("create index", 1, Status(503), Some(0)),
        cell("settings", 1, Status(429), Some(0)),
        cell("settings", 1, DropAnswer, Some(0)),
        cell("refresh", 1, Reset, Some(0)),
        cell("count", 1, DropAnswer, Some(0)),
        cell("aliases", 1, DropAnswer, Some(0)),
        cell("aliases", 1, Status(500), Some(1)),
        cell("aliases", 1, Hang, Some(1)),
        cell("lock write", 1, DropAnswer, Some(0)),
        cell("lock write", 2, DropAnswer, Some(0)),
        cell("lock write", 2, Status(503), Some(0)),
        cell("lock release", 1, DropAnswer, Some(0)),
        cell("job write", 1, DropAnswer, Some(0)),
        cell("job write", 3, DropAnswer, Some(0)),
        cell("job write", 3, Status(429), Some(0)),
        cell("bulk", 1, DropAnswer, Some(0)),
        cell("bulk", 2, Hang, Some(0)),
        Cell {
            min_body: 4_000,
            ..cell("bulk", 1, Status(413), Some(0))
        },
        cell("delete index", 1, DropAnswer, Some(0)),
    ]
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
    if let Some(job) = run["job_id"].as_str()
        && let Some(record) = search.job_doc(&format!("job:{job}")).await
    {
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
    problems
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
    let rule = Rule {
        min_body: cell.min_body,
        ..Rule::new(&name, method, cell.nth, cell.fault, test)
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
    if let Some(expect) = cell.expect
        && run.code != expect
    {
        problems.push(format!(
            "exit {} (expected {expect}): {}",
            run.code, run.summary
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
