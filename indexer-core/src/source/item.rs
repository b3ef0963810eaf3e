//! Reading DynamoDB items: typed, path-aware field access for entity factories.
//!
//! Factories never touch [`AttributeValue`] directly. They read through [`Fields`], which knows
//! where it is in the item (`tenures[2].startDate`), so a value of the wrong type becomes a
//! [`MapError`] naming the exact attribute, the type expected and the type found. That error sends
//! the item to the dead-letter file; it never crashes a run.
//!
//! Conventions shared by every accessor, because real tables mix them freely:
//! - an absent attribute and a `NULL` attribute both read as "not set" (`None`, or an empty list);
//! - numbers keep their exact decimal text ([`Number`]): DynamoDB carries 38 significant digits,
//!   a JSON double does not, and money and ids must not lose precision;
//! - a number or boolean stored as a string (`"12.50"`, `"true"`) is accepted, since owning
//!   services have done both over the years; anything else of the wrong type is an error;
//! - an item nested deeper than DynamoDB's own limit of [`MAX_DEPTH`] levels of maps and lists
//!   cannot be genuine table data: [`Fields::checked`] refuses it (the item is dead-lettered), and
//!   [`to_dynamo_json`] renders at most that many levels, so no input can exhaust the stack.

use std::collections::HashMap;
use std::fmt;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

/// One DynamoDB item as the SDK returns it.
pub type Item = HashMap<String, AttributeValue>;

/// The deepest nesting of maps and lists DynamoDB stores (its documented limit is 32 levels).
pub const MAX_DEPTH: usize = 32;

/// The top-level attribute holding a value nested deeper than [`MAX_DEPTH`] maps and lists, if
/// any. Walks the item with an explicit stack: no recursion, whatever the input.
pub fn too_deep(item: &Item) -> Option<&str> {
    let mut pending: Vec<(&AttributeValue, usize)> = Vec::new();
    for (name, value) in item {
        pending.push((value, 0));
        while let Some((value, depth)) = pending.pop() {
            let children: Box<dyn Iterator<Item = &AttributeValue>> = match value {
                AttributeValue::L(values) => Box::new(values.iter()),
                AttributeValue::M(map) => Box::new(map.values()),
                _ => continue,
            };
            if depth + 1 > MAX_DEPTH {
                return Some(name);
            }
            pending.extend(children.map(|child| (child, depth + 1)));
        }
    }
    None
}

/// Why an item could not be mapped to a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("attribute `{path}` is required but {found}")]
    Missing { path: String, found: &'static str },
    #[error("attribute `{path}`: expected {expected}, found {found}")]
    WrongType {
        path: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("attribute `{path}`: {reason}")]
    Invalid { path: String, reason: String },
}

impl MapError {
    /// A stable, machine-readable name for the dead-letter file.
    pub fn kind(&self) -> &'static str {
        match self {
            MapError::Missing { .. } => "missing_attribute",
            MapError::WrongType { .. } => "wrong_type",
            MapError::Invalid { .. } => "invalid_value",
        }
    }
}

/// The DynamoDB type name of a value, as it appears in DynamoDB JSON.
pub fn type_name(value: &AttributeValue) -> &'static str {
    match value {
        AttributeValue::S(_) => "S",
        AttributeValue::N(_) => "N",
        AttributeValue::B(_) => "B",
        AttributeValue::Bool(_) => "BOOL",
        AttributeValue::Null(_) => "NULL",
        AttributeValue::L(_) => "L",
        AttributeValue::M(_) => "M",
        AttributeValue::Ss(_) => "SS",
        AttributeValue::Ns(_) => "NS",
        AttributeValue::Bs(_) => "BS",
        _ => "an unknown type",
    }
}

/// A decimal number kept as its exact text and written to JSON as a number token, unrounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number(String);

