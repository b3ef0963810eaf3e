//! The job engine's edge paths: a legacy index's companions, rollback targets and retention,
//! abandon that sticks and deletes only a building index, and a run killed after its swap.

use std::time::Duration;

use indexer_tests::faults::{Fault, FaultPlan, FaultProxy, Rule};
use indexer_tests::harness::{
    Names, SLOW, Search, checkpointed, finish, indexer, rebuild_args, rebuilt, seed, spawn_indexer,
};
use reqwest::Method;
use serde_json::{Value, json};

use super::edges::{gate_refused_build, legacy_index_with_a_filtered_alias, tenants_filter};

/// Writes a document of the job status index by hand, as a crashed or foreign run left it.
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

/// Leaves `job` behind as a hung run: its record `running` with `edit` applied, the alias's
/// latest job, and a lock whose heartbeat is long past its lease.
async fn leave_hung(search: &Search, names: &Names, mut job: Value, edit: impl FnOnce(&mut Value)) {
    job["status"] = json!("running");
    job["ended_at"] = Value::Null;
    job["kind"] = json!("job");
    edit(&mut job);
    let id = job["job_id"].as_str().expect("job id").to_owned();
    put_job_doc(search, &format!("job:{id}"), &job).await;
    put_job_doc(
        search,
        &format!("latest:{}", names.alias),
        &json!({"kind": "latest", "alias": names.alias, "job_id": id}),
    )
    .await;
    put_job_doc(
        search,
        &format!("lock:{}", names.alias),
        &json!({"kind": "lock", "alias": names.alias, "job_id": id, "holder": "gone:1",
                "acquired_at": "2026-01-01T00:00:00Z", "heartbeat_at": "2026-01-01T00:00:00Z", "lease_secs": 1}),
    )
    .await;
}

#[tokio::test]
async fn a_legacy_index_keeps_its_companion_aliases_through_the_migration() {
    let names = seed("persons", 60).await;
    let search = Search::default();
    let tenants = legacy_index_with_a_filtered_alias(&search, &names).await;

    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    let new_index = run.summary["new_index"].as_str().expect("index").to_owned();
    assert_eq!(
        search.alias_targets(&names.alias).await,
        vec![new_index.clone()]
    );
    assert_eq!(
        search.alias_targets(&tenants).await,
        vec![new_index.clone()],
        "the companion alias moved to the new index"
    );
    let (_, aliases) = search
        .call(Method::GET, &format!("/{new_index}/_alias"), None)
        .await;
    assert_eq!(
        aliases[&new_index]["aliases"][&tenants]["filter"],
        tenants_filter()
    );
    let tenants_now = search.count(&tenants).await;
    assert!(
        tenants_now > 0 && tenants_now < 60,
        "the filter still applies: {tenants_now}"
    );
}

#[tokio::test]
async fn rollback_returns_only_to_a_build_that_succeeded() {
    let (names, search, good_a) = rebuilt("tenures", 40).await;
    // Build B: one item refused by the cluster, so the gate refuses it.
    let refused_b = gate_refused_build(&search, &names, &good_a, "2").await;
    // Build C succeeds.
    let c = indexer(&rebuild_args(
        &names,
        "tenures",
        &search.url,
        &["--keep", "2"],
    ))
    .await;
    assert_eq!(c.code, 0, "{c:?}");
    let good_c = c.summary["new_index"].as_str().expect("index").to_owned();
    assert!(
        !search.indexes(&refused_b).await.is_empty(),
        "B is still kept (--keep 2), so rollback could pick it"
    );

    let run = indexer(&["rollback", "--index", &names.alias, "--host", &search.url]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["from"], good_c.as_str());
    assert_eq!(
        run.summary["to"],
        good_a.as_str(),
        "rollback skips the refused build B"
    );
    assert_eq!(search.alias_targets(&names.alias).await, vec![good_a]);
}

