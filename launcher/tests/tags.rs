//! Cost attribution: every task the launcher starts carries the task definition's tags
//! (environment, application). moto accepts `propagateTags` on RunTask but does not copy the
//! tags, so the test reads the RunTask request as the SDK sends it to moto.

use std::sync::{Arc, Mutex};

use aws_sdk_ecs::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_ecs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ecs::error::BoxError;
use lambda_runtime::{Context, LambdaEvent};
use launcher::{Launcher, SdkEcs};
use serde_json::{Value, json};

use crate::harness::World;

const HOST: &str = "https://search-x.eu-west-2.es.amazonaws.com";

/// Keeps the body of every request the client sends whose target ends with `RunTask`.
#[derive(Debug, Clone, Default)]
struct RunTaskBodies(Arc<Mutex<Vec<Value>>>);

impl Intercept for RunTaskBodies {
    fn name(&self) -> &'static str {
        "RunTaskBodies"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let is_run_task = request
            .headers()
            .get("x-amz-target")
            .is_some_and(|target| target.ends_with("RunTask"));
        if let (true, Some(bytes)) = (is_run_task, request.body().bytes()) {
            let body: Value = serde_json::from_slice(bytes)?;
            self.0.lock().map_err(|e| e.to_string())?.push(body);
        }
        Ok(())
    }
}

#[tokio::test]
async fn every_task_started_carries_the_task_definition_tags() -> anyhow::Result<()> {
    let world = World::create("tags").await?;
    let bodies = RunTaskBodies::default();
    let config = world
        .ecs
        .config()
        .to_builder()
        .interceptor(bodies.clone())
        .build();
    let launcher = Launcher::new(
        Ok(world.config.clone()),
        SdkEcs::new(aws_sdk_ecs::Client::from_conf(config)),
    );
    for event in [
        json!({"dynamoTable": "Persons", "indexName": "persons", "workers": 2, "indexNodeHost": HOST}),
        json!({"indexName": "tenures", "mode": "rollback", "indexNodeHost": HOST}),
    ] {
        launcher
            .handle(LambdaEvent::new(event.clone(), Context::default()))
            .await
            .map_err(|e| anyhow::anyhow!("{event}: {e}"))?;
    }
    let bodies = bodies.0.lock().map_err(|e| anyhow::anyhow!("{e}"))?.clone();
    assert_eq!(bodies.len(), 3, "two workers and a rollback: {bodies:?}");
    for body in &bodies {
        assert_eq!(body["propagateTags"], "TASK_DEFINITION", "{body}");
        assert_eq!(body["enableECSManagedTags"], true, "{body}");
    }
    Ok(())
}
