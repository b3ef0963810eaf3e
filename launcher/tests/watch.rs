//! `cargo lambda watch` serving the launcher for the tests, configured for a [`World`], and
//! `cargo lambda invoke` against it.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::harness::{
    Supervised, World, aws_env, free_port, moto, repo_root, tools_bin, wait_for_port,
};

/// The build directory this test binary lives in (`<target>/debug/deps/…` → `<target>`).
pub fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| repo_root().join("target"))
}

/// Runs a command to completion, killing it if it outlives `deadline`.
pub fn run_with_deadline(command: &mut Command, deadline: Duration) -> anyhow::Result<Output> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    let (mut stdout, mut stderr) = (
        child.stdout.take().context("stdout")?,
        child.stderr.take().context("stderr")?,
    );
    let out = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{command:?} did not finish within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    Ok(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// `cargo lambda watch` serving the launcher, configured for a [`World`]. It builds the function
/// on the first invocation, into its own build directory (`<target>/cargo-lambda`) so it never
/// waits on, or invalidates, the build that runs these tests.
pub struct Watch {
    pub port: u16,
    pub log: PathBuf,
    env_file: PathBuf,
    _server: Supervised,
}

impl Drop for Watch {
    /// Keeps the log of a failed test for a look; removes the files of a passing one.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.env_file);
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

impl Watch {
    pub fn start(world: &World) -> anyhow::Result<Watch> {
        let bin = tools_bin();
        let build_dir = target_dir().join("cargo-lambda");
        std::fs::create_dir_all(&build_dir)?;
        let env_file = build_dir.join(format!("{}.env", world.name));
        let mut lines = String::new();
        for (key, value) in world.launcher_env().into_iter().chain(aws_env(moto())) {
            lines.push_str(&format!("{key}={value}\n"));
        }
        std::fs::File::create(&env_file)?.write_all(lines.as_bytes())?;
        let log = build_dir.join(format!("{}.log", world.name));
        let port = free_port()?;
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let server = Supervised::spawn(
            r#"cd "$1" && exec cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$2" --ignore-changes --locked --env-file "$3" >"$4" 2>&1"#,
            &[
                &repo_root().join("launcher").to_string_lossy(),
                &port.to_string(),
                &env_file.to_string_lossy(),
                &log.to_string_lossy(),
            ],
            &[
                ("PATH", path),
                ("CARGO_TARGET_DIR", build_dir.to_string_lossy().into_owned()),
                // Only this build's speed matters here, not its debugger support.
                ("CARGO_PROFILE_DEV_DEBUG", "false".into()),
                ("CARGO_TERM_COLOR", "never".into()),
            ],
        )?;
        let watch = Watch {
            port,
            log,
            env_file,
            _server: server,
        };
        wait_for_port("cargo lambda watch", port, Duration::from_secs(60))
            .with_context(|| watch.log_tail())?;
        Ok(watch)
    }

    /// `cargo lambda invoke` with `payload`; the first call waits for the build.
    pub fn invoke(&self, payload: &str, deadline: Duration) -> anyhow::Result<Output> {
        let path = format!(
            "{}:{}",
            tools_bin().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new("cargo");
        command
            .args(["lambda", "invoke", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &self.port.to_string()])
            .args([
                "--data-ascii",
                payload,
                "--output-format",
                "json",
                "launcher",
            ])
            .env("PATH", path);
        run_with_deadline(&mut command, deadline).with_context(|| self.log_tail())
    }

    /// The end of the watch's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!("cargo lambda watch log ({}):\n{tail}", self.log.display())
    }
}
