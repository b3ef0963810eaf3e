//! The handler, called directly, against moto's ECS through the AWS SDK.

use anyhow::Context as _;
use aws_sdk_ecs::types::Task;
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use launcher::LaunchError;
use launcher::launch::{Answer, Reply};
use serde_json::Value;

use crate::harness::{CONSOLE_EVENT, World};

pub fn event(text: &str) -> Value {
    serde_json::from_str(text).expect("event fixture is JSON")
}

/// Invokes the handler, which must start tasks (or refuse to).
pub async fn launch(world: &World, payload: Value) -> Result<Answer, LaunchError> {
    invoke(world, payload).await.map(|reply| match reply {
        Reply::Started(answer) => *answer,
        Reply::Report(report) => panic!("expected tasks to start, got a report: {report:?}"),
    })
}

/// Invokes the handler as Lambda would.
pub async fn invoke(world: &World, payload: Value) -> Result<Reply, LaunchError> {
    world
        .launcher()
        .handle(LambdaEvent::new(payload, Context::default()))
        .await
}

pub async fn describe(world: &World, task_arn: &str) -> anyhow::Result<Task> {
    let answer = world
        .ecs
        .describe_tasks()
        .cluster(&world.config.cluster)
        .tasks(task_arn)
        .send()
        .await
        .context("DescribeTasks")?;
    answer.tasks().first().cloned().context("no such task")
}

