//! `flowlogs-pipeline`: runs a flowlogs-pipeline YAML configuration, drop-in for upstream's binary.
//!
//! Exit codes: 0 after a clean end (end of input, or SIGINT/SIGTERM followed by a full drain),
//! 1 when a stage failed, a health check failed or flows were lost, 2 when the configuration is
//! invalid.
//!
//! Logs go to standard error, coloured only when it is a terminal and `NO_COLOR` is unset. The
//! level is `RUST_LOG` when it is set (tracing's filter syntax, per-module directives allowed),
//! else `--log-level`, else the config's `log-level`, else info.

#[path = "../logging.rs"]
mod logging;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use netobserv_flow::Error;
use netobserv_flow::config::{Config, GoDuration, HealthcheckMode};
use netobserv_flow::pipeline::{
    Metrics, Pipeline, RuntimeOptions, Shutdown, StageRegistry, trigger_on_signals,
};
use tracing::level_filters::LevelFilter;

/// Runs a flowlogs-pipeline configuration: ingest → transform → write stages connected as the
/// `pipeline` section says. Stage types, field names and output formats are upstream
/// flowlogs-pipeline's; see the README for what this build supports.
#[derive(Parser, Debug)]
#[command(
    name = "flowlogs-pipeline",
    version,
    after_help = "Logs: to standard error, coloured only when it is a terminal and NO_COLOR is unset or empty. RUST_LOG, when set, takes precedence over --log-level and the config's log-level, and takes tracing's filter syntax with per-module directives (RUST_LOG=info,netobserv_flow::pipeline=debug); an unparsable RUST_LOG is a configuration error.\n\nExit codes: 0 after a clean end (end of a finite input, or SIGINT/SIGTERM once every flow read is written); 1 when a stage or a health check failed, or flows were lost (the drain deadline passed, a second signal); 2 when the configuration (the file, the flags, RUST_LOG) is invalid or needs a stage type this build does not have."
)]
struct Args {
    /// The configuration file (YAML, as upstream flowlogs-pipeline reads it); `-` reads it from
    /// standard input.
    #[arg(long, env = "FLP_CONFIG")]
    config: String,

    /// Log level, overriding the config's `log-level`: trace, debug, info, warning (or warn),
    /// error; fatal and panic, accepted as upstream does, mean error. RUST_LOG, when set, takes
    /// precedence.
    #[arg(long, value_parser = parse_level)]
    log_level: Option<LevelFilter>,

    /// Check the configuration, print the start-up warnings and exit.
    #[arg(long)]
    check: bool,

    /// Workers running decode, the stateless transforms and encode (default: the config's
    /// `runtime.workers`, else the number of cores). With more than one, output order may
    /// differ from input order; 1 keeps it.
    #[arg(long)]
    workers: Option<usize>,

    /// How long shutdown waits for the stages to drain, in Go notation (default: the config's
    /// `runtime.drainTimeout`, else 25s); what is not delivered by then is reported lost.
    #[arg(long, value_parser = parse_duration)]
    drain_timeout: Option<Duration>,

    /// What a failed sink health check does at start-up: require (refuse to start), warn or off
    /// (default: the config's `runtime.healthchecks`, else require).
    #[arg(long, value_parser = parse_mode)]
    healthchecks: Option<HealthcheckMode>,

    /// How long start-up waits for the Kubernetes cache of `add_kubernetes` (pods, services,
    /// nodes, ReplicaSets, Jobs) to be listed, in Go notation.
    #[arg(long, env = "FLP_KUBE_SYNC_TIMEOUT", value_parser = parse_duration, default_value = "60s")]
    kube_sync_timeout: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    GoDuration::parse(s).map(|d| d.0)
}

fn parse_mode(s: &str) -> Result<HealthcheckMode, String> {
    match s {
        "require" => Ok(HealthcheckMode::Require),
        "warn" => Ok(HealthcheckMode::Warn),
        "off" => Ok(HealthcheckMode::Off),
        _ => Err(format!("{s:?}: expected require, warn or off")),
    }
}

/// The level names upstream accepts (logrus's, case-insensitive).
const LEVELS: &str = "trace, debug, info, warning, warn, error, fatal, panic";

/// Reads a level as upstream's logrus does; fatal and panic, which have no tracing equivalent,
/// are error.
fn parse_level(s: &str) -> Result<LevelFilter, String> {
    match s.to_ascii_lowercase().as_str() {
        "trace" => Ok(LevelFilter::TRACE),
        "debug" => Ok(LevelFilter::DEBUG),
        "info" => Ok(LevelFilter::INFO),
        "warning" | "warn" => Ok(LevelFilter::WARN),
        "error" | "fatal" | "panic" => Ok(LevelFilter::ERROR),
        _ => Err(format!(
            "{s:?} is not a log level (expected one of: {LEVELS})"
        )),
    }
}

async fn serve_metrics(addr: SocketAddr, metrics: Metrics) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let m = metrics.clone();
            async move { m.encode() }
        }),
    );
    match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => {
            tracing::info!(%addr, "serving metrics on /metrics");
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(%error, "metrics server stopped");
            }
        }
        Err(error) => {
            tracing::warn!(%addr, %error, "cannot serve metrics; the pipeline runs without them")
        }
    }
}

