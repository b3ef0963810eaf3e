//! The persons factory's unit tests and its fully populated sample item.

use super::*;
use crate::entities::testing::*;

/// A realistic Person with every attribute set (numbers short enough to read in a snapshot).
pub(crate) fn full_item() -> Item {
    item(&[
        ("id", s("5a3f1c9e-2b7d-4e18-9c41-0d6a8b2f7e10")),
        ("title", s("Ms")),
        ("preferredTitle", s("Mx")),
        ("firstName", s("Zoë")),
        ("preferredFirstName", s("Zo")),
        ("middleName", s("Siobhán")),
        ("preferredMiddleName", s("Shiv")),
        ("surname", s("O'Brien-Nkemelu")),
        ("preferredSurname", s("O'Brien")),
        ("dateOfBirth", s("1984-03-17T00:00:00Z")),
        ("placeOfBirth", s("Lagos")),
        ("gender", s("F")),
        ("ethinicity", s("Black British")),
        ("nationality", s("British")),
        (
            "identifications",
            l(vec![m(&[
                ("identificationType", s("Passport")),
                ("value", s("123456789")),
                ("isOriginalDocumentSeen", b(true)),
                ("linkToDocument", s("")),
            ])]),
        ),
        ("personTypes", l(vec![s("Tenant"), s("HouseholdMember")])),
        (
            "tenures",
            l(vec![
                m(&[
                    ("id", s("9b2c4d6e-1f3a-4b5c-8d7e-6f5a4b3c2d1e")),
                    ("type", s("Secure")),
                    ("startDate", s("2012-06-04")),
                    ("endDate", s("2031-06-03")),
                    (
                        "assetFullAddress",
                        s("Flat 12, Beaumont Court, Upper Clapton Road, London"),
                    ),
                    ("assetId", s("0012345678")),
                    ("uprn", n("100021045678")),
                    ("paymentReference", s("1928374650")),
                    ("propertyReference", s("00074312")),
                    ("postCode", s("E5 8BQ")),
                    ("totalBalance", n("-312.45")),
                ]),
                m(&[
                    ("id", s("c0ffee00-aaaa-4bbb-8ccc-123456789abc")),
                    ("type", s("Temporary Accommodation")),
                    ("startDate", s("2009-01-12T00:00:00.0000000Z")),
                    ("endDate", s("")),
                    ("assetFullAddress", s("14 Mare Street, London")),
                    ("assetId", s("0087654321")),
                    ("uprn", s("100021099999")),
                    ("paymentReference", s("5550001112")),
                    ("propertyReference", s("00099887")),
                    ("postCode", s("E8 4RP")),
                    ("totalBalance", n("0")),
                ]),
            ]),
        ),
        ("totalBalance", n("1250.75")),
        ("isPersonCautionaryAlert", b(false)),
        ("isTenureCautionaryAlert", b(true)),
        ("isPersonCautionaryAlerted", b(false)),
        ("isTenureCautionaryAlerted", b(true)),
        ("versionNumber", n("7")),
    ])
}

#[test]
fn a_fully_populated_person_maps_to_its_document() {
    let document = document(&Persons, &full_item());
    assert_eq!(document.id, "5a3f1c9e-2b7d-4e18-9c41-0d6a8b2f7e10");
    insta::assert_snapshot!(pretty(&document));
}

/// The Persons table's items spell the first names as the owning API's entity does
/// (`firstName`, `preferredFirstName`); items written before it moved to that entity spell them
/// `firstname`, `preferredFirstname`. Both fill the document's `firstname` and
/// `preferredFirstname`, which the search API searches and sorts on.
#[test]
fn first_names_are_read_under_the_owning_apis_spelling_and_the_older_one() {
    let current = item(&[
        ("id", s("p-3")),
        ("firstName", s("Aisha")),
        ("preferredFirstName", s("Ash")),
    ]);
    let json = body_json(&document(&Persons, &current));
    assert_eq!(json["firstname"], "Aisha");
    assert_eq!(json["preferredFirstname"], "Ash");
    assert!(json.get("firstName").is_none() && json.get("preferredFirstName").is_none());

    let older = item(&[
        ("id", s("p-4")),
        ("firstname", s("Kwame")),
        ("preferredFirstname", s("Kay")),
    ]);
    let json = body_json(&document(&Persons, &older));
    assert_eq!(json["firstname"], "Kwame");
    assert_eq!(json["preferredFirstname"], "Kay");

    // An item carrying both (rewritten by the current API over an older one): the current
    // spelling wins.
    let both = item(&[
        ("id", s("p-5")),
        ("firstName", s("Ngozi")),
        ("firstname", s("Old")),
        ("preferredFirstName", s("")),
        ("preferredFirstname", s("Ngo")),
    ]);
    let json = body_json(&document(&Persons, &both));
    assert_eq!(json["firstname"], "Ngozi");
    assert_eq!(json["preferredFirstname"], "Ngo");
}

/// The search API's V1 person responses take the middle name from `middlename` (all lower
/// case; the listener writes it there), its V2 and the live mapping also know `middleName`:
/// the document carries both, from whichever spelling the item has.
#[test]
fn the_middle_name_is_indexed_under_both_names_the_live_index_maps() {
    for name in ["middleName", "middlename"] {
        let json = body_json(&document(
            &Persons,
            &item(&[("id", s("p-6")), (name, s("Siobhán"))]),
        ));
        assert_eq!(json["middleName"], "Siobhán", "from {name}");
        assert_eq!(json["middlename"], "Siobhán", "from {name}");
    }
}

