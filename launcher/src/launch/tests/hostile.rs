//! Events written to get past the validation: wrong types, the same field twice in two
//! spellings, unknown fields, values at and past every bound, and hosts dressed up to look like
//! the allowed one. Each is refused as `InvalidEvent`, naming the field, and starts nothing.

use super::*;

const HOST: &str = "search-x.eu-west-2.es.amazonaws.com";

/// Sends `event` and expects a refusal naming `field`; nothing may reach ECS.
async fn refused_naming(event: Value, field: &str) -> String {
    let launcher = Launcher::new(Ok(config()), FakeEcs::default());
    let error = call(&launcher, event.clone())
        .await
        .expect_err(&event.to_string());
    assert_eq!(error.error_type, "InvalidEvent", "{event}");
    assert!(
        error.error_message.contains(&format!("field `{field}`")),
        "{event}: {}",
        error.error_message
    );
    assert!(launcher.ecs.asked.lock().expect("lock").is_empty());
    assert!(launcher.ecs.specs.lock().expect("lock").is_empty());
    error.error_message
}

fn rebuild_with(extra: Value) -> Value {
    let mut event = json!({"dynamoTable": "Persons", "indexName": "persons"});
    if let (Some(event), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
        event.extend(extra.clone());
    }
    event
}

#[tokio::test]
async fn values_of_the_wrong_type_are_refused_by_field() {
    for (field, value) in [
        ("segments", json!("8")),
        ("segments", json!(8.5)),
        ("dryRun", json!("false")),
        ("dryRun", json!(0)),
        ("mode", json!(5)),
        ("mode", json!(["rebuild"])),
        ("ids", json!("a,b")),
        ("maxReadUnits", json!("1000")),
        ("keep", json!(true)),
        ("indexNodeHost", json!({"host": HOST})),
        ("dynamoTable", json!(null)),
    ] {
        refused_naming(rebuild_with(json!({ field: value })), field).await;
    }
}

#[tokio::test]
async fn one_field_in_two_original_spellings_is_refused_whichever_comes_first() {
    for (first, second, field, value) in [
        (
            "DynamoTable",
            "dynamotable",
            "dynamoTable",
            json!("Persons"),
        ),
        ("dynamotable", "DYNAMOTABLE", "dynamoTable", json!("Assets")),
        ("INDEXNAME", "IndexName", "indexName", json!("persons")),
        ("Mode", "MODE", "mode", json!("rebuild")),
        ("MaxReadUnits", "maxreadunits", "maxReadUnits", json!(100)),
    ] {
        let mut event = json!({"indexNodeHost": format!("https://{HOST}")});
        let object = event.as_object_mut().expect("object");
        for (name, other) in [("dynamoTable", "Persons"), ("indexName", "persons")] {
            if name != field {
                object.insert(name.into(), json!(other));
            }
        }
        object.insert(first.into(), value.clone());
        object.insert(second.into(), value);
        let message = refused_naming(event, field).await;
        assert!(message.contains("given twice"), "{message}");
    }
}

#[tokio::test]
async fn unknown_fields_are_refused_even_beside_valid_ones() {
    for unknown in [
        "dry_run",
        "indexNodeHosts",
        "IndexNode",
        "table",
        "",
        "__proto__",
    ] {
        let launcher = Launcher::new(Ok(config()), FakeEcs::default());
        let error = call(&launcher, rebuild_with(json!({ unknown: true })))
            .await
            .expect_err(unknown);
        assert_eq!(error.error_type, "InvalidEvent");
        assert!(
            error.error_message.contains("unknown field"),
            "{unknown}: {}",
            error.error_message
        );
        assert!(launcher.ecs.specs.lock().expect("lock").is_empty());
    }
}

