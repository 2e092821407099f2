//! # netobserv-flow
//!
//! The flow model of netobserv-rs and everything that needs only it: NetObserv's JSON flow format,
//! the eBPF agent's protobuf format (`pbflow`), Arrow conversion, flowlogs-pipeline's YAML
//! configuration, the query language, the `FlowStore` trait and its query model and, behind the default `runtime` feature, the pipeline
//! runtime and the stock stages (ingest, transform, write) that need no outside system.
//!
//! ```
//! use netobserv_flow::codec::json;
//! let flow = json::decode(br#"{"SrcAddr":"10.0.0.1","Bytes":1500,"SrcK8S_Namespace":"prod"}"#).unwrap();
//! assert_eq!(flow.bytes(), Some(1500));
//! assert_eq!(json::to_string(&flow), r#"{"Bytes":1500,"SrcAddr":"10.0.0.1","SrcK8S_Namespace":"prod"}"#);
//! ```
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `arrow` | yes | `codec::arrow`: Arrow schema and `RecordBatch` conversion (arrow-array, arrow-schema) |
//! | `runtime` | yes | `pipeline` (stage registry, queues, workers, acknowledgements, shutdown, operational metrics) and `stages` (stdin, file, synthetic, generic, filter, stdout...); brings tokio, prometheus, async-channel |
//!
//! Without default features the crate holds the model, the JSON and pbflow codecs, the config
//! types and the query language, with no async runtime: what the operator or a program that only
//! reads flows needs (`netobserv-flow = { version = "0.1", default-features = false }`).

pub mod codec;
pub mod compare;
pub mod config;
pub mod error;
pub mod field;
pub mod flow;
#[cfg(feature = "runtime")]
pub mod pipeline;
pub mod query;
#[cfg(feature = "runtime")]
pub mod stages;
pub mod store;
pub mod value;

pub use error::{
    BoxError, ConfigError, ConfigErrorKind, Error, HealthcheckFailure, Result, UnsupportedStage,
};
pub use field::{FieldPath, FieldRegistry};
pub use flow::{FieldId, Flow, MacAddr, TcpFlags};
pub use value::Value;

/// The README's Rust snippets, compiled and run as doctests.
#[cfg(all(doctest, feature = "runtime"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
