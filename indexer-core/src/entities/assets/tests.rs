//! The assets factory's unit tests and its fully populated sample item.

use super::*;
use crate::entities::testing::*;

/// A realistic dwelling with every attribute set.
pub(crate) fn full_item() -> Item {
    let charge = |id: &str, kind: &str, sub: &str, amount: &str| {
        m(&[
            ("id", s(id)),
            ("type", s(kind)),
            ("subType", s(sub)),
            ("frequency", s("Weekly")),
            ("amount", n(amount)),
        ])
    };
    item(&[
        ("id", s("3e1d0c9b-8a7f-4e6d-9c5b-4a3f2e1d0c9b")),
        ("assetId", s("00074312")),
        ("assetType", s("Dwelling")),
        ("rootAsset", s("656feda1-896f-b136-da84-163ee4f1be6c")),
        (
            "parentAssetIds",
            s("656feda1-896f-b136-da84-163ee4f1be6c#b1c2d3e4-0000-4000-8000-00000000b10c"),
        ),
        ("isActive", b(true)),
        ("isAssetCautionaryAlerted", b(true)),
        ("isCautionaryAlerted", b(true)),
        (
            "assetAddress",
            m(&[
                ("uprn", s("100021045678")),
                ("addressLine1", s("Flat 12 Beaumont Court")),
                ("addressLine2", s("Upper Clapton Road")),
                ("addressLine3", s("Hackney")),
                ("addressLine4", s("London")),
                ("postCode", s("E5 8BQ")),
                ("postPreamble", s("Rear entrance")),
            ]),
        ),
        (
            "tenure",
            m(&[
                ("id", s("9b2c4d6e-1f3a-4b5c-8d7e-6f5a4b3c2d1e")),
                ("paymentReference", s("1928374650")),
                ("type", s("Secure")),
                ("startOfTenureDate", s("2012-06-04T00:00:00Z")),
                ("endOfTenureDate", s("2024-11-30")),
                ("isActive", b(false)),
            ]),
        ),
        (
            "assetCharacteristics",
            m(&[
                ("numberOfBedrooms", n("2")),
                ("numberOfLifts", n("1")),
                ("numberOfLivingRooms", n("1")),
                ("yearConstructed", s("1965")),
                ("windowType", s("Double glazed uPVC")),
                ("hasStairs", b(true)),
                ("numberOfStairs", n("14")),
                ("hasRampAccess", b(false)),
                ("hasCommunalAreas", b(true)),
                ("hasPrivateBathroom", b(true)),
                ("numberOfBathrooms", n("1")),
                ("hasPrivateKitchen", b(true)),
                ("numberOfKitchens", n("1")),
                ("numberOfFloors", n("1")),
                ("totalBlockFloors", n("6")),
                ("heating", s("Communal gas")),
                ("propertyFactor", s("1.04")),
                ("isLoftConverted", b(false)),
                ("epcScore", s("C")),
                ("numberOfBedSpaces", n("4")),
                ("numberOfCots", n("1")),
                ("numberOfShowers", n("1")),
                ("isStepFree", b(false)),
                ("optionToTax", b(false)),
            ]),
        ),
        (
            "assetManagement",
            m(&[
                ("agent", s("Hackney Homes")),
                ("areaOfficeName", s("Clapton Area Office")),
                ("isCouncilProperty", b(true)),
                ("managingOrganisation", s("London Borough of Hackney")),
                (
                    "managingOrganisationId",
                    s("c01e3146-e630-c2cd-e709-18ef57bf3724"),
                ),
                ("owner", s("LBH")),
                ("isTMOManaged", b(false)),
                ("propertyOccupiedStatus", s("Occupied")),
                ("propertyOccupiedStatusReason", s("Let to secure tenant")),
                ("isNoRepairsMaintenance", b(false)),
                ("councilTaxType", s("B")),
                ("councilTaxLiability", s("Tenant")),
                ("isTemporaryAccomodation", b(true)),
                ("isTemporaryAccommodationBlock", b(false)),
                ("isPartOfTemporaryAccommodationBlock", b(true)),
                (
                    "temporaryAccommodationParentAssetId",
                    s("b1c2d3e4-0000-4000-8000-00000000b10c"),
                ),
            ]),
        ),
        (
            "assetLocation",
            m(&[
                ("floorNo", s("3")),
                ("totalBlockFloors", n("6")),
                (
                    "parentAssets",
                    l(vec![m(&[
                        ("id", s("656feda1-896f-b136-da84-163ee4f1be6c")),
                        ("type", s("Block")),
                        ("name", s("Beaumont Court")),
                    ])]),
                ),
            ]),
        ),
        (
            "assetContract",
            m(&[
                ("id", s("e7a1b2c3-d4e5-4f60-8a9b-0c1d2e3f4a5b")),
                ("targetId", s("3e1d0c9b-8a7f-4e6d-9c5b-4a3f2e1d0c9b")),
                ("targetType", s("asset")),
                ("approvalDate", s("2023-03-31T09:15:00Z")),
                ("approvalStatus", s("Approved")),
                ("approvalStatusReason", s("Signed by both parties")),
                ("isActive", b(true)),
                ("isApproved", b(true)),
                ("startDate", s("2023-04-01")),
                ("endDate", s("2026-03-31")),
                (
                    "charges",
                    l(vec![
                        charge("ch-1", "Service", "Estate cleaning", "4.37"),
                        charge("ch-2", "Service", "Lift maintenance", "12.05"),
                    ]),
                ),
                (
                    "relatedPeople",
                    l(vec![m(&[
                        ("id", s("5a3f1c9e-2b7d-4e18-9c41-0d6a8b2f7e10")),
                        ("type", s("Landlord")),
                        ("subType", s("Private")),
                        ("name", s("Beaumont Lettings Ltd")),
                    ])]),
                ),
            ]),
        ),
        ("versionNumber", n("12")),
    ])
}

