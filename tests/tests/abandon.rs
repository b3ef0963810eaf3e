//! `abandon` of a rebuild that another rebuild resumed: the resuming run carries on the same
//! building index, so the abandon is refused (naming the job that resumed it) and the index
//! stays, whether that run is still loading or has long since succeeded and the index is a
//! rollback target. And an abandon finishes its work though the index went meanwhile, or though
//! an earlier abandon's record was written and its answer lost before it cleaned up.

use std::sync::Arc;
use std::time::Duration;

use indexer_tests::faults::{Fault, FaultPlan, FaultProxy, Rule};
use indexer_tests::harness::{
    Names, Run, SLOW, Search, checkpointed, eventually, finish, indexer, rebuild_args, seed,
    signal, spawn_indexer,
};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// Rebuild A of `names`, through `proxy`, stopped by SIGTERM during its load: its job id and its
/// building index.
async fn interrupted(names: &Names, search: &Search, proxy: &FaultProxy) -> (String, String) {
    let args = rebuild_args(names, "persons", &proxy.url, &SLOW);
    let run = spawn_indexer(&args, &[]);
    let job = checkpointed(search, &names.alias, 25).await;
    signal("-TERM", &run.id().expect("pid").to_string());
    let stopped = finish(run, &args).await;
    assert_eq!(stopped.code, 5, "interrupted: {stopped:?}");
    (
        job["job_id"].as_str().expect("id").to_owned(),
        job["new_index"].as_str().expect("index").to_owned(),
    )
}

/// Writes a document of the job status index by hand.
async fn put_job_doc(search: &Search, id: &str, body: &Value) {
    let (status, answer) = search
        .call(
            Method::PUT,
            &format!("/indexer-jobs/_doc/{id}?refresh=true"),
            Some(body.clone()),
        )
        .await;
    assert!(status < 300, "{answer}");
}

/// Asks to abandon job `job` of `alias` and checks it is refused, naming `successor`.
async fn refused(search: &Search, alias: &str, job: &str, successor: &str) -> Run {
    let run = indexer(&[
        "abandon",
        "--index",
        alias,
        "--job",
        job,
        "--host",
        &search.url,
    ])
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    let error = run.summary["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(successor) && error.contains("resumed"),
        "the refusal names the job that resumed it: {run:?}"
    );
    run
}

#[tokio::test]
async fn abandoning_a_rebuild_that_another_resumed_is_refused_and_its_index_kept() {
    let names = seed("persons", 300).await;
    let search = Search::default();
    let slowed = FaultProxy::slowed(&search.url, Duration::from_millis(150)).await;
    let (a, index) = interrupted(&names, &search, &slowed).await;
    // Rebuild B resumes A into the same index; while it loads, abandoning A is refused.
    let b_args = rebuild_args(&names, "persons", &slowed.url, &SLOW);
    let b_run = spawn_indexer(&b_args, &[]);
    let b_job = eventually(
        "rebuild B's record, past its setup",
        Duration::from_secs(120),
        || async {
            search
                .latest_job(&names.alias)
                .await
                .filter(|job| job["job_id"] != a.as_str() && job["new_index"].is_string())
        },
    )
    .await;
    let b = b_job["job_id"].as_str().expect("id").to_owned();
    assert_eq!(b_job["resumed_from"], a.as_str(), "{b_job}");
    assert_eq!(b_job["new_index"], index.as_str(), "{b_job}");
    refused(&search, &names.alias, &a, &b).await;
    assert_eq!(
        search.indexes(&index).await,
        vec![index.clone()],
        "B's building index stays"
    );
    let loaded = finish(b_run, &b_args).await;
    assert_eq!(loaded.code, 0, "B succeeds: {loaded:?}");
    assert_eq!(
        search.alias_targets(&names.alias).await,
        vec![index.clone()]
    );
    assert_eq!(search.count(&names.alias).await, 300);
    // Rebuild C succeeds; A's (and B's) index is kept as the rollback target.
    let c = indexer(&rebuild_args(
        &names,
        "persons",
        &search.url,
        &["--keep", "2"],
    ))
    .await;
    assert_eq!(c.code, 0, "{c:?}");
    refused(&search, &names.alias, &a, &b).await;
    assert_eq!(search.indexes(&index).await, vec![index.clone()]);
    let record = search
        .job_doc(&format!("job:{a}"))
        .await
        .expect("A's record");
    assert_eq!(record["status"], "interrupted", "never marked: {record}");
    let back = indexer(&["rollback", "--index", &names.alias, "--host", &search.url]).await;
    assert_eq!(back.code, 0, "{back:?}");
    assert_eq!(search.alias_targets(&names.alias).await, vec![index]);
}

