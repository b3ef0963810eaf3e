//! `follow-load`: writes to a table at a steady rate and measures how long each write takes to
//! show in the index a follower keeps (the write's acknowledgement to the first read of the
//! document that shows it), for `scripts/bench`.
//!
//! Writes cycle over persons `0..items` of `indexer_tests::fixtures`: updates that change the
//! surname (every other one unversioned), and every tenth write a delete (the next write of that
//! person puts it back). Pending writes are checked every 100 ms with one `_mget` on the alias.
//! AWS settings follow AWS conventions (`AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local); the
//! search host is `--host`. stdout carries one JSON line: writes, how many were seen, and the
//! lag's median, 99th percentile and maximum in milliseconds.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::types::AttributeValue;
use clap::Parser;
use indexer_tests::fixtures::{person, person_id};
use serde_json::{Value, json};

/// Writes at a steady rate and measures the follower's lag.
#[derive(Debug, Parser)]
#[command(name = "follow-load", version)]
struct Args {
    /// The table the follower follows.
    #[arg(long)]
    table: String,
    /// The alias the follower keeps.
    #[arg(long)]
    index: String,
    /// The search cluster (http://host:port).
    #[arg(long)]
    host: String,
    /// Writes per second.
    #[arg(long, default_value_t = 50)]
    rate: u64,
    /// How long to write, in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// How many distinct persons the writes cycle over (they must exist in the table).
    #[arg(long, default_value_t = 1000)]
    items: u64,
    /// How long a write may take to show before it counts as unseen, in seconds.
    #[arg(long, default_value_t = 120)]
    patience: u64,
}

/// What a pending write waits to see in the index.
struct Pending {
    id: String,
    /// The surname it wrote, or `None` for a delete.
    surname: Option<String>,
    acknowledged: Instant,
}

#[tokio::main]
#[allow(clippy::print_stdout)]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("follow-load: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<Value> {
    if args.rate == 0 || args.items == 0 {
        anyhow::bail!("--rate and --items must be at least 1");
    }
    let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let http = reqwest::Client::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut lags: Vec<u64> = Vec::new();
    let mut deleted: HashMap<u64, bool> = HashMap::new();
    let total = args.rate * args.seconds;
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let started = Instant::now();
    let mut last_check = Instant::now();
    for seq in 0..total {
        let due = started + interval.mul_f64(seq as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let n = seq % args.items;
        let id = person_id(n);
        let delete = seq % 10 == 9 && !deleted.get(&n).copied().unwrap_or(false);
        if delete {
            dynamo
                .delete_item()
                .table_name(&args.table)
                .key("id", AttributeValue::S(id.clone()))
                .send()
                .await
                .context("deleting an item")?;
            deleted.insert(n, true);
            pending.push(Pending {
                id,
                surname: None,
                acknowledged: Instant::now(),
            });
        } else {
            let surname = format!("load-{seq}");
            let mut item = person(n);
            item.insert("surname".into(), AttributeValue::S(surname.clone()));
            if seq % 2 == 0 {
                item.remove("versionNumber");
            } else {
                item.insert("versionNumber".into(), AttributeValue::N(seq.to_string()));
            }
            dynamo
                .put_item()
                .table_name(&args.table)
                .set_item(Some(item))
                .send()
                .await
                .context("writing an item")?;
            deleted.insert(n, false);
            pending.push(Pending {
                id,
                surname: Some(surname),
                acknowledged: Instant::now(),
            });
        }
        if last_check.elapsed() >= Duration::from_millis(100) {
            check(&http, args, &mut pending, &mut lags).await?;
            last_check = Instant::now();
        }
    }
    let writing = started.elapsed();
    let patience = Instant::now() + Duration::from_secs(args.patience);
    while !pending.is_empty() && Instant::now() < patience {
        tokio::time::sleep(Duration::from_millis(100)).await;
        check(&http, args, &mut pending, &mut lags).await?;
    }
    lags.sort_unstable();
    let at = |q: f64| -> u64 {
        if lags.is_empty() {
            return 0;
        }
        let index = ((lags.len() as f64 - 1.0) * q).round() as usize;
        lags[index.min(lags.len() - 1)]
    };
    Ok(json!({
        "writes": total,
        "seen": lags.len(),
        "unseen": pending.len(),
        "rate_per_s": (total as f64 / writing.as_secs_f64() * 10.0).round() / 10.0,
        "lag_ms": { "median": at(0.5), "p99": at(0.99), "max": lags.last().copied().unwrap_or(0) },
    }))
}

/// Looks up every pending write's document at once; those that show their write are done.
/// A write superseded by a later write of the same person counts as seen when the later one is.
async fn check(
    http: &reqwest::Client,
    args: &Args,
    pending: &mut Vec<Pending>,
    lags: &mut Vec<u64>,
) -> anyhow::Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<&str> = pending.iter().map(|p| p.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let answer: Value = http
        .post(format!(
            "{}/{}/_mget",
            args.host.trim_end_matches('/'),
            args.index
        ))
        .header("content-type", "application/json")
        .body(json!({ "ids": ids }).to_string())
        .send()
        .await
        .context("reading the documents")?
        .text()
        .await
        .context("reading the documents' answer")?
        .parse()
        .context("the documents' answer is not JSON")?;
    let mut shown: HashMap<String, Option<String>> = HashMap::new();
    for doc in answer["docs"].as_array().into_iter().flatten() {
        let id = doc["_id"].as_str().unwrap_or_default().to_owned();
        let surname = (doc["found"] == true)
            .then(|| doc["_source"]["surname"].as_str().map(str::to_owned))
            .flatten();
        shown.insert(id, surname);
    }
    let now = Instant::now();
    // The newest pending write of each person decides: once it shows, it and every earlier
    // pending write of that person are done.
    let mut newest: HashMap<&str, usize> = HashMap::new();
    for (at, p) in pending.iter().enumerate() {
        newest.insert(p.id.as_str(), at);
    }
    let mut done: Vec<bool> = vec![false; pending.len()];
    for (id, at) in &newest {
        let wanted = &pending[*at].surname;
        let showing = shown.get(*id).cloned().flatten();
        let matches = match wanted {
            Some(surname) => showing.as_deref() == Some(surname.as_str()),
            None => shown.contains_key(*id) && showing.is_none(),
        };
        if matches {
            for (i, p) in pending.iter().enumerate() {
                if p.id == *id && i <= *at {
                    done[i] = true;
                }
            }
        }
    }
    let mut kept = Vec::with_capacity(pending.len());
    for (p, done) in pending.drain(..).zip(done) {
        if done {
            lags.push(
                u64::try_from(now.duration_since(p.acknowledged).as_millis()).unwrap_or(u64::MAX),
            );
        } else {
            kept.push(p);
        }
    }
    *pending = kept;
    Ok(())
}
