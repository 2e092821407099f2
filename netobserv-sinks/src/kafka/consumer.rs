//! `ingest: kafka`: a consumer-group member whose offsets follow the acknowledgements.
//!
//! The consumer runs on its own thread. It reads up to `batchMaxLen` messages or for
//! `batchReadTimeout`, and sends one raw batch per partition that the pipeline's workers decode
//! (json or protobuf, one flow per message). Each batch's acknowledgement marks its offset range
//! done; per partition, the offset committed is the end of the longest run of done ranges from the
//! last commit, so a commit never passes a flow that some sink did not deliver (at-least-once).
//! Malformed messages are counted (`ingest_errors`), logged and skipped: their batch still
//! resolves, so the partition is committed past them. A batch some sink could not deliver
//! (errored) is read again from its first offset after a pause.
//!
//! On a rebalance, the partitions taken away wait (a few seconds at most) for their batches in
//! flight, commit what was delivered, and are forgotten: acknowledgements that come later are
//! ignored and nothing more is committed for them, and messages of theirs read but not yet handed
//! to the pipeline are dropped (their next owner reads them from the commit). What the next owner
//! processes again is therefore only the batches not committed when the wait ends (the log line
//! says how many: none when every batch was delivered in time); after a crash, what the member
//! read past its last commit.
//!
//! Settings upstream's config has no key for (`session.timeout.ms`, `heartbeat.interval.ms`,
//! ...) are read from the environment variable [`PROPERTIES_ENV`].
//! A broker that cannot be reached at start is retried with backoff, logged on every attempt.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netobserv_flow::codec::{DecodeError, json, pbflow};
use netobserv_flow::config::{DecoderType, IngestKafka};
use netobserv_flow::flow::Flow;
use netobserv_flow::pipeline::{
    Ack, AckStatus, BuildContext, Component, Decode, Output, RawBatch, Shutdown, Source,
    SourceContext, StageMetrics,
};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::client::{Backoff, apply_security};
use crate::{Error, Result};

/// The most a partition's next chunk allocates up front.
const MAX_CHUNK_PREALLOC: usize = 4 << 20;

/// How long a revoked partition waits for its in-flight batches before committing.
const REVOKE_WAIT: Duration = Duration::from_secs(5);
/// How long a stopping source waits for its in-flight batches before its last commit.
const STOP_WAIT: Duration = Duration::from_secs(30);
/// Pause before reading an errored range again.
const REDELIVERY_PAUSE: Duration = Duration::from_secs(1);

/// Settings of the consumer, from upstream's `ingest: kafka`.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Bootstrap brokers, comma separated.
    pub brokers: String,
    /// The topic.
    pub topic: String,
    /// The consumer group.
    pub group: String,
    /// librdkafka's `partition.assignment.strategy`.
    pub assignment: String,
    /// `earliest` (upstream's `FirstOffset`, the default) or `latest` (`LastOffset`): where a
    /// group without committed offsets starts.
    pub start: &'static str,
    /// How long to wait filling a batch.
    pub batch_read_timeout: Duration,
    /// Messages per batch at most.
    pub batch_max_len: usize,
    /// How often delivered offsets are committed.
    pub commit_interval: Duration,
    /// Message format.
    pub decoder: DecoderType,
    /// librdkafka settings for TLS and SASL (already applied).
    security: ClientConfig,
    /// Further librdkafka settings, from [`PROPERTIES_ENV`].
    pub properties: Vec<(String, String)>,
}

/// The environment variable holding further librdkafka settings for every `ingest: kafka`
/// consumer, `key=value` pairs separated by commas (`session.timeout.ms=10000,...`): for what
/// upstream's config has no key for. Settings the commit logic relies on are refused.
pub const PROPERTIES_ENV: &str = "FLP_KAFKA_CONSUMER_PROPERTIES";

/// Keys set by the consumer itself.
const OWN_KEYS: [&str; 6] = [
    "bootstrap.servers",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
    "partition.assignment.strategy",
];

