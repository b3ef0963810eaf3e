//! The launcher's own settings: where and how to run the worker, which hosts events may name,
//! and the environment's defaults. Terraform sets them as the function's environment; nothing
//! here comes from the event.

use crate::event::EventRules;
use crate::hosts::AllowedHosts;
use crate::tuning::{self, DEFAULT_MAX_STOP_TIMEOUT_SECS, Tuning};

/// Where and how the worker task runs.
#[derive(Debug, Clone, PartialEq)]
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
    /// Whether rebuilds, which resume where they stopped, run on Fargate Spot.
    pub rebuilds_on_spot: bool,
    /// What events are checked against: the allowed hosts and the tuning defaults.
    pub rules: EventRules,
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
        let allowed_text = required("ALLOWED_HOSTS");
        let allowed_hosts = match AllowedHosts::parse(&allowed_text) {
            Ok(hosts) => Some(hosts),
            Err(_) if missing.contains(&"ALLOWED_HOSTS") => None,
            Err(problem) => {
                problems.push(problem);
                None
            }
        };
        let rebuilds_on_spot = match lookup("FARGATE_SPOT").as_deref().map(str::trim) {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                problems.push(format!(
                    "FARGATE_SPOT is {other:?}; use true or false (the default)"
                ));
                false
            }
        };
        let max_stop_timeout = number(&lookup, &mut problems, "MAX_STOP_TIMEOUT_SECS", |v| {
            u64::try_from(v)
                .ok()
                .filter(|v| (1..=120).contains(v))
                .ok_or_else(|| {
                    format!("{v} is out of range; use 1 to 120 (Fargate's longest stopTimeout)")
                })
        })
        .unwrap_or(DEFAULT_MAX_STOP_TIMEOUT_SECS);
        let defaults = Tuning {
            max_read_units: decimal(
                &lookup,
                &mut problems,
                "DEFAULT_MAX_READ_UNITS",
                tuning::read_units,
            ),
            max_errors: number(&lookup, &mut problems, "DEFAULT_MAX_ERRORS", tuning::count),
            min_ratio: decimal(&lookup, &mut problems, "DEFAULT_MIN_RATIO", tuning::ratio),
            keep: number(&lookup, &mut problems, "DEFAULT_KEEP", tuning::keep),
            concurrency: number(
                &lookup,
                &mut problems,
                "DEFAULT_CONCURRENCY",
                tuning::concurrency,
            ),
            stop_timeout: None,
        };
        if !missing.is_empty() {
            problems.insert(
                0,
                format!("missing environment variables: {}", missing.join(", ")),
            );
        }
        let Some(allowed_hosts) = allowed_hosts.filter(|_| problems.is_empty()) else {
            return Err(ConfigError(problems.join("; ")));
        };
        Ok(LauncherConfig {
            cluster,
            task_definition,
            container_name,
            subnets,
            security_groups,
            assign_public_ip,
            log_group,
            log_stream_prefix,
            rebuilds_on_spot,
            rules: EventRules {
                allowed_hosts,
                defaults,
                max_stop_timeout,
            },
        })
    }
}

/// An optional whole-number setting, checked by `check`; a problem is recorded, not returned.
fn number<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
    name: &str,
    check: impl Fn(i64) -> Result<T, String>,
) -> Option<T> {
    let text = lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())?;
    let result = text
        .parse::<i64>()
        .map_err(|_| format!("{text:?} is not a whole number"))
        .and_then(check);
    result
        .map_err(|e| problems.push(format!("{name}: {e}")))
        .ok()
}

/// An optional decimal setting, checked by `check`; a problem is recorded, not returned.
fn decimal(
    lookup: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
    name: &str,
    check: impl Fn(f64) -> Result<f64, String>,
) -> Option<f64> {
    let text = lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())?;
    let result = text
        .parse::<f64>()
        .map_err(|_| format!("{text:?} is not a number"))
        .and_then(check);
    result
        .map_err(|e| problems.push(format!("{name}: {e}")))
        .ok()
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
        ("ALLOWED_HOSTS", "search-x.eu-west-2.es.amazonaws.com"),
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
                .contains("SUBNETS, SECURITY_GROUPS, LOG_GROUP, LOG_STREAM_PREFIX, ALLOWED_HOSTS"),
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

    #[test]
    fn the_rules_and_defaults_are_read_and_checked() {
        let config = LauncherConfig::from_lookup(env(FULL)).expect("complete");
        assert_eq!(
            config.rules.max_stop_timeout, 25,
            "the worker's default without a value"
        );
        assert!(config.rules.defaults.is_empty() && !config.rebuilds_on_spot);
        let mut full = FULL.to_vec();
        full.extend([
            ("ALLOWED_HOSTS", "a.example.com, b.example.com"),
            ("MAX_STOP_TIMEOUT_SECS", "110"),
            ("DEFAULT_MAX_READ_UNITS", "1000"),
            ("DEFAULT_MIN_RATIO", "0.5"),
            ("DEFAULT_KEEP", "2"),
            ("FARGATE_SPOT", "true"),
        ]);
        let config = LauncherConfig::from_lookup(env(&full)).expect("complete");
        assert_eq!(
            config.rules.allowed_hosts.hosts(),
            ["a.example.com", "b.example.com"]
        );
        assert_eq!(config.rules.max_stop_timeout, 110);
        assert_eq!(
            config.rules.defaults,
            Tuning {
                max_read_units: Some(1000.0),
                min_ratio: Some(0.5),
                keep: Some(2),
                ..Tuning::default()
            }
        );
        assert!(config.rebuilds_on_spot);
    }

    #[test]
    fn bad_rules_and_defaults_are_each_named() {
        let mut bad = FULL.to_vec();
        bad.extend([
            ("ALLOWED_HOSTS", "https://a.example.com"),
            ("MAX_STOP_TIMEOUT_SECS", "300"),
            ("DEFAULT_CONCURRENCY", "0"),
            ("DEFAULT_MIN_RATIO", "high"),
            ("FARGATE_SPOT", "yes"),
        ]);
        let error = LauncherConfig::from_lookup(env(&bad)).expect_err("bad");
        for part in [
            "ALLOWED_HOSTS entry \"https://a.example.com\"",
            "MAX_STOP_TIMEOUT_SECS: 300 is out of range",
            "DEFAULT_CONCURRENCY: 0 is out of range",
            "DEFAULT_MIN_RATIO: \"high\" is not a number",
            "FARGATE_SPOT is \"yes\"",
        ] {
            assert!(error.0.contains(part), "{part}: {error}");
        }
    }
}
