//! The asset searches: V1 by address and type, relationships, the temporary-accommodation
//! search and listing with their filters, paged by id; V2.

use std::collections::BTreeSet;

use indexer_tests::fixtures;
use indexer_tests::harness::rebuilt;
use serde_json::Value;

use super::asset_queries::*;
use super::queries::*;
use super::*;

pub(super) const ASSETS: u64 = 200;

pub(super) fn postcode_has(asset: &Value, token: &str) -> bool {
    tokens(
        asset["assetAddress"]["postCode"]
            .as_str()
            .unwrap_or_default(),
    )
    .contains(token)
}

#[tokio::test]
async fn the_asset_search_v1_finds_assets_by_postcode_and_type() {
    let (names, client, _) = rebuilt("assets", ASSETS).await;
    let assets = documents("assets", ASSETS);
    // Wildstar `*E5*`/`*8BQ*` on the address, postcode and UPRN: any postcode token holding
    // either; the asset type filter narrows it to dwellings.
    let want = expected(&assets, |a| {
        (postcode_has(a, "e5") || postcode_has(a, "8bq")) && a["assetType"] == "Dwelling"
    });
    assert!(!want.is_empty());
    let answer = search(
        &client,
        &names.alias,
        page(asset_search_v1("E5 8BQ", "Dwelling", None), 0, 200),
    )
    .await;
    assert_eq!(hit_ids(&answer), want);

    // Its `isActive` filter, as the API's clients send it.
    for active in ["true", "false"] {
        let want = expected(&assets, |a| {
            (postcode_has(a, "e5") || postcode_has(a, "8bq"))
                && a["assetType"] == "Dwelling"
                && value_at(a, "/isActive") == active
        });
        let query = asset_search_v1("E5 8BQ", "Dwelling", Some(active));
        let answer = search(&client, &names.alias, page(query, 0, 200)).await;
        assert_eq!(hit_ids(&answer), want, "isActive {active}");
    }

    // The simple query used for quick address look-ups (its first field is mapped nowhere).
    let want = expected(&assets, |a| postcode_has(a, "e5") || postcode_has(a, "8bq"));
    let answer = search(
        &client,
        &names.alias,
        page(asset_simple_query_v1("E5 8BQ"), 0, 200),
    )
    .await;
    assert_eq!(hit_ids(&answer), want);

    // The listing with a search text outside temporary accommodation (wildstar and exact
    // queries, `AssetQueryGenerator.cs:92-127`), filtered on the tenure type.
    for tenure_type in ["Secure", "Introductory"] {
        let filters = AssetFilters {
            tenure_type: Some(tenure_type),
            ..AssetFilters::default()
        };
        let want = expected(&assets, |a| {
            postcode_has(a, "e8") && a["tenure"]["type"] == tenure_type
        });
        assert!(!want.is_empty(), "{tenure_type} near E8");
        let answer = search(
            &client,
            &names.alias,
            asset_sets_v1(Some("e8"), &filters, None, 200),
        )
        .await;
        assert_eq!(hit_ids(&answer), want, "{tenure_type} near E8");
    }
}

#[tokio::test]
async fn the_asset_relationships_v1_find_the_children_of_a_block() {
    let (names, client, _) = rebuilt("assets", ASSETS).await;
    let assets = documents("assets", ASSETS);
    let parents = assets[5]["parentAssetIds"]
        .as_str()
        .expect("asset 5 has parents")
        .to_owned();
    let block = parents
        .split('#')
        .next_back()
        .expect("a block id")
        .to_owned();
    // A query_string of one id against the text field: OpenSearch analyses the id into its
    // hex groups and matches any of them, so the expectation does the same.
    let wanted = tokens(&block);
    let want = expected(&assets, |a| {
        tokens(a["parentAssetIds"].as_str().unwrap_or_default())
            .iter()
            .any(|t| wanted.contains(t))
    });
    let children = expected(&assets, |a| {
        a["parentAssetIds"]
            .as_str()
            .unwrap_or_default()
            .split('#')
            .any(|id| id == block)
    });
    assert!(children.len() >= 2, "block {block} has several children");
    assert!(children.is_subset(&want));
    let answer = search(
        &client,
        &names.alias,
        page(asset_children_v1(&block), 0, 200),
    )
    .await;
    assert_eq!(hit_ids(&answer), want, "children of {block}");
}

fn is_temporary(asset: &Value) -> bool {
    asset["assetManagement"]["isTemporaryAccomodation"] == true
}

