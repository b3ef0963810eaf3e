//! The launcher's own settings: where and how to run the worker. Terraform sets them as the
//! function's environment; nothing here comes from the event.

/// Where and how the worker task runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LauncherConfig {
    /// The ECS cluster (name or ARN).
    pub cluster: String,
    /// The worker's task definition (family, `family:revision` or ARN).
    pub task_definition: String,
    /// The container in that task definition that runs `indexer`.
    pub container_name: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// Whether the task gets a public IP (only for subnets without a NAT gateway).
    pub assign_public_ip: bool,
    /// The task definition's awslogs group and stream prefix, to tell where progress appears.
    pub log_group: String,
    pub log_stream_prefix: String,
}

/// The launcher's environment is incomplete or wrong; the message names every problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the launcher is misconfigured: {0} (its environment is set by terraform)")]
pub struct ConfigError(pub String);

impl LauncherConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<LauncherConfig, ConfigError> {
        LauncherConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<LauncherConfig, ConfigError> {
        let mut missing = Vec::new();
        let mut problems = Vec::new();
        let mut required = |name: &'static str| {
            let value = lookup(name)
                .map(|v| v.trim().to_owned())
                .unwrap_or_default();
            if value.is_empty() {
                missing.push(name);
            }
            value
        };
        let cluster = required("CLUSTER");
        let task_definition = required("TASK_DEFINITION");
        let container_name = required("CONTAINER_NAME");
        let subnets = list(&required("SUBNETS"));
        let security_groups = list(&required("SECURITY_GROUPS"));
        let log_group = required("LOG_GROUP");
        let log_stream_prefix = required("LOG_STREAM_PREFIX");
        let assign_public_ip = match lookup("ASSIGN_PUBLIC_IP").as_deref().map(str::trim) {
            None | Some("") | Some("DISABLED") => false,
            Some("ENABLED") => true,
            Some(other) => {
                problems.push(format!(
                    "ASSIGN_PUBLIC_IP is {other:?}; use ENABLED or DISABLED (the default)"
                ));
                false
            }
        };
        if !missing.is_empty() {
            problems.insert(
                0,
                format!("missing environment variables: {}", missing.join(", ")),
            );
        }
        if !problems.is_empty() {
            return Err(ConfigError(problems.join("; ")));
        }
        Ok(LauncherConfig {
            cluster,
            task_definition,
            container_name,
            subnets,
            security_groups,
            assign_public_ip,
            log_group,
            log_stream_prefix,
        })
    }
}

/// A comma-separated list, blanks dropped.
fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const FULL: &[(&str, &str)] = &[
        ("CLUSTER", "indexer-development"),
        ("TASK_DEFINITION", "indexer-development"),
        ("CONTAINER_NAME", "indexer"),
        ("SUBNETS", "subnet-a, subnet-b"),
        ("SECURITY_GROUPS", "sg-1"),
        ("LOG_GROUP", "/ecs/indexer-development"),
        ("LOG_STREAM_PREFIX", "indexer"),
    ];

    #[test]
    fn a_full_environment_is_read_with_public_ip_disabled_by_default() {
        let config = LauncherConfig::from_lookup(env(FULL)).expect("complete");
        assert_eq!(config.subnets, ["subnet-a", "subnet-b"]);
        assert_eq!(config.security_groups, ["sg-1"]);
        assert!(!config.assign_public_ip);
        let mut enabled = FULL.to_vec();
        enabled.push(("ASSIGN_PUBLIC_IP", "ENABLED"));
        assert!(
            LauncherConfig::from_lookup(env(&enabled))
                .expect("complete")
                .assign_public_ip
        );
    }

    #[test]
    fn every_missing_variable_is_named() {
        let error = LauncherConfig::from_lookup(env(&FULL[..3])).expect_err("incomplete");
        assert!(
            error
                .0
                .contains("SUBNETS, SECURITY_GROUPS, LOG_GROUP, LOG_STREAM_PREFIX"),
            "{error}"
        );
        let error = LauncherConfig::from_lookup(env(&[])).expect_err("empty");
        assert!(error.0.contains("CLUSTER, TASK_DEFINITION"), "{error}");
    }

    #[test]
    fn a_bad_public_ip_setting_is_refused() {
        let mut bad = FULL.to_vec();
        bad.push(("ASSIGN_PUBLIC_IP", "yes"));
        let error = LauncherConfig::from_lookup(env(&bad)).expect_err("bad");
        assert!(error.0.contains("ASSIGN_PUBLIC_IP is \"yes\""), "{error}");
    }
}
