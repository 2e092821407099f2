//! `write: clickhouse` throughput against a real ClickHouse server, and the "Deploying without
//! Loki" blog's approach (one `INSERT ... VALUES` per flow into its 12-column table) measured the
//! same way, for the ratio.
//!
//! 1. The sink: `feed → write: clickhouse` through the pipeline runtime on one thread (a
//!    current-thread tokio runtime, `workers: 1`), enriched synthetic flows (every Kubernetes
//!    field set) in batches of 1,000, INSERTs of `batchRows` rows; reports rows/s (wall, from the
//!    first flow sent to the last batch acknowledged) and this process's CPU-seconds.
//! 2. The row encoding alone (RowBinary from flows), rows/s on one core.
//! 3. The blog: one HTTP `INSERT INTO blog VALUES (...)` per flow, sequential, rows/s.
//!
//! ```sh
//! # a private 18.16 server: netobserv-sinks/tests/support/clickhouse_server.sh DIR 18123 19000 19009
//! cargo run --release -p benches --bin clickhouse-load -- http://127.0.0.1:18123 [flows] [blog-flows] [batch-rows] [server-pid]
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use netobserv_flow::Flow;
use netobserv_flow::config::{Config, StageKind};
use netobserv_flow::pipeline::{
    Ack, AckStatus, BuildContext, Component, FlowBatch, Metrics, Pipeline, RuntimeOptions,
    Shutdown, Source, SourceContext, StageRegistry,
};
use netobserv_sinks::clickhouse::row::RowEncoder;
use netobserv_sinks::clickhouse::sql::string_literal;
use netobserv_sinks::clickhouse::{ClickHouseConfig, ClickHouseWriter, Flavor};

const PER_BATCH: usize = 1000;

/// Batches delivered, when the first was sent, when the last was acknowledged.
type Progress = Arc<Mutex<(usize, Option<Instant>, Option<Instant>)>>;

struct Feed {
    batches: Vec<Vec<Flow>>,
    acks: Progress,
}

