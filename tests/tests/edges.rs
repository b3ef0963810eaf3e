//! The job engine beyond its listed scenarios: a lost swap answer during a legacy migration,
//! rollback after a refused build with `--keep 1`, two rebuilds racing for the lock while one's
//! answer is lost, a document the cluster refuses as too large even on its own, and a retire
//! that keeps failing after the swap. `abandon` and a lost lock around the swap: see `fence.rs`.

use std::sync::Arc;
use std::time::Duration;

use indexer_tests::faults::{Fault, FaultPlan, FaultProxy, Rule};
use indexer_tests::harness::{
    Names, Search, dead_letter_path, dead_letters, eventually, finish, indexer, put, rebuild_args,
    rebuilt, seed, services, spawn_indexer, unique,
};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// The physical index named `index` exists.
async fn exists(search: &Search, index: &str) -> bool {
    search.indexes(index).await.iter().any(|i| i == index)
}

/// Builds the alias again with one of `live`'s documents refused by the cluster every time, so
/// the gate refuses the build (exit 3); returns the refused index, kept for inspection.
pub(crate) async fn gate_refused_build(
    search: &Search,
    names: &Names,
    live: &str,
    keep: &str,
) -> String {
    let (_, hits) = search
        .call(
            Method::POST,
            &format!("/{live}/_search"),
            Some(json!({"size": 1})),
        )
        .await;
    let refused_id = hits["hits"]["hits"][0]["_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let refusing = FaultProxy::start(
        &search.url,
        FaultPlan {
            always_reject: vec![refused_id],
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let dead = dead_letter_path(names);
    let run = indexer(&rebuild_args(
        names,
        "tenures",
        &refusing.url,
        &["--keep", keep, "--dead-letter", &dead],
    ))
    .await;
    assert_eq!(run.code, 3, "the gate refuses the build: {run:?}");
    run.summary["new_index"].as_str().expect("index").to_owned()
}

/// The companion alias's filter: tenants only.
pub(crate) fn tenants_filter() -> Value {
    json!({"term": {"personTypes.keyword": "Tenant"}})
}

/// The original tool's layout: a concrete index named like the alias, carrying a filtered
/// companion alias (`<alias>-tenants`, tenants only); returns the companion's name.
pub(crate) async fn legacy_index_with_a_filtered_alias(search: &Search, names: &Names) -> String {
    let (status, body) = search
        .call(Method::PUT, &format!("/{}", names.alias), Some(json!({})))
        .await;
    assert_eq!(status, 200, "{body}");
    let tenants = format!("{}-tenants", names.alias);
    let filter = tenants_filter();
    let actions =
        json!({"actions": [{"add": {"index": names.alias, "alias": tenants, "filter": filter}}]});
    assert_eq!(
        search
            .call(Method::POST, "/_aliases", Some(actions))
            .await
            .0,
        200
    );
    tenants
}

#[tokio::test]
async fn a_lost_swap_answer_during_a_legacy_migration_is_read_back_with_every_companion_moved() {
    let names = seed("persons", 30).await;
    let search = Search::default();
    let tenants = legacy_index_with_a_filtered_alias(&search, &names).await;
    // The migration's one `_aliases` call is applied, and its answer dropped.
    let proxy = FaultProxy::start(
        &search.url,
        FaultPlan {
            rules: vec![Rule::new("swap", "POST", 1, Fault::DropAnswer, |p| {
                p == "/_aliases"
            })],
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let run = indexer(&rebuild_args(&names, "persons", &proxy.url, &[])).await;
    assert_eq!(proxy.seen().rule_hits[0], 1, "the answer was dropped");
    assert_eq!(proxy.seen().alias_updates, 1, "the swap was sent once");
    assert_eq!(
        run.code, 0,
        "the alias is read back and found moved: {run:?}"
    );
    assert_eq!(run.summary["swapped"], true);
    let new_index = run.summary["new_index"].as_str().expect("index").to_owned();
    assert_eq!(
        search.alias_targets(&names.alias).await,
        vec![new_index.clone()]
    );
    assert_eq!(
        search.alias_targets(&tenants).await,
        vec![new_index.clone()]
    );
    let (_, aliases) = search
        .call(Method::GET, &format!("/{new_index}/_alias"), None)
        .await;
    assert_eq!(
        aliases[&new_index]["aliases"][&tenants]["filter"],
        tenants_filter()
    );
    assert_eq!(search.count(&names.alias).await, 30);
    let job = run.summary["job_id"].as_str().expect("job");
    let record = search.job_doc(&format!("job:{job}")).await.expect("record");
    assert_eq!(record["status"], "succeeded", "{record}");
}

#[tokio::test]
async fn rollback_after_a_refused_build_with_keep_1_never_lands_on_it() {
    let (names, search, good_a) = rebuilt("tenures", 30).await;
    let refused_b = gate_refused_build(&search, &names, &good_a, "1").await;
    let back = indexer(&["rollback", "--index", &names.alias, "--host", &search.url]).await;
    assert_eq!(back.code, 2, "nothing older succeeded: {back:?}");
    assert_eq!(
        search.alias_targets(&names.alias).await,
        vec![good_a.clone()]
    );
    assert!(exists(&search, &refused_b).await, "kept for inspection");
    let c = indexer(&rebuild_args(
        &names,
        "tenures",
        &search.url,
        &["--keep", "1"],
    ))
    .await;
    assert_eq!(c.code, 0, "{c:?}");
    assert_eq!(c.summary["deleted_indexes"], json!([refused_b]));
    assert!(exists(&search, &good_a).await, "the replaced index is kept");
    let back = indexer(&["rollback", "--index", &names.alias, "--host", &search.url]).await;
    assert_eq!(back.code, 0, "{back:?}");
    assert_eq!(back.summary["to"], good_a.as_str());
    assert_eq!(search.alias_targets(&names.alias).await, vec![good_a]);
}

#[tokio::test]
async fn two_rebuilds_racing_for_the_lock_while_one_create_answer_is_lost_end_with_one_owner() {
    let names = seed("assets", 20).await;
    let search = Search::default();
    let lock = format!("/indexer-jobs/_doc/lock:{}", names.alias);
    let building = format!("/{}-", names.alias);
    // The first run's lock create is applied and its answer lost; once it has recognised the
    // lock as its own, its index create is held until the second run has ended, so the two
    // runs always overlap.
    let release = Arc::new(Semaphore::new(0));
    let proxy = FaultProxy::start(
        &search.url,
        FaultPlan {
            rules: vec![
                Rule::new("lock create", "PUT", 1, Fault::DropAnswer, move |p| {
                    p == lock
                }),
                Rule::new("index create", "PUT", 1, Fault::Held, move |p| {
                    p.starts_with(&building) && p.matches('/').count() == 1
                }),
            ],
            release: Some(Arc::clone(&release)),
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let first_args = rebuild_args(&names, "assets", &proxy.url, &["--request-timeout", "120"]);
    let first = spawn_indexer(&first_args, &[]);
    eventually(
        "the first run holding the lock, at its index create",
        Duration::from_secs(120),
        || async { (proxy.seen().rule_hits[1] >= 1).then_some(()) },
    )
    .await;
    assert_eq!(
        proxy.seen().rule_hits[0],
        1,
        "its lock create's answer was lost"
    );
    let lock_id = format!("lock:{}", names.alias);
    let holder = search
        .job_doc(&lock_id)
        .await
        .expect("the first run's lock");
    let owner = holder["job_id"].as_str().expect("job id").to_owned();
    let second = indexer(&rebuild_args(&names, "assets", &search.url, &[])).await;
    release.add_permits(1);
    assert_eq!(second.code, 4, "{second:?}");
    assert!(
        second.summary["error"]
            .as_str()
            .unwrap_or_default()
            .contains(&owner),
        "the refusal names the owner: {second:?}"
    );
    let first = finish(first, &first_args).await;
    assert_eq!(
        first.code, 0,
        "its own lock, recognised on retry: {first:?}"
    );
    assert_eq!(first.summary["job_id"], owner.as_str());
    let index = first.summary["new_index"].as_str().expect("index");
    assert_eq!(
        search.alias_targets(&names.alias).await,
        vec![index.to_owned()]
    );
    assert_eq!(search.count(&names.alias).await, 20);
    let latest = search
        .job_doc(&format!("latest:{}", names.alias))
        .await
        .expect("latest");
    assert_eq!(
        latest["job_id"],
        owner.as_str(),
        "the loser never became latest"
    );
    if let Some(loser) = second.summary["job_id"].as_str() {
        let record = search.job_doc(&format!("job:{loser}")).await;
        assert!(
            record.is_none_or(|r| r["status"] == "failed"),
            "the loser's record is closed"
        );
    }
    assert!(search.job_doc(&lock_id).await.is_none(), "released");
}

#[tokio::test]
async fn a_document_refused_as_too_large_even_alone_is_dead_lettered_and_the_rest_indexed() {
    let (names, search, live) = rebuilt("persons", 30).await;
    let (_, hits) = search
        .call(
            Method::POST,
            &format!("/{live}/_search"),
            Some(json!({"size": 1})),
        )
        .await;
    let big = hits["hits"]["hits"][0]["_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let needle = format!("\"_id\":\"{big}\"");
    let proxy = FaultProxy::start(
        &search.url,
        FaultPlan {
            rules: vec![Rule {
                repeat: true,
                matches: Arc::new(move |request: &indexer_tests::http1::Request| {
                    request.method == "POST"
                        && request.path().ends_with("/_bulk")
                        && String::from_utf8_lossy(&request.body).contains(&needle)
                }),
                ..Rule::new("too large", "POST", 1, Fault::Status(413), |_| false)
            }],
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let dead = dead_letter_path(&names);
    let run = indexer(&rebuild_args(
        &names,
        "persons",
        &proxy.url,
        &[
            "--batch-docs",
            "8",
            "--dead-letter",
            &dead,
            "--max-errors",
            "1",
        ],
    ))
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["indexed"], 29);
    assert_eq!(run.summary["dead_lettered"], 1);
    let records = dead_letters(&dead);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["id"], big.as_str());
    assert_eq!(records[0]["status"], 413);
    assert_eq!(search.count(&names.alias).await, 29);
    assert!(
        proxy.seen().rule_hits[0] >= 2,
        "its batch was refused whole, then halved down to the document alone"
    );
}

#[tokio::test]
async fn a_retire_that_keeps_failing_after_the_swap_is_a_warning_and_the_run_succeeds() {
    let (names, search, oldest) = rebuilt("tenures", 20).await;
    let second = indexer(&rebuild_args(&names, "tenures", &search.url, &[])).await;
    assert_eq!(second.code, 0, "{second:?}");
    let building = format!("/{}-", names.alias);
    let proxy = FaultProxy::start(
        &search.url,
        FaultPlan {
            rules: vec![Rule {
                repeat: true,
                ..Rule::new("retire", "DELETE", 1, Fault::Status(500), move |p| {
                    p.starts_with(&building) && p.matches('/').count() == 1
                })
            }],
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let run = indexer(&rebuild_args(
        &names,
        "tenures",
        &proxy.url,
        &["--retry-base-ms", "20"],
    ))
    .await;
    assert!(proxy.seen().rule_hits[0] >= 2, "the delete was retried");
    assert_eq!(run.code, 0, "the alias moved: the run succeeded: {run:?}");
    assert_eq!(run.summary["swapped"], true);
    let new_index = run.summary["new_index"].as_str().expect("index");
    assert_eq!(
        search.alias_targets(&names.alias).await,
        vec![new_index.to_owned()]
    );
    assert!(
        run.summary["warnings"]
            .to_string()
            .contains("deleting old indexes failed"),
        "{run:?}"
    );
    assert_eq!(run.summary["deleted_indexes"], json!([]));
    assert!(
        exists(&search, &oldest).await,
        "not deleted, and the summary says so"
    );
    let job = run.summary["job_id"].as_str().expect("job");
    let record = search.job_doc(&format!("job:{job}")).await.expect("record");
    assert_eq!(record["status"], "succeeded", "{record}");
}

#[tokio::test]
async fn writes_made_during_the_swap_reach_the_live_index_though_the_retire_then_fails() {
    let names = unique("Persons", "persons");
    let dynamo = services();
    indexer_tests::fixtures::create_table(&dynamo.dynamo(), &names.table, true)
        .await
        .expect("table with a stream");
    put(&names.table, (0..30).map(indexer_tests::fixtures::person)).await;
    let search = Search::default();
    for _ in 0..2 {
        let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
        assert_eq!(run.code, 0, "{run:?}");
    }
    let building = format!("/{}-", names.alias);
    let release = Arc::new(Semaphore::new(0));
    let proxy = FaultProxy::start(
        &search.url,
        FaultPlan {
            rules: vec![
                Rule::new("swap", "POST", 1, Fault::Held, |p| p == "/_aliases"),
                Rule {
                    repeat: true,
                    ..Rule::new("retire", "DELETE", 1, Fault::Status(500), move |p| {
                        p.starts_with(&building) && p.matches('/').count() == 1
                    })
                },
            ],
            release: Some(Arc::clone(&release)),
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let args = rebuild_args(&names, "persons", &proxy.url, &["--retry-base-ms", "20"]);
    let run = spawn_indexer(&args, &[]);
    eventually("the run at its swap", Duration::from_secs(120), || async {
        (proxy.seen().rule_hits[0] >= 1).then_some(())
    })
    .await;
    // Written after the final drain, before the alias moves: only the catch-up after the swap
    // brings it into the now-live index.
    put(
        &names.table,
        std::iter::once(indexer_tests::fixtures::person(5000)),
    )
    .await;
    release.add_permits(1);
    let ended = finish(run, &args).await;
    assert_eq!(ended.code, 0, "{ended:?}");
    assert_eq!(ended.summary["swapped"], true);
    assert!(
        ended.summary["warnings"]
            .to_string()
            .contains("deleting old indexes failed"),
        "{ended:?}"
    );
    assert!(
        ended.summary["stream_records_applied"]
            .as_u64()
            .unwrap_or(0)
            >= 1,
        "{ended:?}"
    );
    let new_index = ended.summary["new_index"].as_str().expect("index");
    assert_eq!(
        search.alias_targets(&names.alias).await,
        vec![new_index.to_owned()]
    );
    // The write made during the swap is there, once the live index refreshes.
    eventually(
        "31 documents in the live index",
        Duration::from_secs(60),
        || {
            let (search, alias) = (&search, &names.alias);
            async move { (search.count(alias).await == 31).then_some(()) }
        },
    )
    .await;
}

#[tokio::test]
async fn a_rollback_reads_the_alias_back_after_a_lost_or_failed_answer() {
    let (names, search, first) = rebuilt("assets", 20).await;
    let second = indexer(&rebuild_args(&names, "assets", &search.url, &[])).await;
    assert_eq!(second.code, 0, "{second:?}");
    let live = second.summary["new_index"]
        .as_str()
        .expect("index")
        .to_owned();
    for (fault, code, now_on) in [
        (Fault::Status(503), 1, live.clone()),
        (Fault::DropAnswer, 0, first.clone()),
    ] {
        let proxy = FaultProxy::start(
            &search.url,
            FaultPlan {
                rules: vec![Rule::new("rollback", "POST", 1, fault, |p| {
                    p == "/_aliases"
                })],
                ..FaultPlan::default()
            },
        )
        .await
        .expect("proxy");
        let run = indexer(&["rollback", "--index", &names.alias, "--host", &proxy.url]).await;
        assert_eq!(run.code, code, "{fault:?}: {run:?}");
        assert_eq!(proxy.seen().alias_updates, 1, "sent once");
        assert_eq!(
            search.alias_targets(&names.alias).await,
            vec![now_on.clone()]
        );
        let latest = search
            .latest_job(&names.alias)
            .await
            .expect("the rollback's job");
        assert_eq!(latest["mode"], "rollback");
        let expected = if code == 0 { "succeeded" } else { "failed" };
        assert_eq!(latest["status"], expected, "{fault:?}: {latest}");
        assert!(
            search
                .job_doc(&format!("lock:{}", names.alias))
                .await
                .is_none(),
            "released"
        );
    }
}
