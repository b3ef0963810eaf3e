//! `indexer follow`: the table's stream applied to the live index continuously, through kills,
//! restarts and a rebuild's swap, with one follower per alias.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, StreamViewType};
use indexer_tests::faults::{FaultPlan, FaultProxy};
use indexer_tests::fixtures;
use indexer_tests::harness::{
    Names, Run, SLOW, Search, assert_no_drift, dead_letter_path, dead_letters, eventually, finish,
    indexer, put, rebuild_args, services, signal, spawn_indexer, unique,
};
use indexer_tests::writer::PersonWriter;
use serde_json::Value;

pub(crate) const SEEDED: u64 = 200;

/// A persons table with a `NEW_IMAGE` stream, seeded and rebuilt into its alias.
pub(crate) async fn followed_table() -> (Names, Search) {
    let names = unique("Persons", "persons");
    fixtures::create_table_with_stream(
        &services().dynamo(),
        &names.table,
        Some(StreamViewType::NewImage),
    )
    .await
    .expect("table with a stream");
    put(&names.table, (0..SEEDED).map(fixtures::person)).await;
    let search = Search::default();
    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    (names, search)
}

pub(crate) fn follow_args(names: &Names, host: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "follow",
        "--table",
        &names.table,
        "--index",
        &names.alias,
        "--host",
        host,
        "--entity",
        "persons",
        "--progress-interval",
        "1",
    ];
    args.extend_from_slice(extra);
    args.into_iter().map(str::to_owned).collect()
}

pub(crate) fn argv(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

pub(crate) async fn follower_record(search: &Search, alias: &str) -> Option<Value> {
    search.job_doc(&format!("follower:{alias}")).await
}

pub(crate) fn pid_of(record: &Value) -> Option<String> {
    Some(record["holder"].as_str()?.rsplit(':').next()?.to_owned())
}

/// Waits until the follower with process id `pid` holds the lease and has saved a checkpoint
/// (with `positioned`, one that names a position in a shard); returns the record.
pub(crate) async fn checkpointed(
    search: &Search,
    alias: &str,
    pid: &str,
    positioned: bool,
) -> Value {
    eventually("a saved checkpoint", Duration::from_secs(120), || async {
        let record = follower_record(search, alias).await?;
        let mine = record["status"] == "following" && pid_of(&record).as_deref() == Some(pid);
        let saved = record["checkpoint_at"].is_string();
        let placed = record["positions"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["from"].is_string()));
        (mine && saved && (placed || !positioned)).then_some(record)
    })
    .await
}

/// A follower started with its arguments, once it held the lease and saved a checkpoint, and
/// the writer that has written to its table since.
pub(crate) struct Following {
    pub(crate) child: tokio::process::Child,
    pub(crate) pid: String,
    /// The follower's record when it had saved its first checkpoint.
    pub(crate) first: Value,
    pub(crate) writer: PersonWriter,
}

/// Starts a follower with `args`, waits for its first checkpoint, then makes `writes` writes.
pub(crate) async fn follow_and_write(
    search: &Search,
    names: &Names,
    args: &[String],
    writes: u64,
) -> Following {
    let child = spawn_indexer(&argv(args), &[]);
    let pid = child.id().expect("pid").to_string();
    let first = checkpointed(search, &names.alias, &pid, false).await;
    let mut writer = PersonWriter::new(&names.table, SEEDED);
    for i in 0..writes {
        writer.write(i).await;
    }
    Following {
        child,
        pid,
        first,
        writer,
    }
}

/// Waits until `verify` finds the index true to the table.
pub(crate) async fn caught_up(names: &Names, host: &str) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let verify = indexer(&[
            "verify",
            "--table",
            &names.table,
            "--index",
            &names.alias,
            "--host",
            host,
            "--entity",
            "persons",
        ])
        .await;
        if verify.code == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the follower did not catch up: {}",
            verify.summary
        );
        // Paced: a verify reads the whole table and index, and the follower needs the cores.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Stops the follower whose process is `child` with SIGTERM; returns its run.
pub(crate) async fn stop(child: tokio::process::Child, args: &[String]) -> Run {
    let pid = child.id().expect("pid").to_string();
    signal("-TERM", &pid);
    finish(child, &argv(args)).await
}

#[tokio::test]
async fn follow_applies_inserts_updates_and_deletes_of_versioned_and_unversioned_items() {
    let (names, search) = followed_table().await;
    let args = follow_args(&names, &search.url, &["--heartbeat", "1", "--lease", "5"]);
    let Following { child, writer, .. } = follow_and_write(&search, &names, &args, 160).await;
    caught_up(&names, &search.url).await;
    let run = stop(child, &args).await;
    assert_eq!(run.code, 5, "{run:?}");
    assert!(
        run.summary["stream_records_applied"].as_u64().unwrap_or(0) >= writer.writes,
        "{}",
        run.summary
    );
    assert_eq!(run.summary["dead_lettered"], 0, "{}", run.summary);
    // Progress lines carry the lag, the rate, the failures and the checkpoint's age, also as
    // CloudWatch metrics.
    let last = run
        .stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .rfind(|line| line["message"] == "progress" && line["mode"] == "follow")
        .expect("progress lines");
    for field in [
        "applied",
        "dead_lettered",
        "records_per_s",
        "lag_s",
        "checkpoint_age_s",
    ] {
        assert!(last[field].is_number(), "{field}: {last}");
    }
    let metrics = last["_aws"]["CloudWatchMetrics"][0]["Metrics"].to_string();
    assert!(
        metrics.contains("progress_lag_s") && metrics.contains("progress_checkpoint_age_s"),
        "{last}"
    );
    assert_no_drift(&names, &search.url).await;
}

