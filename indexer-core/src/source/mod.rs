//! The source: DynamoDB, read with a parallel segmented Scan, and its stream tailed.

pub mod item;
pub mod scan;
pub mod schema;
pub mod stream;
pub mod throttle;
