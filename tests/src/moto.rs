//! A real S3 API for the tests: moto's server from the project's pinned tool venv
//! (`scripts/tools`), started once per test process on a free loopback port. Like the other
//! services it dies with the test process: the shell that starts it holds a pipe from us on its
//! stdin and stops moto's whole process group when the pipe closes.

use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, bail};
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

use crate::harness::{free_port, repo_root, wait_until};

/// The moto server shared by this test process.
pub struct Moto {
    pub url: String,
    _server: Child,
}

/// The server, started on first use. A failed start fails the test that needed it.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| match start() {
        Ok(moto) => moto,
        Err(error) => panic!("cannot start moto: {error:#}"),
    })
}

fn start() -> anyhow::Result<Moto> {
    let output = Command::new(repo_root().join("scripts/tools"))
        .arg("bin")
        .stderr(Stdio::inherit())
        .output()
        .context("running scripts/tools bin")?;
    if !output.status.success() {
        bail!("scripts/tools could not install moto: {}", output.status);
    }
    let server =
        std::path::Path::new(String::from_utf8_lossy(&output.stdout).trim()).join("moto_server");
    let port = free_port()?;
    let script = r#"setsid "$1" -H 127.0.0.1 -p "$2" >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill -TERM -- -"$pid" 2>/dev/null || kill -TERM "$pid""#;
    let child = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(&server)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", server.display()))?;
    wait_until("moto", Duration::from_secs(60), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })?;
    Ok(Moto {
        url: format!("http://127.0.0.1:{port}"),
        _server: child,
    })
}

impl Moto {
    /// An S3 client for this server.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(Region::new("eu-west-2"))
            .force_path_style(true)
            .credentials_provider(Credentials::new("local", "local", None, None, "tests"))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Creates a bucket of its own for one test; returns its name.
    pub async fn bucket(&self, label: &str) -> String {
        let name = format!("t{}-{label}", std::process::id());
        let created = self
            .s3()
            .create_bucket()
            .bucket(&name)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest2)
                    .build(),
            )
            .send()
            .await;
        if let Err(error) = created {
            panic!(
                "cannot create bucket {name}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&error)
            );
        }
        name
    }

    /// Every object under `prefix` in `bucket`, as (key, body), sorted by key.
    pub async fn objects(&self, bucket: &str, prefix: &str) -> Vec<(String, String)> {
        let s3 = self.s3();
        let listed = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await;
        let listed = match listed {
            Ok(listed) => listed,
            Err(error) => panic!(
                "cannot list {bucket}/{prefix}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&error)
            ),
        };
        let mut objects = Vec::new();
        for object in listed.contents() {
            let key = object.key().unwrap_or_default().to_owned();
            let body = match s3.get_object().bucket(bucket).key(&key).send().await {
                Ok(got) => got.body.collect().await.map(|b| b.into_bytes()),
                Err(error) => panic!(
                    "cannot get {key}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&error)
                ),
            };
            let body = body.map(|b| String::from_utf8_lossy(&b).to_string());
            objects.push((key, body.unwrap_or_default()));
        }
        objects.sort();
        objects
    }

    /// How an object is encrypted: its server-side encryption and KMS key id, as S3 reports them.
    pub async fn encryption(&self, bucket: &str, key: &str) -> (Option<String>, Option<String>) {
        match self.s3().head_object().bucket(bucket).key(key).send().await {
            Ok(head) => (
                head.server_side_encryption().map(|e| e.as_str().to_owned()),
                head.ssekms_key_id().map(str::to_owned),
            ),
            Err(error) => panic!(
                "cannot head {key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&error)
            ),
        }
    }

    /// Environment for an indexer writing dead letters to this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![("AWS_ENDPOINT_URL_S3", self.url.clone())]
    }
}
