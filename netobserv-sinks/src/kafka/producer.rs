//! Producing flows to Kafka: `encode: kafka` (NetObserv JSON, one flow per message, no key, as
//! upstream flowlogs-pipeline) and the agent's `EXPORT=kafka` (one protobuf `pbflow.Record` per
//! message, keyed by the sorted address pair, as upstream's agent).
//!
//! The pipeline's workers encode each batch into frames (`key`, `value` pairs); the sink hands the
//! frames to librdkafka, which batches and compresses them. A batch's acknowledgement resolves
//! once the broker acknowledged (or librdkafka gave up on) every one of its messages: delivered
//! only when all were delivered.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netobserv_flow::codec::{json, pbflow};
use netobserv_flow::config::{ClientTls, EncodeKafka, Sasl};
use netobserv_flow::flow::Flow;
use netobserv_flow::pipeline::{
    Ack, AckStatus, BuildContext, Component, Encode, Healthcheck, Sink, SinkContext, StageMetrics,
};
use prost::Message as _;
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use super::client::{Compression, apply_security};
use crate::{Error, Result};

/// Default topic of the agent's export (upstream's `KAFKA_TOPIC` default).
pub const AGENT_DEFAULT_TOPIC: &str = "network-flows";

/// How long a stopping sink waits for the broker to acknowledge what it holds.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of a Kafka producer, in librdkafka's terms.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Bootstrap brokers, `host:port[,host:port...]`.
    pub brokers: String,
    /// The topic.
    pub topic: String,
    /// Messages per produce request at most (`batch.num.messages`).
    pub batch_messages: Option<usize>,
    /// Bytes per produce request at most (`batch.size`).
    pub batch_bytes: Option<usize>,
    /// How long librdkafka waits to fill a request (`linger.ms`; librdkafka's default 5 ms).
    pub linger: Option<Duration>,
    /// Compression of message batches.
    pub compression: Compression,
    /// librdkafka's `partitioner` (how keys map to partitions); `None` keeps its default.
    pub partitioner: Option<String>,
    /// Timeout of one produce request (`request.timeout.ms`).
    pub request_timeout: Option<Duration>,
    /// How long librdkafka retries a message before giving up on it (`message.timeout.ms`);
    /// the batch is then errored.
    pub message_timeout: Option<Duration>,
    /// TLS, as upstream's settings.
    pub tls: Option<ClientTls>,
    /// SASL, as upstream's settings.
    pub sasl: Option<Sasl>,
}

