//! A fault-injecting HTTP proxy in front of the real search server.
//!
//! osmem never answers 429, never fails a request and never refuses an item it can parse, so the
//! retry and dead-letter paths are exercised through this proxy: it forwards every request to the
//! upstream server, except that, following a [`FaultPlan`], it answers chosen `_bulk` requests
//! with an error status, resets the connection of others, and rewrites chosen items of a bulk
//! request into per-item failures (those items are not forwarded, so the upstream index holds
//! exactly what the proxy reported as indexed; `delete` actions, which have no source line, pass
//! through). [`Rule`]s fault any other request the indexer makes — index create and delete,
//! settings, refresh, count, `_aliases`, lock and job-record writes — including the fault no real
//! server shows: the request is **forwarded and applied, then its answer dropped**. It speaks just
//! enough HTTP/1.1 for the indexer: `Content-Length` bodies and keep-alive.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::http1::{Request, read_request, write_response};

mod plan;

pub use plan::{Fault, FaultPlan, Matcher, RequestFault, Rule, Seen};

struct State {
    plan: FaultPlan,
    seen: Seen,
    /// Matching requests seen per rule.
    rule_counts: Vec<u32>,
}

impl State {
    /// The fault of the first rule that fires for this request, counting it.
    fn rule_fault(&mut self, request: &Request) -> Option<Fault> {
        let mut fired = None;
        for (i, rule) in self.plan.rules.iter().enumerate() {
            if request.body.len() < rule.min_body || !(rule.matches)(request) {
                continue;
            }
            self.rule_counts[i] += 1;
            let n = self.rule_counts[i];
            if fired.is_none() && (n == rule.nth || (rule.repeat && n > rule.nth)) {
                self.seen.rule_hits[i] += 1;
                fired = Some(rule.fault);
            }
        }
        fired
    }
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    pub url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    pub async fn start(upstream: &str, plan: FaultPlan) -> anyhow::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let rules = plan.rules.len();
        let state = Arc::new(Mutex::new(State {
            plan,
            seen: Seen {
                rule_hits: vec![0; rules],
                ..Seen::default()
            },
            rule_counts: vec![0; rules],
        }));
        let upstream = upstream.trim_end_matches('/').to_owned();
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(serve(
                    stream,
                    upstream.clone(),
                    http.clone(),
                    Arc::clone(&shared),
                ));
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(FaultProxy { url, state, task })
    }

    /// A proxy that passes everything through, pausing `delay` before answering each `_bulk`
    /// request, so a run lasts long enough to interrupt.
    pub async fn slowed(upstream: &str, delay: std::time::Duration) -> FaultProxy {
        let plan = FaultPlan {
            bulk_delay: delay,
            ..FaultPlan::default()
        };
        match FaultProxy::start(upstream, plan).await {
            Ok(proxy) => proxy,
            Err(error) => panic!("cannot start the fault proxy: {error}"),
        }
    }

    pub fn seen(&self) -> Seen {
        self.state
            .lock()
            .map(|s| s.seen.clone())
            .unwrap_or_default()
    }
}

