//! A rebuild killed with SIGKILL and resumed replays the stream from where its tail stood, so
//! the writes made while it was stopped reach the index too.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, StreamViewType};
use indexer_tests::faults::FaultProxy;
use indexer_tests::fixtures;
use indexer_tests::harness::{
    SLOW, Search, finish, put, rebuild_args, services, signal, spawn_indexer, unique, worker_pid,
};
use indexer_tests::writer::PersonWriter;

const SEEDED: u64 = 300;

#[tokio::test]
async fn writes_made_while_a_killed_rebuild_was_stopped_are_replayed_when_it_resumes() {
    let summary = kill_write_resume(&[], false).await;
    assert_eq!(summary["warnings"], serde_json::json!([]), "{summary}");
}

#[tokio::test]
async fn a_killed_rebuild_split_over_workers_replays_the_stream_when_it_resumes() {
    let summary = kill_write_resume(&["--workers", "2"], false).await;
    assert_eq!(summary["warnings"], serde_json::json!([]), "{summary}");
}

#[tokio::test]
async fn a_stream_position_past_the_retention_is_a_warning_naming_the_repair() {
    let summary = kill_write_resume(&[], true).await;
    let warnings = summary["warnings"].to_string();
    assert!(
        warnings.contains("past the stream's 24-hour retention")
            && warnings.contains("shardId-gone")
            && warnings.contains("--fix"),
        "{summary}"
    );
}

/// Rebuilds (with `extra` flags) under a writer, kills every process of the run with SIGKILL once
/// its tail saved a position, writes more while it is stopped, resumes it under the writer, and
/// checks `verify` finds no drift. With `lost_shard`, a position in a shard the stream no longer
/// has is added to the killed run's record first. Returns the resumed run's summary.
async fn kill_write_resume(extra: &[&str], lost_shard: bool) -> serde_json::Value {
    let names = unique("Persons", "persons");
    fixtures::create_table_with_stream(
        &services().dynamo(),
        &names.table,
        Some(StreamViewType::NewImage),
    )
    .await
    .expect("table with a stream");
    put(&names.table, (0..SEEDED).map(fixtures::person)).await;
    let mut writer = PersonWriter::new(&names.table, SEEDED);
    let search = Search::default();
    let slow = FaultProxy::slowed(&search.url, Duration::from_millis(200)).await;
    let mut flags = SLOW.to_vec();
    flags.extend_from_slice(extra);
    let args: Vec<String> = rebuild_args(&names, "persons", &slow.url, &flags)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let argv = || args.iter().map(String::as_str).collect::<Vec<_>>();

    // The first run: written to until its tail has saved where it stands, then killed.
    let first = spawn_indexer(&argv(), &[]);
    let pid = first.id().expect("pid").to_string();
    let mut i = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    let workers = if extra.contains(&"--workers") { 2 } else { 1 };
    let job = loop {
        writer.write(i).await;
        i += 1;
        let job = search.latest_job(&names.alias).await;
        // Every worker has joined, and a tail has saved a position.
        let saved = job.as_ref().is_some_and(|job| {
            job["worker_states"]
                .as_array()
                .is_some_and(|w| w.len() >= workers)
                && job["stream_positions"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p["from"].is_string()))
        });
        if let (true, Some(job)) = (saved, job) {
            break job;
        }
        assert!(Instant::now() < deadline, "no stream position was saved");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let pids: Vec<String> = (0..2).filter_map(|w| worker_pid(&job, w)).collect();
    for worker in pids.iter().filter(|w| **w != pid) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", worker])
            .status();
    }
    signal("-KILL", &pid);
    let killed = finish(first, &argv()).await;
    assert_ne!(killed.code, 0, "{killed:?}");
    if lost_shard {
        let id = job["job_id"].as_str().expect("job id");
        let mut record = search.job_doc(&format!("job:{id}")).await.expect("record");
        let positions = record["stream_positions"]
            .as_array_mut()
            .expect("positions");
        positions.push(serde_json::json!({
            "worker": 0, "shard": "shardId-gone", "from": "1", "ended": false
        }));
        let (status, body) = search
            .call(
                reqwest::Method::PUT,
                &format!("/indexer-jobs/_doc/job:{id}?refresh=true"),
                Some(record),
            )
            .await;
        assert!(status < 300, "{body}");
    }

    // Stopped: these writes are only in the stream.
    for _ in 0..80 {
        writer.write(i).await;
        i += 1;
    }

    // The resumed run (once the killed run's lease has expired), written to until its swap.
    let retry_args = args.clone();
    let resumed = tokio::spawn(async move {
        let argv: Vec<&str> = retry_args.iter().map(String::as_str).collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let run = finish(spawn_indexer(&argv, &[]), &argv).await;
            if run.code == 4 && Instant::now() < deadline {
                continue;
            }
            return run;
        }
    });
    for _ in 0..3000 {
        if resumed.is_finished() || !search.alias_targets(&names.alias).await.is_empty() {
            break;
        }
        writer.write(i).await;
        i += 1;
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let run = resumed.await.expect("the resumed run");
    assert_eq!(run.code, 0, "{run:?}");
    let summary = run.summary.clone();
    assert!(summary["resumed_from"].is_string(), "{summary}");
    assert_eq!(summary["stream"], "replayed", "{summary}");
    eprintln!("writes: {} in all", writer.writes);

    indexer_tests::harness::assert_no_drift(&names, &search.url).await;
    summary
}