#[tokio::test]
async fn the_asset_listing_v1_filters_temporary_accommodation_and_pages_by_id() {
    let (names, client, _) = rebuilt("assets", ASSETS).await;
    let assets = documents("assets", ASSETS);
    let filters = AssetFilters {
        is_temporary_accomodation: Some("true"),
        ..AssetFilters::default()
    };
    let want = expected(&assets, is_temporary);
    assert!(want.len() > 15, "temporary assets: {}", want.len());
    let mut seen = Vec::new();
    let mut last: Option<String> = None;
    for _ in 0..50 {
        let body = asset_sets_v1(None, &filters, last.as_deref(), 10);
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
    assert!(
        seen.windows(2).all(|pair| pair[0] < pair[1]),
        "ordered by id"
    );
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(seen.len(), want.len());

    // Rooms in a hostel block, by the block's id.
    let room = assets
        .iter()
        .find(|a| a["assetManagement"]["isPartOfTemporaryAccommodationBlock"] == true)
        .expect("a room in a temporary-accommodation block");
    let block = room["assetManagement"]["temporaryAccommodationParentAssetId"]
        .as_str()
        .expect("its block")
        .to_owned();
    let filters = AssetFilters {
        ta_parent_asset_id: Some(&block),
        ..AssetFilters::default()
    };
    let answer = search(
        &client,
        &names.alias,
        asset_sets_v1(None, &filters, None, 50),
    )
    .await;
    assert_eq!(
        hit_ids(&answer),
        expected(&assets, |a| {
            a["assetManagement"]["temporaryAccommodationParentAssetId"] == block.as_str()
        })
    );
}

#[tokio::test]
async fn the_temporary_accommodation_search_v1_filters_on_characteristics_and_tenure_type() {
    let (names, client, _) = rebuilt("assets", ASSETS).await;
    let assets = documents("assets", ASSETS);
    // Each search is built from one temporary asset's own values, so it must find that asset
    // and every other asset that shares them.
    let samples: Vec<&Value> = assets
        .iter()
        .filter(|a| {
            is_temporary(a)
                && a["tenure"]["type"]
                    .as_str()
                    .is_some_and(|t| t.chars().all(|c| c.is_ascii_alphabetic()))
        })
        .take(4)
        .collect();
    assert!(samples.len() >= 2, "temporary assets with a tenure");
    for sample in samples {
        let text = tokens(
            sample["assetAddress"]["postCode"]
                .as_str()
                .unwrap_or_default(),
        )
        .into_iter()
        .next()
        .expect("a postcode");
        let spaces = sample["assetCharacteristics"]["numberOfBedSpaces"].to_string();
        let step_free = sample["assetCharacteristics"]["isStepFree"].to_string();
        let tenure_type = sample["tenure"]["type"].as_str().unwrap_or_default();
        let filters = AssetFilters {
            is_temporary_accomodation: Some("true"),
            number_of_bed_spaces: Some(&spaces),
            step_free: Some(&step_free),
            tenure_type: Some(tenure_type),
            ..AssetFilters::default()
        };
        let want = expected(&assets, |a| {
            is_temporary(a)
                && postcode_has(a, &text)
                && a["assetCharacteristics"]["numberOfBedSpaces"]
                    == sample["assetCharacteristics"]["numberOfBedSpaces"]
                && a["assetCharacteristics"]["isStepFree"]
                    == sample["assetCharacteristics"]["isStepFree"]
                && a["tenure"]["type"] == tenure_type
        });
        assert!(want.contains(sample["id"].as_str().unwrap_or_default()));
        let answer = search(
            &client,
            &names.alias,
            asset_sets_v1(Some(&text), &filters, None, 100),
        )
        .await;
        assert_eq!(
            hit_ids(&answer),
            want,
            "{tenure_type}, {spaces} bed spaces, step free {step_free}, near {text}"
        );
    }
}

#[tokio::test]
async fn the_search_v2_finds_assets_by_uprn_and_by_address() {
    let (names, client, _) = rebuilt("assets", ASSETS).await;
    let assets = documents("assets", ASSETS);
    let uprn = assets[42]["assetAddress"]["uprn"]
        .as_str()
        .expect("a uprn")
        .to_owned();
    let answer = search(
        &client,
        &names.alias,
        search_v2(Index::Assets, &uprn, 1, 20),
    )
    .await;
    assert_eq!(
        hit_ids(&answer),
        expected(&assets, |a| a["assetAddress"]["uprn"] == uprn.as_str())
    );
    let line = assets[42]["assetAddress"]["addressLine1"]
        .as_str()
        .expect("an address")
        .to_owned();
    let answer = search(
        &client,
        &names.alias,
        search_v2(Index::Assets, &line, 1, 20),
    )
    .await;
    assert!(
        hit_ids(&answer).contains(&fixtures::asset_id(42)),
        "{line}: {answer}"
    );
}

/// A document's value at a JSON pointer as a filter sends it (`"null"` when absent).
fn value_at(asset: &Value, pointer: &str) -> String {
    match asset.pointer(pointer) {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => "null".to_owned(),
    }
}

/// The listing's filters, one at a time, each named by the attribute it matches.
fn one_filter<'a>(attribute: &str, value: &'a str) -> AssetFilters<'a> {
    let mut filters = AssetFilters::default();
    let slot = match attribute {
        "numberOfBedrooms" => &mut filters.number_of_bedrooms,
        "numberOfCots" => &mut filters.number_of_cots,
        "isPartOfTemporaryAccommodationBlock" => &mut filters.part_of_ta_block,
        "rootAsset" => &mut filters.parent_asset_id,
        "isActive" => &mut filters.is_active,
        "assetType" => &mut filters.asset_types,
        "propertyOccupiedStatus" => &mut filters.asset_status,
        "floorNo" => &mut filters.floor_no,
        "hasPrivateBathroom" => &mut filters.private_bathroom,
        "hasPrivateKitchen" => &mut filters.private_kitchen,
        other => panic!("no filter for {other}"),
    };
    *slot = Some(value);
    filters
}

