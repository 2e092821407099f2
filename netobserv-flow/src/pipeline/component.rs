//! The component contracts: [`Source`], [`Transform`], [`Stateful`] and [`Sink`], what each is
//! given to run with, and the [`Input`] and [`Output`] ends that connect them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::ack::{Ack, AckStatus};
use super::batch::{DecodeCount, Encode, EncodedBatch, FlowBatch, RawBatch};
use super::metrics::StageMetrics;
use super::queue::{Item, QueueRx, QueueTx};
use super::run::Role;
use super::shutdown::Shutdown;
use super::track::Tracker;
use crate::Result;
use crate::error::BoxError;
use crate::flow::Flow;

/// A producer of flows (an ingest stage). Runs until its input ends or shutdown is requested,
/// pushing batches with [`Output::send`] (decoded) or [`Output::send_raw`] (bytes the workers
/// decode), which wait while the pipeline is full: back-pressure reaches the source. A source
/// that cannot wait (the kernel) counts and reports what it drops.
///
/// The pipeline drains once every source's [`Output`] is gone. A source that waits for the
/// acknowledgements of what it sent (to commit offsets) drops `cx.out` first, then waits: holding
/// it would keep the stages after it waiting for more input.
#[async_trait::async_trait]
pub trait Source: Send {
    /// Runs the source to completion.
    async fn run(self: Box<Self>, cx: SourceContext) -> Result<()>;
}

/// A stateless per-flow transform: edits the flow in place and says whether to keep it.
///
/// Consecutive transforms are fused into one chain and run on every worker; each worker has its
/// own copy of the transform ([`Clone`]), so `&mut self` state (a sampling counter, a cache) is
/// per worker. Flows a transform drops on purpose count as delivered.
pub trait Transform: TransformClone + Send + 'static {
    /// Transforms one flow; returns `false` to drop it.
    fn transform(&mut self, flow: &mut Flow) -> bool;
}

/// The copy of a transform each worker runs; implemented for every `Transform + Clone`.
pub trait TransformClone {
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn Transform>;
}

impl<T: Transform + Clone> TransformClone for T {
    fn clone_box(&self) -> Box<dyn Transform> {
        Box::new(self.clone())
    }
}

/// A stage that owns its input stream, output, shutdown signal and timers: conntrack,
/// aggregates, top-k, dedup, a store's writer. Timers are the stage's own (`tokio::time`), so
/// they fire whether or not batches arrive.
///
/// Flows the stage absorbs into its state are resolved as delivered once taken (holding their
/// acknowledgements until a conversation ends would hold a Kafka source's commits for minutes);
/// batches it passes on keep their acknowledgement, and records it emits get their own. A crash
/// of the stage loses its in-memory state (the aggregates not emitted yet), never the raw flows:
/// those were delivered to it, and other branches of the pipeline write their own copies.
#[async_trait::async_trait]
pub trait Stateful: Send {
    /// Runs the stage until its input ends (then it emits what it holds) or it fails.
    async fn run(self: Box<Self>, cx: StatefulContext) -> Result<()>;
}

/// A consumer of batches (an encode or write stage). Reads its [`Input`] until it ends, then
/// flushes. It resolves each batch's acknowledgement once the outside system accepted the flows
/// (delivered), gave up with a retriable error (errored) or refused them for good (rejected); a
/// sink that merges batches into one request keeps their [`super::AckSet`].
#[async_trait::async_trait]
pub trait Sink: Send {
    /// Runs the sink to completion.
    async fn run(self: Box<Self>, cx: SinkContext) -> Result<()>;
}

/// How a stateful stage's input is sharded: flows with the same key go to the same shard.
pub type ShardKey = Arc<dyn Fn(&Flow) -> u64 + Send + Sync>;

/// A boxed future, as health checks are.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A sink's start-up check of the outside system it writes to.
pub struct Healthcheck {
    /// What the check talks to (a URL, `host:port`), named in the error.
    pub endpoint: String,
    /// The check.
    pub check: BoxFuture<Result<(), BoxError>>,
}