impl ProducerConfig {
    /// Settings for `topic` on `brokers`, librdkafka's defaults otherwise.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        ProducerConfig {
            brokers: brokers.into(),
            topic: topic.into(),
            batch_messages: None,
            batch_bytes: None,
            linger: None,
            compression: Compression::None,
            partitioner: None,
            request_timeout: None,
            message_timeout: None,
            tls: None,
            sasl: None,
        }
    }

    /// Sets the compression.
    pub fn with_compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    /// Sets the messages and bytes per produce request.
    pub fn with_batch(mut self, messages: Option<usize>, bytes: Option<usize>) -> Self {
        self.batch_messages = messages;
        self.batch_bytes = bytes;
        self
    }

    /// Sets `linger.ms`.
    pub fn with_linger(mut self, linger: Duration) -> Self {
        self.linger = Some(linger);
        self
    }

    /// Sets TLS and SASL.
    pub fn with_security(mut self, tls: Option<ClientTls>, sasl: Option<Sasl>) -> Self {
        self.tls = tls;
        self.sasl = sasl;
        self
    }

    /// Sets `message.timeout.ms`.
    pub fn with_message_timeout(mut self, t: Duration) -> Self {
        self.message_timeout = Some(t);
        self
    }

    /// The settings of upstream flowlogs-pipeline's `encode: kafka`: `address`, `topic`,
    /// `balancer` (roundRobin, leastBytes, hash, crc32, murmur2: FLP's messages have no key, so
    /// all spread them over the partitions), `writeTimeout` (seconds, per produce request),
    /// `readTimeout` (seconds, metadata requests), `batchBytes`, `batchSize` (messages), `tls`,
    /// `sasl`.
    pub fn from_flp(s: &EncodeKafka) -> Result<Self> {
        if s.address.is_empty() {
            return Err(Error::Settings("encode kafka: address is required".into()));
        }
        if s.topic.is_empty() {
            return Err(Error::Settings("encode kafka: topic is required".into()));
        }
        let partitioner = match s.balancer.as_deref().unwrap_or("roundRobin") {
            "" | "roundRobin" | "leastBytes" => None,
            "hash" => Some("fnv1a_random"),
            "crc32" => Some("consistent_random"),
            "murmur2" => Some("murmur2_random"),
            other => {
                return Err(Error::Settings(format!(
                    "encode kafka: unknown balancer {other:?} (expected one of: roundRobin, leastBytes, hash, crc32, murmur2)"
                )));
            }
        };
        let positive = |v: Option<i64>, key: &str| -> Result<Option<u64>> {
            match v {
                None | Some(0) => Ok(None),
                Some(n) if n > 0 => Ok(Some(n as u64)),
                Some(n) => Err(Error::Settings(format!(
                    "encode kafka: {key} must be positive, got {n}"
                ))),
            }
        };
        let mut c = ProducerConfig::new(&s.address, &s.topic);
        c.partitioner = partitioner.map(str::to_string);
        c.request_timeout = positive(s.write_timeout, "writeTimeout")?.map(Duration::from_secs);
        c.batch_bytes = positive(s.batch_bytes, "batchBytes")?.map(|b| b as usize);
        c.batch_messages = s.batch_size.filter(|n| *n > 0);
        positive(s.read_timeout, "readTimeout")?;
        c.tls = s.tls.clone();
        c.sasl = s.sasl.clone();
        Ok(c)
    }

    fn client_config(&self) -> Result<ClientConfig> {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", &self.brokers)
            .set("compression.codec", self.compression.as_str())
            // Retries must not reorder or duplicate what the broker already has.
            .set("enable.idempotence", "false")
            .set("queue.buffering.max.messages", "200000");
        if let Some(n) = self.batch_messages {
            cfg.set("batch.num.messages", n.to_string());
        }
        if let Some(n) = self.batch_bytes {
            cfg.set("batch.size", n.to_string());
        }
        if let Some(l) = self.linger {
            cfg.set("linger.ms", l.as_millis().to_string());
        }
        if let Some(p) = &self.partitioner {
            cfg.set("partitioner", p);
        }
        if let Some(t) = self.request_timeout {
            cfg.set("request.timeout.ms", t.as_millis().to_string());
        }
        if let Some(t) = self.message_timeout {
            cfg.set("message.timeout.ms", t.as_millis().to_string());
        }
        apply_security(&mut cfg, self.tls.as_ref(), self.sasl.as_ref())?;
        Ok(cfg)
    }
}

/// The messages one batch became, and what to do once the broker answered for all of them.
struct Pending {
    /// Messages not answered yet, plus one while the sink is still handing them over.
    remaining: AtomicUsize,
    /// Worst outcome so far ([`AckStatus`] as u8).
    status: AtomicU8,
    ack: Mutex<Option<Ack>>,
    flows: usize,
    metrics: StageMetrics,
}

impl Pending {
    fn worsen(&self, s: AckStatus) {
        self.status.fetch_max(s as u8, Ordering::AcqRel);
    }

    fn done_one(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let status = match self.status.load(Ordering::Acquire) {
                0 => AckStatus::Delivered,
                1 => AckStatus::Rejected,
                _ => AckStatus::Errored,
            };
            if status == AckStatus::Delivered {
                self.metrics.written(self.flows);
            }
            let ack = self.ack.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(ack) = ack {
                ack.resolve(status);
            }
        }
    }
}

/// Resolves batches from librdkafka's delivery reports.
struct DeliveryContext;

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Arc<Pending>;

    fn delivery(&self, result: &DeliveryResult<'_>, pending: Arc<Pending>) {
        if let Err((e, _)) = result {
            pending.worsen(delivery_status(e));
            pending
                .metrics
                .reject("kafka", format_args!("a message was not delivered: {e}"));
        }
        pending.done_one();
    }
}

/// Whether a failed delivery may succeed later (errored) or never will (rejected).
fn delivery_status(e: &KafkaError) -> AckStatus {
    match e.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidMessage
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::InvalidRecord,
        ) => AckStatus::Rejected,
        _ => AckStatus::Errored,
    }
}

/// Encodes flows into the frames the sink produces: for each flow, `u32` LE key length, key,
/// `u32` LE value length, value.
trait Frames: Send + Sync + 'static {
    fn frame(&self, flow: &Flow, out: &mut Vec<u8>);
}

struct Framed<F>(F);

impl<F: Frames> Encode for Framed<F> {
    fn encode(&self, flows: &[Flow], out: &mut Vec<u8>) {
        for f in flows {
            self.0.frame(f, out);
        }
    }
}

