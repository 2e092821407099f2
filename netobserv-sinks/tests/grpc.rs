//! gRPC: `ingest: grpc` with the pbflow client, message splitting, reconnection, TLS and mutual
//! TLS, malformed messages, and `write: grpc` received by an in-test `genericmap.Collector`.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netobserv_flow::codec::pbflow::{
    DataLink, Ip, Network, Record, Records, Timestamp, Transport, decode_records,
};
use netobserv_flow::config::{Config, StageKind};
use netobserv_flow::flow::Flow;
use netobserv_flow::pipeline::{
    Ack, AckStatus, BuildContext, Component, FlowBatch, Metrics, Pipeline, RunReport, Shutdown,
    ShutdownTrigger, Sink, SinkContext, Source, SourceContext, StageRegistry,
};
use netobserv_sinks::grpc::codec::BytesCodec;
use netobserv_sinks::grpc::proto::{GenericFlow, genericmap, pbflow};
use prost::Message;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::codegen::Bytes;

/// The longest any wait for the other side may take before the test says what it waited for.
const PATIENCE: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Records with varied fields (IPv4 and IPv6, ports, DNS, drops, RTT), as an agent sends them.
fn records(n: usize, seed: u32) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let i = i as u32 + seed;
            let v6 = i.is_multiple_of(5);
            let addr = |last: u32| -> IpAddr {
                if v6 {
                    format!("fd00::{:x}:{last}", i % 0xffff).parse().unwrap()
                } else {
                    format!("10.{}.{}.{last}", (i >> 8) & 0xff, i & 0xff)
                        .parse()
                        .unwrap()
                }
            };
            Record {
                eth_protocol: if v6 { 0x86dd } else { 0x0800 },
                direction: (i % 2) as i32,
                time_flow_start: Some(Timestamp {
                    seconds: 1_700_000_000 + i64::from(i),
                    nanos: 123_000_000,
                }),
                time_flow_end: Some(Timestamp {
                    seconds: 1_700_000_001 + i64::from(i),
                    nanos: 456_000_000,
                }),
                data_link: Some(DataLink {
                    src_mac: 0x0A58_0A80_0001 + u64::from(i),
                    dst_mac: 0x0A58_0A80_0002,
                }),
                network: Some(Network {
                    src_addr: Some(Ip::from_ip(addr(1))),
                    dst_addr: Some(Ip::from_ip(addr(2))),
                    dscp: i % 64,
                }),
                transport: Some(Transport {
                    src_port: 1024 + i % 60000,
                    dst_port: 443,
                    protocol: if i.is_multiple_of(3) { 17 } else { 6 },
                }),
                bytes: 100 + u64::from(i),
                packets: 1 + u64::from(i % 7),
                flags: i % 0x200,
                interface: format!("eth{}", i % 3),
                agent_ip: Some(Ip::from_ip("192.168.0.10".parse().unwrap())),
                dns_id: if i.is_multiple_of(4) { i % 65535 } else { 0 },
                dns_flags: if i.is_multiple_of(4) { 0x8180 } else { 0 },
                pkt_drop_packets: u64::from(i % 2),
                pkt_drop_bytes: u64::from(i % 2) * 66,
                ..Record::default()
            }
        })
        .collect()
}

/// The flows an agent's records decode to.
fn flows(n: usize, seed: u32) -> Vec<Flow> {
    let bytes = Records {
        entries: records(n, seed),
    }
    .encode_to_vec();
    decode_records(&bytes, 0).unwrap()
}

/// `received` equals `expected` field by field, once `TimeReceived` (stamped by the receiver) is
/// set aside, in any order: the pipeline's workers may pass batches on in another order than
/// they came in (README, "Workers").
fn assert_same_flows(received: &[Flow], expected: &[Flow]) {
    assert_eq!(received.len(), expected.len());
    let mut got: Vec<(String, Flow)> = received
        .iter()
        .map(|f| {
            assert!(f.time_received().is_some_and(|t| t > 0));
            let mut f = f.clone();
            f.set_time_received(0);
            (format!("{f:?}"), f)
        })
        .collect();
    let mut want: Vec<(String, &Flow)> = expected.iter().map(|f| (format!("{f:?}"), f)).collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    want.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, ((_, g), (_, w))) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, *w, "flow {i} in sorted order");
    }
}

