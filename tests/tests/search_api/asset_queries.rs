//! The asset queries of the API's V1 (`AssetQueryGenerator.cs`), built from the shared
//! clauses in `queries`.

use serde_json::{Value, json};

use super::queries::{each_value, filter_build, query_string, should, wildstar};

const ADDRESS_FIELDS: &[&str] = &[
    "assetAddress.addressLine1",
    "assetAddress.postCode",
    "assetAddress.uprn",
];

const ADDRESS_FIELDS_EXACT: &[&str] = &[
    "assetAddress.addressLine1^20",
    "assetAddress.uprn^20",
    "assetAddress.postCode^20",
];

/// V1 asset search: `AssetQueryGenerator.cs:45-60`, with its `isActive` filter (`:49`, each
/// value a `query_string` on the boolean).
pub fn asset_search_v1(text: &str, asset_types: &str, is_active: Option<&str>) -> Value {
    let search = should(vec![
        query_string(&wildstar(text), ADDRESS_FIELDS, false),
        query_string(text, ADDRESS_FIELDS_EXACT, false),
    ]);
    filter_build(
        Some(search),
        each_value(is_active, &["isActive"]),
        // No asset type is a conditionless filter, left out.
        vec![each_value(
            Some(asset_types).filter(|t| !t.is_empty()),
            &["assetType"],
        )],
    )
}

/// V1 simple asset query: `AssetQueryGenerator.cs:40-43`, lbh-core `QueryBuilder.cs:98-109`.
/// Its first field, `assetAddress.addressLine1.textAddress`, is mapped nowhere (not in the live
/// index either); `simple_query_string` skips it.
pub fn asset_simple_query_v1(text: &str) -> Value {
    json!({"simple_query_string": {
        "fields": ["assetAddress.addressLine1.textAddress", "assetAddress.postCode"],
        "query": text,
    }})
}

/// V1 asset relationships (children): `AssetQueryGenerator.cs:26-31`, an exact query (boost 20,
/// `FilterQueryBuilder.cs:74-83`) of one id against `parentAssetIds`.
pub fn asset_children_v1(id: &str) -> Value {
    should(vec![query_string(id, &["parentAssetIds^20"], false)])
}

/// The filters of `GetAllAssetListRequest` the suite uses (comma-separated values).
#[derive(Default)]
pub struct AssetFilters<'a> {
    pub number_of_bedrooms: Option<&'a str>,
    pub number_of_cots: Option<&'a str>,
    pub floor_no: Option<&'a str>,
    pub private_bathroom: Option<&'a str>,
    pub private_kitchen: Option<&'a str>,
    pub part_of_ta_block: Option<&'a str>,
    /// `ParentAssetId`, matched against `rootAsset`.
    pub parent_asset_id: Option<&'a str>,
    pub is_active: Option<&'a str>,
    pub asset_types: Option<&'a str>,
    /// `AssetStatus`, matched against `assetManagement.propertyOccupiedStatus`.
    pub asset_status: Option<&'a str>,
    pub number_of_bed_spaces: Option<&'a str>,
    pub step_free: Option<&'a str>,
    pub is_temporary_accomodation: Option<&'a str>,
    pub tenure_type: Option<&'a str>,
    pub ta_parent_asset_id: Option<&'a str>,
    /// `ContractApprovalStatus`, matched against `assetContracts.approvalStatus`.
    pub contract_approval_status: Option<&'a str>,
}

