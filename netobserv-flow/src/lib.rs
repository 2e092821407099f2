//! # netobserv-flow
//!
//! The flow model of netobserv-rs and everything that needs only it: NetObserv's JSON flow format,
//! the eBPF agent's protobuf format (`pbflow`), Arrow conversion, flowlogs-pipeline's YAML
//! configuration, the query language, the stock stages (ingest, transform, write) and the pipeline
//! runtime that connects them.
//!
//! ```
//! use netobserv_flow::codec::json;
//! let flow = json::decode(br#"{"SrcAddr":"10.0.0.1","Bytes":1500,"SrcK8S_Namespace":"prod"}"#).unwrap();
//! assert_eq!(flow.bytes, Some(1500));
//! assert_eq!(json::to_string(&flow), r#"{"Bytes":1500,"SrcAddr":"10.0.0.1","SrcK8S_Namespace":"prod"}"#);
//! ```
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `arrow` | yes | [`codec::arrow`]: Arrow schema and `RecordBatch` conversion |

pub mod codec;
pub mod config;
pub mod error;
pub mod field;
pub mod flow;
pub mod pipeline;
pub mod query;
pub mod stages;
pub mod value;

pub use error::{Error, Result};
pub use field::{FieldPath, FieldRegistry};
pub use flow::{FieldId, Flow, MacAddr, TcpFlags};
pub use value::Value;
