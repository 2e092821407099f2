//! `encode: prom`: Prometheus metrics from flows, with flowlogs-pipeline's semantics (metric
//! types counter, gauge, histogram, agg_histogram; `valueKey`, `valueScale`, `labels`,
//! `filters`, `flatten`, `remap`, `buckets`, `expiryTime`, `maxMetrics`, `prefix`), and
//! NetObserv's predefined metric families ([`predefined`]).
//!
//! ```
//! use netobserv_sinks::prom::{PromEncodeConfig, PromEncoder, predefined};
//!
//! let config = PromEncodeConfig {
//!     metrics: predefined(&["namespace_flows_total"]).unwrap(),
//!     prefix: Some("netobserv_".into()),
//!     ..Default::default()
//! };
//! let encoder = PromEncoder::new(&config).unwrap();
//! encoder.observe(&[netobserv_flow::flow::Flow::default()]);
//! assert!(encoder.encode_text().contains("netobserv_namespace_flows_total"));
//! ```

mod config;
mod encode;
mod identity;
mod metric;
mod predefined;
mod read;
mod series;
mod sink;

pub use config::{
    FilterType, MetricDef, MetricFilter, MetricType, PromEncodeConfig, PromTlsConfig,
    parse_go_duration,
};
pub use encode::{DEFAULT_EXPIRY, ObserveOutcome, PromEncoder};
pub use metric::DEFAULT_BUCKETS;
pub use predefined::{DEFAULT_INCLUDE_LIST, predefined, predefined_names};
pub use sink::{PromSink, register};
