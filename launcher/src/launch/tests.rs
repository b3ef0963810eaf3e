//! The handler against a scripted ECS: what it starts, answers and refuses.

use super::*;
use crate::ecs::{EcsError, Started, TaskFailure};
use crate::event::EventRules;
use crate::hosts::AllowedHosts;
use lambda_runtime::{Context, Diagnostic};
use serde_json::json;
use std::sync::Mutex;

const CONSOLE: &str = include_str!("../../fixtures/console-event.json");
const TASK_ARN: &str = "arn:aws:ecs:eu-west-2:123456789012:task/indexer-development/0123abcd";

fn config() -> LauncherConfig {
    LauncherConfig {
        cluster: "indexer-development".into(),
        task_definition: "indexer-development".into(),
        container_name: "indexer".into(),
        subnets: vec!["subnet-a".into(), "subnet-b".into()],
        security_groups: vec!["sg-1".into()],
        assign_public_ip: false,
        log_group: "/ecs/indexer-development".into(),
        log_stream_prefix: "indexer".into(),
        rebuilds_on_spot: false,
        rules: EventRules {
            allowed_hosts: AllowedHosts::parse("search-x.eu-west-2.es.amazonaws.com")
                .expect("valid"),
            defaults: Tuning::default(),
            max_stop_timeout: 110,
        },
    }
}

/// An ECS that answers from a script and records what it was asked. Unless `started` says
/// otherwise, RunTask call `n` (from 0) starts task `TASK_ARN` followed by `n` (nothing for
/// the first call), and calls from `fail_from` on fail outright.
#[derive(Default)]
struct FakeEcs {
    running: Vec<String>,
    started: Option<Started>,
    fail_from: Option<usize>,
    asked: Mutex<Vec<String>>,
    specs: Mutex<Vec<TaskSpec>>,
}

fn task_arn(call: usize) -> String {
    match call {
        0 => TASK_ARN.to_owned(),
        n => format!("{TASK_ARN}{n}"),
    }
}

impl Ecs for FakeEcs {
    async fn active_tasks(&self, cluster: &str, started_by: &str) -> Result<Vec<String>, EcsError> {
        if let Ok(mut asked) = self.asked.lock() {
            asked.push(format!("{cluster} {started_by}"));
        }
        Ok(self.running.clone())
    }

    async fn run_task(&self, spec: &TaskSpec) -> Result<Started, EcsError> {
        let call = {
            let mut specs = self.specs.lock().expect("lock");
            specs.push(spec.clone());
            specs.len() - 1
        };
        if self.fail_from.is_some_and(|from| call >= from) {
            return Err(EcsError {
                operation: "RunTask",
                message: "AccessDeniedException: not authorized to perform ecs:RunTask".into(),
                source: None,
            });
        }
        Ok(self.started.clone().unwrap_or(Started {
            task_arns: vec![task_arn(call)],
            failures: vec![],
        }))
    }
}

async fn call(launcher: &Launcher<FakeEcs>, event: Value) -> Result<Value, Diagnostic> {
    launcher
        .handle(LambdaEvent::new(event, Context::default()))
        .await
        .map(|answer| serde_json::to_value(answer).expect("serializable"))
        .map_err(Diagnostic::from)
}

fn console() -> Value {
    serde_json::from_str(CONSOLE).expect("console event")
}

