//! Credentials, transport and hostile answers: basic auth from the environment or a file, never
//! in logs; plain http only to loopback unless allowed; TLS verified; garbage answers retried;
//! an oversized document dead-lettered rather than sent.

use indexer_tests::faults::{FaultPlan, FaultProxy, RequestFault};
use indexer_tests::harness::{Search, indexer, indexer_with_env, rebuild_args, seed};

const SECRET: &str = "s3cr3t-Pa55word";

#[tokio::test]
async fn basic_auth_from_the_environment_goes_with_every_request_and_never_into_the_output() {
    let names = seed("assets", 12).await;
    let search = Search::default();
    let proxy = FaultProxy::start(&search.url, FaultPlan::default())
        .await
        .expect("proxy");
    let env = [
        ("INDEX_USERNAME", "indexer"),
        ("INDEX_PASSWORD", SECRET),
        ("RUST_LOG", "debug"),
    ];
    let run = indexer_with_env(&rebuild_args(&names, "assets", &proxy.url, &[]), &env).await;
    assert_eq!(run.code, 0, "{run:?}");
    let seen = proxy.seen();
    assert!(seen.requests > 3, "{seen:?}");
    // base64("indexer:s3cr3t-Pa55word")
    let expected = "Basic aW5kZXhlcjpzM2NyM3QtUGE1NXdvcmQ=";
    assert!(
        seen.authorizations.iter().all(|a| a == expected),
        "{:?}",
        seen.authorizations
    );
    assert!(
        !run.stderr.contains(SECRET) && !run.stdout.contains(SECRET),
        "the password leaked"
    );
    assert!(
        !run.stderr.contains("aW5kZXhlcjpzM2NyM3QtUGE1NXdvcmQ"),
        "the header leaked"
    );
}

#[tokio::test]
async fn basic_auth_from_a_file_and_a_malformed_file_is_refused() {
    let names = seed("tenures", 5).await;
    let search = Search::default();
    let proxy = FaultProxy::start(&search.url, FaultPlan::default())
        .await
        .expect("proxy");
    let dir = std::env::temp_dir();
    let good = dir.join(format!("{}.auth", names.alias));
    std::fs::write(&good, format!("reader:{SECRET}\n")).expect("write");
    let good_path = good.display().to_string();
    let run = indexer(&rebuild_args(
        &names,
        "tenures",
        &proxy.url,
        &["--basic-auth-file", &good_path],
    ))
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        proxy
            .seen()
            .authorizations
            .iter()
            .all(|a| a.starts_with("Basic ") && a.len() > 6)
    );

    let bad = dir.join(format!("{}.bad-auth", names.alias));
    std::fs::write(&bad, "no-colon-here\n").expect("write");
    let bad_path = bad.display().to_string();
    let run = indexer(&rebuild_args(
        &names,
        "tenures",
        &proxy.url,
        &["--basic-auth-file", &bad_path],
    ))
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.summary["error"]
            .as_str()
            .unwrap_or_default()
            .contains("user:password"),
        "{run:?}"
    );
    std::fs::remove_file(good).ok();
    std::fs::remove_file(bad).ok();
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused_before_anything_is_sent() {
    let run = indexer(&[
        "rebuild",
        "--table",
        "Persons",
        "--index",
        "persons",
        "--host",
        "http://search.example.com:9200",
    ])
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    let error = run.summary["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("refusing plain http") && error.contains("--allow-http"),
        "{error}"
    );
    let run = indexer(&[
        "status",
        "--index",
        "persons",
        "--host",
        "http://user:pw@search.example.com",
    ])
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.summary["error"]
            .as_str()
            .unwrap_or_default()
            .contains("INDEX_USERNAME"),
        "{run:?}"
    );
}

/// A TLS front signed by a fresh local CA, in front of the real search server.
async fn tls_front() -> (
    indexer_tests::tls::TestPki,
    indexer_tests::tls::TlsFront,
    String,
) {
    let pki = indexer_tests::tls::TestPki::generate().expect("a local CA");
    let upstream = Search::default()
        .url
        .trim_start_matches("http://")
        .to_owned();
    let front = indexer_tests::tls::TlsFront::start(&pki, &upstream)
        .await
        .expect("TLS front");
    let ca_path = std::env::temp_dir().join(format!(
        "ca-{}-{}.pem",
        std::process::id(),
        front.url.rsplit(':').next().unwrap_or("0")
    ));
    std::fs::write(&ca_path, &pki.ca_pem).expect("write CA");
    (pki, front, ca_path.display().to_string())
}

