//! One job per alias, resume after kill -9 or SIGTERM, abandon, rollback, status and history.

use std::time::{Duration, Instant};

use indexer_tests::faults::FaultProxy;
use indexer_tests::harness::{
    SLOW, Search, checkpointed, eventually, finish, indexer, rebuild_args, seed, signal,
    spawn_indexer,
};
use reqwest::Method;
use serde_json::json;

/// A proxy that slows every bulk request, so a run lasts long enough to interrupt.
async fn slow_proxy(search: &Search, delay_ms: u64) -> FaultProxy {
    FaultProxy::slowed(&search.url, Duration::from_millis(delay_ms)).await
}

async fn wait_until_stale(search: &Search, alias: &str) {
    eventually("the lock to go stale", Duration::from_secs(30), || async {
        let lock = search.job_doc(&format!("lock:{alias}")).await?;
        let heartbeat =
            chrono::DateTime::parse_from_rfc3339(lock["heartbeat_at"].as_str()?).ok()?;
        let age = chrono::Utc::now()
            .signed_duration_since(heartbeat)
            .num_milliseconds();
        (age > lock["lease_secs"].as_i64()? * 1000 + 200).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_second_rebuild_of_the_same_alias_is_refused_naming_the_first() {
    let names = seed("persons", 300).await;
    let search = Search::default();
    let proxy = slow_proxy(&search, 150).await;
    let args = rebuild_args(&names, "persons", &proxy.url, &SLOW);
    let first = spawn_indexer(&args, &[]);
    let lock = eventually(
        "the first run's lock and job record",
        Duration::from_secs(30),
        || async {
            let lock = search.job_doc(&format!("lock:{}", names.alias)).await?;
            search
                .job_doc(&format!("job:{}", lock["job_id"].as_str()?))
                .await?;
            Some(lock)
        },
    )
    .await;
    let second = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(second.code, 4, "{second:?}");
    let error = second.summary["error"].as_str().unwrap_or_default();
    let first_job = lock["job_id"].as_str().expect("job id");
    assert!(
        error.contains(first_job) && error.contains("locked by job") && error.contains("scanned"),
        "{error}"
    );
    let status = search.report("status", &names.alias).await;
    assert_eq!(status.code, 0, "{status:?}");
    assert_eq!(status.summary["lock"]["job_id"], first_job);
    assert_eq!(status.summary["lock"]["hung"], false);
    assert_eq!(status.summary["running_job"]["job_id"], first_job);
    assert_eq!(status.summary["running_job"]["status"], "running");
    assert_eq!(
        status.summary["running_job"]["segments"], 4,
        "{}",
        status.summary
    );
    let first = finish(first, &args).await;
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(search.count(&names.alias).await, 300);
    assert!(
        search
            .job_doc(&format!("lock:{}", names.alias))
            .await
            .is_none(),
        "the lock is released"
    );
}

#[tokio::test]
async fn a_stale_lock_is_taken_over() {
    let names = seed("tenures", 40).await;
    let search = Search::default();
    let stale = chrono::Utc::now() - chrono::Duration::minutes(10);
    let lock = json!({"kind": "lock", "alias": names.alias, "job_id": "ghost", "holder": "gone:1",
        "acquired_at": stale, "heartbeat_at": stale, "lease_secs": 60});
    let (status, body) = search
        .call(
            Method::PUT,
            &format!("/indexer-jobs/_doc/lock:{}", names.alias),
            Some(lock),
        )
        .await;
    assert!(status < 300, "{body}");
    let run = indexer(&rebuild_args(&names, "tenures", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("took over the lock of a hung job"),
        "{}",
        run.stderr
    );
    assert_eq!(search.count(&names.alias).await, 40);
}

#[tokio::test]
async fn a_rebuild_killed_mid_run_resumes_from_its_checkpoints() {
    let count = 600;
    let names = seed("persons", count).await;
    let search = Search::default();
    let proxy = slow_proxy(&search, 100).await;
    let args = rebuild_args(&names, "persons", &proxy.url, &SLOW);
    let mut victim = spawn_indexer(&args, &[]);
    let job = checkpointed(&search, &names.alias, 150).await;
    victim.kill().await.expect("kill -9");
    let killed_job = job["job_id"].as_str().expect("job id").to_owned();
    wait_until_stale(&search, &names.alias).await;

    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    let summary = &run.summary;
    assert_eq!(summary["resumed_from"], killed_job.as_str(), "{run:?}");
    assert_eq!(
        summary["new_index"], job["new_index"],
        "it resumed into the same building index"
    );
    assert_eq!(summary["scanned"], count);
    assert_eq!(summary["indexed"], count);
    assert_eq!(summary["dead_lettered"], 0);
    let read = summary["scanned_this_run"]
        .as_u64()
        .expect("scanned_this_run");
    assert!(
        read < count,
        "the resumed run re-read only what was not checkpointed: {read}"
    );
    assert_eq!(summary["swapped"], true);
    assert_eq!(search.count(&names.alias).await, count);
    let killed = search
        .job_doc(&format!("job:{killed_job}"))
        .await
        .expect("record");
    assert_eq!(killed["status"], "interrupted");
    eprintln!(
        "resume after kill -9: checkpointed {} of {count}, re-read {read}",
        job["checkpoints"]
            .as_array()
            .map(|c| c.iter().filter_map(|c| c["scanned"].as_u64()).sum::<u64>())
            .unwrap_or_default()
    );
}

#[tokio::test]
async fn sigterm_stops_within_the_timeout_and_the_next_run_resumes() {
    let count = 500;
    let names = seed("assets", count).await;
    let search = Search::default();
    let proxy = slow_proxy(&search, 100).await;
    let mut args = rebuild_args(&names, "assets", &proxy.url, &SLOW);
    args.extend_from_slice(&["--stop-timeout", "10"]);
    let victim = spawn_indexer(&args, &[]);
    checkpointed(&search, &names.alias, 100).await;
    let pid = victim.id().expect("pid").to_string();
    let signalled = Instant::now();
    signal("-TERM", &pid);
    let stopped = finish(victim, &args).await;
    assert!(
        signalled.elapsed() < Duration::from_secs(12),
        "took {:?}",
        signalled.elapsed()
    );
    assert_eq!(stopped.code, 5, "{stopped:?}");
    assert_eq!(stopped.summary["status"], "interrupted");
    let job_id = stopped.summary["job_id"]
        .as_str()
        .expect("job id")
        .to_owned();
    let record = search
        .job_doc(&format!("job:{job_id}"))
        .await
        .expect("record");
    assert_eq!(record["status"], "interrupted");
    assert!(
        search
            .job_doc(&format!("lock:{}", names.alias))
            .await
            .is_none(),
        "the lock is released"
    );
    assert!(
        search.alias_targets(&names.alias).await.is_empty(),
        "nothing was swapped"
    );

    let run = indexer(&rebuild_args(&names, "assets", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["resumed_from"], job_id.as_str());
    assert_eq!(run.summary["scanned"], count);
    assert_eq!(run.summary["indexed"], count);
    assert!(run.summary["scanned_this_run"].as_u64().unwrap_or(count) < count);
    assert_eq!(search.count(&names.alias).await, count);
}

#[tokio::test]
async fn abandon_releases_the_lock_and_deletes_the_building_index() {
    let names = seed("persons", 400).await;
    let search = Search::default();
    let proxy = slow_proxy(&search, 100).await;
    let args = rebuild_args(&names, "persons", &proxy.url, &SLOW);
    let mut victim = spawn_indexer(&args, &[]);
    let job = checkpointed(&search, &names.alias, 50).await;
    victim.kill().await.expect("kill -9");
    // Drop the dead run's requests still held by the proxy, as a dead task's connections would be.
    drop(proxy);
    let building = job["new_index"].as_str().expect("index").to_owned();

    let run = indexer(&["abandon", "--index", &names.alias, "--host", &search.url]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["status"], "abandoned");
    assert_eq!(run.summary["deleted_index"], building.as_str());
    assert!(
        search.indexes(&building).await.is_empty(),
        "the building index is gone"
    );
    assert!(
        search
            .job_doc(&format!("lock:{}", names.alias))
            .await
            .is_none()
    );
    assert_eq!(
        search.latest_job(&names.alias).await.expect("job")["status"],
        "abandoned"
    );

    let again = indexer(&["abandon", "--index", &names.alias, "--host", &search.url]).await;
    assert_eq!(again.code, 2, "nothing left to abandon: {again:?}");

    let fresh = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(fresh.code, 0, "{fresh:?}");
    assert!(
        fresh.summary["resumed_from"].is_null(),
        "an abandoned job is not resumed"
    );
    assert_eq!(fresh.summary["scanned_this_run"], 400);
}

#[tokio::test]
async fn rollback_moves_the_alias_and_its_companions_back_and_refuses_with_nothing_kept() {
    let names = seed("tenures", 30).await;
    let search = Search::default();
    let first = indexer(&rebuild_args(&names, "tenures", &search.url, &[])).await;
    assert_eq!(first.code, 0, "{first:?}");
    let refused = indexer(&["rollback", "--index", &names.alias, "--host", &search.url]).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.summary["error"]
            .as_str()
            .unwrap_or_default()
            .contains("nothing to roll back"),
        "{refused:?}"
    );

    let old = first.summary["new_index"]
        .as_str()
        .expect("index")
        .to_owned();
    let active = format!("{}-active", names.alias);
    let actions = json!({"actions": [{"add": {"index": old, "alias": active, "filter": {"term": {"isActive": true}}}}]});
    assert_eq!(
        search
            .call(Method::POST, "/_aliases", Some(actions))
            .await
            .0,
        200
    );
    let second = indexer(&rebuild_args(&names, "tenures", &search.url, &[])).await;
    assert_eq!(second.code, 0, "{second:?}");
    let new = second.summary["new_index"]
        .as_str()
        .expect("index")
        .to_owned();
    assert_eq!(search.alias_targets(&active).await, vec![new.clone()]);

    let run = indexer(&["rollback", "--index", &names.alias, "--host", &search.url]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        (run.summary["from"].as_str(), run.summary["to"].as_str()),
        (Some(new.as_str()), Some(old.as_str()))
    );
    assert_eq!(search.alias_targets(&names.alias).await, vec![old.clone()]);
    assert_eq!(
        search.alias_targets(&active).await,
        vec![old.clone()],
        "the companion alias moved back too"
    );
    let (_, aliases) = search
        .call(Method::GET, &format!("/{old}/_alias"), None)
        .await;
    assert_eq!(
        aliases[&old]["aliases"][&active]["filter"],
        json!({"term": {"isActive": true}})
    );
}

#[tokio::test]
async fn status_and_jobs_report_the_live_index_and_the_history() {
    let names = seed("assets", 20).await;
    let search = Search::default();
    for _ in 0..2 {
        let run = indexer(&rebuild_args(&names, "assets", &search.url, &[])).await;
        assert_eq!(run.code, 0, "{run:?}");
    }
    let status = search.report("status", &names.alias).await;
    assert_eq!(status.code, 0, "{status:?}");
    let live = search.alias_targets(&names.alias).await;
    assert_eq!(status.summary["live_index"], live[0].as_str());
    assert_eq!(status.summary["live_documents"], 20);
    assert!(status.summary["lock"].is_null());
    assert!(status.summary["running_job"].is_null());
    assert_eq!(status.summary["last_finished_job"]["status"], "succeeded");
    assert_eq!(
        status.summary["last_finished_job"]["new_index"],
        live[0].as_str()
    );
    assert_eq!(
        status.summary["other_indexes"].as_array().map(Vec::len),
        Some(1),
        "one previous index kept"
    );

    let jobs = search.report("jobs", &names.alias).await;
    assert_eq!(jobs.code, 0, "{jobs:?}");
    let list = jobs.summary["jobs"].as_array().expect("jobs");
    assert_eq!(list.len(), 2);
    assert!(
        list[0]["started_at"].as_str() > list[1]["started_at"].as_str(),
        "newest first"
    );
    assert_eq!(list[0]["new_index"], live[0].as_str());
}

#[tokio::test]
async fn fresh_discards_an_interrupted_job_instead_of_resuming_it() {
    let count = 300;
    let names = seed("tenures", count).await;
    let search = Search::default();
    let proxy = slow_proxy(&search, 100).await;
    let args = rebuild_args(&names, "tenures", &proxy.url, &SLOW);
    let mut victim = spawn_indexer(&args, &[]);
    let job = checkpointed(&search, &names.alias, 50).await;
    victim.kill().await.expect("kill -9");
    drop(proxy);
    wait_until_stale(&search, &names.alias).await;

    let run = indexer(&rebuild_args(&names, "tenures", &search.url, &["--fresh"])).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.summary["resumed_from"].is_null(), "{}", run.summary);
    assert_ne!(
        run.summary["new_index"], job["new_index"],
        "a new index, not the interrupted one"
    );
    assert_eq!(run.summary["scanned_this_run"], count);
    assert_eq!(run.summary["indexed"], count);
    assert_eq!(search.count(&names.alias).await, count);
}
