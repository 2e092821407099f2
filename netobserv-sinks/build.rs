//! Generates the gRPC service code of the `grpc` feature with tonic's manual builder: no `.proto`
//! file and no protoc. Both services (`pbflow.Collector` and `genericmap.Collector`) carry raw
//! message bytes through `crate::grpc::codec::BytesCodec`, so that requests reach the fast pbflow
//! decoder (and the flows' own prost encoding) without a second protobuf pass.
use tonic_prost_build::manual::{Builder, Method, Service};

fn collector(package: &str, input: &str) -> Service {
    Service::builder()
        .name("Collector")
        .package(package)
        .method(
            Method::builder()
                .name("send")
                .route_name("Send")
                .input_type("tonic::codegen::Bytes")
                .output_type("tonic::codegen::Bytes")
                .codec_path("crate::grpc::codec::BytesCodec")
                .comment(format!(
                    "`{package}.Collector/Send`: a `{input}` message (encoded) answered by an empty `CollectorReply`."
                ))
                .build(),
        )
        .build()
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_GRPC").is_none() {
        return;
    }
    Builder::new().compile(&[
        collector("pbflow", "Records"),
        collector("genericmap", "Flow"),
    ]);
}