#[tokio::test]
async fn sigterm_saves_the_checkpoints_releases_the_lease_and_exits_5() {
    let (names, search) = followed_table().await;
    // A long lease: the next follower starts at once only because the lease was released.
    let args = follow_args(&names, &search.url, &["--heartbeat", "1", "--lease", "120"]);
    let Following { child, pid, .. } = follow_and_write(&search, &names, &args, 40).await;
    checkpointed(&search, &names.alias, &pid, true).await;
    let status = search.report("status", &names.alias).await;
    let follower = &status.summary["follower"];
    assert_eq!(follower["status"], "following", "{}", status.summary);
    assert!(
        follower["holder"]
            .as_str()
            .is_some_and(|h| h.ends_with(&format!(":{pid}"))),
        "{follower}"
    );
    assert!(
        follower["lag_s"].is_number() && follower["checkpoint_age_s"].is_number(),
        "{follower}"
    );
    let stopped_at = Instant::now();
    let run = stop(child, &args).await;
    assert_eq!(run.code, 5, "{run:?}");
    assert!(stopped_at.elapsed() < Duration::from_secs(25), "{run:?}");
    assert_eq!(run.summary["status"], "interrupted", "{}", run.summary);
    assert_eq!(run.summary["mode"], "follow", "{}", run.summary);
    assert_eq!(run.summary["stream"], "followed", "{}", run.summary);
    let record = follower_record(&search, &names.alias)
        .await
        .expect("the record");
    assert_eq!(record["status"], "stopped", "{record}");
    let status = search.report("status", &names.alias).await;
    assert_eq!(
        status.summary["follower"]["status"], "stopped",
        "{}",
        status.summary
    );
    assert!(
        record["positions"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["from"].is_string())),
        "{record}"
    );
    let next = spawn_indexer(&argv(&args), &[]);
    let next_pid = next.id().expect("pid").to_string();
    checkpointed(&search, &names.alias, &next_pid, true).await;
    let run = stop(next, &args).await;
    assert_eq!(run.code, 5, "{run:?}");
    assert_no_drift(&names, &search.url).await;
}

#[tokio::test]
async fn a_second_follower_of_the_same_alias_is_refused_naming_the_first() {
    let (names, search) = followed_table().await;
    let args = follow_args(&names, &search.url, &["--heartbeat", "1", "--lease", "30"]);
    let first = spawn_indexer(&argv(&args), &[]);
    let pid = first.id().expect("pid").to_string();
    let record = checkpointed(&search, &names.alias, &pid, false).await;
    let second = indexer(&argv(&args)).await;
    assert_eq!(second.code, 4, "{second:?}");
    let error = second.summary["error"].as_str().unwrap_or_default();
    let holder = record["holder"].as_str().expect("a holder");
    assert!(error.contains(holder), "{error}");
    let run = stop(first, &args).await;
    assert_eq!(run.code, 5, "{run:?}");
}

/// Runs followers one after another until one ends other than by SIGKILL or a refused lease
/// (the killed one's lease must run out first); returns that last run.
fn keep_following(args: Vec<String>) -> tokio::task::JoinHandle<(Run, u32)> {
    tokio::spawn(async move {
        let mut started = 0;
        loop {
            let run = finish(spawn_indexer(&argv(&args), &[]), &argv(&args)).await;
            started += 1;
            // -1: killed by a signal (SIGKILL); 4: the killed follower's lease still holds.
            if run.code == -1 || run.code == 4 {
                continue;
            }
            return (run, started);
        }
    })
}

