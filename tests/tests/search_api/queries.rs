//! The housing search API's query shapes, rebuilt as the JSON its client (NEST) sends. Paths are
//! in `LBHackney-IT/housing-search-api` at `274a8c4` unless they name `lbh-core` (at `159f2d6`).
//! NEST leaves out a clause that is conditionless (no search text, no filter value), so these
//! builders do too.

use serde_json::{Value, json};

/// `TypeMappingExtensions.cs:10-39`: the tenure types that make someone a tenant.
pub const TENANT_TENURE_TYPES: &[&str] = &[
    "Asylum Seeker",
    "Commercial Let",
    "Introductory",
    "License Temp Ac",
    "Lse 100% Stair",
    "Mesne Profit Ac",
    "Non-Secure",
    "Private Garage",
    "Private Sale LH",
    "RenttoMortgage",
    "Secure",
    "Shared Equity",
    "Shared Owners",
    "Short Life Lse",
    "Temp Annex",
    "Temp B&B",
    "Temp Decant",
    "Temp Hostel",
    "Temp Hostel Lse",
    "Temp Private Lt",
    "Temp Traveller",
    "Tenant Acc Flat",
    "Tenant Garage",
];

/// `TypeMappingExtensions.cs:41-50`: the tenure types that make someone a leaseholder.
pub const LEASEHOLDER_TENURE_TYPES: &[&str] = &[
    "Freehold",
    "Freehold (Serv)",
    "Leasehold (RTB)",
    "Registered Social Landlord",
];

/// `PagingHelper.cs:7-9` and `ElasticElasticSearchWrapper.cs:53-59`: size, offset, total hits.
pub fn page(query: Value, from: u64, size: u64) -> Value {
    json!({"query": query, "from": from, "size": size, "track_total_hits": true})
}

/// Adds a sort to a search body.
pub fn sorted(mut body: Value, sort: Value) -> Value {
    body["sort"] = sort;
    body
}

/// lbh-core `WildCardAppenderAndPrepender.cs` and `QueryBuilder.cs:21-30`:
/// `(*a* AND *b*) *a* *b*`.
pub(super) fn wildstar(text: &str) -> String {
    let words: Vec<String> = text.split(' ').map(|w| format!("*{w}*")).collect();
    format!("({}) {}", words.join(" AND "), words.join(" "))
}

/// A `query_string` as `CreateQuery` makes it (lbh-core `QueryBuilder.cs:57-79` sets the type,
/// `FilterQueryBuilder.cs:99-121` does not).
pub(super) fn query_string(query: &str, fields: &[&str], most_fields: bool) -> Value {
    let mut inner = json!({"query": query, "fields": fields});
    if most_fields {
        inner["type"] = json!("most_fields");
    }
    json!({"query_string": inner})
}

pub(super) fn should(clauses: Vec<Value>) -> Value {
    json!({"bool": {"should": clauses}})
}

pub(super) fn must(clauses: Vec<Value>) -> Value {
    json!({"bool": {"must": clauses}})
}

/// `ExactSearchQuerystringProcessor.cs:8-18`: two words become `a AND b`.
fn exact_text(text: &str) -> String {
    let text = text.trim();
    match text.split_whitespace().count() {
        2 => text.replace(' ', " AND "),
        _ => text.to_owned(),
    }
}

/// V1 person search: `PersonQueryGenerator.cs:29-39` through lbh-core `QueryBuilder.cs:81-96`.
/// `WithFilterQuery` replaces the builder's filter list (`QueryBuilder.cs:36`), so a person type
/// filter replaces the housing-officer exclusion rather than adding to it.
pub fn person_search_v1(text: &str, tenure_types: Option<&[&str]>) -> Value {
    let search = should(vec![
        query_string(&wildstar(text), &["firstname", "surname"], true),
        query_string(&exact_text(text), &["firstname^20", "surname^20"], true),
    ]);
    let filters = match tenure_types {
        None => vec![query_string("NOT HousingOfficer", &["personTypes"], true)],
        Some(types) => types
            .iter()
            .map(|t| query_string(t, &["tenures.type"], true))
            .collect(),
    };
    must(vec![should(filters), search])
}

/// `LastNameAsc.cs:11-13` / `LastNameDesc.cs`: surname, then first name.
pub fn surname_sort(descending: bool) -> Value {
    let order = if descending { "desc" } else { "asc" };
    json!([{"surname": {"order": order}}, {"firstname": {"order": order}}])
}

