//! Prometheus: `encode: prom` metric types, filters, flatten, remap, buckets, expiry and
//! maxMetrics through the public encoder; the stage in a pipeline on its own port and on the
//! `metricsSettings` registry; and a real Prometheus (Debian's `prometheus`, installed by
//! `.ci/services.d/prometheus.sh`) scraping the pipeline and answering PromQL with the sums of
//! what was ingested.
#![cfg(feature = "prom")]
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netobserv_flow::codec::json::decode_str;
use netobserv_flow::config::{Config, StageKind};
use netobserv_flow::field::FieldPath;
use netobserv_flow::flow::Flow;
use netobserv_flow::pipeline::{
    Ack, AckStatus, BuildContext, Component, FlowBatch, Metrics, Pipeline, Shutdown,
    ShutdownTrigger, Source, SourceContext, StageRegistry,
};
use netobserv_flow::value::Value;
use netobserv_sinks::prom::{PromEncodeConfig, PromEncoder, predefined};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The longest any wait for the other side may take before the test says what it waited for.
const PATIENCE: Duration = Duration::from_secs(60);

fn flow(json: &str) -> Flow {
    decode_str(json).unwrap()
}

fn encoder(yaml: &str) -> PromEncoder {
    let cfg: PromEncodeConfig = serde_yaml_ng::from_str(yaml).unwrap();
    PromEncoder::new(&cfg).unwrap()
}

/// The samples of a text exposition: `name{a="x",b="y"}` (labels sorted) → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let key = match series.split_once('{') {
            None => series.to_string(),
            Some((name, rest)) => {
                // name="value" pairs; values are quoted with \ escapes.
                let mut labels = Vec::new();
                let mut chars = rest.chars();
                loop {
                    let n: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    if n.is_empty() || n == "}" {
                        break;
                    }
                    assert_eq!(chars.next(), Some('"'));
                    let mut v = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => v.extend(chars.next()),
                            '"' => break,
                            c => v.push(c),
                        }
                    }
                    labels.push(format!("{}=\"{v}\"", n.trim_start_matches(',')));
                }
                labels.sort();
                format!("{name}{{{}}}", labels.join(","))
            }
        };
        out.insert(key, value.parse().unwrap());
    }
    out
}

fn sample(e: &PromEncoder, series: &str) -> Option<f64> {
    samples(&e.encode_text()).get(series).copied()
}

