//! Hostile and extreme items against every factory and the dead-letter rendering: nesting far
//! past DynamoDB's limit, items near its 400 KB size limit, 38-digit and malformed numbers,
//! binaries, empty strings and empty sets. Whatever the input, a factory returns a document whose
//! body is JSON with only mapped fields, or a [`MapError`]; nothing panics or exhausts the stack.
//!
//! Case counts are fixed per test (a few dozen for the large inputs), so the suite stays fast.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use proptest::collection::vec;
use proptest::prelude::*;

use super::factory_properties::key;
use super::testing::{assert_every_field_is_mapped, body_json, full_item};
use super::{Entity, registry};
use crate::source::item::{Item, MAX_DEPTH, from_dynamo_json, to_dynamo_json};

/// A value nested `depth` maps and lists deep (`maps[i]` chooses a map or a list at level `i`).
fn nested(maps: &[bool]) -> AttributeValue {
    let mut value = AttributeValue::S("leaf".into());
    for &map in maps.iter().rev() {
        value = if map {
            AttributeValue::M([("tenures".to_owned(), value)].into())
        } else {
            AttributeValue::L(vec![value])
        };
    }
    value
}

/// Maps `item` with `entity`; a document must be JSON with every field mapped.
fn map_checked(entity: &dyn Entity, item: &Item) -> Result<(), String> {
    match entity.to_document(item) {
        Ok(document) => {
            assert_every_field_is_mapped(entity, &body_json(&document));
            Ok(())
        }
        Err(error) => Err(error.to_string()),
    }
}