/// The listing without search text (`AssetQueryGenerator.cs:132-156`): each filter the API
/// sends (bedrooms, cots, part of a temporary-accommodation block, parent asset on `rootAsset`,
/// `isActive`, asset type, `AssetStatus` on the occupied status), for up to three of the values
/// the sample data holds, finds exactly the assets holding that value.
#[tokio::test]
async fn the_asset_listing_v1_filters_on_each_attribute_the_api_sends() {
    let (names, client, _) = rebuilt("assets", ASSETS).await;
    let assets = documents("assets", ASSETS);
    let attributes = [
        ("numberOfBedrooms", "/assetCharacteristics/numberOfBedrooms"),
        ("numberOfCots", "/assetCharacteristics/numberOfCots"),
        (
            "isPartOfTemporaryAccommodationBlock",
            "/assetManagement/isPartOfTemporaryAccommodationBlock",
        ),
        ("rootAsset", "/rootAsset"),
        ("isActive", "/isActive"),
        ("assetType", "/assetType"),
        (
            "propertyOccupiedStatus",
            "/assetManagement/propertyOccupiedStatus",
        ),
    ];
    for (attribute, pointer) in attributes {
        let values: BTreeSet<String> = assets
            .iter()
            .map(|a| value_at(a, pointer))
            .filter(|v| v != "null")
            .collect();
        assert!(!values.is_empty(), "the sample data holds {attribute}");
        for value in values.iter().take(3) {
            let want = expected(&assets, |a| value_at(a, pointer) == *value);
            let filters = one_filter(attribute, value);
            let answer = search(
                &client,
                &names.alias,
                asset_sets_v1(None, &filters, None, 200),
            )
            .await;
            assert_eq!(hit_ids(&answer), want, "{attribute} {value}");
        }
    }
    // A parent no asset has finds nothing.
    let filters = one_filter("rootAsset", "0d6a8b2f7e10");
    let answer = search(
        &client,
        &names.alias,
        asset_sets_v1(None, &filters, None, 200),
    )
    .await;
    assert_eq!(total(&answer), 0);
}

/// The temporary-accommodation search's own filters (`AssetQueryGenerator.cs:76-78`): floor,
/// private bathroom, private kitchen, each with a temporary asset's own value and its opposite.
#[tokio::test]
async fn the_temporary_accommodation_search_v1_filters_on_floor_bathroom_and_kitchen() {
    let (names, client, _) = rebuilt("assets", ASSETS).await;
    let assets = documents("assets", ASSETS);
    let sample = assets
        .iter()
        .find(|a| is_temporary(a) && a["assetLocation"]["floorNo"].is_string())
        .expect("a temporary asset with a floor");
    let text = tokens(
        sample["assetAddress"]["postCode"]
            .as_str()
            .unwrap_or_default(),
    )
    .into_iter()
    .next()
    .expect("a postcode");
    let attributes = [
        ("floorNo", "/assetLocation/floorNo"),
        (
            "hasPrivateBathroom",
            "/assetCharacteristics/hasPrivateBathroom",
        ),
        (
            "hasPrivateKitchen",
            "/assetCharacteristics/hasPrivateKitchen",
        ),
    ];
    for (attribute, pointer) in attributes {
        let own = value_at(sample, pointer);
        let opposite = match own.as_str() {
            "true" => "false".to_owned(),
            "false" => "true".to_owned(),
            _ => "99".to_owned(),
        };
        for value in [own, opposite] {
            let mut filters = one_filter(attribute, &value);
            filters.is_temporary_accomodation = Some("true");
            let want = expected(&assets, |a| {
                is_temporary(a) && postcode_has(a, &text) && value_at(a, pointer) == value
            });
            let answer = search(
                &client,
                &names.alias,
                asset_sets_v1(Some(&text), &filters, None, 200),
            )
            .await;
            assert_eq!(hit_ids(&answer), want, "{attribute} {value} near {text}");
        }
    }
}
