//! `encode: prom` as a pipeline stage: a sink that counts flows into its [`PromEncoder`],
//! expires idle series, and serves them on its own `/metrics` server or through the pipeline's
//! `metricsSettings` server.

use std::net::SocketAddr;
use std::time::Duration;

use netobserv_flow::config::StageKind;
use netobserv_flow::pipeline::{
    BuildContext, Component, Sink, SinkContext, StageFactory, StageRegistry,
};

use super::config::PromEncodeConfig;
use super::encode::PromEncoder;

/// The sink of an `encode: prom` stage.
pub struct PromSink {
    encoder: PromEncoder,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl PromSink {
    /// A sink updating `encoder` (serve it yourself, or register it in a registry).
    pub fn new(encoder: PromEncoder) -> Self {
        PromSink {
            encoder,
            server: None,
        }
    }
}

/// Aborts the stage's server when the stage ends.
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
        }
    }
}

/// How often idle series are looked for: a quarter of the expiry time, within [10 ms, 5 s].
fn sweep_period(expiry: Duration) -> Duration {
    (expiry / 4).clamp(Duration::from_millis(10), Duration::from_secs(5))
}

#[async_trait::async_trait]
impl Sink for PromSink {
    async fn run(self: Box<Self>, mut cx: SinkContext) -> netobserv_flow::Result<()> {
        let _server = AbortOnDrop(self.server);
        let encoder = self.encoder;
        let mut sweep = tokio::time::interval(sweep_period(encoder.expiry()));
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                batch = cx.input.recv() => {
                    let Some(batch) = batch else { break };
                    let out = encoder.observe(batch.flows());
                    if out.dropped > 0 {
                        cx.metrics.reject(
                            "max_metrics",
                            format_args!("{} metric updates dropped: maxMetrics reached", out.dropped),
                        );
                    }
                    if let Some(e) = &out.first_error {
                        cx.metrics.reject(
                            "value_conversion",
                            format_args!("{} flows not counted: {e}", out.errors),
                        );
                    }
                    cx.metrics.written(batch.len());
                    // Counted: the flows are delivered (a metric cannot refuse them later).
                    batch.into_ack().deliver();
                }
                _ = sweep.tick() => {
                    encoder.expire();
                }
            }
        }
        Ok(())
    }
}

async fn serve(listener: tokio::net::TcpListener, encoder: PromEncoder) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let e = encoder.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    e.encode_text(),
                )
            }
        }),
    );
    if let Err(error) = axum::serve(listener, app).await {
        tracing::warn!(%error, "prom encode server stopped");
    }
}

struct Factory;

#[async_trait::async_trait]
impl StageFactory for Factory {
    async fn build(&self, cx: &mut BuildContext<'_>) -> netobserv_flow::Result<Component> {
        let config: PromEncodeConfig = cx.settings_or_default()?;
        if config.tls.is_some() {
            return Err(cx.config_error(
                "tls on encode prom is not supported yet: remove it and put a TLS proxy in front",
            ));
        }
        let encoder = PromEncoder::new(&config).map_err(|e| cx.config_error(e))?;
        let mut sink = PromSink::new(encoder.clone());
        match (&config.address, config.port) {
            (None, None) => {
                cx.prometheus_registry()
                    .register(Box::new(encoder))
                    .map_err(|e| cx.config_error(format!("cannot register its metrics: {e}")))?;
            }
            (address, Some(port)) => {
                let host = address
                    .as_deref()
                    .filter(|a| !a.is_empty())
                    .unwrap_or("0.0.0.0");
                let addr: SocketAddr = format!("{host}:{port}")
                    .parse()
                    .or_else(|_| format!("[{host}]:{port}").parse())
                    .map_err(|_| {
                        cx.config_error(format!("address {host:?} is not an IP address"))
                    })?;
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| cx.config_error(format!("cannot listen on {addr}: {e}")))?;
                tracing::info!(stage = cx.stage(), %addr, "serving prom metrics on /metrics");
                sink.server = Some(tokio::spawn(serve(listener, encoder)));
            }
            (Some(_), None) => {
                return Err(cx.config_error("address is set without port: set port too"));
            }
        }
        Ok(Component::sink(sink))
    }
}

/// Registers `encode: prom`.
pub fn register(registry: &mut StageRegistry) {
    registry.register(StageKind::Encode, "prom", Factory);
}
