//! The tenure searches: V1 by resident name with its filters, by UPRN, the start-date listing
//! paged with `search_after`; V2.

use std::collections::BTreeSet;

use indexer_tests::fixtures;
use indexer_tests::harness::rebuilt;
use serde_json::{Value, json};

use super::queries::*;
use super::*;

pub(super) const TENURES: u64 = 160;

pub(super) fn member_named(tenure: &Value, term: &str) -> bool {
    let term = term.to_lowercase();
    list(&tenure["householdMembers"])
        .iter()
        .any(|m| lower(&m["fullName"]).contains(&term))
}

#[tokio::test]
async fn the_tenure_search_v1_finds_tenures_by_resident_name_and_filters_them() {
    let (names, client, _) = rebuilt("tenures", TENURES).await;
    let tenures = documents("tenures", TENURES);
    let persons = documents("persons", TENURES + 3);
    let mut checked = 0;
    for term in ascii_surnames(&persons).iter().take(4) {
        let want = expected(&tenures, |t| member_named(t, term));
        assert!(!want.is_empty(), "a tenure has a member named {term}");
        let answer = search(
            &client,
            &names.alias,
            page(tenure_search_v1(term, None, None), 0, 100),
        )
        .await;
        assert_eq!(hit_ids(&answer), want, "members named {term}");
        checked += 1;
    }
    assert_eq!(checked, 4);

    // Filtered to temporary accommodation, and to one booking status.
    let temporary = expected(&tenures, |t| {
        t["tenuredAsset"]["isTemporaryAccommodation"] == true
    });
    assert!(!temporary.is_empty());
    let last_name = |t: &Value| {
        t["householdMembers"][0]["fullName"]
            .as_str()
            .and_then(|name| name.split(' ').next_back())
            .filter(|word| word.chars().all(|c| c.is_ascii_alphabetic()))
            .map(str::to_owned)
    };
    let tenure = tenures
        .iter()
        .find(|t| {
            temporary.contains(t["id"].as_str().unwrap_or_default()) && last_name(t).is_some()
        })
        .expect("a temporary tenure");
    let surname = last_name(tenure).expect("an ASCII surname");
    let status = tenure["tempAccommodationInfo"]["bookingStatus"]
        .as_str()
        .expect("a booking status")
        .to_owned();
    let want = expected(&tenures, |t| {
        member_named(t, &surname) && t["tenuredAsset"]["isTemporaryAccommodation"] == true
    });
    let answer = search(
        &client,
        &names.alias,
        page(tenure_search_v1(&surname, Some("true"), None), 0, 100),
    )
    .await;
    assert_eq!(hit_ids(&answer), want, "temporary tenures of {surname}");
    let want = expected(&tenures, |t| {
        member_named(t, &surname)
            && t["tenuredAsset"]["isTemporaryAccommodation"] == true
            && t["tempAccommodationInfo"]["bookingStatus"] == status.as_str()
    });
    let answer = search(
        &client,
        &names.alias,
        page(
            tenure_search_v1(&surname, Some("true"), Some(&status)),
            0,
            100,
        ),
    )
    .await;
    assert_eq!(hit_ids(&answer), want, "{status} tenures of {surname}");
    assert!(want.contains(tenure["id"].as_str().unwrap_or_default()));
}

#[tokio::test]
async fn the_tenure_search_v1_finds_a_tenure_by_uprn() {
    let (names, client, _) = rebuilt("tenures", TENURES).await;
    let tenures = documents("tenures", TENURES);
    for n in [0usize, 17, 99] {
        let uprn = tenures[n]["tenuredAsset"]["uprn"]
            .as_str()
            .expect("a uprn")
            .to_owned();
        let want = expected(&tenures, |t| t["tenuredAsset"]["uprn"] == uprn.as_str());
        let answer = search(&client, &names.alias, page(tenure_by_uprn_v1(&uprn), 0, 12)).await;
        assert_eq!(hit_ids(&answer), want, "uprn {uprn}");
        assert!(want.contains(&fixtures::tenure_id(n as u64)));
    }
}

#[tokio::test]
async fn the_tenure_listing_v1_sorts_by_start_date_and_pages_with_search_after() {
    let (names, client, _) = rebuilt("tenures", TENURES).await;
    let tenures = documents("tenures", TENURES);
    let term = "flat";
    let want = expected(&tenures, |t| {
        tokens(
            t["tenuredAsset"]["fullAddress"]
                .as_str()
                .unwrap_or_default(),
        )
        .contains(term)
    });
    assert!(want.len() > 30, "most tenures are flats: {}", want.len());
    for descending in [true, false] {
        let mut after: Option<Value> = None;
        let mut seen: Vec<(i64, String)> = Vec::new();
        for _ in 0..50 {
            let body = tenure_sets_v1(term, descending, after.as_ref(), 25);
            let answer = search(&client, &names.alias, body).await;
            assert_eq!(total(&answer), want.len() as u64);
            let page = hits(&answer);
            let Some(last) = page.last() else { break };
            // SearchGateway.cs:239-242: the client pages with the last hit's first sort value,
            // as text, and its id.
            let start = last["sort"][0].clone();
            after = Some(json!([value_text(&start), last["_id"]]));
            for hit in &page {
                let millis = hit["sort"][0]
                    .as_i64()
                    .expect("a date sorts as epoch millis");
                seen.push((millis, hit["_id"].as_str().unwrap_or_default().to_owned()));
            }
        }
        let ids: BTreeSet<String> = seen.iter().map(|(_, id)| id.clone()).collect();
        assert_eq!(ids, want, "every page once (descending: {descending})");
        assert_eq!(seen.len(), want.len(), "no tenure on two pages");
        assert!(
            seen.windows(2).all(|pair| match descending {
                true => pair[0] >= pair[1],
                false => pair[0] <= pair[1],
            }),
            "ordered by start date then id.keyword"
        );
    }
}

#[tokio::test]
async fn the_search_v2_finds_tenures_by_payment_reference_and_resident_name() {
    let (names, client, _) = rebuilt("tenures", TENURES).await;
    let tenures = documents("tenures", TENURES);
    let reference = tenures[31]["paymentReference"]
        .as_str()
        .expect("a payment reference")
        .to_owned();
    let answer = search(
        &client,
        &names.alias,
        search_v2(Index::Tenures, &reference, 1, 20),
    )
    .await;
    assert_eq!(
        hit_ids(&answer),
        expected(&tenures, |t| t["paymentReference"] == reference.as_str())
    );
    // By a resident's full name: `fullName` is a normalized keyword, matched whole (fuzzily).
    for n in [3usize, 50, 120] {
        let full_name = tenures[n]["householdMembers"][0]["fullName"]
            .as_str()
            .expect("a resident's name")
            .to_owned();
        let want = expected(&tenures, |t| {
            list(&t["householdMembers"])
                .iter()
                .any(|m| lower(&m["fullName"]) == full_name.to_lowercase())
        });
        assert!(want.contains(&fixtures::tenure_id(n as u64)));
        let answer = search(
            &client,
            &names.alias,
            search_v2(Index::Tenures, &full_name, 1, 50),
        )
        .await;
        assert_eq!(hit_ids(&answer), want, "residents named {full_name}");
    }
}
