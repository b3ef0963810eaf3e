//! Real local services for tests: DynamoDB Local and osmem-server, fetched by `scripts/services`
//! and started once per test process on free loopback ports. Both die with the test process: each
//! holds a pipe from us on its stdin and exits when it closes (osmem by itself, DynamoDB Local
//! through the shell that started it), and osmem also watches our pid (`-parent-pid`).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_dynamodb::config::{Credentials, Region};
use serde_json::Value;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Running local services.
pub struct Services {
    pub dynamo_url: String,
    pub search_url: String,
    _children: Vec<Child>,
}

static SERVICES: OnceLock<Services> = OnceLock::new();

/// The services shared by every test in this process, started on first use.
pub fn services() -> &'static Services {
    SERVICES.get_or_init(|| match Services::start() {
        Ok(services) => services,
        Err(error) => panic!("cannot start the local services: {error:#}"),
    })
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn wait_until(
    what: &str,
    deadline: Duration,
    mut ready: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{what} did not become ready within {deadline:?}")
}

impl Services {
    /// Fetches (cached) and starts both services.
    pub fn start() -> anyhow::Result<Services> {
        let output = Command::new(repo_root().join("scripts/services"))
            .arg("paths")
            .stderr(Stdio::inherit())
            .output()
            .context("running scripts/services paths")?;
        if !output.status.success() {
            bail!("scripts/services paths failed: {}", output.status);
        }
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        let path = |key: &str| -> anyhow::Result<String> {
            text.lines()
                .find_map(|line| line.strip_prefix(&format!("{key}=")))
                .map(str::to_owned)
                .with_context(|| format!("scripts/services paths printed no {key}"))
        };
        let (jar, lib, osmem) = (
            path("DYNAMODB_LOCAL_JAR")?,
            path("DYNAMODB_LOCAL_LIB")?,
            path("OSMEM_BIN")?,
        );

        let mut osmem_child = Command::new(&osmem)
            .args([
                "-addr",
                "127.0.0.1:0",
                "-parent-pid",
                &std::process::id().to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {osmem}"))?;
        let stdout = osmem_child.stdout.take().context("osmem stdout")?;
        let mut reader = BufReader::new(stdout);
        let mut ready_line = String::new();
        reader
            .read_line(&mut ready_line)
            .context("reading osmem's ready line")?;
        // Keep draining its stdout: closing the pipe would kill it with SIGPIPE on its next line.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let ready: Value = serde_json::from_str(&ready_line)
            .with_context(|| format!("osmem said {ready_line:?}"))?;
        let search_url = ready["url"]
            .as_str()
            .context("osmem ready line has no url")?
            .to_owned();

        let port = free_port()?;
        let script = format!(
            "DDB_LOCAL_TELEMETRY=0 java -Xmx512m -Djava.library.path='{lib}' -jar '{jar}' -inMemory -sharedDb -disableTelemetry -port {port} >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid"
        );
        let dynamo_child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting DynamoDB Local")?;
        let dynamo_url = format!("http://127.0.0.1:{port}");
        wait_until("DynamoDB Local", Duration::from_secs(60), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })?;
        Ok(Services {
            dynamo_url,
            search_url,
            _children: vec![osmem_child, dynamo_child],
        })
    }

    /// A DynamoDB client for the local endpoint.
    pub fn dynamo(&self) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .endpoint_url(&self.dynamo_url)
            .region(Region::new("eu-west-2"))
            .credentials_provider(Credentials::new("local", "local", None, None, "tests"))
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// Environment for a child process talking to these services.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_DYNAMODB", self.dynamo_url.clone()),
            ("AWS_REGION", "eu-west-2".into()),
            ("AWS_ACCESS_KEY_ID", "local".into()),
            ("AWS_SECRET_ACCESS_KEY", "local".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }
}
