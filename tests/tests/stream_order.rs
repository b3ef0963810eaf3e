//! The order of an item's copies does not depend on the item carrying a `versionNumber`: a
//! scanned copy that reaches the index after the stream wrote a newer one (or deleted the item)
//! never replaces it, even when it arrives long after the delete.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, StreamViewType};
use indexer_tests::faults::{Fault, FaultPlan, FaultProxy, RequestFault, Rule};
use indexer_tests::fixtures;
use indexer_tests::harness::{
    Names, Run, Search, finish, put, rebuild_args, services, spawn_indexer, unique,
};

const SEEDED: u64 = 60;

/// Starts `indexer rebuild` of a persons table into `host` with `flags`, its stream read
/// through `streams`; the handle ends with the run.
fn rebuild_in_background(
    names: &Names,
    host: &str,
    flags: &[&str],
    streams: &str,
) -> tokio::task::JoinHandle<Run> {
    let args: Vec<String> = rebuild_args(names, "persons", host, flags)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let child = spawn_indexer(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", streams)],
    );
    tokio::spawn(async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        finish(child, &args).await
    })
}

#[tokio::test]
async fn a_stale_scanned_copy_never_replaces_a_newer_stream_write() {
    late_scanned_copies(StreamViewType::NewAndOldImages, false).await;
}

#[tokio::test]
async fn a_scanned_copy_arriving_after_the_clusters_tombstone_lifetime_does_not_resurrect_a_delete()
{
    late_scanned_copies(StreamViewType::NewImage, true).await;
}

