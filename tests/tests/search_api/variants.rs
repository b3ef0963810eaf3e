//! What users type into the person and tenure searches beyond plain names: apostrophes,
//! hyphens, full stops and slashes, any mix of case, text that matches nobody, and paging past
//! the last page. Each expectation is computed from the fixtures' documents.

use std::collections::BTreeSet;

use indexer_core::entities;
use indexer_tests::fixtures;
use indexer_tests::harness::{Search, indexer, put, rebuild_args, rebuilt, seed};
use serde_json::{Value, json};

use super::persons::{PERSONS, name_contains, not_a_housing_officer};
use super::queries::*;
use super::tenures::{TENURES, member_named};
use super::*;

/// The name fields of a person, lower-cased: what the V2 search's name and all-fields clauses
/// read.
fn any_name_contains(person: &Value, needle: &str) -> bool {
    [
        "title",
        "firstname",
        "surname",
        "preferredTitle",
        "preferredFirstname",
        "preferredSurname",
        "middleName",
        "preferredMiddleName",
    ]
    .iter()
    .any(|field| lower(&person[*field]).contains(needle))
}

#[tokio::test]
async fn person_searches_with_punctuation_or_mixed_case_find_exactly_the_names_holding_it() {
    let (names, client, _) = rebuilt("persons", PERSONS).await;
    let persons = documents("persons", PERSONS);

    // V1 (`PersonQueryGenerator.cs:29-34`): the wildstar and the exact query reach the
    // normalized keywords whole; an apostrophe, a hyphen and a full stop are term characters in
    // `query_string`, and the normalizer lowercases what the user typed.
    for (typed, needle) in [
        ("O'Brien", "o'brien"),
        ("o'BRIEN", "o'brien"),
        ("Smith-Jones", "smith-jones"),
        ("SMITH-JONES", "smith-jones"),
        ("D'Souza", "d'souza"),
        ("n'diaye", "n'diaye"),
    ] {
        let want = expected(&persons, |p| {
            name_contains(p, needle) && not_a_housing_officer(p)
        });
        assert!(!want.is_empty(), "the fixtures hold a {typed}");
        let answer = search(
            &client,
            &names.alias,
            page(person_search_v1(typed, None), 0, 200),
        )
        .await;
        assert_eq!(hit_ids(&answer), want, "V1 search for {typed}");
        assert_eq!(total(&answer), want.len() as u64);
    }

    // Two words with a full stop: `(*St.* AND *John*) *St.* *John*` finds either word.
    let want = expected(&persons, |p| {
        (name_contains(p, "st.") || name_contains(p, "john")) && not_a_housing_officer(p)
    });
    assert!(!want.is_empty(), "the fixtures hold a St. John");
    let answer = search(
        &client,
        &names.alias,
        page(person_search_v1("st. JOHN", None), 0, 200),
    )
    .await;
    assert_eq!(hit_ids(&answer), want, "V1 search for st. JOHN");

    // V1 does not escape: a slash opens a regular expression in `query_string`, which the
    // cluster refuses (400), on the live index as on this one. The API answers 500 for it; no
    // mapping can change that.
    let (status, answer) = client
        .call(
            reqwest::Method::POST,
            &format!("/{}/_search", names.alias),
            Some(page(person_search_v1("O/Brien", None), 0, 10)),
        )
        .await;
    assert_eq!(status, 400, "{answer}");

    // V2 (`SearchGateway.cs:30-106`, `SearchOperations.cs:12-18`): the same names, and a slash,
    // which V2 escapes, so the search answers.
    for (typed, needle) in [
        ("O'Brien", "o'brien"),
        ("o'brien", "o'brien"),
        ("Smith-Jones", "smith-jones"),
    ] {
        let want = expected(&persons, |p| any_name_contains(p, needle));
        let answer = search(
            &client,
            &names.alias,
            search_v2(Index::Persons, typed, 1, 200),
        )
        .await;
        assert_eq!(hit_ids(&answer), want, "V2 search for {typed}");
    }
    let address = persons[11]["tenures"][0]["assetFullAddress"]
        .as_str()
        .expect("person 11 has a tenure's address")
        .to_owned();
    // A tenure's address as typed finds its person (the phrase-prefix clause on the nested
    // address matches it whole).
    let person = persons[11]["id"].as_str().unwrap_or_default();
    let answer = search(
        &client,
        &names.alias,
        search_v2(Index::Persons, &address, 1, 200),
    )
    .await;
    assert!(hit_ids(&answer).contains(person), "{address}: {answer}");
    // With `12/A (Flat)` after it (the API's own punctuation test): the escaped wildcard clause
    // answers instead of failing the whole search. The phrase no longer matches; what is left
    // is the fuzzy `or` match of the words, whose scores decide who passes `min_score: 5`.
    // Scores are where osmem-server differs from OpenSearch (here nobody passes), so the suite
    // asserts only what holds on both: every person found has a tenure sharing a word with the
    // text.
    let typed = format!("{address} 12/A (Flat)");
    let answer = search(
        &client,
        &names.alias,
        search_v2(Index::Persons, &typed, 1, 200),
    )
    .await;
    let words = tokens(&typed);
    for hit in hits(&answer) {
        let shares = list(&hit["_source"]["tenures"]).iter().any(|t| {
            tokens(t["assetFullAddress"].as_str().unwrap_or_default())
                .iter()
                .any(|w| words.contains(w))
        });
        assert!(shares, "{typed}: {hit}");
    }
}

