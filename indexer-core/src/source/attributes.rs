//! One DynamoDB item as the SDK returns it, the deepest nesting DynamoDB stores, and the
//! DynamoDB type names of its values.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

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
