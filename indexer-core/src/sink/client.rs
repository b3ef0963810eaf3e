//! The search cluster's HTTP API, as far as the indexer needs it: index administration, aliases,
//! counts and `_bulk`. Every call has a bounded timeout; every non-success answer becomes a
//! [`SinkError`] naming the operation, the status and the cluster's own reason.
//!
//! Administrative calls are retried on transient failures like bulk requests are (a blip at the
//! end of a long rebuild must not waste it), except the alias swap, which is not idempotent and
//! is attempted once. A retried index creation or deletion that finds its work already done
//! (the first attempt succeeded but its answer was lost) counts as done.
//!
//! This file holds the client and how it sends; the administrative calls are in `admin.rs`, the
//! single-document calls in `documents.rs`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::error::{decode, status_error};
use super::retry::RetryPolicy;
use super::sigv4::SigV4;
use crate::validate::NodeUrl;

pub use super::answers::{AliasProps, Conditional, NameState, Versioned};
pub use super::error::SinkError;
pub(crate) use super::error::snippet;

/// HTTP basic credentials. The password never appears in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BasicAuth({}, <redacted>)", self.user)
    }
}

/// How requests prove who sends them.
#[derive(Debug, Clone, Default)]
pub enum Auth {
    #[default]
    None,
    Basic(BasicAuth),
    SigV4(SigV4),
}

/// A client for one cluster.
#[derive(Clone)]
pub struct SearchClient {
    http: reqwest::Client,
    node: NodeUrl,
    retry: RetryPolicy,
    auth: Auth,
    /// What the cluster said it is, once asked (shared by clones).
    pub(super) info: std::sync::Arc<std::sync::OnceLock<super::cluster::ClusterInfo>>,
}

/// How TLS certificates are verified. Verification is on by default against the system's roots.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Extra trusted roots (a private CA), on top of the system's.
    pub extra_roots: Vec<reqwest::Certificate>,
    /// Accept any certificate. Only for explicit, logged use.
    pub insecure: bool,
    /// Fixed addresses for host names, like curl's `--resolve`: the host keeps its name (for
    /// TLS verification, the `Host` header and signing) but is reached at this address.
    pub resolve: Vec<(String, std::net::SocketAddr)>,
}

