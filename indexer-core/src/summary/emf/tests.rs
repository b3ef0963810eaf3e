//! The lines checked against the EMF specification's rules, not against themselves.

use super::*;
use crate::summary::{Status, Summary};

/// The units CloudWatch accepts.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

fn only_members(object: &Map<String, Value>, allowed: &[&str], what: &str) {
    for key in object.keys() {
        assert!(
            allowed.contains(&key.as_str()),
            "{what} has an unknown member {key}"
        );
    }
}

/// Every rule of the specification a single-directive document can break; returns the metric
/// names it declares.
fn assert_valid_emf(line: &Value) -> Vec<String> {
    let root = line.as_object().expect("the root is an object");
    let aws = root["_aws"].as_object().expect("_aws is an object");
    only_members(
        aws,
        &["Timestamp", "CloudWatchMetrics", "LogGroupName"],
        "_aws",
    );
    let timestamp = aws["Timestamp"].as_i64().expect("Timestamp is an integer");
    assert!(
        timestamp > 1_600_000_000_000,
        "Timestamp is in milliseconds"
    );
    let directives = aws["CloudWatchMetrics"].as_array().expect("an array");
    assert!(!directives.is_empty());
    let mut names = Vec::new();
    for directive in directives {
        let directive = directive.as_object().expect("a directive is an object");
        only_members(
            directive,
            &["Namespace", "Dimensions", "Metrics"],
            "a directive",
        );
        let namespace = directive["Namespace"]
            .as_str()
            .expect("Namespace is a string");
        assert!((1..=255).contains(&namespace.len()));
        for set in directive["Dimensions"]
            .as_array()
            .expect("Dimensions is an array")
        {
            let set = set.as_array().expect("a dimension set is an array");
            assert!(set.len() <= 30, "at most 30 dimensions in a set");
            for key in set {
                let key = key.as_str().expect("a dimension key is a string");
                let value = root
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("dimension {key} is a string at the root"));
                assert!(
                    (1..=1024).contains(&value.len()),
                    "dimension {key} = {value:?}"
                );
            }
        }
        let metrics = directive["Metrics"]
            .as_array()
            .expect("Metrics is an array");
        assert!(
            !metrics.is_empty() && metrics.len() <= 100,
            "1 to 100 metrics"
        );
        for metric in metrics {
            let metric = metric.as_object().expect("a metric is an object");
            only_members(metric, &["Name", "Unit", "StorageResolution"], "a metric");
            let name = metric["Name"].as_str().expect("Name is a string");
            assert!((1..=1024).contains(&name.len()));
            if let Some(unit) = metric.get("Unit") {
                let unit = unit.as_str().expect("Unit is a string");
                assert!(UNITS.contains(&unit), "{unit} is a CloudWatch unit");
            }
            let value = root
                .get(name)
                .unwrap_or_else(|| panic!("metric {name} has a value at the root"));
            assert!(value.is_number(), "metric {name} is a number: {value}");
            assert!(!names.contains(&name.to_owned()), "{name} declared once");
            names.push(name.to_owned());
        }
    }
    names
}

fn succeeded_rebuild() -> Summary {
    let mut summary = Summary::new("rebuild");
    summary.status = Status::Succeeded;
    summary.alias = Some("persons".into());
    summary.scanned = 1200;
    summary.indexed = 1198;
    summary.dead_lettered = 2;
    summary.set_elapsed(std::time::Duration::from_millis(2500));
    summary
}

#[test]
fn a_rebuild_summary_carries_its_counts_as_metrics_by_alias_and_mode() {
    let mut line = serde_json::to_value(succeeded_rebuild()).expect("json");
    let before = line.clone();
    embed_at(&mut line, "indexer", 1_764_504_000_000);
    let names = assert_valid_emf(&line);
    assert_eq!(
        names,
        [
            "scanned",
            "indexed",
            "dead_lettered",
            "seconds",
            "docs_per_s"
        ]
    );
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "indexer");
    assert_eq!(directive["Dimensions"], json!([["alias", "mode"]]));
    assert_eq!(line["_aws"]["Timestamp"], 1_764_504_000_000_i64);
    assert_eq!(
        directive["Metrics"][3],
        json!({"Name": "seconds", "Unit": "Seconds"})
    );
    assert_eq!(directive["Metrics"][4]["Unit"], "Count/Second");
    for (key, value) in before.as_object().expect("object") {
        assert_eq!(&line[key], value, "the summary's field {key} is unchanged");
    }
}