#[test]
fn a_fully_populated_asset_maps_to_its_document() {
    let document = document(&Assets, &full_item());
    assert_eq!(document.id, "3e1d0c9b-8a7f-4e6d-9c5b-4a3f2e1d0c9b");
    insta::assert_snapshot!(pretty(&document));
}

#[test]
fn the_index_definition_parses_and_is_strict() {
    let definition = Assets.index_definition();
    assert_eq!(definition["mappings"]["dynamic"], "strict");
    let properties = &definition["mappings"]["properties"];
    let charges = &properties["assetContract"]["properties"]["charges"];
    assert!(
        charges.get("type").is_none(),
        "charges is a plain object list"
    );
    assert_eq!(charges["properties"]["amount"]["type"], "float");
    text_fields_have_keyword_subfields(properties, "");
}

/// The shapes the search API's asset queries rely on.
#[test]
fn the_fields_the_search_api_filters_on_have_the_live_shapes() {
    let properties = &Assets.index_definition()["mappings"]["properties"];
    assert_eq!(properties["parentAssetIds"]["type"], "text");
    assert_eq!(
        properties["tenure"]["properties"]["type"]["fields"]["keyword"]["type"],
        "keyword"
    );
    let management = &properties["assetManagement"]["properties"];
    assert_eq!(management["isTemporaryAccomodation"]["type"], "boolean");
    assert_eq!(
        management["isPartOfTemporaryAccommodationBlock"]["type"],
        "boolean"
    );
    let characteristics = &properties["assetCharacteristics"]["properties"];
    for count in ["numberOfBedSpaces", "numberOfCots", "numberOfBedrooms"] {
        assert_eq!(characteristics[count]["type"], "long", "{count}");
    }
    assert_eq!(characteristics["isStepFree"]["type"], "boolean");
}

