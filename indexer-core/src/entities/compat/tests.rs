//! The comparison's unit tests, and the live indexes' dumps against the new mappings.

use serde_json::json;

use super::*;

fn text_keyword() -> Value {
    json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}})
}

fn paths(differences: &[Difference]) -> Vec<&str> {
    differences.iter().map(|d| d.path.as_str()).collect()
}

#[test]
fn identical_mappings_have_no_differences() {
    let mapping = json!({"properties": {"id": text_keyword(), "tenures": {
        "type": "nested", "include_in_parent": true, "properties": {"type": text_keyword()}}}});
    assert!(compare(&mapping, &mapping).is_empty());
}

#[test]
fn fields_only_the_new_mapping_has_are_not_differences() {
    let live = json!({"properties": {"id": {"type": "keyword"}}});
    let new = json!({"properties": {"id": {"type": "keyword"}, "versionNumber": {"type": "long"},
        "tenure": {"properties": {"id": {"type": "keyword"}}}}});
    assert!(compare(&live, &new).is_empty());
}

#[test]
fn a_field_the_new_mapping_lacks_is_named_with_its_live_shape() {
    let live = json!({"properties": {"assetManagement": {"properties": {
        "isTemporaryAccomodation": {"type": "boolean"}, "owner": text_keyword()}}}});
    let new = json!({"properties": {"assetManagement": {"properties": {"owner": text_keyword()}}}});
    assert_eq!(
        compare(&live, &new),
        vec![Difference {
            path: "assetManagement.isTemporaryAccomodation".into(),
            change: Change::Missing {
                before: "boolean".into()
            },
        }]
    );
}

#[test]
fn a_missing_sub_field_is_named_by_its_query_path() {
    let live = json!({"properties": {"id": text_keyword(), "tenure": {"properties": {"type": text_keyword()}}}});
    let new = json!({"properties": {"id": {"type": "keyword"}, "tenure": {"properties": {"type": {"type": "keyword"}}}}});
    let differences = compare(&live, &new);
    assert_eq!(
        paths(&differences),
        vec!["id", "id.keyword", "tenure.type", "tenure.type.keyword"]
    );
    assert_eq!(
        differences[0].change,
        Change::Kind {
            before: "text (+keyword)".into(),
            after: "keyword".into()
        }
    );
    assert_eq!(
        differences[1].to_string(),
        "`id.keyword`: the live index maps it (keyword), the new mapping does not"
    );
}

#[test]
fn an_object_turned_nested_is_a_difference_and_nested_without_include_in_parent_too() {
    let member = json!({"fullName": {"type": "keyword"}});
    let live = json!({"properties": {"householdMembers": {"properties": member}}});
    let nested =
        json!({"properties": {"householdMembers": {"type": "nested", "properties": member}}});
    assert_eq!(
        compare(&live, &nested),
        vec![Difference {
            path: "householdMembers".into(),
            change: Change::Kind {
                before: "object".into(),
                after: "nested".into()
            },
        }]
    );
    let live = json!({"properties": {"tenures": {"type": "nested", "include_in_parent": true, "properties": member}}});
    let plain = json!({"properties": {"tenures": {"type": "nested", "properties": member}}});
    let differences = compare(&live, &plain);
    assert_eq!(
        differences[0].change,
        Change::Parameter {
            name: "include_in_parent".into(),
            before: Some("true".into()),
            after: None
        }
    );
    assert_eq!(
        differences[0].to_string(),
        "`tenures`: include_in_parent true in the live index, unset in the new mapping"
    );
}

/// A nested field the new mapping turns back into an object: a plain query on its fields
/// still matches, but the V2 `nested` queries on it fail, so it is a difference.
#[test]
fn a_nested_field_turned_object_is_a_difference_and_its_fields_are_still_compared() {
    let member = json!({"fullName": {"type": "keyword"}, "type": text_keyword()});
    let live = json!({"properties": {"tenures": {"type": "nested", "include_in_parent": true,
        "properties": member}}});
    let object =
        json!({"properties": {"tenures": {"properties": {"fullName": {"type": "keyword"}}}}});
    let differences = compare(&live, &object);
    let lines: Vec<String> = differences.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        lines,
        vec![
            "`tenures`: nested (include_in_parent) in the live index, object in the new mapping",
            "`tenures`: include_in_parent true in the live index, unset in the new mapping",
            "`tenures.type`: the live index maps it (text (+keyword)), the new mapping does not",
        ]
    );
}

#[test]
fn a_changed_normalizer_or_analyzer_is_a_difference_and_defaults_are_not() {
    let live = json!({"properties": {
        "surname": {"type": "keyword", "normalizer": "my_normalizer"},
        "notes": {"type": "text", "index": true},
        "flag": {"type": "nested", "include_in_parent": false}}});
    let new = json!({"properties": {
        "surname": {"type": "keyword"},
        "notes": {"type": "text", "analyzer": "folded"},
        "flag": {"type": "nested"}}});
    let differences = compare(&live, &new);
    assert_eq!(paths(&differences), vec!["notes", "surname"]);
    assert!(
        differences[0]
            .to_string()
            .contains("analyzer unset in the live index, folded")
    );
}