/// V1 asset listing (`GetListOfAssetsSets`): `AssetQueryGenerator.cs:64-156`, sorted by id
/// (`AssetIdAsc.cs:10-11`) and paged with `search_after` of the last hit's id
/// (`ElasticElasticSearchWrapper.cs:86-110`).
pub fn asset_sets_v1(
    text: Option<&str>,
    filters: &AssetFilters<'_>,
    last_hit_id: Option<&str>,
    size: u64,
) -> Value {
    let temporary_search = text.is_some() && filters.is_temporary_accomodation == Some("true");
    let mut multiples: Vec<Value> = [
        each_value(
            filters.number_of_bedrooms,
            &["assetCharacteristics.numberOfBedrooms"],
        ),
        each_value(
            filters.number_of_bed_spaces,
            &["assetCharacteristics.numberOfBedSpaces"],
        ),
        each_value(
            filters.number_of_cots,
            &["assetCharacteristics.numberOfCots"],
        ),
        each_value(filters.step_free, &["assetCharacteristics.isStepFree"]),
        each_value(
            filters.is_temporary_accomodation,
            &["assetManagement.isTemporaryAccomodation"],
        ),
        each_value(
            filters.part_of_ta_block,
            &["assetManagement.isPartOfTemporaryAccommodationBlock"],
        ),
        each_value(filters.parent_asset_id, &["rootAsset"]),
        each_value(filters.is_active, &["isActive"]),
    ]
    .concat();
    // Lines 76-78, 102-104, 139-141: floor, bathroom and kitchen in every branch.
    multiples.extend(each_value(filters.floor_no, &["assetLocation.floorNo"]));
    multiples.extend(each_value(
        filters.private_bathroom,
        &["assetCharacteristics.hasPrivateBathroom"],
    ));
    multiples.extend(each_value(
        filters.private_kitchen,
        &["assetCharacteristics.hasPrivateKitchen"],
    ));
    // Lines 110, 147: the contract filters, outside the temporary-accommodation search.
    if !temporary_search {
        multiples.extend(each_value(
            filters.contract_approval_status,
            &["assetContracts.approvalStatus"],
        ));
    }
    let mut groups = vec![
        each_value(filters.asset_types, &["assetType"]),
        each_value(
            filters.asset_status,
            &["assetManagement.propertyOccupiedStatus"],
        ),
        each_value(filters.tenure_type, &["tenure.type.keyword"]),
    ];
    let search = match text {
        // Lines 66-90: wildcard queries, every word in one field.
        Some(text) if temporary_search => Some(should(
            ADDRESS_FIELDS
                .iter()
                .map(|field| wildcard_words(text, field))
                .collect(),
        )),
        // Lines 92-127.
        Some(text) => Some(should(vec![
            query_string(&wildstar(text), ADDRESS_FIELDS, false),
            query_string(text, ADDRESS_FIELDS_EXACT, false),
        ])),
        // Lines 132-156: filters only, including the hostel block.
        None => {
            groups.push(each_value(
                filters.ta_parent_asset_id,
                &["assetManagement.temporaryAccommodationParentAssetId"],
            ));
            None
        }
    };
    let mut body = json!({
        "query": filter_build(search, multiples, groups),
        "size": size,
        "track_total_hits": true,
        "sort": [{"id": {"order": "asc"}}],
    });
    if let Some(id) = last_hit_id {
        body["search_after"] = json!([id]);
    }
    body
}

/// `FilterQueryBuilder.cs:123-143`: a `wildcard` per word, all of them in this field.
///
/// A `wildcard` query is not analysed: the API sends the user's text as typed, so on a text field
/// an upper-case word matches nothing. The suite searches in lower case, as a user would have to.
fn wildcard_words(text: &str, field: &str) -> Value {
    let words: Vec<Value> = text
        .split(' ')
        .map(|w| json!({"wildcard": {field: {"value": format!("*{w}*")}}}))
        .collect();
    let count = words.len();
    json!({"bool": {"should": words, "minimum_should_match": count}})
}

/// `AssetIdAsc.cs` / `AssetIdDesc.cs`: the sort on `id` when a request names a sort
/// (`SortFactory.cs:28-39`), for the search (paged by `from`) and the listing (by
/// `search_after` of the last hit's id).
pub fn id_sort(descending: bool) -> Value {
    let order = if descending { "desc" } else { "asc" };
    json!([{"id": {"order": order}}])
}

/// `PostCodeHelpers.cs:7-35`: when the text is a UK postcode (spaces ignored, any case), the
/// API rewrites it upper-case with one space before the last three characters. It does so for
/// the search with `useCustomSorting` (`SearchGateway.cs:78-82`) and the filtered listing
/// (`:102-105`); other searches send the text as typed.
pub fn normalize_postcode(text: &str) -> String {
    let compact: String = text.replace(' ', "").to_uppercase();
    let chars: Vec<char> = compact.chars().collect();
    let is_postcode = (5..=7).contains(&chars.len()) && {
        let (outward, inward) = chars.split_at(chars.len() - 3);
        let letters = outward
            .iter()
            .take_while(|c| c.is_ascii_alphabetic())
            .count();
        let rest = &outward[letters.min(outward.len())..];
        (1..=2).contains(&letters)
            && !rest.is_empty()
            && rest.len() <= 2
            && rest[0].is_ascii_digit()
            && rest.iter().all(|c| c.is_ascii_alphanumeric())
            && inward[0].is_ascii_digit()
            && inward[1..].iter().all(|c| c.is_ascii_alphabetic())
    };
    match is_postcode {
        true => {
            let split = chars.len() - 3;
            format!(
                "{} {}",
                chars[..split].iter().collect::<String>(),
                chars[split..].iter().collect::<String>()
            )
        }
        false => text.to_owned(),
    }
}
