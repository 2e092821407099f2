//! Costs of the flow codecs, the query language and the whole pipeline.
//!
//! Run: `cargo bench -p benches` (one group: `cargo bench -p benches -- pbflow`).

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use benches::{agent_flows, decode_lines_into, encode_lines, enriched_flows, json_lines};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use netobserv_flow::codec::{arrow, json, pbflow};
use netobserv_flow::config::Config;
use netobserv_flow::pipeline::{Metrics, Pipeline, RuntimeOptions, Shutdown, StageRegistry};
use netobserv_flow::query::Query;

const N: usize = 10_000;

fn codecs(c: &mut Criterion) {
    for (shape, flows) in [("enriched", enriched_flows(N)), ("agent", agent_flows(N))] {
        let lines = json_lines(&flows);
        let mut g = c.benchmark_group("netobserv_flow::codec::json");
        g.throughput(Throughput::Elements(N as u64));
        g.bench_function(format!("decode/{shape}"), |b| {
            b.iter(|| {
                for line in lines.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
                    black_box(json::decode(line).unwrap());
                }
            })
        });
        // As the line ingest does it: each flow decoded in its slot of the batch.
        g.bench_function(format!("decode_into/{shape}"), |b| {
            let mut batch: Vec<netobserv_flow::Flow> = Vec::with_capacity(N);
            b.iter(|| {
                decode_lines_into(&lines, &mut batch).unwrap();
                black_box(batch.len())
            })
        });
        g.bench_function(format!("encode/{shape}"), |b| {
            let mut out = Vec::with_capacity(lines.len());
            b.iter(|| {
                out.clear();
                encode_lines(&flows, &mut out);
                black_box(out.len())
            })
        });
        g.finish();

        let records = pbflow::encode_records(&flows);
        let mut g = c.benchmark_group("netobserv_flow::codec::pbflow");
        g.throughput(Throughput::Elements(N as u64));
        g.bench_function(format!("decode/{shape}"), |b| {
            b.iter(|| black_box(pbflow::decode_records(&records, 1).unwrap()))
        });
        g.finish();
    }

    let flows = enriched_flows(N);
    let mut g = c.benchmark_group("netobserv_flow::codec::arrow");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("to_record_batch", |b| {
        b.iter(|| black_box(arrow::to_record_batch(&flows).unwrap()))
    });
    let batch = arrow::to_record_batch(&flows).unwrap();
    g.bench_function("from_record_batch", |b| {
        b.iter(|| black_box(arrow::from_record_batch(&batch).unwrap()))
    });
    g.finish();
}

fn query(c: &mut Criterion) {
    let flows = enriched_flows(N);
    let mut g = c.benchmark_group("netobserv_flow::query::Query::matches");
    g.throughput(Throughput::Elements(N as u64));
    for (name, q) in [
        ("string_eq", r#"SrcK8S_Namespace="frontend""#),
        (
            "and_or_numeric",
            r#"(Proto=6 and DstPort>=1024) or (Proto=17 and Bytes>1000)"#,
        ),
        (
            "regex",
            r#"SrcK8S_Name=~"^web-" or DstK8S_OwnerName!~"db|cache""#,
        ),
        ("ip_text", r#"SrcAddr="10.128.0.11" or with(DnsId)"#),
    ] {
        let q = Query::parse(q).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| flows.iter().filter(|f| q.matches(f)).count())
        });
    }
    g.finish();
}

/// The configuration of the issue's bar: JSON lines → generic + keep_entry_query → JSON lines,
/// run in-process (file ingest → file writer to /dev/null), with 1 and 2 workers on a
/// 2-thread runtime.
fn whole_pipeline(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("netobserv_flow::pipeline::Pipeline::run");
    g.sample_size(10);
    for (shape, flows) in [
        ("enriched", enriched_flows(100_000)),
        ("agent", agent_flows(100_000)),
    ] {
        let input = dir.path().join(format!("{shape}.jsonl"));
        std::fs::write(&input, json_lines(&flows)).unwrap();
        let yaml = format!(
            r#"
pipeline:
  - name: in
  - name: gen
    follows: in
  - name: f
    follows: gen
  - name: out
    follows: f
parameters:
  - name: in
    ingest: {{type: file, file: {{filename: "{}"}}}}
  - name: gen
    transform:
      type: generic
      generic:
        rules:
          - {{input: Bytes, output: Bytes, multiplier: 1}}
          - {{input: SrcAddr, output: SrcAddr}}
  - name: f
    transform:
      type: filter
      filter:
        rules:
          - type: keep_entry_query
            keepEntryQuery: 'SrcK8S_Namespace!="nothing" and Bytes>0'
  - name: out
    write: {{type: file, file: {{filename: /dev/null}}}}
"#,
            input.display()
        );
        let cfg = Config::from_yaml(&yaml).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        g.throughput(Throughput::Elements(flows.len() as u64));
        for workers in [1, 2] {
            let options = RuntimeOptions::from_config(&cfg).with_workers(workers);
            g.bench_function(
                format!("file_generic_filter_file/{shape}/workers={workers}"),
                |b| {
                    b.iter_batched(
                        || {
                            rt.block_on(Pipeline::build_with(
                                &cfg,
                                &StageRegistry::with_builtins(),
                                Metrics::default(),
                                options.clone(),
                            ))
                            .unwrap()
                        },
                        |p| rt.block_on(p.run(Shutdown::new().1)).unwrap(),
                        BatchSize::PerIteration,
                    )
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, codecs, query, whole_pipeline);
criterion_main!(benches);
