//! The operator modes, the tuning, the original spellings and the allow-list, through the
//! handler against moto's ECS; `status` and `jobs` against a real osmem-server.

use anyhow::Context as _;
use chrono::Utc;
use indexer_core::connect::ConnectArgs;
use indexer_core::jobs::JobRecord;
use indexer_core::jobs::store::JobStore;
use indexer_core::sink::client::SearchClient;
use indexer_core::sink::retry::RetryPolicy;
use indexer_core::validate::NodeUrl;
use lambda_runtime::Diagnostic;
use launcher::launch::Reply;
use serde_json::{Value, json};
use std::time::Duration;

use crate::harness::{World, osmem};
use crate::moto::{describe, event, invoke, launch, overrides, pairs};

const HOST: &str = "https://search-x.eu-west-2.es.amazonaws.com";

#[tokio::test]
async fn abandon_runs_as_its_subcommand_while_the_alias_job_still_runs() -> anyhow::Result<()> {
    let world = World::create("abandon").await?;
    let rebuild = launch(&world, event(crate::harness::CONSOLE_EVENT)).await?;
    let answer = launch(
        &world,
        json!({"indexName": "persons", "indexNodeHost": HOST, "mode": "abandon",
               "jobId": "persons-20261122t053513042z", "keepIndex": true}),
    )
    .await
    .context("abandon is not refused by the running rebuild it may be ending")?;
    assert_ne!(answer.task_arns, rebuild.task_arns);
    let task = describe(&world, &answer.task_arns[0]).await?;
    let (_, command, environment) = overrides(&task);
    assert_eq!(
        command,
        [
            "abandon",
            "--job=persons-20261122t053513042z",
            "--keep-index"
        ]
    );
    assert_eq!(
        environment,
        pairs(&[
            ("INDEX_NODE_HOST", HOST),
            ("INDEX_NAME", "persons"),
            ("MODE", "abandon")
        ])
    );
    assert_eq!((answer.mode.as_str(), answer.table), ("abandon", None));
    Ok(())
}

#[tokio::test]
async fn rollback_and_verify_fix_run_as_tasks_with_their_flags() -> anyhow::Result<()> {
    let mut world = World::create("rollback").await?;
    world.config.rules.allowed_hosts =
        launcher::hosts::AllowedHosts::parse("search-x.eu-west-2.es.amazonaws.com")
            .map_err(anyhow::Error::msg)?;
    let answer = launch(
        &world,
        event(include_str!("../fixtures/rollback-event.json")),
    )
    .await?;
    let task = describe(&world, &answer.task_arns[0]).await?;
    let (_, command, environment) = overrides(&task);
    assert_eq!(command, ["rollback"]);
    assert_eq!(
        environment,
        pairs(&[
            ("INDEX_NODE_HOST", HOST),
            ("INDEX_NAME", "persons"),
            ("MODE", "rollback")
        ]),
        "the only allowed https host is the default"
    );
    // The emergency action is never blocked by a task still RUNNING (it may be hung): a second
    // rollback starts too, and the worker's lock on the alias decides which one acts.
    let again = launch(
        &world,
        event(include_str!("../fixtures/rollback-event.json")),
    )
    .await?;
    assert_eq!(again.task_arns.len(), 1);

    let mut verify = event(crate::harness::CONSOLE_EVENT);
    verify["indexName"] = json!("tenures");
    verify["dynamoTable"] = json!("TenureInformation");
    verify["mode"] = json!("verify");
    verify["fix"] = json!(true);
    verify["maxChanges"] = json!(2500);
    let answer = launch(&world, verify).await?;
    let (_, command, environment) = overrides(&describe(&world, &answer.task_arns[0]).await?);
    assert_eq!(command, ["verify", "--fix"]);
    assert_eq!(environment[4..], pairs(&[("MAX_CHANGES", "2500")]));
    Ok(())
}

#[tokio::test]
async fn tuning_and_the_original_spellings_reach_the_task() -> anyhow::Result<()> {
    let world = World::create("tuning").await?;
    let answer = launch(
        &world,
        event(include_str!("../fixtures/tuned-rebuild-event.json")),
    )
    .await?;
    let (_, command, environment) = overrides(&describe(&world, &answer.task_arns[0]).await?);
    assert_eq!(command, ["rebuild"]);
    assert_eq!(
        environment[4..],
        pairs(&[
            ("MAX_READ_UNITS", "500"),
            ("MAX_ERRORS", "10"),
            ("MIN_RATIO", "0.8"),
            ("KEEP", "2"),
            ("CONCURRENCY", "8"),
            ("STOP_TIMEOUT_SECS", "60"),
        ])
    );
    assert_eq!(answer.tuning.max_read_units, Some(500.0));

    let mut spelled = event(include_str!("../fixtures/original-spellings-event.json"));
    spelled["INDEXNAME"] = json!("assets");
    spelled["DynamoTable"] = json!("Assets");
    let answer = launch(&world, spelled).await?;
    let task = describe(&world, &answer.task_arns[0]).await?;
    let (_, _, environment) = overrides(&task);
    assert_eq!(
        environment,
        pairs(&[
            ("DYNAMO_TABLE", "Assets"),
            ("INDEX_NODE_HOST", HOST),
            ("INDEX_NAME", "assets"),
            ("MODE", "rebuild"),
        ])
    );
    assert_eq!(task.started_by(), Some("indexer-assets"));
    Ok(())
}

