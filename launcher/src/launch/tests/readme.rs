//! Every event the README's "Starting a job" and "Running it in production" sections tell an
//! operator to send is one the launcher accepts, so a runbook step never fails on its own syntax.

use super::*;
use crate::event::Request;

const README: &str = include_str!("../../../../README.md");

/// The text from the heading `from` to the next heading of the same level.
fn section(from: &str) -> &'static str {
    let level = from.split(' ').next().unwrap_or_default();
    let start = README.find(from).expect("the section exists");
    let body = &README[start + from.len()..];
    let end = body
        .match_indices(&format!("\n{level} "))
        .map(|(at, _)| at)
        .next()
        .unwrap_or(body.len());
    &body[..end]
}

/// Every flat JSON object in `text` that names an `indexName` (or its original spelling).
fn events(text: &str) -> Vec<Value> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open..];
        let Some(close) = after.find('}') else { break };
        let candidate = &after[..=close];
        if !candidate[1..].contains('{') && candidate.to_ascii_lowercase().contains("\"indexname\"")
        {
            let event: Value = serde_json::from_str(candidate).unwrap_or_else(|e| {
                panic!("the README shows an event that is not JSON: {candidate}: {e}")
            });
            found.push(event);
        }
        rest = &after[1..];
    }
    found
}

#[test]
fn every_event_the_runbook_shows_is_accepted() {
    let rules = config().rules;
    let mut shown = events(section("### Starting a job"));
    shown.extend(events(section("## Running it in production")));
    assert!(
        shown.len() >= 8,
        "the runbook's events were found: {shown:?}"
    );
    let mut modes = std::collections::BTreeSet::new();
    for event in shown {
        match Request::from_event(event.clone(), &rules) {
            Ok(request) => modes.insert(request.mode.as_str()),
            Err(error) => panic!("the README's event {event} is refused: {error}"),
        };
    }
    for mode in [
        "rebuild", "verify", "status", "jobs", "rollback", "abandon", "resync",
    ] {
        assert!(modes.contains(mode), "the runbook shows {mode}: {modes:?}");
    }
}
