//! The eBPF side of the netobserv-rs agent: TC classifiers written in C (`bpf/flows.c`) that
//! aggregate packets into flows in a kernel hash map, and the user-space loader that attaches
//! them (TCX, falling back to a clsact qdisc) and evicts the map into [`netobserv_flow::Flow`]s.
//!
//! The compiled object is committed (`bpf/flows.bpf.o`) so the crate builds without clang;
//! `bpf/build.sh` rebuilds it and CI checks the rebuild is identical.
//!
//! ```no_run
//! let mut agent = netobserv_ebpf::FlowAgent::load()?;
//! agent.attach("eth0")?;
//! std::thread::sleep(std::time::Duration::from_secs(5));
//! for flow in agent.evict()? {
//!     println!("{:?} bytes", flow.bytes());
//! }
//! # Ok::<(), netobserv_ebpf::Error>(())
//! ```
//!
//! This crate has no cargo features yet.

pub mod error;
pub mod loader;
pub mod types;

pub use error::{Error, Result};
pub use loader::{FlowAgent, FlowAgentBuilder};
pub use types::{FlowKey, FlowValue};