/// Reads `key=value,key=value` (see [`PROPERTIES_ENV`]).
fn parse_properties(text: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for kv in text.split(',').map(str::trim).filter(|kv| !kv.is_empty()) {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(Error::Settings(format!(
                "{PROPERTIES_ENV}: {kv:?} is not key=value"
            )));
        };
        let k = k.trim();
        if OWN_KEYS.contains(&k) {
            return Err(Error::Settings(format!(
                "{PROPERTIES_ENV}: {k} is set by ingest kafka itself (the config's brokers, groupid, startOffset, groupBalancers; commits follow the acknowledgements)"
            )));
        }
        out.push((k.to_string(), v.trim().to_string()));
    }
    Ok(out)
}

impl ConsumerConfig {
    /// Reads upstream's settings (`brokers`, `topic`, `groupid`, `groupBalancers`,
    /// `startOffset`, `batchReadTimeout` ms, `batchMaxLen`, `commitInterval` ms, `decoder`,
    /// `tls`, `sasl`; `pullQueueCapacity` and `pullMaxBytes` are accepted and left to librdkafka).
    pub fn from_flp(s: &IngestKafka) -> Result<Self> {
        if s.brokers.is_empty() {
            return Err(Error::Settings("ingest kafka: brokers is required".into()));
        }
        if s.topic.is_empty() {
            return Err(Error::Settings("ingest kafka: topic is required".into()));
        }
        let mut strategies = Vec::new();
        for b in s.group_balancers.iter().flatten() {
            match b.as_str() {
                "range" => strategies.push("range"),
                "roundRobin" => strategies.push("roundrobin"),
                // librdkafka has no rack-affinity assignor: the others listed are used.
                "rackAffinity" => {}
                other => {
                    return Err(Error::Settings(format!(
                        "ingest kafka: unknown group balancer {other:?} (expected one of: range, roundRobin, rackAffinity)"
                    )));
                }
            }
        }
        if strategies.is_empty() {
            strategies = vec!["range", "roundrobin"];
        }
        let start = match s.start_offset.as_deref().unwrap_or("FirstOffset") {
            "" | "FirstOffset" => "earliest",
            "LastOffset" => "latest",
            other => {
                return Err(Error::Settings(format!(
                    "ingest kafka: unknown startOffset {other:?} (expected FirstOffset or LastOffset)"
                )));
            }
        };
        let millis = |v: Option<i64>, default: u64| {
            Duration::from_millis(v.filter(|v| *v > 0).map_or(default, |v| v as u64))
        };
        let mut security = ClientConfig::new();
        apply_security(&mut security, s.tls.as_ref(), s.sasl.as_ref())?;
        let properties = match std::env::var(PROPERTIES_ENV) {
            Ok(text) => parse_properties(&text)?,
            Err(_) => Vec::new(),
        };
        Ok(ConsumerConfig {
            brokers: s.brokers.join(","),
            topic: s.topic.clone(),
            group: if s.groupid.is_empty() {
                "flowlogs-pipeline".into()
            } else {
                s.groupid.clone()
            },
            assignment: strategies.join(","),
            start,
            batch_read_timeout: millis(s.batch_read_timeout, 1000),
            batch_max_len: s.batch_max_len.filter(|n| *n > 0).unwrap_or(500),
            commit_interval: millis(s.commit_interval, 500),
            decoder: s.decoder.as_ref().map(|d| d.r#type).unwrap_or_default(),
            security,
            properties,
        })
    }

    fn client_config(&self) -> ClientConfig {
        let mut cfg = self.security.clone();
        cfg.set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", self.start)
            .set("partition.assignment.strategy", &self.assignment);
        for (k, v) in &self.properties {
            cfg.set(k, v);
        }
        cfg
    }
}

/// One partition's batches in flight, by first offset.
#[derive(Default)]
struct PartitionState {
    /// `first offset -> (end offset, outcome once known)`.
    ranges: BTreeMap<i64, (i64, Option<AckStatus>)>,
    /// The offset to commit next (the first not done), once one is known.
    commit: Option<i64>,
    /// The offset last committed.
    committed: Option<i64>,
    /// Bumped when the partition is revoked or read again: late acknowledgements of an older
    /// generation are ignored.
    generation: u64,
    /// An errored range to read again.
    redeliver: Option<i64>,
}

/// The source's view of its partitions, shared with the acknowledgement callbacks and the
/// rebalance callback.
#[derive(Default)]
struct Offsets {
    parts: HashMap<i32, PartitionState>,
}

impl Offsets {
    fn start(&mut self, p: i32, first: i64, end: i64) -> u64 {
        let st = self.parts.entry(p).or_default();
        st.ranges.insert(first, (end, None));
        if st.commit.is_none() {
            st.commit = Some(first);
        }
        st.generation
    }

