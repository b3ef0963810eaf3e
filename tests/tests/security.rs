//! Credentials and transport: basic auth from the environment or a file, never in logs; plain
//! http only to loopback unless allowed.

use indexer_tests::faults::{FaultPlan, FaultProxy};
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
