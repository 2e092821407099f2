//! The pipeline runtime: stages built by factories from a flowlogs-pipeline
//! [`crate::config::Config`], connected by bounded queues, run on N workers.
//!
//! - **Stages.** A [`Source`] reads and pushes batches; consecutive stateless [`Transform`]s are
//!   fused and run, with the decoding of what the source read and the encoding for the sinks, on
//!   every worker ([`RuntimeOptions::workers`]); a [`Stateful`] stage owns its input, output and
//!   timers and may be sharded by a key; a [`Sink`] delivers. Fan-out shares flows between
//!   branches until one edits them; fan-in (`follows: [a, b]`) merges inputs.
//! - **Back-pressure.** Queues hold at most [`RuntimeOptions::queue_batches`] batches and
//!   [`RuntimeOptions::queue_max_bytes`] bytes; a full queue makes the sender wait, up to the
//!   source.
//! - **Acknowledgements.** Every batch carries an [`Ack`] that each sink resolves as delivered,
//!   errored or rejected; an ack dropped unresolved counts as errored (see [`ack`]).
//! - **Registry.** Every stage type is a [`StageFactory`] in a [`StageRegistry`], keyed by kind and
//!   type; factories are async and read their own settings with unknown keys rejected.
//! - **Shutdown.** SIGINT/SIGTERM (or the end of a finite input) drains every stage within
//!   [`RuntimeOptions::drain_timeout`]; past it, or on a second signal, what is left is resolved as
//!   errored and [`Pipeline::run`] reports it lost.

pub mod ack;
mod batch;
mod batcher;
mod build;
mod component;
mod metrics;
mod queue;
mod registry;
mod run;
mod shutdown;
mod track;

pub use ack::{Ack, AckSet, AckStatus};
pub use batch::{Decode, Encode, EncodedBatch, FlowBatch, RawBatch, Recycle};
pub use batcher::{BatchLimits, Batcher, Request};
pub use build::{
    DEFAULT_DRAIN_TIMEOUT, DEFAULT_HEALTHCHECK_TIMEOUT, DEFAULT_QUEUE_BATCHES,
    DEFAULT_QUEUE_MAX_BYTES, Pipeline, RuntimeOptions,
};
pub use component::{
    BoxFuture, Closed, Component, Healthcheck, Input, Output, ShardKey, Sink, SinkContext, Source,
    SourceContext, Stateful, StatefulContext, Transform, TransformClone,
};
pub use metrics::{Metrics, StageMetrics, StageSummary};
pub use registry::{BuildContext, StageFactory, StageRegistry, UPSTREAM_TYPES};
pub use run::{RunReport, StageFailure};
pub use shutdown::{Shutdown, ShutdownTrigger, trigger_on_signals};
pub use track::Deliveries;
