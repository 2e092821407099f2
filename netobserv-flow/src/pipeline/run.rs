//! Running a built pipeline: the per-flow path on N workers, stateful stages by shard, drain
//! within a deadline, and the report of what became of every flow.
//!
//! The graph is cut into *segments*: each source and each stateful stage feeds one segment, and
//! each run of consecutive stateless transforms (a transform that follows exactly one stage, whose
//! only follower it is, joins that stage's segment) is one segment. Every segment runs on
//! `workers` tasks that share its input queue: they decode what a source read, run the fused
//! transforms, and encode for the sinks that follow, so a source only reads and a sink only
//! writes. With several workers, batches may leave in another order than they came in.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use tokio::task::{Id, JoinSet};

use super::ack::AckStatus;
use super::build::{Node, Pipeline};
use super::component::{
    Component, Edge, Input, Output, SinkContext, SourceContext, StatefulContext, Transform,
};
use super::metrics::{StageMetrics, StageSummary};
use super::queue::{Item, QueueRx, QueueTx, queue};
use super::shutdown::Shutdown;
use super::track::{Deliveries, Tracker};
use crate::{Error, Result};

/// A stage that failed during a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageFailure {
    /// The stage (or stages, for the workers of a fused chain).
    pub stage: String,
    /// What failed.
    pub error: String,
}

/// How a run ended and what became of the flows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// Stages that failed.
    pub failures: Vec<StageFailure>,
    /// Flows by outcome.
    pub deliveries: Deliveries,
    /// The drain deadline passed before every stage had drained.
    pub deadline_passed: bool,
    /// A second shutdown request stopped the pipeline at once.
    pub stopped_at_once: bool,
    /// The drain deadline in force.
    pub drain_timeout: Duration,
    /// Each stage's totals (flows in, out, written, rejected by kind), from its metrics.
    pub stages: Vec<StageSummary>,
}

impl RunReport {
    /// Whether every flow read was delivered (or dropped on purpose) and no stage failed.
    pub fn is_clean(&self) -> bool {
        let d = &self.deliveries;
        self.failures.is_empty()
            && !self.deadline_passed
            && !self.stopped_at_once
            && d.errored == 0
            && d.errored_undecoded == 0
            && d.unresolved_batches == 0
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .failures
            .iter()
            .map(|s| format!("stage {:?} failed: {}", s.stage, s.error))
            .collect();
        if self.deadline_passed {
            parts.push(format!(
                "the drain deadline ({:?}) passed before every stage had drained",
                self.drain_timeout
            ));
        }
        if self.stopped_at_once {
            parts.push("stopped at once on a second shutdown signal".into());
        }
        let d = &self.deliveries;
        let mut lost = Vec::new();
        if d.errored > 0 {
            lost.push(format!("{} flows not delivered", d.errored));
        }
        if d.errored_undecoded > 0 {
            lost.push(format!(
                "{} chunks of input lost before decoding",
                d.errored_undecoded
            ));
        }
        if d.unresolved_batches > 0 {
            lost.push(format!(
                "{} batches still held by a stage that did not stop",
                d.unresolved_batches
            ));
        }
        let bad_input = if d.rejected_input > 0 {
            format!(", {} malformed input records skipped", d.rejected_input)
        } else {
            String::new()
        };
        if lost.is_empty() {
            parts.push(format!(
                "{} flows delivered, {} rejected{bad_input}",
                d.delivered, d.rejected
            ));
        } else {
            parts.push(format!(
                "lost: {} ({} delivered, {} rejected{bad_input})",
                lost.join(", "),
                d.delivered,
                d.rejected
            ));
        }
        f.write_str(&parts.join("; "))
    }
}

/// What an [`Output`] does besides sending.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A source's output: counts ingested flows, tracks batches.
    Source,
    /// A stateful stage's output: tracks the records it emits.
    Stateful,
    /// A segment's output: only sends.
    Segment,
}

struct ChainStage {
    name: String,
    transform: Box<dyn Transform>,
    metrics: StageMetrics,
}

struct SegmentPlan {
    chain: Vec<usize>,
    /// The node whose followers the segment feeds: the last of the chain, or the owner.
    tail: usize,
    tx: QueueTx,
    rx: QueueRx,
    label: String,
    tail_name: String,
}

