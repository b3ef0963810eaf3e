//! Assets (table `Assets`, alias `assets`): dwellings, blocks, estates and other property, with
//! their address, current tenure, physical characteristics, management and service-charge
//! contract, so a search by address or postcode finds a property and what is known about it.
//!
//! `parentAssetIds` stays the `#`-separated string the owning service stores; it is indexed as
//! text (the standard analyzer splits it at `#`, so a search for one id finds its children) with a
//! `keyword` sub-field for the whole string. Counts are integers, charge amounts are money and
//! keep their exact digits in the document source. The mapping follows the live index the search
//! API reads; `MAPPINGS.md` beside it lists where it deliberately differs, and why.

use serde::Serialize;

use super::{Document, Entity};
use crate::source::item::{Fields, Item, MapError, Number};

/// The index definition (live settings and strict mappings).
const DEFINITION: &str = include_str!("assets.json");

/// An asset as indexed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_asset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_asset_ids: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_asset_cautionary_alerted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_cautionary_alerted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_address: Option<AssetAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenure: Option<AssetTenure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_characteristics: Option<AssetCharacteristics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_management: Option<AssetManagement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_location: Option<AssetLocation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_contract: Option<AssetContract>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_number: Option<Number>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetAddress {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uprn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_line1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_line2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_line3: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_line4: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_preamble: Option<String>,
}

/// The asset's current tenure, denormalised for search.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetTenure {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_reference: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub tenure_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_of_tenure_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_of_tenure_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetCharacteristics {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_bedrooms: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_lifts: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_living_rooms: Option<Number>,
    /// A year as the owning service stores it (text such as `"1965"`), indexed as a keyword.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub year_constructed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_stairs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_stairs: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_ramp_access: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_communal_areas: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_private_bathroom: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_bathrooms: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_private_kitchen: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_kitchens: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_floors: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_block_floors: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heating: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_factor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_loft_converted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epc_score: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_bed_spaces: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_cots: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_showers: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_step_free: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub option_to_tax: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetManagement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area_office_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_council_property: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managing_organisation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managing_organisation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(rename = "isTMOManaged", skip_serializing_if = "Option::is_none")]
    pub is_tmo_managed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_occupied_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_occupied_status_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_no_repairs_maintenance: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub council_tax_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub council_tax_liability: Option<String>,
    /// Spelt as the live index and the search API spell it (one `m`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_temporary_accomodation: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_part_of_temporary_accommodation_block: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temporary_accommodation_parent_asset_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetLocation {
    /// A floor label (`"2"`, `"G"`, `"B1"`), indexed as a keyword.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_block_floors: Option<Number>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parent_assets: Vec<ParentAsset>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentAsset {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub asset_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetContract {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_status_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_approved: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub charges: Vec<Charge>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related_people: Vec<RelatedPerson>,
}

/// Someone a contract names (an object list, like `charges`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelatedPerson {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub person_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One service charge of a contract (an object list, as in the live index).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Charge {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub charge_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Number>,
}

/// An optional text attribute; a blank string reads as "not set", like absent and `NULL`.
fn text(fields: &Fields<'_>, name: &str) -> Result<Option<String>, MapError> {
    Ok(fields.string(name)?.filter(|s| !s.trim().is_empty()))
}

impl Asset {
    pub fn from_item(fields: Fields<'_>) -> Result<Asset, MapError> {
        Ok(Asset {
            id: fields.required_string("id")?,
            asset_id: text(&fields, "assetId")?,
            asset_type: text(&fields, "assetType")?,
            root_asset: text(&fields, "rootAsset")?,
            parent_asset_ids: text(&fields, "parentAssetIds")?,
            is_active: fields.bool("isActive")?,
            is_asset_cautionary_alerted: fields.bool("isAssetCautionaryAlerted")?,
            is_cautionary_alerted: fields.bool("isCautionaryAlerted")?,
            asset_address: fields.with_map("assetAddress", |f| {
                Ok(AssetAddress {
                    uprn: text(&f, "uprn")?,
                    address_line1: text(&f, "addressLine1")?,
                    address_line2: text(&f, "addressLine2")?,
                    address_line3: text(&f, "addressLine3")?,
                    address_line4: text(&f, "addressLine4")?,
                    post_code: text(&f, "postCode")?,
                    post_preamble: text(&f, "postPreamble")?,
                })
            })?,
            tenure: fields.with_map("tenure", |f| {
                Ok(AssetTenure {
                    id: text(&f, "id")?,
                    payment_reference: text(&f, "paymentReference")?,
                    tenure_type: text(&f, "type")?,
                    start_of_tenure_date: f.date("startOfTenureDate")?,
                    end_of_tenure_date: f.date("endOfTenureDate")?,
                    is_active: f.bool("isActive")?,
                })
            })?,
            asset_characteristics: fields.with_map("assetCharacteristics", characteristics)?,
            asset_management: fields.with_map("assetManagement", management)?,
            asset_location: fields.with_map("assetLocation", |f| {
                Ok(AssetLocation {
                    floor_no: text(&f, "floorNo")?,
                    total_block_floors: f.number("totalBlockFloors")?,
                    parent_assets: f.each_map("parentAssets", |p| {
                        Ok(ParentAsset {
                            id: text(&p, "id")?,
                            asset_type: text(&p, "type")?,
                            name: text(&p, "name")?,
                        })
                    })?,
                })
            })?,
            asset_contract: fields.with_map("assetContract", contract)?,
            version_number: fields.number("versionNumber")?,
        })
    }
}

