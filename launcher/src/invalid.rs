//! The refusal of an event, shared by the event's validation and the allowed hosts' check.

use std::fmt;

/// The event was refused; the message names the field and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event: {0}")]
pub struct InvalidEvent(pub String);

/// The refusal of field `name` for breaking `rule`.
pub(crate) fn field(name: &str, rule: impl fmt::Display) -> InvalidEvent {
    InvalidEvent(format!("field `{name}`: {rule}"))
}