impl Pipeline {
    /// Runs every stage until the sources end (end of input, or `shutdown`) and every flow read
    /// has gone through the sinks, or until the drain deadline. A stage failure drains the rest
    /// of the pipeline. Returns the report when every flow was delivered or dropped on purpose;
    /// otherwise [`Error::Run`] with the report (what failed, what was lost).
    pub async fn run(self, shutdown: Shutdown) -> Result<RunReport> {
        let drain_timeout = self.options.drain_timeout;
        let metrics = self.metrics.clone();
        let (int_trigger, int_shutdown) = Shutdown::new();
        let mut started = self.start(int_shutdown);
        let (mut failures, deadline_passed, stopped_at_once) = supervise(
            &mut started.tasks,
            &started.names,
            started.sources,
            shutdown,
            &int_trigger,
            drain_timeout,
        )
        .await;
        failures.sort_by(|a, b| a.stage.cmp(&b.stage));
        failures.dedup();
        let report = RunReport {
            failures,
            deliveries: started.tracker.snapshot(),
            deadline_passed,
            stopped_at_once,
            drain_timeout,
            stages: metrics.summary(),
        };
        if report.is_clean() {
            Ok(report)
        } else {
            Err(Error::Run(Box::new(report)))
        }
    }

    /// Cuts the graph into segments, creates the queues and spawns every task.
    fn start(self, int_shutdown: Shutdown) -> Started {
        let Pipeline {
            nodes,
            metrics,
            options,
            ..
        } = self;
        let n = nodes.len();
        let workers = options.workers.max(1);
        let mk_queue = || queue(options.queue_batches, options.queue_max_bytes);
        let mut followers: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, node) in nodes.iter().enumerate() {
            for p in &node.parents {
                followers[*p].push(i);
            }
        }
        let is_transform = |i: usize| matches!(nodes[i].component, Component::Transform(_));
        let joins_chain = |i: usize, f: &[usize]| {
            f.len() == 1 && is_transform(f[0]) && nodes[f[0]].parents.len() == 1 && f[0] != i
        };

        // Segments: one per source and stateful stage, one per transform that heads a chain.
        let mut in_chain = vec![false; n];
        let mut segments: Vec<SegmentPlan> = Vec::new();
        let mut seg_of_owner: HashMap<usize, usize> = HashMap::new();
        let mut seg_of_head: HashMap<usize, usize> = HashMap::new();
        let chain_from = |start: usize, in_chain: &mut Vec<bool>| {
            let mut chain = vec![start];
            in_chain[start] = true;
            let mut cur = start;
            while joins_chain(cur, &followers[cur]) {
                cur = followers[cur][0];
                in_chain[cur] = true;
                chain.push(cur);
            }
            chain
        };
        let mut new_segment = |chain: Vec<usize>, owner: usize| {
            let tail = chain.last().copied().unwrap_or(owner);
            let (tx, rx) = mk_queue();
            segments.push(SegmentPlan {
                label: segment_label(&nodes, owner, &chain),
                tail_name: nodes[tail].name.clone(),
                chain,
                tail,
                tx,
                rx,
            });
            segments.len() - 1
        };
        for i in 0..n {
            if matches!(
                nodes[i].component,
                Component::Source(_) | Component::Stateful { .. }
            ) {
                let chain = if joins_chain(i, &followers[i]) {
                    chain_from(followers[i][0], &mut in_chain)
                } else {
                    Vec::new()
                };
                seg_of_owner.insert(i, new_segment(chain, i));
            }
        }
        for i in 0..n {
            if is_transform(i) && !in_chain[i] {
                let chain = chain_from(i, &mut in_chain);
                seg_of_head.insert(i, new_segment(chain, i));
            }
        }

        // Input queues of sinks and stateful shards.
        let mut sink_q: HashMap<usize, (QueueTx, QueueRx)> = HashMap::new();
        let mut shard_q: HashMap<usize, Vec<(QueueTx, QueueRx)>> = HashMap::new();
        for (i, node) in nodes.iter().enumerate() {
            match &node.component {
                Component::Sink { .. } => {
                    sink_q.insert(i, mk_queue());
                }
                Component::Stateful { shards, .. } => {
                    shard_q.insert(i, shards.iter().map(|_| mk_queue()).collect());
                }
                _ => {}
            }
        }
        let edges_to = |from: usize| -> Vec<Edge> {
            followers[from]
                .iter()
                .filter_map(|f| match &nodes[*f].component {
                    Component::Transform(_) => Some(Edge::Plain {
                        tx: segments[seg_of_head[f]].tx.clone(),
                        encoder: None,
                        last_len: Arc::new(AtomicUsize::new(0)),
                    }),
                    Component::Sink { encoder, .. } => Some(Edge::Plain {
                        tx: sink_q[f].0.clone(),
                        encoder: encoder.clone(),
                        last_len: Arc::new(AtomicUsize::new(0)),
                    }),
                    Component::Stateful { key, .. } => {
                        let txs: Vec<QueueTx> = shard_q[f].iter().map(|q| q.0.clone()).collect();
                        match (txs.len(), key) {
                            (1, _) | (_, None) => Some(Edge::Plain {
                                tx: txs[0].clone(),
                                encoder: None,
                                last_len: Arc::new(AtomicUsize::new(0)),
                            }),
                            (_, Some(key)) => Some(Edge::Sharded {
                                txs,
                                key: key.clone(),
                            }),
                        }
                    }
                    Component::Source(_) => None,
                })
                .collect()
        };
        let seg_edges: Vec<Vec<Edge>> = segments.iter().map(|s| edges_to(s.tail)).collect();