#[test]
fn counter_sums_the_value_scaled_or_counts_flows() {
    let e = encoder(
        r#"
prefix: t_
metrics:
  - {name: bytes_total, type: counter, valueKey: Bytes, labels: [SrcK8S_Namespace]}
  - {name: kbytes_total, type: counter, valueKey: Bytes, valueScale: 1000, labels: [SrcK8S_Namespace]}
  - {name: flows_total, type: counter, labels: [SrcK8S_Namespace, Proto]}
"#,
    );
    let flows = [
        flow(r#"{"SrcK8S_Namespace":"a","Bytes":100,"Proto":6}"#),
        flow(r#"{"SrcK8S_Namespace":"a","Bytes":400,"Proto":6}"#),
        flow(r#"{"SrcK8S_Namespace":"b","Bytes":1000,"Proto":17}"#),
        // No value field: not counted by the valueKey metrics (as upstream), counted as a flow.
        flow(r#"{"SrcK8S_Namespace":"b","Proto":17}"#),
    ];
    let out = e.observe(&flows);
    assert_eq!(out.errors, 0);
    assert_eq!(
        sample(&e, r#"t_bytes_total{SrcK8S_Namespace="a"}"#),
        Some(500.0)
    );
    assert_eq!(
        sample(&e, r#"t_bytes_total{SrcK8S_Namespace="b"}"#),
        Some(1000.0)
    );
    assert_eq!(
        sample(&e, r#"t_kbytes_total{SrcK8S_Namespace="a"}"#),
        Some(0.5)
    );
    assert_eq!(
        sample(&e, r#"t_flows_total{Proto="17",SrcK8S_Namespace="b"}"#),
        Some(2.0)
    );
    assert_eq!(
        sample(&e, r#"t_flows_total{Proto="6",SrcK8S_Namespace="a"}"#),
        Some(2.0)
    );
    assert!(e.encode_text().contains("# TYPE t_bytes_total counter"));
}

#[test]
fn gauge_keeps_the_last_value() {
    let e = encoder(
        "metrics: [{name: sampling, type: gauge, valueKey: Sampling, labels: [DstK8S_Namespace]}]",
    );
    e.observe(&[
        flow(r#"{"DstK8S_Namespace":"a","Sampling":50}"#),
        flow(r#"{"DstK8S_Namespace":"a","Sampling":1}"#),
    ]);
    assert_eq!(sample(&e, r#"sampling{DstK8S_Namespace="a"}"#), Some(1.0));
    assert!(e.encode_text().contains("# TYPE sampling gauge"));
}

#[test]
fn histogram_honours_buckets_and_defaults_to_prometheus_ones() {
    let e = encoder(
        r#"
metrics:
  - {name: rtt_seconds, type: histogram, valueKey: TimeFlowRttNs, valueScale: 1000000000, buckets: [0.001, 0.01, 0.1]}
  - {name: rtt_default, type: histogram, valueKey: TimeFlowRttNs, valueScale: 1000000000}
"#,
    );
    // 0.5 ms, 5 ms, 5 ms, 50 ms, 2 s.
    let rtts = [500_000u64, 5_000_000, 5_000_000, 50_000_000, 2_000_000_000];
    let flows: Vec<Flow> = rtts
        .iter()
        .map(|r| flow(&format!(r#"{{"TimeFlowRttNs":{r}}}"#)))
        .collect();
    e.observe(&flows);
    let s = samples(&e.encode_text());
    assert_eq!(s[r#"rtt_seconds_bucket{le="0.001"}"#], 1.0);
    assert_eq!(s[r#"rtt_seconds_bucket{le="0.01"}"#], 3.0);
    assert_eq!(s[r#"rtt_seconds_bucket{le="0.1"}"#], 4.0);
    assert_eq!(s[r#"rtt_seconds_bucket{le="+Inf"}"#], 5.0);
    assert_eq!(s["rtt_seconds_count"], 5.0);
    assert!((s["rtt_seconds_sum"] - 2.0605).abs() < 1e-9);
    // Upstream's buckets (client_golang's DefBuckets) when none are given.
    assert_eq!(s[r#"rtt_default_bucket{le="0.005"}"#], 3.0);
    assert_eq!(s[r#"rtt_default_bucket{le="2.5"}"#], 5.0);
    assert_eq!(s[r#"rtt_default_bucket{le="1"}"#], 4.0);
    assert!(!s.contains_key(r#"rtt_seconds_bucket{le="0.005"}"#));
}

#[test]
fn agg_histogram_observes_every_item_of_the_list() {
    let e = encoder(
        "metrics: [{name: agg, type: agg_histogram, valueKey: recent_rtts, buckets: [1, 10], labels: [SrcAddr]}]",
    );
    let mut f = flow(r#"{"SrcAddr":"10.0.0.1"}"#);
    FieldPath::resolve("recent_rtts").set(
        &mut f,
        Value::List(vec![Value::Float(0.5), Value::UInt(5), Value::Int(20)]),
    );
    let mut bad = flow(r#"{"SrcAddr":"10.0.0.2"}"#);
    FieldPath::resolve("recent_rtts").set(&mut bad, Value::str("not a list"));
    let out = e.observe(&[f, bad]);
    assert_eq!(out.errors, 1, "{out:?}");
    assert!(out.first_error.unwrap().contains("not a list of numbers"));
    let s = samples(&e.encode_text());
    assert_eq!(s[r#"agg_bucket{SrcAddr="10.0.0.1",le="1"}"#], 1.0);
    assert_eq!(s[r#"agg_bucket{SrcAddr="10.0.0.1",le="10"}"#], 2.0);
    assert_eq!(s[r#"agg_count{SrcAddr="10.0.0.1"}"#], 3.0);
    assert_eq!(s[r#"agg_sum{SrcAddr="10.0.0.1"}"#], 25.5);
    assert!(!s.keys().any(|k| k.contains("10.0.0.2")));
}

#[test]
fn every_filter_kind() {
    let e = encoder(
        r#"
metrics:
  - {name: equal, type: counter, filters: [{key: Proto, value: "6"}]}
  - {name: not_equal, type: counter, filters: [{key: Proto, value: "6", type: not_equal}]}
  - {name: presence, type: counter, filters: [{key: DnsId, type: presence}]}
  - {name: absence, type: counter, filters: [{key: DnsId, type: absence}]}
  - {name: regex, type: counter, filters: [{key: SrcK8S_Namespace, value: "^openshift-", type: match_regex}]}
  - {name: not_regex, type: counter, filters: [{key: SrcK8S_Namespace, value: "^openshift-", type: not_match_regex}]}
  - name: same_key_any
    type: counter
    filters: [{key: Proto, value: "6"}, {key: Proto, value: "17"}]
  - name: keys_all
    type: counter
    filters: [{key: Proto, value: "17"}, {key: DnsId, type: presence}]
"#,
    );
    e.observe(&[
        flow(r#"{"Proto":6,"SrcK8S_Namespace":"openshift-dns"}"#),
        flow(r#"{"Proto":17,"DnsId":7,"SrcK8S_Namespace":"default"}"#),
        flow(r#"{"Proto":1}"#),
    ]);
    let s = samples(&e.encode_text());
    let v = |n: &str| s.get(n).copied().unwrap_or(0.0);
    assert_eq!(v("equal"), 1.0);
    assert_eq!(v("not_equal"), 2.0, "absent or different");
    assert_eq!(v("presence"), 1.0);
    assert_eq!(v("absence"), 2.0);
    assert_eq!(v("regex"), 1.0);
    assert_eq!(v("not_regex"), 2.0, "no match or absent");
    assert_eq!(v("same_key_any"), 2.0);
    assert_eq!(v("keys_all"), 1.0);
}

#[test]
fn flatten_makes_a_series_per_item_with_remapped_labels() {
    let e = encoder(
        r#"
metrics:
  - name: netpol_total
    type: counter
    flatten: [NetworkEvents]
    filters: [{key: "NetworkEvents>Feature", value: acl}]
    labels: [SrcK8S_Namespace, "NetworkEvents>Action", "NetworkEvents>Name"]
    remap: {"NetworkEvents>Action": action, "NetworkEvents>Name": name, SrcK8S_Namespace: namespace}
"#,
    );
    let f = flow(
        r#"{"SrcK8S_Namespace":"ns1","NetworkEvents":[
            {"Feature":"acl","Action":"drop","Name":"deny-all","Type":"NetworkPolicy"},
            {"Feature":"acl","Action":"allow","Name":"allow-dns","Type":"NetworkPolicy"},
            {"Feature":"other","Action":"drop","Name":"x"}]}"#,
    );
    let no_events = flow(r#"{"SrcK8S_Namespace":"ns2"}"#);
    e.observe(&[f.clone(), f, no_events]);
    let s = samples(&e.encode_text());
    assert_eq!(
        s[r#"netpol_total{action="drop",name="deny-all",namespace="ns1"}"#],
        2.0
    );
    assert_eq!(
        s[r#"netpol_total{action="allow",name="allow-dns",namespace="ns1"}"#],
        2.0
    );
    assert_eq!(s.len(), 2, "{s:?}");
    assert!(
        e.encode_text().contains("netpol_total{action="),
        "flattened labels come first"
    );
}

#[test]
fn expired_label_sets_disappear() {
    let e =
        encoder("expiryTime: 100ms\nmetrics: [{name: f_total, type: counter, labels: [SrcAddr]}]");
    e.observe(&[
        flow(r#"{"SrcAddr":"10.0.0.1"}"#),
        flow(r#"{"SrcAddr":"10.0.0.2"}"#),
    ]);
    assert_eq!(e.series_count(), 2);
    assert_eq!(e.expire(), 0, "nothing is idle yet");
    std::thread::sleep(Duration::from_millis(250));
    // 10.0.0.2 keeps flowing, 10.0.0.1 stopped.
    e.observe(&[flow(r#"{"SrcAddr":"10.0.0.2"}"#)]);
    assert_eq!(e.expire(), 1);
    let s = samples(&e.encode_text());
    assert_eq!(s.get(r#"f_total{SrcAddr="10.0.0.1"}"#), None);
    assert_eq!(s[r#"f_total{SrcAddr="10.0.0.2"}"#], 2.0);
    // A label set that comes back starts from zero, as in upstream.
    e.observe(&[flow(r#"{"SrcAddr":"10.0.0.1"}"#)]);
    assert_eq!(sample(&e, r#"f_total{SrcAddr="10.0.0.1"}"#), Some(1.0));
}

#[test]
fn max_metrics_drops_new_label_sets_and_counts_them() {
    let e = encoder(
        r#"
maxMetrics: 3
metrics:
  - {name: a_total, type: counter, labels: [SrcAddr]}
  - {name: b_total, type: counter, labels: [SrcAddr]}
"#,
    );
    let out = e.observe(&[
        flow(r#"{"SrcAddr":"10.0.0.1"}"#),
        flow(r#"{"SrcAddr":"10.0.0.2"}"#),
    ]);
    // Four series wanted (two metrics × two label sets), three allowed.
    assert_eq!(out.dropped, 1);
    assert_eq!(e.series_count(), 3);
    // Existing series still count.
    let out = e.observe(&[flow(r#"{"SrcAddr":"10.0.0.1"}"#)]);
    assert_eq!(out.dropped, 0);
    assert_eq!(sample(&e, r#"a_total{SrcAddr="10.0.0.1"}"#), Some(2.0));
    assert_eq!(sample(&e, r#"b_total{SrcAddr="10.0.0.1"}"#), Some(2.0));
}

#[test]
fn bad_values_are_counted_not_fatal_and_bad_definitions_are_errors() {
    let e = encoder(
        "metrics: [{name: c_total, type: counter, valueKey: X}, {name: g, type: gauge, valueKey: X}]",
    );
    let mut neg = Flow::default();
    FieldPath::resolve("X").set(&mut neg, Value::Int(-5));
    let mut text = Flow::default();
    FieldPath::resolve("X").set(&mut text, Value::str("abc"));
    let mut ok = Flow::default();
    FieldPath::resolve("X").set(&mut ok, Value::str("2.5"));
    let out = e.observe(&[neg, text, ok]);
    // -5 is refused by the counter only; "abc" by both; "2.5" parses, as upstream.
    assert_eq!(out.errors, 3, "{out:?}");
    assert_eq!(sample(&e, "c_total"), Some(2.5));
    assert_eq!(sample(&e, "g"), Some(2.5));

    for (yaml, expect) in [
        (
            "metrics: [{name: a, type: counter, filters: [{key: A, value: '(', type: match_regex}]}]",
            "bad regular expression",
        ),
        (
            "metrics: [{name: a, type: counter, labels: ['NetworkEvents>Name']}]",
            "not a valid Prometheus label name",
        ),
        (
            "metrics: [{name: 'a-b', type: counter}]",
            "not a valid Prometheus metric name",
        ),
        (
            "metrics: [{name: h, type: histogram, buckets: [1, 0.5]}]",
            "buckets must be increasing",
        ),
        (
            "metrics: [{name: a, type: counter}, {name: a, type: gauge}]",
            "defined twice",
        ),
        ("expiryTime: soon\nmetrics: []", "not a duration"),
    ] {
        let cfg: PromEncodeConfig = serde_yaml_ng::from_str(yaml).unwrap();
        let err = PromEncoder::new(&cfg).unwrap_err().to_string();
        assert!(err.contains(expect), "{yaml}: {err}");
    }
    let err = serde_yaml_ng::from_str::<PromEncodeConfig>("metrics: [{name: a, type: summary}]")
        .unwrap_err()
        .to_string();
    assert!(err.contains("summary"), "{err}");
}

#[test]
fn predefined_metrics_count_what_the_operator_would() {
    let cfg = PromEncodeConfig {
        metrics: predefined(&[
            "namespace_ingress_bytes_total",
            "namespace_egress_bytes_total",
            "namespace_flows_total",
            "namespace_rtt_seconds",
            "namespace_dns_latency_seconds",
            "namespace_drop_packets_total",
            "node_to_node_ingress_flows_total",
        ])
        .unwrap(),
        prefix: Some("netobserv_".into()),
        ..Default::default()
    };
    let e = PromEncoder::new(&cfg).unwrap();
    e.observe(&[
        // Ingress (0), with RTT and DNS.
        flow(
            r#"{"FlowDirection":0,"Bytes":100,"SrcK8S_Namespace":"a","DstK8S_Namespace":"b",
                "TimeFlowRttNs":15000000,"DnsId":3,"DnsLatencyMs":2,"DnsFlagsResponseCode":"NoError",
                "SrcK8S_HostName":"n1","DstK8S_HostName":"n2"}"#,
        ),
        // Egress (1) with drops.
        flow(
            r#"{"FlowDirection":1,"Bytes":30,"SrcK8S_Namespace":"a","DstK8S_Namespace":"b",
                "PktDropPackets":2,"PktDropLatestState":"TCP_ESTABLISHED","PktDropLatestDropCause":"SKB_DROP_REASON_NO_SOCKET"}"#,
        ),
        // Inner (2): both directions.
        flow(r#"{"FlowDirection":2,"Bytes":7,"SrcK8S_Namespace":"a","DstK8S_Namespace":"b"}"#),
    ]);
    let s = samples(&e.encode_text());
    let total = |prefix: &str| -> f64 {
        s.iter()
            .filter(|(k, _)| k.starts_with(prefix) && k[prefix.len()..].starts_with('{'))
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(total("netobserv_namespace_ingress_bytes_total"), 107.0);
    assert_eq!(total("netobserv_namespace_egress_bytes_total"), 37.0);
    assert_eq!(total("netobserv_namespace_flows_total"), 3.0);
    assert_eq!(total("netobserv_namespace_rtt_seconds_count"), 1.0);
    assert_eq!(total("netobserv_namespace_rtt_seconds_sum"), 0.015);
    assert_eq!(total("netobserv_namespace_dns_latency_seconds_sum"), 0.002);
    assert_eq!(total("netobserv_namespace_drop_packets_total"), 2.0);
    assert_eq!(total("netobserv_node_to_node_ingress_flows_total"), 1.0);
    let rtt_bucket = s
        .keys()
        .find(|k| {
            k.starts_with("netobserv_namespace_rtt_seconds_bucket") && k.contains("le=\"0.02\"")
        })
        .unwrap();
    assert_eq!(
        s[rtt_bucket], 1.0,
        "the operator's latency buckets are used"
    );
    assert!(
        s.keys()
            .any(|k| k.contains(r#"SrcK8S_Namespace="a""#) && k.contains(r#"K8S_FlowLayer="""#)),
        "absent labels are empty, as upstream: {s:?}"
    );
}

// ---- the stage in a pipeline ----

/// A source sending its batches (each acknowledged into `acks`), then staying up until shutdown
/// so that the metrics can be scraped.
struct Feed {
    batches: Vec<Vec<Flow>>,
    every: Duration,
    repeat_last: bool,
    acks: Arc<Mutex<Vec<AckStatus>>>,
}

#[async_trait::async_trait]
impl Source for Feed {
    async fn run(self: Box<Self>, mut cx: SourceContext) -> netobserv_flow::Result<()> {
        let send = |flows: Vec<Flow>| {
            let acks = self.acks.clone();
            FlowBatch::with_ack(flows, Ack::new(move |s| acks.lock().unwrap().push(s)))
        };
        for b in &self.batches {
            if cx.out.send(send(b.clone())).await.is_err() {
                return Ok(());
            }
            tokio::time::sleep(self.every).await;
        }
        while self.repeat_last && !cx.shutdown.is_triggered() {
            let last = self.batches.last().cloned().unwrap_or_default();
            if cx.out.send(send(last)).await.is_err() {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = cx.shutdown.wait() => break,
            }
        }
        cx.shutdown.wait().await;
        Ok(())
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

struct Running {
    trigger: ShutdownTrigger,
    task: tokio::task::JoinHandle<netobserv_flow::Result<netobserv_flow::pipeline::RunReport>>,
    acks: Arc<Mutex<Vec<AckStatus>>>,
}

async fn start(yaml: &str, feed: Feed, metrics: Metrics) -> Running {
    let acks = feed.acks.clone();
    let feed = Mutex::new(Some(feed));
    let mut registry = StageRegistry::with_builtins();
    netobserv_sinks::register(&mut registry);
    registry.register(
        StageKind::Ingest,
        "test_feed",
        move |_: &mut BuildContext<'_>| {
            let f = feed.lock().unwrap().take().unwrap();
            Ok(Component::source(f))
        },
    );
    let config = Config::from_yaml(yaml).unwrap();
    let pipeline = Pipeline::build(&config, &registry, metrics).await.unwrap();
    let (trigger, shutdown) = Shutdown::new();
    let task = tokio::spawn(pipeline.run(shutdown));
    Running {
        trigger,
        task,
        acks,
    }
}

impl Running {
    async fn stop(self) {
        self.trigger.trigger();
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let acks = self.acks.lock().unwrap();
        assert!(!acks.is_empty());
        assert!(acks.iter().all(|s| *s == AckStatus::Delivered), "{acks:?}");
    }
}

fn pipeline_yaml(prom: &str) -> String {
    format!(
        r#"
pipeline:
  - name: feed
  - name: prom
    follows: feed
parameters:
  - name: feed
    ingest: {{type: test_feed}}
  - name: prom
    encode:
      type: prom
      prom:
{prom}
"#
    )
}

/// Waits until `check` is satisfied by what `probe` returns, or fails saying what it last saw.
async fn wait_for<T: std::fmt::Debug, F: std::future::Future<Output = T>>(
    what: &str,
    mut probe: impl FnMut() -> F,
    check: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let v = probe().await;
        if check(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: last seen {v:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn traffic() -> Vec<Vec<Flow>> {
    let mk = |ns: &str, bytes: u64, dir: u8| {
        flow(&format!(
            r#"{{"SrcK8S_Namespace":"{ns}","DstK8S_Namespace":"x","Bytes":{bytes},"Packets":1,"FlowDirection":{dir}}}"#
        ))
    };
    vec![
        vec![mk("a", 100, 0), mk("a", 200, 0), mk("b", 1000, 0)],
        vec![mk("b", 24, 0), mk("c", 5, 1)],
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_on_the_metrics_settings_registry_without_a_port() {
    let metrics = Metrics::new("").unwrap();
    let feed = Feed {
        batches: traffic(),
        every: Duration::from_millis(1),
        repeat_last: false,
        acks: Default::default(),
    };
    let yaml = pipeline_yaml(
        "        prefix: netobserv_\n        metrics: [{name: namespace_ingress_bytes_total, type: counter, valueKey: Bytes, labels: [SrcK8S_Namespace], filters: [{key: FlowDirection, value: '1', type: not_equal}]}]",
    );
    let running = start(&yaml, feed, metrics.clone()).await;
    let m = metrics.clone();
    wait_for(
        "the shared registry shows the ingested bytes",
        || {
            let m = m.clone();
            async move { samples(&m.encode()) }
        },
        |s| {
            s.get(r#"netobserv_namespace_ingress_bytes_total{SrcK8S_Namespace="b"}"#)
                == Some(&1024.0)
        },
    )
    .await;
    let s = samples(&metrics.encode());
    assert_eq!(
        s[r#"netobserv_namespace_ingress_bytes_total{SrcK8S_Namespace="a"}"#],
        300.0
    );
    assert!(
        !s.keys().any(|k| k.contains(r#"SrcK8S_Namespace="c""#)),
        "egress filtered"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_port_and_a_label_set_that_stops_expires() {
    let port = free_port();
    // "gone" is sent once, "alive" keeps flowing: after expiryTime only "alive" is left.
    let gone = flow(r#"{"SrcK8S_Namespace":"gone","Bytes":1}"#);
    let alive = flow(r#"{"SrcK8S_Namespace":"alive","Bytes":1}"#);
    let feed = Feed {
        batches: vec![vec![gone], vec![alive]],
        every: Duration::from_millis(50),
        repeat_last: true,
        acks: Default::default(),
    };
    let yaml = pipeline_yaml(&format!(
        "        address: 127.0.0.1\n        port: {port}\n        expiryTime: 500ms\n        metrics: [{{name: b_total, type: counter, valueKey: Bytes, labels: [SrcK8S_Namespace]}}]"
    ));
    let running = start(&yaml, feed, Metrics::default()).await;
    let first = wait_for(
        "both label sets are served",
        || http_get(port, "/metrics"),
        |r| {
            r.as_ref()
                .is_ok_and(|(_, b)| b.contains("\"gone\"") && b.contains("\"alive\""))
        },
    )
    .await
    .unwrap();
    assert_eq!(first.0, 200);
    wait_for(
        "the stopped label set expires",
        || http_get(port, "/metrics"),
        |r| {
            r.as_ref()
                .is_ok_and(|(_, b)| !b.contains("\"gone\"") && b.contains("\"alive\""))
        },
    )
    .await
    .unwrap();
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_sums_of_what_was_ingested() {
    let bin = std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".into());
    let version = std::process::Command::new(&bin).arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "{bin} is not installed or does not run ({version:?}): install it with .ci/services.d/prometheus.sh (apt-get install -y prometheus)"
    );
    let port = free_port();
    let feed = Feed {
        batches: traffic(),
        every: Duration::from_millis(1),
        repeat_last: false,
        acks: Default::default(),
    };
    let metrics = predefined(&["namespace_ingress_bytes_total", "namespace_flows_total"]).unwrap();
    let prom = serde_json::to_string(&PromEncodeConfig {
        port: Some(port),
        address: Some("127.0.0.1".into()),
        prefix: Some("netobserv_".into()),
        metrics,
        ..Default::default()
    })
    .unwrap();
    let running = start(
        &pipeline_yaml(&format!("        {prom}")),
        feed,
        Metrics::default(),
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n  - job_name: flp\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        ),
    )
    .unwrap();
    let prom_port = free_port();
    let mut server = tokio::process::Command::new(&bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let query = |q: &'static str| async move {
        let path = format!(
            "/api/v1/query?query={}",
            q.replace(' ', "%20").replace('"', "%22")
        );
        let (_, body) = http_get(prom_port, &path).await.ok()?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v["data"]["result"][0]["value"][1]
            .as_str()?
            .parse::<f64>()
            .ok()
    };
    // Ingress is FlowDirection 0 or 2: namespace c's egress flow is not in the bytes.
    wait_for(
        "Prometheus answers sum(netobserv_namespace_ingress_bytes_total)",
        || query("sum(netobserv_namespace_ingress_bytes_total)"),
        |v| *v == Some(1324.0),
    )
    .await;
    let by_ns = wait_for(
        "Prometheus answers the bytes of namespace b",
        || query(r#"sum(netobserv_namespace_ingress_bytes_total{SrcK8S_Namespace="b"})"#),
        |v| v.is_some(),
    )
    .await;
    assert_eq!(by_ns, Some(1024.0));
    let flows = wait_for(
        "Prometheus answers sum(netobserv_namespace_flows_total)",
        || query("sum(netobserv_namespace_flows_total)"),
        |v| v.is_some(),
    )
    .await;
    assert_eq!(flows, Some(5.0));
    server.kill().await.unwrap();
    running.stop().await;
}

/// Every predefined metric without flattening, over enriched flows (some with drops, DNS,
/// IPsec, a cluster name, or no destination identity), in several batches, equals what a
/// naive model computes from `Flow::get` field by field: one series per label set, counters
/// summing, gauges keeping the last value, histograms counting and summing.
#[test]
fn predefined_metrics_match_a_naive_model() {
    use netobserv_flow::config::IngestSynthetic;
    use netobserv_flow::stages::synthetic::SyntheticSource;
    use netobserv_sinks::prom::{FilterType, MetricType, predefined_names};

    let mut src = SyntheticSource::new(&IngestSynthetic {
        connections: Some(40),
        seed: Some(7),
        ..Default::default()
    });
    let flows: Vec<Flow> = (0..3000)
        .map(|i| {
            let mut f = src.next_flow(1_732_185_420_000 + i);
            if i % 7 == 0 {
                f.set_pkt_drop_packets(i as u64 % 3 + 1);
                f.set_pkt_drop_bytes(i as u64 % 1500);
                f.set_pkt_drop_latest_state("TCP_ESTABLISHED".into());
                f.set_pkt_drop_latest_drop_cause(format!("SKB_DROP_REASON_{}", i % 2).into());
            }
            if i % 5 == 0 {
                f.set_dns_id(i as u16);
                f.set_dns_latency_ms(i % 40);
                f.set_dns_flags_response_code(
                    if i % 3 == 0 { "NoError" } else { "NXDomain" }.into(),
                );
            }
            if i % 11 == 0 {
                f.set_ipsec_status(if i % 2 == 0 { "success" } else { "error" }.into());
            }
            if i % 13 == 0 {
                f.set_k8s_cluster_name("c1".into());
            }
            if i % 17 == 0 {
                f.clear_dst_k8s();
            }
            f
        })
        .collect();

    let defs: Vec<_> = predefined(&predefined_names())
        .unwrap()
        .into_iter()
        .filter(|d| d.flatten.is_empty())
        .collect();
    let e = PromEncoder::new(&PromEncodeConfig {
        metrics: defs.clone(),
        ..Default::default()
    })
    .unwrap();
    for batch in flows.chunks(700) {
        let out = e.observe(batch);
        assert_eq!((out.dropped, out.errors), (0, 0), "{:?}", out.first_error);
    }
    let got = samples(&e.encode_text());

    let text = |f: &Flow, key: &str| f.get(key).map(|v| v.to_text());
    let mut want: BTreeMap<String, f64> = BTreeMap::new();
    for f in &flows {
        for d in &defs {
            let mut keys: Vec<&str> = d.filters.iter().map(|x| x.key.as_str()).collect();
            keys.dedup();
            let passes = keys.iter().all(|k| {
                d.filters.iter().filter(|x| x.key == *k).any(|x| {
                    let t = text(f, &x.key);
                    match x.r#type {
                        FilterType::Equal => t.as_deref() == Some(x.value.as_str()),
                        FilterType::NotEqual => t.as_deref() != Some(x.value.as_str()),
                        FilterType::Presence => t.is_some(),
                        FilterType::Absence => t.is_none(),
                        other => panic!("the predefined metrics use no {other:?}"),
                    }
                })
            });
            if !passes {
                continue;
            }
            let value = if d.value_key.is_empty() {
                1.0
            } else {
                match f.get(&d.value_key) {
                    Some(v) => v.as_f64().unwrap() / d.value_scale.unwrap_or(1.0),
                    None => continue,
                }
            };
            let mut labels: Vec<String> = d
                .labels
                .iter()
                .map(|l| format!("{l}=\"{}\"", text(f, l).unwrap_or_default()))
                .collect();
            labels.sort();
            let series = |suffix: &str| format!("{}{suffix}{{{}}}", d.name, labels.join(","));
            match d.r#type {
                MetricType::Counter => *want.entry(series("")).or_default() += value,
                MetricType::Gauge => {
                    want.insert(series(""), value);
                }
                _ => {
                    *want.entry(series("_count")).or_default() += 1.0;
                    *want.entry(series("_sum")).or_default() += value;
                }
            }
        }
    }
    // Histograms: compare count and sum (the buckets have their own test).
    let got: BTreeMap<String, f64> = got
        .into_iter()
        .filter(|(k, _)| !k.contains("_bucket{"))
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the same series"
    );
    for (k, w) in &want {
        let g = got[k];
        assert!((g - w).abs() <= 1e-9 * w.abs().max(1.0), "{k}: {g} != {w}");
    }
    // The flows exercised every kind of predefined metric.
    for name in [
        "node_egress_bytes_total",
        "workload_sampling",
        "namespace_rtt_seconds_count",
        "namespace_dns_latency_seconds_count",
        "workload_drop_bytes_total",
        "node_ipsec_flows_total",
        "node_to_node_ingress_flows_total",
    ] {
        assert!(
            want.keys().any(|k| k.starts_with(&format!("{name}{{"))),
            "no {name} series"
        );
    }
    assert!(
        want.keys().any(|k| k.contains("K8S_ClusterName=\"c1\"")),
        "a cluster name label"
    );
}

/// Label values of Kubernetes identities are remembered per identity; once expired series have
/// freed them, a flow sharing an identity seen before still gets its own values, not those of
/// whatever took their place.
#[test]
fn identities_seen_before_expiry_keep_their_labels_after_it() {
    let e = encoder(
        "expiryTime: 1ms\nmetrics: [{name: flows_total, type: counter, labels: [SrcK8S_Namespace, DstK8S_Namespace]}]",
    );
    let a = Flow::default()
        .with_src_k8s_namespace("a".into())
        .with_dst_k8s_namespace("a2".into());
    let b = Flow::default()
        .with_src_k8s_namespace("b".into())
        .with_dst_k8s_namespace("b2".into());
    // Twice: the second flow finds the values already held, and they are remembered.
    e.observe(std::slice::from_ref(&a));
    e.observe(std::slice::from_ref(&a));
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(e.expire(), 1);
    // "b" and "b2" take the freed places of "a" and "a2".
    e.observe(std::slice::from_ref(&b));
    // The same identities as the first flow's (a clone shares them).
    e.observe(&[a.clone(), a]);
    assert_eq!(
        sample(
            &e,
            r#"flows_total{DstK8S_Namespace="a2",SrcK8S_Namespace="a"}"#
        ),
        Some(2.0),
        "{}",
        e.encode_text()
    );
    assert_eq!(
        sample(
            &e,
            r#"flows_total{DstK8S_Namespace="b2",SrcK8S_Namespace="b"}"#
        ),
        Some(1.0)
    );
    assert_eq!(e.series_count(), 2);
}

/// An unknown key in a metric definition fails the build with its place in the file.
#[tokio::test]
async fn an_unknown_key_is_an_error_with_its_path() {
    let mut registry = StageRegistry::with_builtins();
    netobserv_sinks::register(&mut registry);
    let yaml = pipeline_yaml(
        "        metrics: [{name: a_total, type: counter}, {name: b_total, type: counter, valueKy: Bytes}]",
    )
    .replace("{type: test_feed}", "{type: synthetic, synthetic: {maxFlows: 1}}");
    let config = Config::from_yaml(&yaml).unwrap();
    let Err(err) = Pipeline::build(&config, &registry, Metrics::new("").unwrap()).await else {
        panic!("an unknown key must fail the build");
    };
    let err = err.to_string();
    assert!(err.contains("valueKy"), "{err}");
    assert!(err.contains("metrics[1]"), "{err}");
}
