//! `launcher`: the Lambda's entrypoint. It reads its settings, builds the ECS client and serves
//! invocations; all logic lives in the library.

use aws_config::BehaviorVersion;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use launcher::{Launcher, LauncherConfig, SdkEcs};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let launcher = Launcher::new(
        LauncherConfig::from_env(),
        SdkEcs::new(aws_sdk_ecs::Client::new(&sdk)),
    );
    let launcher = &launcher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        launcher.handle(event).await
    }))
    .await
}
