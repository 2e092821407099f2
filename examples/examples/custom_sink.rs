//! Embeds the pipeline runtime with a sink of your own: counts bytes per source namespace from
//! synthetic flows that went through an FLP filter stage, and prints the totals.
//!
//! Run: `cargo run -p examples --example custom_sink`

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use netobserv_flow::config::{Config, StageKind};
use netobserv_flow::pipeline::{
    BuildContext, Component, Metrics, Pipeline, Shutdown, Sink, SinkContext, StageRegistry,
};

const CONFIG: &str = r#"
pipeline:
  - name: synthetic
  - name: tcp-only
    follows: synthetic
  - name: per-namespace
    follows: tcp-only
parameters:
  - name: synthetic
    ingest:
      type: synthetic
      synthetic: {connections: 500, flowLogsPerMin: 0, batchMaxLen: 500, maxFlows: 100000, seed: 1}
  - name: tcp-only
    transform:
      type: filter
      filter:
        rules:
          - type: keep_entry_query
            keepEntryQuery: Proto=6
  - name: per-namespace
    write: {type: bytes_per_namespace}
"#;

type Totals = Arc<Mutex<BTreeMap<String, u64>>>;

struct BytesPerNamespace(Totals);

#[async_trait::async_trait]
impl Sink for BytesPerNamespace {
    async fn run(self: Box<Self>, mut cx: SinkContext) -> netobserv_flow::Result<()> {
        while let Some(batch) = cx.input.recv().await {
            let mut totals = self.0.lock().unwrap_or_else(|p| p.into_inner());
            for f in batch.flows() {
                let ns = f.src_k8s_namespace().unwrap_or("-").to_string();
                *totals.entry(ns).or_default() += f.bytes().unwrap_or(0);
            }
            // The flows are counted: tell the source. (Dropping the batch unresolved would
            // count as not delivered.)
            batch.into_ack().deliver();
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let totals: Totals = Arc::default();
    let mut registry = StageRegistry::with_builtins();
    let t = totals.clone();
    registry.register(
        StageKind::Write,
        "bytes_per_namespace",
        move |_: &mut BuildContext<'_>| Ok(Component::sink(BytesPerNamespace(t.clone()))),
    );
    let config = Config::from_yaml(CONFIG)?;
    let pipeline = Pipeline::build(&config, &registry, Metrics::default()).await?;
    let report = pipeline.run(Shutdown::new().1).await?;
    println!("{report}");
    for (ns, bytes) in totals.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        println!("{ns:<16} {bytes:>14} bytes");
    }
    Ok(())
}
