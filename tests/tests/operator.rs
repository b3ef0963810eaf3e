//! What an operator meets around the core commands: fast, clear failures for unreachable or
//! wrong services, a summary on stdout at every exit (bad arguments included), no credential
//! in any message, and reports whose figures mean what they say.

use std::time::{Duration, Instant};

use indexer_tests::harness::{Run, Search, indexer, indexer_with_env, rebuild_args, rebuilt, seed};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

/// A plain web server on loopback that answers every request with `status` and `body` of
/// `content_type`; returns its URL.
async fn web_server(status: u16, content_type: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                while indexer_tests::http1::read_request(&mut stream)
                    .await
                    .is_some()
                {
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    let inner = stream.get_mut();
                    if inner.write_all(head.as_bytes()).await.is_err()
                        || inner.write_all(body.as_bytes()).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    url
}

const PAGE: &str =
    "<html><head><title>Welcome</title></head><body><h1>It works!</h1></body></html>";

fn assert_no_debug_text(run: &Run) {
    for debug in [
        "DispatchFailure",
        "ConnectorError",
        "Some(",
        "TableName(",
        "\"None\"",
    ] {
        assert!(
            !run.stdout.contains(debug) && !run.stderr.contains(debug),
            "{debug} in {run:?}"
        );
    }
}

/// Arguments, extra environment and the expected exit code.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, i32);

#[tokio::test]
async fn no_message_or_log_line_carries_a_credential_from_a_url() {
    let search = Search::default();
    let dynamo_with_password = format!("http://user:secret@127.0.0.1:{}", closed_port());
    let cases: Vec<Case> = vec![
        (
            vec![
                "rebuild",
                "--table",
                "Persons",
                "--index",
                "persons",
                "--host",
                "http://user:secret@127.0.0.1:9200",
            ],
            vec![],
            2,
        ),
        // A password holding `/`, `?` or `#` would end the authority early if parsed naively.
        (
            vec![
                "status",
                "--index",
                "persons",
                "--host",
                "https://admin:secret/x#y@search.example.com",
            ],
            vec![],
            2,
        ),
        // A URL given where no value is expected: the argument parser quotes it back.
        (
            vec![
                "status",
                "--index",
                "persons",
                "https://admin:secret@search.example.com",
            ],
            vec![],
            2,
        ),
        (
            vec![
                "status",
                "--index",
                "persons",
                "--host",
                "https://admin:secret@search.example.com",
            ],
            vec![],
            2,
        ),
        (
            vec![
                "verify",
                "--table",
                "Persons",
                "--index",
                "persons",
                "--host",
                "http://user:secret@",
            ],
            vec![],
            2,
        ),
        (
            vec![
                "jobs",
                "--index",
                "persons",
                "--host",
                "http://us er:secret@host",
            ],
            vec![],
            2,
        ),
        (
            vec!["rebuild", "--table", "Persons", "--index", "persons"],
            vec![("ELASTICSEARCH_HOST", "http://admin:secret@127.0.0.1:9200")],
            2,
        ),
        (
            vec![
                "rebuild",
                "--table",
                "Persons",
                "--index",
                "persons",
                "--host",
                &search.url,
            ],
            vec![("AWS_ENDPOINT_URL_DYNAMODB", dynamo_with_password.as_str())],
            2,
        ),
    ];
    for (args, env, code) in cases {
        for level in ["debug", "trace"] {
            let mut env = env.clone();
            env.push(("RUST_LOG", level));
            let run = indexer_with_env(&args, &env).await;
            assert_eq!(run.code, code, "{args:?}: {run:?}");
            assert!(
                !run.stdout.contains("secret") && !run.stderr.contains("secret"),
                "a credential leaked for {args:?} at {level}: {run:?}"
            );
            assert_eq!(run.summary["status"], "failed", "{run:?}");
        }
    }
}

#[tokio::test]
async fn argument_errors_print_a_failed_summary_and_exit_2() {
    for (args, named) in [
        (
            vec![
                "rebuild",
                "--table",
                "Persons",
                "--index",
                "persons",
                "--segments",
                "lots",
            ],
            "--segments",
        ),
        (
            vec![
                "rebuild",
                "--table",
                "Persons",
                "--index",
                "persons",
                "--frobnicate",
            ],
            "--frobnicate",
        ),
        (vec!["status", "--index", "persons", "--limit"], "--limit"),
        (vec![], "no command given"),
    ] {
        let run = indexer(&args).await;
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert_eq!(run.summary["status"], "failed", "{args:?}: {run:?}");
        let error = run.summary["error"].as_str().unwrap_or_default();
        assert!(error.contains(named), "{named} not in {error:?}");
        assert!(
            !error.starts_with("error:") && !error.contains("Usage:"),
            "{error}"
        );
        if args.first() == Some(&"rebuild") {
            assert_eq!(run.summary["mode"], "rebuild");
            assert_eq!(run.summary["table"], "Persons", "{run:?}");
            assert_eq!(run.summary["alias"], "persons", "{run:?}");
        }
    }
    let help = indexer(&["rebuild", "--help"]).await;
    assert_eq!(help.code, 0, "{help:?}");
    assert!(
        help.stdout
            .contains("Usage: indexer rebuild --table <TABLE> --index <ALIAS> --host <URL>"),
        "{}",
        help.stdout
    );
}

#[tokio::test]
async fn a_failed_summary_names_the_table_and_alias_it_was_given() {
    let search = Search::default();
    let run = indexer(&[
        "rebuild",
        "--table",
        "NoSuchTable",
        "--index",
        "nosuch",
        "--host",
        &search.url,
        "--entity",
        "persons",
    ])
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.summary["table"], "NoSuchTable", "{run:?}");
    assert_eq!(run.summary["alias"], "nosuch", "{run:?}");
    assert_eq!(run.summary["entity"], "persons", "{run:?}");
    assert_no_debug_text(&run);
}