fn characteristics(f: Fields<'_>) -> Result<AssetCharacteristics, MapError> {
    Ok(AssetCharacteristics {
        number_of_bedrooms: f.number("numberOfBedrooms")?,
        number_of_lifts: f.number("numberOfLifts")?,
        number_of_living_rooms: f.number("numberOfLivingRooms")?,
        year_constructed: text(&f, "yearConstructed")?,
        window_type: text(&f, "windowType")?,
        has_stairs: f.bool("hasStairs")?,
        number_of_stairs: f.number("numberOfStairs")?,
        has_ramp_access: f.bool("hasRampAccess")?,
        has_communal_areas: f.bool("hasCommunalAreas")?,
        has_private_bathroom: f.bool("hasPrivateBathroom")?,
        number_of_bathrooms: f.number("numberOfBathrooms")?,
        has_private_kitchen: f.bool("hasPrivateKitchen")?,
        number_of_kitchens: f.number("numberOfKitchens")?,
        number_of_floors: f.number("numberOfFloors")?,
        total_block_floors: f.number("totalBlockFloors")?,
        heating: text(&f, "heating")?,
        property_factor: text(&f, "propertyFactor")?,
        is_loft_converted: f.bool("isLoftConverted")?,
        epc_score: text(&f, "epcScore")?,
        number_of_bed_spaces: f.number("numberOfBedSpaces")?,
        number_of_cots: f.number("numberOfCots")?,
        number_of_showers: f.number("numberOfShowers")?,
        is_step_free: f.bool("isStepFree")?,
        option_to_tax: f.bool("optionToTax")?,
    })
}

fn management(f: Fields<'_>) -> Result<AssetManagement, MapError> {
    Ok(AssetManagement {
        agent: text(&f, "agent")?,
        area_office_name: text(&f, "areaOfficeName")?,
        is_council_property: f.bool("isCouncilProperty")?,
        managing_organisation: text(&f, "managingOrganisation")?,
        managing_organisation_id: text(&f, "managingOrganisationId")?,
        owner: text(&f, "owner")?,
        is_tmo_managed: f.bool("isTMOManaged")?,
        property_occupied_status: text(&f, "propertyOccupiedStatus")?,
        property_occupied_status_reason: text(&f, "propertyOccupiedStatusReason")?,
        is_no_repairs_maintenance: f.bool("isNoRepairsMaintenance")?,
        council_tax_type: text(&f, "councilTaxType")?,
        council_tax_liability: text(&f, "councilTaxLiability")?,
        is_temporary_accomodation: match f.bool("isTemporaryAccomodation")? {
            Some(flag) => Some(flag),
            None => f.bool("isTemporaryAccommodation")?,
        },
        is_part_of_temporary_accommodation_block: f.bool("isPartOfTemporaryAccommodationBlock")?,
        temporary_accommodation_parent_asset_id: text(&f, "temporaryAccommodationParentAssetId")?,
    })
}

fn contract(f: Fields<'_>) -> Result<AssetContract, MapError> {
    Ok(AssetContract {
        id: text(&f, "id")?,
        target_id: text(&f, "targetId")?,
        target_type: text(&f, "targetType")?,
        approval_date: f.date("approvalDate")?,
        approval_status: text(&f, "approvalStatus")?,
        approval_status_reason: text(&f, "approvalStatusReason")?,
        is_active: f.bool("isActive")?,
        is_approved: f.bool("isApproved")?,
        start_date: f.date("startDate")?,
        end_date: f.date("endDate")?,
        charges: f.each_map("charges", |c| {
            Ok(Charge {
                id: text(&c, "id")?,
                charge_type: text(&c, "type")?,
                sub_type: text(&c, "subType")?,
                frequency: text(&c, "frequency")?,
                amount: c.number("amount")?,
            })
        })?,
        related_people: f.each_map("relatedPeople", |p| {
            Ok(RelatedPerson {
                id: text(&p, "id")?,
                person_type: text(&p, "type")?,
                sub_type: text(&p, "subType")?,
                name: text(&p, "name")?,
            })
        })?,
    })
}

pub struct Assets;

impl Entity for Assets {
    fn name(&self) -> &'static str {
        "assets"
    }

    fn table(&self) -> &'static str {
        "Assets"
    }

    fn index_definition(&self) -> serde_json::Value {
        serde_json::from_str(DEFINITION).expect("assets.json is valid JSON (a unit test proves it)")
    }

    fn to_document(&self, item: &Item) -> Result<Document, MapError> {
        let asset = Asset::from_item(Fields::checked(item)?)?;
        Document::new(asset.id.clone(), &asset)
            .map(|doc| doc.versioned(asset.version_number.as_ref()))
    }
}

#[cfg(test)]
pub(super) mod tests {
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
}