#[tokio::test]
async fn person_searches_that_match_nobody_answer_empty() {
    let (names, client, _) = rebuilt("persons", PERSONS).await;
    for body in [
        page(person_search_v1("Zzyzxq", None), 0, 20),
        page(person_search_v1("Zzyzxq", Some(TENANT_TENURE_TYPES)), 0, 20),
        sorted(
            page(person_search_v1("Zzyzxq Qxyzz", None), 40, 20),
            surname_sort(true),
        ),
        search_v2(Index::Persons, "Zzyzxq", 1, 20),
        search_v2(Index::Persons, "Zzyzxq", 3, 20),
    ] {
        let answer = search(&client, &names.alias, body.clone()).await;
        assert_eq!(total(&answer), 0, "{body}");
        assert!(hits(&answer).is_empty());
    }
}

#[tokio::test]
async fn tenure_searches_with_punctuation_mixed_case_and_nothing_to_find() {
    let (names, client, _) = rebuilt("tenures", TENURES).await;
    let tenures = documents("tenures", TENURES);
    // V1 (`TenureQueryGenerator.cs:34-48`): a resident's surname with an apostrophe or hyphen, in
    // any case, against the normalized `householdMembers.fullName`.
    for (typed, needle) in [
        ("O'Brien", "o'brien"),
        ("o'BRIEN", "o'brien"),
        ("Smith-Jones", "smith-jones"),
        ("al-rashid", "al-rashid"),
    ] {
        let want = expected(&tenures, |t| member_named(t, needle));
        assert!(!want.is_empty(), "a tenure has a member named {typed}");
        let answer = search(
            &client,
            &names.alias,
            page(tenure_search_v1(typed, None, None), 0, 200),
        )
        .await;
        assert_eq!(hit_ids(&answer), want, "V1 search for {typed}");
    }

    // Nothing to find, on the search and on the listing in both directions.
    let answer = search(
        &client,
        &names.alias,
        page(tenure_search_v1("Zzyzxq", Some("true"), None), 0, 20),
    )
    .await;
    assert_eq!(total(&answer), 0);
    for descending in [false, true] {
        let answer = search(
            &client,
            &names.alias,
            tenure_sets_v1("Zzyzxq", descending, None, 20),
        )
        .await;
        assert_eq!(total(&answer), 0);
    }

    // Paging past the last tenure of the listing (`search_after` the last hit) finds nothing
    // and does not fail, in both directions.
    for descending in [false, true] {
        let all = search(
            &client,
            &names.alias,
            tenure_sets_v1("flat", descending, None, 1000),
        )
        .await;
        let last = hits(&all).last().cloned().expect("tenures in flats");
        let after = json!([value_text(&last["sort"][0]), last["_id"]]);
        let answer = search(
            &client,
            &names.alias,
            tenure_sets_v1("flat", descending, Some(&after), 20),
        )
        .await;
        assert!(hits(&answer).is_empty(), "past the end: {answer}");
        assert_eq!(total(&answer), total(&all));
    }

    // V2 by a resident's full name typed in capitals: `fullName` is a keyword normalized to
    // lower case, so the same tenures answer as for the name as stored.
    let full_name = tenures[50]["householdMembers"][0]["fullName"]
        .as_str()
        .expect("a resident's name")
        .to_owned();
    let want = expected(&tenures, |t| {
        list(&t["householdMembers"])
            .iter()
            .any(|m| lower(&m["fullName"]) == full_name.to_lowercase())
    });
    for typed in [full_name.clone(), full_name.to_uppercase()] {
        let answer = search(
            &client,
            &names.alias,
            search_v2(Index::Tenures, &typed, 1, 50),
        )
        .await;
        assert_eq!(hit_ids(&answer), want, "V2 search for {typed}");
    }
    let answer = search(
        &client,
        &names.alias,
        search_v2(Index::Tenures, "Zzyzxq", 1, 20),
    )
    .await;
    assert_eq!(total(&answer), 0);
}

