//! The person searches: V1 by name, with the tenure-type filter and the surname sort; V2.

use std::collections::BTreeSet;

use indexer_tests::harness::rebuilt;
use serde_json::Value;

use super::queries::*;
use super::*;

pub(super) const PERSONS: u64 = 200;

pub(super) fn not_a_housing_officer(person: &Value) -> bool {
    !list(&person["personTypes"])
        .iter()
        .any(|t| t == "HousingOfficer")
}

pub(super) fn name_contains(person: &Value, term: &str) -> bool {
    let term = term.to_lowercase();
    lower(&person["firstname"]).contains(&term) || lower(&person["surname"]).contains(&term)
}

/// Whether any tenure's type shares a token with one of `types` (what a `query_string` per
/// type on the text field `tenures.type` matches).
fn has_tenure_of(person: &Value, types: &[&str]) -> bool {
    let wanted: BTreeSet<String> = types.iter().flat_map(|t| tokens(t)).collect();
    list(&person["tenures"]).iter().any(|tenure| {
        tokens(tenure["type"].as_str().unwrap_or_default())
            .iter()
            .any(|t| wanted.contains(t))
    })
}

#[tokio::test]
async fn the_person_search_v1_finds_people_by_name_and_leaves_housing_officers_out() {
    let (names, client, _) = rebuilt("persons", PERSONS).await;
    let persons = documents("persons", PERSONS);
    for term in ascii_surnames(&persons).iter().take(3) {
        let want = expected(&persons, |p| {
            name_contains(p, term) && not_a_housing_officer(p)
        });
        assert!(!want.is_empty(), "the fixtures hold a {term}");
        let answer = search(
            &client,
            &names.alias,
            page(person_search_v1(term, None), 0, 100),
        )
        .await;
        assert_eq!(hit_ids(&answer), want, "search for {term}");
        assert_eq!(total(&answer), want.len() as u64);
        // The response's middle name is read from `middlename` (`QueryablePerson.cs`).
        for hit in hits(&answer) {
            let source = &hit["_source"];
            assert_eq!(source["middlename"], source["middleName"], "{hit}");
        }
        assert!(
            hits(&answer)
                .iter()
                .any(|hit| hit["_source"]["middlename"].is_string()),
            "someone named {term} has a middle name"
        );
    }

    // Two words: the wildstar matches either (`(*a* AND *b*) *a* *b*`), the exact query both.
    let person = persons
        .iter()
        .find(|p| {
            let ascii = |f: &str| {
                p[f].as_str()
                    .is_some_and(|v| v.chars().all(|c| c.is_ascii_alphabetic()))
            };
            ascii("firstname") && ascii("surname") && not_a_housing_officer(p)
        })
        .expect("a person with plain ASCII names");
    let (first, last) = (
        person["firstname"].as_str().unwrap_or_default(),
        person["surname"].as_str().unwrap_or_default(),
    );
    let want = expected(&persons, |p| {
        (name_contains(p, first) || name_contains(p, last)) && not_a_housing_officer(p)
    });
    let text = format!("{first} {last}");
    let answer = search(
        &client,
        &names.alias,
        page(person_search_v1(&text, None), 0, 200),
    )
    .await;
    assert_eq!(hit_ids(&answer), want, "search for {text}");
    assert!(want.contains(person["id"].as_str().unwrap_or_default()));
}

#[tokio::test]
async fn the_person_search_v1_filters_on_tenure_type_through_the_nested_tenures() {
    let (names, client, _) = rebuilt("persons", PERSONS).await;
    let persons = documents("persons", PERSONS);
    let mut checked = 0;
    for term in ascii_surnames(&persons) {
        let named = expected(&persons, |p| name_contains(p, &term));
        for (person_type, types) in [
            ("Tenant", TENANT_TENURE_TYPES),
            ("Leaseholder", LEASEHOLDER_TENURE_TYPES),
        ] {
            let want = expected(&persons, |p| {
                name_contains(p, &term) && has_tenure_of(p, types)
            });
            if want.is_empty() || want.len() == named.len() {
                continue;
            }
            let answer = search(
                &client,
                &names.alias,
                page(person_search_v1(&term, Some(types)), 0, 100),
            )
            .await;
            assert_eq!(hit_ids(&answer), want, "{person_type} named {term}");
            checked += 1;
        }
    }
    assert!(
        checked >= 2,
        "the fixtures hold people a tenure-type filter tells apart"
    );
}

