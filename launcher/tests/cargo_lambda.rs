//! The function as Lambda runs it: built and served by `cargo lambda watch`, invoked with the
//! console's Test event by `cargo lambda invoke`, starting a real (moto) ECS task, and with a
//! `status` event, answered from a real osmem-server; then the operator modes (abandon,
//! rollback, verify with fix, jobs), a tuned rebuild in the original spellings and a host
//! outside the allow-list.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use serde_json::{Value, json};

use crate::harness::{CONSOLE_EVENT, World};
use crate::moto::{describe, overrides, pairs};
use crate::watch::Watch;

/// The first invocation builds the function in its own build directory: minutes on a fresh
/// machine with two cores, seconds once built.
const FIRST_INVOKE: Duration = Duration::from_secs(20 * 60);
const INVOKE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn the_console_event_starts_a_task_through_cargo_lambda_watch() -> anyhow::Result<()> {
    let world = World::create("watch").await?;
    let watch = Watch::start(&world)?;

    let output = watch.invoke(CONSOLE_EVENT, FIRST_INVOKE)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        output.status.success(),
        "cargo lambda invoke failed ({}): {stdout}\n{stderr}\n{}",
        output.status,
        watch.log_tail()
    );
    let answer: Value = serde_json::from_str(stdout.trim())
        .with_context(|| format!("the answer is not JSON: {stdout}"))?;
    assert_eq!(answer["alias"], "persons");
    assert_eq!(answer["table"], "Persons");
    assert_eq!(answer["mode"], "rebuild");
    assert_eq!(answer["dryRun"], false);
    assert_eq!(answer["cluster"], world.config.cluster.as_str());
    let task_arn = answer["taskArns"][0].as_str().context("taskArns")?;
    let job_id = answer["jobId"].as_str().context("jobId")?;
    assert!(task_arn.ends_with(&format!("/{job_id}")), "{answer}");
    assert_eq!(answer["logStream"], format!("indexer/indexer/{job_id}"));
    assert_eq!(answer["workers"], 1);

    let described = world
        .ecs
        .describe_tasks()
        .cluster(&world.config.cluster)
        .tasks(task_arn)
        .send()
        .await?;
    assert_eq!(described.tasks().len(), 1, "the task exists in ECS");

    let url = crate::harness::osmem();
    let alias = format!("{}-watched", world.name);
    let job_id = format!("{alias}-20261122t053513042z");
    crate::operator::seed(url, &alias, &job_id).await?;
    let status =
        format!(r#"{{"indexName": "{alias}", "indexNodeHost": "{url}", "mode": "status"}}"#);
    let output = watch.invoke(&status, INVOKE)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "status failed ({}): {stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_str(stdout.trim())
        .with_context(|| format!("the answer is not JSON: {stdout}"))?;
    assert_eq!(answer["mode"], "status", "{answer}");
    assert_eq!(answer["report"]["live_documents"], 2, "{answer}");
    assert_eq!(
        answer["report"]["resumable_job"]["job_id"],
        job_id.as_str(),
        "{answer}"
    );

    let bad = CONSOLE_EVENT.replace("\"Persons\"", "\"Per sons\"");
    let output = watch.invoke(&bad, INVOKE)?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "a bad event fails: {text}");
    assert!(
        text.contains("InvalidEvent") && text.contains("field `dynamoTable`"),
        "{text}"
    );
    Ok(())
}

/// Invokes the watched function with `event`; its JSON answer, or the error's text.
fn invoke_json(watch: &Watch, event: &Value, deadline: Duration) -> anyhow::Result<Value> {
    let output = watch.invoke(&event.to_string(), deadline)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "{event} failed ({}): {stdout}\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        watch.log_tail()
    );
    serde_json::from_str(stdout.trim()).with_context(|| format!("the answer is not JSON: {stdout}"))
}