impl Number {
    /// Parses DynamoDB number text (`"+1.50"`, `"-0.5E-3"`, `".5"`, 38 digits…) into canonical
    /// JSON number text. Returns `None` when the text is not a finite decimal number.
    pub fn parse(text: &str) -> Option<Number> {
        normalize_number(text.trim()).map(Number)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The text is valid JSON number grammar by construction (see `normalize_number`).
        let raw = RawValue::from_string(self.0.clone()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// Rewrites decimal text into JSON number grammar: `-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`.
fn normalize_number(text: &str) -> Option<String> {
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    let (integer, fraction) = match mantissa.find('.') {
        Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
        None => (mantissa, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (integer.is_empty() && fraction.is_empty()) || !all_digits(integer) || !all_digits(fraction)
    {
        return None;
    }
    let integer = integer.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    let mut out = String::with_capacity(text.len() + 1);
    if negative && !(integer.is_empty() && fraction.is_empty()) {
        out.push('-');
    }
    out.push_str(if integer.is_empty() { "0" } else { integer });
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    if let Some(exponent) = exponent {
        let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
        if digits.is_empty() || !all_digits(digits) {
            return None;
        }
        let digits = digits.trim_start_matches('0');
        if !digits.is_empty() && out != "0" && out != "-0" {
            out.push('e');
            if exponent.starts_with('-') {
                out.push('-');
            }
            out.push_str(digits);
        }
    }
    Some(out)
}

/// Typed, path-aware access to the attributes of one item or nested map.
#[derive(Clone, Copy)]
pub struct Fields<'a> {
    map: &'a HashMap<String, AttributeValue>,
    path: &'a str,
}

thread_local! {
    /// The top-level attributes read while [`recording_reads`] runs on this thread.
    static READS: std::cell::RefCell<Option<std::collections::BTreeSet<String>>> =
        const { std::cell::RefCell::new(None) };
}

fn note_read(name: &str) {
    READS.with(|reads| {
        if let Some(reads) = reads.borrow_mut().as_mut()
            && !reads.contains(name)
        {
            reads.insert(name.to_owned());
        }
    });
}

/// Runs `read` (an entity's factory), and returns with its result the names of the item's
/// top-level attributes it looked at: what the factory maps, declared by the factory itself.
pub fn recording_reads<T>(read: impl FnOnce() -> T) -> (T, std::collections::BTreeSet<String>) {
    let before = READS.with(|reads| reads.borrow_mut().replace(Default::default()));
    let result = read();
    let seen = READS.with(|reads| std::mem::replace(&mut *reads.borrow_mut(), before));
    (result, seen.unwrap_or_default())
}

/// A nested map or list element owns its path string; this keeps it alive while it is read.
pub struct Nested<'a> {
    map: &'a HashMap<String, AttributeValue>,
    path: String,
}

impl<'a> Nested<'a> {
    pub fn fields(&self) -> Fields<'_> {
        Fields {
            map: self.map,
            path: &self.path,
        }
    }
}

impl<'a> Fields<'a> {
    /// Fields of a top-level item, after checking it is no deeper than DynamoDB allows.
    pub fn checked(item: &'a Item) -> Result<Fields<'a>, MapError> {
        match too_deep(item) {
            Some(name) => Err(MapError::Invalid {
                path: name.to_owned(),
                reason: format!(
                    "nested deeper than {MAX_DEPTH} levels of maps and lists, DynamoDB's own limit"
                ),
            }),
            None => Ok(Fields::of(item)),
        }
    }

    /// Fields of a top-level item.
    pub fn of(item: &'a Item) -> Fields<'a> {
        Fields {
            map: item,
            path: "",
        }
    }

    fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn wrong(&self, name: &str, expected: &'static str, found: &AttributeValue) -> MapError {
        MapError::WrongType {
            path: self.path_of(name),
            expected,
            found: type_name(found),
        }
    }

    /// The value when it is set (present and not `NULL`).
    pub fn get(&self, name: &str) -> Option<&'a AttributeValue> {
        if self.path.is_empty() {
            note_read(name);
        }
        match self.map.get(name) {
            None | Some(AttributeValue::Null(_)) => None,
            Some(value) => Some(value),
        }
    }

    /// A string attribute (`S`); a number (`N`) is read as its text, since services have stored
    /// references such as UPRNs both ways.
    pub fn string(&self, name: &str) -> Result<Option<String>, MapError> {
        match self.get(name) {
            None => Ok(None),
            Some(AttributeValue::S(s)) => Ok(Some(s.clone())),
            Some(AttributeValue::N(n)) => Ok(Some(n.clone())),
            Some(other) => Err(self.wrong(name, "a string (S)", other)),
        }
    }

    /// A required, non-empty string attribute, such as the item's `id`.
    pub fn required_string(&self, name: &str) -> Result<String, MapError> {
        let found = match self.map.get(name) {
            None => "absent",
            Some(AttributeValue::Null(_)) => "NULL",
            Some(_) => match self.string(name)? {
                Some(s) if !s.trim().is_empty() => return Ok(s),
                _ => "empty",
            },
        };
        Err(MapError::Missing {
            path: self.path_of(name),
            found,
        })
    }

    /// A date or timestamp kept as text; an empty string reads as "not set", because a search
    /// engine rejects `""` in a date field.
    pub fn date(&self, name: &str) -> Result<Option<String>, MapError> {
        Ok(self.string(name)?.filter(|s| !s.trim().is_empty()))
    }

    /// A number attribute (`N`, or `S` holding a number), exact.
    pub fn number(&self, name: &str) -> Result<Option<Number>, MapError> {
        let (text, value) = match self.get(name) {
            None => return Ok(None),
            Some(value @ AttributeValue::N(n)) => (n, value),
            Some(value @ AttributeValue::S(s)) if s.trim().is_empty() => {
                let _ = value;
                return Ok(None);
            }
            Some(value @ AttributeValue::S(s)) => (s, value),
            Some(other) => return Err(self.wrong(name, "a number (N)", other)),
        };
        Number::parse(text)
            .map(Some)
            .ok_or_else(|| MapError::Invalid {
                path: self.path_of(name),
                reason: format!("{} value {text:?} is not a number", type_name(value)),
            })
    }

    /// A boolean attribute (`BOOL`, or `S` holding `true`/`false`, or `N` holding 0/1).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, MapError> {
        match self.get(name) {
            None => Ok(None),
            Some(AttributeValue::Bool(b)) => Ok(Some(*b)),
            Some(AttributeValue::S(s)) if s.trim().is_empty() => Ok(None),
            Some(AttributeValue::S(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(AttributeValue::S(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(AttributeValue::N(n))
                if Number::parse(n).as_ref().map(Number::as_str) == Some("1") =>
            {
                Ok(Some(true))
            }
            Some(AttributeValue::N(n))
                if Number::parse(n).as_ref().map(Number::as_str) == Some("0") =>
            {
                Ok(Some(false))
            }
            Some(other) => Err(self.wrong(name, "a boolean (BOOL)", other)),
        }
    }

    /// A list of strings: `SS`, or `L` of `S`; "not set" reads as empty.
    pub fn strings(&self, name: &str) -> Result<Vec<String>, MapError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(AttributeValue::Ss(values)) => Ok(values.clone()),
            Some(AttributeValue::S(s)) if s.is_empty() => Ok(Vec::new()),
            Some(AttributeValue::L(values)) => {
                let mut out = Vec::with_capacity(values.len());
                for (i, value) in values.iter().enumerate() {
                    match value {
                        AttributeValue::S(s) => out.push(s.clone()),
                        AttributeValue::Null(_) => {}
                        other => {
                            return Err(self.wrong(&format!("{name}[{i}]"), "a string (S)", other));
                        }
                    }
                }
                Ok(out)
            }
            Some(other) => Err(self.wrong(name, "a string list (SS or L)", other)),
        }
    }

    /// A list of numbers: `NS`, or `L` of `N`; "not set" reads as empty.
    pub fn numbers(&self, name: &str) -> Result<Vec<Number>, MapError> {
        let texts: Vec<&String> = match self.get(name) {
            None => return Ok(Vec::new()),
            Some(AttributeValue::Ns(values)) => values.iter().collect(),
            Some(AttributeValue::L(values)) => {
                let mut texts = Vec::with_capacity(values.len());
                for (i, value) in values.iter().enumerate() {
                    match value {
                        AttributeValue::N(n) => texts.push(n),
                        other => {
                            return Err(self.wrong(&format!("{name}[{i}]"), "a number (N)", other));
                        }
                    }
                }
                texts
            }
            Some(other) => return Err(self.wrong(name, "a number list (NS or L)", other)),
        };
        texts
            .into_iter()
            .map(|text| {
                Number::parse(text).ok_or_else(|| MapError::Invalid {
                    path: self.path_of(name),
                    reason: format!("{text:?} is not a number"),
                })
            })
            .collect()
    }

    /// Binary attributes (`B` or `BS`) as base64 strings, the encoding search engines expect.
    pub fn binaries(&self, name: &str) -> Result<Vec<String>, MapError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(AttributeValue::B(blob)) => Ok(vec![BASE64.encode(blob.as_ref())]),
            Some(AttributeValue::Bs(blobs)) => {
                Ok(blobs.iter().map(|b| BASE64.encode(b.as_ref())).collect())
            }
            Some(other) => Err(self.wrong(name, "binary (B or BS)", other)),
        }
    }

    /// A nested map (`M`). "Not set" reads as `None`.
    pub fn map(&self, name: &str) -> Result<Option<Nested<'a>>, MapError> {
        match self.get(name) {
            None => Ok(None),
            Some(AttributeValue::M(map)) => Ok(Some(Nested {
                map,
                path: self.path_of(name),
            })),
            Some(other) => Err(self.wrong(name, "a map (M)", other)),
        }
    }

    /// A list of maps (`L` of `M`); "not set" reads as empty and `NULL` elements are skipped.
    pub fn maps(&self, name: &str) -> Result<Vec<Nested<'a>>, MapError> {
        let values = match self.get(name) {
            None => return Ok(Vec::new()),
            Some(AttributeValue::L(values)) => values,
            Some(AttributeValue::S(s)) if s.is_empty() => return Ok(Vec::new()),
            Some(other) => return Err(self.wrong(name, "a list of maps (L)", other)),
        };
        let mut out = Vec::with_capacity(values.len());
        for (i, value) in values.iter().enumerate() {
            let element = format!("{name}[{i}]");
            match value {
                AttributeValue::M(map) => out.push(Nested {
                    map,
                    path: self.path_of(&element),
                }),
                AttributeValue::Null(_) => {}
                other => return Err(self.wrong(&element, "a map (M)", other)),
            }
        }
        Ok(out)
    }

