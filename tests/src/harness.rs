//! What the end-to-end tests share: unique names, the indexer run as a process and its summary,
//! the search cluster seen from a test, seeding, and condition-based waits. The local services
//! themselves are started by [`crate::services`] (re-exported here).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use crate::services::{Services, free_port, repo_root, services, wait_until};

/// Names no other test in this run uses.
pub struct Names {
    pub table: String,
    pub alias: String,
}

/// Unique table and alias names for one test, e.g. `t4711n3Persons` / `t4711n3-persons`.
pub fn unique(entity_table: &str, alias: &str) -> Names {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    Names {
        table: format!("t{pid}n{n}{entity_table}"),
        alias: format!("t{pid}n{n}-{alias}"),
    }
}

/// A finished `indexer` run.
pub struct Run {
    pub code: i32,
    pub summary: Value,
    pub stdout: String,
    pub stderr: String,
}

/// Short enough for a failed assertion's message to survive a CI log's tail: the code, the
/// summary, and the last lines of the log (each cut to a few hundred characters).
impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const LINES: usize = 25;
        const WIDTH: usize = 400;
        let cut = |line: &str| -> String {
            match line.char_indices().nth(WIDTH) {
                Some((at, _)) => format!("{}…", &line[..at]),
                None => line.to_owned(),
            }
        };
        writeln!(f, "exit code {}; summary {}", self.code, self.summary)?;
        if self.summary.is_null() && !self.stdout.trim().is_empty() {
            writeln!(f, "stdout: {}", cut(self.stdout.trim()))?;
        }
        let lines: Vec<&str> = self.stderr.lines().collect();
        let skipped = lines.len().saturating_sub(LINES);
        writeln!(
            f,
            "stderr ({} lines, the last {}):",
            lines.len(),
            lines.len() - skipped
        )?;
        for line in &lines[skipped..] {
            writeln!(f, "  {}", cut(line))?;
        }
        Ok(())
    }
}

/// The `indexer` program built with this test binary: this crate's `indexer-under-test`, which
/// cargo builds beside the test executable (`target/<profile>/`, one level above `deps/`).
pub fn indexer_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CARGO_BIN_EXE_indexer-under-test") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let binary = profile_dir.join("indexer-under-test");
    assert!(
        binary.exists(),
        "{} is missing: run the tests with cargo test",
        binary.display()
    );
    binary
}

/// Runs the indexer built from this workspace with `args`, against the local services.
pub async fn indexer(args: &[&str]) -> Run {
    indexer_with_env(args, &[]).await
}

/// Like [`indexer`], with extra environment variables.
pub async fn indexer_with_env(args: &[&str], extra_env: &[(&str, &str)]) -> Run {
    let child = spawn_indexer(args, extra_env);
    finish(child, args).await
}

/// Starts the indexer without waiting for it (to signal or kill it mid-run).
pub fn spawn_indexer(args: &[&str], extra_env: &[(&str, &str)]) -> tokio::process::Child {
    match indexer_command(&[], args, extra_env).spawn() {
        Ok(child) => child,
        Err(error) => panic!("cannot run the indexer: {error}"),
    }
}

