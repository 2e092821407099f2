//! Batches of flows and their acknowledgements.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::flow::Flow;

/// A batch of flows moving between stages, with the acknowledgement of where it came from.
#[derive(Debug, Default)]
pub struct FlowBatch {
    /// The flows.
    pub flows: Vec<Flow>,
    /// Completed when every sink downstream has delivered (or dropped by design) these flows.
    pub ack: Ack,
}

impl FlowBatch {
    /// A batch with no acknowledgement callback.
    pub fn new(flows: Vec<Flow>) -> Self {
        FlowBatch {
            flows,
            ack: Ack::none(),
        }
    }

    /// A batch whose acknowledgement calls back its source.
    pub fn with_ack(flows: Vec<Flow>, ack: Ack) -> Self {
        FlowBatch { flows, ack }
    }

    /// Number of flows.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether the batch has no flows.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
}

impl Clone for FlowBatch {
    /// Clones flows and shares the acknowledgement: the source hears back once every copy is done.
    fn clone(&self) -> Self {
        FlowBatch {
            flows: self.flows.clone(),
            ack: self.ack.clone(),
        }
    }
}

/// How a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckStatus {
    /// Every copy was delivered (or intentionally filtered out).
    Delivered,
    /// At least one sink failed to deliver its copy.
    Failed,
}

type Callback = Box<dyn FnOnce(AckStatus) + Send>;

struct AckState {
    failed: AtomicBool,
    callback: Mutex<Option<Callback>>,
}

impl Drop for AckState {
    fn drop(&mut self) {
        let cb = self
            .callback
            .get_mut()
            .map(Option::take)
            .unwrap_or_else(|p| p.into_inner().take());
        if let Some(cb) = cb {
            let status = if self.failed.load(Ordering::Acquire) {
                AckStatus::Failed
            } else {
                AckStatus::Delivered
            };
            cb(status);
        }
    }
}

/// An acknowledgement handle. Clones share one state; the callback runs once, when the last clone
/// is dropped. A sink drops its handle after the outside system accepted the flows, or calls
/// [`Ack::fail`] first when it gave up on them.
#[derive(Clone, Default)]
pub struct Ack(Option<Arc<AckState>>);

impl Ack {
    /// A handle with no callback.
    pub fn none() -> Self {
        Ack(None)
    }

    /// A handle that calls `f` once every clone is gone.
    pub fn new(f: impl FnOnce(AckStatus) + Send + 'static) -> Self {
        Ack(Some(Arc::new(AckState {
            failed: AtomicBool::new(false),
            callback: Mutex::new(Some(Box::new(f))),
        })))
    }

    /// Marks the batch as not delivered.
    pub fn fail(&self) {
        if let Some(s) = &self.0 {
            s.failed.store(true, Ordering::Release);
        }
    }

    /// Marks delivered (drops the handle).
    pub fn done(self) {}
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("Ack(none)"),
            Some(s) => write!(f, "Ack(refs={})", Arc::strong_count(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn callback_runs_once_after_last_clone() {
        let calls = Arc::new(AtomicUsize::new(0));
        let status = Arc::new(Mutex::new(None));
        let (c, s) = (calls.clone(), status.clone());
        let ack = Ack::new(move |st| {
            c.fetch_add(1, Ordering::SeqCst);
            *s.lock().unwrap() = Some(st);
        });
        let a2 = ack.clone();
        drop(ack);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        a2.done();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(*status.lock().unwrap(), Some(AckStatus::Delivered));
    }

    #[test]
    fn one_failed_copy_fails_the_batch() {
        let status = Arc::new(Mutex::new(None));
        let s = status.clone();
        let batch = FlowBatch::with_ack(
            vec![Flow::default()],
            Ack::new(move |st| *s.lock().unwrap() = Some(st)),
        );
        let copy = batch.clone();
        copy.ack.fail();
        drop(copy);
        drop(batch);
        assert_eq!(*status.lock().unwrap(), Some(AckStatus::Failed));
    }
}
