//! The Kafka-API broker the tests talk to (tansu, started by `.ci/services.d/kafka.sh`):
//! its address, unique names, topic creation, producing messages with their delivery reports and
//! reading a consumer group's committed offsets. Included by path by the test binaries that need
//! it (`netobserv-sinks/tests/kafka.rs`, `netobserv-bins/tests/kafka_group.rs`).

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::{ClientConfig, ClientContext, Message};

/// How long a flush or an offset query may take before the helper fails.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The broker: `KAFKA_BROKERS`, by default `127.0.0.1:9092`.
pub fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// A topic or group name no other test (or earlier run against the same broker) uses.
pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{name}-{}-{nanos}", std::process::id())
}

/// Creates `name` with `partitions` partitions on [`brokers`].
pub async fn create_topic(name: &str, partitions: i32) -> Result<()> {
    create_topic_on(&brokers(), name, partitions).await
}

/// Creates `name` with `partitions` partitions on the broker at `address`.
pub async fn create_topic_on(address: &str, name: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", address)
        .create()?;
    let res = admin
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .with_context(|| {
            format!("kafka broker at {address} unreachable (start it: .ci/services.d/kafka.sh)")
        })?;
    for r in res {
        if let Err((t, e)) = r {
            bail!("create topic {t} on {address}: {e}");
        }
    }
    Ok(())
}

/// Delivery reports of a producer whose messages carry their index (`0..`) as opaque:
/// where each landed, `index -> (partition, offset)`, and the failures.
#[derive(Clone, Default)]
pub struct Deliveries {
    placed: Arc<Mutex<HashMap<u64, (i32, i64)>>>,
    failed: Arc<Mutex<Vec<String>>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<u64>;

    fn delivery(&self, result: &DeliveryResult<'_>, index: Box<u64>) {
        match result {
            Ok(m) => {
                self.placed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(*index, (m.partition(), m.offset()));
            }
            Err((e, _)) => self
                .failed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(format!("message {index}: {e}")),
        }
    }
}

impl Deliveries {
    /// A producer to the broker at `address` reporting here, with extra librdkafka `properties`.
    pub fn producer(
        &self,
        address: &str,
        properties: &[(&str, &str)],
    ) -> Result<BaseProducer<Deliveries>> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", address);
        for (k, v) in properties {
            config.set(*k, *v);
        }
        config
            .create_with_context(self.clone())
            .with_context(|| format!("kafka producer to {address}"))
    }

    /// Where messages `0..n` to `topic` landed, once the producer was flushed; fails naming the
    /// topic when one failed or has no report.
    pub fn all(&self, topic: &str, n: u64) -> Result<HashMap<u64, (i32, i64)>> {
        let failed = self
            .failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        ensure!(failed.is_empty(), "produce to topic {topic}: {failed:?}");
        let placed = self
            .placed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        ensure!(
            placed.len() as u64 == n && (0..n).all(|i| placed.contains_key(&i)),
            "produce to topic {topic}: {n} messages sent, {} delivery reports",
            placed.len()
        );
        Ok(placed)
    }
}

/// Produces `messages` to `topic` on the broker at `address`, each to the partition given (or
/// the one the partitioner picks), and waits for every delivery report: where each message
/// landed, `(partition, offset)`, in the order given.
pub fn produce_to(
    address: &str,
    topic: &str,
    messages: &[(Option<i32>, Vec<u8>)],
) -> Result<Vec<(i32, i64)>> {
    let deliveries = Deliveries::default();
    let producer = deliveries.producer(address, &[])?;
    for (index, (partition, payload)) in (0u64..).zip(messages) {
        let mut record =
            BaseRecord::<(), _, _>::with_opaque_to(topic, Box::new(index)).payload(payload);
        if let Some(p) = partition {
            record = record.partition(*p);
        }
        if let Err((e, _)) = producer.send(record) {
            bail!("produce message {index} to topic {topic} at {address}: {e}");
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(TIMEOUT)
        .with_context(|| format!("flush to topic {topic} at {address}"))?;
    let placed = deliveries.all(topic, messages.len() as u64)?;
    Ok((0..messages.len() as u64).map(|i| placed[&i]).collect())
}

/// [`produce_to`] on [`brokers`].
pub fn produce(topic: &str, messages: &[(Option<i32>, Vec<u8>)]) -> Result<Vec<(i32, i64)>> {
    produce_to(&brokers(), topic, messages)
}

/// A consumer group's committed offsets of a topic, read over one connection kept open (a read
/// right before a kill sees what the broker holds then).
pub struct Group {
    consumer: BaseConsumer,
    topic: String,
    group: String,
    partitions: i32,
}

impl Group {
    /// Group `group` on `topic`'s partitions `0..partitions`, at [`brokers`].
    pub fn new(topic: &str, group: &str, partitions: i32) -> Result<Group> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers())
            .set("group.id", group)
            .create()
            .with_context(|| format!("kafka consumer of group {group} at {}", brokers()))?;
        Ok(Group {
            consumer,
            topic: topic.into(),
            group: group.into(),
            partitions,
        })
    }

    /// The committed offsets of the partitions that have one.
    pub fn committed(&self) -> Result<BTreeMap<i32, i64>> {
        let mut tpl = TopicPartitionList::new();
        for p in 0..self.partitions {
            tpl.add_partition(&self.topic, p);
        }
        let got = self
            .consumer
            .committed_offsets(tpl, TIMEOUT)
            .with_context(|| {
                format!(
                    "committed offsets of group {} on topic {}",
                    self.group, self.topic
                )
            })?;
        Ok(got
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect())
    }

    /// Waits (blocking the thread) until the committed offsets are `want`; fails after `limit`,
    /// naming what was committed last.
    pub fn wait_committed(&self, want: &BTreeMap<i32, i64>, limit: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            let last = self.committed()?;
            if &last == want {
                eprintln!(
                    "{:>6.1}s for group {} to commit {want:?}",
                    start.elapsed().as_secs_f64(),
                    self.group
                );
                return Ok(());
            }
            if start.elapsed() > limit {
                bail!(
                    "group {} on topic {}: committed {last:?} after {limit:?}, want {want:?}",
                    self.group,
                    self.topic
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
