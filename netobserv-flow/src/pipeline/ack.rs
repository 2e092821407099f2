//! Acknowledgements: how a source learns what became of the flows it sent.
//!
//! Every batch carries an [`Ack`]. Each sink resolves the handle of its copy as
//! [`AckStatus::Delivered`] (the outside system accepted the flows), [`AckStatus::Errored`]
//! (retrying may help: the source must not commit) or [`AckStatus::Rejected`] (refused for good:
//! counted, logged, committed past). Copies made for fan-out or for the shards of a stateful
//! stage are separate handles of one shared state; the source's callback runs once the last
//! handle is resolved, with the worst outcome: errored over rejected over delivered.
//!
//! A handle dropped without being resolved counts as errored, so that every failure path (a sink
//! that returned an error with batches queued behind it, a stage that panicked, a queue dropped at
//! the drain deadline) reports a loss, never a delivery.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

/// What became of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum AckStatus {
    /// Every copy was delivered, or taken on purpose (filtered out, absorbed into a stateful
    /// stage's state).
    Delivered = 0,
    /// A sink refused the flows for good (they will never be accepted): the source may commit
    /// past them; they are counted and logged.
    Rejected = 1,
    /// A copy was not delivered and retrying may help: the source must not commit.
    Errored = 2,
}

impl AckStatus {
    fn from_u8(v: u8) -> AckStatus {
        match v {
            0 => AckStatus::Delivered,
            1 => AckStatus::Rejected,
            _ => AckStatus::Errored,
        }
    }
}

type Callback = Box<dyn FnOnce(AckStatus) + Send>;

struct Shared {
    status: AtomicU8,
    callback: Mutex<Option<Callback>>,
    /// Created by the runtime's accounting (see `Ack::counted`).
    counted: bool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let cb = self
            .callback
            .get_mut()
            .map(Option::take)
            .unwrap_or_else(|p| p.into_inner().take());
        if let Some(cb) = cb {
            let status = AckStatus::from_u8(*self.status.get_mut());
            // The last copy may be dropped while a stage unwinds from a panic: a panicking
            // callback then would abort the process.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(status))).is_err() {
                tracing::error!(?status, "an acknowledgement callback panicked");
            }
        }
    }
}

/// The acknowledgement handle of one copy of a batch. Resolve it with [`Ack::resolve`] (or
/// [`Ack::deliver`], [`Ack::error`], [`Ack::reject`]); dropping it unresolved counts as errored.
/// [`Clone`] makes another pending copy of the same batch.
#[derive(Default)]
pub struct Ack(Option<Arc<Shared>>);

impl Ack {
    /// A handle nobody waits for: resolving or dropping it does nothing.
    pub fn none() -> Self {
        Ack(None)
    }

    /// A handle that calls `f` with the combined outcome once every copy is resolved.
    pub fn new(f: impl FnOnce(AckStatus) + Send + 'static) -> Self {
        Self::make(f, false)
    }

    fn make(f: impl FnOnce(AckStatus) + Send + 'static, counted: bool) -> Self {
        Ack(Some(Arc::new(Shared {
            status: AtomicU8::new(AckStatus::Delivered as u8),
            callback: Mutex::new(Some(Box::new(f))),
            counted,
        })))
    }

    /// [`Ack::chain`], marked as the runtime's own accounting.
    pub(crate) fn counted(inner: Ack, f: impl FnOnce(AckStatus) + Send + 'static) -> Self {
        Self::make(
            move |status| {
                f(status);
                inner.resolve(status);
            },
            true,
        )
    }

    /// Whether the runtime already counts this batch (it entered the pipeline through a source or
    /// a stateful stage's output).
    pub(crate) fn is_counted(&self) -> bool {
        self.0.as_ref().is_some_and(|s| s.counted)
    }

    /// A handle that resolves `inner` with its outcome after calling `f` with it: how the
    /// runtime adds its own accounting to a source's acknowledgement.
    pub fn chain(inner: Ack, f: impl FnOnce(AckStatus) + Send + 'static) -> Self {
        Ack::new(move |status| {
            f(status);
            inner.resolve(status);
        })
    }

    /// Whether somebody waits for this handle.
    pub fn is_tracked(&self) -> bool {
        self.0.is_some()
    }