#[test]
fn a_leaf_turned_object_reports_the_leaf_and_nothing_beneath() {
    let live = json!({"properties": {"tenure": {"type": "keyword"}}});
    let new = json!({"properties": {"tenure": {"properties": {"id": {"type": "keyword"}}}}});
    assert_eq!(paths(&compare(&live, &new)), vec!["tenure"]);
}

#[test]
fn refusals_name_each_difference_unless_changes_are_allowed() {
    let comparison = Comparison {
        live_index: Some("persons-1".into()),
        differences: vec![Difference {
            path: "nickname".into(),
            change: Change::Missing {
                before: "text (+keyword)".into(),
            },
        }],
        notes: Vec::new(),
    };
    let mut warnings = Vec::new();
    let refusals = comparison.refusals(false, &mut warnings);
    assert_eq!(
        refusals,
        vec![
            "mapping change: `nickname`: the live index maps it (text (+keyword)), the new mapping does not"
        ]
    );
    assert!(warnings.is_empty());
    assert!(comparison.refusals(true, &mut warnings).is_empty());
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].ends_with("(allowed)"));
    assert_eq!(
        with_refusals(Err(vec!["a".into()]), refusals.clone()),
        Err(vec!["a".to_owned(), refusals[0].clone()])
    );
    assert_eq!(with_refusals(Ok(()), Vec::new()), Ok(()));
    assert_eq!(with_refusals(Ok(()), refusals.clone()), Err(refusals));
}

#[test]
fn turning_off_doc_values_or_fielddata_the_live_index_sorts_on_is_a_difference() {
    let live = json!({"properties": {"id": {"type": "keyword"}, "surname": {"type": "keyword", "doc_values": true},
        "firstname": {"type": "text", "fielddata": true}}});
    let new = json!({"properties": {"id": {"type": "keyword", "doc_values": false},
        "surname": {"type": "keyword", "doc_values": "false"}, "firstname": {"type": "text"}}});
    let differences = compare(&live, &new);
    let names: Vec<(&str, &Change)> = differences
        .iter()
        .map(|d| (d.path.as_str(), &d.change))
        .collect();
    assert_eq!(
        names,
        vec![
            (
                "firstname",
                &Change::Parameter {
                    name: "fielddata".into(),
                    before: Some("true".into()),
                    after: None
                }
            ),
            (
                "id",
                &Change::Parameter {
                    name: "doc_values".into(),
                    before: None,
                    after: Some("false".into())
                }
            ),
            (
                "surname",
                &Change::Parameter {
                    name: "doc_values".into(),
                    before: Some("true".into()),
                    after: Some("false".into())
                }
            ),
        ]
    );
    // Turning them on, or keeping them, is no difference.
    assert!(
        compare(&new, &live)
            .iter()
            .all(|d| d.path != "id" && d.path != "surname")
    );
    assert!(compare(&live, &live).is_empty());
}

#[test]
fn dropping_a_date_format_pattern_the_live_index_accepts_is_a_difference() {
    let date = |format: Option<&str>| match format {
        Some(format) => {
            json!({"properties": {"startOfTenureDate": {"type": "date", "format": format}}})
        }
        None => json!({"properties": {"startOfTenureDate": {"type": "date"}}}),
    };
    let default = date(None);
    let spelled = date(Some("strict_date_optional_time||epoch_millis"));
    let wider = date(Some(
        "strict_date_optional_time || epoch_millis||yyyy-MM-dd",
    ));
    let no_millis = date(Some("strict_date_optional_time"));
    assert!(compare(&default, &spelled).is_empty());
    assert!(compare(&spelled, &default).is_empty());
    assert!(compare(&default, &wider).is_empty());
    assert_eq!(
        compare(&default, &no_millis),
        vec![Difference {
            path: "startOfTenureDate".into(),
            change: Change::Parameter {
                name: "format".into(),
                before: Some("strict_date_optional_time||epoch_millis".into()),
                after: Some("strict_date_optional_time".into()),
            },
        }]
    );
    assert_eq!(paths(&compare(&wider, &default)), vec!["startOfTenureDate"]);
}

fn with_normalizer(filter: Value) -> Value {
    json!({
        "settings": {"index": {"analysis": {"normalizer": {"my_normalizer": {"type": "custom", "filter": filter}}}}},
        "mappings": {"properties": {"surname": {"type": "keyword", "normalizer": "my_normalizer"},
            "id": {"type": "text", "fields": {"keyword": {"type": "keyword", "normalizer": "my_normalizer"}}}}},
    })
}

