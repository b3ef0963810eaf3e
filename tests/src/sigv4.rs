//! Test servers for AWS request signing, all on loopback:
//!
//! - [`SigningRecorder`]: an HTTPS server posing as an Amazon OpenSearch endpoint (its
//!   certificate names an `*.es.amazonaws.com`-style host; the indexer reaches it through
//!   `--resolve`). It checks every request's SigV4 signature with its own implementation of the
//!   algorithm (on a different crypto library than the indexer's), records what it saw and
//!   forwards the request to a real search server, so that a signed rebuild runs to the end.
//! - [`CredentialsEndpoint`]: the ECS container-credentials endpoint (what
//!   `AWS_CONTAINER_CREDENTIALS_FULL_URI` points at on Fargate), counting its fetches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::{digest, hmac};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::json;
use tokio::io::BufReader;
use tokio::net::TcpListener;

use crate::faults::forward;
use crate::http1::{Request, read_request, write_response};
use crate::tls::TestPki;

/// The credentials the test endpoint hands out.
#[derive(Debug, Clone)]
pub struct TestCredentials {
    pub access_key: String,
    pub secret_key: String,
    pub token: Option<String>,
}

impl TestCredentials {
    /// Distinct, recognisable values, so a leak into logs is easy to spot.
    pub fn generate() -> TestCredentials {
        let n = std::process::id();
        TestCredentials {
            access_key: format!("ASIATEST{n:08}"),
            secret_key: format!("tEsTsEcReT/{n}/K7MDENGbPxRfiCYEXAMPLEKEY"),
            token: Some(format!("tEsTsEsSiOnToKeN{n}IQoJb3JpZ2luX2VjEXAMPLE")),
        }
    }
}

/// One request as the recorder saw and judged it.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub method: String,
    pub path: String,
    pub authorization: String,
    pub security_token: Option<String>,
    /// The signature the request carried (hex).
    pub signature: String,
    /// `Ok` when the signature and the payload hash verify, else what did not.
    pub verdict: Result<(), String>,
}

/// A running recorder; stops when dropped.
pub struct SigningRecorder {
    /// The port it listens on, at 127.0.0.1.
    pub port: u16,
    seen: Arc<Mutex<Vec<SignedRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SigningRecorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SigningRecorder {
    /// Serves TLS with `pki`'s certificate, checks signatures made with `credentials` and
    /// forwards to `upstream` (`http://host:port`).
    pub async fn start(
        pki: &TestPki,
        credentials: &TestCredentials,
        upstream: &str,
    ) -> anyhow::Result<SigningRecorder> {
        let acceptor = pki.acceptor()?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&seen);
        let secret = credentials.secret_key.clone();
        let upstream = upstream.trim_end_matches('/').to_owned();
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, http, seen) = (acceptor.clone(), http.clone(), Arc::clone(&shared));
                let (secret, upstream) = (secret.clone(), upstream.clone());
                connections.spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut reader = BufReader::new(tls);
                    while let Some(request) = read_request(&mut reader).await {
                        let record = judge(&request, &secret);
                        let verified = record.verdict.is_ok();
                        if let Ok(mut seen) = seen.lock() {
                            seen.push(record);
                        }
                        let (status, body) = if verified {
                            forward(
                                &http,
                                &upstream,
                                &request.method,
                                &request.target,
                                request.header("content-type"),
                                request.body.clone(),
                            )
                            .await
                        } else {
                            let reason = "The request signature we calculated does not match the signature you provided.";
                            (403, json!({ "message": reason }).to_string().into_bytes())
                        };
                        if write_response(&mut reader, status, &body).await.is_err() {
                            return;
                        }
                    }
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(SigningRecorder { port, seen, task })
    }

    pub fn seen(&self) -> Vec<SignedRequest> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Checks a request's signature the way the service does: rebuild the canonical request from
/// what arrived, derive the signing key from the secret, compare.
fn judge(request: &Request, secret: &str) -> SignedRequest {
    let authorization = request
        .header("authorization")
        .unwrap_or_default()
        .to_owned();
    let signature = field(&authorization, "Signature=")
        .unwrap_or_default()
        .to_owned();
    let verdict = verify(request, &authorization, &signature, secret);
    SignedRequest {
        method: request.method.clone(),
        path: request.path().to_owned(),
        security_token: request.header("x-amz-security-token").map(str::to_owned),
        authorization,
        signature,
        verdict,
    }
}

fn field<'a>(authorization: &'a str, name: &str) -> Option<&'a str> {
    let start = authorization.find(name)? + name.len();
    let rest = &authorization[start..];
    Some(rest.split(',').next().unwrap_or(rest).trim())
}