#[test]
fn the_index_definition_parses_and_is_strict() {
    let definition = Persons.index_definition();
    assert_eq!(definition["mappings"]["dynamic"], "strict");
    let properties = &definition["mappings"]["properties"];
    assert_eq!(properties["tenures"]["type"], "nested");
    assert_eq!(properties["tenures"]["include_in_parent"], true);
    for sortable in ["surname", "firstname"] {
        assert_eq!(properties[sortable]["type"], "keyword", "{sortable}");
        assert_eq!(properties[sortable]["normalizer"], "my_normalizer");
    }
    assert_eq!(definition["settings"]["number_of_replicas"], 1);
    text_fields_have_keyword_subfields(&definition["mappings"]["properties"], "");
}

#[test]
fn thirty_eight_digit_balances_keep_every_digit_in_the_body() {
    let huge = "12345678901234567890123456789012345.678";
    let item = with(full_item(), "totalBalance", n(huge));
    let body = String::from_utf8(document(&Persons, &item).body).expect("UTF-8");
    assert!(body.contains(&format!("\"totalBalance\":{huge}")), "{body}");
    let item = with(
        full_item(),
        "versionNumber",
        n("99999999999999999999999999999999999999"),
    );
    let body = String::from_utf8(document(&Persons, &item).body).expect("UTF-8");
    assert!(body.contains("\"versionNumber\":99999999999999999999999999999999999999"));
}

#[test]
fn accents_apostrophes_and_non_latin_names_survive() {
    let item = item(&[
        ("id", s("p-1")),
        ("firstname", s("Zoë-Aurélie")),
        ("middleName", s("D'Arcy")),
        ("surname", s("Ōkubo 大久保")),
        ("preferredSurname", s("Мельник")),
        ("preferredFirstname", s("محمد")),
    ]);
    let json = body_json(&document(&Persons, &item));
    assert_eq!(json["firstname"], "Zoë-Aurélie");
    assert_eq!(json["middleName"], "D'Arcy");
    assert_eq!(json["surname"], "Ōkubo 大久保");
    assert_eq!(json["preferredSurname"], "Мельник");
    assert_eq!(json["preferredFirstname"], "محمد");
}

#[test]
fn absent_null_and_empty_optional_attributes_are_omitted() {
    let item = item(&[
        ("id", s("p-2")),
        ("dateOfBirth", s("")),
        ("title", null()),
        ("middleName", s("")),
        ("totalBalance", s("")),
        ("isPersonCautionaryAlert", null()),
        ("personTypes", l(vec![])),
        (
            "tenures",
            l(vec![m(&[("startDate", s("")), ("endDate", null())])]),
        ),
    ]);
    let json = body_json(&document(&Persons, &item));
    assert_eq!(json, serde_json::json!({"id": "p-2", "tenures": [{}]}));
}

#[test]
fn a_wrong_type_is_an_error_naming_the_attribute_path() {
    let tenure = m(&[("id", s("t-1")), ("startDate", l(vec![]))]);
    let item = with(full_item(), "tenures", l(vec![tenure]));
    let err = Persons
        .to_document(&item)
        .expect_err("a list is not a date");
    assert_eq!(err.kind(), "wrong_type");
    assert!(err.to_string().contains("`tenures[0].startDate`"), "{err}");

    let item = with(full_item(), "isTenureCautionaryAlert", s("maybe"));
    let err = Persons.to_document(&item).expect_err("not a boolean");
    assert!(
        err.to_string().contains("`isTenureCautionaryAlert`"),
        "{err}"
    );
}

#[test]
fn an_item_without_an_id_is_refused() {
    let mut item = full_item();
    item.remove("id");
    let err = Persons.to_document(&item).expect_err("no id");
    assert_eq!(err.kind(), "missing_attribute");
}

/// Identity document numbers and the links to their scans are personal data no query of the
/// search API reads; the V2 search matches every field, so an indexed number would be
/// searchable. The kind of document is kept; the number and link never leave the table.
#[test]
fn identity_document_numbers_and_links_are_not_indexed_but_stay_mapped() {
    let link = "https://documents.example/scan-42";
    let identification = m(&[
        ("identificationType", s("Passport")),
        ("value", s("PX7781234Q")),
        ("isOriginalDocumentSeen", b(true)),
        ("linkToDocument", s(link)),
    ]);
    let item = with(full_item(), "identifications", l(vec![identification]));
    let document = document(&Persons, &item);
    let body = String::from_utf8(document.body.to_vec()).expect("UTF-8");
    assert!(
        !body.contains("PX7781234Q") && !body.contains(link),
        "{body}"
    );
    assert_eq!(
        body_json(&document)["identification"],
        serde_json::json!([{"identificationType": "Passport", "originalDocumentSeen": true}])
    );
    let mapped =
        &Persons.index_definition()["mappings"]["properties"]["identification"]["properties"];
    assert!(mapped.get("value").is_some() && mapped.get("linkToDocument").is_some());
}
