//! `netobserv-agent`: the eBPF flow agent, configured by the environment variables of upstream's
//! netobserv-ebpf-agent v1.12 (same names, formats and defaults).
//!
//! This build exports with `EXPORT=grpc` (upstream's default: `pbflow.Records` to
//! `pbflow.Collector/Send` at `TARGET_HOST:TARGET_PORT`, split at `GRPC_MESSAGE_MAX_FLOWS`, TLS and
//! mutual TLS from `TARGET_TLS_*`) and `EXPORT=direct-flp`: the flows go to an in-process
//! flowlogs-pipeline described by `FLP_CONFIG` (YAML or JSON), whose first stage follows the
//! stage `preset-ingester` that the agent provides. Kafka and IPFIX export are refused at start.
//!
//! Exit codes: 0 after a clean end (SIGINT/SIGTERM, the last eviction written); 1 when the agent
//! cannot run (no BPF permission, an unsupported kernel, no agent IP) or a stage failed; 2 when
//! the configuration (a variable, `FLP_CONFIG`) is invalid or asks for what this build lacks.
//!
//! Logs go to standard error, coloured only when it is a terminal and `NO_COLOR` is unset. The
//! level is `RUST_LOG` when it is set, else `LOG_LEVEL` (logrus's names), else info.

mod agent_ip;
mod env;

#[path = "../../logging.rs"]
mod logging;

use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use netobserv_flow::config::{Config, Follows, PipelineLink, StageParam, StageSection};
use netobserv_flow::pipeline::{
    Metrics, Pipeline, RuntimeOptions, Shutdown, StageRegistry, trigger_on_signals,
};

use crate::env::{AgentEnv, Export};

/// The stage the agent adds in front of the user's pipeline, as upstream names it.
const PRESET_INGESTER: &str = "preset-ingester";

/// An error and the exit code it ends the agent with.
struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    /// A configuration error: exit 2.
    fn config(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 2,
        }
    }

    /// A run-time error: exit 1.
    fn run(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 1,
        }
    }
}

/// The error and its causes, each cause once: a message that already quotes its cause (as
/// `stage "x": {source}` does) does not repeat it.
fn chain(e: &dyn StdError) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

/// `EXPORT`: `grpc` and `direct-flp` run in this build.
fn check_export(export: Export) -> Result<(), Failure> {
    match export {
        Export::DirectFlp | Export::Grpc | Export::Kafka => Ok(()),
        other => Err(Failure::config(format!(
            "EXPORT={:?}: this build exports with grpc, kafka and direct-flp only (IPFIX export comes later); set EXPORT=grpc with TARGET_HOST and TARGET_PORT, EXPORT=kafka with KAFKA_BROKERS, or EXPORT=direct-flp and FLP_CONFIG to a flowlogs-pipeline config whose first stage follows {PRESET_INGESTER}",
            other.name()
        ))),
    }
}

/// The pipeline of `EXPORT=grpc`: `preset-ingester` → the pbflow client (`write: pbflow`).
fn grpc_pipeline(env: &AgentEnv) -> Result<String, Failure> {
    if env.target_host.is_empty() || env.target_port == 0 {
        return Err(Failure::config(format!(
            "EXPORT=grpc needs the collector's address: set TARGET_HOST and TARGET_PORT (now {:?} and {})",
            env.target_host, env.target_port
        )));
    }
    let path = |p: &str| (!p.is_empty()).then(|| p.to_string());
    let settings = serde_json::json!({
        "targetHost": env.target_host,
        "targetPort": env.target_port,
        "maxFlowsPerMessage": env.grpc_message_max_flows,
        "tls": {
            "caCertPath": path(&env.target_tls_ca_cert_path),
            "userCertPath": path(&env.target_tls_user_cert_path),
            "userKeyPath": path(&env.target_tls_user_key_path),
        },
    });
    Ok(serde_json::json!({
        "pipeline": [{"name": "export", "follows": PRESET_INGESTER}],
        "parameters": [{"name": "export", "write": {"type": "pbflow", "pbflow": settings}}],
    })
    .to_string())
}

/// The stage type of `EXPORT=kafka`'s producer (one protobuf `pbflow.Record` per message, keyed
/// as upstream's agent), registered by the agent only.
const AGENT_KAFKA: &str = "agent-kafka";

