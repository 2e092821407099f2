//! Batching for sinks that send requests to an outside system: flows collected from the input
//! until a request is full (flows or encoded bytes) or the oldest flow waited long enough, with
//! the acknowledgements of every batch merged in.

use std::time::Duration;

use tokio::time::Instant;

use super::ack::{AckSet, AckStatus};
use super::batch::{EncodedBatch, FlowBatch};
use super::component::Input;
use crate::flow::Flow;

/// When a request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Flows in a request (at least 1).
    pub max_flows: usize,
    /// Encoded bytes in a request ([`Batcher::next_encoded`]).
    pub max_bytes: usize,
    /// How long the first flow of a request may wait for more.
    pub max_wait: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_flows: 10_000,
            max_bytes: 10 << 20,
            max_wait: Duration::from_secs(1),
        }
    }
}

/// One request's worth of flows and the acknowledgements of the batches they came in; resolve
/// `acks` with the request's outcome.
#[derive(Debug, Default)]
pub struct Request<T> {
    /// The flows (or their encoding).
    pub payload: T,
    /// How many flows.
    pub flows: usize,
    /// The batches' acknowledgements.
    pub acks: AckSet,
}

impl<T> Request<T> {
    /// Resolves every batch merged into the request.
    pub fn resolve(self, status: AckStatus) {
        self.acks.resolve(status);
    }
}

/// Collects a sink's input into requests. Batches are never split (their acknowledgement covers
/// them whole): a batch that would take a request past a limit starts the next request, and a
/// batch larger than a limit is a request of its own.
pub struct Batcher {
    limits: BatchLimits,
    done: bool,
    pending: Option<FlowBatch>,
    pending_encoded: Option<EncodedBatch>,
}

impl Batcher {
    /// A batcher with these limits.
    pub fn new(limits: BatchLimits) -> Self {
        Batcher {
            limits: BatchLimits {
                max_flows: limits.max_flows.max(1),
                max_bytes: limits.max_bytes.max(1),
                ..limits
            },
            done: false,
            pending: None,
            pending_encoded: None,
        }
    }

    /// The next request of decoded flows; `None` once the input ended and everything was handed
    /// out.
    pub async fn next(&mut self, input: &mut Input) -> Option<Request<Vec<Flow>>> {
        let mut req = Request::<Vec<Flow>>::default();
        let mut deadline = None;
        loop {
            let batch = match self.pending.take() {
                Some(b) => b,
                None if self.done => break,
                None => match wait(input, deadline).await {
                    Wait::Batch(b) => b,
                    Wait::Ended => {
                        self.done = true;
                        break;
                    }
                    Wait::Timeout => break,
                },
            };
            if batch.is_empty() && !batch.ack().is_tracked() {
                // Nothing to send and nobody waiting for it.
                continue;
            }
            if req.flows > 0 && req.flows + batch.len() > self.limits.max_flows {
                self.pending = Some(batch);
                break;
            }
            deadline.get_or_insert_with(|| Instant::now() + self.limits.max_wait);
            let (flows, ack) = batch.into_parts();
            req.flows += flows.len();
            req.payload.extend(flows);
            req.acks.push(ack);
            if req.flows >= self.limits.max_flows {
                break;
            }
        }
        (req.flows > 0 || !req.acks.is_empty()).then_some(req)
    }

    /// The next request of encoded bytes (a sink built with an encoder); limited by
    /// `max_bytes` too.
    pub async fn next_encoded(&mut self, input: &mut Input) -> Option<Request<Vec<u8>>> {
        let mut req = Request::<Vec<u8>>::default();
        let mut deadline: Option<Instant> = None;
        loop {
            let b = match self.pending_encoded.take() {
                Some(b) => b,
                None if self.done => break,
                None => {
                    let next = match deadline {
                        None => input.recv_encoded().await,
                        Some(d) => match tokio::time::timeout_at(d, input.recv_encoded()).await {
                            Ok(b) => b,
                            Err(_) => break,
                        },
                    };
                    match next {
                        Some(b) => b,
                        None => {
                            self.done = true;
                            break;
                        }
                    }
                }
            };
            if b.flows == 0 && !b.ack.is_tracked() {
                continue;
            }
            let over = req.flows + b.flows > self.limits.max_flows
                || req.payload.len() + b.data.len() > self.limits.max_bytes;
            if req.flows > 0 && over {
                self.pending_encoded = Some(b);
                break;
            }
            deadline.get_or_insert_with(|| Instant::now() + self.limits.max_wait);
            req.flows += b.flows;
            req.payload.extend_from_slice(&b.data);
            req.acks.push(b.ack);
            if req.flows >= self.limits.max_flows || req.payload.len() >= self.limits.max_bytes {
                break;
            }
        }
        (req.flows > 0 || !req.acks.is_empty()).then_some(req)
    }
}

enum Wait {
    Batch(FlowBatch),
    Ended,
    Timeout,
}

async fn wait(input: &mut Input, deadline: Option<Instant>) -> Wait {
    let next = match deadline {
        None => input.recv().await,
        // `recv` is cancel-safe: a batch is never lost to the timeout.
        Some(d) => match tokio::time::timeout_at(d, input.recv()).await {
            Ok(b) => b,
            Err(_) => return Wait::Timeout,
        },
    };
    next.map_or(Wait::Ended, Wait::Batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::metrics::Metrics;
    use crate::pipeline::queue::{Item, queue};

    #[tokio::test]
    async fn an_empty_batch_does_not_end_the_input_and_big_batches_are_not_split() {
        let (tx, rx) = queue(16, 1 << 30);
        let mut input = Input::new(rx, Metrics::default().stage("s"), None);
        let mut b = Batcher::new(BatchLimits {
            max_flows: 3,
            max_bytes: 1 << 20,
            max_wait: Duration::from_millis(20),
        });
        let send = |n: usize| {
            let tx = tx.clone();
            async move {
                assert!(
                    tx.send(Item::Flows(FlowBatch::new(vec![Flow::default(); n])))
                        .await
                        .is_ok()
                );
            }
        };
        // An empty batch, then nothing for longer than max_wait, then flows: still one request.
        send(0).await;
        let late = tokio::spawn({
            let send = send(2);
            async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                send.await;
            }
        });
        let req = b.next(&mut input).await.expect("the input has not ended");
        assert_eq!(req.flows, 2);
        late.await.unwrap();
        // 2 + 2 would pass 3: the second batch starts the next request; 5 alone is its own.
        send(2).await;
        send(5).await;
        drop(tx);
        assert_eq!(b.next(&mut input).await.map(|r| r.flows), Some(2));
        assert_eq!(b.next(&mut input).await.map(|r| r.flows), Some(5));
        assert!(b.next(&mut input).await.is_none());
    }
}