#[tokio::test]
async fn an_unreachable_dynamodb_fails_within_seconds_in_one_sentence() {
    let search = Search::default();
    let port = closed_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    for args in [
        vec![
            "rebuild",
            "--table",
            "Persons",
            "--index",
            "persons",
            "--host",
            &search.url,
        ],
        vec![
            "verify",
            "--table",
            "Persons",
            "--index",
            "persons",
            "--host",
            &search.url,
        ],
    ] {
        let started = Instant::now();
        let run = indexer_with_env(&args, &[("AWS_ENDPOINT_URL_DYNAMODB", &endpoint)]).await;
        let took = started.elapsed();
        assert_eq!(run.code, 1, "{run:?}");
        // Without the quick check it took 40 s and more; generous for a loaded machine.
        assert!(took < Duration::from_secs(15), "took {took:?}");
        let error = run.summary["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with(&format!("cannot reach DynamoDB at {endpoint}: ")),
            "{error}"
        );
        assert!(error.contains("refused"), "{error}");
        assert_no_debug_text(&run);
    }
}

#[tokio::test]
async fn a_host_that_is_not_a_search_cluster_is_refused_at_once() {
    let html = web_server(200, "text/html", PAGE).await;
    let not_found = web_server(404, "application/json", r#"{"error":"not found"}"#).await;
    let names = seed("persons", 3).await;
    for host in [&html, &not_found] {
        for args in [
            rebuild_args(&names, "persons", host, &[]),
            vec!["status", "--index", &names.alias, "--host", host],
            vec!["jobs", "--index", &names.alias, "--host", host],
        ] {
            let started = Instant::now();
            let run = indexer(&args).await;
            assert_eq!(run.code, 2, "{args:?}: {run:?}");
            assert!(started.elapsed() < Duration::from_secs(15));
            let error = run.summary["error"].as_str().unwrap_or_default();
            assert!(
                error.contains(&format!(
                    "{host} is not an OpenSearch or Elasticsearch cluster"
                )),
                "{error}"
            );
            assert!(
                !run.stderr.contains("<html") && !run.stdout.contains("<html"),
                "{run:?}"
            );
            assert!(!run.stderr.contains("retrying"), "{}", run.stderr);
        }
    }
}

#[tokio::test]
async fn the_cluster_version_is_logged_once() {
    let (names, search, _) = rebuilt("assets", 3).await;
    let run = indexer(&[
        "status",
        "--index",
        &names.alias,
        "--host",
        &search.url,
        "--json",
    ])
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("connected to the search cluster"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].contains("\"distribution\":\"opensearch\""),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("\"version\":\""), "{}", lines[0]);
}