/// `EXPORT=kafka`: the producer settings, and the pipeline `preset-ingester` → the producer.
fn kafka_pipeline(
    env: &AgentEnv,
) -> Result<(netobserv_sinks::kafka::ProducerConfig, String), Failure> {
    let k = &env.kafka;
    if k.brokers.is_empty() {
        return Err(Failure::config(
            "EXPORT=kafka needs at least one Kafka broker: set KAFKA_BROKERS (host:port, comma-separated)",
        ));
    }
    let compression = netobserv_sinks::kafka::Compression::parse(&k.compression)
        .map_err(|e| Failure::config(format!("KAFKA_COMPRESSION={:?}: {e}", k.compression)))?;
    let config = netobserv_sinks::kafka::ProducerConfig::new(k.brokers.join(","), k.topic.clone())
        .with_batch(Some(k.batch_messages), Some(k.batch_bytes))
        .with_compression(compression)
        .with_security(k.tls.clone(), k.sasl.clone());
    let text = serde_json::json!({
        "pipeline": [{"name": "export", "follows": PRESET_INGESTER}],
        "parameters": [{"name": "export", "write": {"type": AGENT_KAFKA}}],
    })
    .to_string();
    Ok((config, text))
}

/// The user's flowlogs-pipeline config with the agent's `preset-ingester` stage added in front.
fn flp_config(text: &str, settings: serde_json::Value) -> Result<Config, Failure> {
    if text.trim().is_empty() {
        return Err(Failure::config(format!(
            "FLP_CONFIG is empty: EXPORT=direct-flp needs a flowlogs-pipeline config (YAML or JSON) whose first stage follows {PRESET_INGESTER}"
        )));
    }
    let mut config = Config::from_yaml(text)
        .map_err(|e| Failure::config(format!("FLP_CONFIG: {}", chain(&e))))?;
    if config.pipeline.iter().any(|l| l.name == PRESET_INGESTER)
        || config.parameters.iter().any(|p| p.name == PRESET_INGESTER)
    {
        return Err(Failure::config(format!(
            "FLP_CONFIG: stage name {PRESET_INGESTER:?} is the agent's own ingest stage; rename your stage"
        )));
    }
    if let Some(p) = config.parameters.iter().find(|p| p.ingest.is_some()) {
        return Err(Failure::config(format!(
            "FLP_CONFIG: stage {:?} is an ingest stage; with direct-flp the agent is the ingester: remove it and make the first stage follow {PRESET_INGESTER}",
            p.name
        )));
    }
    if !config
        .pipeline
        .iter()
        .any(|l| l.follows.names().iter().any(|n| n == PRESET_INGESTER))
    {
        return Err(Failure::config(format!(
            "FLP_CONFIG: no stage follows {PRESET_INGESTER}; the first stage must have `follows: {PRESET_INGESTER}`"
        )));
    }
    let section = StageSection::new(netobserv_ebpf::source::TYPE)
        .with_settings(netobserv_ebpf::source::TYPE, settings)
        .map_err(|e| Failure::config(format!("the agent's stage settings: {e}")))?;
    config.pipeline.insert(
        0,
        PipelineLink {
            name: PRESET_INGESTER.into(),
            follows: Follows::default(),
        },
    );
    config.parameters.insert(
        0,
        StageParam {
            name: PRESET_INGESTER.into(),
            ingest: Some(section),
            ..Default::default()
        },
    );
    Ok(config)
}

/// Listens on `addr`; the unspecified IPv6 address (every address) falls back to 0.0.0.0 on a
/// host without IPv6.
async fn bind_metrics(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(addr).await {
        Err(_) if addr.ip() == IpAddr::from([0u8; 16]) => {
            tokio::net::TcpListener::bind((IpAddr::from([0u8; 4]), addr.port())).await
        }
        other => other,
    }
}

/// Serves the Prometheus registry (the agent's and the pipeline's metrics) on `/metrics`.
async fn serve_metrics(listener: tokio::net::TcpListener, metrics: Metrics) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let m = metrics.clone();
            async move { m.encode() }
        }),
    );
    if let Err(error) = axum::serve(listener, app).await {
        tracing::error!(%error, "metrics server stopped");
    }
}

