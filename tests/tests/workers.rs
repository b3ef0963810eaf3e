//! One rebuild split over K worker processes: exact counts and one swap, surviving kill -9 of
//! any worker, a gate failure or an abandon stopping every worker, and a stop resumed by a
//! different number of workers.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use indexer_tests::faults::FaultProxy;
use indexer_tests::fixtures;
use indexer_tests::harness::{
    Names, Run, Search, eventually, finish, indexer, put, rebuild_args, seed, signal,
    spawn_indexer, worker_pid,
};
use serde_json::Value;

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
async fn joined(search: &Search, alias: &str, workers: usize, busy: &[u64]) -> Value {
    eventually(
        "the workers to join and checkpoint",
        Duration::from_secs(120),
        || async {
            let job = search.latest_job(alias).await?;
            let states = job["worker_states"].as_array()?;
            let checkpointed = |worker: u64| {
                job["checkpoints"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["owner"] == worker && c["scanned"].as_u64().unwrap_or(0) > 0)
                })
            };
            (states.len() == workers && busy.iter().all(|&w| checkpointed(w))).then_some(job)
        },
    )
    .await
}

/// The process id of worker `worker` in a job record.
fn pid_of(job: &Value, worker: u64) -> String {
    worker_pid(job, worker).expect("the worker's pid")
}

/// A slowed `--workers K` rebuild of `count` seeded items of `entity`, running.
struct Started {
    names: Names,
    search: Search,
    proxy: FaultProxy,
    args: Vec<String>,
    parent: tokio::process::Child,
    /// The job's record once every worker joined and those in `busy` checkpointed a page.
    job: Value,
}

impl Started {
    async fn new(
        entity: &str,
        count: u64,
        delay_ms: u64,
        extra: &[&str],
        workers: usize,
        busy: &[u64],
    ) -> Started {
        let names = seed(entity, count).await;
        let search = Search::default();
        let proxy = proxy(&search, delay_ms).await;
        let mut flags = SLOW.to_vec();
        flags.extend_from_slice(extra);
        let args: Vec<String> = rebuild_args(&names, entity, &proxy.url, &flags)
            .into_iter()
            .map(str::to_owned)
            .collect();
        let parent = spawn_indexer(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
        let job = joined(&search, &names.alias, workers, busy).await;
        Started {
            names,
            search,
            proxy,
            args,
            parent,
            job,
        }
    }

    /// Waits for the parent process and returns its run.
    async fn finish(self) -> (Run, Names, Search, FaultProxy, Value) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let run = finish(self.parent, &args).await;
        (run, self.names, self.search, self.proxy, self.job)
    }
}