    /// Applies `read` to each map of a list of maps.
    pub fn each_map<T>(
        &self,
        name: &str,
        read: impl Fn(Fields<'_>) -> Result<T, MapError>,
    ) -> Result<Vec<T>, MapError> {
        self.maps(name)?
            .iter()
            .map(|nested| read(nested.fields()))
            .collect()
    }

    /// Applies `read` to a nested map when it is set.
    pub fn with_map<T>(
        &self,
        name: &str,
        read: impl FnOnce(Fields<'_>) -> Result<T, MapError>,
    ) -> Result<Option<T>, MapError> {
        match self.map(name)? {
            None => Ok(None),
            Some(nested) => read(nested.fields()).map(Some),
        }
    }
}

/// Renders an item in DynamoDB JSON (`{"id": {"S": "…"}}`), lossless: numbers stay text and
/// binaries are base64. Used for the dead-letter file, so a failed item can be inspected and
/// re-put exactly as it was read. A value nested deeper than [`MAX_DEPTH`] (which DynamoDB
/// cannot hold) is rendered as `{"TRUNCATED": "…"}`, which [`from_dynamo_json`] refuses.
pub fn to_dynamo_json(item: &Item) -> serde_json::Value {
    serde_json::Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), attr_json(v, 0)))
            .collect(),
    )
}