    fn finish(&mut self, p: i32, generation: u64, first: i64, status: AckStatus) {
        let Some(st) = self.parts.get_mut(&p) else {
            return;
        };
        if st.generation != generation {
            return;
        }
        if let Some(r) = st.ranges.get_mut(&first) {
            r.1 = Some(status);
        }
        // Advance over the done ranges at the front.
        while let Some((&f, &(end, status))) = st.ranges.first_key_value() {
            match status {
                Some(AckStatus::Delivered | AckStatus::Rejected) => {
                    st.ranges.remove(&f);
                    st.commit = Some(end);
                }
                Some(AckStatus::Errored) => {
                    if st.redeliver.is_none() {
                        st.redeliver = Some(f);
                    }
                    break;
                }
                None => break,
            }
        }
    }

    /// Batches not yet committed past (pending, errored, or delivered behind one of those).
    fn in_flight(&self, parts: Option<&[i32]>) -> usize {
        self.parts
            .iter()
            .filter(|(p, _)| parts.is_none_or(|ps| ps.contains(p)))
            .map(|(_, s)| s.ranges.len())
            .sum()
    }

    /// Batches whose outcome is not known yet (an errored batch is known: it will not resolve).
    fn pending(&self, parts: Option<&[i32]>) -> usize {
        self.parts
            .iter()
            .filter(|(p, _)| parts.is_none_or(|ps| ps.contains(p)))
            .map(|(_, s)| s.ranges.values().filter(|(_, o)| o.is_none()).count())
            .sum()
    }

    /// Forgets a range whose batch never reached the pipeline (the source stopped while sending
    /// it): its dropped acknowledgement must not hold the partition as errored.
    fn abandon(&mut self, p: i32, generation: u64, first: i64) {
        let Some(st) = self.parts.get_mut(&p) else {
            return;
        };
        if st.generation != generation {
            return;
        }
        st.ranges.remove(&first);
        if st.redeliver == Some(first) {
            st.redeliver = None;
        }
    }

    /// Forgets revoked partitions: their state starts over in a new generation, so that late
    /// acknowledgements are ignored and nothing is committed for them until they are read again.
    fn revoke(&mut self, parts: &[i32]) {
        for p in parts {
            if let Some(st) = self.parts.get_mut(p) {
                *st = PartitionState {
                    generation: st.generation + 1,
                    ..Default::default()
                };
            }
        }
    }

    /// The offsets to commit (changed since the last commit), marked as committed.
    fn take_commit(&mut self, topic: &str, parts: Option<&[i32]>) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for (p, st) in &mut self.parts {
            if parts.is_some_and(|ps| !ps.contains(p)) {
                continue;
            }
            if let Some(c) = st.commit
                && st.committed != Some(c)
            {
                let _ = tpl.add_partition_offset(topic, *p, Offset::Offset(c));
                st.committed = Some(c);
            }
        }
        tpl
    }
}

type SharedOffsets = Arc<Mutex<Offsets>>;

fn lock(o: &SharedOffsets) -> std::sync::MutexGuard<'_, Offsets> {
    o.lock().unwrap_or_else(|p| p.into_inner())
}

/// Commits what is delivered on the partitions a rebalance takes away.
struct GroupContext {
    offsets: SharedOffsets,
    topic: String,
    /// Partitions revoked since the read loop last looked (set inside `poll`, on its thread).
    revoked: Mutex<Vec<i32>>,
    /// Whether `revoked` holds any: checked after every poll.
    any_revoked: AtomicBool,
}

