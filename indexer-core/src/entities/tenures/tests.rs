//! The tenures factory's unit tests and its fully populated sample item.

use super::*;
use crate::entities::testing::*;

/// A realistic tenure with every attribute set, termination in the `terminated` map shape.
pub(crate) fn full_item() -> Item {
    item(&[
        ("id", s("9b2c4d6e-1f3a-4b5c-8d7e-6f5a4b3c2d1e")),
        ("paymentReference", s("1928374650")),
        ("startOfTenureDate", s("2012-06-04T00:00:00Z")),
        ("endOfTenureDate", s("2024-11-30")),
        (
            "tenureType",
            m(&[("code", s("SEC")), ("description", s("Secure"))]),
        ),
        ("isActive", b(false)),
        (
            "terminated",
            m(&[
                ("isTerminated", b(true)),
                (
                    "reasonForTermination",
                    s("Tenant's death — succession to daughter"),
                ),
            ]),
        ),
        (
            "householdMembers",
            l(vec![
                m(&[
                    ("id", s("5a3f1c9e-2b7d-4e18-9c41-0d6a8b2f7e10")),
                    ("type", s("person")),
                    ("fullName", s("Ms Zoë O'Brien-Nkemelu")),
                    ("isResponsible", b(true)),
                    ("dateOfBirth", s("1984-03-17")),
                    ("personTenureType", s("Tenant")),
                ]),
                m(&[
                    ("id", s("77e1d2c3-b4a5-4968-8776-655443322110")),
                    ("type", s("person")),
                    ("fullName", s("Ayşe Yılmaz")),
                    ("isResponsible", b(false)),
                    ("dateOfBirth", s("2007-09-01T00:00:00.0000000Z")),
                    ("personTenureType", s("HouseholdMember")),
                ]),
            ]),
        ),
        (
            "tenuredAsset",
            m(&[
                ("id", s("3e1d0c9b-8a7f-4e6d-9c5b-4a3f2e1d0c9b")),
                ("type", s("Dwelling")),
                (
                    "fullAddress",
                    s("Flat 12, Beaumont Court, Upper Clapton Road, London E5 8BQ"),
                ),
                ("uprn", s("100021045678")),
                ("propertyReference", s("00074312")),
                ("isTemporaryAccommodation", b(false)),
            ]),
        ),
        (
            "tempAccommodationInfo",
            m(&[
                (
                    "assignedOfficer",
                    m(&[
                        ("id", s("a1b2c3d4-0000-4000-8000-000000000001")),
                        ("email", s("kwame.mensah@hackney.gov.uk")),
                        ("firstName", s("Kwame")),
                        ("lastName", s("Mensah")),
                    ]),
                ),
                ("bookingStatus", s("Booked")),
            ]),
        ),
        ("versionNumber", n("3")),
    ])
}

#[test]
fn a_fully_populated_tenure_maps_to_its_document() {
    let document = document(&Tenures, &full_item());
    assert_eq!(document.id, "9b2c4d6e-1f3a-4b5c-8d7e-6f5a4b3c2d1e");
    insta::assert_snapshot!(pretty(&document));
}

#[test]
fn the_index_definition_parses_and_is_strict() {
    let definition = Tenures.index_definition();
    assert_eq!(definition["mappings"]["dynamic"], "strict");
    let properties = &definition["mappings"]["properties"];
    assert!(
        properties["householdMembers"].get("type").is_none(),
        "householdMembers is a plain object list, as the search API queries it"
    );
    assert_eq!(
        properties["householdMembers"]["properties"]["fullName"]["type"],
        "keyword"
    );
    assert_eq!(properties["id"]["fields"]["keyword"]["type"], "keyword");
    assert_eq!(properties["startOfTenureDate"]["type"], "date");
    text_fields_have_keyword_subfields(properties, "");
}

#[test]
fn a_flat_is_terminated_flag_is_read_into_the_same_shape() {
    let mut item = full_item();
    item.remove("terminated");
    item.insert("isTerminated".into(), b(true));
    item.insert("reasonForTermination".into(), s("Notice to quit"));
    let json = body_json(&document(&Tenures, &item));
    assert_eq!(json["isTerminated"], true);
    assert_eq!(
        json["terminated"],
        serde_json::json!({"isTerminated": true, "reasonForTermination": "Notice to quit"})
    );

    let json = body_json(&document(&Tenures, &full_item()));
    assert_eq!(json["isTerminated"], true);
    assert_eq!(json["terminated"]["isTerminated"], true);

    let mut item = full_item();
    item.remove("terminated");
    let json = body_json(&document(&Tenures, &item));
    assert!(json.get("terminated").is_none() && json.get("isTerminated").is_none());
}

#[test]
fn the_terminated_map_wins_over_the_flat_flag() {
    let item = with(full_item(), "isTerminated", b(false));
    let json = body_json(&document(&Tenures, &item));
    assert_eq!(json["isTerminated"], true);
    let terminated = m(&[("reasonForTermination", s("Transfer"))]);
    let item = with(
        with(full_item(), "terminated", terminated),
        "isTerminated",
        b(false),
    );
    let json = body_json(&document(&Tenures, &item));
    assert_eq!(json["isTerminated"], false);
    assert_eq!(json["terminated"]["reasonForTermination"], "Transfer");
}

#[test]
fn thirty_eight_digit_version_numbers_keep_every_digit_in_the_body() {
    let huge = "12345678901234567890123456789012345678";
    let item = with(full_item(), "versionNumber", n(huge));
    let body = String::from_utf8(document(&Tenures, &item).body).expect("UTF-8");
    assert!(
        body.contains(&format!("\"versionNumber\":{huge}")),
        "{body}"
    );
}

#[test]
fn accents_apostrophes_and_non_latin_names_survive() {
    let member = m(&[("fullName", s("Nguyễn Thị Ánh D'Souza-Ng 王小明"))]);
    let item = item(&[("id", s("t-1")), ("householdMembers", l(vec![member]))]);
    let json = body_json(&document(&Tenures, &item));
    assert_eq!(
        json["householdMembers"][0]["fullName"],
        "Nguyễn Thị Ánh D'Souza-Ng 王小明"
    );
}

#[test]
fn absent_null_and_empty_optional_attributes_are_omitted() {
    let item = item(&[
        ("id", s("t-2")),
        ("startOfTenureDate", s("")),
        ("endOfTenureDate", null()),
        ("paymentReference", s("")),
        ("tenureType", null()),
        (
            "householdMembers",
            l(vec![null(), m(&[("dateOfBirth", s(" "))])]),
        ),
        (
            "tenuredAsset",
            m(&[("fullAddress", s("")), ("uprn", null())]),
        ),
        ("versionNumber", s("")),
    ]);
    let json = body_json(&document(&Tenures, &item));
    assert_eq!(
        json,
        serde_json::json!({"id": "t-2", "householdMembers": [{}], "tenuredAsset": {}})
    );
}

#[test]
fn a_wrong_type_is_an_error_naming_the_attribute_path() {
    let info = m(&[("assignedOfficer", m(&[("email", l(vec![s("x")]))]))]);
    let item = with(full_item(), "tempAccommodationInfo", info);
    let err = Tenures
        .to_document(&item)
        .expect_err("a list is not a string");
    assert_eq!(
        err.to_string(),
        "attribute `tempAccommodationInfo.assignedOfficer.email`: expected a string (S), found L"
    );
    let item = with(full_item(), "householdMembers", m(&[]));
    let err = Tenures.to_document(&item).expect_err("a map is not a list");
    assert!(err.to_string().contains("`householdMembers`"), "{err}");
}