/// `METRICS_SERVER_ADDRESS:METRICS_SERVER_PORT`; an empty address is every address.
fn metrics_addr(address: &str, port: u16) -> Result<SocketAddr, Failure> {
    if address.is_empty() {
        return Ok((IpAddr::from([0u8; 16]), port).into());
    }
    let host = address.trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>()
        .map(|ip| SocketAddr::from((ip, port)))
        .map_err(|_| {
            Failure::config(format!(
                "METRICS_SERVER_ADDRESS={address:?}: expected an IP address to listen on (empty: all)"
            ))
        })
}

fn run(env: AgentEnv) -> Result<(), Failure> {
    check_export(env.export)?;
    let (grpc, kafka) = match env.export {
        Export::Grpc => (Some(grpc_pipeline(&env)?), None),
        Export::Kafka => {
            let (producer, text) = kafka_pipeline(&env)?;
            (Some(text), Some(producer))
        }
        _ => (None, None),
    };
    let filter =
        netobserv_ebpf::interfaces::InterfaceFilter::new(&env.interfaces, &env.exclude_interfaces)
            .map_err(|e| Failure::config(e.to_string()))?;
    let agent_ip = match env.agent_ip {
        Some(ip) => ip,
        None => agent_ip::discover(&env.agent_ip_iface, env.agent_ip_type, &filter)
            .map_err(|e| Failure::run(format!("cannot find the agent IP: {}", chain(&e))))?,
    };
    tracing::info!(%agent_ip, "agent IP");
    let text = grpc.as_deref().unwrap_or(&env.flp_config);
    let config = flp_config(text, env.ebpf_settings(agent_ip))?;
    if config.metrics_settings.is_some() {
        tracing::warn!(
            "FLP_CONFIG metricsSettings: the pipeline's metrics are served with the agent's (METRICS_ENABLE, METRICS_SERVER_PORT), not by a server of their own"
        );
    }
    let metrics_addr = if env.metrics_enable {
        Some(metrics_addr(
            &env.metrics_server_address,
            env.metrics_server_port,
        )?)
    } else {
        None
    };
    let prefix = config
        .metrics_settings
        .as_ref()
        .and_then(|s| s.prefix.clone())
        .unwrap_or_default();
    let metrics = Metrics::new(&prefix).map_err(|e| Failure::config(format!("FLP_CONFIG: {e}")))?;
    let agent_metrics =
        netobserv_ebpf::source::AgentMetrics::new(&env.metrics_prefix, metrics.registry())
            .map_err(|e| {
                Failure::config(format!("METRICS_PREFIX={:?}: {e}", env.metrics_prefix))
            })?;
    let mut registry = StageRegistry::with_builtins();
    netobserv_ebpf::source::register(&mut registry, agent_metrics);
    netobserv_sinks::register(&mut registry);
    if let Some(producer) = kafka {
        registry.register(
            netobserv_flow::config::StageKind::Write,
            AGENT_KAFKA,
            move |_: &mut netobserv_flow::pipeline::BuildContext<'_>| {
                netobserv_sinks::kafka::pbflow_sink(&producer).map_err(|e| {
                    netobserv_flow::Error::Stage {
                        stage: "export".into(),
                        source: Box::new(e),
                    }
                })
            },
        );
    }
    let options = RuntimeOptions::from_config(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::run(format!("cannot start the runtime: {e}")))?;
    let result = runtime.block_on(async move {
        let pipeline = Pipeline::build_with(&config, &registry, metrics.clone(), options)
            .await
            .map_err(|e| {
                let code = if e.is_config() { 2 } else { 1 };
                Failure {
                    message: chain(&e),
                    code,
                }
            })?;
        for w in pipeline.warnings() {
            tracing::warn!("FLP_CONFIG: {w}");
        }
        if let Some(addr) = metrics_addr {
            // As upstream, a metrics server that cannot listen stops the agent.
            let listener = bind_metrics(addr).await.map_err(|e| {
                Failure::run(format!("metrics server: cannot listen on {addr}: {e}"))
            })?;
            let local = listener.local_addr().map_or(addr, |a| a);
            tracing::info!(addr = %local, "serving metrics on /metrics");
            tokio::spawn(serve_metrics(listener, metrics));
        }
        let (trigger, shutdown) = Shutdown::new();
        trigger_on_signals(trigger);
        pipeline.run(shutdown).await.map_err(|e| {
            if let netobserv_flow::Error::Run(report) = &e {
                for s in &report.stages {
                    tracing::warn!("{s}");
                }
            }
            Failure::run(chain(&e))
        })
    });
    runtime.shutdown_background();
    let report = result?;
    for s in &report.stages {
        tracing::info!("{s}");
    }
    tracing::info!("done: {report}");
    Ok(())
}