impl Healthcheck {
    /// A check of `endpoint`.
    pub fn new(
        endpoint: impl Into<String>,
        check: impl Future<Output = Result<(), BoxError>> + Send + 'static,
    ) -> Self {
        Healthcheck {
            endpoint: endpoint.into(),
            check: Box::pin(check),
        }
    }
}

/// A built stage.
pub enum Component {
    /// An ingest stage.
    Source(Box<dyn Source>),
    /// A stateless per-flow transform.
    Transform(Box<dyn Transform>),
    /// A stateful stage: one instance per shard.
    Stateful {
        /// The instances; more than one needs a `key`.
        shards: Vec<Box<dyn Stateful>>,
        /// How input is split among them.
        key: Option<ShardKey>,
    },
    /// A terminal stage (encode, write).
    Sink {
        /// The sink.
        sink: Box<dyn Sink>,
        /// When set, the workers encode flows for the sink, which receives [`EncodedBatch`]es.
        encoder: Option<Arc<dyn Encode>>,
        /// The start-up check.
        healthcheck: Option<Healthcheck>,
    },
}

impl Component {
    /// A source.
    pub fn source(s: impl Source + 'static) -> Self {
        Component::Source(Box::new(s))
    }

    /// A transform.
    pub fn transform(t: impl Transform) -> Self {
        Component::Transform(Box::new(t))
    }

    /// A stateful stage with one instance.
    pub fn stateful(s: impl Stateful + 'static) -> Self {
        Component::Stateful {
            shards: vec![Box::new(s)],
            key: None,
        }
    }

    /// A stateful stage with one instance per shard, input split by `key`.
    pub fn sharded(shards: Vec<Box<dyn Stateful>>, key: ShardKey) -> Self {
        Component::Stateful {
            shards,
            key: Some(key),
        }
    }

    /// A sink receiving decoded batches.
    pub fn sink(s: impl Sink + 'static) -> Self {
        Component::Sink {
            sink: Box::new(s),
            encoder: None,
            healthcheck: None,
        }
    }

    /// A sink receiving batches the workers encoded with `encoder`.
    pub fn encoded_sink(s: impl Sink + 'static, encoder: Arc<dyn Encode>) -> Self {
        Component::Sink {
            sink: Box::new(s),
            encoder: Some(encoder),
            healthcheck: None,
        }
    }

    /// Adds a health check to a sink (ignored for other components).
    pub fn with_healthcheck(mut self, check: Healthcheck) -> Self {
        if let Component::Sink { healthcheck, .. } = &mut self {
            *healthcheck = Some(check);
        }
        self
    }

    pub(crate) fn what(&self) -> &'static str {
        match self {
            Component::Source(_) => "a source",
            Component::Transform(_) => "a transform",
            Component::Stateful { .. } => "a stateful stage",
            Component::Sink { .. } => "a sink",
        }
    }
}

/// What a source runs with.
pub struct SourceContext {
    /// Where batches go.
    pub out: Output,
    /// Requested on SIGINT/SIGTERM, at the end of the run, or when another stage failed.
    pub shutdown: Shutdown,
    /// The stage's metrics.
    pub metrics: StageMetrics,
}

/// What a stateful stage runs with.
pub struct StatefulContext {
    /// Its input (its shard of the input).
    pub input: Input,
    /// Where its records go.
    pub out: Output,
    /// The shutdown signal; the input also ends once upstream stages have drained.
    pub shutdown: Shutdown,
    /// The stage's metrics.
    pub metrics: StageMetrics,
    /// This instance's shard, from 0.
    pub shard: usize,
}

/// What a sink runs with.
pub struct SinkContext {
    /// Its input.
    pub input: Input,
    /// The shutdown signal; the input also ends once upstream stages have drained.
    pub shutdown: Shutdown,
    /// The stage's metrics.
    pub metrics: StageMetrics,
}

/// The next stages are gone (they failed or stopped): nothing more can be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("downstream stages are closed")]
pub struct Closed;

pub(crate) enum Edge {
    /// A queue; with an encoder, flows are encoded before they go in.
    Plain {
        tx: QueueTx,
        encoder: Option<Arc<dyn Encode>>,
        /// Size of the last encoding, to size the next buffer.
        last_len: Arc<AtomicUsize>,
    },
    /// One queue per shard of a stateful stage.
    Sharded { txs: Vec<QueueTx>, key: ShardKey },
}