/// Asserts a finished job with exact counts, every segment done, and the alias on its index.
async fn assert_complete(run: &Run, search: &Search, alias: &str, count: u64) -> Value {
    assert_eq!(run.code, 0, "{run:?}");
    let summary = &run.summary;
    assert_eq!(summary["status"], "succeeded", "{summary}");
    assert_eq!(summary["scanned"], count, "{summary}");
    assert_eq!(summary["indexed"], count, "{summary}");
    assert_eq!(summary["dead_lettered"], 0, "{summary}");
    assert_eq!(summary["swapped"], true, "{summary}");
    let index = summary["new_index"].as_str().expect("new index");
    assert_eq!(search.alias_targets(alias).await, [index]);
    assert_eq!(search.count(index).await, count);
    let job = search
        .job_doc(&format!(
            "job:{}",
            summary["job_id"].as_str().expect("job id")
        ))
        .await
        .expect("job record");
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(
        job["checkpoints"]
            .as_array()
            .expect("checkpoints")
            .iter()
            .all(|c| c["done"] == true)
    );
    let finishers = summary["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter(|w| w["finisher"] == true)
        .count();
    assert_eq!(finishers, 1, "exactly one worker finishes: {summary}");
    assert!(
        search.job_doc(&format!("lock:{alias}")).await.is_none(),
        "the lock is released"
    );
    job
}

#[tokio::test]
async fn three_workers_rebuild_with_exact_counts_and_one_swap() {
    let count = 600;
    let names = seed("persons", count).await;
    let search = Search::default();
    let proxy = proxy(&search, 0).await;
    let args = rebuild_args(
        &names,
        "persons",
        &proxy.url,
        &[
            "--workers",
            "3",
            "--segments",
            "6",
            "--heartbeat",
            "1",
            "--lease",
            "10",
        ],
    );
    let run = indexer(&args).await;
    let job = assert_complete(&run, &search, &names.alias, count).await;
    assert_eq!(proxy.seen().alias_updates, 1, "one swap");
    let workers = run.summary["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 3);
    assert!(workers.iter().all(|w| w["exit_code"] == 0), "{workers:?}");
    let read: u64 = workers
        .iter()
        .map(|w| w["scanned_this_run"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(read, count, "no item is read twice without a failure");
    let owners: Vec<u64> = job["checkpoints"]
        .as_array()
        .expect("checkpoints")
        .iter()
        .map(|c| c["owner"].as_u64().unwrap_or(99))
        .collect();
    assert_eq!(
        owners,
        [0, 1, 2, 0, 1, 2],
        "segment s belongs to worker s mod 3"
    );
}

#[tokio::test]
async fn a_worker_killed_mid_run_has_its_segments_finished_by_the_others() {
    let count = 1200;
    let started = Started::new("assets", count, 150, &["--workers", "3"], 3, &[0, 1, 2]).await;
    let (names, search, job) = (&started.names, &started.search, started.job.clone());

    // `status` shows every worker while the job runs.
    let status = search.report("status", &names.alias).await;
    assert_eq!(status.code, 0, "{status:?}");
    let list = status.summary["running_job"]["workers"]["list"]
        .as_array()
        .expect("workers in status")
        .clone();
    assert_eq!(list.len(), 3, "{}", status.summary);
    assert!(
        list.iter()
            .all(|w| w["holder"].is_string() && w["status"] == "running")
    );

    let victim = pid_of(&job, 1);
    let at_kill = search.latest_job(&names.alias).await.expect("job");
    let checkpointed: u64 = at_kill["checkpoints"]
        .as_array()
        .expect("checkpoints")
        .iter()
        .filter(|c| c["owner"] == 1)
        .map(|c| c["scanned"].as_u64().unwrap_or(0))
        .sum();
    signal("-KILL", &victim);
    let killed_at = Instant::now();
    let (run, names, search, proxy, _) = started.finish().await;
    let job = assert_complete(&run, &search, &names.alias, count).await;
    assert_eq!(proxy.seen().alias_updates, 1, "one swap");
    let workers = run.summary["workers"].as_array().expect("workers");
    assert_eq!(workers[1]["killed"], true, "{workers:?}");
    let states = job["worker_states"].as_array().expect("states");
    let stolen: Vec<u64> = states
        .iter()
        .flat_map(|s| s["stolen"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s.as_u64())
        .collect();
    assert!(
        stolen.contains(&1) || stolen.contains(&4),
        "the dead worker's segments were taken over: {states:?}"
    );
    for segment in [1, 4] {
        assert_ne!(job["checkpoints"][segment]["owner"], 1, "{job}");
    }
    let survivors: u64 = [0, 2]
        .iter()
        .map(|&w| workers[w]["scanned_this_run"].as_u64().unwrap_or(0))
        .sum();
    eprintln!(
        "kill -9 worker 1 of 3: it had checkpointed {checkpointed} of its segments' items; the survivors read {survivors} of {count}; the job ended {:.1} s after the kill; stolen segments {stolen:?}",
        killed_at.elapsed().as_secs_f64()
    );
}

#[tokio::test]
async fn with_all_but_one_worker_killed_the_survivor_finishes() {
    let count = 900;
    let started = Started::new("tenures", count, 150, &["--workers", "3"], 3, &[0, 2]).await;
    // Worker 0 set the job up and is the preferred finisher: the survivor must do without it.
    signal("-KILL", &pid_of(&started.job, 0));
    signal("-KILL", &pid_of(&started.job, 2));
    let (run, names, search, proxy, _) = started.finish().await;
    let job = assert_complete(&run, &search, &names.alias, count).await;
    assert_eq!(proxy.seen().alias_updates, 1, "one swap");
    assert_eq!(job["finisher"], 1, "{job}");
    let owners: Vec<u64> = job["checkpoints"]
        .as_array()
        .expect("checkpoints")
        .iter()
        .map(|c| c["owner"].as_u64().unwrap_or(99))
        .collect();
    assert!(
        owners.iter().all(|&o| o == 1),
        "the survivor owns every segment: {owners:?}"
    );
}

#[tokio::test]
async fn a_gate_failure_stops_every_worker_and_leaves_the_alias_untouched() {
    let count = 300;
    let names = seed("persons", count).await;
    let search = Search::default();
    let first = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(first.code, 0, "{first:?}");
    let live = first.summary["new_index"]
        .as_str()
        .expect("live")
        .to_owned();
    let mut broken = fixtures::person(10_000);
    broken.insert("id".into(), AttributeValue::S("broken-person".into()));
    broken.insert("tenures".into(), AttributeValue::S("not a list".into()));
    put(&names.table, std::iter::once(broken)).await;
    let dead = std::env::temp_dir().join(format!("{}.dl.jsonl", names.alias));
    let dead = dead.display().to_string();
    let proxy = proxy(&search, 0).await;
    let run = indexer(&rebuild_args(
        &names,
        "persons",
        &proxy.url,
        &[
            "--workers",
            "2",
            "--segments",
            "4",
            "--heartbeat",
            "1",
            "--lease",
            "10",
            "--dead-letter",
            &dead,
        ],
    ))
    .await;
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.summary["status"], "gate_failed");
    assert_eq!(run.summary["scanned"], count + 1);
    assert_eq!(run.summary["dead_lettered"], 1);
    let workers = run.summary["workers"].as_array().expect("workers");
    assert!(workers.iter().all(|w| w["exit_code"] == 3), "{workers:?}");
    assert_eq!(search.alias_targets(&names.alias).await, [live]);
    assert_eq!(proxy.seen().alias_updates, 0, "no swap");
    let job = search
        .job_doc(&format!(
            "job:{}",
            run.summary["job_id"].as_str().expect("job id")
        ))
        .await
        .expect("job");
    assert_eq!(job["status"], "gate_failed");
    // The item is in one worker's own dead-letter file.
    let lines: usize = (0..2)
        .map(|w| {
            let path = std::env::temp_dir().join(format!("{}.worker-{w}.dl.jsonl", names.alias));
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .count()
        })
        .sum();
    assert_eq!(lines, 1);
}

#[tokio::test]
async fn abandoning_a_running_job_stops_every_worker() {
    let started = Started::new("assets", 900, 200, &["--workers", "2"], 2, &[0, 1]).await;
    let (alias, url) = (started.names.alias.clone(), started.search.url.clone());
    let abandoned = indexer(&["abandon", "--index", &alias, "--host", &url]).await;
    assert_eq!(abandoned.code, 0, "{abandoned:?}");
    let asked = Instant::now();
    let (run, names, search, _, job) = started.finish().await;
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(run.code, 1, "{run:?}");
    let workers = run.summary["workers"].as_array().expect("workers");
    assert!(workers.iter().all(|w| w["exit_code"] == 1), "{workers:?}");
    assert!(search.alias_targets(&names.alias).await.is_empty());
    let index = job["new_index"].as_str().expect("index");
    assert!(
        search.indexes(index).await.is_empty(),
        "the building index is deleted"
    );
    let record = search
        .job_doc(&format!("job:{}", job["job_id"].as_str().expect("id")))
        .await
        .expect("job");
    assert_eq!(record["status"], "abandoned");
}

#[tokio::test]
async fn a_stopped_multi_worker_job_is_resumed_by_a_different_number_of_workers() {
    use indexer_tests::faults::FaultPlan;
    use std::sync::Arc;

    let count = 900;
    let names = seed("persons", count).await;
    let search = Search::default();
    // Each bulk request (20 documents) waits for a permit: the test lets through fewer than the
    // job needs (45), so it cannot end before the stop, however fast or slow the machine.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let proxy = FaultProxy::start(
        &search.url,
        FaultPlan {
            bulk_gate: Some(Arc::clone(&gate)),
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let mut args = rebuild_args(&names, "persons", &proxy.url, &SLOW);
    args.extend_from_slice(&["--workers", "3", "--stop-timeout", "10"]);
    let parent = spawn_indexer(&args, &[]);
    // One permit at a time, once the last is used, until every worker has checkpointed a page.
    let mut given = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let job = search.latest_job(&names.alias).await;
        let checkpointed = |worker: u64| {
            job.as_ref().is_some_and(|job| {
                job["checkpoints"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["owner"] == worker && c["scanned"].as_u64().unwrap_or(0) > 0)
                })
            })
        };
        if (0..3).all(checkpointed) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the workers never all checkpointed: {job:?}"
        );
        if gate.available_permits() == 0 && given < 40 {
            gate.add_permits(1);
            given += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal("-TERM", &parent.id().expect("pid").to_string());
    // The stop lets in-flight writes land.
    gate.add_permits(1_000);
    let stopped = finish(parent, &args).await;
    assert_eq!(
        stopped.code, 5,
        "{given} bulk requests let through; {stopped:?}"
    );
    let job = search.latest_job(&names.alias).await.expect("the job");
    let id = job["job_id"].as_str().expect("id").to_owned();
    assert_eq!(job["status"], "interrupted", "{job}");
    assert!(
        search
            .job_doc(&format!("lock:{}", names.alias))
            .await
            .is_none()
    );

    let mut again = rebuild_args(&names, "persons", &search.url, &SLOW);
    again.extend_from_slice(&["--workers", "2"]);
    let run = indexer(&again).await;
    assert_complete(&run, &search, &names.alias, count).await;
    assert_eq!(run.summary["resumed_from"], id.as_str(), "{}", run.summary);
    assert_eq!(run.summary["new_index"], job["new_index"]);
    let read: u64 = run.summary["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| w["scanned_this_run"].as_u64().unwrap_or(0))
        .sum();
    assert!(read < count, "the resumed run read {read} of {count}");
}
