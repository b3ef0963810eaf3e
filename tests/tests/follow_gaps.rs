//! Gaps heal themselves: a follower that cannot go on from its checkpoints (a shard the stream
//! no longer holds, or a stream disabled and enabled again) says so, repairs the whole alias and
//! follows on, ending with no drift; writes the cluster cannot take wait and are sent again.
//! And what a follower refuses before it writes anything.

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, StreamSpecification, StreamViewType};
use indexer_tests::faults::{FaultPlan, FaultProxy, RequestFault};
use indexer_tests::fixtures;
use indexer_tests::harness::{Search, assert_no_drift, eventually, services, spawn_indexer};
use serde_json::json;

use super::follow::{
    Following, argv, caught_up, checkpointed, follow_and_write, follow_args, followed_table,
    follower_record, stop,
};
use indexer_tests::harness::indexer;

/// Puts a document no item of the table has into the alias's live index: what a lost REMOVE
/// leaves behind, which no replay of the stream can take away.
async fn plant_ghost(search: &Search, alias: &str) {
    let index = search.alias_targets(alias).await.remove(0);
    let (status, body) = search
        .call(
            reqwest::Method::PUT,
            &format!("/{index}/_doc/ghost-1?refresh=true"),
            Some(json!({ "id": "ghost-1", "firstname": "Ghost" })),
        )
        .await;
    assert!(status < 300, "{body}");
}

