//! S3 failing under a run that writes its dead letters there, through the fault proxy in front
//! of moto: a `PutObject` refused mid-run stops the run with the object's URI in its error (and
//! never the secret key), the page whose dead letters were refused is not settled, and the
//! resume loses no record; a 500 on a put is retried. And the read-only root the S3 runs stand
//! on refuses a dead-letter file.

use std::collections::BTreeSet;
use std::time::Duration;

use indexer_tests::faults::{Fault, FaultPlan, FaultProxy, Rule};
use indexer_tests::harness::{Names, Search, finish, indexer_with_env, rebuild_args};
use indexer_tests::moto::moto;
use indexer_tests::task_user::TaskUser;
use serde_json::Value;

use crate::deadletters::{
    BROKEN, GOOD, assert_every_record_present, rejecting_proxy, resume, table_with_failures, tally,
};

/// Small pages and batches, one request at a time: the failures are spread over many pages, so
/// a run commits many groups of dead letters.
const SMALL: [&str; 10] = [
    "--batch-docs",
    "20",
    "--page-size",
    "20",
    "--concurrency",
    "1",
    "--segments",
    "2",
    "--max-errors",
    "1000",
];

/// A proxy in front of moto applying `fault` to the `nth` put of a dead-letter object (the
/// start-up write check is not one), and, with `repeat`, to every later one.
async fn s3_proxy(fault: Fault, nth: u32, repeat: bool) -> FaultProxy {
    let mut rule = Rule::new("dead-letter put", "PUT", nth, fault, |path| {
        path.contains("/worker-")
    });
    rule.repeat = repeat;
    let plan = FaultPlan {
        rules: vec![rule],
        ..FaultPlan::default()
    };
    match FaultProxy::start(&moto().url, plan).await {
        Ok(proxy) => proxy,
        Err(error) => panic!("cannot start the proxy in front of moto: {error:#}"),
    }
}

/// Every dead-letter record under `dl/<alias>/` in `bucket`.
async fn records_in(bucket: &str, names: &Names) -> Vec<Value> {
    let mut records = Vec::new();
    for (key, body) in moto()
        .objects(bucket, &format!("dl/{}/", names.alias))
        .await
    {
        if key.ends_with("/.write-check") {
            continue;
        }
        records.extend(
            body.lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("json")),
        );
    }
    records
}

/// A run whose dead-letter puts S3 refuses (from the second on, once or for good) fails, naming
/// the object; the resume, with S3 answering again, leaves a record for every failing item.
async fn a_refused_put_stops_the_run_and_the_resume_loses_nothing(fault: Fault, repeat: bool) {
    let bucket = moto()
        .bucket(&format!("refused-{}", u8::from(repeat)))
        .await;
    let (names, failing) = table_with_failures().await;
    let search = Search::default();
    let uri = format!("s3://{bucket}/dl/");
    let extra = ["--dead-letter", uri.as_str()];

    let s3 = s3_proxy(fault, 2, repeat).await;
    let cluster = rejecting_proxy(&search, Duration::ZERO).await;
    let mut args = rebuild_args(&names, "persons", &cluster.url, &SMALL);
    args.extend_from_slice(&extra);
    let secret = "never-shown-2b8e41d07c";
    let failed = indexer_with_env(
        &args,
        &[
            ("AWS_ENDPOINT_URL_S3", &s3.url),
            ("AWS_SECRET_ACCESS_KEY", secret),
        ],
    )
    .await;
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(
        !failed.stdout.contains(secret) && !failed.stderr.contains(secret),
        "the secret key is never echoed: {failed:?}"
    );
    assert!(s3.seen().rule_hits[0] >= 1, "the fault fired: {failed:?}");
    let error = failed.summary["error"].as_str().unwrap_or_default();
    let object = format!("s3://{bucket}/dl/{}/", names.alias);
    assert!(
        error.contains("cannot write dead letters to") && error.contains(&object),
        "the error names the refused object: {error}"
    );
    let scanned = failed.summary["scanned"].as_u64().unwrap_or_default();
    assert!(
        scanned < GOOD + BROKEN,
        "the run stopped at the refusal, not at the end: {failed:?}"
    );
    let before = records_in(&bucket, &names).await;
    assert!(
        !before.is_empty(),
        "the first put went through before the refusal"
    );

    let env_owned = moto().env();
    let env: Vec<(&str, &str)> = env_owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = resume(&names, &search, &extra, &env, None).await;
    let records = records_in(&bucket, &names).await;
    assert_every_record_present(&records, &failing, &run.summary);
    let locations = run.summary["dead_letter_locations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(locations.len(), 2, "both runs' prefixes: {}", run.summary);
}

#[tokio::test]
async fn a_put_refused_with_403_mid_run_stops_it_and_the_resume_loses_no_record() {
    a_refused_put_stops_the_run_and_the_resume_loses_nothing(Fault::Status(403), false).await;
}

#[tokio::test]
async fn puts_failing_with_500_past_the_retries_stop_the_run_and_the_resume_loses_no_record() {
    a_refused_put_stops_the_run_and_the_resume_loses_nothing(Fault::Status(500), true).await;
}

#[tokio::test]
async fn a_500_on_a_dead_letter_put_is_retried_and_nothing_is_lost() {
    let bucket = moto().bucket("retried").await;
    let (names, failing) = table_with_failures().await;
    let search = Search::default();
    let uri = format!("s3://{bucket}/dl/");
    let s3 = s3_proxy(Fault::Status(500), 1, false).await;
    let cluster = rejecting_proxy(&search, Duration::ZERO).await;
    let mut args = rebuild_args(&names, "persons", &cluster.url, &SMALL);
    args.extend_from_slice(&["--dead-letter", uri.as_str()]);
    let run = indexer_with_env(&args, &[("AWS_ENDPOINT_URL_S3", &s3.url)]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(s3.seen().rule_hits, [1], "one put answered 500");
    let records = records_in(&bucket, &names).await;
    let ids: BTreeSet<String> = tally(&records).into_keys().collect();
    assert_eq!(ids, failing);
    assert_eq!(
        records.len(),
        failing.len(),
        "the retried put was stored once: one record per item"
    );
    assert_eq!(run.summary["dead_lettered"], failing.len() as u64);
}

/// The stand-in for ECS's read-only root is real: confined as the task's user, a run whose dead
/// letters go to a file in its working directory — what the image did before it made `/work` the
/// task user's — fails at its first dead letter, naming the file and the system's refusal.
#[tokio::test]
async fn as_the_task_user_on_a_read_only_root_a_dead_letter_file_fails_the_run() {
    let (names, _) = table_with_failures().await;
    let search = Search::default();
    let task_user = TaskUser::new("file-refused");
    let cluster = rejecting_proxy(&search, Duration::ZERO).await;
    let args = rebuild_args(
        &names,
        "persons",
        &cluster.url,
        &["--dead-letter", "dead.jsonl", "--max-errors", "1000"],
    );
    let run = finish(task_user.spawn(&args, &[]), &args).await;
    assert_eq!(run.code, 1, "{run:?}");
    let error = run.summary["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("dead.jsonl") && error.contains(task_user.confinement.refusal()),
        "{error}"
    );
    assert_eq!(task_user.left_behind(), Vec::<std::path::PathBuf>::new());
}
