//! Upstream flowlogs-pipeline's `transform: {type: network}`.

pub mod build;
pub mod config;
pub mod location;
mod rules;
pub mod services;
pub mod subnet;

pub use build::{Built, build};
pub use config::NetworkConfig;
pub use rules::Network;