impl GroupContext {
    /// The partitions revoked since the last call.
    fn take_revoked(&self) -> Option<Vec<i32>> {
        if !self.any_revoked.swap(false, Ordering::AcqRel) {
            return None;
        }
        Some(std::mem::take(
            &mut *self.revoked.lock().unwrap_or_else(|p| p.into_inner()),
        ))
    }
}

impl ClientContext for GroupContext {
    /// librdkafka's own log lines, through `tracing` (the `log` crate reaches no subscriber here).
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(facility = fac, topic = %self.topic, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(facility = fac, topic = %self.topic, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(facility = fac, topic = %self.topic, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(facility = fac, topic = %self.topic, "librdkafka: {message}")
            }
        }
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                let deadline = Instant::now() + REVOKE_WAIT;
                while lock(&self.offsets).pending(Some(&parts)) > 0 && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let mut offsets = lock(&self.offsets);
                let not_committed = offsets.in_flight(Some(&parts));
                let commit = offsets.take_commit(&self.topic, Some(&parts));
                offsets.revoke(&parts);
                drop(offsets);
                self.revoked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&parts);
                self.any_revoked.store(true, Ordering::Release);
                // Still a member of the old generation: the broker accepts this commit.
                if commit.count() > 0
                    && let Err(e) = consumer.commit(&commit, CommitMode::Sync)
                {
                    tracing::warn!(%e, "kafka: commit on rebalance failed");
                }
                tracing::info!(
                    topic = %self.topic,
                    partitions = ?parts,
                    not_committed_batches = not_committed,
                    "kafka: partitions revoked, delivered offsets committed"
                );
            }
            Rebalance::Assign(tpl) => {
                let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(topic = %self.topic, partitions = ?parts, "kafka: partitions assigned");
            }
            Rebalance::Error(e) => tracing::warn!(%e, "kafka: rebalance error"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        if let Err(e) = result {
            tracing::warn!(%e, topic = %self.topic, "kafka: offset commit failed");
        }
        for e in offsets.elements() {
            if let Err(error) = e.error() {
                tracing::warn!(%error, topic = %self.topic, partition = e.partition(), offset = ?e.offset(), "kafka: offset commit failed");
            }
        }
    }
}

/// Decodes the framed messages of one partition: per message `u64` LE offset, `u32` LE length,
/// payload. The raw batch's offset is the partition.
struct MessageDecoder {
    format: DecoderType,
    metrics: StageMetrics,
    topic: Arc<str>,
}

impl MessageDecoder {
    fn reject(&self, partition: u64, offset: u64, e: &DecodeError) {
        self.metrics.reject_decode(
            &format!(
                "kafka topic {} partition {partition} offset {offset}",
                self.topic
            ),
            e,
        );
    }
}

impl Decode for MessageDecoder {
    fn decode(&self, data: &[u8], partition: u64, out: &mut Vec<Flow>) -> usize {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut rest = data;
        let mut rejected = 0;
        while rest.len() >= 12 {
            let offset = u64::from_le_bytes(rest[..8].try_into().unwrap_or_default());
            let len = u32::from_le_bytes(rest[8..12].try_into().unwrap_or_default()) as usize;
            let Some(payload) = rest.get(12..12 + len) else {
                break;
            };
            rest = &rest[12 + len..];
            let result = match self.format {
                DecoderType::Json => {
                    out.push(Flow::default());
                    match out.last_mut().map(|slot| json::decode_into(payload, slot)) {
                        Some(Err(e)) => {
                            out.pop();
                            Err(e)
                        }
                        _ => Ok(()),
                    }
                }
                DecoderType::Protobuf => pbflow::decode_record(payload, now).map(|f| out.push(f)),
            };
            if let Err(e) = result {
                rejected += 1;
                self.reject(partition, offset, &e);
            }
        }
        rejected
    }
}

/// The `ingest: kafka` source.
pub struct KafkaSource {
    config: ConsumerConfig,
}

