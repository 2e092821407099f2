//! Shared support of the integration tests (each test binary that needs it declares `mod support;`).

#![allow(dead_code)]

pub mod clickhouse;
