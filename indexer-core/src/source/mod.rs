//! The source: DynamoDB, read with a parallel segmented Scan, and its stream tailed.

pub mod catchup;
pub mod item;
pub mod positions;
pub mod records;
pub mod scan;
pub mod schema;
pub(crate) mod shards;
pub mod stream;
mod stream_error;
mod tail;
pub mod throttle;