#[test]
fn a_normalizer_with_the_same_name_and_other_filters_is_a_difference() {
    let live = with_normalizer(json!(["lowercase", "asciifolding"]));
    let same = with_normalizer(json!(["lowercase", "asciifolding"]));
    let fewer = with_normalizer(json!(["lowercase"]));
    let side = |definition| Side::of_definition(definition);
    assert_eq!(compare_sides(side(&live), side(&same)), (vec![], vec![]));
    let (differences, _) = compare_sides(side(&live), side(&fewer));
    assert_eq!(
        differences,
        vec![Difference {
            path: "analysis.normalizer.my_normalizer".into(),
            change: Change::Definition {
                used_by: vec!["id.keyword".into(), "surname".into()],
                before: "type custom, filter [lowercase, asciifolding]".into(),
                after: Some("type custom, filter [lowercase]".into()),
            },
        }]
    );
    assert_eq!(
        differences[0].to_string(),
        "`analysis.normalizer.my_normalizer` (used by `id.keyword`, `surname`): type custom, filter [lowercase, asciifolding] in the live index, type custom, filter [lowercase] in the new settings"
    );
    // Undefined in the new settings: a difference; a built-in analyzer: nothing to compare.
    let mut undefined = same.clone();
    undefined["settings"] = json!({});
    let (differences, _) = compare_sides(side(&live), side(&undefined));
    assert_eq!(
        paths(&differences),
        vec!["analysis.normalizer.my_normalizer"]
    );
    let standard =
        json!({"mappings": {"properties": {"a": {"type": "text", "analyzer": "standard"}}}});
    assert_eq!(
        compare_sides(
            side(&standard),
            side(&json!({"mappings": standard["mappings"]}))
        )
        .0,
        vec![]
    );
}

#[test]
fn an_answer_shaped_definition_with_one_string_filter_and_no_char_filter_is_the_same() {
    let live = with_normalizer(json!("lowercase"));
    let mut new = with_normalizer(json!(["lowercase"]));
    new["settings"]["index"]["analysis"]["normalizer"]["my_normalizer"]["char_filter"] = json!([]);
    assert_eq!(
        compare_sides(Side::of_definition(&live), Side::of_definition(&new)).0,
        vec![]
    );
}

#[test]
fn a_dynamic_live_index_and_a_strict_new_one_is_a_note_not_a_difference() {
    let live = json!({"properties": {"id": {"type": "keyword"}}});
    let strict = json!({"dynamic": "strict", "properties": {"id": {"type": "keyword"}}});
    assert!(compare(&live, &strict).is_empty());
    assert_eq!(
        notes(&live, &strict),
        vec![
            "dynamic true in the live index, strict in the new mapping: a document with a field the new mapping lacks is rejected after the swap"
        ]
    );
    assert!(notes(&strict, &strict).is_empty());
    assert!(notes(&live, &live).is_empty());
    let comparison = Comparison {
        live_index: Some("persons".into()),
        differences: Vec::new(),
        notes: notes(&live, &strict),
    };
    let mut warnings = Vec::new();
    assert!(comparison.refusals(false, &mut warnings).is_empty());
    assert!(comparison.compatible());
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].starts_with("mapping note: dynamic true"),
        "{warnings:?}"
    );
}

#[test]
fn the_mapping_is_found_in_every_answer_shape() {
    let mapping = json!({"properties": {"id": {"type": "keyword"}}});
    let answer = json!({"persons-20261130t120000000z": {"mappings": mapping}});
    assert_eq!(mapping_of(&answer), Some(&mapping));
    assert_eq!(mapping_of(&json!({"mappings": mapping})), Some(&mapping));
    assert_eq!(mapping_of(&mapping), Some(&mapping));
    let two = json!({"a": {"mappings": mapping}, "b": {"mappings": mapping}});
    assert_eq!(mapping_of(&two), None);
}

/// The live indexes as the search API's repository dumped them, against the new mappings:
/// only the deliberate differences `MAPPINGS.md` lists remain.
#[test]
fn the_new_mappings_keep_every_live_field_but_the_documented_changes() {
    for (entity, live, expected) in [
        (
            "persons",
            include_str!("../testdata/live-persons.json"),
            vec!["tenures"],
        ),
        (
            "tenures",
            include_str!("../testdata/live-tenures.json"),
            vec!["startOfTenureDate"],
        ),
        (
            "assets",
            include_str!("../testdata/live-assets.json"),
            vec![],
        ),
    ] {
        let live: Value = serde_json::from_str(live).expect("a JSON dump");
        let new = crate::entities::by_name(entity)
            .expect("registered")
            .index_definition();
        let differences = compare(mapping_of(&live).expect("a mapping"), &new["mappings"]);
        assert_eq!(paths(&differences), expected, "{entity}: {differences:#?}");
    }
}