/// `FilterQueryBuilder.cs:144-190`: the search (`should`), under the multiple-value filters (all
/// must match) and the single-field filter groups (any value of each group).
pub(super) fn filter_build(
    search: Option<Value>,
    multiples: Vec<Value>,
    groups: Vec<Vec<Value>>,
) -> Value {
    let mut query = search;
    if !multiples.is_empty() {
        let mut clauses = vec![must(multiples)];
        clauses.extend(query.take());
        query = Some(must(clauses));
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .filter(|g| !g.is_empty())
        .map(should)
        .collect();
    if !groups.is_empty() {
        let mut clauses = groups;
        clauses.extend(query.take());
        query = Some(must(clauses));
    }
    query.unwrap_or_else(|| json!({"match_all": {}}))
}

/// Each comma-separated value as its own `query_string` on `fields` (`FilterQueryBuilder.cs:59-97`).
pub(super) fn each_value(values: Option<&str>, fields: &[&str]) -> Vec<Value> {
    values
        .map(|values| {
            values
                .split(',')
                .map(|v| query_string(v, fields, false))
                .collect()
        })
        .unwrap_or_default()
}

/// V1 tenure search: `TenureQueryGenerator.cs:34-48`.
///
/// The API also lists the object path `householdMembers` itself among the fields. OpenSearch
/// resolves a `query_string` field to the mapped leaf fields it names, and an object names none,
/// so it adds nothing there; osmem-server instead refuses a wildcard on an object path (`Can only
/// use wildcard queries on keyword and text fields`), so the suite leaves that one field out.
pub fn tenure_search_v1(
    text: &str,
    is_temporary: Option<&str>,
    booking_status: Option<&str>,
) -> Value {
    let search = should(vec![query_string(
        &wildstar(text),
        &[
            "paymentReference",
            "tenuredAsset.fullAddress^3",
            "householdMembers.fullName^3",
        ],
        false,
    )]);
    filter_build(
        Some(search),
        each_value(is_temporary, &["tenuredAsset.isTemporaryAccommodation"]),
        vec![each_value(
            booking_status,
            &["tempAccommodationInfo.bookingStatus"],
        )],
    )
}

/// V1 tenure search by UPRN: `TenureQueryGenerator.cs:52-58` (lbh-core exact query, boost 20).
pub fn tenure_by_uprn_v1(uprn: &str) -> Value {
    should(vec![query_string(uprn, &["tenuredAsset.uprn^20"], true)])
}

/// V1 tenure listing: `ElasticElasticSearchWrapper.cs:146-153` with `TenureStartDateAsc.cs:16` /
/// `TenureStartDateDesc.cs:15` (start date, then `id.keyword`) and `search_after` from
/// `GetLastSortedItem` (`ElasticElasticSearchWrapper.cs:164-172`).
pub fn tenure_sets_v1(text: &str, descending: bool, after: Option<&Value>, size: u64) -> Value {
    let order = if descending { "desc" } else { "asc" };
    let mut body = json!({
        "query": tenure_search_v1(text, None, None),
        "size": size,
        "track_total_hits": true,
        "sort": [{"startOfTenureDate": {"order": order}}, {"id.keyword": {"order": order}}],
    });
    if let Some(after) = after {
        body["search_after"] = after.clone();
    }
    body
}

/// A sort value as the API's client writes it back (`ToString()`).
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// V2: `V2/Gateways/SearchGateway.cs` and `V2/Gateways/SearchOperations.cs`.

/// The alias a V2 search names (the API picks its extra clauses by the index name).
pub enum Index {
    Persons,
    Tenures,
    Assets,
}

/// `SearchOperations.cs:30-39` (`*` when no fields).
fn multi_match_best_fields(text: &str, fields: Option<&[&str]>, boost: u32) -> Value {
    json!({"multi_match": {
        "fields": fields.unwrap_or(&["*"]), "query": text, "type": "best_fields",
        "operator": "and", "boost": boost,
    }})
}

/// `SearchOperations.cs:42-51`.
fn multi_match_cross_fields(text: &str, fields: &[&str], boost: u32) -> Value {
    json!({"multi_match": {
        "fields": fields, "query": text, "type": "cross_fields", "operator": "or", "boost": boost,
    }})
}

/// `SearchOperations.cs:68-101`.
fn wildcard_match(text: &str, fields: &[&str], boost: u32) -> Value {
    let mut clauses = Vec::new();
    for field in fields {
        for word in text.split_whitespace() {
            clauses.push(
                json!({"wildcard": {*field: {"value": format!("*{word}*"), "boost": boost}}}),
            );
        }
    }
    should(clauses)
}

/// `SearchOperations.cs:104-114`.
fn match_field(text: &str, field: &str, boost: u32) -> Value {
    json!({"match": {field: {"query": text, "fuzziness": "AUTO", "boost": boost}}})
}

/// `SearchOperations.cs:117-127`.
fn match_fields(text: &str, fields: &[&str], boost: u32) -> Value {
    should(fields.iter().map(|f| match_field(text, f, boost)).collect())
}

/// `SearchOperations.cs:129-137`.
fn match_phrase_prefix(text: &str, field: &str, boost: u32) -> Value {
    json!({"match_phrase_prefix": {field: {"query": text, "boost": boost, "slop": 1}}})
}

/// `SearchOperations.cs:12-18, 152-162`: every word wrapped in `*`, all of them, reserved
/// characters escaped.
fn wildcard_query_string(text: &str, fields: &[&str], boost: u32) -> Value {
    const RESERVED: &str = "\\+-=&|!(){}[]^\"~*?:/";
    let escaped: String = text
        .chars()
        .flat_map(|c| match RESERVED.contains(c) {
            true => vec!['\\', c],
            false => vec![c],
        })
        .collect();
    let query = escaped
        .split_whitespace()
        .map(|w| format!("*{w}*"))
        .collect::<Vec<_>>()
        .join(" AND ");
    json!({"query_string": {"query": query, "fields": fields, "boost": boost}})
}

fn nested(path: &str, query: Value) -> Value {
    json!({"nested": {"path": path, "query": query}})
}

/// `SearchGateway.cs:126-134`.
fn match_name_fields(text: &str, fields: &[&str]) -> Value {
    should(vec![
        match_fields(text, fields, 3),
        wildcard_match(text, fields, 1),
    ])
}

/// `SearchGateway.cs:137-146`.
fn match_address_field(text: &str, field: &str) -> Value {
    should(vec![
        match_phrase_prefix(text, field, 3),
        match_field(text, field, 2),
        wildcard_query_string(text, &[field], 3),
    ])
}

/// V2 search: `SearchGateway.cs:30-106`.
pub fn search_v2(index: Index, text: &str, page: u64, page_size: u64) -> Value {
    let mut clauses = vec![multi_match_best_fields(text, None, 3)];
    match index {
        // Lines 38-52.
        Index::Assets => clauses.extend([
            multi_match_best_fields(
                text,
                Some(&[
                    "id",
                    "assetAddress.uprn",
                    "propertyReference",
                    "tenure.id",
                    "tenure.paymentReference",
                ]),
                3,
            ),
            multi_match_cross_fields(
                text,
                &[
                    "assetAddress.addressLine1",
                    "assetAddress.addressLine2",
                    "assetAddress.postCode",
                ],
                1,
            ),
            match_address_field(text, "assetAddress.addressLine1"),
        ]),
        // Lines 53-68.
        Index::Tenures => clauses.extend([
            match_name_fields(text, &["householdMembers.fullName"]),
            multi_match_best_fields(
                text,
                Some(&[
                    "id",
                    "paymentReference",
                    "tenuredAsset.id",
                    "tenuredAsset.uprn",
                ]),
                2,
            ),
            match_address_field(text, "tenuredAsset.fullAddress"),
        ]),
        // Lines 69-93.
        Index::Persons => clauses.extend([
            match_name_fields(text, &["title", "firstname", "surname"]),
            nested(
                "tenures",
                multi_match_best_fields(
                    text,
                    Some(&[
                        "tenures.id",
                        "tenures.uprn",
                        "tenures.propertyReference",
                        "tenures.assetId",
                        "tenures.paymentReference",
                    ]),
                    3,
                ),
            ),
            nested(
                "tenures",
                match_address_field(text, "tenures.assetFullAddress"),
            ),
        ]),
    }
    json!({
        "query": should(clauses),
        "min_score": 5,
        "size": page_size,
        "from": (page - 1) * page_size,
        "track_total_hits": true,
    })
}
