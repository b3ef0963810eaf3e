//! Local stand-ins for AWS in the launcher's tests: moto's ECS and EC2 from the project's pinned
//! tool venv (`scripts/tools`), and osmem-server as the search cluster (`scripts/services`);
//! cargo-lambda's emulator is in `watch.rs`.
//!
//! One moto server serves the whole test process, on a free loopback port; each test makes its
//! own cluster, task definition and security group in it ([`World`]), so tests run in parallel.
//! Every server is started by a shell that holds a pipe from us on its stdin and stops the
//! server (its whole process group, for cargo-lambda) when the pipe closes: at the end of a test,
//! or when the test process exits, however it exits.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, LogConfiguration, LogDriver, NetworkMode,
};
use launcher::event::EventRules;
use launcher::hosts::AllowedHosts;
use launcher::tuning::Tuning;
use launcher::{Launcher, LauncherConfig, SdkEcs};

pub const REGION: &str = "eu-west-2";

/// The console's Test event, byte for byte.
pub const CONSOLE_EVENT: &str = include_str!("../fixtures/console-event.json");

/// The hosts the tests' launchers allow: the fixtures' domain, and loopback for osmem.
pub const ALLOWED_HOSTS: &str = "search-x.eu-west-2.es.amazonaws.com,127.0.0.1";

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The bin directory of the tool venv, installed on first use. A failed install fails the test
/// that needed it, saying why: nothing is skipped.
pub fn tools_bin() -> &'static Path {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let bin = BIN.get_or_init(|| {
        let output = Command::new(repo_root().join("scripts/tools"))
            .arg("bin")
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run scripts/tools: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "scripts/tools could not install moto and cargo-lambda ({}); see its output above",
                output.status
            ));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        Ok(PathBuf::from(text.trim()))
    });
    match bin {
        Ok(path) => path,
        Err(why) => panic!("{why}"),
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn wait_for_port(what: &str, port: u16, deadline: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{what} did not listen on port {port} within {deadline:?}")
}

/// A server run by `sh`, stopped when this is dropped (or when the test process exits).
pub struct Supervised {
    child: Child,
}

impl Supervised {
    /// Runs `server` (a shell command line using `$1`, `$2`, … from `args`) in a session of its
    /// own, and stops that whole process group when our pipe to the shell's stdin closes.
    pub fn spawn(
        server: &str,
        args: &[&str],
        envs: &[(&str, String)],
    ) -> anyhow::Result<Supervised> {
        let full = format!(
            "setsid sh -c '{server}' sh \"$@\" &\npid=$!\ncat >/dev/null\nenv kill -TERM -- -\"$pid\" 2>/dev/null || kill -TERM \"$pid\"\nwait"
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(full)
            .arg("sh")
            .args(args)
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting sh")?;
        Ok(Supervised { child })
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The moto server shared by this test process.
pub struct Moto {
    pub url: String,
    _server: Supervised,
}

pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| match start_moto() {
        Ok(moto) => moto,
        Err(error) => panic!("cannot start moto: {error:#}"),
    })
}

fn start_moto() -> anyhow::Result<Moto> {
    let server = tools_bin().join("moto_server");
    let port = free_port()?;
    let supervised = Supervised::spawn(
        r#"exec "$1" -H 127.0.0.1 -p "$2" >/dev/null 2>&1"#,
        &[&server.to_string_lossy(), &port.to_string()],
        &[],
    )?;
    wait_for_port("moto", port, Duration::from_secs(60))?;
    Ok(Moto {
        url: format!("http://127.0.0.1:{port}"),
        _server: supervised,
    })
}

/// The osmem-server (the local OpenSearch stand-in) shared by this test process, started from
/// the binary `scripts/services` fetched and cached; its URL.
pub fn osmem() -> &'static str {
    static OSMEM: OnceLock<(String, Supervised)> = OnceLock::new();
    let (url, _) = OSMEM.get_or_init(|| match start_osmem() {
        Ok(osmem) => osmem,
        Err(error) => panic!("cannot start osmem-server: {error:#}"),
    });
    url
}

fn start_osmem() -> anyhow::Result<(String, Supervised)> {
    let output = Command::new(repo_root().join("scripts/services"))
        .arg("paths")
        .stderr(Stdio::inherit())
        .output()
        .context("running scripts/services paths")?;
    if !output.status.success() {
        bail!("scripts/services paths failed: {}", output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let bin = text
        .lines()
        .find_map(|line| line.strip_prefix("OSMEM_BIN="))
        .context("scripts/services paths printed no OSMEM_BIN")?
        .to_owned();
    let port = free_port()?;
    let supervised = Supervised::spawn(
        r#"exec "$1" -addr "127.0.0.1:$2" -no-stdin-watch >/dev/null 2>&1"#,
        &[&bin, &port.to_string()],
        &[],
    )?;
    wait_for_port("osmem-server", port, Duration::from_secs(60))?;
    Ok((format!("http://127.0.0.1:{port}"), supervised))
}

/// Fake credentials and the region, for anything talking to moto.
pub fn aws_env(moto: &Moto) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL_ECS", moto.url.clone()),
        ("AWS_REGION", REGION.into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

pub fn ecs_client(moto: &Moto) -> aws_sdk_ecs::Client {
    let config = aws_sdk_ecs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&moto.url)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .build();
    aws_sdk_ecs::Client::from_conf(config)
}

/// A name no other test in this run uses. It ends in a letter, so that no name is a prefix of
/// another (moto matches clusters by substring).
pub fn unique(label: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("l{}-{n}-{label}", std::process::id())
}

/// One test's ECS world in moto: a cluster, a Fargate task definition with a container-level
/// memory limit, a default-VPC subnet and a security group of its own.
pub struct World {
    pub name: String,
    pub config: LauncherConfig,
    pub ecs: aws_sdk_ecs::Client,
    pub task_definition_arn: String,
}

impl World {
    pub async fn create(label: &str) -> anyhow::Result<World> {
        let moto = moto();
        let name = unique(label);
        let ecs = ecs_client(moto);
        let cluster = format!("{name}-cluster");
        ecs.create_cluster()
            .cluster_name(&cluster)
            .send()
            .await
            .context("CreateCluster")?;
        let container = ContainerDefinition::builder()
            .name("indexer")
            .image("indexer:test")
            .memory(512)
            .essential(true)
            .log_configuration(
                LogConfiguration::builder()
                    .log_driver(LogDriver::Awslogs)
                    .options("awslogs-group", format!("/ecs/{name}"))
                    .options("awslogs-region", REGION)
                    .options("awslogs-stream-prefix", "indexer")
                    .build()
                    .context("log configuration")?,
            )
            .build();
        let registered = ecs
            .register_task_definition()
            .family(format!("{name}-worker"))
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .container_definitions(container)
            .send()
            .await
            .context("RegisterTaskDefinition")?;
        let task_definition_arn = registered
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .context("no task definition ARN")?
            .to_owned();

        let subnets = ec2(
            moto,
            &[
                ("Action", "DescribeSubnets"),
                ("Filter.1.Name", "default-for-az"),
                ("Filter.1.Value.1", "true"),
            ],
        )
        .await?;
        let subnet = xml_values(&subnets, "subnetId")
            .into_iter()
            .next()
            .context("moto has no default-VPC subnet")?;
        let group_name = format!("{name}-sg");
        let group = ec2(
            moto,
            &[
                ("Action", "CreateSecurityGroup"),
                ("GroupName", &group_name),
                ("GroupDescription", "launcher tests"),
            ],
        )
        .await?;
        let security_group = xml_values(&group, "groupId")
            .into_iter()
            .next()
            .with_context(|| format!("CreateSecurityGroup answered {group}"))?;

        let config = LauncherConfig {
            cluster,
            task_definition: format!("{name}-worker"),
            container_name: "indexer".into(),
            subnets: vec![subnet],
            security_groups: vec![security_group],
            assign_public_ip: false,
            log_group: format!("/ecs/{name}"),
            log_stream_prefix: "indexer".into(),
            rebuilds_on_spot: false,
            rules: EventRules {
                allowed_hosts: AllowedHosts::parse(ALLOWED_HOSTS).map_err(anyhow::Error::msg)?,
                defaults: Tuning::default(),
                max_stop_timeout: 110,
            },
        };
        Ok(World {
            name,
            config,
            ecs,
            task_definition_arn,
        })
    }

    /// A launcher for this world, talking to moto through the SDK.
    pub fn launcher(&self) -> Launcher<SdkEcs> {
        Launcher::new(Ok(self.config.clone()), SdkEcs::new(self.ecs.clone()))
    }

    /// The launcher's environment as terraform would set it.
    pub fn launcher_env(&self) -> Vec<(&'static str, String)> {
        let c = &self.config;
        vec![
            ("CLUSTER", c.cluster.clone()),
            ("TASK_DEFINITION", c.task_definition.clone()),
            ("CONTAINER_NAME", c.container_name.clone()),
            ("SUBNETS", c.subnets.join(",")),
            ("SECURITY_GROUPS", c.security_groups.join(",")),
            ("LOG_GROUP", c.log_group.clone()),
            ("LOG_STREAM_PREFIX", c.log_stream_prefix.clone()),
            ("ALLOWED_HOSTS", ALLOWED_HOSTS.into()),
            (
                "MAX_STOP_TIMEOUT_SECS",
                c.rules.max_stop_timeout.to_string(),
            ),
        ]
    }
}

/// One EC2 query-API call to moto. The two calls the tests need do not justify building the
/// (very large) EC2 SDK crate; moto does not check signatures, only which service is named.
async fn ec2(moto: &Moto, params: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut body = String::from("Version=2016-11-15");
    for (key, value) in params {
        body.push('&');
        body.push_str(&form_encode(key));
        body.push('=');
        body.push_str(&form_encode(value));
    }
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/ec2/aws4_request, SignedHeaders=host, Signature=0"
    );
    let response = reqwest::Client::new()
        .post(format!("{}/", moto.url))
        .header("Authorization", auth)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .context("calling moto's EC2")?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("EC2 {params:?} answered {status}: {text}");
    }
    Ok(text)
}

fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The text of every `<tag>…</tag>` in an XML answer.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split(&close).next().map(str::to_owned))
        .collect()
}