/// Waits until `done` holds, failing with `what` after [`PATIENCE`].
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

type Received = Arc<Mutex<Vec<Flow>>>;

/// A sink keeping what it receives.
struct Collect(Received);

#[async_trait::async_trait]
impl Sink for Collect {
    async fn run(self: Box<Self>, mut cx: SinkContext) -> netobserv_flow::Result<()> {
        while let Some(batch) = cx.input.recv().await {
            self.0.lock().unwrap().extend(batch.flows().iter().cloned());
            batch.resolve(AckStatus::Delivered);
        }
        Ok(())
    }
}

/// A source sending the batches the test feeds it, reporting each batch's acknowledgement.
struct Feed {
    rx: mpsc::UnboundedReceiver<Vec<Flow>>,
    acks: mpsc::UnboundedSender<AckStatus>,
}

#[async_trait::async_trait]
impl Source for Feed {
    async fn run(mut self: Box<Self>, cx: SourceContext) -> netobserv_flow::Result<()> {
        while let Some(flows) = self.rx.recv().await {
            let acks = self.acks.clone();
            let ack = Ack::new(move |status| {
                let _ = acks.send(status);
            });
            if cx.out.send(FlowBatch::with_ack(flows, ack)).await.is_err() {
                break;
            }
        }
        Ok(())
    }
}

fn registry(received: Received, feed: Option<Feed>) -> StageRegistry {
    let mut r = StageRegistry::with_builtins();
    netobserv_sinks::register(&mut r);
    r.register(
        StageKind::Write,
        "collect",
        move |_: &mut BuildContext<'_>| Ok(Component::sink(Collect(received.clone()))),
    );
    let feed = Mutex::new(feed);
    r.register(
        StageKind::Ingest,
        "feed",
        move |_: &mut BuildContext<'_>| {
            let f = feed.lock().unwrap().take().expect("one feed stage");
            Ok(Component::source(f))
        },
    );
    r
}

/// A running pipeline, stopped on request.
struct Running {
    stop: ShutdownTrigger,
    task: JoinHandle<netobserv_flow::Result<RunReport>>,
    metrics: Metrics,
}

impl Running {
    async fn stop(self) -> RunReport {
        self.stop.trigger();
        match self.task.await.unwrap() {
            Ok(report) => report,
            // A run with flows not delivered ends in an error carrying the same report.
            Err(netobserv_flow::Error::Run(report)) => *report,
            Err(e) => panic!("{e}"),
        }
    }
}

async fn start(yaml: &str, registry: &StageRegistry) -> Running {
    let config = Config::from_yaml(yaml).unwrap();
    let metrics = Metrics::default();
    let pipeline = Pipeline::build(&config, registry, metrics.clone())
        .await
        .unwrap();
    let (stop, shutdown) = Shutdown::new();
    Running {
        stop,
        task: tokio::spawn(pipeline.run(shutdown)),
        metrics,
    }
}

/// `ingest: grpc` on `port` into a collecting sink; `tls` is extra YAML of the `grpc:` section.
async fn collector(port: u16, tls: &str) -> (Running, Received) {
    let received = Received::default();
    let yaml = format!(
        "pipeline: [{{name: in}}, {{name: out, follows: in}}]\nparameters:\n  - name: in\n    ingest: {{type: grpc, grpc: {{port: {port}, address: 127.0.0.1{tls}}}}}\n  - name: out\n    write: {{type: collect}}\n"
    );
    (
        start(&yaml, &registry(received.clone(), None)).await,
        received,
    )
}

