//! The pipeline runtime: stages connected by bounded channels of [`FlowBatch`]es, built from a
//! flowlogs-pipeline [`crate::config::Config`].
//!
//! Each stage runs as a task. A full queue makes the sender wait (back-pressure reaches the
//! source). A stage followed by several stages sends each a copy (fan-out); the batch's [`Ack`]
//! completes once every copy has been delivered. On shutdown or at the end of a finite input,
//! sources stop, and every stage drains its queue and flushes before the pipeline returns, so no
//! flow that was read is lost.

mod batch;
mod build;
mod component;
mod metrics;

pub use batch::{Ack, AckStatus, FlowBatch};
pub use build::{
    BuildContext, Component, DEFAULT_QUEUE_BATCHES, Pipeline, StageRegistry, UPSTREAM_TYPES,
};
pub use component::{
    Closed, Input, Output, Shutdown, ShutdownTrigger, Sink, Source, SourceContext, Transform,
    trigger_on_signals,
};
pub use metrics::{Metrics, StageMetrics};