/// The sending end of a stage: one edge per follower (fan-out shares the flows).
#[derive(Clone)]
pub struct Output {
    edges: Arc<[Edge]>,
    metrics: StageMetrics,
    /// Set for sources and stateful stages: batches entering the pipeline are tracked.
    tracker: Option<Arc<Tracker>>,
    role: Role,
}

impl Output {
    pub(crate) fn new(
        edges: Vec<Edge>,
        metrics: StageMetrics,
        tracker: Option<Arc<Tracker>>,
        role: Role,
    ) -> Self {
        Output {
            edges: edges.into(),
            metrics,
            tracker,
            role,
        }
    }

    /// Sends a batch to every follower, waiting while a follower's queue is full. A follower
    /// that is gone gets nothing (its copy counts as errored); `Err(Closed)` once every follower
    /// is gone. An output with no follower discards the batch (the configuration says so) and
    /// resolves it as delivered.
    pub async fn send(&self, mut batch: FlowBatch) -> Result<(), Closed> {
        if self.role == Role::Source {
            self.metrics.ingested(batch.len());
        }
        if let Some(t) = &self.tracker
            && self.tracks(batch.ack())
        {
            let n = batch.len() as u64;
            let ack = batch.replace_ack(Ack::none());
            batch.replace_ack(t.wrap(ack, Some(n), None));
        }
        if self.role != Role::Segment {
            self.metrics.flows_out(batch.len());
        }
        self.fan_out(batch).await
    }

    /// Sends bytes to be decoded by the workers. The acknowledgement covers the flows they
    /// decode to.
    pub async fn send_raw(&self, mut raw: RawBatch) -> Result<(), Closed> {
        if self.role == Role::Source {
            raw.source = Some(self.metrics.clone());
        }
        if let Some(t) = &self.tracker
            && self.tracks(&raw.ack)
        {
            let decoded = Arc::new(DecodeCount::default());
            raw.decoded = Some(decoded.clone());
            let ack = std::mem::take(&mut raw.ack);
            raw.ack = t.wrap(ack, None, Some(decoded));
        }
        match &*self.edges {
            [
                Edge::Plain {
                    tx, encoder: None, ..
                },
            ] => tx.send(Item::Raw(raw)).await.map_err(|_| Closed),
            // Not the shape the runtime builds for sources; decode here.
            _ => {
                let batch = raw.decode();
                self.metrics.flows_out(batch.len());
                self.fan_out(batch).await
            }
        }
    }

    /// Whether a batch sent here enters the pipeline: everything a source sends; what a
    /// stateful stage emits, but not the batches it passes on (tracked already).
    fn tracks(&self, ack: &Ack) -> bool {
        match self.role {
            Role::Source => true,
            Role::Stateful => !ack.is_counted(),
            Role::Segment => false,
        }
    }

    async fn fan_out(&self, batch: FlowBatch) -> Result<(), Closed> {
        let Some((last, rest)) = self.edges.split_last() else {
            batch.resolve(AckStatus::Delivered);
            return Ok(());
        };
        let mut open = false;
        for e in rest {
            open |= send_edge(e, batch.clone()).await;
        }
        open |= send_edge(last, batch).await;
        if open { Ok(()) } else { Err(Closed) }
    }

    /// The stage's metrics.
    pub fn metrics(&self) -> &StageMetrics {
        &self.metrics
    }
}

/// Sends on one edge; `false` when its receivers are gone (the batch is dropped: errored).
async fn send_edge(edge: &Edge, batch: FlowBatch) -> bool {
    match edge {
        Edge::Plain {
            tx, encoder: None, ..
        } => tx.send(Item::Flows(batch)).await.is_ok(),
        Edge::Plain {
            tx,
            encoder: Some(enc),
            last_len,
        } => {
            let encoded = encode(enc.as_ref(), batch, last_len);
            tx.send(Item::Encoded(encoded)).await.is_ok()
        }
        Edge::Sharded { txs, key } => {
            let mut open = false;
            for (tx, part) in txs.iter().zip(batch.split_by(txs.len(), key.as_ref())) {
                match part {
                    Some(p) => open |= tx.send(Item::Flows(p)).await.is_ok(),
                    None => open |= !tx.is_closed(),
                }
            }
            open
        }
    }
}

