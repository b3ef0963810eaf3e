//! Dead letters survive a kill -9: every failed item's record is present after the resume, in a
//! file or in S3 (moto), and the summary names every place that holds them. The S3 kill test's runs
//! are confined as the task's user, with nothing they could write to ([`TaskUser`]). A bad S3
//! location fails the run at start.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use indexer_tests::faults::{FaultPlan, FaultProxy};
use indexer_tests::fixtures::{self, person_id};
use indexer_tests::harness::{
    Names, Search, dead_letter_path, dead_letters, eventually, finish, indexer_with_env, put,
    rebuild_args, seed, spawn_indexer,
};
use indexer_tests::moto::moto;
use indexer_tests::task_user::TaskUser;
use serde_json::Value;

pub(crate) const GOOD: u64 = 400;
pub(crate) const BROKEN: u64 = 24;
/// Every `REJECT_EVERY`th good person is refused by the cluster (a `bulk` dead letter).
const REJECT_EVERY: u64 = 25;

const SLOW: [&str; 14] = [
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
    "2",
    "--max-errors",
    "1000",
];

/// A table of good persons and persons the factory cannot map; returns the names and the ids of
/// every item that must be dead-lettered (unmappable, or refused by the cluster).
pub(crate) async fn table_with_failures() -> (Names, BTreeSet<String>) {
    let names = seed("persons", GOOD).await;
    let broken = (0..BROKEN).map(|n| {
        let mut item = fixtures::person(10_000 + n);
        item.insert("id".into(), AttributeValue::S(format!("broken-{n}")));
        item.insert("tenures".into(), AttributeValue::S("not a list".into()));
        item
    });
    put(&names.table, broken).await;
    let mut failing: BTreeSet<String> = (0..BROKEN).map(|n| format!("broken-{n}")).collect();
    failing.extend(rejected());
    (names, failing)
}

pub(crate) fn rejected() -> Vec<String> {
    (0..GOOD)
        .step_by(REJECT_EVERY as usize)
        .map(person_id)
        .collect()
}

/// A proxy refusing the rejected ids, pausing `delay` before each bulk answer.
pub(crate) async fn rejecting_proxy(search: &Search, delay: Duration) -> FaultProxy {
    let plan = FaultPlan {
        always_reject: rejected(),
        bulk_delay: delay,
        ..FaultPlan::default()
    };
    match FaultProxy::start(&search.url, plan).await {
        Ok(proxy) => proxy,
        Err(error) => panic!("cannot start the proxy: {error:#}"),
    }
}

/// Starts a slow rebuild, waits until its job has checkpointed dead-lettered items and some of
/// the table (but not all), kills it with SIGKILL, and waits for its lock to go stale. Returns the
/// killed job's record as it was last saved.
async fn kill_after_dead_letters_settled(
    names: &Names,
    search: &Search,
    extra: &[&str],
    env: &[(&str, &str)],
    task_user: Option<&TaskUser>,
) -> Value {
    let proxy = rejecting_proxy(search, Duration::from_millis(150)).await;
    let mut args = rebuild_args(names, "persons", &proxy.url, &SLOW);
    args.extend_from_slice(extra);
    let mut victim = match task_user {
        Some(user) => user.spawn(&args, env),
        None => spawn_indexer(&args, env),
    };
    let job = eventually(
        "checkpointed dead letters",
        Duration::from_secs(120),
        || async {
            let job = search.latest_job(&names.alias).await?;
            let sum = |field: &str| -> Option<u64> {
                Some(
                    job["checkpoints"]
                        .as_array()?
                        .iter()
                        .filter_map(|c| c[field].as_u64())
                        .sum(),
                )
            };
            (sum("dead_lettered")? >= 3 && sum("scanned")? >= 60).then_some(job)
        },
    )
    .await;
    victim.kill().await.expect("kill -9");
    let saved: u64 = job["checkpoints"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["scanned"].as_u64()).sum())
        .unwrap_or_default();
    assert!(saved < GOOD + BROKEN, "killed before the end: {job}");
    eventually("the lock to go stale", Duration::from_secs(30), || async {
        let lock = search.job_doc(&format!("lock:{}", names.alias)).await?;
        let heartbeat =
            chrono::DateTime::parse_from_rfc3339(lock["heartbeat_at"].as_str()?).ok()?;
        let age = chrono::Utc::now().signed_duration_since(heartbeat);
        (age.num_milliseconds() > lock["lease_secs"].as_i64()? * 1000 + 200).then_some(())
    })
    .await;
    job
}

