//! Test support for the end-to-end tests, the demo and the benchmark: realistic sample data
//! ([`fixtures`]), real local services ([`harness`]) and a fault-injecting proxy ([`faults`]).

pub mod faults;
pub mod fixtures;
pub mod harness;
pub mod http1;
pub mod moto;
pub mod services;
pub mod sigv4;
pub mod task_user;
pub mod terminal;
pub mod tls;
pub mod writer;