    /// Resolves this copy.
    pub fn resolve(mut self, status: AckStatus) {
        if let Some(s) = self.0.take() {
            s.status.fetch_max(status as u8, Ordering::AcqRel);
        }
    }

    /// Resolves this copy as delivered.
    pub fn deliver(self) {
        self.resolve(AckStatus::Delivered);
    }

    /// Resolves this copy as errored (retry may help).
    pub fn error(self) {
        self.resolve(AckStatus::Errored);
    }

    /// Resolves this copy as rejected (refused for good).
    pub fn reject(self) {
        self.resolve(AckStatus::Rejected);
    }
}

impl Clone for Ack {
    /// Another pending copy of the same batch: the callback waits for it too.
    fn clone(&self) -> Self {
        Ack(self.0.clone())
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            s.status
                .fetch_max(AckStatus::Errored as u8, Ordering::AcqRel);
        }
    }
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("Ack(none)"),
            Some(s) => write!(f, "Ack(copies={})", Arc::strong_count(s)),
        }
    }
}

/// The acknowledgements of the batches a sink merged into one request: resolved together with
/// the request's outcome.
#[derive(Debug, Default)]
pub struct AckSet(Vec<Ack>);

impl AckSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a batch's acknowledgement.
    pub fn push(&mut self, ack: Ack) {
        if ack.is_tracked() {
            self.0.push(ack);
        }
    }

    /// Number of tracked acknowledgements held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Resolves every held acknowledgement with `status`.
    pub fn resolve(self, status: AckStatus) {
        for a in self.0 {
            a.resolve(status);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn recorder() -> (Ack, Arc<Mutex<Vec<AckStatus>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        (Ack::new(move |st| s.lock().unwrap().push(st)), seen)
    }

    #[test]
    fn callback_runs_once_after_the_last_copy() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let ack = Ack::new(move |st| {
            assert_eq!(st, AckStatus::Delivered);
            c.fetch_add(1, Ordering::SeqCst);
        });
        let copy = ack.clone();
        ack.deliver();
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        copy.deliver();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn dropped_unresolved_is_errored_never_delivered() {
        let (ack, seen) = recorder();
        drop(ack);
        assert_eq!(*seen.lock().unwrap(), [AckStatus::Errored]);
    }

    #[test]
    fn copies_combine_errored_over_rejected_over_delivered() {
        for (outcomes, want) in [
            (
                &[AckStatus::Delivered, AckStatus::Delivered][..],
                AckStatus::Delivered,
            ),
            (
                &[AckStatus::Delivered, AckStatus::Rejected],
                AckStatus::Rejected,
            ),
            (
                &[AckStatus::Rejected, AckStatus::Errored],
                AckStatus::Errored,
            ),
            (
                &[
                    AckStatus::Errored,
                    AckStatus::Delivered,
                    AckStatus::Rejected,
                ],
                AckStatus::Errored,
            ),
        ] {
            let (ack, seen) = recorder();
            let copies: Vec<Ack> = outcomes.iter().map(|_| ack.clone()).collect();
            ack.deliver();
            for (c, o) in copies.into_iter().zip(outcomes) {
                c.resolve(*o);
            }
            assert_eq!(*seen.lock().unwrap(), [want], "{outcomes:?}");
        }
    }

    #[test]
    fn ack_set_resolves_every_merged_batch() {
        let (a, seen_a) = recorder();
        let (b, seen_b) = recorder();
        let mut set = AckSet::new();
        set.push(a);
        set.push(b);
        set.push(Ack::none());
        assert_eq!(set.len(), 2);
        set.resolve(AckStatus::Rejected);
        assert_eq!(*seen_a.lock().unwrap(), [AckStatus::Rejected]);
        assert_eq!(*seen_b.lock().unwrap(), [AckStatus::Rejected]);
    }

    #[test]
    fn chain_reports_then_resolves_the_inner_ack() {
        let (inner, seen) = recorder();
        let outer_seen = Arc::new(Mutex::new(None));
        let o = outer_seen.clone();
        let outer = Ack::chain(inner, move |st| *o.lock().unwrap() = Some(st));
        outer.reject();
        assert_eq!(*outer_seen.lock().unwrap(), Some(AckStatus::Rejected));
        assert_eq!(*seen.lock().unwrap(), [AckStatus::Rejected]);
    }
}