impl KafkaSource {
    /// A source reading `config`'s topic.
    pub fn new(config: ConsumerConfig) -> Self {
        KafkaSource { config }
    }
}

#[async_trait::async_trait]
impl Source for KafkaSource {
    async fn run(self: Box<Self>, cx: SourceContext) -> netobserv_flow::Result<()> {
        let handle = tokio::runtime::Handle::current();
        let stage = cx.metrics.stage().to_string();
        let config = self.config;
        let thread = std::thread::Builder::new()
            .name(format!("kafka {}", config.topic))
            .spawn(move || consume(config, cx, handle))
            .map_err(|e| netobserv_flow::Error::io("kafka consumer thread", e))?;
        let joined = tokio::task::spawn_blocking(move || thread.join()).await;
        match joined {
            Ok(Ok(r)) => r.map_err(|e| netobserv_flow::Error::stage(&stage, e)),
            _ => Err(netobserv_flow::Error::stage(
                &stage,
                Error::Settings("the kafka consumer thread panicked".into()),
            )),
        }
    }
}

/// Sleeps up to `d`, returning early (`true`) on shutdown.
fn sleep_or_stop(d: Duration, shutdown: &Shutdown) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if shutdown.is_triggered() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50).min(end - Instant::now()));
    }
    shutdown.is_triggered()
}

/// A partition's messages read in this round.
struct Chunk {
    data: Vec<u8>,
    first: i64,
    last: i64,
}

