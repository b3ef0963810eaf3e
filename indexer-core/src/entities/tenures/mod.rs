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
const DEFINITION: &str = include_str!("mapping.json");

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
            .expect("mapping.json is valid JSON (a unit test proves it)")
    }

    fn sample(&self, n: u64) -> Item {
        sample::tenure(n)
    }

    #[cfg(test)]
    fn full_item(&self) -> Item {
        tests::full_item()
    }

    fn unindexed(&self) -> &'static [&'static str] {
        &[
            "agreementType",
            "charges",
            "evictionDate",
            "fundingSource",
            "furtherAccountInformation",
            "hasOffsiteStorage",
            "informHousingBenefitsForChanges",
            "isMutualExchange",
            "isSublet",
            "isTenanted",
            "lastModified",
            "legacyReferences",
            "notices",
            "numberOfAdultsInProperty",
            "numberOfChildrenInProperty",
            "potentialEndDate",
            "subletEndDate",
            "successionDate",
            "tenureSource",
        ]
    }

    fn to_document(&self, item: &Item) -> Result<Document, MapError> {
        let tenure = Tenure::from_item(Fields::checked(item)?)?;
        Document::new(tenure.id.clone(), &tenure)
            .map(|doc| doc.versioned(tenure.version_number.as_ref()))
    }
}

pub mod sample;
#[cfg(test)]
pub(crate) mod tests;
