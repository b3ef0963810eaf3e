//! The source: DynamoDB, read with a parallel segmented Scan, and its stream tailed.

mod attributes;
pub mod catchup;
mod dynamo_json;
pub mod item;
mod number;
pub mod positions;
mod reads;
pub mod records;
pub mod scan;
pub mod schema;
pub(crate) mod shards;
pub mod stream;
mod stream_error;
mod tail;
pub mod throttle;
