//! The fence around the swap, tried while a run is held at its gate or its retire: an abandon
//! during the gate sticks and leaves no index behind (its stream tail's writes included), an
//! abandon after the swap is refused, and a finisher whose lock was taken over never swaps.

use std::sync::Arc;
use std::time::Duration;

use indexer_tests::faults::{Fault, FaultPlan, FaultProxy, Rule};
use indexer_tests::harness::{
    Names, Run, Search, checkpointed, eventually, finish, indexer, put, rebuild_args, rebuilt,
    seed, services, signal, spawn_indexer, unique,
};
use reqwest::Method;
use serde_json::json;
use tokio::sync::Semaphore;

/// A rebuild (short lease, heartbeat every second) whose first request its rule catches is
/// held at a proxy until [`HeldRun::finish`] lets it go.
struct HeldRun {
    proxy: FaultProxy,
    release: Arc<Semaphore>,
    args: Vec<String>,
    run: Option<tokio::process::Child>,
}

impl HeldRun {
    /// Starts the rebuild of `names` as `entity` and waits until `rule` holds a request.
    async fn start(
        search: &Search,
        names: &Names,
        entity: &str,
        rule: Rule,
        what: &str,
    ) -> HeldRun {
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
        let flags = [
            "--request-timeout",
            "120",
            "--heartbeat",
            "1",
            "--lease",
            "3",
        ];
        let args: Vec<String> = rebuild_args(names, entity, &proxy.url, &flags)
            .into_iter()
            .map(str::to_owned)
            .collect();
        let run = spawn_indexer(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
        eventually(what, Duration::from_secs(120), || async {
            (proxy.seen().rule_hits[0] >= 1).then_some(())
        })
        .await;
        HeldRun {
            proxy,
            release,
            args,
            run: Some(run),
        }
    }

    /// Lets the held request go and waits for the run to end.
    async fn finish(&mut self) -> Run {
        self.release.add_permits(1);
        let run = self.run.take().expect("the run, once");
        finish(
            run,
            &self.args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .await
    }
}

/// The physical index named `index` exists.
async fn exists(search: &Search, index: &str) -> bool {
    search.indexes(index).await.iter().any(|i| i == index)
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
    let mut held = HeldRun::start(
        &search,
        &names,
        "persons",
        Rule::new("gate", "POST", 1, Fault::Held, move |p| {
            p.starts_with(&building) && p.ends_with("/_refresh")
        }),
        "the run at its gate",
    )
    .await;
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
    let ended = held.finish().await;
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
    let mut held = HeldRun::start(
        &search,
        &names,
        "tenures",
        Rule::new("retire", "DELETE", 1, Fault::Held, move |p| {
            p.starts_with(&building) && p.matches('/').count() == 1
        }),
        "the run retiring an old index",
    )
    .await;
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
    let ended = held.finish().await;
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
async fn a_finisher_whose_lock_is_taken_over_while_it_gates_never_swaps() {
    let (names, search, live) = rebuilt("tenures", 30).await;
    let building = format!("/{}-", names.alias);
    let mut held = HeldRun::start(
        &search,
        &names,
        "tenures",
        Rule::new("gate", "POST", 1, Fault::Held, move |p| {
            p.starts_with(&building) && p.ends_with("/_refresh")
        }),
        "the run at its gate",
    )
    .await;
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
    let ended = held.finish().await;
    assert_eq!(ended.code, 1, "{ended:?}");
    assert_eq!(ended.summary["swapped"], false);
    assert_eq!(held.proxy.seen().alias_updates, 0, "no swap was sent");
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

#[tokio::test]
async fn abandon_while_a_run_sets_up_leaves_no_index_behind() {
    let (names, search, live) = rebuilt("tenures", 20).await;
    let building = format!("/{}-", names.alias);
    let mut held = HeldRun::start(
        &search,
        &names,
        "tenures",
        Rule::new("create", "PUT", 1, Fault::Held, move |p| {
            p.starts_with(&building) && p.matches('/').count() == 1
        }),
        "the run creating its index",
    )
    .await;
    let job = search.latest_job(&names.alias).await.expect("the job");
    let index = job["new_index"].as_str().expect("index").to_owned();
    let abandoned = indexer(&["abandon", "--index", &names.alias, "--host", &search.url]).await;
    assert_eq!(abandoned.code, 0, "{abandoned:?}");
    assert!(
        abandoned.summary["deleted_index"].is_null(),
        "not created yet"
    );
    // The held create now goes through: the run creates the index, then finds its job ended.
    let ended = held.finish().await;
    assert_eq!(ended.code, 1, "{ended:?}");
    let record = search
        .job_doc(&format!("job:{}", job["job_id"].as_str().expect("id")))
        .await
        .expect("record");
    assert_eq!(record["status"], "abandoned", "{record}");
    assert!(
        !exists(&search, &index).await,
        "the index created after the abandon is deleted"
    );
    assert_eq!(search.alias_targets(&names.alias).await, vec![live]);
}

#[tokio::test]
async fn abandoning_a_run_that_died_after_its_swap_closes_it_succeeded_and_rollback_returns_to_it()
{
    let (names, search, _) = rebuilt("assets", 20).await;
    let second = indexer(&rebuild_args(&names, "assets", &search.url, &[])).await;
    assert_eq!(second.code, 0, "{second:?}");
    let live = second.summary["new_index"]
        .as_str()
        .expect("index")
        .to_owned();
    // As if killed -9 right after its swap: the record still running, the lock long stale.
    let mut record = search
        .job_doc(&format!("job:{live}"))
        .await
        .expect("record");
    record["status"] = json!("running");
    record["ended_at"] = serde_json::Value::Null;
    record["phase"] = json!("swapping");
    let lock = json!({"kind": "lock", "alias": names.alias, "job_id": live, "holder": "gone:1",
        "acquired_at": "2026-01-01T00:00:00Z", "heartbeat_at": "2026-01-01T00:00:00Z", "lease_secs": 1});
    for (id, body) in [
        (format!("job:{live}"), record),
        (format!("lock:{}", names.alias), lock),
    ] {
        let (status, answer) = search
            .call(
                Method::PUT,
                &format!("/indexer-jobs/_doc/{id}?refresh=true"),
                Some(body),
            )
            .await;
        assert!(status < 300, "{answer}");
    }
    let run = indexer(&["abandon", "--index", &names.alias, "--host", &search.url]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["status"], "succeeded", "what happened: {run:?}");
    assert!(run.summary["deleted_index"].is_null(), "{run:?}");
    let closed = search
        .job_doc(&format!("job:{live}"))
        .await
        .expect("record");
    assert_eq!(closed["status"], "succeeded", "{closed}");
    assert_eq!(search.alias_targets(&names.alias).await, vec![live.clone()]);
    assert!(
        search
            .job_doc(&format!("lock:{}", names.alias))
            .await
            .is_none()
    );
    // Its index served readers: a rollback from the next build returns to it.
    let next = indexer(&rebuild_args(&names, "assets", &search.url, &[])).await;
    assert_eq!(next.code, 0, "{next:?}");
    let back = indexer(&["rollback", "--index", &names.alias, "--host", &search.url]).await;
    assert_eq!(back.code, 0, "{back:?}");
    assert_eq!(search.alias_targets(&names.alias).await, vec![live]);
}

/// Abandoned, then stopped by a signal before its next heartbeat: the run's drained writes may
/// re-create the index the abandon deleted; the stop reads the record, reports the abandon (not
/// an interruption to resume) and deletes that index again.
#[tokio::test]
async fn a_run_stopped_by_a_signal_just_after_an_abandon_reports_it_and_leaves_no_index() {
    let search = Search::default();
    let names = seed("persons", 300).await;
    let proxy = FaultProxy::slowed(&search.url, Duration::from_millis(150)).await;
    let flags = [
        "--batch-docs",
        "25",
        "--page-size",
        "25",
        "--concurrency",
        "1",
        "--segments",
        "4",
        // No heartbeat before the signal: only the stop itself can notice the abandon.
        "--heartbeat",
        "60",
        "--lease",
        "180",
    ];
    let args = rebuild_args(&names, "persons", &proxy.url, &flags);
    let run = spawn_indexer(&args, &[]);
    let pid = run.id().expect("pid").to_string();
    let job = checkpointed(&search, &names.alias, 25).await;
    let building = job["new_index"].as_str().expect("index").to_owned();
    let abandoned = indexer(&["abandon", "--index", &names.alias, "--host", &search.url]).await;
    assert_eq!(abandoned.code, 0, "{abandoned:?}");
    signal("-TERM", &pid);
    let ended = finish(run, &args).await;
    assert_eq!(
        ended.code, 1,
        "the abandon, not a resumable stop: {ended:?}"
    );
    assert!(
        ended.summary["error"]
            .as_str()
            .unwrap_or_default()
            .contains("abandoned"),
        "{}",
        ended.summary
    );
    let record = search
        .job_doc(&format!("job:{}", job["job_id"].as_str().expect("id")))
        .await
        .expect("record");
    assert_eq!(record["status"], "abandoned", "{record}");
    assert!(
        search.indexes(&building).await.is_empty(),
        "the building index stays deleted"
    );
}

/// The swap applied but its answer lost, and the alias cannot be read back: the outcome is
/// unknown, so the run exits 1 saying so and leaves the record `swapping` with its lock (never
/// `failed`, which would hide a live index); `abandon` then closes it by where the alias points.
#[tokio::test]
async fn a_swap_whose_answer_is_lost_and_cannot_be_read_back_is_left_for_abandon_to_close() {
    let (names, search, _) = rebuilt("tenures", 20).await;
    let swap_sent = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent = Arc::clone(&swap_sent);
    let swap = Rule {
        matches: Arc::new(move |r: &indexer_tests::http1::Request| {
            let swap = r.method == "POST" && r.path() == "/_aliases";
            if swap {
                sent.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            swap
        }),
        ..Rule::new("swap", "POST", 1, Fault::DropAnswer, |_| false)
    };
    let after = Arc::clone(&swap_sent);
    let read_back = Rule {
        matches: Arc::new(move |r: &indexer_tests::http1::Request| {
            after.load(std::sync::atomic::Ordering::SeqCst)
                && r.method == "GET"
                && r.path().contains("_alias")
        }),
        repeat: true,
        ..Rule::new("read back", "GET", 1, Fault::Status(503), |_| false)
    };
    let proxy = FaultProxy::start(
        &search.url,
        FaultPlan {
            rules: vec![swap, read_back],
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let flags = ["--max-retries", "1", "--heartbeat", "1", "--lease", "3"];
    let run = indexer(&rebuild_args(&names, "tenures", &proxy.url, &flags)).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.summary["error"]
            .as_str()
            .unwrap_or_default()
            .contains("could not be read back"),
        "{}",
        run.summary
    );
    let job_id = run.summary["job_id"].as_str().expect("job id").to_owned();
    let index = run.summary["new_index"].as_str().expect("index").to_owned();
    assert_eq!(
        search.alias_targets(&names.alias).await,
        vec![index.clone()]
    );
    let record = search
        .job_doc(&format!("job:{job_id}"))
        .await
        .expect("record");
    assert_eq!(record["status"], "running", "{record}");
    assert_eq!(record["phase"], "swapping", "{record}");
    let lock = search
        .job_doc(&format!("lock:{}", names.alias))
        .await
        .expect("the lock stays");
    assert_eq!(lock["job_id"], job_id.as_str(), "{lock}");
    // Once the lease has run out, abandon closes the job by where the alias points.
    let abandon = ["abandon", "--index", &names.alias, "--host", &search.url];
    eventually(
        "abandon, once the lease ran out",
        Duration::from_secs(60),
        || async {
            let closed = indexer(&abandon).await;
            (closed.code == 0).then_some(())
        },
    )
    .await;
    let record = search
        .job_doc(&format!("job:{job_id}"))
        .await
        .expect("record");
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(search.alias_targets(&names.alias).await, vec![index]);
}
