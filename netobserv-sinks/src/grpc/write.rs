//! `write: grpc`, as upstream flowlogs-pipeline's `write_grpc`: one call to
//! `genericmap.Collector/Send` per flow, the flow as NetObserv JSON in the `value` of a protobuf
//! `Any` (with an empty type URL), to `targetHost:targetPort`; the receiver is typically the
//! `netobserv` CLI's collector. Calls are retried as the pbflow client's are; a batch is
//! acknowledged delivered once every flow of it was answered.

use bytes::Bytes;
use netobserv_flow::codec::json;
use netobserv_flow::pipeline::{
    AckStatus, BuildContext, Component, Sink, SinkContext, StageFactory,
};
use prost::Message;
use serde::{Deserialize, Serialize};
use tonic::transport::Channel;

use super::client::{RetryConfig, channel, with_retries};
use super::proto::genericmap::collector_client::CollectorClient;
use super::proto::{Any, GenericFlow};

/// `write.grpc` settings (upstream's `targetHost`, `targetPort`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WriteGrpcConfig {
    /// Host name or IP address of the collector.
    #[serde(default)]
    pub target_host: String,
    /// Port of the collector.
    #[serde(default)]
    pub target_port: u16,
}

/// Encodes a flow as the `genericmap.Flow` message upstream sends.
pub fn encode_generic_flow(flow: &netobserv_flow::flow::Flow, json_buf: &mut Vec<u8>) -> Bytes {
    json_buf.clear();
    json::encode(flow, json_buf);
    GenericFlow {
        generic_map: Some(Any {
            type_url: String::new(),
            value: json_buf.clone(),
        }),
    }
    .encode_to_vec()
    .into()
}

/// The `write: grpc` sink.
pub struct GenericMapWriter {
    client: CollectorClient<Channel>,
    target: String,
    retry: RetryConfig,
}

impl GenericMapWriter {
    /// A writer as `config` says; connects on first use.
    pub fn new(config: &WriteGrpcConfig) -> crate::Result<Self> {
        let channel = channel(&config.target_host, config.target_port, &Default::default())?;
        Ok(GenericMapWriter {
            client: CollectorClient::new(channel),
            target: format!("{}:{}", config.target_host, config.target_port),
            retry: RetryConfig::default(),
        })
    }
}

#[async_trait::async_trait]
impl Sink for GenericMapWriter {
    async fn run(self: Box<Self>, mut cx: SinkContext) -> netobserv_flow::Result<()> {
        let this = *self;
        let mut json_buf = Vec::new();
        while let Some(batch) = cx.input.recv().await {
            let mut outcome = AckStatus::Delivered;
            for flow in batch.flows() {
                let message = encode_generic_flow(flow, &mut json_buf);
                let status = with_retries(&this.retry, &cx.shutdown, &this.target, || {
                    let mut client = this.client.clone();
                    let message = message.clone();
                    async move { client.send(message).await.map(drop) }
                })
                .await;
                if status != AckStatus::Delivered {
                    outcome = status;
                    break;
                }
                cx.metrics.written(1);
            }
            batch.resolve(outcome);
        }
        Ok(())
    }
}

/// Builds `write: grpc`.
pub(super) struct Factory;

#[async_trait::async_trait]
impl StageFactory for Factory {
    async fn build(&self, cx: &mut BuildContext<'_>) -> netobserv_flow::Result<Component> {
        let config: WriteGrpcConfig = cx.required_settings_at("grpc")?;
        let writer = GenericMapWriter::new(&config).map_err(|e| match e {
            crate::Error::Settings(m) => cx.config_error(m),
            other => netobserv_flow::Error::stage(cx.stage(), other),
        })?;
        Ok(Component::sink(writer))
    }
}