#[tokio::test]
async fn the_console_event_starts_one_rebuild_and_says_where_to_watch() {
    let launcher = Launcher::new(Ok(config()), FakeEcs::default());
    let answer = call(&launcher, console()).await.expect("started");
    assert_eq!(
        answer,
        json!({
            "jobId": "0123abcd",
            "workers": 1,
            "taskArns": [TASK_ARN],
            "cluster": "indexer-development",
            "logGroup": "/ecs/indexer-development",
            "logStream": "indexer/indexer/0123abcd",
            "logStreams": ["indexer/indexer/0123abcd"],
            "alias": "persons",
            "table": "Persons",
            "mode": "rebuild",
            "dryRun": false,
            "startedBy": "indexer-persons",
        })
    );
    let asked = launcher.ecs.asked.lock().expect("lock").clone();
    assert_eq!(asked, ["indexer-development indexer-persons"]);
    let specs = launcher.ecs.specs.lock().expect("lock").clone();
    assert_eq!(specs.len(), 1);
    let spec = &specs[0];
    assert_eq!(spec.command, ["rebuild"]);
    assert_eq!(spec.subnets, ["subnet-a", "subnet-b"]);
    assert_eq!(spec.security_groups, ["sg-1"]);
    assert_eq!(
        spec.environment,
        [
            ("DYNAMO_TABLE", "Persons"),
            (
                "INDEX_NODE_HOST",
                "https://search-x.eu-west-2.es.amazonaws.com"
            ),
            ("INDEX_NAME", "persons"),
            ("MODE", "rebuild"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
}

#[tokio::test]
async fn optional_fields_become_their_environment_variables() {
    let launcher = Launcher::new(Ok(config()), FakeEcs::default());
    let event: Value =
        serde_json::from_str(include_str!("../../fixtures/resync-event.json")).expect("json");
    let answer = call(&launcher, event).await.expect("started");
    assert_eq!(
        (answer["mode"].clone(), answer["dryRun"].clone()),
        (json!("resync"), json!(true))
    );
    let spec = launcher.ecs.specs.lock().expect("lock")[0].clone();
    assert_eq!(spec.command, ["resync"]);
    let env: Vec<(&str, &str)> = spec
        .environment
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env[3..],
        [
            ("MODE", "resync"),
            ("SEGMENTS", "16"),
            ("DRY_RUN", "true"),
            ("IDS", "id-1,id-2")
        ]
    );
}

fn env_of(spec: &TaskSpec) -> Vec<(&str, &str)> {
    spec.environment
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[tokio::test]
async fn one_worker_asked_for_explicitly_is_the_plain_single_task() {
    let launcher = Launcher::new(Ok(config()), FakeEcs::default());
    let plain = call(&launcher, console()).await.expect("started");
    let mut event = console();
    event["workers"] = json!(1);
    let one = call(&launcher, event).await.expect("started");
    let specs = launcher.ecs.specs.lock().expect("lock").clone();
    assert_eq!(specs.len(), 2, "one task per launch");
    assert_eq!(specs[0], specs[1], "no WORKERS, JOB_ID or WORKER variables");
    assert_eq!(one["workers"], 1);
    assert_eq!(one["jobId"], "0123abcd1", "the job id is the task id");
    assert_eq!(plain["jobId"], "0123abcd");
}

#[tokio::test]
async fn three_workers_are_three_tasks_of_one_job() {
    let launcher = Launcher::new(Ok(config()), FakeEcs::default());
    let mut event = console();
    event["workers"] = json!(3);
    let answer = call(&launcher, event).await.expect("started");

    let asked = launcher.ecs.asked.lock().expect("lock").clone();
    assert_eq!(asked.len(), 1, "one duplicate check for the job");
    let specs = launcher.ecs.specs.lock().expect("lock").clone();
    assert_eq!(specs.len(), 3, "one RunTask per worker");
    let job_id = answer["jobId"].as_str().expect("jobId").to_owned();
    let alias = IndexName::try_from("persons").expect("alias");
    assert!(
        indexer_core::aliases::is_physical_of(&alias, &job_id),
        "the job id is a physical index name of the alias: {job_id}"
    );
    for (worker, spec) in specs.iter().enumerate() {
        assert_eq!(spec.command, ["rebuild"]);
        assert_eq!(
            spec.started_by, "indexer-persons",
            "found by the next check"
        );
        let worker = worker.to_string();
        assert_eq!(
            env_of(spec)[4..],
            [
                ("WORKERS", "3"),
                ("JOB_ID", job_id.as_str()),
                ("WORKER", worker.as_str())
            ]
        );
    }
    assert_eq!(answer["workers"], 3);
    assert_eq!(
        answer["taskArns"],
        json!([task_arn(0), task_arn(1), task_arn(2)])
    );
    assert_eq!(answer["logStream"], "indexer/indexer/0123abcd");
    assert_eq!(
        answer["logStreams"],
        json!([
            "indexer/indexer/0123abcd",
            "indexer/indexer/0123abcd1",
            "indexer/indexer/0123abcd2"
        ])
    );
}

#[tokio::test]
async fn a_worker_that_fails_to_start_is_reported_with_the_started_ones() {
    let ecs = FakeEcs {
        fail_from: Some(1),
        ..FakeEcs::default()
    };
    let launcher = Launcher::new(Ok(config()), ecs);
    let mut event = console();
    event["workers"] = json!(3);
    let error = call(&launcher, event).await.expect_err("worker 1 failed");
    assert_eq!(error.error_type, "WorkersPartlyStarted");
    let message = &error.error_message;
    for part in [
        "worker 1 of 3",
        "RunTask failed: AccessDenied",
        "workers 1 to 2 are missing",
        &format!("left running: {TASK_ARN}."),
        "lease (60 s)",
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    assert_eq!(
        launcher.ecs.specs.lock().expect("lock").len(),
        2,
        "no worker is tried after one failed"
    );
}

#[tokio::test]
async fn a_first_worker_that_fails_to_start_is_the_plain_ecs_error() {
    let ecs = FakeEcs {
        fail_from: Some(0),
        ..FakeEcs::default()
    };
    let launcher = Launcher::new(Ok(config()), ecs);
    let mut event = console();
    event["workers"] = json!(2);
    let error = call(&launcher, event).await.expect_err("nothing started");
    assert_eq!(error.error_type, "EcsError");
    assert_eq!(launcher.ecs.specs.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn a_running_job_for_the_alias_is_refused_by_name() {
    let ecs = FakeEcs {
        running: vec![TASK_ARN.into()],
        ..FakeEcs::default()
    };
    let launcher = Launcher::new(Ok(config()), ecs);
    let error = call(&launcher, console()).await.expect_err("refused");
    assert_eq!(error.error_type, "JobAlreadyRunning");
    assert!(
        error.error_message.contains(TASK_ARN),
        "{}",
        error.error_message
    );
    assert!(
        error.error_message.contains("\"persons\""),
        "{}",
        error.error_message
    );
    assert!(
        launcher.ecs.specs.lock().expect("lock").is_empty(),
        "nothing started"
    );
    let mut split = console();
    split["workers"] = json!(3);
    let error = call(&launcher, split).await.expect_err("refused");
    assert_eq!(error.error_type, "JobAlreadyRunning");
    assert!(
        launcher.ecs.specs.lock().expect("lock").is_empty(),
        "no worker of a split job started"
    );
}

#[tokio::test]
async fn run_task_failures_are_reported_with_arn_reason_and_detail() {
    let ecs = FakeEcs {
        started: Some(Started {
            task_arns: vec![],
            failures: vec![TaskFailure {
                arn: Some("arn:aws:ecs:eu-west-2:123456789012:task-definition/indexer:3".into()),
                reason: Some("RESOURCE:MEMORY".into()),
                detail: Some("no capacity".into()),
            }],
        }),
        ..FakeEcs::default()
    };
    let launcher = Launcher::new(Ok(config()), ecs);
    let error = call(&launcher, console()).await.expect_err("failed");
    assert_eq!(error.error_type, "RunTaskFailed");
    for part in [
        "RESOURCE:MEMORY",
        "task-definition/indexer:3",
        "no capacity",
    ] {
        assert!(
            error.error_message.contains(part),
            "{}",
            error.error_message
        );
    }
    let launcher = Launcher::new(
        Ok(config()),
        FakeEcs {
            started: Some(Started::default()),
            ..FakeEcs::default()
        },
    );
    let error = call(&launcher, console())
        .await
        .expect_err("nothing started");
    assert_eq!(error.error_type, "RunTaskFailed");
}

#[tokio::test]
async fn an_ecs_error_is_reported_as_such() {
    let ecs = FakeEcs {
        fail_from: Some(0),
        ..FakeEcs::default()
    };
    let error = call(&Launcher::new(Ok(config()), ecs), console())
        .await
        .expect_err("failed");
    assert_eq!(error.error_type, "EcsError");
    assert!(
        error.error_message.contains("RunTask failed: AccessDenied"),
        "{}",
        error.error_message
    );
}

#[tokio::test]
async fn every_bad_event_fixture_is_an_invalid_event_and_starts_nothing() {
    let launcher = Launcher::new(Ok(config()), FakeEcs::default());
    for (name, text) in [
        (
            "unknown-field",
            include_str!("../../fixtures/bad/unknown-field.json"),
        ),
        ("table", include_str!("../../fixtures/bad/table.json")),
        ("index", include_str!("../../fixtures/bad/index.json")),
        ("url", include_str!("../../fixtures/bad/url.json")),
        (
            "ids-without-resync",
            include_str!("../../fixtures/bad/ids-without-resync.json"),
        ),
        (
            "resync-without-ids",
            include_str!("../../fixtures/bad/resync-without-ids.json"),
        ),
        ("mode", include_str!("../../fixtures/bad/mode.json")),
        (
            "workers-over-default-segments",
            include_str!("../../fixtures/bad/workers-over-default-segments.json"),
        ),
        (
            "workers-without-rebuild",
            include_str!("../../fixtures/bad/workers-without-rebuild.json"),
        ),
        (
            "host-not-allowed",
            include_str!("../../fixtures/bad/host-not-allowed.json"),
        ),
        (
            "tuning-without-rebuild",
            include_str!("../../fixtures/bad/tuning-without-rebuild.json"),
        ),
        (
            "job-id-without-abandon",
            include_str!("../../fixtures/bad/job-id-without-abandon.json"),
        ),
    ] {
        let event: Value = serde_json::from_str(text).expect(name);
        let error = call(&launcher, event).await.expect_err(name);
        assert_eq!(error.error_type, "InvalidEvent", "{name}");
        assert!(
            error.error_message.contains("field `"),
            "{name}: {}",
            error.error_message
        );
    }
    assert!(launcher.ecs.asked.lock().expect("lock").is_empty());
    assert!(launcher.ecs.specs.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn a_misconfigured_launcher_says_so_for_a_valid_event() {
    let launcher = Launcher::new(
        Err(ConfigError("missing environment variables: CLUSTER".into())),
        FakeEcs::default(),
    );
    let error = call(&launcher, console()).await.expect_err("misconfigured");
    assert_eq!(error.error_type, "Misconfigured");
    assert!(
        error.error_message.contains("CLUSTER"),
        "{}",
        error.error_message
    );
}

#[test]
fn started_by_is_the_alias_when_it_fits_and_a_stable_hash_otherwise() {
    let name = |alias: &str| started_by(&IndexName::try_from(alias).expect("valid alias"));
    assert_eq!(name("persons"), "indexer-persons");
    assert_eq!(
        name("housing_search-tenures"),
        "indexer-housing_search-tenures"
    );
    for alias in [
        "housing-search.persons",
        "a-very-long-alias-name-for-an-index-of-assets",
        "per+sons",
        "pérsons",
    ] {
        let value = name(alias);
        assert!(value.len() <= 36, "{value}");
        assert!(
            value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{value}"
        );
        assert_eq!(value, name(alias), "deterministic");
    }
    assert_ne!(name("per.sons"), name("per+sons"));
    assert_ne!(name("per.sons"), name("per_sons"));
    assert_eq!(name("per.sons"), "indexer-per_sons-6d168dcfb2");
}

#[test]
fn the_task_id_is_the_last_part_of_the_arn() {
    assert_eq!(task_id(TASK_ARN), "0123abcd");
    assert_eq!(task_id("arn:aws:ecs:eu-west-2:1:task/abc"), "abc");
}

mod hostile;
mod modes;
mod readme;