/// The dead-letter rendering of `item` is valid JSON that a JSON reader can parse back.
fn render_readable(item: &Item) -> Result<serde_json::Value, TestCaseError> {
    let rendered = serde_json::to_vec(&to_dynamo_json(item))
        .map_err(|e| TestCaseError::fail(format!("render: {e}")))?;
    serde_json::from_slice(&rendered).map_err(|e| TestCaseError::fail(format!("read back: {e}")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Up to 2,000 levels (recursive rendering used to overflow a 2 MiB stack near 1,000): items
    /// within DynamoDB's 32 levels map as usual and round-trip through the dead-letter form;
    /// deeper ones are refused naming the attribute and the limit, and render truncated.
    #[test]
    fn deep_nesting_is_refused_past_dynamodb_limit_and_never_exhausts_the_stack(
        which in 0..3usize,
        maps in prop_oneof![vec(any::<bool>(), 0..=MAX_DEPTH), vec(any::<bool>(), MAX_DEPTH + 1..2_000)],
        attribute in key(),
    ) {
        let entity = registry()[which % registry().len()];
        let mut item = full_item(entity);
        item.insert(attribute.clone(), nested(&maps));
        let outcome = map_checked(entity, &item);
        let read_back = render_readable(&item)?;
        if maps.len() > MAX_DEPTH {
            let error = outcome.expect_err("too deep");
            prop_assert!(error.contains(&format!("`{attribute}`")) && error.contains("DynamoDB's own limit"), "{error}");
            prop_assert!(read_back.to_string().contains("TRUNCATED"));
            prop_assert!(from_dynamo_json(&read_back).is_err(), "a truncated item cannot be re-put");
        } else {
            if let Err(error) = &outcome {
                prop_assert!(!error.contains("DynamoDB's own limit"), "{error}");
            }
            prop_assert_eq!(from_dynamo_json(&read_back), Ok(item));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// A string of 350–400 KB (the size limit of a whole DynamoDB item) in any attribute a
    /// factory reads: the document, when there is one, stays proportionate to the item.
    #[test]
    fn items_near_the_400_kb_limit_map_to_proportionate_documents(
        which in 0..3usize,
        attribute in key(),
        size in 350_000usize..400_000,
        fill in prop_oneof![Just('x'), Just('é'), Just('"'), Just('\u{1}'), Just('😀')],
    ) {
        let entity = registry()[which % registry().len()];
        let mut item = full_item(entity);
        let text: String = std::iter::repeat_n(fill, size / fill.len_utf8()).collect();
        item.insert(attribute, AttributeValue::S(text));
        if let Ok(document) = entity.to_document(&item) {
            assert_every_field_is_mapped(entity, &body_json(&document));
            // JSON escapes a control character as six bytes; nothing grows more than that.
            prop_assert!(document.body.len() < 6 * size + 64 * 1024, "{} bytes", document.body.len());
        }
        render_readable(&item)?;
    }
}

/// Replaces every number in `value` (at any depth) with `number`.
fn replace_numbers(value: &mut AttributeValue, number: &str) {
    match value {
        AttributeValue::N(n) => *n = number.to_owned(),
        AttributeValue::Ns(ns) => ns.iter_mut().for_each(|n| *n = number.to_owned()),
        AttributeValue::L(values) => values.iter_mut().for_each(|v| replace_numbers(v, number)),
        AttributeValue::M(map) => map.values_mut().for_each(|v| replace_numbers(v, number)),
        _ => {}
    }
}

fn with_numbers(entity: &dyn Entity, number: &str) -> Item {
    let mut item = full_item(entity);
    item.values_mut().for_each(|v| replace_numbers(v, number));
    item
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// 38 significant digits, DynamoDB's precision, reach the document digit for digit.
    #[test]
    fn thirty_eight_digit_numbers_reach_the_document_exactly(
        which in 0..3usize,
        negative: bool,
        digits in "[1-9][0-9]{36}[1-9]",
        point in 0usize..38,
    ) {
        let entity = registry()[which % registry().len()];
        let sign = if negative { "-" } else { "" };
        let number = match point {
            0 => format!("{sign}{digits}"),
            at => format!("{sign}{}.{}", &digits[..at], &digits[at..]),
        };
        let item = with_numbers(entity, &number);
        let document = entity.to_document(&item).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let body = String::from_utf8(document.body.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(body.contains(&number), "{} lost {number}: {body}", entity.name());
        assert_every_field_is_mapped(entity, &body_json(&document));
        prop_assert_eq!(document.version, None, "a 38-digit version number is no external version");
    }

    /// Text that is not a number, wherever a number is read, is a mapping error naming the
    /// attribute, never a document holding it.
    #[test]
    fn malformed_number_text_is_a_mapping_error(
        which in 0..3usize,
        text in prop_oneof![
            Just(String::new()), Just("NaN".to_owned()), Just("Infinity".to_owned()),
            Just("1e".to_owned()), Just("--1".to_owned()), Just("0x10".to_owned()),
            Just("1.2.3".to_owned()), Just("١٢٣".to_owned()), Just("1 000".to_owned()),
            "[a-z]{1,8}", "[0-9]{1,4}\\.[.eE+-]{1,2}",
        ],
    ) {
        let entity = registry()[which % registry().len()];
        let item = with_numbers(entity, &text);
        match entity.to_document(&item) {
            Ok(document) => {
                prop_assert!(false, "{} accepted {text:?}: {}", entity.name(), String::from_utf8_lossy(&document.body));
            }
            Err(error) => prop_assert!(
                matches!(error.kind(), "invalid_value" | "wrong_type"),
                "{error}"
            ),
        }
    }

    /// Binaries, empty strings, empty sets and empty containers in any attribute.
    #[test]
    fn binaries_empty_strings_and_empty_sets_never_break_a_factory(
        which in 0..3usize,
        replacements in vec((key(), prop_oneof![
            vec(any::<u8>(), 0..4096).prop_map(|b| AttributeValue::B(Blob::new(b))),
            vec(vec(any::<u8>(), 0..64), 0..8).prop_map(|bs| AttributeValue::Bs(bs.into_iter().map(Blob::new).collect())),
            Just(AttributeValue::S(String::new())),
            Just(AttributeValue::S("   ".into())),
            Just(AttributeValue::Ss(Vec::new())),
            Just(AttributeValue::Ns(Vec::new())),
            Just(AttributeValue::Bs(Vec::new())),
            Just(AttributeValue::L(Vec::new())),
            Just(AttributeValue::M(Default::default())),
            Just(AttributeValue::Null(true)),
        ]), 1..8),
    ) {
        let entity = registry()[which % registry().len()];
        let mut item = full_item(entity);
        for (name, value) in replacements {
            item.insert(name, value);
        }
        let _ = map_checked(entity, &item);
        let read_back = render_readable(&item)?;
        prop_assert_eq!(from_dynamo_json(&read_back), Ok(item));
    }
}