#[tokio::test]
async fn an_abandon_whose_index_delete_finds_it_already_gone_succeeds() {
    let names = seed("persons", 300).await;
    let search = Search::default();
    let slowed = FaultProxy::slowed(&search.url, Duration::from_millis(150)).await;
    let (a, index) = interrupted(&names, &search, &slowed).await;
    let path = format!("/{index}");
    let release = Arc::new(Semaphore::new(0));
    let proxy = FaultProxy::start(
        &search.url,
        FaultPlan {
            rules: vec![Rule::new("delete", "DELETE", 1, Fault::Held, move |p| {
                p == path
            })],
            release: Some(Arc::clone(&release)),
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let args = [
        "abandon",
        "--index",
        &names.alias,
        "--job",
        &a,
        "--host",
        &proxy.url,
    ];
    let run = spawn_indexer(&args, &[]);
    eventually(
        "the abandon at its delete",
        Duration::from_secs(120),
        || async { (proxy.seen().rule_hits[0] >= 1).then_some(()) },
    )
    .await;
    // The index goes meanwhile (as a run's own cleanup deletes it): the delete meets a 404.
    let (status, answer) = search
        .call(Method::DELETE, &format!("/{index}"), None)
        .await;
    assert!(status < 300, "{answer}");
    release.add_permits(1);
    let ended = finish(run, &args).await;
    assert_eq!(ended.code, 0, "{ended:?}");
    assert_eq!(ended.summary["status"], "abandoned", "{ended:?}");
    assert_eq!(ended.summary["deleted_index"], index.as_str(), "{ended:?}");
    assert!(search.indexes(&index).await.is_empty());
}

#[tokio::test]
async fn an_abandon_whose_record_was_written_but_never_cleaned_up_is_finished_by_the_next() {
    let names = seed("persons", 300).await;
    let search = Search::default();
    let slowed = FaultProxy::slowed(&search.url, Duration::from_millis(150)).await;
    let (a, index) = interrupted(&names, &search, &slowed).await;
    // What an abandon leaves when its record write applied, its answer was lost and its retries
    // failed: the record abandoned (its index to discard), the lock and the index still there.
    let mut record = search.job_doc(&format!("job:{a}")).await.expect("record");
    record["status"] = json!("abandoned");
    record["ended_at"] = json!(chrono::Utc::now());
    record["index_discarded"] = json!(true);
    record["message"] = json!("abandoned by an operator on elsewhere:1 at 2026-01-01T00:00:00Z");
    put_job_doc(&search, &format!("job:{a}"), &record).await;
    let now = chrono::Utc::now();
    put_job_doc(
        &search,
        &format!("lock:{}", names.alias),
        &json!({"kind": "lock", "alias": names.alias, "job_id": a, "holder": "elsewhere:1",
                "acquired_at": now, "heartbeat_at": now, "lease_secs": 600}),
    )
    .await;
    let again = indexer(&[
        "abandon",
        "--index",
        &names.alias,
        "--job",
        &a,
        "--host",
        &search.url,
    ])
    .await;
    assert_eq!(again.code, 0, "the cleanup is finished: {again:?}");
    assert_eq!(again.summary["lock_released"], true, "{again:?}");
    assert_eq!(again.summary["deleted_index"], index.as_str(), "{again:?}");
    assert!(search.indexes(&index).await.is_empty());
    assert!(
        search
            .job_doc(&format!("lock:{}", names.alias))
            .await
            .is_none()
    );
    // With nothing left to clean up, a further abandon is refused.
    let third = indexer(&[
        "abandon",
        "--index",
        &names.alias,
        "--job",
        &a,
        "--host",
        &search.url,
    ])
    .await;
    assert_eq!(third.code, 2, "{third:?}");
    assert!(
        third.summary["error"]
            .as_str()
            .unwrap_or_default()
            .contains("already ended"),
        "{third:?}"
    );
}
