//! The pipeline runtime in-process: fan-out, acknowledgements, back-pressure, draining on
//! shutdown and end of input, rejected input counted next to valid input.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netobserv_flow::Flow;
use netobserv_flow::codec::json;
use netobserv_flow::config::Config;
use netobserv_flow::pipeline::{
    Ack, AckStatus, Component, FlowBatch, Input, Metrics, Pipeline, Shutdown, Sink, Source,
    SourceContext, StageRegistry,
};

/// Reads one sample's value from the Prometheus text exposition.
pub fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

struct CountingSource {
    batches: usize,
    per_batch: usize,
    acks: Arc<Mutex<Vec<AckStatus>>>,
    sent: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Source for CountingSource {
    async fn run(self: Box<Self>, ctx: SourceContext) -> netobserv_flow::Result<()> {
        for b in 0..self.batches {
            let flows = (0..self.per_batch)
                .map(|i| Flow {
                    bytes: Some((b * self.per_batch + i) as u64),
                    proto: Some(if i % 2 == 0 { 6 } else { 17 }),
                    ..Flow::default()
                })
                .collect();
            let acks = self.acks.clone();
            let ack = Ack::new(move |st| acks.lock().unwrap().push(st));
            ctx.metrics.ingested(self.per_batch);
            ctx.out.send(FlowBatch::with_ack(flows, ack)).await.unwrap();
            self.sent.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// A sink that takes its time and records how far ahead the source got.
struct SlowSink {
    received: Arc<AtomicUsize>,
    sent: Arc<AtomicUsize>,
    max_ahead: Arc<AtomicUsize>,
    fail_every: Option<usize>,
}

#[async_trait::async_trait]
impl Sink for SlowSink {
    async fn run(self: Box<Self>, mut input: Input) -> netobserv_flow::Result<()> {
        let mut n = 0;
        while let Some(batch) = input.recv().await {
            n += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
            let ahead = self.sent.load(Ordering::SeqCst).saturating_sub(n);
            self.max_ahead.fetch_max(ahead, Ordering::SeqCst);
            self.received.fetch_add(batch.flows.len(), Ordering::SeqCst);
            if self.fail_every.is_some_and(|k| n % k == 0) {
                batch.ack.fail();
            }
        }
        Ok(())
    }
}

const FANOUT: &str = r#"
pipeline:
  - name: src
  - name: tcp
    follows: src
  - name: slow
    follows: tcp
  - name: all
    follows: src
parameters:
  - name: src
    ingest: {type: counting}
  - name: tcp
    transform:
      type: filter
      filter:
        rules:
          - type: keep_entry_query
            keepEntryQuery: Proto=6
  - name: slow
    write: {type: slow}
  - name: all
    write: {type: slow}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_back_pressure_and_acks() {
    let acks = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(AtomicUsize::new(0));
    let received = Arc::new(AtomicUsize::new(0));
    let max_ahead = Arc::new(AtomicUsize::new(0));
    let mut reg = StageRegistry::with_builtins();
    let (a, s) = (acks.clone(), sent.clone());
    reg.register("ingest", "counting", move |_, _| {
        Ok(Component::Source(Box::new(CountingSource {
            batches: 40,
            per_batch: 10,
            acks: a.clone(),
            sent: s.clone(),
        })))
    });
    let (r, s, m) = (received.clone(), sent.clone(), max_ahead.clone());
    let sink_count = Arc::new(AtomicUsize::new(0));
    reg.register("write", "slow", move |_, _| {
        // The second sink fails every 10th batch: those batches must be acked as failed.
        let k = sink_count.fetch_add(1, Ordering::SeqCst);
        Ok(Component::Sink(Box::new(SlowSink {
            received: r.clone(),
            sent: s.clone(),
            max_ahead: m.clone(),
            fail_every: (k == 1).then_some(10),
        })))
    });
    let metrics = Metrics::new("t_");
    let p = Pipeline::build(&Config::from_yaml(FANOUT).unwrap(), &reg, metrics.clone())
        .unwrap()
        .with_queue_capacity(2);
    let (_trigger, shutdown) = Shutdown::new();
    p.run(shutdown).await.unwrap();

    // 400 flows to "all", the 200 TCP ones to "slow".
    assert_eq!(received.load(Ordering::SeqCst), 600);
    // The source never got more than the queues' worth of batches ahead of the slow sinks.
    let ahead = max_ahead.load(Ordering::SeqCst);
    assert!(
        ahead <= 6,
        "source ran {ahead} batches ahead of a sink with 2-batch queues"
    );
    let acks = acks.lock().unwrap();
    assert_eq!(
        acks.len(),
        40,
        "one ack per batch, after both copies are done"
    );
    let failed = acks.iter().filter(|s| **s == AckStatus::Failed).count();
    assert_eq!(failed, 4);
    let text = metrics.encode();
    assert_eq!(
        metric(&text, "t_ingest_flows_processed{stage=\"src\"}"),
        Some(400.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "t_stage_flows_in{stage=\"tcp\"}"),
        Some(400.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "t_stage_flows_out{stage=\"tcp\"}"),
        Some(200.0),
        "{text}"
    );
    assert!(
        text.contains("t_stage_duration_ms_bucket{stage=\"slow\""),
        "{text}"
    );
}

fn file_pipeline(input: &std::path::Path, output: &std::path::Path, ingest_type: &str) -> Config {
    Config::from_yaml(&format!(
        r#"
pipeline:
  - name: in
  - name: out
    follows: in
parameters:
  - name: in
    ingest:
      type: {ingest_type}
      file: {{filename: "{}"}}
  - name: out
    write:
      type: file
      file: {{filename: "{}"}}
"#,
        input.display(),
        output.display()
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_are_counted_and_the_rest_goes_through() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    let mut text = String::new();
    let mut want = Vec::new();
    for i in 0..3000u64 {
        match i % 500 {
            7 => text.push_str("{\"Bytes\":\"many\"}\n"),
            8 => text.push_str("{\"Bytes\":12\n"),
            9 => text.push_str("not json at all\n"),
            10 => text.push('\n'),
            _ => {
                let line = format!(r#"{{"Bytes":{i},"SrcAddr":"10.0.0.{}"}}"#, i % 200);
                text.push_str(&line);
                text.push('\n');
                want.push(line);
            }
        }
    }
    // A last line with no newline is still read.
    text.push_str(r#"{"Bytes":1}"#);
    want.push(r#"{"Bytes":1}"#.to_string());
    std::fs::write(&input, text).unwrap();
    let metrics = Metrics::default();
    let p = Pipeline::build(
        &file_pipeline(&input, &output, "file"),
        &StageRegistry::with_builtins(),
        metrics.clone(),
    )
    .unwrap();
    p.run(Shutdown::new().1).await.unwrap();
    let got: Vec<String> = std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(got, want);
    let text = metrics.encode();
    assert_eq!(
        metric(&text, "ingest_errors{kind=\"json\",stage=\"in\"}"),
        Some(18.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "records_written{stage=\"out\"}"),
        Some(want.len() as f64),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_array_file_with_a_bad_element() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.json");
    let output = dir.path().join("out.jsonl");
    std::fs::write(
        &input,
        r#" [{"Bytes":1},{"Bytes":"x"},{"Proto":6,"SrcPort":80}]"#,
    )
    .unwrap();
    let metrics = Metrics::default();
    let p = Pipeline::build(
        &file_pipeline(&input, &output, "file"),
        &StageRegistry::with_builtins(),
        metrics.clone(),
    )
    .unwrap();
    p.run(Shutdown::new().1).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "{\"Bytes\":1}\n{\"Proto\":6,\"SrcPort\":80}\n"
    );
    assert_eq!(
        metric(
            &metrics.encode(),
            "ingest_errors{kind=\"json\",stage=\"in\"}"
        ),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_everything_that_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.jsonl");
    let cfg = Config::from_yaml(&format!(
        r#"
pipeline:
  - name: syn
  - name: f
    follows: syn
  - name: out
    follows: f
parameters:
  - name: syn
    ingest:
      type: synthetic
      synthetic: {{connections: 100, flowLogsPerMin: 0, batchMaxLen: 100, seed: 3}}
  - name: f
    transform: {{type: none}}
  - name: out
    write:
      type: file
      file: {{filename: "{}"}}
"#,
        output.display()
    ))
    .unwrap();
    let metrics = Metrics::default();
    let p = Pipeline::build(&cfg, &StageRegistry::with_builtins(), metrics.clone()).unwrap();
    let (trigger, shutdown) = Shutdown::new();
    let run = tokio::spawn(p.run(shutdown));
    tokio::time::sleep(Duration::from_millis(300)).await;
    trigger.trigger();
    tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let text = metrics.encode();
    let ingested = metric(&text, "ingest_flows_processed{stage=\"syn\"}").unwrap();
    let written = metric(&text, "records_written{stage=\"out\"}").unwrap();
    assert!(ingested >= 100.0, "{text}");
    assert_eq!(ingested, written, "flows lost on shutdown");
    let lines = std::fs::read_to_string(&output).unwrap();
    let mut n = 0;
    for l in lines.lines() {
        json::decode(l.as_bytes()).unwrap();
        n += 1;
    }
    assert_eq!(n as f64, written);
}
