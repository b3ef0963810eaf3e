//! No lost writes: a rebuild of a table with a stream replays the writes made while it runs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, StreamViewType};
use indexer_tests::faults::{FaultPlan, FaultProxy};
use indexer_tests::fixtures;
use indexer_tests::harness::{
    Search, finish, indexer, put, rebuild_args, services, signal, spawn_indexer, unique, worker_pid,
};

const SEEDED: u64 = 400;
/// How long the writer writes at most, whatever happens.
const MAX_WRITING: Duration = Duration::from_secs(180);
/// The writer's pace: one write per tick, so its writes spread over the whole rebuild.
const TICK: Duration = Duration::from_millis(15);

/// What the concurrent writer did.
#[derive(Debug, Default)]
struct Writes {
    created: u64,
    changed: u64,
    deleted: u64,
}

fn version_of(item: &fixtures::Item) -> Option<u64> {
    match item.get("versionNumber") {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

#[tokio::test]
async fn writes_made_during_a_rebuild_of_a_table_with_a_stream_are_not_lost() {
    rebuild_while_writing(StreamViewType::NewAndOldImages, &[], false).await;
}

#[tokio::test]
async fn writes_and_deletes_on_a_new_image_stream_are_not_lost() {
    rebuild_while_writing(StreamViewType::NewImage, &[], false).await;
}

#[tokio::test]
async fn writes_made_during_a_rebuild_split_over_workers_are_not_lost() {
    let args = ["--workers", "2", "--heartbeat", "1", "--lease", "10"];
    rebuild_while_writing(StreamViewType::NewImage, &args, false).await;
}

#[tokio::test]
async fn writes_are_not_lost_when_the_worker_that_set_the_job_up_dies() {
    let args = ["--workers", "2", "--heartbeat", "1", "--lease", "3"];
    rebuild_while_writing(StreamViewType::NewAndOldImages, &args, true).await;
}

/// The process id of the worker that set the alias's running job up, once a second worker has
/// registered as its stream backup and both have joined.
async fn setup_worker_pid(search: &Search, alias: &str) -> Option<String> {
    let job = search.latest_job(alias).await?;
    let setup = job["setup_by"].as_u64()?;
    job["stream_backup"].as_u64()?;
    if job["worker_states"].as_array()?.len() < 2 {
        return None;
    }
    worker_pid(&job, setup)
}

/// Rebuilds (with `extra` arguments) a table whose stream has view type `view` while a writer
/// creates, changes and deletes items, with and without a `versionNumber`, then checks the
/// writes reached the index and `verify` finds no drift. With `kill_setup_worker`, the worker
/// that set a split job up (and tails the stream) is killed with SIGKILL mid-run.
async fn rebuild_while_writing(view: StreamViewType, extra: &[&str], kill_setup_worker: bool) {
    let names = unique("Persons", "persons");
    let client = services().dynamo();
    fixtures::create_table_with_stream(&client, &names.table, Some(view))
        .await
        .expect("table with a stream");
    put(&names.table, (0..SEEDED).map(fixtures::person)).await;
    let search = Search::default();
    // Slow bulk requests make the rebuild last a few seconds while the writer works.
    let plan = FaultPlan {
        bulk_delay: Duration::from_millis(250),
        ..FaultPlan::default()
    };
    let proxy = FaultProxy::start(&search.url, plan).await.expect("proxy");
    let mut flags = vec!["--batch-docs", "25", "--concurrency", "1"];
    flags.extend_from_slice(extra);
    let args: Vec<String> = rebuild_args(&names, "persons", &proxy.url, &flags)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let child = spawn_indexer(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    let rebuild = tokio::spawn(async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        finish(child, &args).await
    });

    // Items with a versionNumber and items without one are changed and deleted alike: the
    // order of their copies must not depend on the data carrying a version. Some unversioned
    // items get their first versionNumber (0) while the rebuild runs.
    let mut versions: HashMap<u64, u64> = (0..SEEDED)
        .filter_map(|n| version_of(&fixtures::person(n)).map(|v| (n, v)))
        .collect();
    let mut to_change: Vec<u64> = (0..SEEDED).filter(|n| n % 2 == 0).collect();
    let mut to_delete: Vec<u64> = (0..SEEDED).filter(|n| n % 2 == 1).collect();
    to_change.sort_unstable();
    to_delete.sort_unstable();
    assert!(
        to_change.iter().any(|n| !versions.contains_key(n))
            && to_delete.iter().any(|n| !versions.contains_key(n)),
        "the seed holds unversioned items"
    );
    let mut changes: HashMap<u64, u64> = HashMap::new();
    let mut writes = Writes::default();
    let mut next_new = SEEDED;
    let mut stopped_by = "the write bound";
    let mut killed: Option<u64> = None;
    let started = Instant::now();
    for i in 0u64.. {
        // Bounded in time, not in count: a loaded machine is slow, and DynamoDB Local stamps
        // stream records to the minute, so a drain may wait for the next minute to see past it.
        if started.elapsed() > MAX_WRITING {
            break;
        }
        if rebuild.is_finished() {
            stopped_by = "the rebuild's exit";
            break;
        }
        if kill_setup_worker
            && killed.is_none()
            && i % 10 == 5
            && let Some(pid) = setup_worker_pid(&search, &names.alias).await
        {
            signal("-KILL", &pid);
            killed = Some(writes.created + writes.changed + writes.deleted);
        }
        // Writes after the swap belong to the live index's own updates, not to the rebuild; the
        // rebuild replays those made until its final drain, which lasts past the swap.
        if !search.alias_targets(&names.alias).await.is_empty() {
            stopped_by = "the swap";
            break;
        }
        match i % 3 {
            0 => {
                let mut item = fixtures::person(next_new);
                if next_new % 2 == 0 {
                    item.entry("versionNumber".into())
                        .or_insert_with(|| AttributeValue::N("0".into()));
                } else {
                    item.remove("versionNumber");
                }
                next_new += 1;
                put(&names.table, std::iter::once(item)).await;
                writes.created += 1;
            }
            1 if !to_change.is_empty() => {
                // The seeded persons change in turn, some more than once.
                let n = to_change[(i as usize / 3) % to_change.len()];
                let mut item = fixtures::person(n);
                let times = changes.entry(n).or_insert(0u64);
                *times += 1;
                item.insert(
                    "surname".into(),
                    AttributeValue::S(format!("Changed-{n}-{times}")),
                );
                match versions.get(&n).copied() {
                    Some(version) => {
                        versions.insert(n, version + 1);
                        item.insert(
                            "versionNumber".into(),
                            AttributeValue::N((version + 1).to_string()),
                        );
                    }
                    // Every third unversioned item is stamped with its first version.
                    None if n % 3 == 0 && *times > 1 => {
                        versions.insert(n, 0);
                        item.insert("versionNumber".into(), AttributeValue::N("0".into()));
                    }
                    None => {
                        item.remove("versionNumber");
                    }
                }
                put(&names.table, std::iter::once(item)).await;
                writes.changed += 1;
            }
            _ => {
                if let Some(n) = to_delete.pop() {
                    client
                        .delete_item()
                        .table_name(&names.table)
                        .key("id", AttributeValue::S(fixtures::person_id(n)))
                        .send()
                        .await
                        .expect("delete item");
                    writes.deleted += 1;
                }
            }
        }
        tokio::time::sleep(TICK).await;
    }
    let writing = started.elapsed();
    let run = rebuild.await.expect("the rebuild task");
    assert_eq!(run.code, 0, "{run:?}");
    if kill_setup_worker {
        let before = killed.expect("the setup worker was killed mid-run");
        let after = writes.created + writes.changed + writes.deleted - before;
        assert!(after > 10, "writes continued after the kill: {after}");
        eprintln!("setup worker killed after {before} writes; {after} more writes followed");
    }
    let summary = &run.summary;
    assert_eq!(summary["status"], "succeeded", "{summary}");
    assert_eq!(summary["swapped"], true, "{summary}");
    assert_eq!(summary["stream"], "replayed", "{summary}");
    assert_eq!(summary["warnings"], serde_json::json!([]), "{summary}");
    assert!(
        summary["stream_records_applied"]
            .as_u64()
            .unwrap_or_default()
            > 0,
        "{summary}"
    );
    assert_ne!(
        stopped_by, "the write bound",
        "the writer must write throughout the rebuild: {writes:?} over {writing:?}; {summary}"
    );
    assert!(
        writes.created > 10 && writes.changed > 10 && writes.deleted > 10,
        "{writes:?}"
    );
    eprintln!(
        "concurrent writer: {writes:?} over {writing:?}, stopped by {stopped_by}; rebuild: scanned {}, indexed {}, stream records applied {}",
        summary["scanned"], summary["indexed"], summary["stream_records_applied"]
    );

    let verify = indexer(&[
        "verify",
        "--table",
        &names.table,
        "--index",
        &names.alias,
        "--host",
        &search.url,
        "--entity",
        "persons",
    ])
    .await;
    assert_eq!(verify.code, 0, "{verify:?}");
    let drift = &verify.summary["drift"];
    for kind in ["missing", "extra", "stale", "unmappable"] {
        assert_eq!(drift[kind]["count"], 0, "{kind}: {}", verify.summary);
    }
    let expected = SEEDED + writes.created - writes.deleted;
    assert_eq!(drift["scanned"], expected, "{}", verify.summary);
    assert_eq!(drift["documents"], expected, "{}", verify.summary);
    eprintln!(
        "verify: scanned {}, documents {}, missing {}, extra {}, stale {}",
        drift["scanned"],
        drift["documents"],
        drift["missing"]["count"],
        drift["extra"]["count"],
        drift["stale"]["count"]
    );
}