/// The command and environment ECS got for the first task of `answer`.
async fn task_of(
    world: &World,
    answer: &Value,
) -> anyhow::Result<(Vec<String>, Vec<(String, String)>)> {
    let arn = answer["taskArns"][0].as_str().context("taskArns")?;
    let (_, command, environment) = overrides(&describe(world, arn).await?);
    Ok((command, environment))
}

#[tokio::test]
async fn operator_modes_tuning_and_original_spellings_through_cargo_lambda_watch()
-> anyhow::Result<()> {
    let world = World::create("watch-operator").await?;
    let watch = Watch::start(&world)?;
    let host = "https://search-x.eu-west-2.es.amazonaws.com";

    // The original tool's spellings, with the tuning of a capped production rebuild.
    let tuned = json!({
        "DynamoTable": "Persons", "IndexNodeHost": host, "INDEXNAME": "persons",
        "MaxReadUnits": 500, "keep": 2,
    });
    let answer = invoke_json(&watch, &tuned, FIRST_INVOKE)?;
    assert_eq!(
        answer["tuning"],
        json!({"maxReadUnits": 500.0, "keep": 2}),
        "{answer}"
    );
    let (command, environment) = task_of(&world, &answer).await?;
    assert_eq!(command, ["rebuild"]);
    assert_eq!(
        environment[4..],
        pairs(&[("MAX_READ_UNITS", "500"), ("KEEP", "2")])
    );

    let abandon = json!({"indexName": "persons", "indexNodeHost": host, "mode": "abandon",
        "jobId": "persons-20261122t053513042z", "keepIndex": true});
    let answer = invoke_json(&watch, &abandon, INVOKE)?;
    let (command, _) = task_of(&world, &answer).await?;
    assert_eq!(
        command,
        [
            "abandon",
            "--job=persons-20261122t053513042z",
            "--keep-index"
        ],
        "abandon starts while the rebuild above still runs"
    );

    let rollback = json!({"indexName": "persons", "indexNodeHost": host, "mode": "rollback"});
    let answer = invoke_json(&watch, &rollback, INVOKE)?;
    assert_eq!(task_of(&world, &answer).await?.0, ["rollback"]);

    let fix = json!({"dynamoTable": "Assets", "indexName": "assets", "indexNodeHost": host,
        "mode": "verify", "fix": true, "maxChanges": 50});
    let answer = invoke_json(&watch, &fix, INVOKE)?;
    let (command, environment) = task_of(&world, &answer).await?;
    assert_eq!(command, ["verify", "--fix"]);
    assert!(
        environment.contains(&("MAX_CHANGES".to_owned(), "50".to_owned())),
        "{environment:?}"
    );

    let url = crate::harness::osmem();
    let alias = format!("{}-listed", world.name);
    let job_id = format!("{alias}-20261122t053513042z");
    crate::operator::seed(url, &alias, &job_id).await?;
    let jobs = json!({"IndexName": alias, "indexNodeHost": url, "MODE": "jobs", "limit": 5});
    let answer = invoke_json(&watch, &jobs, INVOKE)?;
    assert_eq!(answer["mode"], "jobs", "{answer}");
    assert_eq!(
        answer["report"]["jobs"][0]["job_id"],
        job_id.as_str(),
        "{answer}"
    );

    let outside = json!({"dynamoTable": "Persons", "indexName": "persons",
        "indexNodeHost": format!("{host}.evil.example")});
    let output = watch.invoke(&outside.to_string(), INVOKE)?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !output.status.success(),
        "a host outside the allow-list fails: {text}"
    );
    assert!(
        text.contains("InvalidEvent")
            && text.contains("field `indexNodeHost`")
            && text.contains("not allowed"),
        "{text}"
    );
    let started = world
        .ecs
        .list_tasks()
        .cluster(&world.config.cluster)
        .send()
        .await?;
    assert_eq!(
        started.task_arns().len(),
        4,
        "the refused event started nothing"
    );
    Ok(())
}