/// The resume: through a proxy that refuses the same ids, at full speed.
pub(crate) async fn resume(
    names: &Names,
    search: &Search,
    extra: &[&str],
    env: &[(&str, &str)],
    task_user: Option<&TaskUser>,
) -> indexer_tests::harness::Run {
    let proxy = rejecting_proxy(search, Duration::ZERO).await;
    let mut args = rebuild_args(names, "persons", &proxy.url, &["--max-errors", "1000"]);
    args.extend_from_slice(extra);
    let run = match task_user {
        Some(user) => finish(user.spawn(&args, env), &args).await,
        None => indexer_with_env(&args, env).await,
    };
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.summary["resumed_from"].is_string(), "{run:?}");
    assert_eq!(run.summary["scanned"], GOOD + BROKEN);
    run
}

/// How often each id appears in `records`.
pub(crate) fn tally(records: &[Value]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for record in records {
        let id = record["id"].as_str().unwrap_or("<none>").to_owned();
        *counts.entry(id).or_default() += 1;
    }
    counts
}

/// Every failing item has a record; an item has two only when its page was read again after the
/// kill, which happens at most once per item here.
pub(crate) fn assert_every_record_present(
    records: &[Value],
    failing: &BTreeSet<String>,
    summary: &Value,
) {
    let counts = tally(records);
    let ids: BTreeSet<String> = counts.keys().cloned().collect();
    assert_eq!(&ids, failing, "exactly the failing items have records");
    assert!(counts.values().all(|n| *n <= 2), "{counts:?}");
    assert_eq!(summary["dead_lettered"], failing.len() as u64, "{summary}");
    let duplicated = counts.values().filter(|n| **n == 2).count();
    eprintln!(
        "dead letters after kill -9 and resume: {} records for {} items ({duplicated} recorded twice, their pages re-read)",
        records.len(),
        failing.len()
    );
}

#[tokio::test]
async fn file_dead_letters_survive_a_kill_and_the_resume_appends_to_them() {
    let (names, failing) = table_with_failures().await;
    let search = Search::default();
    let path = dead_letter_path(&names);
    let extra = ["--dead-letter", path.as_str()];
    let killed = kill_after_dead_letters_settled(&names, &search, &extra, &[], None).await;
    let before = dead_letters(&path);
    let checkpointed: u64 = killed["checkpoints"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["dead_lettered"].as_u64()).sum())
        .unwrap_or_default();
    assert!(
        before.len() as u64 >= checkpointed,
        "every checkpointed dead letter was on disk at the kill: {} lines, {checkpointed} checkpointed",
        before.len()
    );

    let run = resume(&names, &search, &extra, &[], None).await;
    let after = dead_letters(&path);
    assert_eq!(&after[..before.len()], &before[..], "the resume appended");
    assert_every_record_present(&after, &failing, &run.summary);
    assert_eq!(
        run.summary["dead_letter_locations"],
        serde_json::json!([path])
    );
    assert_eq!(run.summary["dead_letter_path"], path.as_str());

    // A mapping failure is logged with the item's id, never its contents.
    let unmappable: Vec<Value> = run
        .stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "item cannot be mapped, dead-lettered")
        .collect();
    assert!(!unmappable.is_empty(), "{}", run.stderr);
    for line in &unmappable {
        let id = line["id"].as_str().unwrap_or_default();
        assert!(failing.contains(id) && id.starts_with("broken-"), "{line}");
        assert!(
            !line.to_string().contains("not a list"),
            "no item contents: {line}"
        );
    }
    // The summary line carries its CloudWatch metrics.
    let metrics = &run.summary["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(metrics["Namespace"], "indexer", "{}", run.summary);
    assert_eq!(
        metrics["Dimensions"],
        serde_json::json!([["alias", "mode"]])
    );
    assert!(run.summary["_aws"]["Timestamp"].is_i64());
    std::fs::remove_file(&path).ok();
}