#[async_trait::async_trait]
impl Source for Feed {
    async fn run(self: Box<Self>, cx: SourceContext) -> netobserv_flow::Result<()> {
        self.acks.lock().expect("progress lock").1 = Some(Instant::now());
        for b in self.batches {
            let acks = self.acks.clone();
            let ack = Ack::new(move |s| {
                let mut a = acks.lock().expect("progress lock");
                if s == AckStatus::Delivered {
                    a.0 += 1;
                }
                a.2 = Some(Instant::now());
            });
            if cx.out.send(FlowBatch::with_ack(b, ack)).await.is_err() {
                break;
            }
        }
        Ok(())
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .cloned()
        .or_else(|| std::env::var("CLICKHOUSE_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:8123".into());
    let flows: usize = args
        .get(2)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let blog_flows: usize = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(5_000);
    let batch_rows: usize = args.get(4).and_then(|v| v.parse().ok()).unwrap_or(100_000);
    // The server's pid, to report its CPU time too.
    let server: Option<u32> = args.get(5).and_then(|v| v.parse().ok());
    let server_cpu = || server.map_or(0.0, |p| benches::process_cpu_seconds(p).unwrap_or(0.0));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let pid = std::process::id();
    let db = format!("load_{pid}");
    let pool = benches::enriched_flows(20_000);
    let sample: Vec<Flow> = pool.iter().take(flows.min(100_000)).cloned().collect();

    // 1. The sink through the pipeline.
    let batches: Vec<Vec<Flow>> = (0..flows.div_ceil(PER_BATCH))
        .map(|b| {
            (0..PER_BATCH.min(flows - b * PER_BATCH))
                .map(|i| pool[(b * PER_BATCH + i) % pool.len()].clone())
                .collect()
        })
        .collect();
    let acks = Arc::new(Mutex::new((0usize, None, None)));
    let feed = Mutex::new(Some(Feed {
        batches,
        acks: acks.clone(),
    }));
    let mut registry = StageRegistry::with_builtins();
    netobserv_sinks::register(&mut registry);
    registry.register(
        StageKind::Ingest,
        "load_feed",
        move |_: &mut BuildContext<'_>| {
            Ok(Component::source(
                feed.lock().expect("feed lock").take().expect("built once"),
            ))
        },
    );
    let yaml = format!(
        "pipeline: [{{name: feed}}, {{name: ch, follows: feed}}]\n\
         parameters:\n\
         - {{name: feed, ingest: {{type: load_feed}}}}\n\
         - {{name: ch, write: {{type: clickhouse, clickhouse: {{url: '{url}', database: {db}, table: flows, batchRows: {batch_rows}, batchBytes: 1000000000, maxWait: 1s}}}}}}\n"
    );
    let config = Config::from_yaml(&yaml)?;
    let options = RuntimeOptions {
        workers: 1,
        ..RuntimeOptions::default()
    };
    let cpu0 = benches::process_cpu_seconds(pid)?;
    let scpu0 = server_cpu();
    let report = rt.block_on(async {
        let pipeline =
            Pipeline::build_with(&config, &registry, Metrics::new("load")?, options).await?;
        let (_t, shutdown) = Shutdown::new();
        pipeline.run(shutdown).await
    })?;
    let cpu = benches::process_cpu_seconds(pid)? - cpu0;
    let scpu = server_cpu() - scpu0;
    let (delivered, first, last) = *acks.lock().expect("progress lock");
    if delivered * PER_BATCH < flows || !report.is_clean() {
        bail!("not every batch was delivered: {delivered} batches; {report:?}");
    }
    let wall = last
        .zip(first)
        .map_or(0.0, |(l, f)| l.duration_since(f).as_secs_f64());
    let rate = flows as f64 / wall.max(1e-9);
    println!(
        "sink (write: clickhouse, INSERTs of {batch_rows} rows, RowBinary+LZ4 over HTTP) into {url}: {flows} rows in {wall:.2} s = {rate:.0} rows/s; this process (pipeline on one thread + feed) {cpu:.2} CPU-s = {:.0} rows per CPU-second",
        flows as f64 / cpu.max(0.01)
    );
    if server.is_some() {
        println!(
            "  the server meanwhile: {scpu:.2} CPU-s = {:.0} rows per server CPU-second",
            flows as f64 / scpu.max(0.01)
        );
    }

    // 2. The encoding alone.
    let enc = RowEncoder::all(Flavor::Legacy);
    let mut out = Vec::with_capacity(sample.len() * 512);
    let t = Instant::now();
    let ecpu0 = benches::process_cpu_seconds(pid)?;
    let mut rows = 0usize;
    while t.elapsed() < Duration::from_secs(3) {
        out.clear();
        for f in &sample {
            enc.encode(f, &mut out)?;
        }
        rows += sample.len();
    }
    let ecpu = benches::process_cpu_seconds(pid)? - ecpu0;
    println!(
        "RowBinary encoding alone: {:.0} rows per CPU-second ({:.0} rows/s wall; {} bytes per row)",
        rows as f64 / ecpu.max(0.01),
        rows as f64 / t.elapsed().as_secs_f64(),
        out.len() / sample.len().max(1)
    );

    // 3. The blog's approach.
    let blog_rate = rt.block_on(async {
        let c = ClickHouseWriter::new(&ClickHouseConfig::new(&url, &db, "blog"))?
            .client()
            .clone();
        c.query(&format!("CREATE DATABASE IF NOT EXISTS {db}")).execute().await?;
        c.query(&format!(
            "CREATE TABLE {db}.blog (start UInt64, end UInt64, src_ip String, dst_ip String, src_name String, dst_name String, src_kind String, dst_kind String, src_namespace String, dst_namespace String, bytes UInt64, packets UInt64) ENGINE = Memory"
        ))
        .execute()
        .await?;
        let t = Instant::now();
        let (bcpu0, bscpu0) = (benches::process_cpu_seconds(pid)?, server_cpu());
        for f in pool.iter().cycle().take(blog_flows) {
            let s = |v: Option<&str>| string_literal(v.unwrap_or(""));
            let sql = format!(
                "INSERT INTO {db}.blog VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                f.time_flow_start_ms().unwrap_or(0),
                f.time_flow_end_ms().unwrap_or(0),
                s(f.src_addr().map(|a| a.to_string()).as_deref()),
                s(f.dst_addr().map(|a| a.to_string()).as_deref()),
                s(f.src_k8s_name()),
                s(f.dst_k8s_name()),
                s(f.src_k8s_type()),
                s(f.dst_k8s_type()),
                s(f.src_k8s_namespace()),
                s(f.dst_k8s_namespace()),
                f.bytes().unwrap_or(0),
                f.packets().unwrap_or(0),
            );
            c.query(&sql).execute().await?;
        }
        let rate = blog_flows as f64 / t.elapsed().as_secs_f64();
        println!(
            "  blog: this process {:.2} CPU-s, the server {:.2} CPU-s",
            benches::process_cpu_seconds(pid)? - bcpu0,
            server_cpu() - bscpu0
        );
        c.query(&format!("DROP DATABASE {db}")).execute().await?;
        anyhow::Ok(rate)
    })?;
    println!(
        "blog approach (one INSERT ... VALUES per flow, Memory table): {blog_flows} rows = {blog_rate:.0} rows/s; the sink is {:.0}x faster",
        rate / blog_rate.max(1e-9)
    );
    Ok(())
}