/// The command [`spawn_indexer`] runs, started through `wrapper` (a program and its arguments,
/// which then runs the indexer; empty: none), for a caller to adjust before spawning it.
pub fn indexer_command(
    wrapper: &[&str],
    args: &[&str],
    extra_env: &[(&str, &str)],
) -> tokio::process::Command {
    let services = services();
    let binary = indexer_binary();
    let mut command = match wrapper {
        [] => tokio::process::Command::new(&binary),
        [program, rest @ ..] => {
            let mut command = tokio::process::Command::new(program);
            command.args(rest).arg(&binary);
            command
        }
    };
    command
        .args(args)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info");
    for key in [
        "DYNAMO_TABLE",
        "DYNAMODB_TABLE",
        "INDEX_NAME",
        "ELASTICSEARCH_INDEX",
        "INDEX_NODE_HOST",
        "ELASTICSEARCH_HOST",
        "ENTITY",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "INDEX_USERNAME",
        "INDEX_PASSWORD",
        // The machine's own AWS identity must not reach a test.
        "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "INDEX_AUTH",
        "INDEX_REGION",
        "SIGV4_SERVICE",
        "INDEX_RESOLVE",
    ] {
        command.env_remove(key);
    }
    for (key, value) in services.env() {
        command.env(key, value);
    }
    for (key, value) in extra_env {
        command.env(key, value);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Waits (at most 300 s) for a spawned indexer and collects its output.
pub async fn finish(child: tokio::process::Child, args: &[&str]) -> Run {
    let output =
        match tokio::time::timeout(Duration::from_secs(300), child.wait_with_output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(error)) => panic!("cannot run the indexer: {error}"),
            Err(_) => panic!("the indexer did not finish within 300 s: {args:?}"),
        };
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let summary = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    Run {
        code: output.status.code().unwrap_or(-1),
        summary,
        stdout,
        stderr,
    }
}

/// A minimal client for checking the search cluster's state.
#[derive(Clone)]
pub struct Search {
    pub url: String,
    http: reqwest::Client,
}

impl Default for Search {
    fn default() -> Self {
        Search::new(&services().search_url)
    }
}

impl Search {
    pub fn new(url: &str) -> Search {
        Search {
            url: url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// Sends a request; returns the status and the JSON body (or `Null`).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => panic!("search request {path} failed: {error}"),
        };
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn count(&self, name: &str) -> u64 {
        let (status, body) = self
            .call(reqwest::Method::GET, &format!("/{name}/_count"), None)
            .await;
        assert_eq!(status, 200, "count {name}: {body}");
        body["count"].as_u64().unwrap_or_default()
    }

    /// The indexes an alias points at, sorted.
    pub async fn alias_targets(&self, alias: &str) -> Vec<String> {
        let (status, body) = self
            .call(reqwest::Method::GET, &format!("/_alias/{alias}"), None)
            .await;
        if status == 404 {
            return Vec::new();
        }
        let mut targets: Vec<String> = body
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        targets.sort();
        targets
    }

    /// A document's `_source`, if present.
    pub async fn source(&self, index: &str, id: &str) -> Option<Value> {
        let (status, body) = self
            .call(reqwest::Method::GET, &format!("/{index}/_doc/{id}"), None)
            .await;
        (status == 200).then(|| body["_source"].clone())
    }

    /// Physical indexes whose names start with `prefix`.
    pub async fn indexes(&self, prefix: &str) -> Vec<String> {
        let (_, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/_cat/indices/{prefix}*?format=json&h=index"),
                None,
            )
            .await;
        let mut names: Vec<String> = body
            .as_array()
            .map(|rows| {
                rows.iter()
                    .filter_map(|r| r["index"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// Creates a fresh table for `entity` holding sample items `0..count`; returns its names.
pub async fn seed(entity: &str, count: u64) -> Names {
    let names = unique(crate::fixtures::table_for(entity), entity);
    let client = services().dynamo();
    if let Err(error) = crate::fixtures::create_table(&client, &names.table, false).await {
        panic!("cannot create table {}: {error:#}", names.table);
    }
    put(
        &names.table,
        (0..count).map(|n| crate::fixtures::item_for(entity, n)),
    )
    .await;
    names
}

/// Writes items into a table.
pub async fn put(table: &str, items: impl Iterator<Item = crate::fixtures::Item>) {
    let client = services().dynamo();
    if let Err(error) = crate::fixtures::put_items(&client, table, items).await {
        panic!("cannot write items into {table}: {error:#}");
    }
}

/// The standard rebuild arguments for `names`, plus `extra`.
pub fn rebuild_args<'a>(
    names: &'a Names,
    entity: &'a str,
    host: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "rebuild",
        "--table",
        &names.table,
        "--index",
        &names.alias,
        "--host",
        host,
        "--entity",
        entity,
    ];
    args.extend_from_slice(extra);
    args
}

/// A dead-letter path for a test, outside the source tree.
pub fn dead_letter_path(names: &Names) -> String {
    std::env::temp_dir()
        .join(format!("{}.dead-letter.jsonl", names.alias))
        .display()
        .to_string()
}

/// The JSON lines of a dead-letter file (empty when it does not exist).
pub fn dead_letters(path: &str) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or(Value::Null))
        .collect()
}

/// Sends `signal` (`-TERM`, `-KILL`, …) to process `pid`, as an operator or ECS would.
pub fn signal(signal: &str, pid: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, pid])
        .status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "kill {signal} {pid} failed"
    );
}

/// The process id of worker `worker` in a job record (its `holder` is `host:pid`).
pub fn worker_pid(job: &Value, worker: u64) -> Option<String> {
    let state = job["worker_states"]
        .as_array()?
        .iter()
        .find(|s| s["worker"] == worker)?;
    Some(state["holder"].as_str()?.rsplit(':').next()?.to_owned())
}

/// Polls `probe` every 50 ms until it yields a value; panics after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Search {
    /// Runs an operator report (`status`, `jobs`) on `alias` of this cluster, as JSON.
    pub async fn report(&self, command: &str, alias: &str) -> Run {
        indexer(&[command, "--index", alias, "--host", &self.url, "--json"]).await
    }

    /// A document of the job status index (`lock:<alias>`, `job:<id>`, `latest:<alias>`).
    pub async fn job_doc(&self, id: &str) -> Option<Value> {
        self.source("indexer-jobs", id).await
    }

    /// The alias's latest job record.
    pub async fn latest_job(&self, alias: &str) -> Option<Value> {
        let pointer = self.job_doc(&format!("latest:{alias}")).await?;
        self.job_doc(&format!("job:{}", pointer["job_id"].as_str()?))
            .await
    }
}

