//! The sink: the search cluster. Batches are built in [`batch`], sent and judged item by item in
//! [`bulk`], with retries decided in [`retry`]; index and alias administration is in [`client`].

pub mod adaptive;
mod admin;
mod answers;
pub mod batch;
pub mod bulk;
pub mod client;
pub mod cluster;
mod documents;
mod error;
mod identify;
pub mod retry;
pub mod sigv4;
pub mod version;
