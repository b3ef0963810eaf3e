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
const DEFINITION: &str = include_str!("mapping.json");

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
    /// The middle name again under the all-lowercase name the search API reads it from for its
    /// V1 person responses (`QueryablePerson.Middlename`, `[Text(Name = "middlename")]`) and
    /// the listener writes: from the item's `middleName`, or the older `middlename`.
    #[serde(rename = "middlename", skip_serializing_if = "Option::is_none")]
    pub middlename: Option<String>,
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
/// Only what kind of document it is and whether it was seen: its number (`value`) and the link
/// to its scan (`linkToDocument`) are never indexed, though mapped (see `MAPPINGS.md`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identification {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identification_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_document_seen: Option<bool>,
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

/// The first of `names` that is set: the owning API has spelt some attributes more than one way
/// over the years (`firstName` since it moved to the shared entity, `firstname` before), and a
/// table holds items written by every version.
fn text_of(fields: &Fields<'_>, names: &[&str]) -> Result<Option<String>, MapError> {
    for name in names {
        if let Some(value) = text(fields, name)? {
            return Ok(Some(value));
        }
    }
    Ok(None)
}

impl Person {
    pub fn from_item(fields: Fields<'_>) -> Result<Person, MapError> {
        Ok(Person {
            id: fields.required_string("id")?,
            title: text(&fields, "title")?,
            preferred_title: text(&fields, "preferredTitle")?,
            firstname: text_of(&fields, &["firstName", "firstname"])?,
            preferred_firstname: text_of(&fields, &["preferredFirstName", "preferredFirstname"])?,
            middle_name: text_of(&fields, &["middleName", "middlename"])?,
            preferred_middle_name: text(&fields, "preferredMiddleName")?,
            middlename: text_of(&fields, &["middleName", "middlename"])?,
            surname: text(&fields, "surname")?,
            preferred_surname: text(&fields, "preferredSurname")?,
            date_of_birth: fields.date("dateOfBirth")?,
            place_of_birth: text(&fields, "placeOfBirth")?,
            gender: text(&fields, "gender")?,
            ethinicity: text_of(&fields, &["ethinicity", "ethnicity"])?,
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
            original_document_seen: match f.bool("originalDocumentSeen")? {
                Some(seen) => Some(seen),
                None => f.bool("isOriginalDocumentSeen")?,
            },
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
            .expect("mapping.json is valid JSON (a unit test proves it)")
    }

    fn sample(&self, n: u64) -> Item {
        sample::person(n)
    }

    #[cfg(test)]
    fn full_item(&self) -> Item {
        tests::full_item()
    }

    fn unindexed(&self) -> &'static [&'static str] {
        &[
            "communicationRequirements",
            "createdAt",
            "createdBy",
            "dateOfDeath",
            "languages",
            "lastModified",
            "links",
            "personRef",
            "reason",
        ]
    }

    fn to_document(&self, item: &Item) -> Result<Document, MapError> {
        let person = Person::from_item(Fields::checked(item)?)?;
        Document::new(person.id.clone(), &person)
            .map(|doc| doc.versioned(person.version_number.as_ref()))
    }
}

pub mod sample;
#[cfg(test)]
pub(crate) mod tests;
