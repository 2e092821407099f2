//! `ingest: grpc`: the `pbflow.Collector/Send` server the eBPF agent exports to, configured as
//! upstream flowlogs-pipeline's `ingest.grpc` (`port`, `bufferLength`, `certPath`, `keyPath`,
//! `clientCAPath`).
//!
//! A request's bytes go to the pipeline's workers as they came off the wire and are decoded there
//! with the fast pbflow decoder. The reply is sent once the pipeline took the message (its queue
//! had room), as upstream replies once the message is in its channel: a full pipeline slows the
//! agents down. A message that does not decode is counted in `ingest_errors{kind="pbflow"}` and
//! logged with the peer's address; the connection and later messages go on.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use netobserv_flow::codec::pbflow::decode_records_into;
use netobserv_flow::flow::Flow;
use netobserv_flow::pipeline::{
    BuildContext, Component, Decode, RawBatch, Source, SourceContext, StageFactory, StageMetrics,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tonic::transport::{Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

use super::proto::pbflow::collector_server::{Collector, CollectorServer};

/// Messages waiting for the pipeline when `bufferLength` is not set (upstream's default).
pub const DEFAULT_BUFFER_LENGTH: usize = 100;

/// The largest message accepted. Upstream's gRPC servers take 4 MiB by default; a message of
/// 10,000 flows (the agent's default split) is about 1.5 MiB, and larger splits are accepted.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// How long the server waits for the requests in flight once shutdown is requested.
const DRAIN: Duration = Duration::from_secs(5);

/// `ingest.grpc` settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngestGrpcConfig {
    /// The port to listen on (required, as upstream).
    #[serde(default)]
    pub port: u16,
    /// How many messages may wait for room in the pipeline (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer_length: Option<usize>,
    /// PEM certificate of the server: TLS with `keyPath`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_path: Option<PathBuf>,
    /// PEM private key of `certPath`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<PathBuf>,
    /// PEM CA of the clients' certificates: mutual TLS (clients without one are refused).
    #[serde(
        default,
        rename = "clientCAPath",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_ca_path: Option<PathBuf>,
    /// The address to listen on (netobserv-rs; default: every address, as upstream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
}

/// Decodes `pbflow.Records` messages on the pipeline's workers.
pub struct PbflowDecode {
    metrics: StageMetrics,
    what: Arc<str>,
}

impl PbflowDecode {
    /// A decoder counting rejected messages in `metrics`, naming their origin `what` in logs.
    pub fn new(metrics: StageMetrics, what: &str) -> Self {
        PbflowDecode {
            metrics,
            what: Arc::from(what),
        }
    }
}

impl Decode for PbflowDecode {
    fn decode(&self, data: &[u8], _offset: u64, out: &mut Vec<Flow>) -> usize {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        match decode_records_into(data, now, out) {
            Ok(()) => 0,
            Err(e) => {
                self.metrics.reject_decode(&self.what, &e);
                1
            }
        }
    }
}

/// A message received, and where to say whether the pipeline took it.
struct Pending {
    raw: RawBatch,
    taken: oneshot::Sender<bool>,
}

struct Handler {
    tx: mpsc::Sender<Pending>,
    metrics: StageMetrics,
}

#[tonic::async_trait]
impl Collector for Handler {
    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, Status> {
        let what = match request.remote_addr() {
            Some(peer) => format!("pbflow message from {peer}"),
            None => "pbflow message".to_string(),
        };
        let decoder = Arc::new(PbflowDecode::new(self.metrics.clone(), &what));
        let raw = RawBatch::new(request.into_inner().into(), 0, decoder);
        let (taken, answer) = oneshot::channel();
        let stopping = || Status::unavailable("the pipeline is stopping");
        self.tx
            .send(Pending { raw, taken })
            .await
            .map_err(|_| stopping())?;
        match answer.await {
            // An empty `CollectorReply`.
            Ok(true) => Ok(Response::new(Bytes::new())),
            _ => Err(stopping()),
        }
    }
}

/// The `ingest: grpc` source: listening from the moment it is built.
pub struct GrpcIngest {
    listener: tokio::net::TcpListener,
    tls: Option<ServerTlsConfig>,
    buffer_length: usize,
}

impl GrpcIngest {
    /// Listens as `config` says (binding now: a port in use fails the build).
    pub async fn bind(config: &IngestGrpcConfig) -> crate::Result<Self> {
        if config.port == 0 {
            return Err(crate::Error::Settings(
                "ingest port not specified (grpc.port)".into(),
            ));
        }
        let tls = super::tls::server_tls(
            config.cert_path.as_deref(),
            config.key_path.as_deref(),
            config.client_ca_path.as_deref(),
        )?;
        let addr = SocketAddr::new(
            config.address.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
            config.port,
        );
        let listener = match tokio::net::TcpListener::bind(addr).await {
            // A host without IPv6 listens on every IPv4 address.
            Err(_) if config.address.is_none() => {
                tokio::net::TcpListener::bind((IpAddr::from([0u8; 4]), config.port)).await
            }
            other => other,
        }
        .map_err(|e| crate::Error::Other {
            context: format!("cannot listen on {addr}"),
            source: Box::new(e),
        })?;
        Ok(GrpcIngest {
            listener,
            tls,
            buffer_length: config.buffer_length.unwrap_or(DEFAULT_BUFFER_LENGTH).max(1),
        })
    }

    /// The address listened on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

#[async_trait::async_trait]
impl Source for GrpcIngest {
    async fn run(self: Box<Self>, cx: SourceContext) -> netobserv_flow::Result<()> {
        let stage = cx.metrics.stage().to_string();
        let this = *self;
        let (tx, mut rx) = mpsc::channel::<Pending>(this.buffer_length);
        let handler = Handler {
            tx,
            metrics: cx.metrics.clone(),
        };
        let mut builder = Server::builder();
        let secure = this.tls.is_some();
        if let Some(tls) = this.tls {
            builder = builder
                .tls_config(tls)
                .map_err(|e| netobserv_flow::Error::stage(&stage, e))?;
        }
        let service = CollectorServer::new(handler).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let addr = this.listener.local_addr().ok();
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(this.listener);
        let mut server_shutdown = cx.shutdown.clone();
        let server =
            tokio::spawn(builder.add_service(service).serve_with_incoming_shutdown(
                incoming,
                async move { server_shutdown.wait().await },
            ));
        tracing::info!(stage, ?addr, tls = secure, "gRPC collector listening");
        let mut shutdown = cx.shutdown.clone();
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Pending { raw, taken }) => {
                        let ok = cx.out.send_raw(raw).await.is_ok();
                        let _ = taken.send(ok);
                        if !ok {
                            break;
                        }
                    }
                    // The server stopped and every connection is closed.
                    None => break,
                },
                _ = shutdown.wait(), if deadline.is_none() => {
                    deadline = Some(tokio::time::Instant::now() + DRAIN);
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if deadline.is_some() => {
                    tracing::warn!(stage, "gRPC clients still connected at the end of the drain; closing");
                    break;
                }
            }
        }
        drop(rx);
        server.abort();
        match server.await {
            Ok(Err(e)) => Err(netobserv_flow::Error::stage(&stage, e)),
            _ => Ok(()),
        }
    }
}

/// Builds `ingest: grpc`.
pub(super) struct Factory;

#[async_trait::async_trait]
impl StageFactory for Factory {
    async fn build(&self, cx: &mut BuildContext<'_>) -> netobserv_flow::Result<Component> {
        let config: IngestGrpcConfig = cx.settings_or_default()?;
        let source = GrpcIngest::bind(&config).await.map_err(|e| match e {
            crate::Error::Settings(m) => cx.config_error(m),
            other => netobserv_flow::Error::stage(cx.stage(), other),
        })?;
        Ok(Component::source(source))
    }
}