async fn serve(
    stream: TcpStream,
    upstream: String,
    http: reqwest::Client,
    state: Arc<Mutex<State>>,
) {
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader).await {
        if let Ok(mut state) = state.lock() {
            state.seen.requests += 1;
            state.seen.authorizations.push(
                request
                    .header("authorization")
                    .unwrap_or_default()
                    .to_owned(),
            );
            if request.method == "POST" && request.path() == "/_aliases" {
                state.seen.alias_updates += 1;
            }
        }
        let is_bulk = request.path().ends_with("/_bulk");
        let mut ruled = state.lock().ok().and_then(|mut s| s.rule_fault(&request));
        if ruled == Some(Fault::Held) {
            let release = state.lock().ok().and_then(|s| s.plan.release.clone());
            if let Some(release) = release {
                match release.acquire().await {
                    Ok(permit) => permit.forget(),
                    Err(_) => return,
                }
            }
            ruled = None;
        }
        match ruled {
            Some(Fault::Status(status)) => {
                let body = json!({"error": {"type": "injected", "reason": format!("injected {status}")}, "status": status});
                if write_response(&mut reader, status, body.to_string().as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            Some(Fault::Reset) => {
                let stream = reader.into_inner();
                let _ = stream.set_zero_linger();
                return;
            }
            Some(Fault::Hang) => {
                let mut rest = Vec::new();
                let _ = reader.read_to_end(&mut rest).await;
                return;
            }
            Some(Fault::EmptyRecords) => {
                let asked: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                let body = json!({"Records": [], "NextShardIterator": asked["ShardIterator"]});
                if write_response(&mut reader, 200, body.to_string().as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            Some(Fault::Answer(status, body)) => {
                if write_response(&mut reader, status, body.as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            Some(Fault::Unprocessed) => {
                let asked: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                let body = json!({"Responses": {}, "UnprocessedKeys": asked["RequestItems"]});
                if write_response(&mut reader, 200, body.to_string().as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            Some(fault @ (Fault::DropAnswer | Fault::ApplyThenHang)) => {
                if is_bulk {
                    let _ = bulk_with_item_faults(&request, &upstream, &http, &state).await;
                } else {
                    let _ = forward_all(&http, &upstream, &request).await;
                }
                if fault == Fault::ApplyThenHang {
                    let mut rest = Vec::new();
                    let _ = reader.read_to_end(&mut rest).await;
                    return;
                }
                let stream = reader.into_inner();
                let _ = stream.set_zero_linger();
                return;
            }
            None | Some(Fault::Held) => {}
        }
        if is_bulk {
            let fault = {
                let Ok(mut state) = state.lock() else { return };
                state.seen.bulk_requests += 1;
                let n = state.seen.bulk_requests as usize;
                let fault = state.plan.bulk_requests.get(n - 1).copied().flatten();
                match fault {
                    Some(RequestFault::Status(_) | RequestFault::Garbage(..)) => {
                        state.seen.injected_statuses += 1
                    }
                    Some(RequestFault::Reset) => state.seen.resets += 1,
                    Some(RequestFault::Hang) => state.seen.hangs += 1,
                    None => {}
                }
                (fault, state.plan.bulk_delay, state.plan.bulk_gate.clone())
            };
            let (fault, delay, gate) = fault;
            tokio::time::sleep(delay).await;
            if let Some(gate) = gate {
                match gate.acquire().await {
                    Ok(permit) => permit.forget(),
                    Err(_) => return,
                }
            }
            match fault {
                Some(RequestFault::Reset) => {
                    let stream = reader.into_inner();
                    let _ = stream.set_zero_linger();
                    drop(stream);
                    return;
                }
                Some(RequestFault::Hang) => {
                    // Wait for the client to give up: reading returns once it closes the socket.
                    let mut rest = Vec::new();
                    let _ = reader.read_to_end(&mut rest).await;
                    return;
                }
                Some(RequestFault::Garbage(status, body)) => {
                    if write_response(&mut reader, status, body.as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                    continue;
                }
                Some(RequestFault::Status(status)) => {
                    let body = json!({"error": {"type": "injected", "reason": format!("injected {status}")}, "status": status});
                    if write_response(&mut reader, status, body.to_string().as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                    continue;
                }
                None => {}
            }
            let (status, body) = bulk_with_item_faults(&request, &upstream, &http, &state).await;
            if write_response(&mut reader, status, &body).await.is_err() {
                return;
            }
            continue;
        }
        let (status, body) = forward_all(&http, &upstream, &request).await;
        if write_response(&mut reader, status, &body).await.is_err() {
            return;
        }
    }
}

/// Sends a request on to the upstream server with all its headers (an AWS API needs its
/// `X-Amz-Target` and signature); a transport failure becomes a 502.
async fn forward_all(http: &reqwest::Client, upstream: &str, request: &Request) -> (u16, Vec<u8>) {
    let method =
        reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut outgoing = http.request(method, format!("{upstream}{}", request.target));
    for (name, value) in &request.headers {
        let skip = ["host", "content-length", "connection", "transfer-encoding"];
        if !skip.contains(&name.to_ascii_lowercase().as_str()) {
            outgoing = outgoing.header(name.as_str(), value.as_str());
        }
    }
    match outgoing.body(request.body.clone()).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response
                .bytes()
                .await
                .map(|b| b.to_vec())
                .unwrap_or_default();
            (status, body)
        }
        Err(error) => (
            502,
            json!({"error": {"type": "proxy", "reason": error.to_string()}})
                .to_string()
                .into_bytes(),
        ),
    }
}

/// Sends a request on to the upstream server; a transport failure becomes a 502.
pub(crate) async fn forward(
    http: &reqwest::Client,
    upstream: &str,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut request = http.request(method, format!("{upstream}{path}"));
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    match request.body(body).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (
                status,
                response
                    .bytes()
                    .await
                    .map(|b| b.to_vec())
                    .unwrap_or_default(),
            )
        }
        Err(error) => (
            502,
            json!({"error": {"type": "proxy", "reason": error.to_string()}})
                .to_string()
                .into_bytes(),
        ),
    }
}

/// Forwards the items that pass and synthesizes failures for the others, answering in order.
async fn bulk_with_item_faults(
    request: &Request,
    upstream: &str,
    http: &reqwest::Client,
    state: &Arc<Mutex<State>>,
) -> (u16, Vec<u8>) {
    let text = String::from_utf8_lossy(&request.body).to_string();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut forwarded = String::new();
    // For each item: None = forwarded (take the next upstream answer), Some = synthesized.
    let mut plan: Vec<Option<Value>> = Vec::new();
    {
        let Ok(mut state) = state.lock() else {
            return (500, Vec::new());
        };
        // Each item is an action line, followed by a source line unless it is a delete.
        let mut items: Vec<&[&str]> = Vec::new();
        let mut at = 0;
        while at < lines.len() {
            let action: Value = serde_json::from_str(lines[at]).unwrap_or(Value::Null);
            let len = if action.get("delete").is_some() { 1 } else { 2 };
            let end = (at + len).min(lines.len());
            items.push(&lines[at..end]);
            at = end;
        }
        for pair in items {
            let action: Value = serde_json::from_str(pair[0]).unwrap_or(Value::Null);
            let meta = action
                .as_object()
                .and_then(|o| o.values().next())
                .cloned()
                .unwrap_or(Value::Null);
            let id = meta["_id"].as_str().unwrap_or_default().to_owned();
            let index = meta["_index"].clone();
            let injected = if state.plan.always_reject.contains(&id) {
                Some(400)
            } else {
                state
                    .plan
                    .items
                    .get_mut(&id)
                    .and_then(|queue| (!queue.is_empty()).then(|| queue.remove(0)))
            };
            match injected {
                Some(status) => {
                    state.seen.injected_items += 1;
                    let error_type = if status == 400 {
                        "mapper_parsing_exception"
                    } else {
                        "es_rejected_execution_exception"
                    };
                    plan.push(Some(json!({"index": {"_index": index, "_id": id, "status": status,
                        "error": {"type": error_type, "reason": format!("injected {status} for {id}")}}})));
                }
                None => {
                    plan.push(None);
                    for line in pair {
                        forwarded.push_str(line);
                        forwarded.push('\n');
                    }
                }
            }
        }
    }
    let mut upstream_items = Vec::new().into_iter();
    if !forwarded.is_empty() {
        let (status, body) = forward(
            http,
            upstream,
            "POST",
            &request.target,
            Some("application/x-ndjson"),
            forwarded.into_bytes(),
        )
        .await;
        if status != 200 {
            return (status, body);
        }
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        upstream_items = answer["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter();
    }
    let items: Vec<Value> = plan
        .into_iter()
        .map(|slot| slot.unwrap_or_else(|| upstream_items.next().unwrap_or(Value::Null)))
        .collect();
    let errors = items.iter().any(|item| {
        item.as_object()
            .and_then(|o| o.values().next())
            .and_then(|meta| meta["status"].as_u64())
            .is_some_and(|s| s >= 300)
    });
    (
        200,
        json!({"took": 1, "errors": errors, "items": items})
            .to_string()
            .into_bytes(),
    )
}
