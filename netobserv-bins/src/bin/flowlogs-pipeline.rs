//! `flowlogs-pipeline`: runs a flowlogs-pipeline YAML configuration, drop-in for upstream's binary.
//!
//! Exit codes: 0 after a clean end (end of input, or SIGINT/SIGTERM followed by a full drain),
//! 1 when a stage failed, a health check failed or flows were lost, 2 when the configuration is
//! invalid.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use netobserv_flow::Error;
use netobserv_flow::config::{Config, GoDuration, HealthcheckMode};
use netobserv_flow::pipeline::{
    Metrics, Pipeline, RuntimeOptions, Shutdown, StageRegistry, trigger_on_signals,
};
use tracing_subscriber::EnvFilter;

/// Runs a flowlogs-pipeline configuration: ingest → transform → write stages connected as the
/// `pipeline` section says. Stage types, field names and output formats are upstream
/// flowlogs-pipeline's; see the README for what this build supports.
#[derive(Parser, Debug)]
#[command(
    name = "flowlogs-pipeline",
    version,
    after_help = "Exit codes: 0 after a clean end (end of a finite input, or SIGINT/SIGTERM once every flow read is written); 1 when a stage or a health check failed, or flows were lost (the drain deadline passed, a second signal); 2 when the configuration is invalid or needs a stage type this build does not have."
)]
struct Args {
    /// The configuration file (YAML, as upstream flowlogs-pipeline reads it); `-` reads it from
    /// standard input.
    #[arg(long, env = "FLP_CONFIG")]
    config: String,

    /// Log level, overriding the config's `log-level` (trace, debug, info, warn, error).
    #[arg(long)]
    log_level: Option<String>,

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

fn init_logging(level: &str) {
    let level = match level {
        "fatal" | "panic" => "error",
        "warning" => "warn",
        l => l,
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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
    init_logging(
        args.log_level
            .as_deref()
            .or(config.log_level.as_deref())
            .unwrap_or("info"),
    );
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
    let result = runtime.block_on(async move {
        let registry = StageRegistry::with_builtins();
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
