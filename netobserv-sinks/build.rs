//! Compiles the protobuf definitions of the gRPC feature with protox (pure Rust: no protoc).
fn main() {}