/// Appends a length-prefixed part whose bytes `write` appends.
fn part(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    write(out);
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// NetObserv JSON, no key (upstream flowlogs-pipeline's `encode: kafka`).
struct JsonFrames;

impl Frames for JsonFrames {
    fn frame(&self, flow: &Flow, out: &mut Vec<u8>) {
        part(out, |_| {});
        part(out, |o| json::encode(flow, o));
    }
}

/// One `pbflow.Record` per message, keyed as upstream's agent (`getFlowKey`): the two 16-byte
/// addresses (IPv4 mapped into IPv6), the smaller first, so both directions of a conversation
/// land on the same partition.
struct PbflowFrames;

/// Upstream agent's message key for a record.
pub fn agent_key(record: &pbflow::Record) -> [u8; 32] {
    let ip16 = |ip: Option<IpAddr>| match ip {
        Some(IpAddr::V4(v4)) => v4.to_ipv6_mapped().octets(),
        Some(IpAddr::V6(v6)) => v6.octets(),
        None => [0; 16],
    };
    let net = record.network.as_ref();
    let src = ip16(
        net.and_then(|n| n.src_addr.as_ref())
            .and_then(|a| a.to_ip()),
    );
    let dst = ip16(
        net.and_then(|n| n.dst_addr.as_ref())
            .and_then(|a| a.to_ip()),
    );
    let (a, b) = if dst < src { (dst, src) } else { (src, dst) };
    let mut key = [0; 32];
    key[..16].copy_from_slice(&a);
    key[16..].copy_from_slice(&b);
    key
}

impl Frames for PbflowFrames {
    fn frame(&self, flow: &Flow, out: &mut Vec<u8>) {
        let record = pbflow::from_flow(flow);
        part(out, |o| o.extend_from_slice(&agent_key(&record)));
        part(out, |o| {
            // Writing into a Vec cannot run out of room.
            let _ = record.encode(o);
        });
    }
}

/// Reads the frames of an encoded batch; `None` at the end or on a cut frame.
fn next_frame<'a>(data: &mut &'a [u8]) -> Option<(&'a [u8], &'a [u8])> {
    fn take<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
        let len = u32::from_le_bytes(data.get(..4)?.try_into().ok()?) as usize;
        let part = data.get(4..4 + len)?;
        *data = &data[4 + len..];
        Some(part)
    }
    let key = take(data)?;
    let value = take(data)?;
    Some((key, value))
}

/// The sink that produces encoded batches to a topic.
pub struct KafkaSink {
    producer: Arc<ThreadedProducer<DeliveryContext>>,
    topic: String,
}

impl KafkaSink {
    fn new(config: &ProducerConfig) -> Result<Self> {
        let producer: ThreadedProducer<DeliveryContext> = config
            .client_config()?
            .create_with_context(DeliveryContext)
            .map_err(|e| Error::Other {
                context: format!("kafka producer for {}", config.brokers),
                source: Box::new(e),
            })?;
        Ok(KafkaSink {
            producer: Arc::new(producer),
            topic: config.topic.clone(),
        })
    }

    fn healthcheck(&self, brokers: &str) -> Healthcheck {
        let producer = self.producer.clone();
        let topic = self.topic.clone();
        Healthcheck::new(brokers, async move {
            tokio::task::spawn_blocking(move || {
                producer
                    .client()
                    .fetch_metadata(Some(&topic), Duration::from_secs(10))
                    .map(|_| ())
            })
            .await??;
            Ok(())
        })
    }

