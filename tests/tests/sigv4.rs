//! AWS SigV4 against a recording HTTPS server posing as Amazon OpenSearch: every request signed
//! and verified, credentials from the ECS container endpoint fetched once per run, nothing secret
//! in the logs, and the ways a misconfiguration is refused.

use chrono::{Duration as Span, Utc};
use indexer_tests::harness::{Search, indexer_with_env, rebuild_args, seed};
use indexer_tests::sigv4::{
    CredentialsEndpoint, SignedRequest, SigningRecorder, TestCredentials, container_credentials_env,
};
use indexer_tests::tls::TestPki;

/// A signing cluster at an AWS-style host name: the recorder in front of the real search
/// server, its CA in a file, and the `--resolve` entry that maps the name to loopback.
struct AwsCluster {
    recorder: SigningRecorder,
    url: String,
    resolve: String,
    ca_path: String,
}

impl Drop for AwsCluster {
    fn drop(&mut self) {
        std::fs::remove_file(&self.ca_path).ok();
    }
}

async fn aws_cluster(host: &str, credentials: &TestCredentials) -> AwsCluster {
    let pki = TestPki::generate_for(&[host]).expect("a local CA");
    let recorder = SigningRecorder::start(&pki, credentials, &Search::default().url)
        .await
        .expect("recorder");
    let port = recorder.port;
    let ca_path = std::env::temp_dir()
        .join(format!("sigv4-ca-{}-{port}.pem", std::process::id()))
        .display()
        .to_string();
    std::fs::write(&ca_path, &pki.ca_pem).expect("write CA");
    AwsCluster {
        recorder,
        url: format!("https://{host}:{port}"),
        resolve: format!("{host}:{port}:127.0.0.1"),
        ca_path,
    }
}

impl AwsCluster {
    fn connect_args(&self) -> [&str; 4] {
        ["--ca-bundle", &self.ca_path, "--resolve", &self.resolve]
    }
}

fn env_pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Asserts that nothing secret reached the output: the secret key, the session token, the
/// `Authorization` header or any signature the recorder saw.
fn assert_no_secret_in(output: &str, credentials: &TestCredentials, signatures: &[String]) {
    assert!(
        !output.contains(&credentials.secret_key),
        "the secret key leaked"
    );
    if let Some(token) = &credentials.token {
        assert!(!output.contains(token.as_str()), "the session token leaked");
    }
    assert!(
        !output.contains("AWS4-HMAC-SHA256 Credential="),
        "an Authorization header leaked"
    );
    for signature in signatures {
        assert!(!output.contains(signature.as_str()), "a signature leaked");
    }
}

/// Every request verified, with `scope` (key, date, region, service), the headers that must be
/// signed, and the session token.
fn assert_all_signed(seen: &[SignedRequest], scope: &str, credentials: &TestCredentials) {
    for request in seen {
        let what = format!(
            "{} {}: {}",
            request.method, request.path, request.authorization
        );
        assert_eq!(request.verdict, Ok(()), "{what}");
        assert!(request.authorization.starts_with(scope), "{what}");
        for header in [
            "host",
            "x-amz-content-sha256",
            "x-amz-date",
            "x-amz-security-token",
        ] {
            assert!(
                request.authorization.contains(header),
                "{header} is not signed: {what}"
            );
        }
        assert_eq!(request.security_token, credentials.token, "{what}");
    }
}

