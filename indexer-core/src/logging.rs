//! Logs on stderr: human-readable on a terminal, JSON lines otherwise (CloudWatch). stdout is
//! reserved for the run's summary. `RUST_LOG` refines the level (default `info`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How logs are written: text on a terminal and JSON lines otherwise (`Auto`), or as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Auto,
    Json,
    Text,
}

/// Installs the global subscriber; call once, first thing. Returns whether logs are JSON lines.
pub fn init(format: LogFormat) -> bool {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
    if let Err(error) = result {
        eprintln!("indexer: logging was already initialised: {error}");
    }
    json
}

/// An error and its sources, joined: `error sending request: …: invalid peer certificate: …`.
pub fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}