/// Waits until the follower record says a repair finished, then until the next minute: a
/// repair outranks the stream records stamped before the second it read the item in, and
/// DynamoDB Local stamps stream records to the minute, so a write made in the repair's minute
/// would look older than the repair there (on AWS, stamped to the second, it does not).
async fn repaired(search: &Search, alias: &str) {
    eventually("a finished repair", Duration::from_secs(180), || async {
        let record = follower_record(search, alias).await?;
        (record["repairs"] == 1 && record["repair_pending"] == false).then_some(())
    })
    .await;
    let minute = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 60)
    };
    let repair_minute = minute();
    eventually(
        "the minute after the repair",
        Duration::from_secs(70),
        || async { (minute() > repair_minute).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn a_checkpoint_in_a_shard_the_stream_no_longer_holds_is_repaired() {
    let (names, search) = followed_table().await;
    let args = follow_args(&names, &search.url, &["--heartbeat", "1", "--lease", "5"]);
    let Following {
        child,
        pid,
        mut writer,
        ..
    } = follow_and_write(&search, &names, &args, 40).await;
    checkpointed(&search, &names.alias, &pid, true).await;
    let run = stop(child, &args).await;
    assert_eq!(run.code, 5, "{run:?}");

    // The checkpoint names a shard the stream no longer has, and the index holds a document
    // whose removal was lost.
    let id = format!("follower:{}", names.alias);
    let mut record = search.job_doc(&id).await.expect("the record");
    record["positions"]
        .as_array_mut()
        .expect("positions")
        .push(json!({ "worker": 0, "shard": "shardId-gone", "from": "1", "ended": false }));
    let (status, body) = search
        .call(
            reqwest::Method::PUT,
            &format!("/indexer-jobs/_doc/{id}?refresh=true"),
            Some(record),
        )
        .await;
    assert!(status < 300, "{body}");
    plant_ghost(&search, &names.alias).await;

    let child = spawn_indexer(&argv(&args), &[]);
    repaired(&search, &names.alias).await;
    for i in 40..80 {
        writer.write(i).await;
    }
    caught_up(&names, &search.url).await;
    let run = stop(child, &args).await;
    assert_eq!(run.code, 5, "{run:?}");
    let warnings = run.summary["warnings"].to_string();
    assert!(
        warnings.contains("shardId-gone") && warnings.contains("repaired"),
        "{}",
        run.summary
    );
    assert!(
        run.stderr.contains("repairing the whole alias"),
        "{}",
        run.stderr
    );
    assert_no_drift(&names, &search.url).await;
}

#[tokio::test]
async fn a_stream_disabled_and_enabled_again_is_noticed_and_the_gap_repaired() {
    let (names, search) = followed_table().await;
    let args = follow_args(&names, &search.url, &["--heartbeat", "1", "--lease", "5"]);
    let Following {
        child,
        first: before,
        mut writer,
        ..
    } = follow_and_write(&search, &names, &args, 20).await;
    let client = services().dynamo();
    let stream = |enabled: bool| {
        let spec = StreamSpecification::builder().stream_enabled(enabled);
        let spec = if enabled {
            spec.stream_view_type(StreamViewType::NewImage)
        } else {
            spec
        };
        spec.build().expect("a stream specification")
    };
    client
        .update_table()
        .table_name(&names.table)
        .stream_specification(stream(false))
        .send()
        .await
        .expect("disable the stream");
    // Written while no stream records anything: only a repair brings these to the index.
    for i in 20..60 {
        writer.write(i).await;
    }
    client
        .delete_item()
        .table_name(&names.table)
        .key("id", AttributeValue::S(fixtures::person_id(3)))
        .send()
        .await
        .expect("delete item");
    client
        .update_table()
        .table_name(&names.table)
        .stream_specification(stream(true))
        .send()
        .await
        .expect("enable the stream again");
    repaired(&search, &names.alias).await;
    for i in 60..100 {
        writer.write(i).await;
    }
    caught_up(&names, &search.url).await;
    let record = follower_record(&search, &names.alias)
        .await
        .expect("the record");
    assert_ne!(record["stream_arn"], before["stream_arn"], "{record}");
    let run = stop(child, &args).await;
    assert_eq!(run.code, 5, "{run:?}");
    assert!(
        run.summary["warnings"]
            .to_string()
            .contains("the table's stream changed"),
        "{}",
        run.summary
    );
    assert_no_drift(&names, &search.url).await;
}

#[tokio::test]
async fn writes_the_cluster_cannot_take_wait_and_are_sent_again() {
    let (names, search) = followed_table().await;
    // Every retry used up: each of these requests fails the follower's step as a whole.
    let plan = FaultPlan {
        bulk_requests: vec![Some(RequestFault::Status(503)); 6],
        ..FaultPlan::default()
    };
    let proxy = FaultProxy::start(&search.url, plan).await.expect("proxy");
    let extra = ["--heartbeat", "1", "--lease", "5", "--max-retries", "0"];
    let args = follow_args(&names, &proxy.url, &extra);
    let Following { child, .. } = follow_and_write(&search, &names, &args, 40).await;
    caught_up(&names, &search.url).await;
    let run = stop(child, &args).await;
    assert_eq!(run.code, 5, "{run:?}");
    assert_eq!(run.summary["dead_lettered"], 0, "{}", run.summary);
    assert!(proxy.seen().bulk_requests > 6, "{:?}", proxy.seen());
    assert!(
        run.stderr.contains("they wait and are sent again"),
        "{}",
        run.stderr
    );
    assert_no_drift(&names, &search.url).await;
}

#[tokio::test]
async fn a_repair_waits_for_the_alias_lock_and_stays_owed_until_it_ran() {
    let (names, search) = followed_table().await;
    let args = follow_args(&names, &search.url, &["--heartbeat", "1", "--lease", "5"]);
    let Following { child, pid, .. } = follow_and_write(&search, &names, &args, 20).await;
    checkpointed(&search, &names.alias, &pid, true).await;
    assert_eq!(stop(child, &args).await.code, 5);

    // A gap to repair, and another job holding the alias's lock, alive.
    let id = format!("follower:{}", names.alias);
    let mut record = search.job_doc(&id).await.expect("the record");
    record["positions"]
        .as_array_mut()
        .expect("positions")
        .push(json!({ "worker": 0, "shard": "shardId-gone", "from": "1", "ended": false }));
    let put = |path: String, body: serde_json::Value| {
        let search = search.clone();
        async move {
            let (status, answer) = search.call(reqwest::Method::PUT, &path, Some(body)).await;
            assert!(status < 300, "{answer}");
        }
    };
    put(format!("/indexer-jobs/_doc/{id}?refresh=true"), record).await;
    let now = chrono::Utc::now().to_rfc3339();
    let lock = format!("/indexer-jobs/_doc/lock:{}?refresh=true", names.alias);
    let held = json!({
        "kind": "lock", "alias": names.alias, "job_id": "another-job", "holder": "elsewhere:1",
        "acquired_at": now, "heartbeat_at": now, "lease_secs": 3600
    });
    put(lock.clone(), held).await;
    plant_ghost(&search, &names.alias).await;

    // The follower owes the repair and waits; stopped, it leaves the repair owed.
    let mut waiting = spawn_indexer(&argv(&args), &[]);
    let stderr = waiting.stderr.take().expect("stderr");
    let (said, saying) = tokio::sync::watch::channel(false);
    let logs = tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("the repair waits for the alias's lock") {
                let _ = said.send(true);
            }
        }
    });
    eventually(
        "the repair waiting for the lock",
        Duration::from_secs(120),
        || async { (*saying.borrow()).then_some(()) },
    )
    .await;
    let owed = follower_record(&search, &names.alias)
        .await
        .expect("record");
    assert_eq!(owed["repair_pending"], true, "{owed}");
    assert_eq!(owed["repairs"], 0, "{owed}");
    let run = stop(waiting, &args).await;
    assert_eq!(run.code, 5, "{run:?}");
    logs.await.expect("the log reader");
    let record = follower_record(&search, &names.alias)
        .await
        .expect("record");
    assert_eq!(record["repair_pending"], true, "{record}");

    // Once the lock is free, the next follower runs the repair it owes.
    let (status, answer) = search.call(reqwest::Method::DELETE, &lock, None).await;
    assert!(status < 300, "{answer}");
    let child = spawn_indexer(&argv(&args), &[]);
    repaired(&search, &names.alias).await;
    caught_up(&names, &search.url).await;
    assert_eq!(stop(child, &args).await.code, 5);
    assert_no_drift(&names, &search.url).await;
}

#[tokio::test]
async fn a_table_without_a_stream_is_refused_before_anything_is_written() {
    let names = indexer_tests::harness::seed("persons", 5).await;
    let search = Search::default();
    let run = indexer(&argv(&follow_args(&names, &search.url, &[]))).await;
    assert_eq!(run.code, 2, "{run:?}");
    let error = run.summary["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&names.table) && error.contains("no stream"),
        "{error}"
    );
    assert!(follower_record(&search, &names.alias).await.is_none());
}

#[tokio::test]
async fn a_follower_of_another_entity_s_alias_is_refused_before_anything_is_written() {
    let (names, search) = followed_table().await;
    let mut args = follow_args(&names, &search.url, &[]);
    let at = args
        .iter()
        .position(|a| a == "persons")
        .expect("the entity");
    args[at] = "tenures".into();
    let run = indexer(&argv(&args)).await;
    assert_eq!(run.code, 2, "{run:?}");
    let error = run.summary["error"].as_str().unwrap_or_default();
    assert!(error.contains("serves persons documents"), "{error}");
    assert!(follower_record(&search, &names.alias).await.is_none());
}
