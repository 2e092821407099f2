//! The pbflow client: a sink sending `pbflow.Records` to `pbflow.Collector/Send`, as the eBPF
//! agent exports with `EXPORT=grpc`; registered as the write stage `pbflow` (a netobserv-rs
//! addition: one pipeline forwarding to another's `ingest: grpc`).
//!
//! A batch is split into messages of at most `maxFlowsPerMessage` flows (the agent's
//! `GRPC_MESSAGE_MAX_FLOWS`, 10,000). The connection is made on first use and remade after a
//! failure; a failed call is retried with exponential backoff. A batch is acknowledged as
//! delivered once every message of it was answered, errored when a message failed after its
//! retries (or shutdown interrupted them), rejected when the server refused it for good
//! (`INVALID_ARGUMENT`, `UNIMPLEMENTED`).

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use netobserv_flow::codec::pbflow::encode_records;
use netobserv_flow::pipeline::{
    AckStatus, BuildContext, Component, Shutdown, Sink, SinkContext, StageFactory,
};
use serde::{Deserialize, Serialize};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use super::proto::pbflow::collector_client::CollectorClient;
use super::tls::ClientTls;

/// The write stage type of the pbflow client.
pub const TYPE: &str = "pbflow";

/// Flows per message when not set (the agent's `GRPC_MESSAGE_MAX_FLOWS` default).
pub const DEFAULT_MAX_FLOWS_PER_MESSAGE: usize = 10_000;

fn default_max_flows() -> usize {
    DEFAULT_MAX_FLOWS_PER_MESSAGE
}

/// How failed calls are retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RetryConfig {
    /// Retries of a call after its first attempt (default 5); then the batch is errored.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Wait before the first retry, in milliseconds (default 100); doubled at each retry.
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    /// Longest wait between retries, in milliseconds (default 5000).
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

fn default_max_retries() -> u32 {
    5
}
fn default_initial_backoff_ms() -> u64 {
    100
}
fn default_max_backoff_ms() -> u64 {
    5000
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: default_max_retries(),
            initial_backoff_ms: default_initial_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
        }
    }
}

/// `write.pbflow` settings (and the agent's `EXPORT=grpc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PbflowClientConfig {
    /// Host name or IP address of the collector (`TARGET_HOST`).
    pub target_host: String,
    /// Port of the collector (`TARGET_PORT`).
    pub target_port: u16,
    /// Flows per message at most (`GRPC_MESSAGE_MAX_FLOWS`, default 10000).
    #[serde(default = "default_max_flows")]
    pub max_flows_per_message: usize,
    /// TLS (`TARGET_TLS_*`).
    #[serde(default)]
    pub tls: ClientTls,
    /// Retries of failed calls.
    #[serde(default)]
    pub retry: RetryConfig,
}

impl PbflowClientConfig {
    /// A client of `host:port` with the defaults.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        PbflowClientConfig {
            target_host: host.into(),
            target_port: port,
            max_flows_per_message: DEFAULT_MAX_FLOWS_PER_MESSAGE,
            tls: ClientTls::default(),
            retry: RetryConfig::default(),
        }
    }
}

/// A lazily connected channel to `host:port` (TLS as `tls` says). Reading the TLS files and
/// checking the address happen here; connecting happens at the first call.
pub(super) fn channel(host: &str, port: u16, tls: &ClientTls) -> crate::Result<Channel> {
    if host.is_empty() {
        return Err(crate::Error::Settings("targetHost can't be empty".into()));
    }
    if port == 0 {
        return Err(crate::Error::Settings("targetPort can't be empty".into()));
    }
    let scheme = if tls.enabled() { "https" } else { "http" };
    let authority = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let uri = format!("{scheme}://{authority}");
    let mut endpoint = Endpoint::from_shared(uri.clone())
        .map_err(|e| crate::Error::Settings(format!("target {uri:?}: {e}")))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    if let Some(cfg) = tls.load(host)? {
        endpoint = endpoint.tls_config(cfg).map_err(|e| crate::Error::Other {
            context: format!("TLS settings of {uri}"),
            source: Box::new(e),
        })?;
    }
    Ok(endpoint.connect_lazy())
}