#[tokio::test]
async fn a_follower_killed_three_times_during_a_rebuild_and_its_swap_leaves_no_drift() {
    let (names, search) = followed_table().await;
    let before = search.alias_targets(&names.alias).await;
    let args = follow_args(&names, &search.url, &["--heartbeat", "1", "--lease", "3"]);
    let followers = keep_following(args);
    let slow = FaultProxy::slowed(&search.url, Duration::from_millis(200)).await;
    let rebuild_argv: Vec<String> = rebuild_args(&names, "persons", &slow.url, &SLOW)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut writer = PersonWriter::new(&names.table, SEEDED);
    let mut killed: Vec<String> = Vec::new();
    let mut rebuild = None;
    let started = Instant::now();
    let mut i = 0;
    // A minute of writes, longer if the three kills take longer (a loaded machine), bounded.
    let writing = |killed: usize| {
        let elapsed = started.elapsed();
        (elapsed < Duration::from_secs(60) || killed < 3) && elapsed < Duration::from_secs(180)
    };
    while writing(killed.len()) {
        writer.write(i).await;
        i += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
        if i % 10 != 0 {
            continue;
        }
        let Some(record) = follower_record(&search, &names.alias).await else {
            continue;
        };
        let live =
            pid_of(&record).filter(|pid| record["status"] == "following" && !killed.contains(pid));
        // The rebuild starts once the follower that took over from the first kill runs, so
        // its swap falls among the later kills.
        if rebuild.is_none() && killed.len() == 1 && live.is_some() {
            let args = rebuild_argv.clone();
            rebuild = Some(tokio::spawn(async move {
                finish(spawn_indexer(&argv(&args), &[]), &argv(&args)).await
            }));
        }
        // Kill the live follower once it has applied records and saved a checkpoint.
        if killed.len() < 3
            && let Some(pid) = live
            && record["applied"].as_u64().unwrap_or(0) > 0
            && record["positions"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["from"].is_string()))
        {
            signal("-KILL", &pid);
            killed.push(pid);
        }
    }
    assert_eq!(killed.len(), 3, "three kills in a minute of writes");
    let rebuilt = rebuild.expect("a rebuild").await.expect("the rebuild");
    assert_eq!(rebuilt.code, 0, "{rebuilt:?}");
    assert_eq!(rebuilt.summary["swapped"], true, "{}", rebuilt.summary);
    assert_ne!(search.alias_targets(&names.alias).await, before);
    eprintln!("writes: {}, kills: {killed:?}", writer.writes);
    caught_up(&names, &search.url).await;
    let record = follower_record(&search, &names.alias)
        .await
        .expect("the record");
    let pid = pid_of(&record).expect("a holder");
    signal("-TERM", &pid);
    let (last, started) = followers.await.expect("the followers");
    assert_eq!(last.code, 5, "{last:?}");
    assert!(started >= 4, "{started} followers ran");
    assert_no_drift(&names, &search.url).await;
}

#[tokio::test]
async fn records_refused_by_the_cluster_or_unmappable_are_dead_lettered_and_counted() {
    let (names, search) = followed_table().await;
    let refused = fixtures::person_id(900);
    let retried = fixtures::person_id(901);
    // Refused for now more often than one send's retries (2) absorb: still never dead-lettered.
    let overloaded = fixtures::person_id(903);
    let plan = FaultPlan {
        always_reject: vec![refused.clone()],
        items: [
            (retried.clone(), vec![429, 503]),
            (overloaded.clone(), vec![429; 7]),
        ]
        .into_iter()
        .collect(),
        ..FaultPlan::default()
    };
    let proxy = FaultProxy::start(&search.url, plan).await.expect("proxy");
    let path = dead_letter_path(&names);
    let _ = std::fs::remove_file(&path);
    let extra = [
        "--heartbeat",
        "1",
        "--lease",
        "5",
        "--dead-letter",
        &path,
        "--max-retries",
        "2",
        "--retry-base-ms",
        "10",
    ];
    let args = follow_args(&names, &proxy.url, &extra);
    let child = spawn_indexer(&argv(&args), &[]);
    let pid = child.id().expect("pid").to_string();
    checkpointed(&search, &names.alias, &pid, false).await;
    let mut broken = fixtures::person(902);
    broken.insert("id".into(), AttributeValue::S("broken-1".into()));
    broken.insert("tenures".into(), AttributeValue::S("not a list".into()));
    let items = [900, 901, 903].map(fixtures::person).into_iter();
    put(&names.table, items.chain(std::iter::once(broken))).await;
    let index = search.alias_targets(&names.alias).await.remove(0);
    for n in [901, 903] {
        let id = fixtures::person_id(n);
        eventually("an applied record", Duration::from_secs(120), || async {
            search.source(&index, &id).await
        })
        .await;
    }
    // Past the failures: the checkpoint moves on and counts them.
    eventually(
        "two dead letters counted",
        Duration::from_secs(60),
        || async {
            let record = follower_record(&search, &names.alias).await?;
            (record["dead_lettered"] == 2).then_some(())
        },
    )
    .await;
    let run = stop(child, &args).await;
    assert_eq!(run.code, 5, "{run:?}");
    assert_eq!(run.summary["dead_lettered"], 2, "{}", run.summary);
    assert_eq!(
        run.summary["dead_letter_path"],
        path.as_str(),
        "{}",
        run.summary
    );
    let mut letters: Vec<(String, String)> = dead_letters(&path)
        .iter()
        .map(|l| (l["id"].to_string(), l["stage"].to_string()))
        .collect();
    letters.sort();
    let mut expected = vec![
        ("\"broken-1\"".to_owned(), "\"map\"".to_owned()),
        (format!("\"{refused}\""), "\"bulk\"".to_owned()),
    ];
    expected.sort();
    assert_eq!(letters, expected, "{path}");
    assert!(search.source(&index, &refused).await.is_none());
    assert!(proxy.seen().injected_items >= 9, "{:?}", proxy.seen());
}