/// A fresh table of `count` sample items of `entity`, rebuilt once into its alias; returns the
/// names, a search client and the physical index the alias now points at.
pub async fn rebuilt(entity: &str, count: u64) -> (Names, Search, String) {
    let names = seed(entity, count).await;
    let search = Search::default();
    let run = indexer(&rebuild_args(&names, entity, &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    let index = run.summary["new_index"]
        .as_str()
        .expect("a new index")
        .to_owned();
    (names, search, index)
}

/// Flags that make a rebuild slow and its job quick to notice: small pages and batches, one
/// request in flight, a heartbeat every second and a 3 s lease.
pub const SLOW: [&str; 12] = [
    "--batch-docs",
    "25",
    "--page-size",
    "25",
    "--concurrency",
    "1",
    "--heartbeat",
    "1",
    "--lease",
    "3",
    "--segments",
    "4",
];

/// Waits until the alias's running job has checkpointed at least `scanned` items; returns it.
pub async fn checkpointed(search: &Search, alias: &str, scanned: u64) -> Value {
    eventually("a checkpoint", Duration::from_secs(120), || async {
        let job = search.latest_job(alias).await?;
        let saved: u64 = job["checkpoints"]
            .as_array()?
            .iter()
            .filter_map(|c| c["scanned"].as_u64())
            .sum();
        (saved >= scanned).then_some(job)
    })
    .await
}

/// Runs `indexer verify` of `names` (persons) against `host` and asserts it finds no drift of
/// any kind and exits 0.
pub async fn assert_no_drift(names: &Names, host: &str) {
    let verify = indexer(&[
        "verify",
        "--table",
        &names.table,
        "--index",
        &names.alias,
        "--host",
        host,
        "--entity",
        "persons",
    ])
    .await;
    let drift = &verify.summary["drift"];
    for kind in ["missing", "extra", "stale", "unmappable"] {
        assert_eq!(drift[kind]["count"], 0, "{kind}: {}", verify.summary);
    }
    assert_eq!(verify.code, 0, "{verify:?}");
}