fn main() -> ExitCode {
    let (env, warnings) = match AgentEnv::from_process() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("netobserv-agent: can't load configuration from environment: {e}");
            return ExitCode::from(2);
        }
    };
    match logging::log_filter(std::env::var_os("RUST_LOG"), env.log_level) {
        Ok(filter) => logging::init_logging(filter),
        Err(e) => {
            eprintln!("netobserv-agent: {e}");
            return ExitCode::from(2);
        }
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        "starting the netobserv-rs eBPF agent"
    );
    for w in &warnings {
        tracing::warn!("{w}");
    }
    if env.log_debug {
        tracing::debug!(configuration = ?env, "configuration loaded");
    }
    match run(env) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("netobserv-agent: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const WRITER: &str = "pipeline:\n  - name: out\n    follows: preset-ingester\nparameters:\n  - name: out\n    write: {type: stdout, stdout: {format: json}}\n";

    #[test]
    fn grpc_kafka_and_direct_flp_export() {
        assert!(check_export(Export::DirectFlp).is_ok());
        assert!(check_export(Export::Grpc).is_ok());
        assert!(check_export(Export::Kafka).is_ok());
        for e in [Export::IpfixUdp, Export::IpfixTcp] {
            let f = check_export(e).err().unwrap();
            assert_eq!(f.code, 2);
            assert!(
                f.message.starts_with(&format!(
                    "EXPORT={:?}: this build exports with grpc, kafka and direct-flp only",
                    e.name()
                )),
                "{}",
                f.message
            );
        }
    }

    #[test]
    fn the_preset_ingester_is_added_in_front() {
        let c = flp_config(WRITER, serde_json::json!({"sampling": 2}))
            .ok()
            .unwrap();
        assert_eq!(c.pipeline[0].name, PRESET_INGESTER);
        assert!(c.pipeline[0].follows.is_empty());
        let ingest = c.parameters[0].ingest.as_ref().unwrap();
        assert_eq!(ingest.type_name, "ebpf");
        assert_eq!(ingest.settings["ebpf"]["sampling"], 2);
        // The same document as JSON, as upstream's example writes it.
        let json = r#"{"pipeline":[{"name":"writer","follows":"preset-ingester"}],"parameters":[{"name":"writer","write":{"type":"stdout"}}]}"#;
        assert!(flp_config(json, serde_json::json!({})).is_ok());
    }

    #[test]
    fn configs_the_agent_cannot_complete_are_refused() {
        let message = |text: &str| {
            flp_config(text, serde_json::json!({}))
                .err()
                .unwrap()
                .message
        };
        assert!(message("").starts_with("FLP_CONFIG is empty"));
        assert!(message("pipeline: [").starts_with("FLP_CONFIG: "));
        let own_ingest = "pipeline:\n  - name: in\n  - name: out\n    follows: in\nparameters:\n  - name: in\n    ingest: {type: stdin}\n  - name: out\n    write: {type: none}\n";
        assert!(message(own_ingest).contains("stage \"in\" is an ingest stage"));
        let unlinked =
            "pipeline:\n  - name: out\nparameters:\n  - name: out\n    write: {type: none}\n";
        assert!(message(unlinked).contains("no stage follows preset-ingester"));
        let named = WRITER.replace("name: out", "name: preset-ingester");
        assert!(message(&named).contains("the agent's own ingest stage"));
    }

    #[test]
    fn metrics_listen_on_every_address_by_default() {
        assert_eq!(
            metrics_addr("", 9090).ok().unwrap().to_string(),
            "[::]:9090"
        );
        assert_eq!(
            metrics_addr("127.0.0.1", 1).ok().unwrap().to_string(),
            "127.0.0.1:1"
        );
        assert_eq!(
            metrics_addr("[::1]", 1).ok().unwrap().to_string(),
            "[::1]:1"
        );
        assert_eq!(metrics_addr("localhost", 1).err().unwrap().code, 2);
    }

    #[test]
    fn causes_are_printed_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: {0}")]
        struct Quoting(#[source] std::io::Error);
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Plain(#[source] std::io::Error);
        let io = || std::io::Error::other("inner");
        assert_eq!(chain(&Quoting(io())), "outer: inner");
        assert_eq!(chain(&Plain(io())), "outer: inner");
    }
}