    /// Hands every frame of `data` to librdkafka; waits while its queue is full.
    async fn produce(&self, data: &[u8], pending: &Arc<Pending>) {
        let mut rest = data;
        while let Some((key, value)) = next_frame(&mut rest) {
            pending.remaining.fetch_add(1, Ordering::AcqRel);
            let mut record =
                BaseRecord::with_opaque_to(&self.topic, pending.clone()).payload(value);
            if !key.is_empty() {
                record = record.key(key);
            }
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err((e, r)) => {
                        let p = r.delivery_opaque;
                        p.worsen(delivery_status(&e));
                        p.metrics
                            .reject("kafka", format_args!("a message was not produced: {e}"));
                        p.done_one();
                        break;
                    }
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Sink for KafkaSink {
    async fn run(self: Box<Self>, mut cx: SinkContext) -> netobserv_flow::Result<()> {
        while let Some(batch) = cx.input.recv_encoded().await {
            let pending = Arc::new(Pending {
                remaining: AtomicUsize::new(1),
                status: AtomicU8::new(AckStatus::Delivered as u8),
                ack: Mutex::new(Some(batch.ack)),
                flows: batch.flows,
                metrics: cx.metrics.clone(),
            });
            self.produce(&batch.data, &pending).await;
            pending.done_one();
        }
        let producer = self.producer.clone();
        let flushed = tokio::task::spawn_blocking(move || producer.flush(FLUSH_TIMEOUT)).await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(%e, topic = %self.topic, "kafka producer: not every message was acknowledged before stopping")
            }
            Err(e) => tracing::warn!(%e, "kafka producer: flush task failed"),
        }
        Ok(())
    }
}

/// A producer component: the sink, the workers' encoder, the health check.
fn component(config: &ProducerConfig, frames: impl Frames) -> Result<Component> {
    let sink = KafkaSink::new(config)?;
    let check = sink.healthcheck(&config.brokers);
    Ok(Component::encoded_sink(sink, Arc::new(Framed(frames))).with_healthcheck(check))
}

/// A sink producing NetObserv JSON, one flow per message, without key (`encode: kafka`).
pub fn json_sink(config: &ProducerConfig) -> Result<Component> {
    component(config, JsonFrames)
}

/// The agent's Kafka export: one protobuf `pbflow.Record` per message, keyed by the sorted
/// address pair as upstream's agent does. Add it to the agent's pipeline as its sink.
pub fn pbflow_sink(config: &ProducerConfig) -> Result<Component> {
    component(config, PbflowFrames)
}

/// The factory of `encode: kafka`.
pub(crate) fn build_encode(cx: &mut BuildContext<'_>) -> netobserv_flow::Result<Component> {
    let s: EncodeKafka = cx.required_settings_at("kafka")?;
    let config = ProducerConfig::from_flp(&s).map_err(|e| cx.config_error(e))?;
    json_sink(&config).map_err(|e| cx.config_error(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut out = Vec::new();
        part(&mut out, |o| o.extend_from_slice(b"k"));
        part(&mut out, |o| o.extend_from_slice(b"value"));
        part(&mut out, |_| {});
        part(&mut out, |o| o.extend_from_slice(b"v2"));
        out.extend_from_slice(&[9, 0]);
        let mut rest = &out[..];
        assert_eq!(next_frame(&mut rest), Some((&b"k"[..], &b"value"[..])));
        assert_eq!(next_frame(&mut rest), Some((&b""[..], &b"v2"[..])));
        assert_eq!(next_frame(&mut rest), None);
    }

    #[test]
    fn agent_key_is_the_same_both_ways() {
        let rec = |s: &str, d: &str| pbflow::Record {
            network: Some(pbflow::Network {
                src_addr: Some(pbflow::Ip::from_ip(s.parse().unwrap())),
                dst_addr: Some(pbflow::Ip::from_ip(d.parse().unwrap())),
                dscp: 0,
            }),
            ..Default::default()
        };
        let k = agent_key(&rec("10.0.0.2", "10.0.0.1"));
        assert_eq!(k, agent_key(&rec("10.0.0.1", "10.0.0.2")));
        let mut want = [0u8; 32];
        want[10] = 0xff;
        want[11] = 0xff;
        want[12..16].copy_from_slice(&[10, 0, 0, 1]);
        want[26] = 0xff;
        want[27] = 0xff;
        want[28..32].copy_from_slice(&[10, 0, 0, 2]);
        assert_eq!(k, want);
    }

    #[test]
    fn flp_settings_map_to_librdkafka() {
        let s = EncodeKafka {
            address: "b:9092".into(),
            topic: "t".into(),
            balancer: Some("murmur2".into()),
            write_timeout: Some(7),
            batch_size: Some(500),
            batch_bytes: Some(1 << 20),
            ..Default::default()
        };
        let c = ProducerConfig::from_flp(&s).unwrap();
        let cfg = c.client_config().unwrap();
        assert_eq!(cfg.get("partitioner"), Some("murmur2_random"));
        assert_eq!(cfg.get("request.timeout.ms"), Some("7000"));
        assert_eq!(cfg.get("batch.num.messages"), Some("500"));
        assert_eq!(cfg.get("batch.size"), Some("1048576"));
        let bad = EncodeKafka {
            balancer: Some("sticky".into()),
            ..s
        };
        let e = ProducerConfig::from_flp(&bad).unwrap_err();
        assert!(e.to_string().contains("unknown balancer"), "{e}");
    }
}
