//! `scan-rate`: measures the raw parallel Scan rate of a DynamoDB table with the request shape
//! the indexer uses (Segment/TotalSegments, `Limit` = page size, `Select ALL_ATTRIBUTES`, an
//! `ExclusiveStartKey` loop, one tokio task per segment), counting items and nothing else.
//!
//! AWS settings follow AWS conventions (region, credentials chain, and
//! `AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local). stdout carries one JSON line:
//! `{"table":"Persons","segments":8,"items":20000,"seconds":1.234,"items_per_s":16207.5}`.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, anyhow};
use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::Select;
use clap::Parser;
use serde::Serialize;
use tokio::task::JoinSet;

/// Measures the raw parallel Scan rate of a DynamoDB table.
#[derive(Debug, Parser)]
#[command(name = "scan-rate", version)]
struct Args {
    /// The table to scan.
    #[arg(long)]
    table: String,
    /// Parallel Scan segments (TotalSegments), one task each.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    segments: u32,
    /// Items per Scan page (the Scan `Limit`).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    page_size: u32,
}

/// The line printed on stdout.
#[derive(Debug, Serialize)]
struct Rate {
    table: String,
    segments: u32,
    items: u64,
    seconds: f64,
    items_per_s: f64,
}

#[tokio::main]
#[allow(clippy::print_stdout)]
async fn main() -> ExitCode {
    let args = Args::parse();
    match measure(&args)
        .await
        .and_then(|rate| serde_json::to_string(&rate).context("encoding the result"))
    {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("scan-rate: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn measure(args: &Args) -> anyhow::Result<Rate> {
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let client = Client::new(&config);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for segment in 0..args.segments {
        tasks.spawn(scan_segment(
            client.clone(),
            args.table.clone(),
            segment,
            args.segments,
            args.page_size,
        ));
    }
    let mut items = 0u64;
    while let Some(joined) = tasks.join_next().await {
        items += joined.map_err(|err| anyhow!("a segment task failed: {err}"))??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let items_per_s = if elapsed > 0.0 {
        (items as f64 / elapsed * 10.0).round() / 10.0
    } else {
        0.0
    };
    Ok(Rate {
        table: args.table.clone(),
        segments: args.segments,
        items,
        seconds: (elapsed * 1000.0).round() / 1000.0,
        items_per_s,
    })
}

/// Reads one segment to its end; returns how many items it held.
async fn scan_segment(
    client: Client,
    table: String,
    segment: u32,
    total_segments: u32,
    page_size: u32,
) -> anyhow::Result<u64> {
    let segment_i32 = i32::try_from(segment).context("segment out of range")?;
    let total_i32 = i32::try_from(total_segments).context("segments out of range")?;
    let limit = i32::try_from(page_size).context("page size out of range")?;
    let mut last_key = None;
    let mut items = 0u64;
    loop {
        let output = client
            .scan()
            .table_name(&table)
            .segment(segment_i32)
            .total_segments(total_i32)
            .limit(limit)
            .select(Select::AllAttributes)
            .set_exclusive_start_key(last_key.take())
            .send()
            .await
            .map_err(|err| {
                anyhow!(
                    "Scan of {table} segment {segment}/{total_segments}: {}",
                    DisplayErrorContext(&err)
                )
            })?;
        items += output.items.map_or(0, |page| page.len() as u64);
        match output.last_evaluated_key.filter(|key| !key.is_empty()) {
            Some(key) => last_key = Some(key),
            None => return Ok(items),
        }
    }
}
