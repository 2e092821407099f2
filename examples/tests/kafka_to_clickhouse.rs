//! `examples/kafka_to_clickhouse.rs` end to end: synthetic flows → Kafka (NetObserv JSON, as
//! flowlogs-pipeline's Kafka exporter writes them) → the example binary → ClickHouse, then the
//! blog's query and a sum query return what went in.
//!
//! Runs against the Kafka-API broker `.ci/run` starts (tansu, `KAFKA_BROKERS`), Debian's
//! ClickHouse 18.16 (`CLICKHOUSE_URL`; the blog's query with `toDateTime` in place of
//! `fromUnixTimestamp`, which 18.16 lacks) and chDB's modern engine behind
//! `netobserv-sinks/tests/support/chdb_http.py`, which stands in for a modern ClickHouse server
//! (the blog's exact query text).

#[path = "../../netobserv-sinks/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use netobserv_flow::codec::json;
use netobserv_flow::config::Config;
use netobserv_flow::pipeline::{Metrics, Pipeline, Shutdown, StageRegistry};

const BLOG_QUERY: &str = "SELECT fromUnixTimestamp(intDiv(start,1000)) AS start,fromUnixTimestamp(intDiv(end,1000)) as end,src_ip,dst_ip,src_name,dst_name,src_kind,dst_kind,src_namespace,dst_namespace,bytes,packets FROM flows LIMIT 100";

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_string())
}

/// The example's binary: `cargo test` and `cargo nextest run` build a package's examples with its
/// tests (a run filtered with `--test` does not: build the example first). Built here if missing.
fn example_bin() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test binary outside a target directory")?;
    let bin = profile_dir.join("examples/kafka_to_clickhouse");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "-p",
                "examples",
                "--example",
                "kafka_to_clickhouse",
            ])
            .status()?;
        ensure!(status.success(), "building the example failed");
    }
    Ok(bin)
}

/// One flow as the blog's columns show it (times in seconds).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct BlogRow {
    start: u64,
    end: u64,
    src_ip: String,
    dst_ip: String,
    src_name: String,
    dst_name: String,
    src_kind: String,
    dst_kind: String,
    src_namespace: String,
    dst_namespace: String,
    bytes: u64,
    packets: u64,
}

/// Produces `n` synthetic flows to `topic` through `encode: kafka`, and returns them as the blog's
/// rows, counted (a multiset).
async fn produce(topic: &str, n: u64, dir: &Path) -> Result<BTreeMap<BlogRow, usize>> {
    let copy = dir.join("produced.json");
    let yaml = format!(
        r#"
pipeline:
  - name: gen
  - {{name: kafka, follows: gen}}
  - {{name: copy, follows: gen}}
parameters:
  - name: gen
    ingest:
      type: synthetic
      synthetic: {{connections: 200, flowLogsPerMin: 0, batchMaxLen: 500, maxFlows: {n}, seed: 7}}
  - name: kafka
    encode:
      type: kafka
      kafka: {{address: "{b}", topic: {topic}}}
  - name: copy
    write:
      type: file
      file: {{filename: "{c}"}}
"#,
        b = brokers(),
        c = copy.display()
    );
    let mut registry = StageRegistry::with_builtins();
    netobserv_sinks::register(&mut registry);
    let pipeline =
        Pipeline::build(&Config::from_yaml(&yaml)?, &registry, Metrics::default()).await?;
    let report = pipeline.run(Shutdown::new().1).await?;
    ensure!(report.is_clean(), "producing: {report}");
    let mut rows = BTreeMap::new();
    for line in std::fs::read_to_string(&copy)?.lines() {
        let f = json::decode(line.as_bytes())?;
        let s = |v: Option<&str>| v.unwrap_or("").to_string();
        let ip = |v: Option<std::net::IpAddr>| v.map(|a| a.to_string()).unwrap_or_default();
        let row = BlogRow {
            start: f.time_flow_start_ms().unwrap_or(0) as u64 / 1000,
            end: f.time_flow_end_ms().unwrap_or(0) as u64 / 1000,
            src_ip: ip(f.src_addr()),
            dst_ip: ip(f.dst_addr()),
            src_name: s(f.src_k8s_name()),
            dst_name: s(f.dst_k8s_name()),
            src_kind: s(f.src_k8s_type()),
            dst_kind: s(f.dst_k8s_type()),
            src_namespace: s(f.src_k8s_namespace()),
            dst_namespace: s(f.dst_k8s_namespace()),
            bytes: f.bytes().unwrap_or(0),
            packets: f.packets().unwrap_or(0),
        };
        *rows.entry(row).or_insert(0) += 1;
    }
    ensure!(
        rows.values().sum::<usize>() as u64 == n,
        "the copy has {} flows, not {n}",
        rows.values().sum::<usize>()
    );
    Ok(rows)
}

struct Example(Child);

impl Example {
    /// Starts it, its log to `log`.
    fn start(args: &[&str], log: &Path) -> Result<Self> {
        let child = Command::new(example_bin()?)
            .args(args)
            .env("NO_COLOR", "1")
            // tansu completes a group join after half the session timeout (librdkafka's default
            // 45 s): a short one keeps the test quick.
            .env(
                "FLP_KAFKA_CONSUMER_PROPERTIES",
                "session.timeout.ms=6000,heartbeat.interval.ms=1000",
            )
            .stdout(Stdio::inherit())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .context("starting the example")?;
        Ok(Example(child))
    }