#[test]
fn temporary_accommodation_flags_come_from_either_spelling() {
    let management = |flag: &str| {
        with(
            full_item(),
            "assetManagement",
            m(&[
                (flag, b(true)),
                ("isPartOfTemporaryAccommodationBlock", b(false)),
            ]),
        )
    };
    for flag in ["isTemporaryAccomodation", "isTemporaryAccommodation"] {
        let json = body_json(&document(&Assets, &management(flag)));
        assert_eq!(
            json["assetManagement"]["isTemporaryAccomodation"], true,
            "{flag}"
        );
        assert_eq!(
            json["assetManagement"]["isPartOfTemporaryAccommodationBlock"],
            false
        );
    }
}

#[test]
fn the_cautionary_alert_flag_comes_from_the_data() {
    for flag in [true, false] {
        let item = with(full_item(), "isAssetCautionaryAlerted", b(flag));
        let json = body_json(&document(&Assets, &item));
        assert_eq!(json["isAssetCautionaryAlerted"], flag);
    }
    let mut item = full_item();
    item.remove("isAssetCautionaryAlerted");
    let json = body_json(&document(&Assets, &item));
    assert!(json.get("isAssetCautionaryAlerted").is_none());
}

#[test]
fn thirty_eight_digit_charges_keep_every_digit_in_the_body() {
    let huge = "1234567890123456789012345678901234.5678";
    let contract = m(&[("charges", l(vec![m(&[("amount", n(huge))])]))]);
    let item = with(full_item(), "assetContract", contract);
    let body = String::from_utf8(document(&Assets, &item).body).expect("UTF-8");
    assert!(body.contains(&format!("\"amount\":{huge}")), "{body}");
}

#[test]
fn accents_apostrophes_and_non_latin_addresses_survive() {
    let address = m(&[
        ("addressLine1", s("Flat 3, St. Mary's Café House")),
        ("addressLine2", s("Ünal-Çelik Court")),
        ("addressLine3", s("ঢাকা রোড")),
    ]);
    let item = item(&[("id", s("a-1")), ("assetAddress", address)]);
    let json = body_json(&document(&Assets, &item));
    assert_eq!(
        json["assetAddress"]["addressLine1"],
        "Flat 3, St. Mary's Café House"
    );
    assert_eq!(json["assetAddress"]["addressLine2"], "Ünal-Çelik Court");
    assert_eq!(json["assetAddress"]["addressLine3"], "ঢাকা রোড");
}

#[test]
fn absent_null_and_empty_optional_attributes_are_omitted() {
    let item = item(&[
        ("id", s("a-2")),
        ("parentAssetIds", s("")),
        ("rootAsset", null()),
        (
            "tenure",
            m(&[("startOfTenureDate", s("")), ("endOfTenureDate", null())]),
        ),
        (
            "assetContract",
            m(&[
                ("approvalDate", s("")),
                ("charges", l(vec![])),
                ("isApproved", s("")),
            ]),
        ),
        ("assetCharacteristics", null()),
        (
            "assetLocation",
            m(&[("parentAssets", null()), ("floorNo", s(""))]),
        ),
    ]);
    let json = body_json(&document(&Assets, &item));
    assert_eq!(
        json,
        serde_json::json!({"id": "a-2", "tenure": {}, "assetContract": {}, "assetLocation": {}})
    );
}

#[test]
fn a_wrong_type_is_an_error_naming_the_attribute_path() {
    let contract = m(&[("charges", l(vec![m(&[("amount", b(true))])]))]);
    let item = with(full_item(), "assetContract", contract);
    let err = Assets
        .to_document(&item)
        .expect_err("a boolean is not an amount");
    assert_eq!(
        err.to_string(),
        "attribute `assetContract.charges[0].amount`: expected a number (N), found BOOL"
    );
    let characteristics = m(&[("numberOfBedrooms", s("two"))]);
    let item = with(full_item(), "assetCharacteristics", characteristics);
    let err = Assets.to_document(&item).expect_err("not a number");
    assert_eq!(err.kind(), "invalid_value");
    assert!(
        err.to_string()
            .contains("`assetCharacteristics.numberOfBedrooms`"),
        "{err}"
    );
}
