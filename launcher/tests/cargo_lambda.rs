//! The function as Lambda runs it: built and served by `cargo lambda watch`, invoked with the
//! console's Test event by `cargo lambda invoke`, starting a real (moto) ECS task, and with a
//! `status` event, answered from a real osmem-server.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use serde_json::Value;

use crate::harness::{CONSOLE_EVENT, World};
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
