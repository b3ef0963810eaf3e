//! The two ECS calls the launcher makes, behind a small trait so the handler can be tested with
//! a fake, and their implementation with the AWS SDK (pointed at moto in the integration tests
//! through `AWS_ENDPOINT_URL_ECS` or an explicit endpoint).

use std::future::Future;

use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, ContainerOverride,
    DesiredStatus, KeyValuePair, LaunchType, NetworkConfiguration, PropagateTags, TaskOverride,
};

/// Where a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// On-demand Fargate.
    Fargate,
    /// Fargate Spot: cheaper, and reclaimed with two minutes' notice (SIGTERM, then the stop
    /// timeout); only for runs that resume where they stopped.
    FargateSpot,
}

/// Everything RunTask needs to start one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    pub cluster: String,
    pub task_definition: String,
    pub container_name: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    /// Marks the task as this alias's, so the next launch can find it.
    pub started_by: String,
    /// The container's command: the worker's subcommand.
    pub command: Vec<String>,
    /// Container environment overrides, in order.
    pub environment: Vec<(String, String)>,
    pub capacity: Capacity,
}

/// One entry of RunTask's `failures`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskFailure {
    pub arn: Option<String>,
    pub reason: Option<String>,
    pub detail: Option<String>,
}

/// What RunTask answered: the tasks it started and the failures it reported. ECS can report
/// failures with a 200 answer, so both are read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Started {
    pub task_arns: Vec<String>,
    pub failures: Vec<TaskFailure>,
}

/// An ECS call failed outright (throttled, denied, unknown cluster, unreachable, …).
#[derive(Debug, thiserror::Error)]
#[error("ECS {operation} failed: {message}")]
pub struct EcsError {
    pub operation: &'static str,
    /// The error with its whole cause chain.
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl EcsError {
    /// ECS's own code and message when it answered, else the cause chain (timeouts, DNS, …).
    fn from_sdk<E>(operation: &'static str, error: E) -> EcsError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let message = match (error.code(), error.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => DisplayErrorContext(&error).to_string(),
        };
        EcsError {
            operation,
            message,
            source: Some(Box::new(error)),
        }
    }
}

/// The ECS operations the launcher needs. Implementations are shared by concurrent invocations.
pub trait Ecs: Send + Sync {
    /// ARNs of the tasks in `cluster` started by `started_by` that are pending or running
    /// (desired status `RUNNING` or `PENDING`). Read-only.
    fn active_tasks(
        &self,
        cluster: &str,
        started_by: &str,
    ) -> impl Future<Output = Result<Vec<String>, EcsError>> + Send;

    /// Starts one task. Not idempotent: each call may start a task.
    fn run_task(&self, spec: &TaskSpec) -> impl Future<Output = Result<Started, EcsError>> + Send;
}

/// [`Ecs`] through the AWS SDK.
#[derive(Debug, Clone)]
pub struct SdkEcs {
    client: aws_sdk_ecs::Client,
}

impl SdkEcs {
    pub fn new(client: aws_sdk_ecs::Client) -> SdkEcs {
        SdkEcs { client }
    }
}

impl Ecs for SdkEcs {
    async fn active_tasks(&self, cluster: &str, started_by: &str) -> Result<Vec<String>, EcsError> {
        let mut arns = Vec::new();
        for status in [DesiredStatus::Running, DesiredStatus::Pending] {
            let answer = self
                .client
                .list_tasks()
                .cluster(cluster)
                .started_by(started_by)
                .desired_status(status)
                .send()
                .await
                .map_err(|e| EcsError::from_sdk("ListTasks", e))?;
            for arn in answer.task_arns() {
                if !arns.contains(arn) {
                    arns.push(arn.clone());
                }
            }
        }
        Ok(arns)
    }

    async fn run_task(&self, spec: &TaskSpec) -> Result<Started, EcsError> {
        let assign_public_ip = if spec.assign_public_ip {
            AssignPublicIp::Enabled
        } else {
            AssignPublicIp::Disabled
        };
        let network = AwsVpcConfiguration::builder()
            .set_subnets(Some(spec.subnets.clone()))
            .set_security_groups(Some(spec.security_groups.clone()))
            .assign_public_ip(assign_public_ip)
            .build()
            .map_err(|e| EcsError {
                operation: "RunTask",
                message: e.to_string(),
                source: Some(Box::new(e)),
            })?;
        let environment = spec
            .environment
            .iter()
            .map(|(name, value)| KeyValuePair::builder().name(name).value(value).build())
            .collect();
        let container = ContainerOverride::builder()
            .name(&spec.container_name)
            .set_command(Some(spec.command.clone()))
            .set_environment(Some(environment))
            .build();
        let request = self
            .client
            .run_task()
            .cluster(&spec.cluster)
            .task_definition(&spec.task_definition)
            // The task definition's tags (environment, application) go on the task, so its
            // cost is attributed like the rest of the deployment.
            .propagate_tags(PropagateTags::TaskDefinition)
            .enable_ecs_managed_tags(true);
        let request = match spec.capacity {
            Capacity::Fargate => request.launch_type(LaunchType::Fargate),
            Capacity::FargateSpot => request.capacity_provider_strategy(
                CapacityProviderStrategyItem::builder()
                    .capacity_provider("FARGATE_SPOT")
                    .weight(1)
                    .build()
                    .map_err(|e| EcsError {
                        operation: "RunTask",
                        message: e.to_string(),
                        source: Some(Box::new(e)),
                    })?,
            ),
        };
        let answer = request
            .count(1)
            .started_by(&spec.started_by)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(network)
                    .build(),
            )
            .overrides(
                TaskOverride::builder()
                    .container_overrides(container)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| EcsError::from_sdk("RunTask", e))?;
        Ok(Started {
            task_arns: answer
                .tasks()
                .iter()
                .filter_map(|task| task.task_arn().map(str::to_owned))
                .collect(),
            failures: answer
                .failures()
                .iter()
                .map(|f| TaskFailure {
                    arn: f.arn().map(str::to_owned),
                    reason: f.reason().map(str::to_owned),
                    detail: f.detail().map(str::to_owned),
                })
                .collect(),
        })
    }
}
