//! Bounded queues between stages: at most `batches` items and `max_bytes` bytes waiting, several
//! receivers (the workers of a segment) on one queue.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::batch::{EncodedBatch, FlowBatch, RawBatch};
use crate::flow::Flow;

/// What a queue holds.
pub(crate) enum Item {
    Flows(FlowBatch),
    Raw(RawBatch),
    Encoded(EncodedBatch),
}

impl Item {
    /// Memory held, as counted against the byte budget: a decoded flow counts what it holds alone
    /// ([`Flow::mem_size`]: shared identities and interned strings are not counted), raw and
    /// encoded data their length.
    fn weight(&self) -> usize {
        match self {
            Item::Flows(b) => b.flows().iter().map(Flow::mem_size).sum(),
            Item::Raw(r) => r.data().len(),
            Item::Encoded(e) => e.data.len(),
        }
    }
}

struct Queued {
    item: Item,
    _permit: OwnedSemaphorePermit,
}

/// The sending end.
#[derive(Clone)]
pub(crate) struct QueueTx {
    tx: async_channel::Sender<Queued>,
    budget: Arc<Semaphore>,
    max: usize,
}

/// A receiving end; clones share the queue.
#[derive(Clone)]
pub(crate) struct QueueRx {
    rx: async_channel::Receiver<Queued>,
    _guard: Arc<CloseOnDrop>,
}

/// Closes the queue once its last receiver is gone: senders waiting for room see it closed
/// instead of waiting forever, and the items left are dropped now (their acknowledgements count
/// as errored) rather than when the last sender goes.
struct CloseOnDrop {
    rx: async_channel::Receiver<Queued>,
    budget: Arc<Semaphore>,
}

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.rx.close();
        self.budget.close();
        while self.rx.try_recv().is_ok() {}
    }
}

pub(crate) fn queue(batches: usize, max_bytes: usize) -> (QueueTx, QueueRx) {
    let (tx, rx) = async_channel::bounded(batches.max(1));
    let max = max_bytes.clamp(1, Semaphore::MAX_PERMITS);
    let budget = Arc::new(Semaphore::new(max));
    let guard = Arc::new(CloseOnDrop {
        rx: rx.clone(),
        budget: budget.clone(),
    });
    (
        QueueTx {
            tx,
            budget: budget.clone(),
            max,
        },
        QueueRx { rx, _guard: guard },
    )
}

impl QueueTx {
    /// Whether every receiver is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Waits for room, then queues `item`; gives it back when every receiver is gone.
    pub(crate) async fn send(&self, item: Item) -> Result<(), Item> {
        if self.tx.is_closed() {
            return Err(item);
        }
        // An item larger than the whole budget still goes, alone.
        let want = item.weight().clamp(1, self.max);
        let Ok(permit) = self
            .budget
            .clone()
            .acquire_many_owned(u32::try_from(want).unwrap_or(u32::MAX))
            .await
        else {
            return Err(item);
        };
        self.tx
            .send(Queued {
                item,
                _permit: permit,
            })
            .await
            .map_err(|e| e.into_inner().item)
    }
}

impl QueueRx {
    /// The next item; `None` once every sender is gone and the queue is empty.
    pub(crate) async fn recv(&self) -> Option<Item> {
        self.rx.recv().await.ok().map(|q| q.item)
    }

    /// The next item if one is waiting.
    pub(crate) fn try_recv(&self) -> Option<Item> {
        self.rx.try_recv().ok().map(|q| q.item)
    }

    /// Like [`Self::recv`], for a blocking thread.
    pub(crate) fn recv_blocking(&self) -> Option<Item> {
        self.rx.recv_blocking().ok().map(|q| q.item)
    }

    /// Items waiting.
    pub(crate) fn len(&self) -> usize {
        self.rx.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn byte_budget_bounds_the_queue_and_closing_wakes_senders() {
        let (tx, rx) = queue(100, 3 * std::mem::size_of::<Flow>());
        let batch = || Item::Flows(FlowBatch::new(vec![Flow::default(); 2]));
        tx.send(batch()).await.ok().unwrap();
        // A second two-flow batch does not fit in a three-flow budget until the first leaves.
        let blocked = tokio::time::timeout(Duration::from_millis(50), tx.send(batch())).await;
        assert!(blocked.is_err(), "queue took more than its byte budget");
        assert!(rx.recv().await.is_some());
        tx.send(batch()).await.ok().unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(batch()).await.is_err() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(rx);
        assert!(
            waiting.await.unwrap(),
            "a waiting sender was not told the queue closed"
        );
    }
}
