//! The indexer on a real pseudo-terminal, as a person runs it.

use std::process::Stdio;

use crate::harness::{indexer_binary, services};

/// Starts the indexer with `args` on a real pseudo-terminal (`script`): its logs and progress
/// bar are what a person sees on stdout, and Ctrl-C is the byte 0x03 written to stdin (the
/// terminal turns it into SIGINT for its foreground process group).
pub fn on_terminal(args: &[&str]) -> tokio::process::Child {
    let quoted: Vec<String> = std::iter::once(indexer_binary().display().to_string())
        .chain(args.iter().map(|a| (*a).to_owned()))
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let mut command = tokio::process::Command::new("script");
    command
        // `exec`: whatever shell `script` starts (bash, dash…) is replaced by the indexer, so the
        // terminal's SIGINT reaches the indexer alone.
        .args(["-qfec", &format!("exec {}", quoted.join(" ")), "/dev/null"])
        .env_remove("LOG_FORMAT")
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for (key, value) in services().env() {
        command.env(key, value);
    }
    match command.spawn() {
        Ok(child) => child,
        Err(error) => panic!("cannot run script: {error}"),
    }
}
