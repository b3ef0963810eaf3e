//! The event's rules, one test each.
use super::*;
use crate::hosts::AllowedHosts;
use serde_json::json;

const CONSOLE: &str = include_str!("../../fixtures/console-event.json");
const DOMAIN: &str = "search-x.eu-west-2.es.amazonaws.com";

pub fn rules() -> EventRules {
    EventRules {
        allowed_hosts: AllowedHosts::parse(DOMAIN).expect("valid"),
        defaults: Tuning::default(),
        max_stop_timeout: 110,
    }
}

fn parse(text: &str) -> Result<Request, InvalidEvent> {
    let value: Value = serde_json::from_str(text).expect("fixture is JSON");
    Request::from_event(value, &rules())
}

fn from_event(event: Value) -> Result<Request, InvalidEvent> {
    Request::from_event(event, &rules())
}

fn accepted(event: Value) -> Request {
    Request::from_event(event, &rules()).expect("valid")
}

fn refused(event: Value) -> String {
    Request::from_event(event, &rules()).expect_err("refused").0
}

fn console_with(extra: Value) -> Value {
    let mut event: Value = serde_json::from_str(CONSOLE).expect("console event");
    if let (Some(event), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
        event.extend(extra.clone());
    }
    event
}

#[test]
fn the_console_event_is_a_rebuild_with_defaults() {
    let request = parse(CONSOLE).expect("valid");
    assert_eq!(
        request.table.as_ref().map(TableName::as_str),
        Some("Persons")
    );
    assert_eq!(
        request.host.to_string(),
        "https://search-x.eu-west-2.es.amazonaws.com"
    );
    assert_eq!(request.alias.as_str(), "persons");
    assert_eq!(request.mode, Mode::Rebuild);
    assert!(request.ids.is_empty());
    assert_eq!((request.segments, request.dry_run), (None, None));
    assert_eq!(request.workers, None);
}

#[test]
fn every_optional_field_is_read() {
    let request = parse(include_str!("../../fixtures/resync-event.json")).expect("valid");
    assert_eq!(request.mode, Mode::Resync);
    assert_eq!(request.ids, ["id-1", "id-2"]);
    assert_eq!(request.segments, Some(16));
    assert_eq!(request.dry_run, Some(true));
    for mode in ["rebuild", "sync", "verify"] {
        let request = from_event(console_with(json!({"mode": mode}))).expect(mode);
        assert_eq!(request.mode.as_str(), mode);
    }
}

#[test]
fn an_unknown_field_is_refused_by_name() {
    let message = parse(include_str!("../../fixtures/bad/unknown-field.json"))
        .expect_err("x")
        .0;
    assert!(message.contains("unknown field `dry_run`"), "{message}");
    assert!(
        message.contains("dryRun"),
        "lists the known fields: {message}"
    );
}

#[test]
fn a_bad_table_name_is_refused_naming_field_and_rule() {
    let message = parse(include_str!("../../fixtures/bad/table.json"))
        .expect_err("x")
        .0;
    assert!(message.contains("field `dynamoTable`"), "{message}");
    assert!(
        message.contains("\"Per sons\"") && message.contains("not allowed"),
        "{message}"
    );
}

#[test]
fn a_bad_index_name_is_refused_naming_field_and_rule() {
    let message = parse(include_str!("../../fixtures/bad/index.json"))
        .expect_err("x")
        .0;
    assert!(message.contains("field `indexName`"), "{message}");
    assert!(message.contains("lowercase"), "{message}");
}

#[test]
fn a_bad_url_is_refused_naming_field_and_rule() {
    let message = parse(include_str!("../../fixtures/bad/url.json"))
        .expect_err("x")
        .0;
    assert!(message.contains("field `indexNodeHost`"), "{message}");
    assert!(message.contains("path"), "{message}");
    let message = refused(console_with(
        json!({"indexNodeHost": "search-x.es.amazonaws.com"}),
    ));
    assert!(message.contains("field `indexNodeHost`"), "{message}");
}

#[test]
fn ids_are_refused_without_resync() {
    let message = parse(include_str!("../../fixtures/bad/ids-without-resync.json"))
        .expect_err("x")
        .0;
    assert!(message.contains("field `ids`"), "{message}");
    assert!(
        message.contains("only allowed with mode \"resync\""),
        "{message}"
    );
}

#[test]
fn resync_is_refused_without_ids() {
    let message = parse(include_str!("../../fixtures/bad/resync-without-ids.json"))
        .expect_err("x")
        .0;
    assert!(
        message.contains("field `ids`") && message.contains("non-empty"),
        "{message}"
    );
    let message = refused(console_with(json!({"mode": "resync", "ids": []})));
    assert!(message.contains("non-empty"), "{message}");
}

#[test]
fn an_unknown_mode_is_refused_listing_the_modes() {
    let message = parse(include_str!("../../fixtures/bad/mode.json"))
        .expect_err("x")
        .0;
    assert!(message.contains("field `mode`"), "{message}");
    assert!(message.contains("\"rebuild-all\""), "{message}");
    assert!(
        message.contains("sync, verify, resync, status, jobs, abandon or rollback"),
        "{message}"
    );
}

