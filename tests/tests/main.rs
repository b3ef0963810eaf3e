//! End-to-end tests: the `indexer` program against real DynamoDB Local and osmem-server, started
//! on free ports by the harness. Every test uses its own table and alias names, so they run in
//! parallel.

mod abandon;
mod bad_input;
mod deadletters;
mod deadletters_s3;
mod drift;
mod edges;
mod engine;
mod faults;
mod fence;
mod follow;
mod follow_gaps;
mod jobs;
mod live_verify;
mod matrix;
mod operator;
mod phases;
mod rebuild;
mod repairs;
mod search_api;
mod security;
mod signals;
mod sigv4;
mod stream_order;
mod stream_resume;
mod streams;
mod swap;
mod terminal;
mod throttle;
mod versions;
mod worker_failures;
mod workers;
