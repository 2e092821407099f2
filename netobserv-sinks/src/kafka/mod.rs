//! Kafka (feature `kafka`, rdkafka with librdkafka built from source).
//!
//! - `encode: kafka` ([`producer`]): NetObserv JSON, one flow per message, as upstream
//!   flowlogs-pipeline; [`producer::pbflow_sink`] is the agent's `EXPORT=kafka` (one protobuf
//!   `pbflow.Record` per message, keyed as upstream's agent). Delivery reports resolve the
//!   acknowledgements.
//! - `ingest: kafka` ([`consumer`]): a consumer-group member that commits only offsets whose
//!   flows every downstream sink delivered.

pub mod client;
pub mod consumer;
pub mod producer;

pub use client::Compression;
pub use consumer::{ConsumerConfig, KafkaSource};
pub use producer::{KafkaSink, ProducerConfig, agent_key, json_sink, pbflow_sink};

use netobserv_flow::config::StageKind;

/// Registers `encode: kafka` and `ingest: kafka`.
pub fn register(registry: &mut netobserv_flow::pipeline::StageRegistry) {
    registry.register(StageKind::Encode, "kafka", producer::build_encode);
    registry.register(StageKind::Ingest, "kafka", consumer::build_ingest);
}