/// A hit's sort key as OpenSearch orders it: the normalized surname and first name. Only for
/// ASCII names, which lowercasing normalizes exactly; `None` for the others.
fn ascii_name_key(hit: &Value) -> Option<(String, String)> {
    let name = |field: &str| {
        let value = hit["_source"][field].as_str().unwrap_or_default();
        value.is_ascii().then(|| value.to_lowercase())
    };
    Some((name("surname")?, name("firstname")?))
}

#[tokio::test]
async fn the_person_search_v1_sorts_by_surname_then_first_name_and_pages() {
    let (names, client, _) = rebuilt("persons", PERSONS).await;
    let term = "a";
    let all = search(
        &client,
        &names.alias,
        page(person_search_v1(term, None), 0, 1000),
    )
    .await;
    let want = hit_ids(&all);
    assert!(want.len() > 60, "a broad search: {}", want.len());
    // LastNameAsc.cs:11-13 / LastNameDesc.cs: sort on the normalized keywords, three pages.
    let mut ids = Vec::new();
    let mut keys = Vec::new();
    for from in [0, 20, 40] {
        let body = sorted(
            page(person_search_v1(term, None), from, 20),
            surname_sort(false),
        );
        let answer = search(&client, &names.alias, body).await;
        for hit in hits(&answer) {
            // OpenSearch returns the normalized value a keyword sorts on (`ahmed`);
            // osmem-server returns the stored one (`Ahmed`). Both sort on the normalized value.
            let surname = hit["_source"]["surname"].as_str().unwrap_or_default();
            let sorted_on = hit["sort"][0].as_str().unwrap_or_default();
            assert!(
                sorted_on == surname || (surname.is_ascii() && sorted_on == surname.to_lowercase()),
                "{sorted_on} sorts {surname}"
            );
            keys.extend(ascii_name_key(&hit));
            ids.push(hit["_id"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(ids.len(), 60);
    assert!(keys.len() > 20, "enough ASCII names to check the order");
    assert!(
        keys.windows(2).all(|pair| pair[0] <= pair[1]),
        "pages continue in surname, first-name order: {keys:?}"
    );
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), 60, "no person on two pages");
    assert!(unique.is_subset(&want));

    let descending = search(
        &client,
        &names.alias,
        sorted(
            page(person_search_v1(term, None), 0, 60),
            surname_sort(true),
        ),
    )
    .await;
    let down: Vec<(String, String)> = hits(&descending)
        .iter()
        .filter_map(ascii_name_key)
        .collect();
    assert!(
        down.windows(2).all(|pair| pair[0] >= pair[1]),
        "descending: {down:?}"
    );
    let ascending_first = keys.first().cloned().unwrap_or_default();
    assert!(down.iter().all(|key| *key >= ascending_first));
}

#[tokio::test]
async fn the_search_v2_finds_people_by_name_and_by_tenure_through_nested_queries() {
    let (names, client, _) = rebuilt("persons", PERSONS).await;
    let persons = documents("persons", PERSONS);
    // By a tenure's payment reference: the nested multi_match on the tenure key fields.
    let reference = persons[7]["tenures"][0]["paymentReference"]
        .as_str()
        .expect("person 7 has a tenure with a payment reference")
        .to_owned();
    let want = expected(&persons, |p| {
        list(&p["tenures"])
            .iter()
            .any(|t| t["paymentReference"] == reference.as_str())
    });
    let answer = search(
        &client,
        &names.alias,
        search_v2(Index::Persons, &reference, 1, 20),
    )
    .await;
    assert_eq!(hit_ids(&answer), want, "payment reference {reference}");

    // By surname: MatchNameFields on title, firstname and surname, and the all-fields
    // multi_match, which also finds the word in the other names.
    let term = ascii_surnames(&persons)[0].clone();
    let word = term.to_lowercase();
    let want = expected(&persons, |p| {
        name_contains(p, &term)
            || [
                "preferredFirstname",
                "preferredSurname",
                "middleName",
                "preferredMiddleName",
                "placeOfBirth",
            ]
            .iter()
            .any(|field| tokens(p[*field].as_str().unwrap_or_default()).contains(&word))
    });
    let answer = search(
        &client,
        &names.alias,
        search_v2(Index::Persons, &term, 1, 50),
    )
    .await;
    assert_eq!(hit_ids(&answer), want, "surname {term}");
    assert_eq!(total(&answer), want.len() as u64);
}
