//! Numbers read from DynamoDB: kept as their exact decimal text and written to JSON unrounded.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
