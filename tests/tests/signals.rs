//! Signals at every stage of every command: a command that writes nothing stops at the first
//! signal; one that writes records its stop; a second signal ends even a run whose cluster has
//! stopped answering, within a bounded grace, with an `interrupted` summary (exit 5).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indexer_tests::faults::{Fault, FaultPlan, FaultProxy, Rule};
use indexer_tests::fixtures;
use indexer_tests::harness::{
    SLOW, Search, checkpointed, eventually, finish, put, rebuild_args, rebuilt, seed, signal,
    spawn_indexer,
};
use tokio::io::{AsyncBufReadExt, BufReader};

/// A proxy that forwards everything until `hang` is set, then answers nothing at all.
async fn hanging_proxy(upstream: &str, hang: &Arc<AtomicBool>) -> FaultProxy {
    let flag = Arc::clone(hang);
    let rule = Rule {
        name: "everything".into(),
        matches: Arc::new(move |_| flag.load(Ordering::SeqCst)),
        nth: 1,
        fault: Fault::Hang,
        min_body: 0,
        repeat: true,
    };
    FaultProxy::start(
        upstream,
        FaultPlan {
            rules: vec![rule],
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy")
}

/// Starts the indexer and collects its log lines as they come, to wait on what it says.
struct Watched {
    child: tokio::process::Child,
    logs: Arc<std::sync::Mutex<String>>,
    pid: String,
}

impl Watched {
    fn start(args: &[&str]) -> Watched {
        let mut child = spawn_indexer(args, &[]);
        let pid = child.id().expect("pid").to_string();
        let logs = Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&logs);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut logs) = sink.lock() {
                    logs.push_str(&line);
                    logs.push('\n');
                }
            }
        });
        Watched { child, logs, pid }
    }

    async fn said(&self, what: &str) {
        eventually(what, Duration::from_secs(120), || async {
            self.logs
                .lock()
                .ok()
                .and_then(|logs| logs.contains(what).then_some(()))
        })
        .await;
    }
}

#[tokio::test]
async fn a_second_signal_ends_a_rebuild_whose_cluster_answers_nothing_within_its_grace() {
    let names = seed("persons", 300).await;
    let search = Search::default();
    let hang = Arc::new(AtomicBool::new(false));
    let proxy = hanging_proxy(&search.url, &hang).await;
    let args = rebuild_args(
        &names,
        "persons",
        &proxy.url,
        &[
            "--batch-docs",
            "10",
            "--page-size",
            "10",
            "--concurrency",
            "1",
            "--heartbeat",
            "1",
            "--stop-timeout",
            "300",
            "--request-timeout",
            "300",
        ],
    );
    let run = Watched::start(&args);
    checkpointed(&search, &names.alias, 10).await;
    // From now on no request is answered: not the bulk in flight, not the job record's writes.
    hang.store(true, Ordering::SeqCst);
    signal("-INT", &run.pid);
    run.said("signal again").await;
    let second = Instant::now();
    signal("-INT", &run.pid);
    let logs = run.logs.clone();
    let ended = finish(run.child, &args).await;
    let waited = second.elapsed();
    assert_eq!(ended.code, 5, "{ended:?}");
    assert_eq!(ended.summary["status"], "interrupted", "{}", ended.summary);
    assert!(
        waited < Duration::from_secs(60),
        "the second signal ends the run within its grace, not after the 300 s timeouts: {waited:?}"
    );
    let logs = logs.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(logs.contains("second signal"), "{logs}");
    assert_eq!(
        search.alias_targets(&names.alias).await,
        Vec::<String>::new(),
        "nothing was swapped"
    );
}

#[tokio::test]
async fn a_signal_during_a_rebuild_s_start_up_checks_stops_it_at_once_with_nothing_written() {
    let names = seed("persons", 20).await;
    let search = Search::default();
    let hang = Arc::new(AtomicBool::new(true));
    let proxy = hanging_proxy(&search.url, &hang).await;
    let args = rebuild_args(&names, "persons", &proxy.url, &["--request-timeout", "300"]);
    let run = Watched::start(&args);
    // The cluster check (`GET /`) never answers.
    eventually("the cluster check", Duration::from_secs(60), || async {
        (proxy.seen().rule_hits[0] >= 1).then_some(())
    })
    .await;
    let sent = Instant::now();
    signal("-INT", &run.pid);
    let ended = finish(run.child, &args).await;
    assert_eq!(ended.code, 5, "{ended:?}");
    assert_eq!(ended.summary["status"], "interrupted", "{}", ended.summary);
    assert!(sent.elapsed() < Duration::from_secs(60), "at once");
    assert!(
        search.latest_job(&names.alias).await.is_none(),
        "no job was recorded"
    );
    assert!(search.indexes(&names.alias).await.is_empty(), "no index");
}

