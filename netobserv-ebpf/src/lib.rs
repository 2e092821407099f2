//! The eBPF side of the netobserv-rs agent: TC classifiers written in C (`bpf/flows.c`) that
//! aggregate packets into flows in a kernel hash map, tracepoint programs for packet drops and TCP
//! RTT, and the user-space agent that loads them, attaches them (TCX, falling back to a clsact
//! qdisc), evicts the maps into [`netobserv_flow::Flow`]s and runs as a pipeline source (stage
//! type `ebpf`).
//!
//! The compiled object is committed (`bpf/flows.bpf.o`) so the crate builds without clang;
//! `bpf/build.sh` rebuilds it and CI checks the rebuild is identical.
//!
//! ```no_run
//! let mut agent = netobserv_ebpf::FlowAgent::builder()
//!     .with_sampling(50)
//!     .with_dns_tracking(Some(53))
//!     .load()?;
//! agent.attach("eth0")?;
//! std::thread::sleep(std::time::Duration::from_secs(5));
//! for flow in agent.evict()?.flows {
//!     println!("{:?} bytes", flow.bytes());
//! }
//! # Ok::<(), netobserv_ebpf::Error>(())
//! ```
//!
//! This crate has no cargo features.

mod batch;
pub mod btf;
pub mod decode;
pub mod error;
pub mod filter;
pub mod interfaces;
pub mod loader;
pub mod source;
pub mod types;

pub use error::{Error, Result};
pub use loader::{
    Attached, Counters, Eviction, Features, FlowAgent, FlowAgentBuilder, ProgramStats,
};
pub use types::{FlowKey, FlowValue};