#[tokio::test]
async fn keep_zero_is_refused_and_nothing_is_written() {
    let names = seed("assets", 5).await;
    let search = Search::default();
    let run = indexer(&rebuild_args(
        &names,
        "assets",
        &search.url,
        &["--keep", "0"],
    ))
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("rollback returns to"),
        "the message names the rule: {run:?}"
    );
    assert!(
        search
            .indexes(&format!("{}-", names.alias))
            .await
            .is_empty()
    );
    assert!(search.alias_targets(&names.alias).await.is_empty());
}

#[tokio::test]
async fn abandoning_a_live_run_sticks_and_leaves_no_index_behind() {
    let search = Search::default();
    for round in 0..2 {
        let names = seed("persons", 300).await;
        let proxy = FaultProxy::slowed(&search.url, Duration::from_millis(150)).await;
        let args = rebuild_args(&names, "persons", &proxy.url, &SLOW);
        let run = spawn_indexer(&args, &[]);
        let job = checkpointed(&search, &names.alias, 25).await;
        let building = job["new_index"].as_str().expect("index").to_owned();
        let abandoned = indexer(&["abandon", "--index", &names.alias, "--host", &search.url]).await;
        assert_eq!(abandoned.code, 0, "round {round}: {abandoned:?}");
        let ended = finish(run, &args).await;
        assert_eq!(ended.code, 1, "round {round}: the run stops: {ended:?}");
        assert!(!ended.summary["swapped"].as_bool().unwrap_or(true));
        let record = search
            .job_doc(&format!("job:{}", job["job_id"].as_str().expect("id")))
            .await
            .expect("record");
        assert_eq!(
            record["status"], "abandoned",
            "round {round}: the run never overwrote the abandon: {record}"
        );
        assert!(
            search.indexes(&building).await.is_empty(),
            "round {round}: the building index stays deleted"
        );
        assert!(search.alias_targets(&names.alias).await.is_empty());
    }
}

#[tokio::test]
async fn abandon_deletes_only_a_rebuild_s_building_index() {
    let (names, search, live) = rebuilt("persons", 20).await;
    let second = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(second.code, 0, "{second:?}");
    let newest = second.summary["new_index"]
        .as_str()
        .expect("index")
        .to_owned();
    let template = search.latest_job(&names.alias).await.expect("a job");
    // A rollback that hung while moving the alias back to the kept index.
    leave_hung(&search, &names, template.clone(), |job| {
        job["job_id"] = json!(format!("{}-20260101t000000000z", names.alias));
        job["mode"] = json!("rollback");
        job["new_index"] = json!(live);
        job["previous_index"] = json!(newest);
    })
    .await;
    let run = indexer(&["abandon", "--index", &names.alias, "--host", &search.url]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.summary["deleted_index"].is_null(), "{run:?}");
    assert!(
        !search.indexes(&live).await.is_empty(),
        "the rollback's target is kept"
    );
    // A repair job that hung: it names the live index.
    leave_hung(&search, &names, template, |job| {
        job["job_id"] = json!(format!("{}-20260101t000000001z", names.alias));
        job["mode"] = json!("verify-fix");
        job["new_index"] = json!(newest);
    })
    .await;
    let run = indexer(&["abandon", "--index", &names.alias, "--host", &search.url]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.summary["deleted_index"].is_null(), "{run:?}");
    assert_eq!(
        search.count(&names.alias).await,
        20,
        "the live index is untouched"
    );
}

