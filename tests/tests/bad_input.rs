//! Bad input: exit code 2 and a message naming the value and the rule, before anything is written.

use indexer_tests::harness::{Search, indexer, rebuild_args, seed};
use reqwest::Method;
use serde_json::json;

async fn refused(args: &[&str], expected: &[&str]) {
    let run = indexer(args).await;
    assert_eq!(run.code, 2, "{run:?}");
    let message = format!(
        "{} {}",
        run.summary["error"].as_str().unwrap_or_default(),
        run.stderr
    );
    for part in expected {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
}

#[tokio::test]
async fn an_invalid_table_name_is_refused() {
    refused(
        &[
            "rebuild",
            "--table",
            "P!",
            "--index",
            "persons",
            "--host",
            "http://127.0.0.1:1",
        ],
        &["\"P!\"", "3 to 255"],
    )
    .await;
}

#[tokio::test]
async fn an_invalid_index_name_is_refused() {
    refused(
        &[
            "rebuild",
            "--table",
            "Persons",
            "--index",
            "Persons",
            "--host",
            "http://127.0.0.1:1",
        ],
        &["\"Persons\"", "lowercase"],
    )
    .await;
}

#[tokio::test]
async fn a_malformed_host_is_refused() {
    refused(
        &[
            "rebuild",
            "--table",
            "Persons",
            "--index",
            "persons",
            "--host",
            "search.example.com:9200",
        ],
        &["invalid host URL", "search.example.com:9200"],
    )
    .await;
}

#[tokio::test]
async fn an_unknown_entity_is_refused_with_the_known_ones() {
    refused(
        &[
            "rebuild",
            "--table",
            "Persons",
            "--index",
            "persons",
            "--host",
            "http://127.0.0.1:1",
            "--entity",
            "widgets",
        ],
        &[
            "\"widgets\"",
            "persons (table Persons)",
            "tenures (table TenureInformation)",
            "assets (table Assets)",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_table_of_no_known_entity_is_refused_with_the_known_ones() {
    refused(
        &[
            "rebuild",
            "--table",
            "Widgets",
            "--index",
            "widgets",
            "--host",
            "http://127.0.0.1:1",
        ],
        &["\"Widgets\"", "--entity", "assets (table Assets)"],
    )
    .await;
}

#[tokio::test]
async fn a_missing_table_is_refused() {
    let search = Search::default();
    refused(
        &[
            "rebuild",
            "--table",
            "NoSuchTable",
            "--index",
            "nosuch",
            "--host",
            &search.url,
            "--entity",
            "persons",
        ],
        &["\"NoSuchTable\"", "not found"],
    )
    .await;
    assert!(
        search.indexes("nosuch").await.is_empty(),
        "nothing was created"
    );
}

#[tokio::test]
async fn an_oversized_batch_is_refused() {
    let run = indexer(&[
        "rebuild",
        "--table",
        "Persons",
        "--index",
        "persons",
        "--batch-bytes",
        "64MiB",
        "--dry-run",
    ])
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("10 MiB"), "{}", run.stderr);
}

#[tokio::test]
async fn a_missing_table_argument_names_the_flag_and_variable() {
    refused(
        &["rebuild", "--index", "persons", "--dry-run"],
        &["--table", "DYNAMO_TABLE"],
    )
    .await;
}

#[tokio::test]
async fn the_original_tools_variable_names_are_accepted() {
    let names = seed("assets", 5).await;
    let search = Search::default();
    let run = indexer_tests::harness::indexer_with_env(
        &["rebuild", "--entity", "assets"],
        &[
            ("DYNAMODB_TABLE", &names.table),
            ("ELASTICSEARCH_INDEX", &names.alias),
            ("ELASTICSEARCH_HOST", &search.url),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(search.count(&names.alias).await, 5);
}

#[tokio::test]
async fn an_alias_over_several_indexes_is_refused_untouched() {
    let names = seed("persons", 3).await;
    let search = Search::default();
    for suffix in ["a", "b"] {
        let index = format!("{}-{suffix}", names.alias);
        assert_eq!(
            search
                .call(Method::PUT, &format!("/{index}"), Some(json!({})))
                .await
                .0,
            200
        );
        let action = json!({"actions": [{"add": {"index": index, "alias": names.alias}}]});
        assert_eq!(
            search.call(Method::POST, "/_aliases", Some(action)).await.0,
            200
        );
    }
    let args = [
        "rebuild",
        "--table",
        &names.table,
        "--index",
        &names.alias,
        "--host",
        &search.url,
        "--entity",
        "persons",
    ];
    refused(&args, &["points at 2 indexes"]).await;
    assert_eq!(search.alias_targets(&names.alias).await.len(), 2);
}

#[tokio::test]
async fn worker_settings_that_cannot_work_are_refused() {
    let names = seed("assets", 3).await;
    let search = Search::default();
    for (extra, needle) in [
        (vec!["--workers", "5", "--segments", "4"], "--segments"),
        (vec!["--workers", "65"], "65"),
        (
            vec!["--workers", "2", "--worker", "2", "--job-id", "x"],
            "--worker",
        ),
        (vec!["--workers", "2", "--worker", "1"], "--job-id"),
        (
            vec![
                "--workers",
                "2",
                "--worker",
                "1",
                "--job-id",
                "persons-20260101t000000000z",
            ],
            "not a rebuild of alias",
        ),
    ] {
        let run = indexer(&rebuild_args(&names, "assets", &search.url, &extra)).await;
        assert_eq!(run.code, 2, "{extra:?}: {run:?}");
        assert!(
            run.stderr.contains(needle) || run.stdout.contains(needle),
            "{extra:?}: {run:?}"
        );
    }
}
