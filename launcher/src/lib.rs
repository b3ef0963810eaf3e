//! The launcher: an AWS Lambda that turns an operator's event into one `indexer` run on ECS, or
//! answers `status` and `jobs` itself.
//!
//! The event is parsed strictly and validated with the worker's own types ([`event`]), so a bad
//! name or URL is refused in the console, not minutes later in a task's logs; its host must be
//! one the environment allows ([`hosts`]), and a rebuild's tuning keeps the worker's ranges
//! ([`tuning`]). The launcher then makes sure no job for the same alias is pending or running,
//! starts the worker with ECS `RunTask` (Fargate or Fargate Spot, in the configured subnets and
//! security groups, [`config`]) — or, for a rebuild split over `workers`, one task per worker
//! sharing a job id — reads each answer, including its `failures`, and says where the run's
//! progress appears ([`launch`]). `status` and `jobs` are read from the cluster with the
//! worker's library ([`report`]). Every refusal carries a stable `errorType` ([`error`]). ECS is
//! reached through a small trait ([`ecs`]) so the handler is tested by direct call.

pub mod config;
pub mod ecs;
pub mod error;
pub mod event;
pub mod hosts;
mod invalid;
pub mod launch;
pub mod report;
pub mod tuning;

pub use config::LauncherConfig;
pub use ecs::{Ecs, SdkEcs};
pub use error::LaunchError;
pub use launch::{Answer, Launcher, Reply};
