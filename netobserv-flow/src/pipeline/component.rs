//! The component contracts: [`Source`], [`Transform`] and [`Sink`], and the channel ends that
//! connect them.

use std::time::Instant;

use tokio::sync::{mpsc, watch};

use super::batch::FlowBatch;
use super::metrics::StageMetrics;
use crate::Result;
use crate::flow::Flow;

/// A producer of flows (ingest stage). Runs until its input ends or shutdown is triggered, and
/// pushes batches with [`Output::send`], which waits while the next stage is full.
#[async_trait::async_trait]
pub trait Source: Send {
    /// Runs the source to completion.
    async fn run(self: Box<Self>, ctx: SourceContext) -> Result<()>;
}

/// A stateless per-flow transform. It edits the flow in place and says whether to keep it.
///
/// In-place editing (rather than consuming the flow and pushing to an output) avoids moving the
/// flow struct (over a kilobyte) through every stage; stages that produce new records (conntrack,
/// aggregates) are stream stages that own their input instead.
pub trait Transform: Send {
    /// Transforms one flow; returns `false` to drop it.
    fn transform(&mut self, flow: &mut Flow) -> bool;

    /// Hands the stage its metrics before the first flow, for transforms that reject flows
    /// ([`StageMetrics::reject`]: counted in `ingest_errors{stage,kind}`, logged at most once a
    /// second). The default ignores them.
    fn attach_metrics(&mut self, metrics: &StageMetrics) {
        let _ = metrics;
    }
}

/// A consumer of batches (encode and write stages). Reads its [`Input`] until it ends, then
/// flushes. A sink drops a batch's [`super::Ack`] only once the flows are delivered, and calls
/// [`super::Ack::fail`] first when it gives up on them.
#[async_trait::async_trait]
pub trait Sink: Send {
    /// Runs the sink to completion.
    async fn run(self: Box<Self>, input: Input) -> Result<()>;
}

/// What a source gets to run with.
pub struct SourceContext {
    /// Where batches go.
    pub out: Output,
    /// Triggered on SIGINT/SIGTERM (or by the embedding program).
    pub shutdown: Shutdown,
    /// The stage's metrics.
    pub metrics: StageMetrics,
}

/// The sending end of a stage: one channel per follower (fan-out clones the batch).
#[derive(Clone)]
pub struct Output {
    senders: Vec<mpsc::Sender<FlowBatch>>,
    metrics: StageMetrics,
}

/// The next stages are gone (they failed or stopped): nothing more can be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("downstream stages are closed")]
pub struct Closed;

impl Output {
    pub(crate) fn new(senders: Vec<mpsc::Sender<FlowBatch>>, metrics: StageMetrics) -> Self {
        Output { senders, metrics }
    }

    /// Sends a batch to every follower, waiting while a follower's queue is full.
    pub async fn send(&self, batch: FlowBatch) -> Result<(), Closed> {
        self.metrics.flows_out(batch.len());
        let Some((last, rest)) = self.senders.split_last() else {
            return Ok(());
        };
        for tx in rest {
            tx.send(batch.clone()).await.map_err(|_| Closed)?;
        }
        last.send(batch).await.map_err(|_| Closed)
    }

    /// Like [`Self::send`], for sources running on a blocking thread.
    pub fn blocking_send(&self, batch: FlowBatch) -> Result<(), Closed> {
        self.metrics.flows_out(batch.len());
        let Some((last, rest)) = self.senders.split_last() else {
            return Ok(());
        };
        for tx in rest {
            tx.blocking_send(batch.clone()).map_err(|_| Closed)?;
        }
        last.blocking_send(batch).map_err(|_| Closed)
    }

    /// The stage's metrics.
    pub fn metrics(&self) -> &StageMetrics {
        &self.metrics
    }
}

/// The receiving end of a stage.
pub struct Input {
    rx: mpsc::Receiver<FlowBatch>,
    metrics: StageMetrics,
    started: Option<Instant>,
}

impl Input {
    pub(crate) fn new(rx: mpsc::Receiver<FlowBatch>, metrics: StageMetrics) -> Self {
        Input {
            rx,
            metrics,
            started: None,
        }
    }

    fn account(&mut self, b: &Option<FlowBatch>) {
        if let Some(t) = self.started.take() {
            self.metrics.observe(t.elapsed());
        }
        if let Some(b) = b {
            self.started = Some(Instant::now());
            self.metrics.flows_in(b.len());
            self.metrics.queue_len(self.rx.len());
        }
    }

    /// The next batch; `None` once every upstream stage has finished and the queue is empty.
    pub async fn recv(&mut self) -> Option<FlowBatch> {
        let b = self.rx.recv().await;
        self.account(&b);
        b
    }

    /// Whether no batch is waiting right now.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// Like [`Self::recv`], for sinks running on a blocking thread.
    pub fn blocking_recv(&mut self) -> Option<FlowBatch> {
        let b = self.rx.blocking_recv();
        self.account(&b);
        b
    }

    /// The stage's metrics.
    pub fn metrics(&self) -> &StageMetrics {
        &self.metrics
    }
}

/// The shutdown signal, as seen by stages.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

/// The side that triggers shutdown.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

impl Shutdown {
    /// A trigger and its signal.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger(tx), Shutdown(rx))
    }

    /// Whether shutdown was triggered.
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until shutdown is triggered (forever if the trigger is dropped untriggered).
    pub async fn wait(&mut self) {
        if self.0.wait_for(|v| *v).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl ShutdownTrigger {
    /// Triggers shutdown.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    /// A new signal watching this trigger.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }
}

/// Triggers `trigger` on the first SIGINT or SIGTERM.
pub fn trigger_on_signals(trigger: ShutdownTrigger) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let term = signal(SignalKind::terminate());
            let int = signal(SignalKind::interrupt());
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM received, draining"),
                        _ = int.recv() => tracing::info!("SIGINT received, draining"),
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        trigger.trigger();
    })
}