    /// SIGTERM, then its exit status within `limit`.
    fn terminate(mut self, limit: Duration) -> Result<std::process::ExitStatus> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()?;
        ensure!(sent.success(), "kill -TERM failed");
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.0.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("the example did not exit within {limit:?} of SIGTERM")
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn query(url: &str, database: &str, sql: &str) -> Result<Vec<serde_json::Value>> {
    let bytes = support::clickhouse::client(url)
        .with_database(database)
        .query(sql)
        .fetch_bytes("JSONEachRow")?
        .collect()
        .await
        .with_context(|| format!("query {sql}"))?;
    std::str::from_utf8(&bytes)?
        .lines()
        .map(|l| Ok(serde_json::from_str(l)?))
        .collect()
}

fn number(v: &serde_json::Value) -> Result<u64> {
    match v {
        serde_json::Value::Number(n) => n.as_u64().context("not a u64"),
        // 64-bit integers come quoted in JSON formats.
        serde_json::Value::String(s) => Ok(s.parse()?),
        other => bail!("{other} is not a number"),
    }
}

/// Seconds since the epoch of a `DateTime` the server printed (`YYYY-MM-DD hh:mm:ss`, UTC).
fn seconds(v: &serde_json::Value) -> Result<u64> {
    let s = v.as_str().context("DateTime as text")?;
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .with_context(|| format!("DateTime {s:?}"))?;
    Ok(t.and_utc().timestamp() as u64)
}

fn text(v: &serde_json::Value) -> Result<String> {
    Ok(v.as_str()
        .with_context(|| format!("{v} is not text"))?
        .to_string())
}

/// Waits until the table has at least `at_least` rows (at most 120 s) and returns the count.
async fn wait_count(url: &str, database: &str, at_least: u64, log: &Path) -> Result<u64> {
    let start = Instant::now();
    loop {
        if let Ok(rows) = query(url, database, "SELECT count() AS c FROM flows").await {
            let count = number(&rows[0]["c"])?;
            if count >= at_least {
                return Ok(count);
            }
        }
        ensure!(
            start.elapsed() < Duration::from_secs(120),
            "fewer than {at_least} rows in ClickHouse after 120 s; the example's log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn end_to_end(url: &str, modern: bool) -> Result<()> {
    const N: u64 = 20_000;
    let dir = tempfile::tempdir()?;
    let topic = support::clickhouse::unique("ex_topic");
    let database = support::clickhouse::unique("ex");
    let expected = produce(&topic, N, dir.path()).await?;

    let mut args = vec![
        "--brokers".to_string(),
        brokers(),
        "--topic".into(),
        topic.clone(),
        "--group".into(),
        format!("{topic}_group"),
        "--clickhouse-url".into(),
        url.to_string(),
        "--database".into(),
        database.clone(),
        "--batch-rows".into(),
        "1000".into(),
    ];
    if modern {
        // The chDB shim takes uncompressed bodies only.
        args.push("--no-compression".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // First run: SIGTERM as soon as the first rows are in, flows still in flight: it must write
    // what it read, commit it and exit 0.
    let log = dir.path().join("first.log");
    let first = Example::start(&args, &log)?;
    let count = wait_count(url, &database, 1, &log).await?;
    let status = first.terminate(Duration::from_secs(60))?;
    ensure!(
        status.success(),
        "the first run exited with {status} after SIGTERM"
    );
    let after_first = wait_count(url, &database, 0, &log).await?;
    eprintln!("first run: {count} rows in at SIGTERM, {after_first} after its exit");

    // Second run of the group: the rest, from the committed offsets.
    let log = dir.path().join("second.log");
    let second = Example::start(&args, &log)?;
    wait_count(url, &database, N, &log).await?;
    let status = second.terminate(Duration::from_secs(60))?;
    ensure!(
        status.success(),
        "the second run exited with {status} after SIGTERM"
    );

    // The blog's query (18.16 has no fromUnixTimestamp: toDateTime there).
    let sql = if modern {
        BLOG_QUERY.to_string()
    } else {
        BLOG_QUERY.replace("fromUnixTimestamp(", "toDateTime(")
    };
    let rows = query(url, &database, &sql).await?;
    assert_eq!(rows.len(), 100, "LIMIT 100 over {N} rows");
    for r in &rows {
        let row = BlogRow {
            start: seconds(&r["start"])?,
            end: seconds(&r["end"])?,
            src_ip: text(&r["src_ip"])?,
            dst_ip: text(&r["dst_ip"])?,
            src_name: text(&r["src_name"])?,
            dst_name: text(&r["dst_name"])?,
            src_kind: text(&r["src_kind"])?,
            dst_kind: text(&r["dst_kind"])?,
            src_namespace: text(&r["src_namespace"])?,
            dst_namespace: text(&r["dst_namespace"])?,
            bytes: number(&r["bytes"])?,
            packets: number(&r["packets"])?,
        };
        assert!(
            expected.contains_key(&row),
            "the blog's query returned a row that was not produced: {row:?}"
        );
    }

    // Sums and the rows themselves: exactly what went in, once each.
    let sums = query(
        url,
        &database,
        "SELECT count() AS n, sum(bytes) AS b, sum(packets) AS p FROM flows",
    )
    .await?;
    let (b, p) = expected.iter().fold((0, 0), |(b, p), (r, n)| {
        (b + r.bytes * *n as u64, p + r.packets * *n as u64)
    });
    assert_eq!(number(&sums[0]["n"])?, N);
    assert_eq!(number(&sums[0]["b"])?, b);
    assert_eq!(number(&sums[0]["p"])?, p);

    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blog_query_on_clickhouse_18_returns_what_went_in() -> Result<()> {
    end_to_end(&support::clickhouse::shared_url(), false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blog_query_on_the_modern_engine_returns_what_went_in() -> Result<()> {
    let chdb = support::clickhouse::ChdbServer::start()?;
    end_to_end(&chdb.url(), true).await
}