fn verify(
    request: &Request,
    authorization: &str,
    signature: &str,
    secret: &str,
) -> Result<(), String> {
    let algorithm = "AWS4-HMAC-SHA256";
    if !authorization.starts_with(&format!("{algorithm} ")) {
        return Err(format!("not a SigV4 authorization: {authorization:?}"));
    }
    let credential = field(authorization, "Credential=").ok_or("no Credential")?;
    let signed_headers = field(authorization, "SignedHeaders=").ok_or("no SignedHeaders")?;
    let scope = credential.split_once('/').ok_or("no scope")?.1;
    let scope_parts: Vec<&str> = scope.split('/').collect();
    let [date, region, service, "aws4_request"] = scope_parts[..] else {
        return Err(format!("malformed scope {scope:?}"));
    };
    let amz_date = request.header("x-amz-date").ok_or("no x-amz-date")?;
    if !amz_date.starts_with(date) {
        return Err(format!(
            "x-amz-date {amz_date} is not on the scope's day {date}"
        ));
    }
    let signed_at = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|e| format!("x-amz-date {amz_date}: {e}"))?
        .and_utc();
    if (Utc::now() - signed_at).num_seconds().abs() > 15 * 60 {
        return Err(format!(
            "x-amz-date {amz_date} is not within 15 minutes of now"
        ));
    }
    let payload_hash = hex(digest::digest(&digest::SHA256, &request.body).as_ref());
    if request.header("x-amz-content-sha256") != Some(payload_hash.as_str()) {
        return Err("x-amz-content-sha256 is not the body's SHA-256".into());
    }
    let mut canonical_headers = String::new();
    for name in signed_headers.split(';') {
        let value = request
            .header(name)
            .ok_or_else(|| format!("signed header {name} was not sent"))?;
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    for required in ["host", "x-amz-date", "x-amz-content-sha256"] {
        if !signed_headers.split(';').any(|h| h == required) {
            return Err(format!("{required} is not signed"));
        }
    }
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((&request.target, ""));
    let canonical_request = [
        request.method.as_str(),
        &canonical_path(path),
        &canonical_query(query),
        &canonical_headers,
        signed_headers,
        &payload_hash,
    ]
    .join("\n");
    let string_to_sign = [
        algorithm,
        amz_date,
        scope,
        &hex(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref()),
    ]
    .join("\n");
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [date, region, service, "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let expected = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
    if expected != signature {
        return Err(format!(
            "signature mismatch; canonical request was:\n{canonical_request}"
        ));
    }
    Ok(())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&key, data).as_ref().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 3986 encoding of everything but the unreserved characters.
fn uri_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn uri_decode(text: &str) -> String {
    let bytes = text.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Services other than S3 sign the path as sent, encoded once more, segment by segment.
fn canonical_path(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    path.split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/")
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (uri_encode(&uri_decode(key)), uri_encode(&uri_decode(value)))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A running ECS container-credentials endpoint; stops when dropped.
pub struct CredentialsEndpoint {
    /// `http://127.0.0.1:<port>/creds`, for `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    pub url: String,
    fetches: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CredentialsEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CredentialsEndpoint {
    /// Hands out `credentials` expiring at `expiration`; with `None` it answers 500 instead.
    pub async fn start(
        credentials: Option<TestCredentials>,
        expiration: DateTime<Utc>,
    ) -> anyhow::Result<CredentialsEndpoint> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/creds", listener.local_addr()?);
        let fetches = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&fetches);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let (counter, credentials) = (Arc::clone(&counter), credentials.clone());
                connections.spawn(async move {
                    let mut reader = BufReader::new(stream);
                    while let Some(request) = read_request(&mut reader).await {
                        if request.path() == "/creds" {
                            counter.fetch_add(1, Ordering::SeqCst);
                        }
                        let (status, body) = match &credentials {
                            Some(c) => (
                                200,
                                json!({
                                    "AccessKeyId": c.access_key,
                                    "SecretAccessKey": c.secret_key,
                                    "Token": c.token,
                                    "Expiration": expiration.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                                }),
                            ),
                            None => (500, json!({ "message": "credentials are unavailable" })),
                        };
                        let body = body.to_string().into_bytes();
                        if write_response(&mut reader, status, &body).await.is_err() {
                            return;
                        }
                    }
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(CredentialsEndpoint { url, fetches, task })
    }

    /// How many times credentials were asked for.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// Environment that makes the indexer take its AWS credentials from `endpoint` and nowhere
/// else: no keys in the environment, no profile files, no instance metadata (the harness
/// already removes the machine's container, web-identity and session variables).
pub fn container_credentials_env(endpoint: &CredentialsEndpoint) -> Vec<(&'static str, String)> {
    let missing = std::env::temp_dir()
        .join(format!(
            "indexer-tests-{}-no-such-aws-file",
            std::process::id()
        ))
        .display()
        .to_string();
    vec![
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.url.clone()),
        // Blank counts as unset for the environment provider, which would otherwise come first.
        ("AWS_ACCESS_KEY_ID", String::new()),
        ("AWS_SECRET_ACCESS_KEY", String::new()),
        ("AWS_CONFIG_FILE", missing.clone()),
        ("AWS_SHARED_CREDENTIALS_FILE", missing),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of the SigV4 documentation ("GET /?Param2=value2&Param1=value1" to
    /// example.amazonaws.com, 2015-08-30), which pins this verifier to the published algorithm.
    #[test]
    fn the_verifier_accepts_the_published_example_and_rejects_a_changed_request() {
        let mut request = Request {
            method: "GET".into(),
            target: "/?Param2=value2&Param1=value1".into(),
            headers: vec![
                ("host".into(), "example.amazonaws.com".into()),
                ("x-amz-date".into(), "20150830T123600Z".into()),
                (
                    "x-amz-content-sha256".into(),
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
                ),
            ],
            body: Vec::new(),
        };
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        // The example signs host and x-amz-date only; recompute its canonical form here.
        let signed = "host;x-amz-date";
        let canonical = format!(
            "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n{signed}\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref()),
            "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0"
        );
        let mut key = format!("AWS4{secret}").into_bytes();
        for part in ["20150830", "us-east-1", "service", "aws4_request"] {
            key = hmac_sha256(&key, part.as_bytes());
        }
        let sts = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0";
        assert_eq!(
            hex(&hmac_sha256(&key, sts.as_bytes())),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
        assert_eq!(
            canonical_query("Param2=value2&Param1=value1"),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(
            canonical_path("/_cat/indices/t1-persons*"),
            "/_cat/indices/t1-persons%2A"
        );
        // A request whose signature does not match is refused.
        request.headers.push((
            "authorization".into(),
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=00".into(),
        ));
        let verdict = judge(&request, secret).verdict;
        assert!(verdict.is_err(), "{verdict:?}");
    }
}
