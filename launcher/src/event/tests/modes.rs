//! The original spellings, the allow-list, the operator modes and the tuning.

use super::*;

#[test]
fn the_original_spellings_are_accepted_in_any_case() {
    let request = parse(include_str!(
        "../../../fixtures/original-spellings-event.json"
    ))
    .expect("valid");
    assert_eq!(
        request.table.as_ref().map(TableName::as_str),
        Some("Persons")
    );
    assert_eq!(request.alias.as_str(), "persons");
    let request = accepted(json!({
        "dynamotable": "Persons",
        "INDEXNODEHOST": format!("https://{DOMAIN}"),
        "IndexName": "persons",
        "Mode": "verify",
        "DRYRUN": true,
    }));
    assert_eq!((request.mode, request.dry_run), (Mode::Verify, Some(true)));
}

#[test]
fn an_unknown_field_is_refused_whatever_its_case_and_a_field_given_twice_too() {
    let message = refused(console_with(json!({"DryRunNow": true})));
    assert!(message.contains("unknown field `DryRunNow`"), "{message}");
    let message = refused(console_with(json!({"DynamoTable": "Assets"})));
    assert!(
        message.contains("field `dynamoTable`") && message.contains("given twice"),
        "{message}"
    );
}

#[test]
fn a_host_outside_the_allow_list_is_refused_naming_both() {
    let message = parse(include_str!("../../../fixtures/bad/host-not-allowed.json"))
        .expect_err("x")
        .0;
    assert!(
        message.contains("field `indexNodeHost`")
            && message.contains("\"collector.example.com\" is not allowed")
            && message.contains(DOMAIN),
        "{message}"
    );
}

#[test]
fn the_host_defaults_to_the_only_allowed_one() {
    let request = accepted(json!({"dynamoTable": "Persons", "indexName": "persons"}));
    assert_eq!(request.host.to_string(), format!("https://{DOMAIN}"));
}

#[test]
fn operator_modes_need_no_table_but_every_table_mode_does() {
    let request = parse(include_str!("../../../fixtures/rollback-event.json")).expect("valid");
    assert_eq!(
        (request.mode, request.table.clone()),
        (Mode::Rollback, None)
    );
    for mode in ["status", "jobs", "abandon"] {
        let request = accepted(json!({"indexName": "persons", "mode": mode}));
        assert_eq!(request.mode.as_str(), mode);
        assert!(!request.mode.reads_table());
    }
    let request =
        accepted(json!({"dynamoTable": "Persons", "indexName": "persons", "mode": "status"}));
    assert!(
        request.table.is_some(),
        "a table given with an operator mode is checked and kept"
    );
    for mode in ["rebuild", "sync", "verify"] {
        let message = refused(json!({"indexName": "persons", "mode": mode}));
        assert!(
            message.contains("field `dynamoTable`") && message.contains("reads the table"),
            "{message}"
        );
    }
}

#[test]
fn tuning_fields_are_read_and_win_over_the_defaults() {
    let request = parse(include_str!("../../../fixtures/tuned-rebuild-event.json")).expect("valid");
    assert_eq!(
        request.tuning,
        Tuning {
            max_read_units: Some(500.0),
            max_errors: Some(10),
            min_ratio: Some(0.8),
            keep: Some(2),
            concurrency: Some(8),
            stop_timeout: Some(60),
        }
    );
    let mut with_defaults = rules();
    with_defaults.defaults = Tuning {
        max_read_units: Some(1000.0),
        keep: Some(3),
        ..Tuning::default()
    };
    let request =
        Request::from_event(console_with(json!({"keep": 1})), &with_defaults).expect("valid");
    assert_eq!(
        (request.tuning.max_read_units, request.tuning.keep),
        (Some(1000.0), Some(1))
    );
    let request = Request::from_event(console_with(json!({"mode": "verify"})), &with_defaults)
        .expect("valid");
    assert!(request.tuning.is_empty(), "defaults are a rebuild's only");
}

#[test]
fn tuning_values_out_of_range_are_refused_by_field() {
    for (name, value, rule) in [
        ("maxReadUnits", json!(0), "positive"),
        ("maxErrors", json!(-1), "0 or more"),
        ("minRatio", json!(1.5), "between 0 and 1"),
        ("keep", json!(-2), "1 or more"),
        ("keep", json!(0), "always kept for rollback"),
        ("concurrency", json!(65), "1 to 64"),
        ("stopTimeout", json!(111), "0 to 110 seconds"),
        ("maxReadUnits", json!("lots"), "string"),
    ] {
        let mut extra = serde_json::Map::new();
        extra.insert(name.to_owned(), value);
        let message = refused(console_with(Value::Object(extra)));
        assert!(
            message.contains(&format!("field `{name}`")) && message.contains(rule),
            "{name}: {message}"
        );
    }
}

#[test]
fn fields_are_refused_with_modes_that_do_not_use_them() {
    let message = parse(include_str!(
        "../../../fixtures/bad/tuning-without-rebuild.json"
    ))
    .expect_err("x")
    .0;
    assert!(
        message.contains("field `maxReadUnits`")
            && message.contains("only allowed with mode \"rebuild\" (the mode is \"verify\")"),
        "{message}"
    );
    let message = parse(include_str!(
        "../../../fixtures/bad/job-id-without-abandon.json"
    ))
    .expect_err("x")
    .0;
    assert!(
        message.contains("field `jobId`") && message.contains("\"abandon\""),
        "{message}"
    );
    for (extra, name) in [
        (json!({"mode": "status", "segments": 4}), "segments"),
        (json!({"mode": "jobs", "dryRun": true}), "dryRun"),
        (json!({"mode": "rollback", "workers": 1}), "workers"),
        (json!({"mode": "rebuild", "fix": true}), "fix"),
        (json!({"mode": "status", "limit": 5}), "limit"),
        (json!({"mode": "rollback", "keepIndex": true}), "keepIndex"),
        (json!({"mode": "verify", "maxChanges": 5}), "maxChanges"),
        (json!({"mode": "sync", "maxChanges": 5}), "maxChanges"),
    ] {
        let message = refused(console_with(extra.clone()));
        assert!(
            message.contains(&format!("field `{name}`")),
            "{extra}: {message}"
        );
    }
}

#[test]
fn operator_fields_are_read_and_checked() {
    let request = accepted(json!({
        "indexName": "persons", "mode": "abandon",
        "jobId": "persons-20261122t053513042z", "keepIndex": true,
    }));
    assert_eq!(
        request.job_id.as_ref().map(JobId::as_str),
        Some("persons-20261122t053513042z")
    );
    assert!(request.keep_index);
    let request = accepted(console_with(
        json!({"mode": "verify", "fix": true, "maxChanges": 5000}),
    ));
    assert_eq!((request.fix, request.max_changes), (true, Some(5000)));
    let request = accepted(json!({"indexName": "persons", "mode": "jobs", "limit": 100}));
    assert_eq!(request.limit, Some(100));
    for bad in [0, 101] {
        let message = refused(json!({"indexName": "persons", "mode": "jobs", "limit": bad}));
        assert!(
            message.contains("field `limit`") && message.contains("1 to 100"),
            "{message}"
        );
    }
    for bad in ["", "--keep-index", "a b", "x,y"] {
        let message = refused(json!({"indexName": "persons", "mode": "abandon", "jobId": bad}));
        assert!(
            message.contains("field `jobId`") && message.contains("not a job id"),
            "{message}"
        );
    }
}