        let tracker = Arc::new(Tracker::default());
        let mut tasks: JoinSet<Result<()>> = JoinSet::new();
        let mut names: HashMap<Id, String> = HashMap::new();
        let mut sources: Vec<Id> = Vec::new();
        let mut chains: HashMap<usize, Vec<ChainStage>> = HashMap::new();

        let mut nodes: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
        for (i, slot) in nodes.iter_mut().enumerate() {
            let Some(node) = slot.take() else { continue };
            let sm = metrics.stage(&node.name);
            let own_seg = |role| {
                Output::new(
                    vec![Edge::Plain {
                        tx: segments[seg_of_owner[&i]].tx.clone(),
                        encoder: None,
                        last_len: Arc::new(AtomicUsize::new(0)),
                    }],
                    sm.clone(),
                    Some(tracker.clone()),
                    role,
                )
            };
            match node.component {
                Component::Source(src) => {
                    let cx = SourceContext {
                        out: own_seg(Role::Source),
                        shutdown: int_shutdown.clone(),
                        metrics: sm.clone(),
                    };
                    let h = tasks.spawn(async move { src.run(cx).await });
                    names.insert(h.id(), node.name.clone());
                    sources.push(h.id());
                }
                Component::Transform(t) => {
                    // Kept for the segment that runs it.
                    chains.insert(
                        i,
                        vec![ChainStage {
                            name: node.name.clone(),
                            transform: t,
                            metrics: sm,
                        }],
                    );
                }
                Component::Stateful { shards, .. } => {
                    let queues = shard_q.remove(&i).unwrap_or_default();
                    for (shard, (st, (_, rx))) in shards.into_iter().zip(queues).enumerate() {
                        let cx = StatefulContext {
                            input: Input::new(rx, sm.clone(), None),
                            out: own_seg(Role::Stateful),
                            shutdown: int_shutdown.clone(),
                            metrics: sm.clone(),
                            shard,
                        };
                        let h = tasks.spawn(async move { st.run(cx).await });
                        names.insert(h.id(), node.name.clone());
                    }
                }
                Component::Sink { sink, encoder, .. } => {
                    let Some((_, rx)) = sink_q.remove(&i) else {
                        continue;
                    };
                    let cx = SinkContext {
                        input: Input::new(rx, sm.clone(), encoder),
                        shutdown: int_shutdown.clone(),
                        metrics: sm.clone(),
                    };
                    let h = tasks.spawn(async move { sink.run(cx).await });
                    names.insert(h.id(), node.name.clone());
                }
            }
        }
        drop(sink_q);
        for (seg, edges) in segments.into_iter().zip(seg_edges) {
            let SegmentPlan {
                chain,
                rx,
                label,
                tail_name,
                ..
            } = seg;
            let stages: Vec<ChainStage> = chain
                .iter()
                .filter_map(|c| chains.remove(c))
                .flatten()
                .collect();
            let head = stages.first().map(|s| s.metrics.clone());
            let out = Output::new(edges, metrics.stage(&tail_name), None, Role::Segment);
            for _ in 0..workers {
                let chain: Vec<ChainStage> = stages
                    .iter()
                    .map(|s| ChainStage {
                        name: s.name.clone(),
                        transform: s.transform.clone_box(),
                        metrics: s.metrics.clone(),
                    })
                    .collect();
                let (rx, out, head) = (rx.clone(), out.clone(), head.clone());
                let h = tasks.spawn(worker(rx, chain, out, head));
                names.insert(h.id(), label.clone());
            }
        }

        Started {
            tasks,
            names,
            sources,
            tracker,
        }
    }
}

struct Started {
    tasks: JoinSet<Result<()>>,
    names: HashMap<Id, String>,
    sources: Vec<Id>,
    tracker: Arc<Tracker>,
}