#[test]
fn a_summary_without_an_alias_has_mode_as_its_only_dimension() {
    let mut line = serde_json::to_value(Summary::new("rebuild")).expect("json");
    embed_at(&mut line, "team/search", 1_764_504_000_000);
    assert_valid_emf(&line);
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["mode"]])
    );
}

#[test]
fn a_verify_report_carries_its_drift_counts_at_the_root() {
    let mut line = json!({
        "mode": "verify",
        "status": "drift",
        "alias": "persons",
        "drift": {
            "missing": {"count": 3, "sample_ids": ["a"]},
            "extra": {"count": 1, "sample_ids": ["b"]},
            "stale": {"count": 0, "sample_ids": []},
            "scanned": 40,
            "documents": 38,
        },
        "seconds": 1.5,
    });
    embed_at(&mut line, "indexer", 1_764_504_000_000);
    let names = assert_valid_emf(&line);
    assert_eq!(
        names,
        [
            "scanned",
            "seconds",
            "drift_missing",
            "drift_extra",
            "drift_stale"
        ]
    );
    assert_eq!(
        (line["drift_missing"].clone(), line["drift_extra"].clone()),
        (json!(3), json!(1))
    );
    assert_eq!(
        line["drift"]["missing"]["count"], 3,
        "the report is kept as it was"
    );
}

#[test]
fn a_progress_line_is_a_log_line_with_metrics() {
    let fields = json!({"scanned": 500, "indexed": 480, "dead_lettered": 1, "docs_per_s": 240.0, "segments_done": 2, "segments": 8});
    let line = progress_line(
        "persons",
        "rebuild",
        fields.as_object().expect("object").clone(),
    );
    let names = assert_valid_emf(&line);
    // Names of their own: a Sum of the summary's `indexed` counts each run once.
    assert_eq!(
        names,
        [
            "progress_scanned",
            "progress_indexed",
            "progress_dead_lettered",
            "progress_docs_per_s"
        ]
    );
    assert_eq!(line["progress_indexed"], 480);
    assert_eq!(
        line["indexed"], 480,
        "the plain field stays for readers of the log"
    );
    assert_eq!(line["message"], "progress");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["segments"], 8);
}

#[test]
fn a_line_without_metrics_or_not_an_object_is_left_alone() {
    let mut status = json!({"alias": "persons", "live_index": "persons-1", "scanned": "n/a"});
    let before = status.clone();
    embed_at(&mut status, "indexer", 1);
    assert_eq!(status, before);
    let mut not_an_object = json!([1, 2]);
    embed_at(&mut not_an_object, "indexer", 1);
    assert_eq!(not_an_object, json!([1, 2]));
}

#[test]
fn every_declared_metric_has_a_cloudwatch_unit_and_they_stay_under_the_limit() {
    assert!(METRICS.len() <= 100);
    for metric in METRICS {
        assert!(UNITS.contains(&metric.unit), "{}", metric.name);
    }
}

#[test]
fn a_namespace_follows_cloudwatch_rules() {
    assert_eq!(
        "indexer".parse::<Namespace>().map(|n| n.0),
        Ok("indexer".into())
    );
    assert!("Search/Indexer prod".parse::<Namespace>().is_ok());
    for bad in ["", "  ", "AWS/ECS", "bad\"quote", &"x".repeat(256)] {
        let error = bad.parse::<Namespace>().expect_err(bad);
        assert!(error.contains("namespace"), "{error}");
    }
}

#[test]
fn only_the_finisher_of_a_split_job_meters_the_job() {
    let mut helper = json!({"alias": "persons", "mode": "rebuild", "indexed": 900, "worker": {"worker": 1, "of": 2, "finisher": false}});
    let before = helper.clone();
    embed_at(&mut helper, "indexer", 1);
    assert_eq!(helper, before, "a helper worker's line carries no metrics");
    let mut finisher = json!({"alias": "persons", "mode": "rebuild", "indexed": 900, "worker": {"worker": 0, "of": 2, "finisher": true}});
    embed_at(&mut finisher, "indexer", 1);
    assert!(finisher.get("_aws").is_some());
}
