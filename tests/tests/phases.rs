//! Kill -9 and SIGTERM at each phase boundary of a rebuild — setup, load, after the stream's
//! drain, gate, swap, retire — single and split over two workers.
//!
//! The fault proxy holds the run at the boundary (the request that begins the next phase never
//! answers; for the swap and the retire, the request was applied first), the signal arrives
//! there, and then: a SIGTERM'd run exits with a summary that matches where the alias really
//! points and a job record that says the same; a killed run's record is closed truthfully by
//! the next rebuild (`succeeded` when the alias had moved onto its index, never `running`); and
//! whatever the signal, the next rebuild recovers to exact counts.

use std::time::{Duration, Instant};

use indexer_tests::faults::{Fault, FaultPlan, FaultProxy, Rule};
use indexer_tests::harness::{
    Names, Search, eventually, finish, indexer, put, rebuild_args, rebuilt, services, signal,
    spawn_indexer, unique, worker_pid,
};

const ITEMS: u64 = 40;

/// A phase boundary: the `nth` request of `method` whose path passes `test` is held.
struct Boundary {
    phase: &'static str,
    method: &'static str,
    nth: u32,
    fault: Fault,
    test: fn(&str, &str) -> bool,
    /// The table has a stream, so the run drains it before the gate.
    stream: bool,
}

fn boundaries() -> Vec<Boundary> {
    vec![
        Boundary {
            phase: "setup",
            method: "PUT",
            nth: 1,
            fault: Fault::Hang,
            test: |alias, p| p.starts_with(&format!("/{alias}-")) && p.matches('/').count() == 1,
            stream: false,
        },
        Boundary {
            phase: "load",
            method: "POST",
            nth: 2,
            fault: Fault::Hang,
            test: |_, p| p.ends_with("/_bulk"),
            stream: false,
        },
        // The stream is drained; the next request restores the live settings.
        Boundary {
            phase: "drain",
            method: "PUT",
            nth: 1,
            fault: Fault::Hang,
            test: |alias, p| p.starts_with(&format!("/{alias}-")) && p.ends_with("/_settings"),
            stream: true,
        },
        Boundary {
            phase: "gate",
            method: "POST",
            nth: 1,
            fault: Fault::Hang,
            test: |_, p| p.ends_with("/_refresh"),
            stream: false,
        },
        Boundary {
            phase: "swap",
            method: "POST",
            nth: 1,
            fault: Fault::ApplyThenHang,
            test: |_, p| p == "/_aliases",
            stream: false,
        },
        Boundary {
            phase: "retire",
            method: "DELETE",
            nth: 1,
            fault: Fault::ApplyThenHang,
            test: |alias, p| p.starts_with(&format!("/{alias}-")) && p.matches('/').count() == 1,
            stream: false,
        },
    ]
}

const ARGS: [&str; 16] = [
    "--request-timeout",
    "10",
    "--stop-timeout",
    "3",
    "--heartbeat",
    "1",
    "--lease",
    "3",
    "--batch-docs",
    "10",
    "--segments",
    "4",
    "--concurrency",
    "1",
    "--keep",
    "1",
];