#[test]
fn missing_and_mistyped_fields_are_named() {
    let mut two = rules();
    two.allowed_hosts = AllowedHosts::parse(&format!("{DOMAIN},other.example.com")).expect("ok");
    let message = Request::from_event(
        json!({"dynamoTable": "Persons", "indexName": "persons"}),
        &two,
    )
    .expect_err("which host?")
    .0;
    assert!(
        message.contains("field `indexNodeHost`: missing"),
        "{message}"
    );
    let message = refused(json!({"dynamoTable": "Persons"}));
    assert!(message.contains("missing field `indexName`"), "{message}");
    let message = refused(console_with(json!({"segments": "8"})));
    assert!(
        message.contains("field `segments`") && message.contains("string"),
        "{message}"
    );
    let message = refused(console_with(json!({"dryRun": "yes"})));
    assert!(message.contains("field `dryRun`"), "{message}");
    let message = refused(console_with(json!({"mode": "resync", "ids": ["a", 7]})));
    assert!(message.contains("field `ids[1]`"), "{message}");
    let message = refused(json!("Persons"));
    assert!(
        message.contains("must be a JSON object") && message.contains("a string"),
        "{message}"
    );
}

#[test]
fn segments_must_be_between_one_and_a_million() {
    for bad in [0, -1, MAX_SEGMENTS + 1] {
        let message = refused(console_with(json!({"segments": bad})));
        assert!(
            message.contains("field `segments`") && message.contains("1 to 1000000"),
            "{message}"
        );
    }
    let request = from_event(console_with(json!({"segments": MAX_SEGMENTS}))).expect("max");
    assert_eq!(request.segments, Some(1_000_000));
}

#[test]
fn ids_must_fit_one_comma_separated_variable() {
    let message = refused(console_with(json!({"mode": "resync", "ids": ["a,b"]})));
    assert!(
        message.contains("field `ids[0]`") && message.contains("commas"),
        "{message}"
    );
    let message = refused(console_with(json!({"mode": "resync", "ids": ["ok", ""]})));
    assert!(
        message.contains("field `ids[1]`") && message.contains("empty"),
        "{message}"
    );
    let many: Vec<String> = (0..200).map(|i| format!("{i:036}")).collect();
    let message = refused(console_with(json!({"mode": "resync", "ids": many})));
    assert!(message.contains("split them"), "{message}");
}

#[test]
fn workers_split_a_rebuild_up_to_its_segments() {
    let request = parse(include_str!("../../fixtures/workers-event.json")).expect("valid");
    assert_eq!((request.mode, request.segments), (Mode::Rebuild, Some(16)));
    assert_eq!(request.workers, Some(4));
    let request = from_event(console_with(json!({"workers": DEFAULT_SEGMENTS}))).expect("8");
    assert_eq!(
        request.workers,
        Some(8),
        "as many workers as default segments"
    );
    let request = from_event(console_with(
        json!({"workers": MAX_WORKERS, "segments": MAX_WORKERS}),
    ))
    .expect("max");
    assert_eq!(request.workers, Some(64));
    for mode in ["sync", "verify"] {
        let request = from_event(console_with(
            json!({"mode": mode, "workers": 1, "dryRun": true}),
        ))
        .expect("one worker is how every mode runs");
        assert_eq!(request.workers, Some(1));
    }
}

#[test]
fn workers_must_be_between_one_and_sixty_four() {
    for bad in [0, -1, i64::from(MAX_WORKERS) + 1] {
        let message = refused(console_with(json!({"workers": bad, "segments": 100})));
        assert!(
            message.contains("field `workers`")
                && message.contains(&format!("{bad} is out of range; use 1 to 64")),
            "{message}"
        );
    }
    let message = refused(console_with(json!({"workers": "2"})));
    assert!(
        message.contains("field `workers`") && message.contains("string"),
        "{message}"
    );
}

#[test]
fn workers_may_not_outnumber_the_segments() {
    let message = refused(console_with(json!({"workers": 5, "segments": 4})));
    assert!(
        message.contains("field `workers`")
            && message.contains("more than `segments` of 4")
            && message.contains("at least 5"),
        "{message}"
    );
    let message = parse(include_str!(
        "../../fixtures/bad/workers-over-default-segments.json"
    ))
    .expect_err("9 > 8")
    .0;
    assert!(
        message.contains("field `workers`")
            && message.contains("more than the default `segments` of 8"),
        "{message}"
    );
}

#[test]
fn workers_are_refused_outside_rebuild_and_with_a_dry_run() {
    let message = parse(include_str!(
        "../../fixtures/bad/workers-without-rebuild.json"
    ))
    .expect_err("sync")
    .0;
    assert!(
        message.contains("field `workers`")
            && message.contains("only allowed with mode \"rebuild\"")
            && message.contains("\"sync\""),
        "{message}"
    );
    let message = refused(console_with(
        json!({"mode": "resync", "ids": ["a"], "workers": 2}),
    ));
    assert!(
        message.contains("field `workers`") && message.contains("\"resync\""),
        "{message}"
    );
    let message = refused(console_with(json!({"mode": "verify", "workers": 2})));
    assert!(
        message.contains("field `workers`") && message.contains("\"verify\""),
        "{message}"
    );
    let message = refused(console_with(json!({"workers": 2, "dryRun": true})));
    assert!(
        message.contains("field `workers`") && message.contains("`dryRun: true`"),
        "{message}"
    );
    from_event(console_with(json!({"workers": 2, "dryRun": false})))
        .expect("a real run may be split");
}

mod modes;

#[test]
fn a_wrong_typed_field_holding_a_url_never_echoes_its_password() {
    let message = refused(console_with(
        json!({"maxErrors": "https://user:hunter2@elsewhere.example"}),
    ));
    assert!(message.contains("maxErrors"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}
