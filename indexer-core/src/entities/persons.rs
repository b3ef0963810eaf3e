//! Persons (table `Persons`, alias `persons`): people known to the housing service, with the
//! tenures they hold or belong to, so a search by name also shows where someone lives.
//!
//! The mapping follows the live index the search API reads (`MAPPINGS.md` beside it lists the
//! deliberate differences): `firstname` and `surname` are normalized keywords (lowercase, accents
//! folded) so the API can sort on them and match them whole or by wildcard; the other names are
//! text with a `keyword` sub-field.
//! Money (`totalBalance`) and `versionNumber` keep the exact digits of the DynamoDB number in the
//! document source; the `double`/`long` mapping only governs how they are searched and sorted.

use serde::Serialize;

use super::{Document, Entity};
use crate::source::item::{Fields, Item, MapError, Number};

/// The index definition (live settings and strict mappings).
const DEFINITION: &str = include_str!("persons.json");

/// A person as indexed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firstname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_firstname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_middle_name: Option<String>,
    /// The all-lowercase spelling some older items carry beside `middleName`.
    #[serde(rename = "middlename", skip_serializing_if = "Option::is_none")]
    pub middlename_legacy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_surname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place_of_birth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// Spelt as the live index spells it; read from `ethinicity` or `ethnicity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ethinicity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nationality: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identification: Vec<Identification>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub person_types: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tenures: Vec<PersonTenure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_balance: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_person_cautionary_alert: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_tenure_cautionary_alert: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_person_cautionary_alerted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_tenure_cautionary_alerted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_number: Option<Number>,
}

/// A document proving identity, as the live index maps it (`identification`, one object list).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identification {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identification_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_document_seen: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_to_document: Option<String>,
}

/// One tenure of a person: indexed `nested` so a query can match fields of one tenure, with
/// `include_in_parent` so a plain query on `tenures.*` (the search API's V1) matches too.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonTenure {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub tenure_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_full_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uprn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_balance: Option<Number>,
}

/// An optional text attribute; a blank string reads as "not set", like absent and `NULL`.
fn text(fields: &Fields<'_>, name: &str) -> Result<Option<String>, MapError> {
    Ok(fields.string(name)?.filter(|s| !s.trim().is_empty()))
}

impl Person {
    pub fn from_item(fields: Fields<'_>) -> Result<Person, MapError> {
        Ok(Person {
            id: fields.required_string("id")?,
            title: text(&fields, "title")?,
            preferred_title: text(&fields, "preferredTitle")?,
            firstname: text(&fields, "firstname")?,
            preferred_firstname: text(&fields, "preferredFirstname")?,
            middle_name: text(&fields, "middleName")?,
            preferred_middle_name: text(&fields, "preferredMiddleName")?,
            middlename_legacy: text(&fields, "middlename")?,
            surname: text(&fields, "surname")?,
            preferred_surname: text(&fields, "preferredSurname")?,
            date_of_birth: fields.date("dateOfBirth")?,
            place_of_birth: text(&fields, "placeOfBirth")?,
            gender: text(&fields, "gender")?,
            ethinicity: match text(&fields, "ethinicity")? {
                Some(value) => Some(value),
                None => text(&fields, "ethnicity")?,
            },
            nationality: text(&fields, "nationality")?,
            identification: identifications(&fields)?,
            person_types: fields.strings("personTypes")?,
            tenures: fields.each_map("tenures", PersonTenure::from_fields)?,
            total_balance: fields.number("totalBalance")?,
            is_person_cautionary_alert: fields.bool("isPersonCautionaryAlert")?,
            is_tenure_cautionary_alert: fields.bool("isTenureCautionaryAlert")?,
            is_person_cautionary_alerted: fields.bool("isPersonCautionaryAlerted")?,
            is_tenure_cautionary_alerted: fields.bool("isTenureCautionaryAlerted")?,
            version_number: fields.number("versionNumber")?,
        })
    }
}

/// The identity documents, from `identifications` (the owning API's name) or `identification`.
fn identifications(fields: &Fields<'_>) -> Result<Vec<Identification>, MapError> {
    let name = match fields.get("identifications") {
        Some(_) => "identifications",
        None => "identification",
    };
    fields.each_map(name, |f| {
        Ok(Identification {
            identification_type: text(&f, "identificationType")?,
            value: text(&f, "value")?,
            original_document_seen: match f.bool("originalDocumentSeen")? {
                Some(seen) => Some(seen),
                None => f.bool("isOriginalDocumentSeen")?,
            },
            link_to_document: text(&f, "linkToDocument")?,
        })
    })
}

impl PersonTenure {
    fn from_fields(fields: Fields<'_>) -> Result<PersonTenure, MapError> {
        Ok(PersonTenure {
            id: text(&fields, "id")?,
            tenure_type: text(&fields, "type")?,
            start_date: fields.date("startDate")?,
            end_date: fields.date("endDate")?,
            asset_full_address: text(&fields, "assetFullAddress")?,
            asset_id: text(&fields, "assetId")?,
            uprn: text(&fields, "uprn")?,
            payment_reference: text(&fields, "paymentReference")?,
            property_reference: text(&fields, "propertyReference")?,
            post_code: text(&fields, "postCode")?,
            total_balance: fields.number("totalBalance")?,
        })
    }
}

pub struct Persons;

impl Entity for Persons {
    fn name(&self) -> &'static str {
        "persons"
    }

    fn table(&self) -> &'static str {
        "Persons"
    }

    fn index_definition(&self) -> serde_json::Value {
        serde_json::from_str(DEFINITION)
            .expect("persons.json is valid JSON (a unit test proves it)")
    }

    fn to_document(&self, item: &Item) -> Result<Document, MapError> {
        let person = Person::from_item(Fields::checked(item)?)?;
        Document::new(person.id.clone(), &person)
            .map(|doc| doc.versioned(person.version_number.as_ref()))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::entities::testing::*;

    /// A realistic Person with every attribute set (numbers short enough to read in a snapshot).
    pub(crate) fn full_item() -> Item {
        item(&[
            ("id", s("5a3f1c9e-2b7d-4e18-9c41-0d6a8b2f7e10")),
            ("title", s("Ms")),
            ("preferredTitle", s("Mx")),
            ("firstname", s("Zoë")),
            ("preferredFirstname", s("Zo")),
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
}
