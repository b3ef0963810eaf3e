//! Rebuilds and keeps true an OpenSearch index from a DynamoDB table.

pub mod entities;
pub mod source;