/// Calls `call` until it succeeds, fails for good, the retries run out or shutdown is requested.
pub(super) async fn with_retries<F, Fut>(
    retry: &RetryConfig,
    shutdown: &Shutdown,
    target: &str,
    mut call: F,
) -> AckStatus
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), Status>>,
{
    let mut backoff = Duration::from_millis(retry.initial_backoff_ms.max(1));
    let max_backoff = Duration::from_millis(retry.max_backoff_ms.max(1));
    let mut attempt = 0u32;
    loop {
        let status = match call().await {
            Ok(()) => return AckStatus::Delivered,
            Err(s) => s,
        };
        if matches!(status.code(), Code::InvalidArgument | Code::Unimplemented) {
            tracing::warn!(target, code = ?status.code(), message = status.message(), "the collector refused a message; not retried");
            return AckStatus::Rejected;
        }
        if attempt >= retry.max_retries || shutdown.is_triggered() {
            tracing::warn!(target, code = ?status.code(), message = status.message(), attempts = attempt + 1, "gRPC send failed; the flows are not delivered");
            return AckStatus::Errored;
        }
        attempt += 1;
        tracing::debug!(target, code = ?status.code(), attempt, ?backoff, "gRPC send failed; retrying");
        let mut stop = shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait() => {}
        }
        backoff = (backoff * 2).min(max_backoff);
    }
}

/// The pbflow client sink.
pub struct PbflowClient {
    client: CollectorClient<Channel>,
    target: String,
    max_flows: usize,
    retry: RetryConfig,
}

impl PbflowClient {
    /// A client as `config` says; reads the TLS files now, connects on first use.
    pub fn new(config: &PbflowClientConfig) -> crate::Result<Self> {
        if config.max_flows_per_message == 0 {
            return Err(crate::Error::Settings(
                "maxFlowsPerMessage (GRPC_MESSAGE_MAX_FLOWS) must be at least 1".into(),
            ));
        }
        let channel = channel(&config.target_host, config.target_port, &config.tls)?;
        Ok(PbflowClient {
            client: CollectorClient::new(channel).max_decoding_message_size(1 << 20),
            target: format!("{}:{}", config.target_host, config.target_port),
            max_flows: config.max_flows_per_message,
            retry: config.retry.clone(),
        })
    }

    /// The sink as a pipeline component.
    pub fn into_component(self) -> Component {
        Component::sink(self)
    }
}

#[async_trait::async_trait]
impl Sink for PbflowClient {
    async fn run(self: Box<Self>, mut cx: SinkContext) -> netobserv_flow::Result<()> {
        let this = *self;
        while let Some(batch) = cx.input.recv().await {
            let mut outcome = AckStatus::Delivered;
            for chunk in batch.flows().chunks(this.max_flows) {
                let message = Bytes::from(encode_records(chunk));
                let status = with_retries(&this.retry, &cx.shutdown, &this.target, || {
                    let mut client = this.client.clone();
                    let message = message.clone();
                    async move { client.send(message).await.map(drop) }
                })
                .await;
                if status == AckStatus::Delivered {
                    cx.metrics.written(chunk.len());
                } else {
                    outcome = status;
                    break;
                }
            }
            batch.resolve(outcome);
        }
        Ok(())
    }
}

/// Builds `write: pbflow`.
pub(super) struct Factory;

#[async_trait::async_trait]
impl StageFactory for Factory {
    async fn build(&self, cx: &mut BuildContext<'_>) -> netobserv_flow::Result<Component> {
        let config: PbflowClientConfig = cx.required_settings_at(TYPE)?;
        let client = PbflowClient::new(&config).map_err(|e| match e {
            crate::Error::Settings(m) => cx.config_error(m),
            other => netobserv_flow::Error::stage(cx.stage(), other),
        })?;
        Ok(client.into_component())
    }
}