fn exit_code(e: &Error) -> ExitCode {
    if e.is_config() {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::from_path(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flowlogs-pipeline: {}: {e}", args.config);
            return ExitCode::from(2);
        }
    };
    // The config's level is checked even when the flag overrides it: `--check` must catch it.
    let config_level = match config.log_level.as_deref().map(parse_level).transpose() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("flowlogs-pipeline: {}: log-level: {e}", args.config);
            return ExitCode::from(2);
        }
    };
    let level = args.log_level.or(config_level).unwrap_or(LevelFilter::INFO);
    match logging::log_filter(std::env::var_os("RUST_LOG"), level) {
        Ok(filter) => logging::init_logging(filter),
        Err(e) => {
            eprintln!("flowlogs-pipeline: {e}");
            return ExitCode::from(2);
        }
    }
    let mut options = RuntimeOptions::from_config(&config);
    if let Some(w) = args.workers {
        options = options.with_workers(w);
    }
    if let Some(d) = args.drain_timeout {
        options = options.with_drain_timeout(d);
    }
    if let Some(m) = args.healthchecks {
        options = options.with_healthchecks(m);
    }
    if args.check {
        // Build without contacting anything: the checks are for a run.
        options = options.with_healthchecks(HealthcheckMode::Off);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("flowlogs-pipeline: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let settings = config.metrics_settings.clone().unwrap_or_default();
    let metrics = match Metrics::new(settings.prefix.as_deref().unwrap_or("")) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("flowlogs-pipeline: {}: {e}", args.config);
            return ExitCode::from(2);
        }
    };
    let check = args.check;
    let kube_sync_timeout = args.kube_sync_timeout;
    let result = runtime.block_on(async move {
        let mut registry = StageRegistry::with_builtins();
        netobserv_sinks::register(&mut registry);
        // `add_kubernetes`: the Kubernetes cache, started by the first stage that needs it.
        let mut kube = netobserv_enrich::KubeOptions {
            check_only: check,
            ..Default::default()
        };
        kube.cache.sync_timeout = kube_sync_timeout;
        netobserv_enrich::register_with_kube(&mut registry, kube);
        // `ingest: {type: ebpf}`: the agent in-process (its metrics beside the pipeline's).
        match netobserv_ebpf::source::AgentMetrics::new("ebpf_agent_", metrics.registry()) {
            Ok(m) => netobserv_ebpf::source::register(&mut registry, m),
            Err(error) => tracing::warn!(%error, "the ebpf stage is unavailable"),
        }
        let pipeline =
            match Pipeline::build_with(&config, &registry, metrics.clone(), options).await {
                Ok(p) => p,
                Err(e) => return Err(e),
            };
        for w in pipeline.warnings() {
            tracing::warn!("{w}");
        }
        if check {
            let stages: Vec<&str> = pipeline.stages().collect();
            println!(
                "configuration is valid: {} stages ({}), {} warning(s)",
                stages.len(),
                stages.join(" → "),
                pipeline.warnings().len()
            );
            return Ok(None);
        }
        let port = settings.port.unwrap_or(9102);
        if port != 0 {
            let host = settings.address.as_deref().unwrap_or("0.0.0.0");
            match format!("{host}:{port}").parse::<SocketAddr>() {
                Ok(addr) => {
                    tokio::spawn(serve_metrics(addr, metrics));
                }
                Err(e) => tracing::warn!("metricsSettings: invalid address {host}:{port}: {e}"),
            }
        }
        let (trigger, shutdown) = Shutdown::new();
        trigger_on_signals(trigger);
        pipeline.run(shutdown).await.map(Some)
    });
    // A reader may still be parked in a read of standard input; do not wait for it.
    runtime.shutdown_background();
    let summary = |stages: &[netobserv_flow::pipeline::StageSummary]| {
        for s in stages {
            if s.rejected.is_empty() {
                tracing::info!("{s}");
            } else {
                tracing::warn!("{s}");
            }
        }
    };
    match result {
        Ok(Some(report)) => {
            summary(&report.stages);
            tracing::info!("done: {report}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            if let Error::Run(report) = &e {
                summary(&report.stages);
            }
            eprintln!("flowlogs-pipeline: {}: {e}", args.config);
            exit_code(&e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::logging::{log_filter, use_colour};
    use super::*;
    use tracing_subscriber::EnvFilter;

    #[test]
    fn upstream_level_names_are_read_and_others_refused() {
        for (name, want) in [
            ("trace", LevelFilter::TRACE),
            ("debug", LevelFilter::DEBUG),
            ("info", LevelFilter::INFO),
            ("INFO", LevelFilter::INFO),
            ("warning", LevelFilter::WARN),
            ("warn", LevelFilter::WARN),
            ("error", LevelFilter::ERROR),
            ("fatal", LevelFilter::ERROR),
            ("panic", LevelFilter::ERROR),
        ] {
            assert_eq!(parse_level(name), Ok(want), "{name}");
        }
        for bad in ["verbose", "", "off", "warnings"] {
            let e = parse_level(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")) && e.contains(LEVELS), "{e}");
        }
    }

    #[test]
    fn rust_log_replaces_the_level_and_must_parse() {
        let level = |f: EnvFilter| f.max_level_hint();
        assert_eq!(
            level(log_filter(None, LevelFilter::WARN).unwrap()),
            Some(LevelFilter::WARN)
        );
        assert_eq!(
            level(log_filter(Some("".into()), LevelFilter::WARN).unwrap()),
            Some(LevelFilter::WARN)
        );
        assert_eq!(
            level(
                log_filter(Some("error,netobserv_flow=debug".into()), LevelFilter::WARN).unwrap()
            ),
            Some(LevelFilter::DEBUG)
        );
        let e = log_filter(Some("netobserv_flow=loud".into()), LevelFilter::INFO).unwrap_err();
        assert!(e.starts_with("RUST_LOG: \"netobserv_flow=loud\""), "{e}");
    }

    #[test]
    fn colour_only_at_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some("".into())));
        assert!(!use_colour(true, Some("1".into())));
        assert!(!use_colour(false, None));
        assert!(!use_colour(false, Some("1".into())));
    }
}
