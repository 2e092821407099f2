//! Connectors from the netobserv-rs pipeline to outside systems, each behind its cargo feature:
//! stage types registered in a [`netobserv_flow::pipeline::StageRegistry`] with [`register`].
//!
//! | feature | stages and clients |
//! |---|---|
//! | `grpc` | `ingest: grpc` (upstream's `pbflow.Collector/Send` server), the pbflow client, `write: grpc` (`genericmap.Collector`) |
//! | `kafka` | `encode: kafka`, `ingest: kafka` (at-least-once), the agent's Kafka export |
//! | `prom` | `encode: prom` (metrics from flows, served in the Prometheus text format) |
//! | `clickhouse` | `write: clickhouse` (managed schema: raw flows + rollups), the ClickHouse `FlowStore` |
//!
//! ```
//! let mut registry = netobserv_flow::pipeline::StageRegistry::with_builtins();
//! netobserv_sinks::register(&mut registry);
//! ```

#[cfg(feature = "clickhouse")]
pub mod clickhouse;
pub mod error;
#[cfg(feature = "grpc")]
pub mod grpc;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(any(feature = "grpc", feature = "clickhouse"))]
mod pem;
#[cfg(feature = "prom")]
pub mod prom;

pub use error::{Error, Result};

/// Registers every stage type of the features this build has.
pub fn register(registry: &mut netobserv_flow::pipeline::StageRegistry) {
    #[cfg(feature = "grpc")]
    grpc::register(registry);
    #[cfg(feature = "kafka")]
    kafka::register(registry);
    #[cfg(feature = "prom")]
    prom::register(registry);
    #[cfg(feature = "clickhouse")]
    clickhouse::register(registry);
    let _ = registry;
}
