//! The operator modes, the tuning, Fargate Spot and the allow-list, against the scripted ECS.

use super::*;

#[tokio::test]
async fn abandon_starts_its_task_even_while_the_alias_job_runs() {
    let ecs = FakeEcs {
        running: vec![TASK_ARN.into()],
        ..FakeEcs::default()
    };
    let launcher = Launcher::new(Ok(config()), ecs);
    let answer = call(
        &launcher,
        json!({"indexName": "persons", "mode": "abandon", "jobId": "persons-20261122t053513042z", "keepIndex": true}),
    )
    .await
    .expect("started");
    assert_eq!(answer["mode"], "abandon");
    assert!(answer.get("table").is_none(), "{answer}");
    assert!(
        launcher.ecs.asked.lock().expect("lock").is_empty(),
        "no running-job check: abandon is how a hung job is ended"
    );
    let spec = launcher.ecs.specs.lock().expect("lock")[0].clone();
    assert_eq!(
        spec.command,
        [
            "abandon",
            "--job=persons-20261122t053513042z",
            "--keep-index"
        ]
    );
    assert_eq!(
        env_of(&spec),
        [
            (
                "INDEX_NODE_HOST",
                "https://search-x.eu-west-2.es.amazonaws.com"
            ),
            ("INDEX_NAME", "persons"),
            ("MODE", "abandon"),
        ]
    );
    assert_eq!(spec.started_by, "indexer-persons");
}

#[tokio::test]
async fn rollback_runs_as_a_task_even_while_a_hung_task_is_running() {
    let launcher = Launcher::new(Ok(config()), FakeEcs::default());
    let event: Value =
        serde_json::from_str(include_str!("../../../fixtures/rollback-event.json")).expect("json");
    call(&launcher, event.clone()).await.expect("started");
    let spec = launcher.ecs.specs.lock().expect("lock")[0].clone();
    assert_eq!(spec.command, ["rollback"]);
    assert_eq!(env_of(&spec)[2], ("MODE", "rollback"));
    let busy = Launcher::new(
        Ok(config()),
        FakeEcs {
            running: vec![TASK_ARN.into()],
            ..FakeEcs::default()
        },
    );
    // A hung task stays RUNNING: the emergency action is not blocked by it (the worker's lock
    // on the alias decides).
    call(&busy, event)
        .await
        .expect("started despite a running task");
    assert_eq!(busy.ecs.specs.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn verify_with_fix_runs_verify_fix_with_its_cap() {
    let launcher = Launcher::new(Ok(config()), FakeEcs::default());
    let mut event = console();
    event["mode"] = json!("verify");
    event["fix"] = json!(true);
    event["maxChanges"] = json!(5000);
    call(&launcher, event).await.expect("started");
    let spec = launcher.ecs.specs.lock().expect("lock")[0].clone();
    assert_eq!(spec.command, ["verify", "--fix"]);
    assert_eq!(env_of(&spec)[4..], [("MAX_CHANGES", "5000")]);
}

#[tokio::test]
async fn a_rebuild_gets_the_event_tuning_over_the_defaults_and_says_so() {
    let mut config = config();
    config.rules.defaults = Tuning {
        max_read_units: Some(1000.0),
        keep: Some(3),
        ..Tuning::default()
    };
    let launcher = Launcher::new(Ok(config), FakeEcs::default());
    let mut event = console();
    event["maxReadUnits"] = json!(250);
    event["stopTimeout"] = json!(100);
    let answer = call(&launcher, event).await.expect("started");
    assert_eq!(
        answer["tuning"],
        json!({"maxReadUnits": 250.0, "keep": 3, "stopTimeout": 100})
    );
    let spec = launcher.ecs.specs.lock().expect("lock")[0].clone();
    assert_eq!(
        env_of(&spec)[4..],
        [
            ("MAX_READ_UNITS", "250"),
            ("KEEP", "3"),
            ("STOP_TIMEOUT_SECS", "100")
        ]
    );
}

#[tokio::test]
async fn only_rebuilds_run_on_fargate_spot_when_it_is_on() {
    let mut config = config();
    config.rebuilds_on_spot = true;
    let launcher = Launcher::new(Ok(config), FakeEcs::default());
    call(&launcher, console()).await.expect("rebuild");
    let mut verify = console();
    verify["mode"] = json!("verify");
    call(&launcher, verify).await.expect("verify");
    let specs = launcher.ecs.specs.lock().expect("lock").clone();
    assert_eq!(
        specs.iter().map(|s| s.capacity).collect::<Vec<_>>(),
        [Capacity::FargateSpot, Capacity::Fargate]
    );
    let launcher = Launcher::new(Ok(self::config()), FakeEcs::default());
    call(&launcher, console()).await.expect("rebuild");
    assert_eq!(
        launcher.ecs.specs.lock().expect("lock")[0].capacity,
        Capacity::Fargate,
        "on-demand unless asked"
    );
}

#[tokio::test]
async fn a_host_outside_the_allow_list_starts_nothing() {
    let launcher = Launcher::new(Ok(config()), FakeEcs::default());
    let event: Value =
        serde_json::from_str(include_str!("../../../fixtures/bad/host-not-allowed.json"))
            .expect("json");
    let error = call(&launcher, event).await.expect_err("refused");
    assert_eq!(error.error_type, "InvalidEvent");
    assert!(
        error.error_message.contains("collector.example.com"),
        "{}",
        error.error_message
    );
    assert!(launcher.ecs.specs.lock().expect("lock").is_empty());
    assert!(launcher.ecs.asked.lock().expect("lock").is_empty());
}

/// The worker's command line for a request, parsed by the worker's own CLI.
fn parsed(event: Value) -> indexer_core::cli::Command {
    use clap::Parser;
    let request = Request::from_event(event, &config().rules).expect("valid");
    let spec = task_spec(&config(), &request);
    let argv = std::iter::once("indexer".to_owned()).chain(spec.command);
    indexer_core::cli::Cli::try_parse_from(argv)
        .expect("the worker accepts the command")
        .command
}

#[test]
fn every_task_command_is_one_the_worker_cli_accepts() {
    use indexer_core::cli::Command;
    let Command::Abandon(args) = parsed(json!({
        "indexName": "persons", "mode": "abandon", "jobId": "persons-20261122t053513042z", "keepIndex": true
    })) else {
        panic!("abandon")
    };
    assert_eq!(args.job.as_deref(), Some("persons-20261122t053513042z"));
    assert!(args.keep_index);
    let Command::Abandon(args) = parsed(json!({"indexName": "persons", "mode": "abandon"})) else {
        panic!("abandon")
    };
    assert_eq!((args.job, args.keep_index), (None, false));
    assert!(matches!(
        parsed(json!({"indexName": "persons", "mode": "rollback"})),
        Command::Rollback(_)
    ));
    let mut verify = console();
    verify["mode"] = json!("verify");
    verify["fix"] = json!(true);
    let Command::Verify(args) = parsed(verify) else {
        panic!("verify")
    };
    assert!(args.fix && !args.force);
    for mode in ["rebuild", "sync", "verify"] {
        let mut event = console();
        event["mode"] = json!(mode);
        parsed(event);
    }
}
