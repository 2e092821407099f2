//! Wire formats for flows: NetObserv JSON, the agent's protobuf (`pbflow`) and Arrow.

#[cfg(feature = "arrow")]
pub mod arrow;
pub mod json;
pub mod pbflow;

pub use crate::error::{DecodeError, DecodeErrorKind, Format};
