//! `seed`: creates the Persons, TenureInformation and Assets tables (with an optional prefix) if
//! absent and fills them with the deterministic sample items of `indexer_tests::fixtures`.
//!
//! AWS settings follow AWS conventions (region, credentials chain, and
//! `AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local). stdout carries one JSON line per table:
//! `{"table": "Persons", "items": 1000, "seconds": 0.42}`.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use aws_config::BehaviorVersion;
use clap::Parser;
use indexer_tests::fixtures::{create_table, item_for, put_items, table_for};
use serde::Serialize;

/// Seeds DynamoDB with sample Persons, TenureInformation and Assets items.
#[derive(Debug, Parser)]
#[command(name = "seed", version)]
struct Args {
    /// Person items to write (items 0..N).
    #[arg(long, default_value_t = 1000, env = "SEED_PERSONS")]
    persons: u64,
    /// Tenure items to write.
    #[arg(long, default_value_t = 1000, env = "SEED_TENURES")]
    tenures: u64,
    /// Asset items to write.
    #[arg(long, default_value_t = 1000, env = "SEED_ASSETS")]
    assets: u64,
    /// Prefix of the table names (`{prefix}Persons`, …), so runs can share one DynamoDB.
    #[arg(long, default_value = "", env = "SEED_PREFIX")]
    prefix: String,
    /// Create new tables with a NEW_AND_OLD_IMAGES stream.
    #[arg(long, env = "SEED_STREAM")]
    stream: bool,
}

#[tokio::main]
#[allow(clippy::print_stdout)]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let counts = [
        ("persons", args.persons),
        ("tenures", args.tenures),
        ("assets", args.assets),
    ];
    for (entity, count) in counts {
        match seed(&client, &args, entity, count).await {
            Ok(line) => println!("{line}"),
            Err(err) => {
                eprintln!("seed: {err:#}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// One table's line on stdout.
#[derive(Debug, Serialize)]
struct Seeded {
    table: String,
    items: u64,
    seconds: f64,
}

/// Creates and fills one table; returns its JSON summary line.
async fn seed(
    client: &aws_sdk_dynamodb::Client,
    args: &Args,
    entity: &str,
    count: u64,
) -> anyhow::Result<String> {
    let table = format!("{}{}", args.prefix, table_for(entity));
    let started = Instant::now();
    create_table(client, &table, args.stream)
        .await
        .with_context(|| format!("creating {table}"))?;
    let written = put_items(client, &table, (0..count).map(|n| item_for(entity, n)))
        .await
        .with_context(|| format!("writing {count} items to {table}"))?;
    let seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    let line = Seeded {
        table,
        items: written,
        seconds,
    };
    Ok(serde_json::to_string(&line)?)
}
