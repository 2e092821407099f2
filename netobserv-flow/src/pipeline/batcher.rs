//! Batching for sinks that send requests to an outside system: flows collected from the input
//! until a request is full (flows or encoded bytes) or the oldest flow waited long enough, with
//! the acknowledgements of every batch merged in.

use std::time::Duration;

use tokio::time::Instant;

use super::ack::{AckSet, AckStatus};
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

/// Collects a sink's input into requests. A batch larger than the limits makes a request of its
/// own (batches are not split: their acknowledgement covers them whole).
pub struct Batcher {
    limits: BatchLimits,
    done: bool,
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
        }
    }

    /// The next request of decoded flows; `None` once the input ended and everything was handed
    /// out.
    pub async fn next(&mut self, input: &mut Input) -> Option<Request<Vec<Flow>>> {
        let mut req = Request::<Vec<Flow>>::default();
        let mut deadline = None;
        while !self.done && req.flows < self.limits.max_flows {
            let batch = match wait(input, deadline).await {
                Wait::Batch(b) => b,
                Wait::Ended => {
                    self.done = true;
                    break;
                }
                Wait::Timeout => break,
            };
            deadline.get_or_insert_with(|| Instant::now() + self.limits.max_wait);
            let (flows, ack) = batch.into_parts();
            req.flows += flows.len();
            req.payload.extend(flows);
            req.acks.push(ack);
        }
        (req.flows > 0 || !req.acks.is_empty()).then_some(req)
    }

    /// The next request of encoded bytes (a sink built with an encoder); limited by
    /// `max_bytes` too.
    pub async fn next_encoded(&mut self, input: &mut Input) -> Option<Request<Vec<u8>>> {
        let mut req = Request::<Vec<u8>>::default();
        let mut deadline: Option<Instant> = None;
        while !self.done
            && req.flows < self.limits.max_flows
            && req.payload.len() < self.limits.max_bytes
        {
            let next = match deadline {
                None => input.recv_encoded().await,
                Some(d) => match tokio::time::timeout_at(d, input.recv_encoded()).await {
                    Ok(b) => b,
                    Err(_) => break,
                },
            };
            let Some(b) = next else {
                self.done = true;
                break;
            };
            deadline.get_or_insert_with(|| Instant::now() + self.limits.max_wait);
            req.flows += b.flows;
            req.payload.extend_from_slice(&b.data);
            req.acks.push(b.ack);
        }
        (req.flows > 0 || !req.acks.is_empty()).then_some(req)
    }
}

enum Wait {
    Batch(super::batch::FlowBatch),
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
