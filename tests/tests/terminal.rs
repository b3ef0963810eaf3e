//! A rebuild at a person's terminal: a second Ctrl-C stops it at once, and the run resumes.

use std::time::Duration;

use indexer_tests::faults::{Fault, FaultPlan, FaultProxy, Rule};
use indexer_tests::harness::{Search, checkpointed, indexer, rebuild_args, seed};

/// Reads a pseudo-terminal's output until it holds `needle` (or the deadline passes).
async fn read_until(
    out: &mut tokio::process::ChildStdout,
    seen: &mut String,
    needle: &str,
    deadline: Duration,
) -> bool {
    use tokio::io::AsyncReadExt;
    let start = std::time::Instant::now();
    let mut buffer = [0u8; 4096];
    while !seen.contains(needle) {
        let Some(left) = deadline.checked_sub(start.elapsed()) else {
            return false;
        };
        match tokio::time::timeout(left, out.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buffer[..n])),
            _ => return false,
        }
    }
    true
}

#[tokio::test]
async fn ctrl_c_twice_on_a_terminal_stops_at_once_and_the_run_resumes() {
    use tokio::io::AsyncWriteExt;
    let names = seed("persons", 300).await;
    let search = Search::default();
    // From the third on, bulk requests never answer: a first Ctrl-C would wait for them up to
    // the (long) stop timeout.
    let proxy = FaultProxy::start(
        &search.url,
        FaultPlan {
            rules: vec![Rule {
                repeat: true,
                ..Rule::new("bulk", "POST", 3, Fault::Hang, |p| p.ends_with("/_bulk"))
            }],
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let args = rebuild_args(
        &names,
        "persons",
        &proxy.url,
        &[
            "--batch-docs",
            "10",
            "--page-size",
            "10",
            "--segments",
            "2",
            "--concurrency",
            "1",
            "--stop-timeout",
            "300",
            "--request-timeout",
            "300",
            "--heartbeat",
            "1",
            "--progress-interval",
            "1",
        ],
    );
    let mut terminal = indexer_tests::terminal::on_terminal(&args);
    let mut keys = terminal.stdin.take().expect("stdin");
    let mut out = terminal.stdout.take().expect("stdout");
    let mut seen = String::new();
    // The progress bar shows how far the load is ("… read, … indexed …, segments d/n").
    assert!(
        read_until(
            &mut out,
            &mut seen,
            "dead-lettered, segments",
            Duration::from_secs(120)
        )
        .await,
        "no progress bar on the terminal: {seen}"
    );
    checkpointed(&search, &names.alias, 10).await;
    keys.write_all(b"\x03").await.expect("first Ctrl-C");
    keys.flush().await.expect("flush");
    assert!(
        read_until(&mut out, &mut seen, "signal again", Duration::from_secs(30)).await,
        "the first Ctrl-C says how long the drain may take: {seen}"
    );
    keys.write_all(b"\x03").await.expect("second Ctrl-C");
    keys.flush().await.expect("flush");
    let stopped = tokio::time::timeout(Duration::from_secs(30), terminal.wait())
        .await
        .expect("the second Ctrl-C stops the run at once, not after the 300 s drain")
        .expect("exit status");
    assert_eq!(
        stopped.code(),
        Some(5),
        "interrupted: …{}",
        seen.chars()
            .skip(seen.chars().count().saturating_sub(3000))
            .collect::<String>()
    );
    drop(proxy);
    let resumed = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(resumed.code, 0, "{resumed:?}");
    assert!(!resumed.summary["resumed_from"].is_null(), "{resumed:?}");
    assert_eq!(search.count(&names.alias).await, 300);
}