/// The container overrides of a task: (name, command, environment).
pub fn overrides(task: &Task) -> (String, Vec<String>, Vec<(String, String)>) {
    let containers = task
        .overrides()
        .map(|o| o.container_overrides())
        .unwrap_or_default();
    assert_eq!(
        containers.len(),
        1,
        "one container override: {containers:?}"
    );
    let container = &containers[0];
    (
        container.name().unwrap_or_default().to_owned(),
        container.command().to_vec(),
        container
            .environment()
            .iter()
            .map(|kv| {
                (
                    kv.name().unwrap_or_default().to_owned(),
                    kv.value().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
    )
}

pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn the_console_event_starts_a_task_with_exactly_the_expected_overrides() -> anyhow::Result<()>
{
    let world = World::create("console").await?;
    let answer = launch(&world, event(CONSOLE_EVENT)).await?;

    assert_eq!(answer.task_arns.len(), 1);
    let task = describe(&world, &answer.task_arns[0]).await?;
    assert_eq!(
        overrides(&task),
        (
            "indexer".to_owned(),
            vec!["rebuild".to_owned()],
            pairs(&[
                ("DYNAMO_TABLE", "Persons"),
                (
                    "INDEX_NODE_HOST",
                    "https://search-x.eu-west-2.es.amazonaws.com"
                ),
                ("INDEX_NAME", "persons"),
                ("MODE", "rebuild"),
            ])
        )
    );
    assert_eq!(task.started_by(), Some("indexer-persons"));
    assert_eq!(
        task.task_definition_arn(),
        Some(world.task_definition_arn.as_str())
    );
    let subnet = task
        .attachments()
        .iter()
        .flat_map(|a| a.details())
        .find(|d| d.name() == Some("subnetId"))
        .and_then(|d| d.value());
    assert_eq!(subnet, Some(world.config.subnets[0].as_str()));

    let task_id = answer.task_arns[0].rsplit('/').next().unwrap_or_default();
    assert_eq!(answer.job_id, task_id);
    assert_eq!(answer.cluster, world.config.cluster);
    assert_eq!(answer.log_group, format!("/ecs/{}", world.name));
    assert_eq!(answer.log_stream, format!("indexer/indexer/{task_id}"));
    assert_eq!(answer.log_streams, vec![answer.log_stream.clone()]);
    assert_eq!(answer.workers, 1);
    assert_eq!(
        (answer.alias.as_str(), answer.table.as_deref()),
        ("persons", Some("Persons"))
    );
    assert_eq!((answer.mode.as_str(), answer.dry_run), ("rebuild", false));
    Ok(())
}

#[tokio::test]
async fn every_optional_field_reaches_the_task_environment() -> anyhow::Result<()> {
    let world = World::create("optional").await?;
    let answer = launch(&world, event(include_str!("../fixtures/resync-event.json"))).await?;
    let task = describe(&world, &answer.task_arns[0]).await?;
    let (_, command, environment) = overrides(&task);
    assert_eq!(command, ["resync"]);
    assert_eq!(
        environment[3..],
        pairs(&[
            ("MODE", "resync"),
            ("SEGMENTS", "16"),
            ("DRY_RUN", "true"),
            ("IDS", "id-1,id-2"),
        ])
    );
    assert!(answer.dry_run);
    Ok(())
}

#[tokio::test]
async fn a_second_job_for_the_same_alias_is_refused_while_the_first_runs() -> anyhow::Result<()> {
    let world = World::create("duplicate").await?;
    let first = launch(&world, event(CONSOLE_EVENT)).await?;

    let refused = launch(&world, event(CONSOLE_EVENT))
        .await
        .expect_err("a second rebuild of persons is refused");
    let diagnostic = Diagnostic::from(refused);
    assert_eq!(diagnostic.error_type, "JobAlreadyRunning");
    assert!(
        diagnostic.error_message.contains(&first.task_arns[0]),
        "names the running task: {}",
        diagnostic.error_message
    );
    let running = world
        .ecs
        .list_tasks()
        .cluster(&world.config.cluster)
        .send()
        .await?;
    assert_eq!(running.task_arns().len(), 1, "nothing else was started");

    let mut tenures = event(CONSOLE_EVENT);
    tenures["dynamoTable"] = "TenureInformation".into();
    tenures["indexName"] = "tenures".into();
    launch(&world, tenures)
        .await
        .context("another alias is not blocked")?;

    world
        .ecs
        .stop_task()
        .cluster(&world.config.cluster)
        .task(&first.task_arns[0])
        .send()
        .await?;
    launch(&world, event(CONSOLE_EVENT))
        .await
        .context("once the first job stopped, persons can run again")?;
    Ok(())
}

#[tokio::test]
async fn ecs_refusals_are_reported_with_ecs_own_words() -> anyhow::Result<()> {
    let mut world = World::create("refused").await?;
    world.config.task_definition = format!("{}-missing", world.name);
    let error = launch(&world, event(CONSOLE_EVENT))
        .await
        .expect_err("no such task definition");
    let diagnostic = Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "EcsError");
    assert!(
        diagnostic
            .error_message
            .contains("RunTask failed: ClientException")
            && diagnostic.error_message.contains("task definition"),
        "{}",
        diagnostic.error_message
    );

    world.config.cluster = format!("{}-gone", world.name);
    let error = launch(&world, event(CONSOLE_EVENT))
        .await
        .expect_err("no such cluster");
    let diagnostic = Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "EcsError");
    assert!(
        diagnostic.error_message.contains("ListTasks failed")
            && diagnostic.error_message.contains("Cluster"),
        "{}",
        diagnostic.error_message
    );
    Ok(())
}

#[tokio::test]
async fn two_workers_are_two_tasks_of_one_job() -> anyhow::Result<()> {
    let world = World::create("workers").await?;
    let mut split = event(CONSOLE_EVENT);
    split["workers"] = 2.into();
    let answer = launch(&world, split).await?;

    assert_eq!(answer.workers, 2);
    assert_eq!(answer.task_arns.len(), 2);
    let alias = indexer_core::validate::IndexName::try_from("persons")?;
    assert!(
        indexer_core::aliases::is_physical_of(&alias, &answer.job_id),
        "the job id names a physical index of the alias: {}",
        answer.job_id
    );
    for (worker, task_arn) in answer.task_arns.iter().enumerate() {
        let task = describe(&world, task_arn).await?;
        assert_eq!(task.started_by(), Some("indexer-persons"));
        let (_, command, environment) = overrides(&task);
        assert_eq!(command, ["rebuild"]);
        assert_eq!(
            environment[4..],
            pairs(&[
                ("WORKERS", "2"),
                ("JOB_ID", &answer.job_id),
                ("WORKER", &worker.to_string()),
            ]),
            "worker {worker}"
        );
        let task_id = task_arn.rsplit('/').next().unwrap_or_default();
        assert_eq!(
            answer.log_streams[worker],
            format!("indexer/indexer/{task_id}")
        );
    }
    assert_eq!(answer.log_stream, answer.log_streams[0]);

    let refused = launch(&world, event(CONSOLE_EVENT))
        .await
        .expect_err("the split job counts as running");
    assert_eq!(Diagnostic::from(refused).error_type, "JobAlreadyRunning");
    Ok(())
}