fn consume(config: ConsumerConfig, cx: SourceContext, rt: tokio::runtime::Handle) -> Result<()> {
    let SourceContext {
        out,
        shutdown,
        metrics,
    } = cx;
    let offsets: SharedOffsets = Arc::default();
    let consumer: BaseConsumer<GroupContext> = config
        .client_config()
        .create_with_context(GroupContext {
            offsets: offsets.clone(),
            topic: config.topic.clone(),
            revoked: Mutex::default(),
            any_revoked: AtomicBool::new(false),
        })
        .map_err(|e| Error::Other {
            context: format!("kafka consumer for {}", config.brokers),
            source: Box::new(e),
        })?;
    // A broker down at start is waited for, not a failure.
    let mut backoff = Backoff::new();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let reason = match consumer.fetch_metadata(Some(&config.topic), Duration::from_secs(5)) {
            Ok(md) => match md.topics().iter().find(|t| t.name() == config.topic) {
                Some(t) if t.error().is_none() && !t.partitions().is_empty() => break,
                Some(t) => format!("topic {:?} not available: {:?}", config.topic, t.error()),
                None => format!("topic {:?} not in the metadata", config.topic),
            },
            Err(e) => e.to_string(),
        };
        let delay = backoff.next_delay();
        tracing::warn!(
            brokers = %config.brokers,
            topic = %config.topic,
            attempt,
            retry_in_ms = delay.as_millis() as u64,
            error = %reason,
            "kafka broker unreachable, retrying"
        );
        if sleep_or_stop(delay, &shutdown) {
            return Ok(());
        }
    }
    if attempt > 1 {
        tracing::info!(brokers = %config.brokers, topic = %config.topic, attempt, "kafka broker reachable");
    }
    consumer
        .subscribe(&[&config.topic])
        .map_err(|e| Error::Other {
            context: format!("kafka subscribe to {}", config.topic),
            source: Box::new(e),
        })?;
    let decoder: Arc<dyn Decode> = Arc::new(MessageDecoder {
        format: config.decoder,
        metrics: metrics.clone(),
        topic: Arc::from(config.topic.as_str()),
    });
    let mut last_commit = Instant::now();
    let mut last_poll_error: Option<Instant> = None;
    let mut chunks: BTreeMap<i32, Chunk> = BTreeMap::new();
    // Each partition's last chunk size: the next one is allocated at once instead of growing.
    let mut chunk_sizes: HashMap<i32, usize> = HashMap::new();
    'run: while !shutdown.is_triggered() {
        let started = Instant::now();
        let mut n = 0;
        while n < config.batch_max_len {
            let left = config.batch_read_timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            let polled = consumer.poll(left.min(Duration::from_millis(100)));
            // A rebalance runs inside `poll`: what was read from the partitions it took away is
            // their next owner's to read (from the commit), not ours to send.
            if let Some(parts) = consumer.context().take_revoked() {
                let dropped: usize = parts
                    .iter()
                    .filter_map(|p| chunks.remove(p))
                    .map(|c| (c.last - c.first + 1) as usize)
                    .sum();
                if dropped > 0 {
                    tracing::debug!(topic = %config.topic, partitions = ?parts, dropped, "kafka: unsent messages of revoked partitions dropped");
                }
            }
            match polled {
                None => {
                    if n > 0 || shutdown.is_triggered() {
                        break;
                    }
                }
                Some(Err(e)) => {
                    if last_poll_error.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                        tracing::warn!(%e, brokers = %config.brokers, topic = %config.topic, "kafka consumer error");
                        last_poll_error = Some(Instant::now());
                    }
                    break;
                }
                Some(Ok(m)) => {
                    n += 1;
                    let payload = m.payload().unwrap_or_default();
                    let c = chunks.entry(m.partition()).or_insert_with(|| Chunk {
                        // The last round's size (capped: a queued chunk keeps its capacity
                        // until it is decoded).
                        data: Vec::with_capacity(
                            chunk_sizes
                                .get(&m.partition())
                                .copied()
                                .unwrap_or(0)
                                .min(MAX_CHUNK_PREALLOC),
                        ),
                        first: m.offset(),
                        last: m.offset(),
                    });
                    c.last = m.offset();
                    c.data.extend_from_slice(&(m.offset() as u64).to_le_bytes());
                    c.data
                        .extend_from_slice(&(payload.len() as u32).to_le_bytes());
                    c.data.extend_from_slice(payload);
                }
            }
        }
        for (p, c) in std::mem::take(&mut chunks) {
            chunk_sizes.insert(p, c.data.len());
            if shutdown.is_triggered() {
                // Stopping: what is read but not sent stays uncommitted, for the next run; it
                // is not handed to a draining pipeline (nor counted there as lost).
                continue;
            }
            let generation = lock(&offsets).start(p, c.first, c.last + 1);
            let o = offsets.clone();
            let first = c.first;
            let ack = Ack::new(move |status| lock(&o).finish(p, generation, first, status));
            let raw = RawBatch::new(c.data, p as u64, decoder.clone()).with_ack(ack);
            if !send(&rt, &out, raw, &shutdown) {
                lock(&offsets).abandon(p, generation, first);
                break 'run;
            }
        }
        redeliver(&consumer, &offsets, &config.topic, &shutdown);
        if last_commit.elapsed() >= config.commit_interval {
            commit(&consumer, &offsets, &config.topic, CommitMode::Async);
            last_commit = Instant::now();
        }
    }
    // Let the pipeline drain, then commit what it delivered.
    drop(out);
    let deadline = Instant::now() + STOP_WAIT;
    while lock(&offsets).pending(None) > 0 && Instant::now() < deadline {
        // Serves the group (a rebalance commits and forgets its partitions); what it reads is
        // not committed, so it is read again by whoever owns the partition next.
        let _ = consumer.poll(Duration::from_millis(0));
        std::thread::sleep(Duration::from_millis(20));
    }
    commit(&consumer, &offsets, &config.topic, CommitMode::Sync);
    let left = lock(&offsets).in_flight(None);
    if left > 0 {
        tracing::warn!(batches = left, topic = %config.topic, "kafka: stopping with batches not delivered; they will be read again");
    }
    consumer.unsubscribe();
    Ok(())
}

/// Sends a batch, giving up on shutdown; `false` when the pipeline is gone.
/// Sends `raw` downstream, waiting while the pipeline is full; gives up only on an immediate stop
/// (a draining pipeline still takes it, so a graceful stop does not turn it into a loss).
fn send(rt: &tokio::runtime::Handle, out: &Output, raw: RawBatch, shutdown: &Shutdown) -> bool {
    let mut stop = shutdown.clone();
    rt.block_on(async {
        tokio::select! {
            r = out.send_raw(raw) => r.is_ok(),
            _ = stop.wait_immediate() => false,
        }
    })
}