#[tokio::test]
async fn a_stream_record_the_cluster_keeps_refusing_stops_the_run_and_the_resume_applies_it() {
    use indexer_tests::faults::FaultPlan;

    let names = unique("Persons", "persons");
    fixtures::create_table_with_stream(
        &services().dynamo(),
        &names.table,
        Some(StreamViewType::NewAndOldImages),
    )
    .await
    .expect("table with a stream");
    put(&names.table, (0..SEEDED).map(fixtures::person)).await;
    let search = Search::default();
    // An item written while the rebuild runs: the cluster refuses its writes as overloaded,
    // more often than the retries absorb.
    let written = fixtures::person(SEEDED + 1);
    let Some(AttributeValue::S(id)) = written.get("id").cloned() else {
        panic!("a person has an id");
    };
    let refusing = FaultProxy::start(
        &search.url,
        FaultPlan {
            items: [(id.clone(), vec![429; 12])].into(),
            bulk_delay: Duration::from_millis(200),
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let mut flags = SLOW.to_vec();
    flags.extend_from_slice(&["--max-retries", "1", "--retry-base-ms", "10"]);
    let args: Vec<String> = rebuild_args(&names, "persons", &refusing.url, &flags)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let first = spawn_indexer(&argv, &[]);
    // Written once the scan is under way (its first bulk request came): after the iterators.
    let deadline = Instant::now() + Duration::from_secs(120);
    while refusing.seen().bulk_requests == 0 {
        assert!(Instant::now() < deadline, "the rebuild never wrote");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    put(&names.table, std::iter::once(written)).await;
    let stopped = finish(first, &argv).await;
    assert_eq!(stopped.code, 5, "{stopped:?}");
    assert_eq!(stopped.summary["status"], "interrupted", "{stopped:?}");
    let said = stopped.summary["warnings"].to_string();
    assert!(
        said.contains("stream") && said.contains(&id) && said.contains("resumes"),
        "{stopped:?}"
    );
    assert!(search.alias_targets(&names.alias).await.is_empty());
    let job = search.latest_job(&names.alias).await.expect("the job");
    assert_eq!(job["status"], "interrupted", "{job}");
    assert!(refusing.seen().injected_items >= 2);

    // The cluster takes writes again: the next rebuild resumes the job and replays the record.
    let again: Vec<&str> = rebuild_args(&names, "persons", &search.url, &SLOW);
    let run = indexer_tests::harness::indexer(&again).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.summary["resumed_from"], job["job_id"],
        "{}",
        run.summary
    );
    let index = run.summary["new_index"].as_str().expect("index");
    assert!(search.source(index, &id).await.is_some(), "{}", run.summary);
    indexer_tests::harness::assert_no_drift(&names, &search.url).await;
}