#[tokio::test]
async fn s3_dead_letters_survive_a_kill_and_the_summary_names_every_prefix() {
    let moto = moto();
    let bucket = moto.bucket("dead-letters").await;
    let (names, failing) = table_with_failures().await;
    let search = Search::default();
    let uri = format!("s3://{bucket}/dl/");
    let kms_key = "alias/dead-letters";
    let extra = [
        "--dead-letter",
        uri.as_str(),
        "--dead-letter-kms-key",
        kms_key,
    ];
    let env_owned = moto.env();
    let env: Vec<(&str, &str)> = env_owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let task_user = TaskUser::new("s3-kill");
    let killed =
        kill_after_dead_letters_settled(&names, &search, &extra, &env, Some(&task_user)).await;
    let killed_job = killed["job_id"].as_str().expect("job id").to_owned();

    let run = resume(&names, &search, &extra, &env, Some(&task_user)).await;
    let resumed_job = run.summary["job_id"].as_str().expect("job id").to_owned();
    let prefix = |job: &str| format!("dl/{}/{job}/worker-0/", names.alias);
    let locations: Vec<String> = [&killed_job, &resumed_job]
        .iter()
        .map(|job| format!("s3://{bucket}/{}", prefix(job)))
        .collect();
    assert_eq!(
        run.summary["dead_letter_locations"],
        serde_json::json!(locations),
        "{run:?}"
    );
    assert_eq!(run.summary["dead_letter_path"], locations[1].as_str());

    let objects = moto.objects(&bucket, &format!("dl/{}/", names.alias)).await;
    let mut records = Vec::new();
    for (key, body) in &objects {
        if key.ends_with("/.write-check") {
            continue;
        }
        assert!(
            key.starts_with(&prefix(&killed_job)) || key.starts_with(&prefix(&resumed_job)),
            "{key} is under a named prefix"
        );
        // <run start, UTC>-<sequence>.jsonl, e.g. 20261130t120733123456789z-000004.jsonl
        let name = key.rsplit('/').next().unwrap_or_default();
        let shape = name.len() == 38
            && name.ends_with(".jsonl")
            && name.as_bytes()[8] == b't'
            && name.as_bytes()[24] == b'z'
            && name.as_bytes()[25] == b'-';
        assert!(shape, "{key}");
        assert_eq!(
            moto.encryption(&bucket, key).await,
            (Some("aws:kms".to_owned()), Some(kms_key.to_owned())),
            "{key} is encrypted with the given key"
        );
        records.extend(
            body.lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("json")),
        );
    }
    assert!(
        objects
            .iter()
            .any(|(key, _)| key.starts_with(&prefix(&killed_job))),
        "the killed run's dead letters are in S3"
    );
    assert!(
        objects
            .iter()
            .any(|(key, _)| key == &format!("dl/{}/.write-check", names.alias)),
        "the start-up write check is there"
    );
    assert_every_record_present(&records, &failing, &run.summary);
}

/// A secret access key no message may show.
const SECRET: &str = "never-shown-7f3a9c1e5b";