fn commit(
    consumer: &BaseConsumer<GroupContext>,
    offsets: &SharedOffsets,
    topic: &str,
    mode: CommitMode,
) {
    let tpl = lock(offsets).take_commit(topic, None);
    if tpl.count() > 0
        && let Err(e) = consumer.commit(&tpl, mode)
    {
        tracing::warn!(%e, topic, "kafka: offset commit failed");
    }
}

/// Reads again the partitions whose first batch in flight was not delivered.
fn redeliver(
    consumer: &BaseConsumer<GroupContext>,
    offsets: &SharedOffsets,
    topic: &str,
    shutdown: &Shutdown,
) {
    let todo: Vec<(i32, i64)> = {
        let mut o = lock(offsets);
        o.parts
            .iter_mut()
            .filter_map(|(p, st)| {
                let from = st.redeliver.take()?;
                st.generation += 1;
                st.ranges.clear();
                st.commit = Some(from);
                Some((*p, from))
            })
            .collect()
    };
    if todo.is_empty() {
        return;
    }
    tracing::warn!(topic, partitions = ?todo, "kafka: a batch was not delivered; reading it again");
    sleep_or_stop(REDELIVERY_PAUSE, shutdown);
    for (p, from) in todo {
        if let Err(e) = consumer.seek(topic, p, Offset::Offset(from), Duration::from_secs(5)) {
            tracing::warn!(%e, topic, partition = p, offset = from, "kafka: seek to re-read failed");
        }
    }
}