impl SearchClient {
    pub fn new(
        node: NodeUrl,
        request_timeout: Duration,
        retry: RetryPolicy,
        tls: &TlsOptions,
    ) -> Result<SearchClient, SinkError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(request_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("indexer/", env!("CARGO_PKG_VERSION")));
        if !tls.extra_roots.is_empty() {
            builder = builder.tls_certs_merge(tls.extra_roots.iter().cloned());
        }
        if tls.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        for (host, addr) in &tls.resolve {
            builder = builder.resolve(host, *addr);
        }
        let http = builder.build().map_err(|source| SinkError::Transport {
            op: "create HTTP client".into(),
            host: node.to_string(),
            cause: crate::logging::cause_chain(&source),
        })?;
        Ok(SearchClient {
            http,
            node,
            retry,
            auth: Auth::None,
            info: std::sync::Arc::default(),
        })
    }

    pub fn node(&self) -> &NodeUrl {
        &self.node
    }

    /// Authenticates every request this way.
    pub fn with_auth(mut self, auth: Auth) -> SearchClient {
        self.auth = auth;
        self
    }

    /// How requests authenticate.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Sends HTTP basic credentials with every request.
    pub fn with_basic_auth(self, auth: BasicAuth) -> SearchClient {
        self.with_auth(Auth::Basic(auth))
    }

    /// Sends a request and returns status and body, without judging the status.
    pub(super) async fn raw(
        &self,
        op: &str,
        method: Method,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
    ) -> Result<(StatusCode, Vec<u8>), SinkError> {
        let (status, _, bytes) = self.send(op, method, path, body).await?;
        Ok((status, bytes))
    }

    /// Sends a bodiless request once; returns status, content type and body.
    pub(super) async fn raw_with_type(
        &self,
        op: &str,
        method: Method,
        path: &str,
    ) -> Result<(StatusCode, Option<String>, Vec<u8>), SinkError> {
        self.send(op, method, path, None).await
    }

    async fn send(
        &self,
        op: &str,
        method: Method,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
    ) -> Result<(StatusCode, Option<String>, Vec<u8>), SinkError> {
        let url = self.node.join(path);
        let mut request = self.http.request(method.clone(), url.clone());
        match &self.auth {
            Auth::None => {}
            Auth::Basic(auth) => request = request.basic_auth(&auth.user, Some(&auth.password)),
            Auth::SigV4(signer) => {
                let content_type = body.as_ref().map(|(_, content_type)| *content_type);
                let bytes = body
                    .as_ref()
                    .map(|(bytes, _)| bytes.as_slice())
                    .unwrap_or_default();
                for (name, value) in sign(signer, op, &method, &url, content_type, bytes).await? {
                    request = request.header(name, value);
                }
            }
        }
        if let Some((bytes, content_type)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let transport = |source: reqwest::Error| SinkError::Transport {
            op: op.to_owned(),
            host: self.node.to_string(),
            cause: crate::logging::cause_chain(&source),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.map_err(transport)?;
        Ok((status, content_type, bytes.to_vec()))
    }

    /// Sends a conditional request, retrying transient failures (throttling, server errors,
    /// resets, timeouts) and returning the first other answer unjudged. A conditional write whose
    /// first answer was lost after it applied meets a conflict on its retry: callers treat a
    /// conflict as "read again and decide", never as proof that someone else wrote.
    pub(super) async fn raw_retrying(
        &self,
        op: &str,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Vec<u8>), SinkError> {
        let mut attempt = 0;
        loop {
            let sent = body.clone().map(|bytes| (bytes, "application/json"));
            let result = match self.raw(op, method.clone(), path, sent).await {
                Ok((status, bytes)) if super::retry::is_retriable_status(status.as_u16()) => {
                    Err(status_error(op, status.as_u16(), &bytes))
                }
                other => other,
            };
            match result {
                Err(error) if error.is_retriable() && attempt < self.retry.max_retries => {
                    tracing::warn!(attempt, op, error = %error, "request failed, retrying");
                    let wait = self.retry.backoff(attempt, &mut rand::rng());
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Sends a request and decodes a successful JSON answer, retrying transient failures.
    pub(super) async fn call(
        &self,
        op: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, SinkError> {
        self.call_retrying(op, method, path, body, |_| false).await
    }

    /// Like [`call`](Self::call); after a retry, an error that `already_done` accepts means the
    /// lost first attempt did the work.
    pub(super) async fn call_retrying(
        &self,
        op: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        already_done: impl Fn(&SinkError) -> bool,
    ) -> Result<Value, SinkError> {
        let body = body.map(|v| v.to_string().into_bytes());
        let mut attempt = 0;
        loop {
            let sent = body.clone().map(|bytes| (bytes, "application/json"));
            let result = match self.raw(op, method.clone(), path, sent).await {
                Ok((status, bytes)) if status.is_success() => decode(op, &bytes),
                Ok((status, bytes)) => Err(status_error(op, status.as_u16(), &bytes)),
                Err(error) => Err(error),
            };
            match result {
                Err(error) if attempt > 0 && already_done(&error) => return Ok(Value::Null),
                Err(error) if error.is_retriable() && attempt < self.retry.max_retries => {
                    tracing::warn!(attempt, op, error = %error, "request failed, retrying");
                    let wait = self.retry.backoff(attempt, &mut rand::rng());
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Sends one `_bulk` body. A non-success status is an error; the per-item outcome of a
    /// successful call is for the caller to read.
    pub async fn bulk(&self, body: Vec<u8>) -> Result<Vec<u8>, SinkError> {
        let (status, bytes) = self
            .raw(
                "bulk",
                Method::POST,
                "/_bulk",
                Some((body, "application/x-ndjson")),
            )
            .await?;
        if !status.is_success() {
            return Err(status_error("bulk", status.as_u16(), &bytes));
        }
        Ok(bytes)
    }

    /// Any JSON call (retrying transient failures), for APIs without a dedicated method.
    pub async fn json(
        &self,
        op: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, SinkError> {
        self.call(op, method, path, body).await
    }

    /// Runs a search and returns the raw answer.
    pub async fn search(&self, index: &str, body: &Value) -> Result<Value, SinkError> {
        self.call(
            &format!("search {index}"),
            Method::POST,
            &format!("/{index}/_search"),
            Some(body.clone()),
        )
        .await
    }
}

/// The signing headers for a request, `host` set explicitly so that the signed value is the one
/// sent (`name:port` when the port is not the scheme's default, as HTTP clients send it).
async fn sign(
    signer: &SigV4,
    op: &str,
    method: &Method,
    url: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<(String, String)>, SinkError> {
    let failed = |reason: String| SinkError::Signing {
        op: op.to_owned(),
        reason,
    };
    let url = reqwest::Url::parse(url).map_err(|e| failed(format!("cannot sign {url}: {e}")))?;
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let mut headers = vec![("host", host.as_str())];
    if let Some(content_type) = content_type {
        headers.push(("content-type", content_type));
    }
    let mut signed = signer
        .sign(method.as_str(), url.as_str(), &headers, body)
        .await
        .map_err(|error| failed(error.to_string()))?;
    signed.push(("host".to_owned(), host));
    Ok(signed)
}
