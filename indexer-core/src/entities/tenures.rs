//! Tenures (table `TenureInformation`, alias `tenures`): the agreement under which a household
//! occupies an asset, with its members, so a search by payment reference, address or member name
//! finds it.
//!
//! The mapping follows the live index the search API reads (`MAPPINGS.md` beside it lists the
//! deliberate differences): `id` is text with a `keyword` sub-field (the API sorts on
//! `id.keyword`), `paymentReference` and `householdMembers.fullName` are normalized keywords,
//! `householdMembers` is a plain object list, and `startOfTenureDate` is a date (the API sorts on
//! it) that also keeps the live index's `keyword` sub-field.
//!
//! Termination has been stored in two shapes over the years: a `terminated` map
//! (`{isTerminated, reasonForTermination}`, the owning API's shape) and a flat `isTerminated`
//! boolean. Both are read; the document always carries the `terminated` object, plus a top-level
//! `isTerminated` flag, so queries written against either shape keep matching after a rebuild.
//! When both are present the `terminated` map's values win and the flat ones fill its gaps.

use serde::Serialize;

use super::{Document, Entity};
use crate::source::item::{Fields, Item, MapError, Number};

/// The index definition (live settings and strict mappings).
const DEFINITION: &str = include_str!("tenures.json");

/// A tenure as indexed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenure {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_of_tenure_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_of_tenure_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenure_type: Option<TenureType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_terminated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminated: Option<Terminated>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub household_members: Vec<HouseholdMember>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenured_asset: Option<TenuredAsset>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temp_accommodation_info: Option<TempAccommodationInfo>,
    /// A field the live index maps (written there by an older update path); kept when an item
    /// carries it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_to_update: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_number: Option<Number>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenureType {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Terminated {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_terminated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_for_termination: Option<String>,
}

/// A member of the household. Indexed as a plain object list, as in the live index: the search
/// API queries `householdMembers.fullName` without a `nested` query, which a nested mapping
/// would answer with nothing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HouseholdMember {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub member_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_responsible: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_tenure_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenuredAsset {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub asset_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uprn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_temporary_accommodation: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TempAccommodationInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_officer: Option<AssignedOfficer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedOfficer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
}

/// An optional text attribute; a blank string reads as "not set", like absent and `NULL`.
fn text(fields: &Fields<'_>, name: &str) -> Result<Option<String>, MapError> {
    Ok(fields.string(name)?.filter(|s| !s.trim().is_empty()))
}

impl Tenure {
    pub fn from_item(fields: Fields<'_>) -> Result<Tenure, MapError> {
        let id = fields.required_string("id")?;
        let terminated = termination(&fields)?;
        Ok(Tenure {
            id,
            payment_reference: text(&fields, "paymentReference")?,
            start_of_tenure_date: fields.date("startOfTenureDate")?,
            end_of_tenure_date: fields.date("endOfTenureDate")?,
            tenure_type: fields.with_map("tenureType", |f| {
                Ok(TenureType {
                    code: text(&f, "code")?,
                    description: text(&f, "description")?,
                })
            })?,
            is_active: fields.bool("isActive")?,
            is_terminated: terminated.as_ref().and_then(|t| t.is_terminated),
            terminated,
            household_members: fields.each_map("householdMembers", |f| {
                Ok(HouseholdMember {
                    id: text(&f, "id")?,
                    member_type: text(&f, "type")?,
                    full_name: text(&f, "fullName")?,
                    is_responsible: f.bool("isResponsible")?,
                    date_of_birth: f.date("dateOfBirth")?,
                    person_tenure_type: text(&f, "personTenureType")?,
                })
            })?,
            tenured_asset: fields.with_map("tenuredAsset", |f| {
                Ok(TenuredAsset {
                    id: text(&f, "id")?,
                    asset_type: text(&f, "type")?,
                    full_address: text(&f, "fullAddress")?,
                    uprn: text(&f, "uprn")?,
                    property_reference: text(&f, "propertyReference")?,
                    is_temporary_accommodation: f.bool("isTemporaryAccommodation")?,
                })
            })?,
            temp_accommodation_info: fields.with_map("tempAccommodationInfo", |f| {
                Ok(TempAccommodationInfo {
                    assigned_officer: f.with_map("assignedOfficer", |o| {
                        Ok(AssignedOfficer {
                            id: text(&o, "id")?,
                            email: text(&o, "email")?,
                            first_name: text(&o, "firstName")?,
                            last_name: text(&o, "lastName")?,
                        })
                    })?,
                    booking_status: text(&f, "bookingStatus")?,
                })
            })?,
            field_to_update: text(&fields, "fieldToUpdate")?,
            version_number: fields.number("versionNumber")?,
        })
    }
}

/// Reads termination from either shape: the `terminated` map, whose values win, or the flat
/// `isTerminated`/`reasonForTermination` attributes, which fill its gaps.
fn termination(fields: &Fields<'_>) -> Result<Option<Terminated>, MapError> {
    let flat = Terminated {
        is_terminated: fields.bool("isTerminated")?,
        reason_for_termination: text(fields, "reasonForTermination")?,
    };
    let nested = fields.with_map("terminated", |f| {
        Ok(Terminated {
            is_terminated: f.bool("isTerminated")?,
            reason_for_termination: text(&f, "reasonForTermination")?,
        })
    })?;
    let terminated = match nested {
        Some(nested) => Terminated {
            is_terminated: nested.is_terminated.or(flat.is_terminated),
            reason_for_termination: nested
                .reason_for_termination
                .or(flat.reason_for_termination),
        },
        None => flat,
    };
    let set = terminated.is_terminated.is_some() || terminated.reason_for_termination.is_some();
    Ok(set.then_some(terminated))
}

pub struct Tenures;

impl Entity for Tenures {
    fn name(&self) -> &'static str {
        "tenures"
    }

    fn table(&self) -> &'static str {
        "TenureInformation"
    }

    fn index_definition(&self) -> serde_json::Value {
        serde_json::from_str(DEFINITION)
            .expect("tenures.json is valid JSON (a unit test proves it)")
    }

    fn to_document(&self, item: &Item) -> Result<Document, MapError> {
        let tenure = Tenure::from_item(Fields::checked(item)?)?;
        Document::new(tenure.id.clone(), &tenure)
            .map(|doc| doc.versioned(tenure.version_number.as_ref()))
    }
}

#[cfg(test)]
pub(super) mod tests {
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
}