/// The factory of `ingest: kafka`.
pub(crate) fn build_ingest(cx: &mut BuildContext<'_>) -> netobserv_flow::Result<Component> {
    let s: IngestKafka = cx.required_settings_at("kafka")?;
    let config = ConsumerConfig::from_flp(&s).map_err(|e| cx.config_error(e))?;
    Ok(Component::source(KafkaSource::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_stop_at_the_first_range_not_delivered() {
        let mut o = Offsets::default();
        let g = o.start(0, 0, 10);
        o.start(0, 10, 20);
        o.start(0, 20, 30);
        o.finish(0, g, 10, AckStatus::Delivered);
        assert_eq!(o.parts[&0].commit, Some(0));
        o.finish(0, g, 0, AckStatus::Rejected);
        assert_eq!(o.parts[&0].commit, Some(20));
        let tpl = o.take_commit("t", None);
        assert_eq!(tpl.count(), 1);
        assert_eq!(o.take_commit("t", None).count(), 0, "nothing new to commit");
        o.finish(0, g, 20, AckStatus::Errored);
        assert_eq!(o.parts[&0].commit, Some(20));
        assert_eq!(o.parts[&0].redeliver, Some(20));
        assert_eq!(o.in_flight(None), 1);
        assert_eq!(o.pending(None), 0, "an errored batch is not waited for");
    }

    #[test]
    fn a_revoked_partition_commits_nothing_more_and_ignores_late_acknowledgements() {
        let mut o = Offsets::default();
        let g0 = o.start(0, 0, 10);
        let g1 = o.start(1, 0, 10);
        o.start(1, 10, 20);
        o.finish(1, g1, 0, AckStatus::Delivered);
        assert_eq!(o.pending(Some(&[1])), 1);
        let tpl = o.take_commit("t", Some(&[1]));
        assert_eq!(
            tpl.find_partition("t", 1).map(|e| e.offset()),
            Some(Offset::Offset(10))
        );
        o.revoke(&[1]);
        // The batch still in flight when the partition went away is delivered late.
        o.finish(1, g1, 10, AckStatus::Delivered);
        assert_eq!(o.parts[&1].commit, None);
        assert_eq!(o.in_flight(Some(&[1])), 0);
        // Partition 0 is still ours and commits as before.
        o.finish(0, g0, 0, AckStatus::Delivered);
        let tpl = o.take_commit("t", None);
        assert_eq!(tpl.count(), 1);
        assert!(tpl.find_partition("t", 1).is_none());
        // Read again after a new assignment: it starts over from what the group committed.
        let g1b = o.start(1, 10, 15);
        assert_ne!(g1b, g1);
        o.finish(1, g1b, 10, AckStatus::Delivered);
        assert_eq!(o.parts[&1].commit, Some(15));
    }

    #[test]
    fn a_batch_never_sent_does_not_hold_its_partition() {
        let mut o = Offsets::default();
        let g = o.start(0, 0, 10);
        o.start(0, 10, 20);
        // The second was dropped unsent: its acknowledgement counts as errored.
        o.finish(0, g, 10, AckStatus::Errored);
        o.abandon(0, g, 10);
        o.finish(0, g, 0, AckStatus::Delivered);
        assert_eq!(o.parts[&0].commit, Some(10));
        assert_eq!(o.parts[&0].redeliver, None);
        assert_eq!(o.in_flight(None), 0);
    }

    #[test]
    fn late_acknowledgements_of_an_old_generation_are_ignored() {
        let mut o = Offsets::default();
        let g = o.start(1, 0, 5);
        o.parts.get_mut(&1).unwrap().generation += 1;
        o.finish(1, g, 0, AckStatus::Delivered);
        assert_eq!(o.parts[&1].commit, Some(0));
    }

    #[test]
    fn malformed_messages_are_counted_and_skipped() {
        let metrics = netobserv_flow::pipeline::Metrics::default().stage("k");
        let d = MessageDecoder {
            format: DecoderType::Json,
            metrics: metrics.clone(),
            topic: Arc::from("t"),
        };
        let mut data = Vec::new();
        for (off, msg) in [
            (7u64, &b"{\"Bytes\":1}"[..]),
            (8, b"not json"),
            (9, b"{\"Bytes\":2}"),
        ] {
            data.extend_from_slice(&off.to_le_bytes());
            data.extend_from_slice(&(msg.len() as u32).to_le_bytes());
            data.extend_from_slice(msg);
        }
        let mut out = Vec::new();
        assert_eq!(d.decode(&data, 0, &mut out), 1);
        assert_eq!(out.len(), 2);
        assert_eq!(metrics.errors("json"), 1);
    }

    #[test]
    fn flp_settings() {
        let s: IngestKafka = serde_json::from_value(serde_json::json!({
            "brokers": ["a:9092", "b:9092"], "topic": "t", "groupid": "g",
            "groupBalancers": ["roundRobin", "rackAffinity"], "startOffset": "LastOffset",
            "decoder": {"type": "protobuf"}
        }))
        .unwrap();
        let c = ConsumerConfig::from_flp(&s).unwrap();
        let cfg = c.client_config();
        assert_eq!(cfg.get("bootstrap.servers"), Some("a:9092,b:9092"));
        assert_eq!(cfg.get("partition.assignment.strategy"), Some("roundrobin"));
        assert_eq!(cfg.get("auto.offset.reset"), Some("latest"));
        assert_eq!(c.decoder, DecoderType::Protobuf);
        let bad = IngestKafka {
            start_offset: Some("Middle".into()),
            ..s
        };
        assert!(ConsumerConfig::from_flp(&bad).is_err());
    }

    #[test]
    fn further_properties_from_the_environment() {
        let p =
            parse_properties(" session.timeout.ms=6000, heartbeat.interval.ms = 1000,").unwrap();
        assert_eq!(
            p,
            [
                ("session.timeout.ms".to_string(), "6000".to_string()),
                ("heartbeat.interval.ms".to_string(), "1000".to_string())
            ]
        );
        let e = parse_properties("enable.auto.commit=true").unwrap_err();
        assert!(e.to_string().contains("set by ingest kafka itself"), "{e}");
        let e = parse_properties("session.timeout.ms").unwrap_err();
        assert!(e.to_string().contains("is not key=value"), "{e}");
    }
}