/// A pipeline sending what the test feeds to `pbflow` with `settings` (YAML flow mapping body).
async fn sender(
    settings: &str,
) -> (
    Running,
    mpsc::UnboundedSender<Vec<Flow>>,
    mpsc::UnboundedReceiver<AckStatus>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (acks_tx, acks) = mpsc::unbounded_channel();
    let feed = Feed { rx, acks: acks_tx };
    let yaml = format!(
        "pipeline: [{{name: feed}}, {{name: send, follows: feed}}]\nparameters:\n  - name: feed\n    ingest: {{type: feed}}\n  - name: send\n    write: {{type: pbflow, pbflow: {{{settings}}}}}\n"
    );
    let running = start(&yaml, &registry(Received::default(), Some(feed))).await;
    (running, tx, acks)
}

async fn next_ack(acks: &mut mpsc::UnboundedReceiver<AckStatus>) -> AckStatus {
    tokio::time::timeout(PATIENCE, acks.recv())
        .await
        .expect("an acknowledgement")
        .expect("the sender pipeline is running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_sent_by_the_client_arrive_unchanged() {
    let port = free_port();
    let (server, received) = collector(port, "").await;
    let (client, feed, mut acks) =
        sender(&format!("targetHost: 127.0.0.1, targetPort: {port}")).await;
    let batches = [flows(700, 0), flows(1, 5000), flows(300, 9000)];
    for b in &batches {
        feed.send(b.clone()).unwrap();
    }
    for _ in &batches {
        assert_eq!(next_ack(&mut acks).await, AckStatus::Delivered);
    }
    drop(feed);
    client.stop().await;
    let expected: Vec<Flow> = batches.concat();
    wait_until("every flow at the collector", || {
        received.lock().unwrap().len() >= expected.len()
    })
    .await;
    let report = server.stop().await;
    assert_same_flows(&received.lock().unwrap(), &expected);
    assert!(report.to_string().contains("1001"), "{report}");
}

/// A `pbflow.Collector` that keeps the size of every message it is sent.
#[derive(Clone, Default)]
struct CountingCollector(Arc<Mutex<Vec<usize>>>);

#[tonic::async_trait]
impl pbflow::collector_server::Collector for CountingCollector {
    async fn send(
        &self,
        request: tonic::Request<Bytes>,
    ) -> Result<tonic::Response<Bytes>, tonic::Status> {
        let flows = decode_records(request.get_ref(), 0)
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
        self.0.lock().unwrap().push(flows.len());
        Ok(tonic::Response::new(Bytes::new()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_25000_flows_is_split_into_three_calls() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let counting = CountingCollector::default();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(
                pbflow::collector_server::CollectorServer::new(counting.clone())
                    .max_decoding_message_size(64 << 20),
            )
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let (client, feed, mut acks) =
        sender(&format!("targetHost: 127.0.0.1, targetPort: {port}")).await;
    feed.send(flows(25_000, 0)).unwrap();
    assert_eq!(next_ack(&mut acks).await, AckStatus::Delivered);
    assert_eq!(*counting.0.lock().unwrap(), [10_000, 10_000, 5_000]);
    drop(feed);
    client.stop().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_retries_until_the_collector_comes_up() {
    let port = free_port();
    // About three seconds of retries before a batch is given up.
    let (client, feed, mut acks) = sender(&format!(
        "targetHost: 127.0.0.1, targetPort: {port}, retry: {{maxRetries: 60, initialBackoffMs: 10, maxBackoffMs: 50}}"
    ))
    .await;
    // Nobody listens: the batch is errored once the retries run out (the source must not commit).
    feed.send(flows(10, 0)).unwrap();
    assert_eq!(next_ack(&mut acks).await, AckStatus::Errored);
    // Sent while nobody listens, delivered once the collector comes up within the retries.
    let waiting = flows(20, 100);
    feed.send(waiting.clone()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(acks.try_recv().is_err(), "still retrying");
    let (server, received) = collector(port, "").await;
    assert_eq!(next_ack(&mut acks).await, AckStatus::Delivered);
    let after = flows(30, 200);
    feed.send(after.clone()).unwrap();
    assert_eq!(next_ack(&mut acks).await, AckStatus::Delivered);
    drop(feed);
    let report = client.stop().await;
    assert_eq!(report.deliveries.errored, 10);
    assert_eq!(report.deliveries.delivered, 50);
    let expected = [waiting, after].concat();
    wait_until("the flows sent after reconnecting", || {
        received.lock().unwrap().len() >= expected.len()
    })
    .await;
    server.stop().await;
    // Nothing lost: every flow of a delivered batch arrived, once.
    assert_same_flows(&received.lock().unwrap(), &expected);
}

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files.
    fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        write("ca.pem", ca.pem());
        for (name, sans) in [
            (
                "server",
                vec!["127.0.0.1".to_string(), "localhost".to_string()],
            ),
            ("client", vec!["agent.example".to_string()]),
        ] {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(sans)
                .unwrap()
                .signed_by(&key, &ca)
                .unwrap();
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}-key.pem"), key.serialize_pem());
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// Sends one batch with `settings` and says how it was acknowledged.
async fn send_once(settings: &str, batch: Vec<Flow>) -> AckStatus {
    let (client, feed, mut acks) = sender(settings).await;
    feed.send(batch).unwrap();
    let status = next_ack(&mut acks).await;
    drop(feed);
    client.stop().await;
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_mutual_tls() {
    let pki = Pki::new();
    let target =
        |port: u16| format!("targetHost: 127.0.0.1, targetPort: {port}, retry: {{maxRetries: 0}}");
    let server_tls = format!(
        ", certPath: {}, keyPath: {}",
        pki.path("server.pem"),
        pki.path("server-key.pem")
    );
    let ca = format!(", tls: {{caCertPath: {}}}", pki.path("ca.pem"));
    let identity = format!(
        ", tls: {{caCertPath: {}, userCertPath: {}, userKeyPath: {}}}",
        pki.path("ca.pem"),
        pki.path("client.pem"),
        pki.path("client-key.pem")
    );

    // TLS: a client trusting the CA delivers; a plain-text client does not.
    let port = free_port();
    let (server, received) = collector(port, &server_tls).await;
    let sent = flows(50, 0);
    assert_eq!(
        send_once(&format!("{}{ca}", target(port)), sent.clone()).await,
        AckStatus::Delivered
    );
    assert_eq!(
        send_once(&target(port), flows(5, 1)).await,
        AckStatus::Errored
    );
    wait_until("the flows sent over TLS", || {
        received.lock().unwrap().len() >= sent.len()
    })
    .await;
    server.stop().await;
    assert_same_flows(&received.lock().unwrap(), &sent);

    // Mutual TLS: a client without a certificate is refused, one with a certificate delivers.
    let port = free_port();
    let mtls = format!("{server_tls}, clientCAPath: {}", pki.path("ca.pem"));
    let (server, received) = collector(port, &mtls).await;
    assert_eq!(
        send_once(&format!("{}{ca}", target(port)), flows(5, 1)).await,
        AckStatus::Errored
    );
    let sent = flows(60, 7);
    assert_eq!(
        send_once(&format!("{}{identity}", target(port)), sent.clone()).await,
        AckStatus::Delivered
    );
    wait_until("the flows sent over mutual TLS", || {
        received.lock().unwrap().len() >= sent.len()
    })
    .await;
    server.stop().await;
    assert_same_flows(&received.lock().unwrap(), &sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_message_is_counted_and_the_connection_goes_on() {
    let port = free_port();
    let (server, received) = collector(port, "").await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = pbflow::collector_client::CollectorClient::new(channel);
    // Field 1 (entries), length-delimited, claiming 100 bytes that are not there.
    client
        .send(Bytes::from_static(&[0x0a, 100, 1, 2, 3]))
        .await
        .unwrap();
    // The same connection still works: a message encoded by prost as upstream's Go agent does.
    let valid = Records {
        entries: records(40, 3),
    }
    .encode_to_vec();
    client.send(Bytes::from(valid)).await.unwrap();
    wait_until("the valid message's flows", || {
        received.lock().unwrap().len() >= 40
    })
    .await;
    let errors = server.metrics.stage("in").errors("pbflow");
    server.stop().await;
    assert_eq!(errors, 1);
    assert_same_flows(&received.lock().unwrap(), &flows(40, 3));
    let _ = BytesCodec;
}

/// Stands in for the `netobserv` CLI's collector: a `genericmap.Collector` keeping what it is sent.
#[derive(Clone, Default)]
struct GenericMapCollector(Arc<Mutex<Vec<GenericFlow>>>);

#[tonic::async_trait]
impl genericmap::collector_server::Collector for GenericMapCollector {
    async fn send(
        &self,
        request: tonic::Request<Bytes>,
    ) -> Result<tonic::Response<Bytes>, tonic::Status> {
        let flow = GenericFlow::decode(request.into_inner())
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
        self.0.lock().unwrap().push(flow);
        Ok(tonic::Response::new(Bytes::new()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_grpc_sends_one_json_flow_per_call() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let collector = GenericMapCollector::default();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(genericmap::collector_server::CollectorServer::new(
                collector.clone(),
            ))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let (acks_tx, mut acks) = mpsc::unbounded_channel();
    let yaml = format!(
        "pipeline: [{{name: feed}}, {{name: send, follows: feed}}]\nparameters:\n  - name: feed\n    ingest: {{type: feed}}\n  - name: send\n    write: {{type: grpc, grpc: {{targetHost: 127.0.0.1, targetPort: {port}}}}}\n"
    );
    let client = start(
        &yaml,
        &registry(Received::default(), Some(Feed { rx, acks: acks_tx })),
    )
    .await;
    let sent = flows(7, 0);
    tx.send(sent.clone()).unwrap();
    assert_eq!(next_ack(&mut acks).await, AckStatus::Delivered);
    drop(tx);
    client.stop().await;
    server.abort();
    let got = collector.0.lock().unwrap();
    assert_eq!(got.len(), sent.len(), "one call per flow");
    for (message, flow) in got.iter().zip(&sent) {
        let any = message.generic_map.as_ref().unwrap();
        assert_eq!(any.type_url, "");
        let decoded = netobserv_flow::codec::json::decode(&any.value).unwrap();
        assert_eq!(&decoded, flow);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_are_configuration_errors() {
    for (yaml, expected) in [
        (
            "ingest: {type: grpc, grpc: {bufferLength: 3}}",
            "ingest port not specified",
        ),
        (
            "ingest: {type: grpc, grpc: {port: 1, colour: red}}",
            "colour",
        ),
        (
            "ingest: {type: grpc, grpc: {port: 1, certPath: /x}}",
            "certPath and keyPath",
        ),
    ] {
        let doc = format!(
            "pipeline: [{{name: in}}, {{name: out, follows: in}}]\nparameters:\n  - name: in\n    {yaml}\n  - name: out\n    write: {{type: none}}\n"
        );
        let config = Config::from_yaml(&doc).unwrap();
        let err = Pipeline::build(
            &config,
            &registry(Received::default(), None),
            Metrics::default(),
        )
        .await
        .err()
        .unwrap();
        assert!(err.is_config(), "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
    let doc = "pipeline: [{name: in}, {name: out, follows: in}]\nparameters:\n  - name: in\n    ingest: {type: synthetic}\n  - name: out\n    write: {type: grpc, grpc: {targetPort: 9}}\n";
    let err = Pipeline::build(
        &Config::from_yaml(doc).unwrap(),
        &registry(Received::default(), None),
        Metrics::default(),
    )
    .await
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("targetHost can't be empty"),
        "{err}"
    );
}
