//! What users send to the asset queries beyond the plain cases: postcodes with and without
//! their space and in any case, the custom-sorted search's page of 650, sorts in both
//! directions paged with `search_after`, the relationships of an asset in the middle of a
//! chain, punctuation, and searches that find nothing. Expectations come from the fixtures.

use std::collections::BTreeSet;

use indexer_tests::fixtures;
use indexer_tests::harness::rebuilt;
use serde_json::Value;

use super::asset_queries::*;
use super::queries::*;
use super::*;

use super::assets::{ASSETS, postcode_has};

#[tokio::test]
async fn asset_searches_find_a_postcode_however_it_is_typed() {
    let (names, client, _) = rebuilt("assets", ASSETS).await;
    let assets = documents("assets", ASSETS);
    // V1 search (`AssetQueryGenerator.cs:45-60`): either half of the postcode, any case.
    let want = expected(&assets, |a| {
        (postcode_has(a, "e5") || postcode_has(a, "8bq")) && a["assetType"] == "Dwelling"
    });
    assert!(!want.is_empty());
    for typed in ["E5 8BQ", "e5 8bq", "E5 8bq"] {
        let answer = search(
            &client,
            &names.alias,
            page(asset_search_v1(typed, "Dwelling", None), 0, 200),
        )
        .await;
        assert_eq!(hit_ids(&answer), want, "{typed}");
    }

    // Without its space and without custom sorting the API sends `E58BQ` as typed: the
    // postcode is text (tokens `e5`, `8bq`, on the live index too), so nothing matches.
    let answer = search(
        &client,
        &names.alias,
        page(asset_search_v1("E58BQ", "Dwelling", None), 0, 200),
    )
    .await;
    assert_eq!(total(&answer), 0);

    // With `useCustomSorting` (`SearchGateway.cs:68-83`) the API normalizes the postcode and
    // asks for 650 results at once: the same assets, all on the one page.
    for typed in ["e58bq", "E58BQ", "e5 8bq"] {
        let normalized = normalize_postcode(typed);
        assert_eq!(normalized, "E5 8BQ");
        let answer = search(
            &client,
            &names.alias,
            page(asset_search_v1(&normalized, "Dwelling", None), 0, 650),
        )
        .await;
        assert_eq!(hit_ids(&answer), want, "{typed}");
        assert_eq!(hits(&answer).len(), want.len());
    }

    // The filtered listing normalizes too (`SearchGateway.cs:102-105`).
    let want = expected(&assets, |a| {
        postcode_has(a, "n16") || postcode_has(a, "7uy")
    });
    assert!(!want.is_empty());
    let listing = search(
        &client,
        &names.alias,
        asset_sets_v1(
            Some(&normalize_postcode("n167uy")),
            &AssetFilters::default(),
            None,
            200,
        ),
    )
    .await;
    assert_eq!(hit_ids(&listing), want);
}