fn segment_label(nodes: &[Node], owner: usize, chain: &[usize]) -> String {
    if chain.is_empty() {
        nodes[owner].name.clone()
    } else {
        chain
            .iter()
            .map(|c| nodes[*c].name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Waits for every task, drives the drain and its deadline. Returns the failures, whether the
/// deadline passed and whether an immediate stop was requested.
async fn supervise(
    tasks: &mut JoinSet<Result<()>>,
    names: &HashMap<Id, String>,
    mut sources: Vec<Id>,
    external: Shutdown,
    internal: &super::shutdown::ShutdownTrigger,
    drain_timeout: Duration,
) -> (Vec<StageFailure>, bool, bool) {
    let mut failures = Vec::new();
    let (mut ext_drain, mut ext_now) = (external.clone(), external);
    // When the drain started (a signal, a stage failure, or the end of every source).
    let mut draining: Option<Instant> = None;
    let start_drain = |draining: &mut Option<Instant>| {
        internal.trigger();
        draining.get_or_insert_with(Instant::now);
    };
    let (mut deadline_passed, mut stopped_at_once) = (false, false);
    loop {
        // A deadline too far to represent is no deadline.
        let deadline = draining
            .and_then(|t| t.checked_add(drain_timeout))
            .map(tokio::time::Instant::from_std);
        let ext_pending = !internal.is_triggered();
        tokio::select! {
            joined = tasks.join_next_with_id() => match joined {
                None => break,
                Some(Ok((id, res))) => {
                    sources.retain(|s| *s != id);
                    if let Err(e) = res {
                        let stage = names.get(&id).cloned().unwrap_or_default();
                        failures.push(StageFailure { error: failure_message(&stage, e), stage });
                        start_drain(&mut draining);
                    }
                    if sources.is_empty() {
                        // End of input: what is in flight drains within the deadline too.
                        draining.get_or_insert_with(Instant::now);
                    }
                }
                Some(Err(e)) => {
                    let id = e.id();
                    sources.retain(|s| *s != id);
                    let error = if e.is_panic() {
                        format!("panicked: {}", panic_message(e.into_panic()))
                    } else {
                        "cancelled".into()
                    };
                    failures.push(StageFailure { stage: names.get(&id).cloned().unwrap_or_default(), error });
                    start_drain(&mut draining);
                }
            },
            // A signal during the end-of-input drain still reaches the stages.
            _ = ext_drain.wait(), if ext_pending => start_drain(&mut draining),
            _ = ext_now.wait_immediate(), if !stopped_at_once => {
                stopped_at_once = true;
                break;
            }
            _ = sleep_until(deadline), if deadline.is_some() => {
                deadline_passed = true;
                break;
            }
        }
    }
    if deadline_passed || stopped_at_once {
        internal.trigger_immediate();
        // Dropping the tasks drops what they hold: those batches resolve as errored. A task
        // stuck outside an await (blocking code) is not waited for long.
        tasks.abort_all();
        let _ = tokio::time::timeout(ABORT_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        tasks.detach_all();
    }
    (failures, deadline_passed, stopped_at_once)
}

/// How long aborted tasks get to finish dropping what they hold.
const ABORT_GRACE: Duration = Duration::from_secs(1);

/// A stage's error, without repeating the stage name the report puts in front of it.
fn failure_message(stage: &str, e: Error) -> String {
    match e {
        Error::Stage { stage: s, source } if s == stage => source.to_string(),
        e => e.to_string(),
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// One worker of a segment: decode, the fused transforms, then fan-out (encoding for sinks).
async fn worker(
    rx: QueueRx,
    mut chain: Vec<ChainStage>,
    out: Output,
    head: Option<StageMetrics>,
) -> Result<()> {
    while let Some(item) = rx.recv().await {
        if let Some(h) = &head {
            h.queue_len(rx.len());
        }
        let (mut batch, rejected) = match item {
            Item::Flows(b) => (b, 0),
            Item::Raw(r) => r.decode_counting(),
            Item::Encoded(e) => {
                // Segments only receive flows and raw input.
                e.ack.error();
                continue;
            }
        };
        if rejected > 0 && batch.is_empty() {
            // Every record was malformed: refused for good, so that the source commits past it
            // and can tell it from a delivery.
            batch.resolve(AckStatus::Rejected);
            continue;
        }
        for stage in chain.iter_mut() {
            if batch.is_empty() {
                break;
            }
            let started = Instant::now();
            stage.metrics.flows_in(batch.len());
            let t = &mut stage.transform;
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                batch.retain_mut(|f| t.transform(f));
            }));
            if let Err(p) = ran {
                // The batch is dropped unresolved: errored.
                return Err(Error::stage(
                    stage.name.clone(),
                    format!("panicked: {}", panic_message(p)),
                ));
            }
            stage.metrics.flows_out(batch.len());
            stage.metrics.observe(started.elapsed());
        }
        if batch.is_empty() {
            // Every flow was dropped on purpose.
            batch.resolve(AckStatus::Delivered);
        } else if out.send(batch).await.is_err() {
            // Every follower is gone; what is left in the queue resolves as errored.
            return Ok(());
        }
        tokio::task::consume_budget().await;
    }
    Ok(())
}
