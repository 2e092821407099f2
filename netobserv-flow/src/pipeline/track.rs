//! What became of every batch that entered the pipeline, for the end-of-run report.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ack::{Ack, AckStatus};
use super::batch::DecodeCount;

#[derive(Default)]
pub(crate) struct Tracker {
    entered: AtomicU64,
    resolved: AtomicU64,
    delivered: AtomicU64,
    rejected: AtomicU64,
    errored: AtomicU64,
    errored_undecoded: AtomicU64,
    rejected_input: AtomicU64,
}

/// Flows (and records stateful stages emitted) by outcome, over one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deliveries {
    /// Delivered by every sink, or taken on purpose (filtered, absorbed into state).
    pub delivered: u64,
    /// Refused for good by a sink.
    pub rejected: u64,
    /// Not delivered: a sink failed, a stage stopped, the drain deadline passed.
    pub errored: u64,
    /// Chunks of input bytes lost before they were decoded (their flows are not counted above).
    pub errored_undecoded: u64,
    /// Input records that did not decode (counted in `ingest_errors`, logged, skipped).
    pub rejected_input: u64,
    /// Batches no stage resolved by the end of the run (held by a stage that did not stop).
    pub unresolved_batches: u64,
}

impl Tracker {
    /// Wraps a batch's acknowledgement: counts its outcome, then resolves `inner`. `flows` is the
    /// count when known; a raw batch reports it through `decoded` once a worker decoded it.
    pub(crate) fn wrap(
        self: &Arc<Self>,
        inner: Ack,
        flows: Option<u64>,
        decoded: Option<Arc<DecodeCount>>,
    ) -> Ack {
        self.entered.fetch_add(1, Ordering::Relaxed);
        let t = self.clone();
        Ack::counted(inner, move |status| {
            let n = flows.or_else(|| {
                decoded
                    .as_ref()
                    .map(|d| d.flows.load(Ordering::Acquire))
                    .filter(|n| *n != u64::MAX)
            });
            if let Some(d) = &decoded {
                t.rejected_input
                    .fetch_add(d.rejected.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            let counter = match status {
                AckStatus::Delivered => &t.delivered,
                AckStatus::Rejected => &t.rejected,
                AckStatus::Errored => &t.errored,
            };
            match n {
                Some(n) => {
                    counter.fetch_add(n, Ordering::Relaxed);
                }
                None if status == AckStatus::Errored => {
                    t.errored_undecoded.fetch_add(1, Ordering::Relaxed);
                }
                None => {}
            }
            t.resolved.fetch_add(1, Ordering::Release);
        })
    }

    pub(crate) fn snapshot(&self) -> Deliveries {
        let resolved = self.resolved.load(Ordering::Acquire);
        Deliveries {
            delivered: self.delivered.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            errored: self.errored.load(Ordering::Relaxed),
            errored_undecoded: self.errored_undecoded.load(Ordering::Relaxed),
            rejected_input: self.rejected_input.load(Ordering::Relaxed),
            unresolved_batches: self
                .entered
                .load(Ordering::Relaxed)
                .saturating_sub(resolved),
        }
    }
}