#[tokio::test]
async fn a_run_killed_after_its_swap_is_not_resumed_into_the_live_index() {
    let (names, search, live) = rebuilt("assets", 30).await;
    let finished = search.latest_job(&names.alias).await.expect("a job");
    // As if killed -9 right after the swap: its record still says running.
    leave_hung(&search, &names, finished, |job| {
        job["phase"] = json!("swapping");
    })
    .await;
    let run = indexer(&rebuild_args(&names, "assets", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.summary["resumed_from"].is_null(), "{run:?}");
    assert_eq!(run.summary["scanned_this_run"], 30);
    let new_index = run.summary["new_index"].as_str().expect("index");
    assert_ne!(new_index, live, "a fresh index was built");
    assert_eq!(run.summary["previous_index"], live.as_str());
    assert_eq!(
        search.alias_targets(&names.alias).await,
        vec![new_index.to_owned()]
    );
    assert_eq!(search.count(&names.alias).await, 30);
    // The dead run's record is closed: its swap was applied, so its index is a rollback target.
    let closed = search
        .job_doc(&format!("job:{live}"))
        .await
        .expect("the dead run's record");
    assert_eq!(closed["status"], "succeeded", "{closed}");
    let back = indexer(&["rollback", "--index", &names.alias, "--host", &search.url]).await;
    assert_eq!(back.code, 0, "{back:?}");
    assert_eq!(search.alias_targets(&names.alias).await, vec![live]);
}

/// A run killed right after its swap, then rolled back from: its index is no longer live, yet
/// the next rebuild must not resume into it (that would swap its old contents back).
#[tokio::test]
async fn a_run_killed_after_its_swap_and_rolled_back_from_is_not_resumed() {
    let (names, search, first) = rebuilt("assets", 30).await;
    let second = indexer(&rebuild_args(&names, "assets", &search.url, &[])).await;
    assert_eq!(second.code, 0, "{second:?}");
    let swapped = second.summary["new_index"]
        .as_str()
        .expect("index")
        .to_owned();
    let finished = search.latest_job(&names.alias).await.expect("a job");
    leave_hung(&search, &names, finished, |job| {
        job["phase"] = json!("swapping");
    })
    .await;
    let back = indexer(&["rollback", "--index", &names.alias, "--host", &search.url]).await;
    assert_eq!(back.code, 0, "{back:?}");
    assert_eq!(
        search.alias_targets(&names.alias).await,
        vec![first.clone()]
    );
    let run = indexer(&rebuild_args(&names, "assets", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.summary["resumed_from"].is_null(), "{run:?}");
    assert_eq!(run.summary["scanned_this_run"], 30, "{run:?}");
    let new_index = run.summary["new_index"].as_str().expect("index");
    assert_ne!(new_index, swapped, "a fresh index was built");
    assert_eq!(search.count(&names.alias).await, 30);
}

#[tokio::test]
async fn a_run_whose_lock_was_taken_over_writes_nothing_more_and_never_swaps() {
    let names = seed("persons", 300).await;
    let search = Search::default();
    let proxy = FaultProxy::slowed(&search.url, Duration::from_millis(150)).await;
    let args = rebuild_args(&names, "persons", &proxy.url, &SLOW);
    let run = spawn_indexer(&args, &[]);
    let job = checkpointed(&search, &names.alias, 25).await;
    // Another run takes the lock over (as after a lease lost to a long pause) and is latest.
    let usurper = format!("{}-20260101t000000000z", names.alias);
    put_job_doc(
        &search,
        &format!("lock:{}", names.alias),
        &json!({"kind": "lock", "alias": names.alias, "job_id": usurper, "holder": "elsewhere:1",
                "acquired_at": chrono::Utc::now(), "heartbeat_at": chrono::Utc::now(), "lease_secs": 600}),
    )
    .await;
    put_job_doc(
        &search,
        &format!("latest:{}", names.alias),
        &json!({"kind": "latest", "alias": names.alias, "job_id": usurper}),
    )
    .await;
    let ended = finish(run, &args).await;
    assert_eq!(ended.code, 1, "{ended:?}");
    assert!(!ended.summary["swapped"].as_bool().unwrap_or(true));
    assert!(
        search.alias_targets(&names.alias).await.is_empty(),
        "never swapped"
    );
    let latest = search
        .job_doc(&format!("latest:{}", names.alias))
        .await
        .expect("latest");
    assert_eq!(
        latest["job_id"],
        usurper.as_str(),
        "the run that took over stays latest"
    );
    let lock = search
        .job_doc(&format!("lock:{}", names.alias))
        .await
        .expect("lock");
    assert_eq!(lock["job_id"], usurper.as_str(), "its lock is untouched");
    let record = search
        .job_doc(&format!("job:{}", job["job_id"].as_str().expect("id")))
        .await
        .expect("record");
    // It wrote no outcome over the record: the run that took over decides what it says.
    assert_eq!(record["status"], "running", "{record}");
    assert_ne!(record["phase"], "swapping", "{record}");
}

#[tokio::test]
async fn a_stream_tail_that_fails_stops_the_run_at_once() {
    let names = indexer_tests::harness::unique("Persons", "persons");
    let dynamo = indexer_tests::harness::services();
    indexer_tests::fixtures::create_table(&dynamo.dynamo(), &names.table, true)
        .await
        .expect("table with a stream");
    indexer_tests::harness::put(&names.table, (0..400).map(indexer_tests::fixtures::person)).await;
    let search = Search::default();
    let slow = FaultProxy::slowed(&search.url, Duration::from_millis(200)).await;
    // Every GetRecords from the third on is refused: the tail stops working early in the load.
    let streams = FaultProxy::start(
        &dynamo.dynamo_url,
        FaultPlan {
            rules: vec![Rule {
                repeat: true,
                ..Rule::aws_call("GetRecords", "GetRecords", 3, Fault::Status(400))
            }],
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let args = rebuild_args(
        &names,
        "persons",
        &slow.url,
        &[
            "--batch-docs",
            "10",
            "--page-size",
            "10",
            "--segments",
            "2",
            "--concurrency",
            "1",
            "--heartbeat",
            "1",
        ],
    );
    let run = finish(
        spawn_indexer(
            &args,
            &[("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", &streams.url)],
        ),
        &args,
    )
    .await;
    // Stopped with its checkpoints saved, as on a signal: interrupted (exit 5), the cause said.
    assert_eq!(run.code, 5, "{run:?}");
    assert_eq!(run.summary["status"], "interrupted", "{run:?}");
    let said = run.summary["warnings"].to_string();
    assert!(
        said.contains("stream could not be tailed"),
        "{}",
        run.summary
    );
    assert!(
        run.summary["indexed"].as_u64().unwrap_or(400) < 400,
        "the run stopped before the load ended: {}",
        run.summary
    );
    assert!(!run.summary["swapped"].as_bool().unwrap_or(true));
    assert!(search.alias_targets(&names.alias).await.is_empty());
    // The job is interrupted with its checkpoints and the lock released: the next run resumes.
    let job_id = run.summary["job_id"].as_str().expect("job id").to_owned();
    let record = search
        .job_doc(&format!("job:{job_id}"))
        .await
        .expect("record");
    assert_eq!(record["status"], "interrupted", "{record}");
    assert!(
        search
            .job_doc(&format!("lock:{}", names.alias))
            .await
            .is_none()
    );
    let next = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(next.code, 0, "{next:?}");
    assert_eq!(next.summary["resumed_from"], job_id.as_str());
    assert_eq!(search.count(&names.alias).await, 400);
}

#[tokio::test]
async fn a_rebuild_from_another_entity_s_table_is_refused_before_anything_is_written() {
    let (names, search, live) = rebuilt("persons", 20).await;
    let tenures = seed("tenures", 10).await;
    let wrong = Names {
        table: tenures.table.clone(),
        alias: names.alias.clone(),
    };
    let run = indexer(&rebuild_args(&wrong, "tenures", &search.url, &[])).await;
    assert_eq!(run.code, 2, "{run:?}");
    let error = run.summary["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("serves persons documents") && error.contains("tenures documents"),
        "the message names both: {error}"
    );
    assert_eq!(search.alias_targets(&names.alias).await, vec![live.clone()]);
    assert_eq!(
        search.indexes(&format!("{}-", names.alias)).await,
        vec![live],
        "nothing was built"
    );
    let meant = indexer(&rebuild_args(
        &wrong,
        "tenures",
        &search.url,
        &[
            "--allow-entity-change",
            "--allow-mapping-changes",
            "--min-ratio",
            "0",
        ],
    ))
    .await;
    assert_eq!(meant.code, 0, "said explicitly, it goes through: {meant:?}");
    assert_eq!(search.count(&names.alias).await, 10);
}
