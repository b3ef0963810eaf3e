//! The source: DynamoDB, read with a parallel segmented Scan.

pub mod item;
pub mod scan;
pub mod throttle;
