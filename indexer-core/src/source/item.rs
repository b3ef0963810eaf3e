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

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::reads::note_read;

pub use super::attributes::{Item, MAX_DEPTH, too_deep, type_name};
pub use super::dynamo_json::{from_dynamo_json, to_dynamo_json};
pub use super::number::Number;
pub use super::reads::recording_reads;

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

/// Typed, path-aware access to the attributes of one item or nested map.
#[derive(Clone, Copy)]
pub struct Fields<'a> {
    map: &'a HashMap<String, AttributeValue>,
    path: &'a str,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
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
            f.number("n").map(|n| n.map(|n| n.as_str().to_owned())),
            Ok(Some("12.5".into()))
        );
        assert_eq!(f.string("s"), Ok(Some("42".into())));
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
}