fn encode(enc: &dyn Encode, batch: FlowBatch, last_len: &AtomicUsize) -> EncodedBatch {
    let mut data = Vec::with_capacity(last_len.load(Ordering::Relaxed) + 4096);
    enc.encode(batch.flows(), &mut data);
    last_len.store(data.len(), Ordering::Relaxed);
    let flows = batch.len();
    EncodedBatch {
        data,
        flows,
        ack: batch.into_ack(),
    }
}

/// The JSON-lines encoding, for sinks that read encoded batches without declaring an encoder.
struct JsonLines;

impl Encode for JsonLines {
    fn encode(&self, flows: &[Flow], out: &mut Vec<u8>) {
        for f in flows {
            crate::codec::json::encode(f, out);
            out.push(b'\n');
        }
    }
}

/// The receiving end of a stateful stage or a sink. Receiving is cancel-safe: a `recv` dropped in
/// a `select!` (a flush timer fired first) loses no batch.
pub struct Input {
    rx: QueueRx,
    metrics: StageMetrics,
    encoder: Option<Arc<dyn Encode>>,
    last_len: AtomicUsize,
}

impl Input {
    pub(crate) fn new(
        rx: QueueRx,
        metrics: StageMetrics,
        encoder: Option<Arc<dyn Encode>>,
    ) -> Self {
        Input {
            rx,
            metrics,
            encoder,
            last_len: AtomicUsize::new(0),
        }
    }

    fn account(&self, n: usize) {
        self.metrics.flows_in(n);
        self.metrics.queue_len(self.rx.len());
    }

    fn to_flows(&self, item: Item) -> FlowBatch {
        let b = match item {
            Item::Flows(b) => b,
            Item::Raw(r) => r.decode(),
            // Encoded batches only go to sinks that asked for them; decoding them back is not
            // possible, so they are refused (counted as errored) rather than guessed at.
            Item::Encoded(e) => {
                self.metrics.reject(
                    "internal",
                    format_args!("an encoded batch reached a stage that reads flows"),
                );
                e.ack.error();
                FlowBatch::default()
            }
        };
        self.account(b.len());
        b
    }

    fn to_encoded(&self, item: Item) -> EncodedBatch {
        let e = match item {
            Item::Encoded(e) => e,
            Item::Flows(b) => self.encode_here(b),
            Item::Raw(r) => self.encode_here(r.decode()),
        };
        self.account(e.flows);
        e
    }

    fn encode_here(&self, b: FlowBatch) -> EncodedBatch {
        match &self.encoder {
            Some(enc) => encode(enc.as_ref(), b, &self.last_len),
            None => encode(&JsonLines, b, &self.last_len),
        }
    }

    /// The next batch of flows; `None` once every upstream stage has finished and the queue is
    /// empty.
    pub async fn recv(&mut self) -> Option<FlowBatch> {
        let item = self.rx.recv().await?;
        Some(self.to_flows(item))
    }

    /// The next batch, encoded (by the workers when the sink was built with an encoder).
    pub async fn recv_encoded(&mut self) -> Option<EncodedBatch> {
        let item = self.rx.recv().await?;
        Some(self.to_encoded(item))
    }

    /// Like [`Self::recv`], for a sink running on a blocking thread.
    pub fn blocking_recv(&mut self) -> Option<FlowBatch> {
        let item = self.rx.recv_blocking()?;
        Some(self.to_flows(item))
    }

    /// Like [`Self::recv_encoded`], for a sink running on a blocking thread.
    pub fn blocking_recv_encoded(&mut self) -> Option<EncodedBatch> {
        let item = self.rx.recv_blocking()?;
        Some(self.to_encoded(item))
    }

    /// The next batch if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<FlowBatch> {
        let item = self.rx.try_recv()?;
        Some(self.to_flows(item))
    }

    /// Whether no batch is waiting right now.
    pub fn is_empty(&self) -> bool {
        self.rx.len() == 0
    }

    /// The stage's metrics.
    pub fn metrics(&self) -> &StageMetrics {
        &self.metrics
    }
}
