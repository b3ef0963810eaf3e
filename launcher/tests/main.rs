//! The launcher against local stand-ins for AWS: its handler against moto's ECS, and the built
//! function under `cargo lambda watch`, invoked with the console's event. Each test has its own
//! cluster, task definition and security group, so they run in parallel.

mod cargo_lambda;
mod harness;
mod moto;
mod operator;
mod tags;
mod watch;