#[tokio::test]
async fn huge_values_are_refused_with_the_rule_not_a_panic() {
    let huge = "p".repeat(100_000);
    for (field, value) in [
        ("segments", json!(1_000_001)),
        ("segments", json!(i64::MAX)),
        ("segments", json!(u64::MAX)),
        ("segments", json!(1e300)),
        ("workers", json!(65)),
        ("workers", json!(-1)),
        ("maxReadUnits", json!(0)),
        ("maxReadUnits", json!(-1.5)),
        ("minRatio", json!(1.000_001)),
        ("minRatio", json!(-0.1)),
        ("maxErrors", json!(-1)),
        ("keep", json!(0)),
        ("keep", json!(u64::MAX)),
        ("concurrency", json!(0)),
        ("concurrency", json!(65)),
        ("stopTimeout", json!(-1)),
        ("stopTimeout", json!(111)),
        ("indexName", json!(huge)),
        ("dynamoTable", json!(huge)),
        ("indexNodeHost", json!(format!("https://{huge}.example"))),
    ] {
        refused_naming(rebuild_with(json!({ field: value })), field).await;
    }
    let ids: Vec<String> = (0..2000).map(|n| format!("person-{n}")).collect();
    refused_naming(
        json!({"dynamoTable": "Persons", "indexName": "persons", "mode": "resync", "ids": ids}),
        "ids",
    )
    .await;
    refused_naming(
        json!({"indexName": "persons", "mode": "jobs", "limit": 101}),
        "limit",
    )
    .await;
    refused_naming(
        json!({"indexName": "persons", "mode": "abandon", "jobId": "j".repeat(256)}),
        "jobId",
    )
    .await;
}

#[tokio::test]
async fn tuning_at_its_bounds_is_accepted_and_reaches_the_task() {
    let launcher = Launcher::new(Ok(config()), FakeEcs::default());
    let event = rebuild_with(json!({
        "segments": 1_000_000, "workers": 64, "maxReadUnits": 0.5, "minRatio": 1,
        "maxErrors": 0, "keep": 1, "concurrency": 64, "stopTimeout": 110,
    }));
    call(&launcher, event)
        .await
        .expect("every bound is allowed");
    let specs = launcher.ecs.specs.lock().expect("lock").clone();
    assert_eq!(specs.len(), 64, "one task per worker");
    for (name, value) in [
        ("MAX_READ_UNITS", "0.5"),
        ("MIN_RATIO", "1"),
        ("MAX_ERRORS", "0"),
        ("KEEP", "1"),
        ("CONCURRENCY", "64"),
        ("STOP_TIMEOUT_SECS", "110"),
        ("SEGMENTS", "1000000"),
    ] {
        assert!(
            specs[0]
                .environment
                .iter()
                .any(|(n, v)| n == name && v == value),
            "{name}={value} in {:?}",
            specs[0].environment
        );
    }
}

#[tokio::test]
async fn hosts_dressed_as_the_allowed_one_are_refused() {
    for host in [
        "https://10.0.0.1".to_owned(),
        "https://[::1]".to_owned(),
        format!("https://{HOST}.evil.com"),
        format!("https://{HOST}."),
        format!("https://evil.com/{HOST}"),
        format!("https://evil.com?{HOST}"),
        format!("https://evil.com#{HOST}"),
        format!("https://evil.com\\@{HOST}"),
        format!("https://{HOST}@evil.com"),
        format!("https://user:hunter2@{HOST}"),
        format!("http://{HOST}"),
        format!("ftp://{HOST}"),
        HOST.to_owned(),
        format!("https://{HOST}/_bulk"),
        format!("https://xn--{HOST}"),
        "https://localhost".to_owned(),
    ] {
        let message = refused_naming(
            rebuild_with(json!({ "indexNodeHost": host })),
            "indexNodeHost",
        )
        .await;
        assert!(
            !message.contains("hunter2"),
            "credentials are never echoed: {message}"
        );
    }
}

#[tokio::test]
async fn the_allowed_host_in_any_case_or_with_its_port_is_accepted() {
    for host in [
        format!("https://{HOST}"),
        format!("https://{}", HOST.to_ascii_uppercase()),
        format!("HTTPS://{HOST}/"),
        format!("https://{HOST}:443"),
    ] {
        let launcher = Launcher::new(Ok(config()), FakeEcs::default());
        call(&launcher, rebuild_with(json!({ "indexNodeHost": host })))
            .await
            .expect(&host);
        let spec = launcher.ecs.specs.lock().expect("lock")[0].clone();
        assert!(
            spec.environment.iter().any(|(n, v)| n == "INDEX_NODE_HOST"
                && v.eq_ignore_ascii_case(&format!("https://{HOST}"))),
            "{host}: {:?}",
            spec.environment
        );
    }
}
