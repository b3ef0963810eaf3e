//! The search cluster's HTTP API, as far as the indexer needs it: index administration, aliases,
//! counts and `_bulk`. Every call has a bounded timeout; every non-success answer becomes a
//! [`SinkError`] naming the operation, the status and the cluster's own reason.
//!
//! Administrative calls are retried on transient failures like bulk requests are (a blip at the
//! end of a long rebuild must not waste it), except the alias swap, which is not idempotent and
//! is attempted once. A retried index creation or deletion that finds its work already done
//! (the first attempt succeeded but its answer was lost) counts as done.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::retry::RetryPolicy;
use super::sigv4::SigV4;
use crate::validate::NodeUrl;

/// A failure talking to the search cluster.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{op}: cannot reach the search cluster at {host}: {cause}")]
    Transport {
        op: String,
        host: String,
        /// The whole cause chain in words (a TLS verdict, a refused connection, a timeout).
        cause: String,
    },
    #[error("{op}: the search cluster answered {status}: {reason}")]
    Status {
        op: String,
        status: u16,
        reason: String,
        /// The cluster's error type (`resource_already_exists_exception`, …), empty if none.
        error_type: String,
    },
    #[error("{op}: unexpected answer from the search cluster: {reason}")]
    Decode { op: String, reason: String },
    /// The request could not be signed (no AWS credentials, or a signing failure).
    #[error("{op}: {reason}")]
    Signing { op: String, reason: String },
    /// The host answers, but not like OpenSearch or Elasticsearch (see [`super::cluster`]).
    #[error("{host} is not an OpenSearch or Elasticsearch cluster: {reason}")]
    NotACluster { host: String, reason: String },
}

impl SinkError {
    /// The cluster refused the request for its size: a 413, or a 400 whose type says the
    /// content is too long. Sending it in smaller pieces may succeed.
    pub fn too_large(&self) -> bool {
        matches!(self, SinkError::Status { status: 413, .. })
            || matches!(self, SinkError::Status { status: 400, error_type, .. } if error_type == "content_too_long_exception")
    }

    /// The cluster refused to create what already exists.
    pub fn already_exists(&self) -> bool {
        matches!(self, SinkError::Status { status: 400, error_type, .. } if error_type == "resource_already_exists_exception")
    }

    /// Whether trying again later may succeed (throttling, server errors, timeouts, resets).
    pub fn is_retriable(&self) -> bool {
        match self {
            // A certificate verdict does not change by asking again.
            SinkError::Transport { cause, .. } => !cause.contains("certificate"),
            SinkError::Status { status, .. } => super::retry::is_retriable_status(*status),
            SinkError::Decode { .. }
            | SinkError::Signing { .. }
            | SinkError::NotACluster { .. } => false,
        }
    }
}

/// How an alias is attached to an index: everything `_aliases` needs to re-create it elsewhere.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
pub struct AliasProps {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_routing: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_routing: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_write_index: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_hidden: Option<bool>,
}

/// What a name currently is on the cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum NameState {
    /// Nothing has that name.
    Absent,
    /// A concrete index has that name (the original tool's layout).
    Index,
    /// An alias with that name points at these indexes.
    Alias(Vec<String>),
}