fn attr_json(value: &AttributeValue, depth: usize) -> serde_json::Value {
    use serde_json::{Value, json};
    let depth = match value {
        AttributeValue::L(_) | AttributeValue::M(_) if depth >= MAX_DEPTH => {
            return json!({ "TRUNCATED": format!("nested deeper than {MAX_DEPTH} levels") });
        }
        AttributeValue::L(_) | AttributeValue::M(_) => depth + 1,
        _ => depth,
    };
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": BASE64.encode(b.as_ref()) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(b) => json!({ "NULL": b }),
        AttributeValue::L(values) => {
            json!({ "L": values.iter().map(|v| attr_json(v, depth)).collect::<Vec<_>>() })
        }
        AttributeValue::M(map) => {
            json!({ "M": Value::Object(map.iter().map(|(k, v)| (k.clone(), attr_json(v, depth))).collect()) })
        }
        AttributeValue::Ss(values) => json!({ "SS": values }),
        AttributeValue::Ns(values) => json!({ "NS": values }),
        AttributeValue::Bs(values) => {
            json!({ "BS": values.iter().map(|b| BASE64.encode(b.as_ref())).collect::<Vec<_>>() })
        }
        _ => json!({ "UNKNOWN": null }),
    }
}

/// Reads an item back from DynamoDB JSON (the inverse of [`to_dynamo_json`]).
pub fn from_dynamo_json(json: &serde_json::Value) -> Result<Item, String> {
    let object = json.as_object().ok_or("an item must be a JSON object")?;
    object
        .iter()
        .map(|(name, value)| Ok((name.clone(), attr_from_json(value)?)))
        .collect()
}

