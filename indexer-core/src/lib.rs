//! Rebuilds and keeps true an OpenSearch index from a DynamoDB table.
//!
//! The crate is organised by architecture: [`source`] reads DynamoDB (segmented Scan),
//! [`entities`] map items to documents and define indexes, [`sink`] talks to the search cluster
//! (batching, bulk with retries, administration), [`pipeline`] wires them with bounded
//! concurrency, [`rebuild`] runs the blue/green swap behind a gate, and [`cli`] is the one
//! configuration for flags and environment. See `rebuild` for the model.

pub mod aliases;
pub mod checkpoint;
pub mod cli;
pub mod connect;
pub mod credentials;
pub mod deadletter;
pub mod drift;
pub mod entities;
pub mod error;
pub mod follow;
pub mod jobs;
pub mod logging;
pub mod ops;
pub mod output;
pub mod pipeline;
pub mod preflight;
pub mod progress;
pub mod rebuild;
pub mod report;
pub mod shutdown;
pub mod sink;
pub mod source;
pub mod summary;
pub mod validate;
