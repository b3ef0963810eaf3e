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
const DEFINITION: &str = include_str!("mapping.json");

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
    /// Whether the asset is a temporary-accommodation block (a hostel holding rooms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_temporary_accommodation_block: Option<bool>,
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
        is_temporary_accommodation_block: f.bool("isTemporaryAccommodationBlock")?,
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
        serde_json::from_str(DEFINITION)
            .expect("mapping.json is valid JSON (a unit test proves it)")
    }

    fn sample(&self, n: u64) -> Item {
        sample::asset(n)
    }

    #[cfg(test)]
    fn full_item(&self) -> Item {
        tests::full_item()
    }

    /// What the owning API's items carry that neither the live index nor the search API uses.
    fn unindexed(&self) -> &'static [&'static str] {
        &["areaId", "boilerHouseId", "patchId", "rentGroup"]
    }

    fn to_document(&self, item: &Item) -> Result<Document, MapError> {
        let asset = Asset::from_item(Fields::checked(item)?)?;
        Document::new(asset.id.clone(), &asset)
            .map(|doc| doc.versioned(asset.version_number.as_ref()))
    }
}

pub mod sample;
#[cfg(test)]
pub(crate) mod tests;
