//! Integration tests of netobserv-rs live in `tests/integration.rs` (one test binary, one module
//! per area). This library is empty.