/// Seeds unversioned persons (and a few versioned), holds the scan's first bulk request (it
/// carries every seeded item) until the client gives up, and meanwhile changes, first-stamps
/// and deletes the items, so the stream's writes reach the index before the scanned copies are
/// sent again. With `short_tombstones`, the cluster's default tombstone lifetime
/// (`index.gc_deletes`, from an index template) is 1 s, far shorter than the hold.
async fn late_scanned_copies(view: StreamViewType, short_tombstones: bool) {
    let names = unique("Persons", "persons");
    let client = services().dynamo();
    fixtures::create_table_with_stream(&client, &names.table, Some(view))
        .await
        .expect("table with a stream");
    put(
        &names.table,
        (0..SEEDED).map(|n| {
            let mut item = fixtures::person(n);
            if n % 4 != 0 {
                item.remove("versionNumber");
            }
            item
        }),
    )
    .await;
    let search = Search::default();
    if short_tombstones {
        let template = serde_json::json!({
            "index_patterns": [format!("{}-*", names.alias)],
            "template": {"settings": {"index.gc_deletes": "1s"}}
        });
        let (status, body) = search
            .call(
                reqwest::Method::PUT,
                &format!("/_index_template/{}", names.alias),
                Some(template),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let plan = FaultPlan {
        bulk_requests: vec![Some(RequestFault::Hang)],
        ..FaultPlan::default()
    };
    let proxy = FaultProxy::start(&search.url, plan).await.expect("proxy");
    let flags = [
        "--segments",
        "1",
        "--batch-docs",
        "1000",
        // The held bulk is sent again this long after: time for the stream's deletes to land
        // well before it (more than the 1 s tombstone lifetime), even on a loaded machine.
        "--request-timeout",
        "15",
        "--retry-base-ms",
        "50",
    ];
    let args: Vec<String> = rebuild_args(&names, "persons", &proxy.url, &flags)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let child = spawn_indexer(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    let rebuild = tokio::spawn(async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        finish(child, &args).await
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.seen().hangs == 0 {
        assert!(Instant::now() < deadline, "the scan's bulk never came");
        assert!(!rebuild.is_finished(), "the rebuild ended before its bulk");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The scan has read every item and its bulk is held: write newer copies now.
    let mut changed = Vec::new();
    for n in (0..SEEDED).filter(|n| n % 5 != 0) {
        let mut item = fixtures::person(n);
        item.insert("surname".into(), AttributeValue::S(format!("Changed-{n}")));
        if n % 4 == 0 {
            let v = match item.get("versionNumber") {
                Some(AttributeValue::N(v)) => v.parse::<u64>().unwrap_or_default(),
                _ => 0,
            };
            item.insert(
                "versionNumber".into(),
                AttributeValue::N((v + 1).to_string()),
            );
        } else if n % 3 == 0 {
            // The first version stamp of an item that had none.
            item.insert("versionNumber".into(), AttributeValue::N("0".into()));
        } else {
            item.remove("versionNumber");
        }
        changed.push(item);
    }
    put(&names.table, changed.into_iter()).await;
    for n in (0..SEEDED).filter(|n| n % 5 == 0) {
        client
            .delete_item()
            .table_name(&names.table)
            .key("id", AttributeValue::S(fixtures::person_id(n)))
            .send()
            .await
            .expect("delete item");
    }
    let run = rebuild.await.expect("the rebuild task");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["stream"], "replayed", "{}", run.summary);
    assert!(proxy.seen().hangs >= 1);

    indexer_tests::harness::assert_no_drift(&names, &search.url).await;
    if short_tombstones {
        // The index keeps its tombstones once live: a split job's second tail may still write
        // late copies after the swap.
        let index = run.summary["new_index"].as_str().expect("new index");
        let (_, settings) = search
            .call(reqwest::Method::GET, &format!("/{index}/_settings"), None)
            .await;
        assert_eq!(
            settings[index]["settings"]["index"]["gc_deletes"], "48h",
            "{settings}"
        );
    }
}

/// A write acknowledged before the tail's iterators were taken is in the scan: the iterators are
/// taken before the first Scan request, and every Scan reads consistently.
#[tokio::test]
async fn the_scan_of_a_tailed_table_starts_after_the_iterators_and_reads_consistently() {
    use std::sync::{Arc, Mutex};

    let names = unique("Persons", "persons");
    let services = services();
    fixtures::create_table(&services.dynamo(), &names.table, true)
        .await
        .expect("table with a stream");
    put(&names.table, (0..SEEDED).map(fixtures::person)).await;
    let search = Search::default();
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&calls);
    let recorder = Rule {
        name: "records every call".into(),
        matches: Arc::new(move |request| {
            let target = request.header("x-amz-target").unwrap_or_default();
            let call = match target.rsplit('.').next() {
                Some("Scan") => {
                    let body = String::from_utf8_lossy(&request.body);
                    if body.contains("\"ConsistentRead\":true") {
                        "Scan(consistent)"
                    } else {
                        "Scan(eventual)"
                    }
                }
                Some(op @ ("GetShardIterator" | "GetRecords")) => op,
                _ => return false,
            };
            if let Ok(mut calls) = seen.lock() {
                calls.push(call.to_owned());
            }
            false
        }),
        nth: 1,
        fault: indexer_tests::faults::Fault::Status(500),
        min_body: 0,
        repeat: false,
    };
    let dynamo = FaultProxy::start(
        &services.dynamo_url,
        FaultPlan {
            rules: vec![recorder],
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let args = rebuild_args(&names, "persons", &search.url, &["--segments", "2"]);
    let run = finish(
        spawn_indexer(
            &args,
            &[
                ("AWS_ENDPOINT_URL_DYNAMODB", &dynamo.url),
                ("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", &dynamo.url),
            ],
        ),
        &args,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["stream"], "replayed", "{}", run.summary);
    let calls = calls.lock().map(|c| c.clone()).unwrap_or_default();
    let first_scan = calls.iter().position(|c| c.starts_with("Scan"));
    let first_iterator = calls.iter().position(|c| c == "GetShardIterator");
    assert!(
        matches!((first_iterator, first_scan), (Some(i), Some(s)) if i < s),
        "{calls:?}"
    );
    assert!(
        calls
            .iter()
            .filter(|c| c.starts_with("Scan"))
            .all(|c| c == "Scan(consistent)"),
        "{calls:?}"
    );
}

/// The drain after the swap catches up with writes made just before it even when the stream
/// answers empty for a while (DynamoDB documents that a shard may need several calls to reach
/// its records): from the swap on, every `GetRecords` answers empty for 2 s.
#[tokio::test]
async fn the_final_drain_reads_through_empty_answers_to_the_writes_made_before_it() {
    use std::sync::{Arc, Mutex};

    let names = unique("Persons", "persons");
    let services = services();
    fixtures::create_table(&services.dynamo(), &names.table, true)
        .await
        .expect("table with a stream");
    put(&names.table, (0..200).map(fixtures::person)).await;
    let search = Search::default();
    // Set at the swap, by the search proxy as it forwards the `_aliases` request: GetRecords
    // answers empty from then until 2 s later, while the final drain runs.
    let empty_from: Arc<Mutex<Option<Instant>>> = Arc::default();
    let at_swap = Arc::clone(&empty_from);
    let swap_watch = Rule {
        name: "notes the swap".into(),
        matches: Arc::new(move |request| {
            if request.method == "POST"
                && request.path().starts_with("/_aliases")
                && let Ok(mut from) = at_swap.lock()
                && from.is_none()
            {
                *from = Some(Instant::now());
            }
            false
        }),
        nth: 1,
        fault: Fault::Hang,
        min_body: 0,
        repeat: true,
    };
    let slow = FaultProxy::start(
        &search.url,
        FaultPlan {
            bulk_delay: Duration::from_millis(150),
            rules: vec![swap_watch],
            ..FaultPlan::default()
        },
    )
    .await
    .expect("search proxy");
    let shared = Arc::clone(&empty_from);
    let empty = Rule {
        name: "empty GetRecords answers after the swap".into(),
        matches: Arc::new(move |request| {
            let get_records = request
                .header("x-amz-target")
                .is_some_and(|t| t.ends_with("GetRecords"));
            let since = shared.lock().ok().and_then(|s| *s);
            get_records && since.is_some_and(|at| at.elapsed() < Duration::from_secs(2))
        }),
        nth: 1,
        fault: Fault::EmptyRecords,
        min_body: 0,
        repeat: true,
    };
    let streams = FaultProxy::start(
        &services.dynamo_url,
        FaultPlan {
            rules: vec![empty],
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let rebuild = rebuild_in_background(
        &names,
        &slow.url,
        &["--batch-docs", "25", "--concurrency", "1"],
        &streams.url,
    );
    // The writer writes until the swap (bounded in time, not in count: a loaded machine is slow).
    let mut writes = 0u64;
    let started = Instant::now();
    for i in 0u64.. {
        if rebuild.is_finished() || started.elapsed() > Duration::from_secs(240) {
            break;
        }
        if empty_from.lock().ok().and_then(|s| *s).is_some() {
            break;
        }
        let n = i % 200;
        let mut item = fixtures::person(n);
        item.insert(
            "surname".into(),
            AttributeValue::S(format!("Changed-{n}-{i}")),
        );
        item.remove("versionNumber");
        put(&names.table, std::iter::once(item)).await;
        writes += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let run = rebuild.await.expect("the rebuild task");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["stream"], "replayed", "{}", run.summary);
    assert!(
        empty_from.lock().ok().and_then(|s| *s).is_some(),
        "the writer wrote until the swap ({writes} writes)"
    );
    assert!(streams.seen().rule_hits[0] > 0, "empty answers were given");
    indexer_tests::harness::assert_no_drift(&names, &search.url).await;
}

/// What DynamoDB Streams answers a reader over its rate.
const LIMIT_EXCEEDED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#LimitExceededException","message":"Rate exceeded for shard"}"#;

#[tokio::test]
async fn a_throttled_stream_slows_the_tail_down_and_loses_nothing() {
    // GetRecords calls 2 to 13 are refused as over the shard's rate: more than the SDK's own
    // retries absorb, so the tail meets the refusal itself.
    let rules = (2..14)
        .map(|nth| {
            Rule::aws_call(
                "GetRecords throttled",
                "GetRecords",
                nth,
                Fault::Answer(400, LIMIT_EXCEEDED),
            )
        })
        .collect();
    let refused = rebuild_through_refused_reads(rules, Vec::new()).await;
    assert!(refused >= 6, "GetRecords was refused {refused} times");
}

/// What DynamoDB Streams answers an iterator left unused for 15 minutes.
const EXPIRED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ExpiredIteratorException","message":"Iterator expired"}"#;

#[tokio::test]
async fn an_expired_iterator_is_taken_again_after_the_last_record_applied() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    // Watched, never faulted: a stream record's write reached the cluster; a fresh iterator was
    // asked for just after a record.
    let applied = Arc::new(AtomicBool::new(false));
    let taken_after = Arc::new(AtomicBool::new(false));
    let watch = |name: &str, flag: &Arc<AtomicBool>, test: fn(&str, &str) -> bool| {
        let flag = Arc::clone(flag);
        Rule {
            matches: Arc::new(move |request: &indexer_tests::http1::Request| {
                let body = String::from_utf8_lossy(&request.body);
                if test(request.path(), &body) {
                    flag.store(true, Ordering::SeqCst);
                }
                false
            }),
            ..Rule::new(name, "POST", 1, Fault::Reset, |_| false)
        }
    };
    let bulk_of_a_change = watch("a stream write", &applied, |path, body| {
        path.ends_with("/_bulk") && body.contains("Throttled-")
    });
    let iterator_after = watch("an iterator after a record", &taken_after, |_, body| {
        body.contains("AFTER_SEQUENCE_NUMBER")
    });
    // The first GetRecords once a record was applied: its iterator has expired.
    let armed = Arc::clone(&applied);
    let expired = Rule {
        matches: Arc::new(move |request: &indexer_tests::http1::Request| {
            armed.load(Ordering::SeqCst)
                && request
                    .header("x-amz-target")
                    .is_some_and(|t| t.ends_with("GetRecords"))
        }),
        ..Rule::new("expired", "POST", 1, Fault::Answer(400, EXPIRED), |_| false)
    };
    let refused =
        rebuild_through_refused_reads(vec![expired, iterator_after], vec![bulk_of_a_change]).await;
    assert_eq!(refused, 1, "one iterator expired");
    assert!(
        taken_after.load(Ordering::SeqCst),
        "the iterator was taken again after the last record applied"
    );
}

/// Rebuilds a streamed table through a proxy in front of the stream with `stream_rules` and one
/// in front of the cluster (bulk requests slowed) with `search_rules`, while items change once
/// the scan writes; asserts the run succeeds with no drift, and returns how many stream requests
/// the stream rules faulted.
async fn rebuild_through_refused_reads(stream_rules: Vec<Rule>, search_rules: Vec<Rule>) -> u32 {
    let names = unique("Persons", "persons");
    let services = services();
    fixtures::create_table(&services.dynamo(), &names.table, true)
        .await
        .expect("table with a stream");
    put(&names.table, (0..SEEDED).map(fixtures::person)).await;
    let search = Search::default();
    let slow = FaultProxy::start(
        &search.url,
        FaultPlan {
            rules: search_rules,
            bulk_delay: Duration::from_millis(300),
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let streams = FaultProxy::start(
        &services.dynamo_url,
        FaultPlan {
            rules: stream_rules,
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let rebuild = rebuild_in_background(
        &names,
        &slow.url,
        &["--batch-docs", "10", "--concurrency", "1"],
        &streams.url,
    );
    // Changes made while the rebuild runs (once its scan writes, so after the tail began),
    // through the refused reads.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while slow.seen().bulk_requests == 0 && !rebuild.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "the rebuild never wrote"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for n in 0..20u64 {
        if rebuild.is_finished() {
            break;
        }
        let mut item = fixtures::person(n);
        item.insert(
            "surname".into(),
            AttributeValue::S(format!("Throttled-{n}")),
        );
        item.remove("versionNumber");
        put(&names.table, std::iter::once(item)).await;
    }
    let run = rebuild.await.expect("the rebuild task");
    assert_eq!(run.code, 0, "{run:?}");
    indexer_tests::harness::assert_no_drift(&names, &search.url).await;
    streams.seen().rule_hits.iter().sum()
}
