//! DynamoDB JSON (`{"id": {"S": "…"}}`): items rendered losslessly for the dead-letter file, and
//! read back.

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::attributes::{Item, MAX_DEPTH};

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

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
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
}