/// Holds a rebuild at `boundary`, signals it, and checks the state and the recovery.
async fn stop_at(boundary: &Boundary, kill: bool, workers: u32) -> Result<String, String> {
    let name = format!(
        "{} {} ({} worker{})",
        boundary.phase,
        if kill { "SIGKILL" } else { "SIGTERM" },
        workers,
        if workers == 1 { "" } else { "s" }
    );
    let (names, search, mut previous) = if boundary.stream {
        rebuilt_with_stream().await
    } else {
        rebuilt("tenures", ITEMS).await
    };
    if boundary.phase == "retire" {
        let again = indexer(&rebuild_args(&names, "tenures", &search.url, &[])).await;
        previous = again.summary["new_index"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    }
    let alias = names.alias.clone();
    let test = boundary.test;
    let rule = Rule::new(
        &name,
        boundary.method,
        boundary.nth,
        boundary.fault,
        move |p| test(&alias, p),
    );
    let proxy = FaultProxy::start(
        &search.url,
        FaultPlan {
            rules: vec![rule],
            ..FaultPlan::default()
        },
    )
    .await
    .map_err(|e| format!("{name}: {e}"))?;
    let workers_arg = workers.to_string();
    let mut args = rebuild_args(&names, "tenures", &proxy.url, &ARGS);
    args.extend(["--workers", &workers_arg]);
    let child = spawn_indexer(&args, &[]);
    let pid = child.id().map(|p| p.to_string()).unwrap_or_default();
    eventually(
        &format!("{name}: the boundary"),
        Duration::from_secs(120),
        || async { (proxy.seen().rule_hits[0] >= 1).then_some(()) },
    )
    .await;
    let mut problems = Vec::new();
    // The run held at the boundary (not the build before it), and whether its swap applied.
    // Without its record nothing after the recovery could be checked: that is a failure.
    let deadline = Instant::now() + Duration::from_secs(60);
    let held = loop {
        let latest = search
            .latest_job(&names.alias)
            .await
            .filter(|job| job["job_id"] != previous.as_str() && job["job_id"].is_string());
        if latest.is_some() || Instant::now() >= deadline {
            break latest;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if held.is_none() {
        problems.push(
            "no job record of the held run (the latest job is still the previous build)".to_owned(),
        );
    }
    if kill {
        // Every process of the run dies at once, as a task whose host vanished.
        if workers > 1 {
            if let Some(job) = search.latest_job(&names.alias).await {
                for worker in 0..u64::from(workers) {
                    if let Some(pid) = worker_pid(&job, worker) {
                        signal("-KILL", &pid);
                    }
                }
            }
        }
        signal("-KILL", &pid);
        let _ = finish(child, &args).await;
    } else {
        signal("-TERM", &pid);
        let run = finish(child, &args).await;
        problems.extend(check_stopped(&search, &names, &previous, &run.summary, run.code).await);
    }
    let moved = held.as_ref().is_some_and(|job| {
        job["new_index"]
            .as_str()
            .is_some_and(|index| index != previous)
    }) && search.alias_targets(&names.alias).await
        == vec![
            held.as_ref()
                .and_then(|j| j["new_index"].as_str())
                .unwrap_or_default()
                .to_owned(),
        ];
    drop(proxy);
    problems.extend(recover(&search, &names).await);
    if let Some(job) = held.as_ref().and_then(|job| job["job_id"].as_str()) {
        let status = search
            .job_doc(&format!("job:{job}"))
            .await
            .map(|record| record["status"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let truthful = if moved {
            status == "succeeded"
        } else {
            ["interrupted", "failed"].contains(&status.as_str())
        };
        if !truthful {
            problems.push(format!(
                "after recovery the stopped job's record says {status:?} though its swap {} applied",
                if moved { "was" } else { "was not" }
            ));
        }
    } else {
        problems.push("the held run's record was never checked after recovery".to_owned());
    }
    if problems.is_empty() {
        Ok(name)
    } else {
        Err(format!("{name}: {}", problems.join("; ")))
    }
}

/// A SIGTERM'd run: its exit code and summary agree with each other and with the cluster.
async fn check_stopped(
    search: &Search,
    names: &Names,
    previous: &str,
    summary: &serde_json::Value,
    code: i32,
) -> Vec<String> {
    let mut problems = Vec::new();
    let targets = search.alias_targets(&names.alias).await;
    let swapped = summary["swapped"].as_bool().unwrap_or(false);
    let new_index = summary["new_index"].as_str().unwrap_or_default();
    match code {
        5 if summary["status"] == "interrupted" && !swapped => {}
        0 if summary["status"] == "succeeded" && swapped => {}
        _ => problems.push(format!("SIGTERM ended with exit {code}: {summary}")),
    }
    let expected = if swapped { new_index } else { previous };
    if targets != vec![expected.to_owned()] {
        problems.push(format!(
            "the summary says swapped={swapped} but the alias is on {targets:?}"
        ));
    }
    let recorded = match summary["job_id"].as_str() {
        Some(job) => search.job_doc(&format!("job:{job}")).await,
        None => None,
    };
    let status = recorded.as_ref().and_then(|r| r["status"].as_str());
    let expected = if code == 0 {
        "succeeded"
    } else {
        "interrupted"
    };
    if status != Some(expected) {
        problems.push(format!(
            "exit {code} but the job record says {status:?}, not {expected}"
        ));
    }
    problems
}

/// A table with a stream and `ITEMS` tenures, rebuilt once (see [`rebuilt`]).
async fn rebuilt_with_stream() -> (Names, Search, String) {
    let names = unique("TenureInformation", "tenures");
    let client = services().dynamo();
    indexer_tests::fixtures::create_table(&client, &names.table, true)
        .await
        .expect("table with a stream");
    put(
        &names.table,
        (0..ITEMS).map(indexer_tests::fixtures::tenure),
    )
    .await;
    let search = Search::default();
    let run = indexer(&rebuild_args(&names, "tenures", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    let index = run.summary["new_index"].as_str().expect("index").to_owned();
    (names, search, index)
}

/// The next rebuilds (waiting out a lock whose holder died) end with exact counts.
async fn recover(search: &Search, names: &Names) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let next = indexer(&rebuild_args(names, "tenures", &search.url, &ARGS)).await;
        if next.code == 4 && Instant::now() < deadline {
            continue;
        }
        let mut problems = Vec::new();
        if next.code != 0 || next.summary["scanned"] != ITEMS || next.summary["indexed"] != ITEMS {
            problems.push(format!("the next run did not recover: {next:?}"));
        }
        let new_index = next.summary["new_index"].as_str().unwrap_or_default();
        if search.alias_targets(&names.alias).await != vec![new_index.to_owned()]
            || search.count(&names.alias).await != ITEMS
        {
            problems.push("after recovery the alias does not hold every item".into());
        }
        return problems;
    }
}

async fn run_all(cases: Vec<(usize, bool, u32)>) {
    let mut failures = Vec::new();
    for chunk in cases.chunks(4) {
        let mut running = tokio::task::JoinSet::new();
        for &(boundary, kill, workers) in chunk {
            running.spawn(async move { stop_at(&boundaries()[boundary], kill, workers).await });
        }
        while let Some(done) = running.join_next().await {
            match done {
                Ok(Ok(line)) => eprintln!("{line}: recovered"),
                Ok(Err(problem)) => failures.push(problem),
                Err(panic) => failures.push(format!("a case panicked: {panic}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_single_run_stopped_at_any_phase_boundary_recovers() {
    let cases = (0..boundaries().len())
        .flat_map(|b| [(b, true, 1), (b, false, 1)])
        .collect();
    run_all(cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_split_run_stopped_at_any_phase_boundary_recovers() {
    let cases = (0..boundaries().len())
        .flat_map(|b| [(b, true, 2), (b, false, 2)])
        .collect();
    run_all(cases).await;
}