#[tokio::test]
async fn a_signal_stops_a_read_only_verify_at_once() {
    let (names, search, _) = rebuilt("persons", 30).await;
    let hang = Arc::new(AtomicBool::new(false));
    let proxy = hanging_proxy(&search.url, &hang).await;
    let args = [
        "verify",
        "--table",
        &names.table,
        "--index",
        &names.alias,
        "--host",
        &proxy.url,
        "--entity",
        "persons",
        "--json",
    ];
    hang.store(true, Ordering::SeqCst);
    let run = Watched::start(&args);
    eventually(
        "verify's first request",
        Duration::from_secs(60),
        || async { (proxy.seen().rule_hits[0] >= 1).then_some(()) },
    )
    .await;
    let sent = Instant::now();
    signal("-TERM", &run.pid);
    let ended = finish(run.child, &args).await;
    assert_eq!(ended.code, 5, "{ended:?}");
    assert_eq!(ended.summary["status"], "interrupted", "{}", ended.summary);
    assert!(
        ended.summary["error"]
            .as_str()
            .is_some_and(|e| e.contains("writes nothing")),
        "{}",
        ended.summary
    );
    assert!(sent.elapsed() < Duration::from_secs(60), "at once");
}

#[tokio::test]
async fn a_signal_stops_sync_records_its_job_interrupted_and_releases_the_lock() {
    let (names, search, _) = rebuilt("persons", 40).await;
    // Changes for sync to write.
    put(
        &names.table,
        (0..20).map(|n| {
            let mut item = fixtures::person(n);
            item.insert(
                "surname".into(),
                aws_sdk_dynamodb::types::AttributeValue::S(format!("Synced-{n}")),
            );
            item.insert(
                "versionNumber".into(),
                aws_sdk_dynamodb::types::AttributeValue::N("500".into()),
            );
            item
        }),
    )
    .await;
    // Its writes never answer; its job record's writes do.
    let proxy = FaultProxy::start(
        &search.url,
        FaultPlan {
            rules: vec![Rule {
                repeat: true,
                ..Rule::new("bulk", "POST", 1, Fault::Hang, |p| p.ends_with("/_bulk"))
            }],
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let args = [
        "sync",
        "--table",
        &names.table,
        "--index",
        &names.alias,
        "--host",
        &proxy.url,
        "--entity",
        "persons",
        "--request-timeout",
        "300",
    ];
    let run = Watched::start(&args);
    eventually("sync's first write", Duration::from_secs(120), || async {
        (proxy.seen().rule_hits[0] >= 1).then_some(())
    })
    .await;
    signal("-INT", &run.pid);
    let ended = finish(run.child, &args).await;
    assert_eq!(ended.code, 5, "{ended:?}");
    assert_eq!(ended.summary["status"], "interrupted", "{}", ended.summary);
    let job = search.latest_job(&names.alias).await.expect("a job");
    assert_eq!(job["mode"], "sync", "{job}");
    assert_eq!(job["status"], "interrupted", "{job}");
    // How far it got: every item compared, no write acknowledged.
    assert_eq!(job["scanned"], 40, "{job}");
    assert_eq!(job["indexed"], 0, "{job}");
    assert!(
        search
            .job_doc(&format!("lock:{}", names.alias))
            .await
            .is_none(),
        "the lock is released"
    );
    // Nothing holds the alias: a sync straight to the cluster finishes the work.
    let direct = [
        "sync",
        "--table",
        &names.table,
        "--index",
        &names.alias,
        "--host",
        &search.url,
        "--entity",
        "persons",
    ];
    let again = indexer_tests::harness::indexer(&direct).await;
    assert_eq!(again.code, 0, "{again:?}");
}

#[tokio::test]
async fn a_rebuild_refuses_another_entity_s_table_even_when_the_live_index_has_no_record_of_its_origin()
 {
    let (names, search, live) = rebuilt("persons", 10).await;
    // An index built before indexes recorded their origin: the same mapping, without `_meta`.
    let (_, mapping) = search
        .call(reqwest::Method::GET, &format!("/{live}/_mapping"), None)
        .await;
    let mut properties = mapping[&live]["mappings"]["properties"].clone();
    assert!(properties.is_object(), "{mapping}");
    let (_, settings) = search
        .call(reqwest::Method::GET, &format!("/{live}/_settings"), None)
        .await;
    let analysis = settings[&live]["settings"]["index"]["analysis"].clone();
    let old = format!("{}-legacy-built", names.alias);
    let (_, created) = search
        .call(
            reqwest::Method::PUT,
            &format!("/{old}"),
            Some(serde_json::json!({
                "settings": {"analysis": analysis},
                "mappings": {"properties": properties.take()}
            })),
        )
        .await;
    assert_eq!(created["acknowledged"], true, "{created}");
    let (_, moved) = search
        .call(
            reqwest::Method::POST,
            "/_aliases",
            Some(serde_json::json!({"actions": [
                {"remove": {"index": live, "alias": names.alias}},
                {"add": {"index": old, "alias": names.alias}}
            ]})),
        )
        .await;
    assert_eq!(moved["acknowledged"], true, "{moved}");
    let tenures = seed("tenures", 5).await;
    let wrong = indexer_tests::harness::Names {
        table: tenures.table.clone(),
        alias: names.alias.clone(),
    };
    for extra in [&[][..], &["--dry-run"][..]] {
        let run =
            indexer_tests::harness::indexer(&rebuild_args(&wrong, "tenures", &search.url, extra))
                .await;
        assert_eq!(run.code, 2, "{extra:?}: {run:?}");
        let error = run.summary["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("no record of what it was built from")
                && error.contains("persons documents"),
            "{error}"
        );
    }
    assert_eq!(search.alias_targets(&names.alias).await, vec![old]);
}

#[tokio::test]
async fn jobs_marks_a_job_whose_process_died_as_hung() {
    let names = seed("persons", 300).await;
    let search = Search::default();
    let proxy = FaultProxy::slowed(&search.url, Duration::from_millis(300)).await;
    let args = rebuild_args(&names, "persons", &proxy.url, &SLOW);
    let run = spawn_indexer(&args, &[]);
    let pid = run.id().expect("pid").to_string();
    checkpointed(&search, &names.alias, 25).await;
    signal("-KILL", &pid);
    let _ = finish(run, &args).await;
    // Once its lease (3 s) has passed without a heartbeat, `jobs` says so.
    let listed = eventually(
        "the job listed as hung",
        Duration::from_secs(60),
        || async {
            let jobs = search.report("jobs", &names.alias).await;
            (jobs.summary["jobs"][0]["hung"] == true).then_some(jobs)
        },
    )
    .await;
    assert_eq!(listed.code, 0, "{listed:?}");
    assert_eq!(listed.summary["jobs"][0]["status"], "running");
}

#[tokio::test]
async fn one_ctrl_c_on_a_terminal_stops_local_workers_gracefully_not_at_once() {
    use tokio::io::AsyncWriteExt;
    let names = seed("persons", 300).await;
    let search = Search::default();
    let proxy = FaultProxy::slowed(&search.url, Duration::from_millis(300)).await;
    let mut flags = SLOW.to_vec();
    flags.extend(["--workers", "2", "--progress-interval", "1"]);
    let args = rebuild_args(&names, "persons", &proxy.url, &flags);
    let mut terminal = indexer_tests::terminal::on_terminal(&args);
    let mut keys = terminal.stdin.take().expect("stdin");
    let mut out = terminal.stdout.take().expect("stdout");
    let seen = Arc::new(std::sync::Mutex::new(String::new()));
    let sink = Arc::clone(&seen);
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut buffer = [0u8; 4096];
        while let Ok(n) = out.read(&mut buffer).await {
            if n == 0 {
                break;
            }
            if let Ok(mut seen) = sink.lock() {
                seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        }
    });
    checkpointed(&search, &names.alias, 50).await;
    keys.write_all(b"\x03").await.expect("Ctrl-C");
    keys.flush().await.expect("flush");
    let stopped = tokio::time::timeout(Duration::from_secs(120), terminal.wait())
        .await
        .expect("the workers stop within their drain")
        .expect("exit status");
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(stopped.code(), Some(5), "{seen}");
    assert!(
        !seen.contains("stopping at once") && !seen.contains("second signal"),
        "one Ctrl-C reached each worker once, so they drained: {seen}"
    );
    let job = search.latest_job(&names.alias).await.expect("a job");
    assert_eq!(job["status"], "interrupted", "{job}");
}

#[tokio::test]
async fn local_workers_stop_cleanly_when_their_parent_dies() {
    let names = seed("persons", 300).await;
    let search = Search::default();
    let proxy = FaultProxy::slowed(&search.url, Duration::from_millis(300)).await;
    let mut flags = SLOW.to_vec();
    flags.extend(["--workers", "2"]);
    let args = rebuild_args(&names, "persons", &proxy.url, &flags);
    let parent = spawn_indexer(&args, &[]);
    let pid = parent.id().expect("pid").to_string();
    checkpointed(&search, &names.alias, 50).await;
    signal("-KILL", &pid);
    let _ = finish(parent, &args).await;
    // The workers' stop pipe closed: they save their checkpoints and the job is interrupted,
    // resumable — not left loading, and never swapped, with nobody watching.
    let job = eventually("the job interrupted", Duration::from_secs(120), || async {
        let job = search.latest_job(&names.alias).await?;
        (job["status"] == "interrupted").then_some(job)
    })
    .await;
    assert!(job["new_index"].is_string(), "{job}");
    assert_eq!(
        search.alias_targets(&names.alias).await,
        Vec::<String>::new(),
        "nothing was swapped"
    );
}

#[tokio::test]
async fn a_hangup_stops_a_rebuild_as_cleanly_as_sigterm() {
    let names = seed("persons", 300).await;
    let search = Search::default();
    let proxy = FaultProxy::slowed(&search.url, Duration::from_millis(300)).await;
    let args = rebuild_args(&names, "persons", &proxy.url, &SLOW);
    let run = spawn_indexer(&args, &[]);
    let pid = run.id().expect("pid").to_string();
    checkpointed(&search, &names.alias, 25).await;
    signal("-HUP", &pid);
    let ended = finish(run, &args).await;
    assert_eq!(ended.code, 5, "{ended:?}");
    assert_eq!(ended.summary["status"], "interrupted", "{}", ended.summary);
    let job = search.latest_job(&names.alias).await.expect("a job");
    assert_eq!(job["status"], "interrupted", "{job}");
}
