//! `indexer`: parse the command line, start logging, run, print the summary, exit with its code.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use indexer_core::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    indexer_core::logging::init(cli.log_format);
    let (summary, code) = cli::run(cli).await;
    let printed = serde_json::to_string(&summary)
        .map_err(std::io::Error::other)
        .and_then(|line| writeln!(std::io::stdout().lock(), "{line}"));
    if let Err(error) = printed {
        eprintln!("indexer: cannot print the summary: {error}");
        return ExitCode::from(1);
    }
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