#[derive(Deserialize)]
struct IndexAliases {
    #[serde(default)]
    aliases: BTreeMap<String, AliasProps>,
}

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
    async fn raw(
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
    async fn raw_retrying(
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
    async fn call(
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
    async fn call_retrying(
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

    /// Creates an index with the given settings and mappings. After a retry, "already exists"
    /// means the lost first attempt created it.
    pub async fn create_index(&self, name: &str, definition: &Value) -> Result<(), SinkError> {
        self.call_retrying(
            &format!("create index {name}"),
            Method::PUT,
            &format!("/{name}"),
            Some(definition.clone()),
            SinkError::already_exists,
        )
        .await
        .map(drop)
    }

    /// Deletes an index. After a retry, a 404 means the lost first attempt deleted it.
    pub async fn delete_index(&self, name: &str) -> Result<(), SinkError> {
        self.call_retrying(
            &format!("delete index {name}"),
            Method::DELETE,
            &format!("/{name}"),
            None,
            |error| matches!(error, SinkError::Status { status: 404, .. }),
        )
        .await
        .map(drop)
    }

    pub async fn put_settings(&self, name: &str, settings: &Value) -> Result<(), SinkError> {
        let body = json!({ "index": settings });
        self.call(
            &format!("update settings of {name}"),
            Method::PUT,
            &format!("/{name}/_settings"),
            Some(body),
        )
        .await
        .map(drop)
    }

    /// An index's settings, flattened under `index.` as the cluster reports them.
    pub async fn settings(&self, name: &str) -> Result<Value, SinkError> {
        let op = format!("read settings of {name}");
        let answer = self
            .call(&op, Method::GET, &format!("/{name}/_settings"), None)
            .await?;
        answer
            .get(name)
            .and_then(|v| v.get("settings"))
            .and_then(|v| v.get("index"))
            .cloned()
            .ok_or_else(|| SinkError::Decode {
                op,
                reason: "no settings.index in the answer".into(),
            })
    }

    pub async fn refresh(&self, name: &str) -> Result<(), SinkError> {
        self.call(
            &format!("refresh {name}"),
            Method::POST,
            &format!("/{name}/_refresh"),
            None,
        )
        .await
        .map(drop)
    }

    /// The number of documents searchable in an index or alias.
    pub async fn count(&self, name: &str) -> Result<u64, SinkError> {
        let op = format!("count documents in {name}");
        let answer = self
            .call(&op, Method::GET, &format!("/{name}/_count"), None)
            .await?;
        answer["count"].as_u64().ok_or_else(|| SinkError::Decode {
            op,
            reason: format!("no count in {answer}"),
        })
    }

    /// Whether `name` is an alias, a concrete index or nothing.
    pub async fn name_state(&self, name: &str) -> Result<NameState, SinkError> {
        let op = format!("look up alias {name}");
        let (status, bytes) = self
            .raw(&op, Method::GET, &format!("/_alias/{name}"), None)
            .await?;
        if status.is_success() {
            let indexes: BTreeMap<String, Value> =
                serde_json::from_slice(&bytes).map_err(|e| SinkError::Decode {
                    op: op.clone(),
                    reason: e.to_string(),
                })?;
            if !indexes.is_empty() {
                return Ok(NameState::Alias(indexes.into_keys().collect()));
            }
        } else if status != StatusCode::NOT_FOUND {
            return Err(status_error(&op, status.as_u16(), &bytes));
        }
        let op = format!("look up index {name}");
        let (status, bytes) = self
            .raw(&op, Method::GET, &format!("/{name}"), None)
            .await?;
        match status {
            StatusCode::NOT_FOUND => Ok(NameState::Absent),
            s if s.is_success() => Ok(NameState::Index),
            s => Err(status_error(&op, s.as_u16(), &bytes)),
        }
    }

    /// Every alias on an index, with its properties.
    pub async fn aliases_of(&self, index: &str) -> Result<BTreeMap<String, AliasProps>, SinkError> {
        let op = format!("read aliases of {index}");
        let answer = self
            .call(&op, Method::GET, &format!("/{index}/_alias"), None)
            .await?;
        let mut by_index: BTreeMap<String, IndexAliases> =
            serde_json::from_value(answer).map_err(|e| SinkError::Decode {
                op: op.clone(),
                reason: e.to_string(),
            })?;
        Ok(by_index
            .remove(index)
            .map(|i| i.aliases)
            .unwrap_or_default())
    }

    /// Applies alias actions in one atomic `_aliases` call, sent once: never retried, because a
    /// lost answer may hide an applied change. After an error the caller reads the aliases back
    /// to learn what happened.
    pub async fn update_aliases(&self, actions: Vec<Value>) -> Result<(), SinkError> {
        let op = "update aliases";
        let body = json!({ "actions": actions }).to_string().into_bytes();
        let (status, bytes) = self
            .raw(
                op,
                Method::POST,
                "/_aliases",
                Some((body, "application/json")),
            )
            .await?;
        if !status.is_success() {
            return Err(status_error(op, status.as_u16(), &bytes));
        }
        let answer = decode(op, &bytes)?;
        if answer.get("acknowledged").and_then(Value::as_bool) == Some(false) {
            return Err(SinkError::Decode {
                op: "update aliases".into(),
                reason: "the cluster did not acknowledge the change".into(),
            });
        }
        Ok(())
    }

    /// Names of the indexes matching a wildcard pattern (hidden ones included).
    pub async fn indexes_matching(&self, pattern: &str) -> Result<Vec<String>, SinkError> {
        let op = format!("list indexes {pattern}");
        let answer = self
            .call(
                &op,
                Method::GET,
                &format!("/_cat/indices/{pattern}?format=json&h=index&expand_wildcards=all"),
                None,
            )
            .await;
        let answer = match answer {
            Err(SinkError::Status { status: 404, .. }) => return Ok(Vec::new()),
            other => other?,
        };
        let rows = answer.as_array().ok_or_else(|| SinkError::Decode {
            op: op.clone(),
            reason: "expected a JSON array".into(),
        })?;
        Ok(rows
            .iter()
            .filter_map(|row| row.get("index").and_then(Value::as_str).map(str::to_owned))
            .collect())
    }
}

/// A document and the token that guards its next conditional write.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub source: Value,
    pub seq_no: u64,
    pub primary_term: u64,
}

/// The outcome of a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conditional {
    /// Written; the new token.
    Written { seq_no: u64, primary_term: u64 },
    /// Someone else wrote first (409).
    Conflict,
}

impl SearchClient {
    /// Reads a document in real time; `None` when it (or its index) does not exist.
    pub async fn get_doc(&self, index: &str, id: &str) -> Result<Option<Versioned>, SinkError> {
        let op = format!("read {index}/{id}");
        let (status, bytes) = self
            .raw_retrying(&op, Method::GET, &format!("/{index}/_doc/{id}"), None)
            .await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(status_error(&op, status.as_u16(), &bytes));
        }
        let answer = decode(&op, &bytes)?;
        if answer.get("found").and_then(Value::as_bool) == Some(false) {
            return Ok(None);
        }
        Ok(Some(Versioned {
            source: answer.get("_source").cloned().unwrap_or(Value::Null),
            seq_no: answer["_seq_no"].as_u64().unwrap_or_default(),
            primary_term: answer["_primary_term"].as_u64().unwrap_or_default(),
        }))
    }

    /// Writes a document: only if absent (`guard` = `None`), or only if unchanged since `guard`.
    pub async fn write_doc_if(
        &self,
        index: &str,
        id: &str,
        body: &Value,
        guard: Option<(u64, u64)>,
    ) -> Result<Conditional, SinkError> {
        let path = match guard {
            None => format!("/{index}/_doc/{id}?op_type=create&refresh=wait_for"),
            Some((seq_no, term)) => {
                format!(
                    "/{index}/_doc/{id}?if_seq_no={seq_no}&if_primary_term={term}&refresh=wait_for"
                )
            }
        };
        let op = format!("write {index}/{id}");
        let bytes = body.to_string().into_bytes();
        let (status, answer) = self
            .raw_retrying(&op, Method::PUT, &path, Some(bytes))
            .await?;
        if status == StatusCode::CONFLICT {
            return Ok(Conditional::Conflict);
        }
        if !status.is_success() {
            return Err(status_error(&op, status.as_u16(), &answer));
        }
        let answer = decode(&op, &answer)?;
        Ok(Conditional::Written {
            seq_no: answer["_seq_no"].as_u64().unwrap_or_default(),
            primary_term: answer["_primary_term"].as_u64().unwrap_or_default(),
        })
    }

    /// Writes a document unconditionally (retrying transient failures: it is idempotent).
    pub async fn put_doc(&self, index: &str, id: &str, body: &Value) -> Result<(), SinkError> {
        let op = format!("write {index}/{id}");
        self.call(
            &op,
            Method::PUT,
            &format!("/{index}/_doc/{id}?refresh=wait_for"),
            Some(body.clone()),
        )
        .await
        .map(drop)
    }

    /// Deletes a document if unchanged since `guard`; `false` on a conflict or when it is gone.
    pub async fn delete_doc_if(
        &self,
        index: &str,
        id: &str,
        guard: (u64, u64),
    ) -> Result<bool, SinkError> {
        let op = format!("delete {index}/{id}");
        let path = format!(
            "/{index}/_doc/{id}?if_seq_no={}&if_primary_term={}&refresh=wait_for",
            guard.0, guard.1
        );
        let (status, bytes) = self.raw_retrying(&op, Method::DELETE, &path, None).await?;
        match status {
            StatusCode::CONFLICT | StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => Ok(true),
            s => Err(status_error(&op, s.as_u16(), &bytes)),
        }
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

    /// Creates an index unless it exists.
    pub async fn ensure_index(&self, name: &str, definition: &Value) -> Result<(), SinkError> {
        match self.create_index(name, definition).await {
            Err(error) if error.already_exists() => Ok(()),
            other => other,
        }
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

fn decode(op: &str, bytes: &[u8]) -> Result<Value, SinkError> {
    serde_json::from_slice(bytes).map_err(|e| SinkError::Decode {
        op: op.to_owned(),
        reason: format!("{e}; body starts {:?}", snippet(bytes)),
    })
}

/// The first characters of a body, for error messages; an HTML page (a proxy's or a load
/// balancer's error page) is told by its title or text, never quoted as markup.
pub(crate) fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    let text = text.trim();
    if !text.starts_with('<') {
        return text.chars().take(300).collect();
    }
    let lower = text.to_ascii_lowercase();
    let title = lower
        .find("<title>")
        .and_then(|start| {
            let from = start + "<title>".len();
            lower[from..]
                .find("</title>")
                .map(|end| &text[from..from + end])
        })
        .map(str::to_owned);
    let words = title.unwrap_or_else(|| {
        let mut plain = String::new();
        let mut in_tag = false;
        for c in text.chars() {
            match c {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    plain.push(' ');
                }
                _ if !in_tag => plain.push(c),
                _ => {}
            }
        }
        plain
    });
    let words: Vec<&str> = words.split_whitespace().collect();
    let words: String = words.join(" ").chars().take(120).collect();
    if words.is_empty() {
        "an HTML page".to_owned()
    } else {
        format!("an HTML page ({words})")
    }
}

/// Turns an error answer into a message: the cluster's `error.type: error.reason` when it sent
/// one, else the start of the body.
fn status_error(op: &str, status: u16, bytes: &[u8]) -> SinkError {
    let error_type = serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v["error"]["type"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let reason = serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| {
            let error = v.get("error")?;
            match error {
                Value::String(s) => Some(s.clone()),
                _ => Some(format!(
                    "{}: {}",
                    error.get("type").and_then(Value::as_str).unwrap_or("error"),
                    error.get("reason").and_then(Value::as_str).unwrap_or("")
                )),
            }
        })
        .unwrap_or_else(|| snippet(bytes));
    SinkError::Status {
        op: op.to_owned(),
        status,
        reason,
        error_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_name_the_operation_status_and_cluster_reason() {
        let body = br#"{"error":{"type":"resource_already_exists_exception","reason":"index [x] already exists"},"status":400}"#;
        let err = status_error("create index x", 400, body);
        assert_eq!(
            err.to_string(),
            "create index x: the search cluster answered 400: resource_already_exists_exception: index [x] already exists"
        );
        assert!(!err.is_retriable());
        let html = status_error("bulk", 503, b"<html>Service Unavailable</html>");
        assert!(
            html.to_string()
                .ends_with("answered 503: an HTML page (Service Unavailable)"),
            "{html}"
        );
        assert!(html.is_retriable());
        let titled = snippet(
            b"<!DOCTYPE html>\n<html><head><TITLE>502 Bad Gateway</TITLE></head><body><h1>502</h1></body></html>",
        );
        assert_eq!(titled, "an HTML page (502 Bad Gateway)");
        assert_eq!(snippet(b"  plain text  "), "plain text");
    }
}