#[tokio::test]
async fn asset_searches_and_listings_sort_by_id_both_ways_and_page() {
    let (names, client, _) = rebuilt("assets", ASSETS).await;
    let assets = documents("assets", ASSETS);
    let want = expected(&assets, |a| {
        a["assetManagement"]["isTemporaryAccomodation"] == true
    });
    assert!(want.len() > 15, "temporary assets: {}", want.len());
    let filters = AssetFilters {
        is_temporary_accomodation: Some("true"),
        ..AssetFilters::default()
    };
    // The listing (`ElasticElasticSearchWrapper.cs:86-110`) with `AssetIdDesc`, paged by
    // `search_after` of the last hit's id until a page comes back empty.
    for descending in [false, true] {
        let mut seen: Vec<String> = Vec::new();
        let mut last: Option<String> = None;
        for _ in 0..50 {
            let body = sorted(
                asset_sets_v1(None, &filters, last.as_deref(), 7),
                id_sort(descending),
            );
            let answer = search(&client, &names.alias, body).await;
            assert_eq!(total(&answer), want.len() as u64);
            let page = hits(&answer);
            let Some(hit) = page.last() else { break };
            last = hit["_id"].as_str().map(str::to_owned);
            seen.extend(
                page.iter()
                    .filter_map(|h| h["_id"].as_str().map(str::to_owned)),
            );
        }
        assert_eq!(
            seen.len(),
            want.len(),
            "no asset twice (descending: {descending})"
        );
        assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), want);
        assert!(
            seen.windows(2).all(|pair| match descending {
                true => pair[0] > pair[1],
                false => pair[0] < pair[1],
            }),
            "ordered by id (descending: {descending})"
        );
    }

    // The search with a sort (`SortFactory.cs:28-39`), paged by `from`: three pages of ten
    // are the first thirty of the matches in id order.
    let matches: Vec<String> =
        expected(&assets, |a| postcode_has(a, "e8") || postcode_has(a, "e9"))
            .into_iter()
            .collect();
    assert!(matches.len() > 30, "{}", matches.len());
    for descending in [false, true] {
        let mut ordered = matches.clone();
        if descending {
            ordered.reverse();
        }
        let mut seen = Vec::new();
        for from in [0, 10, 20] {
            let body = sorted(
                page(asset_search_v1("E8 E9", "", None), from, 10),
                id_sort(descending),
            );
            let answer = search(&client, &names.alias, body).await;
            assert_eq!(total(&answer), matches.len() as u64);
            seen.extend(
                hits(&answer)
                    .iter()
                    .filter_map(|h| h["_id"].as_str().map(str::to_owned)),
            );
        }
        assert_eq!(seen, ordered[..30], "descending: {descending}");
    }
}

#[tokio::test]
async fn asset_relationships_of_an_asset_in_the_middle_of_a_chain() {
    let (names, client, _) = rebuilt("assets", ASSETS).await;
    let assets = documents("assets", ASSETS);
    let chain = assets[5]["parentAssetIds"]
        .as_str()
        .expect("asset 5 has parents")
        .to_owned();
    let ids: Vec<&str> = chain.split('#').collect();
    assert_eq!(ids.len(), 3, "root, estate, block: {chain}");
    let estate = ids[1];
    // As for a block (`assets.rs`), OpenSearch analyses the id into its hex groups and matches
    // any of them; every asset under the estate is among the hits.
    let wanted = tokens(estate);
    let want = expected(&assets, |a| {
        tokens(a["parentAssetIds"].as_str().unwrap_or_default())
            .iter()
            .any(|t| wanted.contains(t))
    });
    let under = expected(&assets, |a| {
        a["parentAssetIds"]
            .as_str()
            .unwrap_or_default()
            .split('#')
            .any(|id| id == estate)
    });
    let blocks: BTreeSet<&str> = assets
        .iter()
        .filter(|a| under.contains(a["id"].as_str().unwrap_or_default()))
        .filter_map(|a| a["parentAssetIds"].as_str()?.split('#').nth(2))
        .collect();
    assert!(blocks.len() >= 2, "estate {estate} holds several blocks");
    assert!(under.is_subset(&want));
    let answer = search(
        &client,
        &names.alias,
        page(asset_children_v1(estate), 0, 200),
    )
    .await;
    assert_eq!(hit_ids(&answer), want, "under estate {estate}");

    // An asset that is nobody's parent has no children, and asking does not fail.
    let leaf = fixtures::asset_id(5);
    let answer = search(
        &client,
        &names.alias,
        page(asset_children_v1(&leaf), 0, 200),
    )
    .await;
    assert_eq!(total(&answer), 0, "children of {leaf}");
}

