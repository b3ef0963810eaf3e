//! The job engine beyond its listed scenarios: a lost swap answer during a legacy migration,
//! `abandon` while a run gates or retires, rollback after a refused build with `--keep 1`, two
//! rebuilds racing for the lock while one's answer is lost, and a document the cluster refuses
//! as too large even on its own.

use std::sync::Arc;
use std::time::Duration;

use indexer_tests::faults::{Fault, FaultPlan, FaultProxy, Rule};
use indexer_tests::harness::{
    Search, dead_letter_path, dead_letters, eventually, finish, indexer, put, rebuild_args,
    rebuilt, seed, services, spawn_indexer, unique,
};
use reqwest::Method;
use serde_json::json;
use tokio::sync::Semaphore;

/// A proxy that holds the first request `rule` catches until the returned semaphore gets a
/// permit.
async fn holding(search: &Search, rule: Rule) -> (FaultProxy, Arc<Semaphore>) {
    let release = Arc::new(Semaphore::new(0));
    let proxy = FaultProxy::start(
        &search.url,
        FaultPlan {
            rules: vec![rule],
            release: Some(Arc::clone(&release)),
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    (proxy, release)
}

async fn held(proxy: &FaultProxy, what: &str) {
    eventually(what, Duration::from_secs(120), || async {
        (proxy.seen().rule_hits[0] >= 1).then_some(())
    })
    .await;
}

/// The physical index named `index` exists.
async fn exists(search: &Search, index: &str) -> bool {
    search.indexes(index).await.iter().any(|i| i == index)
}

#[tokio::test]
async fn a_lost_swap_answer_during_a_legacy_migration_is_read_back_with_every_companion_moved() {
    let names = seed("persons", 30).await;
    let search = Search::default();
    let (status, body) = search
        .call(Method::PUT, &format!("/{}", names.alias), Some(json!({})))
        .await;
    assert_eq!(status, 200, "{body}");
    let tenants = format!("{}-tenants", names.alias);
    let filter = json!({"term": {"personTypes.keyword": "Tenant"}});
    let actions =
        json!({"actions": [{"add": {"index": names.alias, "alias": tenants, "filter": filter}}]});
    assert_eq!(
        search
            .call(Method::POST, "/_aliases", Some(actions))
            .await
            .0,
        200
    );
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
    assert_eq!(aliases[&new_index]["aliases"][&tenants]["filter"], filter);
    assert_eq!(search.count(&names.alias).await, 30);
    let job = run.summary["job_id"].as_str().expect("job");
    let record = search.job_doc(&format!("job:{job}")).await.expect("record");
    assert_eq!(record["status"], "succeeded", "{record}");
}

#[tokio::test]
async fn abandon_while_a_run_gates_sticks_and_its_stream_tail_leaves_no_index_behind() {
    let names = unique("Persons", "persons");
    let dynamo = services();
    indexer_tests::fixtures::create_table(&dynamo.dynamo(), &names.table, true)
        .await
        .expect("table with a stream");
    put(&names.table, (0..40).map(indexer_tests::fixtures::person)).await;
    let search = Search::default();
    let building = format!("/{}-", names.alias);
    let (proxy, release) = holding(
        &search,
        Rule::new("gate", "POST", 1, Fault::Held, move |p| {
            p.starts_with(&building) && p.ends_with("/_refresh")
        }),
    )
    .await;
    let args = rebuild_args(
        &names,
        "persons",
        &proxy.url,
        &[
            "--request-timeout",
            "120",
            "--heartbeat",
            "1",
            "--lease",
            "3",
        ],
    );
    let run = spawn_indexer(&args, &[]);
    held(&proxy, "the run at its gate").await;
    let job = search.latest_job(&names.alias).await.expect("the job");
    let index = job["new_index"].as_str().expect("index").to_owned();
    let abandoned = indexer(&["abandon", "--index", &names.alias, "--host", &search.url]).await;
    assert_eq!(abandoned.code, 0, "{abandoned:?}");
    assert_eq!(abandoned.summary["deleted_index"], index.as_str());
    // A write to the table reaches the stream tail, whose bulk write re-creates the index.
    put(
        &names.table,
        std::iter::once(indexer_tests::fixtures::person(1000)),
    )
    .await;
    eventually(
        "the tail re-creates the index",
        Duration::from_secs(120),
        || {
            let (search, index) = (&search, &index);
            async move { exists(search, index).await.then_some(()) }
        },
    )
    .await;
    release.add_permits(1);
    let ended = finish(run, &args).await;
    assert_eq!(ended.code, 1, "{ended:?}");
    assert_eq!(ended.summary["swapped"], false);
    let error = ended.summary["error"].as_str().unwrap_or_default();
    assert!(error.contains("abandoned"), "the summary says why: {error}");
    let record = search
        .job_doc(&format!("job:{}", job["job_id"].as_str().expect("id")))
        .await
        .expect("record");
    assert_eq!(record["status"], "abandoned", "{record}");
    assert!(
        !exists(&search, &index).await,
        "the run deleted the index its tail re-created"
    );
    assert!(search.alias_targets(&names.alias).await.is_empty());
    assert!(
        search
            .job_doc(&format!("lock:{}", names.alias))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn abandon_while_a_run_retires_is_refused_and_the_run_succeeds() {
    let (names, search, _) = rebuilt("tenures", 20).await;
    let second = indexer(&rebuild_args(&names, "tenures", &search.url, &[])).await;
    assert_eq!(second.code, 0, "{second:?}");
    let building = format!("/{}-", names.alias);
    let (proxy, release) = holding(
        &search,
        Rule::new("retire", "DELETE", 1, Fault::Held, move |p| {
            p.starts_with(&building) && p.matches('/').count() == 1
        }),
    )
    .await;
    let args = rebuild_args(
        &names,
        "tenures",
        &proxy.url,
        &[
            "--request-timeout",
            "120",
            "--heartbeat",
            "1",
            "--lease",
            "3",
        ],
    );
    let run = spawn_indexer(&args, &[]);
    held(&proxy, "the run retiring an old index").await;
    let job = search.latest_job(&names.alias).await.expect("the job");
    let index = job["new_index"].as_str().expect("index").to_owned();
    assert_eq!(
        search.alias_targets(&names.alias).await,
        vec![index.clone()]
    );
    let abandoned = indexer(&["abandon", "--index", &names.alias, "--host", &search.url]).await;
    assert_eq!(
        abandoned.code, 2,
        "a swapped job is not abandoned: {abandoned:?}"
    );
    assert!(
        abandoned.summary["error"]
            .as_str()
            .unwrap_or_default()
            .contains("moving alias"),
        "{abandoned:?}"
    );
    release.add_permits(1);
    let ended = finish(run, &args).await;
    assert_eq!(ended.code, 0, "{ended:?}");
    assert_eq!(
        ended.summary["deleted_indexes"].as_array().map(Vec::len),
        Some(1)
    );
    let record = search
        .job_doc(&format!("job:{}", job["job_id"].as_str().expect("id")))
        .await
        .expect("record");
    assert_eq!(record["status"], "succeeded", "{record}");
    assert!(exists(&search, &index).await);
    assert_eq!(search.count(&names.alias).await, 20);
}

#[tokio::test]
async fn rollback_after_a_refused_build_with_keep_1_never_lands_on_it() {
    let (names, search, good_a) = rebuilt("tenures", 30).await;
    let (_, hits) = search
        .call(
            Method::POST,
            &format!("/{good_a}/_search"),
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
    let dead = dead_letter_path(&names);
    let b = indexer(&rebuild_args(
        &names,
        "tenures",
        &refusing.url,
        &["--keep", "1", "--dead-letter", &dead],
    ))
    .await;
    assert_eq!(b.code, 3, "{b:?}");
    let refused_b = b.summary["new_index"].as_str().expect("index").to_owned();
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
    // The first run's lock create is applied; its answer comes only after its request times out.
    let proxy = FaultProxy::start(
        &search.url,
        FaultPlan {
            rules: vec![Rule::new(
                "lock create",
                "PUT",
                1,
                Fault::ApplyThenHang,
                move |p| p == lock,
            )],
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let first_args = rebuild_args(&names, "assets", &proxy.url, &["--request-timeout", "5"]);
    let first = spawn_indexer(&first_args, &[]);
    let lock_id = format!("lock:{}", names.alias);
    let holder = eventually("the first run's lock", Duration::from_secs(120), || {
        let (search, lock_id) = (&search, &lock_id);
        async move { search.job_doc(lock_id).await }
    })
    .await;
    let owner = holder["job_id"].as_str().expect("job id").to_owned();
    let second = indexer(&rebuild_args(&names, "assets", &search.url, &[])).await;
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
async fn a_finisher_whose_lock_is_taken_over_while_it_gates_never_swaps() {
    let (names, search, live) = rebuilt("tenures", 30).await;
    let building = format!("/{}-", names.alias);
    let (proxy, release) = holding(
        &search,
        Rule::new("gate", "POST", 1, Fault::Held, move |p| {
            p.starts_with(&building) && p.ends_with("/_refresh")
        }),
    )
    .await;
    let args = rebuild_args(
        &names,
        "tenures",
        &proxy.url,
        &[
            "--request-timeout",
            "120",
            "--heartbeat",
            "1",
            "--lease",
            "3",
        ],
    );
    let run = spawn_indexer(&args, &[]);
    held(&proxy, "the run at its gate").await;
    let job = search.latest_job(&names.alias).await.expect("the job");
    // Another run takes the lock over (as after a pause longer than the lease).
    let usurper = format!("{}-20260101t000000000z", names.alias);
    let now = chrono::Utc::now();
    let (status, answer) = search
        .call(
            Method::PUT,
            &format!("/indexer-jobs/_doc/lock:{}?refresh=true", names.alias),
            Some(json!({"kind": "lock", "alias": names.alias, "job_id": usurper,
                "holder": "elsewhere:1", "acquired_at": now, "heartbeat_at": now, "lease_secs": 600})),
        )
        .await;
    assert!(status < 300, "{answer}");
    release.add_permits(1);
    let ended = finish(run, &args).await;
    assert_eq!(ended.code, 1, "{ended:?}");
    assert_eq!(ended.summary["swapped"], false);
    assert_eq!(proxy.seen().alias_updates, 0, "no swap was sent");
    assert_eq!(search.alias_targets(&names.alias).await, vec![live]);
    let lock = search
        .job_doc(&format!("lock:{}", names.alias))
        .await
        .expect("lock");
    assert_eq!(
        lock["job_id"],
        usurper.as_str(),
        "the new owner's lock stays"
    );
    let record = search
        .job_doc(&format!("job:{}", job["job_id"].as_str().expect("id")))
        .await
        .expect("record");
    assert_eq!(record["status"], "running", "it wrote no outcome: {record}");
    assert_ne!(record["phase"], "swapping", "{record}");
}