/// The start-date listing over tenures of which some have no start date (the owning API's
/// attribute is optional): they sort last in both directions, and paging on with the last
/// hit's sort value as text, as the API's client does (`SearchGateway.cs:239-242`), visits
/// every tenure once even when a page ends on one without a date. OpenSearch gives such a
/// tenure the sort value `i64::MAX` (`i64::MIN` descending); osmem-server gives it rounded to
/// the nearest double; the test sends back whichever it got.
#[tokio::test]
async fn the_tenure_listing_pages_past_tenures_without_a_start_date() {
    const DATED: u64 = 40;
    let names = seed("tenures", DATED).await;
    let undated: Vec<_> = (DATED..DATED + 3)
        .map(|n| {
            let mut item = fixtures::item_for("tenures", n);
            item.remove("startOfTenureDate");
            item
        })
        .collect();
    put(&names.table, undated.clone().into_iter()).await;
    let client = Search::default();
    let run = indexer(&rebuild_args(&names, "tenures", &client.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    let mut tenures = documents("tenures", DATED);
    let factory = entities::by_name("tenures").expect("registered");
    for item in &undated {
        let document = factory.to_document(item).expect("an undated tenure maps");
        tenures.push(serde_json::from_slice(&document.body).expect("JSON"));
    }
    let want = expected(&tenures, |t| {
        tokens(
            t["tenuredAsset"]["fullAddress"]
                .as_str()
                .unwrap_or_default(),
        )
        .contains("london")
    });
    let missing = expected(&tenures, |t| t["startOfTenureDate"].is_null());
    assert_eq!(missing.len(), 3);
    assert!(
        missing.is_subset(&want),
        "the undated tenures are in London"
    );
    for descending in [false, true] {
        let mut seen: Vec<(Option<i64>, String)> = Vec::new();
        let mut after: Option<Value> = None;
        for _ in 0..50 {
            let body = tenure_sets_v1("london", descending, after.as_ref(), 4);
            let answer = search(&client, &names.alias, body).await;
            let page = hits(&answer);
            let Some(last) = page.last() else { break };
            after = Some(json!([value_text(&last["sort"][0]), last["_id"]]));
            for hit in &page {
                let date = hit["sort"][0]
                    .as_i64()
                    .filter(|millis| *millis != i64::MAX && *millis != i64::MIN);
                seen.push((date, hit["_id"].as_str().unwrap_or_default().to_owned()));
            }
        }
        let ids: BTreeSet<String> = seen.iter().map(|(_, id)| id.clone()).collect();
        assert_eq!(ids, want, "every tenure once (descending: {descending})");
        assert_eq!(
            seen.len(),
            want.len(),
            "none twice (descending: {descending})"
        );
        let tail: BTreeSet<String> = seen[seen.len() - 3..]
            .iter()
            .map(|(_, id)| id.clone())
            .collect();
        assert_eq!(tail, missing, "undated last (descending: {descending})");
        let dates: Vec<i64> = seen.iter().filter_map(|(date, _)| *date).collect();
        assert_eq!(dates.len(), want.len() - 3);
        assert!(dates.windows(2).all(|pair| match descending {
            true => pair[0] >= pair[1],
            false => pair[0] <= pair[1],
        }));
    }
}
