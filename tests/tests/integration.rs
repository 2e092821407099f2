//! netobserv-rs integration tests: one binary, one module per area.

#![allow(clippy::unwrap_used, missing_docs)]

mod it;
