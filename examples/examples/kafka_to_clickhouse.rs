//! The consumer of NetObserv's "Deploying without Loki" blog post, done with the libraries:
//! reads the NetObserv JSON flows that flowlogs-pipeline's Kafka exporter writes (topic
//! `flows-export`, consumer group `to-clickhouse`) and writes them to ClickHouse in batches, with
//! at-least-once delivery: a Kafka offset is committed only once ClickHouse accepted its flows.
//!
//! The table is created if missing (database `default`, table `flows`: one column per NetObserv
//! field, plus the blog table's 12 columns — `start`, `end`, `src_ip`, `dst_ip`, `src_name`,
//! `dst_name`, `src_kind`, `dst_kind`, `src_namespace`, `dst_namespace`, `bytes`, `packets` — as
//! aliases, so the blog's queries run unchanged), with per-minute and per-hour rollups.
//! It runs until SIGTERM or Ctrl-C, then writes what it read, commits, and exits 0.
//!
//! Run against local Kafka and ClickHouse (both on their default ports):
//!
//! ```text
//! cargo run -p examples --example kafka_to_clickhouse -- \
//!     --brokers 127.0.0.1:9092 --clickhouse-url http://127.0.0.1:8123
//! clickhouse-client -q 'SELECT fromUnixTimestamp(intDiv(start,1000)) AS start,
//!     src_ip, dst_ip, src_namespace, dst_namespace, bytes, packets FROM flows LIMIT 10'
//! ```

use clap::Parser;
use netobserv_flow::config::Config;
use netobserv_flow::pipeline::{Metrics, Pipeline, Shutdown, StageRegistry, trigger_on_signals};

#[derive(Parser)]
#[command(about = "Reads NetObserv flows from Kafka and writes them to ClickHouse")]
struct Args {
    /// Kafka bootstrap brokers, comma separated.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// The topic the flows are exported to.
    #[arg(long, default_value = "flows-export")]
    topic: String,
    /// The consumer group (offsets are committed under it).
    #[arg(long, default_value = "to-clickhouse")]
    group: String,
    /// ClickHouse's HTTP interface.
    #[arg(long, default_value = "http://127.0.0.1:8123")]
    clickhouse_url: String,
    /// The database of the table.
    #[arg(long, default_value = "default")]
    database: String,
    /// The flows table (rollups are named after it).
    #[arg(long, default_value = "flows")]
    table: String,
    /// Flows per INSERT at most.
    #[arg(long, default_value_t = 50_000)]
    batch_rows: usize,
    /// Sends INSERT bodies uncompressed (LZ4 by default).
    #[arg(long)]
    no_compression: bool,
}

/// The pipeline in flowlogs-pipeline's own configuration format: a Kafka source and a ClickHouse
/// writer. Values are written as JSON strings, which YAML reads as they are.
fn config(a: &Args) -> anyhow::Result<Config> {
    let q = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let brokers: Vec<String> = a.brokers.split(',').map(|b| q(b.trim())).collect();
    let yaml = format!(
        r#"
pipeline:
  - name: kafka
  - name: clickhouse
    follows: kafka
parameters:
  - name: kafka
    ingest:
      type: kafka
      kafka:
        brokers: [{brokers}]
        topic: {topic}
        groupid: {group}
        startOffset: FirstOffset
        decoder: {{type: json}}
  - name: clickhouse
    write:
      type: clickhouse
      clickhouse:
        url: {url}
        database: {database}
        table: {table}
        batchRows: {rows}
        maxWait: 1s
        compression: {compression}
"#,
        brokers = brokers.join(", "),
        topic = q(&a.topic),
        group = q(&a.group),
        url = q(&a.clickhouse_url),
        database = q(&a.database),
        table = q(&a.table),
        rows = a.batch_rows,
        compression = !a.no_compression,
    );
    Ok(Config::from_yaml(&yaml)?)
}

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();

    // The built-in stages plus the Kafka and ClickHouse ones.
    let mut registry = StageRegistry::with_builtins();
    netobserv_sinks::register(&mut registry);

    // Checks ClickHouse answers; the sink creates or migrates the schema as it starts.
    let pipeline = Pipeline::build(&config(&args)?, &registry, Metrics::default()).await?;
    let (trigger, shutdown) = Shutdown::new();
    trigger_on_signals(trigger);
    tracing::info!(topic = %args.topic, group = %args.group, table = %args.table, "consuming");

    // Returns after a signal, once every flow read is in ClickHouse and its offset committed.
    let report = pipeline.run(shutdown).await?;
    eprintln!("{report}");
    Ok(if report.is_clean() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}