#[tokio::test]
async fn status_of_an_alias_with_nothing_there_says_so_and_exits_2() {
    let search = Search::default();
    let alias = format!("nothing-here-{}", std::process::id());
    for command in ["status", "jobs"] {
        let run = search.report(command, &alias).await;
        assert_eq!(run.code, 2, "{run:?}");
        let error = run.summary["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("nothing is there") && error.contains(&alias),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_finished_job_reports_no_live_figures_and_every_segment_done() {
    let (names, search, _) = rebuilt("tenures", 20).await;
    let run = search.report("jobs", &names.alias).await;
    assert_eq!(run.code, 0, "{run:?}");
    let job = &run.summary["jobs"][0];
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["segments_done"], job["segments"], "{job}");
    for live in ["eta_s", "heartbeat_age_s", "hung"] {
        assert!(job[live].is_null(), "{live} in {job}");
    }
    // Whole numbers, or one decimal below 10/s.
    let rate = job["docs_per_s"].as_f64().expect("a rate");
    assert!(((rate * 10.0).round() - rate * 10.0).abs() < 1e-9, "{rate}");
    assert_no_debug_text(&run);
}

#[tokio::test]
async fn verify_gives_a_boolean_verdict_and_its_fix_records_what_it_scanned() {
    let (names, search, _) = rebuilt("persons", 30).await;
    let args = [
        "verify",
        "--table",
        &names.table,
        "--index",
        &names.alias,
        "--host",
        &search.url,
        "--entity",
        "persons",
    ];
    let run = indexer(&args).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["in_sync"], true, "{run:?}");
    assert_eq!(run.summary["status"], "in_sync", "{run:?}");
    let extra = format!("{}-extra", names.alias);
    let live = search.alias_targets(&names.alias).await;
    let (status, _) = search
        .call(
            reqwest::Method::PUT,
            &format!("/{}/_doc/{extra}", live[0]),
            Some(serde_json::json!({"id": extra})),
        )
        .await;
    assert!(status < 300, "{status}");
    let drift = indexer(&args).await;
    assert_eq!(drift.code, 6, "{drift:?}");
    assert_eq!(drift.summary["in_sync"], false, "{drift:?}");
    let mut fix = args.to_vec();
    fix.push("--fix");
    let fixed = indexer(&fix).await;
    assert_eq!(fixed.code, 0, "{fixed:?}");
    assert_eq!(fixed.summary["in_sync"], true, "{fixed:?}");
    let job = search
        .latest_job(&names.alias)
        .await
        .expect("the fix's job");
    assert_eq!(job["mode"], "verify-fix", "{job}");
    assert_eq!(job["scanned"], 30, "{job}");
}

#[tokio::test]
async fn the_client_keeps_what_the_cluster_said_it_is_for_its_clones() {
    use indexer_core::sink::client::{SearchClient, TlsOptions};
    use indexer_core::sink::cluster::Distribution;
    let search = Search::default();
    let node = indexer_core::validate::NodeUrl::try_from(search.url.as_str()).expect("url");
    let client = SearchClient::new(
        node,
        Duration::from_secs(10),
        indexer_core::sink::retry::RetryPolicy::default(),
        &TlsOptions::default(),
    )
    .expect("client");
    let clone = client.clone();
    assert_eq!(clone.cluster(), None, "not asked yet");
    let info = client.cluster_info().await.expect("osmem is a cluster");
    assert_eq!(info.distribution, Distribution::OpenSearch);
    assert!(info.version.is_some_and(|v| v.major >= 1), "{info}");
    assert_eq!(clone.cluster(), Some(info));
}