#[tokio::test]
async fn rebuilds_run_on_fargate_spot_when_the_environment_says_so() -> anyhow::Result<()> {
    let mut world = World::create("spot").await?;
    world.config.rebuilds_on_spot = true;
    let answer = launch(&world, event(crate::harness::CONSOLE_EVENT)).await?;
    let task = describe(&world, &answer.task_arns[0]).await?;
    assert_eq!(task.capacity_provider_name(), Some("FARGATE_SPOT"));
    let mut verify = event(crate::harness::CONSOLE_EVENT);
    verify["indexName"] = json!("tenures");
    verify["dynamoTable"] = json!("TenureInformation");
    verify["mode"] = json!("verify");
    let answer = launch(&world, verify).await?;
    let task = describe(&world, &answer.task_arns[0]).await?;
    assert_ne!(task.capacity_provider_name(), Some("FARGATE_SPOT"));
    Ok(())
}

#[tokio::test]
async fn a_host_outside_the_allow_list_is_refused_and_nothing_starts() -> anyhow::Result<()> {
    let world = World::create("allow").await?;
    let error = launch(
        &world,
        event(include_str!("../fixtures/bad/host-not-allowed.json")),
    )
    .await
    .expect_err("refused");
    let diagnostic = Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "InvalidEvent");
    assert!(
        diagnostic
            .error_message
            .contains("\"collector.example.com\" is not allowed")
            && diagnostic
                .error_message
                .contains("search-x.eu-west-2.es.amazonaws.com, 127.0.0.1"),
        "{}",
        diagnostic.error_message
    );
    let tasks = world
        .ecs
        .list_tasks()
        .cluster(&world.config.cluster)
        .send()
        .await?;
    assert!(tasks.task_arns().is_empty());
    Ok(())
}

fn osmem_client(url: &str) -> anyhow::Result<SearchClient> {
    Ok(ConnectArgs::default().connect(
        NodeUrl::try_from(url)?,
        Duration::from_secs(10),
        RetryPolicy::default(),
    )?)
}

/// An alias over one physical index with two documents, and an unfinished job of the alias.
pub async fn seed(url: &str, alias: &str, job_id: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::new();
    let index = format!("{alias}-20260101t000000000z");
    for (id, name) in [("1", "Ann"), ("2", "Bob")] {
        let response = http
            .put(format!("{url}/{index}/_doc/{id}?refresh=true"))
            .header("content-type", "application/json")
            .body(json!({ "firstname": name }).to_string())
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success(), "indexing: {response:?}");
    }
    let response = http
        .post(format!("{url}/_aliases"))
        .header("content-type", "application/json")
        .body(json!({"actions": [{"add": {"index": index, "alias": alias}}]}).to_string())
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "aliasing: {response:?}");
    let store = JobStore::new(osmem_client(url)?);
    store.ensure().await?;
    let job = JobRecord::start(
        job_id.to_owned(),
        alias,
        "Persons",
        "persons",
        indexer_core::jobs::JobMode::Rebuild,
        Utc::now(),
    );
    anyhow::ensure!(store.create_job(&job).await?, "the job record is new");
    store.set_latest(&job).await?;
    Ok(index)
}

fn report(reply: Reply) -> launcher::report::Report {
    match reply {
        Reply::Report(report) => report,
        Reply::Started(answer) => panic!("expected a report, tasks started: {answer:?}"),
    }
}

#[tokio::test]
async fn status_and_jobs_are_answered_from_the_cluster_without_a_task() -> anyhow::Result<()> {
    let world = World::create("status").await?;
    let url = osmem();
    let alias = format!("{}-people", world.name.to_lowercase());
    let job_id = format!("{alias}-20261122t053513042z");
    let index = seed(url, &alias, &job_id).await?;

    let status = report(
        invoke(
            &world,
            json!({"indexName": alias, "indexNodeHost": url, "mode": "status"}),
        )
        .await?,
    );
    assert_eq!(
        (status.mode.as_str(), status.host.as_str()),
        ("status", url)
    );
    assert_eq!(status.report["live_index"], index.as_str());
    assert_eq!(status.report["live_documents"], 2);
    assert_eq!(status.report["resumable_job"]["job_id"], job_id.as_str());

    let jobs = report(
        invoke(
            &world,
            json!({"INDEXNAME": alias, "indexNodeHost": url, "Mode": "jobs", "limit": 5}),
        )
        .await?,
    );
    let listed: Vec<&Value> = jobs.report["jobs"]
        .as_array()
        .context("jobs")?
        .iter()
        .collect();
    assert_eq!(listed.len(), 1, "{}", jobs.report);
    assert_eq!(listed[0]["job_id"], job_id.as_str());

    let answer = serde_json::to_value(Reply::Report(jobs))?;
    assert_eq!(answer["mode"], "jobs");
    assert_eq!(answer["alias"], alias.as_str());
    let tasks = world
        .ecs
        .list_tasks()
        .cluster(&world.config.cluster)
        .send()
        .await?;
    assert!(tasks.task_arns().is_empty(), "no task for a report");
    Ok(())
}

#[tokio::test]
async fn a_cluster_that_cannot_answer_is_a_cluster_error() -> anyhow::Result<()> {
    let world = World::create("unreachable").await?;
    let port = crate::harness::free_port()?;
    let host = format!("http://127.0.0.1:{port}");
    let error = invoke(
        &world,
        json!({"indexName": "persons", "indexNodeHost": host, "mode": "status"}),
    )
    .await
    .expect_err("nothing listens there");
    let diagnostic = Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "ClusterError");
    assert!(
        diagnostic
            .error_message
            .contains(&format!("status of the search cluster {host}")),
        "{}",
        diagnostic.error_message
    );
    Ok(())
}