fn attr_from_json(value: &serde_json::Value) -> Result<AttributeValue, String> {
    use serde_json::Value;
    let object = value
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or("a value must be a one-key object")?;
    let (kind, inner) = object.iter().next().ok_or("empty value")?;
    let text = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .ok_or(format!("{kind} needs a string"))
    };
    let blob = |v: &Value| -> Result<aws_sdk_dynamodb::primitives::Blob, String> {
        let bytes = BASE64.decode(text(v)?).map_err(|e| e.to_string())?;
        Ok(aws_sdk_dynamodb::primitives::Blob::new(bytes))
    };
    let list = |v: &Value| {
        v.as_array()
            .cloned()
            .ok_or(format!("{kind} needs an array"))
    };
    Ok(match kind.as_str() {
        "S" => AttributeValue::S(text(inner)?),
        "N" => AttributeValue::N(text(inner)?),
        "B" => AttributeValue::B(blob(inner)?),
        "BOOL" => AttributeValue::Bool(inner.as_bool().ok_or("BOOL needs a boolean")?),
        "NULL" => AttributeValue::Null(true),
        "L" => AttributeValue::L(
            list(inner)?
                .iter()
                .map(attr_from_json)
                .collect::<Result<_, _>>()?,
        ),
        "M" => AttributeValue::M(from_dynamo_json(inner)?),
        "SS" => AttributeValue::Ss(list(inner)?.iter().map(text).collect::<Result<_, _>>()?),
        "NS" => AttributeValue::Ns(list(inner)?.iter().map(text).collect::<Result<_, _>>()?),
        "BS" => AttributeValue::Bs(list(inner)?.iter().map(blob).collect::<Result<_, _>>()?),
        other => return Err(format!("unknown DynamoDB type {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn thirty_eight_digit_numbers_keep_every_digit_in_json() {
        let text = "12345678901234567890123456789012345678";
        let json = serde_json::to_string(&Number::parse(text).expect("valid")).expect("serializes");
        assert_eq!(json, text);
        let money = serde_json::to_string(&Number::parse("1234567.10").expect("valid"))
            .expect("serializes");
        assert_eq!(money, "1234567.1");
    }

    #[test]
    fn number_text_is_rewritten_into_json_grammar() {
        for (input, expected) in [
            ("+5", "5"),
            ("007", "7"),
            (".5", "0.5"),
            ("5.", "5"),
            ("-0", "0"),
            ("-0.000", "0"),
            ("1E+2", "1e2"),
            ("-1.50e-07", "-1.5e-7"),
            ("0e10", "0"),
        ] {
            assert_eq!(
                Number::parse(input).map(|n| n.0),
                Some(expected.to_owned()),
                "{input}"
            );
        }
        for bad in [
            "", "-", ".", "1e", "abc", "1.2.3", "NaN", "Infinity", "1e+", "--1",
        ] {
            assert_eq!(Number::parse(bad), None, "{bad:?} must be rejected");
        }
    }

    #[test]
    fn wrong_types_name_the_nested_path_expected_and_found() {
        let inner = AttributeValue::M(
            item(&[("startDate", AttributeValue::Bool(true))])
                .into_iter()
                .collect(),
        );
        let it = item(&[("tenures", AttributeValue::L(vec![inner.clone(), inner]))]);
        let err = Fields::of(&it)
            .each_map("tenures", |f| f.number("startDate"))
            .expect_err("a boolean is not a number");
        assert_eq!(
            err.to_string(),
            "attribute `tenures[0].startDate`: expected a number (N), found BOOL"
        );
    }

    #[test]
    fn absent_null_and_empty_values_read_as_not_set() {
        let it = item(&[
            ("nul", AttributeValue::Null(true)),
            ("empty", AttributeValue::S(String::new())),
        ]);
        let f = Fields::of(&it);
        assert_eq!(f.string("absent"), Ok(None));
        assert_eq!(f.string("nul"), Ok(None));
        assert_eq!(f.date("empty"), Ok(None));
        assert_eq!(f.number("empty"), Ok(None));
        assert_eq!(f.bool("empty"), Ok(None));
        assert_eq!(f.strings("empty"), Ok(vec![]));
        assert!(f.maps("nul").expect("null list").is_empty());
    }

    #[test]
    fn a_missing_id_is_reported_as_required() {
        let it = item(&[("id", AttributeValue::S("  ".into()))]);
        let err = Fields::of(&it).required_string("id").expect_err("blank id");
        assert_eq!(err.to_string(), "attribute `id` is required but empty");
        let err = Fields::of(&Item::new())
            .required_string("id")
            .expect_err("no id");
        assert_eq!(err.to_string(), "attribute `id` is required but absent");
    }

    #[test]
    fn lenient_scalars_accept_the_encodings_services_have_used() {
        let it = item(&[
            ("b1", AttributeValue::S("TRUE".into())),
            ("b2", AttributeValue::N("0".into())),
            ("n", AttributeValue::S("12.50".into())),
            ("s", AttributeValue::N("42".into())),
        ]);
        let f = Fields::of(&it);
        assert_eq!(f.bool("b1"), Ok(Some(true)));
        assert_eq!(f.bool("b2"), Ok(Some(false)));
        assert_eq!(
            f.number("n").map(|n| n.map(|n| n.0)),
            Ok(Some("12.5".into()))
        );
        assert_eq!(f.string("s"), Ok(Some("42".into())));
    }

    #[test]
    fn dynamo_json_round_trips_every_type() {
        let it = item(&[
            ("s", AttributeValue::S("é".into())),
            (
                "n",
                AttributeValue::N("1.0000000000000000000000000000000000001".into()),
            ),
            ("b", AttributeValue::B(vec![0, 255].into())),
            ("ss", AttributeValue::Ss(vec!["a".into()])),
            ("bs", AttributeValue::Bs(vec![vec![1].into()])),
            (
                "l",
                AttributeValue::L(vec![
                    AttributeValue::Null(true),
                    AttributeValue::Bool(false),
                ]),
            ),
        ]);
        let json = to_dynamo_json(&it);
        assert_eq!(json["n"]["N"], "1.0000000000000000000000000000000000001");
        assert_eq!(json["b"]["B"], "AP8=");
        assert_eq!(json["bs"]["BS"][0], "AQ==");
        assert_eq!(json["l"]["L"][1]["BOOL"], false);
        assert_eq!(json["s"]["S"], "é");
        assert_eq!(from_dynamo_json(&json), Ok(it));
    }

    #[test]
    fn nesting_is_allowed_up_to_dynamodb_limit_and_refused_past_it() {
        let nest = |levels: usize| {
            (0..levels).fold(AttributeValue::S("leaf".into()), |inner, level| {
                if level % 2 == 0 {
                    AttributeValue::L(vec![AttributeValue::Null(true), inner])
                } else {
                    AttributeValue::M([("k".to_owned(), inner)].into())
                }
            })
        };
        let at_limit = item(&[
            ("id", AttributeValue::S("1".into())),
            ("deep", nest(MAX_DEPTH)),
        ]);
        assert_eq!(too_deep(&at_limit), None);
        assert!(Fields::checked(&at_limit).is_ok());
        let rendered = to_dynamo_json(&at_limit).to_string();
        assert!(!rendered.contains("TRUNCATED"));
        let past = item(&[
            ("id", AttributeValue::S("1".into())),
            ("deep", nest(MAX_DEPTH + 1)),
        ]);
        assert_eq!(too_deep(&past), Some("deep"));
        let Err(error) = Fields::checked(&past) else {
            panic!("33 levels must be refused")
        };
        assert_eq!(
            error.to_string(),
            "attribute `deep`: nested deeper than 32 levels of maps and lists, DynamoDB's own limit"
        );
        assert_eq!(error.kind(), "invalid_value");
        assert_eq!(
            to_dynamo_json(&past)
                .to_string()
                .matches("TRUNCATED")
                .count(),
            1
        );
    }

    proptest! {
        #[test]
        fn any_parsed_number_is_valid_json_with_the_same_value(
            sign in "[+-]?", int in "[0-9]{0,20}", frac in "[0-9]{0,20}", exp in "([eE][+-]?[0-9]{1,2})?"
        ) {
            let text = format!("{sign}{int}.{frac}{exp}");
            if let Some(number) = Number::parse(&text) {
                let parsed: serde_json::Value = serde_json::from_str(number.as_str()).expect("valid JSON");
                prop_assert!(parsed.is_number());
                let a: f64 = text.parse().expect("rust parses it");
                let b: f64 = number.as_str().parse().expect("rust parses it");
                prop_assert_eq!(a, b);
            } else {
                prop_assert!(int.is_empty() && frac.is_empty());
            }
        }
    }
}
