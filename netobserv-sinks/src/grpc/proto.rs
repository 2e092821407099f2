//! The messages of the two collector services that netobserv-flow does not define already, written
//! as prost structs (wire-compatible with upstream's `proto/genericmap.proto`), and the generated
//! service code.

/// `google.protobuf.Any`: a type URL and the bytes of a message. flowlogs-pipeline's `write: grpc`
/// puts a flow's JSON in `value` and leaves `type_url` empty.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Any {
    /// Which message `value` holds (empty in what flowlogs-pipeline sends).
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The message bytes: a flow as JSON.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `genericmap.Flow`: one flow, as flowlogs-pipeline's `write: grpc` sends it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GenericFlow {
    /// The flow, as JSON in an `Any`.
    #[prost(message, optional, tag = "1")]
    pub generic_map: Option<Any>,
}

/// `pbflow.CollectorReply` and `genericmap.CollectorReply`: empty.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct CollectorReply {}

/// Generated `pbflow.Collector` client and server (raw message bytes, see
/// [`super::codec::BytesCodec`]).
#[allow(missing_docs, clippy::all, clippy::pedantic, unused_qualifications)]
pub mod pbflow {
    include!(concat!(env!("OUT_DIR"), "/pbflow.Collector.rs"));
}

/// Generated `genericmap.Collector` client and server (raw message bytes, see
/// [`super::codec::BytesCodec`]).
#[allow(missing_docs, clippy::all, clippy::pedantic, unused_qualifications)]
pub mod genericmap {
    include!(concat!(env!("OUT_DIR"), "/genericmap.Collector.rs"));
}