#[tokio::test]
async fn tls_is_verified_an_untrusted_certificate_is_refused_and_a_custom_ca_is_trusted() {
    let names = seed("persons", 8).await;
    let (_pki, front, ca_path) = tls_front().await;

    let refused = indexer(&rebuild_args(&names, "persons", &front.url, &[])).await;
    assert_ne!(
        refused.code, 0,
        "an untrusted certificate must be refused: {refused:?}"
    );
    let error = refused.summary["error"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        error.contains("cannot reach the search cluster") && error.contains("certificate"),
        "{error}"
    );
    assert!(
        Search::default().indexes(&names.alias).await.is_empty(),
        "nothing was created"
    );

    let trusted = indexer(&rebuild_args(
        &names,
        "persons",
        &front.url,
        &["--ca-bundle", &ca_path],
    ))
    .await;
    assert_eq!(trusted.code, 0, "{trusted:?}");
    assert_eq!(Search::default().count(&names.alias).await, 8);
    std::fs::remove_file(ca_path).ok();
}

#[tokio::test]
async fn insecure_mode_must_be_asked_for_and_is_logged_loudly() {
    let names = seed("assets", 4).await;
    let (_pki, front, ca_path) = tls_front().await;
    let run = indexer(&rebuild_args(&names, "assets", &front.url, &["--insecure"])).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("TLS certificate verification is OFF"),
        "{}",
        run.stderr
    );
    std::fs::remove_file(ca_path).ok();
}

#[tokio::test]
async fn garbage_html_and_truncated_answers_are_retried_and_nothing_is_counted_until_acknowledged()
{
    let count = 60;
    let names = seed("persons", count).await;
    let search = Search::default();
    let plan = FaultPlan {
        bulk_requests: vec![
            Some(RequestFault::Garbage(
                502,
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            )),
            Some(RequestFault::Garbage(
                200,
                r#"{"took":3,"errors":false,"items":[{"index":{"_id":"#,
            )),
            Some(RequestFault::Garbage(200, "")),
        ],
        ..FaultPlan::default()
    };
    let proxy = FaultProxy::start(&search.url, plan).await.expect("proxy");
    let run = indexer(&rebuild_args(
        &names,
        "persons",
        &proxy.url,
        &["--retry-base-ms", "5"],
    ))
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(proxy.seen().injected_statuses, 3);
    assert_eq!(run.summary["indexed"], count);
    assert!(
        run.summary["retries"].as_u64().unwrap_or_default() >= 3,
        "{}",
        run.summary
    );
    assert_eq!(search.count(&names.alias).await, count);
}

#[tokio::test]
async fn a_document_larger_than_a_bulk_request_is_dead_lettered_not_sent() {
    let names = seed("persons", 10).await;
    let mut huge = indexer_tests::fixtures::person(500);
    huge.insert(
        "id".into(),
        aws_sdk_dynamodb::types::AttributeValue::S("huge".into()),
    );
    huge.insert(
        "placeOfBirth".into(),
        aws_sdk_dynamodb::types::AttributeValue::S("x".repeat(300_000)),
    );
    indexer_tests::harness::put(&names.table, std::iter::once(huge)).await;
    let search = Search::default();
    let dead = indexer_tests::harness::dead_letter_path(&names);
    let run = indexer(&rebuild_args(
        &names,
        "persons",
        &search.url,
        &[
            "--batch-bytes",
            "64KiB",
            "--dead-letter",
            &dead,
            "--max-errors",
            "1",
        ],
    ))
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["indexed"], 10);
    assert_eq!(run.summary["dead_lettered"], 1);
    let records = indexer_tests::harness::dead_letters(&dead);
    assert_eq!(records[0]["id"], "huge");
    assert_eq!(records[0]["stage"], "encode");
    assert_eq!(records[0]["error_type"], "document_too_large");
    assert!(
        records[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("65536"),
        "{}",
        records[0]
    );
    assert!(
        search.source(&names.alias, "huge").await.is_none(),
        "it was not sent"
    );
}