#[tokio::test]
async fn asset_searches_with_punctuation_and_with_nothing_to_find() {
    let (names, client, _) = rebuilt("assets", ASSETS).await;
    let assets = documents("assets", ASSETS);
    // The API's own test of its punctuation fix (`AssetSearchTests.cs`, "12/A (Flat)"): V2
    // escapes the reserved characters, so the search answers. Its clauses match words, and
    // which of the flats score past `min_score` depends on scoring (where osmem-server differs
    // from OpenSearch), so what is asserted is that every hit holds one of the words.
    let answer = search(
        &client,
        &names.alias,
        search_v2(Index::Assets, "12/A (Flat)", 1, 200),
    )
    .await;
    for hit in hits(&answer) {
        let line = lower(&hit["_source"]["assetAddress"]["addressLine1"]);
        assert!(
            tokens(&line)
                .iter()
                .any(|t| ["12", "a", "flat"].contains(&t.as_str())),
            "{line}"
        );
    }
    // An asset's first address line with a slash and brackets around it finds that asset.
    let line = assets[42]["assetAddress"]["addressLine1"]
        .as_str()
        .expect("an address")
        .to_owned();
    let typed = format!("({line}) /");
    let answer = search(
        &client,
        &names.alias,
        search_v2(Index::Assets, &typed, 1, 50),
    )
    .await;
    assert!(
        hit_ids(&answer).contains(&fixtures::asset_id(42)),
        "{typed}: {answer}"
    );

    // Nothing to find: V1 search, listing, simple query, V2.
    for body in [
        page(asset_search_v1("Zzyzxq", "Dwelling", None), 0, 20),
        asset_sets_v1(Some("zzyzxq"), &AssetFilters::default(), None, 20),
        page(asset_simple_query_v1("Zzyzxq"), 0, 20),
        search_v2(Index::Assets, "Zzyzxq", 1, 20),
    ] {
        let answer = search(&client, &names.alias, body.clone()).await;
        assert_eq!(total(&answer), 0, "{body}");
    }
}

/// What the listener that keeps the live index writes beside the rebuilt documents: an asset
/// with its contracts (`assetContracts`, from the contracts service, not the Assets table) and
/// `assetManagement.isTemporaryAccommodationBlock`. The strict mapping accepts it, and the
/// API's contract filter (`AssetQueryGenerator.cs:147`) finds it and nothing else: a rebuild
/// fills no contracts (the items have none), so only assets the listener wrote carry them.
#[tokio::test]
async fn an_asset_as_the_listener_writes_it_is_accepted_and_found_by_its_contract() {
    let (names, client, _) = rebuilt("assets", ASSETS).await;
    let assets = documents("assets", ASSETS);
    let mut written = assets[3].clone();
    written["assetManagement"]["isTemporaryAccommodationBlock"] = Value::Bool(true);
    written["assetContracts"] = serde_json::json!([{
        "id": "7f1e2d3c-4b5a-4968-8776-655443322110",
        "targetId": written["id"],
        "targetType": "asset",
        "startDate": "2024-11-21T00:00:00",
        "approvalDate": "2024-11-22T09:30:00Z",
        "endReason": "Expired",
        "approvalStatus": "Approved",
        "approvalStatusReason": "Checked",
        "isActive": true,
        "charges": [{"id": "c-1", "type": "Rent", "subType": "Weekly", "frequency": "Weekly", "amount": 112.5}],
        "relatedPeople": [{"id": "p-1", "type": "person", "subType": "tenant", "name": "Ada Okafor"}],
    }]);
    let id = written["id"].as_str().expect("an id").to_owned();
    let (status, answer) = client
        .call(
            reqwest::Method::PUT,
            &format!("/{}/_doc/{id}?refresh=true", names.alias),
            Some(written.clone()),
        )
        .await;
    assert!(status < 300, "the strict mapping accepts it: {answer}");

    let filters = AssetFilters {
        contract_approval_status: Some("Approved"),
        ..AssetFilters::default()
    };
    let answer = search(
        &client,
        &names.alias,
        asset_sets_v1(None, &filters, None, 50),
    )
    .await;
    assert_eq!(hit_ids(&answer), BTreeSet::from([id.clone()]));
    let hit = &hits(&answer)[0]["_source"];
    assert_eq!(
        hit["assetManagement"]["isTemporaryAccommodationBlock"],
        true
    );
    assert_eq!(hit["assetContracts"][0]["charges"][0]["amount"], 112.5);
}