#[tokio::test]
async fn a_rebuild_against_an_aws_domain_signs_every_request_and_fetches_credentials_once() {
    let names = seed("persons", 40).await;
    let credentials = TestCredentials::generate();
    let endpoint =
        CredentialsEndpoint::start(Some(credentials.clone()), Utc::now() + Span::hours(1))
            .await
            .expect("credentials endpoint");
    let cluster = aws_cluster(
        "search-persons-t3st.eu-central-1.es.amazonaws.com",
        &credentials,
    )
    .await;
    let mut extra = vec!["--batch-docs", "5"];
    extra.extend(cluster.connect_args());
    let mut env = container_credentials_env(&endpoint);
    env.push(("RUST_LOG", "debug".into()));
    let run = indexer_with_env(
        &rebuild_args(&names, "persons", &cluster.url, &extra),
        &env_pairs(&env),
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(Search::default().count(&names.alias).await, 40);

    let seen = cluster.recorder.seen();
    let bulks = seen.iter().filter(|r| r.path == "/_bulk").count();
    assert!(
        bulks >= 8,
        "40 documents in batches of 5: {bulks} bulk requests"
    );
    assert!(seen.len() > bulks + 5, "{} requests", seen.len());
    let scope = format!(
        "AWS4-HMAC-SHA256 Credential={}/{}/eu-central-1/es/aws4_request, SignedHeaders=",
        credentials.access_key,
        Utc::now().format("%Y%m%d")
    );
    assert_all_signed(&seen, &scope, &credentials);
    let signatures: Vec<String> = seen.iter().map(|r| r.signature.clone()).collect();
    let mut distinct = signatures.clone();
    distinct.sort();
    distinct.dedup();
    assert!(
        distinct.len() > seen.len() / 2,
        "requests carry their own signatures"
    );
    // The DynamoDB clients and the signer share one cache: one fetch for the whole run.
    assert_eq!(endpoint.fetches(), 1);
    assert!(
        run.stderr.contains("\"level\":\"DEBUG\""),
        "debug logs were on"
    );
    assert_no_secret_in(&run.stderr, &credentials, &signatures);
    assert_no_secret_in(&run.stdout, &credentials, &signatures);
}

#[tokio::test]
async fn a_serverless_collection_is_signed_for_aoss_with_nothing_secret_in_trace_logs() {
    let names = seed("tenures", 6).await;
    let credentials = TestCredentials::generate();
    let endpoint =
        CredentialsEndpoint::start(Some(credentials.clone()), Utc::now() + Span::hours(6))
            .await
            .expect("credentials endpoint");
    let cluster = aws_cluster("t3stc0llection.eu-west-2.aoss.amazonaws.com", &credentials).await;
    let mut env = container_credentials_env(&endpoint);
    env.push(("RUST_LOG", "trace".into()));
    let run = indexer_with_env(
        &rebuild_args(&names, "tenures", &cluster.url, &cluster.connect_args()),
        &env_pairs(&env),
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(Search::default().count(&names.alias).await, 6);
    let seen = cluster.recorder.seen();
    assert!(seen.len() > 5, "{} requests", seen.len());
    // Serverless has no `GET /`: the start-up check does not ask it.
    assert!(
        !seen.iter().any(|r| r.method == "GET" && r.path == "/"),
        "GET / was sent to a serverless collection"
    );
    let scope = format!(
        "AWS4-HMAC-SHA256 Credential={}/{}/eu-west-2/aoss/aws4_request, SignedHeaders=",
        credentials.access_key,
        Utc::now().format("%Y%m%d")
    );
    assert_all_signed(&seen, &scope, &credentials);
    assert_eq!(endpoint.fetches(), 1);
    assert!(
        run.stderr.contains("\"level\":\"TRACE\""),
        "trace logs were on"
    );
    let signatures: Vec<String> = seen.iter().map(|r| r.signature.clone()).collect();
    assert_no_secret_in(&run.stderr, &credentials, &signatures);
    assert_no_secret_in(&run.stdout, &credentials, &signatures);
}

#[tokio::test]
async fn unavailable_credentials_fail_the_run_with_a_clear_message_and_are_not_retried_forever() {
    let names = seed("assets", 3).await;
    let credentials = TestCredentials::generate();
    let endpoint = CredentialsEndpoint::start(None, Utc::now())
        .await
        .expect("credentials endpoint");
    let cluster = aws_cluster(
        "search-assets-t3st.eu-west-2.es.amazonaws.com",
        &credentials,
    )
    .await;
    let env = container_credentials_env(&endpoint);
    let started = std::time::Instant::now();
    let run = indexer_with_env(
        &rebuild_args(&names, "assets", &cluster.url, &cluster.connect_args()),
        &env_pairs(&env),
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    let error = run.summary["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("cannot obtain AWS credentials")
            && error.contains("HTTP 500")
            && !error.contains("StatusCode("),
        "{error}"
    );
    assert!(
        cluster.recorder.seen().is_empty(),
        "nothing unsigned was sent"
    );
    assert!(
        endpoint.fetches() >= 1 && endpoint.fetches() <= 10,
        "{} fetches",
        endpoint.fetches()
    );
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
}

#[tokio::test]
async fn basic_credentials_with_an_aws_host_and_signing_without_a_region_are_bad_input() {
    let credentials = TestCredentials::generate();
    let endpoint = CredentialsEndpoint::start(Some(credentials), Utc::now() + Span::hours(1))
        .await
        .expect("credentials endpoint");
    let mut env = container_credentials_env(&endpoint);
    env.push(("INDEX_USERNAME", "indexer".into()));
    env.push(("INDEX_PASSWORD", "pw".into()));
    let run = indexer_with_env(
        &[
            "status",
            "--index",
            "persons",
            "--host",
            "https://search-x-abc.eu-west-2.es.amazonaws.com",
        ],
        &env_pairs(&env),
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    let error = run.stdout.clone();
    assert!(
        error.contains("both basic credentials and SigV4") && error.contains("--auth basic"),
        "{error}"
    );

    let mut env = container_credentials_env(&endpoint);
    env.push(("AWS_REGION", String::new()));
    let run = indexer_with_env(
        &[
            "status",
            "--index",
            "persons",
            "--host",
            "https://search.example.com",
            "--auth",
            "sigv4",
        ],
        &env_pairs(&env),
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.contains("no AWS region"), "{}", run.stdout);
    assert_eq!(endpoint.fetches(), 0, "nothing was fetched for bad input");
}