#[tokio::test]
async fn a_missing_or_unreachable_bucket_fails_at_start_naming_it() {
    let moto = moto();
    let names = seed("persons", 5).await;
    let search = Search::default();
    let closed = indexer_tests::harness::free_port().expect("a free port");
    let unreachable = format!("http://127.0.0.1:{closed}");
    for (bucket, endpoint) in [
        (
            format!("t{}-no-such-bucket", std::process::id()),
            moto.url.clone(),
        ),
        ("t-unreachable-bucket".to_owned(), unreachable),
    ] {
        let started = Instant::now();
        let uri = format!("s3://{bucket}/dl/");
        let run = indexer_with_env(
            &rebuild_args(&names, "persons", &search.url, &["--dead-letter", &uri]),
            &[
                ("AWS_ENDPOINT_URL_S3", &endpoint),
                ("AWS_SECRET_ACCESS_KEY", SECRET),
            ],
        )
        .await;
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
            "the secret key is never echoed: {run:?}"
        );
        let error = run.summary["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(&bucket) && error.contains("s3:PutObject"),
            "{error}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "found at start, not after the scan: {:?}",
            started.elapsed()
        );
        assert!(
            search.indexes(&names.alias).await.is_empty(),
            "nothing was built"
        );
        assert!(
            search.latest_job(&names.alias).await.is_none(),
            "no job was started"
        );
    }
}

/// The summary and the progress lines of a run carry CloudWatch metrics in the configured
/// namespace (the dead letters' counts among them).
#[tokio::test]
async fn progress_and_summary_lines_carry_metrics_in_the_configured_namespace() {
    let (names, failing) = table_with_failures().await;
    let search = Search::default();
    let proxy = rejecting_proxy(&search, Duration::from_millis(300)).await;
    let path = dead_letter_path(&names);
    let args = rebuild_args(
        &names,
        "persons",
        &proxy.url,
        &[
            "--batch-docs",
            "50",
            "--concurrency",
            "1",
            "--progress-interval",
            "1",
            "--max-errors",
            "1000",
            "--dead-letter",
            &path,
        ],
    );
    let run = indexer_with_env(&args, &[("METRICS_NAMESPACE", "search/indexer")]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let progress: Vec<Value> = run
        .stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "progress")
        .collect();
    assert!(!progress.is_empty(), "{}", run.stderr);
    for line in progress.iter().chain(std::iter::once(&run.summary)) {
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "search/indexer", "{line}");
        assert_eq!(line["alias"], names.alias.as_str());
        assert_eq!(line["mode"], "rebuild");
        for metric in directive["Metrics"].as_array().expect("metrics") {
            let name = metric["Name"].as_str().expect("name");
            assert!(line[name].is_number(), "{name} in {line}");
        }
    }
    assert_eq!(run.summary["dead_lettered"], failing.len() as u64);
    std::fs::remove_file(&path).ok();
}

/// Each worker of a split job puts its dead letters under its own prefix of the job's.
#[tokio::test]
async fn each_worker_of_a_split_job_writes_under_its_own_s3_prefix() {
    let moto = moto();
    let bucket = moto.bucket("split").await;
    let (names, failing) = table_with_failures().await;
    let search = Search::default();
    let proxy = rejecting_proxy(&search, Duration::ZERO).await;
    let uri = format!("s3://{bucket}/dl/");
    let args = rebuild_args(
        &names,
        "persons",
        &proxy.url,
        &[
            "--workers",
            "2",
            "--segments",
            "4",
            "--max-errors",
            "1000",
            "--dead-letter",
            &uri,
        ],
    );
    let env_owned = moto.env();
    let env: Vec<(&str, &str)> = env_owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = indexer_with_env(&args, &env).await;
    assert_eq!(run.code, 0, "{run:?}");
    let job = run.summary["job_id"].as_str().expect("job id").to_owned();
    let mut records = Vec::new();
    let mut writers = BTreeSet::new();
    for (key, body) in moto
        .objects(&bucket, &format!("dl/{}/{job}/", names.alias))
        .await
    {
        let worker = key.split('/').nth(3).unwrap_or_default().to_owned();
        assert!(worker == "worker-0" || worker == "worker-1", "{key}");
        writers.insert(worker);
        records.extend(
            body.lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("json")),
        );
    }
    assert_eq!(writers.len(), 2, "both workers dead-lettered items");
    let ids: BTreeSet<String> = tally(&records).into_keys().collect();
    assert_eq!(ids, failing);
    assert_eq!(
        records.len(),
        failing.len(),
        "no run was interrupted: one record each"
    );
}
