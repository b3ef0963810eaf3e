//! What the cluster's answers are read into: a name's state, an alias's properties, a document
//! with its write token and the outcome of a conditional write.

use serde::Deserialize;
use serde_json::Value;

/// How an alias is attached to an index: everything `_aliases` needs to re-create it elsewhere.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
pub struct AliasProps {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_routing: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_routing: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_write_index: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_hidden: Option<bool>,
}

/// What a name currently is on the cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum NameState {
    /// Nothing has that name.
    Absent,
    /// A concrete index has that name (the original tool's layout).
    Index,
    /// An alias with that name points at these indexes.
    Alias(Vec<String>),
}

/// A document and the token that guards its next conditional write.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub source: Value,
    pub seq_no: u64,
    pub primary_term: u64,
}

/// The outcome of a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conditional {
    /// Written; the new token.
    Written { seq_no: u64, primary_term: u64 },
    /// Someone else wrote first (409).
    Conflict,
}
